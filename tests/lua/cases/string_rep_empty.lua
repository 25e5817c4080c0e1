-- string_rep_empty: string.rep of an empty string 2^63-1 times (a C loop of no bytes); expect plan.created with an empty result.
local NAME = "string_rep_empty"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local s = string.rep("", math.maxinteger)
    local t = string.rep("", math.maxinteger, "")
    rd.ticket{ summary = "empty rep: " .. #s .. " and " .. #t .. " bytes" }
  end,
}
