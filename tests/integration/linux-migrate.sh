#!/bin/bash
# `make check-linux`, live migration part: the Debian test guest
# (tests/guest) migrates over TCP from vmm A to vmm B (-incoming
# tcp:127.0.0.1:PORT, QMP migrate + query-migrate) while it counts, serves
# HTTP and has two NICs.  TAP lines.
#
#   migrate           query-migrate reaches "completed"; B runs the guest
#   counter-continues a shell loop printing "mig-count N up=UPTIME" every
#                     0.5 s on the serial console keeps counting on B: B's
#                     first count follows A's last (no reset, at most one
#                     line lost at the switch), counts only grow, the
#                     guest's uptime does not go back, no new boot marker
#   tmpfs-state       /proc/sys/kernel/random/boot_id (a new one each boot)
#                     and a token the guest wrote to /tmp (tmpfs) on A read
#                     the same on B
#   hostfwd-server    busybox httpd started in the guest on A answers, with
#                     the token, through A's hostfwd before and through B's
#                     hostfwd (another host port) after the migration
#   guest-network     after the migration the guest renews its lease with
#                     udhcpc and downloads a file with wget from a host HTTP
#                     server through B's user networking, checksum equal
#   rarp-announce     B announces the NIC on -netdev socket,udp=...: the
#                     host end of that UDP link receives a RARP request
#                     (ethertype 0x8035, op 3) from the NIC's MAC
#
# Not checked, and why: a TCP connection through hostfwd (or one the guest
# opened through slirp) is not kept.  vmm does not migrate slirp's state:
# the host end of such a connection is a socket of A's process, and on one
# host B cannot even listen on A's hostfwd port while A is alive (QEMU
# migrates some slirp state, but a host socket cannot move between
# processes either).  What must survive is the guest's own state - its
# processes (the counter, httpd's listening socket), memory, tmpfs, clock -
# and B's devices must carry the guest's network on: new connections in
# both directions work on B.
#
# Like linux-boot.sh: on a PVM host or without /dev/kvm every case is
# skipped unless VMM_RUN_LINUX=1.
set -u
cd "$(dirname "$0")/../.." || exit 1
SUITE=linux-migrate
CASES="migrate counter-continues tmpfs-state hostfwd-server guest-network rarp-announce"
. tests/integration/lib-linux.sh

http_port=$(free_port)
mkdir -p "$tmp/www" && head -c 200000 /dev/urandom >"$tmp/www/blob"
(cd "$tmp/www" && exec python3 -m http.server --bind 127.0.0.1 "$http_port") >/dev/null 2>&1 &
pids+=($!)

export VMM GUEST TMPDIR_MIG=$tmp SUITE CASES LINUX_TIMEOUT HTTP_PORT=$http_port
export BLOB_MD5
BLOB_MD5=$(md5sum <"$tmp/www/blob" | cut -d' ' -f1)
python3 - <<'PY'
import importlib.util, os, re, socket, threading, time, urllib.request

spec = importlib.util.spec_from_file_location("miglib", "tests/integration/migration-lib.py")
lib = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lib)

SUITE, CASES = os.environ["SUITE"], os.environ["CASES"].split()
GUEST, TMP = os.environ["GUEST"], os.environ["TMPDIR_MIG"]
T = int(os.environ["LINUX_TIMEOUT"])
HTTP_PORT, BLOB_MD5 = os.environ["HTTP_PORT"], os.environ["BLOB_MD5"]
MAC0, MAC1 = "52:54:00:12:34:56", "52:54:00:12:34:57"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
COUNT = re.compile(r"mig-count (\d+) up=(\d+\.\d+)")
done, failures, vms = set(), 0, []


def report(case, why=None):
    global failures
    done.add(case)
    if why is None:
        print(f"ok - {SUITE}/{case}", flush=True)
    else:
        failures += 1
        print(f"not ok - {SUITE}/{case}: {why}", flush=True)


def tail(vm, n=3):
    return " | ".join(vm.text()[-n:]) if vm else "-"


# The host end of the second NIC's UDP link: every datagram is one frame.
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
frames = []                                    # (host time, frame)


def udp_reader():
    while True:
        try:
            data = udp.recv(65536)
        except OSError:
            return
        frames.append((time.time(), data))


