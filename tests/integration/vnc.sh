#!/bin/bash
# The screen and input end to end through a VNC client (tests/vnc/vnc-client,
# libvncclient), under vmm and, as the reference, Debian's QEMU; TAP lines
# named KIND-CHECK (KIND = vmm or qemu):
#   seabios-banner   SeaBIOS without a disk: "SeaBIOS" read from the screen
#                    (OCR with SeaVGABIOS's own font), with password=on
#   password         with no password set nobody gets in; after `change vnc
#                    password secret` the right password works, a wrong one
#                    is refused
#   text-mode        vga-text.elf through SeaBIOS: its strings at the right
#                    cells of the 720x400 screen, attribute colours at pixels
#   screendump       monitor `screendump` equals the client's framebuffer
#   vbe-mode         vga-vbe.elf: DesktopSize to 1024x768, bars, marker and
#                    last pixel at the right coordinates
#   kbd-set1/-set2   keys typed by the client reach kbd.elf as the right
#                    scancodes, translated (set 1) and untranslated (set 2)
#   mouse-*          pointer events reach mouse.elf as PS/2 packets: motion
#                    direction, left/right buttons, IntelliMouse wheel
#   tablet           -device virtio-tablet-pci driven by mouse.elf tablet=1:
#                    the screen centre arrives as ABS_X/ABS_Y ~16383, the
#                    corner as 0, BTN_LEFT press and release; no PS/2 packets
#   two-clients      two clients at once both get updates (vga-vbe redraw=1)
#   garbage          a client sending garbage and one dropping the connection
#                    mid-update: the guest keeps drawing, another client
#                    keeps getting updates
#   reconnect        a new connection after those still gets updates
# Usage: vnc.sh [vmm] [qemu] (default both).  env: BUILD, VMM, QEMU.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
PAYLOADS=${PAYLOADS:-$PWD/$BUILD/payloads}
CLIENT=$PWD/$BUILD/tests/vnc/vnc-client
HMP=$PWD/tests/vnc/hmp.py
BIOS=/usr/share/seabios/bios-256k.bin
KINDS=${*:-vmm qemu}
FAILS=0

ok() { echo "ok - $1"; }
skip() { echo "ok - $1 # SKIP $2"; }
not_ok() {
    echo "not ok - $1: $2"
    FAILS=$((FAILS + 1))
    [ -n "${3:-}" ] && [ -f "$3" ] && tail -n 8 "$3" | sed 's/^/#   /'
}

for f in "$CLIENT" "$PAYLOADS/vga-text.elf" "$PAYLOADS/vga-vbe.elf" "$PAYLOADS/kbd.elf" \
         "$PAYLOADS/mouse.elf"; do
    [ -e "$f" ] || { echo "not ok - vnc: $f not built (make check builds it)"; exit 1; }
done
command -v python3 >/dev/null || { echo "ok - vnc # SKIP no python3"; exit 0; }

tmp=$(mktemp -d) || exit 1
VM_PID=
stop_vm() {
    if [ -n "$VM_PID" ]; then
        kill "$VM_PID" 2>/dev/null
        wait "$VM_PID" 2>/dev/null
    fi
    VM_PID=
}
trap 'stop_vm; rm -rf "$tmp"' EXIT

# start_vm KIND VNCOPTS ARGS...: the VM in the background with its VNC
# server on $SOCK, COM1 in $SER, stderr in $ERR, a monitor on $MON.
start_vm() {
    local kind=$1 vncopts=$2 n=$((++VM_SEQ))
    shift 2
    SOCK=$tmp/vnc$n.sock SER=$tmp/serial$n.txt ERR=$tmp/stderr$n.txt MON=$tmp/mon$n.sock
    local cmd=("$VMM")
    [ "$kind" = qemu ] && cmd=("$QEMU" -accel kvm)
    "${cmd[@]}" -M pc -nodefaults -vga std -m 128 -display none \
        -vnc "unix:$SOCK$vncopts" -serial "file:$SER" \
        -monitor "unix:$MON,server=on,wait=off" \
        -device isa-debug-exit,iobase=0xf4,iosize=4 "$@" </dev/null 2>"$ERR" &
    VM_PID=$!
    for _ in $(seq 100); do
        [ -S "$SOCK" ] && return 0
        kill -0 "$VM_PID" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}
