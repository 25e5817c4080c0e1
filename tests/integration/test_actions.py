#!/usr/bin/env python3
"""The action runner end to end: the real remediad turns the plans of a
playbook into connector steps (child processes with JSON on stdin and
stdout), tracks mitigations to their expiry and rollback and remediations
to their verification, and rebuilds all of it from the audit log after a
kill -9. Alerts go in through the mock broker and kcat; the connectors are
small Python programs written into each case's directory (one script,
`tconn`, whose behaviour each connector instance picks with MODE), the
shipped `http` connector and the fake EDR service (tests/tools/fake_edr.py).

No case asserts how long anything takes: waits are generous and bounded,
ttls are short."""
import calendar
import collections
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from harness import (Daemon, TestFailure, check, for_id, of_type, plans,
                     read_log, run_cases, wait_for, wait_record, wait_type,
                     WAIT)
from brokerlib import MockBroker, produce

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", ".."))
FAKE_EDR = os.path.join(TOP, "tests", "tools", "fake_edr.py")
HTTP_CONNECTOR = os.path.join(TOP, "daemon", "connectors", "http")
PYTHON = "/usr/bin/python3"  # connectors run with PATH=/usr/sbin:/usr/bin...

# One playbook for every case: the alert's title says what to request, its
# host the target, its rule the ttl, its category a variant.
PLAYBOOK = '''
return playbook {
  name = "acts",
  match = { source = "generic" },
  run = function(alert, rd)
    local t, h = alert.title or "", alert.host
    if t == "isolate" then
      rd.mitigate.isolate{ host = h, ttl = alert.rule, reason = "test" }
    elseif t == "isolate_until" then
      rd.mitigate.isolate{ host = h, until_remediated = true }
      if alert.category == "reimage" then
        rd.remediate.reimage{ host = h }
      elseif alert.category == "reimage_noverify" then
        rd.remediate.reimage{ host = h, verify = false }
      end
    elseif t == "ticket" then
      rd.ticket{ summary = "ticket " .. (alert.rule or "") }
    elseif t == "notify" then
      rd.notify{ message = "notify " .. (alert.rule or "") }
    elseif t == "ticket_notify" then
      rd.ticket{ summary = "ticket " .. (alert.rule or "") }
      rd.notify{ message = "notify " .. (alert.rule or "") }
    end
  end,
}
'''

# The test connector. Every run appends {"event": "start", "req": ...} to
# $REC (and more events per mode), then answers by $MODE:
#   ok            ok
#   hold          attempt 1 of an apply waits while $HOLD exists, then ok
#   slow_apply    an apply sleeps $SLEEP seconds first, then ok
#   hang          sleeps until killed (SIGTERM ends it)
#   hang_trap     records SIGTERM and goes on sleeping (only SIGKILL ends it)
#   daemonize     leaves a helper (own session) holding stdout while
#                 $HOLD exists, answers ok, exits
#   sim           keeps $STATE/hosts.json as an EDR would: apply contains
#                 the host, rollback lifts it (after $APPLY_SLEEP /
#                 $ROLLBACK_SLEEP seconds)
#   garbage       prints something that is not JSON, exits 0
#   bad_utf8      prints bytes that are not UTF-8 (nor JSON), exits 0
#   long_message  failed, with a message of 600 two-byte characters
#   huge          prints a valid answer of 100 KiB, exits 0
#   crash         prints nothing, exits 3
#   retry         "retry" for the first $RETRY_N runs of a key and op, then ok
#   refresh_fails an apply under a refresh's key (<id>+<expires>) says
#                 failed; everything else ok
#   conc          counts the runs in $STATE/running, keeps the most it saw
#                 in $STATE/max, sleeps $SLEEP, answers ok
#   verify_flaky  verify says failed for the first $FAIL_N runs of a key,
#                 then ok; apply and rollback say ok
TCONN = r'''#!/usr/bin/python3
import fcntl, json, os, signal, sys, time

mode = os.environ.get("MODE", "ok")
rec = os.environ["REC"]
state = os.environ.get("STATE", "")


def record(**kw):
    line = json.dumps(dict(pid=os.getpid(), pgid=os.getpgid(0), mode=mode,
                           t=time.time(), **kw)) + "\n"
    with open(rec, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(line)


def answer(status, message="", **details):
    sys.stdout.write(json.dumps({"status": status, "message": message,
                                 "details": details}) + "\n")
    sys.stdout.flush()
    record(event="answer", status=status, key=req["idempotency_key"],
           op=req["op"], attempt=req.get("attempt"))
    sys.exit(0)


def count(name):
    """How many times this name was counted before, +1 (under a lock)."""
    path = os.path.join(state, "count")
    with open(path + ".lock", "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        try:
            with open(path) as f:
                counts = json.load(f)
        except FileNotFoundError:
            counts = {}
        counts[name] = counts.get(name, 0) + 1
        with open(path + ".tmp", "w") as f:
            json.dump(counts, f)
        os.rename(path + ".tmp", path)
        return counts[name]


req = json.loads(sys.stdin.readline())
record(event="start", req=req, env=sorted(os.environ),
       fds=sorted(int(x) for x in os.listdir("/proc/self/fd")),
       secrets={k: v for k, v in os.environ.items()
                if k.startswith("REMEDIAD_SECRET_")})
op, key = req["op"], req["idempotency_key"]

if mode == "ok":
    answer("ok", "done")
elif mode == "hold":
    hold = os.environ["HOLD"]
    if req.get("attempt") == 1 and op == "apply":
        record(event="holding", key=key)
        end = time.monotonic() + 120
        while os.path.exists(hold) and time.monotonic() < end:
            time.sleep(0.05)
    answer("ok", "done after hold")
elif mode == "slow_apply":
    if op == "apply":
        time.sleep(float(os.environ.get("SLEEP", "1")))
    answer("ok", "done slowly")
elif mode in ("hang", "hang_trap"):
    if mode == "hang_trap":
        def on_term(signum, frame):
            record(event="sigterm", key=key, attempt=req.get("attempt"))
        signal.signal(signal.SIGTERM, on_term)
    record(event="hanging", key=key, attempt=req.get("attempt"))
    while True:
        time.sleep(1000)
elif mode == "daemonize":
    # Leaves a helper in a session of its own that holds stdout while
    # $HOLD exists, answers, and exits.
    if os.fork() == 0:
        os.setsid()
        record(event="helper", pid2=os.getpid())
        end = time.monotonic() + 120
        while os.path.exists(os.environ["HOLD"]) and \
                time.monotonic() < end:
            time.sleep(0.05)
        os._exit(0)
    answer("ok", "done, helper left behind")
elif mode == "sim":
    # A host's isolation as an EDR would hold it: apply contains, the
    # rollback lifts, each after its $APPLY_SLEEP / $ROLLBACK_SLEEP.
    host = req["params"]["host"]
    time.sleep(float(os.environ.get(op.upper() + "_SLEEP", "0")))
    path = os.path.join(state, "hosts.json")
    with open(path + ".lock", "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        try:
            with open(path) as f:
                hosts = json.load(f)
        except FileNotFoundError:
            hosts = {}
        hosts[host] = "contained" if op == "apply" else "normal"
        with open(path + ".tmp", "w") as f:
            json.dump(hosts, f)
        os.rename(path + ".tmp", path)
    record(event="effect", key=key, op=op, host=host, now=hosts[host])
    answer("ok", hosts[host])
elif mode == "garbage":
    sys.stdout.write("this is not JSON {{{ <html>\n")
    sys.stdout.flush()
    sys.exit(0)
elif mode == "bad_utf8":
    sys.stdout.buffer.write(b'{"status": "ok", "message": "\xff\xfe\xc3"}\n')
    sys.stdout.flush()
    sys.exit(0)
elif mode == "long_message":
    answer("failed", "\u00e9" * 600)
elif mode == "huge":
    # A valid answer, but over the 64 KiB the daemon reads.
    sys.stdout.write(json.dumps({"status": "ok",
                                 "message": "x" * (100 * 1024)}) + "\n")
    sys.stdout.flush()
    sys.exit(0)
elif mode == "crash":
    sys.exit(3)
elif mode == "retry":
    n = count(key + ":" + op)
    if n <= int(os.environ.get("RETRY_N", "2")):
        answer("retry", f"busy, run {n}")
    answer("ok", f"done at run {n}")
elif mode == "conc":
    run = os.path.join(state, "running")
    mine = os.path.join(run, str(os.getpid()))
    with open(os.path.join(state, "max.lock"), "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        open(mine, "w").close()
        now = len(os.listdir(run))
        try:
            with open(os.path.join(state, "max")) as f:
                most = int(f.read() or 0)
        except FileNotFoundError:
            most = 0
        with open(os.path.join(state, "max"), "w") as f:
            f.write(str(max(most, now)))
    time.sleep(float(os.environ.get("SLEEP", "0.3")))
    with open(os.path.join(state, "max.lock"), "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        os.unlink(mine)
    answer("ok", "done")
elif mode == "refresh_fails":
    if op == "apply" and "+" in key:
        answer("failed", "the element is gone")
    answer("ok", "done")
elif mode == "verify_flaky":
    if op == "verify":
        n = count(key + ":verify")
        if n <= int(os.environ.get("FAIL_N", "1")):
            answer("failed", f"not yet clean (check {n})")
        answer("ok", f"clean (check {n})")
    answer("ok", "done")
else:
    answer("failed", "unknown MODE " + mode)
'''