threading.Thread(target=udp_reader, daemon=True).start()


def guest_args(fwd_port, udp_local):
    # The guest reads commands line by line from the serial port without
    # echo, so its output lines are not mixed with the commands' text; they
    # run with stdin from /dev/null so none of them eats the next ones.  ($l
    # is unquoted: the value of vmm.test cannot hold a double quote.  The
    # commands sent survive the splitting: no runs of blanks, and their only
    # glob expands the same way in eval.)
    return ["-m", "512", "-kernel", f"{GUEST}/vmlinuz", "-initrd", f"{GUEST}/initrd.img",
            "-append", 'console=ttyS0 quiet vmm.test="run:stty -echo; '
                       'while read -r l; do eval $l </dev/null; done"',
            "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{fwd_port}-:7777",
            "-device", f"virtio-net-pci,netdev=n0,mac={MAC0}",
            "-netdev", f"socket,id=n1,udp=127.0.0.1:{udp.getsockname()[1]},"
                       f"localaddr=127.0.0.1:{udp_local}",
            "-device", f"virtio-net-pci,netdev=n1,mac={MAC1}"]


def cmd(vm, line, regex, timeout=T):
    """Send one command line; the first match of regex in a later line."""
    start = len(vm.text())
    vm.send(line.encode() + b"\n")
    i = vm.wait_line(regex, timeout, start)
    return None if i is None else re.search(regex, vm.text()[i])


def http_get(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=20) as r:
            return r.read().decode().strip()
    except OSError as e:
        return f"error: {e}"


def counts(vm):
    return [(int(m.group(1)), float(m.group(2))) for t in vm.text() for m in [COUNT.search(t)] if m]


