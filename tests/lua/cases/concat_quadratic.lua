-- concat_quadratic: grows a string one byte at a time (each concatenation copies it all, uncharged); expect playbook.failed (timeout).
local NAME = "concat_quadratic"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local s = ""
    for i = 1, 1e9 do s = s .. "x" end
  end,
}
