-- gc_metatable: setmetatable with __gc (a function, false, a string; last one unprotected); expect playbook.failed (runtime, __gc not allowed).
local NAME = "gc_metatable"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    pcall(setmetatable, {}, { __gc = false })
    pcall(setmetatable, {}, { __gc = "x" })
    setmetatable({}, { __gc = function() while true do end end })
    rd.ticket{ summary = "finalizer set" }
  end,
}