# Around the shipped http connector: runs it, and when $HOLD exists holds
# its answer to attempt 1 of an apply back (the change is made at the EDR,
# the daemon has not heard of it yet).
SLOWHTTP = r'''#!/usr/bin/python3
import json, os, subprocess, sys, time

data = sys.stdin.buffer.read()
req = json.loads(data)
env = {k: v for k, v in os.environ.items() if k not in ("REAL", "HOLD", "REC")}
r = subprocess.run([os.environ["REAL"]], input=data, capture_output=True,
                   env=env)
with open(os.environ["REC"], "a") as f:
    f.write(json.dumps({"event": "called", "req": req,
                        "out": r.stdout.decode("utf-8", "replace"),
                        "rc": r.returncode}) + "\n")
if req.get("attempt") == 1 and req["op"] == "apply":
    end = time.monotonic() + 120
    while os.path.exists(os.environ["HOLD"]) and time.monotonic() < end:
        time.sleep(0.05)
sys.stderr.buffer.write(r.stderr)
sys.stdout.buffer.write(r.stdout)
sys.exit(r.returncode)
'''


def lua(v):
    """A Python value as Lua table constructor text."""
    if isinstance(v, dict):
        return "{ " + ", ".join(f"[{json.dumps(k)}] = {lua(x)}"
                                for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "{ " + ", ".join(lua(x) for x in v) + " }"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v)


class FakeEDR:
    """tests/tools/fake_edr.py as a child process; quacks like the other
    processes run_cases() stops and whose log it prints."""

    def __init__(self, tmp):
        self.port_file = os.path.join(tmp, "edr.port")
        self.conf = self.log = os.path.join(tmp, "edr.log")
        self.proc = None

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, FAKE_EDR, "--port-file", self.port_file,
             "--verbose"], stdin=subprocess.DEVNULL, stdout=self.logf,
            stderr=self.logf)
        def up():
            if self.proc.poll() is not None:
                raise TestFailure(f"fake_edr exited {self.proc.returncode}:"
                                  f"\n{self.log_text()[-3000:]}")
            return os.path.exists(self.port_file)
        wait_for(up, "fake_edr's port file")
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=WAIT) as r:
            return json.loads(r.read())

    def post(self, path, obj):
        rq = urllib.request.Request(self.url + path, method="POST",
                                    data=json.dumps(obj).encode(),
                                    headers={"Content-Type":
                                             "application/json"})
        with urllib.request.urlopen(rq, timeout=WAIT) as r:
            return json.loads(r.read())

    def log_text(self):
        return read_log(self.log)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure("fake_edr did not stop on SIGTERM")
        self.proc = None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Env:
    """One case's world: the broker, the connectors dir, the daemon."""

    def __init__(self, tmp, daemons, actions, settings, more=None):
        self.tmp = tmp
        self.daemons = daemons
        self.cdir = os.path.join(tmp, "connectors")
        self.state = os.path.join(tmp, "cstate")
        self.rec = os.path.join(tmp, "connector.jsonl")
        self.hold = os.path.join(tmp, "hold")
        os.makedirs(os.path.join(self.state, "running"))
        os.makedirs(self.cdir)
        for name, text in (("tconn", TCONN), ("slowhttp", SLOWHTTP)):
            path = os.path.join(self.cdir, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)
        # The shipped connector, as it is (not a copy).
        os.symlink(HTTP_CONNECTOR, os.path.join(self.cdir, "http"))
        b = MockBroker(tmp)
        daemons.append(b)
        self.boot = b.start(1, {"alerts": 1, "alerts.dlq": 1})
        pbdir = os.path.join(tmp, "playbooks")
        os.makedirs(pbdir)
        with open(os.path.join(pbdir, "acts.lua"), "w") as f:
            f.write(PLAYBOOK)
        conn = {"dir": self.cdir, "timeout": "2s", "grace": "1s",
                "retries": 2, "backoff": "200ms", "max_backoff": "2s",
                "concurrency": 4, "verify_window": "5s",
                "verify_interval": "500ms", "shutdown_wait": "2s"}
        conn.update(more or {})
        # Every test instance runs tconn unless it says otherwise, and
        # knows where to record.
        sets = {}
        for name, s in settings.items():
            s = dict(s)
            s.setdefault("program", "tconn")
            env = {"REC": self.rec, "STATE": self.state, "HOLD": self.hold}
            env.update(s.get("env", {}))
            s["env"] = env
            sets[name] = s
        conn["actions"] = actions
        conn["settings"] = sets
        extra = (f'kafka = {{ brokers = "{self.boot}", topic = "alerts", '
                 f'group = "remediad", properties = {{ '
                 f'["session.timeout.ms"] = "3000", '
                 f'["heartbeat.interval.ms"] = "500" }} }}\n'
                 f'audit.sync = "group"\n'
                 f'playbooks = {{ dir = "{pbdir}", workers = 1, '
                 f'max_actions = 64 }}\n'
                 f'connectors = {lua(conn)}\n')
        self.d = Daemon(tmp, extra=extra)
        daemons.append(self.d)
        self.nalerts = 0

    def alert(self, title, host=None, rule=None, category=None):
        """One generic alert (unique, so dedup keeps it); returns its
        message."""
        self.nalerts += 1
        doc = {"title": title, "message": f"{title} #{self.nalerts} "
               f"{time.time()}"}
        if host is not None:
            doc["host"] = host
        if rule is not None:
            doc["rule"] = rule
        if category is not None:
            doc["category"] = category
        return json.dumps(doc)

    def send(self, *lines):
        produce(self.boot, "alerts", list(lines), partition=0)

    def calls(self):
        """What the test connectors recorded, in order."""
        try:
            with open(self.rec) as f:
                data = f.read()
        except FileNotFoundError:
            return []
        whole = data[:data.rfind("\n") + 1]
        return [json.loads(l) for l in whole.splitlines() if l]

    def starts(self, **match):
        return [c for c in self.calls() if c["event"] == "start" and
                all(c["req"].get(k) == v for k, v in match.items())]


# ---- Helpers over the audit log ----------------------------------------------

def action_ids(recs):
    """The action ids of every plan, in order: A<seq>.<index>."""
    out = []
    for p in plans(recs):
        out += [f"A{p['seq']}.{i}" for i in range(len(p["actions"]))]
    return out


LIFECYCLE = ("action.", "mitigation.", "remediation.")


def types_of(recs, aid):
    """The lifecycle of one action: its records' types (and op), in
    order (other records naming it, a guard's decision, left out)."""
    out = []
    for r in for_id(recs, aid):
        t = r["type"]
        if not t.startswith(LIFECYCLE):
            continue
        if t.startswith("action."):
            t += ":" + r.get("op", "?")
        out.append(t)
    return out


def mitigations(d):
    return {m["id"]: m for m in d.ctl("mitigations", json_out=True)
            ["mitigations"]}


def status_actions(d):
    return d.ctl("status", json_out=True)["actions"]


def audit_ok(d):
    """remediactl audit verify passes; then the consumer is let finish its
    group join: librdkafka 2.0.2 (Debian's) asserts when a cooperative-
    sticky consumer is closed before its first assignment (librdkafka
    #4312, fixed in 2.3.0), and a restarted daemon joins slowly."""
    v = d.ctl("audit", "verify", json_out=True)
    check(v.get("ok") is True, f"audit verify: {v}")
    wait_for(lambda: d.ctl("status", json_out=True)["kafka"]["partitions"],
             "the restarted consumer's assignment")


