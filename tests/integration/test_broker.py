#!/usr/bin/env python3
"""Integration tests of the broker helper (tests/tools/mockbroker, the
daemon's broker.c): real processes over loopback TCP, with kcat as the
independent Kafka client; commands, signals, argument checks."""
import json
import os
import re
import signal
import stat
import subprocess

from brokerlib import MOCKBROKER, MockBroker, consume, kcat, produce
from harness import check, run_cases, WAIT


def started(tmp, daemons, n=1, topics=()):
    b = MockBroker(tmp)
    daemons.append(b)  # run_cases stops it and checks its exit status
    return b, b.start(n, topics)


def metadata(bootstrap, topic):
    return json.loads(kcat(bootstrap, "-L", "-J", "-t", topic).stdout)


def start_lists_partitions(tmp, daemons):
    b, bs = started(tmp, daemons, 3, {"alerts": 6})
    addrs = bs.split(",")
    check(len(addrs) == 3, "three addresses: " + bs)
    for a in addrs:
        check(re.fullmatch(r"127\.0\.0\.1:[0-9]+", a), "loopback address "
              + a)
    check(len(set(addrs)) == 3, "distinct ports: " + bs)
    st = os.stat(b.bootstrap_file)
    check(stat.S_IMODE(st.st_mode) == 0o640,
          f"bootstrap file mode {stat.S_IMODE(st.st_mode):o}")
    check([f for f in os.listdir(tmp) if ".bootstrap." in f] == [],
          "no temporary file left next to the bootstrap file")
    md = metadata(bs, "alerts")
    check(sorted(x["id"] for x in md["brokers"]) == [1, 2, 3],
          "brokers 1..3: " + json.dumps(md["brokers"]))
    check(sorted(x["name"] for x in md["brokers"]) == sorted(addrs),
          "the brokers advertise the bootstrap addresses")
    topics = [t for t in md["topics"] if t["topic"] == "alerts"]
    check(len(topics) == 1, "topic alerts listed")
    parts = sorted(topics[0]["partitions"], key=lambda p: p["partition"])
    check([p["partition"] for p in parts] == list(range(6)),
          "six partitions: " + json.dumps(parts))
    # Leaders round-robin, so "down N" has a known blast radius.
    check([p["leader"] for p in parts] == [1, 2, 3, 1, 2, 3],
          "leaders: " + json.dumps(parts))
    # The plain listing, as a person would read it.
    text = kcat(bs, "-L").stdout.decode()
    check('topic "alerts" with 6 partitions' in text, text)


def produce_consume_1000(tmp, daemons):
    b, bs = started(tmp, daemons, 3, {"alerts": 6})
    sent = [f"alert-{i:04d} {'x' * (i % 97)}" for i in range(1000)]
    produce(bs, "alerts", sent)
    got = consume(bs, "alerts")
    check(len(got) == 1000, f"consumed {len(got)} of 1000")
    check(sorted(got) == sorted(sent), "same messages back")
    # Order within each partition is the order produced.
    out = kcat(bs, "-C", "-t", "alerts", "-o", "beginning", "-e", "-q",
               "-f", "%p %s\n").stdout.decode().splitlines()
    per = {}
    for line in out:
        p, msg = line.split(" ", 1)
        per.setdefault(int(p), []).append(msg)
    check(sum(len(v) for v in per.values()) == 1000, "per-partition count")
    for p, msgs in per.items():
        check(msgs == sorted(msgs), f"partition {p} out of order")
    # An explicit partition keeps everything in one ordered log.
    produce(bs, "alerts", sent[:100], partition=4)
    got = consume(bs, "alerts", partition=4)
    check(got[-100:] == sent[:100], "partition 4 in order")


def down_up_commands(tmp, daemons):
    b, bs = started(tmp, daemons, 3, {"alerts": 6})
    check(b.command("down 1") == "ok", "down 1")
    # Partition 1 is led by broker 2: it keeps serving while 1 is down.
    produce(bs, "alerts", ["while-down"], partition=1)
    check(consume(bs, "alerts", partition=1) == ["while-down"],
          "partition 1 served while broker 1 is down")
    for bad, why in (("bogus", "unknown command"), ("down 0", "no broker"),
                     ("down 4", "no broker"), ("up", "usage: up ID"),
                     ("down 1 2", "usage: down ID"), ("up x", "no broker"),
                     ("up +1", "no broker"), ("", "empty command"),
                     ("topic t 0", "partition count"),
                     ("topic t 1025", "partition count"),
                     ("topic bad/name 1", "bad name"),
                     ("topic alerts 3", "already exists")):
        r = b.command(bad)
        check(r.startswith("error ") and why in r,
              f"{bad!r} answered {r!r}, want an error with {why!r}")
    r = b.command("x" * 5000)
    check(r.startswith("error line too long"), "long line: " + r[:80])
    check(b.command("up 1") == "ok", "up 1")
    # Partition 0 is led by broker 1: served again after up.
    produce(bs, "alerts", [f"after-up-{i}" for i in range(10)], partition=0)
    check(consume(bs, "alerts", partition=0)
          == [f"after-up-{i}" for i in range(10)], "partition 0 after up")
    got = consume(bs, "alerts")
    check(len(got) == 11, f"whole topic after up: {len(got)} messages")
    # A topic made at run time is usable at once.
    check(b.command("topic late.topic_2 3") == "ok", "topic command")
    check(len(metadata(bs, "late.topic_2")["topics"][0]["partitions"]) == 3,
          "late topic has 3 partitions")
    produce(bs, "late.topic_2", ["late"], partition=2)
    check(consume(bs, "late.topic_2") == ["late"], "late topic serves")


