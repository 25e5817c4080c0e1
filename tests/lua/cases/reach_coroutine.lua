-- reach_coroutine: looks for coroutine (whose close chain crashes Debian's Lua 5.4.4); expect plan.created (absent).
local NAME = "reach_coroutine"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    rd.ticket{ summary = coroutine == nil and "absent" or "reachable: coroutine" }
  end,
}