def rec_time(r):
    """A record's time, epoch seconds (whole)."""
    return calendar.timegm(time.strptime(r["time"][:19],
                                         "%Y-%m-%dT%H:%M:%S"))


def children_of(pid):
    """[(pid, cmdline, state)] of pid's children."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != pid:
                continue
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        out.append((int(p), cmd, fields[0]))
    return out


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def one_plan(e, title, **kw):
    """Sends one alert and returns its plan.created record."""
    before = len(plans(e.d.records()))
    e.send(e.alert(title, **kw))
    wait_for(lambda: len(plans(e.d.records())) > before, "the plan")
    return plans(e.d.records())[before]


def active_extended(e, host):
    """Isolates host for 1h, waits until active, extends it by 30m with
    remediactl: the action id and the mitigation.extended record."""
    p = one_plan(e, "isolate", host=host, rule="1h")
    aid = f"A{p['seq']}.0"
    wait_type(e.d, "mitigation.active", aid)
    e.d.ctl("extend", aid, "30m")
    return aid, wait_type(e.d, "mitigation.extended", aid)


EDR_ACTIONS = {"isolate": {"connector": "edr", "rollback": "unisolate"},
               "unisolate": {"connector": "edr"},
               "reimage": {"connector": "edr"},
               "ticket": {"connector": "log"},
               "notify": {"connector": "log"}}


# ---- Cases -------------------------------------------------------------------

def lifecycle_ttl_expiry(tmp, daemons):
    """isolate with a ttl: applied, active (listed), expired, rolled back
    through the connector, no longer listed; the records in that order."""
    e = Env(tmp, daemons, EDR_ACTIONS, {"edr": {"env": {"MODE": "ok"}},
                                        "log": {"env": {"MODE": "ok"}}})
    e.d.start()
    plan = one_plan(e, "isolate", host="web-1", rule="3s")
    aid = f"A{plan['seq']}.0"
    check(plan["actions"][0]["ttl_ms"] == 3000, f"{plan}")
    act = wait_type(e.d, "mitigation.active", aid)
    m = mitigations(e.d)
    check(aid in m and m[aid]["state"] in ("active", "rolling_back"),
          f"listed while active: {m}")
    if m[aid]["state"] == "active":
        check(m[aid]["target"] == "web-1" and m[aid]["action"] == "isolate"
              and m[aid]["expires"] == act["expires_at"] and
              m[aid]["playbook"] == "acts", f"{m[aid]} vs {act}")
        out = e.d.ctl("mitigations").stdout
        check(aid in out and "web-1" in out, out)
    wait_type(e.d, "mitigation.rolled_back", aid)
    recs = e.d.records()
    check(types_of(recs, aid) == [
        "action.started:apply", "action.succeeded:apply",
        "mitigation.active", "mitigation.expired",
        "action.started:rollback", "action.succeeded:rollback",
        "mitigation.rolled_back"], f"lifecycle {types_of(recs, aid)}")
    exp = for_id(of_type(recs, "mitigation.expired"), aid)[0]
    check(exp["by"] == "expiry", f"{exp}")
    check(isinstance(act.get("expires_ms"), int) and
          "until_remediated" not in act and act["playbook"] == "acts" and
          act["plan_seq"] == plan["seq"], f"{act}")
    # Not rolled back before its expiry (a correctness bound, not timing).
    t_exp = rec_time(exp)
    check(t_exp * 1000 >= act["expires_ms"] - 1000,
          f"expired at {exp['time']}, before {act['expires_at']}")
    started = for_id(of_type(recs, "action.started"), aid)
    check(all(s["idempotency_key"] == aid and s["connector"] == "edr"
              for s in started), f"{started}")
    # What the connector was asked: apply isolate, then the rollback of
    # isolate (op rollback), each with the key, in a clean environment.
    got = e.starts(idempotency_key=aid)
    check([(c["req"]["op"], c["req"]["action"]) for c in got] ==
          [("apply", "isolate"), ("rollback", "isolate")],
          "the connector is asked to apply isolate, then to roll isolate "
          "back: " + str([(c["req"]["op"], c["req"]["action"])
                          for c in got]))
    for c in got:
        check(c["req"]["params"]["host"] == "web-1" and
              c["req"]["attempt"] == 1 and "deadline" in c["req"] and
              c["req"]["dry_run"] is False and
              c["req"]["params"].get("ttl_ms") == 3000, f"{c['req']}")
        check(set(c["env"]) <= {"PATH", "LANG", "REC", "STATE", "HOLD",
                                "MODE"}, f"clean environment: {c['env']}")
        check(c["fds"] == [0, 1, 2, 3] or c["fds"] == [0, 1, 2],
              f"nothing open but stdio: {c['fds']}")
        check(c["pgid"] == c["pid"], "its own process group")
    wait_for(lambda: aid not in mitigations(e.d), "the list to drop it")
    check("no active mitigations" in e.d.ctl("mitigations").stdout,
          "the table says so")
    s = status_actions(e.d)
    check(s["rolled_back"] == 1 and s["started"] == 2 and
          s["succeeded"] == 2 and s["failed"] == 0, f"status {s}")
    check(s["connectors"]["edr"]["running"] == 0 and
          s["connectors"]["edr"]["limit"] == 4, f"{s['connectors']}")
    show = e.d.ctl("show", aid, json_out=True)
    # The action's own records, and before them its alert and its plan.
    plan_seq = int(aid[1:].split(".")[0])
    plan = [r for r in recs if r["seq"] == plan_seq]
    alert = [r for r in recs if r["seq"] == plan[0]["alert_seq"]]
    check([r["seq"] for r in show["records"]] == [
        alert[0]["seq"], plan_seq] + [r["seq"] for r in for_id(recs, aid)],
        f"show {show}")
    check(alert[0]["type"] == "alert.received" and
          plan[0]["type"] == "plan.created", f"{alert} {plan}")
    check(show["state"]["state"] == "rolled_back", f"{show['state']}")


def repeat_extends(tmp, daemons):
    """A second isolate of the same host while the first is active extends
    it (the later expiry) instead of applying again; one rollback at the
    end."""
    e = Env(tmp, daemons, EDR_ACTIONS, {"edr": {"env": {"MODE": "ok"}},
                                        "log": {"env": {"MODE": "ok"}}})
    e.d.start()
    p1 = one_plan(e, "isolate", host="db-7", rule="3s")
    a1 = f"A{p1['seq']}.0"
    act = wait_type(e.d, "mitigation.active", a1)
    p2 = one_plan(e, "isolate", host="db-7", rule="6s")
    a2 = f"A{p2['seq']}.0"
    ext = wait_type(e.d, "mitigation.extended", a1)
    check(ext["request"] == a2, f"names the merged request: {ext}")
    check(ext["expires_ms"] > act["expires_ms"], f"later: {ext} vs {act}")
    m = mitigations(e.d)
    check(a2 not in m, f"the request is not a mitigation of its own: {m}")
    if a1 in m and m[a1]["state"] == "active":
        check(m[a1]["expires"] == ext["expires_at"], f"{m[a1]} vs {ext}")
    exp = wait_type(e.d, "mitigation.expired", a1)
    wait_type(e.d, "mitigation.rolled_back", a1)
    t_exp = rec_time(exp)
    check(t_exp * 1000 >= ext["expires_ms"] - 1000,
          f"expired at {exp['time']}, before the extended "
          f"{ext['expires_at']}")
    recs = e.d.records()
    check(for_id(of_type(recs, "action.started"), a2) == [],
          "the merged request never ran a step")
    applies = [c for c in e.starts(op="apply")
               if c["req"]["idempotency_key"] == a1]
    check(len(applies) == 1, f"the connector applied once: {applies}")
    # ...and was told the later expiry, under a key of its own.
    refresh = [c for c in e.starts(op="apply")
               if c["req"]["idempotency_key"] == f"{a1}+{ext['expires_ms']}"]
    check(len(refresh) == 1 and 0 < refresh[0]["req"]["params"]["ttl_ms"]
          <= ext["expires_ms"] - act["expires_ms"] + 3000,
          f"one refresh with the time left: {refresh}")
    check(for_id(of_type(recs, "mitigation.refreshed"), a1) != [],
          "the refresh recorded")
    check(len(e.starts(op="rollback")) == 1, "rolled back once")
    check(status_actions(e.d)["extended"] == 1, "counted")
    # After the rollback the same request applies again.
    p3 = one_plan(e, "isolate", host="db-7", rule="1h")
    a3 = f"A{p3['seq']}.0"
    wait_type(e.d, "mitigation.active", a3)
    check(len([c for c in e.starts(op="apply")
               if "+" not in c["req"]["idempotency_key"]]) == 2,
          "a new mitigation")


def request_during_rollback(tmp, daemons):
    """A new isolate of a host whose isolation is being rolled back: when
    both are done the host must be isolated (the new mitigation is
    active), not lifted by the old rollback finishing last."""
    e = Env(tmp, daemons, EDR_ACTIONS,
            {"edr": {"env": {"MODE": "sim", "ROLLBACK_SLEEP": "4"},
                     "timeout": "30s"},
             "log": {"env": {"MODE": "ok"}}})
    e.d.start()
    p1 = one_plan(e, "isolate", host="pc-1", rule="2s")
    a1 = f"A{p1['seq']}.0"
    wait_record(e.d, lambda r: r["type"] == "action.started" and
                r.get("id") == a1 and r.get("op") == "rollback",
                "the rollback to start")
    p2 = one_plan(e, "isolate", host="pc-1", rule="1h")
    a2 = f"A{p2['seq']}.0"
    wait_type(e.d, "mitigation.rolled_back", a1)
    wait_record(e.d, lambda r: r.get("id") == a2 and r["type"] in (
        "mitigation.active", "mitigation.extended", "action.failed"),
        f"{a2} to settle")
    m = mitigations(e.d)
    with open(os.path.join(e.state, "hosts.json")) as f:
        hosts = json.load(f)
    effects = [(c["key"], c["op"], c["now"]) for c in e.calls()
               if c["event"] == "effect"]
    listed = [x for x in m.values() if x["target"] == "pc-1" and
              x["state"] == "active"]
    check(not listed or hosts["pc-1"] == "contained",
          f"{[x['id'] for x in listed]} is listed active for pc-1, but "
          f"the EDR has pc-1 {hosts['pc-1']}: the effects landed in the "
          f"order {effects}")


def remediation_verified_rolls_back(tmp, daemons):
    """isolate until remediated + reimage with verify: the verify step says
    failed, then ok; verified, the host's isolation is rolled back."""
    e = Env(tmp, daemons, EDR_ACTIONS,
            {"edr": {"env": {"MODE": "verify_flaky", "FAIL_N": "1"}},
             "log": {"env": {"MODE": "ok"}}})
    e.d.start()
    plan = one_plan(e, "isolate_until", host="ws-3", category="reimage")
    iso, rem = f"A{plan['seq']}.0", f"A{plan['seq']}.1"
    check(plan["actions"][0].get("until_remediated") is True and
          plan["actions"][1]["verify"] is True, f"{plan['actions']}")
    act = wait_type(e.d, "mitigation.active", iso)
    check(act.get("until_remediated") is True and "expires_ms" not in act,
          f"{act}")
    wait_type(e.d, "mitigation.rolled_back", iso)
    recs = e.d.records()
    check(types_of(recs, rem) == [
        "action.started:apply", "action.succeeded:apply",
        "remediation.applied",
        "action.started:verify", "action.retrying:verify",
        "action.started:verify", "action.succeeded:verify",
        "remediation.verified"], f"remediation {types_of(recs, rem)}")
    retry = for_id(of_type(recs, "action.retrying"), rem)[0]
    check(retry["status"] == "failed" and "not yet clean" in
          retry["message"] and retry["retry_in_ms"] == 500, f"{retry}")
    check(types_of(recs, iso)[-4:] == [
        "mitigation.rolling_back", "action.started:rollback",
        "action.succeeded:rollback", "mitigation.rolled_back"],
          f"mitigation {types_of(recs, iso)}")
    rb = for_id(of_type(recs, "mitigation.rolling_back"), iso)[0]
    check(rb["by"] == f"remediation {rem}", f"{rb}")
    ver = for_id(of_type(recs, "remediation.verified"), rem)[0]
    check(rb["seq"] > ver["seq"], "rolled back after the verification")
    check(iso not in mitigations(e.d), "no longer listed")
    verifies = e.starts(op="verify")
    check([c["req"]["attempt"] for c in verifies] == [1, 2] and
          all(c["req"]["action"] == "reimage" for c in verifies),
          f"{[c['req'] for c in verifies]}")


