#!/usr/bin/env python3
"""bench_actions: the action runner's rates, end to end through the real
daemon. (1) A burst of N mitigations (default 1000): N alerts produced into
the mock broker, each planned by a playbook into one isolate with a long
ttl, carried out by a trivial connector (a shell script) with concurrency
32: time from the first plan.created to the last action.succeeded. (2) M
expiring mitigations (default 10000) with a 1 s ttl: time from the first
mitigation.expired to the last mitigation.rolled_back. It prints rates;
nothing is asserted.

usage: bench_actions.py [N [M]]

tests/bench/run.sh points REMEDIAD, REMEDIACTL and MOCKBROKER at the
release build. Standard library only."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import (REMEDIAD, REMEDIACTL, TRIVIAL_CONNECTOR, WAIT,
                      audit_records, ts)
from brokerlib import MockBroker, produce

PLAYBOOK = """return playbook {
  name = "bench-isolate",
  match = { source = "generic" },
  run = function(alert, rd)
    rd.mitigate.isolate{ host = alert.title, ttl = "TTL" }
  end,
}
"""
CONNECTOR = TRIVIAL_CONNECTOR


def records(state):
    return audit_records(state, (b'"action.', b'"mitigation.',
                                 b'"plan.created"'))


def run(tmp, boot, name, n, ttl, until):
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, "pb"))
    os.makedirs(os.path.join(d, "conn"))
    with open(os.path.join(d, "pb", "bench.lua"), "w") as f:
        f.write(PLAYBOOK.replace("TTL", ttl))
    conn = os.path.join(d, "conn", "trivial")
    with open(conn, "w") as f:
        f.write(CONNECTOR)
    os.chmod(conn, 0o755)
    topic = "alerts-" + name
    conf = os.path.join(d, "remediad.conf")
    state = os.path.join(d, "state")
    sock = os.path.join(d, "ctl.sock")
    with open(conf, "w") as f:
        f.write(f'state_dir = "{state}"\nlog = {{ level = "warn" }}\n'
                f'control = {{ socket = "{sock}" }}\n'
                f'kafka = {{ brokers = "{boot}", topic = "{topic}", '
                f'group = "bench-{name}", max_in_flight = 100000, '
                'properties = { ["session.timeout.ms"] = "3000", '
                '["heartbeat.interval.ms"] = "500" } }\n'
                'audit = { sync = "group" }\n'
                f'playbooks = {{ dir = "{d}/pb", timeout = "1s" }}\n'
                f'connectors = {{ dir = "{d}/conn", concurrency = 32, '
                'timeout = "30s", actions = { isolate = { connector = '
                '"trivial", rollback = "unisolate" }, unisolate = { '
                'connector = "trivial" } } }\n')
    proc = subprocess.Popen([REMEDIAD, "-c", conf], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(d, "log"), "wb"))
    try:
        deadline = time.monotonic() + WAIT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"remediad exited {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("not done in time")
            if os.path.isdir(os.path.join(state, "audit")):
                recs = records(state)
                done = sum(r["type"] == until for r in recs)
                if done >= n:
                    return recs
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait()


def main():
    args = [int(a) for a in sys.argv[1:3] if a.isdigit()]
    n = args[0] if args else 1000
    m = args[1] if len(args) > 1 else 10000
    tmp = tempfile.mkdtemp(prefix="bench_actions-")
    b = MockBroker(tmp)
    try:
        boot = b.start(1, {"alerts-burst": 8, "alerts-expiry": 8})
        produce(boot, "alerts-burst", [json.dumps({"title": f"h{i}",
                "message": f"burst {i}"}) for i in range(n)], partitions=8)
        recs = run(tmp, boot, "burst", n, "24h", "mitigation.active")
        plans = [ts(r["time"]) for r in recs if r["type"] == "plan.created"]
        ok = [ts(r["time"]) for r in recs if r["type"] == "action.succeeded"]
        secs = max(ok) - min(plans)
        print(f"bench_actions: burst of {n} mitigations, trivial connector, "
              f"concurrency 32: {secs:.2f} s from the first plan to the "
              f"last action.succeeded = {n / secs:.0f} mitigations/s")
        produce(boot, "alerts-expiry", [json.dumps({"title": f"x{i}",
                "message": f"expiry {i}"}) for i in range(m)], partitions=8)
        recs = run(tmp, boot, "expiry", m, "1s", "mitigation.rolled_back")
        exp = [ts(r["time"]) for r in recs if r["type"] ==
               "mitigation.expired"]
        rb = [ts(r["time"]) for r in recs if r["type"] ==
              "mitigation.rolled_back"]
        secs = max(rb) - min(exp)
        print(f"bench_actions: {m} mitigations expiring (ttl 1s): "
              f"{secs:.2f} s from the first expiry to the last rollback = "
              f"{m / secs:.0f} rollbacks/s")
    finally:
        b.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
