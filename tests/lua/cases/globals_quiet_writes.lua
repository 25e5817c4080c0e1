-- globals_quiet_writes: each run writes the globals one way only (rawset, a number or function of the file replaced or removed, load, table.insert, a metatable given or taken away), so the restore must notice each alone; expect plan.created (clean) on every run of the state.
local NAME = "globals_quiet_writes"
COUNT = 1
function HELPER() return "helper" end
local function nkeys()
  local n = 0
  for _ in pairs(_G) do n = n + 1 end
  return n
end
local NKEYS = nkeys()
local WRITES = {
  function() rawset(_G, "Q_RAW", true) end,
  function() COUNT = COUNT + 1 end,
  function() HELPER = nil end,
  function() load("Q_LOAD = true")() end,
  function() table.insert(_G, "Q_INSERT") end,
  function() setmetatable(_G, nil) Q_NOMT = true end,
  function() setmetatable(_G, {}) Q_MT = true end,
  function() local g = _G g.HELPER = nil g.HELPER = function() return "pwned" end end,
  function() rawset(_G, "COUNT", 2.5) end,
}
local runs = 0
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME or a.title:find(NAME .. "/again", 1, true) == 1 end },
  run = function(alert, rd)
    runs = runs + 1
    local seen = {}
    for _, name in ipairs({ "Q_RAW", "Q_LOAD", "Q_NOMT", "Q_MT" }) do
      if rawget(_G, name) ~= nil then seen[#seen + 1] = name end
    end
    if rawget(_G, 1) ~= nil then seen[#seen + 1] = "[1]" end
    if COUNT ~= 1 or math.type(COUNT) ~= "integer" then seen[#seen + 1] = "COUNT" end
    if type(HELPER) ~= "function" or HELPER() ~= "helper" then seen[#seen + 1] = "HELPER" end
    if getmetatable(_G) ~= nil then seen[#seen + 1] = "getmetatable(_G)" end
    if nkeys() ~= NKEYS then seen[#seen + 1] = "keys " .. nkeys() .. "/" .. NKEYS end
    rd.ticket{ summary = (#seen == 0 and "clean" or "leaked: " .. table.concat(seen, ",")) .. " run " .. runs }
    WRITES[(runs - 1) % #WRITES + 1]()
  end,
}
