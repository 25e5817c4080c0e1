/*
 * The playbook host and the `rd` API: loads each playbook file into its own
 * sandbox, checks the table `playbook{}` builds, and runs `when` and `run`
 * on one alert, collecting the actions the run requests into a plan. Runs
 * in the worker processes and in `remediad test-playbooks`.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "remediad/audit.h"
#include "remediad/fsutil.h"
#include "remediad/json_scan.h"
#include "remediad/json_scan_tree.h"
#include "remediad/playbook_host.h"
#include "remediad/units.h"
#include "remediad/utf8.h"

/* Registry keys (their addresses are unique). */
static const char key_spec = 's';  /* the table playbook{} returned */
static const char key_rdtpl = 'r'; /* what a run's rd holds, to copy */
static const char key_host = 'h';  /* the struct pbstate, light userdata */
static const char key_run = 'R';   /* the playbook's run function */
static const char key_when = 'W';  /* its match.when, if any */

/* The list at key_rdtpl: rd's keys and values (see rd_register). */
#define RD_TPL_PRIOR    1 /* "prior" */
#define RD_TPL_PLAYBOOK 2 /* "playbook" */
#define RD_TPL_NAME     3 /* the playbook's name, once known */
#define RD_TPL_LIB      4 /* from here: key, value, key, value, ... */

static const char *const entities[] = {PLAYBOOK_ENTITIES, NULL};

struct pbhost;

struct pbstate {
	struct pbhost *h;
	struct sandbox *sb;
	char *name;
	char *file;
	int has_when;
	json_t *meta; /* what the main process matches with */
	/*
	 * The run in progress: what rd.* appends to, already as the text
	 * of the result's members (comma-separated), so a request is
	 * converted once, straight from its Lua table. The buffers are
	 * kept from run to run.
	 */
	int running; /* rd.* answers only during a run */
	int in_when; /* when() may read (rd.asset, rd.log), not request */
	struct audit_buf actions; /* {"kind":..,"action":..,"params":..} */
	int nactions;
	struct audit_buf logs; /* {"level":..,"msg":..} */
	int nlogs;
	int dropped_logs;
};

/* The lazy alert of the run in progress (see "The alert" below). */
struct lazy_alert {
	const void *alert; /* the run's alert table; NULL between runs */
	const struct pbfield *fields;
	size_t n;
	uint8_t *made; /* made[i]: fields[i] made (read, set or filled) */
	size_t made_cap;
	const char *raw; /* the message, or NULL: no alert.raw */
	size_t rawlen;
	int raw_read; /* alert.raw made (or set by the run) */
	const void *root; /* the alert.raw table, once made */
	struct jscan scan; /* the message, parsed when alert.raw is read */
	uint8_t *raw_made; /* by value index in scan: that member made */
	size_t raw_made_cap;
	int raw_full;	  /* every member made */
	int raw_misses;	  /* reads and writes of keys the message lacks */
};

struct pbhost {
	struct pbstate *pb;
	size_t n;
	json_t *assets; /* object: name -> entry, or NULL */
	int max_actions;
	/* pbhost_run_object(): the result's text and its parser, kept. */
	struct audit_buf text;
	struct jscan scan;
	struct lazy_alert cur; /* one run at a time */
};

/* ---- Small helpers ------------------------------------------------------ */

int
playbook_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > PLAYBOOK_MAX_NAME)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '_' ||
			c == '.'))
			return 0;
	}
	return 1;
}

int
playbook_is_entity(const char *s)
{
	for (size_t i = 0; s != NULL && entities[i] != NULL; i++)
		if (strcmp(entities[i], s) == 0)
			return 1;
	return 0;
}

static struct pbstate *
pbstate_of(lua_State *L)
{
	struct pbstate *st;

	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_host);
	st = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return st;
}

/* ---- playbook{}: the spec, checked where it is written ------------------ */

/*
 * t[key] without metamethods: a playbook's own tables may carry any
 * metatable, and what is checked must be what is used.
 */
static int
rget(lua_State *L, int t, const char *key)
{
	t = lua_absindex(L, t);
	lua_pushstring(L, key);
	return lua_rawget(L, t);
}

/* A string, or a non-empty list of strings, at spec.match[key]. */
static void
spec_check_strings(lua_State *L, int t, const char *key)
{
	int type = rget(L, t, key);

	if (type == LUA_TNIL || type == LUA_TSTRING) {
		lua_pop(L, 1);
		return;
	}
	if (type != LUA_TTABLE)
		luaL_error(L, "playbook.match.%s: expected a string or a list "
		    "of strings, got %s", key, luaL_typename(L, -1));
	lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
	if (n == 0)
		luaL_error(L, "playbook.match.%s: an empty list", key);
	for (lua_Integer i = 1; i <= n; i++) {
		if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
			luaL_error(L, "playbook.match.%s[%d]: expected a string",
			    key, (int)i);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static void
spec_check_keys(lua_State *L, int t, const char *what,
    const char *const *allowed)
{
	lua_pushnil(L);
	while (lua_next(L, t) != 0) {
		size_t i;
		if (lua_type(L, -2) != LUA_TSTRING)
			luaL_error(L, "%s: keys must be names", what);
		const char *k = lua_tostring(L, -2);
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], k) == 0)
				break;
		if (allowed[i] == NULL)
			luaL_error(L, "%s.%s: unknown key", what, k);
		lua_pop(L, 1);
	}
}

