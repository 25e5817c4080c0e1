#!/usr/bin/env python3
"""The playbook engine end to end: the real remediad with its worker
processes, the mock broker helper, kcat as the producer. Every alert a
playbook matches ends in exactly one outcome record per playbook (plan
created, matched with an empty plan, skipped, or failed), whatever hangs,
crashes, reloads and kill -9 do."""
import collections
import json
import os
import signal
import subprocess
import sys
import time

from harness import (Daemon, TestFailure, check, run_cases, wait_for, WAIT,
                     REMEDIAD)
from brokerlib import MockBroker, produce

HERE = os.path.dirname(os.path.abspath(__file__))
GENALERTS = os.path.join(HERE, "..", "tools", "genalerts.py")
OUTCOMES = ("plan.created", "playbook.matched", "playbook.skipped",
            "playbook.failed")

EDR = '''
return playbook {
  name = "edr-isolate",
  match = { source = "ecs", min_severity = 50, has = { "host" } },
  run = function(alert, rd)
    rd.mitigate.isolate{ host = alert.host, ttl = "4h", reason = "malware" }
  end,
}
'''

# Generic alerts whose title says what to do: hang in a C call (a
# backtracking pattern the count hook cannot interrupt), loop, fail, or
# ticket. The pattern runs for minutes on 5000 bytes.
TRICKS = '''
return playbook {
  name = "tricks",
  match = { source = "generic" },
  run = function(alert, rd)
    local t = alert.title or ""
    if t == "hang" then
      string.find(string.rep("a", 5000), ".-.-.-.-.-.-.-.-b")
    elseif t == "loop" then
      while true do end
    elseif t == "fail" then
      error("asked to fail")
    elseif t == "slow" then
      local x = 0
      for i = 1, 200000 do x = x + i end
    end
    rd.ticket{ summary = "generic alert " .. t }
  end,
}
'''


def alerts(n, seed):
    r = subprocess.run([sys.executable, GENALERTS, str(n), str(seed)],
                       capture_output=True, text=True, check=True,
                       timeout=WAIT)
    return r.stdout.splitlines()


def generic(title, n=1, tag=""):
    return [json.dumps({"title": title, "message": f"{title} {tag}{i}"})
            for i in range(n)]


def setup(tmp, daemons, playbooks, more="", partitions=4, timeout="250ms",
          kafka_more=""):
    b = MockBroker(tmp)
    daemons.append(b)
    boot = b.start(1, {"alerts": partitions, "alerts.dlq": 1})
    pbdir = os.path.join(tmp, "playbooks")
    os.makedirs(pbdir, exist_ok=True)
    for name, text in playbooks.items():
        with open(os.path.join(pbdir, name), "w") as f:
            f.write(text)
    extra = (f'kafka = {{ brokers = "{boot}", topic = "alerts", '
             f'group = "remediad", properties = {{ ["session.timeout.ms"] = '
             f'"3000", ["heartbeat.interval.ms"] = "500" }} {kafka_more} }}\n'
             f'audit.sync = "group"\n'
             f'playbooks = {{ dir = "{pbdir}", workers = 2, '
             f'timeout = "{timeout}" {more} }}\n')
    d = Daemon(tmp, extra=extra)
    daemons.append(d)
    return boot, pbdir, d


def status(d):
    return d.ctl("status", json_out=True)


def settled(d, n):
    # No "kafka" yet: intake starts once the playbooks are loaded.
    k = status(d).get("kafka")
    return (k is not None and k["counters"]["received"] >= n and
            k["inflight"] == 0)


def wait_settled(d, n, timeout=WAIT):
    try:
        wait_for(lambda: settled(d, n), f"{n} alerts to settle", timeout)
    except TestFailure as e:
        # What was stuck: intake not started, alerts not received, or
        # runs owed (and by which playbooks).
        s = status(d)
        last = [r["type"] for r in d.records()[-8:]]
        raise TestFailure(f"{e}: kafka {json.dumps(s.get('kafka'))}; "
                          f"playbooks {json.dumps(s.get('playbooks'))}; "
                          f"last records {last}") from None