def remediation_before_mitigation_active(tmp, daemons):
    """The same flow when the remediation is done (no verify) before the
    isolation has become active: the isolation must not stay forever."""
    e = Env(tmp, daemons, {"isolate": {"connector": "slow",
                                       "rollback": "unisolate"},
                           "unisolate": {"connector": "slow"},
                           "reimage": {"connector": "edr"},
                           "ticket": {"connector": "edr"},
                           "notify": {"connector": "edr"}},
            {"slow": {"env": {"MODE": "slow_apply", "SLEEP": "1.5"}},
             "edr": {"env": {"MODE": "ok"}}})
    e.d.start()
    plan = one_plan(e, "isolate_until", host="ws-4",
                    category="reimage_noverify")
    iso, rem = f"A{plan['seq']}.0", f"A{plan['seq']}.1"
    wait_type(e.d, "remediation.applied", rem)
    wait_type(e.d, "mitigation.active", iso)
    try:
        wait_type(e.d, "mitigation.rolled_back", iso, timeout=15)
    except TestFailure:
        raise TestFailure(
            f"{iso} (until remediated) stays active although {rem} "
            f"remediated ws-4 before it became active: "
            f"{types_of(e.d.records(), iso)}; mitigations: "
            f"{list(mitigations(e.d))}")


def rollback_never_given_up(tmp, daemons):
    """A rollback that keeps failing is retried (never failed for good)
    and stays visible: listed as rolling_back with its last error, counted
    in status."""
    e = Env(tmp, daemons, {"isolate": {"connector": "edr",
                                       "rollback": "unisolate"},
                           "unisolate": {"connector": "broken"},
                           "ticket": {"connector": "edr"},
                           "notify": {"connector": "edr"}},
            {"edr": {"env": {"MODE": "ok"}},
             "broken": {"env": {"MODE": "garbage"}}},
            more={"retries": 1, "max_backoff": "300ms"})
    e.d.start()
    plan = one_plan(e, "isolate", host="net-1", rule="2s")
    aid = f"A{plan['seq']}.0"
    wait_type(e.d, "mitigation.expired", aid)
    wait_record(e.d, lambda r: r["type"] == "action.retrying" and
                r.get("id") == aid and r.get("attempt", 0) >= 4,
                "the rollback's 4th attempt to fail")
    recs = e.d.records()
    check(for_id(of_type(recs, "action.failed"), aid) == [],
          "a rollback is never failed for good")
    outs = for_id(of_type(recs, "action.retrying"), aid)
    check(all(o["op"] == "rollback" and o["status"] == "failed"
              for o in outs), f"{outs}")
    starts = e.starts(idempotency_key=aid, op="rollback")
    check(len(starts) >= 4 and
          all(c["mode"] == "garbage" for c in starts),
          "the rollback runs on the unisolate action's connector")
    m = mitigations(e.d)
    check(aid in m and m[aid]["state"] == "rolling_back" and
          "unusable answer" in m[aid].get("last_error", ""),
          f"visible: {m}")
    s = status_actions(e.d)
    check(s["rollbacks_failing"] == 1, f"{s}")


