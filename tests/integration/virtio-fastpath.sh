#!/bin/bash
# The KVM fast paths of virtio-pci, seen from outside: a guest request must
# not cost an exit to userspace.  virtio-blk.elf mode=reqs does N 4 KiB reads
# one after the other; strace counts the vCPU's KVM_RUN ioctls (each call
# after the first is a return to userspace).  TAP lines:
#
#   fastpath/ioeventfd-poll   polling driver: N requests add < N/10 KVM_RUN
#                             calls over an n=1 run (the queue kick is an
#                             MMIO write that KVM's ioeventfd takes)
#   fastpath/msix-irqfd       irq=msix: the same bound, every completion
#                             interrupt counted by the guest, a KVM_IRQFD
#                             assigned and < N/10 KVM_SIGNAL_MSI ioctls (the
#                             interrupt goes through the irqfd)
#   fastpath/ioeventfd-off    control: ioeventfd=off on the device makes
#                             every kick an MMIO exit, so >= N extra calls;
#                             shows the count can tell the difference
#
# Skipped without strace or /dev/kvm.  FASTPATH_N sets N (default 2000).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
PAYLOAD=$BUILD/payloads/virtio-blk.elf
N=${FASTPATH_N:-2000}
CASES="ioeventfd-poll msix-irqfd ioeventfd-off"
failures=0

skip_all() {
    local c
    for c in $CASES; do echo "ok - fastpath/$c # SKIP $1"; done
    exit 0
}

command -v strace >/dev/null || skip_all "strace not installed"
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then skip_all "no usable /dev/kvm"; fi
[ -x "$VMM" ] || { echo "not ok - fastpath: $VMM not built"; exit 1; }
[ -f "$PAYLOAD" ] || { echo "not ok - fastpath: $PAYLOAD not built (make payloads)"; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
truncate -s 16M "$tmp/disk.img"

# traced_run N IRQ DEVOPTS: runs the payload under strace; sets OUT (console),
# RC, RUNS (KVM_RUN calls), IRQFDS (KVM_IRQFD calls), SIGMSI (KVM_SIGNAL_MSI).
# strace prints each ioctl by name, "ioctl(FD, KVM_RUN, 0) = 0", once per
# call (an interrupted call shows the name on its "<unfinished ...>" line).
traced_run() {
    local log=$tmp/strace.log
    OUT=$(timeout -k 5 60 strace -f -e trace=ioctl -e signal=none -o "$log" \
          "$VMM" -display none -device isa-debug-exit,iobase=0xf4,iosize=4 -serial stdio \
          -kernel "$PAYLOAD" -append "mode=reqs n=$1 irq=$2" \
          -drive "file=$tmp/disk.img,if=none,id=d0,format=raw" \
          -device "virtio-blk-pci,drive=d0$3" </dev/null 2>&1)
    RC=$?
    RUNS=$(grep -c 'KVM_RUN' "$log")
    IRQFDS=$(grep -c 'KVM_IRQFD' "$log")
    SIGMSI=$(grep -c 'KVM_SIGNAL_MSI' "$log")
}

ok() { echo "ok - fastpath/$1"; }
not_ok() {
    echo "not ok - fastpath/$1: $2"
    printf '%s\n' "$OUT" | tail -n 5 | sed 's/^/#   /'
    failures=$((failures + 1))
}

# extra_runs NAME IRQ DEVOPTS: EXTRA = KVM_RUN calls of an N-request run
# minus those of a 1-request run with the same options; false (after a
# not ok) if a run failed.
extra_runs() {
    local base
    traced_run 1 "$2" "$3"
    if [ "$RC" -ne 1 ]; then not_ok "$1" "n=1 run: exit status $RC, expected 1 (PASS)"; return 1; fi
    base=$RUNS
    traced_run "$N" "$2" "$3"
    if [ "$RC" -ne 1 ] || ! grep -q "^REQS n=$N " <<<"$OUT"; then
        not_ok "$1" "n=$N run: exit status $RC, expected 1 with a REQS line"
        return 1
    fi
    EXTRA=$((RUNS - base))
    echo "# $1: $N requests: $EXTRA extra KVM_RUN calls ($base for n=1, $RUNS for n=$N)"
}

limit=$((N / 10))

if extra_runs ioeventfd-poll poll ""; then
    if [ "$EXTRA" -lt "$limit" ]; then ok ioeventfd-poll
    else not_ok ioeventfd-poll "$EXTRA extra KVM_RUN calls for $N requests (limit $limit)"; fi
fi

if extra_runs msix-irqfd msix ""; then
    irqs=$(sed -n 's/^REQS .* irqs=\([0-9]*\).*/\1/p' <<<"$OUT")
    echo "# msix-irqfd: guest counted ${irqs:-?} interrupts; $IRQFDS KVM_IRQFD, $SIGMSI KVM_SIGNAL_MSI ioctls"
    if [ "$EXTRA" -ge "$limit" ]; then
        not_ok msix-irqfd "$EXTRA extra KVM_RUN calls for $N requests (limit $limit)"
    elif [ "${irqs:-0}" -lt 1 ]; then
        not_ok msix-irqfd "the guest counted no interrupt"
    elif [ "$IRQFDS" -lt 1 ]; then
        not_ok msix-irqfd "no KVM_IRQFD ioctl: the MSI-X vector has no irqfd"
    elif [ "$SIGMSI" -ge "$limit" ]; then
        not_ok msix-irqfd "$SIGMSI KVM_SIGNAL_MSI ioctls: interrupts bypass the irqfd"
    else
        ok msix-irqfd
    fi
fi

if extra_runs ioeventfd-off poll ",ioeventfd=off"; then
    if [ "$EXTRA" -ge "$N" ]; then ok ioeventfd-off
    else not_ok ioeventfd-off "only $EXTRA extra KVM_RUN calls for $N requests without ioeventfd (expected >= $N)"; fi
fi

[ "$failures" -eq 0 ]
