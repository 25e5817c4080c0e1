-- reach_os: looks for os.execute, os.getenv, os.exit, os.remove and the rest of os; expect plan.created (only time, date, clock).
local NAME = "reach_os"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local found = {}
    for k in pairs(os) do found[#found + 1] = k end
    table.sort(found)
    rd.ticket{ summary = "os: " .. table.concat(found, " ") }
  end,
}
