"""Shared by the integration tests: read a pty/socket fd until a pattern."""
import os
import re
import select
import time


def read_until(fd, regex, timeout, buf=b""):
    """Read fd until buf matches regex (bytes); returns (match or None, buf)."""
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(regex, buf)
        if m:
            return m, buf
        left = deadline - time.monotonic()
        if left <= 0:
            return None, buf
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            return re.search(regex, buf), buf
        buf += data
