#!/bin/sh
# Seed corpus for qcow2-fuzz: small qcow2 images of every kind qemu-img
# makes (v2, v3, refcount widths, backing, compressed, zero clusters,
# snapshots), with small clusters so the fuzzer's inputs stay short.
# Usage: tests/fuzz/seed-corpus.sh DIR
set -e
dir=$1
mkdir -p "$dir"
cd "$dir"
command -v qemu-img >/dev/null || { echo "seed-corpus: qemu-img not installed" >&2; exit 1; }
q() { qemu-img "$@" >/dev/null; }
io() { f=$1; shift; qemu-io "$@" "$f" >/dev/null; }
rm -f ./*.qcow2
q create -f qcow2 -o cluster_size=512 v3-512.qcow2 1M
io v3-512.qcow2 -c 'write -P 0x11 0 4k' -c 'write -z 64k 4k' -c 'write -P 0x22 900k 1k'
q create -f qcow2 -o cluster_size=512,compat=0.10 v2-512.qcow2 1M
io v2-512.qcow2 -c 'write -P 0x33 512 3k'
q create -f qcow2 -o cluster_size=512,refcount_bits=1 rc1.qcow2 256k
io rc1.qcow2 -c 'write -P 0x44 8k 8k'
q create -f qcow2 -o cluster_size=4k,refcount_bits=64,lazy_refcounts=on rc64.qcow2 2M
io rc64.qcow2 -c 'write -P 0x55 0 4k'
q create -f qcow2 -o cluster_size=512 base.qcow2 1M
io base.qcow2 -c 'write -P 0x66 0 8k'
q create -f qcow2 -o cluster_size=512 -b base.qcow2 -F qcow2 overlay.qcow2
io overlay.qcow2 -c 'write -P 0x77 1k 1k'
q convert -c -O qcow2 -o cluster_size=4k v3-512.qcow2 compressed.qcow2
cp v3-512.qcow2 snapshots.qcow2
q snapshot -c one snapshots.qcow2
io snapshots.qcow2 -c 'write -P 0x88 0 1k'
q snapshot -c two snapshots.qcow2
q create -f qcow2 -o cluster_size=512,preallocation=metadata prealloc.qcow2 256k
q create -f qcow2 -o cluster_size=512 empty.qcow2 0
