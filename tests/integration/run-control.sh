#!/bin/bash
# Interactive run control and serial backends, driven from python3 (stdlib
# pty/socket/termios).  TAP lines.
#   stdio-mux-*      vmm -nographic in a pty: payload output shows, Ctrl-A h
#                    prints the help, Ctrl-A x exits 0 within 2 s, and the
#                    tty attributes afterwards equal those before
#   serial-pty       -serial pty announces "char device redirected to
#                    /dev/pts/N (label serial0)"; the payload talks over it
#   serial-tcp-server  -serial tcp:127.0.0.1:PORT,server=on,wait=off
#   serial-unix-wait   -serial unix:PATH,server=on,wait=on: the guest runs
#                    only once a client is connected (first prompt is 0)
# VMM_CMD (default: $VMM) may hold a whole command, to check the
# expectations against QEMU: VMM_CMD="qemu-system-x86_64 -accel kvm -M pc".
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VMM=${VMM:-$PWD/$BUILD/vmm}
VMM_CMD=${VMM_CMD:-$VMM}
PAYLOADS=${PAYLOADS:-$PWD/$BUILD/payloads}

[ -x "${VMM_CMD%% *}" ] || command -v "${VMM_CMD%% *}" >/dev/null ||
    { echo "not ok - run-control: $VMM_CMD not built"; exit 1; }
for p in spin.elf echo.elf; do
    [ -f "$PAYLOADS/$p" ] || { echo "not ok - run-control: $PAYLOADS/$p not built (make payloads)"; exit 1; }
done
command -v python3 >/dev/null || { echo "ok - run-control # SKIP no python3"; exit 0; }

export VMM_CMD PAYLOADS
exec python3 - <<'EOF'
import os, pty, re, select, shlex, signal, socket, subprocess, sys, tempfile, termios, time
sys.path.insert(0, "tests/integration")
from ptyread import read_until  # noqa: E402

