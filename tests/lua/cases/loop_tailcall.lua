-- loop_tailcall: endless tail calls (no stack growth); expect playbook.failed (instructions).
local NAME = "loop_tailcall"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local function f(n) return f(n + 1) end
    return f(0)
  end,
}
