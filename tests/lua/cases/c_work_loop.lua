-- c_work_loop: calls string.upper on 1 MB again and again (one instruction, a megabyte of C work); expect playbook.failed (timeout).
local NAME = "c_work_loop"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local s = string.rep("x", 1 << 20)
    while true do local u = s:upper() end
  end,
}
