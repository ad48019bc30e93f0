#!/bin/bash
# Start-up benchmark, vmm against Debian's QEMU in the same run:
#  1. start time: wall time from process start to exit of a payload that
#     leaves through isa-debug-exit at once (exit.elf), median of N runs;
#  2. memory overhead: private memory of a running VMM (a payload that has
#     finished and halts: hello.elf without isa-debug-exit) minus the mapping
#     that backs guest RAM, from /proc/PID/smaps.
# Prints figures and the vmm/QEMU ratios (targets: start <= 0.5x QEMU,
# overhead <= 5 MiB); it never fails on a figure.
# Usage: bench/start.sh [N]        env: BUILD, VMM, QEMU, SPIN_PAYLOAD,
#                                       SPIN_APPEND, BENCH_MEM_MB, QEMU_N
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$BUILD/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
N=${1:-20}
# QEMU's runs (default N too): on a PVM host each QEMU start runs SeaBIOS in
# KVM's instruction emulator and takes many seconds.
QEMU_N=${QEMU_N:-$N}
PAYLOADS=$BUILD/payloads
EXIT_PAYLOAD=$PAYLOADS/exit.elf
# A payload that keeps the VMM alive once it has booted (it halts after
# printing PASS when there is no isa-debug-exit device to stop the machine).
SPIN_PAYLOAD=${SPIN_PAYLOAD:-$PAYLOADS/hello.elf}
SPIN_APPEND=${SPIN_APPEND:-}
SPIN_READY=${SPIN_READY:-PASS}
MEM_MB=${BENCH_MEM_MB:-128}

BENCH_NAME=start
BENCH_PAYLOAD=$EXIT_PAYLOAD
# shellcheck source=bench/common.sh
. bench/common.sh
bench_require

tmp=$(mktemp -d) || exit 1
spid=
cleanup() {
    [ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# The same machine for both: i440fx PC, no default devices, no display.
vmm_cmd() { echo "$VMM -M pc -nodefaults -display none"; }
qemu_cmd() { echo "$QEMU -accel kvm -M pc -nodefaults -display none"; }

now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }


# Start times in microseconds, one per line, of N runs of exit.elf; a run
# that does not end with exit.elf's status (1 = isa-debug-exit code 0) is
# reported and left out.
start_times() {   # emu runs
    local i t0 t1 rc
    for ((i = 0; i < $2; i++)); do
        t0=$(now_us)
        # shellcheck disable=SC2046
        timeout -k 2 120 $("$1"_cmd) -device isa-debug-exit,iobase=0xf4,iosize=4 \
            -kernel "$EXIT_PAYLOAD" </dev/null >/dev/null 2>"$tmp/err"
        rc=$?
        t1=$(now_us)
        if [ "$rc" -ne 1 ]; then
            echo "bench/start: $1 run $i: exit status $rc: $(head -n 1 "$tmp/err")" >&2
            continue
        fi
        echo $((t1 - t0))
    done
}

# Memory (KiB) of a running VMM outside the guest RAM mapping(s), as two
# words: private (Private_Clean + Private_Dirty: memory only this process
# uses) and resident (Rss, including its share of libraries mapped by other
# processes too), summed over every mapping except those whose size is
# guest RAM (+ up to 4 MiB alignment slack, as QEMU allocates it).
overhead_kb() {   # emu
    local log=$tmp/spin-$1.log i
    : >"$log"
    # shellcheck disable=SC2046
    $("$1"_cmd) -m "$MEM_MB" -serial stdio -kernel "$SPIN_PAYLOAD" \
        ${SPIN_APPEND:+-append "$SPIN_APPEND"} </dev/null >"$log" 2>&1 &
    spid=$!
    for ((i = 0; i < 1200; i++)); do     # up to 120 s to boot
        grep -q "$SPIN_READY" "$log" && break
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.1
    done
    sleep 0.5
    local pid=$spid
    if ! kill -0 "$pid" 2>/dev/null || ! grep -q "$SPIN_READY" "$log"; then
        echo "bench/start: $1 did not stay up with $SPIN_PAYLOAD: $(tail -n 1 "$log")" >&2
        kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; spid=
        echo n/a n/a; return
    fi
    awk -v ram_kb=$((MEM_MB * 1024)) '
        /^[0-9a-f]+-[0-9a-f]+ / { skip = 0; next }
        /^Size:/ { if ($2 >= ram_kb && $2 <= ram_kb + 4096) skip = 1; next }
        /^Private_(Clean|Dirty):/ { if (!skip) priv += $2 }
        /^Rss:/ { if (!skip) rss += $2 }
        END { print priv + 0, rss + 0 }' "/proc/$pid/smaps"
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; spid=
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.3f", a / b }'; }
ms() { awk -v u="$1" 'BEGIN { if (u == "n/a") print "n/a"; else printf "%.1f", u / 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "n/a") print "n/a"; else printf "%.2f", k / 1024 }'; }

echo "start time: $EXIT_PAYLOAD, $N runs of vmm, $QEMU_N of QEMU"
vmm_start=$(start_times vmm "$N" | median)
qemu_start=$(start_times qemu "$QEMU_N" | median)
echo "memory overhead: $SPIN_PAYLOAD running with -m $MEM_MB"
read -r vmm_mem vmm_rss < <(overhead_kb vmm)
read -r qemu_mem qemu_rss < <(overhead_kb qemu)

printf '%-30s %12s %12s %10s\n' "" vmm QEMU vmm/QEMU
printf '%-30s %12s %12s %10s\n' "start to exit, median (ms)" "$(ms "$vmm_start")" \
    "$(ms "$qemu_start")" "$(ratio "$vmm_start" "$qemu_start")"
printf '%-30s %12s %12s %10s\n' "private memory overhead (MiB)" "$(mib "$vmm_mem")" \
    "$(mib "$qemu_mem")" "$(ratio "$vmm_mem" "$qemu_mem")"
printf '%-30s %12s %12s %10s\n' "resident, not guest RAM (MiB)" "$(mib "$vmm_rss")" \
    "$(mib "$qemu_rss")" "$(ratio "$vmm_rss" "$qemu_rss")"
echo "targets: start time <= 0.5x QEMU's; vmm overhead <= 5 MiB"
