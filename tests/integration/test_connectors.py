#!/usr/bin/env python3
"""Integration tests of the shipped connectors (daemon/connectors/): each is
run as remediad runs it, a process with a clean environment, one JSON
request on stdin and one JSON answer expected on stdout. http runs against
tests/tools/fake_edr.py; nftables runs inside a network namespace of its
own (root and nft needed, else those cases exit 77: skipped)."""
import datetime
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

from harness import WAIT, TestFailure, check, run_cases, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONNECTORS = os.environ.get("REMEDIAD_CONNECTORS",
                            os.path.join(ROOT, "daemon", "connectors"))
FAKE_EDR = os.path.join(ROOT, "tests", "tools", "fake_edr.py")
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
MAX_ANSWER = 64 << 10
SKIP = 77


# ---- running a connector ----

def rfc3339(seconds_from_now):
    t = datetime.datetime.now(datetime.timezone.utc) + \
        datetime.timedelta(seconds=seconds_from_now)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def request(op, action, params, key="plan-1-0", attempt=1, deadline=60,
            dry_run=False):
    return {"op": op, "action": action, "params": params,
            "idempotency_key": key, "attempt": attempt,
            "deadline": rfc3339(deadline), "dry_run": dry_run}


def run(name, req=None, env=None, raw=None, prefix=(), path=CLEAN_PATH):
    """Runs connector `name` and returns its answer, checked against the
    contract: exit 0, exactly one JSON object on stdout, a known status,
    a one-line message, details with dry_run_supported."""
    e = {"PATH": path, "LANG": "C.UTF-8"}
    e.update(env or {})
    data = raw if raw is not None else json.dumps(req).encode()
    r = subprocess.run(list(prefix) + [os.path.join(CONNECTORS, name)],
                       input=data, capture_output=True, env=e,
                       timeout=WAIT)
    where = f"{name} (stdin {data[:200]!r})"
    check(r.returncode == 0, f"{where}: exit {r.returncode}\nstdout: "
          f"{r.stdout[:2000]!r}\nstderr: {r.stderr[-4000:]!r}")
    out = r.stdout.decode("utf-8")
    check(len(r.stdout) <= MAX_ANSWER, f"{where}: answer over 64 KiB")
    check(out.endswith("\n") and out.count("\n") == 1,
          f"{where}: stdout is not one line: {out[:2000]!r}")
    try:
        ans = json.loads(out)
    except ValueError as ex:
        raise TestFailure(f"{where}: stdout is not JSON ({ex}): "
                          f"{out[:2000]!r}")
    check(isinstance(ans, dict) and ans.get("status") in
          ("ok", "failed", "retry"), f"{where}: bad answer {ans}")
    check(isinstance(ans.get("message"), str) and "\n" not in
          ans["message"] and ans["message"], f"{where}: bad message {ans}")
    check(isinstance(ans.get("details"), dict)
          and ans["details"].get("dry_run_supported") is True,
          f"{where}: details without dry_run_supported: {ans}")
    check("Traceback" not in out, f"{where}: a traceback in the answer")
    ans["_stderr"] = r.stderr.decode("utf-8", "replace")
    return ans


def expect(ans, status, *words):
    check(ans["status"] == status, f"want {status}, got {ans}")
    for w in words:
        check(w in ans["message"], f"want {w!r} in the message: {ans}")
    return ans


# ---- log ----

def log_env(path, **more):
    return {"LOG_FILE": path, **more}


def lines_of(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f.read().splitlines() if l]


