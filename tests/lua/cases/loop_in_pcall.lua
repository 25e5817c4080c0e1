-- loop_in_pcall: endless loops inside pcall, the error swallowed and the loop begun again; expect playbook.failed (instructions).
local NAME = "loop_in_pcall"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    while true do
      pcall(function() while true do end end)
    end
  end,
}
