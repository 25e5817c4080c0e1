-- loop_in_close: an endless loop in a <close> handler run at the end of the block; expect playbook.failed (instructions).
local NAME = "loop_in_close"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local guard <close> = setmetatable({}, { __close = function() while true do end end })
    rd.ticket{ summary = "closing" }
  end,
}
