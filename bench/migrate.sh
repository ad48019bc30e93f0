#!/bin/bash
# Live migration benchmark: vmm against Debian's QEMU (-accel kvm) in the
# same run, both migrating over tcp on the loopback with the same
# max-bandwidth (QEMU 7.2's default, 128 MiB/s, set explicitly on both).
#   idle-512 / idle-2048: mig-counter.elf with -m 512 / -m 2048 (almost all
#       zero pages): total time and downtime from query-migrate;
#   dirty: mig-dirty.elf rewriting BENCH_DIRTY_MIB MiB at up to
#       BENCH_DIRTY_RATE MiB/s (rate=N; the guest reports what it reaches:
#       on a PVM host its loop runs in KVM's instruction emulator and gets
#       nowhere near 100 MiB/s), no auto-converge: total time, downtime,
#       and whether the precopy converged within BENCH_DIRTY_SECS.
# Medians of R runs; the vmm/QEMU ratios with the targets (downtime <= 10
# ms for the idle guests and <= QEMU's everywhere; total time <= 0.5x
# QEMU's).  Never fails on a figure; a broken setup ends it with status 1.
# Usage: bench/migrate.sh [R]   (default 3)
# env: BUILD, VMM, QEMU, BENCH_BW (MiB/s, 128), BENCH_DIRTY_MIB (64),
#      BENCH_DIRTY_RATE (100), BENCH_DIRTY_SECS (60), BENCH_SKIP (vmm qemu)
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$BUILD/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
R=${1:-3}

BENCH_NAME=migrate
BENCH_PAYLOAD=$BUILD/payloads/mig-dirty.elf
# shellcheck source=bench/common.sh
. bench/common.sh
bench_require
[ -f "$BUILD/payloads/mig-counter.elf" ] || die "$BUILD/payloads/mig-counter.elf not built (make payloads)"
command -v python3 >/dev/null || die "python3 not found"

export VMM QEMU PAYLOADS=$BUILD/payloads R BENCH_BW=${BENCH_BW:-128} \
    BENCH_DIRTY_MIB=${BENCH_DIRTY_MIB:-64} BENCH_DIRTY_RATE=${BENCH_DIRTY_RATE:-100} \
    BENCH_DIRTY_SECS=${BENCH_DIRTY_SECS:-60} BENCH_SKIP=${BENCH_SKIP:-}
exec python3 - <<'EOF'
import importlib.util, os, statistics, tempfile, shutil, time

spec = importlib.util.spec_from_file_location("miglib", "tests/integration/migration-lib.py")
lib = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lib)

R = int(os.environ["R"])
BW = int(os.environ["BENCH_BW"]) << 20
DIRTY_MIB = int(os.environ["BENCH_DIRTY_MIB"])
DIRTY_RATE = int(os.environ["BENCH_DIRTY_RATE"])
DIRTY_SECS = int(os.environ["BENCH_DIRTY_SECS"])
SKIP = os.environ["BENCH_SKIP"].split()
P = os.environ["PAYLOADS"]
EXIT_DEV = ["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
tmp = tempfile.mkdtemp(prefix="bench-migrate.")


def one_run(emu, args, ready_re, timeout):
    """Migrate once; returns (total ms, downtime ms, converged, note)."""
    port = lib.free_port()
    src = dst = None
    try:
        src = lib.Vm(emu, tmp, args)
        dst = lib.Vm(emu, tmp, args, incoming=f"tcp:127.0.0.1:{port}")
        if src.wait_line(ready_re, 90) is None:
            return None, None, None, f"guest not ready: {src.output_tail()}"
        lib.set_parameter(src, "max-bandwidth", BW)
        src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        info = lib.wait_migration(src, timeout)
        if info.get("status") != "completed":
            if info.get("status") not in lib.FINAL:
                src.qmp.cmd("migrate_cancel")
                return None, None, False, f"not converged in {timeout} s"
            return None, None, None, f"status {info.get('status')}: {info.get('error-desc', '')}"
        rates = [l for l in src.text() if " rate " in l]
        note = rates[-1].split("rate ")[-1] if rates else ""
        return info.get("total-time"), info.get("downtime"), True, note
    except Exception as e:   # noqa: BLE001
        return None, None, None, f"{type(e).__name__}: {e}"
    finally:
        for vm in (src, dst):
            if vm:
                vm.close()


CASES = [
    ("idle-512", ["-m", "512", "-kernel", f"{P}/mig-counter.elf"] + EXIT_DEV, r"^count 3 ", 120),
    ("idle-2048", ["-m", "2048", "-kernel", f"{P}/mig-counter.elf"] + EXIT_DEV, r"^count 3 ", 120),
    ("dirty", ["-m", str(DIRTY_MIB + 64), "-kernel", f"{P}/mig-dirty.elf", "-append",
               f"mib={DIRTY_MIB} rate={DIRTY_RATE}"] + EXIT_DEV, r"mig-dirty: pass \d+ rate", DIRTY_SECS),
]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def verdict(ok):
    return "?" if ok is None else ("yes" if ok else "NO")


print(f"migration over tcp loopback, max-bandwidth {BW >> 20} MiB/s on both, {R} runs each")
print(f"{'case':<10} {'emu':<5} {'total ms':>9} {'downtime ms':>12} {'converged':>10}  note")
results = {}
for case, args, ready, timeout in CASES:
    for emu in ("vmm", "qemu"):
        if emu in SKIP:
            continue
        runs = [one_run(emu, args, ready, timeout) for _ in range(R)]
        tot, down = med([r[0] for r in runs]), med([r[1] for r in runs])
        conv = sum(1 for r in runs if r[2])
        notes = "; ".join(sorted({r[3] for r in runs if r[3]}))
        results[(case, emu)] = (tot, down, conv)
        print(f"{case:<10} {emu:<5} {str(tot):>9} {str(down):>12} {f'{conv}/{R}':>10}  {notes}",
              flush=True)

print()
print(f"{'case':<10} {'total vmm/QEMU':>15} {'downtime vmm/QEMU':>18}  targets")
for case, *_ in CASES:
    v = results.get((case, "vmm"), (None, None, 0))
    q = results.get((case, "qemu"), (None, None, 0))
    t_ok = None if v[0] is None or not q[0] else v[0] <= 0.5 * q[0]
    d_ok = None if v[1] is None or q[1] is None else v[1] <= q[1]
    targets = f"total <= 0.5x QEMU: {verdict(t_ok)}, downtime <= QEMU: {verdict(d_ok)}"
    if case.startswith("idle"):
        targets += f", downtime <= 10 ms: {verdict(None if v[1] is None else v[1] <= 10)}"
    print(f"{case:<10} {ratio(v[0], q[0]):>15} {ratio(v[1], q[1]):>18}  {targets}")
shutil.rmtree(tmp, ignore_errors=True)
EOF
