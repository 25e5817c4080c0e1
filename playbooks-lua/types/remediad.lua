---@meta remediad
-- LuaLS annotations for remediad playbooks and their tests: the canonical
-- alert, the `rd` API, `playbook{}` and the globals of
-- `remediad test-playbooks`. An editor file only: remediad loads the *.lua
-- files at the top of the playbook directory, never this one
-- (.luarc.json beside the playbooks points LuaLS here).
--
-- The playbook sandbox (Lua 5.4) has: assert, error, getmetatable, ipairs,
-- next, pairs, pcall, rawequal, rawget, rawlen, rawset, select,
-- setmetatable (no __gc), tonumber, tostring, type, xpcall, load (text
-- chunks only), _VERSION; string (no dump; rep bounded), table (no move),
-- math, utf8, and os.time/os.date/os.clock. No print, require, dofile,
-- collectgarbage, io, debug, package or coroutine. Library tables and the
-- string metatable are read-only. Each playbook has its own state: helpers
-- cannot be shared between files.

-- ---------------------------------------------------------------------------
-- Common types

---The format remediad detected the alert in.
---@alias Source
---| "ecs"     # Elastic: event.kind alert/signal, or kibana.alert.uuid
---| "ocsf"    # OCSF Detection Finding (2004) or Security Finding (2001)
---| "wazuh"   # Wazuh alert (rule.level, agent, manager or decoder)
---| "falco"   # Falco event (output, priority, rule)
---| "generic" # anything else: keys of the same name

---An alert field that `has`, `dedup.key` and `escalate.key` may name.
---@alias AlertField
---| "host"
---| "user"
---| "ip"
---| "process"
---| "container"
---| "cloud"
---| "rule"
---| "category"
---| "title"
---| "source"

---A duration: numbers with units ms, s, m, h, d, w, largest first, no
---fractions: "30m", "4h", "7d", "1h30m".
---@alias Duration string

---"auto" (the default) lets the guardrails run the action; "required"
---waits for an approver (`remediactl approve`).
---@alias Approval "auto"|"required"

---How much harm the action can do (default "medium").
---@alias Risk "low"|"medium"|"high"|"critical"

---@alias LogLevel "debug"|"info"|"notice"|"warn"|"error"

-- ---------------------------------------------------------------------------
-- The canonical alert (playbooks-lua/README.md)