VM_SEQ=0

# wait_serial REGEX SECS: COM1 output matches.
wait_serial() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        grep -qaE -- "$1" "$SER" 2>/dev/null && return 0
        kill -0 "$VM_PID" 2>/dev/null || break
        sleep 0.1
    done
    grep -qaE -- "$1" "$SER" 2>/dev/null
}

client() { timeout 60 "$CLIENT" "unix:$SOCK" "$@" 2>>"$tmp/client.err"; }
client_why() { tail -n 1 "$tmp/client.err" 2>/dev/null; }

# ---- SeaBIOS banner and password ----
t_banner_password() {
    local k=$1
    if ! start_vm "$k" ",password=on" -bios "$BIOS"; then
        not_ok "$k-seabios-banner" "VM did not start" "$ERR"; stop_vm; return
    fi
    if client --password secret expect-auth-fail; then
        ok "$k-password-unset-refused"
    else
        not_ok "$k-password-unset-refused" "$(client_why)"
    fi
    python3 "$HMP" "$MON" "change vnc password secret" >"$tmp/hmp.out" 2>&1
    if ! client --password secret wait-update 10; then
        not_ok "$k-password" "right password: $(client_why); monitor: $(cat "$tmp/hmp.out")"
    elif ! client --password wrong expect-auth-fail; then
        not_ok "$k-password" "wrong password: $(client_why)"
    else
        ok "$k-password"
    fi
    if client --password secret wait-text SeaBIOS 30; then
        ok "$k-seabios-banner"
    else
        not_ok "$k-seabios-banner" "$(client_why)" "$tmp/client.err"
    fi
    stop_vm
}

# ---- text mode and screendump ----
t_text() {
    local k=$1
    if ! start_vm "$k" "" -bios "$BIOS" -kernel "$PAYLOADS/vga-text.elf" ||
       ! wait_serial 'vga-text: drawn' 40; then
        not_ok "$k-text-mode" "vga-text.elf did not draw" "$ERR"; stop_vm; return
    fi
    # 9x16 cells; DAC 6-bit values widen to 8 bits with v<<2 (QEMU) or more.
    if client --tolerance 4 wait-size 720x400 10 \
            wait-text-at 10 5 "VMM TEXT 0123 abc" 10 wait-text-at 10 6 "Yellow on red" 5 \
            wait-text-at 0 24 "vga-text bottom line" 5 \
            wait-pixel 90 80 0000aa 5 wait-pixel 90 96 aa0000 5 wait-pixel 93 120 ffff55 5 \
            wait-pixel 93 136 000000 5 dump "$tmp/vnc.ppm"; then
        ok "$k-text-mode"
    else
        not_ok "$k-text-mode" "$(client_why)" "$tmp/client.err"
    fi
    python3 "$HMP" "$MON" "screendump $tmp/dump.ppm" >"$tmp/hmp.out" 2>&1
    if ! [ -f "$tmp/dump.ppm" ]; then
        not_ok "$k-screendump" "no file: $(cat "$tmp/hmp.out")"
    elif ! [ -f "$tmp/vnc.ppm" ]; then
        not_ok "$k-screendump" "no VNC framebuffer to compare"
    elif python3 - "$tmp/dump.ppm" "$tmp/vnc.ppm" <<'EOF'
import sys
def ppm(path):
    data = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 4:          # magic, width, height, maxval (P6)
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    return fields[0], int(fields[1]), int(fields[2]), data[pos + 1:]
a, b = ppm(sys.argv[1]), ppm(sys.argv[2])
if a[:3] != b[:3]:
    sys.exit(f"screendump {a[:3]} vs VNC {b[:3]}")
diff = sum(1 for i in range(0, len(a[3]), 3) if a[3][i:i + 3] != b[3][i:i + 3])
if diff:
    sys.exit(f"{diff} pixels differ")
EOF
    then
        ok "$k-screendump"
    else
        not_ok "$k-screendump" "screendump differs from the VNC framebuffer"
    fi
    rm -f "$tmp/dump.ppm" "$tmp/vnc.ppm"
    stop_vm
}

