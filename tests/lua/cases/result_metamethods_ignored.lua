-- result_metamethods_ignored: parameters whose __pairs, __index and __len loop forever; expect plan.created (read raw, no metamethod runs).
local NAME = "result_metamethods_ignored"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local loop = function() while true do end end
    rd.ticket(setmetatable({ summary = "raw" }, { __pairs = loop, __index = loop, __len = loop,
      __newindex = loop, __tostring = loop }))
  end,
}
