-- string_rep_overflow: string.rep whose length overflows size_t (n * (#s + #sep)); expect playbook.failed (runtime, result too large).
local NAME = "string_rep_overflow"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    return string.rep("ab", math.maxinteger, "sep")
  end,
}
