#!/usr/bin/env python3
"""The guard and the approval gates end to end: the real remediad judges
every request of a plan (kill switch, dry-run, protected scope, rate
limits, approval policy, in that order) and audits guard.decision with the
rule that decided; held requests wait as pending approvals that people
answer with the real remediactl over the real socket (quorum of distinct
uids, a reason to deny, expiry as a denial), and all of it survives a
kill -9. Alerts go in through the mock broker and kcat; the connector is a
small Python program written into each case's directory that appends the
request it gets to a file and answers ok, so a case sees what ran and
whether it ran as a dry run.

The cases with a second person (quorum, roles) create Unix users and run
remediactl as them with setpriv; they need root and exit 77 (skip)
without it. No case asserts how long anything takes: waits are generous
and bounded."""
import calendar
import grp
import json
import os
import pwd
import subprocess
import sys
import threading
import time

from harness import (Daemon, TestFailure, check, for_id, of_type, plans,
                     run_cases, wait_for, wait_record, wait_type, REMEDIACTL,
                     WAIT)
from brokerlib import MockBroker, produce

ROOT = "user:root(uid=0)"

# One playbook for (almost) every case: the alert's title says what to
# request, its host/user/ip/cloud the target, its rule a count.
PLAYBOOK = '''
return playbook {
  name = "g",
  match = { source = "generic" },
  run = function(alert, rd)
    if alert.category == "pbdry" then return end
    local t, h = alert.title or "", alert.host
    if t == "isolate" then
      rd.mitigate.isolate{ host = h, ttl = "1h", reason = "test" }
    elseif t == "reimage" then
      rd.remediate.reimage{ host = h, verify = false }
    elseif t == "block" then
      rd.mitigate.block_ip{ ip = alert.ip, ttl = "1h" }
    elseif t == "disable" then
      rd.mitigate.disable_account{ user = alert.user, ttl = "1h" }
    elseif t == "revoke" then
      rd.mitigate.revoke_sessions{ user = alert.user, cloud = alert.cloud }
    elseif t == "ticket" then
      rd.ticket{ summary = "ticket " .. (alert.rule or "") }
    elseif t == "risky" then
      rd.ticket{ summary = "risky", risk = "high" }
    elseif t == "ask" then
      rd.ticket{ summary = "ask", approval = "required" }
    elseif t == "hostile" then
      rd.ticket{ summary = alert.rule, reason = alert.rule,
        approval = "required" }
    elseif t == "many" then
      for i = 1, tonumber(alert.rule) do
        rd.remediate.reimage{ host = h .. "-" .. i, verify = false }
      end
    end
  end,
}
'''

# A playbook that asks for dry runs: its requests are recorded, not made.
PBDRY = '''
return playbook {
  name = "pbdry",
  dry_run = true,
  match = { source = "generic", category = "pbdry" },
  run = function(alert, rd)
    rd.mitigate.isolate{ host = alert.host, ttl = "1h", reason = "pb dry" }
  end,
}
'''

# The test connector: appends the request to $REC, answers ok (failed
# for a target host named fail-*).
REC = r'''#!/usr/bin/python3
import fcntl, json, os, sys
req = json.loads(sys.stdin.readline())
with open(os.environ["REC"], "a") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.write(json.dumps(req) + "\n")
if str(req.get("params", {}).get("host", "")).startswith("fail-"):
    answer = {"status": "failed", "message": "refused by the test"}
else:
    answer = {"status": "ok", "message": "recorded"}
sys.stdout.write(json.dumps(answer) + "\n")
sys.stdout.flush()
'''

ACTIONS = '''{
    isolate = { connector = "c", rollback = "unisolate" },
    unisolate = { connector = "c" },
    reimage = { connector = "c" },
    block_ip = { connector = "c", rollback = "unblock_ip" },
    unblock_ip = { connector = "c" },
    disable_account = { connector = "c", rollback = "enable_account" },
    enable_account = { connector = "c" },
    revoke_sessions = { connector = "c" },
    ticket = { connector = "c" },
    notify = { connector = "c" },
  }'''


class Env:
    """One case's world: the broker, the connector, the playbooks, the
    daemon. guard and approvals are Lua table constructors; more is any
    further config text."""

    def __init__(self, tmp, daemons, guard="{}", approvals="{}", more="",
                 socket_path=None):
        self.tmp = tmp
        self.cdir = os.path.join(tmp, "connectors")
        self.rec = os.path.join(tmp, "calls.jsonl")
        os.makedirs(self.cdir)
        path = os.path.join(self.cdir, "rec")
        with open(path, "w") as f:
            f.write(REC)
        os.chmod(path, 0o755)
        b = MockBroker(tmp)
        daemons.append(b)
        self.boot = b.start(1, {"alerts": 1, "alerts.dlq": 1})
        pbdir = os.path.join(tmp, "playbooks")
        os.makedirs(pbdir)
        for name, text in (("g.lua", PLAYBOOK), ("pbdry.lua", PBDRY)):
            with open(os.path.join(pbdir, name), "w") as f:
                f.write(text)
        extra = (f'kafka = {{ brokers = "{self.boot}", topic = "alerts", '
                 f'group = "remediad", properties = {{ '
                 f'["session.timeout.ms"] = "3000", '
                 f'["heartbeat.interval.ms"] = "500" }} }}\n'
                 f'audit.sync = "group"\n'
                 f'playbooks = {{ dir = "{pbdir}", workers = 1, '
                 f'max_actions = 100 }}\n'
                 f'connectors = {{ dir = "{self.cdir}", timeout = "20s", '
                 f'retries = 1, backoff = "200ms", concurrency = 8, '
                 f'actions = {ACTIONS},\n'
                 f'  settings = {{ c = {{ program = "rec", dry_run = true, '
                 f'env = {{ REC = "{self.rec}" }} }} }} }}\n'
                 f'guard = {guard}\n'
                 f'approvals = {approvals}\n' + more)
        self.d = Daemon(tmp, extra=extra, socket_path=socket_path)
        daemons.append(self.d)
        self.nalerts = 0

    def alert(self, title, **fields):
        """One generic alert, unique (dedup keeps it)."""
        self.nalerts += 1
        doc = {"title": title, "message": f"{title} #{self.nalerts} "
               f"{time.time()}"}
        doc.update(fields)
        return json.dumps(doc)

    def send(self, *lines):
        produce(self.boot, "alerts", list(lines), partition=0)

    def calls(self):
        """The requests the connector got, in order."""
        try:
            with open(self.rec) as f:
                data = f.read()
        except FileNotFoundError:
            return []
        whole = data[:data.rfind("\n") + 1]
        return [json.loads(l) for l in whole.splitlines() if l]

    def calls_of(self, aid):
        return [c for c in self.calls() if c["idempotency_key"] == aid]

    def plan(self, title, **fields):
        """Sends one alert and returns the id of its plan's first
        request (A<seq>.0)."""
        before = len(plans(self.d.records()))
        self.send(self.alert(title, **fields))
        wait_for(lambda: len(plans(self.d.records())) > before,
                 f"the plan of a {title} alert")
        return f"A{plans(self.d.records())[before]['seq']}.0"

    def barrier(self):
        """A ticket that runs (under a policy that lets tickets run): once
        the connector has it, every earlier request has been judged."""
        aid = self.plan("ticket", rule="barrier")
        wait_for(lambda: self.calls_of(aid), f"the barrier ticket {aid}")
        return aid

    def settle(self):
        """The consumer has its assignment (librdkafka 2.0.2 asserts when
        a consumer is closed before its first one; see test_actions)."""
        wait_for(lambda: self.d.ctl("status", json_out=True)["kafka"]
                 ["partitions"], "the consumer's assignment")

    def restart(self):
        """kill -9 and start again."""
        self.d.kill()
        self.d.start()


# ---- Helpers over the audit log ----------------------------------------------

def decision(e, aid, want, rule, quorum=None):
    """The guard.decision of aid: exactly one, with this decision and
    rule (and quorum when held)."""
    g = wait_type(e.d, "guard.decision", aid)
    check(g["decision"] == want and g["rule"] == rule,
          f"{aid}: decision {g['decision']} by {g['rule']}, want {want} by "
          f"{rule}: {g}")
    check(len(for_id(of_type(e.d.records(), "guard.decision"), aid)) == 1,
          f"{aid}: one decision")
    if want == "hold":
        check(isinstance(g.get("quorum"), int), f"held with a quorum: {g}")
        if quorum is not None:
            check(g["quorum"] == quorum, f"{aid}: quorum {g['quorum']}, "
                  f"want {quorum}: {g}")
    else:
        check("quorum" not in g, f"a quorum only when held: {g}")
    return g