def log_file_once(tmp, daemons):
    path = os.path.join(tmp, "actions.log")
    params = {"summary": 'disk "full" on db-1\nsecond line', "n": 3}
    req = request("apply", "ticket", params, key="plan-7-0")
    ans = expect(run("log", req, log_env(path)), "ok", "wrote")
    check(ans["details"]["written"] is True, f"not written: {ans}")
    lines = lines_of(path)
    check(len(lines) == 1, f"want one line, got {lines}")
    rec = lines[0]
    for k in ("op", "action", "params", "idempotency_key", "attempt"):
        check(rec[k] == req[k], f"line {k}: {rec[k]!r}, want {req[k]!r}")
    check(rec["time"].endswith("Z"), f"time {rec['time']}")
    # The same key and op again (another attempt): not written again.
    req["attempt"] = 2
    ans = expect(run("log", req, log_env(path)), "ok", "already")
    check(ans["details"]["written"] is False, f"written again: {ans}")
    check(len(lines_of(path)) == 1, "a repeated key+op was written again")
    # Another op or action with the same key, and another key: written.
    expect(run("log", request("rollback", "ticket", params, key="plan-7-0"),
               log_env(path)), "ok", "wrote")
    expect(run("log", request("rollback", "notify", params, key="plan-7-0"),
               log_env(path)), "ok", "wrote")
    expect(run("log", request("apply", "ticket", params, key="plan-7-1"),
               log_env(path)), "ok", "wrote")
    got = [(r["idempotency_key"], r["op"], r["action"])
           for r in lines_of(path)]
    check(got == [("plan-7-0", "apply", "ticket"),
                  ("plan-7-0", "rollback", "ticket"),
                  ("plan-7-0", "rollback", "notify"),
                  ("plan-7-1", "apply", "ticket")], f"lines: {got}")
    # A writer killed mid-line: the next record starts on its own line.
    with open(path, "a") as f:
        f.write('{"time":"half a rec')
    expect(run("log", request("apply", "notify", {"message": "m"},
                              key="plan-8-0"), log_env(path)), "ok")
    with open(path, encoding="utf-8") as f:
        last = f.read().splitlines()[-1]
    check(json.loads(last)["idempotency_key"] == "plan-8-0", last)
    # The scan is bounded: a key whose line is beyond LOG_SCAN_MB from
    # the end is written again.
    with open(path, "a") as f:
        f.write(("x" * 1023 + "\n") * 1100)
    ans = run("log", request("apply", "ticket", params, key="plan-7-0"),
              log_env(path, LOG_SCAN_MB="1"))
    expect(ans, "ok", "wrote")


def log_dry_run(tmp, daemons):
    path = os.path.join(tmp, "none.log")
    req = request("apply", "notify", {"message": "hi"}, dry_run=True)
    ans = expect(run("log", req, log_env(path)), "ok", "dry run")
    check(not os.path.exists(path), "a dry run created the log file")
    check(ans["details"]["would_write"]["params"] == {"message": "hi"},
          f"would_write: {ans}")
    with open(path, "w"):
        pass
    expect(run("log", req, log_env(path)), "ok", "dry run")
    check(os.path.getsize(path) == 0, "a dry run wrote to the log file")
    # Syslog: nothing is sent in a dry run either; an unknown facility
    # is refused.
    ans = expect(run("log", req, {"LOG_FACILITY": "local3"}), "ok",
                 "dry run", "syslog")
    check(ans["details"]["target"] == "syslog:local3", f"{ans}")
    expect(run("log", req, {"LOG_FACILITY": "kern2"}), "failed",
           "LOG_FACILITY")


def log_garbage(tmp, daemons):
    path = os.path.join(tmp, "g.log")
    good = request("apply", "ticket", {"summary": "s"})
    bad = {
        "not json": b"garbage\n",
        "empty": b"",
        "an array": b"[1, 2]",
        "two objects": json.dumps(good).encode() * 2,
        "invalid utf-8": b'{"op": "apply\xff"}',
        "too large": b'{"op": "apply", "params": {"x": "'
                     + b"a" * (1 << 20) + b'"}}',
        "no action": json.dumps({"op": "apply",
                                 "idempotency_key": "k"}).encode(),
        "no key": json.dumps({"op": "apply", "action": "ticket"}).encode(),
        "bad attempt": json.dumps(dict(good, attempt="1")).encode(),
        "bad deadline": json.dumps(dict(good, deadline="soon")).encode(),
        "params not object": json.dumps(dict(good, params=[1])).encode(),
        "dry_run not bool": json.dumps(dict(good, dry_run="no")).encode(),
    }
    for what, raw in bad.items():
        ans = run("log", raw=raw, env=log_env(path))
        check(ans["status"] == "failed", f"{what}: {ans}")
        check("Traceback" not in ans["_stderr"],
              f"{what}: a traceback on stderr: {ans['_stderr'][-2000:]}")
    check(not os.path.exists(path) or os.path.getsize(path) == 0,
          "a bad request was written")


