-- lib_rawset: rawset(math, "floor", nil), then (second alert) checks math; expect playbook.failed (runtime, read-only), then plan.created (intact).
local NAME = "lib_rawset"
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
      rawset(math, "floor", nil)
      rd.ticket{ summary = "assigned" }
    else
      rd.ticket{ summary = intact() and "intact" or "tampered" }
    end
  end,
}
