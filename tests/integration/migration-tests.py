"""End-to-end live migration tests (run by migration.sh; TAP lines).

Every case runs with vmm, and with Debian's QEMU 7.2 (-accel kvm) where
QEMU has the feature, to keep the harness honest; test names carry the
emulator ("vmm/..." or "qemu/...").  Groups (arguments; default all):
  tcp unix exec file defer dirty blk chain bios fail info
Guests: mig-counter.elf (serial "count N", no reset, clocks monotonic),
mig-dirty.elf (pattern per page, verified on request), mig-blk.elf
(sequence-numbered sectors on a shared image).  Env: VMM, QEMU, PAYLOADS,
MIG_EMUS (default "vmm qemu").
"""
import hashlib
import importlib.util
import os
import re
import shutil
import signal
import struct
import sys
import tempfile
import time

_spec = importlib.util.spec_from_file_location(
    "miglib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "migration-lib.py"))
lib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lib)

EMUS = os.environ.get("MIG_EMUS", "vmm qemu").split()
TMP = tempfile.mkdtemp(prefix="vmm-mig.", dir=os.environ.get("TMPDIR", "/tmp"))
COUNTER = os.path.join(lib.PAYLOADS, "mig-counter.elf")
DIRTY = os.path.join(lib.PAYLOADS, "mig-dirty.elf")
BLK = os.path.join(lib.PAYLOADS, "mig-blk.elf")
EXIT_DEV = ["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
MAX_GAP_S = float(os.environ.get("MIG_MAX_GAP", "1.5"))   # host time, loaded machine
failures = 0
vms = []


def ok(name):
    print(f"ok - {name}", flush=True)


def not_ok(name, why, vm_list=()):
    global failures
    failures += 1
    print(f"not ok - {name}: {why}", flush=True)
    for vm in vm_list:
        if vm is None:
            continue
        print(f"#   {vm.name} output: {vm.output_tail(4)}", flush=True)
        print(f"#   {vm.name} serial: {' | '.join(vm.text()[-3:])}", flush=True)


def skip(name, why):
    print(f"ok - {name} # SKIP {why}", flush=True)


def start(emu, args, **kw):
    vm = lib.Vm(emu, TMP, args, **kw)
    vms.append(vm)
    return vm


def cleanup():
    for vm in vms:
        vm.close()
    vms.clear()


def counter_args(mem="128", extra=()):
    return ["-m", mem, "-kernel", COUNTER] + EXIT_DEV + list(extra)


def fmt_info(info):
    keys = ("status", "total-time", "downtime", "setup-time", "error-desc")
    return ", ".join(f"{k}={info[k]}" for k in keys if k in info)


# ---------------------------------------------------------------- checks
def counting(vm, secs=0.6):
    """Is the guest's counter advancing (new complete count lines)?"""
    before = vm.counts()
    last = before[-1][1] if before else -1
    deadline = time.time() + secs + 2
    while time.time() < deadline:
        time.sleep(0.1)
        now = vm.counts()
        if now and now[-1][1] >= last + 3:
            return True
    return False


def wait_counting(vm, n, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(vm.counts()) >= n:
            return True
        time.sleep(0.05)
    return False


def check_continued(name, src, dst, check_gap=True, more=5):
    """The destination continues the source's count: no second "start", the
    first count is the source's last + 1, it keeps counting, clocks fine.
    Returns None or why not."""
    deadline = time.time() + 15
    while time.time() < deadline and len(dst.counts()) < more:
        time.sleep(0.05)
    d = dst.counts()
    s = src.counts()        # read after the source's serial socket drained
    if not s:
        return "the source printed no count line"
    last_t, last_n = s[-1]
    # A line the UART was sending at the switch is split between the two:
    # the source's unfinished tail + the destination's first line.
    with src.lock:
        tail = src.partial.decode(errors="replace")
    first = dst.text()[0] if dst.text() else ""
    # The payload ends lines with "\r\n": the split may fall between them.
    m = re.match(r"^count (\d+) tsc_ms=\d+ clock_ms=\d+$", (tail + first).replace("\r", ""))
    if tail and m and int(m.group(1)) == last_n + 1:
        last_n += 1
    if len(d) < more:
        return f"destination printed {len(d)} count lines, expected >= {more} (status {dst_state(dst)})"
    if dst.grep(r"mig-counter: start"):
        return "the destination guest was reset (printed 'start')"
    if d[0][1] != last_n + 1:
        return (f"destination's first count is {d[0][1]}, the source's last was {last_n} "
                f"(source tail {tail!r}, destination starts {dst.text()[:2]!r})")
    ns = [n for _, n in d]
    if any(b != a + 1 for a, b in zip(ns, ns[1:])):
        return f"destination counts not consecutive: {ns[:10]}"
    bad = dst.grep(r"went backwards")
    if bad:
        return bad[0]
    gap = d[0][0] - last_t
    if check_gap and gap > MAX_GAP_S:
        return f"the guest printed nothing for {gap:.2f} s across the migration (> {MAX_GAP_S} s)"
    return None


def dst_state(vm):
    try:
        return vm.status()
    except Exception as e:   # noqa: BLE001  (it may have exited)
        return f"unavailable ({e}; exit {vm.proc.poll()})"


def check_source_after_success(src):
    st = src.status()
    return None if st in ("postmigrate", "paused") else f"source status {st}, expected postmigrate"


def wait_incoming_ready(dst):
    """The destination's main loop answers QMP, so its listener is open."""
    st = dst.status()
    return st == "inmigrate"


# ---------------------------------------------------------------- cases
def live_case(emu, group, uri_fn, incoming_fn=None, label=None):
    """A counter guest migrated once: uri_fn(tmp) -> (incoming, migrate uri)."""
    name = f"{emu}/{label or group}"
    src = dst = None
    try:
        incoming, uri = uri_fn()
        src = start(emu, counter_args())
        dst = start(emu, counter_args(), incoming=incoming)
        if not wait_counting(src, 4):
            return not_ok(name, "source guest is not counting", [src])
        if not wait_incoming_ready(dst):
            return not_ok(name, f"destination status {dst_state(dst)}, expected inmigrate", [dst])
        if incoming_fn:
            incoming_fn(dst)
        info = lib.migrate(src, uri)
        if info.get("status") != "completed":
            return not_ok(name, f"migration did not complete: {fmt_info(info)}", [src, dst])
        why = check_continued(name, src, dst) or check_source_after_success(src)
        if why:
            return not_ok(name, why, [src, dst])
        if dst.status() != "running":
            return not_ok(name, f"destination status {dst.status()}", [dst])
        ok(name)
        return info, src, dst
    except Exception as e:   # noqa: BLE001
        not_ok(name, f"{type(e).__name__}: {e}", [src, dst])
    finally:
        cleanup()


def case_tcp(emu):
    port = lib.free_port()
    live_case(emu, "tcp", lambda: (f"tcp:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}"),
              label="tcp-counter-continues")


def case_unix(emu):
    path = os.path.join(TMP, f"mig-{emu}.sock")
    live_case(emu, "unix", lambda: (f"unix:{path}", f"unix:{path}"), label="unix")


def case_defer(emu):
    port = lib.free_port()
    live_case(emu, "defer", lambda: ("defer", f"tcp:127.0.0.1:{port}"),
              incoming_fn=lambda dst: dst.qmp.hmp(f"migrate_incoming tcp:127.0.0.1:{port}"),
              label="defer-migrate_incoming")


def save_restore_case(emu, label, save_uri, restore_uri, path):
    """Save to a file, stop the source, restore in a new process later."""
    name = f"{emu}/{label}"
    src = dst = None
    try:
        src = start(emu, counter_args())
        if not wait_counting(src, 4):
            return not_ok(name, "source guest is not counting", [src])
        info = lib.migrate(src, save_uri)
        if info.get("status") != "completed":
            return not_ok(name, f"save did not complete: {fmt_info(info)}", [src])
        why = check_source_after_success(src)
        if why:
            return not_ok(name, why, [src])
        if not os.path.exists(path) or os.path.getsize(path) < 4096:
            return not_ok(name, f"no stream in {path}")
        src.kill()
        time.sleep(0.3)
        dst = start(emu, counter_args(), incoming=restore_uri)
        why = check_continued(name, src, dst, check_gap=False)
        if why:
            return not_ok(name, why, [dst])
        ok(name)
    except Exception as e:   # noqa: BLE001
        not_ok(name, f"{type(e).__name__}: {e}", [src, dst])
    finally:
        cleanup()


def case_exec(emu):
    f = os.path.join(TMP, f"exec-{emu}.mig")
    save_restore_case(emu, "exec-cat-file-restore", f"exec:cat > {f}", f"exec:cat {f}", f)


def case_file(emu):
    if emu != "vmm":
        return skip(f"{emu}/file-uri", "file: URIs are newer than QEMU 7.2")
    f = os.path.join(TMP, "file-vmm.mig")
    save_restore_case(emu, "file-uri", f"file:{f}", f"file:{f}", f)


def case_dirty(emu):
    """mig-dirty rewrites its region faster than the bandwidth limit lets
    the pages through: only auto-converge's throttling ends the precopy;
    then every page must hold its pattern on the destination."""
    name = f"{emu}/dirty-auto-converge-verify"
    mib = os.environ.get("MIG_DIRTY_MIB", "16")
    args = ["-m", "128", "-kernel", DIRTY, "-append", f"mib={mib}"] + EXIT_DEV
    port = lib.free_port()
    src = dst = None
    try:
        src = start(emu, args)
        dst = start(emu, args, incoming=f"tcp:127.0.0.1:{port}")
        if src.wait_line(r"mig-dirty: pass \d+ rate", 60) is None:
            return not_ok(name, "the guest does not report dirtying", [src])
        lib.set_capability(src, "auto-converge")
        lib.set_parameter(src, "max-bandwidth", 3 << 20)
        t0 = time.time()
        info = lib.migrate(src, f"tcp:127.0.0.1:{port}", timeout=90)
        if info.get("status") != "completed":
            return not_ok(name, f"no convergence in {time.time() - t0:.0f} s: {fmt_info(info)}",
                          [src, dst])
        n = len(dst.text())
        if dst.grep(r"mig-dirty: start"):
            return not_ok(name, "the destination guest was reset", [dst])
        if dst.wait_line(r"mig-dirty: pass \d+ rate", 10, start=n) is None:
            return not_ok(name, "the destination does not keep dirtying", [dst])
        n = len(dst.text())
        dst.send(b"v")
        i = dst.wait_line(r"mig-dirty: verify (ok|FAIL)", 30, start=n)
        if i is None:
            return not_ok(name, "no verify answer on the destination", [dst])
        line = dst.text()[i]
        if "verify ok" not in line:
            return not_ok(name, line, [dst])
        ok(f"{name} ({time.time() - t0:.1f} s, {fmt_info(info)})")
    except Exception as e:   # noqa: BLE001
        not_ok(name, f"{type(e).__name__}: {e}", [src, dst])
    finally:
        cleanup()


def check_blk_image(path, last):
    """Every sector up to `last` holds its sequence number (mig-blk.elf)."""
    size = os.path.getsize(path)
    cap = size // 512
    with open(path, "rb") as f:
        data = f.read()
    for seq in range(max(0, last - cap + 1), last + 1):
        sec = data[(seq % cap) * 512:(seq % cap + 1) * 512]
        want = struct.pack("<II", seq, seq ^ 0x6d696762) * 64
        if sec != want:
            got = struct.unpack("<II", sec[:8])
            return f"sector {seq % cap}: starts {got[0]:#x} {got[1]:#x}, expected seq {seq}"
    return None


def blk_done(vm):
    d = vm.grep(r"^done \d+$")
    return int(d[-1].split()[1]) if d else -1


def case_blk(emu):
    name = f"{emu}/blk-shared-image"
    img = os.path.join(TMP, f"blk-{emu}.img")
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    drive = ["-drive", f"file={img},if=none,id=d0,format=raw,cache=writeback",
             "-device", "virtio-blk-pci,drive=d0"]
    args = ["-m", "128", "-kernel", BLK] + EXIT_DEV + drive
    port = lib.free_port()
    src = dst = None
    try:
        src = start(emu, args)
        dst = start(emu, args, incoming=f"tcp:127.0.0.1:{port}")
        if src.wait_line(r"^done 50$", 60) is None:
            return not_ok(name, "the source guest does not write", [src])
        info = lib.migrate(src, f"tcp:127.0.0.1:{port}")
        if info.get("status") != "completed":
            return not_ok(name, f"migration did not complete: {fmt_info(info)}", [src, dst])
        src_last = blk_done(src)
        if dst.wait_line(rf"^done {src_last + 100}$", 30) is None:
            return not_ok(name, f"the destination stopped writing (source's last {src_last}, "
                                f"destination's last {blk_done(dst)})", [src, dst])
        if dst.grep(r"mig-blk: start|FAIL"):
            return not_ok(name, "destination guest reset or failed", [dst])
        dst.qmp.cmd("stop")
        time.sleep(0.3)
        last = blk_done(dst)
        dst.close()
        why = check_blk_image(img, last)
        if why:
            return not_ok(name, f"image after {last} writes: {why}")
        ok(f"{name} (source {src_last} writes, destination up to {last})")
    except Exception as e:   # noqa: BLE001
        not_ok(name, f"{type(e).__name__}: {e}", [src, dst])
    finally:
        cleanup()


def case_chain(emu):
    """A -> B -> C: the counter survives two hops; then C -> D again from the
    migrated state (migrating a migrated guest twice)."""
    name = f"{emu}/chain-A-B-C-D"
    hops = []
    try:
        a = start(emu, counter_args())
        if not wait_counting(a, 4):
            return not_ok(name, "A is not counting", [a])
        cur = a
        for hop in "BCD":
            port = lib.free_port()
            nxt = start(emu, counter_args(), incoming=f"tcp:127.0.0.1:{port}", name=f"{emu}-{hop}")
            wait_incoming_ready(nxt)
            info = lib.migrate(cur, f"tcp:127.0.0.1:{port}")
            if info.get("status") != "completed":
                return not_ok(name, f"hop to {hop}: {fmt_info(info)}", [cur, nxt])
            why = check_continued(name, cur, nxt)
            if why:
                return not_ok(name, f"hop to {hop}: {why}", [cur, nxt])
            hops.append(f"{hop}:{info.get('downtime')}ms")
            cur.close()
            cur = nxt
        ok(f"{name} (downtimes {' '.join(hops)})")
    except Exception as e:   # noqa: BLE001
        not_ok(name, f"{type(e).__name__}: {e}")
    finally:
        cleanup()


def case_bios(emu):
    """Migrate while SeaBIOS runs (no disk): the destination finishes the
    BIOS and reaches "No bootable device" on its debug console."""
    name = f"{emu}/during-seabios"
    port = lib.free_port()
    src = dst = None
    logs = {}

    def args(tag):
        logs[tag] = os.path.join(TMP, f"bios-{emu}-{tag}.log")
        return ["-m", "128", "-chardev", f"file,id=dbg,path={logs[tag]}",
                "-device", "isa-debugcon,iobase=0x402,chardev=dbg"]

    try:
        src = start(emu, args("src"), serial=False)
        dst = start(emu, args("dst"), incoming=f"tcp:127.0.0.1:{port}", serial=False)
        time.sleep(0.5)
        info = lib.migrate(src, f"tcp:127.0.0.1:{port}")
        if info.get("status") != "completed":
            return not_ok(name, f"migration did not complete: {fmt_info(info)}", [src, dst])
        src_log = open(logs["src"], "rb").read()
        if b"No bootable device" in src_log:
            return not_ok(name, "the BIOS had already finished on the source: migrate earlier")
        deadline = time.time() + 40
        while time.time() < deadline:
            if b"No bootable device" in open(logs["dst"], "rb").read():
                break
            time.sleep(0.2)
        else:
            tail = open(logs["dst"], "rb").read()[-200:].decode(errors="replace")
            return not_ok(name, f"destination BIOS never reached 'No bootable device': {tail!r}",
                          [dst])
        ok(f"{name} (source log {len(src_log)} bytes at the switch)")
    except Exception as e:   # noqa: BLE001
        not_ok(name, f"{type(e).__name__}: {e}", [src, dst])
    finally:
        cleanup()


# ---------------------------------------------------------------- failures
def image_with_pattern():
    img = os.path.join(TMP, f"fail-{time.time_ns()}.img")
    with open(img, "wb") as f:
        for i in range(1024):
            f.write(hashlib.sha256(struct.pack("<I", i)).digest() * 128)
    return img


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fail_args(img, mem="128", drive=True):
    extra = ["-drive", f"file={img},if=none,id=d0,format=raw",
             "-device", "virtio-blk-pci,drive=d0"] if drive and img else []
    if drive and not img:     # MIG_FAIL_DISK=0: another device that can be left out
        extra = ["-device", "virtio-balloon-pci"]
    return counter_args(mem, extra)


def check_source_survived(src):
    st = src.status()
    if st != "running":
        return f"source status {st} after the failure, expected running"
    if not counting(src):
        return "the source guest stopped counting after the failure"
    return None


def check_dest_failed(emu, dst, timeout=20):
    rc = dst.wait_exit(timeout)
    if rc is None:
        return "the destination is still running"
    if rc != 1:
        return f"destination exit status {rc}, expected 1"
    out = dst.output()
    if emu == "vmm":
        lines = [l for l in out.splitlines() if l.startswith("vmm: migration: ")]
        if not lines:
            return f"no 'vmm: migration: ...' line in the destination's output: {out[-300:]!r}"
    elif "qemu-system-x86_64:" not in out:
        return f"no error line from QEMU: {out[-300:]!r}"
    return None


def slow_source(emu, img, mib="8"):
    """A guest with a few MiB of non-zero pages and a 1 MiB/s limit: the
    transfer takes seconds (mig-dirty with a rate cap stays responsive)."""
    args = ["-m", "128", "-kernel", DIRTY, "-append", f"mib={mib} rate=1"] + EXIT_DEV
    if img:
        args += ["-drive", f"file={img},if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0"]
    return args


def dirty_alive(vm):
    n = len(vm.text())
    vm.send(b"v")
    i = vm.wait_line(r"mig-dirty: verify (ok|FAIL)", 20, start=n)
    if i is None:
        return "the source guest does not answer a verify request"
    line = vm.text()[i]
    return None if "verify ok" in line else f"source memory broken: {line}"


# MIG_FAIL_DISK=0 (diagnosis only) leaves the disk out of the failure cases.
FAIL_DISK = os.environ.get("MIG_FAIL_DISK", "1") != "0"


def fail_case(emu, label, body, extra_cleanup=None):
    name = f"{emu}/fail-{label}"
    img = image_with_pattern()
    before = digest(img)
    if not FAIL_DISK:
        name += " (no disk)"
        img = None
    try:
        why = body(emu, img)
        if why and why.startswith("SKIP "):
            return skip(name, why[5:])
        if not why and img and digest(img) != before:
            why = "the disk image changed"
        if why:
            return not_ok(name, why, list(vms))
        ok(name)
    except Exception as e:   # noqa: BLE001
        not_ok(name, f"{type(e).__name__}: {e}", list(vms))
    finally:
        cleanup()


def body_unreachable(emu, img):
    src = start(emu, fail_args(img))
    if not wait_counting(src, 4):
        return "source guest is not counting"
    port = lib.free_port()
    try:
        info = lib.migrate(src, f"tcp:127.0.0.1:{port}", timeout=30)
        st = info.get("status")
    except lib.QmpError:
        st = "failed"           # refused by the command itself (QEMU may do that)
    if st != "failed":
        return f"status {st}, expected failed"
    return check_source_survived(src)


def start_slow_pair(emu, img, dst_args=None, incoming_port=None):
    args = slow_source(emu, img)
    src = start(emu, args)
    port = incoming_port or lib.free_port()
    dst = start(emu, dst_args or args, incoming=f"tcp:127.0.0.1:{port}")
    if src.wait_line(r"mig-dirty: pass \d+", 60) is None:
        raise lib.QmpError("the source guest does not start dirtying")
    lib.set_parameter(src, "max-bandwidth", 1 << 20)
    return src, dst, port


def wait_active_transfer(src, min_bytes=256 << 10, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = src.qmp.cmd("query-migrate")
        if info.get("status") in lib.FINAL:
            return info
        if info.get("status") == "active" and info.get("ram", {}).get("transferred", 0) >= min_bytes:
            return info
        time.sleep(0.05)
    return src.qmp.cmd("query-migrate")


def after_failure(emu, src, dst, expect="failed"):
    info = lib.wait_migration(src, 30)
    if info.get("status") != expect:
        return f"source status {info.get('status')}, expected {expect} ({fmt_info(info)})"
    why = check_source_survived_dirty(src)
    if why:
        return why
    return check_dest_failed(emu, dst) if dst else None


def check_source_survived_dirty(src):
    st = src.status()
    if st != "running":
        return f"source status {st} after the failure, expected running"
    n = len(src.text())
    if src.wait_line(r"mig-dirty: pass \d+", 5, start=n) is None:
        return "the source guest stopped running after the failure"
    return dirty_alive(src)


def body_dest_killed(emu, img):
    src, dst, port = start_slow_pair(emu, img)
    src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
    info = wait_active_transfer(src)
    if info.get("status") != "active":
        return f"transfer not in progress: {fmt_info(info)}"
    dst.kill(signal.SIGKILL)
    return after_failure(emu, src, None)


def body_cut_mid_ram(emu, img):
    src, dst, port = start_slow_pair(emu, img)
    proxy = lib.CutProxy(port, cut_after=512 << 10)
    src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{proxy.port}"})
    return after_failure(emu, src, dst)


def body_cancel(emu, img):
    src, dst, port = start_slow_pair(emu, img)
    src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
    info = wait_active_transfer(src)
    if info.get("status") != "active":
        return f"transfer not in progress: {fmt_info(info)}"
    src.qmp.cmd("migrate_cancel")
    return after_failure(emu, src, dst, expect="cancelled")


def body_cut_device_state(emu, img):
    """The proxy withholds the stream's last 512 bytes (device state and the
    end marker) and closes: the destination must refuse the stream, and
    (vmm) the source must not hand the guest over without the destination's
    confirmation."""
    if emu == "qemu":
        return "SKIP QEMU 7.2's stream ends with an optional JSON description: cutting it loses nothing"
    src = start(emu, fail_args(img))
    port = lib.free_port()
    dst = start(emu, fail_args(img), incoming=f"tcp:127.0.0.1:{port}")
    if not wait_counting(src, 4):
        return "source guest is not counting"
    proxy = lib.CutProxy(port, hold_tail=512)
    src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{proxy.port}"})
    info = lib.wait_migration(src, 30)
    why = check_dest_failed(emu, dst)
    if why:
        return why
    if info.get("status") != "failed":
        return f"source status {info.get('status')}, expected failed ({fmt_info(info)})"
    return check_source_survived(src)


def body_mismatch(emu, img, dst_args_fn):
    src = start(emu, fail_args(img))
    port = lib.free_port()
    dst = start(emu, dst_args_fn(img), incoming=f"tcp:127.0.0.1:{port}")
    if not wait_counting(src, 4):
        return "source guest is not counting"
    try:
        info = lib.migrate(src, f"tcp:127.0.0.1:{port}", timeout=30)
    except lib.QmpError as e:
        return f"migrate: {e}"
    why = check_dest_failed(emu, dst)
    if why:
        return why
    if emu == "qemu":
        return None     # QEMU's source may finish sending before the refusal
    if info.get("status") != "failed":
        return f"source status {info.get('status')}, expected failed"
    return check_source_survived(src)


def body_stream_file(emu, img, damage):
    src = start(emu, fail_args(img))
    if not wait_counting(src, 4):
        return "source guest is not counting"
    f = os.path.join(TMP, f"damaged-{emu}-{damage}.mig")
    info = lib.migrate(src, f"exec:cat > {f}")
    if info.get("status") != "completed":
        return f"save: {fmt_info(info)}"
    src.close()
    with open(f, "r+b") as fh:
        size = os.path.getsize(f)
        if damage == "truncated":
            fh.truncate(size // 2)
        else:
            fh.seek(size // 2)
            b = fh.read(1)
            fh.seek(size // 2)
            fh.write(bytes([b[0] ^ 0x5a]))
    dst = start(emu, fail_args(img), incoming=f"exec:cat {f}", may_exit=True)
    why = check_dest_failed(emu, dst)
    if why:
        return why
    if dst.counts():
        return "the destination ran the guest from a damaged stream"
    return None


def case_fail(emu):
    fail_case(emu, "unreachable", body_unreachable)
    fail_case(emu, "dest-killed-mid-ram", body_dest_killed)
    fail_case(emu, "connection-cut-mid-ram", body_cut_mid_ram)
    fail_case(emu, "cancel", body_cancel)
    fail_case(emu, "cut-mid-device-state", body_cut_device_state)
    fail_case(emu, "truncated-stream", lambda e, i: body_stream_file(e, i, "truncated"))
    if emu == "vmm":        # QEMU's stream has no checksum: it loads a flipped RAM byte
        fail_case(emu, "corrupted-stream", lambda e, i: body_stream_file(e, i, "corrupted"))
    fail_case(emu, "different-m", lambda e, i: body_mismatch(e, i, lambda im: fail_args(im, "256")))
    fail_case(emu, "different-devices",
              lambda e, i: body_mismatch(e, i, lambda im: fail_args(im, drive=False)))


# ---------------------------------------------------------------- info
def case_info(emu):
    """query-migrate / info migrate while active and after completion."""
    name = f"{emu}/query-migrate-fields"
    img = None
    try:
        src, dst, port = start_slow_pair(emu, img)
        set_ok = src.qmp.cmd("query-migrate-parameters").get("max-bandwidth")
        src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        active = wait_active_transfer(src)
        hmp_active = src.qmp.hmp("info migrate")
        lib.set_parameter(src, "max-bandwidth", 1 << 30)
        done = lib.wait_migration(src, 60)
        hmp_done = src.qmp.hmp("info migrate")
        problems = []

        def need(cond, what):
            if not cond:
                problems.append(what)

        need(set_ok == 1 << 20, f"max-bandwidth reads back {set_ok}")
        need(active.get("status") == "active", f"status while running {active.get('status')}")
        ram = active.get("ram", {})
        for k in ("transferred", "remaining", "total", "duplicate", "normal", "dirty-sync-count",
                  "mbps"):
            need(k in ram, f"active ram.{k} missing")
        need(ram.get("remaining", 0) > 0, "active ram.remaining is 0")
        need(0 < ram.get("total", 0) <= (128 << 20) + (16 << 20),
             f"ram.total {ram.get('total')} for -m 128")
        need(isinstance(active.get("total-time"), int), "active total-time missing")
        need("expected-downtime" in active, "active expected-downtime missing")
        need(done.get("status") == "completed", f"final status {done.get('status')}")
        for k in ("total-time", "downtime", "setup-time"):
            need(isinstance(done.get(k), int) and done.get(k) >= 0, f"completed {k}: {done.get(k)}")
        need(done.get("total-time", 0) >= done.get("downtime", 0),
             "downtime longer than the total time")
        dram = done.get("ram", {})
        need(dram.get("transferred", 0) >= ram.get("transferred", 0) > 0,
             "ram.transferred did not grow")
        need(dram.get("remaining", 1) == 0, f"completed ram.remaining {dram.get('remaining')}")
        for text, st in ((hmp_active, "active"), (hmp_done, "completed")):
            need(re.search(rf"Migration status: {st}", text), f"info migrate lacks status {st}")
            need(re.search(r"transferred ram: \d+ kbytes", text), "info migrate lacks transferred ram")
            need(re.search(r"total time: \d+ ms", text), "info migrate lacks total time")
        need(re.search(r"downtime: \d+ ms", hmp_done), "info migrate lacks downtime")
        if problems:
            return not_ok(name, "; ".join(problems), [src])
        ok(f"{name} (total {done['total-time']} ms, downtime {done['downtime']} ms)")
    except Exception as e:   # noqa: BLE001
        not_ok(name, f"{type(e).__name__}: {e}", list(vms))
    finally:
        cleanup()


GROUPS = {
    "tcp": case_tcp, "unix": case_unix, "exec": case_exec, "file": case_file,
    "defer": case_defer, "dirty": case_dirty, "blk": case_blk, "chain": case_chain,
    "bios": case_bios, "fail": case_fail, "info": case_info,
}


# QEMU's runs validate the harness; its slowest groups (a SeaBIOS boot per
# VM) only run on request, to keep `make check` short.
QEMU_GROUPS = os.environ.get("MIG_QEMU_GROUPS", "tcp unix exec file defer blk chain bios info"
                             if os.environ.get("MIG_QEMU_ALL") != "1" else " ".join(GROUPS)).split()


def main():
    groups = sys.argv[1:] or list(GROUPS)
    for p in (COUNTER, DIRTY, BLK):
        if not os.path.exists(p):
            print(f"not ok - migration: {p} not built (make payloads)")
            return 1
    try:
        for g in groups:
            if g not in GROUPS:
                print(f"not ok - migration: unknown group {g}")
                return 1
            for emu in EMUS:
                if emu == "qemu" and g not in QEMU_GROUPS:
                    continue
                GROUPS[g](emu)
    finally:
        cleanup()
        shutil.rmtree(TMP, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
