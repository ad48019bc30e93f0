#!/bin/bash
# Runs the test payloads under vmm ($VMM, default build/vmm); TAP lines.
# PAYLOAD_TESTS="hello smp" limits the set; VM_TIMEOUT (s) bounds each run.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
PAYLOADS=${PAYLOADS:-$BUILD/payloads}
. tests/payloads/lib/common.sh
if [ ! -x "$VMM" ]; then
    echo "not ok - vmm-binary: $VMM not built"
    exit 1
fi
VM_BASE=("$VMM" -display none -device isa-debug-exit,iobase=0xf4,iosize=4)
VM_CMD=("${VM_BASE[@]}" -serial stdio)
run_all_payload_tests
