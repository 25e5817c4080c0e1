#!/usr/bin/env python3
"""Kafka intake end to end: the real remediad consuming from the mock
broker helper over TCP, kcat as the independent producer and consumer.
At-least-once with dedup: every alert is audited exactly once as
alert.received, whatever restarts, broker outages and rebalances do."""
import collections
import json
import re
import os
import signal
import subprocess
import sys
import time

from harness import (Daemon, TestFailure, check, fsize_limit, run_cases,
                     wait_for, WAIT)
from brokerlib import MockBroker, consume, kcat, produce

HERE = os.path.dirname(os.path.abspath(__file__))
GENALERTS = os.path.join(HERE, "..", "tools", "genalerts.py")


def alerts(n, seed):
    """n realistic mixed alerts (ECS, OCSF, Wazuh, Falco), one per line."""
    r = subprocess.run([sys.executable, GENALERTS, str(n), str(seed)],
                       capture_output=True, text=True, check=True,
                       timeout=WAIT)
    return r.stdout.splitlines()


def kafka_extra(bootstrap, topic="alerts", more=""):
    # The 2.0.2 mock waits session.timeout.ms - 1 s per rebalance round:
    # a short session keeps group changes quick.
    return (f'kafka = {{ brokers = "{bootstrap}", topic = "{topic}", '
            f'group = "remediad", properties = {{ ["session.timeout.ms"] = '
            f'"3000", ["heartbeat.interval.ms"] = "500" }} {more} }}\n'
            'audit.sync = "group"\n')


def counters(d):
    return d.ctl("status", json_out=True)["kafka"]["counters"]


def wait_received(d, n, what=None):
    wait_for(lambda: counters(d)["received"] >= n,
             what or f"{n} messages consumed")
    # Then until nothing is in flight: every offset stored.
    wait_for(lambda: d.ctl("status", json_out=True)["kafka"]["inflight"]
             == 0, "in-flight alerts to settle")


def wait_committed(d, partitions):
    """The daemon holds every partition and each reports a lag of 0:
    librdkafka's consumer_lag counts from the committed offset, so every
    message is consumed, settled and its offset committed."""
    def done():
        k = d.ctl("status", json_out=True)["kafka"]
        parts = k["partitions"]
        return (len(parts) == partitions and k["inflight"] == 0 and
                all(p.get("lag") == 0 for p in parts))
    wait_for(done, f"all {partitions} partitions consumed and committed")


def received_ids(records):
    return [r["alert"] for r in records if r["type"] == "alert.received"]


def nothing_left_for_group(bootstrap, topic="alerts"):
    """A second consumer in the same group sees nothing: the daemon's
    offsets were committed."""
    # No -o: in -G mode kcat would apply it to every partition and
    # ignore the committed offsets this checks.
    r = subprocess.run(["kcat", "-b", bootstrap, "-G", "remediad", "-e",
                        "-q", "-X", "enable.auto.commit=false", "-X",
                        "auto.offset.reset=earliest", topic],
                       capture_output=True, timeout=WAIT)
    return r.stdout.decode().splitlines()


def start_broker(tmp, daemons, n=1, partitions=4):
    b = MockBroker(tmp)
    daemons.append(b)
    return b, b.start(n, {"alerts": partitions, "alerts.dlq": 1})


def ten_thousand_exactly_once(tmp, daemons):
    b, boot = start_broker(tmp, daemons, partitions=6)
    lines = alerts(10000, 11)
    produce(boot, "alerts", lines, partitions=6)
    held = len(consume(boot, "alerts"))
    check(held == 10000, f"the broker holds {held} of 10000 (retention)")
    d = Daemon(tmp, extra=kafka_extra(boot))
    daemons.append(d)
    d.start()
    wait_received(d, 10000)
    st = d.ctl("status", json_out=True)["kafka"]
    check(st["counters"]["accepted"] == 10000, f"counters {st['counters']}")
    check(len(st["partitions"]) == 6, "all 6 partitions assigned")
    wait_committed(d, 6)
    human = d.ctl("status").stdout
    check("kafka:" in human and "received" in human, human)
    d.stop()
    ids = received_ids(d.records())
    check(len(ids) == 10000 and len(set(ids)) == 10000,
          f"{len(ids)} alert.received, {len(set(ids))} distinct")
    left = nothing_left_for_group(boot)
    check(left == [], f"{len(left)} messages redelivered to the group")