/* dedup = { key = "host", window = "30m" } and escalate alike. */
static void
spec_check_window(lua_State *L, int spec, const char *what)
{
	static const char *const keys[] = {"key", "window", NULL};
	uint64_t ms;
	const char *cause;
	int type = rget(L, spec, what);

	if (type == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	if (type != LUA_TTABLE)
		luaL_error(L, "playbook.%s: expected a table", what);
	int t = lua_gettop(L);
	char path[32];
	snprintf(path, sizeof path, "playbook.%s", what);
	spec_check_keys(L, t, path, keys);
	if (rget(L, t, "key") != LUA_TSTRING ||
	    !playbook_is_entity(lua_tostring(L, -1)))
		luaL_error(L, "playbook.%s.key: expected an alert field (host, "
		    "user, ip, process, container, cloud, rule, category, "
		    "title, source)", what);
	if (rget(L, t, "window") != LUA_TSTRING)
		luaL_error(L, "playbook.%s.window: expected a duration string "
		    "(e.g. \"30m\")", what);
	if (units_parse_duration(lua_tostring(L, -1), &ms, &cause) != 0 ||
	    ms == 0)
		luaL_error(L, "playbook.%s.window: bad duration \"%s\": %s",
		    what, lua_tostring(L, -1), ms == 0 ? "zero" : cause);
	lua_pop(L, 3);
}

static void
spec_check_match(lua_State *L, int spec)
{
	static const char *const keys[] = {"source", "category", "rule",
	    "min_severity", "has", "protected", "when", NULL};
	int type = rget(L, spec, "match");

	if (type == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	if (type != LUA_TTABLE)
		luaL_error(L, "playbook.match: expected a table");
	int t = lua_gettop(L);
	spec_check_keys(L, t, "playbook.match", keys);
	spec_check_strings(L, t, "source");
	spec_check_strings(L, t, "category");
	spec_check_strings(L, t, "rule");
	type = rget(L, t, "min_severity");
	if (type != LUA_TNIL && (!lua_isinteger(L, -1) ||
	    lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) > 100))
		luaL_error(L, "playbook.match.min_severity: expected an integer "
		    "0-100");
	lua_pop(L, 1);
	type = rget(L, t, "has");
	if (type == LUA_TSTRING) {
		if (!playbook_is_entity(lua_tostring(L, -1)))
			luaL_error(L, "playbook.match.has: \"%s\" is not an "
			    "alert field", lua_tostring(L, -1));
	} else if (type == LUA_TTABLE) {
		lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
		for (lua_Integer i = 1; i <= n; i++) {
			if (lua_rawgeti(L, -1, i) != LUA_TSTRING ||
			    !playbook_is_entity(lua_tostring(L, -1)))
				luaL_error(L, "playbook.match.has[%d]: expected "
				    "an alert field (host, user, ip, ...)",
				    (int)i);
			lua_pop(L, 1);
		}
	} else if (type != LUA_TNIL)
		luaL_error(L, "playbook.match.has: expected a list of alert "
		    "fields");
	lua_pop(L, 1);
	type = rget(L, t, "protected");
	if (type != LUA_TNIL && type != LUA_TBOOLEAN)
		luaL_error(L, "playbook.match.protected: expected true or false");
	lua_pop(L, 1);
	type = rget(L, t, "when");
	if (type != LUA_TNIL && type != LUA_TFUNCTION)
		luaL_error(L, "playbook.match.when: expected a function");
	lua_pop(L, 2);
}

/*
 * The metadata the main process matches with, from a checked spec at 1;
 * run and when are kept in the registry, so a run never reads the spec
 * table again (its metatable is the playbook's to set).
 */
static void
spec_meta(lua_State *L, struct pbstate *st)
{
	char err[512];
	json_t *meta, *v;

	rget(L, 1, "name");
	free(st->name);
	st->name = strdup(lua_tostring(L, -1));
	lua_pop(L, 1);
	rget(L, 1, "run");
	lua_rawsetp(L, LUA_REGISTRYINDEX, &key_run);
	meta = json_pack("{s:s, s:s}", "name", st->name, "file", st->file);
	json_decref(st->meta);
	st->meta = meta; /* freed with the state if anything below raises */
	if (rget(L, 1, "description") == LUA_TSTRING)
		json_object_set_new(meta, "description",
		    json_string(lua_tostring(L, -1)));
	lua_pop(L, 1);
	rget(L, 1, "dry_run");
	json_object_set_new(meta, "dry_run", json_boolean(lua_toboolean(L,
	    -1)));
	lua_pop(L, 1);
	st->has_when = 0;
	if (rget(L, 1, "match") == LUA_TTABLE) {
		int m = lua_gettop(L);
		if (rget(L, m, "when") == LUA_TFUNCTION) {
			st->has_when = 1;
			lua_rawsetp(L, LUA_REGISTRYINDEX, &key_when);
		} else
			lua_pop(L, 1);
		/* A copy without when, which stays in Lua. */
		lua_createtable(L, 0, 5);
		lua_pushnil(L);
		while (lua_next(L, m) != 0) {
			if (strcmp(lua_tostring(L, -2), "when") == 0) {
				lua_pop(L, 1);
				continue;
			}
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, -4);
		}
		v = sandbox_to_json(L, -1, 4, "playbook.match", err, sizeof err);
		if (v == NULL)
			luaL_error(L, "%s", err);
		json_object_set_new(meta, "match", v);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	json_object_set_new(meta, "when", json_boolean(st->has_when));
	for (int i = 0; i < 2; i++) {
		const char *what = i == 0 ? "dedup" : "escalate";
		if (rget(L, 1, what) == LUA_TTABLE) {
			v = sandbox_to_json(L, -1, 2, what, err, sizeof err);
			if (v == NULL)
				luaL_error(L, "%s", err);
			json_object_set_new(meta, what, v);
		}
		lua_pop(L, 1);
	}
}

/*
 * playbook{...}: checks the spec where the playbook writes it, so errors
 * carry its file and line, and remembers it as this state's playbook.
 */
static int
lua_playbook_define(lua_State *L)
{
	static const char *const keys[] = {"name", "description", "match",
	    "dedup", "escalate", "dry_run", "run", NULL};
	size_t len;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &key_spec) != LUA_TNIL)
		luaL_error(L, "playbook{} may be called once per file");
	lua_pop(L, 1);
	spec_check_keys(L, 1, "playbook", keys);
	if (rget(L, 1, "name") != LUA_TSTRING)
		luaL_error(L, "playbook.name: expected a string");
	const char *name = lua_tolstring(L, -1, &len);
	if (len == 0 || len > PLAYBOOK_MAX_NAME)
		luaL_error(L, "playbook.name: 1 to %d characters",
		    PLAYBOOK_MAX_NAME);
	if (!playbook_name_valid(name, len))
		luaL_error(L, "playbook.name: \"%s\": only letters, "
		    "digits, '-', '_' and '.'", name);
	lua_pop(L, 1);
	int type = rget(L, 1, "description");
	if (type != LUA_TNIL && type != LUA_TSTRING)
		luaL_error(L, "playbook.description: expected a string");
	lua_pop(L, 1);
	type = rget(L, 1, "dry_run");
	if (type != LUA_TNIL && type != LUA_TBOOLEAN)
		luaL_error(L, "playbook.dry_run: expected a boolean");
	lua_pop(L, 1);
	if (rget(L, 1, "run") != LUA_TFUNCTION)
		luaL_error(L, "playbook.run: expected a function(alert, rd)");
	lua_pop(L, 1);
	spec_check_match(L, 1);
	spec_check_window(L, 1, "dedup");
	spec_check_window(L, 1, "escalate");
	spec_meta(L, pbstate_of(L));
	lua_pushvalue(L, 1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &key_spec);
	return 1;
}

/* ---- The rd API ---------------------------------------------------------- */

/* Raises unless a run is in progress (a playbook may keep rd around). */
static struct pbstate *
rd_running(lua_State *L, const char *fn)
{
	struct pbstate *st = pbstate_of(L);

	if (st == NULL || !st->running)
		luaL_error(L, "%s: only during run()", fn);
	return st;
}

