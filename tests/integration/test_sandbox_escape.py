#!/usr/bin/env python3
"""The sandbox escape and exhaustion suite: the playbooks of tests/lua/cases
(one attack each) run in the real daemon, its worker pool and the mock
broker, one alert per case, then a second round (the cases' own follow-up
alerts and a benign playbook's). Every case must end in the outcome
tests/lua/expected.json names, every other playbook must have let the
alert pass (when() said no), the daemon must still plan, its workers must
be up, and no sanitizer may report anything, workers' LeakSanitizer
included (they share the daemon's stderr; a reload retires them with a
normal exit)."""
import json
import os
import re
import shutil
import subprocess
import sys

from harness import Daemon, TestFailure, check, run_cases, wait_for, WAIT
from brokerlib import MockBroker, produce
from test_playbooks import outcomes_exactly_once, status, wait_settled

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "..", "lua")
CASE_DIR = os.path.join(LUA, "cases")
with open(os.path.join(LUA, "expected.json"), encoding="utf-8") as _f:
    EXPECTED = json.load(_f)["cases"]

BENIGN = 5      # benign alerts after the attacks
WORKERS = 2
MAX_ERROR = 1024  # the worker's error buffer, terminator included
FORGED = "FAKE-LOG-LINE"  # what error_newline and log_spam try to forge


def alerts_for(names):
    """The alerts of a run: (title, playbook, expectation, phase)."""
    out = []
    for name in names:
        e = EXPECTED[name]
        out.append((name, name, e, e.get("phase", 1)))
        again = e.get("again")
        for i in range(again["count"] if again else 0):
            title = name + "/again" + (str(i + 1) if i else "")
            out.append((title, name, again, 2))
    for i in range(BENIGN):
        out.append((f"benign {i}", "benign", None, 2))
    return out


def message(title, e, attempt=1):
    n = (e or {}).get("message_bytes")
    doc = {"title": title, "message": "a" * n if n else
           f"sandbox case {title}"}
    if attempt > 1:
        doc["attempt"] = attempt  # another alert id, the same case
    return json.dumps(doc)


def timed_out_by_load(o, want):
    """A run killed by the deadline where the case should end otherwise.
    On a loaded machine a run of a few tens of milliseconds can pass
    500 ms; a regression that makes the case hang does so every time."""
    if o is None or want is None or o.get("reason") != "timeout":
        return False
    r = want["expect"][1] if want["expect"][0] == "playbook.failed" \
        else want.get("reason")
    return "timeout" not in (r if isinstance(r, list) else [r])


def check_failure(title, o, want, reason):
    check(o["type"] == "playbook.failed", f"{title}: {o['type']}, want "
          f"playbook.failed ({reason}): {summaries(o)}")
    reasons = reason if isinstance(reason, list) else [reason]
    check(o["reason"] in reasons, f"{title}: reason {o['reason']}, want "
          f"{reason}: {o['error'][:300]!r}")
    if "error" in want:
        check(re.search(want["error"], o["error"], re.S) is not None,
              f"{title}: error {o['error'][:300]!r} does not match "
              f"{want['error']!r}")


def summaries(o):
    return [a.get("params", {}).get("summary") for a in o.get("actions", [])]


def check_plan(title, o, want):
    check(o["type"] == "plan.created", f"{title}: {o['type']} "
          f"({o.get('reason')}: {o.get('error', '')[:300]!r}), want "
          "plan.created")
    acts = o["actions"]
    check(all(a["kind"] == "ticket" for a in acts),
          f"{title}: only tickets are requested: {acts}")
    got = summaries(o)
    t = want.get("tickets", [])
    if isinstance(t, dict):
        check(len(got) == t["count"], f"{title}: {len(got)} tickets, want "
              f"{t['count']}")
        check(all(re.search(t["each"], s) for s in got),
              f"{title}: summaries {got[:5]}... do not match {t['each']}")
        return
    check(len(got) == len(t), f"{title}: tickets {got}, want {t}")
    for s, r in zip(got, t):
        check(re.search(r, s) is not None,
              f"{title}: summary {s[:300]!r} does not match {r!r}")


