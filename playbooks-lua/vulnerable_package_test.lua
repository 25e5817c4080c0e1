-- Tests of vulnerable_package.lua. Run them all with
--   remediad test-playbooks playbooks-lua --assets playbooks-lua/assets.json
-- (the protected-asset case needs the inventory).

local PB = "vulnerable-package-patch"

test("Wazuh finding (High): patch in the weekly window, with approval",
  function()
    -- Found Mon 2026-11-02 09:15 UTC: the next Tuesday window at least 24h
    -- ahead is Tue 2026-11-03 22:00.
    local r = run(PB, fixture("fixtures/wazuh-vuln-openssl.json"))
    local p = has_action(r, "remediate.patch", {
      host = "web-01", package = "openssl", cve = "CVE-2023-0286",
      fixed_version = "1.1.1f-1ubuntu2.17",
      installed_version = "1.1.1f-1ubuntu2.16",
      change_window = "2026-11-03T22:00:00Z/2026-11-04T02:00:00Z",
      approval = "required", risk = "medium", verify = true,
    })
    expect(p.reason:find("change window Tue 2026-11-03 22:00-02:00 UTC", 1,
      true), "the reason names the window: " .. p.reason)
    eq(#r.actions, 1)
  end)

test("critical finding: the next nightly window", function()
  local r = run(PB, fixture("fixtures/wazuh-vuln-sudo-critical.json"))
  local p = has_action(r, "remediate.patch", {
    host = "ws-0231", package = "sudo", approval = "required",
    risk = "high",
    change_window = "2026-11-02T22:00:00Z/2026-11-03T02:00:00Z",
  })
  expect(p.reason:find("nightly", 1, true), p.reason)
end)

test("the window is at least 24h ahead: a finding on Tuesday morning "
  .. "goes to the next week", function()
  local a = fixture("fixtures/wazuh-vuln-openssl.json")
  a.time = "2026-11-03T08:00:00Z"
  has_action(run(PB, a), "remediate.patch",
    { change_window = "2026-11-10T22:00:00Z/2026-11-11T02:00:00Z" })
end)

test("OCSF Security Finding (AWS Inspector) and a generic scanner",
  function()
    has_action(run(PB, fixture("fixtures/ocsf-vuln-inspector.json")),
      "remediate.patch", { host = "web-01.corp.example",
        package = "nghttp2", cve = "CVE-2023-44487",
        approval = "required" })
    has_action(run(PB, fixture("fixtures/generic-vuln-log4j.json")),
      "remediate.patch", { host = "app-07.corp.example",
        package = "log4j-core", fixed_version = "2.17.1",
        approval = "required", risk = "high" })
  end)

test("a finding that names no package: a ticket", function()
  local r = run(PB, fixture({ id = "v-1", category = "vulnerability",
    severity = 60, host = "web-01.corp.example",
    title = "Outdated TLS library" }))
  has_action(r, "ticket", { priority = "P3" })
  eq(#r.actions, 1)
end)

test("low severity and other alerts do not match", function()
  eq(run(PB, fixture("fixtures/wazuh-vuln-low.json")).status, "nomatch")
  eq(run(PB, fixture("fixtures/wazuh-sshd-bruteforce.json")).status,
    "nomatch")
  eq(run(PB, fixture("fixtures/ecs-malware.json")).status, "nomatch")
end)

test("protected server: nothing here, a ticket from "
  .. "protected-asset-ticket", function()
  local a = fixture("fixtures/wazuh-vuln-protected.json") -- db-prod-1
  no_actions(run(PB, a))
  has_action(run("protected-asset-ticket", a), "ticket",
    { owner = "dba-team" })
end)
