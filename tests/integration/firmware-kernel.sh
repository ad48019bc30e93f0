#!/bin/bash
# Firmware extras, each under QEMU (the reference) and then vmm:
#  * -bios + -kernel: SeaBIOS boots the kernel through fw_cfg and QEMU's
#    linuxboot_dma.bin / multiboot_dma.bin option ROM: the multiboot
#    payload hello.elf ("PASS: hello", status 1) and bzimage.bin
#    (-append "bztest arg=1", "PASS: bzimage").  SeaBIOS's log on
#    isa-debugcon (port 0x402) must show it booted the ROM, which tells a
#    firmware boot from vmm's direct -kernel boot.
#  * bootindex=: of two virtio-blk boot disks printing different lines,
#    SeaBIOS boots the one with the lower bootindex.
# vmm checks SKIP while vmm lacks isa-debugcon or still boots -kernel
# directly when -bios is given.  TAP lines.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
case $VMM in /*) ;; *) VMM=$PWD/$VMM ;; esac
QEMU=${QEMU:-qemu-system-x86_64}
BIOS=/usr/share/seabios/bios-256k.bin
PAYLOADS=$BUILD/payloads
failures=0

pass() { echo "ok - $1"; }
fail() { echo "not ok - $1: $2"; failures=$((failures + 1)); }
skip() { echo "ok - $1 # SKIP $2"; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# run LIMIT CMD...: sets rc, out (stdout+stderr) and dbg (SeaBIOS's log).
run() {
    local limit=$1; shift
    : >"$tmp/dbg"
    timeout -k 5 "$limit" "$@" -chardev "file,id=dbg,path=$tmp/dbg" \
        -device isa-debugcon,iobase=0x402,chardev=dbg </dev/null >"$tmp/out" 2>&1
    rc=$?
    out=$(tr -d '\r' <"$tmp/out")
    dbg=$(tr -d '\r' <"$tmp/dbg")
}

why() { tail -c 300 <<<"$out" | tr -c '[:print:]' ' '; }

# check NAME EXPECTED-LINE [UNWANTED-LINE]: status 1 through isa-debug-exit.
check() {
    if [ "$rc" -eq 1 ] && grep -qF -- "$2" <<<"$out" && { [ -z "${3:-}" ] || ! grep -qF -- "$3" <<<"$out"; }; then
        pass "$1"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "$1" "timed out; output: $(why)"
    else
        fail "$1" "exit status $rc; output: $(why)"
    fi
}

# Did SeaBIOS boot an option ROM (not a disk, not vmm's direct boot)?
booted_rom() { grep -q "Booting from ROM" <<<"$dbg"; }

KOPTS=(-M pc -m 128M -display none -nodefaults -serial stdio -bios "$BIOS"
       -device isa-debug-exit,iobase=0xf4,iosize=4)

kernel_tests() {   # target-name binary [extra args]
    local t=$1 bin=$2; shift 2
    run 120 "$bin" "$@" "${KOPTS[@]}" -kernel "$PAYLOADS/hello.elf"
    if [ "$t" = vmm ] && grep -q "isa-debugcon.*not a valid device model" <<<"$out"; then
        skip "$t: multiboot -kernel through SeaBIOS" "vmm has no isa-debugcon yet: $(head -n 1 <<<"$out")"
        skip "$t: bzImage -kernel through SeaBIOS" "vmm has no isa-debugcon yet"
        return
    fi
    if [ "$t" = vmm ] && [ "$rc" -eq 1 ] && ! grep -q SeaBIOS <<<"$dbg"; then
        skip "$t: multiboot -kernel through SeaBIOS" "vmm boots -kernel directly even with -bios (pc.c not wired)"
        skip "$t: bzImage -kernel through SeaBIOS" "vmm boots -kernel directly even with -bios"
        return
    fi
    if booted_rom; then
        check "$t: multiboot -kernel through SeaBIOS" "PASS: hello"
    else
        fail "$t: multiboot -kernel through SeaBIOS" "SeaBIOS did not boot the ROM; $(why)"
    fi
    run 120 "$bin" "$@" "${KOPTS[@]}" -kernel "$PAYLOADS/bzimage.bin" -append "bztest arg=1"
    if booted_rom; then
        check "$t: bzImage -kernel through SeaBIOS" "PASS: bzimage"
    else
        fail "$t: bzImage -kernel through SeaBIOS" "SeaBIOS did not boot the ROM; $(why)"
    fi
}

# Two boot disks: the stock boot sector ("vmm bootsector OK") and a copy
# whose message reads "vmm bootsector 2!" (same length, same code).
bootindex_tests() {   # target-name binary [extra args]
    local t=$1 bin=$2; shift 2
    local opts=(-M pc -m 128M -nographic -nodefaults -serial stdio
                -device isa-debug-exit,iobase=0xf4,iosize=4
                -drive "file=$tmp/img/bootsect.img,if=none,id=d0,format=raw"
                -drive "file=$tmp/two.img,if=none,id=d1,format=raw")
    run 120 "$bin" "$@" "${opts[@]}" -device virtio-blk-pci,drive=d0,bootindex=2 \
        -device virtio-blk-pci,drive=d1,bootindex=1
    if [ "$t" = vmm ] && grep -q "isa-debugcon.*not a valid device model" <<<"$out"; then
        skip "$t: bootindex picks the second disk" "vmm has no isa-debugcon yet"
        return
    fi
    # Without bootindex SeaBIOS would boot d0 (first in PCI order); one
    # run keeps the test within its time budget (a boot takes ~10 s here).
    check "$t: bootindex picks the second disk" "vmm bootsector 2!" "vmm bootsector OK"
}

have_kernels=true
for f in hello.elf bzimage.bin; do
    [ -f "$PAYLOADS/$f" ] || have_kernels=false
done
have_disks=false
if tests/bios/build.sh "$tmp/img" >"$tmp/build.log" 2>&1 && [ -f "$tmp/img/bootsect.img" ]; then
    python3 - "$tmp/img/bootsect.img" "$tmp/two.img" <<'EOF' && have_disks=true
import sys
data = open(sys.argv[1], 'rb').read()
old, new = b'vmm bootsector OK', b'vmm bootsector 2!'
assert data.count(old) == 1
open(sys.argv[2], 'wb').write(data.replace(old, new))
EOF
fi

for t in qemu vmm; do
    if [ $t = qemu ]; then
        bin=$QEMU; extra=(-accel kvm)
        command -v "$QEMU" >/dev/null 2>&1 || { skip "qemu: firmware-kernel" "$QEMU not installed"; continue; }
    else
        bin=$VMM; extra=()
        [ -x "$VMM" ] || { skip "vmm: firmware-kernel" "$VMM not built"; continue; }
    fi
    if [ ! -f "$BIOS" ] || [ ! -w /dev/kvm ]; then
        skip "$t: firmware-kernel" "no SeaBIOS ($BIOS) or no /dev/kvm"
        continue
    fi
    if ! $have_kernels; then
        skip "$t: -kernel through SeaBIOS" "payloads not built (make payloads)"
    elif [ ! -f /usr/share/qemu/linuxboot_dma.bin ]; then
        skip "$t: -kernel through SeaBIOS" "QEMU's option ROMs missing (Debian qemu-system-data)"
    else
        kernel_tests $t "$bin" "${extra[@]}"
    fi
    if $have_disks; then
        bootindex_tests $t "$bin" "${extra[@]}"
    else
        fail "$t: bootindex disks" "tests/bios/build.sh failed: $(tail -n 2 "$tmp/build.log" | tr '\n' ' ')"
    fi
done
exit $((failures != 0))
