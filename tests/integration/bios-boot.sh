#!/bin/bash
# Firmware boot: SeaBIOS boots a boot sector of ours (tests/bios/bootsect.S)
# from a virtio-blk disk; the boot sector prints through int 10h (SeaBIOS's
# serial console mirrors it to COM1 under -nographic) and exits through
# isa-debug-exit with status 1.  QEMU runs first as the reference, then vmm
# with the same options.  Plus: -bios with a missing file is one error line.
# TAP lines.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
case $VMM in /*) ;; *) VMM=$PWD/$VMM ;; esac
QEMU=${QEMU:-qemu-system-x86_64}
BIOS=/usr/share/seabios/bios-256k.bin
EXPECT="vmm bootsector OK"
failures=0

pass() { echo "ok - $1"; }
fail() { echo "not ok - $1: $2"; failures=$((failures + 1)); }
skip() { echo "ok - $1 # SKIP $2"; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if ! tests/bios/build.sh "$tmp/img" >"$tmp/build.log" 2>&1; then
    fail "bios-boot: build boot sector" "$(tail -n 3 "$tmp/build.log" | tr '\n' ' ')"
    exit 1
fi
IMG=$tmp/img/bootsect.img
OPTS=(-M pc -m 128M -nographic -nodefaults -serial stdio
      -drive "file=$IMG,if=virtio,format=raw" -device isa-debug-exit,iobase=0xf4,iosize=4)

# run NAME LIMIT CMD...: sets rc and out (stdout+stderr, control codes kept).
run() {
    local limit=$1; shift
    timeout -k 5 "$limit" "$@" </dev/null >"$tmp/out" 2>&1
    rc=$?
    out=$(tr -d '\r' <"$tmp/out")
}

# A boot that printed the line and exited through isa-debug-exit (status 1).
check_boot() {   # name
    if [ "$rc" -eq 1 ] && grep -q "$EXPECT" <<<"$out"; then
        pass "$1"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "$1" "timed out; output: $(tail -c 300 <<<"$out" | tr -c '[:print:]' ' ')"
    else
        fail "$1" "exit status $rc; output: $(tail -c 300 <<<"$out" | tr -c '[:print:]' ' ')"
    fi
}

# ---- QEMU: the reference ----
if ! command -v "$QEMU" >/dev/null 2>&1; then
    skip "qemu boots the boot sector through SeaBIOS" "$QEMU not installed"
elif [ ! -f "$BIOS" ]; then
    skip "qemu boots the boot sector through SeaBIOS" "$BIOS missing (Debian package seabios)"
elif [ ! -w /dev/kvm ]; then
    skip "qemu boots the boot sector through SeaBIOS" "no /dev/kvm"
else
    run 120 "$QEMU" -accel kvm "${OPTS[@]}"
    check_boot "qemu boots the boot sector through SeaBIOS"
fi

# ---- vmm ----
if [ ! -x "$VMM" ]; then
    skip "vmm -bios missing file: one error line" "$VMM not built"
    skip "vmm boots the boot sector through SeaBIOS" "$VMM not built"
    exit $((failures != 0))
fi

# -bios with a missing file: exactly one "vmm: -bios PATH: why" line, status 1.
run 20 "$VMM" -bios /nonexistent/bios.bin "${OPTS[@]}"
firmware_wired=true
if ! grep -q -- "-bios" <<<"$out" || grep -qi "unknown\|invalid option\|unrecognized" <<<"$out"; then
    firmware_wired=false
    skip "vmm -bios missing file: one error line" \
        "vmm does not take -bios yet (said: $(head -n 1 <<<"$out"))"
else
    lines=$(grep -c . <<<"$out")
    want="vmm: -bios /nonexistent/bios.bin: No such file or directory"
    if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && [ "$out" = "$want" ]; then
        pass "vmm -bios missing file: one error line"
    else
        fail "vmm -bios missing file: one error line" "status $rc, $lines lines: $(head -n 2 <<<"$out" | tr '\n' '|')"
    fi
fi

if ! $firmware_wired; then
    skip "vmm boots the boot sector through SeaBIOS" "firmware boot is not wired into vmm yet"
elif [ ! -f "$BIOS" ]; then
    skip "vmm boots the boot sector through SeaBIOS" "$BIOS missing (Debian package seabios)"
elif [ ! -w /dev/kvm ]; then
    skip "vmm boots the boot sector through SeaBIOS" "no /dev/kvm"
else
    run 180 "$VMM" "${OPTS[@]}"
    check_boot "vmm boots the boot sector through SeaBIOS"
fi
exit $((failures != 0))
