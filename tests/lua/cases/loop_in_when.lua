-- loop_in_when: an endless loop in match.when; expect playbook.failed (instructions).
local NAME = "loop_in_when"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a)
    if a.title == NAME then while true do end end
    return false
  end },
  run = function(alert, rd)
    rd.ticket{ summary = "when let it through" }
  end,
}