def malformed_to_dead_letters(tmp, daemons):
    b, boot = start_broker(tmp, daemons)
    bad = []
    for i in range(100):
        kind = i % 5
        if kind == 0:
            bad.append(f"not json {i}")
        elif kind == 1:
            bad.append(f"[{i}]")
        elif kind == 2:
            bad.append('{"a":' * 70 + str(i) + "}" * 70)
        elif kind == 3:
            bad.append(json.dumps({"class_uid": 2004, "n": i}))  # no uid
        else:
            bad.append('{"x": "caf\\ud800' + str(i) + '"}')
    good = alerts(20, 3)
    produce(boot, "alerts", bad + good)
    d = Daemon(tmp, extra=kafka_extra(boot))
    daemons.append(d)
    d.start()
    wait_received(d, 120)
    c = counters(d)
    check(c["rejected"] == 100 and c["accepted"] == 20, f"counters {c}")
    wait_for(lambda: counters(d)["dlq_delivered"] == 100,
             "100 dead letters delivered")
    dl = kcat(boot, "-C", "-t", "alerts.dlq", "-o", "beginning", "-e", "-q",
              "-f", "%h\\t%s\\n").stdout.decode("utf-8", "replace")
    rows = [l for l in dl.split("\n") if l]
    check(len(rows) == 100, f"{len(rows)} messages in the DLQ")
    for row in rows:
        # kcat joins headers with ',' and values may hold commas too:
        # split at the header names instead.
        hdr = row.split("\t")[0]
        names = [m.start() for m in re.finditer(r"(?:^|,)remediad\.", hdr)]
        headers = {}
        for i, start in enumerate(names):
            end = names[i + 1] if i + 1 < len(names) else len(hdr)
            k, _, v = hdr[start:end].lstrip(",").partition("=")
            headers[k] = v
        for h in ("remediad.source.topic", "remediad.source.partition",
                  "remediad.source.offset", "remediad.error",
                  "remediad.error.message"):
            check(h in headers, f"header {h} in {row[:200]}")
        check(headers["remediad.source.topic"] == "alerts", row[:200])
    d.stop()
    recs = [r for r in d.records() if r["type"] == "alert.rejected"]
    check(len(recs) == 100, f"{len(recs)} alert.rejected")
    reasons = collections.Counter(r["reason"] for r in recs)
    for reason in ("invalid_json", "not_object", "too_deep",
                   "missing_field"):
        check(reasons[reason] >= 20, f"reasons {dict(reasons)}")
    check(all("kafka" in r and "error" in r for r in recs), "coordinates")
    check(nothing_left_for_group(boot) == [], "rejected offsets committed")


def kill9_and_restart(tmp, daemons):
    b, boot = start_broker(tmp, daemons)
    lines = alerts(6000, 5)
    d = Daemon(tmp, extra=kafka_extra(boot))
    daemons.append(d)
    d.start()
    produce(boot, "alerts", lines, partitions=4)
    wait_for(lambda: counters(d)["received"] >= 1000, "intake under way")
    d.signal(signal.SIGKILL)
    d.proc.wait()
    d.proc = None
    d.start()
    wait_for(lambda: len(set(received_ids(d.records()))) >= 6000,
             "every alert received over both runs", timeout=WAIT * 2)
    # The first run may have received everything before the kill, its
    # last offsets not committed: the second must have consumed those
    # again (as duplicates) before it stops, or they are still owed.
    wait_committed(d, 4)
    d.stop()
    recs = d.records()
    ids = received_ids(recs)
    dup = [i for i, n in collections.Counter(ids).items() if n > 1]
    check(not dup, f"{len(dup)} ids received twice, e.g. {dup[:3]}")
    check(len(set(ids)) == 6000, f"{len(set(ids))} distinct of 6000")
    # Redeliveries after the kill were recognised, not acted on again.
    dups = [r for r in recs if r["type"] == "alert.duplicate"]
    check(all(r["alert"] in set(ids) for r in dups), "duplicates known")
    check(nothing_left_for_group(boot) == [], "offsets committed at the end")


