#!/usr/bin/env bash
# The first command: installs what is missing on a fresh Debian machine, builds
# Nimbus, starts it on 127.0.0.1 in the background, and runs a short demo with
# the real openstack CLI.
#   NIMBUS_LISTEN      address to serve on (default 127.0.0.1:8774)
#   NIMBUS_DATA_DIR    state directory (default ./.nimbus)
#   NIMBUS_ADMIN_PASSWORD  admin password on first start (default: generated, printed once)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh

LISTEN=${NIMBUS_LISTEN:-127.0.0.1:8774}
DATA_DIR=${NIMBUS_DATA_DIR:-$PWD/.nimbus}
PIDFILE="$DATA_DIR/nimbus.pid"
LOG="$DATA_DIR/nimbus.log"

nimbus_install_deps
echo "==> building nimbus (release)"
cargo build --release --locked -p nimbus
BIN="$PWD/target/release/nimbus"

mkdir -p "$DATA_DIR"
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "==> stopping the Nimbus already running (pid $(cat "$PIDFILE"))"
    kill "$(cat "$PIDFILE")"
    for _ in $(seq 50); do kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break; sleep 0.1; done
fi
echo "==> starting nimbus serve on $LISTEN (log: $LOG)"
nohup "$BIN" serve --data-dir "$DATA_DIR" --listen "$LISTEN" >>"$LOG" 2>&1 &
echo $! >"$PIDFILE"
for _ in $(seq 100); do
    curl -fsS "http://$LISTEN/healthcheck" >/dev/null 2>&1 && break
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { echo "nimbus exited; see $LOG" >&2; tail -n 20 "$LOG" >&2; exit 1; }
    sleep 0.1
done
curl -fsS "http://$LISTEN/healthcheck" >/dev/null || { echo "nimbus did not become healthy; see $LOG" >&2; exit 1; }
grep -h "admin password" "$LOG" | tail -n 1 || true

export OS_CLIENT_CONFIG_FILE="$DATA_DIR/clouds.yaml"
export OS_CLOUD=nimbus
OS="$NIMBUS_VENV/bin/openstack"

echo
echo "==> demo: the unmodified openstack CLI against Nimbus"
set -x
"$OS" token issue -c expires -c project_id -c user_id
"$OS" catalog list
"$OS" project create --description "made by the demo" demo --or-show
"$OS" user create --project demo --password demo-password demo --or-show
"$OS" role add --project demo --user demo member
"$OS" role assignment list --names
set +x

echo
echo "==> demo: a real QEMU guest (the test guest: Debian kernel, busybox initramfs, ext4 root)"
GUEST_DIR="$PWD/target/test-guest"
bash scripts/guest/build.sh "$GUEST_DIR"
set -x
"$OS" image show demo-guest >/dev/null 2>&1 || {
    KERNEL=$("$OS" image create --disk-format aki --container-format aki \
        --file "$GUEST_DIR/vmlinuz" demo-guest-kernel -f value -c id)
    RAMDISK=$("$OS" image create --disk-format ari --container-format ari \
        --file "$GUEST_DIR/initrd.img" demo-guest-ramdisk -f value -c id)
    "$OS" image create --disk-format qcow2 --container-format bare --file "$GUEST_DIR/root.qcow2" \
        --property kernel_id="$KERNEL" --property ramdisk_id="$RAMDISK" \
        --property os_command_line="console=ttyS0 nimbus.mode=run" demo-guest
}
"$OS" flavor show m1.demo >/dev/null 2>&1 || "$OS" flavor create --ram 192 --disk 1 --vcpus 1 m1.demo
[ -f "$DATA_DIR/demo-key" ] || ssh-keygen -q -t ed25519 -N '' -C demo@nimbus -f "$DATA_DIR/demo-key"
"$OS" keypair show demo-key >/dev/null 2>&1 || "$OS" keypair create --public-key "$DATA_DIR/demo-key.pub" demo-key
"$OS" network show demo-net >/dev/null 2>&1 || "$OS" network create demo-net
"$OS" subnet show demo-subnet >/dev/null 2>&1 || "$OS" subnet create --network demo-net \
    --subnet-range 10.20.0.0/24 --gateway 10.20.0.1 --dns-nameserver 10.20.0.2 demo-subnet
"$OS" server delete --wait demo-server >/dev/null 2>&1 || true
"$OS" server create --image demo-guest --flavor m1.demo --key-name demo-key --property role=demo \
    --network demo-net --wait demo-server -c status -c id -c addresses
"$OS" port list --server demo-server
set +x
for _ in $(seq 120); do
    "$OS" console log show demo-server | grep -q "NIMBUS-GUEST ready" && break
    sleep 1
done
set -x
"$OS" console log show demo-server
set +x

cat <<MSG

Nimbus is running on http://$LISTEN (pid $(cat "$PIDFILE"), log $LOG).
Use it with:
  export OS_CLIENT_CONFIG_FILE=$DATA_DIR/clouds.yaml OS_CLOUD=nimbus
  $OS catalog list
Stop it with: kill \$(cat $PIDFILE)
MSG
