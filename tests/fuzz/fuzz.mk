# libFuzzer target for the qcow2 open + read path (tests/fuzz/qcow2-fuzz.c),
# included by the top-level Makefile.
#
#   make fuzz                 build with clang and fuzz for FUZZ_SECONDS (60)
#   make fuzz FUZZ_SECONDS=600
#   make check-fuzz           the bounded run make check uses (FUZZ_CHECK_SECONDS,
#                             60): one TAP line, skipped without clang/qemu-img
#
# Objects are built separately with clang and the sanitizers under
# $(BUILD)/fuzz/obj; the seed corpus (tests/fuzz/seed-corpus.sh, made with
# qemu-img) goes to $(BUILD)/fuzz/seed, what the fuzzer finds to
# $(BUILD)/fuzz/corpus, crash inputs to $(BUILD)/fuzz/crash-*.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 60
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -Iinclude $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_SRCS := tests/fuzz/qcow2-fuzz.c $(sort $(wildcard block/*.c)) $(sort $(wildcard util/*.c))
FUZZ_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_SRCS))
FUZZ_BIN := $(FUZZ_DIR)/qcow2-fuzz
# The target changes directory at start: it gets absolute paths.
FUZZ_ABS := $(abspath $(FUZZ_DIR))
# One input at most 1 MiB, 2 GiB of RSS, 10 s per input; stderr of the
# target (the block layer's one-line errors) is silenced, reports are not.
FUZZ_ARGS := -max_len=1048576 -rss_limit_mb=2048 -timeout=10 -close_fd_mask=2 \
             -artifact_prefix=$(FUZZ_ABS)/

.PHONY: fuzz check-fuzz fuzz-build

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BIN): $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ -laio -lz -lpthread -lm

$(FUZZ_DIR)/seed/.stamp: tests/fuzz/seed-corpus.sh
	tests/fuzz/seed-corpus.sh $(FUZZ_DIR)/seed
	@touch $@

fuzz-build: $(FUZZ_BIN) $(FUZZ_DIR)/seed/.stamp

fuzz: fuzz-build
	@mkdir -p $(FUZZ_DIR)/corpus
	$(FUZZ_BIN) $(FUZZ_ARGS) -max_total_time=$(FUZZ_SECONDS) $(FUZZ_ABS)/corpus $(FUZZ_ABS)/seed

# For make check: a TAP line, and a non-zero status when the fuzzer found
# something (its report is shown).
check-fuzz:
	@if ! command -v $(FUZZ_CC) >/dev/null || ! command -v qemu-img >/dev/null; then \
	    echo "ok - fuzz/qcow2 # SKIP $(FUZZ_CC) or qemu-img not installed"; exit 0; fi; \
	if ! $(MAKE) -f $(firstword $(MAKEFILE_LIST)) --no-print-directory -s fuzz-build >$(BUILD)/fuzz-build.log 2>&1; then \
	    echo "not ok - fuzz/qcow2: build failed (see $(BUILD)/fuzz-build.log)"; \
	    tail -n 15 $(BUILD)/fuzz-build.log; exit 1; fi; \
	mkdir -p $(FUZZ_DIR)/corpus; \
	if $(FUZZ_BIN) $(FUZZ_ARGS) -max_total_time=$(FUZZ_CHECK_SECONDS) \
	        $(FUZZ_ABS)/corpus $(FUZZ_ABS)/seed >$(FUZZ_DIR)/check.log 2>&1; then \
	    echo "ok - fuzz/qcow2 ($$(grep -o 'Done [0-9]* runs' $(FUZZ_DIR)/check.log | head -n 1) in $(FUZZ_CHECK_SECONDS) s)"; \
	else \
	    echo "not ok - fuzz/qcow2: the fuzzer found a bug (input saved as $(FUZZ_DIR)/crash-*)"; \
	    grep -E 'ERROR|SUMMARY|#[0-9]+ 0x' $(FUZZ_DIR)/check.log | head -n 25; exit 1; fi
