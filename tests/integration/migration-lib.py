"""Shared by migration-tests.py and bench/migrate.sh: start VMMs (vmm or
QEMU) with a QMP socket and a serial socket, talk QMP (stdlib only), run a
migration and wait for its end, and a stream-cutting proxy."""
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time

VMM = os.environ.get("VMM", "build/vmm")
QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
PAYLOADS = os.environ.get("PAYLOADS", "build/payloads")
EMU_ARGS = {
    "vmm": lambda: shlex.split(VMM) + ["-nodefaults", "-display", "none"],
    "qemu": lambda: shlex.split(QEMU) + ["-accel", "kvm", "-M", "pc", "-nodefaults",
                                         "-cpu", "host,-arch-capabilities", "-display", "none"],
}
FINAL = ("completed", "failed", "cancelled")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def connect_unix(path, timeout):
    deadline = time.time() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.02)


class QmpError(Exception):
    pass


class Qmp:
    """A QMP client: greeting, qmp_capabilities, commands, events kept."""

    def __init__(self, path, timeout=15):
        self.sock = connect_unix(path, timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        greeting = self._read()
        if "QMP" not in greeting:
            raise QmpError(f"no QMP greeting: {greeting}")
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise QmpError("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None, timeout=30):
        req = {"execute": name}
        if args is not None:
            req["arguments"] = args
        self.sock.settimeout(timeout)
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        while True:
            msg = self._read()
            if "event" in msg:
                self.events.append(msg)
                continue
            if "error" in msg:
                raise QmpError(f"{name}: {msg['error'].get('desc', msg['error'])}")
            return msg.get("return")

    def hmp(self, line):
        return self.cmd("human-monitor-command", {"command-line": line})

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Vm:
    """One VMM process: QMP on a unix socket, COM1 on a unix socket whose
    lines are collected with their host arrival times."""
    seq = 0

    def __init__(self, emu, tmp, args, incoming=None, name=None, serial=True, may_exit=False):
        Vm.seq += 1
        self.emu = emu
        self.name = name or f"{emu}{Vm.seq}"
        base = os.path.join(tmp, self.name)
        self.qmp_path, self.ser_path, self.log_path = base + ".qmp", base + ".ser", base + ".log"
        cmd = EMU_ARGS[emu]() + args + ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        if serial:
            # A destination may run the guest as soon as it starts (file:,
            # exec:): wait for our reader, or its first output is dropped.
            wait = "on" if incoming else "off"
            cmd += ["-serial", f"unix:{self.ser_path},server=on,wait={wait}"]
        if incoming:
            cmd += ["-incoming", incoming]
        self.cmd = cmd
        self.lines = []            # (host time, text) of complete lines
        self.partial = b""
        self.lock = threading.Lock()
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.ser = None
        self.qmp = None
        try:
            if serial:
                self.ser = connect_unix(self.ser_path, 15)
                threading.Thread(target=self._reader, daemon=True).start()
            self.qmp = Qmp(self.qmp_path)
        except Exception as e:
            # may_exit: a destination that refuses its stream at once may be
            # gone before its monitor answers; the caller checks its exit.
            if may_exit and self.wait_exit(5) is not None:
                return
            raise QmpError(f"{self.name} did not come up ({e}): {self.output_tail()}")

    def _reader(self):
        while True:
            try:
                data = self.ser.recv(65536)
            except OSError:
                return
            if not data:
                return
            now = time.time()
            with self.lock:
                self.partial += data
                while b"\n" in self.partial:
                    line, self.partial = self.partial.split(b"\n", 1)
                    self.lines.append((now, line.decode(errors="replace").strip("\r")))

    def send(self, data):
        self.ser.sendall(data)

    def text(self):
        with self.lock:
            return [t for _, t in self.lines]

    def grep(self, regex):
        r = re.compile(regex)
        return [t for t in self.text() if r.search(t)]

    def wait_line(self, regex, timeout, start=0):
        """Index of the first line from `start` matching regex, or None."""
        r = re.compile(regex)
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for i in range(start, len(self.lines)):
                    if r.search(self.lines[i][1]):
                        return i
            if self.proc.poll() is not None:
                time.sleep(0.1)
                deadline = min(deadline, time.time() + 0.2)
            time.sleep(0.02)
        return None

    def counts(self):
        """(host time, N) of every complete mig-counter line."""
        r = re.compile(r"^count (\d+) tsc_ms=\d+ clock_ms=\d+$")
        with self.lock:
            return [(t, int(m.group(1))) for t, s in self.lines for m in [r.match(s)] if m]

    def status(self):
        return self.qmp.cmd("query-status")["status"]

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def output(self):
        if not self.logf.closed:
            self.logf.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def output_tail(self, n=3):
        return " | ".join(self.output().strip().splitlines()[-n:])

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except OSError:
                pass
            self.wait_exit(10)

    def close(self):
        if self.qmp:
            self.qmp.close()
        if self.ser:
            try:
                self.ser.close()
            except OSError:
                pass
        self.kill()
        self.logf.close()


def set_capability(vm, cap, on=True):
    vm.qmp.cmd("migrate-set-capabilities",
               {"capabilities": [{"capability": cap, "state": on}]})


def set_parameter(vm, name, value):
    vm.qmp.cmd("migrate-set-parameters", {name: value})


def wait_migration(vm, timeout, poll=0.05):
    """query-migrate until a final status; returns the last answer."""
    deadline = time.time() + timeout
    info = {}
    while time.time() < deadline:
        info = vm.qmp.cmd("query-migrate")
        if info.get("status") in FINAL:
            return info
        time.sleep(poll)
    return info


def migrate(vm, uri, timeout=60):
    vm.qmp.cmd("migrate", {"uri": uri})
    return wait_migration(vm, timeout)


class CutProxy:
    """Forwards a migration stream 127.0.0.1:listen -> 127.0.0.1:target (and
    the return direction).  cut_after=N: close both ends once N bytes of
    the forward stream have passed (mid-stream).  hold_tail=N: keep the last
    N bytes back, and when the source closes, close the destination without
    them (the stream loses its end: device state, end marker)."""

    def __init__(self, target_port, cut_after=None, hold_tail=None):
        self.target_port = target_port
        self.cut_after, self.hold_tail = cut_after, hold_tail
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.forwarded = 0
        self.done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        try:
            src, _ = self.lsock.accept()
            dst = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:
            self.done.set()
            return
        threading.Thread(target=self._back, args=(dst, src), daemon=True).start()
        pending = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.cut_after is not None and self.forwarded + len(data) >= self.cut_after:
                    dst.sendall(data[:self.cut_after - self.forwarded])
                    self.forwarded = self.cut_after
                    break
                pending += data
                keep = self.hold_tail or 0
                if len(pending) > keep:
                    out, pending = pending[:len(pending) - keep], pending[len(pending) - keep:]
                    dst.sendall(out)
                    self.forwarded += len(out)
        except OSError:
            pass
        for s in (dst, src):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.done.set()

    @staticmethod
    def _back(dst, src):
        try:
            while True:
                data = dst.recv(65536)
                if not data:
                    return
                src.sendall(data)
        except OSError:
            return
