# shellcheck shell=bash
# virtio-blk payload checks, sourced by payloads.sh and payloads-qemu.sh after
# lib/common.sh (uses run_vm, expect, not_ok, have_payload, FAILS).
#
# t_virtio_blk: a 16 MiB raw image whose last MiB holds the host pattern
# (byte at offset o = (o * 7 + 3) & 0xff); virtio-blk.elf mode=verify writes
# VBLK_MIB MiB of its pattern from offset 0 (every 8 bytes at offset o:
# le32 o / 512, le32 seed ^ o), flushes, reads back, checks the host MiB and
# prints PASS; then the image file itself must hold the guest's pattern.

VBLK_MIB=${VBLK_MIB:-2}
VBLK_SEED=${VBLK_SEED:-0x5eed}
VBLK_IMG_MIB=16

# vblk_make_image FILE: VBLK_IMG_MIB MiB, zeros, host pattern in the last MiB.
vblk_make_image() {
    python3 - "$1" "$VBLK_IMG_MIB" <<'EOF'
import sys
path, mib = sys.argv[1], int(sys.argv[2])
size = mib << 20
base = size - (1 << 20)
with open(path, 'wb') as f:
    f.truncate(size)
    f.seek(base)
    f.write(bytes(((base + i) * 7 + 3) & 0xff for i in range(1 << 20)))
EOF
}

# vblk_check_image FILE: prints nothing and succeeds when the first VBLK_MIB
# MiB hold the guest pattern and the host MiB is untouched; else says where.
vblk_check_image() {
    python3 - "$1" "$VBLK_MIB" "$VBLK_SEED" "$VBLK_IMG_MIB" <<'EOF'
import struct, sys
path, mib, seed, img_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0), int(sys.argv[4])
with open(path, 'rb') as f:
    data = f.read()
n = mib << 20
for i, (sec, val) in enumerate(struct.iter_unpack('<II', data[:n])):
    o = i * 8
    if sec != o >> 9 or val != (seed ^ o) & 0xffffffff:
        print(f'byte {o:#x}: {sec:#x} {val:#x}, expected {o >> 9:#x} {(seed ^ o) & 0xffffffff:#x}')
        sys.exit(1)
base = (img_mib - 1) << 20
if data[base:] != bytes(((base + i) * 7 + 3) & 0xff for i in range(1 << 20)):
    print('host pattern in the last MiB changed')
    sys.exit(1)
EOF
}

t_virtio_blk() {
    have_payload virtio-blk.elf virtio-blk-verify || return
    local dir img why
    dir=$(mktemp -d) || return
    img=$dir/disk.img
    vblk_make_image "$img"
    run_vm -kernel "$PAYLOADS/virtio-blk.elf" -append "mode=verify mib=$VBLK_MIB seed=$VBLK_SEED" \
        -drive "file=$img,if=none,id=d0,format=raw" -device virtio-blk-pci,drive=d0
    expect virtio-blk-verify "$ST_PASS" 'pattern ok' 'host pattern ok' '^PASS: virtio-blk'
    if [ "$RC" -eq "$ST_PASS" ]; then
        if why=$(vblk_check_image "$img"); then
            ok virtio-blk-image-pattern
        else
            not_ok virtio-blk-image-pattern "$why"
        fi
    fi
    rm -rf "$dir"
}

# t_virtio_blk_msix: irq=msix, the driver waits for MSI-X interrupts (vector
# 0x41 through table entry 0) instead of polling.  mode=reqs: 200 requests at
# queue depth 1 without EVENT_IDX must bring one interrupt each; mode=bench
# with 8 in flight: every request completes and at least one interrupt came
# (several completions may share one).
t_virtio_blk_msix() {
    have_payload virtio-blk.elf virtio-blk-msix-reqs || return
    local dir img
    dir=$(mktemp -d) || return
    img=$dir/disk.img
    truncate -s 16M "$img"
    run_vm -kernel "$PAYLOADS/virtio-blk.elf" -append "mode=reqs n=200 irq=msix" \
        -drive "file=$img,if=none,id=d0,format=raw" -device virtio-blk-pci,drive=d0
    expect virtio-blk-msix-reqs "$ST_PASS" 'MSI-X table at 0x[0-9a-f]+, entry 0 -> LAPIC' \
        '^REQS n=200 ' ' 200 MSI-X interrupts for 200 requests' '^PASS: virtio-blk'
    run_vm -kernel "$PAYLOADS/virtio-blk.elf" \
        -append "mode=bench irq=msix qd=8 mib=4 ios=500 secs=2" \
        -drive "file=$img,if=none,id=d0,format=raw" -device virtio-blk-pci,drive=d0
    expect virtio-blk-msix-bench "$ST_PASS" '^BLK seq_read_MBps=' \
        ' [1-9][0-9]* MSI-X interrupts for (50[89]|51[0-9]) requests' '^PASS: virtio-blk'
    rm -rf "$dir"
}
