-- result_error_cut_in_character: a bad ip of two-byte characters, which the error quotes cut to 64 bytes inside one; expect playbook.failed (invalid_plan) with the error as text, the split character a '?'.
local NAME = "result_error_cut_in_character"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    rd.mitigate.block_ip{ ip = "1" .. string.rep("\u{e9}", 40), ttl = "1h" }
  end,
}
