-- reach_io: looks for io, print, dofile, loadfile, require, package and older escape hatches; expect plan.created (all absent).
local NAME = "reach_io"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local found = {}
    for _, name in ipairs({ "io", "print", "dofile", "loadfile", "loadstring", "require",
        "package", "module", "unpack", "setfenv", "getfenv", "newproxy", "gcinfo" }) do
      if _G[name] ~= nil or _ENV[name] ~= nil then found[#found + 1] = name end
    end
    rd.ticket{ summary = #found == 0 and "absent" or "reachable: " .. table.concat(found, " ") }
  end,
}
