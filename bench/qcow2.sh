#!/bin/bash
# qcow2 benchmark.  Guest I/O: virtio-blk.elf mode=bench (polling CPL3
# virtio-blk driver: 1 MiB sequential reads and writes, 4 KiB random reads,
# qd requests in flight) on
#   - a raw image in vmm,
#   - the same data as a fully allocated qcow2 (every cluster written, so
#     no read takes the unallocated fast path) in vmm,
#   - that qcow2 in Debian's QEMU (-accel kvm),
# all with cache=none,aio=native.  Then image conversion: vmm-img convert
# vs qemu-img convert on a BENCH_CONVERT_MIB (2048) MiB raw image with
# mixed data (random, zero and repeated clusters), raw -> qcow2, and
# qcow2 -> raw.
#
# Prints medians of R runs and the ratios with the targets: qcow2 >= 0.9x
# raw in vmm, vmm qcow2 >= QEMU qcow2, and writes a draft docs section to
# /tmp/perf-qcow2.md.  Never fails on a figure; a broken setup exits 1.
#
# Usage: bench/qcow2.sh [R]   (default 3)
# env: BUILD, VMM, VMM_IMG, QEMU, BENCH_MIB (guest image, 1024), BENCH_QD
#      (32), BENCH_IOS (20000), BENCH_SECS (10), BENCH_CONVERT_MIB (2048),
#      BENCH_DIR (default: under $BUILD), BENCH_SKIP (vmm-raw vmm-qcow2
#      qemu-qcow2 convert).
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$BUILD/vmm}
VMM_IMG=${VMM_IMG:-$BUILD/vmm-img}
QEMU=${QEMU:-qemu-system-x86_64}
R=${1:-3}
MIB=${BENCH_MIB:-1024}
QD=${BENCH_QD:-32}
IOS=${BENCH_IOS:-20000}
SECS=${BENCH_SECS:-10}
CMIB=${BENCH_CONVERT_MIB:-2048}
SKIP=" ${BENCH_SKIP:-} "
PAYLOAD=$BUILD/payloads/virtio-blk.elf
OUT_MD=${BENCH_MD:-/tmp/perf-qcow2.md}

BENCH_NAME=qcow2
BENCH_PAYLOAD=$PAYLOAD
# shellcheck source=bench/common.sh
. bench/common.sh
bench_require
[ -x "$VMM_IMG" ] || die "$VMM_IMG not built (make)"
command -v qemu-img >/dev/null || die "qemu-img not found (apt-get install qemu-utils)"

