-- loop_goto: an endless goto loop; expect playbook.failed (instructions).
local NAME = "loop_goto"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    ::again::
    goto again
  end,
}
