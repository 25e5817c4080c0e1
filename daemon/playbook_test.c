/*
 * `remediad test-playbooks DIR`: runs the *_test.lua files of a playbook
 * directory, each in a sandbox of its own, against the playbooks of DIR
 * loaded in-process, and reports every test case. Owns the test API only.
 */

/*
 * The test API: the globals a *_test.lua file sees, besides the sandbox's
 * standard library. Decoding, matching, the windows, the runs and plan
 * validation are the daemon's own code (alert_decode, the engine's offline
 * matching, pbhost_run, plan_validate), so a test passes or fails for the
 * reasons the daemon would act or not.
 *
 * test(name, fn)
 *	Registers a test case, at the top level of the file only. Cases run
 *	in order once the top level has finished. A case passes when fn
 *	returns without error and no expect/eq/has_action/no_actions inside
 *	it failed (also one whose error a pcall caught). Each case starts
 *	with empty dedup and escalation windows and the clock at
 *	1700000000 s.
 *
 * fixture(doc)
 *	Makes an alert as the daemon's Kafka intake would. doc is a table
 *	(the message as a Lua table, encoded to JSON), a string starting with
 *	"{" (the message itself), or else the name of a file relative to DIR
 *	holding one message (at most 1 MiB; no absolute path, no ".."). The
 *	message goes through alert_decode() with the default options and
 *	received_at "2026-01-01T00:00:00Z". Returns the canonical alert as a
 *	table (its fields, and raw the parsed message); run() is given the
 *	message text along with it. A rejected message raises
 *	"fixture: rejected (missing_field): missing field id for Wazuh alert".
 *
 * run(name, alert [, opts])
 *	Runs playbook `name` (an error if there is none) on alert as the
 *	daemon would: the alert's current string and integer fields (a test
 *	may change them; raw aside) go through the daemon's matching and
 *	windows, then the playbook runs in its own sandbox (16 MiB, 1,000,000
 *	instructions) and a plan goes through plan validation. The playbook's
 *	alert.raw is the message fixture() decoded, or, for a table not made
 *	by fixture(), its raw field encoded to JSON. Returns one of
 *	  {status = "nomatch"}                 match{} leaves the alert out
 *	  {status = "skip", reason = "dedup"}  inside the dedup window
 *	  {status = "skip", reason = "when"}   match.when() said no
 *	  {status = "error", kind = "runtime"|"memory"|"instructions",
 *	   error = "edr.lua:7: ..."}
 *	  {status = "invalid", error = "request 1 (mitigate.isolate): ..."}
 *	  {status = "plan", actions = {...}}   actions may be empty
 *	where every status but nomatch and dedup also has prior (what
 *	rd.prior said), logs ({level =, msg =} per rd.log line) and, when
 *	the playbook logged more than 16 lines, logs_dropped; a plan of a
 *	dry_run playbook has dry_run = true. An action is the
 *	normalized request: kind, action, params, approval, risk, and as the
 *	request gives them reason, ttl and ttl_ms, until_remediated, verify,
 *	rollback. The windows move on as in the daemon: a plan or a failed
 *	run starts the dedup window, a plan with actions counts for
 *	escalation. opts.now (seconds since the epoch) is the clock for this
 *	run; without it the clock moves 1 s per run, continuing from the last
 *	opts.now. opts.prior sets rd.prior (default: the plans of the
 *	escalation window). At most 1000 runs and 1000 fixtures per file.
 *
 * expect(cond [, msg])
 *	Fails when cond is false or nil, with msg ("expectation failed").
 * eq(actual, expected [, msg])
 *	Fails unless the two are equal: tables key by key, recursively (32
 *	levels at most), anything else as rawequal (1 == 1.0). The message
 *	reads "msg: expected X, got Y", each value cut at 200 bytes.
 * has_action(result, "kind.action" [, subset])
 *	Fails unless result (of run()) is a plan with a request of that kind
 *	and action ("ticket" alone for kind = action) whose params, or else
 *	the normalized fields (ttl, approval, risk, ...), hold every key of
 *	subset with an equal value. Returns the action. The failure lists the
 *	plan: "no mitigate.isolate with host=ws-1 (plan has: ticket)".
 * no_actions(result)
 *	Fails unless result is a plan without actions, a skip or a nomatch.
 *
 * A failure aborts the case (its error can be caught, the case still
 * fails) and prints "FAIL file_test.lua:LINE: case name: message", LINE
 * being the line in the test file. With -v, passing cases print
 * "ok   file_test.lua case name". A file that does not load or fails at
 * its top level counts as one failed test. A file has 64 MiB and
 * 100,000,000 instructions for everything it runs (the playbooks run
 * under their own limits); once they are spent its remaining cases fail
 * as not run.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "remediad/alert.h"
#include "remediad/fsutil.h"
#include "remediad/offline.h"
#include "remediad/plan.h"
#include "remediad/playbook.h"
#include "remediad/playbook_host.h"
#include "remediad/sandbox.h"

#define PTEST_MEMORY	   (64 * 1024 * 1024)
#define PTEST_INSTRUCTIONS 100000000
#define PTEST_MAX_FILE	   (1024 * 1024) /* a test file, a fixture file */
#define PTEST_MAX_RUNS	   1000		 /* run() calls per file */
#define PTEST_MAX_FIXTURES 1000		 /* fixture() calls per file */
#define PTEST_CLOCK_START  1700000000ULL /* s, at the start of every case */
#define PTEST_RECEIVED_AT  "2026-01-01T00:00:00Z"
#define PTEST_MAX_SHOWN	   200	/* bytes of a value in a message */
#define PTEST_MAX_MSG	   1024 /* bytes of a failure message kept */
#define PTEST_MAX_PRINTED  2000 /* bytes of a message printed */
#define PTEST_WHERE_LEVELS 64	/* stack frames searched for the line */

/* Registry keys (their addresses are unique). */
static const char key_cases = 'c'; /* array of {fn, name, line} */
static const char key_raw = 'r';   /* weak: alert table -> message text */
static const char key_probe = 'p'; /* a Lua function doing nothing */

/*
 * The assertions are Lua, so the work they do on the test's tables is
 * counted by the file's instruction budget like the rest of the file; C
 * only records a failure (fail) and shows a value in bounded time
 * (render).
 */
