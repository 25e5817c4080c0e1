-- load_reader_endless: load() with a reader that returns a megabyte of blanks forever; expect playbook.failed (instructions).
local NAME = "load_reader_endless"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local blanks = string.rep(" ", 1 << 20)
    local f, err = load(function() return blanks end)
    rd.ticket{ summary = "load returned: " .. tostring(err) }
  end,
}
