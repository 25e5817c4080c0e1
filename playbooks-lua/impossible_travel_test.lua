-- Tests of impossible_travel.lua. Run them all with
--   remediad test-playbooks playbooks-lua --assets playbooks-lua/assets.json

local PB = "impossible-travel"
local FIX = "fixtures/ocsf-impossible-travel.json" -- Okta, Critical, NG

test("impossible travel: revoke the user's sessions", function()
  local r = run(PB, fixture(FIX))
  local rv = has_action(r, "mitigate.revoke_sessions",
    { user = "user36@corp.example", approval = "auto", risk = "low" })
  expect(rv.reason:find("185.213.169.100 (NG)", 1, true),
    "the reason gives the address and country: " .. rv.reason)
  eq(#r.actions, 1)
end)

test("other identity findings are skipped by when()", function()
  local r = run(PB, fixture("fixtures/ocsf-brute-force.json"))
  eq(r.status, "skip")
  eq(r.reason, "when")
  local a = fixture(FIX)
  a.title = "Anomalous token use"
  eq(run(PB, a).reason, "when")
end)

test("other vendors' titles match too", function()
  local a = fixture(FIX)
  a.title = "Atypical travel"
  has_action(run(PB, a), "mitigate.revoke_sessions")
end)

test("informational findings and other sources do not match", function()
  local a = fixture(FIX)
  a.severity = 10 -- OCSF Informational
  eq(run(PB, a).status, "nomatch")
  eq(run(PB, fixture("fixtures/ecs-malware.json")).status, "nomatch")
end)

test("built from a table, as an OCSF 2004 finding", function()
  local a = fixture({
    class_uid = 2004, severity_id = 3, time = 1793491217000,
    finding_info = { uid = "f-1", title = "Impossible Travel",
      types = { "Identity" } },
    actor = { user = { name = "alice@corp.example" } },
    src_endpoint = { ip = "203.0.113.9" },
    metadata = { product = { name = "Okta" } },
  })
  eq(a.severity, 50)
  has_action(run(PB, a), "mitigate.revoke_sessions",
    { user = "alice@corp.example" })
end)

test("a finding naming a protected host is left to "
  .. "protected-asset-ticket", function()
  local a = fixture(FIX)
  a.host = "dc01.corp.example"
  no_actions(run(PB, a))
  has_action(run("protected-asset-ticket", a), "ticket")
end)

test("one revocation per user per hour", function()
  local t0 = 1793491200
  has_action(run(PB, fixture(FIX), { now = t0 }), "mitigate.revoke_sessions")
  eq(run(PB, fixture(FIX), { now = t0 + 3599 }).reason, "dedup")
  has_action(run(PB, fixture(FIX), { now = t0 + 3600 }),
    "mitigate.revoke_sessions")
end)
