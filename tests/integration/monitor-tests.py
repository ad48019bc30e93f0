#!/usr/bin/env python3
"""End-to-end monitor tests (HMP and QMP over unix sockets, the -nographic
mux through a pty), python3 standard library only.

    monitor-tests.py hmp|qmp|qtest|bad-input|pty

Runs build/payloads/counter.elf (see tests/payloads/counter.c): "counter N"
on COM1 every ~100 ms, EBX=0x1badc0de/ESI=0xfeedface in its wait loop, the
words 0xc0ffee00+i at guest physical 0x200000, ACPI power button -> S5.
VMM_CMD may hold a whole command to check the expectations against QEMU:
VMM_CMD="qemu-system-x86_64 -accel kvm -M pc -nodefaults -cpu host,-arch-capabilities".
Prints TAP lines ("ok - name", "not ok - name: why"); exits 1 if any failed.
"""
import json, os, pty, random, re, select, shlex, signal, socket, subprocess
import shutil, sys, tempfile, threading, time
from ptyread import read_until

VMM = shlex.split(os.environ.get("VMM_CMD") or os.environ.get("VMM", "build/vmm"))
PAYLOADS = os.environ.get("PAYLOADS", "build/payloads")
COUNTER = os.path.join(PAYLOADS, "counter.elf")
INT3 = os.path.join(PAYLOADS, "int3.elf")
IS_QEMU = "qemu" in os.path.basename(VMM[0])
BOOT_TIMEOUT = 30 if IS_QEMU else 10    # QEMU runs SeaBIOS first (~5 s here)
PROMPT = b"(qemu) "
ANSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")
failures = 0


def ok(name):
    print(f"ok - {name}", flush=True)


def not_ok(name, why, detail=""):
    global failures
    failures += 1
    print(f"not ok - {name}: {why}", flush=True)
    text = detail if isinstance(detail, str) else detail.decode(errors="replace")
    for line in text.splitlines()[-8:]:
        print(f"#   {line}", flush=True)


def check(name, cond, why, detail=""):
    if cond:
        ok(name)
    else:
        not_ok(name, why, detail)
    return bool(cond)


def skip(name, why):
    print(f"ok - {name} # SKIP {why}", flush=True)


def vmm_without_accel():
    """VMM_CMD without its "-accel X" words (for -accel qtest runs)."""
    out, i = [], 0
    while i < len(VMM):
        if VMM[i] == "-accel" and i + 1 < len(VMM):
            i += 2
            continue
        out.append(VMM[i])
        i += 1
    return out


# ---------------------------------------------------------------- clients

class Hmp:
    """HMP over a unix socket: readline echoes the typed text (with cursor
    escapes), then the output, then the prompt."""

    def __init__(self, path, timeout=5):
        self.sock = connect_unix(path, timeout)
        self.banner = self.read_prompt(timeout)

    def read_prompt(self, timeout=5):
        buf = b""
        deadline = time.monotonic() + timeout
        while not buf.endswith(PROMPT):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no prompt; got {buf[-300:]!r}")
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError(f"monitor closed; got {buf[-300:]!r}")
                buf += data
        return buf

    def cmd(self, line, timeout=5):
        """Run one command; its output as text with \\r\\n -> \\n, the
        echoed command line and the trailing prompt removed."""
        self.sock.sendall(line.encode() + b"\n")
        raw = ANSI.sub(b"", self.read_prompt(timeout))[: -len(PROMPT)]
        text = raw.decode(errors="replace").replace("\r\n", "\n")
        first, _, rest = text.partition("\n")
        return rest if first.endswith(line) or line.startswith(first) else text

    def close(self):
        self.sock.close()


