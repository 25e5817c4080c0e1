-- error_in_when: match.when raises a table error; expect playbook.failed (runtime).
local NAME = "error_in_when"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a)
    if a.title == NAME then error(setmetatable({}, { __tostring = function() return "x" end })) end
    return false
  end },
  run = function(alert, rd)
    rd.ticket{ summary = "when let it through" }
  end,
}
