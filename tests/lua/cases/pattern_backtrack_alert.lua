-- pattern_backtrack_alert: a backtracking pattern on a long alert field (raw.message, 5000 bytes); expect playbook.failed (timeout).
local NAME = "pattern_backtrack_alert"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local msg = alert.raw.message
    string.find(msg, ".-.-.-.-.-.-.-.-.-.-b")
    rd.ticket{ summary = "pattern finished" }
  end,
}
