-- alert_raw_decoded_once: reads alert.raw (300 KB), then in a loop probes it for members it lacks, drops it and reads it again; the message is decoded once and the misses stop costing after a few, so the loop ends at the budget; expect playbook.failed (instructions).
local NAME = "alert_raw_decoded_once"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local raw, i = alert.raw, 0
    if type(raw) ~= "table" or #raw.message ~= 300000 then error("no alert.raw") end
    while true do
      i = i + 1
      local _ = raw["missing" .. i]
      alert.raw = nil
      if alert.raw ~= nil then error("alert.raw decoded again") end
    end
  end,
}
