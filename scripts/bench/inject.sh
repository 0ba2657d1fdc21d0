#!/usr/bin/env bash
# Guest injection, side by side on the same 10 GiB qcow2 overlay of a GPT disk
# whose partition 2 is an ext4 root (docs/benchmarks.md, "Guest injection"):
#   nimbus inject            userspace, no root
#   loop/nbd mount as root   qemu-nbd + mount + write + umount (nova's mount path)
#   virt-customize           libguestfs appliance (TCG), if installed
# Each run edits a fresh overlay (created untimed) with the same items:
# ssh key, root password, /meta.js, one file.
# Usage: scripts/bench/inject.sh [workdir]   (root for the mount path;
# RUNS=N runs per tool, VC_RUNS=0 skips virt-customize)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=${1:-$(mktemp -d /tmp/nimbus-bench-inject.XXXXXX)}
RUNS=${RUNS:-10}
mkdir -p "$WORK"
if [ -z "${NIMBUS_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p nimbus)
    NIMBUS_BIN="$ROOT/target/release/nimbus"
fi
cd "$WORK"

# The base: 10 GiB raw, GPT, p1 1 MiB BIOS boot, p2 the rest as ext4 with a
# small root tree. mkfs writes straight into the partition (offset), sparse.
if [ ! -f base.raw ]; then
    rm -rf tree && mkdir -p tree/etc tree/root tree/usr/bin
    printf 'root:x:0:0:root:/root:/bin/sh\nbin:x:1:1::/:/bin/false\n' > tree/etc/passwd
    printf 'root:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n' > tree/etc/shadow
    printf 'root:x:0:\nbin:x:1:\n' > tree/etc/group
    # Enough for libguestfs' inspection to call it a Debian root.
    printf 'ID=debian\nVERSION_ID="12"\nNAME="Debian GNU/Linux"\n' > tree/etc/os-release
    echo 12.0 > tree/etc/debian_version
    echo 'UUID=00000000-0000-0000-0000-000000000000 / ext4 defaults 0 1' > tree/etc/fstab
    mkdir -p tree/bin tree/sbin tree/usr/sbin tree/var/lib/dpkg tree/tmp
    cp /bin/busybox tree/bin/sh 2>/dev/null || cp /bin/sh tree/bin/sh
    truncate -s 10G base.raw
    printf 'label: gpt\nstart=2048, size=2048\nstart=4096\n' | sfdisk -q base.raw
    start=$(sfdisk -d base.raw | awk -F'[=,]' '/base.raw2/ {gsub(/ /,"",$2); print $2}')
    sectors=$(sfdisk -d base.raw | awk -F'[=,]' '/base.raw2/ {gsub(/ /,"",$4); print $4}')
    mkfs.ext4 -q -F -E "offset=$((start * 512)),root_owner=0:0" -d tree base.raw "$((sectors / 8))"
fi
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO3yYg6Mvyq6aR4u0ODcCZWQfA2uRQjS1pX/MOMfTB2H bench@nimbus' > key.pub
echo 'hello from the benchmark' > motd
start=$(sfdisk -d base.raw | awk -F'[=,]' '/base.raw2/ {gsub(/ /,"",$2); print $2}')
sectors=$(sfdisk -d base.raw | awk -F'[=,]' '/base.raw2/ {gsub(/ /,"",$4); print $4}')
fresh() { rm -f ov.qcow2; qemu-img create -q -f qcow2 -b "$WORK/base.raw" -F raw ov.qcow2 10G; }
# The kernel loop device cannot read qcow2 (nova uses qemu-nbd for it), so
# the loop path, and nimbus beside it, also run on a sparse raw copy.
fresh_raw() { rm -f work.raw; cp --sparse=always base.raw work.raw; }

# Median wall time in ms of "$@" over $RUNS runs, each after $FRESH (untimed).
FRESH=fresh
median_ms() {
    local times=()
    for _ in $(seq "$RUNS"); do
        $FRESH
        local t0 t1
        t0=$(date +%s%N)
        "$@" >/dev/null 2>&1
        t1=$(date +%s%N)
        times+=($(((t1 - t0) / 1000000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

nimbus_inject() {
    "$NIMBUS_BIN" inject ov.qcow2 --format qcow2 --partition -1 --key key.pub \
        --admin-password 'bench-pw' --meta role=bench --file /etc/motd=motd \
        --mandatory key,admin_password,metadata,files
}

# nova's mount path for a qcow2 image: qemu-nbd, kernel mount, edits, teardown.
nbd_mount_inject() {
    local dev=/dev/nbd0 mnt
    mnt=$(mktemp -d)
    qemu-nbd --connect="$dev" --format=qcow2 ov.qcow2
    for _ in $(seq 100); do [ -b "${dev}p2" ] && break; sleep 0.02; done
    mount "${dev}p2" "$mnt"
    mkdir -p "$mnt/root/.ssh" && chmod 700 "$mnt/root/.ssh"
    cat key.pub >> "$mnt/root/.ssh/authorized_keys" && chmod 600 "$mnt/root/.ssh/authorized_keys"
    hash=$(openssl passwd -6 bench-pw)
    sed -i "s|^root:[^:]*:|root:${hash}:|" "$mnt/etc/shadow"
    echo '{"role": "bench"}' > "$mnt/meta.js"
    cp motd "$mnt/etc/motd"
    umount "$mnt"
    qemu-nbd --disconnect "$dev" >/dev/null
    rmdir "$mnt"
}

nimbus_inject_raw() {
    "$NIMBUS_BIN" inject work.raw --partition 2 --key key.pub \
        --admin-password 'bench-pw' --meta role=bench --file /etc/motd=motd \
        --mandatory key,admin_password,metadata,files
}

# losetup on partition 2 (offset, no udev needed), mount, the same edits, teardown.
loop_mount_inject() {
    local dev mnt
    mnt=$(mktemp -d)
    dev=$(losetup --find --show --offset $((start * 512)) --sizelimit $((sectors * 512)) work.raw)
    mount "$dev" "$mnt"
    mkdir -p "$mnt/root/.ssh" && chmod 700 "$mnt/root/.ssh"
    cat key.pub >> "$mnt/root/.ssh/authorized_keys" && chmod 600 "$mnt/root/.ssh/authorized_keys"
    hash=$(openssl passwd -6 bench-pw)
    sed -i "s|^root:[^:]*:|root:${hash}:|" "$mnt/etc/shadow"
    echo '{"role": "bench"}' > "$mnt/meta.js"
    cp motd "$mnt/etc/motd"
    umount "$mnt"
    losetup -d "$dev"
    rmdir "$mnt"
}

virt_customize_inject() {
    virt-customize -q --format qcow2 -a ov.qcow2 --ssh-inject root:file:key.pub \
        --root-password password:bench-pw --write /meta.js:'{"role": "bench"}' \
        --upload motd:/etc/motd
}

echo "runs per tool: $RUNS (median wall time, fresh overlay each run)"
echo "nimbus inject:  $(median_ms nimbus_inject) ms"
fresh && nimbus_inject && qemu-img convert -O raw ov.qcow2 check.raw && rm -f check.raw
FRESH=fresh_raw
echo "nimbus inject (raw copy): $(median_ms nimbus_inject_raw) ms"
if [ "$(id -u)" = 0 ] && losetup --find >/dev/null 2>&1; then
    echo "loop mount path (raw copy, root): $(median_ms loop_mount_inject) ms"
else
    echo "loop mount path: not available here (needs root and loop devices)"
fi
FRESH=fresh
if [ "$(id -u)" = 0 ] && modprobe nbd max_part=8 2>/dev/null && [ -b /dev/nbd0 ]; then
    echo "nbd mount path: $(median_ms nbd_mount_inject) ms"
else
    echo "nbd mount path: not available here (needs root and the nbd kernel module)"
fi
if [ "${VC_RUNS:-3}" = 0 ]; then
    echo "virt-customize: skipped (VC_RUNS=0)"
elif command -v virt-customize >/dev/null; then
    # The issue's comparison is the appliance under TCG (no nested KVM on
    # most cloud hosts); override to measure KVM.
    export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
    export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
    VC_RUNS=${VC_RUNS:-3}
    RUNS=$VC_RUNS
    echo "virt-customize: $(median_ms virt_customize_inject) ms (runs: $VC_RUNS, $LIBGUESTFS_BACKEND_SETTINGS)"
else
    echo "virt-customize: not installed (apt-get install libguestfs-tools)"
fi
