# shellcheck shell=bash
# virtio-net payload checks, sourced by payloads.sh and payloads-qemu.sh after
# lib/common.sh (uses run_vm, expect, ok, not_ok, have_payload, FAILS); also
# sourced by bench/net.sh for vnet_peer and vnet_run.
#
# The VM's NIC is `-netdev socket,id=n0,connect=127.0.0.1:PORT -device
# virtio-net-pci,netdev=n0`; the other end is vnet_peer, a python3 script
# listening on PORT (frames preceded by a 4-byte big-endian length: QEMU's
# socket netdev format).  Control frames (ethertype 0x88b5, "VNET WORD"):
# see tests/payloads/virtio-net.c.
#
# t_virtio_net: mode=echo.  The peer waits for READY, sends VNET_FRAMES
# frames of varied sizes (60-1514 bytes) to the guest's MAC and expects each
# back byte-identical with source and destination swapped, in order.
# t_virtio_net_bench: mode=bench secs=1: the guest's transmit count must
# equal what the peer received, and the receive phase must count frames.

VNET_FRAMES=${VNET_FRAMES:-24}
VNET_MAC=52:54:00:12:34:56

# vnet_peer MODE PORTFILE [SIZE]: listen on 127.0.0.1 (port written to
# PORTFILE), accept the VM, then
#   echo: send VNET_FRAMES frames, check the echoes; prints "PEER echo ok N"
#         or "PEER FAIL: why" (exit status 1)
#   bench: count "VNET TX" frames; on RXGO flood SIZE-byte frames until
#          STOP; prints "PEER tx_frames=N rx_sent=M" at STOP
# PORTFILE may instead be tap:IFNAME (bench/net.sh, inside a network
# namespace): wait for the tap IFNAME, set it up and use a packet socket on
# it; the guest then runs with go=1 and the peer answers READY with GO.
vnet_peer() {
    python3 - "$1" "$2" "${3:-1514}" "$VNET_FRAMES" <<'EOF'
import os, socket, struct, sys, threading
mode, portfile, size, nframes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ETYPE = b'\x88\xb5'
PEER_MAC = bytes.fromhex('020000000001')

def out(msg):
    print(msg, flush=True)

def fail(msg):
    out('PEER FAIL: ' + msg)
    os._exit(1)

def open_tcp():
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(1)
    with open(portfile + '.tmp', 'w') as f:
        f.write(str(srv.getsockname()[1]))
    os.rename(portfile + '.tmp', portfile)
    srv.settimeout(120)
    try:
        c, _ = srv.accept()
    except socket.timeout:
        fail('no connection from the VM')
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.settimeout(120)
    return c

def open_tap(ifname):
    import subprocess, time
    for _ in range(600):
        try:
            socket.if_nametoindex(ifname)    # this namespace's, unlike /sys
            break
        except OSError:
            time.sleep(0.1)
    else:
        fail('tap %s never appeared' % ifname)
    subprocess.run(['ip', 'link', 'set', ifname, 'up'], check=True)
    c = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    c.bind((ifname, 0x88b5))
    c.settimeout(120)
    return c

TAP = portfile.startswith('tap:')
conn = open_tap(portfile[4:]) if TAP else open_tcp()

# Frames come out of a buffer refilled 1 MiB at a time: a recv() per frame
# would make this script, not the VMM, the bottleneck of the benchmark.
rbuf, rpos = bytearray(), 0

def next_frame():
    """(offset, length) of the next frame in rbuf, valid until the next
    call; None at end of stream."""
    global rbuf, rpos
    if TAP:
        try:
            rbuf = conn.recv(65536)
        except socket.timeout:
            fail('timed out waiting for a frame')
        return 0, len(rbuf)
    while True:
        if len(rbuf) - rpos >= 4:
            n = struct.unpack_from('>I', rbuf, rpos)[0]
            if len(rbuf) - rpos >= 4 + n:
                rpos += 4 + n
                return rpos - n, n
        del rbuf[:rpos]
        rpos = 0
        try:
            chunk = conn.recv(1 << 20)
        except socket.timeout:
            fail('timed out waiting for a frame')
        if not chunk:
            return None
        rbuf += chunk

def recv_frame():
    r = next_frame()
    return None if r is None else bytes(rbuf[r[0]:r[0] + r[1]])

def framed(f):
    return struct.pack('>I', len(f)) + f

def send(f):
    if TAP:
        conn.send(f)
    else:
        conn.sendall(framed(f))

def is_control(f, word):
    return f[12:14] == ETYPE and f[14:19 + len(word)] == b'VNET ' + word

def wait_ready():
    while True:
        f = recv_frame()
        if f is None:
            fail('connection closed before READY')
        if is_control(f, b'READY'):
            if TAP:     # the guest repeats READY until it gets GO
                g = f[6:12] + PEER_MAC + ETYPE + b'VNET GO'
                send(g + bytes(60 - len(g)))
            return f[6:12]

def echo(guest_mac):
    sizes = [60, 61, 64, 100, 128, 255, 256, 511, 512, 1000, 1500, 1514]
    sent = []
    for i in range(nframes):
        n = sizes[i % len(sizes)]
        body = b'VNET ECHO %d ' % i
        body += bytes((i * 31 + j) & 0xff for j in range(n - 14 - len(body)))
        f = guest_mac + PEER_MAC + ETYPE + body
        sent.append(f)
        send(f)
    for i, f in enumerate(sent):
        r = recv_frame()
        if r is None:
            fail('connection closed after %d echoes' % i)
        want = f[6:12] + f[0:6] + f[12:]
        if r != want:
            fail('echo %d (%d bytes) differs: got %d bytes %s...' % (i, len(f), len(r), r[:20].hex()))
    out('PEER echo ok %d' % nframes)

def bench():
    stop = threading.Event()
    sent = [0]
    def flood(guest_mac):
        f = guest_mac + PEER_MAC + ETYPE + b'VNET RX'
        f += bytes(size - len(f))
        chunk = framed(f) * 256
        try:
            while not stop.is_set():
                if TAP:
                    for _ in range(256):
                        conn.send(f)
                else:
                    conn.sendall(chunk)
                sent[0] += 256
        except OSError:
            pass
    guest_mac = wait_ready()
    tx = 0
    tx_tag = ETYPE + b'VNET TX'
    while True:
        r = next_frame()
        if r is None:
            out('PEER tx_frames=%d rx_sent=%d (closed)' % (tx, sent[0]))
            return
        if rbuf[r[0] + 12:r[0] + 21] == tx_tag:
            tx += 1
            continue
        f = bytes(rbuf[r[0]:r[0] + r[1]])
        if is_control(f, b'RXGO'):
            threading.Thread(target=flood, args=(guest_mac,), daemon=True).start()
        elif is_control(f, b'STOP'):
            stop.set()
            out('PEER tx_frames=%d rx_sent=%d' % (tx, sent[0]))
            # keep reading until the VM goes away, so it never blocks on us
            if TAP:
                return
            conn.settimeout(30)
            try:
                while recv_frame() is not None:
                    pass
            except OSError:
                pass
            return

if mode == 'echo':
    echo(wait_ready())
else:
    bench()
EOF
}

