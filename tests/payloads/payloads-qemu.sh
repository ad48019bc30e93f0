#!/bin/bash
# Runs the same payload checks under Debian's QEMU (-accel kvm), to confirm
# the payloads and the expectations themselves; skipped without QEMU/KVM.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
PAYLOADS=${PAYLOADS:-$BUILD/payloads}
QEMU=${QEMU:-qemu-system-x86_64}
. tests/payloads/lib/common.sh
if ! command -v "$QEMU" >/dev/null; then
    echo "ok - qemu-payloads # SKIP $QEMU not installed"
    exit 0
fi
if [ ! -w /dev/kvm ]; then
    echo "ok - qemu-payloads # SKIP /dev/kvm not accessible"
    exit 0
fi
VM_BASE=("$QEMU" -accel kvm -M pc -nodefaults -display none
         -device isa-debug-exit,iobase=0xf4,iosize=4)
VM_CMD=("${VM_BASE[@]}" -serial stdio)
# QEMU stops a guest after a KVM internal error and keeps running.
VM_CRASH_EXITS=0
# -cpu host makes QEMU set IA32_ARCH_CAPABILITIES, which the PVM host refuses.
CPU_HOST=host,-arch-capabilities
run_all_payload_tests 2> >(grep -v 'host doesn.t support requested feature' >&2)
