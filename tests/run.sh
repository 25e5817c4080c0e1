#!/bin/sh
# The test command (README, .ci/run): installs what is missing, builds under
# AddressSanitizer and UBSan, runs every suite, and ends with one line
# "N passed, N failed". Exits non-zero on any failure.
set -eu
cd "$(dirname "$0")/.."

sh packaging/deps.sh
BUILD=${BUILD:-build-test}
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" --werror -Db_sanitize=address,undefined \
	    -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
fi
meson compile -C "$BUILD"

# meson's exit status and its log are read; its own summary is not what CI
# reads, the last line below is.
status=0
meson test -C "$BUILD" --print-errorlogs --num-processes 2 "$@" || status=$?
python3 - "$BUILD/meson-logs/testlog.json" "$status" <<'PY'
import json, sys
passed = failed = skipped = 0
try:
    with open(sys.argv[1]) as f:
        for line in f:
            r = json.loads(line).get("result")
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
except FileNotFoundError:
    pass
if passed + failed == 0 and sys.argv[2] != "0":
    failed = 1  # the run broke before any test: still a failure
print(f"{passed} passed, {failed} failed" +
      (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed or sys.argv[2] != "0" else 0)
PY
