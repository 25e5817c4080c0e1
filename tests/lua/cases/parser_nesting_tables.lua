-- parser_nesting_tables: load() of 100000 nested table constructors; expect plan.created (refused).
local NAME = "parser_nesting_tables"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local f, err = load("return " .. string.rep("{", 100000) .. string.rep("}", 100000))
    rd.ticket{ summary = "refused: " .. tostring(err) }
  end,
}
