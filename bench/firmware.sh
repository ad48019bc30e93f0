#!/bin/bash
# Firmware boot benchmark, vmm against Debian's QEMU in the same run: wall
# time from process start to the exit of an IDE disk's boot sector
# (tests/bios/disk.S: SeaBIOS boots it from -hda, it reads and checks its
# pattern sectors through int 13h and leaves through isa-debug-exit), the
# median of R runs each, and the vmm/QEMU ratio (target <= 0.8x).  A run
# that does not end with the boot sector's verdict is reported and left
# out.  It never fails on a figure.
# Usage: bench/firmware.sh [R]      env: BUILD, VMM, QEMU, QEMU_R
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$BUILD/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
R=${1:-5}
QEMU_R=${QEMU_R:-$R}

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

BENCH_NAME=firmware
BENCH_PAYLOAD=$tmp/media/disk.img
# shellcheck source=bench/common.sh
. bench/common.sh
tests/bios/build.sh "$tmp/media" >"$tmp/build.log" 2>&1 ||
    die "tests/bios/build.sh failed: $(tail -n 2 "$tmp/build.log" | tr '\n' ' ')"
bench_require

# The same machine and options for both.
OPTS=(-M pc -m 128M -nographic -nodefaults -serial stdio
      -device "isa-debug-exit,iobase=0xf4,iosize=4" -hda "$BENCH_PAYLOAD")
VMM_CMD=("$VMM" "${OPTS[@]}")
QEMU_CMD=("$QEMU" -accel kvm "${OPTS[@]}")

now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }

# Boot times in microseconds, one per line.
boot_times() {   # emu runs
    local i t0 t1 rc cmd
    if [ "$1" = vmm ]; then cmd=("${VMM_CMD[@]}"); else cmd=("${QEMU_CMD[@]}"); fi
    for ((i = 0; i < $2; i++)); do
        t0=$(now_us)
        timeout -k 2 120 "${cmd[@]}" </dev/null >"$tmp/out" 2>&1
        rc=$?
        t1=$(now_us)
        if [ "$rc" -ne 1 ] || ! grep -q "vmm disk boot OK" "$tmp/out"; then
            echo "bench/firmware: $1 run $i: exit status $rc: $(tr -d '\r' <"$tmp/out" | grep -v '^$' | tail -n 1)" >&2
            continue
        fi
        echo $((t1 - t0))
    done
}

ms() { awk -v us="$1" 'BEGIN { if (us == "n/a") print "n/a"; else printf "%.0f", us / 1000 }'; }

vmm_us=$(boot_times vmm "$R" | median)
qemu_us=$(boot_times qemu "$QEMU_R" | median)
echo "IDE disk boot through SeaBIOS to the boot sector's exit, median of $R/$QEMU_R runs:"
printf '  vmm  %8s ms\n' "$(ms "$vmm_us")"
printf '  QEMU %8s ms\n' "$(ms "$qemu_us")"
if [ "$vmm_us" != n/a ] && [ "$qemu_us" != n/a ]; then
    awk -v v="$vmm_us" -v q="$qemu_us" \
        'BEGIN { printf "  ratio vmm/QEMU %.2fx (target <= 0.80x)\n", v / q }'
else
    echo "  ratio vmm/QEMU n/a (a side had no successful run)"
fi
