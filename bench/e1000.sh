#!/bin/bash
# e1000 benchmark: the 82540EM through vmm and through Debian's QEMU
# (-accel kvm) in the same run, over the socket backend (`-netdev
# socket,connect=127.0.0.1:PORT`, QEMU's 4-byte length framing).
#
# The guest is e1000.elf mode=bench: a polling e1000 driver (legacy
# descriptors, 256-entry rings, interrupts masked) at CPL3 that keeps the
# transmit ring full of size-byte frames for secs seconds, then counts the
# frames a peer floods at it for secs seconds.  It prints "E1000
# tx_frames=F tx_fps=R tx_MBps=M" and "E1000 rx_frames=...".  The peer is
# vnet_peer (tests/payloads/lib/virtio-net.sh), the one virtio-net.elf
# uses; its count of received frames must equal the guest's transmit count,
# or the run is discarded.
#
# Prints the median of R runs per figure and the ratios vmm/QEMU with the
# target (>= 1.0).  It never fails on a figure; only a broken setup ends it
# with status 1.
#
# Usage: bench/e1000.sh [R]   (default 3)
# env: BUILD, VMM, QEMU, BENCH_SIZE (frame bytes, 60-1514, default 1514),
#      BENCH_SECS (per direction, default 2), BENCH_SKIP (vmm and/or qemu).
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$BUILD/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
R=${1:-3}
SIZE=${BENCH_SIZE:-1514}
SECS=${BENCH_SECS:-2}
SKIP=" ${BENCH_SKIP:-} "
PAYLOAD=$BUILD/payloads/e1000.elf

BENCH_NAME=e1000
BENCH_PAYLOAD=$PAYLOAD
# shellcheck source=bench/common.sh
. bench/common.sh
bench_require
command -v python3 >/dev/null || die "python3 not found"
# shellcheck source=tests/payloads/lib/virtio-net.sh
. tests/payloads/lib/virtio-net.sh
# shellcheck source=tests/payloads/lib/e1000.sh
. tests/payloads/lib/e1000.sh

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

VM_TIMEOUT=$((SECS * 2 + 120))
vmm_cmd() { echo "$VMM -M pc -nodefaults -display none -m 128"; }
qemu_cmd() { echo "$QEMU -accel kvm -M pc -nodefaults -display none -m 128"; }

# What e1k_run expects from tests/payloads/lib/common.sh.
run_vm() {
    OUT=$(timeout -k 5 "$VM_TIMEOUT" "${VM_CMD[@]}" "$@" </dev/null 2>&1)
    RC=$?
}

# figures: "tx_fps tx_MBps rx_fps rx_MBps" from the guest's E1000 lines in OUT.
figures() {
    local tx rx
    tx=$(grep -a '^E1000 tx_frames=' <<<"$OUT" | tr -d '\r' |
         sed -E 's/.*tx_fps=([0-9.]+) tx_MBps=([0-9.]+).*/\1 \2/')
    rx=$(grep -a '^E1000 rx_frames=' <<<"$OUT" | tr -d '\r' |
         sed -E 's/.*rx_fps=([0-9.]+) rx_MBps=([0-9.]+).*/\1 \2/')
    [ -n "$tx" ] && [ -n "$rx" ] && echo "$tx $rx"
}

# One run of $1 (vmm|qemu); prints the figures or says why not.
guest_run() {
    local guest_tx peer_tx
    # shellcheck disable=SC2207
    VM_CMD=($("$1"_cmd) -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4)
    if ! e1k_run bench "$SIZE" -kernel "$PAYLOAD" -append "mode=bench size=$SIZE secs=$SECS"; then
        echo "bench/e1000: $1 run $2: $PEER_OUT" >&2
        return
    fi
    guest_tx=$(sed -n 's/^E1000 tx_frames=\([0-9]*\) .*/\1/p' <<<"$OUT" | tr -d '\r')
    peer_tx=$(sed -n 's/^PEER tx_frames=\([0-9]*\) .*/\1/p' <<<"$PEER_OUT")
    if [ -z "$guest_tx" ] || [ "$guest_tx" != "$peer_tx" ]; then
        echo "bench/e1000: $1 run $2: guest sent '$guest_tx' frames, peer got '$peer_tx';" \
             "$(grep -av 'host doesn.t support' <<<"$OUT" | tail -n 1 | tr -d '\r')" >&2
        return
    fi
    figures || echo "bench/e1000: $1 run $2: no E1000 lines: $(tail -n 1 <<<"$OUT")" >&2
}

# R runs of $1; results in $tmp/$1.runs.
collect() {
    local i
    : >"$tmp/$1.runs"
    if [[ $SKIP == *" $1 "* ]]; then return; fi
    for ((i = 0; i < R; i++)); do
        guest_run "$1" "$i"
    done >>"$tmp/$1.runs"
}

col_median() { awk -v c="$2" 'NF >= 4 { print $c }' "$tmp/$1.runs" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
meets() { awk -v r="$1" 'BEGIN { if (r == "n/a") print "?"; else if (r + 0 >= 1.0) print "yes"; else print "NO" }'; }

echo "e1000: $SIZE-byte frames, $SECS s per direction, socket backend, $R runs each"
collect vmm
collect qemu
printf '%-18s %12s %12s %9s  %s\n' "median" vmm QEMU vmm/QEMU target
for col in "tx frames/s:1" "tx MB/s:2" "rx frames/s:3" "rx MB/s:4"; do
    label=${col%:*}
    v=$(col_median vmm "${col#*:}"); q=$(col_median qemu "${col#*:}")
    r=$(ratio "$v" "$q")
    printf '%-18s %12s %12s %9s  %s\n' "$label" "$v" "$q" "$r" "vmm/QEMU >= 1.0: $(meets "$r")"
done
echo "(MB = 10^6 frame bytes; guest figures from e1000.elf's rdtsc + kvmclock;"
echo " the peer is one python3 process on the same 2-core host)"