---The alert every playbook receives, whatever the source format. A field
---the source does not give is absent (nil), never "" or null. Strings are
---at most 4096 bytes (raw keeps the original). Fields are made as the run
---reads them; an alert kept past its run holds only what that run read.
---@class Alert
---@field id string The source's own id; else "sha256:" + hex SHA-256 of the message bytes.
---@field source Source The detected format.
---@field time? string When the source says it happened, UTC: "YYYY-MM-DDTHH:MM:SS[.ffffff]Z".
---@field received_at string When remediad took the message off Kafka (UTC, as time).
---@field severity? integer 0-100, mapped from the format's own scale; absent when the scale does not say.
---@field title? string One line for people (ECS rule name, OCSF finding title, Wazuh rule description, Falco output).
---@field rule? string What fired: the rule name (ECS, Falco), analytic or product name (OCSF), rule id (Wazuh: "5712").
---@field category? string The source's first category or tag (ECS event.category[0], OCSF finding type, Wazuh rule group, Falco tag).
---@field host? string Entity: host name (Wazuh gives the agent's short name, ECS and Falco usually an FQDN).
---@field user? string Entity: user name.
---@field ip? string Entity: the remote/source address, else the host's own.
---@field process? string Entity: process name (Falco: proc.name, else the command line).
---@field container? string Entity: container id (absent outside containers).
---@field cloud? string Entity: cloud account id.
---@field raw table<string, any> The whole original document, parsed (decoded on first read).

-- ---------------------------------------------------------------------------
-- The asset inventory (playbooks.assets: a JSON object, or a Lua file
-- returning a table, of entries by name)

---An entry of the asset inventory, as the inventory file gives it.
---@class Asset
---@field tier? "critical"|"server"|"workstation"|string How much it matters; "critical" assets get no automatic action in the shipped playbooks.
---@field owner? string Who answers for it (team or person); tickets go there.
---@field tags? string[] Free labels; "protected" keeps automatic actions off it in the shipped playbooks.
---@field [string] any Any other field of the entry (fqdn, role, ...).

-- ---------------------------------------------------------------------------
-- Action requests: what run() asks for. Parameters beyond the named ones
-- are passed on to the connector (strings, numbers or booleans; 32 at most,
-- strings up to 4096 bytes).

---@class Request
---@field reason? string Why, for the approver and the audit log (a longer one is cut to 1024 bytes at a character boundary).
---@field approval? Approval Default "auto".
---@field risk? Risk Default "medium".
---@field [string] string|number|boolean|nil Extra parameters for the connector.

---A mitigation with a rollback needs exactly one of ttl and until_remediated.
---@class MitigationRequest: Request
---@field ttl? Duration How long before the rollback runs (1ms to 366d).
---@field until_remediated? boolean Stays until the incident is remediated.

---@class RemediationRequest: Request
---@field verify? boolean Re-check the condition afterwards (default true).

---@class IsolateParams: MitigationRequest
---@field host string The host to cut off the network.

---@class BlockIpParams: MitigationRequest
---@field ip string An IPv4/IPv6 address or CIDR block ("203.0.113.0/24").

---@class RevokeSessionsParams: Request
---@field user string Whose sessions and tokens to revoke.

---@class DisableAccountParams: MitigationRequest
---@field user string The account to disable.

---@class KillProcessParams: Request
---@field host string Where the process runs.
---@field process string The process (name or pid, as the connector takes it).

---@class QuarantineFileParams: MitigationRequest
---@field host string Where the file is.
---@field path string The file.

---@class QuarantinePodParams: MitigationRequest
---@field container string The container id whose pod is isolated.

---@class PatchParams: RemediationRequest
---@field host string The host to patch.
---@field package string The package to upgrade.

---@class ReimageParams: RemediationRequest
---@field host string The host to rebuild from a clean image.

---@class RotateCredentialParams: RemediationRequest
---@field user string Whose password/keys/tokens to rotate.

---@class FixConfigParams: RemediationRequest
---@field host string The host to fix.
---@field setting string The setting to put right.

---@class RemoveFileParams: RemediationRequest
---@field host string Where the file is.
---@field path string The file.

---@class TicketParams: Request
---@field summary string The ticket's title.

---@class NotifyParams: Request
---@field message string What to tell people.

-- ---------------------------------------------------------------------------
-- rd: the second argument of run()

---Mitigations: fast, temporary, tracked; each returns nothing and adds a
---request to the plan. Those with a rollback need ttl or until_remediated.
---@class Mitigate
local Mitigate = {}

---Cut a host off the network. Rollback: unisolate.
---@param p IsolateParams
function Mitigate.isolate(p) end

---Block an address or CIDR block. Rollback: unblock_ip.
---@param p BlockIpParams
function Mitigate.block_ip(p) end

---End the user's sessions and tokens. No rollback (so no ttl).
---@param p RevokeSessionsParams
function Mitigate.revoke_sessions(p) end

---Disable an account. Rollback: enable_account.
---@param p DisableAccountParams
function Mitigate.disable_account(p) end

---Kill a process on a host. No rollback (so no ttl).
---@param p KillProcessParams
function Mitigate.kill_process(p) end

---Move a file out of reach. Rollback: restore_file.
---@param p QuarantineFileParams
function Mitigate.quarantine_file(p) end

---Isolate the pod of a container. Rollback: release_pod.
---@param p QuarantinePodParams
function Mitigate.quarantine_pod(p) end

---Remediations: remove the cause, verified afterwards (verify, default
---true); each returns nothing and adds a request to the plan.
---@class Remediate
local Remediate = {}

---Upgrade a package on a host.
---@param p PatchParams
function Remediate.patch(p) end

---Rebuild a host from a clean image.
---@param p ReimageParams
function Remediate.reimage(p) end

---Rotate a user's credentials.
---@param p RotateCredentialParams
function Remediate.rotate_credential(p) end

---Put a configuration setting right.
---@param p FixConfigParams
function Remediate.fix_config(p) end

---Delete a file.
---@param p RemoveFileParams
function Remediate.remove_file(p) end

---The playbook's view of remediad during one run. Every call only adds a
---request to the plan (32 at most by default); the plan is validated and
---judged by the guardrails as a whole after run() returns.
---@class Rd
---@field mitigate Mitigate Mitigation requests (rd.mitigate.isolate{...}).
---@field remediate Remediate Remediation requests (rd.remediate.patch{...}).
---@field prior integer Earlier non-empty plans of this playbook for the same escalate.key value within escalate.window (0 without escalate).
---@field playbook string This playbook's name.
local Rd = {}

---Open a ticket.
---@param p TicketParams
function Rd.ticket(p) end

---Send a notification.
---@param p NotifyParams
function Rd.notify(p) end

---The inventory entry for `name`: exact, else case-insensitive, else by the
---first label ("DC01.corp.example" finds "dc01"); nil when there is none or
---no inventory is configured.
---@param name? string
---@return Asset?
function Rd.asset(name) end

---Whether rd.asset(name) has tier "critical" or the tag "protected".
---@param name? string
---@return boolean
function Rd.protected(name) end

---At most `n` bytes of `s`, cut at a UTF-8 character boundary.
---@param s string
---@param n integer
---@return string
function Rd.cut(s, n) end

---Log a line with the run's outcome (16 lines per run kept, 1024 bytes each;
---control characters become spaces).
---@param level LogLevel
---@param msg string
function Rd.log(level, msg) end

-- ---------------------------------------------------------------------------
-- playbook{}: what a playbook file returns

---A dedup or escalation window, per value of one alert field.
---@class Window
---@field key AlertField The alert field whose value the window is kept for.
---@field window Duration How far back it reaches (not zero).

