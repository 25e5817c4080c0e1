-- error_cut_utf8: raises a long UTF-8 message that the error buffer cuts inside a character; expect playbook.failed (runtime).
local NAME = "error_cut_utf8"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    error("xy" .. string.rep("\u{e9}", 600), 0)
  end,
}