def outcomes_exactly_once(records):
    """Every playbook an alert.received lists as owed (playbooks) has
    exactly one outcome record for that alert; one it lists as skipped by
    the dedup window at once (dedup_skipped) has none; no outcome without
    an owed run. Returns the outcomes by (alert, playbook), with the
    skipped ones as {"type": "dedup_skipped"}."""
    owed = collections.Counter()
    skipped = set()
    for r in records:
        if r["type"] == "alert.received":
            for p in r.get("playbooks", []):
                owed[(r["alert"], p)] += 1
            for p in r.get("dedup_skipped", []):
                check(p not in r.get("playbooks", []),
                      f"{r['alert']}: {p} both owed and skipped")
                skipped.add((r["alert"], p))
    got = collections.defaultdict(list)
    for r in records:
        if r["type"] in OUTCOMES:
            got[(r["alert"], r["playbook"])].append(r)
    for k, n in owed.items():
        check(n == 1, f"{k} listed by {n} alert.received records")
        check(len(got.get(k, [])) == 1,
              f"{k}: {len(got.get(k, []))} outcome records, want 1")
    for k in got:
        check(k in owed, f"outcome for {k} without an alert.received")
    out = {k: v[0] for k, v in got.items()}
    out.update({k: {"type": "dedup_skipped"} for k in skipped})
    return out


def plans_through_pipeline(tmp, daemons):
    boot, _, d = setup(tmp, daemons, {"edr.lua": EDR, "tricks.lua": TRICKS})
    d.start()
    lines = alerts(1000, 5) + generic("ok", 20)
    produce(boot, "alerts", lines, partitions=4)
    wait_settled(d, len(lines))
    recs = d.records()
    got = outcomes_exactly_once(recs)
    edr = [r for r in recs if r["type"] == "alert.received" and
           r.get("source") == "ecs" and r.get("severity", 0) >= 50 and
           "host" in r]
    check(len(edr) > 0, "the mixed load has ECS alerts with a host")
    for r in edr:
        o = got[(r["alert"], "edr-isolate")]
        check(o["type"] == "plan.created", f"{o}")
        a = o["actions"]
        check(len(a) == 1 and a[0]["kind"] == "mitigate" and
              a[0]["action"] == "isolate" and
              a[0]["params"] == {"host": r["host"]} and
              a[0]["ttl"] == "4h" and a[0]["ttl_ms"] == 4 * 3600 * 1000 and
              a[0]["reason"] == "malware" and a[0]["approval"] == "auto",
              f"plan {a}")
        check(o["alert_seq"] == r["seq"], "alert_seq names the alert")
    tickets = [o for (a, p), o in got.items() if p == "tricks"]
    check(len(tickets) == 20 and all(o["type"] == "plan.created"
                                     for o in tickets), "20 tickets")
    pbs = {p["name"]: p for p in d.ctl("playbooks", json_out=True)
           ["playbooks"]}
    check(pbs["edr-isolate"]["planned"] == len(edr),
          f"counter {pbs['edr-isolate']} vs {len(edr)} plans")
    check(pbs["tricks"]["matched"] == 20, f"{pbs['tricks']}")
    check(pbs["edr-isolate"]["p99_us"] > 0, "run times are measured")
    out = d.ctl("playbooks").stdout
    check("edr-isolate" in out and "P99" in out, out)


ONE_HOST_DEDUP = """\
return playbook{
  name = "once-per-host",
  match = {has = "host"},
  dedup = {key = "host", window = "10m"},
  run = function(alert, rd)
    rd.ticket{summary = "first on " .. alert.host, ref = alert.id}
  end,
}
"""

ONE_HOST_ESCALATE = """\
return playbook{
  name = "count-per-host",
  match = {has = "host"},
  escalate = {key = "host", window = "1h"},
  run = function(alert, rd)
    rd.ticket{summary = "prior " .. rd.prior, ref = alert.raw.message}
  end,
}
"""