/* Appends one request; upvalues: kind, action name. */
static int
lua_rd_request(lua_State *L)
{
	size_t klen, alen;
	const char *kind = lua_tolstring(L, lua_upvalueindex(1), &klen);
	const char *action = lua_tolstring(L, lua_upvalueindex(2), &alen);
	char what[128], err[256];
	struct pbstate *st;
	struct audit_buf *b;
	size_t start, params;
	int same = strcmp(kind, action) == 0;

	/* What messages call it; copied, as it is built for every call. */
	if (3 + klen + 1 + alen < sizeof what) {
		memcpy(what, "rd.", 3);
		memcpy(what + 3, kind, klen);
		if (!same) {
			what[3 + klen] = '.';
			memcpy(what + 4 + klen, action, alen);
		}
		what[same ? 3 + klen : 4 + klen + alen] = '\0';
	} else
		snprintf(what, sizeof what, "rd.%s%s%s", kind,
		    same ? "" : ".", same ? "" : action);
	st = rd_running(L, what);
	if (st->in_when)
		luaL_error(L, "%s: requests belong in run(), not in when()", what);
	if (lua_type(L, 1) != LUA_TTABLE)
		luaL_error(L, "%s: expected a table of parameters", what);
	if (st->nactions >= st->h->max_actions)
		luaL_error(L, "%s: more than %d requests in one plan", what,
		    st->h->max_actions);
	/* Written in place; a request refused half way is taken back. */
	b = &st->actions;
	start = b->len;
	if ((st->nactions > 0 && audit_buf_lit(b, ",") == -1) ||
	    audit_buf_lit(b, "{\"kind\":") == -1 ||
	    audit_canon_string(b, kind, klen) == -1 ||
	    audit_buf_lit(b, ",\"action\":") == -1 ||
	    audit_canon_string(b, action, alen) == -1 ||
	    audit_buf_lit(b, ",\"params\":") == -1) {
		b->len = start;
		luaL_error(L, "%s: out of memory", what);
	}
	params = b->len;
	if (sandbox_to_text(L, 1, SANDBOX_MAX_DEPTH / 2, what, b, err,
		sizeof err) != 0) {
		b->len = start;
		luaL_error(L, "%s", err);
	}
	if (b->data[params] != '{') {
		b->len = start;
		luaL_error(L, "%s: parameters must be a table with names",
		    what);
	}
	if (audit_buf_lit(b, "}") == -1) {
		b->len = start;
		luaL_error(L, "%s: out of memory", what);
	}
	st->nactions++;
	return 0;
}

/* rd.mitigate.<name> and rd.remediate.<name>: upvalue 1 is the kind. */
static int
lua_rd_action_index(lua_State *L)
{
	size_t len;
	const char *name = lua_tolstring(L, 2, &len);

	if (lua_type(L, 2) != LUA_TSTRING || len == 0 || len > 64)
		return luaL_error(L, "rd.%s: bad action name",
		    lua_tostring(L, lua_upvalueindex(1)));
	for (size_t i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
			(name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return luaL_error(L, "rd.%s.%s: action names are "
			    "lowercase letters, digits and '_'",
			    lua_tostring(L, lua_upvalueindex(1)), name);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, lua_rd_request, 2);
	return 1;
}

static int
lua_rd_readonly(lua_State *L)
{
	return luaL_error(L, "rd: read-only");
}

static int
lua_rd_log(lua_State *L)
{
	static const char *const levels[] = {"debug", "info", "notice", "warn",
	    "error", NULL};
	struct pbstate *st = rd_running(L, "rd.log");
	int level = luaL_checkoption(L, 1, NULL, levels);
	size_t len;
	const char *msg = luaL_checklstring(L, 2, &len);
	char buf[PLAYBOOK_MAX_LOG_LEN + 1];

	if (st->nlogs >= PLAYBOOK_MAX_LOGS) {
		st->dropped_logs++;
		return 0;
	}
	if (len > PLAYBOOK_MAX_LOG_LEN)
		len = PLAYBOOK_MAX_LOG_LEN;
	memcpy(buf, msg, len);
	buf[len] = '\0';
	/* Logged by the main process: keep it one printable line. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = ' ';
	/* Cut inside a character, or not UTF-8: text again. */
	const char *line = buf;
	len = utf8_repair(buf);
	struct audit_buf *b = &st->logs;
	size_t start = b->len;
	/* Out of memory, the line is lost, as a full list loses it. */
	if ((st->nlogs > 0 && audit_buf_lit(b, ",") == -1) ||
	    audit_buf_lit(b, "{\"level\":") == -1 ||
	    audit_canon_string(b, levels[level], strlen(levels[level])) == -1 ||
	    audit_buf_lit(b, ",\"msg\":") == -1 ||
	    audit_canon_string(b, line, len) == -1 ||
	    audit_buf_lit(b, "}") == -1) {
		b->len = start;
		return 0;
	}
	st->nlogs++;
	return 0;
}

/*
 * The inventory entry for a name: exact, else case-insensitive, else by the
 * first label (Wazuh says "dc01" where ECS says "DC01.corp.example").
 */
static json_t *asset_find(json_t *assets, const char *name);

json_t *
pbhost_asset_find(const json_t *assets, const char *name)
{
	return asset_find((json_t *)assets, name);
}

static json_t *
asset_find(json_t *assets, const char *name)
{
	size_t i, n = strlen(name);
	json_t *e;
	char *low;

	if ((e = json_object_get(assets, name)) != NULL)
		return e;
	if ((low = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 :
		    name[i]);
	low[n] = '\0';
	if ((e = json_object_get(assets, low)) == NULL) {
		char *dot = strchr(low, '.');
		if (dot != NULL && dot != low) {
			*dot = '\0';
			e = json_object_get(assets, low);
		}
	}
	free(low);
	return e;
}

static int
lua_rd_asset(lua_State *L)
{
	struct pbstate *st = rd_running(L, "rd.asset");
	const char *name = luaL_optstring(L, 1, NULL);
	json_t *e;

	if (name == NULL || st->h->assets == NULL ||
	    (e = asset_find(st->h->assets, name)) == NULL) {
		lua_pushnil(L);
		return 1;
	}
	if (sandbox_push_json(L, e, SANDBOX_MAX_DEPTH) == -1)
		return luaL_error(L, "rd.asset: out of memory");
	return 1;
}

int
pbhost_asset_protected(const json_t *assets, const char *name)
{
	const json_t *e, *t;
	size_t i;

	if (name == NULL || assets == NULL ||
	    (e = asset_find((json_t *)assets, name)) == NULL)
		return 0;
	const char *tier = json_string_value(json_object_get(e, "tier"));
	if (tier != NULL && strcmp(tier, "critical") == 0)
		return 1;
	json_array_foreach(json_object_get(e, "tags"), i, t)
		if (json_is_string(t) &&
		    strcmp(json_string_value(t), "protected") == 0)
			return 1;
	return 0;
}

static int
lua_rd_protected(lua_State *L)
{
	struct pbstate *st = rd_running(L, "rd.protected");

	lua_pushboolean(L, pbhost_asset_protected(st->h->assets,
	    luaL_optstring(L, 1, NULL)));
	return 1;
}

/* At most n bytes of s, cut at a UTF-8 character boundary. */
static int
lua_rd_cut(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	lua_Integer n = luaL_checkinteger(L, 2);

	if (n < 0)
		n = 0;
	if ((size_t)n >= len) {
		lua_settop(L, 1);
		return 1;
	}
	len = (size_t)n;
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	lua_pushlstring(L, s, len);
	return 1;
}

/* Builds the functions of rd once per state, kept in the registry. */
static void
rd_register(lua_State *L)
{
	lua_createtable(L, 0, 8);
	for (int i = 0; i < 2; i++) {
		const char *kind = i == 0 ? "mitigate" : "remediate";
		lua_createtable(L, 0, 0); /* the proxy */
		lua_createtable(L, 0, 3); /* its metatable */
		lua_pushstring(L, kind);
		lua_pushcclosure(L, lua_rd_action_index, 1);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, lua_rd_readonly);
		lua_setfield(L, -2, "__newindex");
		lua_pushliteral(L, "locked");
		lua_setfield(L, -2, "__metatable");
		/*
		 * Shared by every run of the state: rawset() must not get
		 * past __newindex, or a run could leave something in it for
		 * the next alert's run.
		 */
		sandbox_mark_readonly(L, -1);
		lua_setmetatable(L, -2);
		lua_setfield(L, -2, kind);
	}
	lua_pushliteral(L, "ticket");
	lua_pushliteral(L, "ticket");
	lua_pushcclosure(L, lua_rd_request, 2);
	lua_setfield(L, -2, "ticket");
	lua_pushliteral(L, "notify");
	lua_pushliteral(L, "notify");
	lua_pushcclosure(L, lua_rd_request, 2);
	lua_setfield(L, -2, "notify");
	lua_pushcfunction(L, lua_rd_log);
	lua_setfield(L, -2, "log");
	lua_pushcfunction(L, lua_rd_asset);
	lua_setfield(L, -2, "asset");
	lua_pushcfunction(L, lua_rd_protected);
	lua_setfield(L, -2, "protected");
	lua_pushcfunction(L, lua_rd_cut);
	lua_setfield(L, -2, "cut");
	/*
	 * Kept as a list: the keys of rd (interned once) and their values,
	 * in the order a copy of the table above took them, so a run's rd
	 * is filled without walking a table and lays out as it always did.
	 */
	lua_createtable(L, RD_TPL_LIB + 16, 0);
	lua_pushliteral(L, "prior");
	lua_rawseti(L, -2, RD_TPL_PRIOR);
	lua_pushliteral(L, "playbook");
	lua_rawseti(L, -2, RD_TPL_PLAYBOOK);
	lua_Integer i = RD_TPL_LIB;
	lua_pushnil(L);
	while (lua_next(L, -3) != 0) {
		lua_pushvalue(L, -2);
		lua_rawseti(L, -4, i++);
		lua_rawseti(L, -3, i++);
	}
	lua_rawsetp(L, LUA_REGISTRYINDEX, &key_rdtpl);
	lua_pop(L, 1);
}

/*
 * A fresh rd for one run: what a run changes in it goes with it. Its
 * functions and their tables are the state's own, made once.
 */
static void
rd_push(lua_State *L, const struct pbstate *st, int64_t prior)
{
	lua_createtable(L, 0, 9);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_rdtpl);
	for (lua_Integer i = RD_TPL_LIB; lua_rawgeti(L, -1, i) != LUA_TNIL;
	     i += 2) {
		lua_rawgeti(L, -2, i + 1);
		lua_rawset(L, -4);
	}
	lua_pop(L, 1);
	lua_rawgeti(L, -1, RD_TPL_PRIOR);
	lua_pushinteger(L, (lua_Integer)prior);
	lua_rawset(L, -4);
	lua_rawgeti(L, -1, RD_TPL_PLAYBOOK);
	/* The name is known once playbook{} ran; interned on first use. */
	if (lua_rawgeti(L, -2, RD_TPL_NAME) == LUA_TNIL) {
		lua_pop(L, 1);
		lua_pushstring(L, st->name);
		lua_pushvalue(L, -1);
		lua_rawseti(L, -4, RD_TPL_NAME);
	}
	lua_rawset(L, -4);
	lua_pop(L, 1);
}

