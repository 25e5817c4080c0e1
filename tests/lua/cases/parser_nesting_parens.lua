-- parser_nesting_parens: load() of 100000 nested parentheses; expect plan.created (load refuses it, the ticket says why).
local NAME = "parser_nesting_parens"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local f, err = load("return " .. string.rep("(", 100000) .. "1" .. string.rep(")", 100000))
    rd.ticket{ summary = "refused: " .. tostring(err) }
  end,
}
