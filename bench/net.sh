#!/bin/bash
# Network benchmark: virtio-net through vmm and through Debian's QEMU
# (-accel kvm) in the same run, over the socket backend (`-netdev
# socket,connect=127.0.0.1:PORT`, QEMU's 4-byte length framing), and over
# tap when run as root with /dev/net/tun (see tap_run below).
#
# The guest is virtio-net.elf mode=bench: a polling virtio-net driver at
# CPL3 that keeps the transmit ring full of size-byte frames for secs
# seconds, then counts the frames a peer floods at it for secs seconds.  It
# prints "NET tx_frames=F tx_fps=R tx_MBps=M" and "NET rx_frames=...".  The
# peer is vnet_peer (tests/payloads/lib/virtio-net.sh), a python3 script;
# its count of received frames must equal the guest's transmit count, or
# the run is discarded.
#
# Prints the median of R runs per figure and the ratios vmm/QEMU with the
# target (>= 1.0).  It never fails on a figure; only a broken setup ends it
# with status 1.
#
# Usage: bench/net.sh [R]   (default 3)
# env: BUILD, VMM, QEMU, BENCH_SIZE (frame bytes, 60-1514, default 1514),
#      BENCH_SECS (per direction, default 3), BENCH_SKIP (space-separated:
#      vmm qemu tap), BENCH_TAP (1: tap too when possible, the default).
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$BUILD/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
R=${1:-3}
SIZE=${BENCH_SIZE:-1514}
SECS=${BENCH_SECS:-3}
SKIP=" ${BENCH_SKIP:-} "
PAYLOAD=$BUILD/payloads/virtio-net.elf

BENCH_NAME=net
BENCH_PAYLOAD=$PAYLOAD
# shellcheck source=bench/common.sh
. bench/common.sh
bench_require
command -v python3 >/dev/null || die "python3 not found"
# shellcheck source=tests/payloads/lib/virtio-net.sh
. tests/payloads/lib/virtio-net.sh

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

VM_TIMEOUT=$((SECS * 2 + 120))
vmm_cmd() { echo "$VMM -M pc -nodefaults -display none -m 128"; }
qemu_cmd() { echo "$QEMU -accel kvm -M pc -nodefaults -display none -m 128"; }

# What vnet_run expects from tests/payloads/lib/common.sh.
run_vm() {
    OUT=$(timeout -k 5 "$VM_TIMEOUT" "${VM_CMD[@]}" "$@" </dev/null 2>&1)
    RC=$?
}

# figures: "tx_fps tx_MBps rx_fps rx_MBps" from the guest's NET lines in OUT.
figures() {
    local tx rx
    tx=$(grep -a '^NET tx_frames=' <<<"$OUT" | tr -d '\r' |
         sed -E 's/.*tx_fps=([0-9.]+) tx_MBps=([0-9.]+).*/\1 \2/')
    rx=$(grep -a '^NET rx_frames=' <<<"$OUT" | tr -d '\r' |
         sed -E 's/.*rx_fps=([0-9.]+) rx_MBps=([0-9.]+).*/\1 \2/')
    [ -n "$tx" ] && [ -n "$rx" ] && echo "$tx $rx"
}

# One socket-backend run of $1 (vmm|qemu); prints the figures or says why not.
socket_run() {
    local guest_tx peer_tx
    # shellcheck disable=SC2207
    VM_CMD=($("$1"_cmd) -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4)
    if ! vnet_run bench "$SIZE" -kernel "$PAYLOAD" -append "mode=bench size=$SIZE secs=$SECS"; then
        echo "bench/net: $1 run $2: $PEER_OUT" >&2
        return
    fi
    guest_tx=$(sed -n 's/^NET tx_frames=\([0-9]*\) .*/\1/p' <<<"$OUT" | tr -d '\r')
    peer_tx=$(sed -n 's/^PEER tx_frames=\([0-9]*\) .*/\1/p' <<<"$PEER_OUT")
    if [ -z "$guest_tx" ] || [ "$guest_tx" != "$peer_tx" ]; then
        echo "bench/net: $1 run $2: guest sent '$guest_tx' frames, peer got '$peer_tx';" \
             "$(grep -av 'host doesn.t support' <<<"$OUT" | tail -n 1 | tr -d '\r')" >&2
        return
    fi
    figures || echo "bench/net: $1 run $2: no NET lines: $(tail -n 1 <<<"$OUT")" >&2
}

