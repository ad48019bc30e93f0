#!/bin/bash
# Block I/O benchmark: virtio-blk through vmm and through Debian's QEMU
# (-accel kvm) in the same run, against the host's own figures from fio on
# the same image file (the physical limit).
#
# The guest is virtio-blk.elf mode=bench: a polling virtio-blk driver at CPL3
# with qd requests in flight (1 MiB sequential reads, 1 MiB sequential
# writes, 4 KiB random reads), timed with rdtsc and kvmclock's TSC rate.  It
# prints "BLK seq_read_MBps=R seq_write_MBps=W rand_read_iops=I" (MB = 10^6
# bytes).  Both VMMs use the same -drive options: raw, cache=none,
# aio=native.  fio runs libaio, O_DIRECT, the same queue depth and sizes.
#
# Prints the median of R runs per figure and the ratios vmm/QEMU and
# vmm/host with the targets (sequential >= 0.9x host and >= QEMU; random
# IOPS >= 1.2x QEMU).  It never fails on a figure; only a broken setup
# (nothing built, no KVM) ends it with status 1.
#
# Usage: bench/blk.sh [R]   (default 3)
# env: BUILD, VMM, QEMU, BENCH_MIB (image size and sequential span, default
#      1024), BENCH_QD (32), BENCH_IOS (random reads per run, 20000),
#      BENCH_SECS (cap per phase, 10), BENCH_DIR (where the image goes;
#      default: a temporary directory under $BUILD, i.e. the build's
#      filesystem), BENCH_SKIP (space-separated: vmm qemu host).
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$BUILD/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
R=${1:-3}
MIB=${BENCH_MIB:-1024}
QD=${BENCH_QD:-32}
IOS=${BENCH_IOS:-20000}
SECS=${BENCH_SECS:-10}
SKIP=" ${BENCH_SKIP:-} "
PAYLOAD=$BUILD/payloads/virtio-blk.elf

BENCH_NAME=blk
BENCH_PAYLOAD=$PAYLOAD
# shellcheck source=bench/common.sh
. bench/common.sh
bench_require
command -v fio >/dev/null || die "fio not found (apt-get install fio)"
command -v python3 >/dev/null || die "python3 not found"

mkdir -p "${BENCH_DIR:-$BUILD}" || die "cannot create ${BENCH_DIR:-$BUILD}"
tmp=$(mktemp -d "${BENCH_DIR:-$BUILD}/bench-blk.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
img=$tmp/disk.img

# A fully written image: reads of never-written (sparse or unwritten)
# extents would not touch the disk and flatter every reader.
dd if=/dev/zero of="$img" bs=1M count="$MIB" oflag=direct status=none ||
    die "cannot write the $MIB MiB image in $tmp"

DRIVE="file=$img,if=none,id=d0,format=raw,cache=none,aio=native"
vmm_cmd() { echo "$VMM -M pc -nodefaults -display none -m 256"; }
qemu_cmd() { echo "$QEMU -accel kvm -M pc -nodefaults -display none -m 256"; }

# One guest run; prints "R W I" or reports why not.
guest_run() {   # emu run-number
    local log=$tmp/$1.log line
    # shellcheck disable=SC2046
    timeout -k 2 600 $("$1"_cmd) -serial stdio \
        -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$PAYLOAD" \
        -append "mode=bench qd=$QD mib=$MIB ios=$IOS secs=$SECS" \
        -drive "$DRIVE" -device virtio-blk-pci,drive=d0 </dev/null >"$log" 2>&1
    line=$(grep -a '^BLK seq_read_MBps=' "$log" | head -n 1 | tr -d '\r')
    if [ -z "$line" ]; then
        echo "bench/blk: $1 run $2: no 'BLK' line: $(grep -av 'host doesn.t support' "$log" | tail -n 1 | tr -d '\r')" >&2
        return
    fi
    sed -E 's/.*seq_read_MBps=([0-9.]+) seq_write_MBps=([0-9.]+) rand_read_iops=([0-9.]+).*/\1 \2 \3/' <<<"$line"
}

# fio on the host: MB/s (10^6) for rw=read/write with bs=1M, IOPS for randread.
fio_figure() {   # rw bs what(bw|iops)
    fio --name=host --filename="$img" --direct=1 --ioengine=libaio --iodepth="$QD" \
        --rw="$1" --bs="$2" --size="${MIB}M" --runtime="$SECS" --time_based=0 \
        --output-format=json 2>/dev/null |
        python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
side = j["write"] if sys.argv[1] == "write" else j["read"]
print(round(side["bw_bytes"] / 1e6, 1) if sys.argv[2] == "bw" else round(side["iops"], 1))' "$1" "$3"
}

host_run() {
    echo "$(fio_figure read 1M bw) $(fio_figure write 1M bw) $(fio_figure randread 4k iops)"
}

# R runs of $1 (vmm|qemu|host); results in $tmp/$1.runs, one "R W I" a line.
collect() {
    local i
    : >"$tmp/$1.runs"
    if [[ $SKIP == *" $1 "* ]]; then return; fi
    for ((i = 0; i < R; i++)); do
        if [ "$1" = host ]; then host_run; else guest_run "$1" "$i"; fi
    done >>"$tmp/$1.runs"
}

col_median() { awk -v c="$2" 'NF >= 3 { print $c }' "$tmp/$1.runs" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
meets() {   # ratio min
    awk -v r="$1" -v m="$2" 'BEGIN { if (r == "n/a") print "?"; else if (r + 0 >= m) print "yes"; else print "NO" }'
}

echo "virtio-blk: $MIB MiB raw image in $tmp, qd=$QD, $IOS random 4 KiB reads, $R runs each"
collect vmm
collect qemu
collect host

printf '%-22s %10s %10s %10s %9s %9s  %s\n' "median" vmm QEMU host vmm/QEMU vmm/host target
row() {   # label column qemu-min host-min
    local v q h rq rh t=""
    v=$(col_median vmm "$2"); q=$(col_median qemu "$2"); h=$(col_median host "$2")
    rq=$(ratio "$v" "$q"); rh=$(ratio "$v" "$h")
    [ -n "$3" ] && t="vmm/QEMU >= $3: $(meets "$rq" "$3")"
    [ -n "$4" ] && t="$t${t:+, }vmm/host >= $4: $(meets "$rh" "$4")"
    printf '%-22s %10s %10s %10s %9s %9s  %s\n' "$1" "$v" "$q" "$h" "$rq" "$rh" "$t"
}
row "seq read MB/s (1M)" 1 1.0 0.9
row "seq write MB/s (1M)" 2 1.0 0.9
row "rand read IOPS (4k)" 3 1.2 ""
echo "(MB = 10^6 bytes; guest figures from virtio-blk.elf's rdtsc, host from fio)"