def log_unknown(tmp, daemons):
    path = os.path.join(tmp, "u.log")
    expect(run("log", request("frobnicate", "ticket", {}), log_env(path)),
           "failed", "unknown op")
    expect(run("log", request("apply", "frobnicate", {}), log_env(path)),
           "failed", "unknown action")
    expect(run("log", request("apply", "frobnicate", {}),
               log_env(path, LOG_ACTIONS="*")), "ok", "wrote")
    expect(run("log", request("apply", "ticket", {}),
               log_env(path, LOG_ACTIONS="notify")), "failed",
           "unknown action")
    expect(run("log", request("apply", "ticket", {}), log_env("rel.log")),
           "failed", "absolute")


# ---- http, against the fake EDR ----

class FakeEdr:
    """tests/tools/fake_edr.py on a free loopback port."""

    def __init__(self, tmp, tls=None):
        self.port_file = os.path.join(tmp, "fake_edr.port")
        self.log = open(os.path.join(tmp, "fake_edr.log"), "ab")
        argv = [sys.executable, FAKE_EDR, "--port-file", self.port_file]
        if tls:
            argv += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        wait_for(self.started, "fake_edr.py to write its port")
        with open(self.port_file) as f:
            self.port = int(f.read())
        # No proxy from the environment between the test and loopback.
        handlers = [urllib.request.ProxyHandler({})]
        self.scheme = "http"
        if tls:
            self.scheme = "https"
            handlers.append(urllib.request.HTTPSHandler(
                context=ssl.create_default_context(cafile=tls[0])))
        self.opener = urllib.request.build_opener(*handlers)

    def started(self):
        if self.proc.poll() is not None:
            raise TestFailure(f"fake_edr.py exited {self.proc.returncode}")
        return os.path.exists(self.port_file)

    def call(self, method, path, obj=None):
        data = None if obj is None else json.dumps(obj).encode()
        req = urllib.request.Request(
            f"{self.scheme}://127.0.0.1:{self.port}{path}", data=data,
            method=method, headers={"Content-Type": "application/json"})
        with self.opener.open(req, timeout=WAIT) as r:
            return json.loads(r.read())

    def fault(self, mode, count=1, path=""):
        self.call("POST", "/_control", {"mode": mode, "count": count,
                                        "path": path})

    def calls(self):
        return self.call("GET", "/_calls")["calls"]

    def effective(self):
        return self.call("GET", "/_effective")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure("fake_edr.py did not stop on SIGTERM")
        self.log.close()
        check(rc == 0, f"fake_edr.py exited {rc} on SIGTERM")


