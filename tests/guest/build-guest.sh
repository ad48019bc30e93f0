#!/bin/bash
# Build the Linux test guest from Debian 12 packages:
#   OUTDIR/vmlinuz      the distribution kernel (linux-image-*-amd64)
#   OUTDIR/initrd.img   a busybox initramfs (gzip'd newc cpio) with /init
#                       (tests/guest/init) and the modules in GUEST_MODULES
#                       plus their dependencies from modules.dep
#   OUTDIR/kernel-version
# Usage: tests/guest/build-guest.sh [OUTDIR]   (default build/guest)
# Cached: when the outputs exist and are newer than this script and the init
# script, nothing is done.  Needs root only for `apt-get update` when the
# package lists are empty; nothing is installed on the host.
set -u
set -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-build/guest}
INIT_SCRIPT=$HERE/init
tmp=

# Drivers the integration tests use (virtio disk/net/balloon/console/rng,
# e1000, IDE/ATAPI through ata_piix, SCSI disks and CD-ROMs) and the file
# systems they mount.  Dependencies are added from modules.dep.
GUEST_MODULES="virtio_pci virtio_blk virtio_net virtio_balloon virtio_console
virtio_scsi virtio_rng e1000 ata_piix ata_generic sd_mod sr_mod crc32c_generic
ext4 isofs vfat nls_cp437 nls_utf8 nls_ascii qemu_fw_cfg crct10dif_generic"

die() { echo "vmm: build-guest: $*" >&2; exit 1; }

up_to_date() {
    local f
    for f in vmlinuz initrd.img kernel-version; do
        [ -s "$OUT/$f" ] || return 1
        [ "$OUT/$f" -nt "$0" ] && [ "$OUT/$f" -nt "$INIT_SCRIPT" ] || return 1
    done
}

need_tools() {
    local t
    for t in apt-get apt-cache dpkg-deb cpio gzip depmod; do
        command -v "$t" >/dev/null || die "$t not found (apt-get install cpio dpkg kmod)"
    done
    [ -x /bin/busybox ] || die "/bin/busybox not found (apt-get install busybox-static)"
    # A dynamically linked busybox would need its libraries in the initramfs.
    if LC_ALL=C file /bin/busybox 2>/dev/null | grep -q 'dynamically linked'; then
        die "/bin/busybox is not static (apt-get install busybox-static)"
    fi
}

# The real kernel package that the linux-image-amd64 metapackage depends on.
kernel_package() {
    local pkg
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
          sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
    if [ -z "$pkg" ]; then
        [ "$(id -u)" = 0 ] || die "apt package lists are empty; run 'apt-get update' as root"
        apt-get update -q >/dev/null || die "apt-get update failed"
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
              sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
    fi
    [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 to a kernel package"
    echo "$pkg"
}

download_kernel() {   # pkg destdir
    local pkg=$1 dir=$2
    # apt-get download drops privileges to _apt, which must be able to write
    # the current directory; run it as root without the sandbox instead.
    (cd "$dir" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null) ||
        die "apt-get download $pkg failed"
    ls "$dir"/"$pkg"_*.deb >/dev/null 2>&1 || die "apt-get download $pkg left no .deb"
}

# Print the relative paths (as in modules.dep) of the wanted modules and of
# everything they depend on.
module_closure() {   # moddir
    local dep=$1/modules.dep m line
    for m in $GUEST_MODULES; do
        # modules.dep uses the file name; '-' and '_' are interchangeable.
        line=$(grep -E "/(${m}|${m//_/-})\.ko(\.xz|\.zst|\.gz)?:" "$dep" | head -n 1)
        if [ -z "$line" ]; then
            echo "build-guest: module $m not in this kernel (built in?), skipped" >&2
            continue
        fi
        echo "$line" | tr -d ':' | tr ' ' '\n' | grep -v '^$'
    done | sort -u
}

# busybox insmod/modprobe load only plain .ko files, so decompress.
decompress_module() {   # path
    case $1 in
    *.ko.xz)  xz -d -f "$1" ;;
    *.ko.zst) zstd -q -d --rm -f "$1" ;;
    *.ko.gz)  gzip -d -f "$1" ;;
    esac
}

