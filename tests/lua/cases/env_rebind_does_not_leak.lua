-- env_rebind_does_not_leak: rebinds _ENV to a table of its own (holding a global) at the end of each run; expect plan.created (clean) on every run of the state.
local NAME = "env_rebind_does_not_leak"
local runs = 0
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME or a.title:find(NAME .. "/again", 1, true) == 1 end },
  run = function(alert, rd)
    runs = runs + 1
    local clean = ENV_LEAKED == nil and rawequal(_ENV, _G)
    rd.ticket{ summary = (clean and "clean" or "leaked") .. " run " .. runs }
    -- Every function of this file reads its globals from here from now on.
    _ENV = { ENV_LEAKED = true, _G = _G, rawequal = rawequal }
  end,
}
