-- mem_table_concat: table.concat of 20 references to one 1 MB string; expect playbook.failed (memory).
local NAME = "mem_table_concat"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local s = string.rep("x", 1 << 20)
    local t = {}
    for i = 1, 20 do t[i] = s end
    return table.concat(t)
  end,
}
