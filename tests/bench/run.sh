#!/bin/sh
# Runs the benchmarks: builds an optimized, non-sanitized tree in build-bench
# (release, tests on) and runs each benchmark with this script's arguments
# (bench_audit [N] [DIR]), then bench_intake.py [N] (intake, and with
# playbooks), bench_actions.py (mitigation bursts and expiries) and
# bench_guard.py (guard decisions/s, remediactl approvals with 10000
# pending) on the binaries built here. It prints figures; nothing is asserted.
set -eu
cd "$(dirname "$0")/../.."

BUILD=build-bench
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" -Dbuildtype=release -Dtests=true >/dev/null
else
	# A tree set up before a meson.build changed does not know the newer
	# targets by name yet (meson compile looks them up first): regenerate.
	ninja -C "$BUILD" build.ninja >/dev/null
fi
BENCHES="bench_audit"
# What the end-to-end benchmarks drive: the daemon, remediactl (actions and
# guard; bench_intake.py reads the control socket itself), the mock broker.
INTAKE="daemon/remediad daemon/remediactl tests/tools/mockbroker"
# Only the benchmarks and what they link; quiet unless it fails.
if ! meson compile -C "$BUILD" $BENCHES $INTAKE \
    >"$BUILD/bench-compile.log" 2>&1
then
	cat "$BUILD/bench-compile.log" >&2
	exit 1
fi

for bench in $BENCHES; do
	"$BUILD/tests/bench/$bench" "$@"
done
# N only: bench_audit's DIR means nothing to it.
REMEDIAD="$BUILD/daemon/remediad" MOCKBROKER="$BUILD/tests/tools/mockbroker" \
    python3 tests/bench/bench_intake.py ${1+"$1"}
REMEDIAD="$BUILD/daemon/remediad" REMEDIACTL="$BUILD/daemon/remediactl" \
    MOCKBROKER="$BUILD/tests/tools/mockbroker" \
    python3 tests/bench/bench_actions.py
REMEDIAD="$BUILD/daemon/remediad" REMEDIACTL="$BUILD/daemon/remediactl" \
    MOCKBROKER="$BUILD/tests/tools/mockbroker" \
    python3 tests/bench/bench_guard.py
