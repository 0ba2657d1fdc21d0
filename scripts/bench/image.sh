#!/usr/bin/env bash
# Image upload and download throughput, side by side in one run:
#   sha512sum of the file (the single-core hashing limit), md5sum, qemu-img info,
#   `openstack image create --file` / `openstack image save`,
#   curl PUT / GET of /image/v2/images/{id}/file.
# Usage: scripts/bench/image.sh [SIZE_MIB]   (default 1024)
# Needs: a release build (built if missing), the CLI venv (scripts/lib/deps.sh).
set -euo pipefail
# A failing timed command must stop the run, also inside $(...).
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."
SIZE_MIB=${1:-1024}
NIMBUS=${NIMBUS:-target/release/nimbus}
OPENSTACK=${OPENSTACK:-.venv/bin/openstack}
[ -x "$NIMBUS" ] || cargo build --release -p nimbus
[ -x "$OPENSTACK" ] || { echo "missing $OPENSTACK: run scripts/test.sh once" >&2; exit 1; }

work=$(mktemp -d /var/tmp/nimbus-image-bench.XXXXXX)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

echo "==> $SIZE_MIB MiB of random data (declared raw)"
head -c "${SIZE_MIB}M" /dev/urandom >"$work/img.raw"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
NIMBUS_ADMIN_PASSWORD=bench-admin-secret "$NIMBUS" serve --data-dir "$work/data" --listen "127.0.0.1:$port" \
    >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/healthcheck" >/dev/null 2>&1 && break
    sleep 0.1
done
export OS_CLIENT_CONFIG_FILE="$work/data/clouds.yaml" OS_CLOUD=nimbus

# Seconds taken by a command (output discarded).
seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }'
}
rate() { awk -v m="$SIZE_MIB" -v t="$1" 'BEGIN { printf "%.0f", m / t }'; }

base="http://127.0.0.1:$port/image/v2/images"
# Warm the page cache once so every reader below starts equal.
cat "$work/img.raw" >/dev/null
t_sha=$(seconds sha512sum "$work/img.raw")
t_md5=$(seconds md5sum "$work/img.raw")
t_qinfo=$(seconds qemu-img info "$work/img.raw")
t_cli_up=$(seconds "$OPENSTACK" image create --disk-format raw --container-format bare --file "$work/img.raw" bench-cli)
t_cli_down=$(seconds "$OPENSTACK" image save --file "$work/out-cli" bench-cli)
rm -f "$work/out-cli"
token=$("$OPENSTACK" token issue -f value -c id)
# Through the API: `openstack image create` without --file uploads a non-tty
# stdin (empty here), which would leave an active 0-byte image.
id=$(curl -sf -X POST -H "X-Auth-Token: $token" -H "Content-Type: application/json" \
    -d '{"name": "bench-curl", "disk_format": "raw", "container_format": "bare"}' "$base" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
t_curl_up=$(seconds curl -sf -X PUT -H "X-Auth-Token: $token" -H "Content-Type: application/octet-stream" \
    -T "$work/img.raw" "$base/$id/file")
t_curl_down=$(seconds curl -sf -H "X-Auth-Token: $token" -o "$work/out-curl" "$base/$id/file")
cmp -s "$work/img.raw" "$work/out-curl" || { echo "downloaded data differs" >&2; exit 1; }

echo
echo "| what | seconds | MiB/s | vs sha512sum |"
echo "|---|---|---|---|"
for row in "sha512sum:$t_sha" "md5sum:$t_md5" "qemu-img info:$t_qinfo" "openstack image create --file:$t_cli_up" "openstack image save:$t_cli_down" \
    "curl PUT .../file:$t_curl_up" "curl GET .../file:$t_curl_down"; do
    name=${row%:*}
    t=${row##*:}
    pct=$(awk -v a="$t_sha" -v b="$t" 'BEGIN { printf "%.0f%%", 100 * a / b }')
    if [ "$name" = "qemu-img info" ]; then
        # Reads the headers only: a latency, not a rate.
        echo "| $name | $t | - | - |"
        continue
    fi
    echo "| $name | $t | $(rate "$t") | $pct |"
done
