#!/usr/bin/env python3
"""Write pattern sectors for the firmware boot media (tests/bios/build.sh).

usage: mkpattern.py OUT SECTOR_SIZE FIRST COUNT

Sector K (FIRST <= K < FIRST + COUNT) holds K as a little-endian dword in
bytes 0-3 and (K * 7 + I) mod 256 in byte I >= 4: what check_sector in
tests/bios/common.inc and tests/qtest/ide-test.c expect.
"""
import sys


def sector(k, size):
    ramp = bytes(range(256)) * (size // 256 + 2)
    start = (k * 7 + 4) % 256
    return k.to_bytes(4, "little") + ramp[start:start + size - 4]


def main():
    out, size, first, count = sys.argv[1], *map(int, sys.argv[2:5])
    with open(out, "wb") as f:
        for k in range(first, first + count):
            f.write(sector(k, size))


main()
