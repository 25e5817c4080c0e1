-- loop_in_gsub_callback: an endless loop in an __index reached from string.gsub (C calling Lua); expect playbook.failed (instructions).
local NAME = "loop_in_gsub_callback"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local repl = setmetatable({}, { __index = function() while true do end end })
    local s = string.rep("x", 100):gsub(".", repl)
  end,
}