/* ---- The alert ----------------------------------------------------------- */

/*
 * The alert a run gets, and alert.raw's top level, are lazy tables (see
 * sandbox_mark_lazy): a canonical field, or a member of the message's top
 * object, becomes a Lua value when the run first reads it, and the ones
 * left all do when something sees the table whole (pairs, next, rawget,
 * rawset, a request that carries it). Each is made at most once, so what
 * the run assigns or removes stays so: the tables read as if they had
 * been filled up front, for a fraction of the cost (a run reads a few of
 * the alert's fields, and one member of alert.raw). As before, alert.raw
 * is not among what pairs(alert) lists. Once the run is over nothing more
 * is made: an alert kept past its run holds what the run read.
 */
static const char key_alert_mt = 'a'; /* the alert's metatable */
static const char key_raw_mt = 'w';   /* alert.raw's metatable */

/*
 * Past this many reads or writes of members the message lacks, alert.raw
 * is filled whole: each costs a search of the message's top object, and
 * a filled table none.
 */
#define RAW_MISSES_MAX 8

static struct lazy_alert *
lazy_of(lua_State *L)
{
	return &pbstate_of(L)->h->cur;
}

/* Index of the field named k, or -1. */
static ptrdiff_t
lazy_field(const struct lazy_alert *z, const char *k, size_t klen)
{
	for (size_t i = 0; i < z->n; i++)
		if (z->fields[i].klen == klen &&
		    memcmp(z->fields[i].key, k, klen) == 0)
			return (ptrdiff_t)i;
	return -1;
}

/*
 * t[key] = the value at the top of the stack, which stays there. The key
 * is the string at stack index key when there is one (a read's own key:
 * not interned again), else the klen bytes at k.
 */
static void
lazy_keep(lua_State *L, int t, int key, const char *k, size_t klen)
{
	if (key != 0)
		lua_pushvalue(L, key);
	else
		lua_pushlstring(L, k, klen);
	lua_pushvalue(L, -2);
	lua_rawset(L, t);
}

/*
 * Makes field i (not made yet): t[its key] = its value, left pushed; key
 * as lazy_keep() takes it.
 */
static void
lazy_make_field(lua_State *L, struct lazy_alert *z, int t, size_t i,
    int key)
{
	const struct pbfield *f = &z->fields[i];

	z->made[i] = 1;
	if (f->str != NULL)
		lua_pushlstring(L, f->str, f->slen);
	else
		lua_pushinteger(L, (lua_Integer)f->i);
	lazy_keep(L, t, key, f->key, f->klen);
}

