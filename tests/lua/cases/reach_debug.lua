-- reach_debug: looks for debug, collectgarbage, string.dump (also through a string's methods) and table.move; expect plan.created (all absent).
local NAME = "reach_debug"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local found = {}
    local probes = {
      debug = debug, collectgarbage = collectgarbage, ["string.dump"] = string.dump,
      ["(\"\").dump"] = ("").dump, ["table.move"] = table.move,
    }
    for k in pairs(probes) do found[#found + 1] = k end
    rd.ticket{ summary = #found == 0 and "absent" or "reachable: " .. table.concat(found, " ") }
  end,
}
