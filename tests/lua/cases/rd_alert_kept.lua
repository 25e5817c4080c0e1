-- rd_alert_kept: keeps each run's rd, alert and alert.raw and writes into them (fields, prior, metatables) in the next run; expect plan.created, every run with a clean rd and alert of its own.
local NAME = "rd_alert_kept"
local kept_rd, kept_alert, kept_raw
local function check(alert, rd, bad)
  if getmetatable(rd) ~= nil then bad[#bad + 1] = "rd metatable" end
  if rawget(rd, "x") ~= nil or rd.prior ~= 0 or rd.playbook ~= NAME then bad[#bad + 1] = "rd fields" end
  if type(rd.ticket) ~= "function" or type(rd.log) ~= "function" then bad[#bad + 1] = "rd functions" end
  if next(rd.mitigate) ~= nil then bad[#bad + 1] = "rd.mitigate" end
  local n = 0
  for _ in pairs(rd) do n = n + 1 end
  if n ~= 10 then bad[#bad + 1] = "rd keys " .. n end
  if rawequal(rd, kept_rd) or rawequal(alert, kept_alert) then bad[#bad + 1] = "same tables" end
  if rawget(alert, "x") ~= nil or rawget(alert, "raw") ~= nil or alert.source ~= "generic" then bad[#bad + 1] = "alert fields" end
  if getmetatable(alert) ~= "locked" or pcall(setmetatable, alert, {}) then bad[#bad + 1] = "alert metatable" end
  local raw = alert.raw
  if type(raw) ~= "table" or raw.injected ~= nil or rawequal(raw, kept_raw) then bad[#bad + 1] = "alert.raw" end
end
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME or a.title:find(NAME .. "/again", 1, true) == 1 end },
  run = function(alert, rd)
    local bad, ticket = {}, rd.ticket
    check(alert, rd, bad)
    if kept_rd ~= nil then
      kept_rd.x, kept_rd.prior, kept_rd.ticket = 1, 99, nil
      setmetatable(kept_rd, { __index = function() return "leak" end })
      kept_alert.x, kept_alert.source = 1, "changed"
      pcall(setmetatable, kept_alert, { __index = function() return "leak" end })
      kept_raw.injected = true
    end
    rd.x, rd.log, rd.prior = 2, nil, 98
    pcall(function() rd.mitigate.isolate = 1 end)
    alert.x, alert.source = 2, "mine"
    pcall(setmetatable, alert, {})
    alert.raw.injected = true
    kept_rd, kept_alert, kept_raw = rd, alert, alert.raw
    setmetatable(rd, {})
    ticket{ summary = #bad == 0 and "clean" or table.concat(bad, ", ") }
  end,
}
