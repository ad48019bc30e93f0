#!/bin/bash
# Monitor end-to-end tests: -nographic in a pty: serial output, Ctrl-A c to the monitor and back, Ctrl-A x.
# The checks live in monitor-tests.py (python3 standard library); TAP lines.
# VMM_CMD (default: $VMM) may hold a whole command, to check the
# expectations against QEMU:
#   VMM_CMD="qemu-system-x86_64 -accel kvm -M pc -nodefaults -cpu host,-arch-capabilities"
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
VMM_CMD=${VMM_CMD:-$VMM}
PAYLOADS=${PAYLOADS:-$PWD/$BUILD/payloads}
[ -x "${VMM_CMD%% *}" ] || command -v "${VMM_CMD%% *}" >/dev/null ||
    { echo "not ok - monitor-pty: $VMM_CMD not built"; exit 1; }
command -v python3 >/dev/null || { echo "ok - monitor-pty # SKIP no python3"; exit 0; }
export VMM_CMD PAYLOADS
exec timeout 300 python3 tests/integration/monitor-tests.py pty
