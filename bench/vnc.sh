#!/bin/bash
# VNC benchmark: vmm and Debian's QEMU (-accel kvm) in the same run, each
# with -vnc unix:SOCK and one client (tests/vnc/vnc-client, libvncclient).
#
# (a) idle: vga-text.elf through SeaBIOS draws its text screen and halts;
#     one client stays connected for BENCH_SECS seconds; the figure is the
#     VMM process's CPU time in that window (utime + stime from
#     /proc/PID/stat, in ms).  Target: vmm <= QEMU (ratio <= 1.0).
# (b) fps: vga-vbe.elf redraw=1 rewrites the whole 1024x768x32 framebuffer
#     continuously (rotating colours, every pixel changes); the client counts
#     FramebufferUpdate messages per second over BENCH_SECS seconds and the
#     updated pixels per second in full 1024x768 screens (a server may send
#     a frame in pieces while the guest draws it).  The
#     guest's own redraw rate (VBE draw_fps) is shown for reference: guest
#     CPL0 code is emulated on this host, so it bounds what a client can see.
#
# Prints the median of R runs per figure and the ratios vmm/QEMU.  It never
# fails on a figure; only a broken setup ends it with status 1.
#
# Usage: bench/vnc.sh [R]   (default 3)
# env: BUILD, VMM, QEMU, BENCH_SECS (default 10: CPU time has 10 ms
# resolution), BENCH_SKIP (vmm and/or qemu).
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$BUILD/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
R=${1:-3}
SECS=${BENCH_SECS:-10}
SKIP=" ${BENCH_SKIP:-} "
CLIENT=$BUILD/tests/vnc/vnc-client
BIOS=/usr/share/seabios/bios-256k.bin

BENCH_NAME=vnc
BENCH_PAYLOAD=$BUILD/payloads/vga-vbe.elf
# shellcheck source=bench/common.sh
. bench/common.sh
bench_require
[ -f "$BUILD/payloads/vga-text.elf" ] || die "$BUILD/payloads/vga-text.elf not built (make payloads)"
[ -x "$CLIENT" ] || die "$CLIENT not built (make $CLIENT)"
[ -f "$BIOS" ] || die "$BIOS not found (apt-get install seabios)"

tmp=$(mktemp -d) || exit 1
VM_PID=
stop_vm() {
    if [ -n "$VM_PID" ]; then kill "$VM_PID" 2>/dev/null; wait "$VM_PID" 2>/dev/null; fi
    VM_PID=
}
trap 'stop_vm; rm -rf "$tmp"' EXIT

# start_vm KIND ARGS...: VNC on $tmp/vnc.sock, COM1 in $tmp/serial.
start_vm() {
    local kind=$1 cmd=("$VMM")
    shift
    [ "$kind" = qemu ] && cmd=("$QEMU" -accel kvm)
    rm -f "$tmp/vnc.sock" "$tmp/serial"
    "${cmd[@]}" -M pc -nodefaults -vga std -m 128 -display none -vnc "unix:$tmp/vnc.sock" \
        -serial "file:$tmp/serial" "$@" </dev/null 2>"$tmp/stderr" &
    VM_PID=$!
}

# wait_serial REGEX SECS
wait_serial() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        grep -qaE -- "$1" "$tmp/serial" 2>/dev/null && return 0
        kill -0 "$VM_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# CPU time of the VM process in ms (fields 14 utime and 15 stime, in clock
# ticks; the command name in field 2 may hold spaces, so cut after ')').
cpu_ms() {
    local hz
    hz=$(getconf CLK_TCK)
    sed 's/.*) //' "/proc/$VM_PID/stat" | awk -v hz="$hz" '{ print ($12 + $13) * 1000 / hz }'
}

