#!/bin/sh
# Installs the Debian bookworm packages remediad needs to build, run and test.
# Idempotent: when everything is present it prints nothing and touches nothing.
set -eu

PKGS="build-essential meson ninja-build pkg-config
libevent-dev librdkafka-dev libjansson-dev liblua5.4-dev libssl-dev
libcmocka-dev kcat python3 nftables"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "deps.sh: missing packages:$missing; run as root to install them" >&2
		exit 1
	fi
else
	SUDO=
fi

echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