def brokers_down_and_back(tmp, daemons):
    b, boot = start_broker(tmp, daemons, n=3, partitions=3)
    d = Daemon(tmp, extra=kafka_extra(boot))
    daemons.append(d)
    d.start()
    first = alerts(500, 7)
    produce(boot, "alerts", first, partitions=3)
    wait_received(d, 500)
    for i in (1, 2, 3):
        check(b.command(f"down {i}") == "ok", "broker down")
    time.sleep(10)  # the outage itself, not a timing assertion
    d.ctl("ping")   # the daemon keeps serving meanwhile
    st = d.ctl("status", json_out=True)["kafka"]
    check("down" in st["state"], f"state shows the outage: {st['state']}")
    for i in (1, 2, 3):
        check(b.command(f"up {i}") == "ok", "broker up")
    second = alerts(500, 8)
    produce(boot, "alerts", second, partitions=3)
    wait_for(lambda: counters(d)["accepted"] >= 1000,
             "intake to resume after the outage", timeout=WAIT * 2)
    wait_received(d, 1000)
    d.stop()
    ids = received_ids(d.records())
    check(len(ids) == 1000 and len(set(ids)) == 1000,
          f"{len(ids)} received, {len(set(ids))} distinct")


def second_daemon_splits(tmp, daemons):
    b, boot = start_broker(tmp, daemons, partitions=6)
    d1 = Daemon(tmp, name="one", extra=kafka_extra(boot))
    d2 = Daemon(tmp, name="two", extra=kafka_extra(boot))
    daemons += [d1, d2]
    d1.start()
    produce(boot, "alerts", alerts(3000, 21), partitions=6)
    wait_received(d1, 3000)
    # Let the auto-commit (every second) carry d1's offsets: the 2.0.2
    # mock refuses the commit on revoke during a cooperative rebalance
    # (REBALANCE_IN_PROGRESS), so what d1 consumed after its last commit
    # would be read again by its successor: the at-least-once window.
    time.sleep(2.2)
    d2.start()

    def split():
        p1 = d1.ctl("status", json_out=True)["kafka"]["partitions"]
        p2 = d2.ctl("status", json_out=True)["kafka"]["partitions"]
        return p1 and p2 and len(p1) + len(p2) == 6
    wait_for(split, "the partitions to split between the two daemons",
             timeout=WAIT * 2)
    produce(boot, "alerts", alerts(3000, 22), partitions=6)
    wait_for(lambda: counters(d1)["accepted"] + counters(d2)["accepted"]
             >= 6000, "all 6000 alerts accepted", timeout=WAIT * 2)
    check(counters(d2)["accepted"] > 0, "the new member takes its share")
    d1.stop()
    d2.stop()
    ids1 = received_ids(d1.records())
    ids2 = received_ids(d2.records())
    both = set(ids1) & set(ids2)
    check(not both, f"{len(both)} alerts processed by both daemons")
    check(len(set(ids1) | set(ids2)) == 6000,
          f"{len(set(ids1) | set(ids2))} of 6000 received")
    check(len(ids1) == len(set(ids1)) and len(ids2) == len(set(ids2)),
          "no id twice in one daemon")


def embedded_broker(tmp, daemons):
    d = Daemon(tmp, extra='kafka = { topic = "alerts" }\n')
    daemons.append(d)
    d.start()
    path = os.path.join(d.state_dir, "embedded-broker")
    wait_for(lambda: os.path.exists(path), "the embedded broker's address")
    boot = open(path).read().strip()
    produce(boot, "alerts", alerts(100, 9))
    wait_received(d, 100)
    st = d.ctl("status", json_out=True)["kafka"]
    check(st["embedded"] is True and st["brokers"] == boot, f"{st}")
    d.stop()
    check(not os.path.exists(path), "the address file goes with the broker")
    check(len(received_ids(d.records())) == 100, "100 received")


