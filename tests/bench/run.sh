#!/bin/sh
# Runs the benchmarks: builds an optimized, non-sanitized tree in build-bench
# (release, tests on) and runs each benchmark with this script's arguments
# (bench_audit [N] [DIR]). It prints figures; nothing is asserted.
set -eu
cd "$(dirname "$0")/../.."

BUILD=build-bench
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" -Dbuildtype=release -Dtests=true >/dev/null
fi
BENCHES="bench_audit"
# Only the benchmarks and what they link; quiet unless it fails.
if ! meson compile -C "$BUILD" $BENCHES >"$BUILD/bench-compile.log" 2>&1
then
	cat "$BUILD/bench-compile.log" >&2
	exit 1
fi

for bench in $BENCHES; do
	"$BUILD/tests/bench/$bench" "$@"
done
