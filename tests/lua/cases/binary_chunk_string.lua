-- binary_chunk_string: load() of a binary chunk given as a string, with modes nil, "b" and "bt"; expect plan.created (every one refused).
local NAME = "binary_chunk_string"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local chunk = "\27Lua\84\0\25\147\13\10\26\10\4\8\8\120\86\0\0\0\0\0\0\0\0\0\0\0\40\119\64\1"
    local errs = {}
    for _, mode in ipairs({ "t", "b", "bt" }) do
      local f, err = load(chunk, "=bin", mode)
      if f ~= nil then error("a binary chunk loaded in mode " .. mode) end
      errs[#errs + 1] = err
    end
    local f, err = load(chunk)
    if f ~= nil then error("a binary chunk loaded") end
    rd.ticket{ summary = "refused: " .. err .. " x" .. (#errs + 1) }
  end,
}
