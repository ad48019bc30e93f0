# The libvncclient test client for tests/integration/vnc.sh and bench/vnc.sh
# (included by the top-level Makefile, which builds EXTRA_TEST_BINS in
# `make check`).
VNC_CLIENT := $(BUILD)/tests/vnc/vnc-client
VNC_CLIENT_FLAGS = $(shell pkg-config --cflags --libs libvncclient)

$(VNC_CLIENT): tests/vnc/vnc-client.c tests/vnc/vnc.mk
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -O2 -D_GNU_SOURCE -o $@ $< $(VNC_CLIENT_FLAGS)

EXTRA_TEST_BINS += $(VNC_CLIENT)