def check_outcome(title, o, want):
    kinds = want["expect"]
    if kinds[0] == "playbook.failed":
        check_failure(title, o, want, kinds[1])
    elif len(kinds) == 1 or o["type"] == "plan.created":
        check_plan(title, o, want)
    else:
        # ["plan.created", "playbook.failed"]: the worker the alert meets
        # decides which is right.
        check_failure(title, o, want, want["reason"])


def custom_checks(names, results, ids, log):
    """Properties of single cases beyond their outcome records."""
    if "globals_do_not_leak" in names:
        runs = [int(s.rsplit(" ", 1)[1]) for t, o in results.items()
                if t.startswith("globals_do_not_leak") for s in summaries(o)]
        # A state that ran twice saw what the run before it left behind.
        check(max(runs) >= 2, f"globals_do_not_leak: no state ran twice: "
              f"{runs}")
    if "rd_outside_run" in names:
        again = [o for t, o in results.items()
                 if t.startswith("rd_outside_run/")]
        check(any(o["type"] == "playbook.failed" for o in again),
              "rd_outside_run: no follow-up alert met a state with a kept "
              f"rd: {[o['type'] for o in again]}")
    if "log_spam" in names:
        runs = len(ids["log_spam"])
        lines = [l for l in log.splitlines() if "playbook log_spam:" in l]
        check(1 <= len(lines) <= 16 * runs, f"log_spam: {len(lines)} log "
              f"lines in {runs} run(s), want at most 16 a run")
    forged = [l for l in log.splitlines() if l.startswith(FORGED)]
    check(not forged, f"a playbook forged daemon log lines: {forged[:3]}")


def check_alert(title, aid, pb, want, got, playbooks, results, judge):
    """The outcomes of one alert: its case's (if judge), its siblings'."""
    o = got.get((aid, pb))
    check(o is not None, f"{title}: no outcome for {pb}")
    results[title] = o
    if o["type"] == "playbook.failed":
        check(len(o["error"].encode()) < MAX_ERROR,
              f"{title}: error of {len(o['error'])} bytes")
    for other in playbooks:
        s = got.get((aid, other))
        check(s is not None, f"{title}: no outcome for {other}")
        # Whatever the case did, its siblings still answer when().
        check(other == pb or (s["type"] == "playbook.skipped" and
                              s.get("reason") == "when"),
              f"{title}: sibling {other} ended in {s['type']} "
              f"({s.get('reason')}: {s.get('error', '')[:200]!r})")
    if pb == "benign":
        check(o["type"] == "plan.created" and
              summaries(o) == ["benign " + title],
              f"{title}: the daemon stopped serving: {o}")
    elif judge:
        check_outcome(title, o, want)


def child_pids(pid):
    r = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                       text=True)
    return set(r.stdout.split())


def received_ids(recs):
    """Alert ids by title, in the order the alerts came."""
    ids = {}
    for r in recs:
        if r["type"] == "alert.received":
            ids.setdefault(r["title"], []).append(r["alert"])
    return ids


