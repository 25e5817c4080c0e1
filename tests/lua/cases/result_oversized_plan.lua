-- result_oversized_plan: 32 requests of 10 parameters of 4000 bytes, each one valid, a plan larger than an audit record (1 MB); expect playbook.failed (invalid_plan).
local NAME = "result_oversized_plan"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local s = string.rep("x", 4000)
    for i = 1, 32 do
      local p = { summary = "big " .. i }
      for k = 1, 10 do p["p" .. k] = s end
      rd.ticket(p)
    end
  end,
}
