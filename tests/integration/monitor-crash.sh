#!/bin/bash
# Monitor end-to-end test: a KVM internal error with a monitor present keeps
# vmm alive in state internal-error; system_reset + cont runs the guest again.
# The checks live in monitor-tests.py (python3 standard library); TAP lines.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
VMM_CMD=${VMM_CMD:-$VMM}
PAYLOADS=${PAYLOADS:-$PWD/$BUILD/payloads}
command -v python3 >/dev/null || { echo "ok - monitor-crash # SKIP no python3"; exit 0; }
export VMM_CMD PAYLOADS
exec timeout 120 python3 tests/integration/monitor-tests.py crash
