#!/bin/bash
# Monitor end-to-end tests on the counter payload, TAP lines:
#   hmp        HMP over a unix socket: banner, info *, stop/cont, x/xp, reset, powerdown, quit
#   qmp qtest  QMP: greeting, negotiation, queries, events; the same under -accel qtest
#   bad-input  malformed JSON, garbage, huge lines, disconnects, 50 clients
#   pty        -nographic through a pty: Ctrl-A c to the monitor and back, Ctrl-A x
#   crash      a KVM internal error with a monitor: vmm stays, system_reset + cont
#   devices    info pci/block/network/balloon, query-block, balloon, set_link
# Usage: monitor.sh [GROUP...] (default: all).  The checks live in
# monitor-tests.py (python3 standard library).  VMM_CMD may hold a whole
# command, to check the expectations against QEMU:
#   VMM_CMD="qemu-system-x86_64 -accel kvm -M pc -nodefaults -cpu host,-arch-capabilities"
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
VMM_CMD=${VMM_CMD:-$VMM}
PAYLOADS=${PAYLOADS:-$PWD/$BUILD/payloads}
[ -x "${VMM_CMD%% *}" ] || command -v "${VMM_CMD%% *}" >/dev/null ||
    { echo "not ok - monitor: $VMM_CMD not built"; exit 1; }
command -v python3 >/dev/null || { echo "ok - monitor # SKIP no python3"; exit 0; }
export VMM_CMD PAYLOADS
exec timeout 540 python3 tests/integration/monitor-tests.py "$@"
