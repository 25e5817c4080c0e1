-- result_deep_params: parameters nested 100 deep; expect playbook.failed (runtime, nested too deep).
local NAME = "result_deep_params"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local p = { host = "h1", ttl = "1h" }
    local t = p
    for i = 1, 100 do t.next = {}; t = t.next end
    rd.mitigate.isolate(p)
  end,
}
