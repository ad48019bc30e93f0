#!/bin/sh
# Build the firmware boot media for tests/integration/bios-boot.sh and
# firmware-boot.sh into OUTDIR (never into the source tree):
#   bootsect.img  1 MiB raw: a boot sector that prints a line (virtio-blk test)
#   disk.img      16 MiB raw: MBR boot code (disk.S) + pattern sectors 1..32767
#   cd.iso        El Torito no-emulation ISO: boot image (cdrom.S) followed by
#                 32 2048-byte pattern sectors (only when xorriso is installed)
# usage: tests/bios/build.sh OUTDIR
# Needs binutils (as, ld), python3, xorriso (Debian package) for cd.iso.
set -eu
out=${1:?usage: build.sh OUTDIR}
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"

DISK_SECTORS=32768          # 16 MiB
CD_PATTERN_SECTORS=32
CD_CHUNK=8                  # sectors per int 13h call (16 KiB at 0:9000)

# assemble NAME SIZE [--defsym ...]: NAME.S -> OUTDIR/NAME.bin of SIZE bytes,
# linked at 0:7c00.
assemble() {
    name=$1 size=$2; shift 2
    as --32 -I "$src" "$@" -o "$out/$name.o" "$src/$name.S"
    ld -m elf_i386 -Ttext 0x7c00 -e _start --oformat binary -o "$out/$name.bin" "$out/$name.o"
    got=$(wc -c < "$out/$name.bin")
    if [ "$got" -ne "$size" ]; then
        echo "build.sh: $name is $got bytes, not $size" >&2
        exit 1
    fi
}

assemble bootsect 512
cp "$out/bootsect.bin" "$out/bootsect.img.tmp"
truncate -s 1M "$out/bootsect.img.tmp"
mv "$out/bootsect.img.tmp" "$out/bootsect.img"

assemble disk 512 --defsym LAST_LBA=$((DISK_SECTORS - 1))
python3 "$src/mkpattern.py" "$out/disk.pattern" 512 1 $((DISK_SECTORS - 1))
cat "$out/disk.bin" "$out/disk.pattern" > "$out/disk.img.tmp"
rm -f "$out/disk.pattern"
mv "$out/disk.img.tmp" "$out/disk.img"

assemble cdrom 2048 --defsym PATTERN_SECTORS=$CD_PATTERN_SECTORS --defsym CHUNK=$CD_CHUNK
if command -v xorriso >/dev/null 2>&1; then
    rm -rf "$out/cdroot" "$out/cd.iso"
    mkdir -p "$out/cdroot/boot"
    python3 "$src/mkpattern.py" "$out/cd.pattern" 2048 1 $CD_PATTERN_SECTORS
    cat "$out/cdrom.bin" "$out/cd.pattern" > "$out/cdroot/boot/boot.img"
    rm -f "$out/cd.pattern"
    echo "vmm firmware boot test CD" > "$out/cdroot/README.TXT"
    # -boot-load-size 4: the BIOS loads 4 x 512 bytes, the code part only.
    xorriso -as mkisofs -quiet -V VMMBOOT -o "$out/cd.iso.tmp" \
        -b boot/boot.img -no-emul-boot -boot-load-size 4 -boot-info-table \
        "$out/cdroot"
    mv "$out/cd.iso.tmp" "$out/cd.iso"
else
    echo "build.sh: xorriso not installed: no cd.iso (apt-get install xorriso)" >&2
fi
