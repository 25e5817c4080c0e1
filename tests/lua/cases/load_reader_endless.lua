-- load_reader_endless: load() with a reader that opens a comment, then returns a megabyte of it forever; expect playbook.failed (instructions).
local NAME = "load_reader_endless"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local more = string.rep("x", 1 << 20)
    local first = true
    local f, err = load(function()
      if first then first = false return "--" end
      return more
    end)
    rd.ticket{ summary = "load returned: " .. tostring(err) }
  end,
}
