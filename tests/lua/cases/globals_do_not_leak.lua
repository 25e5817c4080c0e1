-- globals_do_not_leak: sets, replaces and removes globals and hooks _G's metatable after each run; expect plan.created (clean) on every run of the state.
local NAME = "globals_do_not_leak"
local ORIGINAL = {}
for _, name in ipairs({ "type", "tostring", "pairs", "next", "pcall", "string", "_G" }) do
  ORIGINAL[name] = _G[name]
end
-- A local of the file: kept on purpose across runs of the same state.
local runs = 0
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME or a.title:find(NAME .. "/again", 1, true) == 1 end },
  run = function(alert, rd)
    runs = runs + 1
    local seen = {}
    if LEAKED ~= nil then seen[#seen + 1] = "LEAKED" end
    if UNDEFINED_NAME ~= nil then seen[#seen + 1] = "_G metatable" end
    if getmetatable(_G) ~= nil then seen[#seen + 1] = "getmetatable(_G)" end
    for _, name in ipairs({ "type", "tostring", "pairs", "next", "pcall", "string", "_G" }) do
      if not ORIGINAL[name] or rawget(_G, name) ~= ORIGINAL[name] then seen[#seen + 1] = name end
    end
    rd.ticket{ summary = (#seen == 0 and "clean" or "leaked: " .. table.concat(seen, ",")) .. " run " .. runs }
    -- Now poison everything a next run would use.
    LEAKED = true
    type, pairs, next, string, _G = nil, nil, nil, nil, nil
    tostring = function() return "pwned" end
    setmetatable(_ENV, { __index = function() return "evil" end })
  end,
}
