#!/usr/bin/env bash
# Side-by-side benchmarks of `nimbus img` against qemu-img (docs/benchmarks.md,
# "Disk engine"). Usage: scripts/bench/disk.sh [workdir]   (needs ~4 GiB free)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=${1:-$(mktemp -d /tmp/nimbus-bench-disk.XXXXXX)}
mkdir -p "$WORK"

if ! command -v hyperfine >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y -q hyperfine; else sudo apt-get install -y -q hyperfine; fi
fi
# NIMBUS_BIN: use an already built release binary instead of building one.
if [ -z "${NIMBUS_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p nimbus)
    NIMBUS_BIN="$ROOT/target/release/nimbus"
fi
NIMBUS=$NIMBUS_BIN
cd "$WORK"

# Realistic content: a 1 GiB ext4 filesystem populated (without mounting)
# with ~600 MB of a Debian system's files (docs, locales, python, shared
# libraries), so it has text, binaries, metadata and holes.
if [ ! -f base.raw ]; then
    mkdir -p content
    for d in /usr/share/doc /usr/share/locale /usr/lib/python3 /usr/lib/python3.11 /usr/share/qemu; do
        [ -d "$d" ] && cp -a "$d" "content/$(echo "$d" | tr / _)" 2>/dev/null || true
    done
    mkdir -p content/lib
    # Shared libraries up to ~150 MB.
    find /usr/lib/x86_64-linux-gnu -maxdepth 1 -name '*.so*' -type f -size -8M | head -400 \
        | xargs -r cp -t content/lib 2>/dev/null || true
    truncate -s 1G base.raw
    mkfs.ext4 -q -F -d content base.raw
    rm -rf content
fi
echo "base.raw: $(du -h --apparent-size base.raw | cut -f1) virtual, $(du -h base.raw | cut -f1) allocated"

# 1. Overlay creation (what every boot does over the cached base).
qemu-img convert -f raw -O qcow2 base.raw base.qcow2
hyperfine -N --warmup 5 --runs 50 --prepare 'rm -f ov.qcow2' \
    -n 'qemu-img create -b' "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 ov.qcow2" \
    -n 'nimbus img create -b' "$NIMBUS img create -f qcow2 -b base.qcow2 -F qcow2 ov.qcow2" \
    --export-markdown overlay.md

# 2. convert 1 GiB raw -> qcow2 (and compressed).
hyperfine --warmup 1 --runs 5 --prepare 'rm -f out.qcow2; sync' \
    -n 'qemu-img convert -O qcow2' "qemu-img convert -f raw -O qcow2 base.raw out.qcow2" \
    -n 'nimbus img convert -O qcow2' "$NIMBUS img convert -f raw -O qcow2 base.raw out.qcow2" \
    --export-markdown convert.md
hyperfine --runs 2 --prepare 'rm -f outc.qcow2; sync' \
    -n 'qemu-img convert -c' "qemu-img convert -f raw -O qcow2 -c base.raw outc.qcow2" \
    -n 'nimbus img convert -c' "$NIMBUS img convert -f raw -O qcow2 -c base.raw outc.qcow2" \
    --export-markdown convert-c.md
qemu-img check -q out.qcow2 && qemu-img compare -q base.raw out.qcow2 && qemu-img compare -q base.raw outc.qcow2

# 3. Sequential read through a 3-deep chain: base.qcow2 <- l1 <- l2 <- l3,
#    each layer rewriting a different 64 MiB, read in full (written as sparse raw).
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 l1.qcow2
qemu-io -f qcow2 -c 'write -P 1 100M 64M' l1.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b l1.qcow2 -F qcow2 l2.qcow2
qemu-io -f qcow2 -c 'write -P 2 400M 64M' l2.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b l2.qcow2 -F qcow2 l3.qcow2
qemu-io -f qcow2 -c 'write -P 3 800M 64M' l3.qcow2 >/dev/null
hyperfine --warmup 1 --runs 5 --prepare 'rm -f flat.raw' \
    -n 'qemu-img convert -O raw (3-deep)' "qemu-img convert -f qcow2 -O raw l3.qcow2 flat.raw" \
    -n 'nimbus img convert -O raw (3-deep)' "$NIMBUS img convert -f qcow2 -O raw l3.qcow2 flat.raw" \
    --export-markdown chain.md
"$NIMBUS" img convert -f qcow2 -O raw l3.qcow2 flat.raw
qemu-img compare -q l3.qcow2 flat.raw

cat overlay.md convert.md convert-c.md chain.md
echo "results in $WORK"
