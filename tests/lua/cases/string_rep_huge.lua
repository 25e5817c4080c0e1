-- string_rep_huge: string.rep of a terabyte; expect playbook.failed (runtime, result too large).
local NAME = "string_rep_huge"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    return string.rep("x", 1e12)
  end,
}
