-- mem_string_growth: keeps distinct 1 MB strings; expect playbook.failed (memory).
local NAME = "mem_string_growth"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local keep = {}
    while true do keep[#keep + 1] = string.rep("x", (1 << 20) - 16) .. #keep end
  end,
}
