-- mem_concat_doubling: doubles a string by concatenation; expect playbook.failed (memory).
local NAME = "mem_concat_doubling"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local s = "x"
    while true do s = s .. s end
  end,
}
