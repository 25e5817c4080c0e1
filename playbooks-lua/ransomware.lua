-- ransomware-isolate: ransomware behaviour reported by the EDR (Elastic
-- Defend, Elastic Endgame; ECS) at medium severity or above.
--   isolate the host at once (no approval, 24h) + a P1 ticket
-- Servers are isolated too: encryption spreading over shares costs more
-- than the server's downtime. Protected assets (tier "critical" or tag
-- "protected") are left to protected_assets.lua, which opens a P1 ticket.
-- Every rule name below contains "ransom": edr_malware_workstation.lua
-- leaves those alerts to this playbook.

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
    if rd.protected(alert.host) then
      rd.log("info", alert.host .. " is protected: left to "
        .. "protected-asset-ticket")
      return
    end
    local a = rd.asset(alert.host)
    local why = rd.cut(("%s on %s (severity %d, user %s, process %s, "
      .. "alert %s)"):format(alert.title or alert.rule, alert.host,
        alert.severity, alert.user or "?", alert.process or "?", alert.id),
      1000)
    rd.mitigate.isolate {
      host = alert.host,
      ttl = "24h",
      approval = "auto",
      risk = "high",
      reason = why,
    }
    rd.ticket {
      summary = rd.cut("P1 ransomware on " .. alert.host .. ": host isolated",
        250),
      priority = "P1",
      owner = type(a) == "table" and type(a.owner) == "string" and a.owner
        or nil,
      alert_id = alert.id,
      reason = why,
    }
  end,
}