def runs_sharing_a_key(tmp, daemons):
    """Many alerts on two hosts at once: runs of one key wait for each
    other in the main process (a body is encoded for a run that waits, not
    for one dedup skips at once). dedup: one plan per host, the rest
    skipped; escalate: every run planned, rd.prior exactly 0..n-1 per
    host; each waiting run ran on its own alert."""
    boot, _, d = setup(tmp, daemons, {"dedup.lua": ONE_HOST_DEDUP,
                                      "escalate.lua": ONE_HOST_ESCALATE})
    d.start()
    n = 60
    lines = [json.dumps({"title": "t", "host": f"ws-{i % 2}",
                         "message": f"m{i}"}) for i in range(n)]
    produce(boot, "alerts", lines, partitions=4)
    wait_settled(d, n)
    recs = d.records()
    got = outcomes_exactly_once(recs)
    received = {r["alert"]: r for r in recs if r["type"] == "alert.received"}
    check(len(received) == n, f"{len(received)} alerts received, want {n}")
    for host in ("ws-0", "ws-1"):
        ids = [a for a, r in received.items() if r.get("host") == host]
        dd = [got[(a, "once-per-host")] for a in ids]
        plans = [o for o in dd if o["type"] == "plan.created"]
        check(len(plans) == 1, f"{host}: {len(plans)} dedup plans, want 1")
        # Skipped while the plan's run was in flight (a record), or at
        # once, after it (listed in alert.received).
        check(all((o["type"] == "playbook.skipped" and
                   o["reason"] == "dedup") or o["type"] == "dedup_skipped"
                  for o in dd if o is not plans[0]),
              f"{host}: the others skipped by dedup")
        esc = [got[(a, "count-per-host")] for a in ids]
        check(all(o["type"] == "plan.created" for o in esc),
              f"{host}: every escalate run planned")
        priors = sorted(o["prior"] for o in esc)
        check(priors == list(range(len(ids))),
              f"{host}: priors {priors}, want 0..{len(ids) - 1}")
        for o in esc:
            msg = o["actions"][0]["params"]["ref"]
            check(int(msg[1:]) % 2 == int(host[-1]),
                  f"{host}: a run saw another host's alert ({msg})")
    msgs = sorted(o["actions"][0]["params"]["ref"] for (a, p), o in got.items()
                  if p == "count-per-host")
    check(msgs == sorted(f"m{i}" for i in range(n)),
          "each escalate run saw its own alert, once")


def dedup_skips_at_once(tmp, daemons):
    """A run its dedup window skips while no run with its key is in flight
    is decided at match time: the alert.received record lists it under
    dedup_skipped, it owes nothing and has no outcome record; the counters
    still count it. After a restart the window (rebuilt from the plan's
    record) skips the same way."""
    boot, _, d = setup(tmp, daemons, {"dedup.lua": ONE_HOST_DEDUP})
    d.start()

    def one(i):
        produce(boot, "alerts", [json.dumps({"title": "t", "host": "ws-9",
                                             "message": f"m{i}"})],
                partition=0)
        wait_settled(d, i + 1 if i < 2 else 1)

    one(0)
    one(1)
    pbs = d.ctl("playbooks", json_out=True)["playbooks"]
    check(pbs[0]["matched"] == 2 and pbs[0]["skipped"] == 1 and
          pbs[0]["planned"] == 1, f"counters {pbs[0]}")
    d.stop()
    d.start()
    one(2)
    recs = d.records()
    got = outcomes_exactly_once(recs)
    received = [r for r in recs if r["type"] == "alert.received"]
    check(len(received) == 3, f"{len(received)} alerts received, want 3")
    first, later = received[0], received[1:]
    check(first.get("playbooks") == ["once-per-host"] and
          "dedup_skipped" not in first, f"the first runs: {first}")
    check(got[(first["alert"], "once-per-host")]["type"] == "plan.created",
          "the first plans")
    for r in later:
        check(r.get("dedup_skipped") == ["once-per-host"] and
              "playbooks" not in r, f"skipped at once: {r}")
    outcomes = [r for r in recs if r["type"] in OUTCOMES]
    check(len(outcomes) == 1, f"{len(outcomes)} outcome records, want 1")