VMM = shlex.split(os.environ["VMM_CMD"])
PAYLOADS = os.environ["PAYLOADS"]
EXIT_DEV = ["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
ST_PASS = 1          # isa-debug-exit code 0
failures = 0


def ok(name):
    print(f"ok - {name}", flush=True)


def not_ok(name, why, out=b""):
    global failures
    failures += 1
    print(f"not ok - {name}: {why}", flush=True)
    for line in out.decode(errors="replace").splitlines()[-6:]:
        print(f"#   {line}", flush=True)


def wait_exit(proc, timeout):
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def stop(proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_stdio_mux():
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen(VMM + ["-nographic", "-kernel", f"{PAYLOADS}/spin.elf"],
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    try:
        m, out = read_until(master, rb"spinning", 10)
        if not m:
            return not_ok("stdio-mux-output", "no 'spinning' from the payload", out)
        ok("stdio-mux-output")
        os.write(master, b"\x01h")
        m, out = read_until(master, rb"C-a x +exit", 2, out)
        if m:
            ok("stdio-mux-help")
        else:
            not_ok("stdio-mux-help", "Ctrl-A h printed no help", out)
        t0 = time.monotonic()
        os.write(master, b"\x01x")
        rc = wait_exit(proc, 2)
        if rc is None:
            not_ok("stdio-mux-exit", "still running 2 s after Ctrl-A x", out)
        elif rc != 0:
            not_ok("stdio-mux-exit", f"exit status {rc}, expected 0", out)
        else:
            ok(f"stdio-mux-exit")
        after = termios.tcgetattr(slave)
        if proc.poll() is None:
            not_ok("stdio-termios-restored", "vmm did not exit")
        elif after != before:
            diff = [i for i in range(len(after)) if after[i] != before[i]]
            not_ok("stdio-termios-restored", f"termios fields {diff} differ after exit")
        else:
            ok("stdio-termios-restored")
    finally:
        stop(proc)
        os.close(master)
        os.close(slave)


def talk(name, fd, proc, out=b""):
    """Speak the echo payload's protocol over fd; check PASS and status."""
    m, out = read_until(fd, rb"echo: ready \d+", 10, out)
    if not m:
        return not_ok(name, "no prompt from the payload", out)
    os.write(fd, b"hello\r")
    m, out = read_until(fd, rb"got 'hello'", 5, out)
    if not m:
        return not_ok(name, "input did not reach the guest", out)
    os.write(fd, b"quit\r")
    m, out = read_until(fd, rb"PASS: echo", 5, out)
    rc = wait_exit(proc, 5)
    if not m:
        not_ok(name, "no PASS after 'quit'", out)
    elif rc != ST_PASS:
        not_ok(name, f"exit status {rc}, expected {ST_PASS}", out)
    else:
        ok(name)
    return out


def test_serial_pty():
    proc = subprocess.Popen(VMM + ["-display", "none", "-serial", "pty", *EXIT_DEV,
                                   "-kernel", f"{PAYLOADS}/echo.elf"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)   # QEMU 7.2 prints it on stdout
    fd = None
    try:
        m, err = read_until(proc.stdout.fileno(),
                            rb"char device redirected to (/dev/pts/\d+) \(label serial0\)", 10)
        if not m:
            return not_ok("serial-pty", "no 'char device redirected to ...' line", err)
        fd = os.open(m.group(1).decode(), os.O_RDWR | os.O_NOCTTY)
        attrs = termios.tcgetattr(fd)          # raw: no echo, no CR/LF mapping
        attrs[3] &= ~(termios.ECHO | termios.ICANON)
        attrs[1] &= ~termios.OPOST
        attrs[0] &= ~(termios.ICRNL | termios.INLCR)
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        talk("serial-pty", fd, proc)
    finally:
        if fd is not None:
            os.close(fd)
        stop(proc)


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def connect_retry(family, addr, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.connect(addr)
            return s
        except OSError:
            s.close()
            time.sleep(0.05)
    return None


def test_serial_tcp():
    port = free_tcp_port()
    proc = subprocess.Popen(VMM + ["-display", "none", *EXIT_DEV, "-serial",
                                   f"tcp:127.0.0.1:{port},server=on,wait=off",
                                   "-kernel", f"{PAYLOADS}/echo.elf"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        s = connect_retry(socket.AF_INET, ("127.0.0.1", port), proc)
        if not s:
            return not_ok("serial-tcp-server", f"cannot connect to port {port}",
                          proc.stdout.read() if proc.poll() is not None else b"")
        with s:
            talk("serial-tcp-server", s.fileno(), proc)
    finally:
        stop(proc)


def test_serial_unix_wait():
    d = tempfile.mkdtemp()
    path = os.path.join(d, "serial.sock")
    proc = subprocess.Popen(VMM + ["-display", "none", *EXIT_DEV, "-serial",
                                   f"unix:{path},server=on,wait=on",
                                   "-kernel", f"{PAYLOADS}/echo.elf"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            if os.path.exists(path) or proc.poll() is not None:
                break
            time.sleep(0.05)
        time.sleep(1.0)     # with wait=off the guest would print prompts now
        if proc.poll() is not None:
            return not_ok("serial-unix-wait", f"exited ({proc.returncode}) while waiting",
                          proc.stdout.read())
        s = connect_retry(socket.AF_UNIX, path, proc)
        if not s:
            return not_ok("serial-unix-wait", f"cannot connect to {path}")
        with s:
            m, out = read_until(s.fileno(), rb"echo: ready \d+", 10)
            if not m:
                return not_ok("serial-unix-wait", "no prompt", out)
            if m.group(0) != b"echo: ready 0":
                return not_ok("serial-unix-wait",
                              f"first prompt is '{m.group(0).decode()}': guest ran before "
                              "the client connected", out)
            talk("serial-unix-wait", s.fileno(), proc, out)
    finally:
        stop(proc)
        try:
            os.unlink(path)
        except OSError:
            pass
        os.rmdir(d)


for t in (test_stdio_mux, test_serial_pty, test_serial_tcp, test_serial_unix_wait):
    t()
sys.exit(1 if failures else 0)
EOF
