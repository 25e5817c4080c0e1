-- result_cyclic: passes a table that contains itself as action parameters; expect playbook.failed (runtime, a cycle).
local NAME = "result_cyclic"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local p = { host = "h1", ttl = "1h" }
    p.loop = { back = p }
    rd.mitigate.isolate(p)
  end,
}