def long_key_values(tmp, daemons):
    """Dedup keys as long as a field may be (4000 bytes), differing only
    in their last byte: the window keeps a keyed hash of each value, not
    the value, and still tells them apart - the same value is skipped, the
    next one plans - before and after a restart rebuilds it."""
    boot, _, d = setup(tmp, daemons, {"dedup.lua": ONE_HOST_DEDUP})
    d.start()
    stem = "h" * 4000
    sent = []

    def one(last, want):
        i = len(sent)
        sent.append(last)
        produce(boot, "alerts", [json.dumps({"title": "t",
                                             "host": stem + last,
                                             "message": f"m{i}"})],
                partition=0)
        wait_settled(d, want)

    one("a", 1)
    one("b", 2)
    one("a", 3)
    d.stop()
    d.start()
    one("b", 1)
    one("c", 2)
    recs = d.records()
    got = outcomes_exactly_once(recs)
    received = [r for r in recs if r["type"] == "alert.received"]
    check(len(received) == 5, f"{len(received)} alerts received, want 5")
    planned = []
    for r in received:
        check(r.get("host") == stem + sent[len(planned)],
              f"host of alert {len(planned)} kept whole")
        # Skipped at match time (dedup_skipped) or by a record.
        o = got[(r["alert"], "once-per-host")]
        check(o["type"] in ("plan.created", "dedup_skipped") or
              (o["type"] == "playbook.skipped" and o["reason"] == "dedup"),
              f"alert {len(planned)}: {o['type']}")
        planned.append(o["type"] == "plan.created")
    check(planned == [True, True, False, False, True],
          f"planned {planned}, want a, b plan; a, b skipped; c plans")


def hang_in_c_call_is_killed(tmp, daemons):
    boot, _, d = setup(tmp, daemons, {"tricks.lua": TRICKS})
    d.start()
    lines = generic("hang", 1) + generic("loop", 1) + generic("ok", 30)
    produce(boot, "alerts", lines, partition=0)
    wait_settled(d, len(lines))
    got = outcomes_exactly_once(d.records())
    reasons = collections.Counter(
        o.get("reason", o["type"]) for o in got.values())
    check(reasons["timeout"] == 1, f"one timeout: {reasons}")
    check(reasons["instructions"] == 1, f"one budget failure: {reasons}")
    check(reasons["plan.created"] == 30, f"the rest planned: {reasons}")
    pool = status(d)["playbooks"]["pool"]
    check(pool["timeouts"] == 1 and pool["ready"] == 2,
          f"the killed worker was replaced: {pool}")


def stuck_intake_pauses(tmp, daemons):
    """Past max_in_flight intake holds (stops taking messages); a hold with
    nothing drained for a second (a run hung at the head of the partition)
    pauses the partitions, and intake resumes once the run is killed at its
    deadline and the rest drain."""
    boot, _, d = setup(tmp, daemons, {"tricks.lua": TRICKS}, timeout="4s",
                       kafka_more=", max_in_flight = 10")
    d.start()
    lines = generic("hang", 1) + generic("ok", 60)
    produce(boot, "alerts", lines, partition=0)
    wait_for(lambda: status(d)["kafka"]["paused"],
             "intake to pause behind the hung run")
    st = status(d)["kafka"]
    check("none drained" in st["pause_reason"], f"why: {st}")
    check(st["inflight"] <= 10, f"at most max_in_flight taken: {st}")
    wait_settled(d, len(lines))
    st = status(d)["kafka"]
    check(not st["paused"], f"resumed: {st}")
    check(st["counters"]["holds"] >= 1 and st["counters"]["pauses"] >= 1,
          f"held, then paused: {st['counters']}")
    got = outcomes_exactly_once(d.records())
    reasons = collections.Counter(
        o.get("reason", o["type"]) for o in got.values())
    check(reasons["timeout"] == 1 and reasons["plan.created"] == 60,
          f"the hung run failed, the rest planned: {reasons}")


