-- result_10k_requests: 10000 requests in one run (over playbooks.max_actions); expect playbook.failed (runtime, too many requests).
local NAME = "result_10k_requests"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    for i = 1, 10000 do rd.ticket{ summary = "ticket " .. i } end
  end,
}
