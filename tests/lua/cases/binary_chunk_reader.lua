-- binary_chunk_reader: load() of a binary chunk handed out piece by piece by a reader function, mode "b"; expect plan.created (refused).
local NAME = "binary_chunk_reader"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local pieces = { "\27", "Lua", "\84\0\25\147\13\10\26\10", "\4\8\8" }
    local i = 0
    local f, err = load(function() i = i + 1 return pieces[i] end, "=reader", "b")
    if f ~= nil then error("a binary chunk loaded") end
    rd.ticket{ summary = "refused: " .. err }
  end,
}