static const char ptest_helpers[] =
    "local fail, render = ...\n"
    "local type, next, rawget, rawequal, tostring = type, next, rawget,\n"
    "    rawequal, tostring\n"
    "local sort, concat, match = table.sort, table.concat, string.match\n"
    "local MAXDEPTH = 32\n"
    "\n"
    "-- true, false, or nil when the tables nest deeper than MAXDEPTH.\n"
    "local function same(a, b, depth)\n"
    "  if rawequal(a, b) then return true end\n"
    "  if type(a) ~= 'table' or type(b) ~= 'table' then return false end\n"
    "  if depth > MAXDEPTH then return nil end\n"
    "  local n = 0\n"
    "  for k, v in next, a do\n"
    "    local w = rawget(b, k)\n"
    "    if w == nil then return false end\n"
    "    local r = same(v, w, depth + 1)\n"
    "    if not r then return r end\n"
    "    n = n + 1\n"
    "  end\n"
    "  for _ in next, b do\n"
    "    n = n - 1\n"
    "    if n < 0 then return false end\n"
    "  end\n"
    "  return n == 0\n"
    "end\n"
    "\n"
    "local function str(v)\n"
    "  if type(v) == 'string' then return v end\n"
    "  return render(v)\n"
    "end\n"
    "\n"
    "local function label(msg)\n"
    "  if msg == nil then return '' end\n"
    "  return str(msg) .. ': '\n"
    "end\n"
    "\n"
    "local function status_of(res)\n"
    "  local s = \"the run's status is \" .. str(res.status)\n"
    "  if res.reason ~= nil then s = s .. ' (' .. str(res.reason) .. ')' "
    "end\n"
    "  if res.error ~= nil then s = s .. ': ' .. str(res.error) end\n"
    "  return s\n"
    "end\n"
    "\n"
    "local function actname(a)\n"
    "  if a.kind == a.action then return str(a.kind) end\n"
    "  return str(a.kind) .. '.' .. str(a.action)\n"
    "end\n"
    "\n"
    "local function keys_sorted(t)\n"
    "  local ks = {}\n"
    "  for k in next, t do ks[#ks + 1] = k end\n"
    "  sort(ks, function(x, y)\n"
    "    local tx, ty = type(x), type(y)\n"
    "    if tx ~= ty then return tx < ty end\n"
    "    if tx == 'string' or tx == 'number' then return x < y end\n"
    "    return false\n"
    "  end)\n"
    "  return ks\n"
    "end\n"
    "\n"
    "local function result(fn, res)\n"
    "  if type(res) ~= 'table' then\n"
    "    fail(fn .. ': argument 1 must be the result of run(), got ' ..\n"
    "        type(res))\n"
    "  end\n"
    "end\n"
    "\n"
    "local function expect(cond, msg)\n"
    "  if not cond then\n"
    "    if msg == nil then fail('expectation failed') end\n"
    "    fail(str(msg))\n"
    "  end\n"
    "end\n"
    "\n"
    "local function eq(actual, expected, msg)\n"
    "  local r = same(actual, expected, 1)\n"
    "  if r == nil then\n"
    "    fail(label(msg) .. 'eq: tables nested deeper than ' .. MAXDEPTH ..\n"
    "        ' levels (a cycle?)')\n"
    "  elseif not r then\n"
    "    fail(label(msg) .. 'expected ' .. render(expected) .. ', got ' ..\n"
    "        render(actual))\n"
    "  end\n"
    "end\n"
    "\n"
    "local function has_action(res, name, subset)\n"
    "  result('has_action', res)\n"
    "  if type(name) ~= 'string' then\n"
    "    fail('has_action: argument 2 must be \"kind.action\", got ' ..\n"
    "        type(name))\n"
    "  end\n"
    "  if subset ~= nil and type(subset) ~= 'table' then\n"
    "    fail('has_action: argument 3 must be a table, got ' ..\n"
    "        type(subset))\n"
    "  end\n"
    "  local kind, action = match(name, '^([^.]*)%.(.*)$')\n"
    "  if kind == nil then kind, action = name, name end\n"
    "  local ks = subset and keys_sorted(subset) or {}\n"
    "  local want = {}\n"
    "  for i = 1, #ks do\n"
    "    want[i] = str(ks[i]) .. '=' .. str(subset[ks[i]])\n"
    "  end\n"
    "  local what = name\n"
    "  if #want > 0 then what = what .. ' with ' .. concat(want, ', ') end\n"
    "  if res.status ~= 'plan' then\n"
    "    fail('no ' .. what .. ': ' .. status_of(res))\n"
    "  end\n"
    "  local acts = res.actions\n"
    "  if type(acts) ~= 'table' then\n"
    "    fail('no ' .. what .. ': the result has no actions list')\n"
    "  end\n"
    "  local seen = {}\n"
    "  for i = 1, #acts do\n"
    "    local a = acts[i]\n"
    "    if type(a) == 'table' then\n"
    "      local named = a.kind == kind and a.action == action\n"
    "      local ok, got = named, {}\n"
    "      local params = type(a.params) == 'table' and a.params or {}\n"
    "      for j = 1, #ks do\n"
    "        local k = ks[j]\n"
    "        local v = rawget(params, k)\n"
    "        if v == nil then v = rawget(a, k) end\n"
    "        if ok and not same(v, subset[k], 1) then ok = false end\n"
    "        got[j] = str(k) .. '=' .. str(v)\n"
    "      end\n"
    "      if ok then return a end\n"
    "      local s = actname(a)\n"
    "      if named and #got > 0 then\n"
    "        s = s .. ' with ' .. concat(got, ', ')\n"
    "      end\n"
    "      seen[#seen + 1] = s\n"
    "    end\n"
    "  end\n"
    "  if #seen == 0 then\n"
    "    fail('no ' .. what .. ' (the plan has no actions)')\n"
    "  end\n"
    "  fail('no ' .. what .. ' (plan has: ' .. concat(seen, ', ') .. ')')\n"
    "end\n"
    "\n"
    "local function no_actions(res)\n"
    "  result('no_actions', res)\n"
    "  local s = res.status\n"
    "  if s == 'skip' or s == 'nomatch' then return end\n"
    "  if s == 'plan' then\n"
    "    local acts = res.actions\n"
    "    if type(acts) ~= 'table' or #acts == 0 then return end\n"
    "    local names = {}\n"
    "    for i = 1, #acts do\n"
    "      local a = acts[i]\n"
    "      names[i] = type(a) == 'table' and actname(a) or render(a)\n"
    "    end\n"
    "    fail('expected no actions, the plan has: ' .. concat(names, ', '))\n"
    "  end\n"
    "  fail('expected no actions, ' .. status_of(res))\n"
    "end\n"
    "\n"
    "return {expect = expect, eq = eq, has_action = has_action,\n"
    "    no_actions = no_actions}\n";

/* The whole run: the playbooks and the counts over every file. */
struct ptest {
	const char *dir;
	int dirfd;
	int verbose;
	struct pbhost *host;
	json_t *meta; /* from pbhost_load, for the offline engines */
	unsigned long passed;
	unsigned long failed;
};

