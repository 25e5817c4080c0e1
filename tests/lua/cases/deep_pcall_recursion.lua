-- deep_pcall_recursion: pcall recursion down to the C stack limit, and xpcall(loop, loop) (an error while handling a stack overflow); expect plan.created.
local NAME = "deep_pcall_recursion"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local function f() return pcall(f) end
    local a = f()
    local function loop() assert(pcall(loop)) end
    local ok, msg = xpcall(loop, loop)
    rd.ticket{ summary = "survived: " .. tostring(a) .. ", " .. tostring(ok) }
  end,
}