def backpressure_holds(tmp, daemons):
    b, boot = start_broker(tmp, daemons)
    produce(boot, "alerts", alerts(2000, 31), partitions=4)
    # 200 alerts in flight at most: intake holds and goes on many times
    # (a hold that lasts pauses: test_playbooks.py stuck_intake_pauses).
    d = Daemon(tmp, extra=kafka_extra(boot, more=", max_in_flight = 200"))
    daemons.append(d)
    d.start()
    wait_received(d, 2000)
    c = counters(d)
    check(c["holds"] > 0, f"intake held under backpressure: {c}")
    d.stop()
    ids = received_ids(d.records())
    check(len(ids) == 2000 and len(set(ids)) == 2000,
          f"{len(ids)} received, {len(set(ids))} distinct")


def audit_stall_rewinds(tmp, daemons):
    b, boot = start_broker(tmp, daemons)
    d = Daemon(tmp, extra=kafka_extra(boot) + 'log.level = "notice"\n')
    daemons.append(d)
    d.start(preexec_fn=fsize_limit(300 * 1024))
    produce(boot, "alerts", alerts(1000, 41), partitions=4)  # ~1.3 MB of records
    wait_for(lambda: d.ctl("status", json_out=True)["kafka"]["paused"],
             "intake to pause on the stalled audit log")
    st = d.ctl("status", json_out=True)["kafka"]
    check("audit" in st["pause_reason"], f"reason: {st['pause_reason']}")
    subprocess.run(["prlimit", "--pid", str(d.proc.pid),
                    "--fsize=unlimited"], check=True, timeout=WAIT)
    wait_for(lambda: len(set(received_ids(d.records()))) >= 1000,
             "every alert received after the log recovers",
             timeout=WAIT * 2)
    wait_for(lambda: not d.ctl("status", json_out=True)["kafka"]["paused"],
             "intake to resume")
    wait_received(d, 0)
    d.stop()
    ids = received_ids(d.records())
    check(len(ids) == 1000 and len(set(ids)) == 1000,
          f"{len(ids)} received, {len(set(ids))} distinct")
    check("intake resumed" in d.log_text(), "resume logged")
    check(nothing_left_for_group(boot) == [], "offsets committed")


def stop_while_stalled(tmp, daemons):
    b, boot = start_broker(tmp, daemons)
    d = Daemon(tmp, extra=kafka_extra(boot) + 'log.level = "notice"\n')
    daemons.append(d)
    d.start(preexec_fn=fsize_limit(200 * 1024))
    good = alerts(800, 61)
    bad = [f"broken {i}" for i in range(80)]
    mixed = [x for pair in zip(good[:80], bad) for x in pair] + good[80:]
    produce(boot, "alerts", mixed, partitions=4)
    wait_for(lambda: d.ctl("status", json_out=True)["audit"]["stalled"],
             "the audit log to stall")
    # SIGTERM with records unwritten and dead letters in flight: an
    # orderly stop that acknowledges nothing unwritten.
    d.stop(expect_rc=0)
    d.start()  # no limit now
    wait_for(lambda: len(set(received_ids(d.records()))) >= 800,
             "every alert after the restart", timeout=WAIT * 2)
    wait_for(lambda: counters(d)["dlq_delivered"] + sum(
        1 for r in d.records() if r["type"] == "alert.rejected") >= 80,
        "the dead letters")
    wait_received(d, 0)
    d.stop()
    recs = d.records()
    ids = received_ids(recs)
    check(len(ids) == 800 and len(set(ids)) == 800,
          f"{len(ids)} received, {len(set(ids))} distinct")
    rejected = {(r["kafka"]["partition"], r["kafka"]["offset"])
                for r in recs if r["type"] == "alert.rejected"}
    check(len(rejected) == 80, f"{len(rejected)} distinct rejected of 80")
    dl = consume(boot, "alerts.dlq")
    check(len(set(dl)) == 80, f"{len(set(dl))} distinct dead letters")


