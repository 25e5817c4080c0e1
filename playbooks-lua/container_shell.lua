-- container-shell-quarantine: Falco sees an interactive or reverse shell
-- inside a container (Warning priority and above).
--   quarantine the pod for 24h (network-isolated, kept for forensics)
-- System namespaces (kube-system, ...) run the cluster itself: there the
-- quarantine needs approval. The Kubernetes namespace and pod from Falco's
-- output_fields go along as parameters. Protected assets (the node, by
-- tier "critical" or tag "protected") are left to protected_assets.lua.

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

local SYSTEM_NAMESPACES = {
  ["kube-system"] = true, ["kube-public"] = true,
  ["kube-node-lease"] = true, ["istio-system"] = true,
  ["calico-system"] = true, ["gatekeeper-system"] = true,
}

-- raw.output_fields[key] when Falco resolved it ("<NA>" and null: not).
local function field(alert, key)
  local raw = alert.raw
  local f = type(raw) == "table" and raw.output_fields or nil
  local v = type(f) == "table" and f[key] or nil
  if type(v) ~= "string" or v == "" or v == "<NA>" then return nil end
  return v
end

return playbook {
  name = "container-shell-quarantine",
  description = "Shell in a container (Falco): quarantine the pod",
  match = {
    source = "falco",
    rule = {
      "Terminal shell in container",
      "Run shell untrusted",
      "Netcat Remote Code Execution in Container",
      "Redirect STDOUT/STDIN to Network Connection in Container",
    },
    min_severity = 50, -- Falco Warning and above
    has = { "container" },
  },
  -- One quarantine per container while it would still be in place.
  dedup = { key = "container", window = "24h" },
  run = function(alert, rd)
    if is_protected(asset_of(rd, alert.host)) then
      rd.log("info", tostring(alert.host) .. " is protected: left to "
        .. "protected-asset-ticket")
      return
    end
    local ns = field(alert, "k8s.ns.name")
    local pod = field(alert, "k8s.pod.name")
    local system = ns ~= nil and SYSTEM_NAMESPACES[ns] == true
    rd.mitigate.quarantine_pod {
      container = alert.container,
      namespace = ns,
      pod = pod,
      ttl = "24h",
      approval = system and "required" or "auto",
      risk = system and "high" or "medium",
      reason = cut(("%s: %s on %s in %s/%s (user %s, severity %d, alert %s)")
        :format(alert.rule, alert.process or "shell", alert.host or "?",
          ns or "?", pod or alert.container, alert.user or "?",
          alert.severity, alert.id), 1000),
    }
  end,
}
