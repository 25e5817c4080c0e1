-- result_cyclic_caught: passes cyclic parameters under pcall, then requests a ticket; expect plan.created (the ticket only).
local NAME = "result_cyclic_caught"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local p = { host = "h1", ttl = "1h" }
    p.self = p
    local ok, err = pcall(rd.mitigate.isolate, p)
    rd.ticket{ summary = "cycle refused: " .. tostring(not ok) }
  end,
}
