#!/usr/bin/env bash
# Builds the Nimbus test guest into OUT_DIR (default target/test-guest):
#   vmlinuz      Debian's cloud kernel, from its .deb
#   initrd.img   busybox-static initramfs running scripts/guest/init
#   root.qcow2   a 64 MiB disk (MBR, one ext4 partition) holding a tiny /etc and /root,
#                the root filesystem the cloud injects into and the guest reports on
# The kernel command line the guest expects: "console=ttyS0 nimbus.mode=run|poweroff".
# Skips the work when OUT_DIR was built from the same inputs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "${1:-$here/../../target/test-guest}" && cd "${1:-$here/../../target/test-guest}" && pwd)

stamp=$(cat "$here/build.sh" "$here/init" | sha256sum | cut -d' ' -f1)
# Tests in parallel threads and binaries all call this script: one builds,
# the others wait for it and then find the stamp.
exec 9>"$out/.lock"
flock 9
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] &&
    [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ] && [ -f "$out/root.qcow2" ]; then
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- kernel and modules -----------------------------------------------------
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2}' | head -n 1)
if [ -z "$pkg" ]; then
    apt-get update -qq
    pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2}' | head -n 1)
fi
(cd "$work" && apt-get download -q "$pkg" >/dev/null 2>&1)
dpkg-deb -x "$work"/linux-image-*.deb "$work/kernel"
kver=$(ls "$work/kernel/lib/modules")
moddir="$work/kernel/lib/modules/$kver"
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
mv -f "$work/vmlinuz" "$out/vmlinuz"

# Modules the guest needs, dependencies first (busybox has no modprobe
# database, so the order is resolved here from each module's .modinfo).
declare -A seen=()
order=()
ko_path() { find "$moddir" -name "$1.ko" | head -n 1; }
add_module() {
    local name=$1 dep path
    [ -n "${seen[$name]:-}" ] && return 0
    seen[$name]=1
    path=$(ko_path "$name")
    [ -n "$path" ] || { echo "module $name not found in $pkg" >&2; exit 1; }
    for dep in $(tr '\0' '\n' <"$path" | sed -n 's/^depends=//p' | tr ',' ' '); do
        add_module "$dep"
    done
    order+=("$name")
}
for m in virtio_pci virtio_blk virtio_net virtio_scsi sd_mod sr_mod isofs ata_piix ata_generic \
    vfat nls_cp437 nls_iso8859-1 nls_utf8 button evdev; do
    add_module "$m"
done

# --- initramfs ----------------------------------------------------------------
ird="$work/initrd"
mkdir -p "$ird"/{bin,dev,proc,sys,tmp,mnt,etc,lib/modules}
cp /bin/busybox "$ird/bin/busybox"
cp "$here/init" "$ird/init"
chmod 755 "$ird/init"
for m in "${order[@]}"; do cp "$(ko_path "$m")" "$ird/lib/modules/$m.ko"; done
printf '%s\n' "${order[@]}" >"$ird/etc/modules-order"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -9) >"$work/initrd.img"
mv -f "$work/initrd.img" "$out/initrd.img"

# --- root disk ------------------------------------------------------------------
rfs="$work/rootfs"
mkdir -p "$rfs"/{etc/network,root,tmp,var}
chmod 700 "$rfs/root"
chmod 1777 "$rfs/tmp"
cat >"$rfs/etc/os-release" <<'OSR'
NAME="Nimbus test guest"
ID=nimbus-test-guest
VERSION_ID=1
OSR
echo "nimbus-guest" >"$rfs/etc/hostname"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$rfs/etc/passwd"
printf 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' >"$rfs/etc/shadow"
chmod 640 "$rfs/etc/shadow"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rfs/etc/group"
# Files newer than this stamp were written by the cloud; the guest prints them.
touch "$rfs/etc/nimbus-image-stamp"
find "$rfs" -exec touch -h -d '2020-01-01 00:00:00' {} +

part="$work/part.ext4"
truncate -s 63M "$part"
mkfs.ext4 -q -F -L cloudimg-rootfs -d "$rfs" -E root_owner=0:0 "$part"
disk="$work/root.raw"
truncate -s 64M "$disk"
echo 'start=2048, type=83' | sfdisk -q "$disk"
dd if="$part" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
# Written beside and renamed: a VM still running from an earlier build keeps
# its open file, and nobody ever sees a half-written image.
qemu-img convert -f raw -O qcow2 "$disk" "$work/root.qcow2"
mv -f "$work/root.qcow2" "$out/root.qcow2"

echo "$stamp" >"$out/stamp"
echo "test guest built in $out (kernel $kver)"
