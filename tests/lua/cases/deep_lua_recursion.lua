-- deep_lua_recursion: unbounded non-tail Lua recursion; expect playbook.failed (memory: the stack reaches the ceiling).
local NAME = "deep_lua_recursion"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local function f(n) return f(n + 1) + 1 end
    return f(1)
  end,
}
