# shellcheck shell=bash
# IDE bus-master DMA payload check, sourced by payloads.sh and
# payloads-qemu.sh after lib/common.sh and lib/virtio-blk.sh (uses run_vm,
# expect, ok, not_ok, have_payload, vblk_make_image).
#
# t_ide_dma: a 16 MiB raw image as the primary master (-drive if=ide,
# index=0) whose last MiB holds the host pattern; ide-dma.elf mode=verify
# writes its pattern over the first 256 KiB with LBA28 WRITE DMA and LBA48
# WRITE DMA EXT, reads it back with READ DMA EXT and READ DMA, checks the
# host data; then the image file must hold the guest pattern (every 8
# bytes at offset o: le32 o / 512, le32 seed ^ o) and the host MiB intact.

IDE_SEED=${IDE_SEED:-0x5eed}

# ide_check_image FILE KIB: silent success when the first KIB KiB hold the
# guest pattern and the last MiB the host pattern; else says where.
ide_check_image() {
    python3 - "$1" "$2" "$IDE_SEED" <<'PYEOF'
import struct, sys
path, kib, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0)
data = open(path, 'rb').read()
for i, (sec, val) in enumerate(struct.iter_unpack('<II', data[:kib << 10])):
    o = i * 8
    if sec != o >> 9 or val != (seed ^ o) & 0xffffffff:
        print(f'byte {o:#x}: {sec:#x} {val:#x}, expected {o >> 9:#x} {(seed ^ o) & 0xffffffff:#x}')
        sys.exit(1)
base = len(data) - (1 << 20)
if data[base:] != bytes(((base + i) * 7 + 3) & 0xff for i in range(1 << 20)):
    print('host pattern in the last MiB changed')
    sys.exit(1)
PYEOF
}

t_ide_dma() {
    have_payload ide-dma.elf ide-dma-verify || return
    local dir img why
    dir=$(mktemp -d) || return
    img=$dir/disk.img
    VBLK_IMG_MIB=16 vblk_make_image "$img"
    run_vm -kernel "$PAYLOADS/ide-dma.elf" -append "mode=verify seed=$IDE_SEED" \
        -drive "file=$img,if=ide,index=0,format=raw"
    expect ide-dma-verify "$ST_PASS" 'primary master 32768 sectors, LBA48' \
        'READ DMA EXT and READ DMA, pattern ok' 'host pattern ok' '^PASS: ide-dma'
    if [ "$RC" -eq "$ST_PASS" ]; then
        if why=$(ide_check_image "$img" 256); then
            ok ide-dma-image-pattern
        else
            not_ok ide-dma-image-pattern "$why"
        fi
    fi
    rm -rf "$dir"
}
