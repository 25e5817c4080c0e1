-- deep_c_recursion_index: an __index metamethod that indexes itself (C and Lua frames alternating); expect playbook.failed (runtime, C stack overflow).
local NAME = "deep_c_recursion_index"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local t = setmetatable({}, {})
    getmetatable(t).__index = function(self, k) return self[k] end
    return t.x
  end,
}
