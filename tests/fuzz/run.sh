#!/bin/sh
# Fuzzes every target for real with clang and libFuzzer (not part of the test
# command): installs what is missing, builds into $FUZZ_DIR, and runs each
# target for $SECONDS on a copy of its seed corpus. Usage:
#   sh tests/fuzz/run.sh [SECONDS] [TARGET...]     (targets: alert proto ...)
# Findings are left in $FUZZ_DIR/<target>/crash-*; the exit status is 1 then.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ_DIR=${FUZZ_DIR:-/tmp/remediad-fuzz}
# SECONDS is read from the environment once; bash would count it up.
# shellcheck disable=SC3028
secs=${1:-${SECONDS:-60}}
[ $# -gt 0 ] && shift
TARGETS=${*:-alert proto audit_canon audit_line config json_scan plan}
CC=${CC_FUZZ:-clang}

if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
	SUDO=sudo
else
	SUDO=
fi

# The daemon's build dependencies, then clang with its libFuzzer runtime
# (bookworm: libclang_rt.fuzzer-*.a is in libclang-rt-14-dev).
sh "$ROOT/packaging/deps.sh"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }' \
    >"$probe/probe.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$probe/probe.c" \
    -o "$probe/probe" >/dev/null 2>&1; then
	echo "run.sh: installing clang and libclang-rt-14-dev" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >/dev/null
	$SUDO apt-get install -y -qq --no-install-recommends clang \
	    libclang-rt-14-dev >/dev/null
	"$CC" -fsanitize=fuzzer,address,undefined "$probe/probe.c" \
	    -o "$probe/probe"
fi

# Every unit of the daemon but the programs' mains and remediactl's own
# files: the targets link what they need from these objects.
PKGS="jansson libcrypto lua5.4 libevent libevent_pthreads rdkafka"
VERSION_DEF='-DREMEDIAD_VERSION="fuzz"'
# What daemon/meson.build defines for every unit (config.c's default).
CONNECTORS_DEF='-DREMEDIAD_CONNECTORS_DIR="/usr/local/libexec/remediad/connectors"'
# shellcheck disable=SC2086
CFLAGS="-std=c11 -g -O1 -D_GNU_SOURCE -I$ROOT/include $(pkg-config --cflags $PKGS)
-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
-fno-omit-frame-pointer"
# shellcheck disable=SC2086
LIBS="$(pkg-config --libs $PKGS) -lpthread"
mkdir -p "$FUZZ_DIR/obj"
objs=""
for src in "$ROOT"/daemon/*.c; do
	base=$(basename "$src" .c)
	case $base in
	main | remediactl | ctl_*) continue ;;
	esac
	obj="$FUZZ_DIR/obj/$base.o"
	if [ ! -f "$obj" ] || [ -n "$(find "$src" "$ROOT/include" \
	    -name '*.[ch]' -newer "$obj")" ]; then
		# shellcheck disable=SC2086
		"$CC" $CFLAGS "$VERSION_DEF" "$CONNECTORS_DEF" -c "$src" \
		    -o "$obj"
	fi
	objs="$objs $obj"
done

status=0
for t in $TARGETS; do
	out="$FUZZ_DIR/$t"
	mkdir -p "$out/corpus"
	# shellcheck disable=SC2086
	"$CC" $CFLAGS "$VERSION_DEF" -fsanitize=fuzzer "$ROOT/tests/fuzz/fuzz_$t.c" $objs \
	    $LIBS -o "$out/fuzz_$t"
	# A copy: what the run adds stays out of the source tree.
	cp "$ROOT/tests/fuzz/corpus/$t/"* "$out/corpus/"
	extra=""
	[ "$t" = config ] && extra="-max_len=65536 -timeout=30"
	printf 'fuzz %-10s %ss ... ' "$t" "$secs"
	# shellcheck disable=SC2086
	if "$out/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
	    -artifact_prefix="$out/" $extra "$out/corpus" >"$out/log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
		    "$out/log")
		echo "ok, ${execs:-?} runs, corpus $(find "$out/corpus" -type f | wc -l)"
	else
		status=1
		echo "FAILED: see $out/log"
		ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* \
		    2>/dev/null || true
		grep -m1 -A30 '^==[0-9]*==ERROR\|runtime error' "$out/log" || true
	fi
done
exit $status
