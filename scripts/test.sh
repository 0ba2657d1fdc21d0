#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, starts a throwaway
# PostgreSQL, then formatting, lints, and every unit, integration and
# end-to-end test (the latter against SQLite and PostgreSQL, with the real
# openstack CLI, qemu-img, e2fsck, isoinfo, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh
. scripts/lib/postgres.sh

nimbus_install_deps
nimbus_postgres_start
trap nimbus_postgres_stop EXIT

export NIMBUS_TEST_OPENSTACK="$NIMBUS_VENV/bin/openstack"
# The suites skip nothing: a missing PostgreSQL or tool is a failure here.
export NIMBUS_TEST_REQUIRE_ALL=1

echo "==> test guest (kernel, initramfs, root disk)"
bash scripts/guest/build.sh target/test-guest

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked --no-fail-fast "$@"
