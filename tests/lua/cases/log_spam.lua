-- log_spam: 20000 rd.log lines with newlines, forged log lines and bytes that are not UTF-8; expect plan.created, at most 16 lines logged.
local NAME = "log_spam"
return playbook {
  name = NAME,
  match = { source = "generic", when = function(a) return a.title == NAME end },
  run = function(alert, rd)
    local line = "spam\nFAKE-LOG-LINE remediad: error: forged " .. string.rep("z", 2000)
    for i = 1, 20000 do
      rd.log("error", i % 2 == 0 and line or "\255\254 not UTF-8")
    end
    rd.ticket{ summary = "logged" }
  end,
}
