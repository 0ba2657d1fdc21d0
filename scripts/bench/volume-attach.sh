#!/usr/bin/env bash
# Volume attach + detach latency on a running guest over QMP, local file vs
# iSCSI LUN (tgtd on 127.0.0.1 with CHAP): the nimbus-qmp calls the compute
# service uses. Needs qemu-system-x86_64, tgt (tgtd running or startable).
# Usage: scripts/bench/volume-attach.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-20}
bash scripts/guest/build.sh target/test-guest >/dev/null
if ! tgtadm --lld iscsi --op show --mode target >/dev/null 2>&1; then
    tgtd --iscsi portal=127.0.0.1:3260
    sleep 1
fi
cargo run --release -q -p nimbus-qmp --example volume_bench -- target/test-guest "$rounds"
