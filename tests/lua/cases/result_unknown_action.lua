-- result_unknown_action: an action outside the catalog; expect playbook.failed (invalid_plan, unknown action).
local NAME = "result_unknown_action"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    rd.mitigate.launch_missiles{ host = "h1", ttl = "1h" }
  end,
}
