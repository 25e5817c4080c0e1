-- busy_wait_clock: busy-waits a minute on os.clock(); expect playbook.failed (instructions).
local NAME = "busy_wait_clock"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local t0 = os.clock()
    while os.clock() - t0 < 60 do end
    rd.ticket{ summary = "waited" }
  end,
}
