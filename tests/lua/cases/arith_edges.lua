-- arith_edges: integer overflow and division edges, format and pack extremes, os.date/os.time out of range; expect plan.created (each refused or computed).
local NAME = "arith_edges"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local probes = {
      function() return math.mininteger // -1 end,
      function() return math.mininteger % -1 end,
      function() return 1 // 0 end,
      function() return 1 % 0 end,
      function() return string.format("%d", 2^63) end,
      function() return string.format("%99999d", 1) end,
      function() return string.format("%.99f", 1e308) end,
      function() return string.pack("i16", math.mininteger) end,
      function() return string.pack("s1", string.rep("x", 300)) end,
      function() return string.unpack("z", "no terminator") end,
      function() return string.unpack("i17", string.rep("x", 17)) end,
      function() return utf8.char(0x7FFFFFFF) end,
      function() return utf8.codepoint(string.rep("x", 1 << 20), 1, -1) end,
      function() return os.date("*t", 2^60) end,
      function() return os.date(string.rep("%c", 1000)) end,
      function() return os.time({ year = 2^40, month = 1, day = 1 }) end,
      function() return math.random(math.mininteger, math.maxinteger) end,
      function() return math.tointeger(2^63) end,
      function() return tostring(setmetatable({}, { __name = string.rep("n", 1 << 16) })) end,
      function() return select(-1) end,
      function() return ("x"):rep(10):byte(1, -1) end,
    }
    local n = 0
    for _, f in ipairs(probes) do pcall(f); n = n + 1 end
    rd.ticket{ summary = "survived " .. n }
  end,
}