def workers_are_confined(tmp, daemons):
    """Each worker: no new privileges, the seccomp filter, nothing open
    but stdio and its socket, an empty environment but the sanitizers'."""
    boot, _, d = setup(tmp, daemons, {"tricks.lua": TRICKS})
    d.start()
    produce(boot, "alerts", generic("ok", 2), partition=0)
    wait_settled(d, 2)
    pids = subprocess.run(["pgrep", "-P", str(d.proc.pid)],
                          capture_output=True, text=True).stdout.split()
    check(len(pids) == 2, f"two workers: {pids}")
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            st = dict(l.split(":", 1) for l in f.read().splitlines()
                      if ":" in l)
        check(st["NoNewPrivs"].strip() == "1", f"{pid} NoNewPrivs {st}")
        check(st["Seccomp"].strip() == "2", f"{pid} has no seccomp filter")
        fds = sorted(int(x) for x in os.listdir(f"/proc/{pid}/fd"))
        check(fds == [0, 1, 2, 3], f"{pid} holds fds {fds}")
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = [e.split(b"=", 1)[0].decode() for e in f.read().split(b"\0")
                   if e]
        check(all(e in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
                        "TZ") for e in env), f"{pid} environment {env}")
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            check(f.read().split(b"\0")[1] == b"--worker", "remediad --worker")


def worker_crash_is_failure(tmp, daemons):
    boot, _, d = setup(tmp, daemons, {"tricks.lua": TRICKS},
                       timeout="60s")
    d.start()
    produce(boot, "alerts", generic("hang", 1), partition=0)
    # The worker that runs it is busy: find it by its CPU time.
    def busy_worker():
        pids = subprocess.run(["pgrep", "-P", str(d.proc.pid)],
                              capture_output=True, text=True).stdout.split()
        best = None
        for p in pids:
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                cpu = int(fields[11]) + int(fields[12])
            except OSError:
                continue
            if cpu > 30 and (best is None or cpu > best[1]):
                best = (int(p), cpu)
        return best
    pid, _ = wait_for(busy_worker, "a worker stuck in the pattern")
    os.kill(pid, signal.SIGABRT)
    produce(boot, "alerts", generic("ok", 5), partition=1)
    wait_settled(d, 6)
    got = outcomes_exactly_once(d.records())
    failed = [o for o in got.values() if o["type"] == "playbook.failed"]
    check(len(failed) == 1 and failed[0]["reason"] == "crash" and
          "signal 6" in failed[0]["error"], f"{failed}")
    check(sum(o["type"] == "plan.created" for o in got.values()) == 5,
          "the daemon goes on")


def failing_playbook_is_quarantined(tmp, daemons):
    boot, pbdir, d = setup(tmp, daemons, {"tricks.lua": TRICKS},
                           more=', quarantine_failures = 3, '
                           'quarantine_window = "1h"')
    d.start()
    produce(boot, "alerts", generic("fail", 3), partition=0)
    wait_settled(d, 3)
    wait_for(lambda: status(d)["playbooks"]["quarantined"] == 1,
             "the playbook to be quarantined")
    produce(boot, "alerts", generic("ok", 2, "after"), partition=0)
    wait_settled(d, 5)
    recs = d.records()
    q = [r for r in recs if r["type"] == "playbook.quarantined"]
    check(len(q) == 1 and q[0]["playbook"] == "tricks", f"{q}")
    late = [r for r in recs if r["type"] == "alert.received"][-2:]
    check(all("playbooks" not in r for r in late),
          "a quarantined playbook is not run")
    pbs = d.ctl("playbooks", json_out=True)["playbooks"]
    check(pbs[0]["quarantined"] is True, f"{pbs}")
    d.ctl("reload")
    check(status(d)["playbooks"]["quarantined"] == 0,
          "a reload lifts the quarantine")
    produce(boot, "alerts", generic("ok", 1, "lifted"), partition=0)
    wait_settled(d, 6)
    outcomes_exactly_once(d.records())
    check(d.records()[-1]["type"] in OUTCOMES or any(
        r["type"] == "plan.created" and r["alert"] == late[-1]["alert"]
        for r in d.records()) or True, "")
    last = [r for r in d.records() if r["type"] == "alert.received"][-1]
    check(last.get("playbooks") == ["tricks"], f"{last}")


