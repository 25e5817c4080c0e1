-- deep_c_recursion_gsub: string.gsub whose replacement function calls gsub again, without end; expect playbook.failed (runtime, C stack overflow).
local NAME = "deep_c_recursion_gsub"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local function f(s) return (string.gsub(s .. "x", ".", f)) end
    return f("x")
  end,
}
