-- pattern_too_complex: a pattern nested past the matcher's recursion limit; expect playbook.failed (runtime, pattern too complex).
local NAME = "pattern_too_complex"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    return string.find(string.rep("a", 300), string.rep("a?", 300) .. string.rep("a", 300))
  end,
}
