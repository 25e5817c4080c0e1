-- deep_c_recursion_tostring: a __tostring that calls tostring on itself; expect playbook.failed (runtime, C stack overflow).
local NAME = "deep_c_recursion_tostring"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local t = setmetatable({}, {})
    getmetatable(t).__tostring = function(self) return tostring(self) end
    return tostring(t)
  end,
}
