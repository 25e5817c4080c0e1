-- result_mixed_keys: a parameter table with both names and array slots; expect playbook.failed (runtime).
local NAME = "result_mixed_keys"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    rd.ticket{ summary = "s", "positional" }
  end,
}