def secret_files(tmp, daemons):
    b, boot = start_broker(tmp, daemons)
    secret = os.path.join(tmp, "client-id.secret")
    with open(secret, "w") as f:
        f.write("s3cr3t-client-name\n")
    # client.id is harmless to set and visible to nobody but the broker.
    d = Daemon(tmp, extra=kafka_extra(boot, more=', secret_files = { '
               f'["client.id"] = "{secret}" }}'))
    daemons.append(d)
    d.start()
    produce(boot, "alerts", alerts(10, 51))
    wait_received(d, 10)
    d.stop()
    check("s3cr3t" not in d.log_text(), "a secret never reaches the log")
    d.write_config(d.config_text(kafka_extra(boot, more=', secret_files = '
                   '{ ["client.id"] = "/nonexistent/secret" }')))
    r = subprocess.run([os.environ.get("REMEDIAD", "remediad"), "-c",
                        d.conf, "--check"], capture_output=True, text=True,
                       timeout=WAIT)
    check(r.returncode == 1 and "kafka.secret_files.client.id" in r.stderr
          and "No such file" in r.stderr, r.stderr)


def anchors_to_topic(tmp, daemons):
    b = MockBroker(tmp)
    daemons.append(b)
    boot = b.start(1, {"alerts": 2, "alerts.dlq": 1, "audit.anchors": 1})
    d = Daemon(tmp, extra=kafka_extra(boot) + 'audit.anchor_every = 50\n'
               'audit.anchor_topic = "audit.anchors"\n')
    daemons.append(d)
    d.start()
    produce(boot, "alerts", alerts(220, 71))
    wait_received(d, 220)
    wait_for(lambda: len(consume(boot, "audit.anchors")) >= 4,
             "anchors on the topic")
    d.stop()
    anchors = [json.loads(l) for l in consume(boot, "audit.anchors")]
    seqs = [a["seq"] for a in anchors]
    check(seqs[:4] == [50, 100, 150, 200], f"anchor seqs {seqs}")
    recs = {r["seq"]: r["hash"] for r in d.records()}
    check(all(recs[a["seq"]] == a["hash"] for a in anchors),
          "each anchor is the hash of its record")
    last = anchors[-1]
    audit = os.path.join(d.state_dir, "audit")
    ctl = os.environ.get("REMEDIACTL", "remediactl")
    ok = subprocess.run([ctl, "audit", "verify", audit, "--anchor",
                         f"{last['seq']}:{last['hash']}"],
                        capture_output=True, text=True, timeout=WAIT)
    check(ok.returncode == 0, ok.stdout + ok.stderr)
    # Cut the whole tail cleanly back to before the last anchor: the chain
    # alone still verifies, the anchor from Kafka does not.
    seg = sorted(os.listdir(audit))[-1]
    path = os.path.join(audit, seg)
    lines = open(path, "rb").read().splitlines(keepends=True)
    keep = [l for l in lines if json.loads(l)["seq"] < last["seq"]]
    with open(path, "wb") as f:
        f.write(b"".join(keep))
    plain = subprocess.run([ctl, "audit", "verify", audit],
                           capture_output=True, text=True, timeout=WAIT)
    check(plain.returncode == 0, "a clean cut keeps a valid chain")
    cut = subprocess.run([ctl, "audit", "verify", audit, "--anchor",
                          f"{last['seq']}:{last['hash']}"],
                         capture_output=True, text=True, timeout=WAIT)
    check(cut.returncode == 1 and "truncated" in cut.stdout,
          cut.stdout + cut.stderr)


def oversized_record_not_poison(tmp, daemons):
    b, boot = start_broker(tmp, daemons)
    # A 700 kB message of quotes: within kafka.max_message (1 MB), but
    # kept verbatim (escaped) its record would pass audit.max_record.
    big = json.dumps({"event": {"kind": "alert", "id": "big-1"},
                      "rule": {"name": "big"}, "pad": '"' * 350000})
    check(len(big) > 600000 and len(big) < 1000000, "size of the test")
    produce(boot, "alerts", [big] + alerts(5, 81))
    d = Daemon(tmp, extra=kafka_extra(boot))
    daemons.append(d)
    d.start()
    wait_received(d, 6)
    st = d.ctl("status", json_out=True)["kafka"]
    check(not st["paused"] and st["counters"]["accepted"] == 6,
          f"not stuck on the big one: {st['counters']}")
    d.stop()
    recs = [r for r in d.records() if r["type"] == "alert.received"]
    bigrec = [r for r in recs if r["alert"] == "big-1"]
    check(len(bigrec) == 1 and "raw" not in bigrec[0] and
          bigrec[0].get("raw_omitted") and len(bigrec[0]["raw_sha256"]) == 64,
          f"the big one kept its hash instead: {str(bigrec)[:300]}")
    check(len(recs) == 6, f"{len(recs)} received")


