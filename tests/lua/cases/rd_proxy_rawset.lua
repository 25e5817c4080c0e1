-- rd_proxy_rawset: rawset into rd.mitigate and rd.remediate, which every run of the state shares, to leave something for the next alert's run; expect plan.created with both writes refused, and nothing found by the runs after.
local NAME = "rd_proxy_rawset"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME or a.title:find(NAME .. "/again", 1, true) == 1 end },
  run = function(alert, rd)
    local found = {}
    for _, kind in ipairs({ "mitigate", "remediate" }) do
      if rawget(rd[kind], "stash") ~= nil or next(rd[kind]) ~= nil then found[#found + 1] = kind end
    end
    local ok1, e1 = pcall(rawset, rd.mitigate, "stash", alert.title)
    local ok2, e2 = pcall(rawset, rd.remediate, "stash", alert.title)
    rd.ticket{ summary = (#found == 0 and "nothing left" or "left in " .. table.concat(found, ",")) ..
      "; " .. (ok1 and "mitigate written" or tostring(e1):match("read%-only table") or tostring(e1)) ..
      "; " .. (ok2 and "remediate written" or tostring(e2):match("read%-only table") or tostring(e2)) }
  end,
}
