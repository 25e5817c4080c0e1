/*
 * The config file: evaluated once in a bare Lua state (no libraries, a memory
 * ceiling and an instruction budget), its globals converted to a JSON tree,
 * and the tree validated against the schema below. Every error carries the
 * path of the key; all errors are collected and reported together.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "remediad/config.h"
#include "remediad/fsutil.h"
#include "remediad/log.h"
#include "remediad/units.h"

/* Collected error messages. */
struct cfg_errors {
	char **msgs;
	size_t n;
	size_t cap;
};

static void cfg_error(struct cfg_errors *errs, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
cfg_error(struct cfg_errors *errs, const char *path, const char *fmt, ...)
{
	char msg[1024];
	char *line;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (errs->n == errs->cap) {
		size_t ncap = errs->cap ? errs->cap * 2 : 8;
		char **nmsgs = realloc(errs->msgs, ncap * sizeof *nmsgs);
		if (nmsgs == NULL)
			return;
		errs->msgs = nmsgs;
		errs->cap = ncap;
	}
	if (asprintf(&line, "%s%s%s", path ? path : "", path ? ": " : "",
		msg) == -1)
		return;
	errs->msgs[errs->n++] = line;
}

static int
cfg_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Joins the errors, sorted so the report is stable; frees them. */
static char *
cfg_errors_join(struct cfg_errors *errs)
{
	size_t total = 1;
	char *out, *p;

	qsort(errs->msgs, errs->n, sizeof *errs->msgs, cfg_strcmp);
	for (size_t i = 0; i < errs->n; i++)
		total += strlen(errs->msgs[i]) + 1;
	out = p = malloc(total);
	for (size_t i = 0; i < errs->n; i++) {
		if (out != NULL) {
			size_t l = strlen(errs->msgs[i]);
			memcpy(p, errs->msgs[i], l);
			p += l;
			if (i + 1 < errs->n)
				*p++ = '\n';
		}
		free(errs->msgs[i]);
	}
	if (out != NULL)
		*p = '\0';
	free(errs->msgs);
	memset(errs, 0, sizeof *errs);
	return out;
}

/* ---- Evaluation in a bare Lua state ---------------------------------- */

struct cfg_lua_limits {
	size_t used;
	size_t max;
	long steps;
};

static void *
cfg_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct cfg_lua_limits *lim = ud;

	/* For a NULL ptr, osize encodes the object type, not a size. */
	if (ptr == NULL)
		osize = 0;
	if (nsize == 0) {
		free(ptr);
		lim->used -= osize;
		return NULL;
	}
	if (nsize > osize && lim->used - osize + nsize > lim->max)
		return NULL;
	void *nptr = realloc(ptr, nsize);
	if (nptr != NULL)
		lim->used = lim->used - osize + nsize;
	return nptr;
}

#define CFG_HOOK_STEP 1000

static void
cfg_lua_hook(lua_State *L, lua_Debug *ar)
{
	struct cfg_lua_limits *lim;

	lua_getallocf(L, (void **)&lim);
	lim->steps += CFG_HOOK_STEP;
	if (lim->steps <= CONFIG_MAX_INSTRUCTIONS)
		return;
	if (ar != NULL && lua_getinfo(L, "Sl", ar) != 0 && ar->currentline > 0)
		luaL_error(L, "%s:%d: instruction limit of %d exceeded "
			      "(a config file is data, not a program)",
		    ar->short_src, ar->currentline, CONFIG_MAX_INSTRUCTIONS);
	luaL_error(L, "instruction limit of %d exceeded "
		      "(a config file is data, not a program)",
	    CONFIG_MAX_INSTRUCTIONS);
}

static const char *
cfg_lua_kind(lua_State *L, int idx)
{
	return lua_typename(L, lua_type(L, idx));
}

static json_t *cfg_lua_value(lua_State *L, int idx, const char *path,
    int depth, struct cfg_errors *errs);

/* A table is a list when its keys are exactly 1..n. */
static json_t *
cfg_lua_table(lua_State *L, int idx, const char *path, int depth,
    struct cfg_errors *errs)
{
	lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
	int strkeys = 0, intkeys = 0;
	char sub[512];
	json_t *out;

	if (depth > CONFIG_MAX_DEPTH) {
		cfg_error(errs, path, "nested deeper than %d levels",
		    CONFIG_MAX_DEPTH);
		return NULL;
	}
	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		if (lua_type(L, -2) == LUA_TSTRING)
			strkeys++;
		else if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1 &&
		    lua_tointeger(L, -2) <= n)
			intkeys++;
		else {
			lua_pop(L, 2);
			cfg_error(errs, path,
			    "table keys must be names or list positions");
			return NULL;
		}
		count++;
		lua_pop(L, 1);
	}
	if (strkeys > 0 && intkeys > 0) {
		cfg_error(errs, path, "a table is either a list or has named "
				      "keys, not both");
		return NULL;
	}
	if (intkeys > 0) {
		if (count != n) {
			cfg_error(errs, path, "a list must have no holes");
			return NULL;
		}
		out = json_array();
		for (lua_Integer i = 1; i <= n; i++) {
			snprintf(sub, sizeof sub, "%s[%lld]", path,
			    (long long)i);
			lua_rawgeti(L, idx, i);
			json_t *v = cfg_lua_value(L, -1, sub, depth + 1, errs);
			lua_pop(L, 1);
			if (v != NULL)
				json_array_append_new(out, v);
		}
		return out;
	}
	out = json_object();
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		const char *key = lua_tostring(L, -2);
		snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "",
		    key);
		json_t *v = cfg_lua_value(L, -1, sub, depth + 1, errs);
		if (v != NULL)
			json_object_set_new(out, key, v);
		lua_pop(L, 1);
	}
	return out;
}