/* One test file in its sandbox. */
struct ptfile {
	struct ptest *t;
	const char *name;	  /* "edr_test.lua" */
	char chunk[NAME_MAX + 2]; /* "@edr_test.lua", the chunk name */
	char src[LUA_IDSIZE];	  /* how Lua names it in messages */
	struct sandbox *sb;
	struct playbooks *engine; /* the windows */
	int engine_used;	  /* a run moved them since the last reset */
	uint64_t clock_ms;
	unsigned int runs, fixtures;
	int in_case;
	int finished; /* the runner got through every case */

	/* The unit running (the top level or one case). */
	int failed;   /* an expectation failed */
	int fail_line;
	char fail_msg[PTEST_MAX_MSG];
	int err_line; /* where the last error was raised, 0 unknown */
};

/* The options of one run(). */
struct ptrun_opts {
	int has_now;
	uint64_t now_ms;
	int has_prior;
	int64_t prior;
};

/* ---- Files ------------------------------------------------------------ */

/* A regular file under dirfd (fs_read_file_at), why filled in if not. */
static char *
ptest_read(int dirfd, const char *path, size_t max, size_t *len, char *why,
    size_t whylen)
{
	char *cause = NULL;
	char *buf = fs_read_file_at(dirfd, path, max, len, &cause);

	if (buf == NULL)
		snprintf(why, whylen, "%s", cause ? cause : "out of memory");
	free(cause);
	return buf;
}

/*
 * A fixture file: relative to DIR and inside it, so a test directory
 * from elsewhere cannot read the files of whoever runs it.
 */
static char *
ptest_read_fixture(const struct ptest *t, const char *path, size_t plen,
    size_t *len, char *why, size_t whylen)
{
	const char *p = path, *slash;

	if (plen == 0 || strlen(path) != plen) {
		snprintf(why, whylen, "not a file name");
		return NULL;
	}
	if (path[0] == '/') {
		snprintf(why, whylen, "%.200s: a file name relative to %.200s",
		    path, t->dir);
		return NULL;
	}
	for (;;) {
		slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			snprintf(why, whylen, "%.200s: \"..\" is not allowed",
			    path);
			return NULL;
		}
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return ptest_read(t->dirfd, path, PTEST_MAX_FILE, len, why, whylen);
}

static int
ptest_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *_test.lua files of the directory, sorted; -1 with errno. */
static int
ptest_list(int dirfd, char ***out, size_t *n)
{
	static const char suffix[] = "_test.lua";
	struct dirent *de;
	char **v = NULL, **nv;
	size_t len;
	DIR *dp;
	int fd;

	*out = NULL;
	*n = 0;
	if ((fd = dup(dirfd)) == -1)
		return -1;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < sizeof suffix ||
		    strcmp(de->d_name + len - (sizeof suffix - 1), suffix) != 0)
			continue;
		if ((nv = realloc(v, (*n + 1) * sizeof *v)) == NULL)
			goto fail;
		v = nv;
		if ((v[*n] = strdup(de->d_name)) == NULL)
			goto fail;
		(*n)++;
	}
	closedir(dp);
	if (*n > 0)
		qsort(v, *n, sizeof *v, ptest_name_cmp);
	*out = v;
	return 0;
fail:
	closedir(dp);
	for (size_t i = 0; i < *n; i++)
		free(v[i]);
	free(v);
	*n = 0;
	errno = ENOMEM;
	return -1;
}

/* ---- Output ------------------------------------------------------------- */

/*
 * Prints s on one line whatever the test wrote: control characters become
 * spaces, and beyond max bytes it is cut at a character boundary.
 */
static void
ptest_print(const char *s, size_t max)
{
	size_t len = strlen(s), n = len < max ? len : max;

	while (n < len && n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		putchar(c < 0x20 || c == 0x7f ? ' ' : c);
	}
	if (n < len)
		fputs("...", stdout);
}

static void
ptfile_print_fail(struct ptfile *f, int line, const char *casename,
    const char *msg)
{
	fputs("FAIL ", stdout);
	ptest_print(f->name, NAME_MAX);
	if (line > 0)
		printf(":%d", line);
	fputs(": ", stdout);
	if (casename != NULL) {
		ptest_print(casename, PTEST_MAX_SHOWN);
		fputs(": ", stdout);
	}
	ptest_print(msg, PTEST_MAX_PRINTED);
	putchar('\n');
	f->t->failed++;
}

/*
 * The message without the "file_test.lua:12: " Lua puts in front of it,
 * and that line; *line is left alone if there is none.
 */
static const char *
ptfile_strip_where(const struct ptfile *f, const char *msg, int *line)
{
	size_t n = strlen(f->src);
	const char *p;
	long v = 0;

	if (strncmp(msg, f->src, n) != 0 || msg[n] != ':')
		return msg;
	p = msg + n + 1;
	if (*p < '0' || *p > '9')
		return msg;
	while (*p >= '0' && *p <= '9' && v < 100000000)
		v = v * 10 + (*p++ - '0');
	if (p[0] != ':' || p[1] != ' ')
		return msg;
	*line = (int)v;
	return p + 2;
}

/*
 * Reports the unit that just ended (status of its pcall, error value on
 * top): 1 if it failed. Its first failed expectation is the reason, else
 * its error.
 */
static int
ptfile_report(struct ptfile *f, lua_State *L, int status,
    const char *casename, int defline)
{
	const char *msg;
	int line = 0;

	if (status == LUA_OK && !f->failed) {
		if (casename != NULL) {
			f->t->passed++;
			if (f->t->verbose) {
				fputs("ok   ", stdout);
				ptest_print(f->name, NAME_MAX);
				putchar(' ');
				ptest_print(casename, PTEST_MAX_SHOWN);
				putchar('\n');
			}
		}
		return 0;
	}
	if (f->failed) {
		line = f->fail_line;
		msg = f->fail_msg;
	} else {
		msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) :
		    "(error object is not a string)";
		msg = ptfile_strip_where(f, msg, &line);
		if (line == 0)
			line = f->err_line;
	}
	ptfile_print_fail(f, line > 0 ? line : defline, casename, msg);
	return 1;
}

/* ---- Calls from Lua ------------------------------------------------------ */

static struct ptfile *
ptfile_of(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/*
 * The line of the innermost frame running the test file, or 0: the line
 * of the failing assertion even when a helper of the file, or ours, sits
 * in between.
 */
static int
ptfile_line(lua_State *L, const struct ptfile *f)
{
	lua_Debug ar;

	for (int level = 0; level < PTEST_WHERE_LEVELS &&
	    lua_getstack(L, level, &ar); level++) {
		if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0 &&
		    strcmp(ar.source, f->chunk) == 0)
			return ar.currentline;
	}
	return 0;
}

