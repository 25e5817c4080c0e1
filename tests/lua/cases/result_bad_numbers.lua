-- result_bad_numbers: NaN and infinity as parameters; expect playbook.failed (runtime, not finite).
local NAME = "result_bad_numbers"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    rd.ticket{ summary = "s", n = 0/0, i = math.huge }
  end,
}
