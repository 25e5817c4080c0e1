-- mem_recovers: match.when runs out of memory and catches it, leaving 16 MB of garbage; run() then needs 4 MB; expect plan.created (a ticket).
local NAME = "mem_recovers"
local caught
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a)
    if a.title ~= NAME then return false end
    local ok, err = pcall(function()
      local s = string.rep("x", 1 << 16)
      local keep = {}
      while true do keep[#keep + 1] = s .. #keep end
    end)
    caught = err
    return true
  end },
  run = function(alert, rd)
    local got = {}
    for i = 1, 4 do got[i] = string.rep("y", (1 << 20) - 16) .. i end
    rd.ticket{ summary = "recovered after: " .. tostring(caught) .. " (" .. #got .. " MB)" }
  end,
}