---Which alerts the playbook runs on. Every key given must hold; a list
---means any of its strings. All but `when` are checked in C, before any
---worker runs.
---@class Match
---@field source? Source|Source[] The detected format(s).
---@field category? string|string[] Exact category value(s).
---@field rule? string|string[] Exact rule value(s) (Wazuh: the rule id as a string).
---@field min_severity? integer 0-100; an alert without severity does not match.
---@field has? AlertField|AlertField[] Fields the alert must have.
---@field protected? boolean true: the alert's host is protected in the inventory (as rd.protected says); false: it is not, or the alert has no host.
---@field when? fun(alert: Alert): boolean Last check, in Lua (no rd: no asset lookups); false gives a "skip" (not counted for dedup).

---@class PlaybookSpec
---@field name string Unique in the directory: 1-64 of letters, digits, '-', '_', '.'.
---@field description? string One line for `remediactl playbooks`.
---@field match? Match Which alerts it runs on (absent: every alert).
---@field dedup? Window At most one run per key value per window (a plan, empty or not, or a failure starts it).
---@field escalate? Window Counts this playbook's non-empty plans per key value into rd.prior.
---@field dry_run? boolean Plans are recorded but never carried out.
---@field run fun(alert: Alert, rd: Rd) Asks for actions through rd; returns nothing.

---Declares the file's playbook; call it once, and end the file with
---`return playbook { ... }`. Errors name the file and line.
---@param spec PlaybookSpec
---@return PlaybookSpec
function playbook(spec) end

-- ---------------------------------------------------------------------------
-- The os functions the sandbox keeps (.luarc.json disables the rest of os).

---@class sandbox_os
os = {}

---CPU time used by the program, in seconds.
---@return number
function os.clock() end

---Formats a time ("!" first: UTC, e.g. os.date("!%Y-%m-%d", t)); "*t" or
---"!*t" gives a table.
---@param format? string
---@param time? integer
---@return string|table
function os.date(format, time) end

---The current time, or the local time the table describes, in seconds
---since the epoch.
---@param date? table
---@return integer
function os.time(date) end

-- ---------------------------------------------------------------------------
-- remediad test-playbooks: the globals of *_test.lua files

---@class RunOpts
---@field now? number The clock for this run, in seconds since the epoch (default: 1 s after the last run; each case starts at 1700000000).
---@field prior? integer What rd.prior says (default: counted from the escalation window).

---A request of the plan, normalized by plan validation.
---@class PlannedAction
---@field kind "mitigate"|"remediate"|"ticket"|"notify"
---@field action string The action's name ("isolate"; "ticket" for a ticket).
---@field params table<string, string|number|boolean> The parameters, without the common fields.
---@field approval Approval
---@field risk Risk
---@field reason? string
---@field ttl? Duration
---@field ttl_ms? integer
---@field until_remediated? boolean
---@field verify? boolean Remediations only.
---@field rollback? string The undo action of a mitigation that has one.

---@class RunLog
---@field level LogLevel
---@field msg string

---@class RunResult
---@field status "plan"|"nomatch"|"skip"|"error"|"invalid"
---@field actions? PlannedAction[] status "plan": the requests (may be empty).
---@field reason? "when"|"dedup" status "skip": why.
---@field kind? "runtime"|"memory"|"instructions" status "error": what failed.
---@field error? string status "error" or "invalid": the message.
---@field prior? integer What rd.prior said (not for nomatch and dedup).
---@field logs? RunLog[] The rd.log lines (not for nomatch and dedup).
---@field logs_dropped? integer Lines past the limit.
---@field dry_run? boolean The playbook is dry_run.

---Registers a test case (top level only). Cases run in order, each with
---empty dedup and escalation windows.
---@param name string
---@param fn fun()
function test(name, fn) end

---Makes an alert as the Kafka intake would: doc is the message as a table,
---as JSON text starting with "{", or a file relative to the test
---directory. Raises when the decoder rejects it.
---@param doc table|string
---@return Alert
function fixture(doc) end

---Runs a playbook on an alert as the daemon would: matching and windows
---on the alert's current fields, the run, plan validation.
---@param name string The playbook's name.
---@param alert Alert|table
---@param opts? RunOpts
---@return RunResult
function run(name, alert, opts) end

---Fails the case when cond is false or nil.
---@param cond any
---@param msg? any
function expect(cond, msg) end

---Fails the case unless actual equals expected (tables key by key, deep).
---@param actual any
---@param expected any
---@param msg? any
function eq(actual, expected, msg) end

---Fails the case unless the result is a plan with a request `name`
---("mitigate.isolate", "ticket") whose params, or else normalized fields
---(ttl, approval, risk, ...), hold every key of subset; returns it.
---@param result RunResult
---@param name string
---@param subset? table<string, any>
---@return PlannedAction
function has_action(result, name, subset) end

---Fails the case unless the result is a plan without actions, a skip or a
---nomatch.
---@param result RunResult
function no_actions(result) end
