-- string_metatable: tries every way to replace the string metatable or its __index, then (second alert) uses string methods; expect plan.created (intact) twice.
local NAME = "string_metatable"
local function intact()
  local ok, v = pcall(function()
    return ("abc"):upper() == "ABC" and string.format("%d", 7) == "7"
      and math.floor(1.5) == 1 and table.concat({ "a", "b" }) == "ab"
      and utf8.char(72) == "H" and type(os.time()) == "number"
  end)
  return ok and v
end
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME or a.title:find(NAME .. "/again", 1, true) == 1 end },
  run = function(alert, rd)
    if alert.title == NAME then
      pcall(function() getmetatable("").__index = {} end)
      pcall(setmetatable, "", {})
      pcall(rawset, getmetatable(""), "__index", {})
      pcall(function() local s = "x"; s.upper = nil end)
      pcall(function() string.upper = function() return "PWNED" end end)
    end
    rd.ticket{ summary = intact() and "intact" or "tampered" }
  end,
}
