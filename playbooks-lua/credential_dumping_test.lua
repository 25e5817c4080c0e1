-- Tests of credential_dumping.lua. Run them all with
--   remediad test-playbooks playbooks-lua --assets playbooks-lua/assets.json
-- (the protected-asset cases need the inventory).

local PB = "credential-dumping"
local FIX = "fixtures/ecs-credential-dumping.json" -- LSASS, user0, ws-0055

local function as(user)
  local a = fixture(FIX)
  a.user = user
  return a
end

test("revoke the user's sessions and rotate the credential", function()
  local r = run(PB, fixture(FIX))
  local rv = has_action(r, "mitigate.revoke_sessions",
    { user = "user0", approval = "auto", risk = "low" })
  eq(rv.rollback, nil, "revoking has no rollback")
  eq(rv.ttl, nil)
  local rot = has_action(r, "remediate.rotate_credential",
    { user = "user0", approval = "auto" })
  eq(rot.verify, true)
  expect(rot.reason:find("ws-0055.corp.example", 1, true),
    "the reason names the host")
  eq(#r.actions, 2)
end)

test("privileged and service accounts: rotation needs approval", function()
  for _, u in ipairs({ "administrator", "svc-backup", "Administrator" }) do
    local r = run(PB, as(u))
    has_action(r, "mitigate.revoke_sessions", { user = u })
    has_action(r, "remediate.rotate_credential",
      { user = u, approval = "required", risk = "high" })
  end
end)

test("a machine identity has nothing to revoke: ticket only", function()
  for _, u in ipairs({ "SYSTEM", "WS-0055$" }) do
    local r = run(PB, as(u))
    has_action(r, "ticket", { priority = "P2" })
    eq(#r.actions, 1, u .. ": ticket only")
  end
end)

test("low severity, other rules and alerts without a user do not match",
  function()
    local a = fixture(FIX)
    a.severity = 21
    eq(run(PB, a).status, "nomatch")
    eq(run(PB, fixture("fixtures/ecs-malware.json")).status, "nomatch")
    eq(run(PB, fixture("fixtures/ecs-ransomware.json")).status, "nomatch")
    a = fixture(FIX)
    a.user = nil
    eq(run(PB, a).status, "nomatch")
  end)

test("the generic malware playbook leaves credential dumping alone",
  function()
    eq(run("edr-malware-workstation", fixture(FIX)).reason, "when")
  end)

test("on a protected asset: nothing here, a ticket from "
  .. "protected-asset-ticket", function()
  for _, h in ipairs({ "ws-0248.corp.example", "dc01.corp.example",
    "db-prod-1" }) do
    local a = fixture(FIX)
    a.host = h
    no_actions(run(PB, a))
    has_action(run("protected-asset-ticket", a), "ticket")
  end
end)

test("one response per user per hour", function()
  local t0 = 1793491200
  has_action(run(PB, fixture(FIX), { now = t0 }), "mitigate.revoke_sessions")
  eq(run(PB, fixture(FIX), { now = t0 + 60 }).reason, "dedup")
  has_action(run(PB, as("user7"), { now = t0 + 61 }),
    "mitigate.revoke_sessions", { user = "user7" })
end)
