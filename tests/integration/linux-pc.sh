#!/bin/bash
# `make check-linux`, PC devices part: the Debian test guest (tests/guest)
# on the PIIX IDE controller (ata_piix), its ATAPI CD-ROM and the e1000.
# TAP lines.
#
#   ide-disk         ata_piix: md5sum of /dev/sda == the host's; a write lands in the image
#   cdrom-mount      the CD (-cdrom, an ISO built with xorriso) mounts and a file reads back
#   qcow2-disk       a qcow2 image (qemu-img made, with a backing file) reads as its raw twin
#   e1000-dhcp       -net nic -net user: e1000 gets a lease, wget's download checksums equal
#
# Like linux-boot.sh: on a PVM host or without /dev/kvm every case is
# skipped unless VMM_RUN_LINUX=1.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
GUEST=$BUILD/guest
CASES="ide-disk cdrom-mount qcow2-disk e1000-dhcp"
failures=0

skip_all() {
    local c
    for c in $CASES; do echo "ok - linux-pc/$c # SKIP $1"; done
    exit 0
}

if [ "${VMM_RUN_LINUX:-0}" != 1 ]; then
    [ -d /sys/module/kvm_pvm ] &&
        skip_all "host KVM is PVM: a Linux boot takes many minutes (VMM_RUN_LINUX=1 forces it)"
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then skip_all "no usable /dev/kvm"; fi
fi
LINUX_TIMEOUT=${LINUX_TIMEOUT:-120}
[ -x "$VMM" ] || { echo "not ok - linux-pc: $VMM not built"; exit 1; }
if ! out=$(tests/guest/build-guest.sh "$GUEST" 2>&1); then
    echo "not ok - linux-pc: building the guest failed: $(echo "$out" | tail -n 1)"
    exit 1
fi

tmp=$(mktemp -d) || exit 1
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

pass() { echo "ok - linux-pc/$1"; }
fail() { echo "not ok - linux-pc/$1: $2"; failures=$((failures + 1)); }
last_lines() { tail -n 3 "$1" | tr -d '\r' | tr '\n' '|'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# boot_bg LOG CMD [vmm args]: start vmm in the background running "run:CMD".
boot_bg() {
    local log=$1 cmd=$2; shift 2
    "$VMM" -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.img" \
        -append "console=ttyS0 quiet vmm.test=\"run:$cmd\"" \
        -m 512 -display none -serial stdio "$@" </dev/null >"$log" 2>&1 &
    pids+=($!)
}

# wait_for LOG PATTERN SECONDS: 0 once PATTERN is in LOG.
wait_for() {
    local i
    for ((i = 0; i < $3 * 5; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}

# Boot, run CMD, wait for the result line; prints the log path.
run_guest() {
    local name=$1 cmd=$2; shift 2
    local log=$tmp/$name.log
    boot_bg "$log" "$cmd" "$@"
    wait_for "$log" VMM-GUEST-RESULT "$LINUX_TIMEOUT"
    kill -KILL "${pids[-1]}" 2>/dev/null
    echo "$log"
}

case_ide-disk() {
    local img=$tmp/ide.raw log want got
    head -c $((16 * 1024 * 1024)) /dev/urandom >"$img"
    want=$(md5sum <"$img" | cut -d' ' -f1)
    log=$(run_guest ide 'md5sum /dev/sda && echo vmm-ide-write | dd of=/dev/sda bs=512 seek=100 conv=fsync 2>/dev/null' \
          -drive "file=$img,if=ide,format=raw")
    got=$(grep -o '^[0-9a-f]\{32\}  /dev/sda' "$log" | cut -d' ' -f1)
    if [ "$got" = "$want" ] && dd if="$img" bs=512 skip=100 count=1 2>/dev/null | grep -q vmm-ide-write; then
        pass "$1"
    else
        fail "$1" "guest md5 '$got', host $want, or the write is missing; last output: $(last_lines "$log")"
    fi
}

case_cdrom-mount() {
    local log
    if ! command -v xorriso >/dev/null; then echo "ok - linux-pc/$1 # SKIP xorriso not installed"; return; fi
    mkdir -p "$tmp/iso" && echo vmm-cdrom-file >"$tmp/iso/hello.txt"
    xorriso -as mkisofs -quiet -o "$tmp/cd.iso" "$tmp/iso" 2>/dev/null
    log=$(run_guest cdrom 'mkdir -p /mnt/cd && mount -t iso9660 -o ro /dev/sr0 /mnt/cd && cat /mnt/cd/hello.txt' \
          -cdrom "$tmp/cd.iso")
    if grep -q vmm-cdrom-file "$log"; then pass "$1"; else
        fail "$1" "file not read from the CD; last output: $(last_lines "$log")"; fi
}

case_qcow2-disk() {
    local base=$tmp/base.raw top=$tmp/top.qcow2 log want got
    if ! command -v qemu-img >/dev/null; then echo "ok - linux-pc/$1 # SKIP qemu-img not installed"; return; fi
    head -c $((8 * 1024 * 1024)) /dev/urandom >"$base"
    qemu-img create -q -f qcow2 -b "$base" -F raw "$top"
    qemu-io -f qcow2 -c "write -P 0x5a 1M 64k" "$top" >/dev/null
    qemu-img convert -O raw "$top" "$tmp/twin.raw"
    want=$(md5sum <"$tmp/twin.raw" | cut -d' ' -f1)
    log=$(run_guest qcow2 'md5sum /dev/vda' -drive "file=$top,if=virtio,format=qcow2")
    got=$(grep -o '^[0-9a-f]\{32\}  /dev/vda' "$log" | cut -d' ' -f1)
    if [ "$got" = "$want" ]; then pass "$1"; else
        fail "$1" "guest md5 '$got', raw twin $want; last output: $(last_lines "$log")"; fi
}

case_e1000-dhcp() {
    local port log want got
    port=$(free_port)
    mkdir -p "$tmp/www" && head -c 200000 /dev/urandom >"$tmp/www/blob"
    want=$(md5sum <"$tmp/www/blob" | cut -d' ' -f1)
    (cd "$tmp/www" && exec python3 -m http.server --bind 127.0.0.1 "$port") >/dev/null 2>&1 &
    pids+=($!)
    log=$(run_guest e1000 "udhcpc -i eth0 -q -n && wget -q -O - http://10.0.2.2:$port/blob | md5sum" \
          -net nic -net user)
    got=$(grep -o '^[0-9a-f]\{32\}  -' "$log" | cut -d' ' -f1)
    if grep -q 'udhcpc: lease 10.0.2.15' "$log" && [ "$got" = "$want" ]; then pass "$1"; else
        fail "$1" "lease/download failed (md5 '$got'); last output: $(last_lines "$log")"; fi
}

for c in $CASES; do
    "case_$c" "$c"
done
[ "$failures" -eq 0 ]