/* The message handler of the units: notes where, reads strings only. */
static int
ptfile_msgh_cb(lua_State *L)
{
	struct ptfile *f = ptfile_of(L);

	f->err_line = ptfile_line(L, f);
	return sandbox_msgh(L);
}

/* fail(msg): records the unit's first failure, then raises. */
static int
lua_ptest_fail(lua_State *L)
{
	struct ptfile *f = ptfile_of(L);
	const char *msg = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) :
	    "expectation failed";
	int line = ptfile_line(L, f);

	if (!f->failed) {
		f->failed = 1;
		f->fail_line = line;
		snprintf(f->fail_msg, sizeof f->fail_msg, "%s", msg);
	}
	if (line > 0)
		lua_pushfstring(L, "%s:%d: %s", f->src, line, msg);
	else
		lua_pushfstring(L, "%s: %s", f->src, msg);
	return lua_error(L);
}

/* A bounded rendering of a value, for failure messages. */
struct ptbuf {
	char s[PTEST_MAX_SHOWN + 1];
	size_t len;
	int full;
};

static void
ptbuf_add(struct ptbuf *b, const char *s, size_t n)
{
	if (b->full)
		return;
	if (n > PTEST_MAX_SHOWN - b->len) {
		n = PTEST_MAX_SHOWN - b->len;
		b->full = 1;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
}

static void
ptbuf_str(struct ptbuf *b, const char *s)
{
	ptbuf_add(b, s, strlen(s));
}

static void
ptbuf_quoted(struct ptbuf *b, const char *s, size_t len)
{
	char esc[8];

	ptbuf_add(b, "\"", 1);
	for (size_t i = 0; i < len && !b->full; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			ptbuf_add(b, esc, 2);
		} else if (c == '\n')
			ptbuf_add(b, "\\n", 2);
		else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof esc, "\\%u", c);
			ptbuf_str(b, esc);
		} else
			ptbuf_add(b, (const char *)&c, 1);
	}
	ptbuf_add(b, "\"", 1);
}

static int
ptbuf_is_name(const char *s, size_t len)
{
	if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* Orders keys: strings by bytes, then numbers, then the rest as found. */
static int
ptbuf_key_less(lua_State *L, int a, int b)
{
	int ta = lua_type(L, a), tb = lua_type(L, b);

	if (ta != tb)
		return ta == LUA_TSTRING || (ta == LUA_TNUMBER &&
		    tb != LUA_TSTRING);
	if (ta == LUA_TSTRING) {
		size_t la, lb;
		const char *sa = lua_tolstring(L, a, &la);
		const char *sb = lua_tolstring(L, b, &lb);
		int c = memcmp(sa, sb, la < lb ? la : lb);
		return c < 0 || (c == 0 && la < lb);
	}
	if (ta == LUA_TNUMBER)
		return lua_compare(L, a, b, LUA_OPLT);
	return 0;
}

#define PTBUF_MAX_KEYS 16

static void ptbuf_value(lua_State *L, struct ptbuf *b, int idx, int depth);

/*
 * A table: its list part, or else up to PTBUF_MAX_KEYS keys, sorted when
 * that is all of them so a message reads the same every time. Work is
 * bounded whatever the size of the table.
 */
static void
ptbuf_table(lua_State *L, struct ptbuf *b, int idx, int depth)
{
	lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
	int keys[PTBUF_MAX_KEYS], nkeys = 0, more = 0, base;

	if (depth >= 4) {
		ptbuf_str(b, "{...}");
		return;
	}
	if (!lua_checkstack(L, PTBUF_MAX_KEYS + 4))
		luaL_error(L, "out of memory");
	ptbuf_str(b, "{");
	if (n > 0) {
		for (lua_Integer i = 1; i <= n && !b->full; i++) {
			if (i > 1)
				ptbuf_str(b, ", ");
			lua_rawgeti(L, idx, i);
			ptbuf_value(L, b, lua_gettop(L), depth + 1);
			lua_pop(L, 1);
		}
		ptbuf_str(b, "}");
		return;
	}
	base = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		if (nkeys == PTBUF_MAX_KEYS) {
			more = 1;
			lua_pop(L, 1);
			break;
		}
		lua_pushvalue(L, -1); /* kept below the iteration key */
		keys[nkeys++] = lua_gettop(L) - 1;
	}
	if (!more) {
		for (int i = 1; i < nkeys; i++) /* insertion sort, n <= 16 */
			for (int j = i; j > 0 && ptbuf_key_less(L, keys[j],
			    keys[j - 1]); j--) {
				int tmp = keys[j];
				keys[j] = keys[j - 1];
				keys[j - 1] = tmp;
			}
	}
	for (int i = 0; i < nkeys && !b->full; i++) {
		const char *k = NULL;
		size_t klen = 0;
		if (i > 0)
			ptbuf_str(b, ", ");
		if (lua_type(L, keys[i]) == LUA_TSTRING)
			k = lua_tolstring(L, keys[i], &klen);
		if (k != NULL && ptbuf_is_name(k, klen))
			ptbuf_add(b, k, klen);
		else {
			ptbuf_str(b, "[");
			ptbuf_value(L, b, keys[i], depth + 1);
			ptbuf_str(b, "]");
		}
		ptbuf_str(b, "=");
		lua_pushvalue(L, keys[i]);
		lua_rawget(L, idx);
		ptbuf_value(L, b, lua_gettop(L), depth + 1);
		lua_pop(L, 1);
	}
	if (more)
		ptbuf_str(b, ", ...");
	ptbuf_str(b, "}");
	lua_settop(L, base);
}

static void
ptbuf_value(lua_State *L, struct ptbuf *b, int idx, int depth)
{
	char num[64];
	size_t len;
	const char *s;

	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		ptbuf_str(b, "nil");
		break;
	case LUA_TBOOLEAN:
		ptbuf_str(b, lua_toboolean(L, idx) ? "true" : "false");
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			snprintf(num, sizeof num, "%lld",
			    (long long)lua_tointeger(L, idx));
		else {
			lua_Number d = lua_tonumber(L, idx);
			snprintf(num, sizeof num, "%.14g", (double)d);
			/* As Lua writes it: 1.0 is not 1. */
			if (isfinite(d) && strspn(num, "-0123456789") ==
			    strlen(num))
				strcat(num, ".0");
		}
		ptbuf_str(b, num);
		break;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		ptbuf_quoted(b, s, len);
		break;
	case LUA_TTABLE:
		ptbuf_table(L, b, idx, depth);
		break;
	default:
		snprintf(num, sizeof num, "<%s>", luaL_typename(L, idx));
		ptbuf_str(b, num);
		break;
	}
}