install_modules() {   # srcroot initramfs kver
    local src=$1/lib/modules/$3 dst=$2/lib/modules/$3 rel plain
    mkdir -p "$dst"
    local list
    list=$(module_closure "$src") || return 1
    for rel in $list; do
        mkdir -p "$dst/$(dirname "$rel")"
        cp "$src/$rel" "$dst/$rel" || die "cannot copy module $rel"
        decompress_module "$dst/$rel" || die "cannot decompress $rel"
    done
    # modules.dep limited to what we ship, with decompressed names.
    for rel in $list; do
        grep -E "^${rel}:" "$src/modules.dep"
    done | sed -E 's/\.ko\.(xz|zst|gz)/.ko/g' >"$dst/modules.dep"
    # Make sure every path in it exists (a dependency of a dependency is in
    # the closure because modules.dep lists the full transitive set).
    for plain in $(tr -d ':' <"$dst/modules.dep"); do
        [ -f "$dst/$plain" ] || die "modules.dep names missing $plain"
    done
    echo "$list" | grep -c .
}

install_busybox() {   # initramfs
    local root=$1 applet
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,mnt,root,etc,run}
    cp /bin/busybox "$root/bin/busybox"
    for applet in $(/bin/busybox --list-full); do
        [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
    done
    # The kernel needs a console before /init opens one (devtmpfs is not yet
    # mounted): give it the nodes in the archive itself.
    mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
    mknod -m 666 "$root/dev/null" c 1 3 2>/dev/null || true
    echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
    echo "root:x:0:" >"$root/etc/group"
    # udhcpc only reports a lease; this script applies it (address, route, DNS).
    mkdir -p "$root/usr/share/udhcpc"
    cat >"$root/usr/share/udhcpc/default.script" <<'DHCP'
#!/bin/sh
case "$1" in
deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    echo "udhcpc: lease $ip from ${serverid:-?} router ${router:-none}" ;;
esac
exit 0
DHCP
    chmod 755 "$root/usr/share/udhcpc/default.script"
    # Debian's busybox udhcpc looks for it in /etc/udhcpc.
    mkdir -p "$root/etc/udhcpc"
    ln -sf /usr/share/udhcpc/default.script "$root/etc/udhcpc/default.script"
    cat >"$root/etc/profile" <<'PROFILE'
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PS1='vmm-guest:\w# '
PROFILE
}

main() {
    if up_to_date; then
        echo "build-guest: $OUT is up to date"
        exit 0
    fi
    need_tools
    mkdir -p "$OUT" || die "cannot create $OUT"
    tmp=$(mktemp -d) || die "mktemp failed"
    trap '[ -n "$tmp" ] && rm -rf "$tmp"' EXIT
    chmod 755 "$tmp"

    local pkg
    pkg=$(kernel_package) || exit 1
    echo "build-guest: kernel package $pkg"
    download_kernel "$pkg" "$tmp"
    dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/kpkg" || die "dpkg-deb -x failed"

    local kver=${pkg#linux-image-}
    [ -d "$tmp/kpkg/lib/modules/$kver" ] || die "package has no /lib/modules/$kver"
    # The package does not ship modules.dep (depmod runs at install time).
    depmod -b "$tmp/kpkg" "$kver" || die "depmod failed"
    local vmlinuz=$tmp/kpkg/boot/vmlinuz-$kver
    [ -f "$vmlinuz" ] || die "package has no /boot/vmlinuz-$kver"

    local root=$tmp/initramfs nmods
    install_busybox "$root"
    nmods=$(install_modules "$tmp/kpkg" "$root" "$kver") || exit 1
    install -m 755 "$INIT_SCRIPT" "$root/init"

    (cd "$root" && find . -print0 | LC_ALL=C sort -z |
        cpio --null -o -H newc -R 0:0 --quiet) | gzip -9 >"$tmp/initrd.img" ||
        die "cpio/gzip failed"
    if ! { cp "$vmlinuz" "$OUT/vmlinuz.new" && mv "$OUT/vmlinuz.new" "$OUT/vmlinuz" &&
           cp "$tmp/initrd.img" "$OUT/initrd.img.new" &&
           mv "$OUT/initrd.img.new" "$OUT/initrd.img" &&
           echo "$kver" >"$OUT/kernel-version"; }; then
        die "cannot write to $OUT"
    fi
    echo "build-guest: $OUT/vmlinuz ($kver), $OUT/initrd.img ($nmods modules)"
}

main
