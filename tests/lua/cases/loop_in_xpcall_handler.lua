-- loop_in_xpcall_handler: an xpcall message handler that loops (it is called again for the error the hook raises in it); expect playbook.failed (instructions).
local NAME = "loop_in_xpcall_handler"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    xpcall(function() error("boom") end, function() while true do end end)
    rd.ticket{ summary = "escaped through the message handler" }
  end,
}