def hang_killed_at_timeout(tmp, daemons):
    """A connector that does not answer is killed at its timeout (SIGTERM
    to its group, SIGKILL after the grace when it ignores TERM), retried,
    and failed after the retries."""
    e = Env(tmp, daemons, {"ticket": {"connector": "trap"},
                           "notify": {"connector": "hang"}},
            {"trap": {"env": {"MODE": "hang_trap"}, "timeout": "1s"},
             "hang": {"env": {"MODE": "hang"}}},
            more={"timeout": "1500ms", "grace": "1s"})
    e.d.start()
    plan = one_plan(e, "ticket_notify", rule="x")
    tk, nt = f"A{plan['seq']}.0", f"A{plan['seq']}.1"
    for aid in (tk, nt):
        wait_type(e.d, "action.failed", aid)
    recs = e.d.records()
    for aid in (tk, nt):
        check(types_of(recs, aid) == [
            "action.started:apply", "action.retrying:apply",
            "action.started:apply", "action.retrying:apply",
            "action.started:apply", "action.failed:apply"],
              f"{aid}: {types_of(recs, aid)}")
        outs = for_id(of_type(recs, "action.retrying", "action.failed"),
                      aid)
        check(all(o["status"] == "timeout" for o in outs), f"{outs}")
        check([s["attempt"] for s in for_id(of_type(recs,
               "action.started"), aid)] == [1, 2, 3], "attempts 1-3")
        check(all(o["retry_in_ms"] > 0 for o in outs[:2]), f"{outs}")
    # The trapping one saw SIGTERM each time and needed SIGKILL.
    touts = for_id(of_type(recs, "action.retrying", "action.failed"), tk)
    check(all("no answer within 1000 ms" in o["message"] and
              "signal 9" in o["message"] for o in touts),
          f"{[o['message'] for o in touts]}")
    terms = [c for c in e.calls() if c["event"] == "sigterm"]
    check(sorted(c["attempt"] for c in terms) == [1, 2, 3],
          f"SIGTERM each attempt: {terms}")
    # The other went on SIGTERM, at the global timeout.
    nouts = for_id(of_type(recs, "action.retrying", "action.failed"), nt)
    check(all("no answer within 1500 ms" in o["message"] and
              "signal 15" in o["message"] for o in nouts),
          f"{[o['message'] for o in nouts]}")
    pids = [c["pid"] for c in e.starts()]
    check(len(pids) == 6, f"six runs: {pids}")
    wait_for(lambda: not any(pid_alive(p) for p in pids),
             "every hanging connector to be gone")
    s = status_actions(e.d)
    check(s["failed"] == 2 and s["retries"] == 4, f"{s}")
    check(s["connectors"]["trap"]["running"] == 0 and
          s["connectors"]["hang"]["running"] == 0, f"{s['connectors']}")


def garbage_is_failure(tmp, daemons):
    """An answer that is not JSON fails the step at once (no retry); a
    connector that exits without an answer is a crash, retried."""
    e = Env(tmp, daemons, {"ticket": {"connector": "garbage"},
                           "notify": {"connector": "crash"}},
            {"garbage": {"env": {"MODE": "garbage"}},
             "crash": {"env": {"MODE": "crash"}}})
    e.d.start()
    plan = one_plan(e, "ticket_notify", rule="g")
    tk, nt = f"A{plan['seq']}.0", f"A{plan['seq']}.1"
    fail = wait_type(e.d, "action.failed", tk)
    check(fail["status"] == "failed" and fail["attempt"] == 1 and
          "unusable answer" in fail["message"], f"{fail}")
    wait_type(e.d, "action.failed", nt)
    recs = e.d.records()
    check(types_of(recs, tk) == ["action.started:apply",
                                 "action.failed:apply"],
          f"no retry: {types_of(recs, tk)}")
    check(len(e.starts(idempotency_key=tk)) == 1, "run once")
    outs = for_id(of_type(recs, "action.retrying", "action.failed"), nt)
    check([o["status"] for o in outs] == ["crash"] * 3 and
          all("exited with status 3" in o["message"] for o in outs),
          f"{outs}")
    check(len(e.starts(idempotency_key=nt)) == 3, "crash is retried")


def answer_text_kept_valid(tmp, daemons):
    """The message of an outcome is text even when the connector's is
    not: a long one is cut between characters (not dropped for a
    character the cut split), and bytes that are not UTF-8 leave an
    'unusable answer' message that is."""
    e = Env(tmp, daemons, {"ticket": {"connector": "long"},
                           "notify": {"connector": "bad"}},
            {"long": {"env": {"MODE": "long_message"}},
             "bad": {"env": {"MODE": "bad_utf8"}}})
    e.d.start()
    plan = one_plan(e, "ticket_notify", rule="u")
    tk, nt = f"A{plan['seq']}.0", f"A{plan['seq']}.1"
    fail = wait_type(e.d, "action.failed", tk)
    msg = fail.get("message")
    check(isinstance(msg, str) and len(msg) >= 200 and
          msg == "\u00e9" * len(msg), f"a cut message: {fail}")
    fail = wait_type(e.d, "action.failed", nt)
    check(isinstance(fail.get("message"), str) and
          "unusable answer" in fail["message"], f"{fail}")
    out = e.d.ctl("show", tk).stdout
    check("\u00e9" * 100 in out, out)


def oversized_answer_is_failure(tmp, daemons):
    """An answer over 64 KiB is a failure, even if it is valid JSON, and
    is not retried."""
    e = Env(tmp, daemons, {"ticket": {"connector": "big"},
                           "notify": {"connector": "big"}},
            {"big": {"env": {"MODE": "huge"}}})
    e.d.start()
    plan = one_plan(e, "ticket", rule="h")
    aid = f"A{plan['seq']}.0"
    fail = wait_type(e.d, "action.failed", aid)
    check(fail["status"] == "failed" and
          "larger than 65536 bytes" in fail["message"], f"{fail}")
    check(types_of(e.d.records(), aid) == ["action.started:apply",
                                           "action.failed:apply"],
          f"no retry: {types_of(e.d.records(), aid)}")


def secrets_are_paths(tmp, daemons):
    """A connector gets REMEDIAD_SECRET_<NAME> = the secret file's path,
    never its content, and nothing else of the daemon's environment."""
    secret = os.path.join(tmp, "token")
    with open(secret, "w") as f:
        f.write("s3cr3t-value\n")
    e = Env(tmp, daemons, {"ticket": {"connector": "sec"},
                           "notify": {"connector": "sec"}},
            {"sec": {"env": {"MODE": "ok"}, "secrets": {"TOKEN": secret}}})
    e.d.start()
    plan = one_plan(e, "ticket", rule="s")
    aid = f"A{plan['seq']}.0"
    wait_type(e.d, "action.succeeded", aid)
    c = e.starts(idempotency_key=aid)[0]
    check(c["secrets"] == {"REMEDIAD_SECRET_TOKEN": secret}, f"{c}")
    check("REMEDIAD_SECRET_TOKEN" in c["env"] and "HOME" not in c["env"],
          f"{c['env']}")
    check(not any("s3cr3t" in json.dumps(r) for r in e.d.records()),
          "the secret is not in the audit log")


def retry_then_ok(tmp, daemons):
    """A connector that says retry twice, then ok: three attempts, the
    same key, succeeded (retries = 2 allows exactly that)."""
    e = Env(tmp, daemons, {"ticket": {"connector": "busy"},
                           "notify": {"connector": "busy"}},
            {"busy": {"env": {"MODE": "retry", "RETRY_N": "2"}}})
    e.d.start()
    plan = one_plan(e, "ticket", rule="r")
    aid = f"A{plan['seq']}.0"
    wait_type(e.d, "action.succeeded", aid)
    recs = e.d.records()
    check(types_of(recs, aid) == [
        "action.started:apply", "action.retrying:apply",
        "action.started:apply", "action.retrying:apply",
        "action.started:apply", "action.succeeded:apply"],
          f"{types_of(recs, aid)}")
    got = e.starts(idempotency_key=aid)
    check([c["req"]["attempt"] for c in got] == [1, 2, 3], f"{got}")
    rt = for_id(of_type(recs, "action.retrying"), aid)
    check(all(r["status"] == "retry" for r in rt), f"{rt}")


def concurrency_limit(tmp, daemons):
    """50 actions on a connector limited to 4: never more than 4 run at
    once, the rest wait in order, all 50 succeed."""
    e = Env(tmp, daemons, {"ticket": {"connector": "conc"},
                           "notify": {"connector": "conc"}},
            {"conc": {"env": {"MODE": "conc", "SLEEP": "0.3"},
                      "concurrency": 4}},
            more={"concurrency": 16, "timeout": "60s"})
    e.d.start()
    e.send(*[e.alert("ticket", rule=str(i)) for i in range(50)])
    seen = collections.Counter()
    def done():
        s = status_actions(e.d)
        c = s["connectors"].get("conc")
        if c is not None:
            check(c["running"] <= 4 and c["limit"] == 4, f"status {c}")
            seen["max_running"] = max(seen["max_running"], c["running"])
            seen["max_waiting"] = max(seen["max_waiting"], c["waiting"])
        return s["succeeded"] >= 50
    wait_for(done, "50 actions to succeed", WAIT * 2)
    with open(os.path.join(e.state, "max")) as f:
        most = int(f.read())
    check(1 <= most <= 4, f"the connector saw {most} at once")
    check(seen["max_waiting"] > 0, f"some waited: {seen}")
    # status counts a success when it is recorded; the file has it once
    # its batch is written.
    def written():
        r = e.d.records()
        return r if len(of_type(r, "action.succeeded")) >= 50 else None
    recs = wait_for(written, "50 action.succeeded records on disk")
    ids = action_ids(recs)
    check(len(ids) == 50, f"{len(ids)} actions")
    ok = {r["id"] for r in of_type(recs, "action.succeeded")}
    check(ok == set(ids), f"all succeeded: {len(ok)}")
    check(of_type(recs, "action.failed", "action.retrying") == [],
          "none failed or waited for a retry")
    s = status_actions(e.d)
    check(s["connectors"]["conc"]["started"] == 50 and
          s["connectors"]["conc"]["ok"] == 50, f"{s}")
    # Started in the order they were queued (FIFO): by plan.
    starts = [c["req"]["idempotency_key"] for c in e.starts()]
    check(sorted(starts, key=lambda k: int(k[1:].split(".")[0])) ==
          sorted(ids, key=lambda k: int(k[1:].split(".")[0])),
          "each once")
    # Every connector process was reaped: the daemon's only children are
    # its playbook workers, none of them a zombie.
    kids = wait_for(lambda: (lambda k: k if all(
        "--worker" in c for _, c, _ in k) else None)(children_of(e.d.proc.pid)),
        "only workers left as children")
    check(all(st != "Z" for _, _, st in kids), f"zombies: {kids}")


