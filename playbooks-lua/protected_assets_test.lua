-- Tests of protected_assets.lua, and of the rule every other playbook
-- keeps: on a protected asset, protected-asset-ticket alone acts. Run them
-- all with
--   remediad test-playbooks playbooks-lua --assets playbooks-lua/assets.json
-- (these cases need the inventory).

local PB = "protected-asset-ticket"

local OTHERS = {
  "edr-malware-workstation", "ransomware-isolate", "credential-dumping",
  "impossible-travel", "ssh-bruteforce-block",
  "container-shell-quarantine", "vulnerable-package-patch",
}

-- One alert of each kind the other playbooks act on.
local FIXTURES = {
  "fixtures/ecs-malware.json", "fixtures/ecs-ransomware.json",
  "fixtures/ecs-credential-dumping.json",
  "fixtures/ocsf-impossible-travel.json",
  "fixtures/wazuh-sshd-bruteforce.json",
  "fixtures/falco-shell-payments.json",
  "fixtures/falco-shell-kube-system.json",
  "fixtures/wazuh-vuln-openssl.json",
}

local function on(file, host)
  local a = fixture(file)
  a.host = host
  return a
end

local function count_actions(a)
  local n = 0
  for _, pb in ipairs(OTHERS) do
    local r = run(pb, a)
    if r.status == "plan" then n = n + #r.actions end
    expect(r.status ~= "error" and r.status ~= "invalid",
      pb .. ": " .. tostring(r.error))
  end
  return n
end

test("the inventory is loaded", function()
  local r = run(PB, on("fixtures/ecs-malware.json", "dc01"))
  expect(r.status == "plan" and #r.actions == 1, "no ticket for dc01: run "
    .. "with --assets playbooks-lua/assets.json (the protected-asset cases "
    .. "of every *_test.lua need it)")
end)

test("critical tier (domain controller): a ticket for its owner",
  function()
    local r = run(PB, on("fixtures/wazuh-sshd-bruteforce.json", "dc01"))
    local t = has_action(r, "ticket", { owner = "identity-team",
      priority = "P2" }) -- critical tier, severity 80
    expect(t.params.summary:find("[protected critical]", 1, true),
      t.params.summary)
    expect(t.reason:find("no automatic action", 1, true), t.reason)
    eq(#r.actions, 1, "ticket only")
  end)

test("tagged protected, by full or short name, any case", function()
  for _, h in ipairs({ "db-prod-1.corp.example", "db-prod-1",
    "WS-0248.CORP.EXAMPLE" }) do
    has_action(run(PB, on("fixtures/falco-shell-payments.json", h)),
      "ticket")
  end
end)

test("priority: P1 for ransomware or severity >= 90, P2 >= 70, else P3",
  function()
    local a = on("fixtures/ecs-ransomware.json", "ws-0248.corp.example")
    a.severity = 47
    has_action(run(PB, a), "ticket", { priority = "P1" })
    a = on("fixtures/ecs-malware.json", "ws-0248.corp.example")
    a.severity = 99
    has_action(run(PB, a), "ticket", { priority = "P1" })
    a.severity = 73
    has_action(run(PB, a), "ticket", { priority = "P2" })
    a.severity = 21
    has_action(run(PB, a), "ticket", { priority = "P3" })
    a.severity = nil
    has_action(run(PB, a), "ticket", { priority = "P3" })
  end)

test("an asset that is not protected, or not in the inventory: no match",
  function()
    for _, host in ipairs({ "web-01.corp.example", "ws-0347.corp.example",
      "WEB-01", "unknown" }) do
      eq(run(PB, on("fixtures/ecs-malware.json", host)).status, "nomatch",
        host)
    end
  end)

test("a protected asset matches by exact, any-case and short name",
  function()
    for _, host in ipairs({ "dc01", "DC01", "dc01.corp.example",
      "DC01.CORP.EXAMPLE", "ws-0248" }) do
      eq(run(PB, on("fixtures/ecs-malware.json", host)).status, "plan", host)
    end
  end)

test("an alert without a host does not match", function()
  eq(run(PB, fixture("fixtures/ocsf-impossible-travel.json")).status,
    "nomatch")
end)

test("on a protected asset no other playbook acts", function()
  for _, host in ipairs({ "dc01.corp.example", "dc01",
    "db-prod-1.corp.example", "ws-0248" }) do
    for _, file in ipairs(FIXTURES) do
      local a = on(file, host)
      eq(count_actions(a), 0, file .. " on " .. host)
      has_action(run(PB, a), "ticket")
    end
  end
end)

test("... while on an ordinary host each of those alerts gets actions",
  function()
    for _, file in ipairs(FIXTURES) do
      local a = on(file, "ws-0100.corp.example")
      expect(count_actions(a) > 0, file .. ": no playbook acted")
      no_actions(run(PB, a))
    end
  end)
