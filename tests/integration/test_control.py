#!/usr/bin/env python3
"""Integration tests of the foundation: the real remediad and remediactl,
the control socket protocol, roles, reload, locking, signals."""
import json
import os
import signal
import socket
import stat
import subprocess

from harness import (REMEDIAD, REMEDIACTL, Daemon, check, run_cases,
                     wait_for, WAIT)


def status_ping_reload(tmp, daemons):
    d = Daemon(tmp)
    daemons.append(d)
    d.start()
    st = d.ctl("status", json_out=True)
    check(st["pid"] == d.proc.pid, f"status pid {st['pid']}")
    check(st["config"] == d.conf, "status config path")
    check(st["version"], "status version")
    check(st["role"] == "admin", "root is admin by default")
    check("counters" in st and "control_requests" in st["counters"],
          "status counters")
    check(st["intake"] == "disabled", "intake disabled without kafka")
    human = d.ctl("status").stdout
    check("version" in human and "uptime" in human and "counters:" in human,
          "human status output:\n" + human)
    check(d.ctl("ping", json_out=True)["pong"] == "remediad", "ping")
    # Unique prefixes: "st" is status, "pi" is ping ("p" is also playbooks).
    check(d.ctl("st", json_out=True)["pid"] == d.proc.pid, "prefix st")
    check(d.ctl("pi", json_out=True)["pong"] == "remediad", "prefix pi")
    # --json after the command works too.
    r = d.ctl("status", "--json")
    check(json.loads(r.stdout)["pid"] == d.proc.pid, "--json after command")
    r = d.ctl("reload", json_out=True)
    check(r["config"] == d.conf, "reload reply")
    st = d.ctl("status", json_out=True)
    check(st["counters"]["reloads"] == 1, "reload counted")


def reload_keeps_old_config_on_error(tmp, daemons):
    d = Daemon(tmp)
    daemons.append(d)
    d.start()
    good = open(d.conf).read()
    d.write_config(text=good + 'kafka = { topic = 5 }\nbogus = 1\n')
    d.signal(signal.SIGHUP)
    wait_for(lambda: "rejected, the running config stays" in d.log_text(),
             "the bad config to be rejected")
    check("kafka.topic: expected string, got number" in d.log_text(),
          "the reason is logged with the key path")
    check("bogus: unknown key" in d.log_text(), "all errors are logged")
    st = d.ctl("status", json_out=True)
    check(st["counters"]["reload_failures"] == 1, "failure counted")
    check(st["intake"] == "disabled", "the old config is still in force")
    r = d.ctl("reload", check_rc=1)
    check("kafka.topic: expected string, got number" in r.stderr,
          "remediactl reload shows why: " + r.stderr)
    # A good config applies; a role change takes effect at once.
    d.write_config(text=good + f'control.roles = {{ viewer = {{ "uid:{os.getuid()}" }} }}\n')
    d.ctl("reload", check_rc=0)
    check(d.ctl("status", json_out=True)["role"] == "viewer",
          "reloaded roles in force")
    # Keys that need a restart keep their running value.
    d.write_config(text=good.replace(d.state_dir, d.state_dir + "-moved"))
    d.ctl("reload", check_rc=1)  # viewer may not reload any more
    check(os.path.exists(d.socket), "socket still there")


def restart_only_keys_kept(tmp, daemons):
    d = Daemon(tmp)
    daemons.append(d)
    d.start()
    d.write_config(text=d.config_text().replace(d.state_dir,
                                                d.state_dir + "-moved"))
    d.ctl("reload")
    check("state_dir changed; it takes effect at the next restart"
          in d.log_text(), "restart-only change warned")
    st = d.ctl("status", json_out=True)
    check(st["state_dir"] == d.state_dir, "running state_dir kept")


def second_instance_refused(tmp, daemons):
    d = Daemon(tmp)
    daemons.append(d)
    d.start()
    # Same state_dir, another socket: the lock refuses it.
    d2 = Daemon(tmp, name="second", state_dir=d.state_dir)
    r = subprocess.run([REMEDIAD, "-c", d2.conf], capture_output=True,
                       text=True, timeout=WAIT)
    check(r.returncode == 1, f"second instance exit {r.returncode}")
    check(f"another remediad (pid {d.proc.pid}) is running on state_dir"
          in r.stderr, "clear message: " + r.stderr)
    # Another state_dir, the same live socket: refused too.
    d3 = Daemon(tmp, name="third", socket_path=d.socket)
    r = subprocess.run([REMEDIAD, "-c", d3.conf], capture_output=True,
                       text=True, timeout=WAIT)
    check(r.returncode == 1, f"third instance exit {r.returncode}")
    check("is in use by a running daemon" in r.stderr, r.stderr)
    d.ctl("ping")  # the first one is unharmed


