#!/usr/bin/env bash
# Create -> ACTIVE latency of servers booted from a cached image, p50/p95
# over N servers (default 20), one at a time, with the per-step breakdown
# the build task logs ("build timings ms: ...": queue = API row insert to the
# build task running, schedule, ports+volumes, the disk steps, qemu = process
# start until QMP answers, active = the DB update to ACTIVE; total = task start
# to QEMU answering).
#
# Needs the cloud of scripts/up.sh (its demo uploads demo-guest and creates
# m1.demo): run ./scripts/up.sh first, then this script.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-20}
DATA_DIR=${NIMBUS_DATA_DIR:-$PWD/.nimbus}
LOG=${NIMBUS_LOG:-$DATA_DIR/nimbus.log}
export OS_CLIENT_CONFIG_FILE=${OS_CLIENT_CONFIG_FILE:-$DATA_DIR/clouds.yaml} OS_CLOUD=${OS_CLOUD:-nimbus}
OS=${OS:-openstack}
command -v "$OS" >/dev/null || OS="${NIMBUS_VENV:-$PWD/.venv}/bin/openstack"

TOKEN=$("$OS" token issue -f value -c id)
COMPUTE=$("$OS" catalog show compute -f json | python3 -c 'import json,sys; e=json.load(sys.stdin)["endpoints"]; print([x for x in e if x["interface"]=="public"][0]["url"])' 2>/dev/null \
    || "$OS" catalog show compute -f value -c endpoints | sed -n 's/.*public: \(http[^ ]*\).*/\1/p' | head -1)
IMAGE=$("$OS" image show demo-guest -f value -c id)
FLAVOR=$("$OS" flavor show m1.demo -f value -c id)
api() { curl -fsS -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute 2.96" -H 'Content-Type: application/json' "$@"; }
create() {
    api -X POST "$COMPUTE/servers" -d "{\"server\": {\"name\": \"$1\", \"imageRef\": \"$IMAGE\", \"flavorRef\": \"$FLAVOR\", \"networks\": \"none\"}}" \
        | grep -o '"id": *"[0-9a-f-]*"' | head -1 | sed 's/.*"\([0-9a-f-]*\)"$/\1/'
}
# No Python per poll: its start-up (~30 ms) would be most of a poll's cost.
status() { api "$COMPUTE/servers/$1" | grep -o '"status": *"[A-Z_]*"' | head -1 | sed 's/.*"\([A-Z_]*\)"$/\1/'; }
wait_active() {
    while :; do
        s=$(status "$1")
        [ "$s" = ACTIVE ] && return 0
        [ "$s" = ERROR ] && { echo "server $1 went to ERROR" >&2; return 1; }
        sleep 0.01
    done
}
delete() { api -X DELETE "$COMPUTE/servers/$1" >/dev/null; }

echo "warming the _base cache with one server"
id=$(create bench-warm); wait_active "$id"; delete "$id"

results=$(mktemp)
ids=()
for i in $(seq "$N"); do
    t0=$(date +%s.%N)
    id=$(create "bench-$i")
    t_post=$(date +%s.%N)
    wait_active "$id"
    t1=$(date +%s.%N)
    echo "$id $(echo "($t1 - $t0) * 1000" | bc) $(echo "($t_post - $t0) * 1000" | bc)" >>"$results"
    ids+=("$id")
    delete "$id"
done

p() { awk -v c="$2" '{print $c}' "$results" | sort -n | awk -v q="$1" '{a[NR]=$1} END {i=int((NR*q+99)/100); if (i<1) i=1; printf "%.0f", a[i]}'; }
echo
echo "create -> ACTIVE over $N servers (cached image): p50 $(p 50 2) ms, p95 $(p 95 2) ms"
echo "  of which POST /servers until its 202 (curl): p50 $(p 50 3) ms, p95 $(p 95 3) ms"
echo "per-step medians from the build log (ms):"
for id in "${ids[@]}"; do grep -h "instance=$id" "$LOG" | grep -o 'build timings ms: .*' | tail -1; done \
    | sed 's/build timings ms: //' | tr ' ' '\n' | awk -F= 'NF==2 && $1 != "instance" {v[$1]=v[$1]" "$2} END {for (k in v) {n=split(v[k],a," "); asort(a); printf "  %-12s %s\n", k, a[int((n+1)/2)]}}'
rm -f "$results"
