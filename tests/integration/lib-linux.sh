# Shared harness of the check-linux scripts that run guest commands
# (linux-virtio.sh, linux-pc.sh): source it after setting SUITE (the TAP
# prefix) and CASES.  It skips every case on a PVM host or without
# /dev/kvm unless VMM_RUN_LINUX=1, builds the test guest, and provides
# pass/fail, free_port, boot_bg, wait_for and run_guest.
# shellcheck shell=bash
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
GUEST=$BUILD/guest
failures=0

skip_all() {
    local c
    for c in $CASES; do echo "ok - $SUITE/$c # SKIP $1"; done
    exit 0
}

if [ "${VMM_RUN_LINUX:-0}" != 1 ]; then
    [ -d /sys/module/kvm_pvm ] &&
        skip_all "host KVM is PVM: a Linux boot takes many minutes (VMM_RUN_LINUX=1 forces it)"
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then skip_all "no usable /dev/kvm"; fi
fi
LINUX_TIMEOUT=${LINUX_TIMEOUT:-120}
[ -x "$VMM" ] || { echo "not ok - $SUITE: $VMM not built"; exit 1; }
if ! out=$(tests/guest/build-guest.sh "$GUEST" 2>&1); then
    echo "not ok - $SUITE: building the guest failed: $(echo "$out" | tail -n 1)"
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

pass() { echo "ok - $SUITE/$1"; }
fail() { echo "not ok - $SUITE/$1: $2"; failures=$((failures + 1)); }
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

