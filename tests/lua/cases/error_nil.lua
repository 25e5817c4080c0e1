-- error_nil: raises nil; expect playbook.failed (runtime).
local NAME = "error_nil"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    error(nil)
  end,
}
