-- rd_outside_run: keeps rd from a run and requests through it from match.when of later alerts; expect plan.created, then plan.created (a fresh state) or playbook.failed (runtime), never a request made outside run().
local NAME = "rd_outside_run"
local saved
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a)
    local again = a.title:find(NAME .. "/again", 1, true) == 1
    if again and saved ~= nil then saved.ticket{ summary = "requested outside a run" } end
    return a.title == NAME or again
  end },
  run = function(alert, rd)
    saved = rd
    rd.ticket{ summary = "saved" }
  end,
}