# (a): prints the idle CPU ms of one run.
idle_run() {
    start_vm "$1" -bios "$BIOS" -kernel "$BUILD/payloads/vga-text.elf"
    if ! wait_serial 'vga-text: drawn' 60; then
        echo "bench/vnc: $1 idle run $2: vga-text.elf did not draw: $(tail -n 1 "$tmp/stderr")" >&2
        stop_vm; return
    fi
    "$CLIENT" "unix:$tmp/vnc.sock" sleep $(((SECS + 2) * 1000)) 2>>"$tmp/client.err" &
    local c=$! t0 t1
    sleep 1     # past the connection's first full update
    t0=$(cpu_ms)
    sleep "$SECS"
    t1=$(cpu_ms)
    wait $c || echo "bench/vnc: $1 idle run $2: client: $(tail -n 1 "$tmp/client.err")" >&2
    stop_vm
    awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

# (b): prints "client_fps guest_fps" of one run.
fps_run() {
    local out guest
    start_vm "$1" -kernel "$BENCH_PAYLOAD" -append "redraw=1"
    if ! wait_serial 'vga-vbe: drawn' 60; then
        echo "bench/vnc: $1 fps run $2: vga-vbe.elf did not draw: $(tail -n 1 "$tmp/stderr")" >&2
        stop_vm; return
    fi
    out=$("$CLIENT" "unix:$tmp/vnc.sock" wait-size 1024x768 30 count-updates "$SECS" \
          2>>"$tmp/client.err")
    guest=$(grep -a '^VBE draw_frames=' "$tmp/serial" | tail -n 1 | tr -d '\r' |
            sed -E 's/.*draw_fps=([0-9.]+).*/\1/')
    stop_vm
    out=$(sed -n 's/^updates [0-9]* fps \([0-9.]*\) frames_per_s \([0-9.]*\)$/\1 \2/p' <<<"$out")
    if [ -z "$out" ]; then
        echo "bench/vnc: $1 fps run $2: client: $(tail -n 1 "$tmp/client.err")" >&2
        return
    fi
    echo "$out ${guest:-n/a}"     # messages/s, full screens/s, guest redraws/s
}

collect() {   # kind
    local i
    : >"$tmp/$1.idle"; : >"$tmp/$1.fps"
    if [[ $SKIP == *" $1 "* ]]; then return; fi
    for ((i = 0; i < R; i++)); do
        idle_run "$1" "$i" >>"$tmp/$1.idle"
        fps_run "$1" "$i" >>"$tmp/$1.fps"
    done
}

col_median() { awk -v c="$2" 'NF >= c && $c != "n/a" { print $c }' "$1" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
meets() { awk -v r="$1" -v op="$2" 'BEGIN { if (r == "n/a") print "?"; else if ((op == "le" && r + 0 <= 1.0) || (op == "ge" && r + 0 >= 1.0)) print "yes"; else print "NO" }'; }

echo "vnc: one client over a UNIX socket, $SECS s per run, $R runs each"
collect vmm
collect qemu
printf '%-30s %10s %10s %9s  %s\n' "median" vmm QEMU vmm/QEMU target
v=$(col_median "$tmp/vmm.idle" 1); q=$(col_median "$tmp/qemu.idle" 1); r=$(ratio "$v" "$q")
printf '%-30s %10s %10s %9s  %s\n' "idle CPU ms in $SECS s" "$v" "$q" "$r" "vmm/QEMU <= 1.0: $(meets "$r" le)"
v=$(col_median "$tmp/vmm.fps" 1); q=$(col_median "$tmp/qemu.fps" 1); r=$(ratio "$v" "$q")
printf '%-30s %10s %10s %9s  %s\n' "client updates/s (1024x768)" "$v" "$q" "$r" "vmm/QEMU >= 1.0: $(meets "$r" ge)"
v=$(col_median "$tmp/vmm.fps" 2); q=$(col_median "$tmp/qemu.fps" 2); r=$(ratio "$v" "$q")
printf '%-30s %10s %10s %9s  %s\n' "client full screens/s" "$v" "$q" "$r" "vmm/QEMU >= 1.0: $(meets "$r" ge)"
v=$(col_median "$tmp/vmm.fps" 3); q=$(col_median "$tmp/qemu.fps" 3); r=$(ratio "$v" "$q")
printf '%-30s %10s %10s %9s  %s\n' "guest redraws/s" "$v" "$q" "$r" "(reference)"
echo "(idle: vga-text.elf halted in text mode; CPU = utime + stime of the VMM process;"
echo " updates/s: FramebufferUpdate messages seen by vnc-client while vga-vbe.elf redraws)"
