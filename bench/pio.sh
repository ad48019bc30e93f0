#!/bin/bash
# Port-I/O exit benchmark, vmm against Debian's QEMU in the same run: the
# pio payload does N `inb` reads of an unassigned port from CPL3 (each one a
# KVM_EXIT_IO handled in the VMM's user space) and prints
# "PIO: N exits, C cycles/exit".  Prints the median cycles/exit of R runs for
# each and the vmm/QEMU ratio (target <= 0.9x); it never fails on a figure.
# Usage: bench/pio.sh [R]      env: BUILD, VMM, QEMU, PIO_N (default 200000)
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$BUILD/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
R=${1:-3}
PIO_N=${PIO_N:-200000}
PAYLOAD=$BUILD/payloads/pio.elf

BENCH_NAME=pio
BENCH_PAYLOAD=$PAYLOAD
# shellcheck source=bench/common.sh
. bench/common.sh
bench_require

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

vmm_cmd() { echo "$VMM -M pc -nodefaults -display none"; }
qemu_cmd() { echo "$QEMU -accel kvm -M pc -nodefaults -display none"; }

# cycles/exit of R runs, one per line; failed runs are reported and left out.
cycles_per_exit() {   # emu
    local i log=$tmp/$1.log c
    for ((i = 0; i < R; i++)); do
        # shellcheck disable=SC2046
        timeout -k 2 300 $("$1"_cmd) -serial stdio -append "n=$PIO_N" \
            -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$PAYLOAD" \
            </dev/null >"$log" 2>&1
        c=$(sed -n -E 's/.*PIO: ([0-9]+) exits, ([0-9]+) cycles\/exit.*/\2/p' "$log" | head -n 1)
        if [ -z "$c" ]; then
            echo "bench/pio: $1 run $i: no 'PIO:' line: $(tail -n 1 "$log" | tr -d '\r')" >&2
            continue
        fi
        echo "$c"
    done
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.3f", a / b }'; }

echo "PIO exits: $PAYLOAD n=$PIO_N, $R runs each"
vmm_c=$(cycles_per_exit vmm | median)
qemu_c=$(cycles_per_exit qemu | median)
printf '%-30s %12s %12s %10s\n' "" vmm QEMU vmm/QEMU
printf '%-30s %12s %12s %10s\n' "cycles per PIO exit, median" "$vmm_c" "$qemu_c" \
    "$(ratio "$vmm_c" "$qemu_c")"
echo "target: vmm <= 0.9x QEMU's cycles per exit"