def rollback_waits_for_refresh(tmp, daemons):
    """An extension re-applies the mitigation with the time left (so a
    timeout of the connector's own does not lift it early); a rollback
    asked for while that runs waits for it, so the host ends released,
    not contained again by a late refresh."""
    e = Env(tmp, daemons, EDR_ACTIONS,
            {"edr": {"env": {"MODE": "sim", "APPLY_SLEEP": "3"},
                     "timeout": "30s"},
             "log": {"env": {"MODE": "ok"}}})
    e.d.start()
    a1, ext = active_extended(e, "pc-9")
    wait_type(e.d, "mitigation.refreshing", a1)
    e.d.ctl("rollback", a1)
    wait_type(e.d, "mitigation.rolled_back", a1)
    recs = e.d.records()
    seqs = {t: [r["seq"] for r in for_id(of_type(recs, t), a1)]
            for t in ("mitigation.refreshed", "mitigation.rolling_back")}
    rb_start = [r["seq"] for r in for_id(of_type(recs, "action.started"),
                                          a1) if r["op"] == "rollback"]
    check(len(seqs["mitigation.refreshed"]) == 1 and len(rb_start) == 1 and
          seqs["mitigation.rolling_back"][0] < seqs["mitigation.refreshed"][0]
          < rb_start[0], f"the rollback started after the refresh: {seqs}, "
          f"{rb_start}")
    effects = [(c["key"], c["now"]) for c in e.calls()
               if c["event"] == "effect"]
    check(effects == [(a1, "contained"), (f"{a1}+{ext['expires_ms']}",
                                          "contained"), (a1, "normal")],
          f"applied, refreshed, then lifted: {effects}")
    with open(os.path.join(e.state, "hosts.json")) as f:
        check(json.load(f)["pc-9"] == "normal", "the host ends released")


def ctl_rollback_extend(tmp, daemons):
    """remediactl extend and rollback: audited with the peer's identity;
    unknown ids, until-remediated ones and bad durations refused with
    exit 1 and a precise message."""
    e = Env(tmp, daemons, EDR_ACTIONS, {"edr": {"env": {"MODE": "ok"}},
                                        "log": {"env": {"MODE": "ok"}}})
    e.d.start()
    p1 = one_plan(e, "isolate", host="app-1", rule="1h")
    a1 = f"A{p1['seq']}.0"
    act = wait_type(e.d, "mitigation.active", a1)
    p2 = one_plan(e, "isolate_until", host="app-2", category="alone")
    a2 = f"A{p2['seq']}.0"
    wait_type(e.d, "mitigation.active", a2)
    actor = f"user:root(uid={os.getuid()})" if os.getuid() == 0 else None

    out = e.d.ctl("extend", a1, "30m", json_out=True)
    check(out["id"] == a1, f"{out}")
    ext = wait_type(e.d, "mitigation.extended", a1)
    check(ext["expires_ms"] == act["expires_ms"] + 30 * 60 * 1000 and
          ext["extended_by_ms"] == 1800000 and ext["expires_at"] ==
          out["expires"], f"{ext} vs {act}, {out}")
    check(ext["actor"] == ext["by"] and ext["actor"].startswith(
        ("user:", "uid:")), f"the peer: {ext}")
    if actor:
        check(ext["actor"] == actor, f"{ext['actor']} vs {actor}")
    check(mitigations(e.d)[a1]["expires"] == ext["expires_at"], "listed")

    r = e.d.ctl("extend", a2, "1h", check_rc=1)
    check("until remediated" in r.stderr and a2 in r.stderr, r.stderr)
    r = e.d.ctl("extend", a1, "soon", check_rc=1)
    check("bad duration" in r.stderr, r.stderr)
    r = e.d.ctl("rollback", "A999999.0", check_rc=1)
    check("no mitigation A999999.0" in r.stderr, r.stderr)
    r = e.d.ctl("extend", "A999999.0", "1h", check_rc=1)
    check("no mitigation A999999.0" in r.stderr, r.stderr)
    r = e.d.ctl("rollback", check_rc=2)

    out = e.d.ctl("rollback", a1, json_out=True)
    check(out["id"] == a1, f"{out}")
    rb = wait_type(e.d, "mitigation.rolling_back", a1)
    check(rb["by"] == ext["actor"], f"by the peer: {rb}")
    wait_type(e.d, "mitigation.rolled_back", a1)
    r = e.d.ctl("rollback", a1, check_rc=1)
    check(f"{a1} is rolled_back, not an active mitigation" in r.stderr,
          r.stderr)
    # until remediated: rolled back by hand.
    e.d.ctl("rollback", a2)
    wait_type(e.d, "mitigation.rolled_back", a2)
    recs = e.d.records()
    cmds = [r for r in of_type(recs, "control.command")
            if r["command"] in ("rollback", "extend")]
    check(all(c["actor"] == ext["actor"] for c in cmds) and
          [(c["command"], c["args"].get("id")) for c in cmds][:2] ==
          [("extend", a1), ("extend", a2)], f"{cmds}")
    check(mitigations(e.d) == {}, "none left")
    rbs = e.starts(op="rollback")
    check(sorted(c["req"]["idempotency_key"] for c in rbs) ==
          sorted([a1, a2]), f"{rbs}")


def answer_with_helper_left(tmp, daemons):
    """A connector that answers and exits but leaves a helper process
    (outside its process group) holding its stdout: the step still ends
    (at the latest at its deadline), and its answer counts."""
    e = Env(tmp, daemons, {"ticket": {"connector": "bg"},
                           "notify": {"connector": "bg"}},
            {"bg": {"env": {"MODE": "daemonize"}, "concurrency": 1}},
            more={"timeout": "2s"})
    open(e.hold, "w").close()
    try:
        e.d.start()
        plan = one_plan(e, "ticket", rule="bg")
        aid = f"A{plan['seq']}.0"
        wait_for(lambda: [c for c in e.calls() if c["event"] == "answer"],
                 "the connector's answer")
        try:
            wait_record(e.d, lambda r: r.get("id") == aid and r["type"] in
                        ("action.succeeded", "action.failed",
                         "action.retrying"), f"an outcome of {aid}",
                        timeout=20)
        except TestFailure:
            c = status_actions(e.d)["connectors"]["bg"]
            raise TestFailure(
                f"{aid}: the connector answered ok and exited, but while "
                f"its helper holds stdout the step never ends (no outcome, "
                f"past its 2 s deadline); the instance shows {c}")
        ok = for_id(of_type(e.d.records(), "action.succeeded"), aid)
        check(len(ok) == 1, f"its answer counts: "
              f"{for_id(e.d.records(), aid)}")
    finally:
        if os.path.exists(e.hold):
            os.unlink(e.hold)


def stop_while_running_resumes(tmp, daemons):
    """SIGTERM while a connector runs: the daemon waits shutdown_wait, kills
    the connector's group and exits 0; the next start runs the step again
    (attempt 2, the same key)."""
    e = Env(tmp, daemons, EDR_ACTIONS, {"edr": {"env": {"MODE": "hold"},
                                                "timeout": "60s"},
                                        "log": {"env": {"MODE": "ok"}}},
            more={"shutdown_wait": "1s"})
    open(e.hold, "w").close()
    e.d.start()
    plan = one_plan(e, "isolate", host="srv-5", rule="1h")
    aid = f"A{plan['seq']}.0"
    wait_for(lambda: [c for c in e.calls() if c["event"] == "holding"],
             "the connector to be running")
    pid = [c for c in e.starts() if c["req"]["idempotency_key"] == aid][0][
        "pid"]
    e.d.stop()
    check(not pid_alive(pid), f"the connector {pid} was killed at the stop")
    check("waiting up to 1000 ms for 1 connector(s)" in e.d.log_text(),
          "the stop waited for it")
    e.d.start()
    wait_type(e.d, "mitigation.active", aid)
    os.unlink(e.hold)
    st = for_id(of_type(e.d.records(), "action.started"), aid)
    check([(s["attempt"], s["idempotency_key"]) for s in st] ==
          [(1, aid), (2, aid)], f"{st}")
    audit_ok(e.d)


