-- mem_string_growth: keeps distinct 64 KB strings; expect playbook.failed (memory).
local NAME = "mem_string_growth"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local s = string.rep("x", 1 << 16)
    local keep = {}
    while true do keep[#keep + 1] = s .. #keep end
  end,
}