# vnet_run PEER_MODE SIZE VM_ARGS...: starts vnet_peer, then the VM through
# run_vm connected to it (VM_ARGS after the netdev/device options); sets OUT,
# RC and PEER_OUT.  Returns 1 (PEER_OUT says why) if the peer never listened.
vnet_run() {
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
        -device "virtio-net-pci,netdev=n0,mac=$VNET_MAC" "$@"
    # the peer ends when the VM closes the connection
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

t_virtio_net() {
    have_payload virtio-net.elf virtio-net-echo || return
    if ! vnet_run echo 0 -kernel "$PAYLOADS/virtio-net.elf" -append "mode=echo frames=$VNET_FRAMES"; then
        not_ok virtio-net-echo "$PEER_OUT"
        return
    fi
    expect virtio-net-echo "$ST_PASS" "mac $VNET_MAC" "echoed $VNET_FRAMES frames" '^PASS: virtio-net'
    if [ "$RC" -eq "$ST_PASS" ]; then
        if grep -q "^PEER echo ok $VNET_FRAMES\$" <<<"$PEER_OUT"; then
            ok virtio-net-echo-peer-check
        else
            OUT=$PEER_OUT
            not_ok virtio-net-echo-peer-check "peer: $(tail -n 1 <<<"$PEER_OUT")"
        fi
    fi
}

t_virtio_net_bench() {
    have_payload virtio-net.elf virtio-net-bench || return
    local guest_tx peer_tx
    if ! vnet_run bench 1514 -kernel "$PAYLOADS/virtio-net.elf" -append "mode=bench size=1514 secs=1"; then
        not_ok virtio-net-bench "$PEER_OUT"
        return
    fi
    expect virtio-net-bench "$ST_PASS" '^NET tx_frames=[1-9][0-9]* ' '^NET rx_frames=[1-9][0-9]* ' \
        '^PASS: virtio-net'
    [ "$RC" -eq "$ST_PASS" ] || return
    guest_tx=$(sed -n 's/^NET tx_frames=\([0-9]*\) .*/\1/p' <<<"$OUT")
    peer_tx=$(sed -n 's/^PEER tx_frames=\([0-9]*\) .*/\1/p' <<<"$PEER_OUT")
    if [ -n "$guest_tx" ] && [ "$guest_tx" = "$peer_tx" ]; then
        ok virtio-net-bench-tx-count
    else
        OUT=$PEER_OUT
        not_ok virtio-net-bench-tx-count "guest sent '$guest_tx' frames, peer got '$peer_tx'"
    fi
}