def crash_a_step_runs_again(tmp, daemons):
    """kill -9 while a connector runs (its action.started is durable): the
    next start runs the step again, attempt 2, the same key."""
    e = Env(tmp, daemons, EDR_ACTIONS, {"edr": {"env": {"MODE": "hold"},
                                                "timeout": "60s"},
                                        "log": {"env": {"MODE": "ok"}}})
    open(e.hold, "w").close()
    e.d.start()
    plan = one_plan(e, "isolate", host="srv-9", rule="1h")
    aid = f"A{plan['seq']}.0"
    wait_for(lambda: [c for c in e.calls() if c["event"] == "holding"],
             "the connector to be running")
    started = for_id(of_type(e.d.records(), "action.started"), aid)
    check(len(started) == 1 and started[0]["attempt"] == 1, f"{started}")
    e.d.kill()
    e.d.start()
    act = wait_type(e.d, "mitigation.active", aid)
    os.unlink(e.hold)
    recs = e.d.records()
    check(types_of(recs, aid) == [
        "action.started:apply", "action.started:apply",
        "action.succeeded:apply", "mitigation.active"],
          f"{types_of(recs, aid)}")
    st = for_id(of_type(recs, "action.started"), aid)
    check([s["attempt"] for s in st] == [1, 2] and
          {s["idempotency_key"] for s in st} == {aid}, f"{st}")
    got = e.starts(idempotency_key=aid)
    check([c["req"]["attempt"] for c in got] == [1, 2], f"{got}")
    check(mitigations(e.d)[aid]["state"] == "active", "active")
    check("until_remediated" not in act, f"{act}")
    audit_ok(e.d)


def crash_a_http_one_effective(tmp, daemons):
    """The same with the shipped http connector against the fake EDR: the
    contain call was made, the daemon died before it heard; after the
    restart the repeat carries the same Idempotency-Key and the EDR applies
    it once. The rollback at expiry lifts the containment."""
    edr = FakeEDR(tmp).start()
    daemons.append(edr)
    token = os.path.join(tmp, "edr.token")
    with open(token, "w") as f:
        f.write("s3cr3t-token\n")
    os.chmod(token, 0o600)
    dev = lambda op: {"method": "POST", "path": "/devices/{params.host}/" +
                      op}
    hcfg = {"base_url": edr.url, "timeout_s": 10,
            "token_file_secret": "TOKEN",
            "actions": {
                "isolate": {"apply": dev("contain"),
                            "rollback": dev("lift"),
                            "verify": {"method": "GET",
                                       "path": "/devices/{params.host}",
                                       "expect": {"json_path": "status",
                                                  "equals": "contained"}}},
                "unisolate": {"apply": dev("lift"),
                              "rollback": dev("contain")}}}
    hpath = os.path.join(tmp, "http-edr.json")
    with open(hpath, "w") as f:
        json.dump(hcfg, f)
    e = Env(tmp, daemons, EDR_ACTIONS,
            {"edr": {"program": "slowhttp", "timeout": "60s",
                     "env": {"HTTP_CONFIG": hpath,
                             "REAL": os.path.join(tmp, "connectors",
                                                  "http")},
                     "secrets": {"TOKEN": token}},
             "log": {"env": {"MODE": "ok"}}})
    open(e.hold, "w").close()
    e.d.start()
    p1 = one_plan(e, "isolate", host="laptop-1", rule="3s")
    p2 = one_plan(e, "isolate", host="laptop-2", rule="3s")
    ids = [f"A{p1['seq']}.0", f"A{p2['seq']}.0"]
    def both_called():
        return len([c for c in e.calls() if c["event"] == "called"]) >= 2
    wait_for(both_called, "both contain calls to be made")
    first = [c for c in e.calls() if c["event"] == "called"]
    check(all('"ok"' in c["out"] for c in first), f"{first}")
    eff = edr.get("/_effective")
    check(eff["hosts"] == {"laptop-1": "contained",
                           "laptop-2": "contained"}, f"{eff}")
    e.d.kill()
    e.d.start()
    for aid in ids:
        wait_type(e.d, "mitigation.active", aid)
    os.unlink(e.hold)
    for aid in ids:
        wait_type(e.d, "mitigation.rolled_back", aid)
    recs = e.d.records()
    for aid in ids:
        st = for_id(of_type(recs, "action.started"), aid)
        check([(s["op"], s["attempt"]) for s in st] ==
              [("apply", 1), ("apply", 2), ("rollback", 1)], f"{st}")
    eff = edr.get("/_effective")
    for aid in ids:
        # The header is the connector's template over the key and op
        # ("A3.0:apply", "A3.0:isolate:apply", ...).
        k = [v for n, v in eff["keys"].items()
             if n.startswith(aid + ":") and n.endswith(":apply")]
        check(k == [{"effective": 1, "calls": 2}],
              f"one effective apply of {aid}: {eff['keys']}")
        check(len([n for n in eff["keys"] if n.startswith(aid + ":")])
              == 2, f"an apply and a rollback key: {eff['keys']}")
    check(all(v["effective"] == 1 for v in eff["keys"].values()),
          f"every key effective once: {eff['keys']}")
    calls = edr.get("/_calls")["calls"]
    check(all(c["authorization"] == "Bearer s3cr3t-token" for c in calls),
          f"{calls}")
    # The rollback of isolate lifts: the hosts are back to normal.
    check(eff["hosts"] == {"laptop-1": "normal", "laptop-2": "normal"},
          f"after the rollback the hosts are {eff['hosts']}; calls: " +
          str([(c["method"], c["path"], c["idempotency_key"])
               for c in calls]))
    audit_ok(e.d)


def crash_b_active_survive(tmp, daemons):
    """kill -9 with mitigations active: after the restart they are listed
    with the same expiry and rolled back at it."""
    e = Env(tmp, daemons, EDR_ACTIONS, {"edr": {"env": {"MODE": "ok"}},
                                        "log": {"env": {"MODE": "ok"}}})
    e.d.start()
    p1 = one_plan(e, "isolate", host="h-1", rule="10s")
    p2 = one_plan(e, "isolate", host="h-2", rule="12s")
    p3 = one_plan(e, "isolate_until", host="h-3", category="alone")
    ids = [f"A{p['seq']}.0" for p in (p1, p2, p3)]
    acts = {aid: wait_type(e.d, "mitigation.active", aid) for aid in ids}
    # One of them extended by hand: the later expiry survives too.
    e.d.ctl("extend", ids[1], "2s")
    ext = wait_type(e.d, "mitigation.extended", ids[1])
    acts[ids[1]] = ext
    before = mitigations(e.d)
    check(before[ids[1]]["expires"] == ext["expires_at"], f"{before}")
    check(set(before) == set(ids), f"{before}")
    e.d.kill()
    e.d.start()
    after = mitigations(e.d)
    check(set(after) == set(ids), f"listed after the restart: {after}")
    for aid in ids:
        check(after[aid]["state"] in ("active", "rolling_back"),
              f"{after[aid]}")
        check(after[aid]["expires"] == before[aid]["expires"] and
              after[aid]["since"] == before[aid]["since"],
              f"same expiry: {before[aid]} -> {after[aid]}")
        check(after[aid]["params"] == before[aid]["params"],
              f"same params: {before[aid]} -> {after[aid]}")
    check(after[ids[2]]["expires"] == "until remediated", f"{after}")
    for aid in ids[:2]:
        exp = wait_type(e.d, "mitigation.expired", aid)
        t = rec_time(exp)
        check(t * 1000 >= acts[aid]["expires_ms"] - 1000,
              f"not before its expiry: {exp} vs {acts[aid]}")
        wait_type(e.d, "mitigation.rolled_back", aid)
    check(set(mitigations(e.d)) == {ids[2]}, "the until-remediated stays")
    applies = e.starts(op="apply")
    check(sorted(c["req"]["idempotency_key"] for c in applies
                 if "+" not in c["req"]["idempotency_key"]) == sorted(ids),
          f"nothing applied again: {applies}")
    # The extension reaches the connector (again after the restart if
    # its answer was not recorded), only as the refresh of that expiry.
    refresh = {c["req"]["idempotency_key"] for c in applies
               if "+" in c["req"]["idempotency_key"]}
    check(refresh == {f"{ids[1]}+{ext['expires_ms']}"}, f"{refresh}")
    audit_ok(e.d)


