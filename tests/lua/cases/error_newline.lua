-- error_newline: raises a message with a newline and a forged log line; expect playbook.failed (runtime), no forged line in the daemon log.
local NAME = "error_newline"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    error("first line\nFAKE-LOG-LINE remediad: error: forged\r", 0)
  end,
}