def record_too_large_is_dead_letter(tmp, daemons):
    b, boot = start_broker(tmp, daemons)
    # With a 1 KB record bound even the digest-only record of this alert
    # is too large: it becomes a dead letter, the rest flows on.
    long = json.dumps({"event": {"kind": "alert", "id": "long-1"},
                       "rule": {"name": "T" * 3000}})
    small = [json.dumps({"event": {"kind": "alert", "id": f"s-{i}"},
                         "rule": {"name": "r"}}) for i in range(5)]
    produce(boot, "alerts", [long] + small)
    d = Daemon(tmp, extra=kafka_extra(boot) + 'audit.max_record = "1KB"\n'
               'audit.raw = "hash"\n')
    daemons.append(d)
    d.start()
    wait_received(d, 6)
    c = counters(d)
    check(c["accepted"] == 5 and c["rejected"] == 1, f"counters {c}")
    wait_for(lambda: counters(d)["dlq_delivered"] == 1, "the dead letter")
    d.stop()
    rej = [r for r in d.records() if r["type"] == "alert.rejected"]
    check(len(rej) == 1 and rej[0]["reason"] == "too_large", f"{rej}")
    check(nothing_left_for_group(boot) == [], "offsets committed")


def reload_keeps_intake_settings(tmp, daemons):
    b, boot = start_broker(tmp, daemons)
    generic = ('generic = { id = "alert_id", title = "summary", '
               'severity = "score", host = "asset.name" }')
    d = Daemon(tmp, extra=kafka_extra(boot, more=", " + generic)
               + 'audit.anchor_topic = "alerts.dlq"\n')
    daemons.append(d)
    d.start()
    produce(boot, "alerts", [json.dumps({"alert_id": "g-1", "summary": "one",
                                         "score": 40,
                                         "asset": {"name": "h1"}})])
    wait_received(d, 1)
    # A reload that changes intake: it keeps running as started.
    d.write_config(d.config_text(kafka_extra(
        boot, topic="other", more=', generic = { id = "x", title = "y" }')))
    d.ctl("reload")
    check("kafka changed; it takes effect at the next restart"
          in d.log_text(), "restart-only change warned")
    check("audit.anchor_topic changed" in d.log_text(), "anchor topic kept")
    produce(boot, "alerts", [json.dumps({"alert_id": "g-2", "summary": "two",
                                         "score": 50,
                                         "asset": {"name": "h2"}})])
    wait_received(d, 2)
    d.stop()
    recs = {r["alert"]: r for r in d.records()
            if r["type"] == "alert.received"}
    check(set(recs) == {"g-1", "g-2"}, f"ids {set(recs)}")
    check(recs["g-2"]["title"] == "two" and recs["g-2"]["host"] == "h2",
          f"the running paths decoded g-2: {recs['g-2']}")


def stop_during_first_join(tmp, daemons):
    """SIGTERM between the first JoinGroup answer and the first assignment:
    librdkafka 2.0.2 aborted in its sticky assignor when the consumer left
    in that window (its issue #4312). The stop waits for the assignment,
    then leaves cleanly: exit 0."""
    b, boot = start_broker(tmp, daemons)
    conf = (f'log = {{ level = "debug" }}\n'
            f'kafka = {{ brokers = "{boot}", topic = "alerts", '
            'group = "remediad", properties = { ["session.timeout.ms"] = '
            '"6000", ["debug"] = "cgrp" } }\n')
    # A member killed without leaving: the mock then holds the next
    # member's SyncGroup until that one's session expires.
    gone = Daemon(tmp, name="gone", extra=conf)
    daemons.append(gone)
    gone.start()
    wait_for(lambda: "kafka: assigned" in gone.log_text(),
             "the first member's assignment")
    gone.kill()
    d = Daemon(tmp, extra=conf)
    daemons.append(d)
    d.start()
    wait_for(lambda: "join state wait-join -> wait-sync" in d.log_text(),
             "the JoinGroup answer, SyncGroup held")
    check("kafka: assigned" not in d.log_text(),
          "assigned already: the window was missed")
    d.stop()  # exit 0 and no sanitizer report, or a failure
    text = d.log_text()
    check("stopping before the first assignment" in text, text[-3000:])


