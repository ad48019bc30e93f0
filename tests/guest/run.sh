#!/bin/bash
# `make run`: boot the Linux test guest to a busybox shell on the terminal
# (type `poweroff` to leave; vmm exits with status 0).  On a host whose KVM is
# PVM it boots a small payload instead unless VMM_RUN_LINUX=1.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$BUILD/vmm}
GUEST=$BUILD/guest

[ -x "$VMM" ] || { echo "vmm: $VMM: not built (run make)" >&2; exit 1; }

if [ -d /sys/module/kvm_pvm ] && [ "${VMM_RUN_LINUX:-0}" != 1 ]; then
    cat <<'EOF'
This host's KVM is PVM (kvm_pvm): it has no hardware virtualization, so KVM
runs all guest kernel-mode (CPL0) code through its instruction emulator at
about 1-2 million instructions per second.  Booting Linux to a shell would
take many minutes.  To boot it anyway: make run VMM_RUN_LINUX=1

Booting the hello payload instead:
EOF
    HELLO=$BUILD/payloads/hello.elf
    [ -f "$HELLO" ] || { echo "vmm: $HELLO: not built (run make payloads)" >&2; exit 1; }
    "$VMM" -kernel "$HELLO" -device isa-debug-exit,iobase=0xf4,iosize=4 \
        -serial stdio -display none
    rc=$?
    # isa-debug-exit turns the payload's PASS (code 0) into status 1.
    [ "$rc" -eq 1 ] && exit 0
    echo "vmm: the hello payload ended with status $rc" >&2
    exit "$rc"
fi

tests/guest/build-guest.sh "$GUEST" || exit 1
echo "Booting Linux ($(cat "$GUEST/kernel-version")); type 'poweroff' to quit."
exec "$VMM" -m 512 -smp 2 -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.img" \
    -append "console=ttyS0 quiet vmm.test=shell" -nographic
