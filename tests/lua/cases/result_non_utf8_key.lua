-- result_non_utf8_key: a parameter name that is not UTF-8; expect playbook.failed (runtime, invalid UTF-8).
local NAME = "result_non_utf8_key"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    rd.ticket{ summary = "s", ["\255\254"] = "v" }
  end,
}
