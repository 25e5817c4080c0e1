#!/usr/bin/env python3
"""Audit log under write failures: a real EFBIG from RLIMIT_FSIZE stalls
the log; the daemon keeps serving status, refuses state changes, holds
the replies of accepted commands, and resumes when the limit is lifted
(prlimit), with nothing lost and the chain intact."""
import json
import os
import subprocess

from harness import (REMEDIACTL, Daemon, check, fsize_limit, run_cases,
                     wait_for, WAIT)

LIMIT = 256 * 1024


def disk_full_stalls_and_resumes(tmp, daemons):
    d = Daemon(tmp, extra='log.level = "notice"\naudit.sync = "group"\n')
    daemons.append(d)
    d.start(preexec_fn=fsize_limit(LIMIT))
    c = d.connect()
    # Each reload writes two records (~700 bytes): fill past the limit.
    n = 600
    c.send(b"".join(json.dumps({"v": 1, "id": i, "cmd": "reload"}).encode()
                    + b"\n" for i in range(n)))
    wait_for(lambda: d.ctl("status", json_out=True)["audit"]["stalled"],
             "the audit log to stall")
    st = d.ctl("status", json_out=True)  # status is still served
    check("File too large" in st["audit"].get("error", ""),
          f"the error is shown: {st['audit']}")
    r = d.ctl("reload", check_rc=1)
    check("unavailable" in r.stderr and "not writable" in r.stderr,
          "state changes are refused: " + r.stderr)
    check("new work is refused" in d.log_text(), "logged at error level")
    # Replies that came before the recovery are for records on disk only.
    early = []
    c.sock.settimeout(0.5)
    try:
        while True:
            early.append(c.reply())
    except (OSError, TimeoutError):
        pass
    c.sock.settimeout(WAIT)
    on_disk = sum(1 for r in d.records() if r["type"] == "control.command")
    check(sum(1 for r in early if r["ok"]) <= on_disk,
          f"{len(early)} replies before recovery, {on_disk} on disk")
    check(len(early) < n, "some replies are held while the log is stalled")
    # Lift the limit: the writer's retry goes through.
    subprocess.run(["prlimit", "--pid", str(d.proc.pid),
                    "--fsize=unlimited"], check=True, timeout=WAIT)
    wait_for(lambda: not d.ctl("status", json_out=True)["audit"]["stalled"],
             "the audit log to resume")
    replies = early + [c.reply() for _ in range(n - len(early))]
    ok_ids = {r["id"] for r in replies if r["ok"]}
    refused = [r for r in replies if not r["ok"]]
    check(all(r["error"]["code"] == "unavailable" for r in refused),
          "refusals are 'unavailable'")
    check(len(ok_ids) + len(refused) == n, "every request answered")
    d.ctl("reload")  # serving normally again
    check("writable again" in d.log_text(), "recovery logged")
    d.stop()
    recs = d.records()
    seqs = [r["seq"] for r in recs]
    check(seqs == list(range(1, len(seqs) + 1)), "no seq gap")
    # Every acknowledged command has its record: nothing acked unwritten.
    audited = sum(1 for r in recs if r["type"] == "control.command")
    check(audited >= len(ok_ids) + 1, f"{audited} records for "
          f"{len(ok_ids) + 1} acknowledged reloads")
    v = subprocess.run([REMEDIACTL, "audit", "verify",
                        os.path.join(d.state_dir, "audit")],
                       capture_output=True, text=True, timeout=WAIT)
    check(v.returncode == 0, "chain intact: " + v.stdout + v.stderr)


def oversized_record_refused(tmp, daemons):
    # A reload's args are recorded; an oversized one is refused, not cut.
    d = Daemon(tmp, extra='audit.max_record = "1KB"\n')
    daemons.append(d)
    d.start()
    c = d.connect()
    rep = c.request("reload", {"note": "x" * 4000})
    check(not rep["ok"] and rep["error"]["code"] == "unavailable" and
          "max_record" in rep["error"]["message"], f"refused: {rep}")
    check(c.request("reload", {"note": "short"})["ok"], "small one passes")
    d.stop()
    recs = d.records()
    check(all(len(json.dumps(r)) < 1100 for r in recs), "nothing oversized")
    check([r["seq"] for r in recs] == list(range(1, len(recs) + 1)),
          "the refused record took no seq")


def shutdown_with_tails_in_flight(tmp, daemons):
    # tail -f requests caught at every stage of a shutdown (waiting for
    # durability, scanning, streaming): an exit 0, no sanitizer report.
    d = Daemon(tmp, extra='audit.sync = "group"\n'
               'audit.sync_interval = "50ms"\n')
    daemons.append(d)
    for _ in range(6):
        d.start()
        conns = [d.connect() for _ in range(6)]
        for i, c in enumerate(conns):
            c.send(b"".join(json.dumps({"v": 1, "id": j, "cmd": cmd,
                                        "args": args}).encode() + b"\n"
                            for j, (cmd, args) in enumerate([
                                ("reload", {}),
                                ("audit.tail", {"follow": True, "n": 5})])))
        # Once the reload is answered, the tail behind it is waiting for
        # its records to be durable: stop right then.
        for c in conns:
            c.reply()
        d.stop(expect_rc=0)
        for c in conns:
            c.close()


CASES = {f.__name__: f for f in (disk_full_stalls_and_resumes,
                                 oversized_record_refused,
                                 shutdown_with_tails_in_flight)}

if __name__ == "__main__":
    run_cases(CASES)
