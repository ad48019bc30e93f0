#!/bin/bash
# `make check-linux`, virtio part: the Debian test guest (tests/guest) on
# virtio-blk, virtio-net and virtio-balloon.  TAP lines.
#
#   vda-checksum     md5sum of /dev/vda in the guest == the host's (cache=none,aio=native)
#   dhcp-download    user networking: udhcpc gets a lease, wget fetches a file
#                    from a host HTTP server at 10.0.2.2, checksum equal
#   hostfwd-httpd    hostfwd=tcp:127.0.0.1:P-:80 reaches busybox httpd in the guest
#   socket-pair      two guests on -netdev socket (listen/connect) ping each other
#   balloon          "balloon 256" on the QMP socket lowers the guest's MemTotal
#
# Like linux-boot.sh: on a PVM host or without /dev/kvm every case is
# skipped unless VMM_RUN_LINUX=1.
set -u
cd "$(dirname "$0")/../.." || exit 1
SUITE=linux-virtio
CASES="vda-checksum dhcp-download hostfwd-httpd socket-pair balloon"
. tests/integration/lib-linux.sh

case_vda-checksum() {
    local img=$tmp/disk.raw log want got
    head -c $((32 * 1024 * 1024)) /dev/urandom >"$img"
    want=$(md5sum <"$img" | cut -d' ' -f1)
    log=$(run_guest vda 'md5sum /dev/vda' \
          -drive "file=$img,if=virtio,format=raw,cache=none,aio=native")
    got=$(grep -o '^[0-9a-f]\{32\}  /dev/vda' "$log" | cut -d' ' -f1)
    if [ "$got" = "$want" ]; then pass "$1"; else
        fail "$1" "guest md5 '$got', host $want; last output: $(last_lines "$log")"; fi
}

case_dhcp-download() {
    local port log want got
    port=$(free_port)
    mkdir -p "$tmp/www" && head -c 200000 /dev/urandom >"$tmp/www/blob"
    want=$(md5sum <"$tmp/www/blob" | cut -d' ' -f1)
    (cd "$tmp/www" && exec python3 -m http.server --bind 127.0.0.1 "$port") >/dev/null 2>&1 &
    pids+=($!)
    log=$(run_guest dhcp "udhcpc -i eth0 -q -n && wget -q -O - http://10.0.2.2:$port/blob | md5sum" \
          -netdev user,id=n0 -device virtio-net-pci,netdev=n0)
    got=$(grep -o '^[0-9a-f]\{32\}  -' "$log" | cut -d' ' -f1)
    if grep -q 'udhcpc: lease 10.0.2.15' "$log" && [ "$got" = "$want" ]; then pass "$1"; else
        fail "$1" "lease/download failed (md5 '$got'); last output: $(last_lines "$log")"; fi
}

case_hostfwd-httpd() {
    local port log body
    port=$(free_port)
    log=$tmp/httpd.log
    boot_bg "$log" "mkdir -p /www && echo vmm-hostfwd-ok >/www/index.html && httpd -p 80 -h /www && echo HTTPD-UP && sleep 600" \
        -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:80" -device virtio-net-pci,netdev=n0
    if ! wait_for "$log" HTTPD-UP "$LINUX_TIMEOUT"; then
        fail "$1" "httpd did not start; last output: $(last_lines "$log")"; return
    fi
    body=$(python3 -c "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:$port/', timeout=10).read().decode().strip())" 2>&1)
    kill -KILL "${pids[-1]}" 2>/dev/null
    if [ "$body" = vmm-hostfwd-ok ]; then pass "$1"; else fail "$1" "got '$body'"; fi
}

case_socket-pair() {
    local port loga logb
    port=$(free_port)
    loga=$tmp/sock-a.log
    boot_bg "$loga" "ip addr add 192.168.76.1/24 dev eth0 && ip link set eth0 up && echo PEER-UP && sleep 600" \
        -netdev "socket,id=n0,listen=127.0.0.1:$port" -device virtio-net-pci,netdev=n0,mac=52:54:00:00:76:01
    wait_for "$loga" PEER-UP "$LINUX_TIMEOUT" || { fail "$1" "first guest did not come up"; return; }
    logb=$(run_guest sock-b "ip addr add 192.168.76.2/24 dev eth0 && ip link set eth0 up && ping -c 3 -W 5 192.168.76.1" \
           -netdev "socket,id=n0,connect=127.0.0.1:$port" -device virtio-net-pci,netdev=n0,mac=52:54:00:00:76:02)
    if grep -q 'VMM-GUEST-RESULT rc=0' "$logb"; then pass "$1"; else
        fail "$1" "ping failed; last output: $(last_lines "$logb")"; fi
}

case_balloon() {
    local qmp=$tmp/qmp.sock log=$tmp/balloon.log before after
    boot_bg "$log" 'for i in $(seq 60); do grep MemTotal /proc/meminfo; sleep 1; done' \
        -m 1G -device virtio-balloon-pci -qmp "unix:$qmp,server=on,wait=off"
    wait_for "$log" MemTotal "$LINUX_TIMEOUT" || { fail "$1" "guest did not come up"; return; }
    python3 - "$qmp" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
for cmd in ({"execute": "qmp_capabilities"},
            {"execute": "balloon", "arguments": {"value": 256 * 1024 * 1024}}):
    f.write(json.dumps(cmd) + "\n"); f.flush(); f.readline()
PY
    sleep 10
    kill -KILL "${pids[-1]}" 2>/dev/null
    before=$(grep -o 'MemTotal: *[0-9]*' "$log" | head -n 1 | grep -o '[0-9]*$')
    after=$(grep -o 'MemTotal: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')
    if [ -n "$before" ] && [ -n "$after" ] && [ "$after" -lt $((before - 512 * 1024)) ]; then
        pass "$1"
    else
        fail "$1" "MemTotal ${before:-?} kB -> ${after:-?} kB, expected a drop of over 512 MiB"
    fi
}

for c in $CASES; do
    "case_$c" "$c"
done
[ "$failures" -eq 0 ]
