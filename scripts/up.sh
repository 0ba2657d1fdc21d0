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

cat <<MSG

Nimbus is running on http://$LISTEN (pid $(cat "$PIDFILE"), log $LOG).
Use it with:
  export OS_CLIENT_CONFIG_FILE=$DATA_DIR/clouds.yaml OS_CLOUD=nimbus
  $OS catalog list
Stop it with: kill \$(cat $PIDFILE)
MSG
