#!/bin/bash
# shellcheck disable=SC2016  # the guest expands $((...)) in its commands
# `make check-linux`, screen and keyboard part: the Debian test guest
# (tests/guest) on the standard VGA, seen and driven through the VNC server
# (-vnc unix:SOCK) by the libvncclient test client (tests/vnc/vnc-client).
# TAP lines.
#
#   fbcon-text        a kernel console message (printk at level 2, written to
#                     /dev/kmsg by the guest) is read from the VNC screen by
#                     the client's text OCR
#   keys-reach-shell  keys typed by the client reach an interactive shell on
#                     tty1: the command's echo and its output
#                     ("VNC-TYPED-42", computed by the guest from $((6*7)))
#                     appear on the screen, and the output, tee'd to ttyS0,
#                     on the serial console too
#
# The kernel is booted by SeaBIOS (-bios with -kernel, as QEMU does), not by
# vmm's direct loader: the kernel's real-mode setup then asks the VGA BIOS
# for the video mode and fills screen_info (80x25, VGA), so Linux uses
# vgacon on the 80x25 text mode that SeaVGABIOS set up with its own 8x16
# font, which is the font the client's OCR matches.  (After a direct boot
# screen_info is empty and Linux falls back to the dummy console; the
# initramfs has no DRM driver, so there is no fbcon on bochs-drm either.)
# console=tty0 console=ttyS0: kernel messages go to both; /dev/console, and
# so the init's markers, is the serial port, where the harness waits.
#
# Like linux-boot.sh: on a PVM host or without /dev/kvm every case is
# skipped unless VMM_RUN_LINUX=1.  Needs build/tests/vnc/vnc-client (built
# by `make check`) and Debian's seabios.
set -u
cd "$(dirname "$0")/../.." || exit 1
SUITE=linux-vnc
CASES="fbcon-text keys-reach-shell"
. tests/integration/lib-linux.sh

CLIENT=$PWD/$BUILD/tests/vnc/vnc-client
BIOS=/usr/share/seabios/bios-256k.bin
FONT=/usr/share/seabios/vgabios-stdvga.bin
KEY_MS=${KEY_MS:-150}       # pause after each typed character
for f in "$BIOS" "$FONT"; do
    [ -f "$f" ] || skip_all "no $f (apt-get install seabios)"
done
if [ ! -x "$CLIENT" ]; then
    for c in $CASES; do echo "not ok - $SUITE/$c: $CLIENT not built (make check builds it)"; done
    exit 1
fi

sock=$tmp/vnc.sock log=$tmp/serial.log
# The guest: a printk on every console, then a login shell on tty1 (the
# foreground virtual console, i.e. what tty0 shows).  setsid gives it a
# session of its own, so opening /dev/tty1 makes it the controlling tty.
# The results are computed in the guest so that the command text itself
# never matches what the host waits for.
# (The value of vmm.test cannot hold a double quote.)
guest_cmd='echo \<2\>VNC-KMSG-$((6*7)) on the kernel console >/dev/kmsg;'
guest_cmd+=" setsid sh -c 'exec sh -l -i </dev/tty1 >/dev/tty1 2>&1' &"
guest_cmd+=' echo VNC-SHELL-$((6*7)); sleep 3600'
"$VMM" -bios "$BIOS" -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.img" \
    -append "console=tty0 console=ttyS0 consoleblank=0 quiet vmm.test=\"run:$guest_cmd\"" \
    -m 512 -vga std -vnc "unix:$sock" -display none -serial stdio </dev/null >"$log" 2>&1 &
pids+=($!)

client() { timeout $((LINUX_TIMEOUT + 60)) "$CLIENT" "unix:$sock" --font "$FONT" "$@" 2>>"$tmp/client.err"; }
client_why() { tail -n 1 "$tmp/client.err" 2>/dev/null; }
screen() { client wait-update 10 text 2>/dev/null | sed 's/ *$//' | grep . | tail -n 4 | tr '\n' '|'; }

if ! wait_for "$log" VNC-SHELL-42 "$LINUX_TIMEOUT"; then
    for c in $CASES; do fail "$c" "the guest did not come up; last output: $(last_lines "$log")"; done
    exit 1
fi

# ---- fbcon-text: kernel console output on the screen ----
if client wait-text VNC-KMSG-42 "$LINUX_TIMEOUT"; then
    pass fbcon-text
else
    fail fbcon-text "$(client_why); size: $(client size 2>/dev/null); screen: $(screen)"
fi

# ---- keys-reach-shell: type a command into the shell on tty1 ----
typed='echo VNC-TYPED-$((6*7)) | tee /dev/ttyS0'
args=()
for ((i = 0; i < ${#typed}; i++)); do
    args+=(keys "${typed:i:1}" sleep "$KEY_MS")
done
if ! client wait-text 'vmm-guest:/#' "$LINUX_TIMEOUT"; then
    fail keys-reach-shell "no shell prompt on tty1: $(client_why); screen: $(screen)"
elif ! client "${args[@]}" key Return wait-text 'VNC-TYPED-42' "$LINUX_TIMEOUT"; then
    fail keys-reach-shell "no command output on the screen: $(client_why); screen: $(screen)"
elif ! wait_for "$log" '^VNC-TYPED-42' 30; then
    fail keys-reach-shell "output on the screen but not on ttyS0; last output: $(last_lines "$log")"
else
    pass keys-reach-shell
fi

kill -KILL "${pids[-1]}" 2>/dev/null
[ "$failures" -eq 0 ]
