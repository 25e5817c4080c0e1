#!/usr/bin/env python3
"""Integration tests of the audit log: the chain on disk as the real
remediad writes it, remediactl audit verify (online and offline, with and
without an anchor) against tampered copies, recovery of a torn tail after
SIGKILL, refusal of a damaged log, tail [-f] and search, and replies that
wait for their record to be durable."""
import glob
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import threading
import time

from harness import (REMEDIACTL, Daemon, TestFailure, check, run_cases,
                     wait_for, WAIT)

ZERO = "0" * 64
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
SUFFIX_LEN = len(',"hash":""}') + 64
SEGMENT_64K = 'audit.segment_size = "64KB"\n'


# ---- Helpers ---------------------------------------------------------------

def audit_dir(d):
    return os.path.join(d.state_dir, "audit")


def seg_paths(adir):
    return sorted(glob.glob(os.path.join(adir, "audit-*.log")))


def seg_num(path):
    return int(os.path.basename(path)[len("audit-"):-len(".log")])


def seg_lines(path):
    """The complete lines of one segment (without their newlines)."""
    with open(path, "rb") as f:
        data = f.read()
    check(data == b"" or data.endswith(b"\n"),
          f"{path} ends with an unterminated line")
    return data.split(b"\n")[:-1] if data else []


def read_records(adir):
    """Every record of the directory, in file order, as dicts."""
    out = []
    for path in seg_paths(adir):
        for line in seg_lines(path):
            out.append(json.loads(line))
    return out


def actor_of_this_process():
    uid = os.getuid()
    return f"user:{pwd.getpwuid(uid).pw_name}(uid={uid})"


def reload_frames(first_id, n):
    return b"".join(
        (json.dumps({"v": 1, "id": first_id + i, "cmd": "reload",
                     "args": {}}) + "\n").encode() for i in range(n))


def pump_reloads(d, n, batch=100):
    """n reloads pipelined on one raw connection, batch per write; every
    reply must be ok and in order."""
    c = d.connect()
    done = 0
    while done < n:
        k = min(batch, n - done)
        c.send(reload_frames(done + 1, k))
        for i in range(k):
            rep = c.reply()
            check(rep.get("ok") is True and rep.get("id") == done + i + 1,
                  f"pipelined reload {done + i + 1}: {rep}")
        done += k
    c.close()


def verify(path, *extra, json_out=True, want_rc=None, socket=None):
    """remediactl audit verify (offline with a path, online with
    socket=...); returns (rc, parsed JSON or stdout text, stderr)."""
    argv = [REMEDIACTL]
    if socket is not None:
        argv += ["-s", socket]
    if json_out:
        argv.append("--json")
    argv += ["audit", "verify"]
    if path is not None:
        argv.append(path)
    argv += list(extra)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=WAIT)
    if want_rc is not None:
        check(r.returncode == want_rc,
              f"{' '.join(argv[1:])}: exit {r.returncode}, want {want_rc}\n"
              f"stdout: {r.stdout}\nstderr: {r.stderr}")
    out = r.stdout
    if json_out:
        try:
            out = json.loads(r.stdout)
        except ValueError:
            raise TestFailure(f"{' '.join(argv[1:])}: not JSON: "
                              f"{r.stdout!r} stderr {r.stderr!r}")
    return r.returncode, out, r.stderr


def check_chain(recs):
    """The records a clean log must hold: gap-free seqs from 1, every
    field, canonical lines and a correct SHA-256 chain."""
    check(recs, "the log is empty")
    prev = ZERO
    for i, rec in enumerate(recs):
        where = f"record #{i + 1} {rec}"
        for key in ("seq", "time", "type", "actor", "prev", "hash"):
            check(key in rec, f"{where}: no {key}")
        check(rec["seq"] == i + 1, f"{where}: seq {rec['seq']}, want {i + 1}")
        check(isinstance(rec["time"], str) and TIME_RE.match(rec["time"]),
              f"{where}: time {rec['time']!r} is not RFC 3339 with "
              "6 fractional digits and Z")
        check(isinstance(rec["type"], str) and rec["type"], where)
        check(isinstance(rec["actor"], str) and rec["actor"], where)
        check(HEX64_RE.match(rec["prev"]) and HEX64_RE.match(rec["hash"]),
              f"{where}: prev/hash not 64 lowercase hex")
        check(rec["prev"] == prev, f"{where}: prev does not link")
        body = {k: v for k, v in rec.items() if k != "hash"}
        canon = json.dumps(body, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False).encode()
        want = hashlib.sha256(prev.encode() + canon).hexdigest()
        check(rec["hash"] == want, f"{where}: hash {rec['hash']}, "
              f"SHA-256(prev || canonical) is {want}")
        prev = rec["hash"]