/* alert.raw's member c (not made yet), as lazy_make_field makes field i. */
static void
lazy_make_member(lua_State *L, struct lazy_alert *z, int t,
    const struct jscan_value *c, int key)
{
	z->raw_made[c - z->scan.v] = 1;
	if (c->type == JSCAN_NULL) {
		lua_pushnil(L); /* JSON null: absent, as everywhere */
		return;
	}
	/* The top object is depth 1, as sandbox_push_jscan counts. */
	sandbox_push_jscan_value(L, &z->scan, c, 2, SANDBOX_MAX_DEPTH * 2);
	lazy_keep(L, t, key, c->key, c->keylen);
}

/* The fill of alert.raw: every member not made yet. */
static int
lua_raw_fill(lua_State *L)
{
	struct lazy_alert *z = lazy_of(L);
	const struct jscan_value *c;

	if (z->root == NULL || lua_topointer(L, 1) != z->root || z->raw_full)
		return 0;
	z->raw_full = 1;
	for (c = jscan_first(&z->scan, jscan_root(&z->scan)); c != NULL;
	     c = jscan_next(&z->scan, c))
		if (!z->raw_made[c - z->scan.v]) {
			lazy_make_member(L, z, 1, c, 0);
			lua_pop(L, 1);
		}
	return 0;
}

static int
lua_raw_index(lua_State *L)
{
	struct lazy_alert *z = lazy_of(L);
	const struct jscan_value *c;
	size_t klen;
	const char *k;

	if (z->root == NULL || lua_topointer(L, 1) != z->root ||
	    z->raw_full || lua_type(L, 2) != LUA_TSTRING)
		return 0;
	k = lua_tolstring(L, 2, &klen);
	c = jscan_get(&z->scan, jscan_root(&z->scan), k, klen);
	if (c == NULL) {
		/* A run that probes many keys pays for one fill, no more. */
		if (++z->raw_misses > RAW_MISSES_MAX)
			lua_raw_fill(L);
		return 0;
	}
	if (z->raw_made[c - z->scan.v])
		return 0; /* made, then removed by the run */
	lazy_make_member(L, z, 1, c, 2);
	return 1;
}

static int
lua_raw_newindex(lua_State *L)
{
	struct lazy_alert *z = lazy_of(L);
	const struct jscan_value *c;
	size_t klen;
	const char *k;

	if (z->root != NULL && lua_topointer(L, 1) == z->root &&
	    !z->raw_full && lua_type(L, 2) == LUA_TSTRING) {
		k = lua_tolstring(L, 2, &klen);
		c = jscan_get(&z->scan, jscan_root(&z->scan), k, klen);
		if (c != NULL)
			z->raw_made[c - z->scan.v] = 1;
		else if (++z->raw_misses > RAW_MISSES_MAX)
			lua_raw_fill(L); /* new keys, as many as it likes */
	}
	lua_settop(L, 3);
	lua_rawset(L, 1);
	return 0;
}

/* alert.raw: the message's top object, as a lazy table; nil if none. */
static void
lazy_push_raw(lua_State *L, struct lazy_alert *z)
{
	struct jscan_error jerr;
	const struct jscan_value *root;

	/* As deep as jansson would have parsed; the push has its own cap. */
	if (jscan_parse(&z->scan, z->raw, z->rawlen, 2048, &jerr) != 0 ||
	    (root = jscan_root(&z->scan))->type != JSCAN_OBJECT) {
		lua_pushnil(L); /* the intake checked it: nothing better */
		return;
	}
	if (z->scan.n > z->raw_made_cap) {
		uint8_t *m = realloc(z->raw_made, z->scan.n);
		if (m == NULL)
			luaL_error(L, "alert.raw: out of memory");
		z->raw_made = m;
		z->raw_made_cap = z->scan.n;
	}
	memset(z->raw_made, 0, z->scan.n);
	z->raw_full = 0;
	z->raw_misses = 0;
	lua_createtable(L, 0, root->count > 16 ? 16 : (int)root->count);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_raw_mt);
	lua_setmetatable(L, -2);
	z->root = lua_topointer(L, -1);
}

/* The fill of the alert: every field not made yet (alert.raw is not). */
static int
lua_alert_fill(lua_State *L)
{
	struct lazy_alert *z = lazy_of(L);

	if (z->alert == NULL || lua_topointer(L, 1) != z->alert)
		return 0;
	for (size_t i = 0; i < z->n; i++)
		if (!z->made[i]) {
			lazy_make_field(L, z, 1, i, 0);
			lua_pop(L, 1);
		}
	return 0;
}

static int
lua_alert_index(lua_State *L)
{
	struct lazy_alert *z = lazy_of(L);
	ptrdiff_t i;
	size_t klen;
	const char *k;

	if (z->alert == NULL || lua_topointer(L, 1) != z->alert ||
	    lua_type(L, 2) != LUA_TSTRING)
		return 0;
	k = lua_tolstring(L, 2, &klen);
	if ((i = lazy_field(z, k, klen)) >= 0) {
		if (z->made[i])
			return 0; /* made, then removed by the run */
		lazy_make_field(L, z, 1, (size_t)i, 2);
		return 1;
	}
	if (klen == 3 && memcmp(k, "raw", 3) == 0 && z->raw != NULL &&
	    !z->raw_read) {
		z->raw_read = 1;
		lazy_push_raw(L, z);
		lazy_keep(L, 1, 2, NULL, 0); /* once per run */
		return 1;
	}
	return 0;
}

static int
lua_alert_newindex(lua_State *L)
{
	struct lazy_alert *z = lazy_of(L);
	ptrdiff_t i;
	size_t klen;
	const char *k;

	if (z->alert != NULL && lua_topointer(L, 1) == z->alert &&
	    lua_type(L, 2) == LUA_TSTRING) {
		k = lua_tolstring(L, 2, &klen);
		if ((i = lazy_field(z, k, klen)) >= 0)
			z->made[i] = 1;
		else if (klen == 3 && memcmp(k, "raw", 3) == 0)
			z->raw_read = 1;
	}
	lua_settop(L, 3);
	lua_rawset(L, 1);
	return 0;
}

/* The two metatables, made once per state, locked. */
static void
alert_register(lua_State *L)
{
	static const struct {
		const char *key;
		lua_CFunction index, newindex, fill;
	} mt[] = {
	    {&key_alert_mt, lua_alert_index, lua_alert_newindex,
		lua_alert_fill},
	    {&key_raw_mt, lua_raw_index, lua_raw_newindex, lua_raw_fill},
	};

	for (size_t i = 0; i < sizeof mt / sizeof mt[0]; i++) {
		lua_createtable(L, 0, 5);
		lua_pushcfunction(L, mt[i].index);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, mt[i].newindex);
		lua_setfield(L, -2, "__newindex");
		lua_pushliteral(L, "locked");
		lua_setfield(L, -2, "__metatable");
		sandbox_mark_lazy(L, -1, mt[i].fill);
		lua_rawsetp(L, LUA_REGISTRYINDEX, mt[i].key);
	}
}