static json_t *
cfg_lua_value(lua_State *L, int idx, const char *path, int depth,
    struct cfg_errors *errs)
{
	size_t len;
	const char *s;

	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		if (memchr(s, '\0', len) != NULL) {
			cfg_error(errs, path, "string contains a NUL byte");
			return NULL;
		}
		json_t *str = json_stringn(s, len);
		if (str == NULL)
			cfg_error(errs, path, "string is not valid UTF-8");
		return str;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return json_integer(lua_tointeger(L, idx));
		json_t *r = json_real(lua_tonumber(L, idx));
		if (r == NULL)
			cfg_error(errs, path, "number is not finite");
		return r;
	case LUA_TBOOLEAN:
		return json_boolean(lua_toboolean(L, idx));
	case LUA_TTABLE:
		return cfg_lua_table(L, idx, path, depth, errs);
	default:
		cfg_error(errs, path, "a %s cannot be a config value",
		    cfg_lua_kind(L, idx));
		return NULL;
	}
}

static int
cfg_lua_eval(lua_State *L)
{
	const char *name = lua_touserdata(L, 1);
	const char *text = lua_touserdata(L, 2);
	size_t len = (size_t)lua_tointeger(L, 3);

	/* Text only: a precompiled chunk could crash the VM. */
	if (luaL_loadbufferx(L, text, len, name, "t") != LUA_OK)
		return lua_error(L);
	lua_call(L, 0, 0);
	return 0;
}

/* Runs the file and returns its globals as a JSON object, or NULL. */
static json_t *
cfg_evaluate(const char *name, const char *text, size_t len,
    struct cfg_errors *errs)
{
	struct cfg_lua_limits lim = {0, CONFIG_MAX_MEMORY, 0};
	lua_State *L;
	json_t *tree = NULL;
	char chunkname[512];