# ---- Bochs VBE ----
t_vbe() {
    local k=$1
    if ! start_vm "$k" "" -kernel "$PAYLOADS/vga-vbe.elf" || ! wait_serial 'vga-vbe: drawn' 40; then
        not_ok "$k-vbe-mode" "vga-vbe.elf did not draw: $(tail -n 1 "$SER" 2>/dev/null)" "$ERR"
        stop_vm; return
    fi
    if client wait-size 1024x768 20 wait-pixel 0 0 ff0000 5 wait-pixel 64 100 ff0000 5 \
            wait-pixel 200 700 00ff00 2 wait-pixel 300 300 0000ff 2 \
            wait-pixel 400 5 ffffff 2 wait-pixel 600 200 000000 2 \
            wait-pixel 700 600 ffff00 2 wait-pixel 800 50 00ffff 2 wait-pixel 1000 10 ff00ff 2 \
            wait-pixel 512 384 808080 2 wait-pixel 527 399 808080 2 wait-pixel 528 399 000000 2 \
            wait-pixel 1023 767 123456 2 wait-pixel 1022 767 ff00ff 2; then
        ok "$k-vbe-mode"
    else
        not_ok "$k-vbe-mode" "$(client_why)"
    fi
    stop_vm
}

# ---- keyboard ----
# sc_seq PREFIX: the scancode bytes the payload printed, space-separated.
sc_seq() { sed -n "s/^$1 \([0-9a-f][0-9a-f]\).*/\1/p" "$SER" | tr '\n' ' ' | sed 's/ $//'; }

t_kbd() {
    local k=$1
    if ! start_vm "$k" "" -kernel "$PAYLOADS/kbd.elf" || ! wait_serial 'kbd: ready set1' 40; then
        not_ok "$k-kbd-set1" "kbd.elf not ready: $(tail -n 1 "$SER" 2>/dev/null)" "$ERR"
        stop_vm; return
    fi
    # a, shift+a, Up (extended), Escape ends the phase.
    client key a keys A key Up sleep 200 key Escape sleep 200
    wait_serial 'kbd: ready set2' 10
    local want1="1e 9e 2a 1e 9e aa e0 48 e0 c8 01 81" got1
    got1=$(sc_seq sc1)
    if [ "$got1" = "$want1" ]; then ok "$k-kbd-set1"; else
        not_ok "$k-kbd-set1" "scancodes '$got1', expected '$want1'" "$SER"; fi
    client key a key Up sleep 200 key Escape sleep 300
    wait_serial 'PASS: kbd|FAIL' 10
    local want2="1c f0 1c e0 75 e0 f0 75 76 f0 76" got2
    got2=$(sc_seq sc2)
    if [ "$got2" = "$want2" ] && grep -q 'PASS: kbd' "$SER"; then ok "$k-kbd-set2"; else
        not_ok "$k-kbd-set2" "scancodes '$got2', expected '$want2'" "$SER"; fi
    stop_vm
}

# ---- mouse ----
# mouse_step NAME AWK-CONDITION X Y CLIENT-ARGS...: the packets printed
# after the client's events must satisfy the condition (sums dx dy dz over
# them, b = OR of the button bits seen, n = packet count).  Each step is a
# new connection, whose first pointer event only sets where the pointer is
# (QEMU: relative motion starts from a client's first event), so it goes
# first, at X Y, where the previous step left the pointer.
MOUSE_LINES=0
mouse_step() {
    local name=$1 cond=$2 x=$3 y=$4 res
    shift 4
    MOUSE_LINES=$(grep -c '^mouse: dx=' "$SER")
    client pointer "$x" "$y" 0 sleep 150 "$@" sleep 400
    res=$(grep -a '^mouse: dx=' "$SER" | tail -n +$((MOUSE_LINES + 1)) | tr -d '\r' |
          sed -E 's/mouse: dx=(-?[0-9]+) dy=(-?[0-9]+) dz=(-?[0-9]+) buttons=([0-9]+)/\1 \2 \3 \4/' |
          awk '{ dx += $1; dy += $2; dz += $3; n++
                 for (i = 0; i < 3; i++) if (int($4 / 2 ^ i) % 2) seen[i] = 1 }
               END { b = seen[0] + 2 * seen[1] + 4 * seen[2]
                     printf "n=%d dx=%d dy=%d dz=%d b=%d\n", n, dx, dy, dz, b }')
    if awk -v r="$res" "BEGIN { split(r, f, /[ =]/); n = f[2]; dx = f[4]; dy = f[6]; dz = f[8]; b = f[10];
                               exit !($cond) }"; then
        ok "$name"
    else
        not_ok "$name" "packets $res, expected $cond"
    fi
}

