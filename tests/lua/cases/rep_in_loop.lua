-- rep_in_loop: string.rep of 1 MB in a loop (C work charged to the budget); expect playbook.failed (instructions, or timeout when the build is slow).
local NAME = "rep_in_loop"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    while true do local s = string.rep("x", 1 << 20) end
  end,
}
