# vmm: GNU make, no generator.  `make run` and `make check` install missing
# Debian packages first (as root), configure and build.

BUILD ?= build
# Packages needed to build vmm and run its tests (Debian 12 names).
BUILD_DEPS := gcc make pkg-config libfdt-dev libaio-dev zlib1g-dev \
              libpixman-1-dev libvncserver-dev libjson-c-dev libslirp-dev check
TEST_DEPS  := qemu-system-x86 seabios busybox-static cpio python3 \
              binutils dpkg-dev kmod qemu-utils fio iproute2 xorriso acpica-tools strace \
              ipxe-qemu clang
.DEFAULT_GOAL := all

# GNU make remakes config.mak with ./configure when it is missing or older
# than configure, then restarts with its settings.  Goals that install
# packages first (check, run, ...) configure in their recursive make, after
# the packages are there.
NO_CONFIG_GOALS := deps clean distclean check run check-linux bench
ifneq ($(if $(MAKECMDGOALS),$(filter-out $(NO_CONFIG_GOALS),$(MAKECMDGOALS)),all),)
-include config.mak
endif

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
CFLAGS_ALL = -std=gnu11 $(WARN) $(OPT_CFLAGS) $(SAN_FLAGS) -D_GNU_SOURCE \
             -Iinclude $(LIB_CFLAGS) -MMD -MP
LDFLAGS_ALL = $(SAN_FLAGS)

UTIL_SRCS := $(sort $(wildcard util/*.c))
VMM_SRCS := vl.c $(sort $(wildcard cpu/*.c hw/*/*.c monitor/*.c block/*.c net/*.c \
                                   ui/*.c migration/*.c)) $(UTIL_SRCS)
VMM_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(VMM_SRCS))
# Everything but vl.c's main(), for unit tests.
LIB_OBJS := $(filter-out $(BUILD)/vl.o,$(VMM_OBJS))
# The image tool links block/ and util/ only, never hw/.
IMG_SRCS := $(wildcard vmm-img.c) $(sort $(wildcard block/*.c)) $(UTIL_SRCS)
IMG_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(IMG_SRCS))
IMG_BIN := $(if $(wildcard vmm-img.c),$(BUILD)/vmm-img)

UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
QTEST_SRCS := $(sort $(wildcard tests/qtest/*-test.c))
QTEST_BINS := $(patsubst tests/qtest/%.c,$(BUILD)/tests/qtest/%,$(QTEST_SRCS))

.PHONY: all check check-unit check-qtest check-payloads check-integration \
        check-linux run install clean distclean bench deps config payloads guest fuzz

all: config $(BUILD)/vmm $(IMG_BIN)
	@ln -sf $(BUILD)/vmm vmm
	@$(if $(IMG_BIN),ln -sf $(IMG_BIN) vmm-img)

# (Re)run configure when config.mak is missing or older than configure.
config.mak: configure
	./configure
config: config.mak

$(BUILD)/vmm: $(VMM_OBJS)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) -lm

$(BUILD)/vmm-img: $(IMG_OBJS)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) -lm

$(BUILD)/%.o: %.c config.mak
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/libvmm.a: $(LIB_OBJS)
	rm -f $@; ar rcs $@ $^

$(BUILD)/tests/unit/%: tests/unit/%.c tests/unit/unit.h $(BUILD)/libvmm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -o $@ $< $(BUILD)/libvmm.a $(LIBS) $(CHECK_LIBS) $(LDFLAGS_ALL) -lm

# The qtest client libraries: libqtest (the protocol) and libqos-* (PCI and
# virtio drivers the tests use as the guest would).
QTEST_LIB_OBJS := $(patsubst tests/qtest/%.c,$(BUILD)/tests/qtest/%.o,\
                    $(sort $(wildcard tests/qtest/lib*.c)))

$(BUILD)/tests/qtest/lib%.o: tests/qtest/lib%.c $(wildcard tests/qtest/lib*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/tests/qtest/%: tests/qtest/%.c $(QTEST_LIB_OBJS) $(BUILD)/util/base64.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(QTEST_LIB_OBJS) $(BUILD)/util/base64.o $(LDFLAGS_ALL)

payloads:
	$(MAKE) -C tests/payloads BUILD=$(abspath $(BUILD))/payloads

guest:
	tests/guest/build-guest.sh $(BUILD)/guest

deps:
	@sh tests/install-deps.sh $(BUILD_DEPS) $(TEST_DEPS)

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory $(UNIT_BINS) $(QTEST_BINS) $(EXTRA_TEST_BINS) payloads
	@BUILD=$(BUILD) tests/run.sh

check-unit: all $(UNIT_BINS)
	@BUILD=$(BUILD) tests/run.sh unit
check-qtest: all $(QTEST_BINS)
	@BUILD=$(BUILD) tests/run.sh qtest
check-payloads: all payloads
	@BUILD=$(BUILD) tests/run.sh payloads
check-integration: all payloads $(EXTRA_TEST_BINS)
	@BUILD=$(BUILD) tests/run.sh integration
check-linux: deps
	@$(MAKE) --no-print-directory all $(EXTRA_TEST_BINS)
	@BUILD=$(BUILD) tests/run.sh linux

run: deps
	@$(MAKE) --no-print-directory all payloads
	@BUILD=$(BUILD) tests/guest/run.sh

bench: deps
	@$(MAKE) --no-print-directory all payloads
	bench/start.sh
	bench/pio.sh
	bench/blk.sh
	bench/net.sh
	bench/qcow2.sh
	bench/firmware.sh
	bench/ide.sh
	bench/e1000.sh
	bench/vnc.sh
	bench/migrate.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/vmm $(DESTDIR)$(PREFIX)/bin/vmm
	$(if $(IMG_BIN),install -m 755 $(IMG_BIN) $(DESTDIR)$(PREFIX)/bin/vmm-img)

clean:
	rm -rf $(BUILD) vmm vmm-img

distclean: clean
	rm -f config.mak include/config-host.h

# make fuzz / check-fuzz: the libFuzzer target for the qcow2 open + read path.
include tests/fuzz/fuzz.mk
# Test programs with rules of their own; each .mk adds to EXTRA_TEST_BINS
# (tests/vnc: the libvncclient test client).
EXTRA_TEST_BINS :=
-include tests/vnc/vnc.mk

-include $(VMM_OBJS:.o=.d) $(BUILD)/vmm-img.d $(UNIT_BINS:=.d) $(QTEST_BINS:=.d)