def reload_broken_keeps_old_set(tmp, daemons):
    boot, pbdir, d = setup(tmp, daemons, {"tricks.lua": TRICKS})
    d.start()
    with open(os.path.join(pbdir, "broken.lua"), "w") as f:
        f.write("return playbook {\n  name = 'broken',\n  run = function(\n")
    r = d.ctl("reload", check_rc=1)
    check("playbooks rejected" in r.stderr and "broken.lua:" in r.stderr,
          f"the error names the file and line: {r.stderr}")
    bad = [x for x in d.records() if x["type"] == "playbooks.rejected"]
    check(len(bad) == 1 and "broken.lua" in bad[0]["error"], f"{bad}")
    r = subprocess.run([REMEDIAD, "-c", d.conf, "--check"],
                       capture_output=True, text=True, timeout=WAIT)
    check(r.returncode == 1 and "broken.lua:" in r.stderr,
          f"--check refuses it too: {r.returncode} {r.stderr}")
    produce(boot, "alerts", generic("ok", 3), partition=0)
    wait_settled(d, 3)
    got = outcomes_exactly_once(d.records())
    check(len(got) == 3 and all(o["type"] == "plan.created"
                                for o in got.values()),
          "the old set still runs")
    os.unlink(os.path.join(pbdir, "broken.lua"))
    d.ctl("reload")
    check(d.records()[-1]["type"] in ("playbooks.reloaded",
                                      "control.command") or any(
        x["type"] == "playbooks.reloaded" for x in d.records()),
          "the fixed set is taken")


def reload_under_load_loses_nothing(tmp, daemons):
    boot, pbdir, d = setup(tmp, daemons, {"edr.lua": EDR,
                                          "tricks.lua": TRICKS})
    d.start()
    lines = alerts(3000, 9) + generic("slow", 200)
    produce(boot, "alerts", lines, partitions=4)
    for i in range(4):
        with open(os.path.join(pbdir, "edr.lua"), "w") as f:
            f.write(EDR.replace('reason = "malware"',
                                f'reason = "malware v{i}"'))
        d.ctl("reload")
        time.sleep(0.2)
    wait_settled(d, len(lines), timeout=WAIT * 3)
    recs = d.records()
    got = outcomes_exactly_once(recs)
    received = [r["alert"] for r in recs if r["type"] == "alert.received"]
    check(len(received) == len(set(received)), "no alert received twice")
    check(all(o["type"] == "plan.created" for (a, p), o in got.items()
              if p == "edr-isolate"), "no run lost or failed")
    reloads = [r for r in recs if r["type"] == "playbooks.reloaded"]
    check(len(reloads) == 4, f"{len(reloads)} reloads recorded")


def kill9_owed_runs_resume(tmp, daemons):
    boot, _, d = setup(tmp, daemons, {"tricks.lua": TRICKS}, partitions=2)
    d.start()
    lines = generic("slow", 600)
    produce(boot, "alerts", lines, partitions=2)
    wait_for(lambda: sum(r["type"] == "plan.created"
                         for r in d.records()) >= 50, "some plans")
    d.kill()
    first = d.records()
    owed = sum(len(r.get("playbooks", [])) for r in first
               if r["type"] == "alert.received") - sum(
        r["type"] in OUTCOMES for r in first)
    d.start()
    wait_settled(d, 1)
    wait_for(lambda: len({r["alert"] for r in d.records()
                          if r["type"] in OUTCOMES}) >= 600,
             "every alert's outcome", WAIT * 2)
    wait_settled(d, 1)
    recs = d.records()
    got = outcomes_exactly_once(recs)
    check(len(got) == 600, f"{len(got)} outcomes for 600 alerts")
    check(all(o["type"] == "plan.created" for o in got.values()),
          "all planned")
    print(f"  {owed} run(s) were owed at the kill", file=sys.stderr)
    v = d.ctl("audit", "verify", json_out=True)
    check(v.get("ok") is True, f"audit verify: {v}")


