-- error_non_utf8: raises a message that is not UTF-8; expect playbook.failed (runtime, the message kept readable).
local NAME = "error_non_utf8"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    error("bad bytes \255\254 not UTF-8", 0)
  end,
}
