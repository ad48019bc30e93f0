#!/bin/bash
# Live migration and save/restore end to end (issue 8), TAP lines.  The
# checks live in migration-tests.py (python3 standard library; helpers in
# migration-lib.py); payload guests mig-counter.elf, mig-dirty.elf and
# mig-blk.elf.  Each case runs under vmm and, where QEMU 7.2 has the
# feature, under Debian's qemu-system-x86_64 -accel kvm (names "vmm/..."
# and "qemu/...").
# Usage: migration.sh [GROUP...]   groups: tcp unix exec file defer dirty
#        blk chain bios fail info (default: all)
# env: VMM, QEMU, PAYLOADS, MIG_EMUS ("vmm qemu"; "vmm" alone when QEMU is
#      missing), MIG_MAX_GAP (largest pause in the guest's output across a
#      live migration, seconds of host time, default 1.5), MIG_QEMU_ALL=1
#      (QEMU runs every group; default: not dirty and fail, which only
#      validate the harness and take minutes under QEMU), MIG_QEMU_GROUPS
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
export VMM=${VMM:-$PWD/$BUILD/vmm}
export QEMU=${QEMU:-qemu-system-x86_64}
export PAYLOADS=${PAYLOADS:-$PWD/$BUILD/payloads}
[[ " ${MIG_EMUS:-vmm} " != *" vmm "* ]] || [ -x "${VMM%% *}" ] ||
    { echo "not ok - migration: $VMM not built"; exit 1; }
command -v python3 >/dev/null || { echo "ok - migration # SKIP no python3"; exit 0; }
if [ -z "${MIG_EMUS:-}" ]; then
    MIG_EMUS=vmm
    if command -v "$QEMU" >/dev/null; then MIG_EMUS="vmm qemu"; else
        echo "ok - migration/qemu # SKIP $QEMU not installed"; fi
fi
export MIG_EMUS
exec timeout -k 5 600 python3 tests/integration/migration-tests.py "$@"
