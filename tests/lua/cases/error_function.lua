-- error_function: raises a function; expect playbook.failed (runtime).
local NAME = "error_function"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    error(function() while true do end end)
  end,
}