struct alert_push {
	const struct pbfield *fields;
	size_t n;
	const char *raw;
	size_t rawlen;
};

/*
 * This run's alert: an empty table with the alert's metatable, and the
 * lazy state that fills it. Raises on memory: call it protected.
 */
static void
alert_push(lua_State *L, struct lazy_alert *z, const struct alert_push *a)
{
	if (a->n > z->made_cap) {
		uint8_t *m = realloc(z->made, a->n);
		if (m == NULL)
			luaL_error(L, "not enough memory");
		z->made = m;
		z->made_cap = a->n;
	}
	memset(z->made, 0, a->n);
	z->fields = a->fields;
	z->n = a->n;
	z->raw = a->raw;
	z->rawlen = a->rawlen;
	z->raw_read = 0;
	z->root = NULL;
	/* Room for what a run reads, so caching it does not rehash. */
	lua_createtable(L, 0, 6);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_alert_mt);
	lua_setmetatable(L, -2);
	z->alert = lua_topointer(L, -1);
}

/* The run is over: what its alert did not read is not made any more. */
static void
alert_end(struct lazy_alert *z)
{
	z->alert = NULL;
	z->root = NULL;
	z->fields = NULL;
	z->n = 0;
	z->raw = NULL;
}

/*
 * The string and integer members of an object as fields, which point into
 * it: an array the caller frees, with *np entries; NULL out of memory.
 */
static struct pbfield *
pbfields_of(const json_t *o, size_t *np)
{
	struct pbfield *f = calloc(json_object_size(o) + 1, sizeof *f);
	const char *k;
	json_t *v;
	size_t n = 0;

	*np = 0;
	if (f == NULL)
		return NULL;
	json_object_foreach((json_t *)o, k, v) {
		if (json_is_string(v))
			f[n++] = (struct pbfield){k, strlen(k),
			    json_string_value(v), json_string_length(v), 0};
		else if (json_is_integer(v))
			f[n++] = (struct pbfield){k, strlen(k), NULL, 0,
			    json_integer_value(v)};
	}
	*np = n;
	return f;
}

/* ---- Loading --------------------------------------------------------------- */

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static int
pbhost_load_one(struct pbhost *h, struct pbstate *st,
    const struct pbsource *src, const struct sandbox_limits *lim,
    json_t **meta, char **cause)
{
	char chunk[512], err[1024];
	lua_State *L;
	enum sandbox_err e;

	st->h = h;
	st->file = strdup(src->name);
	st->sb = sandbox_new(lim, err, sizeof err);
	if (st->sb == NULL) {
		if (asprintf(cause, "%s: %s", src->name, err) == -1)
			*cause = NULL;
		return -1;
	}
	L = sandbox_state(st->sb);
	lua_pushlightuserdata(L, st);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &key_host);
	rd_register(L);
	alert_register(L);
	lua_pushcfunction(L, lua_playbook_define);
	lua_setglobal(L, "playbook");
	snprintf(chunk, sizeof chunk, "@%s", src->name);
	e = sandbox_load(st->sb, src->text, src->len, chunk, err, sizeof err);
	if (e == SANDBOX_OK)
		e = sandbox_call(st->sb, 0, 1, err, sizeof err);
	if (e != SANDBOX_OK) {
		if (asprintf(cause, "%s%s", err, e == SANDBOX_ERR_INSTRUCTIONS ?
			" (instruction budget spent while loading)" : "") == -1)
			*cause = NULL;
		return -1;
	}
	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_spec);
	if (lua_isnil(L, -1) || !lua_rawequal(L, -1, -2)) {
		lua_pop(L, 2);
		if (asprintf(cause, "%s: the file must end with "
			"`return playbook{...}`", src->name) == -1)
			*cause = NULL;
		return -1;
	}
	lua_pop(L, 2);
	*meta = json_incref(st->meta);
	/* What the file defined stays; what a run adds does not. */
	sandbox_snapshot_globals(st->sb);
	return 0;
}

static json_t *
assets_load(const struct pbsource *src, char **cause)
{
	char err[1024];
	json_t *assets = NULL;

	if (ends_with(src->name, ".lua")) {
		/* The operator's file, not a playbook: generous bounds. */
		struct sandbox_limits big = {.memory = 256 * 1024 * 1024,
		    .instructions = 100000000};
		struct sandbox *sb = sandbox_new(&big, err, sizeof err);
		if (sb != NULL &&
		    sandbox_load(sb, src->text, src->len, "@assets", err,
			sizeof err) == SANDBOX_OK &&
		    sandbox_call(sb, 0, 1, err, sizeof err) == SANDBOX_OK) {
			assets = sandbox_to_json(sandbox_state(sb), -1, 8,
			    "assets", err, sizeof err);
			lua_pop(sandbox_state(sb), 1);
		}
		sandbox_free(sb);
	} else {
		json_error_t jerr;
		assets = json_loadb(src->text, src->len,
		    JSON_REJECT_DUPLICATES, &jerr);
		if (assets == NULL)
			snprintf(err, sizeof err, "line %d column %d: %s",
			    jerr.line, jerr.column, jerr.text);
	}
	if (assets != NULL && !json_is_object(assets)) {
		json_decref(assets);
		assets = NULL;
		snprintf(err, sizeof err, "expected a table of assets by name");
	}
	if (assets == NULL && asprintf(cause, "%s: %s", src->name, err) == -1)
		*cause = NULL;
	return assets;
}

int
pbsources_assets(const struct pbsources *src, json_t **out, char **cause)
{
	*out = NULL;
	*cause = NULL;
	if (src->assets.name == NULL)
		return 0;
	if (src->assets.text == NULL) {
		if (asprintf(cause, "%s: not UTF-8 text", src->assets.name) == -1)
			*cause = NULL;
		return -1;
	}
	*out = assets_load(&src->assets, cause);
	return *out == NULL ? -1 : 0;
}

