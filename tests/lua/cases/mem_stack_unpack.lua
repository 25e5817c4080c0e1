-- mem_stack_unpack: grows the Lua stack to a million slots with table.unpack; expect playbook.failed (memory).
local NAME = "mem_stack_unpack"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    return select("#", table.unpack({}, 1, 999000))
  end,
}