def stale_socket_replaced(tmp, daemons):
    d = Daemon(tmp)
    daemons.append(d)
    # A socket file nobody listens on, as a crashed run leaves it.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(d.socket)
    s.close()
    check(os.path.exists(d.socket), "stale socket prepared")
    d.start()
    check("replacing stale socket" in d.log_text(), "stale socket logged")
    d.ctl("ping")


def not_a_socket_refused(tmp, daemons):
    d = Daemon(tmp)
    open(d.socket, "w").close()
    r = subprocess.run([REMEDIAD, "-c", d.conf], capture_output=True,
                       text=True, timeout=WAIT)
    check(r.returncode == 1 and "is not a socket" in r.stderr, r.stderr)
    check(os.path.exists(d.socket), "a regular file is never removed")


def roles_forbid(tmp, daemons):
    uid = os.getuid()
    d = Daemon(tmp, extra=f'control.roles = {{ viewer = {{ "uid:{uid}" }} }}\n')
    daemons.append(d)
    d.start()
    st = d.ctl("status", json_out=True)
    check(st["role"] == "viewer", "mapped to viewer")
    r = d.ctl("reload", check_rc=1)
    check("forbidden" in r.stderr and "admin" in r.stderr, r.stderr)
    c = d.connect()
    rep = c.request("reload", rid=9)
    check(rep["ok"] is False and rep["error"]["code"] == "forbidden"
          and rep["id"] == 9, f"forbidden reply {rep}")
    c.close()
    check("refused reload" in d.log_text(), "refusal logged")


def group_role(tmp, daemons):
    import grp
    group = grp.getgrgid(os.getgid()).gr_name
    # The peer's group maps it to approver; more than one rule: highest.
    d = Daemon(tmp, extra=f'control.roles = {{ viewer = {{ "uid:{os.getuid()}" '
               f'}}, approver = {{ "group:{group}" }} }}\n')
    daemons.append(d)
    d.start()
    check(d.ctl("status", json_out=True)["role"] == "approver",
          "group rule gives approver")
    r = d.ctl("reload", check_rc=1)
    check("forbidden" in r.stderr, r.stderr)
    # Segment files: 0640, as the issue asks.
    audit = os.path.join(d.state_dir, "audit")
    for name in os.listdir(audit):
        mode = stat.S_IMODE(os.stat(os.path.join(audit, name)).st_mode)
        check(mode == 0o640, f"{name} mode {oct(mode)}")


def default_role_none(tmp, daemons):
    # Root mapped to nothing above none: only ping works.
    uid = os.getuid()
    d = Daemon(tmp, extra=f'control.default_role = "none"\n')
    daemons.append(d)
    if uid == 0:
        # root is admin unless the config says otherwise: it does not here.
        d.start()
        check(d.ctl("status", json_out=True)["role"] == "admin",
              "root is admin by default")
    else:
        d.start()
        d.ctl("status", check_rc=1)
        d.ctl("ping")


