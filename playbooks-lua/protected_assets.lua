-- protected-asset-ticket: any alert on a protected asset (inventory tier
-- "critical" or tag "protected": domain controllers, production databases,
-- executives' machines) gets a ticket for the asset's owner, and nothing
-- else: no isolation, block or rotation is automatic there. Every other
-- playbook that names a host checks the same rule and leaves these alerts
-- alone, so the plans never conflict.
--   priority: P1 for ransomware or severity >= 90, P2 for >= 70 or a
--   critical-tier asset, else P3
-- The inventory is `playbooks.assets` (see assets.json); a host is looked
-- up by the name the alert gives, then by its short name. The check needs
-- rd.asset, which match.when cannot use: a host that is not protected
-- gives an empty plan.

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

-- Tier "critical" or tagged "protected".
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

local function priority(alert, a)
  local what = ((alert.rule or "") .. " " .. (alert.title or "")):lower()
  local sev = alert.severity or 0
  if what:find("ransom", 1, true) or sev >= 90 then return "P1" end
  if sev >= 70 or a.tier == "critical" then return "P2" end
  return "P3"
end

return playbook {
  name = "protected-asset-ticket",
  description = "Any alert on a protected asset: a ticket for its owner, "
    .. "no automatic action",
  match = {
    has = { "host" },
  },
  run = function(alert, rd)
    local a = asset_of(rd, alert.host)
    if not is_protected(a) then return end
    local what = alert.title or alert.rule or alert.category or "alert"
    local tier = a.tier or "?"
    rd.ticket {
      summary = cut(("[protected %s] %s on %s"):format(tier, what,
        alert.host), 250),
      priority = priority(alert, a),
      owner = type(a.owner) == "string" and a.owner or nil,
      alert_id = alert.id,
      source = alert.source,
      reason = cut(("%s is protected (tier %s): no automatic action; "
        .. "%s alert, rule %s, severity %s, user %s, ip %s"):format(
          alert.host, tier, alert.source, alert.rule or "?",
          tostring(alert.severity or "?"), alert.user or "?",
          alert.ip or "?"), 1000),
    }
  end,
}
