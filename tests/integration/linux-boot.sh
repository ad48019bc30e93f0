#!/bin/bash
# `make check-linux`: boot the Debian test guest (tests/guest) under vmm and
# check what the guest reports on its serial console.  TAP lines.
#
#   poweroff    vmm.test=poweroff: the marker appears, vmm exits 0
#   smp2        -smp 2: the guest sees cpus=2
#   mem-1g      -m 1G: MemTotal between 900 and 1024 MiB
#   reboot      vmm.test=reboot without -no-reboot: the machine resets and
#               the guest boots again (two markers), then the test kills vmm
#   no-reboot   vmm.test=reboot with -no-reboot: one boot, vmm exits 0
#               (QEMU's -no-reboot: a guest reset ends the process)
#   run-modules vmm.test=run:CMD with all modules loaded: CMD's status is
#               reported and the virtio/ata drivers are registered
#
# VMM_COMPARE_QEMU=1 runs the same cases under Debian's qemu-system-x86_64
# (-accel kvm) too, named qemu/...  On a PVM host (no hardware
# virtualization: guest kernel code runs in KVM's instruction emulator) or
# without /dev/kvm every case is skipped unless VMM_RUN_LINUX=1; then set
# LINUX_TIMEOUT (seconds per boot) generously.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
GUEST=$BUILD/guest
CASES="poweroff smp2 mem-1g reboot no-reboot run-modules"
QEMU=${QEMU:-qemu-system-x86_64}
failures=0

skip_all() {
    local c
    for c in $CASES; do echo "ok - linux-boot/$c # SKIP $1"; done
    exit 0
}

if [ "${VMM_RUN_LINUX:-0}" != 1 ]; then
    [ -d /sys/module/kvm_pvm ] &&
        skip_all "host KVM is PVM: a Linux boot takes many minutes (VMM_RUN_LINUX=1 forces it)"
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then skip_all "no usable /dev/kvm"; fi
fi
if [ -d /sys/module/kvm_pvm ]; then
    LINUX_TIMEOUT=${LINUX_TIMEOUT:-1800}
else
    LINUX_TIMEOUT=${LINUX_TIMEOUT:-90}
fi

[ -x "$VMM" ] || { echo "not ok - linux-boot: $VMM not built"; exit 1; }
if ! out=$(tests/guest/build-guest.sh "$GUEST" 2>&1); then
    echo "not ok - linux-boot: building the guest failed: $(echo "$out" | tail -n 1)"
    exit 1
fi

