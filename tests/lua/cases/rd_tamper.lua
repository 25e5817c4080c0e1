-- rd_tamper: replaces and removes rd's functions and writes into rd.mitigate, then (second alert) uses a fresh rd; expect plan.created twice.
local NAME = "rd_tamper"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME or a.title:find(NAME .. "/again", 1, true) == 1 end },
  run = function(alert, rd)
    if alert.title == NAME then
      local ticket = rd.ticket
      local ok, err = pcall(function() rd.mitigate.isolate = print end)
      rd.ticket, rd.log, rd.mitigate, rd.playbook = nil, nil, nil, "someone-else"
      ticket{ summary = "tampered copy: " .. tostring(err):match("rd: read%-only") }
    else
      rd.ticket{ summary = "fresh rd: " .. type(rd.log) .. " " .. rd.playbook .. " " .. type(rd.mitigate) }
    end
  end,
}
