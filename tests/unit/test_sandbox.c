/*
 * The Lua sandbox: exact memory accounting and its ceiling, the instruction
 * budget against pcall, <close> and message handlers, the allow-list and the
 * read-only library tables, errors read without metamethods, the globals
 * snapshot, and both JSON conversions with their limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "remediad/json_scan.h"
#include "remediad/audit.h"
#include "remediad/sandbox.h"

static struct sandbox *
sb_new(size_t memory, uint64_t instructions, size_t max_string)
{
	struct sandbox_limits lim = {memory, instructions, max_string};
	char err[256] = "";
	struct sandbox *sb = sandbox_new(&lim, err, sizeof err);

	if (sb == NULL)
		fail_msg("sandbox_new: %s", err);
	return sb;
}

/*
 * Loads and runs code, leaving nres results on success. The stack must
 * come back exactly as it was on every failure.
 */
static enum sandbox_err
sb_run(struct sandbox *sb, const char *code, int nres, char *err,
    size_t errlen)
{
	lua_State *L = sandbox_state(sb);
	int top = lua_gettop(L);
	enum sandbox_err e;

	err[0] = '\0';
	e = sandbox_load(sb, code, strlen(code), "=test", err, errlen);
	if (e != SANDBOX_OK) {
		assert_int_equal(lua_gettop(L), top);
		return e;
	}
	assert_int_equal(lua_gettop(L), top + 1);
	e = sandbox_call(sb, 0, nres, err, errlen);
	if (e == SANDBOX_OK)
		assert_int_equal(lua_gettop(L), top + nres);
	else {
		assert_int_equal(lua_gettop(L), top);
		assert_true(err[0] != '\0');
	}
	return e;
}

/* Runs code that must succeed and return true. */
static void
sb_true(struct sandbox *sb, const char *code)
{
	lua_State *L = sandbox_state(sb);
	char err[512];
	enum sandbox_err e = sb_run(sb, code, 1, err, sizeof err);

	if (e != SANDBOX_OK)
		fail_msg("%s: %s: %s", code, sandbox_err_name(e), err);
	if (!lua_toboolean(L, -1))
		fail_msg("%s: returned false", code);
	lua_pop(L, 1);
}

/* Runs code that must fail with e and a message containing want. */
static void
sb_fails(struct sandbox *sb, const char *code, enum sandbox_err want,
    const char *msg)
{
	char err[512];
	enum sandbox_err e = sb_run(sb, code, 0, err, sizeof err);

	if (e != want)
		fail_msg("%s: got %s (%s), wanted %s", code,
		    sandbox_err_name(e), err, sandbox_err_name(want));
	if (msg != NULL && strstr(err, msg) == NULL)
		fail_msg("%s: message '%s' lacks '%s'", code, err, msg);
}

