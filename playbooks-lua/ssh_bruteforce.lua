-- ssh-bruteforce-block: SSH brute force reported by Wazuh (sshd rules 5712,
-- 5720, 5758, 5763) from an address outside the organisation.
--   block the source address, 1h for a first offence and twice as long
--   for each earlier block of it in the last 7 days (escalate + rd.prior):
--   1h, 2h, 4h, ... capped at 7d
-- Only the attacker's address (data.srcip) is blocked: when Wazuh gives
-- none the canonical ip is the agent's own, and internal addresses are
-- never blocked. Protected assets (tier "critical" or tag "protected")
-- are left to protected_assets.lua.

local BASE_HOURS = 1
local CAP_HOURS = 7 * 24

-- The block for an address blocked `prior` times in the window before.
local function block_hours(prior)
  local h = BASE_HOURS
  for _ = 1, prior do
    h = h * 2
    if h >= CAP_HOURS then return CAP_HOURS end
  end
  return h
end

-- Loopback, private, link-local, CGNAT, multicast and reserved addresses.
local function is_internal(ip)
  local a, b = ip:match("^(%d+)%.(%d+)%.%d+%.%d+$")
  if a then
    a, b = tonumber(a), tonumber(b)
    return a == 0 or a == 10 or a == 127 or a >= 224
      or (a == 100 and b >= 64 and b <= 127)
      or (a == 169 and b == 254)
      or (a == 172 and b >= 16 and b <= 31)
      or (a == 192 and b == 168)
  end
  local l = ip:lower()
  local v4 = l:match("^::ffff:(%d+%.%d+%.%d+%.%d+)$") -- IPv4-mapped
  if v4 then return is_internal(v4) end
  return l == "::" or l == "::1" or l:match("^f[cd]") ~= nil
    or l:match("^fe[89ab]") ~= nil or l:match("^ff") ~= nil
end

-- raw.data.srcip: the address Wazuh decoded from the log line, or nil.
local function srcip(alert)
  local raw = alert.raw
  local data = type(raw) == "table" and raw.data or nil
  local ip = type(data) == "table" and data.srcip or nil
  return type(ip) == "string" and ip or nil
end

return playbook {
  name = "ssh-bruteforce-block",
  description = "SSH brute force (Wazuh): block the source address, "
    .. "doubling per repeat offence",
  match = {
    source = "wazuh",
    rule = { "5712", "5720", "5758", "5763" },
    min_severity = 53, -- Wazuh level 8 and above
    has = { "ip" },
    when = function(alert)
      return srcip(alert) == alert.ip and not is_internal(alert.ip)
    end,
  },
  -- While the shortest block is in place, the address is not blocked again.
  dedup = { key = "ip", window = "1h" },
  -- rd.prior: the blocks of this address in the last 7 days.
  escalate = { key = "ip", window = "7d" },
  run = function(alert, rd)
    if rd.protected(alert.host) then
      rd.log("info", tostring(alert.host) .. " is protected: left to "
        .. "protected-asset-ticket")
      return
    end
    local hours = block_hours(rd.prior)
    rd.log("info", ("%s: offence %d in 7d, block %dh"):format(alert.ip,
      rd.prior + 1, hours))
    rd.mitigate.block_ip {
      ip = alert.ip,
      ttl = hours .. "h",
      risk = rd.prior >= 3 and "medium" or "low",
      reason = rd.cut(("SSH brute force on %s from %s (Wazuh rule %s, "
        .. "severity %d, alert %s): offence %d in 7 days, blocked %dh")
        :format(alert.host or "?", alert.ip, alert.rule, alert.severity,
          alert.id, rd.prior + 1, hours), 1000),
    }
  end,
}
