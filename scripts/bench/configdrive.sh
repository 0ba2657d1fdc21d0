#!/usr/bin/env bash
# Side-by-side benchmark of `nimbus configdrive make` against genisoimage with the flags nova's
# ConfigDriveBuilder uses (docs/benchmarks.md, "Config drive"), plus the vfat variant.
# Usage: scripts/bench/configdrive.sh [workdir]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=${1:-$(mktemp -d /tmp/nimbus-bench-configdrive.XXXXXX)}
mkdir -p "$WORK"

if ! command -v hyperfine >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y -q hyperfine; else sudo apt-get install -y -q hyperfine; fi
fi
# The example runs exactly `nimbus configdrive make`'s code path (Tree::from_dir + make_drive)
# and builds in seconds; set NIMBUS_MAKE="path/to/nimbus configdrive make --format" to time the
# full binary instead (its startup adds well under a millisecond).
(cd "$ROOT" && cargo build --release -q -p nimbus-configdrive --example make)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
NIMBUS_MAKE=${NIMBUS_MAKE:-"$TARGET/release/examples/make"}
cd "$WORK"

# 1. A typical drive: nova's tree for one instance with a key, user data, one injected file and
#    one port (what every boot with --config-drive builds).
cat > instance.json <<'JSON'
{"uuid": "8f1c1e0e-6c43-4d5e-9a57-3b7a8e5b9b10", "name": "vm", "hostname": "vm", "project_id": "p",
 "availability_zone": "nova", "keypairs": [{"name": "k1", "type": "ssh", "public_key": "ssh-ed25519 AAAA k1"}],
 "metadata": {"k": "v"}, "user_data": "I2Nsb3VkLWNvbmZpZwpydW5jbWQ6IFtlY2hvIGhpXQo=",
 "files": [{"path": "/root/x", "contents": "aGVsbG8K"}],
 "network_info": [{"id": "p1", "address": "fa:16:3e:00:00:01", "type": "tap", "network": {"id": "n1",
   "meta": {"mtu": 1450}, "subnets": [{"cidr": "10.0.0.0/24", "gateway": {"address": "10.0.0.1"},
   "dns": [{"address": "10.0.0.2"}], "ips": [{"address": "10.0.0.5"}], "routes": []}]}}]}
JSON
rm -rf small && "$TARGET/release/examples/make" render instance.json small

# 2. A large drive: 2000 files (personality files and deep trees), 64 MiB in total.
if [ ! -d large ]; then
    mkdir -p large
    for i in $(seq 0 1999); do
        d="large/dir$((i % 20))/sub$((i % 7))/deeper.level/with.dots"
        mkdir -p "$d"
        head -c $((i * 67 % 65536)) /dev/urandom > "$d/file-number-$i.with.multiple.dots.txt"
    done
fi
echo "small: $(find small -type f | wc -l) files, $(du -sh --apparent-size small | cut -f1); large: $(find large -type f | wc -l) files, $(du -sh --apparent-size large | cut -f1)"

GENISO="genisoimage -o out.iso -ldots -allow-lowercase -allow-multidot -l -publisher nova -quiet -J -r -V config-2"
for tree in small large; do
    hyperfine -N --warmup 3 --runs 20 --prepare 'rm -f out.iso' \
        -n "genisoimage ($tree)" "$GENISO $tree" \
        -n "nimbus configdrive make ($tree)" "$NIMBUS_MAKE iso9660 $tree out.iso" \
        --export-markdown "iso-$tree.md"
done
# nova's vfat path mounts the image (root, loop device); mkfs.vfat + mcopy is the mount-free
# equivalent with the same tools.
# Both sides get the image size nimbus picks (64 MiB, or more when the files need it).
for tree in small large; do
    rm -f out.vfat && $NIMBUS_MAKE vfat $tree out.vfat && size=$(stat -c %s out.vfat)
    hyperfine --warmup 3 --runs 20 --prepare 'rm -f out.vfat' \
        -n "mkfs.vfat + mcopy ($tree)" "truncate -s $size out.vfat && mkfs.vfat -n config-2 out.vfat >/dev/null && mcopy -s -i out.vfat $tree/* ::/" \
        -n "nimbus configdrive make --format vfat ($tree)" "$NIMBUS_MAKE vfat $tree out.vfat" \
        --export-markdown "vfat-$tree.md"
done
cat iso-small.md iso-large.md vfat-small.md vfat-large.md
