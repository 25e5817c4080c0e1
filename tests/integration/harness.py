"""Shared helpers for the integration tests: run the real remediad on a
temporary state_dir, talk to it with the real remediactl and raw sockets,
and fail on any sanitizer report in its log. Standard library only."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REMEDIAD = os.environ.get("REMEDIAD", "remediad")
REMEDIACTL = os.environ.get("REMEDIACTL", "remediactl")
# Generous: waits are bounded so a broken daemon fails the test instead of
# hanging it, but no test asserts how fast anything is.
WAIT = float(os.environ.get("REMEDIAD_TEST_WAIT", "60"))

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "ERROR: UndefinedBehaviorSanitizer")


def fsize_limit(nbytes):
    """A preexec_fn capping the files a process writes (RLIMIT_FSIZE): a
    real EFBIG for its audit log, lifted later with prlimit."""
    import resource

    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE,
                           (nbytes, resource.RLIM_INFINITY))
    return apply


def read_log(path):
    """A process's log as text ("" before it exists)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def assert_no_sanitizer_report(text, who):
    for mark in SANITIZER_MARKS:
        check(mark not in text, f"sanitizer report in {who}:\n"
              + text[-8000:])


class TestFailure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def wait_for(pred, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise TestFailure("timed out waiting for " + what)


# ---- Over a daemon's audit records ------------------------------------------

def of_type(recs, *types):
    return [r for r in recs if r["type"] in types]


def for_id(recs, aid):
    return [r for r in recs if r.get("id") == aid]


def plans(recs):
    return of_type(recs, "plan.created")


def wait_record(d, pred, what, timeout=WAIT):
    """The first audit record of d that satisfies pred, once there is one."""
    def find():
        for r in d.records():
            if pred(r):
                return r
        return None
    return wait_for(find, what, timeout)


def wait_type(d, rtype, aid=None, timeout=WAIT, **fields):
    """The first record of type rtype (for action aid, with fields)."""
    return wait_record(d, lambda r: r["type"] == rtype and
                       (aid is None or r.get("id") == aid) and
                       all(r.get(k) == v for k, v in fields.items()),
                       f"{rtype} {aid or ''} {fields or ''}", timeout)


class Daemon:
    """One remediad process with its own directory tree."""

    def __init__(self, tmp, name="d", extra="", socket_path=None,
                 state_dir=None):
        self.tmp = tmp
        self.state_dir = state_dir or os.path.join(tmp, name + "-state")
        self.socket = socket_path or os.path.join(tmp, name + ".sock")
        self.conf = os.path.join(tmp, name + ".conf")
        self.log = os.path.join(tmp, name + ".log")
        self.proc = None
        self.write_config(extra)

    def config_text(self, extra=""):
        return (f'state_dir = "{self.state_dir}"\n'
                f'log = {{ level = "debug" }}\n'
                f'control = {{ socket = "{self.socket}" }}\n'
                f'audit = {{ sync = "none" }}\n' + extra)

    def write_config(self, extra="", text=None):
        with open(self.conf, "w") as f:
            f.write(text if text is not None else self.config_text(extra))

    def start(self, wait=True, env=None, stderr_file=None, preexec_fn=None):
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        e.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        if env:
            e.update(env)
        self.logf = stderr_file or open(self.log, "ab")
        self.proc = subprocess.Popen([REMEDIAD, "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf,
                                     env=e, preexec_fn=preexec_fn)
        if wait:
            wait_for(self.ready, "remediad to answer on " + self.socket)
        return self

    def ready(self):
        if self.proc.poll() is not None:
            raise TestFailure(f"remediad exited with {self.proc.returncode}:"
                              f"\n{self.log_text()}")
        try:
            r = self.ctl("ping", check_rc=None)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0

    def log_text(self):
        return read_log(self.log)

    def ctl(self, *args, check_rc=0, json_out=False, env=None):
        argv = [REMEDIACTL, "-s", self.socket]
        if json_out:
            argv.append("--json")
        argv += list(args)
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=WAIT, env=env)
        if check_rc is not None and r.returncode != check_rc:
            raise TestFailure(f"remediactl {' '.join(args)}: exit "
                              f"{r.returncode}, want {check_rc}\n"
                              f"stdout: {r.stdout}\nstderr: {r.stderr}")
        if json_out and r.returncode == 0:
            return json.loads(r.stdout)
        return r

    def records(self):
        """Every whole record of the audit log, read from its files."""
        out = []
        audit = os.path.join(self.state_dir, "audit")
        for name in sorted(os.listdir(audit)):
            with open(os.path.join(audit, name), "rb") as f:
                data = f.read()
            # A live or killed writer may have left half a batch.
            whole = data[:data.rfind(b"\n") + 1]
            out += [json.loads(l) for l in whole.splitlines() if l]
        return out

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(WAIT)
        s.connect(self.socket)
        return Client(s)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, expect_rc=0):
        """SIGTERM, wait, check the exit code and the sanitizers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure("remediad did not stop on SIGTERM")
        self.proc = None
        self.assert_clean_log()
        check(rc == expect_rc, f"remediad exited {rc}, want {expect_rc}:\n"
              + self.log_text()[-4000:])

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def assert_clean_log(self):
        assert_no_sanitizer_report(self.log_text(), "the daemon log")


class Client:
    """A raw control connection, for frames remediactl would never send."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        if isinstance(data, (dict, list)):
            data = (json.dumps(data) + "\n").encode()
        self.sock.sendall(data)

    def request(self, cmd, args=None, rid=1):
        self.send({"v": 1, "id": rid, "cmd": cmd, "args": args or {}})
        return self.reply()

    def reply(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise TestFailure("connection closed before a reply; got "
                                  + repr(self.buf[:200]))
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def closed(self):
        """True once the daemon has closed the connection (after any
        buffered replies)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        self.sock.close()


def run_cases(cases):
    """Runs the named case (argv[1]) or all; exit status tells meson."""
    if sys.argv[1:] == ["--list"]:
        print("\n".join(cases))
        return
    names = sys.argv[1:] or list(cases)
    failed = 0
    for name in names:
        tmp = tempfile.mkdtemp(prefix=f"remediad-{name}-")
        daemons = []
        try:
            cases[name](tmp, daemons)
            # The last started stops first: remediad before its brokers
            # (a consumer stopping with its coordinator gone can wait in
            # librdkafka 2.0.2's close until it is killed).
            for d in reversed(daemons):
                if d.proc is not None:
                    d.stop()
            print(f"ok {name}")
        except Exception as e:  # noqa: BLE001 - report any failure
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            for d in daemons:
                d.kill()
                print(f"--- log of {d.conf} ---\n{d.log_text()[-6000:]}")
        finally:
            for d in daemons:
                d.kill()
            if not failed:
                shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failed else 0)