/* The longest prefix of s[0..len) that ends on a character boundary. */
static size_t
ptbuf_utf8_cut(const char *s, size_t len)
{
	size_t start = len, need;
	unsigned char c;

	while (start > 0 && ((unsigned char)s[start - 1] & 0xc0) == 0x80 &&
	    len - start < 3)
		start--;
	if (start == 0)
		return len;
	c = (unsigned char)s[start - 1];
	if (c < 0x80)
		return len;
	need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	return len - (start - 1) < need ? start - 1 : len;
}

/* render(v): a short text of v, for failure messages. */
static int
lua_ptest_render(lua_State *L)
{
	struct ptbuf b;

	b.len = 0;
	b.full = 0;
	lua_settop(L, 1);
	ptbuf_value(L, &b, 1, 0);
	if (b.full) {
		b.len = ptbuf_utf8_cut(b.s, b.len);
		b.s[b.len] = '\0';
		lua_pushfstring(L, "%s...", b.s);
	} else
		lua_pushlstring(L, b.s, b.len);
	return 1;
}

/* test(name, fn) */
static int
lua_ptest_test(lua_State *L)
{
	struct ptfile *f = ptfile_of(L);
	lua_Integer n;

	luaL_checkstring(L, 1);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	if (f->in_case)
		return luaL_error(L, "test: cases are registered at the top "
		    "level of the file, not inside a case");
	lua_settop(L, 2);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_cases);
	n = (lua_Integer)lua_rawlen(L, 3);
	lua_createtable(L, 3, 0);
	lua_pushvalue(L, 2);
	lua_rawseti(L, -2, 1);
	lua_pushvalue(L, 1);
	lua_rawseti(L, -2, 2);
	lua_pushinteger(L, ptfile_line(L, f));
	lua_rawseti(L, -2, 3);
	lua_rawseti(L, 3, n + 1);
	return 0;
}

struct ptest_str {
	const char *s;
	size_t len;
};

static int
ptest_pushlstring_cb(lua_State *L)
{
	const struct ptest_str *a = lua_touserdata(L, 1);

	lua_pushlstring(L, a->s, a->len);
	return 1;
}

/* lua_pushlstring() that fails with -1 instead of raising. */
static int
ptest_pushlstring(lua_State *L, const char *s, size_t len)
{
	struct ptest_str a = {s, len};

	if (!lua_checkstack(L, 3))
		return -1;
	lua_pushcfunction(L, ptest_pushlstring_cb);
	lua_pushlightuserdata(L, &a);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		lua_pop(L, 1);
		return -1;
	}
	return 0;
}

static int
ptest_is_inline(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
	    s[i] == '\r'))
		i++;
	return i < len && s[i] == '{';
}

/*
 * fixture(doc). What C allocates is freed before anything that can raise,
 * since a Lua error would jump over the free.
 */
static int
lua_ptest_fixture(lua_State *L)
{
	struct ptfile *f = ptfile_of(L);
	char why[1024];
	const char *data;
	char *buf = NULL;
	size_t len;
	json_t *alert, *doc;
	enum alert_reject r;
	int t = lua_type(L, 1), ok;

	if (t != LUA_TTABLE && t != LUA_TSTRING)
		return luaL_typeerror(L, 1, "table or string");
	if (f->fixtures >= PTEST_MAX_FIXTURES)
		return luaL_error(L, "fixture: more than %d fixtures in one "
		    "test file", PTEST_MAX_FIXTURES);
	f->fixtures++;
	lua_settop(L, 1);
	luaL_checkstack(L, 6, NULL);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_raw); /* 2 */
	if (t == LUA_TTABLE) {
		doc = sandbox_to_json(L, 1, ALERT_DEFAULT_MAX_DEPTH, "fixture",
		    why, sizeof why);
		if (doc == NULL)
			return luaL_error(L, "fixture: %s", why);
		buf = json_dumps(doc, JSON_COMPACT);
		json_decref(doc);
		if (buf == NULL)
			return luaL_error(L, "fixture: out of memory");
		data = buf;
		len = strlen(buf);
	} else {
		data = lua_tolstring(L, 1, &len);
		if (!ptest_is_inline(data, len)) {
			buf = ptest_read_fixture(f->t, data, len, &len, why,
			    sizeof why);
			if (buf == NULL)
				return luaL_error(L, "fixture: %s", why);
			data = buf;
		}
	}
	r = alert_decode(data, len, NULL, PTEST_RECEIVED_AT, &alert, why,
	    sizeof why);
	if (r != ALERT_OK) {
		free(buf);
		return luaL_error(L, "fixture: rejected (%s): %s",
		    alert_reject_name(r), why);
	}
	/*
	 * The test sees the message as alert.raw, as the playbook does (the
	 * decoder keeps only the canonical fields; it checked the JSON).
	 */
	doc = json_loadb(data, len, 0, NULL);
	if (doc == NULL || json_object_set_new(alert, "raw", doc) != 0) {
		json_decref(alert);
		free(buf);
		return luaL_error(L, "fixture: out of memory");
	}
	ok = sandbox_push_json(L, alert, ALERT_DEFAULT_MAX_DEPTH + 1) == 0;
	json_decref(alert);
	if (ok && ptest_pushlstring(L, data, len) == -1) { /* 4 */
		lua_pop(L, 1);
		ok = 0;
	}
	free(buf);
	if (!ok)
		return luaL_error(L, "fixture: the alert does not fit in the "
		    "test's memory");
	/* The message stays with the table, for run(). */
	lua_pushvalue(L, 3);
	lua_pushvalue(L, 4);
	lua_rawset(L, 2);
	lua_settop(L, 3);
	return 1;
}

/*
 * The alert's fields as the playbook gets them: string and integer values
 * under string names, raw left out. Raises nothing (it runs while C holds
 * memory); NULL with err.
 */
