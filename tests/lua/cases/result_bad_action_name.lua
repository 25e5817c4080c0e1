-- result_bad_action_name: an action name with path characters; expect playbook.failed (runtime, bad action name).
local NAME = "result_bad_action_name"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    rd.mitigate["../../bin/sh"]{ host = "h1" }
  end,
}
