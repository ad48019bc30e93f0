#!/bin/sh
# Build the boot-sector disk image for tests/integration/bios-boot.sh:
#   tests/bios/build.sh OUTDIR   ->   OUTDIR/bootsect.img (1 MiB, raw)
# Needs binutils (as, ld).  Never writes into the source tree.
set -eu
out=${1:?usage: build.sh OUTDIR}
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
as --32 -o "$out/bootsect.o" "$src/bootsect.S"
ld -m elf_i386 -Ttext 0x7c00 -e _start --oformat binary -o "$out/bootsect.bin" "$out/bootsect.o"
size=$(wc -c < "$out/bootsect.bin")
if [ "$size" -ne 512 ]; then
    echo "build.sh: boot sector is $size bytes, not 512" >&2
    exit 1
fi
cp "$out/bootsect.bin" "$out/bootsect.img.tmp"
truncate -s 1M "$out/bootsect.img.tmp"
mv "$out/bootsect.img.tmp" "$out/bootsect.img"
