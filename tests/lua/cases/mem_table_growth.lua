-- mem_table_growth: keeps allocating tables of 1000 elements; expect playbook.failed (memory).
local NAME = "mem_table_growth"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local t = {}
    for i = 1, 1000 do t[i] = i end
    local keep = {}
    while true do keep[#keep + 1] = table.pack(table.unpack(t)) end
  end,
}
