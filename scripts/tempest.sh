#!/usr/bin/env bash
# Runs Tempest (the OpenStack API conformance suite) against a fresh Nimbus.
#
#   scripts/tempest.sh [-b NIMBUS_BIN] [REGEX]
#
#   -b NIMBUS_BIN  the nimbus binary to test (default target/debug/nimbus; built by nobody here)
#   REGEX          Tempest's --regex (default: every API area Nimbus serves)
#
# Starts `nimbus serve` on a free 127.0.0.1 port with a fresh data dir under
# target/tempest/, provisions as admin with the openstack CLI (4 projects each
# with a member and a reader user and a project network; an external network
# for floating IPs; two flavors; two bootable images of the test guest), writes
# the workspace's etc/tempest.conf and etc/accounts.yaml from the templates in
# scripts/tempest/ and runs `tempest run --concurrency 2`. No admin credentials
# reach Tempest: admin-only tests skip. docs/tempest.md has the results.
#   TEMPEST_CONCURRENCY  workers (default 2)
#   TEMPEST_WORK         work dir: data dir, workspace, results (default target/tempest)
#   TEMPEST_KEEP=1       leave nimbus running after the run (prints how to reach it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib/deps.sh

TEMPEST_VERSION=47.0.0
BIN=$ROOT/target/debug/nimbus
while getopts "b:" opt; do
    case $opt in
    b) BIN=$(cd "$(dirname "$OPTARG")" && pwd)/$(basename "$OPTARG") ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
REGEX=${1:-'^tempest\.api\.(identity|image|network|volume|compute)'}
CONCURRENCY=${TEMPEST_CONCURRENCY:-2}
[ -x "$BIN" ] || { echo "no nimbus binary at $BIN (cargo build -p nimbus, or pass -b)" >&2; exit 2; }

# Absolute: the script changes into the workspace before Tempest reads its config.
WORK=$(realpath -m "${TEMPEST_WORK:-$ROOT/target/tempest}")
VENV=$ROOT/target/tempest-venv
DATA=$WORK/data
WS=$WORK/ws
ADMIN_PASSWORD=tempest-admin-secret
USER_PASSWORD=tempest-user-secret

# --- tools: the openstack CLI (.venv) and tempest (its own venv, pinned) ----
nimbus_install_deps
OS="$NIMBUS_VENV/bin/openstack"
if [ "$("$VENV/bin/pip" show tempest 2>/dev/null | awk '/^Version:/{print $2}')" != "$TEMPEST_VERSION" ]; then
    echo "==> installing tempest $TEMPEST_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "tempest==$TEMPEST_VERSION"
fi
echo "==> building the test guest"
GUEST=$ROOT/target/test-guest
bash scripts/guest/build.sh "$GUEST"

# --- a fresh cloud ----------------------------------------------------------
rm -rf "$DATA" "$WS"
mkdir -p "$DATA" "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
echo "==> starting $BIN serve on $BASE (log $DATA/nimbus.log)"
NIMBUS_ADMIN_PASSWORD=$ADMIN_PASSWORD RUST_LOG=${RUST_LOG:-info,sqlx=warn} \
    "$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" >"$DATA/nimbus.log" 2>&1 &
NIMBUS_PID=$!
stop_nimbus() {
    if [ "${TEMPEST_KEEP:-0}" = 1 ]; then
        echo "nimbus still runs (pid $NIMBUS_PID): OS_CLIENT_CONFIG_FILE=$DATA/clouds.yaml OS_CLOUD=nimbus"
        return
    fi
    kill "$NIMBUS_PID" 2>/dev/null || true
    wait "$NIMBUS_PID" 2>/dev/null || true
}
trap stop_nimbus EXIT
for _ in $(seq 300); do
    curl -fsS "$BASE/healthcheck" >/dev/null 2>&1 && break
    kill -0 "$NIMBUS_PID" 2>/dev/null || { tail -n 20 "$DATA/nimbus.log" >&2; exit 1; }
    sleep 0.2
