-- lib_setmetatable: setmetatable(table, {...}) to hook every library read; expect playbook.failed (runtime, protected metatable).
local NAME = "lib_setmetatable"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    setmetatable(table, { __index = function() return print end })
    rd.ticket{ summary = "hooked" }
  end,
}
