-- result_nested_params: a table as a parameter value (valid Lua, not a valid plan); expect playbook.failed (invalid_plan).
local NAME = "result_nested_params"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    rd.mitigate.isolate{ host = "h1", ttl = "1h", extra = { a = { b = 1 } } }
  end,
}
