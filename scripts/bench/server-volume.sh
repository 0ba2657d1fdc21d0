#!/usr/bin/env bash
# Attach and detach latency of a volume on a running server through nova's
# API (POST / DELETE /servers/{id}/os-volume_attachments), end to end:
# block device mapping, Cinder attachment, export + connection_info for
# this host, QMP hot-plug, attachment complete (attach returns once the
# volume is in-use); device_del, DEVICE_DELETED, blockdev-del, attachment
# deleted (detach returns once the volume is available).
#
# Starts its own `nimbus serve` in a temporary directory with the given
# volume backend, boots one test guest, then times ROUNDS attach/detach
# pairs, leaving the guest 1.5 s between steps so it sees each change.
# Usage: scripts/bench/server-volume.sh [local|iscsi] [ROUNDS]
#   NIMBUS_BIN  the binary (default: target/release/nimbus, built if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=${1:-local}
rounds=${2:-10}
BIN=${NIMBUS_BIN:-$PWD/target/release/nimbus}
[ -x "$BIN" ] || cargo build --release -q -p nimbus
OS=${OS:-${NIMBUS_VENV:-$PWD/.venv}/bin/openstack}
bash scripts/guest/build.sh target/test-guest >/dev/null

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/nimbus.toml" <<EOF
[backend_defaults]
volume_driver = "$backend"
target_prefix = "iqn.2010-10.org.nimbus.bench-$$:"
EOF
"$BIN" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" --config "$dir/nimbus.toml" >"$dir/nimbus.log" 2>&1 &
pid=$!
cleanup() {
    "$OS" server delete --wait bench-vol-server >/dev/null 2>&1 || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 200); do
    curl -fsS "http://127.0.0.1:$port/healthcheck" >/dev/null 2>&1 && break
    sleep 0.1
done
export OS_CLIENT_CONFIG_FILE="$dir/data/clouds.yaml" OS_CLOUD=nimbus HOME="$dir"

g=target/test-guest
k=$("$OS" image create --disk-format aki --container-format aki --file $g/vmlinuz bench-k -f value -c id)
r=$("$OS" image create --disk-format ari --container-format ari --file $g/initrd.img bench-r -f value -c id)
"$OS" image create --disk-format qcow2 --container-format bare --file $g/root.qcow2 \
    --property kernel_id="$k" --property ramdisk_id="$r" \
    --property os_command_line="console=ttyS0 nimbus.mode=run" bench-guest >/dev/null
"$OS" flavor create --ram 192 --disk 1 --vcpus 1 bench-vol >/dev/null
server=$("$OS" server create --image bench-guest --flavor bench-vol --wait bench-vol-server -f value -c id)
volume=$("$OS" volume create --size 1 bench-vol -f value -c id)
until [ "$("$OS" volume show "$volume" -f value -c status)" = available ]; do sleep 0.2; done
until "$OS" console log show "$server" | grep -q 'NIMBUS-GUEST ready'; do sleep 0.5; done

TOKEN=$("$OS" token issue -f value -c id)
COMPUTE="http://127.0.0.1:$port/compute/v2.1"
api() { curl -fsS -o /dev/null -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' "$@"; }
ms() { echo "($2 - $1) * 1000" | bc; }
attach=() detach=()
for _ in $(seq "$rounds"); do
    t0=$(date +%s.%N)
    api -X POST "$COMPUTE/servers/$server/os-volume_attachments" -d "{\"volumeAttachment\": {\"volumeId\": \"$volume\"}}"
    t1=$(date +%s.%N)
    attach+=("$(ms "$t0" "$t1")")
    sleep 1.5
    t0=$(date +%s.%N)
    api -X DELETE "$COMPUTE/servers/$server/os-volume_attachments/$volume"
    t1=$(date +%s.%N)
    detach+=("$(ms "$t0" "$t1")")
    sleep 1.5
done
stats() {
    printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1; s+=$1} END {printf "mean %.0f ms, median %.0f ms, min %.0f ms, max %.0f ms", s/NR, a[int((NR+1)/2)], a[1], a[NR]}'
}
echo "$backend attach over $rounds rounds: $(stats "${attach[@]}")"
echo "$backend detach over $rounds rounds: $(stats "${detach[@]}")"
