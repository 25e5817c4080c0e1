-- lib_sibling_check: a sibling playbook run after all the tampering above: its own libraries must be whole; expect plan.created (intact).
local NAME = "lib_sibling_check"
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
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    rd.ticket{ summary = intact() and "intact" or "tampered" }
  end,
}