tmp=$(mktemp -d) || exit 1
bgpid=
cleanup() {
    [ -n "$bgpid" ] && kill -KILL "$bgpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

MARKER="VMM-GUEST-UP"

pass() { echo "ok - $1"; }
fail() { echo "not ok - $1: $2"; failures=$((failures + 1)); }

# Command line for emulator $1 ("vmm" or "qemu"); guest args follow.
emu_cmd() {
    local emu=$1
    if [ "$emu" = qemu ]; then
        echo "$QEMU -accel kvm -M pc -nodefaults -no-user-config"
    else
        echo "$VMM"
    fi
}

# boot EMU LOGFILE APPEND [extra args]: boot with a timeout; returns vmm's status.
boot() {
    local emu=$1 log=$2 append=$3; shift 3
    # shellcheck disable=SC2046  # emu_cmd is a word list
    timeout -k 5 "$LINUX_TIMEOUT" $(emu_cmd "$emu") \
        -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.img" \
        -append "console=ttyS0 quiet $append" \
        -display none -serial stdio "$@" </dev/null >"$log" 2>&1
}

marker_field() {   # log field -> value of field=... in the first marker
    sed -n -E "s/.*$MARKER.* $2=([0-9]+).*/\1/p" "$1" | head -n 1
}

last_lines() { tail -n 3 "$1" | tr -d '\r' | tr '\n' '|'; }

# Checks the common part: status 0 and a marker.  $1 name, $2 log, $3 status.
booted_ok() {
    if [ "$3" -eq 124 ] || [ "$3" -eq 137 ]; then
        fail "$1" "timed out after ${LINUX_TIMEOUT}s; last output: $(last_lines "$2")"
    elif ! grep -q "$MARKER" "$2"; then
        fail "$1" "no $MARKER marker (status $3); last output: $(last_lines "$2")"
    elif [ "$3" -ne 0 ]; then
        fail "$1" "exit status $3, expected 0; last output: $(last_lines "$2")"
    else
        return 0
    fi
    return 1
}

case_poweroff() {   # emu name
    local log=$tmp/${2//\//_}.log rc
    boot "$1" "$log" "vmm.test=poweroff vmm.modules=none" -m 512; rc=$?
    booted_ok "$2" "$log" "$rc" && pass "$2"
}

case_smp2() {
    local log=$tmp/${2//\//_}.log rc cpus
    boot "$1" "$log" "vmm.test=poweroff vmm.modules=none" -m 512 -smp 2; rc=$?
    booted_ok "$2" "$log" "$rc" || return
    cpus=$(marker_field "$log" cpus)
    if [ "$cpus" = 2 ]; then pass "$2"; else fail "$2" "guest saw cpus=$cpus, expected 2"; fi
}

case_mem-1g() {
    local log=$tmp/${2//\//_}.log rc kb
    boot "$1" "$log" "vmm.test=poweroff vmm.modules=none" -m 1G; rc=$?
    booted_ok "$2" "$log" "$rc" || return
    kb=$(marker_field "$log" memtotal_kb)
    # MemTotal is RAM minus the kernel image, reserved areas and firmware
    # holes: a little under 1 GiB.
    if [ -n "$kb" ] && [ "$kb" -ge $((900 * 1024)) ] && [ "$kb" -le $((1024 * 1024)) ]; then
        pass "$2"
    else
        fail "$2" "memtotal_kb=$kb, expected 900-1024 MiB"
    fi
}

# Without -no-reboot the guest reboots for ever; wait for the second marker.
case_reboot() {
    local log=$tmp/${2//\//_}.log n=0 waited=0
    # shellcheck disable=SC2046
    $(emu_cmd "$1") -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.img" \
        -append "console=ttyS0 quiet vmm.test=reboot vmm.modules=none" \
        -m 512 -display none -serial stdio </dev/null >"$log" 2>&1 &
    bgpid=$!
    : >>"$log"
    while [ "$waited" -lt $((LINUX_TIMEOUT * 2 * 5)) ]; do
        n=$(grep -c "$MARKER" "$log" 2>/dev/null)
        [ "$n" -ge 2 ] && break
        kill -0 "$bgpid" 2>/dev/null || break
        sleep 0.2; waited=$((waited + 1))
    done
    if kill -0 "$bgpid" 2>/dev/null; then
        kill -KILL "$bgpid"; wait "$bgpid" 2>/dev/null
        if [ "$n" -ge 2 ]; then
            pass "$2"
        else
            fail "$2" "saw $n boots in $((LINUX_TIMEOUT * 2))s; last output: $(last_lines "$log")"
        fi
    else
        wait "$bgpid"
        fail "$2" "exited with status $? after $n boots; last output: $(last_lines "$log")"
    fi
    bgpid=
}

case_no-reboot() {
    local log=$tmp/${2//\//_}.log rc n
    boot "$1" "$log" "vmm.test=reboot vmm.modules=none" -m 512 -no-reboot; rc=$?
    booted_ok "$2" "$log" "$rc" || return
    n=$(grep -c "$MARKER" "$log" 2>/dev/null)
    if [ "$n" = 1 ]; then pass "$2"; else fail "$2" "booted $n times, expected 1"; fi
}

case_run-modules() {
    local log=$tmp/${2//\//_}.log rc drivers
    # Exit status 7 tells the result line apart from a default 0.
    boot "$1" "$log" 'vmm.test="run:ls /sys/bus/pci/drivers; exit 7"' -m 512; rc=$?
    booted_ok "$2" "$log" "$rc" || return
    if ! grep -q 'VMM-GUEST-RESULT rc=7' "$log"; then
        fail "$2" "no 'VMM-GUEST-RESULT rc=7'; last output: $(last_lines "$log")"
        return
    fi
    for drivers in virtio-pci ata_piix e1000; do
        grep -q "$drivers" "$log" || { fail "$2" "driver $drivers not registered"; return; }
    done
    pass "$2"
}

emus=vmm
if [ "${VMM_COMPARE_QEMU:-0}" = 1 ]; then
    if command -v "$QEMU" >/dev/null; then emus="vmm qemu"; else
        echo "ok - qemu/linux-boot # SKIP $QEMU not installed"; fi
fi
for emu in $emus; do
    prefix=linux-boot
    [ "$emu" = qemu ] && prefix=qemu/linux-boot
    for c in $CASES; do
        "case_$c" "$emu" "$prefix/$c"
    done
done
[ "$failures" -eq 0 ]
