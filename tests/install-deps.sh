#!/bin/sh
# Install the Debian packages given as arguments when any is missing.  As
# root on Debian: apt-get install.  Otherwise print the exact command and
# fail, so `make run`/`make check` never half-work on a machine without them.
missing=""
for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; then
    echo "installing missing packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || { echo "vmm: apt-get update failed" >&2; exit 1; }
    apt-get install -y -q --no-install-recommends $missing >/dev/null ||
        { echo "vmm: apt-get install$missing failed" >&2; exit 1; }
    exit 0
fi
echo "vmm: missing packages; run as root:" >&2
echo "  apt-get install -y$missing" >&2
exit 1
