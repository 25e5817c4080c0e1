"""What the end-to-end benchmarks share: where the binaries are (the
release tree tests/bench/run.sh builds, unless REMEDIAD, REMEDIACTL and
MOCKBROKER say otherwise), the mock broker helper, and reading the audit
log's times."""
import datetime
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(REPO, "build-bench")
os.environ.setdefault("REMEDIAD", os.path.join(BUILD, "daemon", "remediad"))
os.environ.setdefault("REMEDIACTL", os.path.join(BUILD, "daemon",
                                                 "remediactl"))
os.environ.setdefault("MOCKBROKER", os.path.join(BUILD, "tests", "tools",
                                                 "mockbroker"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

REMEDIAD = os.environ["REMEDIAD"]
REMEDIACTL = os.environ["REMEDIACTL"]
WAIT = 600.0
# A connector that does nothing, as fast as a process can.
TRIVIAL_CONNECTOR = "#!/bin/sh\ncat >/dev/null\necho '{\"status\":\"ok\"}'\n"


def ts(s):
    """An audit record's time as a Unix timestamp."""
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def audit_records(state, markers):
    """The records of state/audit whose line contains one of markers."""
    out = []
    audit = os.path.join(state, "audit")
    for name in sorted(os.listdir(audit)):
        with open(os.path.join(audit, name), "rb") as f:
            for line in f:
                if any(m in line for m in markers):
                    out.append(json.loads(line))
    return out
