#!/bin/bash
# IDE bus-master DMA benchmark: the PIIX3 IDE disk through vmm and through
# Debian's QEMU (-accel kvm) in the same run.
#
# The guest is ide-dma.elf mode=bench: a polling bus-master DMA driver at
# CPL3 (IOPL 3 for the port I/O, nIEN set: no interrupts) issuing LBA48
# READ DMA EXT, then WRITE DMA EXT, of BENCH_KIB KiB each (64 KiB PRD
# entries), one command at a time (the ATA task file allows no more),
# sequential over the image, for BENCH_SECS seconds per direction.  It
# prints "IDE seq_read_MBps=R seq_write_MBps=W" (MB = 10^6 bytes, timed
# with rdtsc at kvmclock's rate).  Both VMMs get the same -drive options:
# raw, if=ide, cache=none, aio=native.
#
# Prints the median of R runs per figure and the ratio vmm/QEMU with the
# target (>= 1.0).  It never fails on a figure; only a broken setup ends it
# with status 1.
#
# Usage: bench/ide.sh [R]   (default 3)
# env: BUILD, VMM, QEMU, BENCH_MIB (image size and sequential span, default
#      256), BENCH_KIB (KiB per command, 4-16384, default 1024), BENCH_SECS
#      (per direction, default 3), BENCH_DIR (where the image goes; default a
#      temporary directory under $BUILD), BENCH_SKIP (vmm and/or qemu).
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$BUILD/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
R=${1:-3}
MIB=${BENCH_MIB:-256}
KIB=${BENCH_KIB:-1024}
SECS=${BENCH_SECS:-3}
SKIP=" ${BENCH_SKIP:-} "
PAYLOAD=$BUILD/payloads/ide-dma.elf

BENCH_NAME=ide
BENCH_PAYLOAD=$PAYLOAD
# shellcheck source=bench/common.sh
. bench/common.sh
bench_require

mkdir -p "${BENCH_DIR:-$BUILD}" || die "cannot create ${BENCH_DIR:-$BUILD}"
tmp=$(mktemp -d "${BENCH_DIR:-$BUILD}/bench-ide.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
img=$tmp/disk.img

# A fully written image: reads of sparse extents would not touch the disk.
dd if=/dev/zero of="$img" bs=1M count="$MIB" oflag=direct status=none ||
    die "cannot write the $MIB MiB image in $tmp"

DRIVE="file=$img,if=ide,index=0,format=raw,cache=none,aio=native"
vmm_cmd() { echo "$VMM -M pc -nodefaults -display none -m 256"; }
qemu_cmd() { echo "$QEMU -accel kvm -M pc -nodefaults -display none -m 256"; }

# One guest run; prints "R W" or reports why not.
guest_run() {   # emu run-number
    local log=$tmp/$1.log line
    # shellcheck disable=SC2046
    timeout -k 2 $((SECS * 2 + 120)) $("$1"_cmd) -serial stdio \
        -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$PAYLOAD" \
        -append "mode=bench kib=$KIB mib=$MIB secs=$SECS" -drive "$DRIVE" </dev/null >"$log" 2>&1
    line=$(grep -a '^IDE seq_read_MBps=' "$log" | head -n 1 | tr -d '\r')
    if [ -z "$line" ]; then
        echo "bench/ide: $1 run $2: no 'IDE' line: $(grep -av 'host doesn.t support' "$log" | tail -n 1 | tr -d '\r')" >&2
        return
    fi
    sed -E 's/.*seq_read_MBps=([0-9.]+) seq_write_MBps=([0-9.]+).*/\1 \2/' <<<"$line"
}

# R runs of $1 (vmm|qemu); results in $tmp/$1.runs, one "R W" a line.
collect() {
    local i
    : >"$tmp/$1.runs"
    if [[ $SKIP == *" $1 "* ]]; then return; fi
    for ((i = 0; i < R; i++)); do
        guest_run "$1" "$i"
    done >>"$tmp/$1.runs"
}

col_median() { awk -v c="$2" 'NF >= 2 { print $c }' "$tmp/$1.runs" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
meets() { awk -v r="$1" 'BEGIN { if (r == "n/a") print "?"; else if (r + 0 >= 1.0) print "yes"; else print "NO" }'; }

echo "IDE DMA: $MIB MiB raw image in $tmp, $KIB KiB per command, $SECS s per direction, $R runs each"
collect vmm
collect qemu

printf '%-22s %10s %10s %9s  %s\n' "median" vmm QEMU vmm/QEMU target
row() {   # label column
    local v q r
    v=$(col_median vmm "$2"); q=$(col_median qemu "$2"); r=$(ratio "$v" "$q")
    printf '%-22s %10s %10s %9s  %s\n' "$1" "$v" "$q" "$r" "vmm/QEMU >= 1.0: $(meets "$r")"
}
row "seq read MB/s" 1
row "seq write MB/s" 2
echo "(MB = 10^6 bytes; figures from ide-dma.elf's rdtsc + kvmclock, polling at CPL3)"
