#!/usr/bin/env python3
"""A fake EDR/IdP REST service for the connector tests: hosts are contained
and lifted, users' sessions revoked, and every call is recorded. Standard
library only.

    fake_edr.py --port-file FILE [--tls-cert PEM --tls-key PEM] [--verbose]

Listens on 127.0.0.1 on a free port (HTTPS with --tls-cert) and writes the
port to FILE (renamed into place, so a reader never sees half of it).
Stops on SIGTERM or SIGINT.

Service (a 404 for anything else):
  POST   /devices/<host>/contain    202 {"host", "status": "contained"}
  POST   /devices/<host>/lift       202 {"host", "status": "normal"}
  GET    /devices/<host>            200 {"host", "status"}
  POST   /users/<user>/revoke       200 {"user", "revoked": true}
  DELETE /users/<user>/sessions     204 (the same change, Okta's shape)
  GET    /users/<user>              200 {"user", "revocations": N}
Path segments are percent-decoded one by one, so "/devices/..%2Fx/contain"
names the host "../x".

Idempotency: a changing call (contain, lift, revoke) with an
Idempotency-Key header the service has seen before is recorded but changes
nothing: it gets the first call's answer again. Only the first call for a
key is effective. Calls without the header are always effective.

Control:
  POST /_control  {"mode": "ok"|"fail"|"error500"|"hang"|"garbage",
                   "count": N, "path": "/devices/"}
      the next N calls (default 1) whose path starts with "path" (default
      any) get: fail 422 with a JSON error; error500 500; hang no answer
      until the client goes or the service stops; garbage 200 with a body
      that is not JSON. Then back to ok. A faulted call changes nothing.
  GET  /_calls     {"calls": [{"method", "path" (raw, without the query),
                   "query", "body" (JSON, else text), "idempotency_key",
                   "authorization", "fault", "effective"}, ...]}
  GET  /_effective {"keys": {key: {"effective": N, "calls": N}},
                    "hosts": {host: status}, "users": {user: revocations}}
  POST /_reset     forgets every call, key, host, user and fault
"""
import argparse
import json
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20
MODES = ("ok", "fail", "error500", "hang", "garbage")
HANG_MAX = 300.0  # seconds a hanging call waits at most