def edr_config(tmp, port, **over):
    cfg = {
        "base_url": f"http://127.0.0.1:{port}",
        "timeout_s": 10,
        "token_file_secret": "TOKEN",
        "tls_verify": True,
        "ca_file": None,
        "actions": {
            "isolate": {
                "apply": {"method": "POST",
                          "path": "/devices/{params.host}/contain",
                          "body": {"reason": "{params.reason?}",
                                   "key": "{idempotency_key}",
                                   "attempt": "{attempt}",
                                   "ttl_ms": "{params.ttl_ms?}"},
                          "success": [200, 201, 202, 204, 409],
                          "retry": [429, 500, 502, 503, 504]},
                "rollback": {"method": "POST",
                             "path": "/devices/{params.host}/lift"},
                "verify": {"method": "GET", "path": "/devices/{params.host}",
                           "expect": {"json_path": "status",
                                      "equals": "contained"}},
            },
            "revoke_sessions": {
                "apply": {"method": "DELETE",
                          "path": "/users/{params.user}/sessions",
                          "success": [204]},
            },
        },
    }
    cfg.update(over)
    path = os.path.join(tmp, f"http-{len(os.listdir(tmp))}.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    token = os.path.join(tmp, "token")
    with open(token, "w") as f:
        f.write("s3cret-Token.123\n")
    return {"HTTP_CONFIG": path, "REMEDIAD_SECRET_TOKEN": token}


def with_edr(case):
    def wrapped(tmp, daemons):
        edr = FakeEdr(tmp)
        try:
            case(tmp, edr, edr_config(tmp, edr.port))
        finally:
            edr.stop()
    wrapped.__name__ = case.__name__
    return wrapped


@with_edr
def http_isolate(tmp, edr, env):
    params = {"host": "ws-0042", "reason": 'malware "x" found', "ttl_ms": 4}
    apply = request("apply", "isolate", params, key="plan-42-0")
    ans = expect(run("http", apply, env), "ok", "HTTP 202")
    check(ans["details"]["http_status"] == 202, f"{ans}")
    apply["attempt"] = 2
    expect(run("http", apply, env), "ok")
    expect(run("http", request("verify", "isolate", params,
                               key="plan-42-0"), env), "ok", "verified")
    eff = edr.effective()
    check(eff["hosts"] == {"ws-0042": "contained"}, f"state: {eff}")
    check(eff["keys"]["plan-42-0:isolate:apply"] ==
          {"effective": 1, "calls": 2},
          f"two applies with one key must change once: {eff}")
    calls = edr.calls()
    first = calls[0]
    check(first["idempotency_key"] == "plan-42-0:isolate:apply",
          f"Idempotency-Key seen: {first['idempotency_key']!r}")
    check(first["authorization"] == "Bearer s3cret-Token.123",
          f"Authorization seen: {first['authorization']!r}")
    # JSON-encoded, not pasted: the quotes survive, numbers stay numbers.
    check(first["body"] == {"reason": 'malware "x" found',
                            "key": "plan-42-0", "attempt": 1, "ttl_ms": 4},
          f"body seen: {first['body']}")
    check(calls[1]["body"]["attempt"] == 2, f"{calls[1]}")
    expect(run("http", request("rollback", "isolate", params,
                               key="plan-42-0"), env), "ok", "lift")
    check(edr.effective()["hosts"]["ws-0042"] == "normal", "not lifted")
    expect(run("http", request("verify", "isolate", params,
                               key="plan-42-0"), env), "failed",
           '"normal"', '"contained"')
    # An absent optional parameter is null in the body.
    expect(run("http", request("apply", "isolate", {"host": "ws-2"},
                               key="plan-43-0"), env), "ok")
    check(edr.calls()[-1]["body"]["reason"] is None, "reason not null")
    # A required one is refused before anything is sent.
    n = len(edr.calls())
    expect(run("http", request("apply", "isolate", {}, key="plan-44-0"),
               env), "failed", "params.host")
    check(len(edr.calls()) == n, "a request without host was sent")
    expect(run("http", request("apply", "revoke_sessions",
                               {"user": "alice@example.com"}), env), "ok")
    check(edr.calls()[-1]["path"] == "/users/alice%40example.com/sessions",
          f"{edr.calls()[-1]}")
    check(edr.effective()["users"] == {"alice@example.com": 1}, "revoke")


@with_edr
def http_errors(tmp, edr, env):
    params = {"host": "ws-1"}
    edr.fault("error500", count=2)
    for _ in range(2):
        expect(run("http", request("apply", "isolate", params), env),
               "retry", "500")
    check(edr.effective()["hosts"] == {}, "a 500 changed state")
    edr.fault("fail")
    ans = expect(run("http", request("apply", "isolate", params), env),
                 "failed", "422", "injected failure")
    check(ans["details"]["http_status"] == 422, f"{ans}")
    # Back to ok after the counted calls.
    expect(run("http", request("apply", "isolate", params), env), "ok")
    # A body that is not JSON where the verify step reads JSON.
    edr.fault("garbage", path="/devices/")
    expect(run("http", request("verify", "isolate", params), env),
           "failed", "not JSON")
    # Nobody listening: a connection error is a retry.
    dead = edr_config(tmp, 1)
    expect(run("http", request("apply", "isolate", params), dead),
           "retry", "connection")


@with_edr
def http_hang(tmp, edr, env):
    params = {"host": "ws-1"}
    # The deadline is nearer than timeout_s: the connector's own timer,
    # inside the deadline, ends the call.
    edr.fault("hang")
    t0 = time.monotonic()
    ans = run("http", request("apply", "isolate", params, deadline=4), env)
    took = time.monotonic() - t0
    expect(ans, "retry", "no answer")
    check(took < 4.0, f"answered after {took:.2f}s, past the 4s deadline")
    # timeout_s nearer than the deadline.
    env = edr_config(tmp, edr.port, timeout_s=1)
    edr.fault("hang")
    t0 = time.monotonic()
    expect(run("http", request("apply", "isolate", params, deadline=60),
               env), "retry", "no answer")
    took = time.monotonic() - t0
    check(took < 5.0, f"timeout_s 1 took {took:.2f}s")
    # A deadline already past: nothing is sent.
    n = len(edr.calls())
    expect(run("http", request("apply", "isolate", params, deadline=-5),
               env), "retry", "deadline")
    check(len(edr.calls()) == n, "a request was sent past its deadline")


@with_edr
def http_token(tmp, edr, env):
    req = request("apply", "isolate", {"host": "ws-1"})
    no_secret = {"HTTP_CONFIG": env["HTTP_CONFIG"]}
    expect(run("http", req, no_secret), "failed", "REMEDIAD_SECRET_TOKEN")
    empty = os.path.join(tmp, "empty-token")
    with open(empty, "w") as f:
        f.write("\n")
    expect(run("http", req, dict(env, REMEDIAD_SECRET_TOKEN=empty)),
           "failed", "token")
    two = os.path.join(tmp, "two-lines")
    with open(two, "w") as f:
        f.write("abc\r\nX-Injected: 1\n")
    expect(run("http", req, dict(env, REMEDIAD_SECRET_TOKEN=two)),
           "failed", "token")
    missing = dict(env, REMEDIAD_SECRET_TOKEN=os.path.join(tmp, "nope"))
    expect(run("http", req, missing), "failed", "cannot read")
    check(edr.calls() == [], "a request was sent without a token")
    # The secret is never in an answer.
    ans = expect(run("http", dict(req, dry_run=True), env), "ok")
    check("s3cret" not in json.dumps(ans), f"token in the answer: {ans}")
    check(ans["details"]["request"]["headers"]["Authorization"] ==
          "<redacted>", f"{ans}")


@with_edr
def http_path_quoting(tmp, edr, env):
    host = '../../_control?mode="hang"#x y'
    expect(run("http", request("apply", "isolate", {"host": host}), env),
           "ok")
    seen = edr.calls()[-1]
    want = "/devices/..%2F..%2F_control%3Fmode%3D%22hang%22%23x%20y/contain"
    check(seen["path"] == want and seen["query"] == "",
          f"path seen {seen['path']!r} query {seen['query']!r}, want "
          f"{want!r}")
    check(edr.effective()["hosts"] == {host: "contained"},
          f"{edr.effective()}")
    # A whole segment of dots would climb out of the path: refused.
    n = len(edr.calls())
    for bad in ("..", ".", ""):
        expect(run("http", request("apply", "isolate", {"host": bad}), env),
               "failed", "path")
    check(len(edr.calls()) == n, "a dot segment was sent")


@with_edr
def http_dry_run(tmp, edr, env):
    ans = expect(run("http", request("apply", "isolate",
                                     {"host": "ws-9", "reason": "r"},
                                     dry_run=True), env), "ok", "dry run")
    sent = ans["details"]["request"]
    check(sent["method"] == "POST" and sent["url"].endswith(
        "/devices/ws-9/contain"), f"{sent}")
    check(sent["body"]["reason"] == "r", f"{sent}")
    check(sent["headers"]["Idempotency-Key"] == "plan-1-0:isolate:apply",
          f"{sent}")
    check(edr.calls() == [], "a dry run sent a request")


@with_edr
def http_unknown(tmp, edr, env):
    expect(run("http", request("apply", "reimage", {"host": "h"}), env),
           "failed", "unknown action")
    expect(run("http", request("rollback", "revoke_sessions",
                               {"user": "u"}), env), "failed", "rollback")
    expect(run("http", request("undo", "isolate", {"host": "h"}), env),
           "failed", "unknown op")
    expect(run("http", request("apply", "isolate", {"host": "h"}), {}),
           "failed", "HTTP_CONFIG")
    bad = edr_config(tmp, edr.port, base_url="ftp://x")
    expect(run("http", request("apply", "isolate", {"host": "h"}), bad),
           "failed", "base_url")
    bad = edr_config(tmp, edr.port, extra_thing=1)
    expect(run("http", request("apply", "isolate", {"host": "h"}), bad),
           "failed", "extra_thing")
    check(edr.calls() == [], "a refused request was sent")


def http_tls(tmp, daemons):
    """https: the certificate is checked against ca_file (or the system's
    CAs, which do not know it); tls_verify false skips the check."""
    openssl = shutil.which("openssl")
    if openssl is None:
        print("SKIP: http_tls needs the openssl program")
        sys.exit(SKIP)
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True,
                   capture_output=True, timeout=WAIT)
    edr = FakeEdr(tmp, tls=(cert, key))
    try:
        req = request("apply", "isolate", {"host": "ws-tls"})
        base = f"https://127.0.0.1:{edr.port}"
        expect(run("http", req, edr_config(tmp, edr.port, base_url=base)),
               "failed", "certificate")
        check(edr.calls() == [], "a request went to an unverified server")
        env = edr_config(tmp, edr.port, base_url=base, ca_file=cert)
        expect(run("http", req, env), "ok", "HTTP 202")
        check(edr.calls()[-1]["authorization"] == "Bearer s3cret-Token.123",
              f"{edr.calls()}")
        env = edr_config(tmp, edr.port, base_url=base, tls_verify=False)
        ans = expect(run("http", request("verify", "isolate",
                                         {"host": "ws-tls"}), env), "ok")
        check("tls_verify is false" in ans["_stderr"], "no warning")
    finally:
        edr.stop()