def started(e, aid):
    return for_id(of_type(e.d.records(), "action.started"), aid)


def never_ran(e, aid):
    check(e.calls_of(aid) == [], f"{aid} reached the connector: "
          f"{e.calls_of(aid)}")
    check(started(e, aid) == [], f"{aid} was started: {started(e, aid)}")


def ran(e, aid, dry_run=False):
    """aid reached the connector (once, an apply) with this dry_run."""
    c = wait_for(lambda: e.calls_of(aid), f"{aid} at the connector")
    check(len(c) == 1 and c[0]["op"] == "apply" and
          c[0]["dry_run"] is dry_run,
          f"{aid}: one apply with dry_run {dry_run}: {c}")
    wait_type(e.d, "action.succeeded", aid)
    return c[0]


def approvals(d, ctl=None):
    return {a["id"]: a for a in (ctl or d.ctl)("approvals", json_out=True)
            ["approvals"]}


def ap_target(row):
    """A row of `remediactl --json approvals`: its target, "key=value"."""
    return row["target"]


def ap_votes(row):
    """How many have approved it so far."""
    return row["votes"]


def state_of(d, aid):
    return d.ctl("show", aid, json_out=True)["state"]["state"]


def guard_status(d):
    return d.ctl("status", json_out=True)["guard"]


def rec_time(r):
    return calendar.timegm(time.strptime(r["time"][:19],
                                         "%Y-%m-%dT%H:%M:%S"))


# ---- Users (for the cases with a second person) ------------------------------

class Users:
    """A group and users made for one case, removed by cleanup(). Their
    remediactl runs under setpriv with their uid, gid and groups."""

    def __init__(self, *roles):
        tag = str(os.getpid())
        self.group = "rdg" + tag
        self.names = {}
        subprocess.run(["groupadd", self.group], check=True,
                       capture_output=True)
        try:
            for role in roles:
                name = f"rd{role[0]}{tag}"
                subprocess.run(["useradd", "-M", "-N", "-g", self.group,
                                "-s", "/usr/sbin/nologin", name],
                               check=True, capture_output=True)
                self.names[role] = name
        except Exception:
            self.cleanup()
            raise

    def uid(self, role):
        return pwd.getpwnam(self.names[role]).pw_uid

    def actor(self, role):
        return f"user:{self.names[role]}(uid={self.uid(role)})"

    def ctl(self, role, d, *args, check_rc=0, json_out=False):
        argv = ["setpriv", f"--reuid={self.names[role]}",
                f"--regid={self.group}", "--init-groups", REMEDIACTL, "-s",
                d.socket]
        if json_out:
            argv.append("--json")
        argv += list(args)
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=WAIT)
        if check_rc is not None and r.returncode != check_rc:
            raise TestFailure(f"remediactl {' '.join(args)} as "
                              f"{self.names[role]}: exit {r.returncode}, "
                              f"want {check_rc}\nstdout: {r.stdout}\n"
                              f"stderr: {r.stderr}")
        if json_out and r.returncode == 0:
            return json.loads(r.stdout)
        return r

    def cleanup(self):
        for name in self.names.values():
            subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["groupdel", self.group], capture_output=True)


def shared_socket(tmp, users):
    """A socket path the users can reach: the case's directory is
    traversable, the socket's own directory too, and the daemon gives the
    socket (mode 0660) to their group."""
    os.chmod(tmp, 0o711)
    sdir = os.path.join(tmp, "ctl")
    os.mkdir(sdir, 0o711)
    os.chmod(sdir, 0o711)
    return os.path.join(sdir, "d.sock")


# ---- Cases -------------------------------------------------------------------

PROTECTED = '''{ protected = {
    dcs = { hosts = { "dc*.corp" }, mode = "refuse" },
    vip = { users = { "ceo*" }, mode = "approval" },
    core = { ips = { "10.9.0.0/16", "fd00:9::/32" } },
    prod = { clouds = { "aws-prod-*" }, mode = "refuse" },
  } }'''


def protected_scope(tmp, daemons):
    """guard.protected: hosts (globs, any case), users, ips (CIDR, v4 and
    v6) and clouds; mode refuse never reaches the connector, mode approval
    (and no mode) holds; the rest runs."""
    e = Env(tmp, daemons, guard=PROTECTED)
    e.d.start()
    a = e.plan("isolate", host="dc1.corp")
    g = decision(e, a, "refuse", "protected:dcs")
    check(g["reason"] == "touches a protected asset (guard.protected.dcs)"
          and g["action"] == "mitigate.isolate" and g["playbook"] == "g" and
          g["actor"] == "system", f"{g}")
    b = e.plan("isolate", host="DC7.CORP")
    decision(e, b, "refuse", "protected:dcs")
    c = e.plan("disable", user="ceo-jane")
    decision(e, c, "hold", "protected:vip", quorum=1)
    d4 = e.plan("block", ip="10.9.3.4")
    decision(e, d4, "hold", "protected:core", quorum=1)
    d6 = e.plan("block", ip="fd00:9:1::5")
    decision(e, d6, "hold", "protected:core")
    f = e.plan("revoke", user="bob", cloud="aws-prod-eu")
    decision(e, f, "refuse", "protected:prod")
    # Not protected: runs.
    ok1 = e.plan("isolate", host="web-1.corp")
    decision(e, ok1, "run", "approvals:auto")
    ok2 = e.plan("block", ip="10.10.0.1")
    decision(e, ok2, "run", "approvals:auto")
    ok3 = e.plan("revoke", user="bob", cloud="aws-dev-eu")
    decision(e, ok3, "run", "approvals:auto")
    for x in (ok1, ok2, ok3):
        ran(e, x)
    e.barrier()
    for x in (a, b, c, d4, d6, f):
        never_ran(e, x)
    for x in (a, b, f):
        check(state_of(e.d, x) == "refused", f"{x}: {state_of(e.d, x)}")
    pend = approvals(e.d)
    check(set(pend) == {c, d4, d6}, f"held ones listed: {sorted(pend)}")
    check(pend[c]["reason"] == "touches a protected asset "
          "(guard.protected.vip)" and ap_target(pend[c]) == "user=ceo-jane", f"{pend[c]}")
    out = e.d.ctl("approvals").stdout
    check(c in out and "guard.protected.vip" in out and "user=ceo-jane" in
          out, out)
    # Held is not lost: approved, it runs.
    e.d.ctl("approve", c, "-m", "the ceo's laptop is really compromised")
    ran(e, c)
    st = e.d.ctl("status", json_out=True)
    check(st["guard"]["refused"] == 3 and st["guard"]["held"] == 3 and
          st["guard"]["run"] >= 4, f"counters {st['guard']}")
    e.settle()


PRECEDENCE_GUARD = '''{
  protected = { dcs = { hosts = { "dc*.corp" }, mode = "refuse" } },
  rate = { ["mitigate.*"] = "2/1h" },
}'''


def precedence(tmp, daemons):
    """paused beats dry-run beats protected beats rate beats policy: the
    same protected host is held while paused (even in dry-run), recorded
    as a dry run in dry-run, refused after; a rate limit holds before the
    policy is asked; the policy holds with its own rule."""
    e = Env(tmp, daemons, guard=PRECEDENCE_GUARD,
            approvals='{ required = { "mitigate.block_ip" } }')
    e.d.start()
    e.d.ctl("pause")
    p1 = e.plan("isolate", host="dc1.corp")
    g = decision(e, p1, "hold", "paused")
    check(g["reason"] == f"automation is paused ({ROOT})", f"{g}")
    e.d.ctl("dry-run", "on")
    p2 = e.plan("isolate", host="dc1.corp")
    decision(e, p2, "hold", "paused")
    p3 = e.plan("block", ip="192.0.2.1")
    decision(e, p3, "hold", "paused")
    e.d.ctl("resume")
    # dry-run (still on) beats protected and policy.
    d1 = e.plan("isolate", host="dc1.corp")
    decision(e, d1, "dry_run", "dry_run")
    ran(e, d1, dry_run=True)
    d2 = e.plan("block", ip="192.0.2.2")
    decision(e, d2, "dry_run", "dry_run")
    ran(e, d2, dry_run=True)
    e.d.ctl("dry-run", "off")
    # Two isolates fill the "mitigate.*" window (dry runs do not count).
    r1 = e.plan("isolate", host="web-1")
    decision(e, r1, "run", "approvals:auto")
    r2 = e.plan("isolate", host="web-2")
    decision(e, r2, "run", "approvals:auto")
    # protected beats rate.
    x = e.plan("isolate", host="dc2.corp")
    decision(e, x, "refuse", "protected:dcs")
    # rate beats policy (block_ip is named by approvals.required).
    y = e.plan("block", ip="192.0.2.3")
    g = decision(e, y, "hold", "rate:mitigate.*", quorum=1)
    check("2/1h" in g["reason"], f"{g}")
    # The policy's own rule, on what passes the rate limit: a ticket runs.
    t = e.barrier()
    decision(e, t, "run", "approvals:auto")
    for aid in (r1, r2):
        ran(e, aid)
    for aid in (p1, p2, p3, x, y):
        never_ran(e, aid)
    check(set(approvals(e.d)) == {p1, p2, p3, y}, f"{approvals(e.d)}")
    e.settle()


