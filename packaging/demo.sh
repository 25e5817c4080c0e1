#!/bin/sh
# The run command (README): installs what is missing, builds, and starts
# remediad in the foreground on the self-contained demo config.
set -eu
cd "$(dirname "$0")/.."
sh packaging/deps.sh
if [ ! -f build/build.ninja ]; then
	meson setup build -Dbuildtype=release >/dev/null
fi
meson compile -C build >/dev/null
echo "remediad: demo on /tmp/remediad-demo; in another terminal:" >&2
echo "  ./build/daemon/remediactl -s /tmp/remediad-demo/control.sock status" >&2
exec ./build/daemon/remediad -c packaging/demo.conf "$@"
