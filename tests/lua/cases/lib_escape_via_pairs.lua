-- lib_escape_via_pairs: takes the table pairs(lib) hands out for each library and empties it, then (second alert) checks the libraries; expect plan.created (intact) twice.
local NAME = "lib_escape_via_pairs"
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
      for _, lib in ipairs({ string, math, table, os, utf8 }) do
        local _, inner = pairs(lib)
        if type(inner) == "table" then
          pcall(function() for k in next, inner do inner[k] = nil end end)
          pcall(rawset, inner, "upper", function() return "PWNED" end)
        end
      end
    end
    rd.ticket{ summary = intact() and "intact" or "tampered" }
  end,
}
