-- result_function_param: a function among the parameters; expect playbook.failed (runtime, a function value).
local NAME = "result_function_param"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    rd.mitigate.isolate{ host = "h1", ttl = "1h", callback = function() while true do end end }
  end,
}