def http_examples(tmp, daemons):
    """The shipped example configs load, and each action and op they name
    builds a request (dry run: nothing is sent)."""
    token = os.path.join(tmp, "token")
    with open(token, "w") as f:
        f.write("example-token\n")
    d = os.path.join(ROOT, "packaging", "connectors")
    names = sorted(n for n in os.listdir(d) if n.endswith(".json"))
    check(len(names) == 3, f"example configs: {names}")
    for name in names:
        with open(os.path.join(d, name)) as f:
            cfg = json.load(f)
        check("EXAMPLE" in json.dumps(cfg.get("_comment")),
              f"{name} is not marked as an example")
        env = {"HTTP_CONFIG": os.path.join(d, name),
               f"REMEDIAD_SECRET_{cfg['token_file_secret']}": token}
        for action, ops in cfg["actions"].items():
            for op in ops:
                req = request(op, action, {"host": "0123abcd",
                                           "user": "alice@example.com",
                                           "reason": "test"}, dry_run=True)
                ans = expect(run("http", req, env), "ok", "dry run")
                url = ans["details"]["request"]["url"]
                check(url.startswith("https://"), f"{name}: {url}")


# ---- nftables, in a network namespace of the test's own ----

def need_nft():
    """Exits 77 (meson: skipped) unless root with nft installed."""
    why = None
    if os.geteuid() != 0:
        why = "not root"
    elif shutil.which("nft", path=CLEAN_PATH) is None:
        why = "nft is not installed (apt-get install nftables)"
    if why:
        print(f"SKIP: nftables cases need root and nft: {why}")
        sys.exit(SKIP)


