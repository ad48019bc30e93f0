#!/bin/bash
# Guest-level qcow2 interoperability on a bigger disk than make check's
# qtest run: tests/qtest/qcow2-read-test with a 64 MiB virtual disk (many
# L2 tables with 4 KiB and 512-byte clusters).  Images made by qemu-img
# (v2, v3, backing, compressed, snapshots, 1-bit refcounts) must read the
# same through virtio-blk in vmm and in QEMU as qemu-img convert's raw
# output; guest writes in vmm must pass qemu-img check and compare.  TAP.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
T=$BUILD/tests/qtest/qcow2-read-test
if [ ! -x "$T" ]; then
    echo "ok - qcow2-guest # SKIP $T not built (make $T)"
    exit 0
fi
QCOW2_TEST_MIB=${QCOW2_TEST_MIB:-64} exec "$T"
