-- credential-dumping: credential theft from memory (LSASS access or dump,
-- Mimikatz) reported by the EDR (Elastic Defend, Elastic Endgame; ECS).
--   revoke the user's sessions + rotate the user's credential
-- Rotating a privileged or service account (administrator, krbtgt, svc-*)
-- breaks what runs under it: it needs approval. A machine identity
-- (SYSTEM, LOCAL SERVICE, HOST$) has nothing to revoke: ticket only.
-- Protected assets (tier "critical" or tag "protected") are left to
-- protected_assets.lua. Every rule name below contains "lsass",
-- "credential" or "mimikatz": edr_malware_workstation.lua leaves those
-- alerts to this playbook.

local PRIVILEGED = {
  ["administrator"] = true, ["admin"] = true, ["root"] = true,
  ["krbtgt"] = true, ["domain admins"] = true,
}
local MACHINE = {
  ["system"] = true, ["local service"] = true, ["network service"] = true,
  ["nt authority\\system"] = true,
}

local function privileged(user)
  local u = user:lower()
  return PRIVILEGED[u] or u:match("^svc[-_]") ~= nil
    or u:match("^adm[-_]") ~= nil
end

return playbook {
  name = "credential-dumping",
  description = "Credential dumping: revoke the user's sessions + rotate "
    .. "the credential",
  match = {
    source = "ecs",
    rule = {
      "Credential Dumping via LSASS Access",
      "LSASS Memory Dump Creation",
      "LSASS Memory Dump Handle Access",
      "Potential Credential Access via LSASS Memory Dump",
      "Mimikatz Memssp Log File Detected",
      "Credential Dumping - Detected - Elastic Endgame",
      "Credential Dumping - Prevented - Elastic Endgame",
    },
    min_severity = 47, -- Elastic "medium" and above
    has = { "user" },
  },
  -- One revoke + rotation per user per hour.
  dedup = { key = "user", window = "1h" },
  run = function(alert, rd)
    if rd.protected(alert.host) then
      rd.log("info", alert.host .. " is protected: left to "
        .. "protected-asset-ticket")
      return
    end
    local user = alert.user
    local where = alert.host or "unknown host"
    local why = rd.cut(("%s on %s by %s (process %s, severity %d, alert %s)")
      :format(alert.title or alert.rule, where, user, alert.process or "?",
        alert.severity, alert.id), 1000)
    if MACHINE[user:lower()] or user:sub(-1) == "$" then
      rd.ticket {
        summary = rd.cut(("Credential dumping on %s as %s: find the accounts "
          .. "logged on there"):format(where, user), 250),
        priority = "P2",
        alert_id = alert.id,
        reason = why,
      }
      return
    end
    local priv = privileged(user)
    rd.mitigate.revoke_sessions {
      user = user,
      risk = priv and "medium" or "low",
      reason = why,
    }
    rd.remediate.rotate_credential {
      user = user,
      approval = priv and "required" or "auto",
      risk = priv and "high" or "medium",
      reason = why,
    }
  end,
}