def stop_with_brokers_down(tmp, daemons):
    """SIGTERM while every broker is down, after the assignment: leaving
    the group reaches no coordinator and the final commit fails, yet the
    stop ends (exit 0, no sanitizer report) and nothing is lost: the next
    run reads again what was not committed, as duplicates."""
    b, boot = start_broker(tmp, daemons, n=3, partitions=3)
    d = Daemon(tmp, extra=kafka_extra(boot))
    daemons.append(d)
    d.start()
    produce(boot, "alerts", alerts(200, 41), partitions=3)
    wait_received(d, 200)
    for i in (1, 2, 3):
        check(b.command(f"down {i}") == "ok", "broker down")
    time.sleep(3)
    d.stop()  # within WAIT, exit 0, no sanitizer report; else a failure
    for i in (1, 2, 3):
        check(b.command(f"up {i}") == "ok", "broker up")
    d.start()
    produce(boot, "alerts", alerts(10, 42), partitions=3)
    # Redeliveries count as received too: wait for the new ones' records.
    wait_for(lambda: len(received_ids(d.records())) >= 210,
             "the 10 new alerts recorded")
    d.stop()
    ids = received_ids(d.records())
    check(len(ids) == 210 and len(set(ids)) == 210,
          f"{len(ids)} received over both runs, {len(set(ids))} distinct")


def fatal_error_exits(tmp, daemons):
    """A fatal consumer error (the broker fences this member: SyncGroup
    answers FENCED_INSTANCE_ID, 82) is logged and ends the daemon with a
    non-zero exit, for systemd to restart it; the next start consumes."""
    b, boot = start_broker(tmp, daemons)
    check(b.command("fail 14 82 1") == "ok", "SyncGroup fault armed")
    d = Daemon(tmp, extra=kafka_extra(boot))
    daemons.append(d)
    d.start(wait=False)
    try:
        rc = d.proc.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        raise TestFailure("remediad kept running after a fatal error:\n"
                          + d.log_text()[-3000:])
    d.proc = None
    d.assert_clean_log()
    text = d.log_text()
    check(rc == 1, f"exit {rc}, want 1: {text[-3000:]}")
    check("kafka: fatal error:" in text and "fenced" in text.lower(),
          text[-3000:])
    recs = d.records()
    check(recs and recs[-1]["type"] == "daemon.stopped", "a clean stop "
          f"record: {recs[-1:] if recs else recs}")
    # The fault was one answer: the restarted daemon joins and consumes.
    d.start()
    produce(boot, "alerts", alerts(20, 43), partitions=4)
    wait_received(d, 20)
    d.stop()


def bad_kafka_config(tmp, daemons):
    d = Daemon(tmp, extra='kafka = { topic = "alerts", properties = { '
               '["enable.auto.offset.store"] = "true" } }\n')
    r = subprocess.run([os.environ.get("REMEDIAD", "remediad"), "-c",
                        d.conf], capture_output=True, text=True,
                       timeout=WAIT)
    check(r.returncode == 1 and "set by remediad itself" in r.stderr,
          r.stderr[-2000:])
    d.write_config(d.config_text('kafka = { topic = "alerts", properties = '
                                 '{ ["no.such.property"] = "1" } }\n'))
    r = subprocess.run([os.environ.get("REMEDIAD", "remediad"), "-c",
                        d.conf], capture_output=True, text=True,
                       timeout=WAIT)
    check(r.returncode == 1 and "no.such.property" in r.stderr,
          r.stderr[-2000:])


CASES = {f.__name__: f for f in (
    ten_thousand_exactly_once, malformed_to_dead_letters, kill9_and_restart,
    brokers_down_and_back, second_daemon_splits, embedded_broker,
    backpressure_holds, audit_stall_rewinds, stop_while_stalled,
    secret_files, anchors_to_topic, oversized_record_not_poison,
    record_too_large_is_dead_letter, reload_keeps_intake_settings,
    bad_kafka_config, stop_during_first_join, stop_with_brokers_down,
    fatal_error_exits)}

if __name__ == "__main__":
    run_cases(CASES)
