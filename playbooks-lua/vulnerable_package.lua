-- vulnerable-package-patch: a scanner reports a vulnerable package on a
-- host, at medium severity or above: Wazuh's vulnerability detector
-- (rule group "vulnerability-detector"), an OCSF finding typed
-- "Vulnerability" (or AWS Inspector's CVE type), an ECS or plain JSON alert
-- of category "vulnerability".
--   patch the package in the next change window (approval required; the
--   reason and the change_window parameter name the window)
-- Change windows: weekly, Tuesday 22:00-02:00 UTC, at least 24h after the
-- finding (time for the approval); a critical finding (severity >= 87, or
-- named critical by the scanner) goes to the next nightly window instead,
-- at least 2h ahead. A finding that names no package gets a ticket.
-- Protected assets (tier "critical" or tag "protected") are left to
-- protected_assets.lua.

-- t at a dotted path; each step takes the nested key or the flattened
-- rest ("package.name" as one key), digits index arrays from 1.
local function get(t, path)
  if type(t) ~= "table" then return nil end
  local v = t[path]
  if v ~= nil then return v end
  local from = 1
  while true do
    local dot = path:find(".", from, true)
    if dot == nil then return nil end
    local k = path:sub(1, dot - 1)
    local sub = t[k]
    if sub == nil and k:match("^%d+$") then sub = t[tonumber(k)] end
    v = get(sub, path:sub(dot + 1))
    if v ~= nil then return v end
    from = dot + 1
  end
end

-- The first of the paths that gives a non-empty string.
local function first(raw, paths)
  for _, p in ipairs(paths) do
    local v = get(raw, p)
    if type(v) == "string" and v ~= "" then return v end
  end
  return nil
end

-- What the finding says, whatever its format: package, installed version,
-- fixed version, CVE, the scanner's own severity name.
local function finding(alert)
  local raw = alert.raw
  local f = {
    package = first(raw, {
      "data.vulnerability.package.name",           -- Wazuh
      "vulnerabilities.1.affected_packages.1.name", -- OCSF 1.1+
      "vulnerabilities.1.packages.1.name",         -- OCSF 1.0
      "package.name",                              -- ECS, generic
      "package",                                   -- generic
    }),
    version = first(raw, {
      "data.vulnerability.package.version",
      "vulnerabilities.1.affected_packages.1.version",
      "vulnerabilities.1.packages.1.version",
      "package.version",
    }),
    fixed = first(raw, {
      "vulnerabilities.1.affected_packages.1.fixed_in_version",
      "vulnerability.fixed_version",
      "fixed_version",
    }),
    cve = first(raw, {
      "data.vulnerability.cve",
      "vulnerabilities.1.cve.uid",
      "vulnerability.id",
      "cve",
    }),
    severity = first(raw, {
      "data.vulnerability.severity",
      "vulnerabilities.1.severity",
      "vulnerability.severity",
    }),
  }
  if f.fixed == nil then
    -- Wazuh: "Package less than 3.0.13"
    local cond = first(raw, { "data.vulnerability.package.condition" })
    f.fixed = cond and cond:match("less than%s+(%S+)") or nil
  end
  return f
end

-- Seconds since the epoch of a canonical time (UTC), or nil.
local function epoch(s)
  if s == nil then return nil end
  local y, mo, d, h, mi, se = s:match(
    "^(%d%d%d%d)-(%d%d)-(%d%d)T(%d%d):(%d%d):(%d%d)")
  if y == nil then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  -- days from civil (proleptic Gregorian)
  if mo <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * ((mo + 9) % 12) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60
    + tonumber(se)
end

-- Critical: Wazuh level 13+ (87), OCSF Critical (90), Elastic critical (99),
-- or the scanner's own severity name.
local CRITICAL = 87

local WEEKLY = { wday = 2, hour = 22, hours = 4, notice = 24 } -- Tuesday
local NIGHTLY = { hour = 22, hours = 4, notice = 2 }

-- Start of the first window at least `notice` hours after t (UTC).
local function next_window(t, w)
  local earliest = t + w.notice * 3600
  local day = earliest // 86400
  for i = 0, 8 do
    local start = (day + i) * 86400 + w.hour * 3600
    local wday = (day + i + 4) % 7 -- 1970-01-01 was a Thursday
    if start >= earliest and (w.wday == nil or wday == w.wday) then
      return start
    end
  end
end

return playbook {
  name = "vulnerable-package-patch",
  description = "Vulnerable package: patch in the next change window "
    .. "(approval required)",
  match = {
    category = {
      "vulnerability-detector",  -- Wazuh rule group
      "vulnerability",           -- ECS event.category, generic
      "Vulnerability",           -- OCSF finding type
      "Software and Configuration Checks/Vulnerabilities/CVE", -- AWS (ASFF)
    },
    min_severity = 47, -- medium and above (Wazuh level 7)
    has = { "host" },
  },
  run = function(alert, rd)
    if rd.protected(alert.host) then
      rd.log("info", alert.host .. " is protected: left to "
        .. "protected-asset-ticket")
      return
    end
    local f = finding(alert)
    local cve = f.cve or "unknown CVE"
    if f.package == nil then
      rd.log("warn", "no package in finding " .. alert.id)
      rd.ticket {
        summary = rd.cut(("Vulnerability on %s: %s (no package named)"):format(
          alert.host, alert.title or cve), 250),
        priority = "P3",
        alert_id = alert.id,
      }
      return
    end
    local now = epoch(alert.time) or epoch(alert.received_at) or os.time()
    local critical = alert.severity >= CRITICAL
      or (f.severity or ""):lower() == "critical"
    local w = critical and NIGHTLY or WEEKLY
    local start = next_window(now, w)
    local stop = start + w.hours * 3600
    local window = os.date("!%a %Y-%m-%d %H:%M", start) .. "-"
      .. os.date("!%H:%M", stop) .. " UTC"
    rd.remediate.patch {
      host = alert.host,
      package = f.package,
      fixed_version = f.fixed,
      installed_version = f.version,
      cve = f.cve,
      change_window = os.date("!%Y-%m-%dT%H:%M:%SZ", start) .. "/"
        .. os.date("!%Y-%m-%dT%H:%M:%SZ", stop),
      approval = "required",
      risk = critical and "high" or "medium",
      reason = rd.cut(("%s in %s%s on %s (severity %d, alert %s): patch%s in "
        .. "the change window %s (%s)"):format(cve, f.package,
          f.version and (" " .. f.version) or "", alert.host, alert.severity,
          alert.id, f.fixed and (" to " .. f.fixed) or "", window,
          critical and "critical: next nightly window" or "next weekly "
          .. "window"), 1000),
    }
  end,
}
