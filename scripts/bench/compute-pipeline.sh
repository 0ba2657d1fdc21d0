#!/usr/bin/env bash
# The compute build pipeline (nimbus-compute's build::prepare_instance, release build) against
# the commands nova runs for the same steps, on the same input (the test guest's root image
# cached as raw in _base), in one run. docs/benchmarks.md, "Compute: disk pipeline".
#
#   ours   prepare_instance per step: fetch (download + verify + convert to raw, cold only),
#          disk (qcow2 overlay + extend), ephemeral (1 GiB ext4 base cold, overlay warm),
#          swap (512 MiB), inject (key, password, /meta.js, one file) or configdrive (ISO)
#   nova   qemu-img convert -O raw (fetch's conversion); qemu-img create -f qcow2 -b + resize;
#          mkfs.ext4 -L ephemeral0 / mkswap on a fresh base; virt-customize (if installed and
#          VC_RUNS > 0) and the loop mount path as root (raw copy: losetup + mount + edits +
#          umount); genisoimage with ConfigDriveBuilder's flags on the same tree.
#
# Usage: scripts/bench/compute-pipeline.sh [workdir]   (N=20 instances, RUNS=5 per nova
# command, VC_RUNS=1 virt-customize runs, SKIP_OURS=1 to rerun only nova's side in a workdir
# of an earlier run; root for the loop mount path)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=${1:-$(mktemp -d /tmp/nimbus-bench-pipeline.XXXXXX)}
N=${N:-20}
RUNS=${RUNS:-5}
VC_RUNS=${VC_RUNS:-1}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

bash "$ROOT/scripts/guest/build.sh" "$ROOT/target/test-guest" >/dev/null

if [ -z "${SKIP_OURS:-}" ]; then
    echo "== ours: prepare_instance (release), $N warm instances per variant"
    (cd "$ROOT" && NIMBUS_BENCH_N=$N NIMBUS_BENCH_DIR=$WORK \
        cargo test --release -q -p nimbus-compute --test all build::bench_prepare_instance \
        -- --ignored --nocapture --exact 2>&1) | grep '^BENCH' | sed 's/^BENCH /  /'
fi

cd "$WORK"
now_ms() { date +%s%3N; }
# median_ms CMD...: median wall time of RUNS runs of a shell function.
median_ms() {
    local times=() t0 t1
    for _ in $(seq "$RUNS"); do
        ${PREP:-true} >/dev/null 2>&1
        t0=$(now_ms)
        if ! "$@" >"$WORK/last.log" 2>&1; then echo "FAILED (see $WORK/last.log)"; return; fi
        t1=$(now_ms)
        times+=($((t1 - t0)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBuildPipelineTestKey pipeline@test"
echo "$KEY" > key.pub
echo '{"role": "db"}' > meta.js
printf 'hello from personality\n' > motd

echo "== nova's commands on the same input ($RUNS runs each, median)"
fetch_convert() {
    cp "$ROOT/target/test-guest/root.qcow2" dl.qcow2
    sha512sum dl.qcow2
    qemu-img convert -f qcow2 -O raw dl.qcow2 conv.raw
}
echo "  fetch: cp + sha512sum + qemu-img convert -O raw: $(median_ms fetch_convert) ms"

overlay() {
    rm -f ov.qcow2
    qemu-img create -q -f qcow2 -F raw -b "$WORK/base.raw" ov.qcow2
    qemu-img resize -q ov.qcow2 1G
}
echo "  disk: qemu-img create -f qcow2 -b base + qemu-img resize 1G: $(median_ms overlay) ms"

eph_base() { rm -f eph.raw; truncate -s 1G eph.raw; mkfs.ext4 -q -F -L ephemeral0 eph.raw; }
echo "  ephemeral base: truncate 1G + mkfs.ext4 -L ephemeral0: $(median_ms eph_base) ms"
swap_base() { rm -f swap.raw; truncate -s 512M swap.raw; mkswap swap.raw; }
echo "  swap base: truncate 512M + mkswap: $(median_ms swap_base) ms"
eph_overlay() { rm -f eph.qcow2; qemu-img create -q -f qcow2 -F raw -b "$WORK/eph.raw" eph.qcow2; }
echo "  ephemeral/swap overlay: qemu-img create -f qcow2 -b base: $(median_ms eph_overlay) ms"

raw_copy() { cp --sparse=always base.raw work.raw; truncate -s 1G work.raw; }
# The root partition's place (the same for every copy; looked up once, untimed).
read -r start sectors < <(sfdisk -J base.raw | python3 -c 'import json,sys
p = json.load(sys.stdin)["partitiontable"]["partitions"][0]; print(p["start"], p["size"])')
loop_inject() {
    local dev mnt=$WORK/mnt
    mkdir -p "$mnt"
    dev=$(losetup --find --show --offset $((start * 512)) --sizelimit $((sectors * 512)) work.raw)
    mount "$dev" "$mnt"
    mkdir -p "$mnt/root/.ssh"
    cat key.pub >> "$mnt/root/.ssh/authorized_keys"
    cp meta.js "$mnt/meta.js"
    cp motd "$mnt/etc/motd-nimbus"
    echo 'root:s3cret-Pass' | chpasswd -c SHA512 -R "$mnt"
    umount "$mnt"
    losetup -d "$dev"
}
if [ "$(id -u)" = 0 ] && losetup --find >/dev/null 2>&1; then
    echo "  inject, loop mount as root (losetup + mount + 4 edits + umount; raw copy untimed): $(PREP=raw_copy median_ms loop_inject) ms"
else
    echo "  inject, loop mount: not available (needs root and loop devices)"
fi

vc_inject() {
    virt-customize -q --format qcow2 -a ov.qcow2 --ssh-inject "root:file:$WORK/key.pub" \
        --root-password password:s3cret-Pass --upload "$WORK/meta.js:/meta.js" \
        --upload "$WORK/motd:/etc/motd-nimbus"
}
if command -v virt-customize >/dev/null && [ "$VC_RUNS" -gt 0 ]; then
    # KVM crashes the appliance's QEMU on this machine (see "Guest injection"): TCG.
    export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
    export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
    v=$(RUNS=$VC_RUNS PREP=overlay median_ms vc_inject)
    echo "  inject, virt-customize ($VC_RUNS run(s), on a fresh overlay, untimed): $v ms"
else
    echo "  inject, virt-customize: skipped"
fi

# The config drive: the same tree as ours (extracted from our ISO), packed as nova does.
rm -rf tree && mkdir -p tree
isoinfo -R -f -i ours.iso | while read -r f; do
    if isoinfo -R -i ours.iso -x "$f" > /dev/null 2>&1 && [ -n "$(isoinfo -R -i ours.iso -x "$f" | head -c1)" ]; then
        mkdir -p "tree$(dirname "$f")"
        isoinfo -R -i ours.iso -x "$f" > "tree$f"
    fi
done
geniso() {
    genisoimage -o nova.iso -ldots -allow-lowercase -allow-multidot -l \
        -publisher "OpenStack Compute" -quiet -J -r -V config-2 tree
}
echo "  configdrive: genisoimage (ConfigDriveBuilder flags): $(median_ms geniso) ms"
echo "workdir: $WORK"
