-- xpcall_handler_after_budget: spends the budget inside xpcall, whose message handler then loops; expect playbook.failed (instructions).
local NAME = "xpcall_handler_after_budget"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    xpcall(function() while true do end end, function(e) while true do end end)
    rd.ticket{ summary = "escaped through the message handler" }
  end,
}