def garbage_gets_errors(tmp, daemons):
    d = Daemon(tmp)
    daemons.append(d)
    d.start()
    c = d.connect()
    other = d.connect()
    cases = [
        (b"this is not json\n", "bad_request"),
        (b"[1,2,3]\n", "bad_request"),
        (b'{"v":1,"id":1}\n', "bad_request"),
        (b'{"v":1,"id":2,"cmd":"launch-missiles"}\n', "unknown_command"),
        (b'{"v":2,"id":3,"cmd":"status"}\n', "unsupported_version"),
        (b'{"id":4,"cmd":"status"}\n', "bad_request"),
        (b'{"v":1,"id":5,"cmd":"st\xff\xfeatus"}\n', "bad_request"),
        (b'{"v":1,"id":6,"cmd":"status","args":[1]}\n', "bad_request"),
        (b'{"v":1,"id":7,"cmd":42}\n', "bad_request"),
        (b'{"v":1,"id":[1],"cmd":"status"}\n', "bad_request"),
        (b'{"v":1,"cmd":"ping","x":' + b"[" * 100 + b"]" * 100 + b"}\n",
         "bad_request"),
    ]
    for frame, code in cases:
        c.send(frame)
        rep = c.reply()
        check(rep["ok"] is False and rep["error"]["code"] == code,
              f"{frame[:60]!r}: got {rep}")
        check(rep["error"]["message"], "error has a message")
    # The id is echoed even on a version error.
    c.send(b'{"v":9,"id":"abc","cmd":"ping"}\n')
    check(c.reply()["id"] == "abc", "id echoed")
    # Two requests in one write: two replies, in order.
    c.send(b'{"v":1,"id":10,"cmd":"ping"}\n{"v":1,"id":11,"cmd":"status"}\n')
    r1, r2 = c.reply(), c.reply()
    check(r1["id"] == 10 and r1["ok"] and r2["id"] == 11 and r2["ok"],
          f"pipelined replies {r1} {r2}")
    # One request split over several writes.
    for part in (b'{"v":1,"i', b'd":12,"cmd":"pi', b'ng"}', b"\n"):
        c.send(part)
    check(c.reply()["id"] == 12, "split request answered")
    # The other client was served all along.
    check(other.request("ping", rid=99)["id"] == 99, "other client served")
    # Over 1 MiB without a newline: error, then the connection is closed.
    try:
        c.send(b'{"v":1,"id":13,"cmd":"ping","pad":"' + b"x" * (2 << 20))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon may close before we finish sending
    rep = c.reply()
    check(rep["error"]["code"] == "too_large", f"oversize: {rep}")
    check(c.closed(), "oversize closes the connection")
    check(other.request("status", rid=100)["ok"], "still serving others")
    other.close()
    d.ctl("ping")
    st = d.ctl("status", json_out=True)
    check(st["counters"]["control_errors"] >= len(cases) + 2,
          "errors counted")


def half_close_still_answered(tmp, daemons):
    d = Daemon(tmp)
    daemons.append(d)
    d.start()
    c = d.connect()
    # A last request without newline, then shutdown(SHUT_WR), as
    # `printf ... | socat` does.
    c.send(b'{"v":1,"id":1,"cmd":"ping"}\n{"v":1,"id":2,"cmd":"ping"}')
    c.sock.shutdown(socket.SHUT_WR)
    check(c.reply()["id"] == 1 and c.reply()["id"] == 2, "both answered")
    check(c.closed(), "closed after EOF")


def max_clients_and_idle(tmp, daemons):
    d = Daemon(tmp, extra='control.max_clients = 2\n'
               'control.idle_timeout = "1s"\n')
    daemons.append(d)
    d.start()
    a, b = d.connect(), d.connect()
    check(a.request("ping")["ok"] and b.request("ping")["ok"], "two served")
    c = d.connect()
    rep = c.reply()
    check(rep["ok"] is False and rep["error"]["code"] == "busy",
          f"third refused: {rep}")
    check(c.closed(), "refused connection closed")
    # Idle connections time out, which frees the slots.
    check(wait_for(a.closed, "idle client a to be closed"), "a closed")
    check(wait_for(b.closed, "idle client b to be closed"), "b closed")
    check("idle too long" in d.log_text(), "idle close logged")
    e = d.connect()
    check(e.request("ping")["ok"], "a slot is free again")
    st = d.ctl("status", json_out=True)
    check(st["counters"]["control_rejected"] >= 1, "rejection counted")


def sigterm_exits_cleanly(tmp, daemons):
    d = Daemon(tmp)
    d.start()
    mode = stat.S_IMODE(os.stat(d.socket).st_mode)
    check(mode == 0o660, f"socket mode {oct(mode)}")
    mode = stat.S_IMODE(os.stat(d.state_dir).st_mode)
    check(mode == 0o750, f"state_dir mode {oct(mode)}")
    c = d.connect()  # a connected client does not block the stop
    d.stop(expect_rc=0)
    check(not os.path.exists(d.socket), "socket removed on exit")
    c.close()
    # SIGINT too, and the lock is free for the next run.
    d.start()
    d.signal(signal.SIGINT)
    check(d.proc.wait(timeout=WAIT) == 0, "SIGINT exits 0")
    d.proc = None
    d.assert_clean_log()


