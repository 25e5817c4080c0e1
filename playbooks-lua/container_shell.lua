-- container-shell-quarantine: Falco sees an interactive or reverse shell
-- inside a container (Warning priority and above).
--   quarantine the pod for 24h (network-isolated, kept for forensics)
-- System namespaces (kube-system, ...) run the cluster itself: there the
-- quarantine needs approval. The Kubernetes namespace and pod from Falco's
-- output_fields go along as parameters. Protected assets (the node, by
-- tier "critical" or tag "protected") are left to protected_assets.lua.

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
    if rd.protected(alert.host) then
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
      reason = rd.cut(("%s: %s on %s in %s/%s (user %s, severity %d, "
        .. "alert %s)"):format(alert.rule, alert.process or "shell",
          alert.host or "?", ns or "?", pod or alert.container,
          alert.user or "?", alert.severity, alert.id), 1000),
    }
  end,
}