static json_t *
ptest_fields(lua_State *L, int idx, char *err, size_t errlen)
{
	int top = lua_gettop(L);
	json_t *o = json_object(), *v;
	const char *k, *s;
	size_t klen, len;

	if (o == NULL || !lua_checkstack(L, 3)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			snprintf(err, errlen, "alert: a %s key (fields are "
			    "named by strings)", luaL_typename(L, -2));
			goto fail;
		}
		k = lua_tolstring(L, -2, &klen);
		if (strlen(k) != klen) {
			snprintf(err, errlen, "alert: a field name with NUL");
			goto fail;
		}
		if (strcmp(k, "raw") == 0) {
			lua_pop(L, 1);
			continue;
		}
		switch (lua_type(L, -1)) {
		case LUA_TSTRING:
			s = lua_tolstring(L, -1, &len);
			if ((v = json_stringn(s, len)) == NULL) {
				snprintf(err, errlen, "alert.%.64s: not UTF-8 "
				    "text", k);
				goto fail;
			}
			break;
		case LUA_TNUMBER:
			if (!lua_isinteger(L, -1)) {
				snprintf(err, errlen, "alert.%.64s: %g is not "
				    "an integer", k, (double)lua_tonumber(L,
				    -1));
				goto fail;
			}
			v = json_integer((json_int_t)lua_tointeger(L, -1));
			break;
		default:
			snprintf(err, errlen, "alert.%.64s: expected a string "
			    "or an integer, got %s", k, luaL_typename(L, -1));
			goto fail;
		}
		if (json_object_set_new(o, k, v) != 0) {
			snprintf(err, errlen, "alert: field name %.64s is not "
			    "UTF-8", k);
			goto fail;
		}
		lua_pop(L, 1);
	}
	return o;
fail:
	lua_settop(L, top);
	json_decref(o);
	return NULL;
}

/* A fresh engine for the windows, unless the current one is untouched. */
static int
ptfile_reset(struct ptfile *f)
{
	char *cause = NULL;

	f->clock_ms = PTEST_CLOCK_START * 1000;
	if (f->engine != NULL && !f->engine_used)
		return 0;
	playbooks_offline_free(f->engine);
	f->engine = playbooks_offline_new(f->t->meta,
	    pbhost_assets(f->t->host), &cause);
	f->engine_used = 0;
	free(cause);
	return f->engine == NULL ? -1 : 0;
}

/*
 * One run as the daemon makes it: matching and windows, the playbook,
 * plan validation, then the windows move. Pure C; NULL when out of
 * memory.
 */
static json_t *
ptfile_run(struct ptfile *f, int idx, const json_t *fields, const char *raw,
    size_t rawlen, const struct ptrun_opts *o)
{
	struct pb_offline runs[PLAYBOOK_MAX_COUNT];
	const json_t *m = json_array_get(f->t->meta, (size_t)idx);
	json_t *out, *res, *plan, *logs;
	const char *status;
	char err[1024];
	uint64_t now = o->has_now ? o->now_ms : f->clock_ms;
	size_t n, i, nactions = 0;
	int64_t prior;

	f->clock_ms = now + 1000;
	f->engine_used = 1;
	n = playbooks_offline_match(f->engine, fields, now, runs);
	for (i = 0; i < n; i++)
		if (runs[i].idx == idx)
			break;
	if (i == n)
		return json_pack("{s:s}", "status", "nomatch");
	if (runs[i].skip != NULL)
		return json_pack("{s:s, s:s}", "status", "skip", "reason",
		    runs[i].skip);
	prior = o->has_prior ? o->prior : runs[i].prior;
	out = pbhost_run_object(f->t->host, (size_t)idx, fields, raw, rawlen,
	    prior);
	if (out == NULL)
		return NULL;
	status = json_string_value(json_object_get(out, "status"));
	if (status == NULL)
		status = "error";
	if (strcmp(status, "plan") == 0) {
		plan = plan_validate(json_object_get(out, "actions"), err,
		    sizeof err);
		if (plan == NULL) {
			/* The daemon records a failed run. */
			status = "error";
			res = json_pack("{s:s, s:s}", "status", "invalid",
			    "error", err);
		} else {
			nactions = json_array_size(plan);
			res = json_pack("{s:s, s:o}", "status", "plan",
			    "actions", plan);
			if (res != NULL && json_is_true(json_object_get(m,
			    "dry_run")))
				json_object_set_new(res, "dry_run",
				    json_true());
		}
	} else if (strcmp(status, "skip") == 0)
		res = json_pack("{s:s, s:s}", "status", "skip", "reason",
		    "when");
	else {
		const char *kind = json_string_value(json_object_get(out,
		    "kind"));
		const char *e = json_string_value(json_object_get(out,
		    "error"));
		status = "error";
		res = json_pack("{s:s, s:s, s:s}", "status", "error", "kind",
		    kind ? kind : "runtime", "error", e ? e : "failed");
	}
	playbooks_offline_outcome(f->engine, fields, (uint16_t)idx, status,
	    nactions, now);
	if (res != NULL) {
		logs = json_object_get(out, "logs");
		json_object_set_new(res, "prior", json_integer(prior));
		json_object_set_new(res, "logs", logs ? json_incref(logs) :
		    json_array());
		if (json_object_get(out, "logs_dropped") != NULL)
			json_object_set(res, "logs_dropped",
			    json_object_get(out, "logs_dropped"));
	}
	json_decref(out);
	return res;
}

/* Reads run()'s options table at idx; raises on a bad one. */
static void
ptest_run_opts(lua_State *L, int idx, struct ptrun_opts *o)
{
	const char *k;

	memset(o, 0, sizeof *o);
	if (lua_isnoneornil(L, idx))
		return;
	luaL_checktype(L, idx, LUA_TTABLE);
	luaL_checkstack(L, 3, NULL);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
		if (strcmp(k, "now") == 0) {
			lua_Number now = lua_tonumber(L, -1);
			if (lua_type(L, -1) != LUA_TNUMBER || !isfinite(now) ||
			    now < 0 || now > 1e11)
				luaL_error(L, "run: opts.now: expected seconds "
				    "since the epoch");
			o->has_now = 1;
			o->now_ms = (uint64_t)(now * 1000);
		} else if (strcmp(k, "prior") == 0) {
			if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
				luaL_error(L, "run: opts.prior: expected an "
				    "integer >= 0");
			o->has_prior = 1;
			o->prior = (int64_t)lua_tointeger(L, -1);
		} else
			luaL_error(L, "run: unknown option %s (now, prior)",
			    lua_type(L, -2) == LUA_TSTRING ? k :
			    luaL_typename(L, -2));
		lua_pop(L, 1);
	}
}