def check_mode(tmp, daemons):
    d = Daemon(tmp)
    r = subprocess.run([REMEDIAD, "-c", d.conf, "--check"],
                       capture_output=True, text=True, timeout=WAIT)
    check(r.returncode == 0 and "config OK" in r.stdout, r.stdout + r.stderr)
    check(not os.path.exists(d.state_dir), "--check creates nothing")
    d.write_config(text='kafka = { topic = 1 }\ncontrol = { idle_timeout '
                   '= "-1s", max_clients = 0 }\naudit = { segment_size = '
                   '"15x" }\nnope = true\n')
    r = subprocess.run([REMEDIAD, "-c", d.conf, "--check"],
                       capture_output=True, text=True, timeout=WAIT)
    check(r.returncode == 1, f"--check exit {r.returncode}")
    for want in ("kafka.topic: expected string, got number",
                 'control.idle_timeout: bad duration "-1s"',
                 "control.max_clients: must be between",
                 'audit.segment_size: bad size "15x"',
                 "nope: unknown key"):
        check(want in r.stderr, f"missing {want!r} in:\n{r.stderr}")
    d.write_config(text="while true do end\n")
    r = subprocess.run([REMEDIAD, "-c", d.conf, "--check"],
                       capture_output=True, text=True, timeout=WAIT)
    check(r.returncode == 1 and "instruction limit" in r.stderr, r.stderr)
    r = subprocess.run([REMEDIAD, "-c", os.path.join(tmp, "absent.conf"),
                        "--check"], capture_output=True, text=True,
                       timeout=WAIT)
    check(r.returncode == 1 and "No such file" in r.stderr, r.stderr)
    # A bad config at startup: exit 1, nothing created.
    r = subprocess.run([REMEDIAD, "-c", d.conf], capture_output=True,
                       text=True, timeout=WAIT)
    check(r.returncode == 1, "bad config at startup exits 1")


def journal_prefixes(tmp, daemons):
    d = Daemon(tmp)
    daemons.append(d)
    f = open(d.log, "ab")
    st = os.fstat(f.fileno())
    d.start(env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"},
            stderr_file=f)
    d.stop()
    lines = [l for l in d.log_text().splitlines() if l]
    check(lines and all(l.startswith("<") and l[2] == ">" for l in lines),
          "journal lines carry <N> priorities:\n" + "\n".join(lines[:5]))
    check(any(l.startswith("<5>") and "started" in l for l in lines),
          "notice level is <5>")


def ctl_usage_and_unreachable(tmp, daemons):
    sock = os.path.join(tmp, "nobody-here.sock")
    r = subprocess.run([REMEDIACTL, "-s", sock, "status"],
                       capture_output=True, text=True, timeout=WAIT)
    check(r.returncode == 3 and sock in r.stderr, f"{r.returncode} {r.stderr}")
    r = subprocess.run([REMEDIACTL, "--help"], capture_output=True,
                       text=True, timeout=WAIT)
    check(r.returncode == 0, "help exits 0")
    for word in ("status", "ping", "reload"):
        check(f"\n  {word}" in r.stdout, f"help lists {word}:\n{r.stdout}")
    r = subprocess.run([REMEDIACTL, "-s", sock, "frobnicate"],
                       capture_output=True, text=True, timeout=WAIT)
    check(r.returncode == 2 and "valid: " in r.stderr and "status" in r.stderr,
          r.stderr)
    r = subprocess.run([REMEDIACTL, "-s", sock, "status", "extra"],
                       capture_output=True, text=True, timeout=WAIT)
    check(r.returncode == 2, "extra argument is a usage error")
    r = subprocess.run([REMEDIACTL], capture_output=True, text=True,
                       timeout=WAIT)
    check(r.returncode == 2, "no command is a usage error")
    env = dict(os.environ, REMEDIAD_SOCKET=sock)
    r = subprocess.run([REMEDIACTL, "ping"], capture_output=True, text=True,
                       timeout=WAIT, env=env)
    check(r.returncode == 3 and sock in r.stderr, "REMEDIAD_SOCKET used")


CASES = {f.__name__: f for f in (
    status_ping_reload, reload_keeps_old_config_on_error,
    restart_only_keys_kept, second_instance_refused, stale_socket_replaced,
    not_a_socket_refused, roles_forbid, group_role, default_role_none,
    garbage_gets_errors, half_close_still_answered, max_clients_and_idle,
    sigterm_exits_cleanly, check_mode, journal_prefixes,
    ctl_usage_and_unreachable)}

if __name__ == "__main__":
    run_cases(CASES)
