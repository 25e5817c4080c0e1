-- result_nul_byte: a parameter with a NUL byte; expect playbook.failed (runtime, a NUL byte).
local NAME = "result_nul_byte"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    rd.ticket{ summary = "before\0after" }
  end,
}
