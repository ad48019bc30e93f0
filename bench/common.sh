# shellcheck shell=bash
# Shared by the bench/ scripts (sourced, not run).  The caller sets
# BENCH_NAME, VMM, QEMU, and the payload it needs in BENCH_PAYLOAD.

die() { echo "bench/$BENCH_NAME: $*" >&2; exit 1; }

# vmm and its payload built, /dev/kvm usable, Debian's QEMU installed (as
# root the script installs it: the comparison is part of every run).
bench_require() {
    [ -x "$VMM" ] || die "$VMM not built (make)"
    [ -f "$BENCH_PAYLOAD" ] || die "$BENCH_PAYLOAD not built (make payloads)"
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then die "/dev/kvm is not usable"; fi
    if ! command -v "$QEMU" >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-system-x86 >/dev/null ||
                die "apt-get install qemu-system-x86 failed"
        fi
        command -v "$QEMU" >/dev/null || die "$QEMU not found (apt-get install qemu-system-x86)"
    fi
}

# Median of the numbers on stdin, one per line ("n/a" for none).
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