def policy_rules(tmp, daemons):
    """The approval policy: approvals.required (globs), min_risk, the
    playbook's approval = "required" (hint, on by default), quorum by
    pattern; what it does not name runs."""
    e = Env(tmp, daemons, approvals='{ required = { "remediate.*" }, '
            'min_risk = "high", quorum = { ["remediate.re*"] = 2, '
            '["remediate.reimage"] = 3 } }')
    e.d.start()
    r = e.plan("reimage", host="h1")
    g = decision(e, r, "hold", "approvals.required:remediate.*", quorum=3)
    check(g["reason"] == "approval required "
          "(approvals.required:remediate.*)", f"{g}")
    k = e.plan("risky")
    decision(e, k, "hold", "approvals.min_risk:high", quorum=1)
    a = e.plan("ask")
    decision(e, a, "hold", "playbook:approval=required", quorum=1)
    i = e.plan("isolate", host="h2")
    decision(e, i, "run", "approvals:auto")
    ran(e, i)
    e.barrier()
    for x in (r, k, a):
        never_ran(e, x)
    pend = approvals(e.d)
    check(set(pend) == {r, k, a} and pend[r]["quorum"] == 3, f"{pend}")
    # hint = false: the playbook's wish is not the policy.
    e.settle()
    e.d.stop()
    text = open(e.d.conf).read().replace(
        "approvals = { required", "approvals = { hint = false, required")
    e.d.write_config(text=text)
    e.d.start()
    a2 = e.plan("ask")
    decision(e, a2, "run", "approvals:auto")
    ran(e, a2)
    e.settle()


def breaker_trips_on_failures(tmp, daemons):
    """guard.breaker_failure_percent: when that share of the connector
    steps in the window failed (at least breaker_min_steps of them), the
    breaker trips and automation pauses (the next request is held), until
    remediactl resume."""
    e = Env(tmp, daemons, guard='{ breaker_failure_percent = 50, '
            'breaker_min_steps = 4, breaker_window = "1h" }')
    e.d.start()
    ok = e.plan("isolate", host="good-1")
    ran(e, ok)
    check(not guard_status(e.d)["paused"], "one success trips nothing")
    bad = [e.plan("isolate", host=f"fail-{i}") for i in range(3)]
    for aid in bad:
        wait_type(e.d, "action.failed", aid)
    tr = wait_type(e.d, "guard.breaker_tripped")
    check("3 of the last 4 connector steps failed" in tr["reason"] and
          "breaker_failure_percent = 50" in tr["reason"], f"{tr}")
    st = guard_status(e.d)
    check(st["paused"] and st["breaker_tripped"], f"status {st}")
    held = e.plan("isolate", host="good-2")
    decision(e, held, "hold", "paused")
    never_ran(e, held)
    e.d.ctl("resume")
    after = e.plan("isolate", host="good-3")
    ran(e, after)
    check(not guard_status(e.d)["paused"], "resumed")