static size_t
lua_count(lua_State *L)
{
	return (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 +
	    (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
}

static void
full_gc(lua_State *L)
{
	lua_gc(L, LUA_GCCOLLECT, 0);
	lua_gc(L, LUA_GCCOLLECT, 0);
}

/* ---- Basics ------------------------------------------------------------- */

static void
test_err_name(void **state)
{
	(void)state;
	assert_string_equal(sandbox_err_name(SANDBOX_OK), "ok");
	assert_string_equal(sandbox_err_name(SANDBOX_ERR_RUNTIME), "runtime");
	assert_string_equal(sandbox_err_name(SANDBOX_ERR_MEMORY), "memory");
	assert_string_equal(sandbox_err_name(SANDBOX_ERR_INSTRUCTIONS),
	    "instructions");
	assert_string_equal(sandbox_err_name(SANDBOX_ERR_SYNTAX), "syntax");
}

static void
test_new_and_of(void **state)
{
	struct sandbox_limits tiny = {4096, 0, 0};
	char err[256] = "";
	struct sandbox *sb;
	lua_State *other;

	(void)state;
	sb = sandbox_new(NULL, err, sizeof err);
	assert_non_null(sb);
	assert_ptr_equal(sandbox_of(sandbox_state(sb)), sb);
	sb_true(sb, "return 1 + 1 == 2");
	sandbox_free(sb);

	/* A state of another allocator is no sandbox. */
	other = luaL_newstate();
	assert_non_null(other);
	assert_null(sandbox_of(other));
	lua_close(other);

	/* The libraries do not fit in 4 KiB: a message, no crash. */
	assert_null(sandbox_new(&tiny, err, sizeof err));
	assert_true(err[0] != '\0');
}

/* ---- Memory ------------------------------------------------------------- */

static void
test_memory_exact(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	const char *code = "local t = {} for i = 1, 5000 do "
			   "t[i] = {i, tostring(i) .. 'x'} end return #t";
	char err[256];
	size_t base;

	(void)state;
	/* Lua keeps its own count from the same block sizes. */
	assert_int_equal(sandbox_memory(sb), lua_count(L));

	/* A first run may grow the stack and the string table for good. */
	assert_int_equal(sb_run(sb, code, 1, err, sizeof err), SANDBOX_OK);
	lua_pop(L, 1);
	full_gc(L);
	base = sandbox_memory(sb);
	assert_int_equal(base, lua_count(L));

	for (int i = 0; i < 3; i++) {
		assert_int_equal(sb_run(sb, code, 1, err, sizeof err),
		    SANDBOX_OK);
		assert_true(sandbox_memory(sb) > base + 100000);
		assert_int_equal(sandbox_memory(sb), lua_count(L));
		lua_pop(L, 1);
		full_gc(L);
		assert_int_equal(sandbox_memory(sb), base);
		assert_int_equal(lua_count(L), base);
	}
	assert_true(sandbox_memory_peak(sb) > base + 100000);
	sandbox_free(sb);
}

/*
 * Blocks move between the small classes the allocator keeps and malloc's
 * own as they grow and shrink (a table's parts, a string buffer): what
 * they hold survives every move, run after run, from reused blocks too.
 */
static void
test_memory_blocks_keep_content(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	size_t base = 0;

	(void)state;
	for (int run = 0; run < 5; run++) {
		sb_true(sb,
		    "local parts, want = {}, 0\n"
		    "for i = 1, 600 do\n"
		    "  parts[#parts + 1] = string.char(65 + i % 26)\n"
		    "  want = want + 65 + i % 26\n"
		    "end\n"
		    "local s = table.concat(parts)\n"
		    "local t = {}\n"
		    "for i = 1, 40 do t['k' .. i] = i * 3 end\n"
		    "for i = 1, 36 do t['k' .. i] = nil end\n"
		    "for i = 1, 5 do t['n' .. i] = i end\n"
		    "local got, n = 0, 0\n"
		    "for i = 1, #s do got = got + s:byte(i) end\n"
		    "for k, v in pairs(t) do n = n + v end\n"
		    "return #s == 600 and s:sub(1, 3) == 'BCD' and\n"
		    "  got == want and n == (37 + 38 + 39 + 40) * 3 + 15");
		full_gc(L);
		/* The cache is not counted: Lua's own count, run after run. */
		assert_int_equal(sandbox_memory(sb), lua_count(L));
		if (run == 1)
			base = sandbox_memory(sb);
		else if (run > 1)
			assert_int_equal(sandbox_memory(sb), base);
	}
	sandbox_free(sb);
}

static void
test_memory_table(void **state)
{
	struct sandbox *sb = sb_new(1 << 20, 1000000000, 0);
	lua_State *L = sandbox_state(sb);

	(void)state;
	sb_fails(sb, "local t = {} local i = 0 "
		     "while true do i = i + 1 t[i] = i end",
	    SANDBOX_ERR_MEMORY, NULL);
	assert_true(sandbox_memory_peak(sb) <= 1 << 20);
	assert_true(sandbox_memory_peak(sb) > (1 << 20) / 2);
	full_gc(L);
	assert_int_equal(sandbox_memory(sb), lua_count(L));
	/* Still usable. */
	sb_true(sb, "return #string.rep('a', 100) == 100");
	sandbox_free(sb);
}

static void
test_memory_concat(void **state)
{
	struct sandbox *sb = sb_new(1 << 20, 1000000000, 0);

	(void)state;
	sb_fails(sb, "local s = 'x' while true do s = s .. s end",
	    SANDBOX_ERR_MEMORY, NULL);
	sb_fails(sb, "local s = '' local p = string.rep('y', 5000) "
		     "while true do s = s .. p end",
	    SANDBOX_ERR_MEMORY, NULL);
	assert_true(sandbox_memory_peak(sb) <= 1 << 20);
	sandbox_free(sb);
}

static void
test_memory_table_concat(void **state)
{
	struct sandbox *sb = sb_new(4 << 20, 0, 0);

	(void)state;
	/* 5 MB through a luaL_Buffer, which fails as an ordinary error. */
	sb_fails(sb, "local t = {} local s = string.rep('x', 100) "
		     "for i = 1, 50000 do t[i] = s end "
		     "return #table.concat(t)",
	    SANDBOX_ERR_MEMORY, NULL);
	sb_true(sb, "local t = {} for i = 1, 100 do t[i] = 'ab' end "
		    "return #table.concat(t, ',') == 299");
	assert_true(sandbox_memory_peak(sb) <= 4 << 20);
	sandbox_free(sb);
}

static void
test_memory_caught_by_pcall(void **state)
{
	struct sandbox *sb = sb_new(1 << 20, 0, 0);

	(void)state;
	/* Lua may catch a memory error: the budget still bounds it. */
	sb_true(sb, "local ok = pcall(function() local s = 'x' "
		    "while true do s = s .. s end end) return not ok");
	sandbox_free(sb);
}

static void
test_string_rep(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	struct sandbox *small = sb_new(0, 0, 10);

	(void)state;
	sb_fails(sb, "return string.rep('x', 2 * 1024 * 1024)",
	    SANDBOX_ERR_RUNTIME, "too large");
	sb_fails(sb, "return ('x'):rep(1024 * 1024 + 1)", SANDBOX_ERR_RUNTIME,
	    "too large");
	sb_fails(sb, "return string.rep('x', math.maxinteger)",
	    SANDBOX_ERR_RUNTIME, "too large");
	sb_fails(sb, "return string.rep('ab', 1 << 62, 'c')",
	    SANDBOX_ERR_RUNTIME, "too large");
	sb_fails(sb, "return string.rep('', math.maxinteger, 'c')",
	    SANDBOX_ERR_RUNTIME, "too large");
	sb_true(sb, "return #string.rep('x', 1024 * 1024) == 1024 * 1024");
	sb_true(sb, "return string.rep('', math.maxinteger) == ''");
	sb_true(sb, "return string.rep('ab', 3, ',') == 'ab,ab,ab'");
	sb_true(sb, "return string.rep('', 3, 'abc') == 'abcabc'");
	sb_true(sb, "return string.rep('x', -5) == '' and "
		    "string.rep('x', 0, 'y') == ''");
	sb_true(sb, "return ('ab'):rep(2) == 'abab'");

	sb_true(small, "return #string.rep('x', 10) == 10");
	sb_fails(small, "return string.rep('x', 11)", SANDBOX_ERR_RUNTIME,
	    "too large");
	sb_true(small, "return string.rep('x', 4, ',') == 'x,x,x,x'");
	sb_fails(small, "return string.rep('xx', 4, ',')", SANDBOX_ERR_RUNTIME,
	    "too large");
	sb_fails(small, "return string.rep('x', 2, string.rep('y', 10))",
	    SANDBOX_ERR_RUNTIME, "too large");
	sandbox_free(small);
	sandbox_free(sb);
}

/* ---- Instruction budget ------------------------------------------------- */

static void
test_budget_loop(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	sb_fails(sb, "while true do end", SANDBOX_ERR_INSTRUCTIONS,
	    "instruction");
	sandbox_free(sb);
}

static void
test_budget_pcall(void **state)
{
	/* Not a multiple of the hook's step, so the last arming is not 1. */
	struct sandbox *sb = sb_new(0, 1000500, 0);
	lua_State *L = sandbox_state(sb);

	(void)state;
	sb_fails(sb, "pcall(function() while true do end end) "
		     "while true do end",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	sb_fails(sb, "for i = 1, 10 do pcall(function() while true do end "
		     "end) end return 1",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	sb_fails(sb, "local ok = pcall(function() while true do end end) "
		     "return 'escaped'",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	/* The message does not matter, the sticky flag does. */
	sb_fails(sb, "pcall(function() while true do end end) error({})",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	/*
	 * Not one more instruction runs once the budget is spent: no
	 * global set, no <close> handler body, no host function called.
	 */
	sb_fails(sb, "local x <close> = setmetatable({}, {__close = "
		     "function() closed = true end}) "
		     "pcall(function() while true do end end) escaped = true",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	lua_getglobal(L, "escaped");
	lua_getglobal(L, "closed");
	assert_true(lua_isnil(L, -1) && lua_isnil(L, -2));
	lua_pop(L, 2);
	sandbox_free(sb);
}

static void
test_budget_close(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	sb_fails(sb, "local x <close> = setmetatable({}, {__close = "
		     "function() while true do end end}) return 1",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	sb_fails(sb, "local ok = pcall(function() local x <close> = "
		     "setmetatable({}, {__close = function() "
		     "for i = 1, 10 do end end}) while true do end end) "
		     "return 'escaped'",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	sb_fails(sb, "local x <close> = setmetatable({}, {__close = "
		     "function() pcall(function() while true do end end) "
		     "end}) error('boom')",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	sandbox_free(sb);
}

static void
test_budget_xpcall(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	sb_fails(sb, "xpcall(function() error('x') end, "
		     "function(m) while true do end end) return 'escaped'",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	sb_fails(sb, "xpcall(function() while true do end end, "
		     "function(m) for i = 1, 100 do end return m end) "
		     "return 'escaped'",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	/* The handler of an error the hook raised would run unhooked. */
	sb_fails(sb, "xpcall(function() while true do end end, "
		     "function(m) while true do end end) return 'escaped'",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	sb_fails(sb, "for i = 1, 3 do xpcall(function() while true do end "
		     "end, function(m) while true do end end) end",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	/* xpcall itself still works as xpcall. */
	sb_true(sb, "local ok, a, b = xpcall(function(x, y) return x + y, "
		    "'r' end, print or tostring, 1, 2) "
		    "local ok2, m = xpcall(error, function(e) return 'h:' .. e "
		    "end, 'boom', 0) "
		    "return ok and a == 3 and b == 'r' and not ok2 and "
		    "m == 'h:boom'");
	sb_fails(sb, "local t = {3, 2, 1} pcall(table.sort, t, "
		     "function(a, b) while true do end end) return 1",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	sandbox_free(sb);
}

static void
test_budget_fresh(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	char err[256];

	(void)state;
	sb_fails(sb, "while true do end", SANDBOX_ERR_INSTRUCTIONS, NULL);
	/* About 300k instructions, three times: each call starts afresh. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sb_run(sb,
				     "local s = 0 for i = 1, 100000 do "
				     "s = s + i end return s",
				     1, err, sizeof err),
		    SANDBOX_OK);
		assert_int_equal(lua_tointeger(L, -1), 5000050000LL);
		lua_pop(L, 1);
	}
	sandbox_free(sb);
}

static void
test_budget_small(void **state)
{
	struct sandbox *sb = sb_new(0, 50, 0);
	struct sandbox *mid = sb_new(0, 10000, 0);

	(void)state;
	/* Below one hook step, the budget still holds. */
	sb_true(sb, "local x = 0 for i = 1, 5 do x = x + 1 end return x == 5");
	sb_fails(sb, "local x = 0 for i = 1, 100 do x = x + 1 end",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	sb_true(mid, "local x = 0 for i = 1, 1000 do x = x + 1 end "
		     "return x == 1000");
	sb_fails(mid, "local x = 0 for i = 1, 100000 do x = x + 1 end",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	sandbox_free(mid);
	sandbox_free(sb);
}

static void
test_budget_charges_c_work(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	/* 100000 MB of memset at a few instructions each, were it free. */
	sb_fails(sb, "for i = 1, 100000 do "
		     "local s = string.rep('x', 1000000) end",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	/* Endless input to load() at two instructions a megabyte. */
	sb_fails(sb, "local s = string.rep(' ', 1000000) "
		     "load(function() return s end) return 'escaped'",
	    SANDBOX_ERR_INSTRUCTIONS, NULL);
	sandbox_free(sb);
}

/* ---- Loading ------------------------------------------------------------ */

static void
test_load_syntax(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	char err[256];

	(void)state;
	assert_int_equal(sandbox_load(sb, "x = = 1", 7, "@pb.lua", err,
			     sizeof err),
	    SANDBOX_ERR_SYNTAX);
	assert_non_null(strstr(err, "pb.lua:1:"));
	assert_int_equal(lua_gettop(L), 0);
	sandbox_free(sb);
}

static void
test_load_binary(void **state)
{
	static const char chunk[] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n";
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	char err[256];

	(void)state;
	assert_int_equal(sandbox_load(sb, chunk, sizeof chunk - 1, "=bin", err,
			     sizeof err),
	    SANDBOX_ERR_SYNTAX);
	assert_non_null(strstr(err, "binary"));
	assert_int_equal(lua_gettop(L), 0);
	sandbox_free(sb);
}

static void
test_lua_load(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	sb_true(sb, "return string.dump == nil and ('').dump == nil");
	sb_true(sb, "local f, e = load('\\27Lua\\84\\0\\25\\147\\r\\n') "
		    "return f == nil and e:find('binary') ~= nil");
	sb_true(sb, "local done = false local f, e = load(function() "
		    "if done then return nil end done = true "
		    "return '\\27Lua\\84\\0' end) "
		    "return f == nil and e:find('binary') ~= nil");
	/* Text still loads, whatever mode asks, and env is kept. */
	sb_true(sb, "return load('return 1 + 1', 'c', 'b')() == 2");
	sb_true(sb, "return load('return x', 'c', 't', {x = 5})() == 5");
	sb_true(sb, "local parts = {'return ', '4', '2'} local i = 0 "
		    "return load(function() i = i + 1 return parts[i] end)() "
		    "== 42");
	sb_true(sb, "local f, e = load('return +') return f == nil and "
		    "type(e) == 'string'");
	sandbox_free(sb);
}

static void
test_parser_nesting(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	size_t n = 300, len;
	char *code = malloc(2 * 100000 + 16), err[256];

	(void)state;
	assert_non_null(code);
	for (int round = 0; round < 3; round++) {
		const char *open = round == 1 ? "{" : "(";
		const char *close = round == 1 ? "}" : ")";

		if (round == 2)
			n = 100000;
		len = (size_t)sprintf(code, "return ");
		for (size_t i = 0; i < n; i++)
			code[len++] = open[0];
		code[len++] = '1';
		for (size_t i = 0; i < n; i++)
			code[len++] = close[0];
		code[len] = '\0';
		assert_int_not_equal(sb_run(sb, code, 1, err, sizeof err),
		    SANDBOX_OK);
		assert_true(err[0] != '\0');
	}
	free(code);
	sb_true(sb, "return ((((1)))) == 1");
	sandbox_free(sb);
}

/* ---- The allow-list ----------------------------------------------------- */

static void
test_unreachable(void **state)
{
	static const char code[] =
	    "local bad = {} "
	    "local function chk(n, v) "
	    "if v ~= nil then bad[#bad + 1] = n end end "
	    "chk('io', io) chk('debug', debug) "
	    "chk('package', package) chk('require', require) "
	    "chk('coroutine', coroutine) chk('dofile', dofile) "
	    "chk('loadfile', loadfile) chk('print', print) "
	    "chk('collectgarbage', collectgarbage) "
	    "chk('warn', warn) chk('loadstring', loadstring) "
	    "chk('string.dump', string.dump) chk('table.move', table.move) "
	    "chk('os.execute', os.execute) chk('os.getenv', os.getenv) "
	    "chk('os.exit', os.exit) chk('os.remove', os.remove) "
	    "chk('os.rename', os.rename) chk('os.tmpname', os.tmpname) "
	    "chk('os.setlocale', os.setlocale) "
	    "chk('rawget io', rawget(_G, 'io')) "
	    "return table.concat(bad, ',')";
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	char err[512];

	(void)state;
	assert_int_equal(sb_run(sb, code, 1, err, sizeof err), SANDBOX_OK);
	assert_string_equal(lua_tostring(L, -1), "");
	lua_pop(L, 1);
	sandbox_free(sb);
}

static void
test_allowed(void **state)
{
	static const char code[] =
	    "local miss = {} "
	    "local function chk(n, v) "
	    "if v == nil then miss[#miss + 1] = n end end "
	    "for _, n in ipairs({'assert', 'error', "
	    "'getmetatable', 'ipairs', 'next', 'pairs', "
	    "'pcall', 'rawequal', 'rawget', 'rawlen', 'rawset', "
	    "'select', 'tonumber', 'tostring', 'type', "
	    "'xpcall', '_VERSION', 'load', 'setmetatable', "
	    "'string', 'table', 'math', 'utf8', 'os'}) do "
	    "chk(n, _G[n]) end "
	    "chk('_G', _G == _ENV and _G._G == _G or nil) "
	    "chk('format', string.format) "
	    "chk('insert', table.insert) chk('pi', math.pi) "
	    "chk('random', math.random) chk('char', utf8.char) "
	    "chk('time', os.time) chk('date', os.date) "
	    "chk('clock', os.clock) "
	    "return table.concat(miss, ',')";
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	char err[512];

	(void)state;
	assert_int_equal(sb_run(sb, code, 1, err, sizeof err), SANDBOX_OK);
	assert_string_equal(lua_tostring(L, -1), "");
	lua_pop(L, 1);
	sb_true(sb, "return string.format('%d-%s', 3, 'x') == '3-x' and "
		    "('abc'):upper() == 'ABC' and math.max(1, 5) == 5 and "
		    "utf8.len('\\u{e9}') == 1 and type(os.time()) == "
		    "'number' and #table.concat({'a', 'b'}) == 2 and "
		    "math.type(math.random(1, 6)) == 'integer'");
	sandbox_free(sb);
}

static void
test_readonly(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	sb_fails(sb, "string.find = nil", SANDBOX_ERR_RUNTIME, "read-only");
	sb_fails(sb, "string.mine = 1", SANDBOX_ERR_RUNTIME, "read-only");
	sb_fails(sb, "math.pi = 3", SANDBOX_ERR_RUNTIME, "read-only");
	sb_fails(sb, "os.execute = function() end", SANDBOX_ERR_RUNTIME,
	    "read-only");
	sb_fails(sb, "rawset(string, 'x', 1)", SANDBOX_ERR_RUNTIME,
	    "read-only");
	sb_fails(sb, "rawset(table, 'insert', print)", SANDBOX_ERR_RUNTIME,
	    "read-only");
	sb_fails(sb, "setmetatable(string, {})", SANDBOX_ERR_RUNTIME,
	    "protected");
	sb_true(sb, "return getmetatable(string) == 'locked' and "
		    "getmetatable(math) == 'locked'");
	sb_true(sb, "string.find('a', 'a') return string.find ~= nil");
	/* Plain tables stay writable, rawset included. */
	sb_true(sb, "local t = {} rawset(t, 'a', 1) t.b = 2 "
		    "return t.a + t.b == 3");
	sandbox_free(sb);
}

static void
test_string_metatable(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	sb_true(sb, "return getmetatable('') == 'locked'");
	sb_true(sb, "return getmetatable('').__index == nil");
	sb_true(sb, "return ('x'):rep(3) == 'xxx' and ('a'):byte() == 97");
	sb_true(sb, "return ('10' + 1) == 11");
	sb_fails(sb, "return ('x'):dump()", SANDBOX_ERR_RUNTIME, NULL);
	sandbox_free(sb);
}

static void
test_readonly_pairs(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	sb_true(sb, "local found, dump, n = false, false, 0 "
		    "for k, v in pairs(string) do n = n + 1 "
		    "if k == 'format' and type(v) == 'function' then "
		    "found = true end if k == 'dump' then dump = true end "
		    "end return found and not dump and n > 10");
	sb_true(sb, "local n = 0 for k in pairs(os) do n = n + 1 end "
		    "return n == 3");
	sb_true(sb, "return next(string) == nil and rawget(string, 'find') "
		    "== nil");
	/* The state pairs() hands out is the proxy, never the real table. */
	sb_true(sb, "for _, n in ipairs({'string', 'table', 'math', 'utf8', "
		    "'os'}) do local f, s = pairs(_G[n]) "
		    "if not rawequal(s, _G[n]) then return false end end "
		    "return true");
	sb_fails(sb, "local f, s = pairs(string) s.format = nil",
	    SANDBOX_ERR_RUNTIME, "read-only");
	sb_fails(sb, "local f, s = pairs(os) rawset(s, 'execute', 1)",
	    SANDBOX_ERR_RUNTIME, "read-only");
	sandbox_free(sb);
}

static void
test_setmetatable_gc(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);

	(void)state;
	sb_fails(sb, "setmetatable({}, {__gc = function() end})",
	    SANDBOX_ERR_RUNTIME, "metatables with __gc are not allowed");
	sb_fails(sb, "setmetatable({}, {__gc = false})", SANDBOX_ERR_RUNTIME,
	    "__gc");

	/* __gc added afterwards never marks the object for finalization. */
	sb_true(sb, "fin = 0 weak = setmetatable({}, {__mode = 'k'}) "
		    "local mt = {} local t = setmetatable({}, mt) "
		    "mt.__gc = function() fin = fin + 1 end "
		    "weak[t] = true t = nil return true");
	full_gc(L);
	sb_true(sb, "return next(weak) == nil");
	lua_getglobal(L, "fin");
	assert_int_equal(lua_tointeger(L, -1), 0);
	lua_pop(L, 1);
	sandbox_free(sb);
}

/* ---- Errors ------------------------------------------------------------- */

static void
test_error_objects(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	char err[256];

	(void)state;
	assert_int_equal(sb_run(sb,
			     "called = false error(setmetatable({}, "
			     "{__tostring = function() called = true "
			     "return 'boom' end, __name = 'evil'}))",
			     0, err, sizeof err),
	    SANDBOX_ERR_RUNTIME);
	assert_string_equal(err, "(error object is a table value)");
	lua_getglobal(L, "called");
	assert_int_equal(lua_type(L, -1), LUA_TBOOLEAN);
	assert_false(lua_toboolean(L, -1));
	lua_pop(L, 1);

	assert_int_equal(sb_run(sb, "error(42)", 0, err, sizeof err),
	    SANDBOX_ERR_RUNTIME);
	assert_string_equal(err, "42");
	assert_int_equal(sb_run(sb, "error(1.5)", 0, err, sizeof err),
	    SANDBOX_ERR_RUNTIME);
	assert_string_equal(err, "1.5");
	assert_int_equal(sb_run(sb, "error()", 0, err, sizeof err),
	    SANDBOX_ERR_RUNTIME);
	assert_string_equal(err, "(error object is a nil value)");
	assert_int_equal(sb_run(sb, "error(true)", 0, err, sizeof err),
	    SANDBOX_ERR_RUNTIME);
	assert_string_equal(err, "(error object is a boolean value)");
	assert_int_equal(sb_run(sb, "error('plain', 0)", 0, err, sizeof err),
	    SANDBOX_ERR_RUNTIME);
	assert_string_equal(err, "plain");
	assert_int_equal(sb_run(sb, "local x = nil\nreturn x.y", 0, err,
			     sizeof err),
	    SANDBOX_ERR_RUNTIME);
	assert_non_null(strstr(err, "test:2:"));
	sandbox_free(sb);
}

static void
test_call_stack(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	char err[256];

	(void)state;
	/* Something below the call stays untouched, with arguments too. */
	lua_pushliteral(L, "below");
	assert_int_equal(sandbox_load(sb, "local a, b = ... return a + b, a",
			     32, "=args", err, sizeof err),
	    SANDBOX_OK);
	lua_pushinteger(L, 2);
	lua_pushinteger(L, 3);
	assert_int_equal(sandbox_call(sb, 2, 2, err, sizeof err), SANDBOX_OK);
	assert_int_equal(lua_gettop(L), 3);
	assert_int_equal(lua_tointeger(L, -2), 5);
	assert_int_equal(lua_tointeger(L, -1), 2);
	lua_pop(L, 2);

	assert_int_equal(sandbox_load(sb, "local a = ... error(a, 0)", 25,
			     "=args", err, sizeof err),
	    SANDBOX_OK);
	lua_pushliteral(L, "arg");
	assert_int_equal(sandbox_call(sb, 1, LUA_MULTRET, err, sizeof err),
	    SANDBOX_ERR_RUNTIME);
	assert_string_equal(err, "arg");
	assert_int_equal(lua_gettop(L), 1);
	assert_string_equal(lua_tostring(L, 1), "below");
	lua_pop(L, 1);
	sandbox_free(sb);
}

static void
test_deep_lua_recursion(void **state)
{
	struct sandbox *sb = sb_new(0, 1000000000, 0);
	char err[256];
	enum sandbox_err e;

	(void)state;
	e = sb_run(sb, "local function f() return f() + 1 end return f()", 0,
	    err, sizeof err);
	assert_true(e == SANDBOX_ERR_RUNTIME || e == SANDBOX_ERR_MEMORY);
	sb_true(sb, "return true");
	sandbox_free(sb);
}

static void
test_deep_c_recursion(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	sb_fails(sb, "local t = setmetatable({}, {__index = "
		     "function(t, k) return t[k] end}) return t.x",
	    SANDBOX_ERR_RUNTIME, NULL);
	sb_fails(sb, "local mt = {} mt.__tostring = function(x) "
		     "return tostring(x) end "
		     "return tostring(setmetatable({}, mt))",
	    SANDBOX_ERR_RUNTIME, NULL);
	sb_fails(sb, "local function f(s) return (string.gsub(s, '.', f)) "
		     "end return f('abc')",
	    SANDBOX_ERR_RUNTIME, NULL);
	sb_fails(sb, "local mt = {} mt.__lt = function(a, b) return a < b "
		     "end local x = setmetatable({}, mt) return x < x",
	    SANDBOX_ERR_RUNTIME, NULL);
	sb_true(sb, "return true");
	sandbox_free(sb);
}

/* ---- Globals ------------------------------------------------------------ */

static void
test_globals_restore(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	sb_true(sb, "function helper() return 1 end kept = {n = 1} "
		    "return true");
	sandbox_snapshot_globals(sb);
	sb_true(sb, "x = 1 string = nil math = 5 helper = nil "
		    "kept.n = 2 for i = 1, 100 do _G['g' .. i] = i end "
		    "setmetatable(_G, {__index = function() return 7 end}) "
		    "return y == 7");
	sandbox_restore_globals(sb);
	sb_true(sb, "return x == nil and y == nil and g50 == nil and "
		    "string.format('%d', 3) == '3' and math.pi > 3 and "
		    "helper() == 1 and getmetatable(_G) == nil");
	/* Shallow: the table is the same one, its contents are the run's. */
	sb_true(sb, "return kept.n == 2");
	/* Nothing changed: nothing to do, and again after that. */
	sandbox_restore_globals(sb);
	sandbox_restore_globals(sb);
	sb_true(sb, "return helper() == 1 and x == nil");
	sandbox_free(sb);
}

/*
 * Each way a run can write the globals, alone, so that the restore's
 * quick check must see each one by itself; the next run finds the
 * snapshot whole every time.
 */
static void
test_globals_quiet_writes(void **state)
{
	static const char *const writes[] = {
	    "x = 1", "rawset(_G, 'x', 1)", "helper = nil",
	    "count = count + 1", "flag = false", "name = 'other'",
	    "helper = nil helper = print", "load('x = 1')()",
	    "table.insert(_G, 'x')", "_G[1.5] = true", "local t = _G t.x = 1",
	    "setmetatable(_G, nil) x = 1", "setmetatable(_G, {}) x = 1",
	    "setmetatable(_G, {__newindex = function(t, k, v) "
	    "rawset(t, k, v) end}) x = 1",
	    "string = nil", "_G = nil", "rawset(_G, 'helper', nil)",
	    "for k in pairs(_G) do if k ~= '_G' and k ~= 'rawset' then "
	    "rawset(_G, k, nil) end end",
	    NULL};
	static const char clean[] =
	    "return x == nil and rawget(_G, 1) == nil and "
	    "rawget(_G, 1.5) == nil and helper() == 1 and count == 1 and "
	    "math.type(count) == 'integer' and flag == true and "
	    "name == 'n' and string.format('%d', 2) == '2' and "
	    "getmetatable(_G) == nil and _G == _ENV and nkeys() == n0 + 1";
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	sb_true(sb, "function helper() return 1 end count = 1 flag = true "
		    "name = 'n' function nkeys() local n = 0 for _ in "
		    "pairs(_G) do n = n + 1 end return n end n0 = nkeys() "
		    "return true");
	sandbox_snapshot_globals(sb);
	sb_true(sb, clean);
	for (int i = 0; writes[i] != NULL; i++) {
		char err[512];
		if (sb_run(sb, writes[i], 0, err, sizeof err) != SANDBOX_OK)
			fail_msg("%s: %s", writes[i], err);
		sandbox_restore_globals(sb);
		sb_true(sb, clean);
		sandbox_restore_globals(sb);
		sb_true(sb, clean);
	}
	sandbox_free(sb);
}

/*
 * The marker metatable the snapshot gives the globals is invisible:
 * getmetatable() says nil, and assignments that raise say the same as
 * they do on globals without it.
 */
static void
test_globals_marker_invisible(void **state)
{
	static const char *const raising[] = {
	    "_G[nil] = 1", "_G[0/0] = 1", "local t = _G t[nil] = 1",
	    "rawset(_G, nil, 1)", "local function f() _G[nil] = 1 end f()",
	    "table.insert(_G, 1, 2, 3)", NULL};
	struct sandbox *plain = sb_new(0, 0, 0), *marked = sb_new(0, 0, 0);

	(void)state;
	sandbox_snapshot_globals(marked);
	sb_true(marked, "return getmetatable(_G) == nil and "
			"tostring(_G):match('^table: ') ~= nil and "
			"select('#', getmetatable(_G)) == 1");
	sb_true(marked, "local mt = {} setmetatable(_G, mt) "
			"return getmetatable(_G) == mt");
	sandbox_restore_globals(marked);
	sb_true(marked, "return getmetatable(_G) == nil");
	for (int i = 0; raising[i] != NULL; i++) {
		char e1[512], e2[512];
		enum sandbox_err r1 = sb_run(plain, raising[i], 0, e1,
		    sizeof e1);
		enum sandbox_err r2 = sb_run(marked, raising[i], 0, e2,
		    sizeof e2);
		if (r1 != SANDBOX_ERR_RUNTIME || r2 != r1 ||
		    strcmp(e1, e2) != 0)
			fail_msg("%s: '%s' without the marker, '%s' with it",
			    raising[i], e1, e2);
		sandbox_restore_globals(marked);
	}
	sandbox_free(plain);
	sandbox_free(marked);
}

static void
test_globals_restore_cost(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	struct timespec a, b;
	double ns;
	int n = 200000;

	(void)state;
	sb_true(sb, "for i = 1, 20 do _G['v' .. i] = i end return true");
	sandbox_snapshot_globals(sb);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++)
		sandbox_restore_globals(sb);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 +
		 (double)(b.tv_nsec - a.tv_nsec)) /
	    n;
	print_message("restore of ~40 unchanged globals: %.0f ns\n", ns);
	/* Generous for sanitizer builds; a slow path is 100x worse. */
	assert_true(ns < 20000);
	sandbox_free(sb);
}

/* ---- Lua -> JSON -------------------------------------------------------- */

/*
 * The text sink against the tree, for the value at the top: the same
 * verdict, the same message, and text that is byte for byte jansson's
 * compact dump of the tree (keys in the same order), appended after what
 * the buffer held, which a failure leaves as it was.
 */
static void
text_matches(lua_State *L, const json_t *v, int max_depth, const char *err)
{
	struct audit_buf b = {0};
	char terr[256], *want;
	int r;

	assert_int_equal(audit_buf_put(&b, "prefix", 6), 0);
	terr[0] = '\0';
	r = sandbox_to_text(L, -1, max_depth, "plan", &b, terr, sizeof terr);
	if (v == NULL) {
		assert_int_equal(r, -1);
		assert_string_equal(terr, err);
		assert_int_equal(b.len, 6);
	} else {
		assert_int_equal(r, 0);
		want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		assert_non_null(want);
		if (b.len - 6 != strlen(want) ||
		    memcmp(b.data + 6, want, b.len - 6) != 0)
			fail_msg("text %.*s, tree %s", (int)(b.len - 6),
			    b.data + 6, want);
		free(want);
	}
	assert_memory_equal(b.data, "prefix", 6);
	audit_buf_free(&b);
}

/* Runs code returning one value and converts it; NULL with err set. */
static json_t *
to_json(struct sandbox *sb, const char *code, int max_depth, char *err,
    size_t errlen)
{
	lua_State *L = sandbox_state(sb);
	char rerr[256];
	json_t *v;
	int top;

	if (sb_run(sb, code, 1, rerr, sizeof rerr) != SANDBOX_OK)
		fail_msg("%s: %s", code, rerr);
	top = lua_gettop(L);
	err[0] = '\0';
	v = sandbox_to_json(L, -1, max_depth, "plan", err, errlen);
	assert_int_equal(lua_gettop(L), top);
	if (v == NULL)
		assert_true(err[0] != '\0');
	text_matches(L, v, max_depth, err);
	assert_int_equal(lua_gettop(L), top);
	lua_pop(L, 1);
	return v;
}

static void
json_is(struct sandbox *sb, const char *code, const char *want)
{
	char err[256], *s;
	json_t *v = to_json(sb, code, SANDBOX_MAX_DEPTH, err, sizeof err);

	if (v == NULL)
		fail_msg("%s: %s", code, err);
	s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	assert_non_null(s);
	if (want != NULL && strcmp(s, want) != 0)
		fail_msg("%s: got %s, wanted %s", code, s, want);
	free(s);
	json_decref(v);
}

static void
json_fails(struct sandbox *sb, const char *code, int max_depth,
    const char *want)
{
	char err[256];
	json_t *v = to_json(sb, code, max_depth, err, sizeof err);

	if (v != NULL)
		fail_msg("%s: converted, wanted '%s'", code, want);
	if (strstr(err, want) == NULL)
		fail_msg("%s: message '%s' lacks '%s'", code, err, want);
	json_decref(v);
}

static void
test_json_values(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	json_is(sb, "return {1, 2.5, 'x', true, false, {}}",
	    "[1,2.5,\"x\",true,false,{}]");
	json_is(sb, "return {a = {b = {1, 2}}, c = 'd', e = {f = {}}}",
	    "{\"a\":{\"b\":[1,2]},\"c\":\"d\",\"e\":{\"f\":{}}}");
	json_is(sb, "return {}", "{}");
	json_is(sb, "return nil", "null");
	json_is(sb, "return math.mininteger", "-9223372036854775808");
	json_is(sb, "return '\\u{e9}\\u{20ac}\\u{1d11e}'",
	    "\"\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\"");
	/* The same table twice is no cycle. */
	json_is(sb, "local s = {1} return {a = s, b = s}",
	    "{\"a\":[1],\"b\":[1]}");
	sandbox_free(sb);
}

/* What the text sink must spell exactly as jansson does. */
static void
test_json_text_tricky(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	/* Escapes: quote, backslash, every control byte, DEL and '/'. */
	json_is(sb, "return 'q\\\"b\\\\n\\n\\r\\t\\b\\f\\1\\31\\127/'",
	    "\"q\\\"b\\\\n\\n\\r\\t\\b\\f\\u0001\\u001F\x7f/\"");
	/* Reals as jansson spells them; integers stay integers. */
	json_is(sb, "return {0.1, 1e300, -0.0, 2^53, 1/3, 5e-324, 3}",
	    "[0.10000000000000001,1.0000000000000001e300,-0.0,"
	    "9007199254740992.0,0.33333333333333331,4.9406564584124654e-324,"
	    "3]");
	json_is(sb, "return math.maxinteger", "9223372036854775807");
	/* Nested, empty tables as objects, strings 16 bytes and longer. */
	json_is(sb, "return {a = {{}, {b = {}}}, ['k\\0'] = nil, "
	    "long = string.rep('\"x', 20)}", NULL);
	json_is(sb, "return {k = {[1] = {}, [2] = {1, {z = false}}}}",
	    "{\"k\":[{},[1,{\"z\":false}]]}");
	sandbox_free(sb);
}

static void
test_json_integral_float(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	char err[256];
	json_t *v = to_json(sb, "return {2.0, 3}", 4, err, sizeof err);

	(void)state;
	assert_non_null(v);
	assert_true(json_is_real(json_array_get(v, 0)));
	assert_true(json_real_value(json_array_get(v, 0)) == 2.0);
	assert_true(json_is_integer(json_array_get(v, 1)));
	json_decref(v);
	sandbox_free(sb);
}

static void
test_json_cycle_depth(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	char err[256];
	json_t *v;

	(void)state;
	json_fails(sb, "local t = {} t.self = t return t", SANDBOX_MAX_DEPTH,
	    "at plan.self: a cycle");
	json_fails(sb, "local t = {a = {}} t.a[1] = t return t",
	    SANDBOX_MAX_DEPTH, "at plan.a[1]: a cycle");
	json_fails(sb,
	    "local r = {} local t = r for i = 1, 39 do t.x = {} t = t.x end "
	    "return r",
	    SANDBOX_MAX_DEPTH, "nested deeper than 32");
	/* Exactly max_depth tables deep is fine. */
	v = to_json(sb,
	    "local r = {} local t = r for i = 1, 31 do t.x = {} t = t.x end "
	    "return r",
	    SANDBOX_MAX_DEPTH, err, sizeof err);
	assert_non_null(v);
	json_decref(v);
	json_fails(sb, "return {{{}}}", 2, "nested deeper than 2");
	sandbox_free(sb);
}

static void
test_json_bad_values(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	json_fails(sb,
	    "return {actions = {{name = 'a'}, {params = function() end}}}",
	    SANDBOX_MAX_DEPTH, "at plan.actions[2].params: a function");
	json_fails(sb, "return print or load", SANDBOX_MAX_DEPTH,
	    "at plan: a function");
	json_fails(sb, "return {x = 0/0}", SANDBOX_MAX_DEPTH,
	    "at plan.x: a number that is not finite");
	json_fails(sb, "return {math.huge}", SANDBOX_MAX_DEPTH, "plan[1]");
	json_fails(sb, "return {-math.huge}", SANDBOX_MAX_DEPTH, "finite");
	/* The path after siblings that converted, at every depth. */
	json_fails(sb, "return {{1}, {a = {2}}, {3, {b = 'x', "
	    "f = function() end}}}", SANDBOX_MAX_DEPTH,
	    "at plan[3][2].f: a function");
	json_fails(sb, "return {a = {1, 2}, b = {c = {x = 1, y = {z = 0/0}}}}",
	    SANDBOX_MAX_DEPTH, "at plan.b.c.y.z: a number that is not finite");
	/* A long key is cut at a character boundary; control bytes shown as ?. */
	json_fails(sb, "return {[string.rep('k', 63) .. '\\u{e9}tail'] = "
	    "{['a\\nb'] = function() end}}", SANDBOX_MAX_DEPTH,
	    "at plan.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
	    "....a?b: a function");
	/* A bad key is reported at its table, not below it. */
	json_fails(sb, "return {x = {['\\xff'] = 1}}", SANDBOX_MAX_DEPTH,
	    "at plan.x: a key with invalid UTF-8");
	sandbox_free(sb);
}

static void
test_json_keys(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	json_fails(sb, "return {1, a = 2}", SANDBOX_MAX_DEPTH,
	    "both string and integer keys");
	json_fails(sb, "return {[1.5] = 1}", SANDBOX_MAX_DEPTH, "a float key");
	json_fails(sb, "return {[true] = 1}", SANDBOX_MAX_DEPTH,
	    "a boolean key");
	json_fails(sb, "return {x = {[{}] = 1}}", SANDBOX_MAX_DEPTH,
	    "at plan.x: a table key");
	json_fails(sb, "return {[1] = 1, [3] = 3}", SANDBOX_MAX_DEPTH,
	    "not 1..n");
	json_fails(sb, "return {[0] = 1, [1] = 2}", SANDBOX_MAX_DEPTH,
	    "not 1..n");
	/* 2.0 is the integer key 2 to Lua, so this is an array. */
	json_is(sb, "return {[1] = 'a', [2.0] = 'b'}", "[\"a\",\"b\"]");
	sandbox_free(sb);
}

static void
test_json_utf8(void **state)
{
	static const char *const bad[] = {
		"return '\\xff'",	       /* not a lead byte */
		"return 'a\\xc0\\xaf'",	       /* overlong '/' */
		"return '\\xe0\\x80\\xaf'",    /* overlong, 3 bytes */
		"return '\\xed\\xa0\\x80'",    /* surrogate */
		"return '\\xf4\\x90\\x80\\x80'", /* > U+10FFFF */
		"return '\\xe2\\x82'",	       /* truncated */
		"return '\\x80'",	       /* lone continuation */
		"return 'a\\0b'",	       /* NUL */
		"return {['\\xff'] = 1}",      /* in a key */
	};
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		json_fails(sb, bad[i], SANDBOX_MAX_DEPTH,
		    i == 7 ? "NUL" : "UTF-8");
	json_is(sb, "return '\\u{7f}\\u{80}\\u{7ff}\\u{800}\\u{ffff}"
		    "\\u{10000}\\u{10ffff}'",
	    "\"\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80"
	    "\xf4\x8f\xbf\xbf\"");
	sandbox_free(sb);
}

static void
test_json_no_metamethods(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);

	(void)state;
	sb_true(sb, "hit = false "
		    "mt = {__index = function() hit = true return 1 end, "
		    "__pairs = function() hit = true return next, {}, nil end, "
		    "__len = function() hit = true return 9 end, "
		    "__tostring = function() hit = true return 'x' end, "
		    "__name = 'evil'} return true");
	json_is(sb, "return setmetatable({a = 1}, mt)", "{\"a\":1}");
	json_is(sb, "return setmetatable({1, 2}, mt)", "[1,2]");
	json_is(sb, "return {x = setmetatable({}, mt)}", "{\"x\":{}}");
	lua_getglobal(L, "hit");
	assert_int_equal(lua_type(L, -1), LUA_TBOOLEAN);
	assert_false(lua_toboolean(L, -1));
	lua_pop(L, 1);
	sandbox_free(sb);
}

static void
test_json_bounds(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);

	(void)state;
	json_fails(sb, "local t = {} for i = 1, 150000 do t[i] = i end "
		       "return t",
	    SANDBOX_MAX_DEPTH, "elements");
	json_fails(sb, "local t = {} for i = 1, 5 do "
		       "t[i] = string.rep(string.char(96 + i), 1 << 20) end "
		       "return t",
	    SANDBOX_MAX_DEPTH, "bytes");
	sandbox_free(sb);
}

static void
test_json_on_plain_state(void **state)
{
	lua_State *L = luaL_newstate();
	char err[256];
	json_t *v;

	(void)state;
	/* The conversion does not need a sandbox, and reads any index. */
	lua_createtable(L, 0, 1);
	lua_pushinteger(L, 7);
	lua_setfield(L, -2, "n");
	lua_pushliteral(L, "on top");
	v = sandbox_to_json(L, -2, 4, NULL, err, sizeof err);
	assert_non_null(v);
	assert_int_equal(json_integer_value(json_object_get(v, "n")), 7);
	assert_int_equal(lua_gettop(L), 2);
	json_decref(v);
	lua_close(L);
}

/* ---- JSON -> Lua -------------------------------------------------------- */

static const char alert_json[] =
    "{\"id\":\"a-123\",\"source\":\"suricata\",\"severity\":3,"
    "\"score\":0.75,\"tags\":[\"ssh\",\"brute-force\"],"
    "\"host\":{\"name\":\"web-1\",\"ip\":\"10.0.0.5\","
    "\"ports\":[22,80,443]},\"seen\":true,\"muted\":false,"
    "\"details\":{\"count\":42,\"ratio\":2.0,"
    "\"msg\":\"\xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xe2\x9c\x93\","
    "\"nested\":{\"a\":[{\"b\":[1,[2,[3]]]}]}}}";

static void
test_push_json_roundtrip(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	json_t *in = json_loads(alert_json, 0, NULL), *out;
	const char *code =
	    "local a = ... return a.host.ports[3] == 443 and "
	    "a.tags[2] == 'brute-force' and a.score == 0.75 and "
	    "math.type(a.severity) == 'integer' and "
	    "math.type(a.details.ratio) == 'float' and a.seen == true and "
	    "a.muted == false and #a.host.ports == 3 and "
	    "a.details.nested.a[1].b[2][2][1] == 3 and "
	    "utf8.len(a.details.msg) == 9, a";
	char err[256];

	(void)state;
	assert_non_null(in);
	assert_int_equal(sandbox_load(sb, code, strlen(code), "=rt", err,
			     sizeof err),
	    SANDBOX_OK);
	assert_int_equal(sandbox_push_json(L, in, SANDBOX_MAX_DEPTH), 0);
	assert_int_equal(lua_gettop(L), 2);
	if (sandbox_call(sb, 1, 2, err, sizeof err) != SANDBOX_OK)
		fail_msg("%s", err);
	assert_true(lua_toboolean(L, 1));
	out = sandbox_to_json(L, 2, SANDBOX_MAX_DEPTH, "alert", err,
	    sizeof err);
	if (out == NULL)
		fail_msg("%s", err);
	assert_true(json_equal(in, out));
	lua_pop(L, 2);
	json_decref(out);
	json_decref(in);
	sandbox_free(sb);
}

/*
 * alert.raw is pushed from a json_scan parse: the same Lua values as from
 * jansson's tree, read back the same, and refused past the same depth.
 */
static void
test_push_jscan_same(void **state)
{
	static const char *const docs[] = {
	    alert_json,
	    "{\"a\":null,\"b\":[1,{\"z\":null},3],\"c\":\"x\\ny\",\"d\":[],"
	    "\"e\":{},\"f\":-9223372036854775808,\"g\":1e300,\"h\":-0.0}",
	    "[[[[[[1]]]]],{\"k\":[true,false]}]",
	    "\"just a string\"",
	};
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	struct jscan js = {0};
	struct jscan_error jerr;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		json_t *in = json_loads(docs[i], JSON_DECODE_ANY, NULL);
		assert_non_null(in);
		assert_int_equal(jscan_parse(&js, docs[i], strlen(docs[i]), 64,
		    &jerr), 0);
		assert_int_equal(sandbox_push_json(L, in, 8), 0);
		assert_int_equal(sandbox_push_jscan(L, &js, 8), 0);
		json_t *a = sandbox_to_json(L, -2, 8, "a", err, sizeof err);
		json_t *b = sandbox_to_json(L, -1, 8, "b", err, sizeof err);
		if (a == NULL || b == NULL || !json_equal(a, b)) {
			char *sa = a ? json_dumps(a, JSON_ENCODE_ANY) : NULL;
			char *sb2 = b ? json_dumps(b, JSON_ENCODE_ANY) : NULL;
			fail_msg("doc %zu differs: %s vs %s", i, sa ? sa : err,
			    sb2 ? sb2 : err);
		}
		lua_pop(L, 2);
		json_decref(a);
		json_decref(b);
		json_decref(in);
	}
	/* A null in an array is a hole at the same index, either way. */
	const char *holes = "[1,null,3]";
	assert_int_equal(jscan_parse(&js, holes, strlen(holes), 64, &jerr), 0);
	assert_int_equal(sandbox_push_jscan(L, &js, 8), 0);
	lua_geti(L, -1, 3);
	assert_int_equal(lua_tointeger(L, -1), 3);
	lua_geti(L, -2, 2);
	assert_true(lua_isnil(L, -1));
	lua_pop(L, 3);
	/* Past the depth: nothing pushed, either way. */
	const char *deep = "[[[[[[[[[[1]]]]]]]]]]";
	json_t *in = json_loads(deep, 0, NULL);
	assert_int_equal(jscan_parse(&js, deep, strlen(deep), 64, &jerr), 0);
	int top = lua_gettop(L);
	assert_int_equal(sandbox_push_json(L, in, 4), -1);
	assert_int_equal(sandbox_push_jscan(L, &js, 4), -1);
	assert_int_equal(lua_gettop(L), top);
	json_decref(in);
	jscan_free(&js);
	sandbox_free(sb);
}

static void
test_push_json_nulls(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	json_t *in = json_loads("{\"a\":null,\"b\":[1,null,3],"
				"\"c\":\"x\\u0000y\",\"d\":[]}",
	    JSON_ALLOW_NUL, NULL);
	const char *code = "local v = ... local n = 0 "
			   "for k in pairs(v) do n = n + 1 end "
			   "return n == 3 and v.a == nil and v.b[1] == 1 and "
			   "v.b[2] == nil and v.b[3] == 3 and #v.c == 3 and "
			   "next(v.d) == nil";
	char err[256];

	(void)state;
	assert_non_null(in);
	assert_int_equal(sandbox_load(sb, code, strlen(code), "=n", err,
			     sizeof err),
	    SANDBOX_OK);
	assert_int_equal(sandbox_push_json(L, in, 4), 0);
	if (sandbox_call(sb, 1, 1, err, sizeof err) != SANDBOX_OK)
		fail_msg("%s", err);
	assert_true(lua_toboolean(L, -1));
	lua_pop(L, 1);
	json_decref(in);

	/* A null alone is a nil. */
	in = json_null();
	assert_int_equal(sandbox_push_json(L, in, 4), 0);
	assert_int_equal(lua_type(L, -1), LUA_TNIL);
	lua_pop(L, 1);
	json_decref(in);
	sandbox_free(sb);
}

static void
test_push_json_depth(void **state)
{
	struct sandbox *sb = sb_new(0, 0, 0);
	lua_State *L = sandbox_state(sb);
	char text[256];
	json_t *v;
	size_t len = 0;

	(void)state;
	for (int i = 0; i < 40; i++)
		text[len++] = '[';
	for (int i = 0; i < 40; i++)
		text[len++] = ']';
	text[len] = '\0';
	v = json_loads(text, 0, NULL);
	assert_non_null(v);
	assert_int_equal(sandbox_push_json(L, v, SANDBOX_MAX_DEPTH), -1);
	assert_int_equal(lua_gettop(L), 0);
	assert_int_equal(sandbox_push_json(L, v, 40), 0);
	assert_int_equal(lua_gettop(L), 1);
	lua_pop(L, 1);
	json_decref(v);

	v = json_loads("{\"a\":{\"b\":{}}}", 0, NULL);
	assert_int_equal(sandbox_push_json(L, v, 2), -1);
	assert_int_equal(lua_gettop(L), 0);
	assert_int_equal(sandbox_push_json(L, v, 3), 0);
	lua_pop(L, 1);
	json_decref(v);
	sandbox_free(sb);
}

static void
test_push_json_memory(void **state)
{
	struct sandbox *sb = sb_new(256 * 1024, 0, 0);
	lua_State *L = sandbox_state(sb);
	json_t *v = json_array();
	char s[64];

	(void)state;
	for (int i = 0; i < 20000; i++) {
		snprintf(s, sizeof s, "string number %d of many", i);
		json_array_append_new(v, json_string(s));
	}
	lua_pushliteral(L, "below");
	assert_int_equal(sandbox_push_json(L, v, 4), -1);
	assert_int_equal(lua_gettop(L), 1);
	assert_true(sandbox_memory(sb) <= 256 * 1024);
	lua_pop(L, 1);
	json_decref(v);
	full_gc(L);
	sb_true(sb, "return true");
	sandbox_free(sb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_name),
		cmocka_unit_test(test_push_jscan_same),
		cmocka_unit_test(test_new_and_of),
		cmocka_unit_test(test_memory_blocks_keep_content),
		cmocka_unit_test(test_memory_exact),
		cmocka_unit_test(test_memory_table),
		cmocka_unit_test(test_memory_concat),
		cmocka_unit_test(test_memory_table_concat),
		cmocka_unit_test(test_memory_caught_by_pcall),
		cmocka_unit_test(test_string_rep),
		cmocka_unit_test(test_budget_loop),
		cmocka_unit_test(test_budget_pcall),
		cmocka_unit_test(test_budget_close),
		cmocka_unit_test(test_budget_xpcall),
		cmocka_unit_test(test_budget_fresh),
		cmocka_unit_test(test_budget_small),
		cmocka_unit_test(test_budget_charges_c_work),
		cmocka_unit_test(test_load_syntax),
		cmocka_unit_test(test_load_binary),
		cmocka_unit_test(test_lua_load),
		cmocka_unit_test(test_parser_nesting),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_string_metatable),
		cmocka_unit_test(test_readonly_pairs),
		cmocka_unit_test(test_setmetatable_gc),
		cmocka_unit_test(test_error_objects),
		cmocka_unit_test(test_call_stack),
		cmocka_unit_test(test_deep_lua_recursion),
		cmocka_unit_test(test_deep_c_recursion),
		cmocka_unit_test(test_globals_restore),
		cmocka_unit_test(test_globals_quiet_writes),
		cmocka_unit_test(test_globals_marker_invisible),
		cmocka_unit_test(test_globals_restore_cost),
		cmocka_unit_test(test_json_values),
		cmocka_unit_test(test_json_text_tricky),
		cmocka_unit_test(test_json_integral_float),
		cmocka_unit_test(test_json_cycle_depth),
		cmocka_unit_test(test_json_bad_values),
		cmocka_unit_test(test_json_keys),
		cmocka_unit_test(test_json_utf8),
		cmocka_unit_test(test_json_no_metamethods),
		cmocka_unit_test(test_json_bounds),
		cmocka_unit_test(test_json_on_plain_state),
		cmocka_unit_test(test_push_json_roundtrip),
		cmocka_unit_test(test_push_json_nulls),
		cmocka_unit_test(test_push_json_depth),
		cmocka_unit_test(test_push_json_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