class NetNs:
    """A network namespace held by a sleeping process; connectors and nft
    enter it with nsenter. It goes away with the holder."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["unshare", "--net", "--", "sleep", "3600"],
            stdin=subprocess.DEVNULL)
        ours = os.readlink("/proc/self/ns/net")

        def entered():
            if self.proc.poll() is not None:
                raise TestFailure(f"unshare --net exited "
                                  f"{self.proc.returncode}")
            try:
                return os.readlink(f"/proc/{self.proc.pid}/ns/net") != ours
            except OSError:
                return False
        wait_for(entered, "the network namespace")
        self.prefix = [shutil.which("nsenter"), "-t", str(self.proc.pid),
                       "-n", "--"]

    def nft(self, *args):
        r = subprocess.run(self.prefix + ["nft"] + list(args),
                           capture_output=True, text=True, timeout=WAIT)
        return r

    def elements(self, set_name="blocked4", table="remediad"):
        """The set's elements as {text: timeout or None}; None when the
        set does not exist."""
        r = self.nft("-j", "list", "set", "inet", table, set_name)
        if r.returncode != 0:
            return None
        out = {}
        for obj in json.loads(r.stdout)["nftables"]:
            for e in obj.get("set", {}).get("elem", []):
                timeout = None
                if isinstance(e, dict) and "elem" in e:
                    timeout = e["elem"].get("timeout")
                    e = e["elem"]["val"]
                if isinstance(e, dict) and "prefix" in e:
                    e = f"{e['prefix']['addr']}/{e['prefix']['len']}"
                out[e] = timeout
        return out

    def run(self, req, env=None):
        return run("nftables", req, env, prefix=self.prefix)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def with_netns(case):
    def wrapped(tmp, daemons):
        need_nft()
        ns = NetNs()
        try:
            case(tmp, ns)
        finally:
            ns.close()
    wrapped.__name__ = case.__name__
    return wrapped


@with_netns
def nft_block(tmp, ns):
    check(ns.elements() is None, "the new namespace has a remediad table")
    block = request("apply", "block_ip", {"ip": "203.0.113.7"}, key="p-1")
    ans = expect(ns.run(block), "ok", "blocked")
    check(ns.elements() == {"203.0.113.7": None}, f"{ns.elements()}")
    r = ns.nft("-j", "list", "chain", "inet", "remediad", "input")
    check(r.returncode == 0 and '"@blocked4"' in r.stdout
          and '"drop"' in r.stdout and '"prio": -10' in r.stdout,
          f"the drop rule: {r.stdout} {r.stderr}")
    # Again: ok, one element, one rule per set.
    expect(ns.run(block), "ok")
    check(ns.elements() == {"203.0.113.7": None}, f"{ns.elements()}")
    rules = ns.nft("-a", "list", "chain", "inet", "remediad", "input")
    check(rules.stdout.count("@blocked4 drop") == 1
          and rules.stdout.count("@blocked6 drop") == 1,
          f"rules after two applies:\n{rules.stdout}")
    expect(ns.run(dict(block, op="verify")), "ok", "blocked")
    # IPv6 and CIDR blocks go to the other set.
    expect(ns.run(request("apply", "block_ip", {"ip": "2001:db8:7::/48"})),
           "ok")
    check(ns.elements("blocked6") == {"2001:db8:7::/48": None},
          f"{ns.elements('blocked6')}")
    # An address inside a blocked block: already blocked, nothing added.
    ans = expect(ns.run(request("apply", "block_ip",
                                {"ip": "2001:db8:7::99"})), "ok", "already")
    check(ans["details"]["covered_by"] == ["2001:db8:7::/48"], f"{ans}")
    # Rollback removes it; again is ok; verify then fails.
    expect(ns.run(dict(block, op="rollback")), "ok", "unblocked")
    check(ns.elements() == {}, f"{ns.elements()}")
    expect(ns.run(dict(block, op="rollback")), "ok", "not in")
    expect(ns.run(dict(block, op="verify")), "failed", "not in")
    # unblock_ip is the reverse.
    unblock = request("apply", "unblock_ip", {"ip": "2001:db8:7::/48"})
    expect(ns.run(dict(unblock, op="verify")), "failed", "still blocked")
    expect(ns.run(unblock), "ok", "unblocked")
    check(ns.elements("blocked6") == {}, f"{ns.elements('blocked6')}")
    expect(ns.run(dict(unblock, op="verify")), "ok", "not blocked")
    expect(ns.run(dict(unblock, op="rollback")), "ok", "blocked")
    check(ns.elements("blocked6") == {"2001:db8:7::/48": None},
          f"{ns.elements('blocked6')}")


@with_netns
def nft_ttl(tmp, ns):
    block = request("apply", "block_ip", {"ip": "198.51.100.0/24",
                                          "ttl_ms": 2000})
    expect(ns.run(block), "ok", "2000 ms")
    els = ns.elements()
    check(list(els) == ["198.51.100.0/24"] and els["198.51.100.0/24"] == 2,
          f"want a 2s timeout: {els}")
    expect(ns.run(dict(block, op="verify")), "ok")
    # nft removes it by itself.
    wait_for(lambda: ns.elements() == {}, "the element to expire", 15)
    expect(ns.run(dict(block, op="verify")), "failed", "not in")
    # A repeated apply refreshes the timeout, and without ttl_ms it has
    # none.
    expect(ns.run(dict(block, params={"ip": "198.51.100.0/24",
                                      "ttl_ms": 600000})), "ok")
    check(ns.elements()["198.51.100.0/24"] == 600, f"{ns.elements()}")
    expect(ns.run(request("apply", "block_ip", {"ip": "198.51.100.0/24"})),
           "ok", "refreshed")
    check(ns.elements() == {"198.51.100.0/24": None}, f"{ns.elements()}")


@with_netns
def nft_dry_run(tmp, ns):
    req = request("apply", "block_ip", {"ip": "192.0.2.1",
                                        "ttl_ms": 3600000}, dry_run=True)
    ans = expect(ns.run(req), "ok", "dry run")
    batch = "\n".join(ans["details"]["batch"])
    check("add table inet remediad" in batch and "timeout 1h" in batch,
          f"batch: {batch}")
    check(ns.nft("list", "ruleset").stdout.strip() == "",
          "a dry run changed the ruleset")
    expect(ns.run(dict(req, dry_run=False)), "ok")
    expect(ns.run(dict(req, op="rollback", dry_run=True)), "ok", "dry run")
    check(list(ns.elements()) == ["192.0.2.1"], "a dry run removed it")


@with_netns
def nft_env(tmp, ns):
    env = {"NFT_TABLE": "edge", "NFT_SET4": "bad4", "NFT_SET6": "bad6",
           "NFT_CHAIN": "inbound"}
    expect(ns.run(request("apply", "block_ip", {"ip": "192.0.2.9"}), env),
           "ok")
    check(ns.elements("bad4", table="edge") == {"192.0.2.9": None},
          f"{ns.elements('bad4', table='edge')}")
    check(ns.nft("list", "chain", "inet", "edge", "inbound").returncode == 0,
          "no chain inbound")
    for var, bad in (("NFT_TABLE", "x; flush ruleset"), ("NFT_FAMILY", "arp"),
                     ("NFT_SET4", "a b")):
        expect(ns.run(request("apply", "block_ip", {"ip": "192.0.2.9"}),
                      {var: bad}), "failed", var)
    # A set of another shape is refused, not changed.
    ns.nft("add", "table", "inet", "other")
    ns.nft("add", "set", "inet", "other", "blocked4",
           "{ type ipv4_addr; }")
    expect(ns.run(request("apply", "block_ip", {"ip": "192.0.2.9"}),
                  {"NFT_TABLE": "other"}), "failed", "flags")


def nft_validation(tmp, daemons):
    """Bad input is refused before nft runs: a stand-in nft first in PATH
    records any call. Needs neither root nor nft."""
    bin_dir = os.path.join(tmp, "bin")
    os.mkdir(bin_dir)
    marker = os.path.join(tmp, "nft-ran")
    with open(os.path.join(bin_dir, "nft"), "w") as f:
        f.write(f"#!/bin/sh\necho \"$@\" >> {marker}\nexit 1\n")
    os.chmod(os.path.join(bin_dir, "nft"), 0o755)
    path = bin_dir + ":" + CLEAN_PATH
    for ip in ("1.2.3.4; flush ruleset", "1.2.3.4 }", "0.0.0.0/0", "::/0",
               "10.0.0.0/4", "127.0.0.1", "::1", "0.0.0.0", "10.1.2.3/16",
               "fe80::1%eth0", "", "host.example", 7):
        ans = run("nftables", request("apply", "block_ip", {"ip": ip}),
                  path=path)
        expect(ans, "failed", "params.ip")
    for params in ({"ip": "192.0.2.1", "ttl_ms": -1},
                   {"ip": "192.0.2.1", "ttl_ms": "1h"},
                   {"ip": "192.0.2.1", "ttl_ms": True}):
        expect(run("nftables", request("apply", "block_ip", params),
                   path=path), "failed", "ttl_ms")
    expect(run("nftables", request("apply", "isolate", {"ip": "192.0.2.1"}),
               path=path), "failed", "unknown action")
    expect(run("nftables", request("flush", "block_ip", {"ip": "192.0.2.1"}),
               path=path), "failed", "unknown op")
    expect(run("nftables", request("apply", "block_ip", {"ip": "2001:db8::1"}),
               {"NFT_FAMILY": "ip"}, path=path), "failed", "IPv6")
    check(not os.path.exists(marker), "nft ran for a refused request")
    # A valid one does reach nft (the stand-in fails it).
    expect(run("nftables", request("verify", "block_ip", {"ip": "192.0.2.1"}),
               path=path), "failed")
    check(os.path.exists(marker), "the stand-in nft was not used")


CASES = {f.__name__: f for f in (
    log_file_once, log_dry_run, log_garbage, log_unknown,
    http_isolate, http_errors, http_hang, http_token, http_path_quoting,
    http_dry_run, http_unknown, http_tls, http_examples, nft_validation,
    nft_block, nft_ttl, nft_dry_run, nft_env)}

if __name__ == "__main__":
    run_cases(CASES)