class Qmp:
    def __init__(self, path, timeout=5, negotiate=True):
        self.sock = connect_unix(path, timeout)
        self.buf = b""
        self.events = []
        self.greeting = self.recv(timeout)
        if negotiate:
            r = self.execute("qmp_capabilities")
            if r != {"return": {}}:
                raise RuntimeError(f"qmp_capabilities answered {r}")

    def recv(self, timeout=5):
        """Next JSON object (one per line), or None on timeout/EOF."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def send_raw(self, data):
        self.sock.sendall(data)

    def response(self, timeout=5):
        """Next non-event message; events are kept in self.events."""
        while True:
            msg = self.recv(timeout)
            if msg is None or "event" not in msg:
                return msg
            self.events.append(msg)

    def execute(self, name, args=None, id=None, timeout=5):
        req = {"execute": name}
        if args is not None:
            req["arguments"] = args
        if id is not None:
            req["id"] = id
        self.send_raw(json.dumps(req).encode() + b"\n")
        return self.response(timeout)

    def wait_event(self, name, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("event") == name:
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            msg = self.recv(left)
            if msg is None:
                if not self.alive():
                    return None
                continue
            self.events.append(msg)

    def alive(self):
        return self.sock.fileno() >= 0

    def close(self):
        self.sock.close()


def connect_unix(path, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            s.settimeout(10)    # never block forever in sendall
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# ---------------------------------------------------------------- the VM

class Vm:
    """vmm (or VMM_CMD) running counter.elf with an HMP and a QMP socket."""

    def __init__(self, accel=None, hmp=True, extra=(), kernel=COUNTER):
        self.dir = tempfile.mkdtemp(prefix="vmm-mon-")
        self.serial = os.path.join(self.dir, "serial")
        self.hmp_path = os.path.join(self.dir, "hmp.sock")
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        cmd = list(VMM) if accel is None else vmm_without_accel() + ["-accel", accel]
        cmd += ["-kernel", kernel, "-serial", f"file:{self.serial}", "-display", "none",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        if hmp:
            cmd += ["-monitor", f"unix:{self.hmp_path},server=on,wait=off"]
        self.qtest_server = None
        if accel == "qtest" and not IS_QEMU:
            # vmm wants a qtest client socket with -accel qtest; we listen
            # on it and never send anything (no vCPU runs either way).
            qpath = os.path.join(self.dir, "qtest.sock")
            self.qtest_server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.qtest_server.bind(qpath)
            self.qtest_server.listen(1)
            cmd += ["-qtest", f"unix:{qpath}"]
        self.hmp2_path = os.path.join(self.dir, "hmp2.sock")
        cmd += [a.replace("@HMP2@", self.hmp2_path) for a in extra]
        self.log = open(os.path.join(self.dir, "stderr"), "w+b")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, start_new_session=True)

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def serial_text(self):
        try:
            with open(self.serial, "rb") as f:
                return f.read().decode(errors="replace").replace("\r\n", "\n")
        except OSError:
            return ""

    def serial_size(self):
        try:
            return os.path.getsize(self.serial)
        except OSError:
            return 0

    def last_counter(self):
        nums = re.findall(r"^counter (\d+)$", self.serial_text(), re.M)
        return int(nums[-1]) if nums else None

    def wait_serial(self, regex, timeout, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(regex, self.serial_text(), re.M)) >= count:
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return len(re.findall(regex, self.serial_text(), re.M)) >= count

    def wait_counter(self, timeout=BOOT_TIMEOUT):
        return self.wait_serial(r"^counter \d+$", timeout)

    def advances(self, timeout=3):
        """Does the counter grow by at least 2 within timeout?"""
        start = self.last_counter()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.last_counter()
            if now is not None and (start is None or now >= start + 2):
                return True
            time.sleep(0.05)
        return False

    def frozen(self, settle=0.3, window=0.5):
        """Serial output does not grow over window after settle seconds."""
        time.sleep(settle)
        before = self.serial_size()
        time.sleep(window)
        return self.serial_size() == before

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if self.qtest_server:
            self.qtest_server.close()
        for f in os.listdir(self.dir):
            try:
                os.unlink(os.path.join(self.dir, f))
            except OSError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


def start_vm(prefix, accel=None, hmp=True, boot=True, extra=()):
    """A Vm with its QMP (and HMP) clients, or None after a not_ok."""
    vm = Vm(accel, hmp, extra)
    try:
        qmp = Qmp(vm.qmp_path, 10)
        mon = Hmp(vm.hmp_path, 10) if hmp else None
    except Exception as e:
        not_ok(f"{prefix}-start", f"monitor sockets: {e}", vm.stderr())
        vm.kill()
        return None, None, None
    if boot and not vm.wait_counter():
        not_ok(f"{prefix}-start", "no 'counter N' line on COM1", vm.serial_text() + vm.stderr())
        vm.kill()
        return None, None, None
    ok(f"{prefix}-start")
    return vm, qmp, mon


def guarded(name, fn, *args):
    """Run one check function; an exception is a failure, not a crash."""
    try:
        return fn(*args)
    except Exception as e:
        not_ok(name, f"{type(e).__name__}: {e}")
        return None


# ---------------------------------------------------------------- HMP

def hmp_basic(vm, qmp, mon):
    check("hmp-banner", re.search(rb"^(QEMU|vmm) \d+\.\d+\.\d+ monitor - type 'help' for more information\r\n",
                                  mon.banner) and mon.banner.endswith(PROMPT),
          "no QEMU-style banner + '(qemu) ' prompt", repr(mon.banner))
    out = mon.cmd("info status")
    check("hmp-info-status-running", out.strip() == "VM status: running", repr(out))
    check("hmp-counter-advances", vm.advances(), "counter not advancing", vm.serial_text()[-200:])


def hmp_stop_cont(vm, qmp, mon):
    mon.cmd("stop")
    check("hmp-stop-freezes-guest", vm.frozen(), "serial output still growing after stop")
    out = mon.cmd("info status")
    check("hmp-info-status-paused", out.strip() == "VM status: paused", repr(out))
    mon.cmd("cont")
    check("hmp-cont-resumes-guest", vm.advances(), "counter not advancing after cont")
    out = mon.cmd("info status")
    check("hmp-info-status-running-again", out.strip() == "VM status: running", repr(out))


def loop_range(vm):
    m = re.search(r"counter: start loop=0x([0-9a-f]+)-0x([0-9a-f]+)", vm.serial_text())
    return (int(m.group(1), 16), int(m.group(2), 16)) if m else None


def reg(out, names):
    for n in names:
        m = re.search(rf"\b{n}=([0-9a-f]+)\b", out)
        if m:
            return int(m.group(1), 16)
    return None


def hmp_registers(vm, qmp, mon):
    rng = loop_range(vm)
    out = ""
    for _ in range(6):      # stopped outside the wait loop (printing): retry
        mon.cmd("stop")
        out = mon.cmd("info registers")
        mon.cmd("cont")
        rip = reg(out, ["RIP", "EIP"])
        if rng and rip is not None and rng[0] <= rip < rng[1]:
            break
        time.sleep(0.13)
    rbx, rsi, rip = reg(out, ["RBX", "EBX"]), reg(out, ["RSI", "ESI"]), reg(out, ["RIP", "EIP"])
    # The payload runs 32-bit code: QEMU's 32-bit layout (EBX=, EIP=, 8-digit bases).
    check("hmp-info-registers-rbx", rbx == 0x1badc0de and "EBX=1badc0de" in out
          and re.search(r"^EIP=[0-9a-f]{8} EFL=", out, re.M),
          "no EBX=1badc0de / EIP= in the 32-bit layout", out[:600])
    check("hmp-info-registers-rsi", rsi == 0xfeedface, "no RSI/ESI=feedface", out[:600])
    check("hmp-info-registers-rip", rng and rip is not None and rng[0] <= rip < rng[1],
          f"RIP {rip if rip is None else hex(rip)} not in the wait loop {rng}", out[:600])
    check("hmp-info-registers-segments", re.search(r"^CS =[0-9a-f]{4} [0-9a-f]+ ffffffff 00c09b00", out, re.M)
          and re.search(r"^CR0=", out, re.M), "no flat 32-bit 'CS =' / CR0= lines", out[:600])


def hmp_memory(vm, qmp, mon):
    want = "0000000000200000: 0xc0ffee00 0xc0ffee01 0xc0ffee02 0xc0ffee03"
    out = mon.cmd("xp /4wx 0x200000")
    check("hmp-xp-words", out.strip() == want, "xp /4wx 0x200000 output differs", repr(out))
    out = mon.cmd("x /4wx 0x200000")
    check("hmp-x-words-paging-off", out.strip() == want, "x /4wx 0x200000 output differs", repr(out))
    out = mon.cmd("xp /2gx 0x200000")
    check("hmp-xp-giant", out.strip() == "0000000000200000: 0xc0ffee01c0ffee00 0xc0ffee03c0ffee02",
          "xp /2gx output differs", repr(out))
    out = mon.cmd("xp /4wx 0x7fffffffff0")
    check("hmp-xp-bad-address", "Cannot access memory" in out or "rror" in out,
          "no error for an unbacked address", repr(out))
    check("hmp-xp-bad-address-alive", vm.proc.poll() is None, "vmm died")


def hmp_info(vm, qmp, mon):
    out = mon.cmd("info version")
    check("hmp-info-version", re.match(r"\d+\.\d+\.\d+", out), "no x.y.z version", repr(out))
    out = mon.cmd("info kvm")
    check("hmp-info-kvm", out.strip() == "kvm support: enabled", repr(out))
    out = mon.cmd("info cpus")
    check("hmp-info-cpus", re.match(r"\* CPU #0: thread_id=\d+\s*$", out), "not '* CPU #0: thread_id=N'", repr(out))
    out = mon.cmd("info pci")
    check("hmp-info-pci", "8086:1237" in out and "8086:7000" in out and "8086:7113" in out,
          "no 8086:1237/7000/7113", out)
    out = mon.cmd("info chardev")
    check("hmp-info-chardev", re.search(r"^serial0: filename=", out, re.M)
          and re.search(r"^compat_monitor0: filename=unix:", out, re.M), "no serial0/compat_monitor0", out)
    out = mon.cmd("info mtree")
    check("hmp-info-mtree", re.search(r"00000000000003f8-00000000000003ff \(prio \d+, i/o\): serial", out),
          "no '00000000000003f8-00000000000003ff (prio N, i/o): serial'", out[-800:])
    out = mon.cmd("help")
    missing = [c for c in ("info", "stop", "cont", "quit", "system_reset", "system_powerdown", "xp", "x ")
               if not re.search(rf"^{re.escape(c)}", out, re.M)]
    check("hmp-help", not missing, f"help does not list {missing}", out[:400])
    out = mon.cmd("help info")
    check("hmp-help-info", "info status" in out and "info registers" in out, "help info incomplete", out[:400])
    out = mon.cmd("nosuchcommand")
    check("hmp-unknown-command", out.strip() == "unknown command: 'nosuchcommand'", repr(out))


def hmp_reset(vm, qmp, mon):
    qmp.events.clear()
    mon.cmd("system_reset")
    ev = qmp.wait_event("RESET", 5)
    check("hmp-system-reset-event", ev and ev.get("data", {}).get("guest") is False
          and "timestamp" in ev, "no RESET event with guest false", json.dumps(ev))
    check("hmp-system-reset-reboots", vm.wait_serial(r"^counter: start", BOOT_TIMEOUT, 2)
          and vm.wait_serial(r"^counter 0$", BOOT_TIMEOUT, 2), "payload did not start again",
          vm.serial_text()[-300:])
    vm.advances(2)


def hmp_powerdown(vm, qmp, mon):
    qmp.events.clear()
    mon.cmd("system_powerdown")
    check("hmp-powerdown-guest-sees-button", vm.wait_serial(r"^counter: power button$", 5),
          "no 'counter: power button'", vm.serial_text()[-300:])
    ev = qmp.wait_event("POWERDOWN", 5)
    check("hmp-powerdown-event", ev is not None, "no POWERDOWN event")
    ev = qmp.wait_event("SHUTDOWN", 5)
    check("hmp-powerdown-shutdown-event", ev and ev.get("data") == {"guest": True, "reason": "guest-shutdown"},
          "no SHUTDOWN {guest: true, reason: guest-shutdown}", json.dumps(ev))
    rc = vm.wait_exit(5)
    check("hmp-powerdown-exit-0", rc == 0, f"exit status {rc}", vm.stderr())


def hmp_quit(vm, qmp, mon):
    qmp.events.clear()
    try:
        mon.sock.sendall(b"quit\n")
    except OSError:
        pass
    ev = qmp.wait_event("SHUTDOWN", 5)
    check("hmp-quit-shutdown-event", ev and ev.get("data") == {"guest": False, "reason": "host-qmp-quit"},
          "no SHUTDOWN {guest: false, reason: host-qmp-quit}", json.dumps(ev))
    rc = vm.wait_exit(5)
    check("hmp-quit-exit-0", rc == 0, f"exit status {rc}", vm.stderr())


def hmp_cpu_per_monitor():
    """cpu N on one monitor does not move another monitor's current CPU."""
    vm = Vm(extra=("-smp", "2", "-chardev", "socket,id=mon2,path=@HMP2@,server=on,wait=off",
                   "-mon", "chardev=mon2,mode=readline"))
    try:
        a, b = Hmp(vm.hmp_path, 10), Hmp(vm.hmp2_path, 10)
        a.cmd("cpu 1")
        out_a, out_b = a.cmd("info cpus"), b.cmd("info cpus")
        check("hmp-cpu-per-monitor", re.search(r"^\* CPU #1", out_a, re.M)
              and re.search(r"^\* CPU #0", out_b, re.M), "current CPU shared between monitors",
              out_a + out_b)
    except Exception as e:
        not_ok("hmp-cpu-per-monitor", f"{type(e).__name__}: {e}", vm.stderr())
    finally:
        vm.kill()