# One tap-backend run of $1 (vmm|qemu), as root with /dev/net/tun: in a
# fresh network namespace (unshare -n, IPv6 off so the kernel sends the
# guest nothing of its own) the VMM creates tap vt0 and vnet_peer
# sets it up and talks through a packet socket bound to ethertype 0x88b5.
# The guest runs with go=1 (READY repeated until the peer's GO).  A tap
# drops what its reader does not take in time, so the tx figures here count
# what reached the peer: its frame count over the guest's tx time.
tap_run() {
    local ms peer_tx rx
    # shellcheck disable=SC2046
    OUT=$(VNET_FRAMES=$VNET_FRAMES timeout -k 5 "$VM_TIMEOUT" unshare -n bash -c '
        size=$1 dir=$2; shift 2
        ip link set lo up
        sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1
        vnet_peer bench tap:vt0 "$size" >"$dir/peer" 2>&1 &
        peer=$!
        "$@" </dev/null 2>&1
        for i in $(seq 50); do kill -0 $peer 2>/dev/null || break; sleep 0.1; done
        kill $peer 2>/dev/null; wait $peer 2>/dev/null' _ "$SIZE" "$tmp" \
        $("$1"_cmd) -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 \
        -netdev tap,id=n0,ifname=vt0,script=no,downscript=no \
        -device "virtio-net-pci,netdev=n0,mac=$VNET_MAC" \
        -kernel "$PAYLOAD" -append "mode=bench size=$SIZE secs=$SECS go=1")
    PEER_OUT=$(cat "$tmp/peer" 2>/dev/null)
    ms=$(sed -n 's/^NET tx_frames=.* tx_ms=\([0-9]*\).*/\1/p' <<<"$OUT" | tr -d '\r')
    peer_tx=$(sed -n 's/^PEER tx_frames=\([0-9]*\) .*/\1/p' <<<"$PEER_OUT")
    rx=$(figures | awk '{ print $3, $4 }')
    if [ -z "$ms" ] || [ -z "$peer_tx" ] || [ -z "$rx" ]; then
        echo "bench/net: tap $1 run $2: no figures: $(tail -n 1 <<<"$OUT" | tr -d '\r');" \
             "peer: $(tail -n 1 <<<"$PEER_OUT")" >&2
        return
    fi
    awk -v f="$peer_tx" -v ms="$ms" -v s="$SIZE" -v rx="$rx" \
        'BEGIN { printf "%.1f %.1f %s\n", f * 1000 / ms, f * s / ms / 1000, rx }'
}

tap_possible() {
    [ "${BENCH_TAP:-1}" = 1 ] && [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] &&
        command -v unshare >/dev/null && command -v ip >/dev/null
}

# R runs of backend $1 under $2; results in $tmp/$1-$2.runs.
collect() {
    local i
    : >"$tmp/$1-$2.runs"
    if [[ $SKIP == *" $2 "* ]] || [[ $SKIP == *" $1 "* ]]; then return; fi
    for ((i = 0; i < R; i++)); do
        "$1"_run "$2" "$i"
    done >>"$tmp/$1-$2.runs"
}

col_median() { awk -v c="$2" 'NF >= 4 { print $c }' "$tmp/$1.runs" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
meets() { awk -v r="$1" 'BEGIN { if (r == "n/a") print "?"; else if (r + 0 >= 1.0) print "yes"; else print "NO" }'; }

table() {   # backend
    local label col v q r
    [ -s "$tmp/$1-vmm.runs" ] || [ -s "$tmp/$1-qemu.runs" ] || return 0
    printf '%-18s %12s %12s %9s  %s\n' "median ($1)" vmm QEMU vmm/QEMU target
    for col in "tx frames/s:1" "tx MB/s:2" "rx frames/s:3" "rx MB/s:4"; do
        label=${col%:*}
        v=$(col_median "$1-vmm" "${col#*:}"); q=$(col_median "$1-qemu" "${col#*:}")
        r=$(ratio "$v" "$q")
        printf '%-18s %12s %12s %9s  %s\n' "$label" "$v" "$q" "$r" "vmm/QEMU >= 1.0: $(meets "$r")"
    done
}

echo "virtio-net: $SIZE-byte frames, $SECS s per direction, $R runs each"
collect socket vmm
collect socket qemu
table socket
if tap_possible && [[ $SKIP != *" tap "* ]]; then
    export -f vnet_peer
    export VNET_FRAMES
    collect tap vmm
    collect tap qemu
    table tap
    echo "(tap tx: frames that reached the packet-socket peer, over the guest's tx time)"
else
    echo "tap: skipped (needs root, /dev/net/tun, unshare and ip; BENCH_TAP=1)"
fi
echo "(MB = 10^6 frame bytes; guest figures from virtio-net.elf's rdtsc + kvmclock;"
echo " the peer is one python3 process on the same 2-core host)"
