-- Tests of ssh_bruteforce.lua. Run them all with
--   remediad test-playbooks playbooks-lua --assets playbooks-lua/assets.json
-- (the protected-asset case needs the inventory).

local PB = "ssh-bruteforce-block"
local FIX = "fixtures/wazuh-sshd-bruteforce.json" -- 5712, level 12, ws-0312
local IP = "193.24.53.28"
local T0 = 1793491200
local HOUR = 3600

-- A Wazuh sshd alert as the manager sends it.
local function wazuh(t)
  return fixture({
    timestamp = "2026-11-01T00:00:10+0000",
    id = t.id or "1700000010.199020",
    rule = { level = t.level or 10, id = t.rule or "5712",
      description = "sshd: brute force trying to get access to the system.",
      groups = { "syslog", "sshd", "authentication_failures" } },
    agent = { id = "312", name = t.agent or "ws-0312", ip = "10.2.8.40" },
    manager = { name = "wazuh-manager" },
    data = { srcip = t.srcip, srcuser = "admin" },
    location = "/var/log/auth.log",
  })
end

test("first offence: block the source address for 1h", function()
  local r = run(PB, fixture(FIX))
  local b = has_action(r, "mitigate.block_ip",
    { ip = IP, ttl = "1h", approval = "auto" })
  eq(b.ttl_ms, HOUR * 1000)
  eq(b.rollback, "unblock_ip")
  eq(r.prior, 0)
  eq(#r.actions, 1)
end)

test("the block doubles with rd.prior: 0, 1, 2 -> 1h, 2h, 4h", function()
  local want = { [0] = "1h", [1] = "2h", [2] = "4h", [3] = "8h" }
  for prior = 0, 3 do
    -- Each run past the 1h dedup window of the one before.
    local r = run(PB, fixture(FIX),
      { prior = prior, now = T0 + prior * 2 * HOUR })
    eq(r.prior, prior)
    has_action(r, "mitigate.block_ip", { ip = IP, ttl = want[prior] })
  end
end)

test("the block is capped at 7 days", function()
  has_action(run(PB, fixture(FIX), { prior = 7, now = T0 }),
    "mitigate.block_ip", { ttl = "128h" })
  has_action(run(PB, fixture(FIX), { prior = 8, now = T0 + 2 * HOUR }),
    "mitigate.block_ip", { ttl = "168h" })
  has_action(run(PB, fixture(FIX), { prior = 500, now = T0 + 4 * HOUR }),
    "mitigate.block_ip", { ttl = "168h", risk = "medium" })
end)

test("repeat offences counted by escalate: 1h, 2h, 4h; dedup in between",
  function()
    local r = run(PB, fixture(FIX), { now = T0 })
    eq(r.prior, 0)
    has_action(r, "mitigate.block_ip", { ip = IP, ttl = "1h" })
    -- Still inside the 1h dedup window: not run at all.
    r = run(PB, fixture(FIX), { now = T0 + 30 * 60 })
    eq(r.status, "skip")
    eq(r.reason, "dedup")
    r = run(PB, fixture(FIX), { now = T0 + HOUR + 1 })
    eq(r.prior, 1)
    has_action(r, "mitigate.block_ip", { ip = IP, ttl = "2h" })
    r = run(PB, fixture(FIX), { now = T0 + 2 * HOUR + 2 })
    eq(r.prior, 2)
    has_action(r, "mitigate.block_ip", { ip = IP, ttl = "4h" })
    -- Another address starts from the beginning.
    r = run(PB, wazuh({ srcip = "45.13.7.9" }), { now = T0 + 2 * HOUR + 3 })
    eq(r.prior, 0)
    has_action(r, "mitigate.block_ip", { ip = "45.13.7.9", ttl = "1h" })
  end)

test("offences older than 7 days are forgotten", function()
  has_action(run(PB, fixture(FIX), { now = T0 }), "mitigate.block_ip",
    { ttl = "1h" })
  local r = run(PB, fixture(FIX), { now = T0 + 7 * 24 * HOUR + 1 })
  eq(r.prior, 0)
  has_action(r, "mitigate.block_ip", { ttl = "1h" })
end)

test("internal or missing source addresses are never blocked", function()
  for _, ip in ipairs({ "10.1.2.3", "192.168.0.7", "172.20.1.1",
    "127.0.0.1", "fd00::1", "::ffff:10.9.8.7" }) do
    local r = run(PB, wazuh({ srcip = ip }))
    eq(r.status, "skip", ip)
    eq(r.reason, "when", ip)
  end
  -- No data.srcip: the canonical ip is the agent's own address.
  local a = wazuh({})
  eq(a.ip, "10.2.8.40")
  eq(run(PB, a).reason, "when")
end)

test("low levels, other rules and other sources do not match", function()
  eq(run(PB, wazuh({ srcip = IP, level = 5 })).status, "nomatch")
  eq(run(PB, wazuh({ srcip = IP, rule = "5501" })).status, "nomatch")
  has_action(run(PB, wazuh({ srcip = IP, rule = "5763", level = 10 })),
    "mitigate.block_ip")
  eq(run(PB, fixture("fixtures/ocsf-brute-force.json")).status, "nomatch")
end)

test("an attack on a protected asset: nothing here, a ticket from "
  .. "protected-asset-ticket", function()
  local a = wazuh({ srcip = IP, agent = "dc01" })
  no_actions(run(PB, a))
  has_action(run("protected-asset-ticket", a), "ticket",
    { owner = "identity-team" })
end)
