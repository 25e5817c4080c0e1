-- impossible-travel: an identity provider (Okta, Entra ID, ...) reports, as
-- an OCSF Detection Finding, sign-ins from places too far apart for the
-- time between them ("Impossible travel", "Atypical travel").
--   revoke the user's sessions (the user signs in again, with MFA)
-- Low severity and above; informational findings are left alone. Such a
-- finding seldom names a host; when it names a protected one (tier
-- "critical" or tag "protected") it is left to protected_assets.lua.

-- Titles identity providers give the finding (lower case, plain text).
local TITLES = { "impossible travel", "atypical travel" }

-- raw.src_endpoint.location.country, or nil.
local function country(alert)
  local raw = alert.raw
  local ep = type(raw) == "table" and raw.src_endpoint or nil
  local loc = type(ep) == "table" and ep.location or nil
  local c = type(loc) == "table" and loc.country or nil
  return type(c) == "string" and c or nil
end

return playbook {
  name = "impossible-travel",
  description = "Impossible travel (OCSF identity finding): revoke the "
    .. "user's sessions",
  match = {
    source = "ocsf",
    min_severity = 25, -- OCSF Low and above
    has = { "user" },
    when = function(alert)
      local t = (alert.title or ""):lower()
      for _, w in ipairs(TITLES) do
        if t:find(w, 1, true) then return true end
      end
      return false
    end,
  },
  -- One revocation per user per hour.
  dedup = { key = "user", window = "1h" },
  run = function(alert, rd)
    if rd.protected(alert.host) then
      rd.log("info", alert.host .. " is protected: left to "
        .. "protected-asset-ticket")
      return
    end
    local from = alert.ip or "?"
    local c = country(alert)
    if c then from = from .. " (" .. c .. ")" end
    rd.mitigate.revoke_sessions {
      user = alert.user,
      risk = "low",
      reason = rd.cut(("%s: %s signed in from %s (%s, severity %d, "
        .. "finding %s)"):format(alert.title, alert.user, from,
          alert.rule or "identity provider", alert.severity, alert.id),
        1000),
    }
  end,
}