mkdir -p "${BENCH_DIR:-$BUILD}" || die "cannot create ${BENCH_DIR:-$BUILD}"
tmp=$(mktemp -d "${BENCH_DIR:-$BUILD}/bench-qcow2.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# Guest images: a fully written raw file and the same as qcow2 with every
# cluster allocated (-S 0: zero clusters are written as data too).
dd if=/dev/zero of="$tmp/disk.raw" bs=1M count="$MIB" oflag=direct status=none ||
    die "cannot write the $MIB MiB image"
qemu-img convert -S 0 -f raw -O qcow2 "$tmp/disk.raw" "$tmp/disk.qcow2" ||
    die "qemu-img convert failed"

vmm_cmd() { echo "$VMM -M pc -nodefaults -display none -m 256"; }
qemu_cmd() { echo "$QEMU -accel kvm -M pc -nodefaults -display none -m 256"; }

# One guest run; prints "R W I" or reports why not.
guest_run() {   # emu fmt image run
    local log=$tmp/$1-$2.log line
    # shellcheck disable=SC2046
    timeout -k 2 600 $("$1"_cmd) -serial stdio \
        -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$PAYLOAD" \
        -append "mode=bench qd=$QD mib=$MIB ios=$IOS secs=$SECS" \
        -drive "file=$3,if=none,id=d0,format=$2,cache=none,aio=native" \
        -device virtio-blk-pci,drive=d0 </dev/null >"$log" 2>&1
    line=$(grep -a '^BLK seq_read_MBps=' "$log" | head -n 1 | tr -d '\r')
    if [ -z "$line" ]; then
        echo "bench/qcow2: $1 $2 run $4: no 'BLK' line: $(tail -n 1 "$log" | tr -d '\r')" >&2
        return
    fi
    sed -E 's/.*seq_read_MBps=([0-9.]+) seq_write_MBps=([0-9.]+) rand_read_iops=([0-9.]+).*/\1 \2 \3/' <<<"$line"
}

collect() {   # label emu fmt image
    local i
    : >"$tmp/$1.runs"
    [[ $SKIP == *" $1 "* ]] && return
    for ((i = 0; i < R; i++)); do guest_run "$2" "$3" "$4" "$i"; done >>"$tmp/$1.runs"
}

col_median() { awk -v c="$2" 'NF >= 3 { print $c }' "$tmp/$1.runs" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
meets() { awk -v r="$1" -v m="$2" 'BEGIN { if (r == "n/a") print "?"; else if (r + 0 >= m) print "yes"; else print "NO" }'; }

echo "qcow2 vs raw: $MIB MiB fully allocated images in $tmp, qd=$QD, $IOS random 4 KiB reads, $R runs each"
collect vmm-raw vmm raw "$tmp/disk.raw"
collect vmm-qcow2 vmm qcow2 "$tmp/disk.qcow2"
collect qemu-qcow2 qemu qcow2 "$tmp/disk.qcow2"

table=$tmp/table
printf '%-22s %10s %10s %10s %11s %12s  %s\n' "median" "vmm raw" "vmm qcow2" "QEMU qcow2" \
    "qcow2/raw" "vmm/QEMU" "target" | tee "$table"
row() {   # label column
    local r q e rr rq
    r=$(col_median vmm-raw "$2"); q=$(col_median vmm-qcow2 "$2"); e=$(col_median qemu-qcow2 "$2")
    rr=$(ratio "$q" "$r"); rq=$(ratio "$q" "$e")
    printf '%-22s %10s %10s %10s %11s %12s  %s\n' "$1" "$r" "$q" "$e" "$rr" "$rq" \
        "qcow2/raw >= 0.9: $(meets "$rr" 0.9), vmm/QEMU >= 1.0: $(meets "$rq" 1.0)" | tee -a "$table"
}
row "seq read MB/s (1M)" 1
row "seq write MB/s (1M)" 2
row "rand read IOPS (4k)" 3

# ---- conversion speed ----
conv_time() {   # tool args...: seconds (3 decimals) of the median of R runs
    local i t0 t1
    for ((i = 0; i < R; i++)); do
        rm -f "$tmp/conv.out"
        sync
        t0=$(date +%s%N)
        "$@" >/dev/null 2>"$tmp/conv.err" || { echo "bench/qcow2: $* failed: $(head -n 1 "$tmp/conv.err")" >&2; continue; }
        t1=$(date +%s%N)
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'
    done | median
}
conv_rows=""
if [[ $SKIP != *" convert "* ]]; then
    # Mixed data: per 4 MiB, 2 MiB random, 1 MiB zeroes, 1 MiB of one repeated byte.
    python3 - "$tmp/src.raw" "$CMIB" <<'PY' || die "cannot write the conversion source"
import os, sys
path, mib = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    for i in range(mib // 4):
        f.write(os.urandom(2 << 20)); f.write(bytes(1 << 20)); f.write(bytes([i & 255 | 1]) * (1 << 20))
PY
    qemu-img convert -f raw -O qcow2 "$tmp/src.raw" "$tmp/src.qcow2"
    echo
    echo "convert ($CMIB MiB, mixed data), median seconds of $R runs"
    printf '%-22s %10s %10s %10s\n' "" vmm-img qemu-img "vmm/qemu" | tee -a "$table"
    for dir in "raw qcow2 src.raw" "qcow2 raw src.qcow2"; do
        set -- $dir
        v=$(conv_time "$VMM_IMG" convert -f "$1" -O "$2" "$tmp/$3" "$tmp/conv.out")
        q=$(conv_time qemu-img convert -f "$1" -O "$2" "$tmp/$3" "$tmp/conv.out")
        # time ratio: < 1 means vmm-img is faster
        printf '%-22s %10s %10s %10s\n' "$1 -> $2" "$v" "$q" "$(ratio "$v" "$q")" | tee -a "$table"
    done
fi

{
    echo "## qcow2 (bench/qcow2.sh)"
    echo
    echo "Guest: virtio-blk.elf mode=bench, $MIB MiB fully allocated images, qd=$QD, cache=none,aio=native; $R runs, medians."
    echo "Conversion: ${CMIB} MiB mixed-data image, seconds (lower is better)."
    echo
    echo '```'
    cat "$table"
    echo '```'
} >"$OUT_MD"
echo "(draft docs section written to $OUT_MD)"
