-- gc_added_later: adds __gc to a metatable after setmetatable and churns memory; the finalizer must never run; expect plan.created twice.
local NAME = "gc_added_later"
local fired = false
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME or a.title:find(NAME .. "/again", 1, true) == 1 end },
  run = function(alert, rd)
    if alert.title == NAME then
      local mt = {}
      local obj = setmetatable({}, mt)
      mt.__gc = function() fired = true; while true do end end
      obj = nil
      for i = 1, 100 do local s = string.rep("y", 1 << 16) .. i end
    end
    rd.ticket{ summary = fired and "finalizer ran" or "finalizer never ran" }
  end,
}
