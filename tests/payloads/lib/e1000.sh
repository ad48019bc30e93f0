# shellcheck shell=bash
# e1000 payload checks, sourced by payloads.sh and payloads-qemu.sh after
# lib/common.sh and lib/virtio-net.sh (uses run_vm, expect, ok, not_ok,
# have_payload, vnet_peer, VNET_MAC, VNET_FRAMES); also sourced by
# bench/e1000.sh for e1k_run.
#
# The NIC is `-netdev socket,id=n0,connect=127.0.0.1:PORT -device
# e1000,netdev=n0,mac=$VNET_MAC,romfile=` (no option ROM: the payload is
# the driver); the other end is vnet_peer, which speaks the same control
# frames to e1000.elf as to virtio-net.elf.
#
# t_e1000: mode=echo, VNET_FRAMES frames of 60-1514 bytes must come back
# byte-identical with the MACs swapped.  t_e1000_bench: mode=bench secs=1:
# the guest's transmit count must equal the peer's, rx must count frames.

# e1k_run PEER_MODE SIZE VM_ARGS...: like vnet_run, with an e1000 NIC.
e1k_run() {
    local mode=$1 size=$2 dir port peer i
    shift 2
    dir=$(mktemp -d) || return 1
    vnet_peer "$mode" "$dir/port" "$size" >"$dir/peer" 2>&1 &
    peer=$!
    for ((i = 0; i < 100; i++)); do
        [ -s "$dir/port" ] && break
        sleep 0.05
    done
    if [ ! -s "$dir/port" ]; then
        kill "$peer" 2>/dev/null; wait "$peer" 2>/dev/null
        PEER_OUT="peer did not listen: $(cat "$dir/peer")"
        rm -rf "$dir"
        return 1
    fi
    port=$(cat "$dir/port")
    run_vm -netdev "socket,id=n0,connect=127.0.0.1:$port" \
        -device "e1000,netdev=n0,mac=$VNET_MAC,romfile=" "$@"
    for ((i = 0; i < 100; i++)); do
        kill -0 "$peer" 2>/dev/null || break
        sleep 0.05
    done
    kill "$peer" 2>/dev/null
    wait "$peer" 2>/dev/null
    PEER_OUT=$(cat "$dir/peer")
    rm -rf "$dir"
    return 0
}

t_e1000() {
    have_payload e1000.elf e1000-echo || return
    if ! e1k_run echo 0 -kernel "$PAYLOADS/e1000.elf" -append "mode=echo frames=$VNET_FRAMES"; then
        not_ok e1000-echo "$PEER_OUT"
        return
    fi
    expect e1000-echo "$ST_PASS" "mac $VNET_MAC" "echoed $VNET_FRAMES frames" '^PASS: e1000'
    [ "$RC" -eq "$ST_PASS" ] || return
    if grep -q "^PEER echo ok $VNET_FRAMES\$" <<<"$PEER_OUT"; then
        ok e1000-echo-peer-check
    else
        OUT=$PEER_OUT
        not_ok e1000-echo-peer-check "peer: $(tail -n 1 <<<"$PEER_OUT")"
    fi
}

t_e1000_bench() {
    have_payload e1000.elf e1000-bench || return
    local guest_tx peer_tx
    if ! e1k_run bench 1514 -kernel "$PAYLOADS/e1000.elf" -append "mode=bench size=1514 secs=1"; then
        not_ok e1000-bench "$PEER_OUT"
        return
    fi
    expect e1000-bench "$ST_PASS" '^E1000 tx_frames=[1-9][0-9]* ' '^E1000 rx_frames=[1-9][0-9]* ' \
        '^PASS: e1000'
    [ "$RC" -eq "$ST_PASS" ] || return
    guest_tx=$(sed -n 's/^E1000 tx_frames=\([0-9]*\) .*/\1/p' <<<"$OUT" | tr -d '\r')
    peer_tx=$(sed -n 's/^PEER tx_frames=\([0-9]*\) .*/\1/p' <<<"$PEER_OUT")
    if [ -n "$guest_tx" ] && [ "$guest_tx" = "$peer_tx" ]; then
        ok e1000-bench-tx-count
    else
        OUT=$PEER_OUT
        not_ok e1000-bench-tx-count "guest sent '$guest_tx' frames, peer got '$peer_tx'"
    fi
}
