#!/usr/bin/env python3
"""Integration tests of `remediad test-playbooks DIR` (daemon/playbook_test.c):
directories of playbooks and *_test.lua files written per case, the real
binary run on them, its report lines, counts and exit status checked."""
import json
import os
import subprocess

from harness import REMEDIAD, assert_no_sanitizer_report, check, run_cases

# A playbook per behaviour the cases need. Alerts are generic documents:
# {"id":..., "severity":..., "host":...} decode field for field.
ISOLATE = """\
return playbook{
  name = "isolate",
  description = "isolate a host on a severe alert",
  match = {source = "generic", min_severity = 50, has = "host"},
  run = function(alert, rd)
    rd.log("info", "isolating " .. alert.host)
    rd.mitigate.isolate{host = alert.host, ttl = "1h",
      reason = "severity " .. alert.severity}
    rd.ticket{summary = "isolated " .. alert.host}
  end,
}
"""

NOTIFY = """\
return playbook{
  name = "notify",
  match = {category = "malware"},
  run = function(alert, rd)
    rd.notify{message = "malware on " .. (alert.host or "?")}
  end,
}
"""

DEDUP = """\
return playbook{
  name = "dedup",
  match = {has = "host"},
  dedup = {key = "host", window = "10m"},
  run = function(alert, rd)
    rd.notify{message = "seen " .. alert.host}
  end,
}
"""

ESCALATE = """\
return playbook{
  name = "escalate",
  match = {has = "host"},
  escalate = {key = "host", window = "1h"},
  run = function(alert, rd)
    rd.log("info", "prior " .. rd.prior)
    if rd.prior >= 2 then
      rd.mitigate.isolate{host = alert.host, until_remediated = true}
    else
      rd.notify{message = "watch " .. alert.host}
    end
  end,
}
"""

SPIN = """\
return playbook{
  name = "spin",
  run = function(alert, rd)
    while true do end
  end,
}
"""


