#!/bin/bash
# Firmware boot from IDE: SeaBIOS boots media built from tests/bios/ (disk.S:
# an MBR disk, cdrom.S: an El Torito no-emulation CD) whose boot code reads
# pattern sectors back through int 13h, checks them, prints a verdict through
# int 10h (mirrored to COM1 under -nographic) and exits through
# isa-debug-exit: status 1 = verified, 3 = a bad sector.
# Cases: -hda, -cdrom with -boot d, -boot order=dc / order=cd with both
# present (the disk as -drive if=ide), SeaBIOS's debug log (isa-debugcon at
# 0x402) naming the drives it found, and a corrupted sector reported as FAIL.
# QEMU runs first as the reference, then vmm with identical options; a vmm
# case SKIPs with the reason while vmm lacks what it needs.  TAP lines.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
case $VMM in /*) ;; *) VMM=$PWD/$VMM ;; esac
QEMU=${QEMU:-qemu-system-x86_64}
BIOS=/usr/share/seabios/bios-256k.bin
DISK_OK="vmm disk boot OK"
CD_OK="vmm cdrom boot OK"
failures=0

pass() { echo "ok - $1"; }
fail() { echo "not ok - $1: $2"; failures=$((failures + 1)); }
skip() { echo "ok - $1 # SKIP $2"; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if ! tests/bios/build.sh "$tmp/media" >"$tmp/build.log" 2>&1; then
    fail "firmware-boot: build boot media" "$(tail -n 3 "$tmp/build.log" | tr '\n' ' ')"
    exit 1
fi
DISK=$tmp/media/disk.img
CD=$tmp/media/cd.iso
BASE=(-m 128M -nographic -nodefaults -serial stdio -device "isa-debug-exit,iobase=0xf4,iosize=4")

# run LIMIT CMD...: sets rc and out (stdout+stderr, CRs dropped).
run() {
    local limit=$1; shift
    timeout -k 5 "$limit" "$@" </dev/null >"$tmp/out" 2>&1
    rc=$?
    out=$(tr -d '\r' <"$tmp/out")
}

brief() { tail -c 300 <<<"$out" | tr -c '[:print:]' ' '; }

# check_boot NAME EXPECT: the verdict line was printed and the boot code
# exited through isa-debug-exit with 0 (status 1).
check_boot() {
    if [ "$rc" -eq 1 ] && grep -q "$2" <<<"$out"; then
        pass "$1"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "$1" "timed out; output: $(brief)"
    else
        fail "$1" "exit status $rc, want 1 and '$2'; output: $(brief)"
    fi
}

# Why vmm cannot run these options yet ("" when it can): the one-line
# "not supported yet" / unknown option answers.
vmm_lacks() {
    local first
    first=$(grep -m1 '^vmm: ' <<<"$out")
    if grep -qiE 'not supported yet|unknown|invalid option|unrecognized|not implemented' <<<"$first"; then
        echo "$first"
    fi
}

# boot_case TARGET NAME EXPECT OPTIONS...: one boot, checked.
boot_case() {
    local target=$1 name=$2 expect=$3; shift 3
    local bin=$QEMU extra=(-accel kvm)
    [ "$target" = vmm ] && { bin=$VMM; extra=(); }
    run 60 "$bin" "${extra[@]}" "${BASE[@]}" "$@"
    if [ "$target" = vmm ] && ! grep -q "$expect" <<<"$out"; then
        local why
        why=$(vmm_lacks)
        if [ -n "$why" ]; then
            skip "$target: $name" "vmm lacks it yet ($why)"
            return 1
        fi
    fi
    check_boot "$target: $name" "$expect"
}

# debugcon_case TARGET: -boot order=dc with both drives and SeaBIOS's log
# on isa-debugcon; the log must list the IDE disk and the CD.
debugcon_case() {
    local target=$1 log=$tmp/seabios-$1.log
    local have_debugcon=true
    if [ "$target" = vmm ] && ! "$VMM" -device help 2>&1 | grep -q isa-debugcon; then
        have_debugcon=false
    fi
    local dbg=()
    $have_debugcon && dbg=(-chardev "file,id=dbg,path=$log" -device "isa-debugcon,iobase=0x402,chardev=dbg")
    rm -f "$log"
    boot_case "$target" "-boot order=dc boots the CD" "$CD_OK" \
        -hda "$DISK" -cdrom "$CD" -boot order=dc "${dbg[@]}" || {
        skip "$target: SeaBIOS log lists ata0-0 and the DVD/CD" "no boot"
        return
    }
    if ! $have_debugcon; then
        skip "$target: SeaBIOS log lists ata0-0 and the DVD/CD" "vmm has no isa-debugcon yet"
        return
    fi
    local disk_line cd_line
    disk_line=$(grep -m1 '^ata0-0: ' "$log" 2>/dev/null)
    cd_line=$(grep -m1 'DVD/CD \[ata1-0' "$log" 2>/dev/null)
    if [ -n "$disk_line" ] && [ -n "$cd_line" ]; then
        pass "$target: SeaBIOS log lists ata0-0 and the DVD/CD"
    else
        fail "$target: SeaBIOS log lists ata0-0 and the DVD/CD" \
            "log has disk '${disk_line}' cd '${cd_line}' ($(wc -l <"$log" 2>/dev/null || echo no) lines)"
    fi
}

run_target() {
    local t=$1
    boot_case "$t" "-hda boots the IDE disk" "$DISK_OK" -hda "$DISK"
    if [ -f "$CD" ]; then
        boot_case "$t" "-cdrom -boot d boots the CD" "$CD_OK" -cdrom "$CD" -boot d
        debugcon_case "$t"
        # -drive if=ide is tested here too (SeaBIOS takes seconds per boot).
        boot_case "$t" "-drive if=ide and -cdrom, -boot order=cd boots the disk" "$DISK_OK" \
            -drive "file=$DISK,if=ide,format=raw" -cdrom "$CD" -boot order=cd
    else
        skip "$t: CD boot cases" "no cd.iso: xorriso is not installed"
        boot_case "$t" "-drive if=ide boots the IDE disk" "$DISK_OK" \
            -drive "file=$DISK,if=ide,format=raw"
    fi
}

# A corrupted pattern sector must be caught and named (status 3): shows
# the media really check what they read.
corrupt_case() {
    local t=$1 bin=$QEMU extra=(-accel kvm)
    [ "$t" = vmm ] && { bin=$VMM; extra=(); }
    cp "$DISK" "$tmp/bad.img"
    printf 'X' | dd of="$tmp/bad.img" bs=1 seek=$((1009 * 512 + 77)) conv=notrunc 2>/dev/null
    run 60 "$bin" "${extra[@]}" "${BASE[@]}" -drive "file=$tmp/bad.img,if=ide,format=raw"
    if [ "$rc" -eq 3 ] && grep -q "vmm disk boot FAIL: AH=02h LBA 1009" <<<"$out"; then
        pass "$t: a corrupted sector is reported as FAIL"
    else
        fail "$t: a corrupted sector is reported as FAIL" "exit status $rc; output: $(brief)"
    fi
}

# ---- QEMU: the reference ----
if ! command -v "$QEMU" >/dev/null 2>&1; then
    skip "qemu: firmware boot cases" "$QEMU not installed"
elif [ ! -f "$BIOS" ]; then
    skip "qemu: firmware boot cases" "$BIOS missing (Debian package seabios)"
elif [ ! -w /dev/kvm ]; then
    skip "qemu: firmware boot cases" "no /dev/kvm"
else
    run_target qemu
    corrupt_case qemu
fi

# ---- vmm ----
if [ ! -x "$VMM" ]; then
    skip "vmm: firmware boot cases" "$VMM not built"
elif [ ! -w /dev/kvm ]; then
    skip "vmm: firmware boot cases" "no /dev/kvm"
else
    run_target vmm
fi
exit $((failures != 0))
