-- reach_via_metatables: asks every library, the string metatable and rd for their metatables, and the proxies for their contents; expect plan.created (locked).
local NAME = "reach_via_metatables"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local bad = {}
    for name, lib in pairs({ string = string, table = table, math = math, os = os, utf8 = utf8 }) do
      if getmetatable(lib) ~= "locked" then bad[#bad + 1] = name end
      if rawget(lib, next(lib) or "x") ~= nil then bad[#bad + 1] = name .. " raw" end
    end
    if getmetatable("") ~= "locked" then bad[#bad + 1] = "string metatable" end
    if getmetatable(rd.mitigate) ~= "locked" then bad[#bad + 1] = "rd.mitigate" end
    if load("return _ENV")() ~= _ENV then bad[#bad + 1] = "load env" end
    rd.ticket{ summary = #bad == 0 and "locked" or "open: " .. table.concat(bad, " ") }
  end,
}