def write(d, name, text):
    path = os.path.join(d, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def playbook_dir(tmp, files, name="pb"):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    for fname, text in files.items():
        write(d, fname, text)
    return d


def run(*args, timeout=120):
    r = subprocess.run([REMEDIAD, "test-playbooks", *args],
                       capture_output=True, text=True, timeout=timeout)
    assert_no_sanitizer_report(r.stderr, "remediad test-playbooks")
    return r


def line_of(text, marker):
    """The 1-based line of text holding marker (once)."""
    lines = [i + 1 for i, l in enumerate(text.splitlines()) if marker in l]
    check(len(lines) == 1, f"marker {marker!r} on one line: {lines}")
    return lines[0]


def summary(r):
    lines = r.stdout.strip().splitlines()
    check(lines, "some output: " + repr(r.stdout) + repr(r.stderr))
    return lines[-1]


def fails(r):
    return [l for l in r.stdout.splitlines() if l.startswith("FAIL ")]


def expect_run(r, code, last):
    out = f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    check(r.returncode == code, f"exit {r.returncode}, wanted {code}\n"
          + out)
    check(summary(r) == last, f"summary {summary(r)!r}, wanted {last!r}\n"
          + out)


# ---- Cases ------------------------------------------------------------------

def all_pass(tmp, daemons):
    d = playbook_dir(tmp, {
        "isolate.lua": ISOLATE,
        "notify.lua": NOTIFY,
        "isolate_test.lua": """\
local a = fixture{id = "a1", severity = 80, host = "ws-1"}
test("isolates a severe alert", function()
  local r = run("isolate", a)
  eq(r.status, "plan")
  eq(#r.actions, 2)
  has_action(r, "mitigate.isolate", {host = "ws-1", ttl = "1h"})
  eq(r.logs, {{level = "info", msg = "isolating ws-1"}})
end)
""",
        "notify_test.lua": """\
test("notifies on malware", function()
  local r = run("notify", fixture{category = "malware", host = "h"})
  has_action(r, "notify", {message = "malware on h"})
end)
""",
    })
    r = run(d)
    expect_run(r, 0, "2 passed, 0 failed")
    check(fails(r) == [], r.stdout)
    # -v names each passing case, files in name order.
    r = run("-v", d)
    expect_run(r, 0, "2 passed, 0 failed")
    oks = [l for l in r.stdout.splitlines() if l.startswith("ok ")]
    check(oks == ["ok   isolate_test.lua isolates a severe alert",
                  "ok   notify_test.lua notifies on malware"], r.stdout)


def failing_eq_line(tmp, daemons):
    test = """\
local a = fixture{id = "a1", severity = 80, host = "ws-1"}

test("passes", function()
  eq(run("isolate", a).status, "plan")
end)

test("wrong count", function()
  local r = run("isolate", a)
  eq(#r.actions, 3, "actions")  -- MARK1
  error("not reached")
end)

test("caught by pcall still fails", function()
  pcall(eq, 1, 2)  -- MARK2
end)

test("lua error", function()
  local t = nil
  return t.x  -- MARK3
end)
"""
    d = playbook_dir(tmp, {"isolate.lua": ISOLATE, "eq_test.lua": test})
    r = run(d)
    expect_run(r, 1, "1 passed, 3 failed")
    f = fails(r)
    check(len(f) == 3, r.stdout)
    check(f[0] == f"FAIL eq_test.lua:{line_of(test, 'MARK1')}: wrong count: "
          "actions: expected 3, got 2", f[0])
    check(f[1] == f"FAIL eq_test.lua:{line_of(test, 'MARK2')}: caught by "
          "pcall still fails: expected 2, got 1", f[1])
    check(f[2].startswith(f"FAIL eq_test.lua:{line_of(test, 'MARK3')}: "
                          "lua error: attempt to index a nil value"), f[2])


def playbook_load_error(tmp, daemons):
    d = playbook_dir(tmp, {
        "isolate.lua": ISOLATE,
        "broken.lua": "return playbook{\n  name = 'broken',\n"
                      "  run = function( end,\n}\n",
        "x_test.lua": "test('t', function() end)\n",
    })
    r = run(d)
    check(r.returncode == 1, f"exit {r.returncode}: {r.stdout}{r.stderr}")
    check("broken.lua:3:" in r.stderr, "file:line of the error: "
          + r.stderr)
    check("passed" not in r.stdout, "no tests ran: " + r.stdout)
    # A playbook{} the loader refuses names its file and line too.
    d = playbook_dir(tmp, {
        "bad.lua": "local x = 1\n\nreturn playbook{ name = 'bad', "
                   "match = {min_severity = 200}, run = function() end }\n",
    }, "pb2")
    r = run(d)
    check(r.returncode == 1, f"exit {r.returncode}")
    check("bad.lua:3:" in r.stderr and "min_severity" in r.stderr,
          r.stderr)


def has_action_cases(tmp, daemons):
    test = """\
local a = fixture{id = "a1", severity = 80, host = "ws-1"}
test("matches", function()
  local r = run("isolate", a)
  local act = has_action(r, "mitigate.isolate", {host = "ws-1"})
  eq(act.rollback, "unisolate")
  has_action(r, "mitigate.isolate", {ttl = "1h", ttl_ms = 3600000,
    approval = "auto", risk = "medium", reason = "severity 80"})
  has_action(r, "ticket", {summary = "isolated ws-1"})
  has_action(r, "ticket.ticket")
end)
test("wrong host", function()
  has_action(run("isolate", a), "mitigate.isolate", {host = "ws-2"})  -- M1
end)
test("absent action", function()
  has_action(run("isolate", a), "mitigate.block_ip", {ip = "10.0.0.1"})  -- M2
end)
test("not a plan", function()
  has_action(run("isolate", fixture{id = "b", severity = 10, host = "h"}),  -- M3
    "ticket")
end)
test("no_actions on a plan", function()
  no_actions(run("isolate", a))  -- M4
end)
"""
    d = playbook_dir(tmp, {"isolate.lua": ISOLATE, "h_test.lua": test})
    r = run(d)
    expect_run(r, 1, "1 passed, 4 failed")
    f = fails(r)
    check(f[0] == f"FAIL h_test.lua:{line_of(test, 'M1')}: wrong host: no "
          "mitigate.isolate with host=ws-2 (plan has: mitigate.isolate "
          "with host=ws-1, ticket)", f[0])
    check(f[1] == f"FAIL h_test.lua:{line_of(test, 'M2')}: absent action: "
          "no mitigate.block_ip with ip=10.0.0.1 (plan has: "
          "mitigate.isolate, ticket)", f[1])
    # A call over two lines is reported at its first.
    check(f[2].startswith(f"FAIL h_test.lua:{line_of(test, 'M3')}: not a "
                          "plan: no ticket: the run's status is nomatch"),
          f[2])
    check(f[3] == f"FAIL h_test.lua:{line_of(test, 'M4')}: no_actions on a "
          "plan: expected no actions, the plan has: mitigate.isolate, "
          "ticket", f[3])


def fixture_file_and_inline(tmp, daemons):
    d = playbook_dir(tmp, {
        "isolate.lua": ISOLATE,
        "any.lua": "return playbook{ name = 'any', match = {has = 'host'}, "
                   "run = function(a, rd) rd.ticket{summary = a.source .. "
                   "' ' .. a.host .. ' ' .. a.raw.rule.description} end }\n",
        "alerts/wazuh.json": """{"id": "1700000000.42", "timestamp":
            "2026-11-01T00:00:02.123+0000", "rule": {"id": "5712",
            "level": 12, "description": "sshd brute force",
            "groups": ["authentication_failures"]},
            "agent": {"id": "001", "name": "web-3", "ip": "10.1.2.3"},
            "manager": {"name": "wazuh"}, "data": {"srcip": "203.0.113.9"}}
""",
        "alerts/bad.json": '{"id": 1, "id": 2}',
        "f_test.lua": """\
test("from a file", function()
  local a = fixture("alerts/wazuh.json")
  eq(a.source, "wazuh")
  eq(a.host, "web-3")
  eq(a.ip, "203.0.113.9")
  eq(a.rule, "5712")
  eq(a.received_at, "2026-01-01T00:00:00Z")
  eq(a.raw.agent.name, "web-3")
  eq(run("isolate", a).status, "nomatch")  -- match.source is generic
  has_action(run("any", a), "ticket",
    {summary = "wazuh web-3 sshd brute force"})
end)
test("inline JSON", function()
  local a = fixture('{"id": "x1", "severity": 90, "host": "ws-7"}')
  eq(a.source, "generic")
  eq(a.id, "x1")
  eq(a.severity, 90)
  has_action(run("isolate", a), "mitigate.isolate", {host = "ws-7"})
end)
test("a table", function()
  local a = fixture{severity = 70, host = "ws-8"}
  expect(a.id:match("^sha256:"), "hash id")
  has_action(run("isolate", a), "ticket", {summary = "isolated ws-8"})
end)
test("rejected", function()
  local ok, err = pcall(fixture, "alerts/bad.json")
  expect(not ok)
  expect(err:find("rejected (invalid_json)", 1, true), err)
  ok, err = pcall(fixture, '{"class_uid": 2004}')
  expect(err:find("missing field finding_info.uid", 1, true), err)
end)
test("stays inside DIR", function()
  local ok, err = pcall(fixture, "../outside.json")
  expect(not ok and err:find('".." is not allowed', 1, true), err)
  ok, err = pcall(fixture, "/etc/hostname")
  expect(not ok and err:find("relative", 1, true), err)
end)
""",
    })
    write(tmp, "outside.json", '{"id":"o"}')
    r = run(d)
    expect_run(r, 0, "5 passed, 0 failed")


def instruction_budget(tmp, daemons):
    d = playbook_dir(tmp, {
        "spin.lua": SPIN,
        "isolate.lua": ISOLATE,
        "b_test.lua": """\
test("the playbook runs out", function()
  local r = run("spin", fixture{id = "s"})
  eq(r.status, "error")
  eq(r.kind, "instructions")
  expect(r.error:find("instruction budget", 1, true), r.error)
  -- The next run of another playbook is unaffected.
  has_action(run("isolate", fixture{id = "t", severity = 99, host = "h"}),
    "ticket")
end)
""",
    })
    r = run(d)
    expect_run(r, 0, "1 passed, 0 failed")


def nomatch(tmp, daemons):
    d = playbook_dir(tmp, {
        "isolate.lua": ISOLATE,
        "notify.lua": NOTIFY,
        "n_test.lua": """\
test("severity below the minimum", function()
  local r = run("isolate", fixture{id = "1", severity = 10, host = "h"})
  eq(r, {status = "nomatch"})
  no_actions(r)
end)
test("missing entity", function()
  eq(run("isolate", fixture{id = "2", severity = 90}).status, "nomatch")
end)
test("other category", function()
  eq(run("notify", fixture{id = "3", category = "phishing"}).status,
    "nomatch")
end)
test("a changed field matches", function()
  local a = fixture{id = "4", severity = 10, host = "h"}
  a.severity = 60
  eq(run("isolate", a).status, "plan")
end)
test("unknown playbook", function()
  local ok, err = pcall(run, "nope", fixture{id = "5"})
  expect(not ok and err:find('no playbook named "nope"', 1, true), err)
end)
""",
    })
    r = run(d)
    expect_run(r, 0, "5 passed, 0 failed")


def dedup_window(tmp, daemons):
    d = playbook_dir(tmp, {
        "dedup.lua": DEDUP,
        "d_test.lua": """\
local a = fixture{id = "1", host = "ws-1"}
test("second run inside the window is skipped", function()
  eq(run("dedup", a).status, "plan")
  local r = run("dedup", a)
  eq(r, {status = "skip", reason = "dedup"})
  no_actions(r)
  -- Another host has its own window.
  eq(run("dedup", fixture{id = "2", host = "ws-2"}).status, "plan")
end)
test("after the window it runs again", function()
  eq(run("dedup", a, {now = 1800000000}).status, "plan")
  eq(run("dedup", a, {now = 1800000000 + 599}).status, "skip")
  eq(run("dedup", a, {now = 1800000000 + 600}).status, "plan")
  -- Without now the clock goes on 1 s per run from the last one.
  eq(run("dedup", a).status, "skip")
end)
test("each case starts with empty windows", function()
  eq(run("dedup", a).status, "plan")
end)
""",
    })
    r = run(d)
    expect_run(r, 0, "3 passed, 0 failed")


def escalate_prior(tmp, daemons):
    d = playbook_dir(tmp, {
        "escalate.lua": ESCALATE,
        "e_test.lua": """\
local a = fixture{id = "1", host = "ws-1"}
test("prior counts the plans of the window", function()
  local r1 = run("escalate", a)
  eq(r1.prior, 0)
  has_action(r1, "notify", {message = "watch ws-1"})
  local r2 = run("escalate", a)
  eq(r2.prior, 1)
  local r3 = run("escalate", a)
  eq(r3.prior, 2)
  has_action(r3, "mitigate.isolate", {host = "ws-1",
    until_remediated = true})
  eq(r3.logs[1].msg, "prior 2")
  -- Other hosts count apart.
  eq(run("escalate", fixture{id = "2", host = "ws-2"}).prior, 0)
  -- An hour later the window has emptied.
  eq(run("escalate", a, {now = 1700000000 + 7200}).prior, 0)
end)
test("opts.prior overrides", function()
  has_action(run("escalate", a, {prior = 5}), "mitigate.isolate")
end)
""",
    })
    r = run(d)
    expect_run(r, 0, "2 passed, 0 failed")


def top_level_failures(tmp, daemons):
    d = playbook_dir(tmp, {
        "isolate.lua": ISOLATE,
        "a_test.lua": "test('fine', function() end)\n",
        "b_test.lua": "local x = 1\nerror('setup broke')\n"
                      "test('never', function() end)\n",
        "c_test.lua": "test('x', function()\n  local = 2\nend)\n",
        "d_test.lua": "expect(false, 'at the top')\n",
    })
    r = run(d)
    expect_run(r, 1, "1 passed, 3 failed")
    f = fails(r)
    check(f[0] == "FAIL b_test.lua:2: setup broke", f[0])
    check(f[1].startswith("FAIL c_test.lua:2: "), f[1])
    check(f[2] == "FAIL d_test.lua:1: at the top", f[2])


def hostile_test_files(tmp, daemons):
    d = playbook_dir(tmp, {
        "isolate.lua": ISOLATE,
        "a_test.lua": """\
test("spins", function() while true do end end)
test("after", function() end)
""",
        "b_test.lua": """\
local t = {}
for i = 1, 1e9 do t[i] = ("x"):rep(100) .. i end
""",
        "c_test.lua": """\
local function deep(n) return deep(n + 1) + 1 end
test("stack", function() deep(1) end)
test("cycle", function() local u, v = {}, {} u.x = u v.x = v eq(u, v) end)
test("error object", function() error(setmetatable({}, {
  __tostring = function() while true do end end})) end)
test("runs capped", function()
  for i = 1, 2000 do run("isolate", {host = "h", severity = 90}) end
end)
test("still ok", function() end)
""",
    })
    r = run(d, timeout=300)
    expect_run(r, 1, "1 passed, 7 failed")
    out = r.stdout
    check("FAIL a_test.lua:1: spins: the file's instruction budget" in out,
          out)
    check("FAIL a_test.lua:2: after: not run: the file's instruction "
          "budget is spent" in out, out)
    check("FAIL b_test.lua:" in out and "not enough memory" in out, out)
    check("stack: stack overflow" in out, out)
    check("cycle: eq: tables nested deeper than 32" in out, out)
    check("error object: (error object is a table value)" in out, out)
    check("runs capped: run: more than 1000 runs" in out, out)


def usage_errors(tmp, daemons):
    for args in ([], [os.path.join(tmp, "missing")], ["a", "b"],
                 ["--bogus", tmp], ["--assets"],
                 ["--assets", os.path.join(tmp, "none.json"), tmp]):
        r = run(*args)
        check(r.returncode == 2, f"{args}: exit {r.returncode}")
        check("usage" in r.stderr or "No such file" in r.stderr,
              f"{args}: {r.stderr}")


def empty_dir(tmp, daemons):
    """No playbooks and no tests: nothing to fail."""
    d = playbook_dir(tmp, {})
    r = run(d)
    expect_run(r, 0, "0 passed, 0 failed")
    check("no *_test.lua files" in r.stderr, r.stderr)


def assets_option(tmp, daemons):
    d = playbook_dir(tmp, {
        "crit.lua": """\
return playbook{
  name = "crit",
  match = {has = "host"},
  run = function(alert, rd)
    local a = rd.asset(alert.host)
    if a and a.critical then
      rd.ticket{summary = "critical " .. alert.host, approval = "required"}
    else
      rd.mitigate.isolate{host = alert.host, ttl = "30m"}
    end
  end,
}
""",
        "c_test.lua": """\
test("critical hosts get a ticket", function()
  has_action(run("crit", fixture{id = "1", host = "db-1"}), "ticket",
    {approval = "required"})
  has_action(run("crit", fixture{id = "2", host = "ws-1"}),
    "mitigate.isolate", {ttl = "30m"})
end)
""",
    })
    assets = write(tmp, "assets.json", '{"db-1": {"critical": true}}')
    r = run("--assets", assets, d)
    expect_run(r, 0, "1 passed, 0 failed")
    r = run(d)
    expect_run(r, 1, "0 passed, 1 failed")


def match_protected(tmp, daemons):
    """match.protected, checked in C with the inventory the set was loaded
    with: the lookup of rd.protected (exact, any case, short name), tier
    critical or tag protected; false matches unprotected and hostless."""
    d = playbook_dir(tmp, {
        "prot.lua": """\
return playbook{ name = "prot", match = {protected = true},
  run = function(alert, rd) rd.ticket{summary = alert.host} end }
""",
        "unprot.lua": """\
return playbook{ name = "unprot", match = {protected = false},
  run = function(alert, rd) rd.notify{message = alert.host or "none"} end }
""",
        "p_test.lua": """\
local function st(pb, host)
  return run(pb, fixture{id = tostring(host), host = host}).status
end
test("protected hosts", function()
  for _, h in ipairs({"dc01", "DC01", "dc01.corp.example", "db-7",
                      "DB-7.Prod"}) do
    eq(st("prot", h), "plan", h)
    eq(st("unprot", h), "nomatch", h)
  end
end)
test("unprotected, unknown and absent hosts", function()
  for _, h in ipairs({"ws-1", "web", "nowhere.example"}) do
    eq(st("prot", h), "nomatch", h)
    eq(st("unprot", h), "plan", h)
  end
  eq(run("prot", fixture{id = "x"}).status, "nomatch")
  eq(run("unprot", fixture{id = "y"}).status, "plan")
end)
""",
    })
    assets = write(tmp, "inv.json", json.dumps({
        "dc01": {"tier": "critical"},
        "db-7": {"tier": "high", "tags": ["db", "protected"]},
        "ws-1": {"tier": "workstation", "tags": ["finance"]},
        "web": {"tags": "protected"},  # not a list: not protected
    }))
    expect_run(run("--assets", assets, d), 0, "2 passed, 0 failed")
    # Without an inventory nothing is protected: the first test fails at
    # its first host, the second passes.
    r = run(d)
    expect_run(r, 1, "1 passed, 1 failed")
    check('protected hosts: dc01: expected "plan", got "nomatch"'
          in r.stdout, r.stdout)
    # Anything but a boolean is refused at load, with file and line.
    d = playbook_dir(tmp, {
        "bad.lua": "\nreturn playbook{ name = 'bad',\n"
                   "  match = {protected = 'yes'}, run = function() end }\n",
    }, "pb2")
    r = run(d)
    check(r.returncode == 1 and "bad.lua:2:" in r.stderr and
          "playbook.match.protected: expected true or false" in r.stderr,
          f"{r.returncode} {r.stderr}")


CASES = {f.__name__: f for f in (
    all_pass, failing_eq_line, playbook_load_error, has_action_cases,
    fixture_file_and_inline, instruction_budget, nomatch, dedup_window,
    escalate_prior, top_level_failures, hostile_test_files, usage_errors,
    empty_dir, assets_option, match_protected)}

if __name__ == "__main__":
    run_cases(CASES)
