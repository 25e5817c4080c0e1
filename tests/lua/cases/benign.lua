-- benign: a well-behaved playbook; every alert titled "benign..." must get its ticket after the attacks.
return playbook {
  name = "benign",
  match = { source = "generic", when = function(a) return a.title:find("benign", 1, true) == 1 end },
  run = function(alert, rd)
    rd.ticket{ summary = "benign " .. alert.title }
  end,
}
