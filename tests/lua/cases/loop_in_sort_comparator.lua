-- loop_in_sort_comparator: an endless loop in a table.sort comparator (Lua called from C); expect playbook.failed (instructions).
local NAME = "loop_in_sort_comparator"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local t = {}
    for i = 1, 100 do t[i] = 100 - i end
    table.sort(t, function(a, b) while true do end end)
  end,
}
