-- loop_retry_after_budget: catches the budget error with pcall and tries to request and loop on; expect playbook.failed (instructions).
local NAME = "loop_retry_after_budget"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    for i = 1, 100 do
      local ok, err = pcall(function() while true do end end)
      pcall(rd.ticket, { summary = "caught: " .. tostring(err) })
    end
    rd.ticket{ summary = "escaped the budget" }
  end,
}
