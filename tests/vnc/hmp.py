#!/usr/bin/env python3
"""hmp.py SOCKET COMMAND...: run HMP commands on a monitor listening on a
UNIX socket (-monitor unix:PATH,server=on,wait=off) and print their output.
Exits 1 if the monitor does not answer within 10 s."""
import socket
import sys
import time

PROMPT = b"(qemu) "


def read_prompt(s, deadline):
    buf = b""
    while not buf.endswith(PROMPT):
        s.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = s.recv(4096)
        if not chunk:
            raise EOFError("monitor closed the connection")
        buf += chunk
    return buf[: -len(PROMPT)]


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: hmp.py SOCKET COMMAND...")
    deadline = time.monotonic() + 10
    while True:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[1])
            break
        except OSError as e:
            if time.monotonic() > deadline:
                sys.exit(f"hmp.py: {sys.argv[1]}: {e}")
            time.sleep(0.1)
    try:
        read_prompt(s, deadline)
        for cmd in sys.argv[2:]:
            s.sendall(cmd.encode() + b"\n")
            out = read_prompt(s, time.monotonic() + 10).decode(errors="replace")
            # The monitor echoes the command line first.
            lines = [l for l in out.replace("\r", "").split("\n") if l.strip() != cmd.strip()]
            sys.stdout.write("\n".join(l for l in lines if l) + ("\n" if any(lines) else ""))
    except (OSError, EOFError) as e:
        sys.exit(f"hmp.py: {e}")


main()
