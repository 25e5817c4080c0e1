-- Tests of ransomware.lua. Run them all with
--   remediad test-playbooks playbooks-lua --assets playbooks-lua/assets.json
-- (the protected-asset cases need the inventory).

local PB = "ransomware-isolate"
local FIX = "fixtures/ecs-ransomware.json" -- "Ransomware Behavior", ws-0231

test("ransomware on a workstation: isolate 24h at once and a P1 ticket",
  function()
    local r = run(PB, fixture(FIX))
    local iso = has_action(r, "mitigate.isolate", {
      host = "ws-0231.corp.example", ttl = "24h", approval = "auto",
      risk = "high",
    })
    eq(iso.rollback, "unisolate")
    eq(iso.ttl_ms, 24 * 3600 * 1000)
    local t = has_action(r, "ticket", { priority = "P1", owner = "user262" })
    expect(t.params.summary:find("ransomware", 1, true),
      "the summary says ransomware: " .. t.params.summary)
    eq(#r.actions, 2, "isolate + ticket only")
  end)

test("a server is isolated too (by inventory: web-01)", function()
  local a = fixture(FIX)
  a.host = "web-01.corp.example"
  local r = run(PB, a)
  has_action(r, "mitigate.isolate", { host = "web-01.corp.example" })
  has_action(r, "ticket", { priority = "P1", owner = "web-team" })
end)

test("medium severity still isolates; low does not match", function()
  local a = fixture(FIX)
  a.severity = 47
  has_action(run(PB, a), "mitigate.isolate")
  a = fixture(FIX)
  a.severity = 21
  eq(run(PB, a).status, "nomatch")
end)

test("other EDR rules are not this playbook's", function()
  eq(run(PB, fixture("fixtures/ecs-malware.json")).status, "nomatch")
  eq(run(PB, fixture("fixtures/ecs-credential-dumping.json")).status,
    "nomatch")
  eq(run(PB, fixture("fixtures/falco-shell-payments.json")).status,
    "nomatch")
end)

test("and the generic malware playbook leaves ransomware alone", function()
  local r = run("edr-malware-workstation", fixture(FIX))
  eq(r.status, "skip")
  eq(r.reason, "when")
end)

test("protected workstation: nothing here, a P1 ticket from "
  .. "protected-asset-ticket", function()
  local a = fixture(FIX)
  a.host = "ws-0248.corp.example" -- tagged protected
  no_actions(run(PB, a))
  has_action(run("protected-asset-ticket", a), "ticket",
    { priority = "P1", owner = "cfo-office" })
end)

test("critical tier (domain controller, short name): nothing here",
  function()
    local a = fixture(FIX)
    a.host = "DC01" -- looked up lower-cased
    no_actions(run(PB, a))
    has_action(run("protected-asset-ticket", a), "ticket",
      { priority = "P1", owner = "identity-team" })
  end)

test("one isolation per host per hour", function()
  local t0 = 1793491200
  local a = fixture(FIX)
  has_action(run(PB, a, { now = t0 }), "mitigate.isolate")
  local r = run(PB, a, { now = t0 + 1800 })
  eq(r.status, "skip")
  eq(r.reason, "dedup")
  a.host = "ws-0055.corp.example" -- another host is not held back
  has_action(run(PB, a, { now = t0 + 1801 }), "mitigate.isolate",
    { host = "ws-0055.corp.example" })
  a.host = "ws-0231.corp.example"
  has_action(run(PB, a, { now = t0 + 3601 }), "mitigate.isolate")
end)
