#!/bin/bash
# Command-line errors: each bad input must give exactly one line on stderr,
# "vmm: <what>: <why>", exit status 1, nothing on stdout (no guest started),
# no core dump, and end at once.  Plus -version and -h.  TAP lines.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
case $VMM in /*) ;; *) VMM=$PWD/$VMM ;; esac
failures=0

[ -x "$VMM" ] || { echo "not ok - cli-errors: $VMM not built"; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# Run vmm in an empty directory so a core file would be noticed.
mkdir "$tmp/cwd"

# A kernel that works, so that each case has exactly one thing wrong.  The
# hello payload prints on the serial port: if a bad command line started the
# guest anyway, its output would show on stdout.
KERNEL=
for k in hello.elf exit.elf; do
    [ -f "$BUILD/payloads/$k" ] && { KERNEL=$PWD/$BUILD/payloads/$k; break; }
done

pass() { echo "ok - $1"; }
fail() { echo "not ok - $1: $2"; failures=$((failures + 1)); }
skip() { echo "ok - $1 # SKIP $2"; }

# run_vmm: runs vmm with a time limit in $tmp/cwd; sets rc, out, err, secs.
run_vmm() {
    local t0 t1
    rm -f "$tmp"/cwd/core*
    t0=$(date +%s%N)
    (cd "$tmp/cwd" && ulimit -c unlimited 2>/dev/null
     exec timeout -k 2 10 env "${ENV_EXTRA[@]}" "$VMM" "$@") \
        </dev/null >"$tmp/out" 2>"$tmp/err"
    rc=$?
    t1=$(date +%s%N)
    secs=$(( (t1 - t0) / 1000000 ))   # milliseconds, despite the name
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}

# expect_error NAME REGEX ARGS...: REGEX (grep -Ei) must match the one
# stderr line: it names what was wrong.
expect_error() {
    local name=cli-errors/$1 re=$2; shift 2
    run_vmm "$@"
    local nlines
    nlines=$(printf '%s' "$err" | grep -c '')
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "$name" "still running after 10s (guest started?)"
    elif [ "$rc" -gt 128 ]; then
        fail "$name" "killed by signal $((rc - 128))"
    elif ls "$tmp"/cwd/core* >/dev/null 2>&1; then
        fail "$name" "dumped core"
    elif [ "$rc" -ne 1 ]; then
        fail "$name" "exit status $rc, expected 1 (stderr: $(echo "$err" | head -n 1))"
    elif [ -n "$out" ]; then
        fail "$name" "wrote to stdout: $(echo "$out" | head -n 1)"
    elif [ "$nlines" -ne 1 ]; then
        fail "$name" "$nlines lines on stderr, expected 1: $(echo "$err" | tr '\n' '|')"
    elif [[ $err != "vmm: "* ]]; then
        fail "$name" "stderr does not start with 'vmm: ': $err"
    elif ! echo "$err" | grep -Eiq -- "$re"; then
        fail "$name" "message does not name the problem (/$re/): $err"
    elif [ "$secs" -gt 3000 ]; then
        fail "$name" "took ${secs} ms to fail"
    else
        pass "$name"
    fi
}

ENV_EXTRA=()
SERIAL=(-serial stdio -display none)

if [ -z "$KERNEL" ]; then
    for c in missing-kernel kernel-is-directory kernel-unreadable text-kernel \
             mem-abc mem-zero mem-huge smp-zero smp-abc unknown-option accel-tcg \
             missing-value unknown-device bad-device-property no-kvm-device bogus-serial; do
        skip "cli-errors/$c" "no payload built in $BUILD/payloads (make payloads)"
    done
else
    K=(-kernel "$KERNEL")
    expect_error missing-kernel '/nonexistent' -kernel /nonexistent "${SERIAL[@]}"

    mkdir "$tmp/kdir"
    expect_error kernel-is-directory "$tmp/kdir" -kernel "$tmp/kdir" "${SERIAL[@]}"

    cp "$KERNEL" "$tmp/k000" && chmod 000 "$tmp/k000"
    if [ "$(id -u)" = 0 ]; then
        skip cli-errors/kernel-unreadable "running as root, which can read a mode 000 file"
    else
        expect_error kernel-unreadable "k000" -kernel "$tmp/k000" "${SERIAL[@]}"
    fi

    printf 'this is not a kernel\n' >"$tmp/notes.txt"
    expect_error text-kernel 'notes\.txt' -kernel "$tmp/notes.txt" "${SERIAL[@]}"

    expect_error mem-abc '(-m|memory|ram).*abc|abc.*(-m|memory|ram)' -m abc "${K[@]}" "${SERIAL[@]}"
    expect_error mem-zero '-m|memory|ram' -m 0 "${K[@]}" "${SERIAL[@]}"
    expect_error mem-huge '-m|memory|ram' -m 100T "${K[@]}" "${SERIAL[@]}"
    expect_error smp-zero 'smp|cpu' -smp 0 "${K[@]}" "${SERIAL[@]}"
    expect_error smp-abc 'smp|cpu' -smp abc "${K[@]}" "${SERIAL[@]}"
    expect_error unknown-option 'frobnicate' "${K[@]}" -frobnicate "${SERIAL[@]}"
    expect_error accel-tcg 'tcg' -accel tcg "${K[@]}" "${SERIAL[@]}"
    expect_error missing-value '-m' "${K[@]}" "${SERIAL[@]}" -m
    expect_error unknown-device 'nosuchdevice' -device nosuchdevice "${K[@]}" "${SERIAL[@]}"
    expect_error bad-device-property 'iobase|zz' \
        -device isa-debug-exit,iobase=zz "${K[@]}" "${SERIAL[@]}"

    ENV_EXTRA=(VMM_KVM_DEVICE=/nonexistent/kvm)
    expect_error no-kvm-device '/nonexistent/kvm' "${K[@]}" "${SERIAL[@]}"
    ENV_EXTRA=()

    expect_error bogus-serial 'bogus' -serial bogus:x -display none "${K[@]}"

    # Drives, network backends and PCI devices: wrong before the guest runs.
    truncate -s 1M "$tmp/disk.raw" && mkdir -p "$tmp/ddir"
    cp "$tmp/disk.raw" "$tmp/ro.raw" && chmod 444 "$tmp/ro.raw"
    expect_error drive-missing "Could not open '/nonexistent/d.raw'" \
        -drive file=/nonexistent/d.raw,if=virtio,format=raw "${K[@]}" "${SERIAL[@]}"
    expect_error drive-directory "ddir' is a directory" \
        -drive "file=$tmp/ddir,if=virtio,format=raw" "${K[@]}" "${SERIAL[@]}"
    expect_error drive-bad-key "unknown parameter 'bogus'" \
        -drive "file=$tmp/disk.raw,if=virtio,bogus=1" "${K[@]}" "${SERIAL[@]}"
    expect_error drive-aio-native-cache "aio=native" \
        -drive "file=$tmp/disk.raw,if=virtio,format=raw,aio=native" "${K[@]}" "${SERIAL[@]}"
    cp "$tmp/disk.raw" "$tmp/disk2.raw"
    expect_error drive-ide-index-taken "index 0 is already in use" \
        -drive "file=$tmp/disk.raw,if=ide,index=0,format=raw" \
        -drive "file=$tmp/disk2.raw,if=ide,index=0,format=raw" "${K[@]}" "${SERIAL[@]}"
    expect_error device-no-drive "drive" -device virtio-blk-pci "${K[@]}" "${SERIAL[@]}"
    expect_error device-unknown-drive "nodrive" \
        -device virtio-blk-pci,drive=nodrive "${K[@]}" "${SERIAL[@]}"
    expect_error device-bad-property "colour" -device virtio-balloon-pci,colour=red \
        "${K[@]}" "${SERIAL[@]}"
    expect_error device-slot-taken "00:05.0 is already used" -device virtio-net-pci,addr=5 \
        -device virtio-net-pci,addr=5 "${K[@]}" "${SERIAL[@]}"
    expect_error device-second-balloon "one balloon" -device virtio-balloon-pci \
        -device virtio-balloon-pci "${K[@]}" "${SERIAL[@]}"
    expect_error device-bad-addr "addr" -device virtio-balloon-pci,addr=zz "${K[@]}" "${SERIAL[@]}"
    expect_error netdev-unknown-type "netdev|frob" -netdev frob,id=n0 "${K[@]}" "${SERIAL[@]}"
    expect_error netdev-not-found "netdev.*'n9'" \
        -device virtio-net-pci,netdev=n9 "${K[@]}" "${SERIAL[@]}"
    expect_error netdev-vhost "vhost" -netdev tap,id=t0,ifname=vmmt0,script=no,downscript=no,vhost=on \
        "${K[@]}" "${SERIAL[@]}"
    expect_error net-nic-bad-model "rtl8139" -net nic,model=rtl8139 -net user "${K[@]}" "${SERIAL[@]}"
    expect_error e1000-missing-romfile "romfile|/nonexistent/x.rom" \
        -device e1000,romfile=/nonexistent/x.rom "${K[@]}" "${SERIAL[@]}"
    if [ "$(id -u)" = 0 ]; then
        skip cli-errors/drive-read-only "root can write a mode 0444 file"
    else
        expect_error drive-read-only "read-only" \
            -drive "file=$tmp/ro.raw,if=virtio,format=raw" "${K[@]}" "${SERIAL[@]}"
    fi
    # A second vmm on an image the first one has open read-write.
    sleep 10 | "$VMM" -accel qtest -qtest stdio -display none \
        -drive "file=$tmp/disk.raw,if=virtio,format=raw" >/dev/null 2>&1 &
    holder=$!
    sleep 0.5
    expect_error drive-locked 'lock' -drive "file=$tmp/disk.raw,if=virtio,format=raw" \
        "${K[@]}" "${SERIAL[@]}"
    kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
    expect_error bios-missing '/nonexistent/bios.bin' -bios /nonexistent/bios.bin -display none

    # Display, VNC and migration options.
    expect_error vga-cirrus 'cirrus' -vga cirrus "${K[@]}" "${SERIAL[@]}"
    expect_error vga-twice 'VGA' -vga std -device VGA "${K[@]}" "${SERIAL[@]}"
    expect_error vga-vgamem 'vgamem_mb' -vga none -device VGA,vgamem_mb=3 "${K[@]}" "${SERIAL[@]}"
    expect_error vnc-option "unknown option 'foo'" -vnc :1,foo=bar "${K[@]}" "${SERIAL[@]}"
    expect_error vnc-syntax '-vnc 5' -vnc 5 "${K[@]}" "${SERIAL[@]}"
    expect_error vnc-display '59636' -vnc :59636 "${K[@]}" "${SERIAL[@]}"
    expect_error keymap-missing "layout 'xx'" -k xx "${K[@]}" "${SERIAL[@]}"
    expect_error incoming-scheme 'ftp' -incoming ftp://x "${K[@]}" "${SERIAL[@]}"
    expect_error incoming-file-missing '/nonexistent/stream' \
        -incoming file:/nonexistent/stream "${K[@]}" "${SERIAL[@]}"
fi

# Informational options: output on stdout, status 0, nothing on stderr.
run_vmm -version
if [ "$rc" -eq 0 ] && echo "$out" | grep -qi 'version' && [ -z "$err" ]; then
    pass cli-errors/version
else
    fail cli-errors/version "status $rc, stdout '$(echo "$out" | head -n 1)', stderr '$err'"
fi
run_vmm -h
if [ "$rc" -eq 0 ] && echo "$out" | grep -qi 'usage' && [ -z "$err" ]; then
    pass cli-errors/help
else
    fail cli-errors/help "status $rc, stdout '$(echo "$out" | head -n 1)', stderr '$err'"
fi

[ "$failures" -eq 0 ]