def run_suite(tmp, daemons, names):
    b = MockBroker(tmp)
    daemons.append(b)
    boot = b.start(1, {"alerts": 1, "alerts.dlq": 1})
    pbdir = os.path.join(tmp, "playbooks")
    os.makedirs(pbdir)
    for name in list(names) + ["benign"]:
        shutil.copy(os.path.join(CASE_DIR, name + ".lua"), pbdir)
    extra = (f'kafka = {{ brokers = "{boot}", topic = "alerts", '
             f'group = "remediad", properties = {{ ["session.timeout.ms"] = '
             f'"3000", ["heartbeat.interval.ms"] = "500" }} }}\n'
             f'audit.sync = "group"\n'
             f'playbooks = {{ dir = "{pbdir}", workers = {WORKERS}, '
             f'timeout = "500ms", memory = "16MB", instructions = 1000000, '
             f'quarantine_failures = 1000 }}\n')
    d = Daemon(tmp, extra=extra)
    daemons.append(d)
    d.start()

    plan = alerts_for(names)
    sent = 0
    for phase in (1, 2):
        # The follow-ups meet states the first round used (and killed).
        lines = [message(t, e) for t, _, e, ph in plan if ph == phase]
        produce(boot, "alerts", lines, partition=0)
        sent += len(lines)
        wait_settled(d, sent, timeout=WAIT * 3)

    # Cases the deadline cut short get one more alert, alone.
    got = outcomes_exactly_once(d.records())
    ids = received_ids(d.records())
    retry = [(t, pb, e) for t, pb, e, _ in plan
             if timed_out_by_load(got.get((ids.get(t, [None])[0], pb)),
                                  e)]
    if retry:
        print(f"  again after a timeout: {[t for t, _, _ in retry]}",
              file=sys.stderr)
        produce(boot, "alerts", [message(t, e, 2) for t, _, e in retry],
                partition=0)
        sent += len(retry)
        wait_settled(d, sent, timeout=WAIT * 3)

    recs = d.records()
    got = outcomes_exactly_once(recs)
    ids = received_ids(recs)
    playbooks = sorted(list(names) + ["benign"])
    results = {}
    failures = []
    for title, pb, want, _ in plan:
        check(title in ids, f"no alert.received for {title!r}")
        for i, aid in enumerate(ids[title]):
            # The last alert of a title is the one judged; every one
            # must have left the siblings alone.
            try:
                check_alert(title, aid, pb, want, got, playbooks, results,
                            i == len(ids[title]) - 1)
            except TestFailure as e:
                failures.append(str(e))
    # Every case is judged before the first failure is reported.
    check(not failures, f"{len(failures)} of {len(plan)} alerts:\n  "
          + "\n  ".join(failures))
    custom_checks(names, results, ids, d.log_text())
    outcomes = [got[(aid, pb)] for t, pb, _, _ in plan for aid in ids[t]]
    timeouts = sum(o.get("reason") == "timeout" for o in outcomes)
    protocol = sum(o.get("reason") == "protocol" for o in outcomes)
    pool = wait_for(lambda: (lambda p: p if p["ready"] == WORKERS else None)(
        status(d)["playbooks"]["pool"]), "every worker to be ready")
    check(pool["crashes"] == 0, f"a worker crashed: {pool}")
    check(pool["timeouts"] == timeouts and
          pool["protocol_errors"] == protocol,
          f"pool counters {pool} vs {timeouts} timeouts, {protocol} "
          "protocol failures")
    check(status(d)["playbooks"]["quarantined"] == 0, "nothing quarantined")

    # A reload retires the workers with a normal exit, so their
    # LeakSanitizer runs (a stop kills them); wait until they are gone.
    old = child_pids(d.proc.pid)
    d.ctl("reload")
    wait_for(lambda: not (old & child_pids(d.proc.pid)),
             "the retired workers to exit")
    produce(boot, "alerts", [message("benign after reload", None)],
            partition=0)
    wait_settled(d, sent + 1)
    last = [r for r in d.records() if r["type"] == "plan.created" and
            r["playbook"] == "benign"]
    check(summaries(last[-1]) == ["benign benign after reload"],
          f"the reloaded set serves: {last[-1]}")
    # Stopped while the broker is up: the stop checks the sanitizers.
    d.stop()


def group(name):
    return lambda tmp, daemons: run_suite(
        tmp, daemons, [n for n, e in EXPECTED.items() if e["group"] == name])


CASES = {
    "all_cases_audited": lambda tmp, daemons: run_suite(tmp, daemons,
                                                        list(EXPECTED)),
    "budget_holds": group("budget"),
    "memory_ceiling_holds": group("memory"),
    "recursion_bounded": group("recursion"),
    "deadline_kills_c_calls": group("deadline"),
    "loading_refused": group("loading"),
    "forbidden_unreachable": group("reach"),
    "libraries_stay_intact": group("libraries"),
    "globals_do_not_leak": group("state"),
    "errors_read_as_strings": group("errors"),
    "hostile_results_refused": group("results"),
}

if __name__ == "__main__":
    # "case:NAME[,NAME...]" runs single Lua cases (not listed for meson).
    for arg in sys.argv[1:]:
        if arg.startswith("case:"):
            picked = arg[len("case:"):].split(",")
            for p in picked:
                if p not in EXPECTED:
                    sys.exit(f"no such case {p!r} in tests/lua/expected.json")
            CASES[arg] = (lambda ns: lambda tmp, daemons:
                          run_suite(tmp, daemons, ns))(picked)
    run_cases(CASES)
