-- result_oversized_frame: 2 requests holding a 700 KB string three times each, a result larger than a worker may send (4 MB); expect playbook.failed (too_large, said by the worker, which goes on).
local NAME = "result_oversized_frame"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local s = string.rep("x", 700000)
    for i = 1, 2 do rd.ticket{ summary = "big " .. i, a = s, b = s, c = s } end
  end,
}