t_mouse() {
    local k=$1
    if ! start_vm "$k" "" -kernel "$PAYLOADS/mouse.elf" -append "wheel=1" ||
       ! wait_serial 'mouse: ready id=3' 40; then
        not_ok "$k-mouse-motion" "mouse.elf not ready: $(tail -n 1 "$SER" 2>/dev/null)" "$ERR"
        stop_vm; return
    fi
    client pointer 100 100 0 sleep 300
    # Right and up on the screen: PS/2 dx > 0, dy > 0 (PS/2 y grows upwards).
    mouse_step "$k-mouse-motion" 'n >= 1 && dx > 0 && dy > 0 && b == 0' 100 100 pointer 150 80 0
    mouse_step "$k-mouse-motion-back" 'n >= 1 && dx < 0 && dy < 0' 150 80 pointer 120 110 0
    mouse_step "$k-mouse-left-button" 'n >= 2 && b == 1' 120 110 \
        pointer 120 110 1 sleep 100 pointer 120 110 0
    mouse_step "$k-mouse-right-button" 'n >= 2 && b == 2' 120 110 \
        pointer 120 110 4 sleep 100 pointer 120 110 0
    # RFB button 4 (mask 8) is the wheel turned up: IntelliMouse dz < 0.
    mouse_step "$k-mouse-wheel" 'n >= 1 && dz < 0' 120 110 pointer 120 110 8 pointer 120 110 0
    stop_vm
}

