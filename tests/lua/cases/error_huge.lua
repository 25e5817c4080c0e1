-- error_huge: raises a 1 MB message; expect playbook.failed (runtime, cut).
local NAME = "error_huge"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    error(string.rep("x", 1 << 20), 0)
  end,
}
