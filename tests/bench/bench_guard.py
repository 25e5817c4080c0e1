#!/usr/bin/env python3
"""bench_guard: the guard and the approvals, end to end through the real
daemon. (1) Plans of K requests (K = 1, 5, 10) from a playbook, all held
for approval: guard decisions per second, from the first guard.decision to
the last. (2) With those N pending approvals (default 10000), the wall time
of `remediactl approvals` (best of 5), next to `remediactl ping` measured
in the same run (the issue's reference: under 100 ms). It prints figures;
nothing is asserted.

usage: bench_guard.py [N]

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
  name = "bench-k",
  match = { source = "generic" },
  run = function(alert, rd)
    for i = 1, K do
      rd.mitigate.isolate{ host = alert.title .. "-" .. i, ttl = "1h" }
    end
  end,
}
"""
CONNECTOR = TRIVIAL_CONNECTOR


def decisions(state):
    return [ts(r["time"]) for r in audit_records(
        state, (b'"guard.decision"',))]


def ctl_wall(sock, *args, runs=5):
    best = None
    for _ in range(runs):
        t0 = time.monotonic()
        r = subprocess.run([REMEDIACTL, "-s", sock, *args],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        secs = time.monotonic() - t0
        if r.returncode != 0:
            raise RuntimeError(f"remediactl {args}: {r.stderr.decode()}")
        best = secs if best is None else min(best, secs)
    return best


def run(tmp, boot, k, alerts):
    d = os.path.join(tmp, f"k{k}")
    os.makedirs(os.path.join(d, "pb"))
    os.makedirs(os.path.join(d, "conn"))
    with open(os.path.join(d, "pb", "bench.lua"), "w") as f:
        f.write(PLAYBOOK.replace("K", str(k)))
    with open(os.path.join(d, "conn", "trivial"), "w") as f:
        f.write(CONNECTOR)
    os.chmod(os.path.join(d, "conn", "trivial"), 0o755)
    topic = f"alerts-k{k}"
    state = os.path.join(d, "state")
    sock = os.path.join(d, "ctl.sock")
    conf = os.path.join(d, "remediad.conf")
    with open(conf, "w") as f:
        f.write(f'state_dir = "{state}"\nlog = {{ level = "warn" }}\n'
                f'control = {{ socket = "{sock}" }}\n'
                f'kafka = {{ brokers = "{boot}", topic = "{topic}", '
                f'group = "bench-k{k}", max_in_flight = 100000, '
                'properties = { ["session.timeout.ms"] = "3000", '
                '["heartbeat.interval.ms"] = "500", '
                # A fetch that finds a partition empty waits up to 500 ms
                # by default: with 1000-10000 alerts, one such wait in the
                # middle was most of the window (0.59 s against 0.14 s for
                # the same 10000 decisions). The guard is what is timed.
                '["fetch.wait.max.ms"] = "10" } }\n'
                'audit = { sync = "group" }\n'
                f'playbooks = {{ dir = "{d}/pb", timeout = "1s", '
                'max_actions = 16 }\n'
                f'connectors = {{ dir = "{d}/conn", actions = {{ isolate = '
                '{ connector = "trivial", rollback = "unisolate" }, '
                'unisolate = { connector = "trivial" } } }\n'
                'approvals = { required = { "mitigate.isolate" } }\n')
    proc = subprocess.Popen([REMEDIAD, "-c", conf], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(d, "log"), "wb"))
    want = k * alerts
    try:
        deadline = time.monotonic() + WAIT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"remediad exited {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("not done in time")
            if os.path.isdir(os.path.join(state, "audit")):
                t = decisions(state)
                if len(t) >= want:
                    break
            time.sleep(0.5)
        secs = max(t) - min(t)
        print(f"bench_guard: plans of {k} request(s): {len(t)} guard "
              f"decisions in {secs:.2f} s = {len(t) / max(secs, 1e-6):.0f} "
              "decisions/s (each held: a pending approval)")
        return sock, proc
    except BaseException:
        proc.terminate()
        proc.wait()
        raise


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() \
        else 10000
    tmp = tempfile.mkdtemp(prefix="bench_guard-")
    b = MockBroker(tmp)
    try:
        ks = (1, 5, 10)
        boot = b.start(1, {f"alerts-k{k}": 8 for k in ks})
        for k in ks:
            alerts = max(n // k, 1)
            produce(boot, f"alerts-k{k}", [json.dumps({"title": f"h{i}",
                    "message": f"k{k} {i}"}) for i in range(alerts)],
                    partitions=8)
            sock, proc = run(tmp, boot, k, alerts)
            if k == 1:
                ping = ctl_wall(sock, "ping")
                appr = ctl_wall(sock, "approvals")
                appr_json = ctl_wall(sock, "--json", "approvals")
                print(f"bench_guard: remediactl approvals with {alerts} "
                      f"pending: {appr * 1000:.0f} ms wall (--json "
                      f"{appr_json * 1000:.0f} ms), best of 5; remediactl "
                      f"ping {ping * 1000:.0f} ms; target < 100 ms: "
                      f"{'met' if appr < 0.1 else 'NOT met'}")
            proc.terminate()
            proc.wait()
    finally:
        b.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