done
curl -fsS "$BASE/healthcheck" >/dev/null

export OS_CLIENT_CONFIG_FILE=$DATA/clouds.yaml OS_CLOUD=nimbus
os() { "$OS" "$@"; }
id_of() { os "$@" -f value -c id; }

# --- provisioning, as admin -------------------------------------------------
echo "==> provisioning projects, users, networks, flavors, images"
provision_project() {
    local i=$1 p=tempest-p$1 role
    os project create --description "tempest account project" "$p" >/dev/null
    for role in member reader; do
        os user create --project "$p" --password "$USER_PASSWORD" "$p-$role" >/dev/null
        os role add --project "$p" --user "$p-$role" "$role"
    done
    # Tempest creates many volumes and networks per project (compute's
    # quotas are raised for all projects at once, below).
    os quota set --volumes 60 --snapshots 60 \
        --gigabytes 1000 --networks 100 --subnets 200 --ports 500 --routers 30 \
        --floating-ips 60 --secgroups 100 --secgroup-rules 1000 "$p"
    # The same network name in every project: tempest.conf's
    # fixed_network_name and network_for_ssh name one network for all
    # accounts, and each project resolves the name to its own.
    local net subnet
    net=$(id_of network create --project "$p" tempest-net)
    subnet=$(id_of subnet create --project "$p" --network "$net" --subnet-range "192.168.$i.0/24" "$p-subnet")
    # A router to the public network, as devstack gives its projects: floating
    # IPs can only be associated with ports behind one.
    os router create --project "$p" "$p-router" >/dev/null
    os router set --external-gateway "$PUBLIC_NET" "$p-router"
    os router add subnet "$p-router" "$subnet"
}
# Tempest creates many servers per project. Raised through the default quota
# class, not per project: test_compare_tenant_quotas_with_default_quotas
# expects a project's limits to be the defaults.
os quota set --default --instances 40 --cores 80 --ram 81920
PUBLIC_NET=public
PUBLIC_NET_ID=$(id_of network create --external "$PUBLIC_NET")
os subnet create --network "$PUBLIC_NET" --subnet-range 172.24.4.0/24 --no-dhcp public-subnet >/dev/null
# Each CLI call costs seconds of Python start-up: the projects go in parallel.
pids=()
for i in 1 2 3 4; do
    provision_project "$i" >"$WORK/provision-$i.log" 2>&1 &
    pids+=($!)
done
for i in 1 2 3 4; do
    wait "${pids[$((i - 1))]}" || { cat "$WORK/provision-$i.log" >&2; exit 1; }
done
FLAVOR=$(id_of flavor create --public --ram 192 --disk 1 --vcpus 1 m1.tempest)
FLAVOR_ALT=$(id_of flavor create --public --ram 256 --disk 1 --vcpus 1 m1.tempest-alt)
KERNEL=$(id_of image create --public --disk-format aki --container-format aki \
    --file "$GUEST/vmlinuz" tempest-guest-kernel)
RAMDISK=$(id_of image create --public --disk-format ari --container-format ari \
    --file "$GUEST/initrd.img" tempest-guest-ramdisk)
guest_image() {
    id_of image create --public --disk-format qcow2 --container-format bare --file "$GUEST/root.qcow2" \
        --property kernel_id="$KERNEL" --property ramdisk_id="$RAMDISK" \
        --property os_command_line="console=ttyS0 nimbus.mode=run" "$1"
}
IMAGE=$(guest_image tempest-guest)
IMAGE_ALT=$(guest_image tempest-guest-alt)