/* run(name, alert [, opts]) */
static int
lua_ptest_run(lua_State *L)
{
	struct ptfile *f = ptfile_of(L);
	struct ptrun_opts o;
	const char *name = luaL_checkstring(L, 1), *raw = NULL;
	char err[1024], *rawbuf = NULL;
	size_t rawlen = 0;
	json_t *fields, *res, *doc;
	int idx, r;

	luaL_checktype(L, 2, LUA_TTABLE);
	ptest_run_opts(L, 3, &o);
	if ((idx = pbhost_find(f->t->host, name)) < 0)
		return luaL_error(L, "run: no playbook named \"%s\"", name);
	if (f->runs >= PTEST_MAX_RUNS)
		return luaL_error(L, "run: more than %d runs in one test file",
		    PTEST_MAX_RUNS);
	f->runs++;
	lua_settop(L, 3);
	luaL_checkstack(L, 6, NULL);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_raw); /* 4 */
	lua_pushvalue(L, 2);
	lua_rawget(L, 4);		/* 5: the message fixture() read */
	lua_pushliteral(L, "raw");
	lua_rawget(L, 2);		/* 6: alert.raw */

	/* From here C holds memory: nothing may raise until it is freed. */
	if ((fields = ptest_fields(L, 2, err, sizeof err)) == NULL)
		return luaL_error(L, "run: %s", err);
	if (lua_type(L, 5) == LUA_TSTRING)
		raw = lua_tolstring(L, 5, &rawlen);
	else if (lua_type(L, 6) == LUA_TSTRING)
		raw = lua_tolstring(L, 6, &rawlen);
	else if (lua_type(L, 6) == LUA_TTABLE) {
		doc = sandbox_to_json(L, 6, ALERT_DEFAULT_MAX_DEPTH,
		    "alert.raw", err, sizeof err);
		if (doc == NULL) {
			json_decref(fields);
			return luaL_error(L, "run: %s", err);
		}
		rawbuf = json_dumps(doc, JSON_COMPACT);
		json_decref(doc);
		if (rawbuf == NULL) {
			json_decref(fields);
			return luaL_error(L, "run: out of memory");
		}
		raw = rawbuf;
		rawlen = strlen(rawbuf);
	}
	res = ptfile_run(f, idx, fields, raw, rawlen, &o);
	json_decref(fields);
	free(rawbuf);
	if (res == NULL)
		return luaL_error(L, "run: out of memory");
	r = sandbox_push_json(L, res, SANDBOX_MAX_DEPTH);
	json_decref(res);
	if (r == -1)
		return luaL_error(L, "run: the result does not fit in the "
		    "test's memory");
	return 1;
}

/* ---- One test file ------------------------------------------------------- */

/* The globals of the test API, and the registry tables behind them. */
static void
ptfile_setup(lua_State *L, struct ptfile *f)
{
	static const luaL_Reg fns[] = {
	    {"test", lua_ptest_test},
	    {"fixture", lua_ptest_fixture},
	    {"run", lua_ptest_run},
	    {NULL, NULL},
	};
	static const char *const helpers[] = {"expect", "eq", "has_action",
	    "no_actions", NULL};
	char err[512];
	int base = lua_gettop(L);

	luaL_checkstack(L, 8, NULL);
	lua_newtable(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &key_cases);
	lua_newtable(L);
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "k");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &key_raw);
	if (sandbox_load(f->sb, "return", 6, "=(probe)", err, sizeof err) !=
	    SANDBOX_OK)
		luaL_error(L, "the test API does not load: %s", err);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &key_probe);

	lua_pushglobaltable(L);
	lua_pushlightuserdata(L, f);
	luaL_setfuncs(L, fns, 1);

	if (sandbox_load(f->sb, ptest_helpers, sizeof ptest_helpers - 1,
	    "=(test-playbooks)", err, sizeof err) != SANDBOX_OK)
		luaL_error(L, "the test API does not load: %s", err);
	lua_pushlightuserdata(L, f);
	lua_pushcclosure(L, lua_ptest_fail, 1);
	lua_pushlightuserdata(L, f);
	lua_pushcclosure(L, lua_ptest_render, 1);
	lua_call(L, 2, 1);
	for (size_t i = 0; helpers[i] != NULL; i++) {
		lua_getfield(L, -1, helpers[i]);
		lua_setfield(L, -3, helpers[i]);
	}
	lua_settop(L, base);
}

static void
ptfile_unit_start(struct ptfile *f)
{
	f->failed = 0;
	f->fail_line = 0;
	f->fail_msg[0] = '\0';
	f->err_line = 0;
}

/*
 * Whether the file's instruction budget is spent: from then on every
 * instruction raises, so a function doing nothing fails to run.
 */
static int
ptfile_spent(lua_State *L)
{
	int status;

	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_probe);
	status = lua_pcall(L, 0, 0, 0);
	if (status != LUA_OK)
		lua_pop(L, 1);
	return status != LUA_OK && status != LUA_ERRMEM;
}

/*
 * Under sandbox_call(), so the whole file shares one budget: 1 the file's
 * chunk, 2 the struct ptfile. The counts live in C, so whatever stops
 * this half way, what was reported stays reported.
 */
static int
ptfile_main_cb(lua_State *L)
{
	struct ptfile *f = lua_touserdata(L, 2);
	lua_Integer n;
	int status, spent = 0;

	lua_settop(L, 1);
	luaL_checkstack(L, 10, NULL);
	ptfile_setup(L, f);
	lua_pushlightuserdata(L, f);
	lua_pushcclosure(L, ptfile_msgh_cb, 1); /* 2 */

	ptfile_unit_start(f);
	lua_pushvalue(L, 1);
	status = lua_pcall(L, 0, 0, 2);
	if (ptfile_report(f, L, status, NULL, 0)) {
		f->finished = 1;
		return 0;
	}
	lua_settop(L, 2);

	f->in_case = 1;
	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_cases); /* 3 */
	n = (lua_Integer)lua_rawlen(L, 3);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, 3, i); /* 4 {fn, name, line} */
		lua_rawgeti(L, 4, 1); /* 5 */
		lua_rawgeti(L, 4, 2); /* 6 */
		lua_rawgeti(L, 4, 3); /* 7 */
		const char *name = lua_tostring(L, 6);
		int line = (int)lua_tointeger(L, 7);

		ptfile_unit_start(f);
		if (spent) {
			ptfile_print_fail(f, line, name, "not run: the "
			    "file's instruction budget is spent");
			lua_settop(L, 3);
			continue;
		}
		if (ptfile_reset(f) == -1) {
			ptfile_print_fail(f, line, name, "out of memory");
			lua_settop(L, 3);
			continue;
		}
		lua_pushvalue(L, 5);
		status = lua_pcall(L, 0, 0, 2);
		if (status != LUA_OK && (spent = ptfile_spent(L))) {
			/* Said the same way whatever the error read. */
			lua_pushfstring(L, "the file's instruction budget of "
			    "%d is spent", PTEST_INSTRUCTIONS);
		}
		ptfile_report(f, L, status, name, line);
		lua_settop(L, 3);
	}
	f->finished = 1;
	return 0;
}

