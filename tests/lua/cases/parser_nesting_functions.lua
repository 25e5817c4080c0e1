-- parser_nesting_functions: load() of 10000 nested function bodies; expect plan.created (refused).
local NAME = "parser_nesting_functions"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local src = "return " .. string.rep("function() return ", 10000) .. "1" .. string.rep(" end", 10000)
    local f, err = load(src)
    rd.ticket{ summary = "refused: " .. tostring(err) }
  end,
}
