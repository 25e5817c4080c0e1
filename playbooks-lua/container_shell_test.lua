-- Tests of container_shell.lua. Run them all with
--   remediad test-playbooks playbooks-lua --assets playbooks-lua/assets.json
-- (the protected-asset case needs the inventory).

local PB = "container-shell-quarantine"
local PAYMENTS = "fixtures/falco-shell-payments.json" -- Error, payments ns
local SYSTEM = "fixtures/falco-shell-kube-system.json" -- Critical, kube-system

-- A Falco event as falcosidekick forwards it.
local function falco(t)
  return fixture({
    uuid = t.uuid or "5b0f6ad0-6e4a-4a51-9d34-1f6c0b8e1f00",
    output = "Shell spawned in a container (user=root shell=bash)",
    priority = t.priority or "Warning",
    rule = t.rule or "Terminal shell in container",
    time = "2026-11-01T00:10:00.000000000Z",
    source = "syscall",
    hostname = t.hostname or "ws-0147.corp.example",
    tags = { "container", "shell", "mitre_execution" },
    output_fields = {
      ["container.id"] = t.container or "0123456789ab",
      ["k8s.ns.name"] = t.ns or "default",
      ["k8s.pod.name"] = t.pod or "api-0a1b2c3d",
      ["proc.cmdline"] = "bash",
      ["user.name"] = "root",
    },
  })
end

test("shell in an application pod: quarantine it for 24h, no approval",
  function()
    local r = run(PB, fixture(PAYMENTS))
    local q = has_action(r, "mitigate.quarantine_pod", {
      container = "82d22bec9029", namespace = "payments",
      pod = "api-19dd1c49", ttl = "24h", approval = "auto",
      risk = "medium",
    })
    eq(q.rollback, "release_pod")
    eq(#r.actions, 1)
  end)

test("in a system namespace the quarantine needs approval", function()
  has_action(run(PB, fixture(SYSTEM)), "mitigate.quarantine_pod", {
    container = "11fa079dd25a", namespace = "kube-system",
    approval = "required", risk = "high",
  })
end)

test("Warning and above; Notice does not match", function()
  has_action(run(PB, falco({ priority = "Warning" })),
    "mitigate.quarantine_pod")
  eq(run(PB, falco({ priority = "Notice" })).status, "nomatch")
end)

test("reverse shells match too; other Falco rules do not", function()
  has_action(run(PB, falco({
    rule = "Redirect STDOUT/STDIN to Network Connection in Container",
    priority = "Critical" })), "mitigate.quarantine_pod")
  eq(run(PB, falco({ rule = "Write below etc" })).status, "nomatch")
end)

test("outside any container (container.id \"host\") does not match",
  function()
    local a = falco({ container = "host" })
    eq(a.container, nil)
    eq(run(PB, a).status, "nomatch")
  end)

test("namespace and pod Falco could not resolve are left out", function()
  local r = run(PB, falco({ ns = "<NA>", pod = "<NA>" }))
  local q = has_action(r, "mitigate.quarantine_pod",
    { container = "0123456789ab", approval = "auto" })
  eq(q.params.namespace, nil)
  eq(q.params.pod, nil)
end)

test("not Falco: does not match", function()
  eq(run(PB, fixture("fixtures/ecs-malware.json")).status, "nomatch")
end)

test("on a protected node: nothing here, a ticket from "
  .. "protected-asset-ticket", function()
  for _, h in ipairs({ "db-prod-1.corp.example", "dc01.corp.example" }) do
    local a = falco({ hostname = h })
    no_actions(run(PB, a))
    has_action(run("protected-asset-ticket", a), "ticket")
  end
end)

test("one quarantine per container per day", function()
  local t0 = 1793491200
  has_action(run(PB, fixture(PAYMENTS), { now = t0 }),
    "mitigate.quarantine_pod")
  eq(run(PB, fixture(PAYMENTS), { now = t0 + 23 * 3600 }).reason, "dedup")
  has_action(run(PB, fixture(SYSTEM), { now = t0 + 23 * 3600 }),
    "mitigate.quarantine_pod", { container = "11fa079dd25a" })
end)