def watch_streams(tmp, daemons):
    """remediactl watch (and --json) streams, as they happen and one line
    each, the approval requested, the guard's decision, the answer and the
    action's outcome; what is not for people to act on (alert.received)
    is left out."""
    e = Env(tmp, daemons, approvals='{ required = { "remediate.*" } }')
    e.d.start()
    e.settle()
    lines = {"text": [], "json": []}
    procs = []
    for kind, args in (("text", []), ("json", ["--json"])):
        p = subprocess.Popen([REMEDIACTL, "-s", e.d.socket, *args, "watch"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        procs.append(p)
        t = threading.Thread(target=lambda p=p, k=kind: [
            lines[k].append(l.rstrip("\n")) for l in p.stdout], daemon=True)
        t.start()
    try:
        a = e.plan("reimage", host="w1")
        wait_for(lambda: any(a in l and "approval.requested" in l
                             for l in lines["text"]),
                 "watch to show the approval requested")
        e.d.ctl("approve", a, "-m", "go")
        ran(e, a)
        want = ("guard.decision", "approval.requested", "approval.approved",
                "action.started", "action.succeeded")
        wait_for(lambda: all(any(w in l and a in l for l in lines["text"])
                             for w in want), f"watch to show {want}")
        # --json: the reply with the recent records, then one per line.
        first = wait_for(lambda: lines["json"][:1], "the watch reply")[0]
        check(json.loads(first).get("follow") is True, f"reply {first}")
        wait_for(lambda: {r.get("type") for r in map(json.loads,
                                                     lines["json"][1:])
                          if r.get("id") == a} >= set(want),
                 f"watch --json to stream {want}")
        recs = [json.loads(l) for l in lines["json"][1:]]
        check(all("type" in r for r in recs), f"records: {lines['json']}")
        check(all(r["type"].split(".")[0] in ("approval", "guard", "action",
                                               "mitigation", "remediation",
                                               "plan") for r in recs),
              f"only what people act on: {sorted({r['type'] for r in recs})}")
        check(not any("alert.received" in l for l in lines["text"]),
              "no alert.received in watch")
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=WAIT)


def rate_limit_holds(tmp, daemons):
    """With "2/1h" on mitigate.isolate the third isolate is held, not
    dropped: listed in approvals with the rate rule, and run once
    approved. Other actions are not counted against it."""
    e = Env(tmp, daemons, guard='{ rate = { ["mitigate.isolate"] = '
            '"2/1h" } }')
    e.d.start()
    ids = [e.plan("isolate", host=f"h{i}") for i in (1, 2, 3)]
    decision(e, ids[0], "run", "approvals:auto")
    decision(e, ids[1], "run", "approvals:auto")
    g = decision(e, ids[2], "hold", "rate:mitigate.isolate", quorum=1)
    check(g["reason"] == "over the rate limit mitigate.isolate = 2/1h "
          "(action:mitigate.isolate)", f"{g}")
    b = e.plan("block", ip="192.0.2.7")
    decision(e, b, "run", "approvals:auto")
    e.barrier()
    ran(e, ids[0])
    ran(e, ids[1])
    never_ran(e, ids[2])
    pend = approvals(e.d)
    check(list(pend) == [ids[2]] and pend[ids[2]]["reason"] == g["reason"]
          and ap_target(pend[ids[2]]) == "host=h3",
          f"{pend}")
    out = e.d.ctl("approvals").stdout
    check(ids[2] in out and "host=h3" in out and "over the rate limit" in
          out and "mitigate.isolate" in out, out)
    check(state_of(e.d, ids[2]) == "held", state_of(e.d, ids[2]))
    e.d.ctl("approve", ids[2], "-m", "yes, that one too")
    ran(e, ids[2])
    wait_type(e.d, "mitigation.active", ids[2])
    m = {x["id"] for x in e.d.ctl("mitigations", json_out=True)
         ["mitigations"]}
    check(set(ids) <= m, f"all three active: {m}")
    # Still over the limit: the next one is held too.
    four = e.plan("isolate", host="h4")
    decision(e, four, "hold", "rate:mitigate.isolate")
    e.settle()


def rate_per_target_and_playbook(tmp, daemons):
    """per_target counts what ran against one host/user/ip, whatever the
    action; per_playbook counts what one playbook ran."""
    e = Env(tmp, daemons, guard='{ rate = { per_target = "1/1h", '
            'per_playbook = "3/1h" } }')
    e.d.start()
    a = e.plan("isolate", host="h1")
    decision(e, a, "run", "approvals:auto")
    b = e.plan("reimage", host="h1")
    g = decision(e, b, "hold", "rate:per_target")
    check("target:h1" in g["reason"], f"{g}")
    c = e.plan("isolate", host="h2")
    decision(e, c, "run", "approvals:auto")
    d = e.plan("block", ip="192.0.2.9")
    decision(e, d, "run", "approvals:auto")
    t = e.plan("ticket", rule="fourth")
    g = decision(e, t, "hold", "rate:per_playbook")
    check("playbook:g" in g["reason"], f"{g}")
    # Another playbook has a window of its own (a dry run does not count,
    # and is not held: dry-run comes before rate limits).
    p = e.plan("pbdry", host="h9", category="pbdry")
    decision(e, p, "dry_run", "playbook:dry_run")
    ran(e, p, dry_run=True)
    for x in (a, c, d):
        ran(e, x)
    never_ran(e, b)
    never_ran(e, t)
    e.settle()


def rate_reason_cut_in_character(tmp, daemons):
    """A decision's reason quotes the target cut to 100 bytes, here
    inside a character: the guard.decision is still recorded, its reason
    still text (it was lost: not UTF-8, no JSON string)."""
    e = Env(tmp, daemons, guard='{ rate = { per_target = "1/1h" } }')
    e.d.start()
    host = "xy" + "\u00e9" * 100
    u = e.plan("isolate", host=host)
    decision(e, u, "run", "approvals:auto")
    v = e.plan("reimage", host=host)
    g = decision(e, v, "hold", "rate:per_target")
    # The split character is a '?': text followed the cut.
    check("target:xy" + "\u00e9" * 45 + "?)" in g["reason"], f"{g}")
    never_ran(e, v)
    e.settle()


def plan_ids(aid, n):
    """The ids of the n requests of the plan whose first is aid."""
    base = aid.rsplit(".", 1)[0]
    return [f"{base}.{i}" for i in range(n)]


def blast_radius_and_breaker(tmp, daemons):
    """guard.max_targets holds every request of a plan that reaches more
    targets; guard.breaker ("N/window" actions run) trips on the request
    over it, holds it and pauses automation, across a kill -9, until
    remediactl resume."""
    e = Env(tmp, daemons, guard='{ max_targets = 3, breaker = "4/1h" }')
    e.d.start()
    three = plan_ids(e.plan("many", host="b", rule="3"), 3)
    for aid in three:
        decision(e, aid, "run", "approvals:auto")
    four = plan_ids(e.plan("many", host="c", rule="4"), 4)
    for aid in four:
        g = decision(e, aid, "hold", "blast:max_targets")
        check(g["reason"] == "its plan touches 4 targets "
              "(guard.max_targets = 3)", f"{g}")
    i1 = e.plan("isolate", host="x1")
    decision(e, i1, "run", "approvals:auto")
    for aid in three + [i1]:
        ran(e, aid)
    # The fifth action within the window trips the breaker.
    i2 = e.plan("isolate", host="x2")
    g = decision(e, i2, "hold", "breaker")
    tr = wait_type(e.d, "guard.breaker_tripped")
    check("guard.breaker = 4/1h" in tr["reason"] and g["reason"] ==
          "circuit breaker: " + tr["reason"], f"{tr} / {g}")
    st = guard_status(e.d)
    check(st["paused"] is True and st["breaker_tripped"] is True and
          st["paused_by"] == "circuit breaker: " + tr["reason"], f"{st}")
    i3 = e.plan("isolate", host="x3")
    decision(e, i3, "hold", "paused")
    e.settle()
    e.restart()
    st = guard_status(e.d)
    check(st["paused"] is True and st["breaker_tripped"] is True,
          f"still tripped after a restart: {st}")
    i4 = e.plan("isolate", host="x4")
    decision(e, i4, "hold", "paused")
    e.d.ctl("resume")
    st = guard_status(e.d)
    check(st["paused"] is False and st["breaker_tripped"] is False, f"{st}")
    i5 = e.plan("isolate", host="x5")
    decision(e, i5, "run", "approvals:auto")
    ran(e, i5)
    for aid in four + [i2, i3, i4]:
        never_ran(e, aid)
    check(set(approvals(e.d)) == set(four + [i2, i3, i4]),
          f"{sorted(approvals(e.d))}")
    e.settle()


def rate_survives_restart(tmp, daemons):
    """The rate windows are the guard's memory of what ran: a kill -9 must
    not give a crash-looping daemon a fresh allowance."""
    e = Env(tmp, daemons, guard='{ rate = { ["mitigate.isolate"] = '
            '"2/1h", per_target = "1/1h" } }')
    e.d.start()
    a = e.plan("isolate", host="h1")
    b = e.plan("isolate", host="h2")
    for x in (a, b):
        decision(e, x, "run", "approvals:auto")
        ran(e, x)
    e.settle()
    e.restart()
    c = e.plan("isolate", host="h3")
    g = wait_type(e.d, "guard.decision", c)
    check(g["decision"] == "hold" and g["rule"] == "rate:mitigate.isolate",
          f"after a restart the third isolate within the hour is "
          f"{g['decision']} by {g['rule']}, want hold by "
          f"rate:mitigate.isolate: the rate windows are not rebuilt from "
          f"the audit log (daemon/guard.c guard_rebuild_cb)")
    r = e.plan("reimage", host="h1")
    decision(e, r, "hold", "rate:per_target")
    never_ran(e, c)
    never_ran(e, r)
    e.settle()


def dry_run_switch(tmp, daemons):
    """remediactl dry-run on: the connector is called with dry_run true,
    the action is recorded as done and no mitigation becomes active;
    dry-run off restores; the switch survives a kill -9; the playbook's
    dry_run = true does the same for its own requests."""
    e = Env(tmp, daemons)
    e.d.start()
    check(guard_status(e.d)["dry_run"] is False, "off by default")
    r = e.d.ctl("dry-run", "on", json_out=True)
    check(r["dry_run"] is True, f"{r}")
    sw = wait_type(e.d, "guard.dry_run")
    check(sw["on"] is True and sw["actor"] == ROOT, f"{sw}")
    cmd = [c for c in of_type(e.d.records(), "control.command")
           if c["command"] == "dry-run"]
    check(len(cmd) == 1 and cmd[0]["actor"] == ROOT and
          cmd[0]["args"] == {"mode": "on"}, f"{cmd}")
    a = e.plan("isolate", host="web-1")
    g = decision(e, a, "dry_run", "dry_run")
    check(g["reason"] == "dry-run: recorded, nothing changes", f"{g}")
    call = ran(e, a, dry_run=True)
    check(call["action"] == "isolate" and call["params"]["host"] ==
          "web-1", f"{call}")
    st = started(e, a)
    check(len(st) == 1 and st[0].get("dry_run") is True, f"{st}")
    check(for_id(of_type(e.d.records(), "mitigation.active"), a) == [],
          "no mitigation.active for a dry run")
    check(e.d.ctl("mitigations", json_out=True)["mitigations"] == [],
          "no active mitigation")
    wait_for(lambda: state_of(e.d, a) == "done", f"{a} done")
    # off restores.
    e.d.ctl("dry-run", "off")
    b = e.plan("isolate", host="web-2")
    decision(e, b, "run", "approvals:auto")
    ran(e, b, dry_run=False)
    wait_type(e.d, "mitigation.active", b)
    # The playbook's own dry_run, with the switch off.
    p = e.plan("pbdry", host="web-3", category="pbdry")
    decision(e, p, "dry_run", "playbook:dry_run")
    ran(e, p, dry_run=True)
    check(for_id(of_type(e.d.records(), "mitigation.active"), p) == [],
          "no mitigation.active for the playbook's dry run")
    # Survives a kill -9.
    e.d.ctl("dry-run", "on")
    e.settle()
    e.restart()
    check(guard_status(e.d)["dry_run"] is True,
          f"dry-run after a restart: {guard_status(e.d)}")
    c = e.plan("isolate", host="web-4")
    decision(e, c, "dry_run", "dry_run")
    ran(e, c, dry_run=True)
    # The mitigation that ran before is still active, untouched.
    m = {x["id"] for x in e.d.ctl("mitigations", json_out=True)
         ["mitigations"]}
    check(m == {b}, f"{m}")
    e.d.ctl("dry-run", "off")
    e.settle()
    e.restart()
    check(guard_status(e.d)["dry_run"] is False, f"{guard_status(e.d)}")
    # Usage errors.
    for args in (("dry-run",), ("dry-run", "maybe"), ("dry-run", "on",
                                                      "off")):
        r = e.d.ctl(*args, check_rc=2)
        check("expected on or off" in r.stderr, r.stderr)
    e.settle()


def policy_asset_tier(tmp, daemons):
    """approvals.tiers: a request on an asset whose inventory tier is
    listed is held (found as rd.asset finds it: case and short name)."""
    inv = os.path.join(tmp, "assets.json")
    with open(inv, "w") as f:
        json.dump({"dc01": {"tier": "critical"},
                   "ws-9": {"tier": "workstation"}}, f)
    e = Env(tmp, daemons, approvals='{ tiers = { "critical" } }',
            more=f'playbooks.assets = "{inv}"\n')
    e.d.start()
    a = e.plan("reimage", host="DC01.corp.example")
    decision(e, a, "hold", "approvals.tiers:critical")
    never_ran(e, a)
    b = e.plan("reimage", host="ws-9")
    decision(e, b, "run", "approvals:auto")
    ran(e, b)
    e.settle()


def blast_group_share(tmp, daemons):
    """guard.group_percent: acting on more than that share of an asset
    group's hosts within the window holds the request."""
    inv = os.path.join(tmp, "assets.json")
    with open(inv, "w") as f:
        json.dump({f"br-{i}": {"group": "branch"} for i in range(4)}, f)
    e = Env(tmp, daemons, guard="{ group_percent = 50 }",
            more=f'playbooks.assets = "{inv}"\n')
    e.d.start()
    for i in range(2):
        a = e.plan("reimage", host=f"br-{i}")
        decision(e, a, "run", "approvals:auto")
        ran(e, a)
    # Acting on the same host again does not widen the share.
    a = e.plan("reimage", host="br-1")
    decision(e, a, "run", "approvals:auto")
    c = e.plan("reimage", host="br-2")
    decision(e, c, "hold", "blast:group:branch")
    never_ran(e, c)
    e.settle()


def whole_plan_approval(tmp, daemons):
    """approvals.whole_plan: one held request holds its whole plan under
    one approval, P<seq>; approving it runs exactly those requests."""
    e = Env(tmp, daemons, approvals='{ whole_plan = true, required = '
            '{ "remediate.reimage" } }',
            guard='{ protected = { p = { hosts = { "w-2" }, '
            'mode = "refuse" } } }')
    e.d.start()
    a = e.plan("many", host="w", rule="3")
    seq = int(a[1:].split(".")[0])
    pid = f"P{seq}"
    ids = [f"A{seq}.{i}" for i in range(3)]
    appr = wait_for(lambda: [x for x in e.d.ctl("approvals", json_out=True)
                             ["approvals"] if x["id"] == pid],
                    "the plan's approval")
    check(len(appr) == 1, f"{appr}")
    # w-2 is protected: refused, not part of what is approved.
    decision(e, ids[1], "refuse", "protected:p")
    for i in (0, 2):
        never_ran(e, ids[i])
    e.d.ctl("approve", pid, "-m", "the whole plan")
    for i in (0, 2):
        ran(e, ids[i])
    never_ran(e, ids[1])
    e.settle()


def approval_escalates(tmp, daemons):
    """approvals.escalate_to: an unanswered approval is escalated once (a
    notify request to the next tier, through the guard, and a fresh
    window), then expires as denied."""
    e = Env(tmp, daemons, approvals='{ required = { "remediate.*" }, '
            'expire = "2s", escalate_to = "tier2" }')
    e.d.start()
    a = e.plan("reimage", host="h1")
    esc = wait_type(e.d, "approval.escalated", a)
    check(esc["to"] == "tier2", f"{esc}")
    note = wait_for(lambda: [c for c in e.calls() if c["action"] == "notify"
                             and a in c["params"]["message"]],
                    "the notify to the next tier")
    check(note[0]["params"]["to"] == "tier2", f"{note}")
    ex = wait_type(e.d, "approval.expired", a)
    check(ex["outcome"] == "denied", f"{ex}")
    check(len([r for r in e.d.records() if r["type"] ==
               "approval.escalated"]) == 1, "escalated once")
    never_ran(e, a)
    e.settle()


def escalation_long_target(tmp, daemons):
    """The approvals list and the escalation's notify quote the target: a
    long one, of two-byte characters, is cut to fit, and both still work
    (cut inside a character, the text was no JSON string: the row was
    missing from the list, the notify's plan never recorded, the next
    tier never told)."""
    e = Env(tmp, daemons, approvals='{ required = { "remediate.*" }, '
            'expire = "2s", escalate_to = "tier2" }')
    e.d.start()
    # Two, one byte apart: whatever the id's length, one cut splits.
    ids = [e.plan("reimage", host=h + "\u00e9" * 300) for h in ("h", "hx")]
    # Listed, both, the target cut to fit the row (a cut inside a
    # character made the row, and the approval, vanish from the list).
    for a in ids:
        wait_type(e.d, "approval.requested", a)
    pend = approvals(e.d)
    check(sorted(pend) == sorted(ids) and all(
        ap_target(pend[a]).startswith("host=h") and "\u00e9" * 50 in
        ap_target(pend[a]) for a in ids), f"{pend}")
    for a in ids:
        wait_type(e.d, "approval.escalated", a)
        note = wait_for(lambda: [c for c in e.calls()
                                 if c["action"] == "notify"
                                 and a in c["params"]["message"]],
                        f"the notify to the next tier for {a}")
        msg = note[0]["params"]["message"]
        check("\u00e9\u00e9" in msg and len(msg.encode()) < 600, f"{note}")
        wait_type(e.d, "approval.expired", a)
    e.settle()


def dry_run_undeclared(tmp, daemons):
    """A connector that does not declare dry_run support is not called for
    a dry run: the request is recorded as it would have run."""
    e = Env(tmp, daemons, guard="{ dry_run = true }",
            more="connectors.settings.c.dry_run = false\n")
    e.d.start()
    a = e.plan("reimage", host="h1")
    decision(e, a, "dry_run", "dry_run")
    ok = wait_type(e.d, "action.succeeded", a)
    check("does not declare dry_run support" in json.dumps(ok), f"{ok}")
    check(e.calls_of(a) == [], f"the connector was called: {e.calls_of(a)}")
    e.settle()


def dry_run_config_default(tmp, daemons):
    """guard.dry_run = true in the config is the default; remediactl
    dry-run off overrides it, and the override survives a restart."""
    e = Env(tmp, daemons, guard="{ dry_run = true }")
    e.d.start()
    check(guard_status(e.d)["dry_run"] is True, f"{guard_status(e.d)}")
    a = e.plan("reimage", host="h1")
    decision(e, a, "dry_run", "dry_run")
    ran(e, a, dry_run=True)
    e.d.ctl("dry-run", "off")
    b = e.plan("reimage", host="h2")
    decision(e, b, "run", "approvals:auto")
    ran(e, b)
    e.settle()
    e.restart()
    check(guard_status(e.d)["dry_run"] is False, f"{guard_status(e.d)}")
    e.settle()


def pause_resume(tmp, daemons):
    """remediactl pause: new requests are held with rule "paused" (nothing
    runs, nothing is lost); resume: new ones run, the held ones wait for
    a person; the switch survives a kill -9; both are audited with the
    peer's identity."""
    e = Env(tmp, daemons)
    e.d.start()
    r = e.d.ctl("pause", json_out=True)
    check(r["paused"] is True and r["paused_by"] == ROOT, f"{r}")
    p = wait_type(e.d, "guard.paused")
    check(p["actor"] == ROOT, f"{p}")
    a = e.plan("isolate", host="h1")
    g = decision(e, a, "hold", "paused", quorum=1)
    check(g["reason"] == f"automation is paused ({ROOT})", f"{g}")
    t = e.plan("ticket", rule="while paused")
    decision(e, t, "hold", "paused")
    check(set(approvals(e.d)) == {a, t}, f"{approvals(e.d)}")
    st = guard_status(e.d)
    check(st["paused"] is True and st["paused_by"] == ROOT, f"{st}")
    r = e.d.ctl("resume", json_out=True)
    check(r["paused"] is False and "paused_by" not in r, f"{r}")
    rs = wait_type(e.d, "guard.resumed")
    check(rs["actor"] == ROOT, f"{rs}")
    b = e.plan("isolate", host="h2")
    decision(e, b, "run", "approvals:auto")
    ran(e, b)
    never_ran(e, a)
    never_ran(e, t)
    check(set(approvals(e.d)) == {a, t}, "still held after resume")
    # Survives a kill -9.
    e.d.ctl("pause")
    e.settle()
    e.restart()
    st = guard_status(e.d)
    check(st["paused"] is True and st["paused_by"] == ROOT,
          f"paused after a restart: {st}")
    check("automation is paused" in e.d.log_text(), "the log says so")
    c = e.plan("isolate", host="h3")
    decision(e, c, "hold", "paused")
    e.d.ctl("resume")
    # The held ones are answered by people.
    e.d.ctl("approve", a, "-m", "go")
    ran(e, a)
    e.d.ctl("deny", t, "-m", "not needed")
    e.barrier()
    never_ran(e, t)
    cmds = [(c["command"], c["actor"]) for c in
            of_type(e.d.records(), "control.command")
            if c["command"] in ("pause", "resume")]
    check(cmds == [("pause", ROOT), ("resume", ROOT), ("pause", ROOT),
                   ("resume", ROOT)], f"{cmds}")
    sw = [(x["type"], x["actor"]) for x in
          of_type(e.d.records(), "guard.paused", "guard.resumed")]
    check(sw == [("guard.paused", ROOT), ("guard.resumed", ROOT),
                 ("guard.paused", ROOT), ("guard.resumed", ROOT)], f"{sw}")
    e.settle()


def approve_deny(tmp, daemons):
    """Through the real socket and CLI: approve -> the action runs; deny
    with -m -> it never runs; deny without -m is a usage error (exit 2)
    and the daemon refuses a deny without a reason from any client."""
    e = Env(tmp, daemons, approvals='{ required = { "remediate.*" } }')
    e.d.start()
    a = e.plan("reimage", host="h1")
    decision(e, a, "hold", "approvals.required:remediate.*", quorum=1)
    req = wait_type(e.d, "approval.requested", a)
    check(req["quorum"] == 1 and req["summary"]["action"] == "reimage" and
          req["summary"]["target"] == {"host": "h1"} and
          req["summary"]["playbook"] == "g" and isinstance(
              req["expires_ms"], int), f"{req}")
    pend = approvals(e.d)
    check(list(pend) == [a] and ap_votes(pend[a]) == 0 and
          pend[a]["action"] == "remediate.reimage" and
          ap_target(pend[a]) == "host=h1" and pend[a]["playbook"] == "g" and
          pend[a]["expires"] == req["expires_at"], f"{pend}")
    out = e.d.ctl("approvals").stdout
    check(a in out and "remediate.reimage" in out and "host=h1" in out and
          "HELD BECAUSE" in out, out)
    check(state_of(e.d, a) == "held", state_of(e.d, a))
    e.barrier()
    never_ran(e, a)
    r = e.d.ctl("approve", a, "-m", "reimage approved by the SOC",
                json_out=True)
    check(r == {"id": a, "state": "approved"}, f"{r}")
    ran(e, a)
    gr = wait_type(e.d, "approval.granted", a)
    check(gr["actor"] == ROOT and gr["uid"] == 0 and gr["message"] ==
          "reimage approved by the SOC" and gr["votes"] == 1, f"{gr}")
    ap = wait_type(e.d, "approval.approved", a)
    check(ap["actor"] == ROOT, f"{ap}")
    check(approvals(e.d) == {}, "answered: gone from the list")
    # deny: without a reason it is a usage error, and nothing changes.
    b = e.plan("reimage", host="h2")
    decision(e, b, "hold", "approvals.required:remediate.*")
    r = e.d.ctl("deny", b, check_rc=2)
    check("a reason is required (-m TEXT)" in r.stderr, r.stderr)
    r = e.d.ctl("deny", b, "-m", "", check_rc=2)
    check("a reason is required" in r.stderr, r.stderr)
    r = e.d.ctl("deny", b, "-m", check_rc=2)
    check("-m wants a text" in r.stderr, r.stderr)
    cl = e.d.connect()
    rep = cl.request("deny", {"id": b})
    cl.close()
    check(rep["ok"] is False and rep["error"]["code"] == "invalid_args" and
          "deny needs a reason" in rep["error"]["message"], f"{rep}")
    check(set(approvals(e.d)) == {b}, "still pending")
    r = e.d.ctl("deny", b, "-m", "not during business hours", json_out=True)
    check(r == {"id": b, "state": "denied"}, f"{r}")
    dn = wait_type(e.d, "approval.denied", b)
    check(dn["actor"] == ROOT and dn["uid"] == 0 and dn["message"] ==
          "not during business hours", f"{dn}")
    e.barrier()
    never_ran(e, b)
    check(state_of(e.d, b) == "denied", state_of(e.d, b))
    check(approvals(e.d) == {}, "none pending")
    ctl = e.d.ctl("status", json_out=True)["approvals"]
    check(ctl["approved"] == 1 and ctl["denied"] == 1 and
          ctl["requested"] == 2 and ctl["pending"] == 0, f"{ctl}")
    # After a restart the answered ones are still answered: none pending,
    # none counted as pending.
    e.settle()
    e.restart()
    check(approvals(e.d) == {}, f"{approvals(e.d)}")
    ctl = e.d.ctl("status", json_out=True)["approvals"]
    check(ctl["pending"] == 0, f"after a restart status counts "
          f"{ctl['pending']} pending approval(s), the list none: an "
          f"approval answered by approval.approved is rebuilt as approved "
          f"and stays counted (daemon/approval.c ap_rebuild_cb): {ctl}")
    check(len(e.calls_of(a)) == 1, f"{a} ran once: {e.calls_of(a)}")
    e.settle()


def approval_expires(tmp, daemons):
    """approvals.expire = "2s": an unanswered approval expires as denied
    (approval.expired, never runs), and one whose deadline passes while
    the daemon is down expires at the next start, by its recorded
    deadline."""
    e = Env(tmp, daemons, approvals='{ required = { "remediate.*" }, '
            'expire = "2s" }')
    e.d.start()
    a = e.plan("reimage", host="h1")
    req = wait_type(e.d, "approval.requested", a)
    ex = wait_type(e.d, "approval.expired", a)
    check(ex["outcome"] == "denied" and ex["actor"] == "system", f"{ex}")
    check(rec_time(ex) * 1000 >= req["expires_ms"] - 1000,
          f"not before its deadline: {ex} vs {req}")
    check(state_of(e.d, a) == "denied", state_of(e.d, a))
    e.barrier()
    never_ran(e, a)
    r = e.d.ctl("approve", a, check_rc=1)
    check(f"no pending approval {a}" in r.stderr, r.stderr)
    # Expired while down.
    b = e.plan("reimage", host="h2")
    req = wait_type(e.d, "approval.requested", b)
    e.settle()
    e.d.kill()
    wait_for(lambda: time.time() * 1000 > req["expires_ms"] + 500,
             "the deadline to pass while the daemon is down")
    e.d.start()
    ex = wait_type(e.d, "approval.expired", b)
    check(ex["outcome"] == "denied", f"{ex}")
    check(approvals(e.d) == {}, f"{approvals(e.d)}")
    check(state_of(e.d, b) == "denied", state_of(e.d, b))
    e.barrier()
    never_ran(e, b)
    st = e.d.ctl("status", json_out=True)["approvals"]
    check(st["expired"] == 1 and st["pending"] == 0, f"{st}")
    e.settle()


def answer_race(tmp, daemons):
    """Two answers sent at once to one approval (an approve and a deny):
    it is answered exactly once, by whichever the audit log has first;
    the other gets exit 1 and the not-pending error, and the outcome
    matches the recorded answer."""
    e = Env(tmp, daemons, approvals='{ required = { "remediate.*" } }')
    e.d.start()
    for host in ("r1", "r2", "r3"):
        aid = e.plan("reimage", host=host)
        wait_type(e.d, "approval.requested", aid)
        procs = [subprocess.Popen([REMEDIACTL, "-s", e.d.socket, *args],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for args in (("approve", aid, "-m", "yes"),
                              ("deny", aid, "-m", "no"))]
        rcs = [p.wait(timeout=WAIT) for p in procs]
        errs = [p.stderr.read() for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
        check(sorted(rcs) == [0, 1], f"{aid}: one answer taken: {rcs} "
              f"{errs}")
        loser = errs[rcs.index(1)]
        check(f"no pending approval {aid}" in loser, loser)
        recs = [r for r in e.d.records() if r.get("id") == aid and
                r["type"] in ("approval.approved", "approval.denied")]
        check(len(recs) == 1, f"{aid} answered once: {recs}")
        if recs[0]["type"] == "approval.approved":
            check(rcs[0] == 0, "the approve was the one taken")
            ran(e, aid)
        else:
            check(rcs[1] == 0, "the deny was the one taken")
            e.barrier()
            never_ran(e, aid)


def bad_answers(tmp, daemons):
    """Approving or denying an unknown id, an expired one, or one already
    answered: exit 1 with an error that names the id and says it is not
    pending; remediactl show tells which it is. Missing ids are usage
    errors."""
    e = Env(tmp, daemons, approvals='{ required = { "remediate.*" }, '
            'expire = "3s" }')
    e.d.start()
    old = e.plan("reimage", host="h0")
    wait_type(e.d, "approval.expired", old)
    ok = e.plan("reimage", host="h1")
    no = e.plan("reimage", host="h2")
    wait_type(e.d, "approval.requested", no)
    e.d.ctl("approve", ok)
    e.d.ctl("deny", no, "-m", "no")
    ran(e, ok)
    for aid, state in ((old, "denied"), (ok, "applied"), (no, "denied"),
                       ("A999999.0", None)):
        for args in (("approve", aid), ("approve", aid, "-m", "again"),
                     ("deny", aid, "-m", "again")):
            r = e.d.ctl(*args, check_rc=1)
            check(r.stderr.startswith(
                f"remediactl: not_found: no pending approval {aid} "
                f"(unknown, expired or already answered: remediactl show "
                f"{aid} tells which)"), f"{args}: {r.stderr!r}")
        if state is not None:
            check(state_of(e.d, aid) == state, f"{aid}: "
                  f"{state_of(e.d, aid)}, want {state}")
        else:
            s = e.d.ctl("show", aid, json_out=True)
            check("state" not in s and s["records"] == [], f"{s}")
    # One answer each: the approved one ran once.
    check(len(e.calls_of(ok)) == 1, f"{e.calls_of(ok)}")
    never_ran(e, no)
    never_ran(e, old)
    for args in (("approve",), ("approve", ""), ("deny",),
                 ("deny", "-m", "why"), ("approve", "A1.0", "A2.0")):
        e.d.ctl(*args, check_rc=2)
    # A message over the limit.
    x = e.plan("reimage", host="h3")
    wait_type(e.d, "approval.requested", x)
    r = e.d.ctl("approve", x, "-m", "y" * 1025, check_rc=1)
    check("invalid_args" in r.stderr and "longer than 1024" in r.stderr,
          r.stderr)
    check(set(approvals(e.d)) == {x}, "still pending")
    e.settle()


def restart_keeps_approvals(tmp, daemons):
    """kill -9 with 100 pending approvals (three with a first vote of a
    quorum of two): after the restart `remediactl --json approvals` lists
    the same ones, in the same order, with the same deadlines, reasons,
    summaries and votes; a vote given before counts after."""
    e = Env(tmp, daemons, approvals='{ required = { "remediate.*" }, '
            'quorum = { ["remediate.reimage"] = 2 } }')
    e.d.start()
    e.send(*[e.alert("many", host=f"n{i}", rule="25") for i in range(4)])
    wait_for(lambda: len(approvals(e.d)) == 100, "100 pending approvals")
    ids = list(approvals(e.d))
    for aid in ids[:3]:
        r = e.d.ctl("approve", aid, "-m", "first of two", json_out=True)
        check(r == {"id": aid, "state": "pending", "votes": 1, "quorum": 2},
              f"{r}")
    def strip(lst):
        # The ages go on; "created" is shown to the second, taken from
        # the clock before the restart and from the record's time after
        # it (microseconds apart: compared within a second below).
        return [{k: v for k, v in a.items()
                 if k not in ("age_s", "left_s", "created")} for a in lst]

    def created(lst):
        return [calendar.timegm(time.strptime(a["created"],
                                              "%Y-%m-%dT%H:%M:%SZ"))
                for a in lst]
    before = e.d.ctl("approvals", json_out=True)["approvals"]
    check(len(before) == 100 and all(a["quorum"] == 2 for a in before),
          "100, quorum 2")
    check([ap_votes(a) for a in before] == [1] * 3 + [0] * 97,
          f"{before[:4]}")
    e.settle()
    e.restart()
    after = e.d.ctl("approvals", json_out=True)["approvals"]
    check(len(after) == 100, f"{len(after)} after the restart")
    b, a = strip(before), strip(after)
    for x, y in zip(b, a):
        check(x == y, f"changed by the restart:\n{x}\n{y}")
    check(b == a, "same list")
    check(all(abs(x - y) <= 1 for x, y in zip(created(before),
                                              created(after))),
          "the same creation times")
    # The deadlines are the recorded ones, and still ahead.
    reqs = {r["id"]: r for r in of_type(e.d.records(), "approval.requested")}
    for x in after:
        check(x["expires"] == reqs[x["id"]]["expires_at"] and
              x["left_s"] > 0, f"{x} vs {reqs[x['id']]}")
    st = e.d.ctl("status", json_out=True)["approvals"]
    check(st["pending"] == 100, f"{st}")
    # The first vote counts: the same person again is refused...
    r = e.d.ctl("approve", ids[0], check_rc=1)
    check(f"{ROOT} already approved {ids[0]}: a quorum of 2 needs 2 "
          f"different people" in r.stderr, r.stderr)
    # ...and a denial still works after the restart.
    e.d.ctl("deny", ids[1], "-m", "after the restart")
    wait_type(e.d, "approval.denied", ids[1])
    check(len(approvals(e.d)) == 99, "99 left")
    e.barrier()
    check(all(e.calls_of(x) == [] for x in ids), "none ran")
    e.settle()


def quorum_on_every_hold(tmp, daemons):
    """The quorum the policy sets for an action applies whichever rule
    held it: a reimage held because automation is paused, or because it
    touches a protected host, still needs two people."""
    e = Env(tmp, daemons, guard='{ protected = { dcs = { hosts = '
            '{ "dc*" }, mode = "approval" } } }',
            approvals='{ required = { "remediate.*" }, quorum = '
            '{ ["remediate.reimage"] = 2 } }')
    e.d.start()
    n = e.plan("reimage", host="web-1")
    decision(e, n, "hold", "approvals.required:remediate.*", quorum=2)
    p = e.plan("reimage", host="dc1")
    g = wait_type(e.d, "guard.decision", p)
    check(g["rule"] == "protected:dcs", f"{g}")
    e.d.ctl("pause")
    q = e.plan("reimage", host="web-2")
    g2 = wait_type(e.d, "guard.decision", q)
    check(g2["rule"] == "paused", f"{g2}")
    e.d.ctl("resume")
    pend = approvals(e.d)
    for aid, g in ((p, g), (q, g2)):
        check(g["quorum"] == 2 and pend[aid]["quorum"] == 2,
              f"{aid} held by {g['rule']} with quorum {g['quorum']}: a "
              f"reimage needs 2 people (approvals.quorum) whatever held "
              f"it, or one person approves what the policy wants four "
              f"eyes on (daemon/guard.c guard_judge)")
        r = e.d.ctl("approve", aid, json_out=True)
        check(r["state"] == "pending", f"{aid}: one vote of two: {r}")
    e.barrier()
    for aid in (n, p, q):
        never_ran(e, aid)
    e.settle()


def with_users(*roles):
    """A case that makes a group and users with these roles for its body
    (body(tmp, daemons, users)); its processes are stopped (checked) or
    killed before the users are removed."""
    def wrap(body):
        def case(tmp, daemons):
            users = Users(*roles)
            try:
                body(tmp, daemons, users)
                # remediad before its broker, as harness.run_cases does.
                for d in reversed(daemons):
                    if d.proc is not None:
                        d.stop()
            finally:
                for d in daemons:
                    d.kill()
                users.cleanup()
        case.__doc__ = body.__doc__
        return case
    return wrap


@with_users("approver", "viewer")
def quorum_two_people(tmp, daemons, users):
    """A quorum of 2 needs two distinct uids: root and a second user with
    the approver role, each running remediactl as themselves over the
    same socket; the same person twice is refused (exit 1, a clear
    message); the second approval runs the action. The approver may pause
    and resume but not switch dry-run (admin)."""
    sock = shared_socket(tmp, users)
    more = (f'control.group = "{users.group}"\n'
            f'control.roles = {{ approver = {{ "user:'
            f'{users.names["approver"]}" }}, viewer = {{ "user:'
            f'{users.names["viewer"]}" }} }}\n')
    e = Env(tmp, daemons, approvals='{ required = { "remediate.*" }, '
            'quorum = { ["remediate.reimage"] = 2 } }', more=more,
            socket_path=sock)
    e.d.start()
    st = os.stat(sock)
    check(st.st_mode & 0o777 == 0o660 and
          st.st_gid == grp.getgrnam(users.group).gr_gid,
          f"socket mode {oct(st.st_mode)} gid {st.st_gid}")
    who = users.ctl("approver", e.d, "status", json_out=True)
    check(who["role"] == "approver", f"{who['role']}")
    a = e.plan("reimage", host="h1")
    decision(e, a, "hold", "approvals.required:remediate.*", quorum=2)
    r = e.d.ctl("approve", a, "-m", "root says yes", json_out=True)
    check(r == {"id": a, "state": "pending", "votes": 1, "quorum": 2},
          f"{r}")
    r = e.d.ctl("approve", a, "-m", "root says yes again", check_rc=1)
    check(r.stderr.strip() == f"remediactl: failed: {ROOT} already "
          f"approved {a}: a quorum of 2 needs 2 different people",
          r.stderr)
    check(ap_votes(approvals(e.d)[a]) == 1, "one vote")
    e.barrier()
    never_ran(e, a)
    r = users.ctl("approver", e.d, "approve", a, "-m", "second pair of eyes",
                  json_out=True)
    check(r == {"id": a, "state": "approved"}, f"{r}")
    ran(e, a)
    gr = for_id(of_type(e.d.records(), "approval.granted"), a)
    check([(g["uid"], g["actor"], g["votes"]) for g in gr] ==
          [(0, ROOT, 1), (users.uid("approver"), users.actor("approver"),
                          2)], f"{gr}")
    ap = wait_type(e.d, "approval.approved", a)
    check(ap["actor"] == users.actor("approver") and ap["votes"] == 2,
          f"{ap}")
    # The other order, and a denial by the second person.
    b = e.plan("reimage", host="h2")
    wait_type(e.d, "approval.requested", b)
    users.ctl("approver", e.d, "approve", b)
    r = users.ctl("approver", e.d, "approve", b, check_rc=1)
    check(f"{users.actor('approver')} already approved {b}" in r.stderr,
          r.stderr)
    c = e.plan("reimage", host="h3")
    wait_type(e.d, "approval.requested", c)
    users.ctl("approver", e.d, "deny", c, "-m", "no")
    dn = wait_type(e.d, "approval.denied", c)
    check(dn["actor"] == users.actor("approver") and
          dn["uid"] == users.uid("approver"), f"{dn}")
    e.d.ctl("approve", b)
    ran(e, b)
    never_ran(e, c)
    # Four eyes: who asked for an action by hand (remediactl run) does
    # not approve it, whatever the quorum.
    r = e.d.ctl("run", "ticket", "summary=by hand", "approval=required",
                "-m", "a person asks", json_out=True)
    m = r["id"]
    check(r["state"] == "held", f"{r}")
    decision(e, m, "hold", "playbook:approval=required", quorum=1)
    r = e.d.ctl("approve", m, check_rc=1)
    check(r.stderr.strip() == f"remediactl: forbidden: {ROOT} requested "
          f"{m} and cannot approve it: four eyes (another approver must)",
          r.stderr)
    check(for_id(of_type(e.d.records(), "approval.granted"), m) == [],
          "no vote recorded")
    users.ctl("approver", e.d, "approve", m, "-m", "the other pair of eyes")
    call = ran(e, m)
    check(call["params"]["summary"] == "by hand", f"{call}")
    # The approver role: pause and resume yes, dry-run no.
    users.ctl("approver", e.d, "pause")
    p = wait_type(e.d, "guard.paused")
    check(p["actor"] == users.actor("approver"), f"{p}")
    check(guard_status(e.d)["paused_by"] == users.actor("approver"),
          f"{guard_status(e.d)}")
    users.ctl("approver", e.d, "resume")
    r = users.ctl("approver", e.d, "dry-run", "on", check_rc=1)
    check(f"forbidden: dry-run needs the admin role; "
          f"{users.actor('approver')} has approver" in r.stderr, r.stderr)
    check(guard_status(e.d)["dry_run"] is False, "unchanged")
    e.settle()


@with_users("viewer")
def viewer_cannot_approve(tmp, daemons, users):
    """A viewer lists approvals but cannot approve, deny, pause or resume:
    exit 1, error forbidden, and nothing is recorded as an answer."""
    sock = shared_socket(tmp, users)
    more = (f'control.group = "{users.group}"\n'
            f'control.roles = {{ viewer = {{ "user:'
            f'{users.names["viewer"]}" }} }}\n')
    e = Env(tmp, daemons, approvals='{ required = { "remediate.*" } }',
            more=more, socket_path=sock)
    e.d.start()
    a = e.plan("reimage", host="h1")
    wait_type(e.d, "approval.requested", a)
    lst = users.ctl("viewer", e.d, "approvals", json_out=True)
    check([x["id"] for x in lst["approvals"]] == [a], f"{lst}")
    va = users.actor("viewer")
    for args, cmd in ((("approve", a), "approve"),
                      (("approve", a, "-m", "x"), "approve"),
                      (("deny", a, "-m", "x"), "deny"),
                      (("pause",), "pause"), (("resume",), "resume"),
                      (("dry-run", "on"), "dry-run")):
        r = users.ctl("viewer", e.d, *args, check_rc=1)
        want = "admin" if cmd == "dry-run" else "approver"
        check(r.stderr.strip() == f"remediactl: forbidden: {cmd} needs "
              f"the {want} role; {va} has viewer", f"{args}: {r.stderr}")
    recs = e.d.records()
    check(of_type(recs, "approval.granted", "approval.approved",
                  "approval.denied", "guard.paused") == [],
          "nothing answered")
    check([c for c in of_type(recs, "control.command")
           if c["actor"] == va] == [], "no command recorded for the "
          "viewer")
    check(set(approvals(e.d)) == {a}, "still pending")
    e.barrier()
    never_ran(e, a)
    e.settle()


# Bytes a terminal acts on: a line feed and a carriage return (forge a
# row), escape sequences (clear the screen, hide text), BEL, DEL, and the
# C1 control U+009B (CSI by itself on many terminals).
HOSTILE = "ok\nA1.0  forged row\r\x1b[2J\x1b[8mhidden\x07\x7f\u009b31m"
CONTROL_BYTES = [b for b in range(0x20) if b != 0x0a] + [0x7f]


def hostile_text_shown_escaped(tmp, daemons):
    """What an alert says reaches the people who approve: remediactl
    shows it with its control characters escaped, one line per row or
    record, so a hostile alert can neither forge a row nor drive the
    terminal. --json stays the data, exactly."""
    e = Env(tmp, daemons, approvals='{ required = { "ticket.*" } }')
    e.d.start()
    a = e.plan("hostile", rule=HOSTILE)
    wait_type(e.d, "approval.requested", a)
    pend = approvals(e.d)
    check(ap_target(pend[a]) == f"summary={HOSTILE}", f"{pend}")

    def shown(*args, rows=None, nested=False):
        raw = subprocess.run(
            [REMEDIACTL, "-s", e.d.socket, *args], capture_output=True,
            timeout=30, check=True).stdout
        bad = sorted({b for b in raw if b in CONTROL_BYTES})
        check(not bad, f"remediactl {' '.join(args)} printed control "
              f"bytes {bad}: {raw!r}")
        check("\u009b".encode() not in raw, f"C1 CSI printed: {raw!r}")
        text = raw.decode()
        # A string in a nested value is JSON text, jansson's escapes.
        want = ("ok\\nA1.0  forged row\\r\\u001B[2J\\u001B[8mhidden"
                "\\u0007\\x7f\\u009b31m" if nested else
                "ok\\x0aA1.0  forged row\\x0d\\x1b[2J\\x1b[8mhidden"
                "\\x07\\x7f\\u009b31m")
        check(want in text, f"escaped text: {text}")
        if rows is not None:
            check(len(text.splitlines()) == rows, f"{rows} lines: {text}")
        return text

    shown("approvals", rows=2)
    shown("show", a)
    # The record, and the count of matches.
    shown("audit", "search", "type=plan.created", rows=2, nested=True)
    e.settle()


CASES = {
    "protected_scope": protected_scope,
    "precedence": precedence,
    "policy_rules": policy_rules,
    "rate_limit_holds": rate_limit_holds,
    "rate_per_target_and_playbook": rate_per_target_and_playbook,
    "rate_reason_cut_in_character": rate_reason_cut_in_character,
    "rate_survives_restart": rate_survives_restart,
    "blast_radius_and_breaker": blast_radius_and_breaker,
    "breaker_trips_on_failures": breaker_trips_on_failures,
    "watch_streams": watch_streams,
    "answer_race": answer_race,
    "dry_run_switch": dry_run_switch,
    "dry_run_config_default": dry_run_config_default,
    "dry_run_undeclared": dry_run_undeclared,
    "policy_asset_tier": policy_asset_tier,
    "blast_group_share": blast_group_share,
    "whole_plan_approval": whole_plan_approval,
    "approval_escalates": approval_escalates,
    "pause_resume": pause_resume,
    "approve_deny": approve_deny,
    "approval_expires": approval_expires,
    "bad_answers": bad_answers,
    "restart_keeps_approvals": restart_keeps_approvals,
    "quorum_on_every_hold": quorum_on_every_hold,
    "quorum_two_people": quorum_two_people,
    "viewer_cannot_approve": viewer_cannot_approve,
    "hostile_text_shown_escaped": hostile_text_shown_escaped,
    "escalation_long_target": escalation_long_target,
}

# These make Unix users: root only.
AS_ROOT = ("quorum_two_people", "viewer_cannot_approve")

if __name__ == "__main__":
    if sys.argv[1:] != ["--list"] and os.geteuid() != 0:
        names = sys.argv[1:] or list(CASES)
        skipped = [n for n in names if n in AS_ROOT]
        for n in skipped:
            print(f"SKIP {n}: needs root to create the second user "
                  f"(useradd) and run remediactl as them (setpriv)")
        if skipped and len(skipped) == len(names):
            sys.exit(77)
        sys.argv[1:] = [n for n in names if n not in AS_ROOT]
    run_cases(CASES)
