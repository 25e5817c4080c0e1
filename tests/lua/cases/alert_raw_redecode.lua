-- alert_raw_redecode: drops alert.raw (300 KB) and reads it again in a loop, so the C side decodes it each time; expect playbook.failed (timeout).
local NAME = "alert_raw_redecode"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    while true do
      alert.raw = nil
      local r = alert.raw
    end
  end,
}
