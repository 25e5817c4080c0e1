-- alert_metatable_abuse: calls the alert's C __index with foreign arguments and replaces the alert's metatable; expect plan.created.
local NAME = "alert_metatable_abuse"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local index = getmetatable(alert).__index
    local probes = {
      function() return index("a string", "raw") end,
      function() return index(nil, "raw") end,
      function() return index(string, "raw") end,
      function() return index({}, "raw") end,
      function() return index(alert, 42) end,
      function() return setmetatable(alert, { __index = function() while false do end end }) end,
    }
    for _, f in ipairs(probes) do pcall(f) end
    rd.ticket{ summary = "survived" }
  end,
}