def stdin_eof_and_quit(tmp, daemons):
    b, bs = started(tmp, daemons, 1, ["alerts"])
    # Closing stdin is not "quit": the broker keeps serving.
    b.proc.stdin.close()
    produce(bs, "alerts", ["after-eof"])
    check(consume(bs, "alerts") == ["after-eof"], "serves after EOF")
    check(b.proc.poll() is None, "still running after EOF on stdin")
    b.stop()
    check(not os.path.exists(b.bootstrap_file), "bootstrap file removed")
    # "quit" answers ok and exits 0.
    b2 = MockBroker(tmp, "second")
    daemons.append(b2)
    b2.start(2)
    check(b2.command("quit") == "ok", "quit answered ok")
    rc = b2.proc.wait(timeout=WAIT)
    check(rc == 0, f"quit: exit {rc}")
    b2.stop()  # reaps, checks the sanitizers
    check(not os.path.exists(b2.bootstrap_file), "file removed after quit")


def signals_exit_cleanly(tmp, daemons):
    for sig in (signal.SIGTERM, signal.SIGINT):
        b = MockBroker(tmp, sig.name)
        daemons.append(b)
        bs = b.start(3, {"alerts": 6, "alerts.dlq": 2})
        produce(bs, "alerts", [f"m{i}" for i in range(200)])
        check(len(consume(bs, "alerts")) == 200, "serving before " + sig.name)
        check(b.command("down 2") == "ok", "down 2 before the signal")
        b.stop(sig)  # exit 0 and no sanitizer report, or it fails
        log = b.log_text()
        check("stopping" in log, f"{sig.name} logged:\n{log}")
        check(not os.path.exists(b.bootstrap_file),
              "bootstrap file removed on " + sig.name)
    # A stale bootstrap file from a dead run is replaced, not trusted.
    b = MockBroker(tmp, "stale")
    daemons.append(b)
    with open(b.bootstrap_file, "w") as f:
        f.write("127.0.0.1:1\n")
    bs = b.start(1)
    with open(b.bootstrap_file) as f:
        check(f.read() == bs + "\n", "stale file replaced")


def bad_arguments(tmp, daemons):
    path = os.path.join(tmp, "bs")
    usage_errors = (
        ([], "--bootstrap-file is required"),
        (["--brokers", "0"], "--brokers"),
        (["--brokers", "17"], "--brokers"),
        (["--brokers", "3x"], "--brokers"),
        (["--brokers", "-1"], "--brokers"),
        (["--brokers", " 2"], "--brokers"),
        (["--topic", "a:0"], "partitions"),
        (["--topic", "a:1025"], "partitions"),
        (["--topic", "a:"], "partitions"),
        (["--topic", "a:two"], "partitions"),
        (["--topic", ":3"], "bad name"),
        (["--topic", "bad/name"], "bad name"),
        (["--topic", "a", "--topic", "a:2"], "given twice"),
        (["--bootstrap-file", ""], "empty path"),
        (["--frobnicate"], "usage:"),
        (["extra"], "unexpected argument"),
    )
    for args, why in usage_errors:
        argv = [MOCKBROKER] + args
        if "--bootstrap-file" not in args and args:
            argv += ["--bootstrap-file", path]
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=WAIT, stdin=subprocess.DEVNULL)
        check(r.returncode == 2, f"{args}: exit {r.returncode}, want 2\n"
              + r.stderr)
        check(why in r.stderr and "usage: mockbroker" in r.stderr,
              f"{args}: stderr {r.stderr!r}, want {why!r} and the usage")
        check(r.stdout == "", f"{args}: nothing on stdout")
        check(not os.path.exists(path), f"{args}: no bootstrap file")
    r = subprocess.run([MOCKBROKER, "--help"], capture_output=True,
                       text=True, timeout=WAIT)
    check(r.returncode == 0 and "usage: mockbroker" in r.stdout,
          "--help exits 0 with the usage on stdout")
    # A run-time failure (no such directory) is exit 1 with the reason.
    missing = os.path.join(tmp, "no-such-dir", "bs")
    r = subprocess.run([MOCKBROKER, "--bootstrap-file", missing],
                       capture_output=True, text=True, timeout=WAIT,
                       stdin=subprocess.DEVNULL)
    check(r.returncode == 1 and "no-such-dir" in r.stderr,
          f"missing directory: exit {r.returncode}, {r.stderr!r}")
    check("ERROR: LeakSanitizer" not in r.stderr, "no leak on that path")


CASES = {f.__name__: f for f in (
    start_lists_partitions, produce_consume_1000, down_up_commands,
    stdin_eof_and_quit, signals_exit_cleanly, bad_arguments)}

if __name__ == "__main__":
    run_cases(CASES)
