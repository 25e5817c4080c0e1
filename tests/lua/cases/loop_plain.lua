-- loop_plain: an endless while loop; expect playbook.failed (instructions).
local NAME = "loop_plain"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    while true do end
  end,
}