/* What Lua calls the chunk in messages (luaO_chunkid for "@name"). */
static void
ptfile_src(struct ptfile *f)
{
	size_t len = strlen(f->name);

	if (len < sizeof f->src)
		memcpy(f->src, f->name, len + 1);
	else {
		size_t keep = sizeof f->src - 1 - 3;
		memcpy(f->src, "...", 3);
		memcpy(f->src + 3, f->name + len - keep, keep + 1);
	}
}

static void
ptfile_run_file(struct ptest *t, const char *name)
{
	struct sandbox_limits lim = {PTEST_MEMORY, PTEST_INSTRUCTIONS, 0};
	struct ptfile f;
	char err[1024];
	enum sandbox_err e;
	lua_State *L;
	size_t len;
	char *text;

	memset(&f, 0, sizeof f);
	f.t = t;
	f.name = name;
	snprintf(f.chunk, sizeof f.chunk, "@%s", name);
	ptfile_src(&f);

	text = ptest_read(t->dirfd, name, PTEST_MAX_FILE, &len, err,
	    sizeof err);
	if (text == NULL) {
		ptfile_print_fail(&f, 0, NULL, err);
		return;
	}
	f.sb = sandbox_new(&lim, err, sizeof err);
	if (f.sb == NULL || ptfile_reset(&f) == -1) {
		free(text);
		ptfile_print_fail(&f, 0, NULL, f.sb ? "out of memory" : err);
		sandbox_free(f.sb);
		return;
	}
	e = sandbox_load(f.sb, text, len, f.chunk, err, sizeof err);
	free(text);
	if (e == SANDBOX_OK) {
		L = sandbox_state(f.sb);
		if (!lua_checkstack(L, 3)) {
			lua_pop(L, 1);
			snprintf(err, sizeof err, "out of memory");
			e = SANDBOX_ERR_MEMORY;
		} else {
			lua_pushcfunction(L, ptfile_main_cb);
			lua_insert(L, -2);
			lua_pushlightuserdata(L, &f);
			e = sandbox_call(f.sb, 2, 0, err, sizeof err);
		}
	}
	/*
	 * The runner reported every case it got to; what stopped it before
	 * the end (or the file not compiling) is one more failure.
	 */
	if (e != SANDBOX_OK && !f.finished) {
		int line = 0;
		const char *msg = ptfile_strip_where(&f, err, &line);
		ptfile_print_fail(&f, line, NULL, msg);
	}
	playbooks_offline_free(f.engine);
	sandbox_free(f.sb);
}

/* ---- The command --------------------------------------------------------- */

static int
ptest_usage(FILE *out)
{
	fprintf(out, "usage: remediad test-playbooks [-v] [--assets FILE] "
	    "DIR\n");
	return 2;
}

int
offline_test_playbooks(int argc, char **argv)
{
	struct ptest t;
	struct pbsources src;
	struct pbhost_opts o;
	struct playbooks *eng;
	const char *assets = NULL;
	char *cause = NULL, **files = NULL;
	size_t nfiles = 0;
	int i, options = 1;

	memset(&t, 0, sizeof t);
	t.dirfd = -1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (options && strcmp(a, "--") == 0)
			options = 0;
		else if (options && (strcmp(a, "-v") == 0 ||
		    strcmp(a, "--verbose") == 0))
			t.verbose = 1;
		else if (options && strcmp(a, "--assets") == 0) {
			if (++i == argc)
				return ptest_usage(stderr);
			assets = argv[i];
		} else if (options && strncmp(a, "--assets=", 9) == 0)
			assets = a + 9;
		else if (options && (strcmp(a, "-h") == 0 ||
		    strcmp(a, "--help") == 0)) {
			ptest_usage(stdout);
			return 0;
		} else if (options && a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "remediad: test-playbooks: unknown "
			    "option %s\n", a);
			return ptest_usage(stderr);
		} else if (t.dir == NULL)
			t.dir = a;
		else
			return ptest_usage(stderr);
	}
	if (t.dir == NULL || (assets != NULL && *assets == '\0'))
		return ptest_usage(stderr);
	t.dirfd = open(t.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t.dirfd == -1 || ptest_list(t.dirfd, &files, &nfiles) == -1) {
		fprintf(stderr, "remediad: test-playbooks: %s: %s\n", t.dir,
		    strerror(errno));
		if (t.dirfd != -1)
			close(t.dirfd);
		return 2;
	}
	if (assets != NULL && access(assets, R_OK) == -1) {
		fprintf(stderr, "remediad: test-playbooks: %s: %s\n", assets,
		    strerror(errno));
		goto usage;
	}
	/* Without --assets, an inventory beside the playbooks is theirs. */
	char beside[4096];
	if (assets == NULL) {
		snprintf(beside, sizeof beside, "%s/assets.json", t.dir);
		if (access(beside, R_OK) == 0)
			assets = beside;
	}

	if (pbsources_read(t.dir, assets, &src, &cause) == -1) {
		fprintf(stderr, "%s\n%s: playbooks are not valid\n",
		    cause ? cause : "out of memory", t.dir);
		goto fail;
	}
	memset(&o, 0, sizeof o);
	o.src = &src;
	o.limits.memory = SANDBOX_DEFAULT_MEMORY;
	o.limits.instructions = SANDBOX_DEFAULT_INSTRUCTIONS;
	t.host = pbhost_load(&o, &t.meta, &cause);
	pbsources_free(&src);
	if (t.host == NULL) {
		fprintf(stderr, "%s\n%s: playbooks are not valid\n",
		    cause ? cause : "out of memory", t.dir);
		goto fail;
	}
	/* What every case will build: fail once here rather than in each. */
	if ((eng = playbooks_offline_new(t.meta, pbhost_assets(t.host),
	    &cause)) == NULL) {
		fprintf(stderr, "%s\n%s: playbooks are not valid\n",
		    cause ? cause : "out of memory", t.dir);
		goto fail;
	}
	playbooks_offline_free(eng);

	if (nfiles == 0)
		fprintf(stderr, "%s: no *_test.lua files\n", t.dir);
	for (size_t j = 0; j < nfiles; j++)
		ptfile_run_file(&t, files[j]);
	printf("%lu passed, %lu failed\n", t.passed, t.failed);
	fflush(stdout);

	for (size_t j = 0; j < nfiles; j++)
		free(files[j]);
	free(files);
	json_decref(t.meta);
	pbhost_free(t.host);
	close(t.dirfd);
	return t.failed > 0 ? 1 : 0;

fail:
	free(cause);
	for (size_t j = 0; j < nfiles; j++)
		free(files[j]);
	free(files);
	json_decref(t.meta);
	pbhost_free(t.host);
	close(t.dirfd);
	return 1;
usage:
	for (size_t j = 0; j < nfiles; j++)
		free(files[j]);
	free(files);
	close(t.dirfd);
	return 2;
}