# --- what the cloud advertises ----------------------------------------------
read -r TOKEN ADMIN_PROJECT < <(os token issue -f json | python3 -c '
import json, sys
t = json.load(sys.stdin)
print(t["id"], t["project_id"])')
get() { curl -fsS -H "X-Auth-Token: $TOKEN" "$BASE$1"; }
COMPUTE_MAX=$(get /compute/v2.1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"]["version"])')
VOLUME_MAX=$(get /volume/v3 | python3 -c '
import json, sys
d = json.load(sys.stdin)
v = d.get("version") or d["versions"][0]
print(v["version"])')
NET_EXTENSIONS=$(get /network/v2.0/extensions | python3 -c '
import json, sys
print(",".join(sorted(e["alias"] for e in json.load(sys.stdin)["extensions"])))')
VOLUME_EXTENSIONS=$(get "/volume/v3/$ADMIN_PROJECT/extensions" | python3 -c '
import json, sys
print(",".join(sorted(e["alias"] for e in json.load(sys.stdin)["extensions"])))')
VOLUME_TYPE=$(os catalog list -f json | python3 -c '
import json, sys
types = [s["Type"] for s in json.load(sys.stdin)]
print(next(t for t in ("block-storage", "volumev3") if t in types))')
echo "    compute max microversion $COMPUTE_MAX, volume $VOLUME_MAX, volume catalog type $VOLUME_TYPE"
echo "    network extensions: $NET_EXTENSIONS"
echo "    volume extensions: $VOLUME_EXTENSIONS"

# --- the Tempest workspace --------------------------------------------------
# A workspace registry of our own: ~/.tempest/workspace.yaml would refuse a
# second workspace of the same name.
rm -f "$WORK/workspaces.yaml"
"$VENV/bin/tempest" init --workspace-path "$WORK/workspaces.yaml" "$WS" >/dev/null 2>&1
sed -e "s|@IDENTITY_URI@|$BASE/identity/v3|" \
    -e "s|@IMAGE_REF@|$IMAGE|" -e "s|@IMAGE_REF_ALT@|$IMAGE_ALT|" \
    -e "s|@FLAVOR_REF@|$FLAVOR|" -e "s|@FLAVOR_REF_ALT@|$FLAVOR_ALT|" \
    -e "s|@COMPUTE_MAX_MICROVERSION@|$COMPUTE_MAX|" -e "s|@VOLUME_MAX_MICROVERSION@|$VOLUME_MAX|" \
    -e "s|@PUBLIC_NETWORK_ID@|$PUBLIC_NET_ID|" -e "s|@PUBLIC_NETWORK_NAME@|$PUBLIC_NET|" \
    -e "s|@NETWORK_EXTENSIONS@|$NET_EXTENSIONS|" -e "s|@VOLUME_EXTENSIONS@|$VOLUME_EXTENSIONS|" -e "s|@VOLUME_CATALOG_TYPE@|$VOLUME_TYPE|" \
    scripts/tempest/tempest.conf.in >"$WS/etc/tempest.conf"
sed -e "s|@PASSWORD@|$USER_PASSWORD|" scripts/tempest/accounts.yaml.in >"$WS/etc/accounts.yaml"
if grep -n '^[^#]*@[A-Z_]*@' "$WS/etc/tempest.conf"; then echo "unfilled template values" >&2; exit 1; fi

# --- the run ----------------------------------------------------------------
echo "==> tempest run --concurrency $CONCURRENCY --regex '$REGEX' (log $WS/tempest.log)"
start=$(date +%s)
set +e
(cd "$WS" && TEMPEST_CONFIG_DIR=$WS/etc "$VENV/bin/tempest" run --concurrency "$CONCURRENCY" --regex "$REGEX") >"$WORK/run.out" 2>&1
rc=$?
set -e
elapsed=$(($(date +%s) - start))
(cd "$WS" && "$VENV/bin/stestr" failing --list 2>/dev/null) >"$WORK/failing.txt" || true
sed -n '/^Totals$/,$p' "$WORK/run.out"
echo "failing tests: $WORK/failing.txt ($(wc -l <"$WORK/failing.txt")); full output: $WORK/run.out"
echo "tempest took ${elapsed}s (exit $rc)"
exit $rc