int
pbsources_read(const char *dir, const char *assets, struct pbsources *out,
    char **cause)
{
	char path[4096];
	DIR *dp;
	struct dirent *de;
	char **files = NULL;
	size_t nfiles = 0;

	memset(out, 0, sizeof *out);
	*cause = NULL;
	dp = opendir(dir);
	if (dp == NULL) {
		if (asprintf(cause, "%s: %s", dir, strerror(errno)) == -1)
			*cause = NULL;
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.' || !ends_with(de->d_name, ".lua") ||
		    ends_with(de->d_name, "_test.lua"))
			continue;
		if (nfiles == PLAYBOOK_MAX_COUNT) {
			if (asprintf(cause, "%s: more than %d playbooks", dir,
				PLAYBOOK_MAX_COUNT) == -1)
				*cause = NULL;
			goto fail;
		}
		char **nf = realloc(files, (nfiles + 1) * sizeof *files);
		if (nf == NULL)
			goto fail;
		files = nf;
		if ((files[nfiles] = strdup(de->d_name)) == NULL)
			goto fail;
		nfiles++;
	}
	closedir(dp);
	dp = NULL;
	if (nfiles > 1)
		qsort(files, nfiles, sizeof *files, name_cmp);
	out->v = calloc(nfiles ? nfiles : 1, sizeof *out->v);
	if (out->v == NULL)
		goto fail;
	for (size_t i = 0; i < nfiles; i++) {
		struct pbsource *s = &out->v[out->n];
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		s->text = fs_read_file(path, PLAYBOOK_MAX_FILE, &s->len, cause);
		if (s->text == NULL)
			goto fail;
		s->name = files[i];
		files[i] = NULL;
		out->n++;
	}
	if (assets != NULL) {
		out->assets.text = fs_read_file(assets, 64 * 1024 * 1024,
		    &out->assets.len, cause);
		if (out->assets.text == NULL)
			goto fail;
		out->assets.name = strdup(assets);
	}
	for (size_t i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	return 0;
fail:
	if (dp != NULL)
		closedir(dp);
	if (*cause == NULL)
		*cause = strdup("out of memory");
	for (size_t i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	pbsources_free(out);
	return -1;
}

void
pbsources_free(struct pbsources *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].text);
	}
	free(s->v);
	free(s->assets.name);
	free(s->assets.text);
	memset(s, 0, sizeof *s);
}

static json_t *
pbsource_json(const struct pbsource *s)
{
	json_t *text = json_stringn(s->text, s->len);

	/* Not UTF-8: the worker reports it as a load error by name. */
	return json_pack("{s:s, s:o}", "name", s->name, "text",
	    text ? text : json_null());
}

json_t *
pbsources_json(const struct pbsources *s)
{
	json_t *files = json_array();

	for (size_t i = 0; i < s->n; i++)
		json_array_append_new(files, pbsource_json(&s->v[i]));
	json_t *j = json_pack("{s:o}", "files", files);
	if (s->assets.name != NULL)
		json_object_set_new(j, "assets", pbsource_json(&s->assets));
	return j;
}

static int
pbsource_from_json(const json_t *j, struct pbsource *s)
{
	const char *name = json_string_value(json_object_get(j, "name"));
	const json_t *text = json_object_get(j, "text");

	if (name == NULL || text == NULL)
		return -1;
	s->name = strdup(name);
	if (json_is_string(text)) {
		s->len = json_string_length(text);
		s->text = malloc(s->len + 1);
		if (s->text != NULL) {
			memcpy(s->text, json_string_value(text), s->len);
			s->text[s->len] = '\0';
		}
	} else
		s->text = NULL; /* not UTF-8 */
	return s->name == NULL ? -1 : 0;
}

int
pbsources_from_json(const json_t *j, struct pbsources *out)
{
	const json_t *files = json_object_get(j, "files"), *a;

	memset(out, 0, sizeof *out);
	if (!json_is_array(files))
		return -1;
	out->v = calloc(json_array_size(files) + 1, sizeof *out->v);
	if (out->v == NULL)
		return -1;
	for (size_t i = 0; i < json_array_size(files); i++) {
		if (pbsource_from_json(json_array_get(files, i),
			&out->v[i]) == -1) {
			pbsources_free(out);
			return -1;
		}
		out->n++;
	}
	if ((a = json_object_get(j, "assets")) != NULL &&
	    pbsource_from_json(a, &out->assets) == -1) {
		pbsources_free(out);
		return -1;
	}
	return 0;
}

struct pbhost *
pbhost_load(const struct pbhost_opts *opts, json_t **meta, char **cause)
{
	const struct pbsources *src = opts->src;
	struct pbhost *h;

	*cause = NULL;
	*meta = NULL;
	h = calloc(1, sizeof *h);
	if (h == NULL || (h->pb = calloc(src->n + 1, sizeof *h->pb)) == NULL)
		goto fail;
	h->max_actions = opts->max_actions > 0 ? opts->max_actions : 32;
	*meta = json_array();
	if (pbsources_assets(src, &h->assets, cause) == -1)
		goto fail;
	for (size_t i = 0; i < src->n; i++) {
		json_t *m = NULL;
		if (src->v[i].text == NULL) {
			if (asprintf(cause, "%s: not UTF-8 text",
				src->v[i].name) == -1)
				*cause = NULL;
			goto fail;
		}
		h->n++;
		if (pbhost_load_one(h, &h->pb[i], &src->v[i], &opts->limits,
			&m, cause) == -1)
			goto fail;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(h->pb[j].name, h->pb[i].name) == 0) {
				json_decref(m);
				if (asprintf(cause, "%s: playbook name \"%s\" is "
					"already used by %s", src->v[i].name,
					h->pb[i].name, h->pb[j].file) == -1)
					*cause = NULL;
				goto fail;
			}
		}
		json_array_append_new(*meta, m);
	}
	return h;
fail:
	if (*cause == NULL)
		*cause = strdup("out of memory");
	json_decref(*meta);
	*meta = NULL;
	pbhost_free(h);
	return NULL;
}

void
pbhost_free(struct pbhost *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++) {
		sandbox_free(h->pb[i].sb);
		json_decref(h->pb[i].meta);
		audit_buf_free(&h->pb[i].actions);
		audit_buf_free(&h->pb[i].logs);
		free(h->pb[i].name);
		free(h->pb[i].file);
	}
	free(h->pb);
	json_decref(h->assets);
	audit_buf_free(&h->text);
	jscan_free(&h->scan);
	free(h->cur.made);
	free(h->cur.raw_made);
	jscan_free(&h->cur.scan);
	free(h);
}

const json_t *
pbhost_assets(const struct pbhost *h)
{
	return h->assets;
}

size_t
pbhost_count(const struct pbhost *h)
{
	return h->n;
}

int
pbhost_find(const struct pbhost *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->pb[i].name, name) == 0)
			return (int)i;
	return -1;
}

struct sandbox *
pbhost_sandbox(struct pbhost *h, size_t idx)
{
	return idx < h->n ? h->pb[idx].sb : NULL;
}

/* ---- Running ------------------------------------------------------------------ */

/*
 * The message of a failed run, as the main process logs and records it:
 * one printable line (as rd.log makes it) of UTF-8, written as a JSON
 * string. It is the playbook's own error text, which may not be UTF-8, or
 * which the error buffer cut inside a character.
 */
