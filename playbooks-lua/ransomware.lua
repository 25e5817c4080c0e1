-- ransomware-isolate: ransomware behaviour reported by the EDR (Elastic
-- Defend, Elastic Endgame; ECS) at medium severity or above.
--   isolate the host at once (no approval, 24h) + a P1 ticket
-- Servers are isolated too: encryption spreading over shares costs more
-- than the server's downtime. Protected assets (tier "critical" or tag
-- "protected") are left to protected_assets.lua, which opens a P1 ticket.
-- Every rule name below contains "ransom": edr_malware_workstation.lua
-- leaves those alerts to this playbook.

-- ---- shared helpers (each playbook has its own state: no require) ----

-- The inventory entry of a host: by the name the alert gives, else by its
-- short name (Wazuh agent names are short, ECS/Falco give FQDNs).
local function asset_of(rd, host)
  if host == nil then return nil end
  host = host:lower()
  local a = rd.asset(host)
  if a == nil then
    local short = host:match("^([^.]+)%.")
    if short then a = rd.asset(short) end
  end
  if type(a) ~= "table" then return nil end
  return a
end

-- Tier "critical" or tagged "protected": protected_assets.lua tickets it.
local function is_protected(a)
  if a == nil then return false end
  if a.tier == "critical" then return true end
  if type(a.tags) == "table" then
    for _, t in ipairs(a.tags) do
      if t == "protected" then return true end
    end
  end
  return false
end

-- At most max bytes, cut at a UTF-8 character boundary.
local function cut(s, max)
  s = tostring(s or "")
  if #s <= max then return s end
  local i = max + 1
  while i > 1 and (s:byte(i) & 0xC0) == 0x80 do i = i - 1 end
  return s:sub(1, i - 1)
end

-- ---- this playbook ----

return playbook {
  name = "ransomware-isolate",
  description = "Ransomware behaviour: isolate the host at once + P1 ticket",
  match = {
    source = "ecs",
    rule = {
      "Ransomware Behavior",
      "Ransomware Detection Alert",
      "Ransomware Prevention Alert",
      "Ransomware - Detected - Elastic Endgame",
      "Ransomware - Prevented - Elastic Endgame",
    },
    min_severity = 47, -- Elastic "medium" and above
    has = { "host" },
  },
  -- One isolation and one P1 ticket per host per hour.
  dedup = { key = "host", window = "1h" },
  run = function(alert, rd)
    local a = asset_of(rd, alert.host)
    if is_protected(a) then
      rd.log("info", alert.host .. " is protected: left to "
        .. "protected-asset-ticket")
      return
    end
    local why = cut(("%s on %s (severity %d, user %s, process %s, alert %s)")
      :format(alert.title or alert.rule, alert.host, alert.severity,
        alert.user or "?", alert.process or "?", alert.id), 1000)
    rd.mitigate.isolate {
      host = alert.host,
      ttl = "24h",
      approval = "auto",
      risk = "high",
      reason = why,
    }
    rd.ticket {
      summary = cut("P1 ransomware on " .. alert.host .. ": host isolated",
        250),
      priority = "P1",
      owner = a and type(a.owner) == "string" and a.owner or nil,
      alert_id = alert.id,
      reason = why,
    }
  end,
}