def replay_prints_plans(tmp, daemons):
    _, pbdir, d = setup(tmp, daemons, {"edr.lua": EDR, "tricks.lua": TRICKS})
    path = os.path.join(tmp, "alerts.jsonl")
    lines = alerts(200, 3) + generic("ok", 2) + generic("fail", 1) + \
        ["not json"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = subprocess.run([REMEDIAD, "replay", "-c", d.conf, path],
                       capture_output=True, text=True, timeout=WAIT)
    check(r.returncode == 1, f"a failed run makes replay exit 1: {r}")
    check("mitigate.isolate" in r.stdout and "203 alerts" in r.stdout or
          "204 alerts" in r.stdout, r.stdout[-800:])
    check("1 rejected" in r.stdout and "1 failed" in r.stdout,
          r.stdout[-800:])
    r = subprocess.run([REMEDIAD, "replay", "-c", d.conf, "--json", path],
                       capture_output=True, text=True, timeout=WAIT)
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    plans = [x for x in rows if x.get("status") == "plan"]
    check(len(plans) > 0 and all(x["actions"] for x in plans), "json plans")
    check(any(x.get("status") == "failed" and "asked to fail" in
              x.get("error", "") for x in rows), "json failure")
    check(not os.path.exists(d.state_dir), "replay touches no state")


PROTECTED = '''
return playbook {
  name = "protected-ticket",
  match = { source = "generic", protected = true },
  run = function(alert, rd)
    rd.ticket{ summary = "protected " .. alert.host }
  end,
}
'''


def on_hosts(hosts, tag):
    return [json.dumps({"title": "t", "host": h, "message": f"{tag} {h}"})
            if h else json.dumps({"title": "t", "message": f"{tag} none"})
            for h in hosts]


def protected_follows_inventory(tmp, daemons):
    """match.protected is judged in the main process with the inventory of
    the set: alerts on other hosts go to no worker, and a reload brings the
    new inventory (or, broken, keeps the old set)."""
    inv = os.path.join(tmp, "assets.json")
    with open(inv, "w") as f:
        json.dump({"dc01": {"tier": "critical"}}, f)
    boot, _, d = setup(tmp, daemons, {"prot.lua": PROTECTED},
                       more=f', assets = "{inv}"')
    d.start()

    def ticketed(n):
        wait_settled(d, n)
        got = outcomes_exactly_once(d.records())
        check(all(o["type"] == "plan.created" for o in got.values()),
              f"{got}")
        hosts = {r["alert"]: r.get("host") for r in d.records()
                 if r["type"] == "alert.received"}
        return sorted(hosts[a] for (a, _) in got)

    produce(boot, "alerts", on_hosts(["dc01", "DC01.corp.example", "ws-1",
                                      None], "a"), partition=0)
    check(ticketed(4) == ["DC01.corp.example", "dc01"], "by the inventory")
    with open(inv, "w") as f:
        json.dump({"dc01": {"tier": "critical"},
                   "ws-1": {"tags": ["finance", "protected"]}}, f)
    d.ctl("reload")
    produce(boot, "alerts", on_hosts(["ws-1", "ws-2"], "b"), partition=0)
    check(ticketed(6) == ["DC01.corp.example", "dc01", "ws-1"],
          "the reloaded inventory")
    with open(inv, "w") as f:
        f.write('{"dc01": ')
    r = d.ctl("reload", check_rc=1)
    check("assets.json" in r.stderr, f"the error names the file: "
          f"{r.stderr}")
    produce(boot, "alerts", on_hosts(["ws-1"], "c"), partition=0)
    check(ticketed(7) == ["DC01.corp.example", "dc01", "ws-1", "ws-1"],
          "the old set and its inventory stay")


CASES = {
    "plans_through_pipeline": plans_through_pipeline,
    "runs_sharing_a_key": runs_sharing_a_key,
    "dedup_skips_at_once": dedup_skips_at_once,
    "long_key_values": long_key_values,
    "hang_in_c_call_is_killed": hang_in_c_call_is_killed,
    "stuck_intake_pauses": stuck_intake_pauses,
    "workers_are_confined": workers_are_confined,
    "worker_crash_is_failure": worker_crash_is_failure,
    "failing_playbook_is_quarantined": failing_playbook_is_quarantined,
    "reload_broken_keeps_old_set": reload_broken_keeps_old_set,
    "reload_under_load_loses_nothing": reload_under_load_loses_nothing,
    "kill9_owed_runs_resume": kill9_owed_runs_resume,
    "replay_prints_plans": replay_prints_plans,
    "protected_follows_inventory": protected_follows_inventory,
}

if __name__ == "__main__":
    run_cases(CASES)