class State:
    """Everything the service remembers, behind one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.reset()

    def reset(self):
        self.calls = []
        self.keys = {}  # key -> {"effective", "calls", "answer"}
        self.hosts = {}
        self.users = {}
        self.fault = None  # {"mode", "count", "path"}

    def take_fault(self, path):
        """The fault mode for this call, counting it down."""
        f = self.fault
        if f is None or not path.startswith(f["path"]):
            return None
        f["count"] -= 1
        if f["count"] <= 0:
            self.fault = None
        return None if f["mode"] == "ok" else f["mode"]


STATE = State()


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-edr/1"
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("fake_edr: " + (fmt % args) + "\n")

    # -- plumbing --

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(n, MAX_BODY)) if n > 0 else b""
        if not raw:
            return raw, None
        try:
            return raw, json.loads(raw)
        except ValueError:
            return raw, raw.decode("utf-8", "replace")

    def reply(self, code, obj=None, raw=None, ctype="application/json"):
        data = raw if raw is not None else (
            b"" if obj is None else json.dumps(obj).encode())
        self.send_response(code)
        if data or code != 204:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    # -- the service --

    def dispatch(self):
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        raw, body = self.read_body()
        if path.startswith("/_"):
            return self.control(path, body)
        key = self.headers.get("Idempotency-Key")
        call = {"method": self.command, "path": path, "query": split.query,
                "body": body, "idempotency_key": key,
                "authorization": self.headers.get("Authorization"),
                "fault": None, "effective": False}
        with STATE.lock:
            STATE.calls.append(call)
            call["fault"] = STATE.take_fault(path)
        fault = call["fault"]
        if fault == "fail":
            return self.reply(422, {"error": "injected failure",
                                    "code": "E_INJECTED"})
        if fault == "error500":
            return self.reply(500, {"error": "injected server error"})
        if fault == "garbage":
            return self.reply(200, raw=b"<html>\x00not json{{{",
                              ctype="text/html")
        if fault == "hang":
            self.hang()
            self.close_connection = True
            return None
        segs = [urllib.parse.unquote(s) for s in path.split("/")[1:]]
        code, answer = self.route(segs, key, call)
        return self.reply(code, answer)

    def hang(self):
        """No answer until the client gives up (its end of the socket
        closes), the service stops, or HANG_MAX."""
        end = time.monotonic() + HANG_MAX
        while not STATE.stopping.is_set() and time.monotonic() < end:
            ready, _, _ = select.select([self.connection], [], [], 0.1)
            if not ready:
                continue
            try:
                if not self.connection.recv(1, socket.MSG_PEEK):
                    return
            except OSError:
                return
            time.sleep(0.1)  # the client sent more; still no answer

    def route(self, segs, key, call):
        m = self.command
        if len(segs) == 2 and segs[0] == "devices" and m == "GET":
            with STATE.lock:
                return 200, {"host": segs[1],
                             "status": STATE.hosts.get(segs[1], "normal")}
        if len(segs) == 2 and segs[0] == "users" and m == "GET":
            with STATE.lock:
                return 200, {"user": segs[1],
                             "revocations": STATE.users.get(segs[1], 0)}
        if len(segs) == 3 and segs[0] == "devices" and m == "POST" \
                and segs[2] in ("contain", "lift"):
            status = "contained" if segs[2] == "contain" else "normal"
            return self.change(key, call, 202,
                               {"host": segs[1], "status": status},
                               lambda: STATE.hosts.__setitem__(segs[1],
                                                               status))
        if len(segs) == 3 and segs[0] == "users" and (
                (m == "POST" and segs[2] == "revoke")
                or (m == "DELETE" and segs[2] == "sessions")):
            code = 200 if m == "POST" else 204
            answer = {"user": segs[1], "revoked": True} if m == "POST" \
                else None
            return self.change(key, call, code, answer, lambda: STATE.users
                               .__setitem__(segs[1],
                                            STATE.users.get(segs[1], 0) + 1))
        return 404, {"error": "no such endpoint",
                     "path": "/" + "/".join(segs)}

    def change(self, key, call, code, answer, apply):
        """A changing call: effective once per idempotency key."""
        with STATE.lock:
            if key is not None:
                k = STATE.keys.setdefault(
                    key, {"effective": 0, "calls": 0, "answer": None})
                k["calls"] += 1
                if k["answer"] is not None:
                    return k["answer"]
                k["effective"] += 1
                k["answer"] = (code, answer)
            apply()
            call["effective"] = True
        return code, answer

    def control(self, path, body):
        if path == "/_control" and self.command == "POST":
            if not isinstance(body, dict) or body.get("mode") not in MODES:
                return self.reply(400, {"error": f"mode: one of {MODES}"})
            count = body.get("count", 1)
            prefix = body.get("path", "")
            if not isinstance(count, int) or count < 1 \
                    or not isinstance(prefix, str):
                return self.reply(400, {"error": "count >= 1, path string"})
            with STATE.lock:
                STATE.fault = {"mode": body["mode"], "count": count,
                               "path": prefix}
            return self.reply(200, {"ok": True})
        if path == "/_calls" and self.command == "GET":
            with STATE.lock:
                return self.reply(200, {"calls": list(STATE.calls)})
        if path == "/_effective" and self.command == "GET":
            with STATE.lock:
                keys = {k: {"effective": v["effective"], "calls": v["calls"]}
                        for k, v in STATE.keys.items()}
                return self.reply(200, {"keys": keys,
                                        "hosts": dict(STATE.hosts),
                                        "users": dict(STATE.users)})
        if path == "/_reset" and self.command == "POST":
            with STATE.lock:
                STATE.reset()
            return self.reply(200, {"ok": True})
        return self.reply(404, {"error": "no such control endpoint"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    Handler.verbose = args.verbose

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True  # a hanging call must not hold the exit
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.rename(tmp, args.port_file)

    while not stop.wait(1.0):
        pass
    STATE.stopping.set()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
