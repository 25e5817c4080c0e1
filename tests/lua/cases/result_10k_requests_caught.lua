-- result_10k_requests_caught: 10000 requests each under pcall; expect plan.created with exactly max_actions (32) requests.
local NAME = "result_10k_requests_caught"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    for i = 1, 10000 do pcall(rd.ticket, { summary = "ticket " .. i }) end
  end,
}
