-- close_after_budget: a <close> handler that requests and loops again while the budget error unwinds; expect playbook.failed (instructions).
local NAME = "close_after_budget"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local guard <close> = setmetatable({}, { __close = function()
      rd.ticket{ summary = "closed after the budget" }
      while true do end
    end })
    while true do end
  end,
}