def crash_c_expired_while_down(tmp, daemons):
    """kill -9; the expiry passes while the daemon is down; at the restart
    the mitigation is rolled back at once."""
    e = Env(tmp, daemons, EDR_ACTIONS, {"edr": {"env": {"MODE": "ok"}},
                                        "log": {"env": {"MODE": "ok"}}})
    e.d.start()
    plan = one_plan(e, "isolate", host="k-1", rule="2s")
    aid = f"A{plan['seq']}.0"
    act = wait_type(e.d, "mitigation.active", aid)
    e.d.kill()
    wait_for(lambda: time.time() * 1000 > act["expires_ms"] + 500,
             "the expiry to pass")
    n_before = len(e.d.records())
    e.d.start()
    wait_type(e.d, "mitigation.rolled_back", aid)
    recs = e.d.records()
    later = recs[n_before:]
    check(types_of(later, aid) == [
        "mitigation.expired", "action.started:rollback",
        "action.succeeded:rollback", "mitigation.rolled_back"],
          f"{types_of(later, aid)}")
    check(for_id(of_type(later, "mitigation.expired"), aid)[0]["by"] ==
          "expiry", "by expiry")
    check(aid not in mitigations(e.d), "gone")
    check(e.d.log_text().count("1 active mitigation(s)") >= 1,
          "the restart found it active")
    audit_ok(e.d)


def refresh_retried_then_ok(tmp, daemons):
    """A refresh the connector answers with retry is tried again under
    the same key with the backoff, until ok (retries = 2: three
    attempts), and each failure says when the next try is."""
    e = Env(tmp, daemons, EDR_ACTIONS,
            {"edr": {"env": {"MODE": "retry", "RETRY_N": "2"}},
             "log": {"env": {"MODE": "ok"}}})
    e.d.start()
    a1, ext = active_extended(e, "r-1")
    key = f"{a1}+{ext['expires_ms']}"
    wait_type(e.d, "mitigation.refreshed", a1)
    recs = e.d.records()
    fails = for_id(of_type(recs, "mitigation.refresh_failed"), a1)
    check(len(fails) == 2 and all(f["status"] == "retry" and
                                  f["retry_in_ms"] > 0 for f in fails),
          f"two failures, each with its retry: {fails}")
    check([f["attempt"] for f in fails] == [1, 2], f"{fails}")
    got = e.starts(idempotency_key=key)
    check([c["req"]["attempt"] for c in got] == [1, 2, 3],
          f"three attempts under one key: {got}")
    check(mitigations(e.d)[a1]["state"] == "active", "still active")
    audit_ok(e.d)


def refresh_refused_gives_up(tmp, daemons):
    """A refresh the connector refuses (failed) is not tried again: one
    attempt, one refresh_failed without a retry, still active; the next
    extension tries again."""
    e = Env(tmp, daemons, EDR_ACTIONS,
            {"edr": {"env": {"MODE": "refresh_fails"}},
             "log": {"env": {"MODE": "ok"}}})
    e.d.start()
    a1, ext = active_extended(e, "r-2")
    fail = wait_type(e.d, "mitigation.refresh_failed", a1)
    check(fail["status"] == "failed" and "retry_in_ms" not in fail,
          f"{fail}")
    time.sleep(1.0)  # a retry (backoff 200 ms) would have run by now
    key = f"{a1}+{ext['expires_ms']}"
    check(len(e.starts(idempotency_key=key)) == 1, "asked once")
    check(mitigations(e.d)[a1]["state"] == "active", "still active")
    check("may lift it early" in e.d.log_text(), "the warning says so")
    e.d.ctl("extend", a1, "10m")
    ext2 = [r for r in for_id(of_type(e.d.records(), "mitigation.extended"),
                              a1)][-1]
    wait_for(lambda: e.starts(idempotency_key=f"{a1}+{ext2['expires_ms']}"),
             "the next extension asks again")


def edr_retries_once(tmp, daemons, backoff):
    """A started daemon whose edr connector asks each request to be retried
    once, with a fixed backoff."""
    e = Env(tmp, daemons, EDR_ACTIONS,
            {"edr": {"env": {"MODE": "retry", "RETRY_N": "1"}},
             "log": {"env": {"MODE": "ok"}}},
            more={"backoff": backoff, "max_backoff": backoff})
    e.d.start()
    return e


def refresh_retry_survives_restart(tmp, daemons):
    """kill -9 while a failed refresh waits for its retry: at the start
    the refresh is asked again, under the same key, and taken."""
    e = edr_retries_once(tmp, daemons, "60s")
    p1 = one_plan(e, "isolate", host="r-3", rule="2h")
    a1 = f"A{p1['seq']}.0"
    # The apply itself is retried once too: after up to 90 s.
    wait_type(e.d, "action.retrying", a1)
    e.d.kill()
    e.d.start()
    wait_type(e.d, "mitigation.active", a1)
    e.d.ctl("extend", a1, "30m")
    ext = wait_type(e.d, "mitigation.extended", a1)
    fail = wait_type(e.d, "mitigation.refresh_failed", a1)
    check(fail["retry_in_ms"] >= 30000, f"a retry far off: {fail}")
    e.d.kill()
    e.d.start()
    wait_type(e.d, "mitigation.refreshed", a1)
    key = f"{a1}+{ext['expires_ms']}"
    got = e.starts(idempotency_key=key)
    check(len(got) == 2, f"asked again at the start: {got}")
    audit_ok(e.d)


def until_merge_keeps_apply_retry(tmp, daemons):
    """A request until remediated merged into a mitigation whose apply
    waits for its retry must not cancel that retry: the apply runs again
    and the mitigation becomes active (it stayed applying for ever)."""
    e = edr_retries_once(tmp, daemons, "4s")
    p1 = one_plan(e, "isolate", host="m-1", rule="1h")
    a1 = f"A{p1['seq']}.0"
    retry = wait_type(e.d, "action.retrying", a1)
    one_plan(e, "isolate_until", host="m-1", category="alone")
    ext = wait_type(e.d, "mitigation.extended", a1)
    check(ext.get("until_remediated") is True, f"{ext}")
    check(not for_id(of_type(e.d.records(), "action.started"), a1)[1:],
          f"merged while the retry waited ({retry['retry_in_ms']} ms)")
    act = wait_type(e.d, "mitigation.active", a1, timeout=30)
    check(act.get("until_remediated") is True, f"{act}")


CASES = {
    "lifecycle_ttl_expiry": lifecycle_ttl_expiry,
    "repeat_extends": repeat_extends,
    "rollback_waits_for_refresh": rollback_waits_for_refresh,
    "request_during_rollback": request_during_rollback,
    "remediation_verified_rolls_back": remediation_verified_rolls_back,
    "remediation_before_mitigation_active":
        remediation_before_mitigation_active,
    "rollback_never_given_up": rollback_never_given_up,
    "hang_killed_at_timeout": hang_killed_at_timeout,
    "garbage_is_failure": garbage_is_failure,
    "answer_text_kept_valid": answer_text_kept_valid,
    "oversized_answer_is_failure": oversized_answer_is_failure,
    "secrets_are_paths": secrets_are_paths,
    "retry_then_ok": retry_then_ok,
    "concurrency_limit": concurrency_limit,
    "ctl_rollback_extend": ctl_rollback_extend,
    "answer_with_helper_left": answer_with_helper_left,
    "stop_while_running_resumes": stop_while_running_resumes,
    "crash_a_step_runs_again": crash_a_step_runs_again,
    "crash_a_http_one_effective": crash_a_http_one_effective,
    "crash_b_active_survive": crash_b_active_survive,
    "crash_c_expired_while_down": crash_c_expired_while_down,
    "refresh_retried_then_ok": refresh_retried_then_ok,
    "refresh_refused_gives_up": refresh_refused_gives_up,
    "refresh_retry_survives_restart": refresh_retry_survives_restart,
    "until_merge_keeps_apply_retry": until_merge_keeps_apply_retry,
}

if __name__ == "__main__":
    run_cases(CASES)
