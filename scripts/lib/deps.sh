# Installs what Nimbus and its test suite need on a Debian 12 machine.
# Sourced by scripts/up.sh and scripts/test.sh; idempotent and quick when
# everything is already there.

NIMBUS_ROOT=${NIMBUS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
NIMBUS_VENV=${NIMBUS_VENV:-$NIMBUS_ROOT/.venv}
# The client versions the API work was traced against (shared/design/openstack-cli-calls.md).
NIMBUS_PY_PACKAGES="python-openstackclient==10.5.0 openstacksdk==4.22.0 keystoneauth1==5.18.1"
# An S3-compatible server the image store tests start on 127.0.0.1.
NIMBUS_PY_PACKAGES="$NIMBUS_PY_PACKAGES moto[server]==5.2.5"

# Debian packages: the real tools the tests compare against, the guest's
# hypervisor, PostgreSQL, iSCSI target.
NIMBUS_APT_PACKAGES="qemu-system-x86 qemu-utils genisoimage dosfstools mtools busybox-static
  fdisk cpio e2fsprogs tgt postgresql python3-venv curl ca-certificates util-linux openssl"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

nimbus_missing_apt_packages() {
    local p missing=""
    for p in $NIMBUS_APT_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    # qemu-utils must come from the same release as qemu-system-x86 (a newer
    # qemu-utils breaks qemu-system-common); a backported one counts as missing.
    if dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q bpo; then
        missing="$missing qemu-utils"
    fi
    echo "$missing"
}

nimbus_install_apt_packages() {
    local missing
    missing=$(nimbus_missing_apt_packages)
    [ -z "$missing" ] && return 0
    echo "==> installing Debian packages:$missing"
    as_root apt-get update -qq
    local v
    v=$(apt-cache policy qemu-system-x86 | awk '/Candidate/{print $2}')
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades \
        $(echo "$NIMBUS_APT_PACKAGES" | sed 's/qemu-utils//') "qemu-utils=$v" "qemu-block-extra=$v" >/dev/null
}

nimbus_install_venv() {
    if [ -x "$NIMBUS_VENV/bin/openstack" ] && [ -f "$NIMBUS_VENV/.nimbus-packages" ] &&
        [ "$(cat "$NIMBUS_VENV/.nimbus-packages")" = "$NIMBUS_PY_PACKAGES" ]; then
        return 0
    fi
    echo "==> installing the openstack CLI into $NIMBUS_VENV"
    python3 -m venv "$NIMBUS_VENV"
    # shellcheck disable=SC2086
    "$NIMBUS_VENV/bin/pip" install -q --disable-pip-version-check $NIMBUS_PY_PACKAGES
    echo "$NIMBUS_PY_PACKAGES" >"$NIMBUS_VENV/.nimbus-packages"
}

nimbus_install_deps() {
    nimbus_install_apt_packages
    nimbus_install_venv
    command -v cargo >/dev/null || {
        echo "cargo is missing: install Rust (rustup) first" >&2
        return 1
    }
}
