-- error_table_metamethods: raises a table whose __tostring, __index, __concat, __len and __eq loop; expect playbook.failed (runtime, read as a table).
local NAME = "error_table_metamethods"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local loop = function() while true do end end
    error(setmetatable({}, { __tostring = loop, __index = loop, __concat = loop,
      __len = loop, __eq = loop, __name = "evil" }))
  end,
}
