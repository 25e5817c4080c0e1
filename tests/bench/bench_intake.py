#!/usr/bin/env python3
"""bench_intake: the end-to-end Kafka intake rate. N alerts from
shared/genalerts.py are produced into the mock broker helper before the
daemon starts, so what is timed is pure consumption: remediad (audit.sync
"group") consuming and auditing all of them, from its first alert.received
record to its last, next to kcat consuming the same topic to /dev/null in
the same run. It prints figures and ratios; nothing is asserted, and it
exits non-zero only when something fails to run. Each daemon figure is
the best of DAEMON_RUNS runs, as kcat's is the best of KCAT_RUNS.

Next to the ratio it prints the target's floor: of the CPU time the 50%
target leaves (every CPU, for twice kcat's time), how much goes, at the
least, to work any implementation must do: consuming the topic (kcat's
and the broker's CPU in the reference run), one SHA-256 pass over the
audit lines and one copy of them into the page cache (both measured here
on the lines this run wrote) - and so what is left per alert for the rest.

It then runs the playbook engine on the same topic: the shipped playbooks
(playbooks-lua/) on the mixed load, next to the run without playbooks, and
a set of one playbook that matches every alert, for playbook runs per
second (issue 5's targets: playbooks cost <= 30% of the intake rate on the
mixed load, and >= 50k runs/s).

usage: bench_intake.py [N]    (default 200000)

With BENCH_PERF=DIR in the environment, each daemon run is also profiled
with `perf record -g` from its first alert to its last, into DIR/NAME.data
(BENCH_PERF_CG=dwarf for call graphs of a build without frame pointers).
BENCH_KEXTRA adds members to the daemon's kafka table (such as
`max_in_flight = 50000, `), BENCH_KPROPS librdkafka properties (such as
`["fetch.wait.max.ms"] = "10", `): to try settings, not for the figures.

tests/bench/run.sh builds the release tree and points REMEDIAD and
MOCKBROKER at it; KCAT names kcat. The daemon's status is read over its
control socket, as remediactl reads it. Standard library only."""
import datetime
import hashlib
import json
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(REPO, "build-bench")
REMEDIAD = os.environ.get("REMEDIAD", os.path.join(BUILD, "daemon",
                                                   "remediad"))
MOCKBROKER = os.environ.get("MOCKBROKER", os.path.join(
    BUILD, "tests", "tools", "mockbroker"))
KCAT = os.environ.get("KCAT", "kcat")
GENALERTS = os.path.join(REPO, "tests", "tools", "genalerts.py")

DEFAULT_N = 200000
PERF_DIR = os.environ.get("BENCH_PERF")
SEED = 1
# The mock broker keeps only a few MB per partition (about 4.3 MB seen
# after 20 MB into one) and drops the oldest beyond that: spread the alerts
# over enough partitions that each holds well under it.
MIN_PARTITIONS = 8
PARTITION_BYTES = 3 * 1024 * 1024
PRODUCERS = 4          # kcat producers at a time, one partition each
KCAT_RUNS = 3          # the reference keeps the best
FLOOR_RUNS = 3         # the floor's measures keep the best
DAEMON_RUNS = 3        # each daemon figure keeps the best of this many
POLL = 0.05            # status, over the control socket, while it works
WAIT = 180.0           # bound of any one wait: a stuck run fails, not hangs
# kcat's default fetch.wait.max.ms (500) makes its last, empty fetch wait
# that long before it sees the end of each partition: a fixed cost that is
# not consumption, so the reference is taken without it.
KCAT_FAST_EOF = ["-X", "fetch.wait.max.ms=5"]
TARGET_RATIO = 0.5
TARGET_RATE = 100000.0
TARGET_PB_COST = 0.30
TARGET_PB_RUNS = 50000.0
SHIPPED = os.path.join(REPO, "playbooks-lua")
# Every alert matches, every run plans one ticket: runs/s of the engine.
EVERY = """return playbook {
  name = "every-alert",
  run = function(alert, rd)
    rd.ticket{ summary = (alert.title or "alert") .. " on " ..
               (alert.host or "?") }
  end,
}
"""


class BenchError(Exception):
    pass


def rate(n, secs):
    return n / secs if secs > 0 else float("inf")


