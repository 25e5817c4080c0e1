-- result_non_utf8: a parameter string that is not UTF-8; expect playbook.failed (runtime, invalid UTF-8).
local NAME = "result_non_utf8"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    rd.ticket{ summary = "bad \192\128 bytes" }
  end,
}
