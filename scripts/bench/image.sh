#!/usr/bin/env bash
# Image upload and download throughput, side by side in one run:
#   sha512sum of the file (the single-core hashing limit), md5sum, qemu-img info,
#   `openstack image create --file` / `openstack image save`,
#   curl PUT (with a length and chunked) / GET of /image/v2/images/{id}/file,
#   with the CPU seconds of the client command and of the server for each.
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

# "wall user sys" seconds of a command (output discarded); a failure stops the run.
measure() {
    local TIMEFORMAT='%R %U %S'
    { time "$@" >/dev/null 2>"$work/cmd.err"; } 2>&1 || { cat "$work/cmd.err" >&2; return 1; }
}
# CPU seconds the server has used so far.
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$pid/stat"; }
rate() { awk -v m="$SIZE_MIB" -v t="$1" 'BEGIN { printf "%.0f", m / t }'; }
declare -A wall client server
# Runs and records one row: name, then the command.
row() {
    local name=$1 before m
    shift
    # Flush the previous row's writes (image save, the last upload) so that no
    # row pays for another's writeback.
    sync
    before=$(server_cpu)
    m=$(measure "$@")
    wall[$name]=${m%% *}
    client[$name]=$(awk -v u="$(echo "$m" | cut -d' ' -f2)" -v s="$(echo "$m" | cut -d' ' -f3)" 'BEGIN { printf "%.2f", u + s }')
    server[$name]=$(awk -v a="$before" -v b="$(server_cpu)" 'BEGIN { printf "%.2f", b - a }')
}

base="http://127.0.0.1:$port/image/v2/images"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm the page cache once so every reader below starts equal.
cat "$work/img.raw" >/dev/null
row "sha512sum" sha512sum "$work/img.raw"
row "md5sum" md5sum "$work/img.raw"
row "qemu-img info" qemu-img info "$work/img.raw"
# What every CLI command costs before any data moves (start-up, auth, one request).
row "openstack image list" "$OPENSTACK" image list
row "openstack image create --file" "$OPENSTACK" image create --disk-format raw --container-format bare \
    --file "$work/img.raw" bench-cli
row "openstack image save" "$OPENSTACK" image save --file "$work/out-cli" bench-cli
rm -f "$work/out-cli"
token=$("$OPENSTACK" token issue -f value -c id)
# Through the API: `openstack image create` without --file uploads a non-tty
# stdin (empty here), which would leave an active 0-byte image.
new_image() {
    curl -sf -X POST -H "X-Auth-Token: $token" -H "Content-Type: application/json" \
        -d "{\"name\": \"$1\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}" "$base" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
id=$(new_image bench-curl)
row "curl PUT .../file" curl -sf -X PUT -H "X-Auth-Token: $token" -H "Content-Type: application/octet-stream" \
    -T "$work/img.raw" "$base/$id/file"
# The same upload with chunked transfer encoding and no size announced.
id2=$(new_image bench-curl-chunked)
row "curl PUT .../file (chunked)" curl -sf -X PUT -H "X-Auth-Token: $token" \
    -H "Content-Type: application/octet-stream" -H "Transfer-Encoding: chunked" \
    -T "$work/img.raw" "$base/$id2/file"
row "curl GET .../file" curl -sf -H "X-Auth-Token: $token" -o "$work/out-curl" "$base/$id/file"
cmp -s "$work/img.raw" "$work/out-curl" || { echo "downloaded data differs" >&2; exit 1; }
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "| what | seconds | MiB/s | vs sha512sum | client CPU s | server CPU s |"
echo "|---|---|---|---|---|---|"
for name in "sha512sum" "md5sum" "qemu-img info" "openstack image list" "openstack image create --file" \
    "openstack image save" "curl PUT .../file" "curl PUT .../file (chunked)" "curl GET .../file"; do
    t=${wall[$name]}
    pct=$(awk -v a="${wall[sha512sum]}" -v b="$t" 'BEGIN { printf "%.0f%%", 100 * a / b }')
    case $name in
    "qemu-img info" | "openstack image list")
        # No image data moves: a latency, not a rate.
        echo "| $name | $t | - | - | ${client[$name]} | ${server[$name]} |"
        ;;
    *) echo "| $name | $t | $(rate "$t") | $pct | ${client[$name]} | ${server[$name]} |" ;;
    esac
done