static int
run_message(struct audit_buf *out, const char *err)
{
	char buf[1024];
	size_t len, i;

	snprintf(buf, sizeof buf, "%s", err);
	len = strlen(buf);
	for (i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = ' ';
	/* Cut inside a character, or not UTF-8 at all: text again. */
	len = utf8_repair(buf);
	return audit_canon_string(out, buf, len);
}

enum run_status { RUN_PLAN, RUN_SKIP, RUN_ERROR };

/*
 * The outcome of a run as the JSON text of its result object, from what
 * the run left in st. -1 when memory runs out (out is then unchanged).
 */
static int
run_write(const struct pbstate *st, struct audit_buf *out,
    enum run_status status, enum sandbox_err e, const char *err,
    uint64_t t0)
{
	size_t start = out->len;
	int r;

	switch (status) {
	case RUN_PLAN:
		r = audit_buf_lit(out,
			"{\"status\":\"plan\",\"actions\":[") == -1 ||
		    (st->actions.len > 0 && audit_buf_put(out,
			st->actions.data, st->actions.len) == -1) ||
		    audit_buf_lit(out, "]") == -1;
		break;
	case RUN_SKIP:
		r = audit_buf_lit(out, "{\"status\":\"skip\"") == -1;
		break;
	default:
		r = audit_buf_lit(out,
			"{\"status\":\"error\",\"kind\":") == -1 ||
		    audit_canon_string(out, sandbox_err_name(e),
			strlen(sandbox_err_name(e))) == -1 ||
		    audit_buf_lit(out, ",\"error\":") == -1 ||
		    run_message(out, err) == -1;
		break;
	}
	if (!r && st->nlogs > 0)
		r = audit_buf_lit(out, ",\"logs\":[") == -1 ||
		    (st->logs.len > 0 && audit_buf_put(out, st->logs.data,
			st->logs.len) == -1) ||
		    audit_buf_lit(out, "]") == -1;
	if (!r && st->dropped_logs > 0)
		r = audit_buf_lit(out, ",\"logs_dropped\":") == -1 ||
		    audit_canon_int(out, st->dropped_logs) == -1;
	if (!r)
		r = audit_buf_lit(out, ",\"us\":") == -1 ||
		    audit_canon_int(out,
			(int64_t)(units_mono_us() - t0)) == -1 ||
		    audit_buf_lit(out, "}") == -1;
	if (r) {
		out->len = start;
		return -1;
	}
	return 0;
}

struct run_args {
	const struct pbstate *st;
	struct alert_push alert;
	int64_t prior;
};

/*
 * Pushes when (or nil), run, the alert and rd: everything a run needs,
 * built under protection since memory may run out on the way.
 */
static int
run_prepare_cb(lua_State *L)
{
	const struct run_args *r = lua_touserdata(L, 1);

	lua_settop(L, 0);
	if (r->st->has_when)
		lua_rawgetp(L, LUA_REGISTRYINDEX, &key_when);
	else
		lua_pushnil(L);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_run);
	alert_push(L, &r->st->h->cur, &r->alert);
	rd_push(L, r->st, r->prior);
	return 4;
}

int
pbhost_run(struct pbhost *h, size_t idx, const struct pbfield *fields,
    size_t n, const char *raw, size_t rawlen, int64_t prior,
    struct audit_buf *out)
{
	struct pbstate *st = &h->pb[idx];
	lua_State *L = sandbox_state(st->sb);
	struct run_args args = {st, {fields, n, raw, rawlen}, prior};
	char err[1024];
	enum sandbox_err e = SANDBOX_OK;
	enum run_status status = RUN_ERROR;
	uint64_t t0 = units_mono_us();
	int base = lua_gettop(L);

	st->actions.len = st->logs.len = 0;
	st->nactions = st->nlogs = st->dropped_logs = 0;
	st->running = 1;
	lua_pushcfunction(L, run_prepare_cb);
	lua_pushlightuserdata(L, &args);
	if (lua_pcall(L, 1, 4, 0) != LUA_OK) {
		lua_settop(L, base);
		e = SANDBOX_ERR_MEMORY;
		snprintf(err, sizeof err, "the alert does not fit in "
		    "playbooks.memory");
		goto done;
	}
	/* base+1 when, +2 run, +3 alert, +4 rd */
	if (st->has_when) {
		lua_pushvalue(L, base + 1);
		lua_pushvalue(L, base + 3);
		lua_pushvalue(L, base + 4);
		st->in_when = 1;
		e = sandbox_call(st->sb, 2, 1, err, sizeof err);
		st->in_when = 0;
		if (e != SANDBOX_OK) {
			lua_settop(L, base);
			goto done;
		}
		int yes = lua_toboolean(L, -1);
		if (!yes) {
			lua_settop(L, base);
			status = RUN_SKIP;
			goto done;
		}
	}
	lua_settop(L, base + 4);
	lua_remove(L, base + 1); /* run, alert, rd */
	e = sandbox_call(st->sb, 2, 0, err, sizeof err);
	lua_settop(L, base);
	if (e == SANDBOX_OK)
		status = RUN_PLAN;
done:
	st->running = 0;
	alert_end(&h->cur);
	sandbox_restore_globals(st->sb);
	if (run_write(st, out, status, e, err, t0) == -1) {
		static const char oom[] = "{\"status\":\"error\",\"kind\":"
		    "\"memory\",\"error\":\"out of memory\"}";
		if (audit_buf_put(out, oom, sizeof oom - 1) == -1)
			return -1;
	}
	/* What a huge plan grew is given back. */
	if (st->actions.cap > 1024 * 1024)
		audit_buf_free(&st->actions);
	return 0;
}

json_t *
pbhost_run_object(struct pbhost *h, size_t idx, const json_t *fields,
    const char *raw, size_t rawlen, int64_t prior)
{
	struct jscan_error jerr;
	size_t n;
	struct pbfield *f = pbfields_of(fields, &n);
	json_t *out = NULL;

	if (f == NULL)
		return NULL;
	/*
	 * The offline tools see the result as the main process does: the
	 * worker's text, read back (by the validating parser, which accepts
	 * what jansson accepts and builds no tree of its own).
	 */
	h->text.len = 0;
	if (pbhost_run(h, idx, f, n, raw, rawlen, prior, &h->text) == 0 &&
	    jscan_parse(&h->scan, h->text.data, h->text.len, 2048, &jerr) == 0)
		out = jscan_tree(&h->scan, jscan_root(&h->scan));
	free(f);
	if (h->text.cap > 1024 * 1024)
		audit_buf_free(&h->text);
	return out;
}

json_t *
pbhost_load_assets(const char *path, char **cause)
{
	struct pbsource src = {0};
	json_t *assets;

	*cause = NULL;
	src.text = fs_read_file(path, 64 * 1024 * 1024, &src.len, cause);
	if (src.text == NULL)
		return NULL;
	src.name = (char *)path;
	assets = assets_load(&src, cause);
	free(src.text);
	return assets;
}
