-- result_huge_string: a 1 MB parameter string; expect playbook.failed (invalid_plan, too long).
local NAME = "result_huge_string"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    rd.ticket{ summary = string.rep("x", 1 << 20) }
  end,
}