	L = lua_newstate(cfg_lua_alloc, &lim);
	if (L == NULL) {
		cfg_error(errs, name, "cannot create a Lua state");
		return NULL;
	}
	/* "=" makes Lua print the name as is in messages. */
	snprintf(chunkname, sizeof chunkname, "=%s", name);
	lua_sethook(L, cfg_lua_hook, LUA_MASKCOUNT, CFG_HOOK_STEP);
	lua_pushcfunction(L, cfg_lua_eval);
	lua_pushlightuserdata(L, chunkname);
	lua_pushlightuserdata(L, (void *)text);
	lua_pushinteger(L, (lua_Integer)len);
	int status = lua_pcall(L, 3, 0, 0);
	if (status == LUA_ERRMEM) {
		cfg_error(errs, name, "memory limit of %d MiB exceeded "
		    "(a config file is data, not a program)",
		    CONFIG_MAX_MEMORY >> 20);
		lua_close(L);
		return NULL;
	}
	if (status != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		cfg_error(errs, NULL, "%s",
		    msg ? msg : "(error object is not a string)");
		lua_close(L);
		return NULL;
	}
	lua_sethook(L, NULL, 0, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
	tree = cfg_lua_table(L, -1, "", 0, errs);
	lua_close(L);
	if (tree != NULL && !json_is_object(tree)) {
		/* Globals named 1, 2, ... would read as a list. */
		json_decref(tree);
		cfg_error(errs, name, "top-level keys must be names");
		return NULL;
	}
	return tree;
}

/* ---- Schema ------------------------------------------------------------ */

enum cfg_type {
	T_STRING,
	T_INT,
	T_BOOL,
	T_DURATION,
	T_SIZE,
	T_ENUM,
	T_TABLE,
	T_STRING_LIST,
	T_STRING_MAP,
	T_TABLE_MAP, /* name -> table, kept as JSON, checked by cfg_check */
	T_INT_MAP,   /* name -> integer, kept as JSON */
};

struct cfg_field {
	const char *key;
	enum cfg_type type;
	int required;
	size_t offset;			/* of the value in struct config */
	const char *def;		/* default, as text (strings, units) */
	int64_t idef;			/* default for ints and bools */
	int64_t min, max;		/* bounds for ints, ms, bytes */
	const char *const *choices;	/* T_ENUM, NULL-terminated */
	const struct cfg_field *fields; /* T_TABLE, ends with key NULL */
};

#define OFF(m) offsetof(struct config, m)
#define NOLIMIT 0, INT64_MAX

static const char *const log_levels[] = {"error", "warn", "notice", "info",
    "debug", NULL};
static const char *const role_choices[] = {"none", "viewer", "approver",
    "admin", NULL};
static const char *const sync_choices[] = {"group", "always", "none", NULL};
static const char *const raw_choices[] = {"full", "hash", NULL};

static const struct cfg_field log_fields[] = {
    {"level", T_ENUM, 0, OFF(log.level), NULL, 3, NOLIMIT, log_levels, NULL},
    {NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct cfg_field role_fields[] = {
    {"viewer", T_STRING_LIST, 0, OFF(control.roles[ROLE_VIEWER]), NULL, 0,
	NOLIMIT, NULL, NULL},
    {"approver", T_STRING_LIST, 0, OFF(control.roles[ROLE_APPROVER]), NULL,
	0, NOLIMIT, NULL, NULL},
    {"admin", T_STRING_LIST, 0, OFF(control.roles[ROLE_ADMIN]), NULL, 0,
	NOLIMIT, NULL, NULL},
    {NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct cfg_field control_fields[] = {
    {"socket", T_STRING, 0, OFF(control.socket), PROTO_DEFAULT_SOCK, 0,
	NOLIMIT, NULL, NULL},
    {"group", T_STRING, 0, OFF(control.group), NULL, 0, NOLIMIT, NULL, NULL},
    {"max_clients", T_INT, 0, OFF(control.max_clients), NULL, 32, 1, 10000,
	NULL, NULL},
    {"idle_timeout", T_DURATION, 0, OFF(control.idle_timeout_ms), "5m", 0,
	1000, INT64_MAX, NULL, NULL},
    {"default_role", T_ENUM, 0, OFF(control.default_role), NULL, ROLE_NONE,
	NOLIMIT, role_choices, NULL},
    {"roles", T_TABLE, 0, 0, NULL, 0, NOLIMIT, NULL, role_fields},
    {NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL},
};

#define PATHF(k) {#k, T_STRING, 0, OFF(kafka.generic.k), NULL, 0, NOLIMIT, \
	NULL, NULL}
static const struct cfg_field generic_fields[] = {
    PATHF(id), PATHF(time), PATHF(severity), PATHF(title), PATHF(rule),
    PATHF(category), PATHF(host), PATHF(user), PATHF(ip), PATHF(process),
    PATHF(container), PATHF(cloud),
    {NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct cfg_field kafka_fields[] = {
    {"brokers", T_STRING, 0, OFF(kafka.brokers), NULL, 0, NOLIMIT, NULL,
	NULL},
    {"topic", T_STRING, 1, OFF(kafka.topic), NULL, 0, NOLIMIT, NULL, NULL},
    {"group", T_STRING, 0, OFF(kafka.group), "remediad", 0, NOLIMIT, NULL,
	NULL},
    {"dlq_topic", T_STRING, 0, OFF(kafka.dlq_topic), NULL, 0, NOLIMIT, NULL,
	NULL},
    {"properties", T_STRING_MAP, 0, OFF(kafka.properties), NULL, 0, NOLIMIT,
	NULL, NULL},
    {"secret_files", T_STRING_MAP, 0, OFF(kafka.secret_files), NULL, 0,
	NOLIMIT, NULL, NULL},
    {"max_message", T_SIZE, 0, OFF(kafka.max_message), "1MB", 0, 1024,
	64 * 1024 * 1024, NULL, NULL},
    {"max_in_flight", T_INT, 0, OFF(kafka.max_in_flight), NULL, 10000, 1,
	1000000, NULL, NULL},
    {"partitions", T_INT, 0, OFF(kafka.partitions), NULL, 4, 1, 1024, NULL,
	NULL},
    {"generic", T_TABLE, 0, OFF(kafka.generic.present), NULL, 0, NOLIMIT,
	NULL, generic_fields},
    {NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct cfg_field dedup_fields[] = {
    {"window", T_DURATION, 0, OFF(dedup.window_ms), "24h", 0, 1000,
	INT64_MAX, NULL, NULL},
    {"max_entries", T_INT, 0, OFF(dedup.max_entries), NULL, 1000000, 1000,
	100000000, NULL, NULL},
    {NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct cfg_field audit_fields[] = {
    {"dir", T_STRING, 0, OFF(audit.dir), NULL, 0, NOLIMIT, NULL, NULL},
    {"sync", T_ENUM, 0, OFF(audit.sync), NULL, AUDIT_SYNC_GROUP, NOLIMIT,
	sync_choices, NULL},
    {"sync_interval", T_DURATION, 0, OFF(audit.sync_interval_ms), "5ms", 0,
	0, 10000, NULL, NULL},
    {"sync_records", T_INT, 0, OFF(audit.sync_records), NULL, 4096, 1,
	1000000, NULL, NULL},
    {"segment_size", T_SIZE, 0, OFF(audit.segment_size), "64MB", 0,
	64 * 1024, INT64_MAX, NULL, NULL},
    {"max_record", T_SIZE, 0, OFF(audit.max_record), "1MB", 0, 1024,
	64 * 1024 * 1024, NULL, NULL},
    {"anchor_every", T_INT, 0, OFF(audit.anchor_every), NULL, 1000, 1,
	INT64_MAX, NULL, NULL},
    {"raw", T_ENUM, 0, OFF(audit.raw), NULL, AUDIT_RAW_FULL, NOLIMIT,
	raw_choices, NULL},
    {"anchor_topic", T_STRING, 0, OFF(audit.anchor_topic), NULL, 0, NOLIMIT,
	NULL, NULL},
    {NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct cfg_field playbooks_fields[] = {
    {"dir", T_STRING, 1, OFF(playbooks.dir), NULL, 0, NOLIMIT, NULL, NULL},
    {"workers", T_INT, 0, OFF(playbooks.workers), NULL, 0, 0, 256, NULL,
	NULL},
    {"memory", T_SIZE, 0, OFF(playbooks.memory), "16MB", 0, 256 * 1024,
	1024LL * 1024 * 1024, NULL, NULL},
    {"instructions", T_INT, 0, OFF(playbooks.instructions), NULL, 1000000,
	1000, 1000000000, NULL, NULL},
    {"timeout", T_DURATION, 0, OFF(playbooks.timeout_ms), "250ms", 0, 1,
	60000, NULL, NULL},
    {"load_timeout", T_DURATION, 0, OFF(playbooks.load_timeout_ms), "10s",
	0, 100, 600000, NULL, NULL},
    {"assets", T_STRING, 0, OFF(playbooks.assets), NULL, 0, NOLIMIT, NULL,
	NULL},
    {"quarantine_failures", T_INT, 0, OFF(playbooks.quarantine_failures),
	NULL, 5, 1, 1000000, NULL, NULL},
    {"quarantine_window", T_DURATION, 0, OFF(playbooks.quarantine_window_ms),
	"10m", 0, 1000, INT64_MAX, NULL, NULL},
    {"max_actions", T_INT, 0, OFF(playbooks.max_actions), NULL, 32, 1, 1000,
	NULL, NULL},
    {NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL},
};

#define CONN_DUR(k, m, d, lo) {k, T_DURATION, 0, OFF(connectors.m), d, 0, lo, \
	INT64_MAX, NULL, NULL}
static const struct cfg_field connectors_fields[] = {
    {"dir", T_STRING, 0, OFF(connectors.dir), REMEDIAD_CONNECTORS_DIR, 0,
	NOLIMIT, NULL, NULL},
    CONN_DUR("timeout", timeout_ms, "30s", 10),
    CONN_DUR("grace", grace_ms, "5s", 0),
    {"retries", T_INT, 0, OFF(connectors.retries), NULL, 3, 0, 100, NULL,
	NULL},
    CONN_DUR("backoff", backoff_ms, "1s", 1),
    CONN_DUR("max_backoff", max_backoff_ms, "5m", 1),
    {"concurrency", T_INT, 0, OFF(connectors.concurrency), NULL, 4, 1, 1024,
	NULL, NULL},
    CONN_DUR("verify_window", verify_window_ms, "10m", 0),
    CONN_DUR("verify_interval", verify_interval_ms, "30s", 10),
    CONN_DUR("shutdown_wait", shutdown_wait_ms, "10s", 0),
    {"actions", T_TABLE_MAP, 0, OFF(connectors.actions), NULL, 0, NOLIMIT,
	NULL, NULL},
    {"settings", T_TABLE_MAP, 0, OFF(connectors.settings), NULL, 0, NOLIMIT,
	NULL, NULL},
    {NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL},
};

static const char *const risk_choices[] = {"none", "low", "medium", "high",
    "critical", NULL};

static const struct cfg_field guard_fields[] = {
    {"dry_run", T_BOOL, 0, OFF(guard.dry_run), NULL, 0, NOLIMIT, NULL, NULL},
    {"protected", T_TABLE_MAP, 0, OFF(guard.protected), NULL, 0, NOLIMIT,
	NULL, NULL},
    {"rate", T_STRING_MAP, 0, OFF(guard.rate), NULL, 0, NOLIMIT, NULL, NULL},
    {"max_targets", T_INT, 0, OFF(guard.max_targets), NULL, 0, 0, 100000,
	NULL, NULL},
    {"group_percent", T_INT, 0, OFF(guard.group_percent), NULL, 0, 0, 100,
	NULL, NULL},
    {"group_window", T_DURATION, 0, OFF(guard.group_window_ms), "1h", 0,
	1000, INT64_MAX, NULL, NULL},
    {"breaker", T_STRING, 0, OFF(guard.breaker), NULL, 0, NOLIMIT, NULL,
	NULL},
    {"breaker_failure_percent", T_INT, 0, OFF(guard.breaker_failure_percent),
	NULL, 0, 0, 100, NULL, NULL},
    {"breaker_min_steps", T_INT, 0, OFF(guard.breaker_min_steps), NULL, 10, 1,
	1000000, NULL, NULL},
    {"breaker_window", T_DURATION, 0, OFF(guard.breaker_window_ms), "5m", 0,
	1000, INT64_MAX, NULL, NULL},
    {NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct cfg_field approvals_fields[] = {
    {"required", T_STRING_LIST, 0, OFF(approvals.required), NULL, 0, NOLIMIT,
	NULL, NULL},
    {"min_risk", T_ENUM, 0, OFF(approvals.min_risk), NULL, 0, NOLIMIT,
	risk_choices, NULL},
    {"tiers", T_STRING_LIST, 0, OFF(approvals.tiers), NULL, 0, NOLIMIT,
	NULL, NULL},
    {"hint", T_BOOL, 0, OFF(approvals.hint), NULL, 1, NOLIMIT, NULL, NULL},
    {"whole_plan", T_BOOL, 0, OFF(approvals.whole_plan), NULL, 0, NOLIMIT,
	NULL, NULL},
    {"expire", T_DURATION, 0, OFF(approvals.expire_ms), "1h", 0, 1000,
	INT64_MAX, NULL, NULL},
    {"quorum", T_INT_MAP, 0, OFF(approvals.quorum), NULL, 0, NOLIMIT,
	NULL, NULL},
    {"escalate_to", T_STRING, 0, OFF(approvals.escalate_to), NULL, 0,
	NOLIMIT, NULL, NULL},
    {NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct cfg_field root_fields[] = {
    {"state_dir", T_STRING, 0, OFF(state_dir), "/var/lib/remediad", 0,
	NOLIMIT, NULL, NULL},
    {"log", T_TABLE, 0, 0, NULL, 0, NOLIMIT, NULL, log_fields},
    {"control", T_TABLE, 0, 0, NULL, 0, NOLIMIT, NULL, control_fields},
    {"kafka", T_TABLE, 0, OFF(kafka.present), NULL, 0, NOLIMIT, NULL,
	kafka_fields},
    {"audit", T_TABLE, 0, 0, NULL, 0, NOLIMIT, NULL, audit_fields},
    {"dedup", T_TABLE, 0, 0, NULL, 0, NOLIMIT, NULL, dedup_fields},
    {"playbooks", T_TABLE, 0, OFF(playbooks.present), NULL, 0, NOLIMIT, NULL,
	playbooks_fields},
    {"connectors", T_TABLE, 0, OFF(connectors.present), NULL, 0, NOLIMIT,
	NULL, connectors_fields},
    {"guard", T_TABLE, 0, 0, NULL, 0, NOLIMIT, NULL, guard_fields},
    {"approvals", T_TABLE, 0, 0, NULL, 0, NOLIMIT, NULL, approvals_fields},
    {NULL, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL},
};

static const char *
cfg_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "table";
	case JSON_ARRAY:
		return "list";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	default:
		return "nil";
	}
}

static const char *const type_names[] = {
    [T_STRING] = "string",
    [T_INT] = "integer",
    [T_BOOL] = "boolean",
    [T_DURATION] = "duration string (e.g. \"30s\")",
    [T_SIZE] = "size string (e.g. \"16MB\")",
    [T_ENUM] = "string",
    [T_TABLE] = "table",
    [T_STRING_LIST] = "list of strings",
    [T_STRING_MAP] = "table of strings",
    [T_TABLE_MAP] = "table of tables",
    [T_INT_MAP] = "table of integers",
};

static void cfg_apply_table(struct config *cfg, const struct cfg_field *fields,
    json_t *obj, const char *path, struct cfg_errors *errs);

static void
cfg_bounds_error(struct cfg_errors *errs, const char *path,
    const struct cfg_field *f, const char *unit, int64_t v)
{
	char lo[32], hi[32];

	if (f->type == T_DURATION) {
		units_format_duration((uint64_t)f->min, lo, sizeof lo);
		units_format_duration((uint64_t)f->max, hi, sizeof hi);
	} else {
		snprintf(lo, sizeof lo, "%lld%s", (long long)f->min, unit);
		snprintf(hi, sizeof hi, "%lld%s", (long long)f->max, unit);
	}
	if (f->max == INT64_MAX)
		cfg_error(errs, path, "must be at least %s", lo);
	else
		cfg_error(errs, path, "must be between %s and %s (got %lld%s)",
		    lo, hi, (long long)v, f->type == T_DURATION ? "ms" : unit);
}

/* Applies one value (possibly a default given as JSON) to the config. */
static void
cfg_apply_value(struct config *cfg, const struct cfg_field *f, json_t *v,
    const char *path, struct cfg_errors *errs)
{
	char *base = (char *)cfg + f->offset;
	const char *cause;
	uint64_t u;
	size_t i;
	json_t *e;
	const char *k;

	switch (f->type) {
	case T_STRING:
		if (!json_is_string(v))
			goto type;
		if (json_string_length(v) == 0) {
			cfg_error(errs, path, "must not be empty");
			return;
		}
		free(*(char **)base);
		*(char **)base = strdup(json_string_value(v));
		return;
	case T_INT:
		/* 5.0 is an integer; the range test comes before the cast. */
		if (json_is_real(v) && json_real_value(v) > -9.2e18 &&
		    json_real_value(v) < 9.2e18 && json_real_value(v) ==
		    (double)(int64_t)json_real_value(v))
			v = json_integer((json_int_t)json_real_value(v));
		else if (!json_is_integer(v))
			goto type;
		else
			json_incref(v);
		int64_t iv = json_integer_value(v);
		json_decref(v);
		if (iv < f->min || iv > f->max) {
			cfg_bounds_error(errs, path, f, "", iv);
			return;
		}
		*(int64_t *)base = iv;
		return;
	case T_BOOL:
		if (!json_is_boolean(v))
			goto type;
		*(bool *)base = json_is_true(v);
		return;
	case T_DURATION:
		if (!json_is_string(v))
			goto type;
		if (units_parse_duration(json_string_value(v), &u, &cause)) {
			cfg_error(errs, path, "bad duration \"%s\": %s",
			    json_string_value(v), cause);
			return;
		}
		if (u > (uint64_t)INT64_MAX || (int64_t)u < f->min ||
		    (int64_t)u > f->max) {
			cfg_bounds_error(errs, path, f, "ms", (int64_t)u);
			return;
		}
		*(uint64_t *)base = u;
		return;
	case T_SIZE:
		if (!json_is_string(v))
			goto type;
		if (units_parse_size(json_string_value(v), &u, &cause)) {
			cfg_error(errs, path, "bad size \"%s\": %s",
			    json_string_value(v), cause);
			return;
		}
		if (u > (uint64_t)INT64_MAX || (int64_t)u < f->min ||
		    (int64_t)u > f->max) {
			cfg_bounds_error(errs, path, f, " bytes", (int64_t)u);
			return;
		}
		*(uint64_t *)base = u;
		return;
	case T_ENUM:
		if (!json_is_string(v))
			goto type;
		for (i = 0; f->choices[i] != NULL; i++) {
			if (strcmp(f->choices[i], json_string_value(v)) == 0) {
				*(int64_t *)base = (int64_t)i;
				return;
			}
		}
		char list[256] = "";
		for (i = 0; f->choices[i] != NULL; i++) {
			strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
			strncat(list, f->choices[i], sizeof list - strlen(list) - 1);
		}
		cfg_error(errs, path, "\"%s\" is not one of: %s",
		    json_string_value(v), list);
		return;
	case T_TABLE:
		if (!json_is_object(v))
			goto type;
		if (f->offset != 0)
			*(bool *)base = true;
		cfg_apply_table(cfg, f->fields, v, path, errs);
		return;
	case T_STRING_LIST: {
		struct strlist *sl = (struct strlist *)base;
		/* An empty Lua table {} reads as an empty object. */
		if (json_is_object(v) && json_object_size(v) == 0)
			return;
		if (!json_is_array(v))
			goto type;
		int bad = 0;
		json_array_foreach(v, i, e) {
			if (!json_is_string(e)) {
				cfg_error(errs, path,
				    "item %zu: expected string, got %s", i + 1,
				    cfg_kind(e));
				bad = 1;
			}
		}
		if (bad)
			return;
		sl->n = json_array_size(v);
		sl->v = calloc(sl->n ? sl->n : 1, sizeof *sl->v);
		json_array_foreach(v, i, e)
			sl->v[i] = strdup(json_string_value(e));
		return;
	}
	case T_INT_MAP:
	case T_TABLE_MAP: {
		if (!json_is_object(v))
			goto type;
		int badt = 0;
		json_object_foreach(v, k, e) {
			if (f->type == T_INT_MAP && !json_is_integer(e)) {
				cfg_error(errs, path, "%s: expected integer, got "
				    "%s", k, cfg_kind(e));
				badt = 1;
			} else if (f->type == T_TABLE_MAP &&
			    !json_is_object(e)) {
				cfg_error(errs, path, "%s: expected table, got %s",
				    k, cfg_kind(e));
				badt = 1;
			}
		}
		if (badt)
			return;
		json_decref(*(json_t **)base);
		*(json_t **)base = json_incref(v);
		return;
	}
	case T_STRING_MAP:
		if (!json_is_object(v))
			goto type;
		int bad = 0;
		json_object_foreach(v, k, e) {
			if (!json_is_string(e)) {
				cfg_error(errs, path,
				    "%s: expected string, got %s", k,
				    cfg_kind(e));
				bad = 1;
			}
		}
		if (bad)
			return;
		json_decref(*(json_t **)base);
		*(json_t **)base = json_incref(v);
		return;
	}
	return;
type:
	cfg_error(errs, path, "expected %s, got %s", type_names[f->type],
	    cfg_kind(v));
}

static void
cfg_apply_table(struct config *cfg, const struct cfg_field *fields,
    json_t *obj, const char *path, struct cfg_errors *errs)
{
	const struct cfg_field *f;
	char sub[512];
	const char *key;
	json_t *v;

	for (f = fields; f->key != NULL; f++) {
		snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "",
		    f->key);
		v = obj ? json_object_get(obj, f->key) : NULL;
		if (v != NULL) {
			cfg_apply_value(cfg, f, v, sub, errs);
			continue;
		}
		if (f->required) {
			/* A required key only matters when its table exists. */
			if (obj != NULL)
				cfg_error(errs, sub, "missing required key");
			continue;
		}
		if (f->type == T_TABLE) {
			cfg_apply_table(cfg, f->fields, NULL, sub, errs);
		} else if (f->def != NULL) {
			json_t *d = json_string(f->def);
			cfg_apply_value(cfg, f, d, sub, errs);
			json_decref(d);
		} else if (f->type == T_INT || f->type == T_ENUM) {
			*(int64_t *)((char *)cfg + f->offset) = f->idef;
		} else if (f->type == T_BOOL) {
			*(bool *)((char *)cfg + f->offset) = f->idef != 0;
		}
	}
	if (obj == NULL)
		return;
	json_object_foreach(obj, key, v) {
		for (f = fields; f->key != NULL; f++)
			if (strcmp(f->key, key) == 0)
				break;
		if (f->key == NULL) {
			snprintf(sub, sizeof sub, "%s%s%s", path,
			    *path ? "." : "", key);
			cfg_error(errs, sub, "unknown key");
		}
	}
}

/* ---- Checks across keys ------------------------------------------------ */

static void
cfg_parse_roles(struct config *cfg, struct cfg_errors *errs)
{
	size_t total = 0, n = 0;
	char path[128];

	for (int r = ROLE_VIEWER; r <= ROLE_ADMIN; r++)
		total += cfg->control.roles[r].n;
	cfg->control.rules = calloc(total ? total : 1, sizeof *cfg->control.rules);
	for (int r = ROLE_VIEWER; r <= ROLE_ADMIN; r++) {
		struct strlist *sl = &cfg->control.roles[r];
		for (size_t i = 0; i < sl->n; i++) {
			struct role_rule *rule = &cfg->control.rules[n];
			const char *s = sl->v[i];
			char *end;

			snprintf(path, sizeof path, "control.roles.%s[%zu]",
			    proto_role_name(r), i + 1);
			rule->role = r;
			if (strncmp(s, "user:", 5) == 0 && s[5] != '\0') {
				rule->kind = RULE_USER;
				rule->name = strdup(s + 5);
			} else if (strncmp(s, "group:", 6) == 0 &&
			    s[6] != '\0') {
				rule->kind = RULE_GROUP;
				rule->name = strdup(s + 6);
			} else if (strncmp(s, "uid:", 4) == 0 && s[4] >= '0' &&
			    s[4] <= '9') {
				errno = 0;
				unsigned long uid = strtoul(s + 4, &end, 10);
				if (*end != '\0' || errno != 0 ||
				    uid >= (uid_t)-1) {
					cfg_error(errs, path,
					    "\"%s\": bad uid", s);
					continue;
				}
				rule->kind = RULE_UID;
				rule->uid = (uid_t)uid;
			} else {
				cfg_error(errs, path,
				    "\"%s\": expected user:NAME, group:NAME or "
				    "uid:N", s);
				continue;
			}
			n++;
		}
	}
	cfg->control.nrules = n;
}

static int
cfg_known(const char *const *keys, const char *k)
{
	for (size_t i = 0; keys[i] != NULL; i++)
		if (strcmp(keys[i], k) == 0)
			return 1;
	return 0;
}

/* Each key of a table kept as JSON must be one of keys. */
static void
cfg_check_keys(struct cfg_errors *errs, const char *path, const json_t *t,
    const char *const *keys)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)t, k, v)
		if (!cfg_known(keys, k))
			cfg_error(errs, path, "%s: unknown key", k);
}

/* An environment variable's name. */
static int
cfg_env_name(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || *s == '_'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
			*s == '_'))
			return 0;
	return 1;
}

static int
cfg_word(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
			*s == '.'))
			return 0;
	return *s == '\0';
}

static void
cfg_check_connector_settings(struct config *cfg, struct cfg_errors *errs)
{
	static const char *const keys[] = {"program", "env", "secrets",
	    "concurrency", "timeout", "dry_run", NULL};
	const char *name;
	json_t *t, *v;
	char path[256];

	json_object_foreach(cfg->connectors.settings, name, t) {
		snprintf(path, sizeof path, "connectors.settings.%s", name);
		if (!cfg_word(name))
			cfg_error(errs, path, "names are letters, digits, "
			    "'-', '_' and '.'");
		cfg_check_keys(errs, path, t, keys);
		v = json_object_get(t, "program");
		if (v != NULL && (!json_is_string(v) ||
		    !cfg_word(json_string_value(v)) ||
		    json_string_value(v)[0] == '.'))
			cfg_error(errs, path, "program: a file name in "
			    "connectors.dir");
		for (int m = 0; m < 2; m++) {
			const char *what = m ? "secrets" : "env";
			json_t *map = json_object_get(t, what), *e;
			const char *ek;
			if (map == NULL)
				continue;
			if (!json_is_object(map)) {
				cfg_error(errs, path, "%s: expected a table of "
				    "strings", what);
				continue;
			}
			json_object_foreach(map, ek, e) {
				if (!cfg_env_name(ek))
					cfg_error(errs, path, "%s.%s: names are "
					    "A-Z, 0-9 and '_'", what, ek);
				if (!json_is_string(e))
					cfg_error(errs, path, "%s.%s: expected "
					    "string", what, ek);
				else if (m && json_string_value(e)[0] != '/')
					cfg_error(errs, path, "secrets.%s: an "
					    "absolute file path", ek);
				else if (m && access(json_string_value(e),
				    R_OK) == -1)
					cfg_error(errs, path, "secrets.%s: %s: %s",
					    ek, json_string_value(e),
					    strerror(errno));
			}
		}
		v = json_object_get(t, "dry_run");
		if (v != NULL && !json_is_boolean(v))
			cfg_error(errs, path, "dry_run: a boolean (whether the "
			    "program supports dry runs)");
		v = json_object_get(t, "concurrency");
		if (v != NULL && (!json_is_integer(v) ||
		    json_integer_value(v) < 1 || json_integer_value(v) > 1024))
			cfg_error(errs, path, "concurrency: an integer 1-1024");
		v = json_object_get(t, "timeout");
		uint64_t ms;
		const char *why;
		if (v != NULL && (!json_is_string(v) ||
		    units_parse_duration(json_string_value(v), &ms, &why) != 0 ||
		    ms < 10))
			cfg_error(errs, path, "timeout: a duration of at least "
			    "10ms");
	}
}

/*
 * connectors.actions: each action names an instance whose program is an
 * executable in connectors.dir; actions outside the catalog say their
 * kind and parameters.
 */
static void
cfg_check_connectors(struct config *cfg, struct cfg_errors *errs)
{
	static const char *const keys[] = {"connector", "rollback", "kind",
	    "params", "verify", NULL};
	const char *name;
	json_t *t, *v;
	char path[256], file[4096];

	if (cfg->connectors.settings != NULL)
		cfg_check_connector_settings(cfg, errs);
	if (cfg->connectors.actions == NULL)
		return;
	json_object_foreach(cfg->connectors.actions, name, t) {
		snprintf(path, sizeof path, "connectors.actions.%s", name);
		cfg_check_keys(errs, path, t, keys);
		const char *inst = json_string_value(json_object_get(t,
		    "connector"));
		if (inst == NULL || !cfg_word(inst)) {
			cfg_error(errs, path, "connector: the name of a "
			    "connector (a key of connectors.settings or a "
			    "program in connectors.dir)");
			continue;
		}
		json_t *set = cfg->connectors.settings ?
		    json_object_get(cfg->connectors.settings, inst) : NULL;
		const char *prog = set && json_string_value(json_object_get(set,
		    "program")) ? json_string_value(json_object_get(set,
		    "program")) : inst;
		snprintf(file, sizeof file, "%s/%s", cfg->connectors.dir ?
		    cfg->connectors.dir : "", prog);
		if (cfg->connectors.dir != NULL && access(file, X_OK) == -1)
			cfg_error(errs, path, "connector %s: %s: %s", inst, file,
			    strerror(errno));
		v = json_object_get(t, "rollback");
		if (v != NULL && (!json_is_string(v) ||
		    !cfg_word(json_string_value(v))))
			cfg_error(errs, path, "rollback: an action name");
		v = json_object_get(t, "kind");
		if (v != NULL && (!json_is_string(v) ||
		    (strcmp(json_string_value(v), "mitigate") &&
		    strcmp(json_string_value(v), "remediate") &&
		    strcmp(json_string_value(v), "ticket") &&
		    strcmp(json_string_value(v), "notify"))))
			cfg_error(errs, path, "kind: mitigate, remediate, "
			    "ticket or notify");
		v = json_object_get(t, "params");
		if (v != NULL && !json_is_array(v) &&
		    !(json_is_object(v) && json_object_size(v) == 0))
			cfg_error(errs, path, "params: a list of parameter "
			    "names");
		v = json_object_get(t, "verify");
		if (v != NULL && !json_is_boolean(v))
			cfg_error(errs, path, "verify: a boolean");
	}
}

/* "20/1h": a count, then a window. */
int
config_parse_rate(const char *s, int64_t *count, uint64_t *window_ms)
{
	char *end;
	const char *why;
	long long n = strtoll(s, &end, 10);

	if (end == s || *end != '/' || n < 1 || n > 1000000000)
		return -1;
	if (units_parse_duration(end + 1, window_ms, &why) != 0 ||
	    *window_ms == 0)
		return -1;
	*count = n;
	return 0;
}

static void
cfg_check_guard(struct config *cfg, struct cfg_errors *errs)
{
	static const char *const keys[] = {"hosts", "users", "ips", "clouds",
	    "mode", NULL};
	const char *name, *k;
	json_t *t, *v;
	char path[256];

	json_object_foreach(cfg->guard.protected, name, t) {
		snprintf(path, sizeof path, "guard.protected.%s", name);
		cfg_check_keys(errs, path, t, keys);
		json_object_foreach(t, k, v) {
			if (!cfg_known(keys, k))
				continue;
			if (strcmp(k, "mode") == 0) {
				if (!json_is_string(v) ||
				    (strcmp(json_string_value(v), "refuse") &&
				    strcmp(json_string_value(v), "approval")))
					cfg_error(errs, path, "mode: \"refuse\" "
					    "or \"approval\"");
				continue;
			}
			size_t i2;
			json_t *e;
			if (!json_is_array(v)) {
				cfg_error(errs, path, "%s: a list of patterns",
				    k);
				continue;
			}
			json_array_foreach(v, i2, e) {
				if (!json_is_string(e))
					cfg_error(errs, path, "%s[%zu]: expected "
					    "string", k, i2 + 1);
			}
		}
	}
	json_object_foreach(cfg->guard.rate, name, v) {
		int64_t n;
		uint64_t w;
		snprintf(path, sizeof path, "guard.rate.%s", name);
		if (config_parse_rate(json_string_value(v), &n, &w) == -1)
			cfg_error(errs, path, "\"%s\": expected COUNT/DURATION "
			    "(e.g. \"20/1h\")", json_string_value(v));
	}
	if (cfg->guard.breaker != NULL) {
		int64_t n;
		uint64_t w;
		if (config_parse_rate(cfg->guard.breaker, &n, &w) == -1)
			cfg_error(errs, "guard.breaker", "\"%s\": expected "
			    "COUNT/DURATION (e.g. \"50/5m\")",
			    cfg->guard.breaker);
	}
	json_object_foreach(cfg->approvals.quorum, name, v) {
		json_int_t q = json_integer_value(v);
		snprintf(path, sizeof path, "approvals.quorum.%s", name);
		if (q < 1 || q > 10)
			cfg_error(errs, path, "a number of approvers, 1-10");
	}
}

/*
 * A relative path names a file beside the config file, wherever the
 * daemon was started from (so a config and its playbooks move together).
 */
static void
cfg_resolve(struct config *cfg, char **path, const char *key,
    struct cfg_errors *errs)
{
	char *dir, *slash, *abs;

	if (*path == NULL || (*path)[0] == '/')
		return;
	dir = strdup(cfg->path);
	if (dir == NULL)
		return;
	slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	char *real = realpath(slash != NULL ? dir : ".", NULL);
	free(dir);
	if (real == NULL) {
		cfg_error(errs, key, "cannot resolve \"%s\" beside the config "
		    "file: %s", *path, strerror(errno));
		return;
	}
	if (asprintf(&abs, "%s/%s", real, *path) == -1)
		abs = NULL;
	free(real);
	if (abs != NULL) {
		free(*path);
		*path = abs;
	}
}

static void
cfg_check(struct config *cfg, struct cfg_errors *errs)
{
	if (cfg->state_dir != NULL && cfg->state_dir[0] != '/')
		cfg_error(errs, "state_dir", "must be an absolute path");
	if (cfg->control.socket != NULL) {
		if (cfg->control.socket[0] != '/')
			cfg_error(errs, "control.socket",
			    "must be an absolute path");
		/* sun_path holds 108 bytes with the NUL. */
		else if (strlen(cfg->control.socket) > 107)
			cfg_error(errs, "control.socket",
			    "longer than the 107 bytes a socket path may have");
	}
	if (cfg->control.group != NULL && getgrnam(cfg->control.group) == NULL)
		cfg_error(errs, "control.group", "no such group \"%s\"",
		    cfg->control.group);
	if (cfg->audit.dir != NULL && cfg->audit.dir[0] != '/')
		cfg_error(errs, "audit.dir", "must be an absolute path");
	if (cfg->audit.dir == NULL && cfg->state_dir != NULL &&
	    asprintf(&cfg->audit.dir, "%s/audit", cfg->state_dir) == -1)
		cfg->audit.dir = NULL;
	if (cfg->kafka.present && cfg->kafka.topic != NULL &&
	    cfg->kafka.dlq_topic == NULL &&
	    asprintf(&cfg->kafka.dlq_topic, "%s.dlq", cfg->kafka.topic) == -1)
		cfg->kafka.dlq_topic = NULL;
	if (cfg->audit.anchor_topic != NULL && !cfg->kafka.present)
		cfg_error(errs, "audit.anchor_topic", "needs a kafka section to "
		    "produce to");
	if (cfg->kafka.dlq_topic != NULL && cfg->kafka.topic != NULL &&
	    strcmp(cfg->kafka.dlq_topic, cfg->kafka.topic) == 0)
		cfg_error(errs, "kafka.dlq_topic", "must differ from kafka.topic");
	if (cfg->kafka.secret_files != NULL) {
		const char *key;
		json_t *v;
		json_object_foreach(cfg->kafka.secret_files, key, v) {
			char path[256];
			snprintf(path, sizeof path, "kafka.secret_files.%s", key);
			if (json_string_value(v)[0] != '/')
				cfg_error(errs, path, "must be an absolute path");
			else if (access(json_string_value(v), R_OK) == -1)
				cfg_error(errs, path, "%s: %s",
				    json_string_value(v), strerror(errno));
			if (cfg->kafka.properties != NULL &&
			    json_object_get(cfg->kafka.properties, key) != NULL)
				cfg_error(errs, path, "also set inline in "
				    "kafka.properties; keep one");
		}
	}
	cfg_resolve(cfg, &cfg->playbooks.dir, "playbooks.dir", errs);
	cfg_resolve(cfg, &cfg->connectors.dir, "connectors.dir", errs);
	if (cfg->connectors.present)
		cfg_check_connectors(cfg, errs);
	cfg_check_guard(cfg, errs);
	cfg_resolve(cfg, &cfg->playbooks.assets, "playbooks.assets", errs);
	cfg_parse_roles(cfg, errs);
}

struct config *
config_load_buffer(const char *name, const char *text, size_t len,
    char **cause)
{
	struct cfg_errors errs = {0};
	struct config *cfg;
	json_t *tree;

	*cause = NULL;
	cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	cfg->path = strdup(name);
	tree = cfg_evaluate(name, text, len, &errs);
	if (tree != NULL) {
		cfg_apply_table(cfg, root_fields, tree, "", &errs);
		json_decref(tree);
		cfg_check(cfg, &errs);
	}
	if (errs.n > 0) {
		*cause = cfg_errors_join(&errs);
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct config *
config_load(const char *path, char **cause)
{
	struct config *cfg;
	size_t len;
	char *text = fs_read_file(path, CONFIG_MAX_FILE, &len, cause);

	if (text == NULL)
		return NULL;
	cfg = config_load_buffer(path, text, len, cause);
	free(text);
	return cfg;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->state_dir);
	free(cfg->control.socket);
	free(cfg->control.group);
	for (int r = 0; r <= ROLE_ADMIN; r++) {
		for (size_t i = 0; i < cfg->control.roles[r].n; i++)
			free(cfg->control.roles[r].v[i]);
		free(cfg->control.roles[r].v);
	}
	for (size_t i = 0; i < cfg->control.nrules; i++)
		free(cfg->control.rules[i].name);
	free(cfg->control.rules);
	free(cfg->kafka.brokers);
	free(cfg->kafka.topic);
	free(cfg->kafka.group);
	free(cfg->kafka.dlq_topic);
	json_decref(cfg->kafka.properties);
	json_decref(cfg->kafka.secret_files);
	char **gp[] = {&cfg->kafka.generic.id, &cfg->kafka.generic.time,
	    &cfg->kafka.generic.severity, &cfg->kafka.generic.title,
	    &cfg->kafka.generic.rule, &cfg->kafka.generic.category,
	    &cfg->kafka.generic.host, &cfg->kafka.generic.user,
	    &cfg->kafka.generic.ip, &cfg->kafka.generic.process,
	    &cfg->kafka.generic.container, &cfg->kafka.generic.cloud};
	for (size_t i = 0; i < sizeof gp / sizeof gp[0]; i++)
		free(*gp[i]);
	free(cfg->playbooks.dir);
	free(cfg->playbooks.assets);
	free(cfg->connectors.dir);
	json_decref(cfg->guard.protected);
	free(cfg->guard.breaker);
	json_decref(cfg->guard.rate);
	json_decref(cfg->approvals.quorum);
	free(cfg->approvals.escalate_to);
	for (size_t i = 0; i < cfg->approvals.required.n; i++)
		free(cfg->approvals.required.v[i]);
	free(cfg->approvals.required.v);
	for (size_t i = 0; i < cfg->approvals.tiers.n; i++)
		free(cfg->approvals.tiers.v[i]);
	free(cfg->approvals.tiers.v);
	json_decref(cfg->connectors.actions);
	json_decref(cfg->connectors.settings);
	free(cfg->audit.dir);
	free(cfg->audit.anchor_topic);
	free(cfg);
}