def run_hmp():
    guarded("hmp_cpu_per_monitor", hmp_cpu_per_monitor)
    vm, qmp, mon = start_vm("hmp")
    if vm:
        try:
            for fn in (hmp_basic, hmp_stop_cont, hmp_registers, hmp_memory, hmp_info,
                       hmp_reset, hmp_powerdown):
                guarded(fn.__name__, fn, vm, qmp, mon)
        finally:
            vm.kill()
    vm, qmp, mon = start_vm("hmp-quit")
    if vm:
        try:
            guarded("hmp_quit", hmp_quit, vm, qmp, mon)
        finally:
            vm.kill()


# ---------------------------------------------------------------- QMP

def is_timestamp(ev):
    ts = ev.get("timestamp") if ev else None
    return (isinstance(ts, dict) and set(ts) == {"seconds", "microseconds"}
            and isinstance(ts["seconds"], int) and isinstance(ts["microseconds"], int)
            and abs(ts["seconds"] - time.time()) < 60 and 0 <= ts["microseconds"] < 1000000)


def qmp_greeting(vm, path):
    q = Qmp(path, 5, negotiate=False)
    g = q.greeting or {}
    ver = g.get("QMP", {}).get("version", {})
    check("qmp-greeting", set(g) == {"QMP"} and set(ver.get("qemu", {})) == {"major", "minor", "micro"}
          and isinstance(ver.get("package"), str) and isinstance(g["QMP"].get("capabilities"), list),
          "greeting shape differs from QEMU's", json.dumps(g))
    r = q.execute("query-status")
    check("qmp-negotiation-required", r == {"error": {"class": "CommandNotFound",
          "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}, json.dumps(r))
    r = q.execute("qmp_capabilities", id="neg")
    check("qmp-capabilities", r == {"return": {}, "id": "neg"}, json.dumps(r))
    r = q.execute("qmp_capabilities")
    check("qmp-capabilities-twice", r and r.get("error", {}).get("class") == "CommandNotFound",
          "second qmp_capabilities not refused", json.dumps(r))
    q.close()


def qmp_queries(vm, qmp, kvm=True, prefix="qmp"):
    r = qmp.execute("query-status", id="abc")
    check(f"{prefix}-query-status", r == {"return": {"status": "running", "singlestep": False, "running": True},
                                    "id": "abc"}, json.dumps(r))
    r = qmp.execute("query-status", id=17)
    check(f"{prefix}-id-echoed-number", r and r.get("id") == 17, json.dumps(r))
    r = qmp.execute("query-status", id={"a": [1, 2]})
    check(f"{prefix}-id-echoed-object", r and r.get("id") == {"a": [1, 2]}, json.dumps(r))
    r = qmp.execute("query-version")
    v = (r or {}).get("return", {})
    check(f"{prefix}-query-version", set(v.get("qemu", {})) == {"major", "minor", "micro"}
          and isinstance(v.get("package"), str), json.dumps(r))
    r = qmp.execute("query-name")
    check(f"{prefix}-query-name", r == {"return": {}}, json.dumps(r))
    r = qmp.execute("query-kvm")
    want = {"enabled": True, "present": True} if kvm else None
    check(f"{prefix}-query-kvm", (r or {}).get("return") == want if kvm else
          (r or {}).get("return", {}).get("enabled") is False, json.dumps(r))
    r = qmp.execute("query-cpus-fast")
    cpus = (r or {}).get("return")
    one_cpu = (isinstance(cpus, list) and len(cpus) == 1 and cpus[0].get("cpu-index") == 0
               and cpus[0].get("target") == "x86_64" and isinstance(cpus[0].get("qom-path"), str)
               and isinstance(cpus[0].get("thread-id"), int))
    # -accel qtest: no vCPU runs (vmm lists none, QEMU lists its idle CPU).
    check(f"{prefix}-query-cpus-fast", one_cpu or (not kvm and isinstance(cpus, list)), json.dumps(r))
    r = qmp.execute("query-commands")
    names = {c.get("name") for c in (r or {}).get("return", []) if isinstance(c, dict)}
    need = {"qmp_capabilities", "query-status", "query-version", "query-commands", "stop", "cont",
            "quit", "system_reset", "system_powerdown", "human-monitor-command", "query-kvm",
            "query-cpus-fast", "query-block", "query-chardev", "query-name"}
    check(f"{prefix}-query-commands", need <= names, f"missing {sorted(need - names)}")
    r = qmp.execute("query-block")
    check(f"{prefix}-query-block", isinstance((r or {}).get("return"), list), json.dumps(r))
    r = qmp.execute("query-chardev")
    devs = (r or {}).get("return", [])
    labels = {d.get("label") for d in devs if isinstance(d, dict)}
    check(f"{prefix}-query-chardev", isinstance(devs, list) and "serial0" in labels
          and all({"label", "filename", "frontend-open"} <= set(d) for d in devs), json.dumps(r))
    r = qmp.execute("human-monitor-command", {"command-line": "info status"})
    check(f"{prefix}-human-monitor-command", r == {"return": "VM status: running\r\n"}, json.dumps(r))


def qmp_stop_cont(vm, qmp, prefix="qmp", guest=True):
    qmp.events.clear()
    r = qmp.execute("stop")
    check(f"{prefix}-stop", r == {"return": {}}, json.dumps(r))
    ev = qmp.wait_event("STOP", 3)
    check(f"{prefix}-stop-event", ev and is_timestamp(ev) and set(ev) <= {"event", "timestamp", "data"},
          "no STOP event with a timestamp", json.dumps(ev))
    if guest:
        check(f"{prefix}-stop-freezes-guest", vm.frozen(), "serial output still growing")
    r = qmp.execute("query-status")
    check(f"{prefix}-query-status-paused", r == {"return": {"status": "paused", "singlestep": False,
                                                            "running": False}}, json.dumps(r))
    r = qmp.execute("cont")
    check(f"{prefix}-cont", r == {"return": {}}, json.dumps(r))
    ev = qmp.wait_event("RESUME", 3)
    check(f"{prefix}-resume-event", ev and is_timestamp(ev), "no RESUME event with a timestamp", json.dumps(ev))
    if guest:
        check(f"{prefix}-cont-resumes-guest", vm.advances(), "counter not advancing")
    r = qmp.execute("query-status")
    check(f"{prefix}-query-status-running", (r or {}).get("return", {}).get("status") == "running", json.dumps(r))


def qmp_quit(vm, qmp, prefix="qmp"):
    qmp.events.clear()
    r = qmp.execute("quit")
    check(f"{prefix}-quit", r == {"return": {}}, json.dumps(r))
    # QEMU 7.2 sends the SHUTDOWN event before quit's reply.
    check(f"{prefix}-quit-event-before-reply",
          any(e.get("event") == "SHUTDOWN" for e in qmp.events),
          "SHUTDOWN did not come before the reply", json.dumps(qmp.events))
    ev = qmp.wait_event("SHUTDOWN", 5)
    check(f"{prefix}-quit-shutdown-event", ev and ev.get("data") == {"guest": False, "reason": "host-qmp-quit"}
          and is_timestamp(ev), json.dumps(ev))
    rc = vm.wait_exit(5)
    check(f"{prefix}-quit-exit-0", rc == 0, f"exit status {rc}", vm.stderr())


def qmp_reset(vm, qmp):
    qmp.events.clear()
    r = qmp.execute("system_reset")
    check("qmp-system-reset", r == {"return": {}}, json.dumps(r))
    ev = qmp.wait_event("RESET", 3)
    check("qmp-system-reset-event", ev and ev.get("data") == {"guest": False, "reason": "host-qmp-system-reset"},
          json.dumps(ev))
    check("qmp-system-reset-reboots", vm.wait_serial(r"^counter: start", BOOT_TIMEOUT, 2)
          and vm.wait_serial(r"^counter 0$", BOOT_TIMEOUT, 2), "payload did not start again")
    vm.advances(2)


def qmp_powerdown(vm, qmp):
    qmp.events.clear()
    r = qmp.execute("system_powerdown")
    check("qmp-system-powerdown", r == {"return": {}}, json.dumps(r))
    ev = qmp.wait_event("POWERDOWN", 3)
    check("qmp-powerdown-event", ev and is_timestamp(ev), json.dumps(ev))
    ev = qmp.wait_event("SHUTDOWN", 5)
    check("qmp-powerdown-shutdown-event", ev and ev.get("data") == {"guest": True, "reason": "guest-shutdown"},
          json.dumps(ev))
    check("qmp-powerdown-guest-sees-button", "counter: power button" in vm.serial_text(),
          "no 'counter: power button'", vm.serial_text()[-200:])
    rc = vm.wait_exit(5)
    check("qmp-powerdown-exit-0", rc == 0, f"exit status {rc}", vm.stderr())


def run_qmp():
    vm, qmp, _ = start_vm("qmp", hmp=False)
    if vm:
        try:
            # A QEMU socket chardev serves one client at a time: close ours.
            qmp.close()
            guarded("qmp_greeting", qmp_greeting, vm, vm.qmp_path)
            qmp = Qmp(vm.qmp_path, 5)
            guarded("qmp_queries", qmp_queries, vm, qmp)
            guarded("qmp_stop_cont", qmp_stop_cont, vm, qmp)
            guarded("qmp_reset", qmp_reset, vm, qmp)
            guarded("qmp_powerdown", qmp_powerdown, vm, qmp)
        finally:
            vm.kill()
    vm, qmp, _ = start_vm("qmp-quit", hmp=False)
    if vm:
        try:
            guarded("qmp_quit", qmp_quit, vm, qmp)
        finally:
            vm.kill()


def run_qtest():
    probe = Vm("qtest")
    time.sleep(1)
    if probe.proc.poll() is not None and "invalid accelerator" in probe.stderr():
        skip("qtest", f"{VMM[0]} has no qtest accelerator")
        probe.kill()
        return
    probe.kill()
    vm, qmp, mon = start_vm("qtest", accel="qtest", boot=False)
    if not vm:
        return
    try:
        guarded("qtest_queries", qmp_queries, vm, qmp, False, "qtest")
        guarded("qtest_stop_cont", qmp_stop_cont, vm, qmp, "qtest", False)
        out = mon.cmd("info status")
        check("qtest-hmp-info-status", out.strip() == "VM status: running", repr(out))
        check("qtest-no-guest-output", vm.serial_text() == "", "a guest ran under -accel qtest")
        guarded("qtest_quit", qmp_quit, vm, qmp, "qtest")
    finally:
        vm.kill()


# ---------------------------------------------------------------- bad input

def err_class(r):
    return (r or {}).get("error", {}).get("class")


def bad_json(vm, qmp):
    cases = [
        ("qmp-bad-array", b"[1, 2]\n", "GenericError", "QMP input must be a JSON object"),
        ("qmp-bad-string", b"\"hello\"\n", "GenericError", "QMP input must be a JSON object"),
        ("qmp-bad-no-execute", b"{\"foo\": 1}\n", "GenericError", None),
        ("qmp-bad-execute-type", b"{\"execute\": 5}\n", "GenericError", None),
        ("qmp-bad-arguments-type", b"{\"execute\": \"query-status\", \"arguments\": [1]}\n", "GenericError", None),
        ("qmp-unknown-command", b"{\"execute\": \"nosuch\"}\n", "CommandNotFound",
         "The command nosuch has not been found"),
        ("qmp-missing-arg", b"{\"execute\": \"human-monitor-command\"}\n", "GenericError",
         "Parameter 'command-line' is missing"),
        ("qmp-extra-arg", b"{\"execute\": \"query-status\", \"arguments\": {\"x\": 1}}\n", "GenericError",
         "Parameter 'x' is unexpected"),
        ("qmp-wrong-type-arg", b"{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": 5}}\n",
         "GenericError", "Invalid parameter type for 'command-line', expected: string"),
    ]
    for name, data, cls, desc in cases:
        qmp.send_raw(data)
        r = qmp.response(3)
        good = err_class(r) == cls and (desc is None or r["error"].get("desc") == desc)
        check(name, good, f"expected {cls} {desc or ''}", json.dumps(r))
    qmp.send_raw(b"{\"execute\": \n")
    qmp.send_raw(b"}\n")
    r = qmp.response(3)
    check("qmp-malformed-json", err_class(r) == "GenericError", "no GenericError", json.dumps(r))
    r = qmp.execute("query-status", id=1)
    check("qmp-resync-after-malformed", r and r.get("id") == 1 and "return" in r, json.dumps(r))


def still_fine(vm, path, name):
    """vmm alive, counter advancing, a fresh client negotiates and queries."""
    alive = vm.proc.poll() is None
    adv = alive and vm.advances(3)
    try:
        q = Qmp(path, 5)
        r = q.execute("query-status")
        q.close()
    except Exception as e:
        r = f"{type(e).__name__}: {e}"
    good = alive and adv and isinstance(r, dict) and r.get("return", {}).get("running") is True
    check(name, good, f"alive={alive} counter-advancing={adv} fresh-client={r}", vm.stderr())


def flood(path, data, negotiate):
    """Send data on a new connection; returns the responses read before EOF
    or a quiet second, and whether the peer closed."""
    q = Qmp(path, 5, negotiate=negotiate)
    try:
        q.send_raw(data)
    except OSError:
        return [], True
    out = []
    while True:
        m = None
        try:
            m = q.recv(1.5)
        except (ValueError, OSError):
            pass
        if m is None:
            break
        out.append(m)
    q.close()
    return out, False


def bad_big(vm):
    path = vm.qmp_path
    line = b"{\"execute\": \"" + b"a" * (2 << 20) + b"\"}\n"
    try:
        out, dropped = flood(path, line, True)
        good = dropped or not out or all(err_class(m) in ("GenericError", "CommandNotFound") for m in out)
        check("qmp-2mib-line", good, f"responses {str(out)[:200]}")
    except Exception as e:
        check("qmp-2mib-line", isinstance(e, (OSError, EOFError)), f"{type(e).__name__}: {e}")
    still_fine(vm, path, "qmp-2mib-line-then-fine")
    rnd = random.Random(1234)
    garbage = bytes(rnd.getrandbits(8) for _ in range(64 << 10))
    try:
        out, dropped = flood(path, garbage, True)
        good = all(err_class(m) == "GenericError" for m in out)
        check("qmp-binary-garbage", good, f"non-error responses {str(out)[:200]}")
    except Exception as e:
        check("qmp-binary-garbage", isinstance(e, OSError), f"{type(e).__name__}: {e}")
    still_fine(vm, path, "qmp-binary-garbage-then-fine")
    # HMP: garbage and a long line, then a normal command on a new client.
    try:
        vm.mon.close()
        s = connect_unix(vm.hmp_path)
        pump(s, garbage[:16384] + b"\n" + b"x" * (256 << 10) + b"\n", 20)
        s.close()
        mon = Hmp(vm.hmp_path)
        out = mon.cmd("info status")
        mon.close()
        check("hmp-garbage-then-fine", out.strip() == "VM status: running", repr(out))
    except Exception as e:
        not_ok("hmp-garbage-then-fine", f"{type(e).__name__}: {e}")


def pump(sock, data, timeout):
    """Send data while draining what the peer writes back (HMP echoes every
    byte); stop at EOF or timeout.  Returns the bytes sent."""
    sent, deadline = 0, time.monotonic() + timeout
    sock.setblocking(False)
    try:
        while sent < len(data) and time.monotonic() < deadline:
            r, w, _ = select.select([sock], [sock], [], 0.5)
            if r:
                try:
                    if not sock.recv(65536):
                        break
                except BlockingIOError:
                    pass
            if w:
                try:
                    sent += sock.send(data[sent:sent + 65536])
                except BlockingIOError:
                    pass
    except OSError:
        pass
    return sent


def bad_disconnect(vm):
    path = vm.qmp_path
    for i, data in enumerate([b"{\"execute\": \"query-st", b"{\"execute\": \"human-monitor-command\", "
                              b"\"arguments\": {\"command-line\": \"info mtree\"}}\n", b""]):
        s = connect_unix(path)
        s.sendall(b"{\"execute\": \"qmp_capabilities\"}\n" + data)
        s.close()
    s = connect_unix(vm.hmp_path)
    s.sendall(b"info reg")
    s.close()
    s = connect_unix(vm.hmp_path)
    s.sendall(b"info mtree\n")
    s.close()
    still_fine(vm, path, "disconnect-mid-command")


def one_client(path, i, results):
    try:
        q = Qmp(path, 5, negotiate=bool(i % 2))
        if i % 2:
            r = q.execute("query-status", id=i)
            results[i] = bool(r and r.get("id") == i)
        else:
            results[i] = q.greeting is not None and "QMP" in q.greeting
        q.close()
    except Exception:
        results[i] = False


def bad_many_clients(vm):
    path = vm.qmp_path
    results = {}
    for i in range(50):
        one_client(path, i, results)
    bad = [i for i, v in results.items() if not v]
    check("qmp-50-sequential-clients", not bad, f"clients {bad} failed")
    results = {}
    for round_ in range(5):
        threads = [threading.Thread(target=one_client, args=(path, round_ * 10 + i, results))
                   for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
    bad = [i for i, v in results.items() if not v]
    check("qmp-50-concurrent-clients", len(results) == 50 and not bad, f"clients {bad} failed")
    for i in range(50):
        try:
            s = connect_unix(vm.hmp_path)
            s.close()
        except OSError:
            pass
    still_fine(vm, path, "many-clients-then-fine")


def run_bad_input():
    # A QEMU socket chardev serves one client at a time: the client kept
    # open through the abuse is a second HMP monitor on its own chardev.
    vm, qmp, mon = start_vm("bad-input", extra=[
        "-chardev", "socket,id=mon2,path=@HMP2@,server=on,wait=off", "-mon", "chardev=mon2,mode=readline"])
    if not vm:
        return
    try:
        vm.mon = mon
        mon = Hmp(vm.hmp2_path, 5)
        guarded("bad_json", bad_json, vm, qmp)
        qmp.close()
        q = Qmp(vm.qmp_path, 5, negotiate=False)
        q.send_raw(b"{\"execute\": \"query-status\"}\n")
        r = q.response(3)
        check("qmp-before-negotiation", err_class(r) == "CommandNotFound", json.dumps(r))
        q.close()
        guarded("bad_big", bad_big, vm)
        guarded("bad_disconnect", bad_disconnect, vm)
        guarded("bad_many_clients", bad_many_clients, vm)
        out = guarded("hmp-original-client", mon.cmd, "info status")
        check("hmp-other-monitor-unaffected", out and out.strip() == "VM status: running", repr(out))
    finally:
        vm.kill()


# ---------------------------------------------------------------- -nographic pty


def run_pty():
    master, slave = pty.openpty()
    cmd = [w for w in VMM if w != "-nodefaults"]   # QEMU: -nodefaults drops the mux
    proc = subprocess.Popen(cmd + ["-nographic", "-kernel", COUNTER], stdin=slave, stdout=slave,
                            stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        m, out = read_until(master, rb"counter \d+\r*\n", BOOT_TIMEOUT)
        if not check("pty-serial-output", m, "no 'counter N' on the console", out):
            return
        os.write(master, b"\x01c")
        m, out = read_until(master, rb"\(qemu\) ", 3, b"")
        check("pty-ctrl-a-c-prompt", m, "no '(qemu) ' prompt after Ctrl-A c", out)
        os.write(master, b"info status\r")
        m, out = read_until(master, rb"VM status: running\r*\n", 3, b"")
        check("pty-info-status", m, "no 'VM status: running'", ANSI.sub(b"", out))
        read_until(master, rb"\(qemu\) ", 1, out)
        os.write(master, b"\x01c")
        m, out = read_until(master, rb"counter \d+\r*\n(.|\n)*counter \d+\r*\n", 3, b"")
        check("pty-ctrl-a-c-back-to-serial", m, "no serial output after the 2nd Ctrl-A c", out)
        os.write(master, b"\x01x")
        try:
            rc = proc.wait(3)
        except subprocess.TimeoutExpired:
            rc = None
        check("pty-ctrl-a-x-exit-0", rc == 0, f"exit status {rc}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


# ---------------------------------------------------------------- crash

def run_crash():
    """A KVM internal error with a monitor: the process stays, stopped in
    internal-error; system_reset + cont runs the guest again.  Only a PVM
    host fails on int3 at CPL0 (elsewhere it is an ordinary #BP)."""
    names = ["crash-stays-internal-error", "crash-stop-event", "crash-cont-refused",
             "crash-reset-cont-reruns", "crash-quit"]
    if IS_QEMU or not os.path.isdir("/sys/module/kvm_pvm"):
        for n in names:
            skip(n, "int3 at CPL0 is a KVM internal error only on PVM hosts")
        return
    vm = Vm(kernel=INT3, extra=("-S",))   # started once QMP listens for STOP
    try:
        qmp, mon = Qmp(vm.qmp_path, 10), Hmp(vm.hmp_path, 10)
        mon.cmd("cont")
        deadline = time.monotonic() + 10
        status = ""
        while time.monotonic() < deadline and "internal-error" not in status:
            status = mon.cmd("info status")
            time.sleep(0.1)
        check(names[0], "VM status: paused (internal-error)" in status and vm.proc.poll() is None,
              f"status {status!r}, process {vm.proc.poll()}", vm.stderr())
        check(names[1], qmp.wait_event("STOP", 5) is not None, "no STOP event")
        r = qmp.execute("cont")
        check(names[2], r.get("error", {}).get("desc") == "Resetting the Virtual Machine is required",
              f"cont answered {r}")
        mon.cmd("system_reset")
        mon.cmd("cont")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and vm.stderr().count("KVM internal error") < 2:
            time.sleep(0.1)
        check(names[3], vm.stderr().count("KVM internal error") == 2,
              "the guest did not run again after system_reset + cont", vm.stderr()[-400:])
        mon.sock.sendall(b"quit\n")
        check(names[4], vm.wait_exit(5) == 0, f"exit status {vm.proc.poll()}")
    except Exception as e:
        not_ok("crash", f"{type(e).__name__}: {e}", vm.stderr())
    finally:
        vm.kill()


# ---------------------------------------------------------------- devices

def run_devices():
    """Block, network and balloon commands on a guest with virtio devices."""
    tmpdir = tempfile.mkdtemp(prefix="vmm-mon-dev-")
    img = os.path.join(tmpdir, "disk.raw")
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    extra = ("-drive", f"file={img},if=none,id=d0,format=raw,cache=none",
             "-device", "virtio-blk-pci,drive=d0,addr=5",
             "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:99",
             "-device", "virtio-balloon-pci")
    vm, qmp, mon = start_vm("devices", extra=extra)
    if not vm:
        shutil.rmtree(tmpdir, ignore_errors=True)
        return
    try:
        out = mon.cmd("info pci")
        check("devices-info-pci", re.search(r"device   5, function 0:\s*\n\s*SCSI controller: PCI device 1af4:1001", out)
              and "1af4:1000" in out and "1af4:1002" in out, "virtio functions missing", out)
        out = mon.cmd("info block")
        check("devices-info-block", re.search(rf"^d0: {re.escape(img)} \(raw\)$", out, re.M)
              and re.search(r"Cache mode:\s+writeback, direct", out), "no 'd0: FILE (raw)' / cache line", out)
        out = mon.cmd("info network")
        want = ("virtio-net-pci.0: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:99\n"
                " \\ n0: index=0,type=user,net=10.0.2.0,restrict=off")
        check("devices-info-network", out.strip().replace("\r", "") == want, repr(out))
        r = qmp.execute("query-block")
        blk = (r.get("return") or [{}])[0]
        check("devices-query-block", blk.get("device") == "d0"
              and blk.get("inserted", {}).get("file") == img
              and blk.get("inserted", {}).get("image", {}).get("virtual-size") == 16 << 20, repr(r))
        r = qmp.execute("query-balloon")
        check("devices-query-balloon", r.get("return", {}).get("actual") == 128 << 20, repr(r))
        out = mon.cmd("info balloon")
        check("devices-info-balloon", out.strip() == "balloon: actual=128", repr(out))
        r = qmp.execute("balloon", {"value": 64 << 20})
        check("devices-balloon-qmp", r.get("return") == {}, repr(r))
        out = mon.cmd("balloon 0")
        check("devices-balloon-bad", "expects a size" in out, repr(out))
        r = qmp.execute("set_link", {"name": "n0", "up": False})
        check("devices-set-link", r.get("return") == {}, repr(r))
        r = qmp.execute("set_link", {"name": "nosuch", "up": True})
        check("devices-set-link-unknown", r.get("error", {}).get("class") == "DeviceNotFound", repr(r))
        check("devices-guest-alive", vm.advances(), "counter stopped")
    finally:
        vm.kill()
        shutil.rmtree(tmpdir, ignore_errors=True)


GROUPS = {"hmp": run_hmp, "qmp": run_qmp, "qtest": run_qtest, "bad-input": run_bad_input,
          "pty": run_pty, "crash": run_crash, "devices": run_devices}

if __name__ == "__main__":
    if not os.path.isfile(COUNTER):
        not_ok("monitor", f"{COUNTER} not built (make payloads)")
        sys.exit(1)
    for g in sys.argv[1:] or list(GROUPS):
        GROUPS[g]()
    sys.exit(1 if failures else 0)
