-- busy_wait: busy-waits a minute on os.time(); expect playbook.failed (instructions).
local NAME = "busy_wait"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local t0 = os.time()
    while os.time() - t0 < 60 do end
    rd.ticket{ summary = "waited" }
  end,
}
