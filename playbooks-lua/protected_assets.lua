-- protected-asset-ticket: any alert on a protected asset (inventory tier
-- "critical" or tag "protected": domain controllers, production databases,
-- executives' machines) gets a ticket for the asset's owner, and nothing
-- else: no isolation, block or rotation is automatic there. Every other
-- playbook that names a host checks the same rule and leaves these alerts
-- alone, so the plans never conflict.
--   priority: P1 for ransomware or severity >= 90, P2 for >= 70 or a
--   critical-tier asset, else P3
-- The inventory is `playbooks.assets` (see assets.json); match.protected
-- (like rd.protected) looks a host up by the name the alert gives
-- (exactly, then in any case), then by its short name. The check is made
-- in C before any worker runs: an alert on a host that is not protected
-- does not match at all.

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
    protected = true,
  },
  run = function(alert, rd)
    local a = rd.asset(alert.host)
    local what = alert.title or alert.rule or alert.category or "alert"
    local tier = a.tier or "?"
    rd.ticket {
      summary = rd.cut(("[protected %s] %s on %s"):format(tier, what,
        alert.host), 250),
      priority = priority(alert, a),
      owner = type(a.owner) == "string" and a.owner or nil,
      alert_id = alert.id,
      source = alert.source,
      reason = rd.cut(("%s is protected (tier %s): no automatic action; "
        .. "%s alert, rule %s, severity %s, user %s, ip %s"):format(
          alert.host, tier, alert.source, alert.rule or "?",
          tostring(alert.severity or "?"), alert.user or "?",
          alert.ip or "?"), 1000),
    }
  end,
}