def fmt_rate(r):
    return f"{r:.0f}"


def proc_stat(path):
    """(name, fields after the name) of a /proc stat file, or None when
    the process or thread is gone."""
    try:
        with open(path) as f:
            stat = f.read()
    except OSError:
        return None
    end = stat.rindex(")")
    return stat[stat.index("(") + 1:end], stat[end + 2:].split()


def stat_cpu(fields):
    """CPU seconds (user + system) from the fields proc_stat() gives."""
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, n):
        self.n = n
        self.tmp = tempfile.mkdtemp(prefix="bench_intake-")
        self.procs = []  # (Popen, what) still to stop
        self.broker = None
        self.boot = None
        self.ctl = {}  # control socket path -> [socket, unread bytes]

    # ---- Processes ------------------------------------------------------

    def stop(self, proc, what):
        """SIGTERM, bounded wait, exit 0 or an error."""
        if (proc, what) in self.procs:
            self.procs.remove((proc, what))
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise BenchError(f"{what} did not stop on SIGTERM")
        if rc != 0:
            raise BenchError(f"{what} exited {rc}")

    def cleanup(self):
        for sock in list(self.ctl):
            self.close_ctl(sock)
        for proc, what in list(self.procs):
            try:
                self.stop(proc, what)
            except BenchError as e:
                print(f"bench_intake: {e}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, path, size=3000):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-size:]
        except OSError:
            return ""

    # ---- Alerts and the broker ----------------------------------------

    def generate(self):
        path = os.path.join(self.tmp, "alerts.jsonl")
        with open(path, "wb") as out:
            r = subprocess.run([sys.executable, GENALERTS, str(self.n),
                                str(SEED)], stdout=out,
                               stderr=subprocess.PIPE, timeout=WAIT)
        if r.returncode != 0:
            raise BenchError(f"{GENALERTS}: exit {r.returncode}: "
                             + r.stderr.decode("utf-8", "replace")[-2000:])
        with open(path, "rb") as f:
            lines = f.read().splitlines(keepends=True)
        if len(lines) != self.n:
            raise BenchError(f"genalerts.py wrote {len(lines)} lines, "
                             f"not {self.n}")
        self.bytes = sum(len(l) - 1 for l in lines)
        self.partitions = max(MIN_PARTITIONS,
                              math.ceil(self.bytes / PARTITION_BYTES))
        # Round robin, one file per partition: even by construction.
        self.part_files = []
        for p in range(self.partitions):
            pf = os.path.join(self.tmp, f"alerts-{p}.jsonl")
            with open(pf, "wb") as f:
                f.writelines(lines[p::self.partitions])
            self.part_files.append(pf)
        os.unlink(path)

    def start_broker(self):
        bfile = os.path.join(self.tmp, "broker.bootstrap")
        self.broker_log = os.path.join(self.tmp, "broker.log")
        with open(self.broker_log, "wb") as log:
            # stdin stays open: mockbroker takes commands there until we
            # signal it (EOF would not stop it either).
            self.broker = subprocess.Popen(
                [MOCKBROKER, "--brokers", "1", "--bootstrap-file", bfile,
                 "--topic", f"alerts:{self.partitions}",
                 "--topic", "alerts.dlq:1"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        self.procs.append((self.broker, "mockbroker"))
        deadline = time.monotonic() + WAIT
        # The file is written last, once the cluster serves.
        while not os.path.exists(bfile):
            if self.broker.poll() is not None:
                raise BenchError(f"mockbroker exited "
                                 f"{self.broker.returncode}:\n"
                                 + self.log_tail(self.broker_log))
            if time.monotonic() > deadline:
                raise BenchError("mockbroker did not start")
            time.sleep(0.02)
        line = self.broker.stdout.readline().decode().strip()
        if not line.startswith("ready "):
            raise BenchError(f"mockbroker said {line!r}")
        self.boot = line[len("ready "):]

    def kcat(self, *args, stdin=None, stdout=subprocess.PIPE):
        argv = [KCAT, "-b", self.boot] + list(args)
        r = subprocess.run(argv, stdin=stdin, stdout=stdout,
                           stderr=subprocess.PIPE, timeout=WAIT)
        if r.returncode != 0:
            raise BenchError(f"{' '.join(argv)}: exit {r.returncode}: "
                             + r.stderr.decode("utf-8", "replace")[-2000:])
        return r

    def produce(self):
        t0 = time.monotonic()
        running = []
        todo = list(enumerate(self.part_files))
        while todo or running:
            while todo and len(running) < PRODUCERS:
                p, path = todo.pop(0)
                f = open(path, "rb")
                argv = [KCAT, "-b", self.boot, "-P", "-t", "alerts",
                        "-p", str(p), "-X", "linger.ms=20",
                        "-X", "batch.num.messages=10000"]
                running.append((subprocess.Popen(
                    argv, stdin=f, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE), f, argv))
            proc, f, argv = running.pop(0)
            _, err = proc.communicate(timeout=WAIT)
            f.close()
            if proc.returncode != 0:
                raise BenchError(f"{' '.join(argv)}: exit "
                                 f"{proc.returncode}: "
                                 + err.decode("utf-8", "replace")[-2000:])
        self.produce_secs = time.monotonic() - t0
        for path in self.part_files:
            os.unlink(path)

    def count_held(self):
        r = self.kcat("-C", "-t", "alerts", "-o", "beginning", "-e", "-q",
                      "-f", "\\n", *KCAT_FAST_EOF)
        return r.stdout.count(b"\n")

    def kcat_reference(self, extra):
        """The best wall time of KCAT_RUNS, and the CPU seconds of that
        run: (kcat's own, the broker's)."""
        best = cpu = None
        for _ in range(KCAT_RUNS):
            c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            b0 = self.proc_cpu(self.broker.pid)
            t0 = time.monotonic()
            self.kcat("-C", "-t", "alerts", "-o", "beginning", "-e", "-q",
                      "-f", "%s\\n", *extra, stdout=subprocess.DEVNULL)
            secs = time.monotonic() - t0
            c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if best is None or secs < best:
                best = secs
                cpu = (c1.ru_utime + c1.ru_stime - c0.ru_utime
                       - c0.ru_stime, self.proc_cpu(self.broker.pid) - b0)
        return best, cpu

    @staticmethod
    def proc_cpu(pid):
        """CPU seconds (user + system) of a process so far."""
        return stat_cpu(proc_stat(f"/proc/{pid}/stat")[1])

    @staticmethod
    def floor_work(audit, scratch):
        """What the audit log's bytes cost at the least, whoever writes
        them: one SHA-256 pass over them (OpenSSL's, through hashlib, in
        1 MiB pieces: no per-record overhead) and one copy into the page
        cache (write() of 1 MiB pieces: this process's CPU, as the kernel
        copies). Seconds of each, the best of FLOOR_RUNS: a floor, so
        where the page cache stood (fresh pages cost 5 times recycled
        ones) counts in its favour."""
        piece = 1 << 20
        data = []
        for seg in sorted(os.listdir(audit)):
            with open(os.path.join(audit, seg), "rb") as f:
                data.append(memoryview(f.read()))
        sha = copy = None
        for _ in range(FLOOR_RUNS):
            h = hashlib.sha256()
            t0 = time.perf_counter()
            for d in data:
                for i in range(0, len(d), piece):
                    h.update(d[i:i + piece])
            t = time.perf_counter() - t0
            sha = t if sha is None else min(sha, t)
            fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                         0o600)
            try:
                t0 = time.process_time()
                for d in data:
                    for i in range(0, len(d), piece):
                        os.write(fd, d[i:i + piece])
                t = time.process_time() - t0
            finally:
                os.close(fd)
            copy = t if copy is None else min(copy, t)
        os.unlink(scratch)
        return sha, copy

    # ---- remediad -------------------------------------------------------

    def status(self, sock):
        """The daemon's status, or None while it does not answer yet. Over
        one connection kept for the whole run, as remediactl speaks: a
        remediactl process per poll forked and exec'd 20 times a second
        on CPUs the daemon under measure then did not have (2% of them)."""
        conn = self.ctl.get(sock)
        try:
            if conn is None:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(10)
                try:
                    s.connect(sock)
                except OSError:
                    s.close()
                    return None
                conn = self.ctl[sock] = [s, b""]
            conn[0].sendall(b'{"v":1,"id":1,"cmd":"status","args":{}}\n')
            while b"\n" not in conn[1]:
                chunk = conn[0].recv(65536)
                if not chunk:
                    raise OSError("the daemon closed the control connection")
                conn[1] += chunk
        except OSError:
            self.close_ctl(sock)
            return None
        line, conn[1] = conn[1].split(b"\n", 1)
        reply = json.loads(line)
        return reply.get("data") if reply.get("ok") else None

    def close_ctl(self, sock):
        conn = self.ctl.pop(sock, None)
        if conn is not None:
            conn[0].close()

    @staticmethod
    def cpu(pid):
        """CPU seconds per thread: {tid: (name, seconds)}."""
        out = {}
        base = f"/proc/{pid}/task"
        for tid in os.listdir(base):
            st = proc_stat(f"{base}/{tid}/stat")
            if st is not None:  # else the thread ended meanwhile
                out[int(tid)] = (st[0], stat_cpu(st[1]))
        # The playbook workers: child processes, keyed by their pid.
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            st = proc_stat(f"/proc/{entry}/stat")
            if st is not None and int(st[1][1]) == pid:
                out[-int(entry)] = ("workers", stat_cpu(st[1]))
        return out

    def run_daemon(self, name, raw, expect, extra="", floor=False):
        state = os.path.join(self.tmp, name)
        sock = os.path.join(self.tmp, name + ".sock")
        conf = os.path.join(self.tmp, name + ".conf")
        log_path = os.path.join(self.tmp, name + ".log")
        # A group of its own: each run reads the topic from the beginning.
        # The 2.0.2 mock holds a join for session.timeout.ms - 1 s: keep
        # it short (as test_kafka.py does).
        with open(conf, "w") as f:
            f.write(f'state_dir = "{state}"\n'
                    'log = { level = "warn" }\n'
                    f'control = {{ socket = "{sock}" }}\n'
                    f'kafka = {{ brokers = "{self.boot}", topic = "alerts", '
                    f'group = "bench-{name}", '
                    + os.environ.get("BENCH_KEXTRA", "") + 'properties = { '
                    '["session.timeout.ms"] = "3000", '
                    '["heartbeat.interval.ms"] = "500", '
                    + os.environ.get("BENCH_KPROPS", "") + ' } }\n'
                    f'audit = {{ sync = "group", raw = "{raw}" }}\n'
                    + extra)
        # What earlier runs wrote is on disk before this one starts, or
        # its writeback would be charged to this run's audit writer.
        os.sync()
        with open(log_path, "wb") as log:
            t_start = time.monotonic()
            wall_start = time.time()
            proc = subprocess.Popen([REMEDIAD, "-c", conf],
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=log)
        what = f"remediad ({name})"
        self.procs.append((proc, what))
        cpu0 = st = perf = None
        deadline = t_start + WAIT
        while True:
            if proc.poll() is not None:
                raise BenchError(f"{what} exited {proc.returncode}:\n"
                                 + self.log_tail(log_path))
            if time.monotonic() > deadline:
                raise BenchError(f"{what}: not done after {WAIT:.0f} s: "
                                 f"{json.dumps(st and st.get('kafka'))}")
            st = self.status(sock)
            if st is not None and "kafka" not in st:
                st = None  # intake starts once the playbooks are loaded
            if st is not None:
                k = st["kafka"]
                if k["counters"]["received"] == 0:
                    # The last sample before any alert: the intake's CPU
                    # is what the daemon spends from here.
                    cpu0 = self.cpu(proc.pid)
                elif (k["counters"]["received"] >= expect
                      and k["inflight"] == 0):
                    break
                if cpu0 is not None and perf is None and PERF_DIR:
                    perf = subprocess.Popen(
                        ["perf", "record", "-q", "--call-graph", os.environ.get("BENCH_PERF_CG", "fp"), "-p", str(proc.pid),
                         "-o", os.path.join(PERF_DIR, name + ".data")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(POLL)
        t_done = time.monotonic()
        wall_done = time.time()
        cpu1 = self.cpu(proc.pid)
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=60)
        self.close_ctl(sock)
        self.stop(proc, what)
        text = self.log_tail(log_path, 100000)
        if "error" in text.lower():
            print(f"  note: {what} logged errors:\n{text[-2000:]}")

        times, nrec, size = [], 0, 0
        outcomes, last_outcome = {}, None
        audit = os.path.join(state, "audit")
        for seg in sorted(os.listdir(audit)):
            with open(os.path.join(audit, seg), "rb") as f:
                for line in f:
                    size += len(line)
                    nrec += 1
                    if b'"alert.received"' in line:
                        rec = json.loads(line)
                        if rec["type"] == "alert.received":
                            times.append(rec["time"])
                    elif (b'"plan.created"' in line or
                          b'"type":"playbook.' in line):
                        rec = json.loads(line)
                        outcomes[rec["type"]] = outcomes.get(
                            rec["type"], 0) + 1
                        last_outcome = rec["time"]
        if len(times) != expect:
            raise BenchError(f"{what}: {len(times)} alert.received records, "
                             f"expected {expect}; counters "
                             f"{k['counters']}")
        floor_sha = floor_copy = None
        if floor:
            floor_sha, floor_copy = self.floor_work(
                audit, os.path.join(state, "floor.tmp"))
        # Read: the next run starts without this one's hundreds of MB.
        shutil.rmtree(state, ignore_errors=True)

        def ts(s):
            return datetime.datetime.strptime(
                s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                    tzinfo=datetime.timezone.utc).timestamp()
        stamps = sorted(ts(t) for t in times)
        first, last = stamps[0], stamps[-1]
        # A stall (intake idle with alerts waiting) shows as a gap between
        # receipts that the rate alone would hide.
        gap = max((b - a for a, b in zip(stamps, stamps[1:])), default=0.0)
        if last_outcome is not None:
            # Done when the last outcome is, not the last receipt.
            last = max(last, ts(last_outcome))
        loop = 0.0
        proc_cpu = 0.0
        threads = {}
        cpu0 = cpu0 or {}
        for tid, (tname, secs) in cpu1.items():
            used = secs - cpu0.get(tid, (tname, 0.0))[1]
            if tid > 0:
                proc_cpu += used
            if tid == proc.pid:
                loop = used
                tname = "loop"  # the other threads may share its name
            threads[tname] = threads.get(tname, 0.0) + used
        return {
            "secs": last - first,
            "gap": gap,
            "wall": t_done - t_start,
            "join": first - wall_start,
            "durable": wall_done - first,
            "counters": k["counters"],
            "loop_cpu": loop,
            "proc_cpu": proc_cpu,
            "threads": threads,
            "records": nrec,
            "bytes": size,
            "outcomes": outcomes,
            "floor_sha": floor_sha,
            "floor_copy": floor_copy,
        }

    def best_daemon(self, name, raw, expect, extra="", floor=False):
        """The fastest of DAEMON_RUNS runs of one configuration, as the
        kcat reference keeps its best: a single run moves by 10% or more
        with what else the machine does, and a ratio of two such runs by
        twice that. The floor is measured on the first run's log."""
        best, every = None, []
        for i in range(DAEMON_RUNS):
            r = self.run_daemon(f"{name}-{i + 1}", raw, expect, extra,
                                floor=floor and i == 0)
            if i == 0:
                floor_of = (r["floor_sha"], r["floor_copy"])
            every.append(r["secs"])
            if best is None or r["secs"] < best["secs"]:
                best = r
        best["floor_sha"], best["floor_copy"] = floor_of
        best["all_secs"] = every
        return best

    # ---- The run -------------------------------------------------------

    def report_daemon(self, label, r, expect):
        c = r["counters"]
        print(f"intake remediad {label}: {expect} alerts in {r['secs']:.2f} s"
              f" = {fmt_rate(rate(expect, r['secs']))} alerts/s (first to "
              f"last audited record; best of "
              f"{', '.join(f'{t:.2f}' for t in r['all_secs'])} s); wall "
              f"including group join: {r['wall']:.2f} s")
        busiest = sorted(r["threads"].items(), key=lambda t: -t[1])[:4]
        print(f"  join {r['join']:.2f} s before the first record; all "
              f"durable, offsets stored {r['durable']:.2f} s after it (seen "
              f"by a {POLL * 1000:.0f} ms poll); "
              f"{r['bytes'] / 1e6:.1f} MB of audit log, "
              f"{r['bytes'] / max(r['records'], 1):.0f} B/record; longest "
              f"pause between two receipts {r['gap'] * 1000:.0f} ms")
        print(f"  CPU: loop thread {r['loop_cpu'] / expect * 1e6:.2f} "
              f"us/alert, whole process {r['proc_cpu'] / expect * 1e6:.2f} "
              f"us/alert ({', '.join(f'{n} {s:.2f} s' for n, s in busiest)})"
              f"; counters: accepted {c['accepted']}, duplicate "
              f"{c['duplicate']}, rejected {c['rejected']}, pauses "
              f"{c['pauses']}")

    def run(self):
        print(f"bench_intake: N = {self.n} alerts (the issue's reference is "
              f"\"N alerts\"; default {DEFAULT_N}), from shared/genalerts.py "
              f"seed {SEED}")
        self.generate()
        print(f"  {self.bytes / 1e6:.1f} MB, {self.bytes / self.n:.0f} B per "
              f"alert; topic alerts with {self.partitions} partitions, "
              f"{self.bytes / self.partitions / 1e6:.2f} MB each (the mock "
              f"keeps only ~4 MB per partition; at least "
              f"{MIN_PARTITIONS}), alerts.dlq 1, 1 broker")
        self.start_broker()
        self.produce()
        held = self.count_held()
        print(f"  produced in {self.produce_secs:.2f} s before any consumer "
              f"starts; the broker holds {held} of {self.n}"
              + ("" if held == self.n else
                 f": {self.n - held} DROPPED before consumption, the "
                 f"figures below are for the {held} it kept"))
        if held == 0:
            raise BenchError("the broker kept nothing")

        ref, ref_cpu = self.kcat_reference(KCAT_FAST_EOF)
        ref_default, _ = self.kcat_reference([])
        ref_rate = rate(held, ref)
        print(f"reference kcat -> /dev/null: {held} alerts in {ref:.3f} s = "
              f"{fmt_rate(ref_rate)} alerts/s (wall, best of {KCAT_RUNS}, "
              f"-X fetch.wait.max.ms=5)")
        print(f"  with kcat's default fetch.wait.max.ms=500 the last, empty "
              f"fetch waits before EOF: {ref_default:.3f} s = "
              f"{fmt_rate(rate(held, ref_default))} alerts/s (not used for "
              f"the ratio)")

        full = self.best_daemon("full", "full", held, floor=True)
        self.report_daemon("sync=group", full, held)
        hashed = self.best_daemon("hash", "hash", held)
        self.report_daemon("sync=group raw=hash", hashed, held)

        r_full = rate(held, full["secs"])
        r_hash = rate(held, hashed["secs"])
        print(f"ratio remediad/kcat: {r_full / ref_rate:.2f} "
              f"(raw=hash: {r_hash / ref_rate:.2f})")

        def met(ok):
            return "met" if ok else "NOT met"
        print(f"target remediad >= {TARGET_RATIO:.0%} of kcat's rate: "
              f"{met(r_full >= TARGET_RATIO * ref_rate)} "
              f"({r_full / ref_rate:.0%}; raw=hash "
              f"{met(r_hash >= TARGET_RATIO * ref_rate)}, "
              f"{r_hash / ref_rate:.0%}); target >= "
              f"{fmt_rate(TARGET_RATE)} alerts/s: "
              f"{met(r_full >= TARGET_RATE)} ({fmt_rate(r_full)}; raw=hash "
              f"{met(r_hash >= TARGET_RATE)}, {fmt_rate(r_hash)})")

        self.report_floor(held, ref, ref_cpu, full)
        self.run_playbooks(held, full)
        self.stop(self.broker, "mockbroker")

    def report_floor(self, held, ref, ref_cpu, full):
        """How much of the CPU the ratio target allows goes, at the least,
        to work the issue requires of any implementation: consuming the
        topic (what kcat and the broker spent for it), and hashing and
        writing the audit lines (alert.received with the raw message:
        audit.raw's default)."""
        kcat_cpu, broker_cpu = ref_cpu
        # Ours beyond consuming: librdkafka's threads are counted above.
        own = sum(secs for name, secs in full["threads"].items()
                  if not name.startswith("rdk:"))
        floor = kcat_cpu + broker_cpu + full["floor_sha"] + full["floor_copy"]
        cpus = os.cpu_count() or 1
        budget = cpus * ref / TARGET_RATIO
        print(f"floor of the ratio target: the target gives {held} alerts "
              f"{ref / TARGET_RATIO:.3f} s, {budget:.2f} CPU-s on {cpus} "
              f"CPUs (this machine, broker included); consuming them cost "
              f"kcat {kcat_cpu:.2f} + its broker {broker_cpu:.2f} CPU-s, "
              f"SHA-256 over the {full['bytes'] / 1e6:.0f} MB of audit "
              f"lines {full['floor_sha']:.2f} s, copying them to the page "
              f"cache {full['floor_copy']:.2f} s: {floor:.2f} CPU-s = "
              f"{floor / budget:.0%} of it, leaving "
              f"{max(budget - floor, 0) / held * 1e6:.2f} us of CPU per "
              f"alert for parsing, normalizing, dedup, building the "
              f"record, offsets and fsync, with every CPU busy throughout "
              f"(remediad spent {own / held * 1e6:.2f} us per alert outside "
              f"librdkafka's threads, hashing and writing included)")

    def playbooks_conf(self, pbdir, assets=None):
        a = f', assets = "{assets}"' if assets else ""
        return (f'playbooks = {{ dir = "{pbdir}"{a}, timeout = "1s", '
                'quarantine_failures = 1000000 }\n')

    def run_playbooks(self, held, without):
        """Issue 5: the engine's cost on the mixed load, and runs/s when
        every alert matches."""
        r_without = rate(held, without["secs"])
        assets = os.path.join(SHIPPED, "assets.json")
        shipped = self.best_daemon(
            "playbooks", "full", held, self.playbooks_conf(
                SHIPPED, assets if os.path.exists(assets) else None))
        self.report_daemon("with the shipped playbooks", shipped, held)
        runs = sum(shipped["outcomes"].values())
        print(f"  playbook outcomes: {json.dumps(shipped['outcomes'])} "
              f"({runs} runs for {held} alerts)")
        every_dir = os.path.join(self.tmp, "every")
        os.makedirs(every_dir, exist_ok=True)
        with open(os.path.join(every_dir, "every.lua"), "w") as f:
            f.write(EVERY)
        every = self.best_daemon("every", "full", held,
                                self.playbooks_conf(every_dir))
        self.report_daemon("with a playbook matching every alert", every,
                           held)
        plans = every["outcomes"].get("plan.created", 0)
        if plans != held:
            raise BenchError(f"every-alert: {plans} plans for {held} "
                             f"alerts: {every['outcomes']}")
        r_shipped = rate(held, shipped["secs"])
        r_every = rate(plans, every["secs"])
        cost = 1 - r_shipped / r_without
        print(f"playbooks: intake {fmt_rate(r_without)} alerts/s without, "
              f"{fmt_rate(r_shipped)} with the shipped set (cost "
              f"{cost:.0%}); every alert matching: {fmt_rate(r_every)} "
              f"playbook runs/s ({plans} plans)")

        def met(ok):
            return "met" if ok else "NOT met"
        print(f"target playbooks cost <= {TARGET_PB_COST:.0%} of the intake "
              f"rate: {met(cost <= TARGET_PB_COST)} ({cost:.0%}); target >= "
              f"{fmt_rate(TARGET_PB_RUNS)} playbook runs/s: "
              f"{met(r_every >= TARGET_PB_RUNS)} ({fmt_rate(r_every)})")


def main():
    args = sys.argv[1:]
    if len(args) > 1 or (args and not args[0].isdigit()) or \
            (args and int(args[0]) < 1):
        print("usage: bench_intake.py [N]", file=sys.stderr)
        return 2
    for path in (REMEDIAD, MOCKBROKER, GENALERTS):
        if not os.path.exists(path):
            print(f"bench_intake: {path} not found (tests/bench/run.sh "
                  "builds it)", file=sys.stderr)
            return 1
    b = Bench(int(args[0]) if args else DEFAULT_N)
    try:
        b.run()
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        print(f"bench_intake: {e}", file=sys.stderr)
        return 1
    finally:
        b.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
