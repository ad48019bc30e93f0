#!/bin/bash
# vmm-img against qemu-img on the same inputs: every command's result is
# checked with qemu-img (check, compare, info) and its output with
# qemu-img's (JSON compared field by field, human text line by line).  Bad
# inputs must give one line "vmm-img: ...", exit status 1 and leave the
# input file unchanged.  TAP lines; skips when qemu-img is missing.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
IMG=${VMM_IMG:-$PWD/$BUILD/vmm-img}
case $IMG in /*) ;; *) IMG=$PWD/$IMG ;; esac
failures=0

pass() { echo "ok - vmm-img/$1"; }
fail() { echo "not ok - vmm-img/$1: $2"; failures=$((failures + 1)); }
skip() { echo "ok - vmm-img/$1 # SKIP $2"; }
check() { if [ "$2" = 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }   # name status why

[ -x "$IMG" ] || { echo "not ok - vmm-img: $IMG not built"; exit 1; }
for t in qemu-img qemu-io python3; do
    command -v $t >/dev/null || { skip all "$t not installed (qemu-utils)"; exit 0; }
done

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
export TZ=UTC

# json_equal A B: the JSON documents in files A and B agree on every key
# both have (recursively); prints the first difference.
json_equal() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def cmp(x, y, path):
    if isinstance(x, dict) and isinstance(y, dict):
        for k in x.keys() & y.keys():
            cmp(x[k], y[k], path + "." + k)
        return
    if isinstance(x, list) and isinstance(y, list):
        if len(x) != len(y):
            sys.exit(f"{path}: {len(x)} vs {len(y)} entries")
        for i, (p, q) in enumerate(zip(x, y)):
            cmp(p, q, f"{path}[{i}]")
        return
    if x != y:
        sys.exit(f"{path}: {x!r} vs {y!r}")
cmp(a, b, "")
# Keys qemu-img has that we lack are differences too (besides ones that
# depend on QEMU's block graph only).
def keys(x, path=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield path + "." + k
            yield from keys(v, path + "." + k)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from keys(v, f"{path}[{i}]")
missing = set(keys(b)) - set(keys(a))
if missing:
    sys.exit("missing keys: " + ", ".join(sorted(missing)))
EOF
}

# same_output NAME CMD...: vmm-img CMD and qemu-img CMD print the same
# stdout and exit status.
same_output() {
    local name=$1; shift
    "$IMG" "$@" >v.out 2>v.err; local rv=$?
    qemu-img "$@" >q.out 2>q.err; local rq=$?
    if [ $rv -ne $rq ]; then
        fail "$name" "exit $rv, qemu-img $rq ($(head -n 1 v.err))"
    elif ! diff -u q.out v.out >d.out; then
        fail "$name" "output differs: $(grep '^[-+][^-+]' d.out | head -n 2 | tr '\n' '|')"
    else
        pass "$name"
    fi
}

# same_json NAME CMD...: both print JSON (with --output=json) that agrees.
same_json() {
    local name=$1; shift
    "$IMG" "$@" --output=json >v.json 2>v.err; local rv=$?
    qemu-img "$@" --output=json >q.json 2>q.err; local rq=$?
    local why
    if [ $rv -ne $rq ]; then
        fail "$name" "exit $rv, qemu-img $rq ($(head -n 1 v.err))"
    elif ! why=$(json_equal v.json q.json 2>&1); then
        fail "$name" "$why"
    else
        pass "$name"
    fi
}

qcheck_clean() {   # name image
    local out
    out=$(qemu-img check "$2" 2>&1)
    check "$1" $? "qemu-img check: $(echo "$out" | head -n 2 | tr '\n' ' ')"
}

qcompare() {   # name a b
    local out
    out=$(qemu-img compare "$2" "$3" 2>&1)
    check "$1" $? "qemu-img compare: $out"
}

# Images qemu-img makes, with data written by qemu-io.
make_inputs() {
    qemu-img create -q -f qcow2 v3.qcow2 64M
    qemu-io -c 'write -P 0x5a 0 192k' -c 'write -P 0xa5 5M 64k' -c 'write -z 8M 128k' \
        v3.qcow2 >/dev/null
    qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=4096 v2.qcow2 16M
    qemu-io -c 'write -P 0x11 4k 12k' -c 'write -P 0x22 1M 4k' v2.qcow2 >/dev/null
    qemu-img create -q -f qcow2 -b v3.qcow2 -F qcow2 ov.qcow2
    qemu-io -c 'write -P 0x77 64k 64k' -c 'write -P 0x78 6M 4k' ov.qcow2 >/dev/null
    qemu-img convert -c -O qcow2 v3.qcow2 comp.qcow2
    qemu-img create -q -f qcow2 -o refcount_bits=8,lazy_refcounts=on lz.qcow2 8M
    qemu-io -c 'write -P 0x42 0 64k' lz.qcow2 >/dev/null
    cp v3.qcow2 snap.qcow2
    qemu-img snapshot -c first snap.qcow2
    qemu-io -c 'write -P 0x99 0 64k' snap.qcow2 >/dev/null
    qemu-img snapshot -c second snap.qcow2
    qemu-img convert -O raw ov.qcow2 ov.raw
}
make_inputs || { fail setup "qemu-img could not make the inputs"; exit 1; }
INPUTS="v3.qcow2 v2.qcow2 ov.qcow2 comp.qcow2 lz.qcow2 snap.qcow2 ov.raw"

# ---- create: qemu-img check and info agree with what was asked ----
create_case() {   # name size args...
    local name=create/$1 size=$2; shift 2
    rm -f new.img
    if ! "$IMG" create -q "$@" new.img $size 2>err; then
        fail "$name" "$(head -n 1 err)"; return
    fi
    if [[ " $* " == *" qcow2 "* ]]; then
        qemu-img check new.img >/dev/null 2>&1 || { fail "$name" "qemu-img check failed"; return; }
    fi
    qemu-img create -q "$@" ref.img $size 2>/dev/null
    "$IMG" info --output=json new.img >v.json && qemu-img info --output=json ref.img >q.json
    sed -i 's/"ref.img"/"new.img"/' q.json
    local why
    # actual-size depends on preallocation choices only; compare the rest.
    if why=$(python3 - v.json q.json <<'EOF' 2>&1
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for d in (a, b):
    d.pop("actual-size", None)
if a != b:
    sys.exit(f"info differs: {a} vs {b}")
EOF
    ); then pass "$name"; else fail "$name" "$why"; fi
}
create_case raw 10M -f raw
create_case qcow2-default 64M -f qcow2
create_case qcow2-v2-4k 16M -f qcow2 -o compat=0.10,cluster_size=4k
create_case qcow2-lazy-rc8 1G -f qcow2 -o lazy_refcounts=on,refcount_bits=8
create_case qcow2-rc1 32M -f qcow2 -o refcount_bits=1
create_case qcow2-rc64 32M -f qcow2 -o refcount_bits=64,cluster_size=512
create_case qcow2-prealloc-metadata 8M -f qcow2 -o preallocation=metadata
create_case qcow2-prealloc-full 4M -f qcow2 -o preallocation=full
create_case qcow2-backing "" -f qcow2 -b v3.qcow2 -F qcow2
create_case qcow2-2M-clusters 100G -f qcow2 -o cluster_size=2M
same_output create/formatting-line create -f qcow2 -o cluster_size=4k,lazy_refcounts=on f.qcow2 3M

# ---- info, map, snapshot -l: same output as qemu-img ----
for f in $INPUTS; do
    same_json "info-json/$f" info "$f"
    same_output "info/$f" info "$f"
done
same_json info-json/backing-chain info --backing-chain ov.qcow2
same_output info/backing-chain info --backing-chain ov.qcow2
for f in v3.qcow2 v2.qcow2 ov.qcow2 comp.qcow2 snap.qcow2 ov.raw; do
    same_json "map-json/$f" map "$f"
done
for f in v3.qcow2 v2.qcow2 ov.qcow2 ov.raw; do
    same_output "map/$f" map "$f"
done
same_output snapshot-list/snap.qcow2 snapshot -l snap.qcow2
same_output snapshot-list/none snapshot -l v3.qcow2

# ---- check: same verdict, exit status and JSON on clean, leaky and
# corrupt images ----
# set_refcount FILE CLUSTER VALUE: patch a 16-bit refcount entry (first
# refcount block) behind the image's back.
set_refcount() {
    python3 - "$@" <<'EOF'
import struct, sys
path, cl, val = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "r+b") as f:
    h = f.read(104)
    rt = struct.unpack(">Q", h[48:56])[0]
    f.seek(rt); rb = struct.unpack(">Q", f.read(8))[0]
    f.seek(rb + 2 * cl); f.write(struct.pack(">H", val))
EOF
}
# l2_entry FILE INDEX VALUE: overwrite entry INDEX of the first L2 table.
l2_entry() {
    python3 - "$@" <<'EOF'
import struct, sys
path, idx, val = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0)
with open(path, "r+b") as f:
    h = f.read(104)
    l1 = struct.unpack(">Q", h[40:48])[0]
    f.seek(l1); l2 = struct.unpack(">Q", f.read(8))[0] & 0x00fffffffffffe00
    f.seek(l2 + 8 * idx); f.write(struct.pack(">Q", val))
EOF
}
cp v3.qcow2 leak.qcow2
set_refcount leak.qcow2 5 2          # data cluster 5 counted twice: a leak
qemu-img create -q -f qcow2 noref.qcow2 8M
qemu-io -c 'write -P 1 0 128k' noref.qcow2 >/dev/null
set_refcount noref.qcow2 5 0         # a used cluster with refcount 0: corruption
cp v3.qcow2 unaligned.qcow2
l2_entry unaligned.qcow2 1 0x8000000000050200   # data cluster offset not aligned
for f in v3.qcow2 v2.qcow2 ov.qcow2 comp.qcow2 lz.qcow2 snap.qcow2 leak.qcow2 noref.qcow2 \
         unaligned.qcow2; do
    same_json "check-json/$f" check "$f"
    same_output "check/$f" check "$f"
done
same_output check/raw check -f raw ov.raw
for mode in leaks all; do
    cp leak.qcow2 fix.qcow2
    "$IMG" check -r $mode fix.qcow2 >out 2>&1; rc=$?
    qemu-img check fix.qcow2 >/dev/null 2>&1
    check "check-repair-$mode/leak" $(( rc != 0 || $? != 0 )) "exit $rc: $(tail -n 3 out | tr '\n' ' ')"
done
cp noref.qcow2 fix.qcow2
"$IMG" check -r all fix.qcow2 >out 2>&1; rc=$?
qemu-img check fix.qcow2 >/dev/null 2>&1; qrc=$?
qemu-img compare fix.qcow2 v3.qcow2 >/dev/null 2>&1   # not the same data: just readable
check "check-repair-all/corrupt" $(( rc != 0 || qrc != 0 )) "exit $rc, qemu-img check $qrc"

# ---- convert: identical contents, clean images ----
convert_case() {   # name in args...
    local name=convert/$1 in=$2; shift 2
    rm -f out.img
    if ! "$IMG" convert "$@" "$in" out.img 2>err >/dev/null; then
        fail "$name" "$(head -n 1 err)"; return
    fi
    if ! qemu-img compare "$in" out.img >/dev/null 2>&1; then
        fail "$name" "qemu-img compare: $(qemu-img compare "$in" out.img 2>&1)"; return
    fi
    if [[ " $* " == *" qcow2 "* ]] && ! qemu-img check out.img >/dev/null 2>&1; then
        fail "$name" "qemu-img check: $(qemu-img check out.img 2>&1 | head -n 1)"; return
    fi
    pass "$name"
}
convert_case qcow2-to-raw v3.qcow2 -O raw
convert_case v2-to-raw v2.qcow2 -O raw
convert_case backing-to-raw ov.qcow2 -O raw
convert_case compressed-to-raw comp.qcow2 -O raw
convert_case raw-to-qcow2 ov.raw -O qcow2
convert_case raw-to-qcow2-v2-4k ov.raw -O qcow2 -o compat=0.10,cluster_size=4k
convert_case raw-to-qcow2-rc8 ov.raw -O qcow2 -o refcount_bits=8
convert_case qcow2-to-qcow2 ov.qcow2 -f qcow2 -O qcow2
convert_case compress ov.raw -c -O qcow2
convert_case compress-4k ov.qcow2 -c -O qcow2 -o cluster_size=4k
convert_case progress v3.qcow2 -p -O raw
convert_case cache-none-to-qcow2 ov.raw -t none -O qcow2
convert_case cache-writeback-to-raw ov.qcow2 -t writeback -O raw
"$IMG" convert -c -O qcow2 ov.raw out.img >/dev/null 2>&1
qemu-img map --output=json out.img | grep -q '"data": true' &&
    ! qemu-img map --output=json out.img | grep -q '"offset"'
check convert/compressed-clusters $? "qemu-img map shows uncompressed data clusters"

# ---- resize ----
RESIZE_OPTS=
resize_case() {   # name fmt create-size resize-arg expected-size [create -o]
    local name=resize/$1
    rm -f rs.img
    qemu-img create -q -f "$2" ${6:+-o "$6"} rs.img "$3"
    qemu-io -f "$2" -c 'write -P 0x3c 0 64k' rs.img >/dev/null
    qemu-img convert -O raw rs.img rs-before.raw
    if ! "$IMG" resize -f "$2" $RESIZE_OPTS rs.img "$4" >/dev/null 2>err; then
        fail "$name" "$(head -n 1 err)"; return
    fi
    local vs
    vs=$(qemu-img info --output=json rs.img | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
    if [ "$vs" != "$5" ]; then fail "$name" "virtual size $vs, expected $5"; return; fi
    if [ "$2" = qcow2 ] && ! qemu-img check rs.img >/dev/null 2>&1; then
        fail "$name" "qemu-img check: $(qemu-img check rs.img 2>&1 | head -n 1)"; return
    fi
    # Old data kept, the new part reads as zeroes (compare: sizes differ).
    if ! qemu-img compare -f "$2" -F raw rs.img rs-before.raw >/dev/null 2>&1; then
        fail "$name" "contents changed"; return
    fi
    pass "$name"
}
resize_case raw-grow raw 1M +3M $((4 << 20))
resize_case raw-absolute raw 1M 10M $((10 << 20))
resize_case qcow2-grow qcow2 64M 1G $((1 << 30))
resize_case qcow2-grow-relative qcow2 64M +512M $((576 << 20))
resize_case qcow2-grow-l1-move qcow2 1M 4G $((4 << 30)) cluster_size=4k
RESIZE_OPTS=--shrink resize_case qcow2-shrink-unallocated qcow2 64M 32M $((32 << 20))
cp v3.qcow2 rs.img; sum=$(md5sum <rs.img)
"$IMG" resize rs.img 1M >/dev/null 2>err; rc=$?
check resize/shrink-refused $(( rc != 1 || $(grep -c '' err) != 1 )) "exit $rc: $(cat err)"
check resize/shrink-refused-unchanged $([ "$sum" = "$(md5sum <rs.img)" ]; echo $?) "image changed"
cp snap.qcow2 rs.img
"$IMG" resize rs.img +1M >/dev/null 2>err
check resize/snapshots-refused $(( $? != 1 )) "resized an image with snapshots"

# ---- compare ----
same_output compare/identical compare ov.qcow2 ov.raw
same_output compare/differ compare v3.qcow2 ov.qcow2
same_output compare/differ-raw compare -f raw -F qcow2 ov.raw v3.qcow2
qemu-img create -q -f qcow2 big.qcow2 128M
qemu-io -c 'write -P 0x5a 0 192k' -c 'write -P 0xa5 5M 64k' big.qcow2 >/dev/null
same_output compare/size-mismatch compare v3.qcow2 big.qcow2
qemu-io -c 'write -P 1 100M 512' big.qcow2 >/dev/null
same_output compare/size-mismatch-data compare v3.qcow2 big.qcow2
same_output compare/strict compare -s v3.qcow2 big.qcow2

# ---- rebase and commit ----
qemu-img create -q -f qcow2 base1.qcow2 8M
qemu-io -c 'write -P 0x11 0 2M' base1.qcow2 >/dev/null
qemu-img create -q -f qcow2 base2.qcow2 8M
qemu-io -c 'write -P 0x22 1M 2M' base2.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b base1.qcow2 -F qcow2 top.qcow2
qemu-io -c 'write -P 0x33 3M 64k' -c 'write -P 0x34 512k 4k' top.qcow2 >/dev/null
qemu-img convert -O raw top.qcow2 top-expect.raw
cp top.qcow2 top-orig.qcow2
"$IMG" rebase -b base2.qcow2 -F qcow2 top.qcow2 >/dev/null 2>err
check rebase/safe-runs $? "$(head -n 1 err)"
qcompare rebase/safe-contents top.qcow2 top-expect.raw
qcheck_clean rebase/safe-check top.qcow2
qemu-img info --output=json top.qcow2 | grep -q '"backing-filename": "base2.qcow2"'
check rebase/safe-header $? "backing file not base2.qcow2"
cp top-orig.qcow2 top.qcow2
"$IMG" rebase -u -b base2.qcow2 -F qcow2 top.qcow2 >/dev/null 2>err &&
    qemu-img info --output=json top.qcow2 | grep -q '"backing-filename-format": "qcow2"' &&
    qemu-img rebase -u -b base1.qcow2 -F qcow2 top.qcow2 && cmp -s top.qcow2 top-orig.qcow2
check rebase/unsafe $? "header not as qemu-img writes it: $(head -n 1 err)"
cp top-orig.qcow2 top.qcow2
"$IMG" rebase -b "" top.qcow2 >/dev/null 2>err
check rebase/flatten $? "$(head -n 1 err)"
qcompare rebase/flatten-contents top.qcow2 top-expect.raw
cp top-orig.qcow2 top.qcow2
cp base1.qcow2 base1-orig.qcow2
"$IMG" commit top.qcow2 >out 2>err
check commit/runs $? "$(head -n 1 err)"
qcompare commit/base-contents base1.qcow2 top-expect.raw
qcheck_clean commit/base-check base1.qcow2
qcheck_clean commit/top-check top.qcow2
qcompare commit/top-still-reads top.qcow2 top-expect.raw
grep -q '^Image committed\.$' out
check commit/message $? "no 'Image committed.'"

# ---- bad inputs: one line, exit 1, input unchanged ----
bad() {   # name file-to-watch args...
    local name=bad-input/$1 f=$2; shift 2
    local before=none after=none
    [ -f "$f" ] && before=$(md5sum <"$f")
    "$IMG" "$@" >out 2>err; local rc=$?
    [ -f "$f" ] && after=$(md5sum <"$f")
    local lines
    lines=$(grep -c '' err)
    if [ $rc -ne 1 ]; then fail "$name" "exit $rc (expected 1): $(head -n 1 err)"
    elif [ "$lines" -ne 1 ] || ! grep -q '^vmm-img: ' err; then
        fail "$name" "stderr not one 'vmm-img:' line: $(tr '\n' '|' <err)"
    elif [ "$before" != "$after" ]; then fail "$name" "$f changed"
    else pass "$name"; fi
}
bad info-bad-output v3.qcow2 info --output=xml v3.qcow2
bad check-bad-output v3.qcow2 check --output=xml v3.qcow2
bad map-bad-output v3.qcow2 map --output=xml v3.qcow2
bad convert-bad-cache v3.qcow2 convert -t sometimes -O raw v3.qcow2 out-cache.img
printf 'QFI\xfb' >badver.qcow2; head -c 508 /dev/zero >>badver.qcow2
python3 - <<'EOF'
import struct
def patch(src, dst, off, fmt, val):
    d = bytearray(open(src, "rb").read())
    struct.pack_into(fmt, d, off, val)
    open(dst, "wb").write(d)
patch("v3.qcow2", "hugesize.qcow2", 24, ">Q", 1 << 62)          # size: 4 EiB
patch("v3.qcow2", "l1eof.qcow2", 40, ">Q", 1 << 40)             # L1 table past EOF
patch("v3.qcow2", "bigcluster.qcow2", 20, ">I", 40)             # cluster_bits 40
patch("v3.qcow2", "badrt.qcow2", 48, ">Q", 12345)               # unaligned refcount table
patch("v3.qcow2", "incompat.qcow2", 72, ">Q", 1 << 20)          # unknown incompatible feature
EOF
qemu-img create -q -f qcow2 -b loop2.qcow2 -F qcow2 -u loop1.qcow2 1M
qemu-img create -q -f qcow2 -b loop1.qcow2 -F qcow2 -u loop2.qcow2 1M
bad info-missing nothere info nothere
bad create-bad-size new.img create -f qcow2 new.img 12Q
bad create-negative-size new.img create -f raw new.img -- -5
bad create-unknown-format new.img create -f vmdk new.img 1M
bad create-bad-option new.img create -f qcow2 -o bogus=1 new.img 1M
bad create-bad-cluster new.img create -f qcow2 -o cluster_size=3000 new.img 1M
bad create-backing-missing new.img create -f qcow2 -b nothere -F qcow2 new.img
bad info-unknown-format v3.qcow2 info -f vmdk v3.qcow2
bad convert-missing nothere convert -O raw nothere out.img
bad convert-unknown-format v3.qcow2 convert -O vmdk v3.qcow2 out.img
bad convert-compress-raw v3.qcow2 convert -c -O raw v3.qcow2 out.img
bad resize-bad-size v3.qcow2 resize v3.qcow2 12X
bad command-unknown v3.qcow2 frobnicate v3.qcow2
bad no-command v3.qcow2
for f in badver hugesize l1eof bigcluster badrt incompat; do
    # qemu-img info opens an L1 table past the end (it reads it lazily).
    [ $f != l1eof ] && bad "info-$f" $f.qcow2 info $f.qcow2
    bad "convert-$f" $f.qcow2 convert -O raw $f.qcow2 out.img
done
bad check-badver badver.qcow2 check badver.qcow2
bad map-l1eof l1eof.qcow2 map l1eof.qcow2
bad info-backing-loop loop1.qcow2 info --backing-chain loop1.qcow2
bad convert-backing-loop loop1.qcow2 convert -O raw loop1.qcow2 out.img
"$IMG" compare nothere v3.qcow2 >/dev/null 2>err; rc=$?
check bad-input/compare-missing $(( rc != 2 || $(grep -c '' err) != 1 )) "exit $rc (qemu-img: 2)"
"$IMG" --help >out 2>&1
check help $(( $? != 0 || $(grep -c convert out) == 0 )) "--help"

exit $((failures != 0))