def check_raw_lines(adir):
    """Each line is the canonical bytes with the hash member last."""
    for path in seg_paths(adir):
        for n, line in enumerate(seg_lines(path), 1):
            rec = json.loads(line)
            body = {k: v for k, v in rec.items() if k != "hash"}
            canon = json.dumps(body, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()
            want = canon[:-1] + b',"hash":"' + rec["hash"].encode() + b'"}'
            check(line == want, f"{path} line {n} is not canonical:\n"
                  f"{line[:200]!r}\nwant\n{want[:200]!r}")


def bump_digit(line):
    """One byte changed inside the record's time (microsecond digit): the
    line still parses, only the hash no longer matches."""
    i = line.index(b'"time":"') + len(b'"time":"') + 25
    check(chr(line[i]).isdigit(), f"expected a digit at {i} of {line!r}")
    new = bytes([ord("0") + (line[i] - ord("0") + 1) % 10])
    return line[:i] + new + line[i + 1:]


def rehash(line, prev):
    """The line re-chained onto prev with a correct hash of its own, as
    someone rewriting the log would make it: (new line, new hash)."""
    canon = line[:-SUFFIX_LEN] + b"}"
    canon, n = re.subn(rb'"prev":"[0-9a-f]{64}"',
                       b'"prev":"' + prev.encode() + b'"', canon, count=1)
    check(n == 1, f"no prev in {line!r}")
    h = hashlib.sha256(prev.encode() + canon).hexdigest()
    return canon[:-1] + b',"hash":"' + h.encode() + b'"}', h


def write_lines(path, lines):
    with open(path, "wb") as f:
        f.write(b"".join(line + b"\n" for line in lines))


def status_audit(d):
    return d.ctl("status", json_out=True)["audit"]


def bad_of(out):
    check(out.get("ok") is False and isinstance(out.get("first_bad"), dict),
          f"verify should fail: {out}")
    return out["first_bad"]


def check_human_names(text, seg, line=None, seq=None, why=None):
    where = f"segment {seg} (audit-{seg:06d}.log)"
    if line is not None:
        where += f", line {line}"
    check(text.startswith("audit log FAILED") and where in text,
          f"human verify output should name {where!r}:\n{text}")
    if seq is not None:
        check(f"seq {seq}" in text, f"human output names seq {seq}:\n{text}")
    if why is not None:
        check(why in text, f"human output says {why!r}:\n{text}")


class JsonStream:
    """Reads a remediactl --json stream (documents, indented or compact)
    from a pipe on a thread."""

    def __init__(self, proc):
        self.proc = proc
        self.text = ""
        self.docs = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        dec = json.JSONDecoder()
        while True:
            chunk = self.proc.stdout.readline()
            if not chunk:
                return
            with self.lock:
                self.text += chunk
                while True:
                    s = self.text.lstrip()
                    if not s:
                        self.text = ""
                        break
                    try:
                        doc, end = dec.raw_decode(s)
                    except ValueError:
                        break
                    self.docs.append(doc)
                    self.text = s[end:]

    def snapshot(self):
        with self.lock:
            return list(self.docs)


# ---- Cases -----------------------------------------------------------------

def verify_online_and_offline(tmp, daemons):
    d = Daemon(tmp)
    daemons.append(d)
    d.start()
    pump_reloads(d, 100)  # 200 records, plus daemon.started
    st = status_audit(d)
    check(st["last_seq"] == 201, f"status last_seq {st['last_seq']}, want 201")
    check(st["durable_seq"] == st["last_seq"] and not st["stalled"],
          f"every replied record is durable: {st}")
    # Online: through the daemon, up to its durable head.
    rc, out, err = verify(None, socket=d.socket, want_rc=0)
    check(out["ok"] is True and out["records"] == 201
          and out["last_seq"] == 201 and out["last_hash"] == st["head"],
          f"online verify: {out}")
    rc, text, err = verify(None, socket=d.socket, json_out=False, want_rc=0)
    check(text.startswith("audit log OK: 201 records checked in 1 segment")
          and f"head 201:{st['head']}" in text, "online human: " + text)
    d.stop()

    # Offline: remediactl alone, on the directory.
    adir = audit_dir(d)
    rc, out, err = verify(adir, want_rc=0)
    recs = read_records(adir)
    n = len(recs)
    check(out["ok"] is True and out["records"] == n == out["last_seq"]
          and n == 202 and out["segments"] == 1
          and out["last_hash"] == recs[-1]["hash"],
          f"offline verify: {out}, {n} records in the files")
    rc, text, err = verify(adir, json_out=False, want_rc=0)
    check(text.startswith(f"audit log OK: {n} records checked in 1 segment;"),
          "offline human: " + text)
    check_chain(recs)
    check_raw_lines(adir)
    check(recs[0]["type"] == "daemon.started"
          and recs[0]["actor"] == "system", f"first record {recs[0]}")
    check(recs[-1]["type"] == "daemon.stopped"
          and recs[-1]["actor"] == "system"
          and recs[-1].get("exit_code") == 0, f"last record {recs[-1]}")
    # Every reload: control.command by this user, then config.reloaded.
    actor = actor_of_this_process()
    cmds = [r for r in recs if r["type"] == "control.command"]
    reloaded = [r for r in recs if r["type"] == "config.reloaded"]
    check(len(cmds) == 100 and len(reloaded) == 100,
          f"{len(cmds)} control.command, {len(reloaded)} config.reloaded")
    for c in cmds:
        check(c["actor"] == actor and c["command"] == "reload"
              and c["pid"] == os.getpid() and c["args"] == {},
              f"control.command {c}, want actor {actor} pid {os.getpid()}")
    for r in reloaded:
        before = recs[r["seq"] - 2]
        check(before["type"] == "control.command"
              and before["command"] == "reload"
              and before["actor"] == r["actor"] == actor,
              f"config.reloaded {r['seq']} is not right after its "
              f"control.command: {before}")
        check(r["config"] == d.conf, f"config.reloaded {r}")


def tamper_detected(tmp, daemons):
    d = Daemon(tmp, extra=SEGMENT_64K)
    daemons.append(d)
    d.start()

    def enough():
        # >= 3 segments, the last with some records and room for
        # daemon.stopped (so the stop does not start a 4th, nearly empty).
        segs = seg_paths(audit_dir(d))
        if len(segs) < 3:
            return False
        with open(segs[-1], "rb") as f:
            data = f.read()
        return data.count(b"\n") >= 20 and len(data) < 40 * 1024

    for _ in range(100):
        if enough():
            break
        pump_reloads(d, 20)
    d.stop()
    orig = audit_dir(d)
    segs = seg_paths(orig)
    check(len(segs) >= 3, f"only {len(segs)} segments")
    check(len(seg_lines(segs[-1])) >= 21, "records in the last segment")
    for p in segs:
        check(os.path.getsize(p) <= 64 * 1024,
              f"{p} is {os.path.getsize(p)} bytes, over segment_size")
    recs = read_records(orig)
    check_chain(recs)
    N, H = recs[-1]["seq"], recs[-1]["hash"]
    rc, out, err = verify(orig, want_rc=0)
    check(out["ok"] and out["records"] == N and out["segments"] == len(segs),
          f"the untouched log verifies: {out}")

    copies = [0]

    def copy():
        copies[0] += 1
        dst = os.path.join(tmp, f"tamper-{copies[0]}")
        shutil.copytree(orig, dst)
        return dst

    def rel(adir, path):
        return os.path.join(adir, os.path.basename(path))

    mid_path = segs[len(segs) // 2]
    mid = seg_num(mid_path)
    mid_lines = seg_lines(mid_path)
    check(len(mid_lines) >= 10, f"middle segment has {len(mid_lines)} lines")
    i = len(mid_lines) // 2  # 0-based index of a middle record
    s = json.loads(mid_lines[i])["seq"]

    # (a) One byte changed inside a middle record of the middle segment.
    a = copy()
    lines = list(mid_lines)
    lines[i] = bump_digit(lines[i])
    write_lines(rel(a, mid_path), lines)
    rc, out, err = verify(a, want_rc=1)
    bad = bad_of(out)
    check(bad["segment"] == mid and bad["line"] == i + 1 and bad["seq"] == s
          and "hash mismatch" in bad["why"] and out["records"] == s - 1,
          f"(a) altered byte at segment {mid} line {i + 1} seq {s}: {out}")
    rc, text, err = verify(a, json_out=False, want_rc=1)
    check_human_names(text, mid, i + 1, s, "hash mismatch")

    # (b) A line deleted: the next one is a seq gap at that position.
    b = copy()
    write_lines(rel(b, mid_path), mid_lines[:i] + mid_lines[i + 1:])
    rc, out, err = verify(b, want_rc=1)
    bad = bad_of(out)
    check(bad["segment"] == mid and bad["line"] == i + 1
          and bad["seq"] == s + 1 and "seq gap" in bad["why"]
          and f"expected {s}" in bad["why"], f"(b) deleted line: {out}")
    rc, text, err = verify(b, json_out=False, want_rc=1)
    check_human_names(text, mid, i + 1, s + 1, "seq gap")

    # (c) Two adjacent lines swapped: detected at the first of them.
    c = copy()
    lines = list(mid_lines)
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    write_lines(rel(c, mid_path), lines)
    rc, out, err = verify(c, want_rc=1)
    bad = bad_of(out)
    check(bad["segment"] == mid and bad["line"] == i + 1
          and bad["seq"] == s + 1 and "seq gap" in bad["why"],
          f"(c) swapped lines {i + 1},{i + 2}: {out}")
    rc, text, err = verify(c, json_out=False, want_rc=1)
    check_human_names(text, mid, i + 1, s + 1)

    # (d) The last segment cut in the middle of a line.
    dd = copy()
    last_path = segs[-1]
    last = seg_num(last_path)
    last_lines = seg_lines(last_path)
    k = len(last_lines) // 2
    offset = sum(len(x) + 1 for x in last_lines[:k]) + len(last_lines[k]) // 2
    with open(rel(dd, last_path), "r+b") as f:
        f.truncate(offset)
    sk = json.loads(last_lines[k])["seq"]
    rc, out, err = verify(dd, want_rc=1)
    bad = bad_of(out)
    check(bad["segment"] == last and bad["line"] == k + 1
          and "unterminated" in bad["why"] and out["records"] == sk - 1,
          f"(d) truncated mid-line at segment {last} line {k + 1}: {out}")
    rc, text, err = verify(dd, json_out=False, want_rc=1)
    check_human_names(text, last, k + 1, why="unterminated")

    # (e) A whole middle segment removed.
    e = copy()
    os.unlink(rel(e, mid_path))
    rc, out, err = verify(e, want_rc=1)
    bad = bad_of(out)
    check(f"segment {mid} is missing" in bad["why"]
          and bad["segment"] == mid + 1,
          f"(e) segment {mid} removed: {out}")
    rc, text, err = verify(e, json_out=False, want_rc=1)
    check(text.startswith("audit log FAILED")
          and f"segment {mid} is missing" in text, "(e) human: " + text)

    # (g) A record altered with a fresh hash of its own: its successor no
    # longer links to it.
    g = copy()
    lines = list(mid_lines)
    lines[i], _ = rehash(bump_digit(lines[i]), json.loads(lines[i])["prev"])
    write_lines(rel(g, mid_path), lines)
    rc, out, err = verify(g, want_rc=1)
    bad = bad_of(out)
    check(bad["segment"] == mid and bad["line"] == i + 2
          and bad["seq"] == s + 1 and "prev mismatch" in bad["why"],
          f"(g) re-hashed record at line {i + 1}: {out}")
    rc, text, err = verify(g, json_out=False, want_rc=1)
    check_human_names(text, mid, i + 2, s + 1, "prev mismatch")

    # (h) The whole chain rewritten from a middle record on: consistent,
    # so only the anchor taken before shows it.
    h_ = copy()
    prev = json.loads(mid_lines[i])["prev"]
    altered = False
    for path in segs[len(segs) // 2:]:
        lines = seg_lines(path)
        start = i if path == mid_path else 0
        for j in range(start, len(lines)):
            line = lines[j] if altered else bump_digit(lines[j])
            altered = True
            lines[j], prev = rehash(line, prev)
        write_lines(rel(h_, path), lines)
    rc, out, err = verify(h_, want_rc=0)
    check(out["ok"] is True and out["last_seq"] == N
          and out["last_hash"] != H, f"(h) rewritten chain: {out}")
    rc, out, err = verify(h_, "--anchor", f"{N}:{H}", want_rc=1)
    check(out.get("anchor_checked") is True
          and "anchor mismatch" in bad_of(out)["why"],
          f"(h) the original anchor exposes the rewrite: {out}")
    early = recs[s - 2]  # the record before the rewrite still matches
    verify(h_, "--anchor", f"{early['seq']}:{early['hash']}", want_rc=0)

    # (i) The first segment removed: the log does not start at 1.
    i_ = copy()
    os.unlink(rel(i_, segs[0]))
    rc, out, err = verify(i_, want_rc=1)
    bad = bad_of(out)
    check(bad["segment"] == seg_num(segs[1]) and bad["line"] == 1
          and "not 1" in bad["why"], f"(i) first segment removed: {out}")

    # (f) The tail cut cleanly at a line boundary: only an anchor sees it.
    f_ = copy()
    cut = 3
    check(len(last_lines) > cut, "the last segment has enough lines")
    write_lines(rel(f_, last_path), last_lines[:-cut])
    rc, out, err = verify(f_, want_rc=0)
    check(out["ok"] is True and out["last_seq"] == N - cut,
          f"(f) a clean truncation passes a plain verify: {out}")
    rc, out, err = verify(f_, "--anchor", f"{N}:{H}", want_rc=1)
    check(out["ok"] is False and out.get("anchor_checked") is True
          and "truncated" in out["first_bad"]["why"]
          and out["first_bad"]["seq"] == N,
          f"(f) with the original head as anchor: {out}")
    rc, text, err = verify(f_, "--anchor", f"{N}:{H}", json_out=False,
                           want_rc=1)
    check(text.startswith("audit log FAILED") and "truncated" in text,
          "(f) human: " + text)
    kept = recs[N - cut - 1]
    rc, out, err = verify(f_, "--anchor", f"{kept['seq']}:{kept['hash']}",
                          want_rc=0)
    check(out["ok"] is True and out.get("anchor_checked") is True,
          f"(f) anchor on the kept head: {out}")
    inner = recs[s - 1]  # a record inside the middle segment
    rc, text, err = verify(f_, "--anchor", f"{inner['seq']}:{inner['hash']}",
                           json_out=False, want_rc=0)
    check("(anchor matches)" in text, "(f) anchor in the middle: " + text)
    rc, out, err = verify(f_, "--anchor", f"{inner['seq']}:{ZERO}",
                          want_rc=1)
    check("anchor mismatch" in bad_of(out)["why"],
          f"(f) a wrong hash for an existing seq: {out}")
    # And the untouched original with its own head as anchor passes.
    rc, out, err = verify(orig, "--anchor", f"{N}:{H}", want_rc=0)
    check(out["ok"] is True and out.get("anchor_checked") is True,
          f"original with its anchor: {out}")
    # A malformed anchor is a usage error.
    r = subprocess.run([REMEDIACTL, "audit", "verify", orig, "--anchor",
                        "12:xyz"], capture_output=True, text=True,
                       timeout=WAIT)
    check(r.returncode == 2 and "SEQ:HASH" in r.stderr,
          f"bad anchor: {r.returncode} {r.stderr}")


class Pumper:
    """Reloads pipelined on one raw connection as fast as the daemon takes
    them: a sender thread keeps the socket full, a reader counts replies."""

    def __init__(self, d):
        self.c = d.connect()
        self.ok = 0
        self.bad = []
        self.next_id = 1
        self.quit = False
        self.threads = [threading.Thread(target=self._send, daemon=True),
                        threading.Thread(target=self._read, daemon=True)]
        for t in self.threads:
            t.start()

    def _send(self):
        try:
            while not self.quit:
                self.c.send(reload_frames(self.next_id, 50))
                self.next_id += 50
        except OSError:
            pass

    def _read(self):
        try:
            while not self.quit:
                rep = self.c.reply()
                if rep.get("ok") is True:
                    self.ok += 1
                else:
                    self.bad.append(rep)
        except (OSError, TestFailure, ValueError):
            pass

    def join(self):
        self.quit = True
        for t in self.threads:
            t.join(timeout=WAIT)
        self.c.close()


def torn_tail(data):
    """Bytes after the last newline: what recovery must cut."""
    return len(data) - (data.rfind(b"\n") + 1)


def kill9_recovery(tmp, daemons):
    d = Daemon(tmp, extra='audit.sync = "group"\n')
    daemons.append(d)
    d.start()
    pumpers = [Pumper(d) for _ in range(4)]
    # Online verify of the live log meanwhile: always up to its durable
    # head, never tripping on a batch being written.
    deadline = time.monotonic() + 2
    checked = []
    while time.monotonic() < deadline:
        rc, out, err = verify(None, socket=d.socket, want_rc=0)
        check(out["ok"] is True and out["last_seq"] >= 1,
              f"online verify under load: {out}")
        checked.append(out["last_seq"])
    check(len(checked) >= 2 and checked[-1] > checked[0],
          f"online verifies under load saw {checked}")
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=WAIT)
    d.proc = None
    for p in pumpers:
        p.join()
    replied = sum(p.ok for p in pumpers)
    errors = [b for p in pumpers for b in p.bad]
    check(not errors, f"error replies before the kill: {errors[:3]}")
    check(replied > 0, "no reload was answered in 2 s")

    adir = audit_dir(d)
    last_path = seg_paths(adir)[-1]
    with open(last_path, "rb") as f:
        data = f.read()
    dropped = torn_tail(data)
    torn = not data.endswith(b"\n") or data.endswith(b"\0")
    check(torn == (dropped > 0), "torn-tail arithmetic")
    good = data[:len(data) - dropped]
    whole = good.split(b"\n")[:-1]
    check(whole, "the killed run left no whole record")
    k_last = json.loads(whole[-1])["seq"]
    # Every reply the client got was for records already on disk.
    pre = [json.loads(x) for p in seg_paths(adir)[:-1] for x in seg_lines(p)]
    pre += [json.loads(x) for x in whole]
    n_reloaded = sum(1 for r in pre if r["type"] == "config.reloaded")
    check(n_reloaded >= replied,
          f"{replied} reloads were answered but only {n_reloaded} "
          "config.reloaded records reached the file")
    check(pre[-1]["type"] != "daemon.stopped", "the killed run wrote no stop")

    d.start()
    rc, out, err = verify(None, socket=d.socket, want_rc=0)
    check(out["ok"] is True and out["last_seq"] >= k_last + 1,
          f"online verify after the restart: {out}")
    recs = read_records(adir)
    recovered = [r for r in recs if r["type"] == "audit.recovered"]
    nxt = recs[k_last]  # the record after the last whole one
    if torn:
        check(len(recovered) == 1, f"torn by the kill ({dropped} bytes), "
              f"so one audit.recovered, got {recovered}")
        r = recovered[0]
        check(r["seq"] == k_last + 1 and r["bytes_dropped"] == dropped
              and r["segment"] == last_path and r["offset"] == len(good)
              and r["actor"] == "system",
              f"audit.recovered {r}, want seq {k_last + 1} dropped "
              f"{dropped} offset {len(good)}")
        check(recs[k_last + 1]["type"] == "daemon.started", "then started")
    else:
        check(not recovered, f"not torn, yet audit.recovered: {recovered}")
        check(nxt["seq"] == k_last + 1 and nxt["type"] == "daemon.started",
              f"the restart continues at {k_last + 1}: {nxt}")
    d.stop()
    rc, out, err = verify(adir, want_rc=0)
    check_chain(read_records(adir))

    # Deterministic: half a line appended to a cleanly closed log.
    before = read_records(adir)
    n_rec = sum(1 for r in before if r["type"] == "audit.recovered")
    last_path = seg_paths(adir)[-1]
    size = os.path.getsize(last_path)
    half = b'{"actor":"system","seq":'
    with open(last_path, "ab") as f:
        f.write(half)
    d.start()
    check("ended with a torn record" in d.log_text(), "the cut is logged")
    recs = read_records(adir)
    new = [r for r in recs if r["type"] == "audit.recovered"]
    check(len(new) == n_rec + 1, f"one more audit.recovered: {new}")
    r = new[-1]
    check(r["seq"] == before[-1]["seq"] + 1
          and r["bytes_dropped"] == len(half) and r["offset"] == size
          and r["segment"] == last_path,
          f"half a line: {r}, want dropped {len(half)} offset {size}")
    with open(last_path, "rb") as f:
        check(half not in f.read(), "the half line is gone")
    rc, out, err = verify(None, socket=d.socket, want_rc=0)
    d.stop()
    verify(adir, want_rc=0)

    # NUL padding, as a crash on some filesystems leaves it.
    before = read_records(adir)
    last_path = seg_paths(adir)[-1]
    size = os.path.getsize(last_path)
    with open(last_path, "ab") as f:
        f.write(b"\0" * 4096)
    d.start()
    recs = read_records(adir)
    new = [r for r in recs if r["type"] == "audit.recovered"]
    check(len(new) == n_rec + 2, f"one more audit.recovered: {new}")
    r = new[-1]
    check(r["seq"] == before[-1]["seq"] + 1 and r["bytes_dropped"] == 4096
          and r["offset"] == size and r["segment"] == last_path,
          f"NUL padding: {r}, want dropped 4096 offset {size}")
    verify(None, socket=d.socket, want_rc=0)
    d.stop()
    rc, out, err = verify(adir, want_rc=0)
    recs = read_records(adir)
    check_chain(recs)
    check(out["records"] == recs[-1]["seq"], f"final verify {out}")

    # A crash right after a rotation leaves an empty new segment: the
    # chain goes on in it.
    last_path = seg_paths(adir)[-1]
    empty = os.path.join(adir, f"audit-{seg_num(last_path) + 1:06d}.log")
    open(empty, "w").close()
    d.start()
    d.stop()
    rc, out, err = verify(adir, want_rc=0)
    after = read_records(adir)
    check_chain(after)
    check(seg_lines(empty) and json.loads(seg_lines(empty)[0])["seq"]
          == recs[-1]["seq"] + 1, "the next record went to the new segment")
    check(not any(r["type"] == "audit.recovered"
                  for r in after[len(recs):]), "nothing to recover")


def damaged_refuses_start(tmp, daemons):
    d = Daemon(tmp)
    daemons.append(d)
    d.start()
    pump_reloads(d, 20)
    d.stop()
    adir = audit_dir(d)
    path = seg_paths(adir)[-1]
    lines = seg_lines(path)
    check(len(lines) == 42, f"{len(lines)} records")

    def refused(idx):
        tampered = list(lines)
        tampered[idx] = bump_digit(tampered[idx])
        write_lines(path, tampered)
        with open(path, "rb") as f:
            want = f.read()
        log_start = len(d.log_text())
        d.start(wait=False)
        try:
            rc = d.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"remediad started on a damaged log "
                              f"(record at line {idx + 1} altered)")
        finally:
            if d.proc.poll() is None:
                d.kill()
        d.proc = None
        log = d.log_text()[log_start:]
        d.assert_clean_log()
        check(rc == 1, f"exit {rc} on a damaged log, want 1:\n{log}")
        check("damaged" in log and path in log
              and f"line {idx + 1}" in log,
              f"the refusal names the damage and {path} line {idx + 1}:\n"
              + log)
        with open(path, "rb") as f:
            check(f.read() == want, "the damaged segment was modified")
        check(not any('"audit.recovered"' in x for x in
                      open(path).read().splitlines()),
              "damage is never recovered")

    refused(len(lines) // 2)     # a complete middle record
    refused(len(lines) - 1)      # the complete, terminated last record
    # The intact log starts again.
    write_lines(path, lines)
    d.start()
    d.stop()
    verify(adir, want_rc=0)


def tail_and_search(tmp, daemons):
    d = Daemon(tmp, extra=SEGMENT_64K)
    daemons.append(d)
    d.start()
    pump_reloads(d, 10)
    last = status_audit(d)["last_seq"]
    check(last == 21, f"last_seq {last}")

    r = d.ctl("audit", "tail", "-n", "5")
    rows = r.stdout.splitlines()
    check(len(rows) == 5, "tail -n 5 human:\n" + r.stdout)
    seqs = [int(row.split()[0]) for row in rows]
    check(seqs == list(range(last - 4, last + 1)),
          f"tail -n 5 seqs {seqs}, want {last - 4}..{last}")
    check("config.reloaded" in rows[-1] and "control.command" in rows[-2],
          "tail human rows:\n" + r.stdout)
    out = d.ctl("audit", "tail", "-n", "5", json_out=True)
    check([x["seq"] for x in out["records"]] == seqs,
          f"tail --json: {out}")
    out = d.ctl("audit", "tail", json_out=True)
    check([x["seq"] for x in out["records"]] == list(range(2, last + 1)),
          f"tail defaults to 20: {[x['seq'] for x in out['records']]}")

    out = d.ctl("audit", "search", "type=control.command", json_out=True)
    types = {x["type"] for x in out["records"]}
    check(types == {"control.command"} and len(out["records"]) == 10
          and out["matched"] == 10, f"search type=control.command: {out}")
    out = d.ctl("audit", "search", "command=reload", "type=control.command",
                "-n", "2", json_out=True)
    got = [x["seq"] for x in out["records"]]
    check(len(got) == 2 and got == [last - 3, last - 1]
          and all(x["type"] == "control.command" for x in out["records"])
          and out["matched"] == 10,
          f"search -n 2 keeps the newest two: {out}")
    out = d.ctl("audit", "search", f"pid={os.getpid()}", json_out=True)
    check(out["matched"] == 10, f"search by a number: {out}")
    r = d.ctl("audit", "search", "type=control.command", "-n", "3")
    check("(10 matched of" in r.stdout and len(r.stdout.splitlines()) == 4,
          "search human:\n" + r.stdout)
    out = d.ctl("audit", "search", "type=no.such.type", json_out=True)
    check(out["records"] == [] and out["matched"] == 0, f"no match: {out}")
    for bad in (("audit", "search", "foo"), ("audit", "search"),
                ("audit", "search", "=x"), ("audit", "tail", "-n", "0"),
                ("audit", "tail", "-n", "x"), ("audit", "tail", "bogus")):
        r = d.ctl(*bad, check_rc=2)
        check(r.stderr, f"{' '.join(bad)}: usage error explained")

    # tail -f: the reply, then each new record as it becomes durable.
    def follow():
        p = subprocess.Popen([REMEDIACTL, "-s", d.socket, "--json", "audit",
                              "tail", "-n", "3", "-f"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        return p, JsonStream(p)

    p, stream = follow()
    try:
        first = wait_for(lambda: stream.snapshot(), "the tail -f reply")[0]
        check(first.get("follow") is True
              and [x["seq"] for x in first["records"]]
              == list(range(last - 2, last + 1)),
              f"tail -f first reply: {first}")
        d.ctl("reload")
        docs = wait_for(lambda: (lambda s: s if any(
            x.get("type") == "config.reloaded" for x in s[1:]) else None)(
                stream.snapshot()), "config.reloaded streamed")
        streamed = [x for x in docs[1:]]
        check([x["seq"] for x in streamed] == [last + 1, last + 2]
              and streamed[0]["type"] == "control.command"
              and streamed[1]["type"] == "config.reloaded",
              f"streamed records: {streamed}")
        pump_reloads(d, 5)
        docs = wait_for(lambda: (lambda s: s if len(s) >= 13 else None)(
            stream.snapshot()), "10 more streamed records")
        check([x["seq"] for x in docs[1:]]
              == list(range(last + 1, last + 13)),
              f"streamed seqs {[x['seq'] for x in docs[1:]]}")
        check(p.poll() is None, "tail -f still following")
    finally:
        p.terminate()
        p.wait(timeout=WAIT)
    d.ctl("ping")
    check(status_audit(d)["last_seq"] == last + 12, "nothing else logged")
    wait_for(lambda: d.ctl("status", json_out=True)["counters"]
             ["control_clients"] == 1, "the follower's connection to close")

    # A follower that starts while records pour in misses none and sees
    # none twice: the first reply and the stream meet exactly.
    base = status_audit(d)["last_seq"]
    pump = threading.Thread(target=pump_reloads, args=(d, 300, 10),
                            daemon=True)
    pump.start()
    wait_for(lambda: status_audit(d)["last_seq"] > base + 40,
             "the reloads to start")
    p, stream = follow()
    try:
        pump.join(timeout=WAIT)
        check(not pump.is_alive(), "300 reloads within the wait")
        end = status_audit(d)["last_seq"]
        check(end == base + 600, f"last_seq {end}, want {base + 600}")
        docs = wait_for(lambda: (lambda s: s if s and s[-1].get("seq") == end
                                 else None)(stream.snapshot()),
                        f"the stream to reach seq {end}")
        seqs = [x["seq"] for x in docs[0]["records"]]
        seqs += [x["seq"] for x in docs[1:]]
        check(seqs == list(range(seqs[0], end + 1)),
              f"tail -f under load: gaps or repeats in "
              f"{seqs[:10]}...{seqs[-10:]} ({len(seqs)} seqs)")
        check(len(docs) > 2, "some records arrived by the stream")
    finally:
        p.terminate()
        p.wait(timeout=WAIT)

    # Across segments: tail and search read every segment.
    segs = seg_paths(audit_dir(d))
    check(len(segs) >= 3, f"{len(segs)} segments")
    end = status_audit(d)["last_seq"]
    first2 = json.loads(seg_lines(segs[1])[0])["seq"]
    n = end - first2 + 10  # from the end of segment 1 on
    out = d.ctl("audit", "tail", "-n", str(n), json_out=True)
    got = [x["seq"] for x in out["records"]]
    check(got == list(range(end - n + 1, end + 1)),
          f"tail -n {n} over segments: {len(got)} records "
          f"{got[:3]}...{got[-3:]}")
    out = d.ctl("audit", "search", "type=config.reloaded", "-n", "10000",
                json_out=True)
    check(out["matched"] == len(out["records"]) == (end - 1) // 2
          and out["scanned"] == end,
          f"search over segments: matched {out['matched']}, "
          f"{len(out['records'])} records, scanned {out['scanned']}")

    # A follower still attached when the daemon stops: it ends cleanly.
    p, stream = follow()
    try:
        wait_for(lambda: stream.snapshot(), "the second tail -f reply")
        d.stop()
        try:
            rc = p.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            raise TestFailure("tail -f did not end when the daemon stopped")
        err = p.stderr.read()
        check(rc == 0, f"tail -f exit {rc} at daemon stop: {err}")
        docs = stream.snapshot()
        check(docs and docs[0].get("follow") is True
              and all("seq" in x for x in docs[1:]),
              f"the second follower's output: {docs[:3]}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    adir = audit_dir(d)
    rc, out, err = verify(adir, want_rc=0)
    recs = read_records(adir)
    check_chain(recs)
    check(recs[-1]["type"] == "daemon.stopped", "stopped last")


def reply_after_durable(tmp, daemons):
    d = Daemon(tmp, extra='audit.sync = "always"\n')
    daemons.append(d)
    d.start()
    adir = audit_dir(d)
    check(status_audit(d)["sync"] == "always", "sync always in force")
    c = d.connect()
    for i in range(1, 31):
        rep = c.request("reload", rid=i)
        check(rep["ok"] is True, f"reload {i}: {rep}")
        # At once, before anything else: the records are on disk.
        recs = read_records(adir)
        cmds = [r for r in recs if r["type"] == "control.command"]
        check(len(cmds) == i and cmds[-1]["pid"] == os.getpid(),
              f"after reply {i}: {len(cmds)} control.command records "
              "in the files")
        check(recs[-1]["type"] == "config.reloaded"
              and recs[-2]["type"] == "control.command",
              f"after reply {i}, the file ends with {recs[-1]['type']}")
        rc, out, err = verify(adir, want_rc=0)
        check(out["last_seq"] == recs[-1]["seq"] == 1 + 2 * i,
              f"offline verify after reply {i}: {out}")
    c.close()
    r = d.ctl("reload")
    rc, out, err = verify(adir, want_rc=0)
    recs = read_records(adir)
    check(out["last_seq"] == 63 and recs[-2]["type"] == "control.command"
          and recs[-2]["actor"] == actor_of_this_process(),
          f"remediactl reload durable at its reply: {out}")
    st = status_audit(d)
    check(st["durable_seq"] == st["last_seq"] == 63
          and st["bytes_pending"] == 0 and st["syncs"] > 0,
          f"status after the replies: {st}")
    d.stop()
    verify(adir, want_rc=0)


CASES = {f.__name__: f for f in (
    verify_online_and_offline, tamper_detected, kill9_recovery,
    damaged_refuses_start, tail_and_search, reply_after_durable)}

if __name__ == "__main__":
    run_cases(CASES)