def wait_counts(vm, n, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline and len(counts(vm)) < n:
        time.sleep(0.2)
    return counts(vm)


def run():
    fwd_a, fwd_b = lib.free_port(), lib.free_port()
    a = lib.Vm("vmm", TMP, guest_args(fwd_a, lib.free_port()), name="A")
    vms.append(a)
    if a.wait_line("VMM-GUEST-UP", T) is None:
        return f"A did not boot: {tail(a)} / {a.output_tail()}"
    # The reader loop starts after the marker: probe until it answers.
    deadline = time.time() + T
    while not cmd(a, "echo READY-$((3+4))", r"^READY-7$", 5):
        if time.time() > deadline:
            return f"A's command loop does not answer: {tail(a)}"
    # The NIC on user networking by its MAC; udhcpc's script where
    # build-guest.sh put it (Debian's busybox looks in /etc/udhcpc).
    if not cmd(a, f"IF=$(grep -l {MAC0} /sys/class/net/*/address | cut -d/ -f5); "
                  "S=/etc/udhcpc/default.script; [ -x $S ] || S=/usr/share/udhcpc/default.script; "
                  "udhcpc -i $IF -s $S -q -n | grep lease; echo DHCP-$((1+1))", r"^DHCP-2"):
        return f"udhcpc on A did not finish: {tail(a)}"
    m = cmd(a, "cat /proc/sys/kernel/random/uuid >/tmp/mig-token; mkdir -p /www; "
               "cp /tmp/mig-token /www/index.html; httpd -p 7777 -h /www; "
               'echo "state tok=$(cat /tmp/mig-token) boot=$(cat /proc/sys/kernel/random/boot_id)"',
            rf"state tok=({UUID}) boot=({UUID})")
    if not m:
        return f"no token/boot id from A: {tail(a)}"
    token, boot = m.group(1), m.group(2)
    before = http_get(fwd_a)
    cmd(a, "(i=0; while :; do i=$((i+1)); read -r up x </proc/uptime; "
           'echo "mig-count $i up=$up"; sleep 0.5; done) &', r"mig-count \d+")
    if len(wait_counts(a, 3, T)) < 3:
        return f"the counter does not run on A: {tail(a)}"

    mig_port = lib.free_port()
    b = lib.Vm("vmm", TMP, guest_args(fwd_b, lib.free_port()), name="B",
               incoming=f"tcp:127.0.0.1:{mig_port}")
    vms.append(b)
    t_mig = time.time()
    info = lib.migrate(a, f"tcp:127.0.0.1:{mig_port}", timeout=max(T, 60))
    if info.get("status") != "completed":
        return f"migration did not complete: {info}; B: {b.output_tail()}"
    time.sleep(1)                      # A's serial socket drains; A is paused
    a_counts = counts(a)
    a.kill()
    try:
        b_status = b.status()
    except lib.QmpError as e:
        b_status = str(e)
    if b_status != "running":
        return f"B is '{b_status}' after the migration: {b.output_tail()}"
    report("migrate")
    print(f"# downtime {info.get('downtime')} ms, total {info.get('total-time')} ms", flush=True)

    # counter-continues
    b_counts = wait_counts(b, 4, T)
    if len(b_counts) < 4:
        report("counter-continues", f"B printed {len(b_counts)} counts: {tail(b)}")
    else:
        last_a, up_a = a_counts[-1]
        nums = [n for n, _ in b_counts]
        ups = [u for _, u in b_counts]
        print(f"# A's last count {last_a} (uptime {up_a}), B's first {nums[0]} ({ups[0]})",
              flush=True)
        if not last_a < nums[0] <= last_a + 2:
            why = f"A's last count {last_a}, B's first {nums[0]}"
        elif any(y <= x for x, y in zip(nums, nums[1:])):
            why = f"B's counts do not grow: {nums}"
        elif ups[0] < up_a or any(y < x for x, y in zip(ups, ups[1:])):
            why = f"uptime went back: A {up_a}, B {ups}"
        elif b.grep("VMM-GUEST-UP"):
            why = "the guest booted again on B"
        else:
            why = None
        report("counter-continues", why)

    # tmpfs-state
    m = cmd(b, 'echo "state tok=$(cat /tmp/mig-token) boot=$(cat /proc/sys/kernel/random/boot_id)"',
            rf"state tok=({UUID}) boot=({UUID})")
    if not m:
        report("tmpfs-state", f"B does not answer: {tail(b)}")
    elif (m.group(1), m.group(2)) != (token, boot):
        report("tmpfs-state", f"A: tok={token} boot={boot}; B: tok={m.group(1)} boot={m.group(2)}")
    else:
        report("tmpfs-state")

    # hostfwd-server
    after = http_get(fwd_b)
    if before != token:
        report("hostfwd-server", f"before the migration, through A's hostfwd: '{before}'")
    elif after != token:
        report("hostfwd-server", f"after the migration, through B's hostfwd: '{after}'")
    else:
        report("hostfwd-server")

    # guest-network
    m = cmd(b, f"udhcpc -i $IF -s $S -q -n | grep lease; wget -q -O - http://10.0.2.2:{HTTP_PORT}/blob "
               "| md5sum; echo NET-$((2+2))", r"^NET-4")
    lease = b.grep(r"udhcpc: lease 10\.0\.2\.15")
    got = b.grep(r"^[0-9a-f]{32}  -")
    if not m:
        report("guest-network", f"B's guest did not finish: {tail(b)}")
    elif not lease:
        report("guest-network", f"no lease on B: {tail(b)}")
    elif not got or got[-1].split()[0] != BLOB_MD5:
        report("guest-network", f"download md5 {got[-1:] or 'none'}, host {BLOB_MD5}")
    else:
        report("guest-network")

    # rarp-announce: frames from B's NIC since the migration began.
    mac = bytes.fromhex(MAC1.replace(":", ""))
    rarp = [f for t, f in frames if t >= t_mig and len(f) >= 42 and f[12:14] == b"\x80\x35"
            and f[6:12] == mac and f[20:22] == b"\x00\x03" and f[22:28] == mac]
    if rarp:
        report("rarp-announce")
    else:
        kinds = sorted({f[12:14].hex() for _, f in frames if len(f) >= 14})
        report("rarp-announce", f"no RARP from {MAC1} on the UDP link ({len(frames)} frames, "
                                f"ethertypes {kinds})")
    return None


try:
    why = run()
except Exception as e:                      # noqa: BLE001 - reported as a failure
    why = f"{type(e).__name__}: {e}"
finally:
    for vm in vms:
        vm.close()
for c in CASES:
    if c not in done:
        report(c, why or "not reached")
raise SystemExit(1 if failures else 0)
PY