# The tablet: pointer at the screen's centre, then the top left corner
# with the left button: virtio-input events EV_ABS ABS_X/ABS_Y (0..32767
# across the screen) and EV_KEY BTN_LEFT; the PS/2 mouse gets nothing.
tablet_has() { grep -qaE "^tablet: type=$1 code=$2 value=$3\b" "$SER"; }
t_tablet() {
    local k=$1 size w h x y
    if ! start_vm "$k" "" -kernel "$PAYLOADS/mouse.elf" -append "tablet=1" \
            -device virtio-tablet-pci || ! wait_serial 'mouse: ready tablet' 40; then
        not_ok "$k-tablet" "mouse.elf tablet=1 not ready: $(tail -n 1 "$SER" 2>/dev/null)" "$ERR"
        stop_vm; return
    fi
    size=$(client size | sed -n 's/^size //p')
    w=${size%x*} h=${size#*x}
    client pointer $((w / 2)) $((h / 2)) 0 sleep 300 pointer 0 0 1 sleep 300 pointer 0 0 0 sleep 400
    x=$(grep -a '^tablet: type=3 code=0 ' "$SER" | head -n 1 | sed 's/.*value=//' | tr -d '\r')
    y=$(grep -a '^tablet: type=3 code=1 ' "$SER" | head -n 1 | sed 's/.*value=//' | tr -d '\r')
    if [ -z "$size" ]; then
        not_ok "$k-tablet" "no framebuffer size: $(client_why)"
    elif ! [ "${x:-0}" -ge 15700 ] 2>/dev/null || ! [ "${x:-0}" -le 17100 ] ||
         ! [ "${y:-0}" -ge 15700 ] || ! [ "${y:-0}" -le 17100 ]; then
        not_ok "$k-tablet" "centre of $size read as ABS_X '$x' ABS_Y '$y', expected ~16383" "$SER"
    elif ! tablet_has 1 272 1 || ! tablet_has 1 272 0 || ! tablet_has 3 0 0 ||
         ! tablet_has 3 1 0 || ! tablet_has 0 0 0; then
        not_ok "$k-tablet" "no BTN_LEFT press/release, corner (0,0) or SYN_REPORT event" "$SER"
    elif grep -q '^mouse: dx=' "$SER"; then
        not_ok "$k-tablet" "the PS/2 mouse got packets too" "$SER"
    else
        ok "$k-tablet"
    fi
    stop_vm
}

# ---- several clients, misbehaving clients, reconnect ----
frames_lines() { grep -c '^VBE draw_frames=' "$SER"; }

t_clients() {
    local k=$1
    if ! start_vm "$k" "" -kernel "$PAYLOADS/vga-vbe.elf" -append "redraw=1" ||
       ! wait_serial '^VBE draw_frames=' 60; then
        not_ok "$k-two-clients" "vga-vbe.elf redraw=1 did not report frames" "$ERR"
        stop_vm; return
    fi
    local a b
    client wait-size 1024x768 20 count-updates 4 >"$tmp/a.out" &
    a=$!
    client wait-size 1024x768 20 count-updates 4 >"$tmp/b.out" &
    b=$!
    wait $a; wait $b
    if grep -qE 'updates ([2-9]|[1-9][0-9]+) ' "$tmp/a.out" &&
       grep -qE 'updates ([2-9]|[1-9][0-9]+) ' "$tmp/b.out"; then
        ok "$k-two-clients"
    else
        not_ok "$k-two-clients" "client A: '$(cat "$tmp/a.out")', B: '$(cat "$tmp/b.out")'; $(client_why)"
    fi

    # A well-behaved client watches while the others misbehave.
    client wait-size 1024x768 20 count-updates 6 >"$tmp/c.out" &
    a=$!
    sleep 1
    local before after
    before=$(frames_lines)
    "$CLIENT" "unix:$SOCK" garbage 65536 2>>"$tmp/client.err"
    "$CLIENT" "unix:$SOCK" abort-update 2>>"$tmp/client.err"
    "$CLIENT" "unix:$SOCK" garbage 100 2>>"$tmp/client.err"
    "$CLIENT" "unix:$SOCK" abort-update 2>>"$tmp/client.err"
    wait $a
    wait_serial "^VBE" 1
    sleep 3
    after=$(frames_lines)
    if ! kill -0 "$VM_PID" 2>/dev/null; then
        not_ok "$k-garbage" "the VMM died" "$ERR"
    elif [ "$after" -le "$before" ]; then
        not_ok "$k-garbage" "the guest stopped drawing ($before -> $after frame reports)" "$SER"
    elif ! grep -qE 'updates ([2-9]|[1-9][0-9]+) ' "$tmp/c.out"; then
        not_ok "$k-garbage" "the other client: '$(cat "$tmp/c.out")'; $(client_why)"
    else
        ok "$k-garbage"
    fi
    if client wait-size 1024x768 10 wait-update 5 wait-update 5 wait-pixel 520 390 808080 5; then
        ok "$k-reconnect"
    else
        not_ok "$k-reconnect" "$(client_why)"
    fi
    stop_vm
}

for kind in $KINDS; do
    case $kind in
    vmm)  [ -x "$VMM" ] || { not_ok vmm "$VMM not built"; continue; } ;;
    qemu) if ! command -v "$QEMU" >/dev/null || [ ! -w /dev/kvm ]; then
              skip qemu "no $QEMU or /dev/kvm"; continue
          fi ;;
    *)    echo "vnc.sh: unknown kind '$kind'" >&2; exit 2 ;;
    esac
    if [ ! -f "$BIOS" ]; then
        skip "$kind-seabios" "no $BIOS (Debian's seabios)"
    else
        t_banner_password "$kind"
        t_text "$kind"
    fi
    t_vbe "$kind"
    t_kbd "$kind"
    t_mouse "$kind"
    t_tablet "$kind"
    t_clients "$kind"
done
[ "$FAILS" -eq 0 ]
