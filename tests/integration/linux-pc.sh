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
SUITE=linux-pc
CASES="ide-disk cdrom-mount qcow2-disk e1000-dhcp"
. tests/integration/lib-linux.sh

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
    if ! command -v xorriso >/dev/null; then echo "ok - $SUITE/$1 # SKIP xorriso not installed"; return; fi
    mkdir -p "$tmp/iso" && echo vmm-cdrom-file >"$tmp/iso/hello.txt"
    xorriso -as mkisofs -quiet -o "$tmp/cd.iso" "$tmp/iso" 2>/dev/null
    log=$(run_guest cdrom 'mkdir -p /mnt/cd && mount -t iso9660 -o ro /dev/sr0 /mnt/cd && cat /mnt/cd/hello.txt' \
          -cdrom "$tmp/cd.iso")
    if grep -q vmm-cdrom-file "$log"; then pass "$1"; else
        fail "$1" "file not read from the CD; last output: $(last_lines "$log")"; fi
}

case_qcow2-disk() {
    local base=$tmp/base.raw top=$tmp/top.qcow2 log want got
    if ! command -v qemu-img >/dev/null; then echo "ok - $SUITE/$1 # SKIP qemu-img not installed"; return; fi
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
