/*
 * The Lua sandbox: owns one lua_State for untrusted code, its allocator with
 * a memory ceiling, the per-call instruction budget, the allow-list of
 * library functions, read-only and lazy tables, and the raw
 * (metamethod-free) Lua <-> JSON conversions.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "remediad/audit.h"
#include "remediad/json_scan.h"
#include "remediad/sandbox.h"
#include "remediad/utf8.h"

/*
 * The count hook runs every SANDBOX_HOOK_STEP instructions: often enough
 * that the budget is close to exact, rarely enough to cost nothing.
 */
#define SANDBOX_HOOK_STEP 1000

/*
 * C work done on behalf of one VM instruction (string.rep, load) is charged
 * to the budget at one instruction per this many bytes, so a loop of cheap
 * instructions cannot buy unbounded CPU time through them.
 */
#define SANDBOX_BYTES_PER_STEP 64

/* Bounds on one sandbox_to_json() whatever the table looks like. */
#define SANDBOX_JSON_MAX_ELEMENTS 100000
#define SANDBOX_JSON_MAX_BYTES	  (4 * 1024 * 1024)
/* Hard cap on the depth of either conversion: it bounds the C recursion. */
#define SANDBOX_DEPTH_CAP 256
#define SANDBOX_PATH_MAX  256
/* Longest key shown in the path of a conversion error. */
#define SANDBOX_PATH_KEY 64

/*
 * A run allocates and frees a few dozen small blocks (strings, tables,
 * closures), which glibc's malloc and free cost more than Lua's own work
 * on them. Blocks of up to SANDBOX_CACHE_MAX bytes are made in 16-byte
 * classes and, once freed, kept per class (SANDBOX_CACHE_DEPTH of them, at
 * most ~140 KB a state) for the next allocation of that class. The
 * accounting is unchanged: the ceiling counts what Lua holds, never what
 * the cache keeps. Under AddressSanitizer a kept block is poisoned until
 * it is handed out again, so a use after free is still reported.
 */
#define SANDBOX_CACHE_MAX     256
#define SANDBOX_CACHE_CLASSES (SANDBOX_CACHE_MAX / 16)
#define SANDBOX_CACHE_DEPTH   64

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN 1
#endif
#endif
#ifdef SANDBOX_ASAN
#include <sanitizer/asan_interface.h>
#define SANDBOX_POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define SANDBOX_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define SANDBOX_POISON(p, n)   ((void)(p), (void)(n))
#define SANDBOX_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct sandbox {
	lua_State *L;
	struct sandbox_limits limits;

	size_t used; /* bytes Lua holds, by its own block sizes */
	size_t peak;
	uint64_t refused; /* allocations the ceiling turned down */

	uint64_t steps; /* instructions counted in this call */
	int count;	/* what the hook is armed with */
	int exhausted;	/* sticky until the next sandbox_call() */

	int snap_ref;	 /* registry reference of the globals snapshot */
	int snap_mt_ref; /* and of the globals' metatable then */
	size_t snap_count;
	/*
	 * The restore's quick check (sandbox_globals_unchanged): the
	 * snapshot's keys as an array, their values by identity, and
	 * whether the globals carry the marker metatable, through which
	 * every key a run adds must pass.
	 */
	int snap_keys_ref;
	struct sandbox_snap_val *snap_vals;
	const void *marker; /* the marker metatable, or NULL: not marked */
	int globals_added;  /* a key may have been added since the restore */

	/* Freed small blocks kept for reuse (see sandbox_alloc). */
	void *cache[SANDBOX_CACHE_CLASSES][SANDBOX_CACHE_DEPTH];
	unsigned char ncached[SANDBOX_CACHE_CLASSES];
};

/*
 * A value as the quick check compares it: an object by its address (the
 * snapshot keeps it alive, so no other object can take that address),
 * a number or boolean by its value.
 */
struct sandbox_snap_val {
	int type;
	int isint;
	const void *p;
	lua_Integer i;
	lua_Number n;
};

/*
 * Only the address matters: it marks the metatables of read-only proxies
 * (a light userdata key that Lua code cannot forge).
 */
static const char sandbox_ro_key = 0;
/* In a lazy table's metatable: the function that fills it (see below). */
static const char sandbox_lazy_key = 0;
/* The registry key of the globals' marker metatable (see the snapshot). */
static const char sandbox_marker_key = 0;

/*
 * What untrusted code gets. From the base library: assert, error,
 * getmetatable, ipairs, next, pairs, pcall, rawequal, rawget, rawlen,
 * select, tonumber, tostring, type, _VERSION and _G, plus our own load
 * (text only), setmetatable (no __gc), getmetatable (the globals' marker
 * unseen), rawset (not into a read-only table), next and rawget (lazy
 * tables filled first) and xpcall (no handler
 * once the budget is spent). string without dump
 * and with a capped rep, table without move, math, utf8, and of os only
 * time, date and clock, all as read-only proxies; the string metatable is
 * locked. Not reachable: io, debug, package, require, coroutine, dofile,
 * loadfile, collectgarbage, print, warn and the rest of os.
 */
static const char *const sandbox_base_allowed[] = {
	"assert", "error", "getmetatable", "ipairs", "pairs", "pcall",
	"rawequal", "rawlen", "select", "tonumber", "tostring",
	"type", "_VERSION", NULL};
static const char *const sandbox_os_allowed[] = {
	"time", "date", "clock", NULL};

const char *
sandbox_err_name(enum sandbox_err e)
{
	switch (e) {
	case SANDBOX_OK:
		return "ok";
	case SANDBOX_ERR_RUNTIME:
		return "runtime";
	case SANDBOX_ERR_MEMORY:
		return "memory";
	case SANDBOX_ERR_INSTRUCTIONS:
		return "instructions";
	case SANDBOX_ERR_SYNTAX:
		return "syntax";
	}
	return "unknown";
}

/* ---- Allocator and instruction budget ---------------------------------- */

/* The class of a small block of n bytes (1..SANDBOX_CACHE_MAX). */
static inline size_t
sandbox_class(size_t n)
{
	return (n - 1) / 16;
}

/* A block of n bytes (<= SANDBOX_CACHE_MAX): from the cache, or made. */
static void *
sandbox_small_get(struct sandbox *sb, size_t n)
{
	size_t c = sandbox_class(n);
	void *p;

	if (sb->ncached[c] == 0)
		return malloc((c + 1) * 16);
	p = sb->cache[c][--sb->ncached[c]];
	SANDBOX_UNPOISON(p, (c + 1) * 16);
	return p;
}

/* Gives back a block of n bytes (<= SANDBOX_CACHE_MAX). */
static void
sandbox_small_put(struct sandbox *sb, void *p, size_t n)
{
	size_t c = sandbox_class(n);

	if (sb->ncached[c] == SANDBOX_CACHE_DEPTH) {
		free(p);
		return;
	}
	SANDBOX_POISON(p, (c + 1) * 16);
	sb->cache[c][sb->ncached[c]++] = p;
}

/* Frees the blocks the cache keeps: once the state is gone. */
static void
sandbox_cache_drain(struct sandbox *sb)
{
	for (size_t c = 0; c < SANDBOX_CACHE_CLASSES; c++)
		while (sb->ncached[c] > 0) {
			void *p = sb->cache[c][--sb->ncached[c]];
			SANDBOX_UNPOISON(p, (c + 1) * 16);
			free(p);
		}
}

/*
 * Lua's allocator. A block of at most SANDBOX_CACHE_MAX bytes always has
 * its class's size, so Lua's osize says where it came from.
 */
static void *
sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct sandbox *sb = ud;
	void *nptr;

	/* For a NULL ptr, osize encodes the object type, not a size. */
	if (ptr == NULL)
		osize = 0;
	if (nsize == 0) {
		if (ptr != NULL && osize <= SANDBOX_CACHE_MAX)
			sandbox_small_put(sb, ptr, osize);
		else
			free(ptr);
		sb->used -= osize;
		return NULL;
	}
	if (nsize > osize && nsize - osize > sb->limits.memory - sb->used) {
		sb->refused++;
		return NULL;
	}
	if (ptr != NULL && osize <= SANDBOX_CACHE_MAX &&
	    nsize <= SANDBOX_CACHE_MAX &&
	    sandbox_class(osize) == sandbox_class(nsize))
		nptr = ptr; /* the block already has room */
	else if (nsize <= SANDBOX_CACHE_MAX ||
	    (ptr != NULL && osize <= SANDBOX_CACHE_MAX)) {
		/* Into or out of the small classes: a new block, a copy. */
		nptr = nsize <= SANDBOX_CACHE_MAX ? sandbox_small_get(sb, nsize)
						  : malloc(nsize);
		if (nptr != NULL && ptr != NULL) {
			memcpy(nptr, ptr, osize < nsize ? osize : nsize);
			if (osize <= SANDBOX_CACHE_MAX)
				sandbox_small_put(sb, ptr, osize);
			else
				free(ptr);
		}
	} else
		nptr = realloc(ptr, nsize);
	if (nptr == NULL) {
		/*
		 * Lua is promised that shrinking succeeds; the old block is
		 * still good and big enough.
		 */
		if (nsize < osize) {
			sb->used -= osize - nsize;
			return ptr;
		}
		return NULL;
	}
	sb->used = sb->used - osize + nsize;
	if (sb->used > sb->peak)
		sb->peak = sb->used;
	return nptr;
}

static void sandbox_hook(lua_State *, lua_Debug *);

/* Arms the hook to fire at the next step, or just past the budget. */
static void
sandbox_arm(struct sandbox *sb)
{
	uint64_t left = sb->limits.instructions - sb->steps;

	if (left >= SANDBOX_HOOK_STEP)
		sb->count = SANDBOX_HOOK_STEP;
	else
		sb->count = (int)left + 1;
	lua_sethook(sb->L, sandbox_hook, LUA_MASKCOUNT, sb->count);
}

static int
sandbox_exhausted_error(lua_State *L, struct sandbox *sb)
{
	if (!sb->exhausted) {
		sb->exhausted = 1;
		/*
		 * From now on every instruction raises, so neither pcall nor
		 * a <close> or message handler can carry on.
		 */
		sb->count = 1;
		lua_sethook(L, sandbox_hook, LUA_MASKCOUNT, 1);
	}
	return luaL_error(L, "instruction budget of %I exceeded",
	    (LUAI_UACINT)sb->limits.instructions);
}

static void
sandbox_hook(lua_State *L, lua_Debug *ar)
{
	struct sandbox *sb = sandbox_of(L);

	if (!sb->exhausted) {
		sb->steps += (uint64_t)sb->count;
		if (sb->steps <= sb->limits.instructions) {
			sandbox_arm(sb);
			return;
		}
	}
	sandbox_exhausted_error(L, sb);
}

/* Charges C work on bytes to the budget; raises once it is spent. */
static void
sandbox_charge(lua_State *L, size_t bytes)
{
	struct sandbox *sb = sandbox_of(L);
	uint64_t n = bytes / SANDBOX_BYTES_PER_STEP;

	if (sb == NULL)
		return;
	if (sb->exhausted || n > sb->limits.instructions - sb->steps)
		sandbox_exhausted_error(L, sb);
	sb->steps += n;
}

/* ---- Functions replacing library ones ---------------------------------- */

struct sandbox_reader {
	int fn; /* stack index of the reader function */
};

/* load()'s reader protocol; the piece read is kept alive in slot 5. */
static const char *
sandbox_read_cb(lua_State *L, void *ud, size_t *size)
{
	struct sandbox_reader *r = ud;

	luaL_checkstack(L, 2, "too many nested functions");
	lua_pushvalue(L, r->fn);
	lua_call(L, 0, 1);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		*size = 0;
		return NULL;
	}
	if (lua_type(L, -1) != LUA_TSTRING)
		luaL_error(L, "reader function must return a string");
	lua_replace(L, 5);
	lua_tolstring(L, 5, size);
	/* Parsed in C: charged like a string chunk, piece by piece. */
	sandbox_charge(L, *size);
	return lua_tostring(L, 5);
}

/*
 * load(chunk [, chunkname [, mode [, env]]]) that compiles text only,
 * whatever mode says: a binary chunk could crash the VM. Failures return
 * nil and a message, as load() does.
 */
static int
lua_sandbox_load(lua_State *L)
{
	struct sandbox_reader r;
	const char *s, *name;
	size_t len;
	int status;

	s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
	name = luaL_optstring(L, 2, s != NULL ? s : "=(load)");
	if (s != NULL) {
		sandbox_charge(L, len);
		status = luaL_loadbufferx(L, s, len, name, "t");
	} else {
		luaL_checktype(L, 1, LUA_TFUNCTION);
		lua_settop(L, 5); /* slot 5 holds the current piece */
		r.fn = 1;
		status = lua_load(L, sandbox_read_cb, &r, name, "t");
	}
	if (status != LUA_OK) {
		luaL_pushfail(L);
		lua_insert(L, -2);
		return 2;
	}
	if (!lua_isnone(L, 4)) {
		lua_pushvalue(L, 4);
		if (lua_setupvalue(L, -2, 1) == NULL)
			lua_pop(L, 1);
	}
	return 1;
}

/*
 * getmetatable() as the base library's, except that the globals' marker
 * metatable is not shown: for Lua code the globals have none (unless it
 * gives them one).
 */
static int
lua_sandbox_getmetatable(lua_State *L)
{
	luaL_checkany(L, 1);
	if (!lua_getmetatable(L, 1)) {
		lua_pushnil(L);
		return 1;
	}
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &sandbox_marker_key) !=
		LUA_TNIL &&
	    lua_rawequal(L, -1, -2)) {
		lua_pushnil(L);
		return 1;
	}
	lua_pop(L, 1);
	luaL_getmetafield(L, 1, "__metatable");
	return 1;
}

/*
 * setmetatable() refusing __gc: a finalizer would run at an arbitrary time,
 * outside any sandbox_call() and its budget, even in lua_close().
 */
static int
lua_sandbox_setmetatable(lua_State *L)
{
	int t = lua_type(L, 2);

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2,
	    "nil or table");
	if (t == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		t = lua_rawget(L, 2);
		lua_pop(L, 1);
		if (t != LUA_TNIL)
			return luaL_error(L,
			    "metatables with __gc are not allowed");
	}
	if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
		return luaL_error(L, "cannot change a protected metatable");
	lua_settop(L, 2);
	lua_setmetatable(L, 1);
	return 1;
}

/*
 * Stands between xpcall() and its message handler. An error raised by the
 * count hook reaches the handler while Lua still has hooks disabled (they
 * come back only when the error lands in a pcall), so a Lua handler would
 * run unbudgeted: once the budget is spent it is not called at all.
 */
static int
lua_sandbox_xpcall_msgh(lua_State *L)
{
	struct sandbox *sb = sandbox_of(L);

	if (sb != NULL && sb->exhausted)
		return 1;
	luaL_checkstack(L, 2, NULL);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

/* xpcall(f, msgh, ...) with msgh behind lua_sandbox_xpcall_msgh. */
static int
lua_sandbox_xpcall(lua_State *L)
{
	int n = lua_gettop(L);

	luaL_checktype(L, 2, LUA_TFUNCTION);
	luaL_checkstack(L, 3, NULL);
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, lua_sandbox_xpcall_msgh, 1);
	lua_replace(L, 2);
	lua_pushboolean(L, 1); /* the first result */
	lua_pushvalue(L, 1);
	lua_rotate(L, 3, 2); /* true, f under f's arguments */
	if (lua_pcall(L, n - 2, LUA_MULTRET, 2) != LUA_OK) {
		lua_pushboolean(L, 0);
		lua_pushvalue(L, -2);
		return 2;
	}
	return lua_gettop(L) - 2;
}

/* Whether the table at idx is a read-only proxy. */
static int
sandbox_is_readonly(lua_State *L, int idx)
{
	int ro;

	if (!lua_getmetatable(L, idx))
		return 0;
	ro = lua_rawgetp(L, -1, &sandbox_ro_key) != LUA_TNIL;
	lua_pop(L, 2);
	return ro;
}

/* rawset() that cannot write into a read-only proxy. */
static int
lua_sandbox_rawset(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checkany(L, 2);
	luaL_checkany(L, 3);
	luaL_checkstack(L, 2, NULL);
	if (sandbox_is_readonly(L, 1))
		return luaL_error(L, "attempt to modify a read-only table");
	lua_settop(L, 3);
	sandbox_fill_lazy(L, 1);
	/* It passes by the marker's __newindex: the restore must look. */
	if (sandbox_of(L) != NULL)
		sandbox_of(L)->globals_added = 1;
	lua_rawset(L, 1);
	return 1;
}

/*
 * string.rep() with its result capped at limits.max_string: the length is
 * n * #s + (n - 1) * #sep, computed without overflowing.
 */
static int
lua_sandbox_rep(lua_State *L)
{
	struct sandbox *sb = sandbox_of(L);
	size_t l, lsep, unit, total, max;
	const char *s = luaL_checklstring(L, 1, &l);
	lua_Integer n = luaL_checkinteger(L, 2);
	const char *sep = luaL_optlstring(L, 3, "", &lsep);
	luaL_Buffer b;
	char *p;

	max = sb != NULL ? sb->limits.max_string : SANDBOX_DEFAULT_MAX_STRING;
	if (n <= 0) {
		lua_pushliteral(L, "");
		return 1;
	}
	if (l > max || (n > 1 && lsep > max))
		goto toolarge;
	unit = l + lsep; /* both at most max: no overflow */
	if (unit != 0 && (uint64_t)(n - 1) > (max - l) / unit)
		goto toolarge;
	total = (size_t)(n - 1) * unit + l;
	if (total == 0) {
		/* Not n empty copies: n may be math.maxinteger. */
		lua_pushliteral(L, "");
		return 1;
	}
	sandbox_charge(L, total);
	p = luaL_buffinitsize(L, &b, total);
	while (n-- > 1) {
		memcpy(p, s, l);
		p += l;
		if (lsep != 0) {
			memcpy(p, sep, lsep);
			p += lsep;
		}
	}
	memcpy(p, s, l);
	luaL_pushresultsize(&b, total);
	return 1;

toolarge:
	return luaL_error(L, "resulting string too large (limit %d bytes)",
	    (int)(max > INT32_MAX ? INT32_MAX : max));
}

/* ---- Read-only proxies ------------------------------------------------- */

static int
lua_sandbox_ro_newindex(lua_State *L)
{
	return luaL_error(L, "attempt to modify a read-only table");
}

/*
 * next() over the real table, its upvalue, whatever table it is handed:
 * __pairs must not depend on the global next, nor give the real table
 * out (pairs() returns its state, and the real table is writable).
 */
static int
lua_sandbox_ro_next(lua_State *L)
{
	lua_settop(L, 2);
	if (lua_next(L, lua_upvalueindex(1)))
		return 2;
	lua_pushnil(L);
	return 1;
}

/* __pairs: the iterator above, upvalue 1, with the proxy as its state. */
static int
lua_sandbox_ro_pairs(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

static int
lua_sandbox_ro_len(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)lua_rawlen(L, lua_upvalueindex(1)));
	return 1;
}

void
sandbox_mark_readonly(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	lua_pushboolean(L, 1);
	lua_rawsetp(L, idx, &sandbox_ro_key);
}

void
sandbox_push_readonly(lua_State *L)
{
	luaL_checkstack(L, 4, NULL);
	lua_newtable(L);	      /* t proxy */
	lua_createtable(L, 0, 6); /* t proxy mt */
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, lua_sandbox_ro_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushvalue(L, -3);
	lua_pushcclosure(L, lua_sandbox_ro_next, 1);
	lua_pushcclosure(L, lua_sandbox_ro_pairs, 1);
	lua_setfield(L, -2, "__pairs");
	lua_pushvalue(L, -3);
	lua_pushcclosure(L, lua_sandbox_ro_len, 1);
	lua_setfield(L, -2, "__len");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_pushboolean(L, 1);
	lua_rawsetp(L, -2, &sandbox_ro_key);
	lua_setmetatable(L, -2); /* t proxy */
	lua_remove(L, -2);
}

/* ---- Lazy tables -------------------------------------------------------- */

/*
 * A lazy table is one the host fills as it is read (its __index makes a
 * member on first read): the alert a run gets, for one. Whatever sees the
 * table whole, or goes around __index, first has it filled: pairs() (the
 * __pairs below), next(), rawget(), rawset() and the walk of
 * sandbox_to_json() and sandbox_to_text(). A lazy table then reads as if
 * it had been filled up front.
 */
void
sandbox_fill_lazy(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
		return;
	if (lua_rawgetp(L, -1, &sandbox_lazy_key) != LUA_TFUNCTION) {
		lua_pop(L, 2);
		return;
	}
	lua_pushvalue(L, idx);
	lua_call(L, 1, 0);
	lua_pop(L, 1);
}

/* next() that sees a lazy table filled. */
static int
lua_sandbox_next(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 2);
	sandbox_fill_lazy(L, 1);
	if (lua_next(L, 1))
		return 2;
	lua_pushnil(L);
	return 1;
}

/* rawget() that sees a lazy table filled. */
static int
lua_sandbox_rawget(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checkany(L, 2);
	lua_settop(L, 2);
	sandbox_fill_lazy(L, 1);
	lua_rawget(L, 1);
	return 1;
}

/* __pairs of a lazy table: filled, then walked by next(). */
static int
lua_sandbox_lazy_pairs(lua_State *L)
{
	sandbox_fill_lazy(L, 1);
	lua_pushcfunction(L, lua_sandbox_next);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

void
sandbox_mark_lazy(lua_State *L, int mt, lua_CFunction fill)
{
	mt = lua_absindex(L, mt);
	lua_pushcfunction(L, fill);
	lua_rawsetp(L, mt, &sandbox_lazy_key);
	lua_pushcfunction(L, lua_sandbox_lazy_pairs);
	lua_setfield(L, mt, "__pairs");
}

/* ---- The state --------------------------------------------------------- */

/* Copies the listed fields of the table at from into the table at to. */
static void
sandbox_copy_fields(lua_State *L, int from, int to, const char *const *names)
{
	from = lua_absindex(L, from);
	to = lua_absindex(L, to);
	for (; *names != NULL; names++) {
		lua_getfield(L, from, *names);
		lua_setfield(L, to, *names);
	}
}

/* Puts a read-only proxy of the table at the top in globals[name], pops. */
static void
sandbox_set_library(lua_State *L, int globals, const char *name)
{
	sandbox_push_readonly(L);
	lua_setfield(L, globals, name);
}

/*
 * Opens the allowed libraries, run under lua_pcall() so running out of
 * memory half way is an error, not a panic. The libraries are opened into
 * the registry only; the globals are a fresh table holding exactly the
 * allowed functions, and the library tables in it are read-only proxies.
 */
static int
sandbox_setup(lua_State *L)
{
	int g, lib;

	luaL_checkstack(L, 8, NULL);
	lua_newtable(L);
	g = lua_gettop(L);

	/* luaopen_base fills the original global table: take from it. */
	luaL_requiref(L, LUA_GNAME, luaopen_base, 0);
	sandbox_copy_fields(L, -1, g, sandbox_base_allowed);
	lua_pop(L, 1);
	lua_pushcfunction(L, lua_sandbox_load);
	lua_setfield(L, g, "load");
	lua_pushcfunction(L, lua_sandbox_setmetatable);
	lua_setfield(L, g, "setmetatable");
	lua_pushcfunction(L, lua_sandbox_getmetatable);
	lua_setfield(L, g, "getmetatable");
	lua_pushcfunction(L, lua_sandbox_rawset);
	lua_setfield(L, g, "rawset");
	lua_pushcfunction(L, lua_sandbox_rawget);
	lua_setfield(L, g, "rawget");
	lua_pushcfunction(L, lua_sandbox_next);
	lua_setfield(L, g, "next");
	lua_pushcfunction(L, lua_sandbox_xpcall);
	lua_setfield(L, g, "xpcall");
	lua_pushvalue(L, g);
	lua_setfield(L, g, LUA_GNAME);
	lua_pushvalue(L, g);
	lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);

	/*
	 * The real string table stays reachable through the string
	 * metatable's __index, so it is edited in place.
	 */
	luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
	lib = lua_gettop(L);
	lua_pushnil(L);
	lua_setfield(L, lib, "dump");
	lua_pushcfunction(L, lua_sandbox_rep);
	lua_setfield(L, lib, "rep");
	lua_pushliteral(L, "");
	if (!lua_getmetatable(L, -1))
		return luaL_error(L, "strings have no metatable");
	lua_pushvalue(L, lib);
	lua_setfield(L, -2, "__index");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 2);
	sandbox_set_library(L, g, LUA_STRLIBNAME);

	luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 0);
	lua_pushnil(L);
	lua_setfield(L, -2, "move");
	sandbox_set_library(L, g, LUA_TABLIBNAME);

	luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 0);
	sandbox_set_library(L, g, LUA_MATHLIBNAME);

	luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 0);
	sandbox_set_library(L, g, LUA_UTF8LIBNAME);

	luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
	lua_createtable(L, 0, 3);
	sandbox_copy_fields(L, -2, lua_gettop(L), sandbox_os_allowed);
	lua_remove(L, -2);
	sandbox_set_library(L, g, LUA_OSLIBNAME);

	/* The loaded-modules table would keep the originals alive. */
	lua_pushnil(L);
	lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_settop(L, 0);
	return 0;
}

struct sandbox *
sandbox_new(const struct sandbox_limits *limits, char *err, size_t errlen)
{
	struct sandbox *sb;
	int status;

	if ((sb = calloc(1, sizeof *sb)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (limits != NULL)
		sb->limits = *limits;
	if (sb->limits.memory == 0)
		sb->limits.memory = SANDBOX_DEFAULT_MEMORY;
	if (sb->limits.instructions == 0)
		sb->limits.instructions = SANDBOX_DEFAULT_INSTRUCTIONS;
	if (sb->limits.max_string == 0)
		sb->limits.max_string = SANDBOX_DEFAULT_MAX_STRING;
	sb->snap_ref = LUA_NOREF;
	sb->snap_mt_ref = LUA_NOREF;
	sb->snap_keys_ref = LUA_NOREF;

	if ((sb->L = lua_newstate(sandbox_alloc, sb)) == NULL) {
		snprintf(err, errlen, "cannot create a Lua state in %zu bytes",
		    sb->limits.memory);
		sandbox_cache_drain(sb); /* what the failed state gave back */
		free(sb);
		return NULL;
	}
	lua_pushcfunction(sb->L, sandbox_setup);
	status = lua_pcall(sb->L, 0, 0, 0);
	if (status != LUA_OK) {
		snprintf(err, errlen, "cannot set up the Lua state: %s",
		    lua_type(sb->L, -1) == LUA_TSTRING ? lua_tostring(sb->L, -1)
						       : "unknown error");
		sandbox_free(sb);
		return NULL;
	}
	/*
	 * A run leaves mostly young garbage (the alert's strings, the
	 * request tables): generational collection frees it while it is
	 * young, so the string table and the heap stay small and warm.
	 */
	lua_gc(sb->L, LUA_GCGEN, 0, 0);
	sandbox_arm(sb);
	return sb;
}

void
sandbox_free(struct sandbox *sb)
{
	if (sb == NULL)
		return;
	lua_close(sb->L);
	sandbox_cache_drain(sb);
	free(sb->snap_vals);
	free(sb);
}

lua_State *
sandbox_state(struct sandbox *sb)
{
	return sb->L;
}

struct sandbox *
sandbox_of(lua_State *L)
{
	void *ud;

	if (lua_getallocf(L, &ud) != sandbox_alloc)
		return NULL;
	return ud;
}

size_t
sandbox_memory(const struct sandbox *sb)
{
	return sb->used;
}

size_t
sandbox_memory_peak(const struct sandbox *sb)
{
	return sb->peak;
}

/* ---- Loading and calling ----------------------------------------------- */

/* Copies the string at the top of the stack, or says what it was. */
static void
sandbox_copy_error(lua_State *L, char *err, size_t errlen)
{
	int t = lua_type(L, -1);

	if (t == LUA_TSTRING)
		snprintf(err, errlen, "%s", lua_tostring(L, -1));
	else
		snprintf(err, errlen, "(error object is a %s value)",
		    lua_typename(L, t));
}

/* The registry key of the last chunk loaded, whose upvalue 1 is _ENV. */
static const char key_chunk;

static int
sandbox_keep_chunk_cb(lua_State *L)
{
	lua_pushvalue(L, 1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &key_chunk);
	return 0;
}

enum sandbox_err
sandbox_load(struct sandbox *sb, const char *text, size_t len,
    const char *chunkname, char *err, size_t errlen)
{
	lua_State *L = sb->L;
	int status;

	/* Said before lua_load does, in words a playbook author reads. */
	if (len > 0 && text[0] == LUA_SIGNATURE[0]) {
		snprintf(err, errlen, "%s: binary chunks are not allowed",
		    chunkname != NULL ? chunkname : "?");
		return SANDBOX_ERR_SYNTAX;
	}
	if (!lua_checkstack(L, 1)) {
		snprintf(err, errlen, "not enough memory");
		return SANDBOX_ERR_MEMORY;
	}
	/* lua_load runs the parser protected, under the same allocator. */
	status = luaL_loadbufferx(L, text, len, chunkname, "t");
	if (status == LUA_OK) {
		/* Kept for its _ENV (sandbox_restore_globals); protected, as
		 * the registry may have to grow. */
		if (!lua_checkstack(L, 3))
			return SANDBOX_OK;
		lua_pushcfunction(L, sandbox_keep_chunk_cb);
		lua_pushvalue(L, -2);
		if (lua_pcall(L, 1, 0, 0) != LUA_OK)
			lua_pop(L, 1);
		return SANDBOX_OK;
	}
	sandbox_copy_error(L, err, errlen);
	lua_pop(L, 1);
	return status == LUA_ERRMEM ? SANDBOX_ERR_MEMORY : SANDBOX_ERR_SYNTAX;
}

/*
 * The message handler of sandbox_call(): it reads strings and numbers only,
 * so no metamethod of the error value runs, in Lua or in the host.
 */
int
sandbox_msgh(lua_State *L)
{
	int t = lua_type(L, 1);

	if (t == LUA_TSTRING)
		return 1;
	if (t == LUA_TNUMBER) {
		lua_pushvalue(L, 1);
		lua_tolstring(L, -1, NULL);
		return 1;
	}
	lua_pushfstring(L, "(error object is a %s value)", lua_typename(L, t));
	return 1;
}

enum sandbox_err
sandbox_call(struct sandbox *sb, int nargs, int nresults, char *err,
    size_t errlen)
{
	lua_State *L = sb->L;
	int base = lua_gettop(L) - nargs, status;
	uint64_t refused = sb->refused;
	enum sandbox_err e;

	if (!lua_checkstack(L, 1)) {
		lua_settop(L, base - 1);
		snprintf(err, errlen, "not enough memory");
		return SANDBOX_ERR_MEMORY;
	}
	sb->steps = 0;
	sb->exhausted = 0;
	sandbox_arm(sb);

	lua_pushcfunction(L, sandbox_msgh);
	lua_insert(L, base);
	status = lua_pcall(L, nargs, nresults, base);
	/*
	 * The ceiling turned an allocation down: collect now, or the
	 * garbage of this call (a caught error leaves it too) counts
	 * against the next, whose luaL_Buffer allocations would fail
	 * without the emergency collection Lua's own allocations get.
	 */
	if (sb->refused != refused)
		lua_gc(L, LUA_GCCOLLECT);
	if (status == LUA_OK && !sb->exhausted) {
		lua_remove(L, base);
		return SANDBOX_OK;
	}
	if (sb->exhausted) {
		e = SANDBOX_ERR_INSTRUCTIONS;
		snprintf(err, errlen, "instruction budget of %llu exceeded",
		    (unsigned long long)sb->limits.instructions);
	} else {
		sandbox_copy_error(L, err, errlen);
		/*
		 * A luaL_Buffer that cannot grow raises "not enough memory"
		 * as an ordinary error.
		 */
		if (status == LUA_ERRMEM ||
		    (sb->refused != refused &&
			lua_type(L, -1) == LUA_TSTRING &&
			strcmp(lua_tostring(L, -1), "not enough memory") == 0))
			e = SANDBOX_ERR_MEMORY;
		else
			e = SANDBOX_ERR_RUNTIME;
	}
	lua_settop(L, base - 1);
	return e;
}

/* ---- Globals snapshot -------------------------------------------------- */

/*
 * A run's writes to the globals must not reach the next run, and most
 * runs write none: the restore first checks, cheaply, that nothing
 * changed, and walks the globals only when something may have.
 *
 * A global can change in two ways. A key the snapshot has can be given
 * another value (or nil); the check compares those few values with the
 * snapshot's. Or a key can be added: Lua stores into an absent (or nil)
 * key only through the table's __newindex, so the globals get a marker
 * metatable whose __newindex stores exactly as the plain assignment
 * would and notes that a key was added; rawset notes it too. Lua code
 * does not see the marker (getmetatable() hides it) and cannot reach its
 * __newindex; giving the globals another metatable (or none) replaces
 * it, which the check sees. The globals must have no metatable of their
 * own when the snapshot is taken, or every restore walks them.
 */

/* Under lua_pcall: rawset(t, k, v) of a key Lua refuses. */
static int
sandbox_globals_refused_cb(lua_State *L)
{
	lua_rawset(L, 1);
	return 0;
}

/* The marker's __newindex (t, k, v): rawset, with the same errors. */
static int
lua_sandbox_globals_newindex(lua_State *L)
{
	struct sandbox *sb = sandbox_of(L);

	lua_settop(L, 3);
	/*
	 * A nil or NaN key is refused (before anything is allocated). Lua's
	 * own message, with the position a plain assignment gives it: the
	 * assigning function's, here the caller's.
	 */
	if (lua_isnil(L, 2) || (lua_type(L, 2) == LUA_TNUMBER &&
	    !lua_isinteger(L, 2) && isnan(lua_tonumber(L, 2)))) {
		lua_pushcfunction(L, sandbox_globals_refused_cb);
		lua_insert(L, 1);
		if (lua_pcall(L, 3, 0, 0) == LUA_OK)
			return 0;
		luaL_where(L, 1);
		lua_insert(L, -2);
		lua_concat(L, 2);
		return lua_error(L);
	}
	if (sb != NULL)
		sb->globals_added = 1;
	lua_rawset(L, 1);
	return 0;
}

/* Records the value at the top of the stack for the quick check. */
static void
sandbox_snap_record(lua_State *L, struct sandbox_snap_val *v)
{
	v->type = lua_type(L, -1);
	v->isint = lua_isinteger(L, -1);
	v->p = lua_topointer(L, -1);
	v->i = v->type == LUA_TBOOLEAN ? lua_toboolean(L, -1)
				       : lua_tointeger(L, -1);
	v->n = lua_tonumber(L, -1);
}

/* Whether the value at the top is the one recorded in v, exactly. */
static int
sandbox_snap_same(lua_State *L, const struct sandbox_snap_val *v)
{
	int t = lua_type(L, -1);

	if (t != v->type)
		return 0;
	switch (t) {
	case LUA_TBOOLEAN:
		return lua_toboolean(L, -1) == v->i;
	case LUA_TNUMBER:
		if (lua_isinteger(L, -1))
			return v->isint && lua_tointeger(L, -1) == v->i;
		return !v->isint && lua_tonumber(L, -1) == v->n;
	default:
		return lua_topointer(L, -1) == v->p;
	}
}

static int
sandbox_snapshot_cb(lua_State *L)
{
	struct sandbox *sb = lua_touserdata(L, 1);
	struct sandbox_snap_val *vals;
	size_t n = 0;
	int ref, mt, keys, marked;

	luaL_checkstack(L, 6, NULL);
	lua_newtable(L); /* 2: snapshot */
	lua_pushglobaltable(L); /* 3 */
	lua_newtable(L); /* 4: the keys, an array */
	lua_pushnil(L);
	while (lua_next(L, 3) != 0) {
		lua_pushvalue(L, -2);
		lua_rawseti(L, 4, (lua_Integer)++n);
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, 2);
	}
	/*
	 * The globals' own metatable, normally nil, is part of the state;
	 * when they have none they get the marker (made once, kept in the
	 * registry). All references are taken before any is dropped, so a
	 * memory error leaves the previous snapshot whole.
	 */
	if (!lua_getmetatable(L, 3))
		lua_pushnil(L);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &sandbox_marker_key);
	marked = lua_isnil(L, -2) || lua_rawequal(L, -1, -2);
	if (marked && lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_createtable(L, 0, 1);
		lua_pushcfunction(L, lua_sandbox_globals_newindex);
		lua_setfield(L, -2, "__newindex");
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &sandbox_marker_key);
	}
	if (marked)
		lua_replace(L, -2);
	else
		lua_pop(L, 1);
	lua_pushvalue(L, -1);
	mt = luaL_ref(L, LUA_REGISTRYINDEX); /* the metatable stays at 5 */
	lua_pushvalue(L, 4);
	keys = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushvalue(L, 2);
	ref = luaL_ref(L, LUA_REGISTRYINDEX);
	if ((vals = calloc(n + 1, sizeof *vals)) == NULL) {
		luaL_unref(L, LUA_REGISTRYINDEX, ref);
		luaL_unref(L, LUA_REGISTRYINDEX, keys);
		luaL_unref(L, LUA_REGISTRYINDEX, mt);
		return luaL_error(L, "not enough memory");
	}
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, 4, (lua_Integer)i + 1);
		lua_rawget(L, 2);
		sandbox_snap_record(L, &vals[i]);
		lua_pop(L, 1);
	}
	luaL_unref(L, LUA_REGISTRYINDEX, sb->snap_ref);
	luaL_unref(L, LUA_REGISTRYINDEX, sb->snap_mt_ref);
	luaL_unref(L, LUA_REGISTRYINDEX, sb->snap_keys_ref);
	free(sb->snap_vals);
	sb->snap_ref = ref;
	sb->snap_mt_ref = mt;
	sb->snap_keys_ref = keys;
	sb->snap_vals = vals;
	sb->snap_count = n;
	sb->marker = marked ? lua_topointer(L, 5) : NULL;
	sb->globals_added = 0;
	if (marked)
		lua_setmetatable(L, 3);
	return 0;
}

/*
 * If memory runs out the previous snapshot is kept (or none), so a later
 * restore does at worst nothing.
 */
void
sandbox_snapshot_globals(struct sandbox *sb)
{
	lua_State *L = sb->L;

	if (!lua_checkstack(L, 2))
		return;
	lua_pushcfunction(L, sandbox_snapshot_cb);
	lua_pushlightuserdata(L, sb);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK)
		lua_pop(L, 1);
}

/*
 * Whether the globals are still exactly the snapshot: marked, no key
 * added, the snapshot's keys holding the same values, the chunk's _ENV
 * still the globals. Nothing here allocates or raises (raw reads only),
 * so it runs unprotected.
 */
static int
sandbox_globals_unchanged(struct sandbox *sb)
{
	lua_State *L = sb->L;
	int top = lua_gettop(L), same;

	if (sb->marker == NULL || sb->globals_added)
		return 0;
	lua_pushglobaltable(L); /* top + 1 */
	same = lua_getmetatable(L, top + 1) &&
	    lua_topointer(L, -1) == sb->marker;
	lua_settop(L, top + 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, sb->snap_keys_ref); /* top + 2 */
	for (size_t i = 0; same && i < sb->snap_count; i++) {
		lua_rawgeti(L, top + 2, (lua_Integer)i + 1);
		lua_rawget(L, top + 1);
		same = sandbox_snap_same(L, &sb->snap_vals[i]);
		lua_pop(L, 1);
	}
	if (same && lua_rawgetp(L, LUA_REGISTRYINDEX, &key_chunk) ==
		LUA_TFUNCTION) {
		const char *name = lua_getupvalue(L, -1, 1);
		if (name != NULL && strcmp(name, "_ENV") == 0)
			same = lua_rawequal(L, -1, top + 1);
	}
	lua_settop(L, top);
	return same;
}

static int
sandbox_restore_cb(lua_State *L)
{
	struct sandbox *sb = lua_touserdata(L, 1);
	size_t kept = 0;

	luaL_checkstack(L, 6, NULL);
	lua_rawgeti(L, LUA_REGISTRYINDEX, sb->snap_ref); /* 2: snapshot */
	lua_pushglobaltable(L);				 /* 3 */

	/*
	 * One pass over the globals removes what the run added and puts
	 * back what it changed: clearing or changing existing fields during
	 * a traversal is allowed. Only if some snapshot key is then missing
	 * is the snapshot walked as well.
	 */
	lua_pushnil(L);
	while (lua_next(L, 3) != 0) { /* 4 key, 5 value */
		lua_pushvalue(L, 4);
		if (lua_rawget(L, 2) == LUA_TNIL) { /* 6 */
			lua_pushvalue(L, 4);
			lua_pushnil(L);
			lua_rawset(L, 3);
		} else {
			kept++;
			if (!lua_rawequal(L, 5, 6)) {
				lua_pushvalue(L, 4);
				lua_pushvalue(L, 6);
				lua_rawset(L, 3);
			}
		}
		lua_pop(L, 2);
	}
	if (kept != sb->snap_count) {
		lua_pushnil(L);
		while (lua_next(L, 2) != 0) {
			lua_pushvalue(L, -2);
			if (lua_rawget(L, 3) == LUA_TNIL) {
				lua_pop(L, 1);
				lua_pushvalue(L, -2);
				lua_insert(L, -2);
				lua_rawset(L, 3);
			} else
				lua_pop(L, 2);
		}
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, sb->snap_mt_ref);
	if (!lua_getmetatable(L, 3))
		lua_pushnil(L);
	if (!lua_rawequal(L, -1, -2)) {
		lua_pop(L, 1);
		lua_setmetatable(L, 3);
	}
	lua_settop(L, 3);
	/*
	 * `_ENV = t` in a run rebinds the chunk's _ENV, shared by every
	 * function of the file: the next run would read its globals from t.
	 * Bound to the globals again.
	 */
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &key_chunk) == LUA_TFUNCTION) {
		const char *name = lua_getupvalue(L, 4, 1); /* 5 */
		if (name != NULL && strcmp(name, "_ENV") == 0 &&
		    !lua_rawequal(L, 5, 3)) {
			lua_pushvalue(L, 3);
			lua_setupvalue(L, 4, 1);
		}
	}
	return 0;
}

/*
 * If memory runs out half way (re-adding a removed global can allocate),
 * the globals are left partly restored and the next restore finishes the
 * job; no error reaches the caller.
 */
void
sandbox_restore_globals(struct sandbox *sb)
{
	lua_State *L = sb->L;

	if (sb->snap_ref == LUA_NOREF || sb->snap_ref == LUA_REFNIL ||
	    !lua_checkstack(L, 4) || sandbox_globals_unchanged(sb))
		return;
	lua_pushcfunction(L, sandbox_restore_cb);
	lua_pushlightuserdata(L, sb);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK)
		lua_pop(L, 1);
	else
		sb->globals_added = 0; /* the globals are the snapshot again */
}

/* ---- Lua -> JSON ------------------------------------------------------- */

/*
 * One walk of the table serves two sinks: jansson values for the callers
 * that keep a tree (playbook loading, fixtures, assets), or compact JSON
 * text appended to a buffer for the hot path (a run's requests go straight
 * into the worker's result). Checks, limits and messages are the walk's,
 * so both sinks accept and refuse exactly the same values.
 *
 * Where the conversion is, kept as the keys and indexes that lead there
 * and written out only for an error: most tables convert without one.
 * A key points into a Lua string that lua_next keeps on the stack.
 */
struct sandbox_tj_step {
	const char *key; /* NULL: an array index */
	size_t klen;
	lua_Integer index;
};

struct sandbox_tj {
	int max_depth;
	const char *what;
	char *err;
	size_t errlen;
	int failed;
	json_t *root; /* everything built so far hangs from here */
	struct audit_buf *text; /* the text sink; NULL: jansson values */
	size_t elements, bytes;
	struct sandbox_tj_step steps[SANDBOX_DEPTH_CAP + 1];
	int nsteps;
	char path[SANDBOX_PATH_MAX]; /* the steps written out, for errors */
	size_t pathlen;
	const void *seen[SANDBOX_DEPTH_CAP]; /* tables on the current path */
};

static void sandbox_tj_render(struct sandbox_tj *);

static int sandbox_tj_fail(struct sandbox_tj *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
sandbox_tj_fail(struct sandbox_tj *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sandbox_tj_render(c);
	snprintf(c->err, c->errlen, "at %s: %s", c->path, msg);
	c->failed = 1;
	return -1;
}

/* Appends to the path, control characters made harmless for logs. */
static void sandbox_tj_path(struct sandbox_tj *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
sandbox_tj_path(struct sandbox_tj *c, const char *fmt, ...)
{
	va_list ap;
	size_t i;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->path + c->pathlen, sizeof c->path - c->pathlen, fmt,
	    ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof c->path - c->pathlen)
		n = (int)(sizeof c->path - c->pathlen - 1);
	for (i = c->pathlen; i < c->pathlen + (size_t)n; i++) {
		if ((unsigned char)c->path[i] < 0x20 || c->path[i] == 0x7f)
			c->path[i] = '?';
	}
	c->pathlen += (size_t)n;
}

/* Writes the path of the steps taken into c->path. */
static void
sandbox_tj_render(struct sandbox_tj *c)
{
	c->pathlen = 0;
	c->path[0] = '\0';
	sandbox_tj_path(c, "%s", c->what);
	for (int i = 0; i < c->nsteps; i++) {
		const struct sandbox_tj_step *st = &c->steps[i];
		size_t cut;

		if (st->key == NULL) {
			sandbox_tj_path(c, "[%lld]", (long long)st->index);
			continue;
		}
		cut = st->klen < SANDBOX_PATH_KEY ? st->klen : SANDBOX_PATH_KEY;
		while (cut < st->klen && cut > 0 &&
		    (st->key[cut] & 0xc0) == 0x80)
			cut--;
		sandbox_tj_path(c, ".%.*s%s", (int)cut, st->key,
		    cut < st->klen ? "..." : "");
	}
}

/* NULL when s is valid UTF-8 without NUL, else what is wrong. */
static const char *
sandbox_utf8_check(const unsigned char *s, size_t len)
{
	size_t bad = utf8_check(s, len, 0, NULL);

	if (bad == len)
		return NULL;
	return s[bad] == 0 ? "a NUL byte" : "invalid UTF-8";
}

static int
sandbox_tj_string(struct sandbox_tj *c, const char *s, size_t len,
    const char *what)
{
	const char *bad;

	if (len > SANDBOX_JSON_MAX_BYTES - c->bytes)
		return sandbox_tj_fail(c, "more than %d bytes of strings",
		    SANDBOX_JSON_MAX_BYTES);
	c->bytes += len;
	if ((bad = sandbox_utf8_check((const unsigned char *)s, len)) != NULL)
		return sandbox_tj_fail(c, "%s with %s", what, bad);
	return 0;
}

/* Hangs v (a new reference, NULL if it could not be made) from parent. */
static int
sandbox_tj_attach(struct sandbox_tj *c, json_t *parent, const char *key,
    json_t *v)
{
	int r;

	if (v == NULL)
		return sandbox_tj_fail(c, "out of memory");
	if (parent == NULL) {
		c->root = v;
		return 0;
	}
	if (key == NULL)
		r = json_array_append_new(parent, v);
	else
		r = json_object_set_new_nocheck(parent, key, v);
	if (r != 0)
		return sandbox_tj_fail(c, "out of memory");
	return 0;
}

/* The text sink: bytes as they are (punctuation, numbers). */
static int
sandbox_tj_put(struct sandbox_tj *c, const char *p, size_t n)
{
	if (audit_buf_put(c->text, p, n) == -1)
		return sandbox_tj_fail(c, "out of memory");
	return 0;
}

/* The text sink: what comes before an object's member (key checked). */
static int
sandbox_tj_put_key(struct sandbox_tj *c, const char *key, size_t klen,
    int first)
{
	if ((!first && audit_buf_put(c->text, ",", 1) == -1) ||
	    audit_canon_string(c->text, key, klen) == -1 ||
	    audit_buf_put(c->text, ":", 1) == -1)
		return sandbox_tj_fail(c, "out of memory");
	return 0;
}

static int sandbox_tj_value(lua_State *, struct sandbox_tj *, int, int,
    json_t *, const char *);

/*
 * Fills the array or object v (already attached) from the table at idx.
 * Its keys were checked by sandbox_tj_table.
 */
static int
sandbox_tj_fill(lua_State *L, struct sandbox_tj *c, int idx, int depth,
    json_t *v, lua_Integer n)
{
	struct sandbox_tj_step *st = &c->steps[c->nsteps];
	size_t klen;
	const char *key;
	int first = 1;

	/* Fills happen no deeper than max_depth <= SANDBOX_DEPTH_CAP. */
	c->nsteps++;
	if (n > 0) {
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, idx, i);
			*st = (struct sandbox_tj_step){NULL, 0, i};
			if (c->text != NULL && i > 1 &&
			    sandbox_tj_put(c, ",", 1) != 0)
				return -1;
			if (sandbox_tj_value(L, c, lua_gettop(L), depth, v,
				NULL) != 0)
				return -1;
			lua_pop(L, 1);
		}
		c->nsteps--;
		return 0;
	}
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		key = lua_tolstring(L, -2, &klen); /* a string: checked */
		/* A bad key is reported at its table. */
		c->nsteps--;
		if (sandbox_tj_string(c, key, klen, "a key") != 0)
			return -1;
		c->nsteps++;
		*st = (struct sandbox_tj_step){key, klen, 0};
		if (c->text != NULL &&
		    sandbox_tj_put_key(c, key, klen, first) != 0)
			return -1;
		first = 0;
		if (sandbox_tj_value(L, c, lua_gettop(L), depth, v, key) != 0)
			return -1;
		lua_pop(L, 1);
	}
	c->nsteps--;
	return 0;
}

/* Converts the table at idx, depth deep, and hangs it from parent. */
static int
sandbox_tj_table(lua_State *L, struct sandbox_tj *c, int idx, int depth,
    json_t *parent, const char *key)
{
	const void *p = lua_topointer(L, idx);
	lua_Integer nint = 0, minint = 0, maxint = 0, k;
	size_t nstr = 0;
	json_t *v;
	int i, t;

	if (depth > c->max_depth)
		return sandbox_tj_fail(c, "nested deeper than %d",
		    c->max_depth);
	for (i = 0; i < depth - 1; i++) {
		if (c->seen[i] == p)
			return sandbox_tj_fail(c, "a cycle");
	}
	c->seen[depth - 1] = p;
	if (!lua_checkstack(L, 4))
		return sandbox_tj_fail(c, "out of memory");
	sandbox_fill_lazy(L, idx);

	/* Keys first: an array has exactly 1..n, an object strings only. */
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		t = lua_type(L, -1);
		if (t == LUA_TSTRING) {
			nstr++;
			continue;
		}
		if (t != LUA_TNUMBER || !lua_isinteger(L, -1)) {
			t = sandbox_tj_fail(c, "a %s key",
			    t == LUA_TNUMBER ? "float" : lua_typename(L, t));
			lua_pop(L, 1);
			return t;
		}
		k = lua_tointeger(L, -1);
		if (nint == 0 || k < minint)
			minint = k;
		if (nint == 0 || k > maxint)
			maxint = k;
		nint++;
	}
	if (nint > 0 && nstr > 0)
		return sandbox_tj_fail(c, "a table with both string and "
					  "integer keys");
	if (nint > 0 && (minint != 1 || maxint != nint))
		return sandbox_tj_fail(c, "an array whose keys are not 1..n");

	if (c->text != NULL) {
		if (sandbox_tj_put(c, nint > 0 ? "[" : "{", 1) != 0 ||
		    sandbox_tj_fill(L, c, idx, depth + 1, NULL, nint) != 0)
			return -1;
		return sandbox_tj_put(c, nint > 0 ? "]" : "}", 1);
	}
	v = nint > 0 ? json_array() : json_object();
	if (sandbox_tj_attach(c, parent, key, v) != 0)
		return -1;
	return sandbox_tj_fill(L, c, idx, depth + 1, v, nint);
}

static int
sandbox_tj_value(lua_State *L, struct sandbox_tj *c, int idx, int depth,
    json_t *parent, const char *key)
{
	const char *s;
	lua_Number d;
	size_t len;
	int t = lua_type(L, idx);

	if (++c->elements > SANDBOX_JSON_MAX_ELEMENTS)
		return sandbox_tj_fail(c, "more than %d elements",
		    SANDBOX_JSON_MAX_ELEMENTS);
	switch (t) {
	case LUA_TNIL:
		if (c->text != NULL)
			return sandbox_tj_put(c, "null", 4);
		return sandbox_tj_attach(c, parent, key, json_null());
	case LUA_TBOOLEAN:
		if (c->text != NULL)
			return lua_toboolean(L, idx) ? sandbox_tj_put(c, "true", 4)
						     : sandbox_tj_put(c, "false", 5);
		return sandbox_tj_attach(c, parent, key,
		    json_boolean(lua_toboolean(L, idx)));
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			if (c->text != NULL)
				return audit_canon_int(c->text, (int64_t)
				    lua_tointeger(L, idx)) == -1 ?
				    sandbox_tj_fail(c, "out of memory") : 0;
			return sandbox_tj_attach(c, parent, key,
			    json_integer(lua_tointeger(L, idx)));
		}
		d = lua_tonumber(L, idx);
		if (!isfinite(d))
			return sandbox_tj_fail(c, "a number that is not "
						  "finite");
		if (c->text != NULL)
			return audit_canon_real(c->text, d) == -1 ?
			    sandbox_tj_fail(c, "out of memory") : 0;
		return sandbox_tj_attach(c, parent, key, json_real(d));
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		if (sandbox_tj_string(c, s, len, "a string") != 0)
			return -1;
		if (c->text != NULL) {
			if (audit_canon_string(c->text, s, len) == -1)
				return sandbox_tj_fail(c, "out of memory");
			return 0;
		}
		return sandbox_tj_attach(c, parent, key,
		    json_stringn_nocheck(s, len));
	case LUA_TTABLE:
		return sandbox_tj_table(L, c, idx, depth, parent, key);
	default:
		return sandbox_tj_fail(c, "a %s value", lua_typename(L, t));
	}
}

/* Under lua_pcall: 1 the value, 2 the context. */
static int
sandbox_tj_cb(lua_State *L)
{
	struct sandbox_tj *c = lua_touserdata(L, 2);

	sandbox_tj_value(L, c, 1, 1, NULL, NULL);
	return 0;
}

/*
 * The walk, protected, into c->text or a tree at c->root. Only the fields
 * the walk reads before writing are set: the context is large (its path
 * and steps), and a request converts one small table.
 */
static int
sandbox_tj_run(lua_State *L, struct sandbox_tj *c, int idx, int max_depth,
    const char *what, char *err, size_t errlen)
{
	c->max_depth = max_depth < SANDBOX_DEPTH_CAP ? max_depth
						     : SANDBOX_DEPTH_CAP;
	c->what = what != NULL ? what : "value";
	c->err = err;
	c->errlen = errlen;
	c->failed = 0;
	c->root = NULL;
	c->elements = c->bytes = 0;
	c->nsteps = 0;
	c->pathlen = 0;
	c->path[0] = '\0';

	idx = lua_absindex(L, idx);
	if (!lua_checkstack(L, 3)) {
		sandbox_tj_render(c);
		snprintf(err, errlen, "at %s: out of memory", c->path);
		return -1;
	}
	lua_pushcfunction(L, sandbox_tj_cb);
	lua_pushvalue(L, idx);
	lua_pushlightuserdata(L, c);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
		/*
		 * Nothing in the walk raises (it fails through
		 * sandbox_tj_fail, with the path); a guard all the same.
		 * The steps' keys are off the stack now: the path shown is
		 * the value's own.
		 */
		if (!c->failed) {
			c->nsteps = 0;
			sandbox_tj_render(c);
			snprintf(err, errlen, "at %s: %s", c->path,
			    lua_type(L, -1) == LUA_TSTRING
				? lua_tostring(L, -1)
				: "out of memory");
		}
		lua_pop(L, 1);
		c->failed = 1;
	}
	if (c->failed) {
		json_decref(c->root);
		c->root = NULL;
		return -1;
	}
	return 0;
}

json_t *
sandbox_to_json(lua_State *L, int idx, int max_depth, const char *what,
    char *err, size_t errlen)
{
	struct sandbox_tj c;

	c.text = NULL;
	if (sandbox_tj_run(L, &c, idx, max_depth, what, err, errlen) != 0)
		return NULL;
	return c.root;
}

int
sandbox_to_text(lua_State *L, int idx, int max_depth, const char *what,
    struct audit_buf *out, char *err, size_t errlen)
{
	struct sandbox_tj c;
	size_t start = out->len;

	c.text = out;
	if (sandbox_tj_run(L, &c, idx, max_depth, what, err, errlen) != 0) {
		out->len = start;
		return -1;
	}
	return 0;
}

/* ---- JSON -> Lua ------------------------------------------------------- */

/* What to push: a jansson value, or the top of a json_scan parse. */
struct sandbox_pj {
	const json_t *v;
	const struct jscan *js;
	int max_depth;
};

static void
sandbox_pj_value(lua_State *L, const json_t *v, int depth, int max_depth)
{
	const char *key;
	json_t *e;
	size_t i, klen, n;

	luaL_checkstack(L, 3, NULL);
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (depth > max_depth)
			luaL_error(L, "nested deeper than %d", max_depth);
		n = json_object_size(v);
		lua_createtable(L, 0, n > INT_MAX ? INT_MAX : (int)n);
		json_object_keylen_foreach((json_t *)v, key, klen, e) {
			if (json_is_null(e))
				continue;
			lua_pushlstring(L, key, klen);
			sandbox_pj_value(L, e, depth + 1, max_depth);
			lua_rawset(L, -3);
		}
		break;
	case JSON_ARRAY:
		if (depth > max_depth)
			luaL_error(L, "nested deeper than %d", max_depth);
		n = json_array_size(v);
		lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 0);
		json_array_foreach(v, i, e) {
			if (json_is_null(e))
				continue; /* a hole */
			sandbox_pj_value(L, e, depth + 1, max_depth);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(v));
		break;
	case JSON_REAL:
		lua_pushnumber(L, (lua_Number)json_real_value(v));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	case JSON_NULL:
		lua_pushnil(L);
		break;
	}
}

/* sandbox_pj_value() for a json_scan value: nulls are left out alike. */
static void
sandbox_pjs_value(lua_State *L, const struct jscan *js,
    const struct jscan_value *v, int depth, int max_depth)
{
	const struct jscan_value *c;
	lua_Integer i = 0;

	luaL_checkstack(L, 3, NULL);
	switch ((enum jscan_type)v->type) {
	case JSCAN_OBJECT:
		if (depth > max_depth)
			luaL_error(L, "nested deeper than %d", max_depth);
		lua_createtable(L, 0, v->count > INT_MAX ? INT_MAX :
		    (int)v->count);
		for (c = jscan_first(js, v); c != NULL; c = jscan_next(js, c)) {
			if (c->type == JSCAN_NULL)
				continue;
			lua_pushlstring(L, c->key, c->keylen);
			sandbox_pjs_value(L, js, c, depth + 1, max_depth);
			lua_rawset(L, -3);
		}
		break;
	case JSCAN_ARRAY:
		if (depth > max_depth)
			luaL_error(L, "nested deeper than %d", max_depth);
		lua_createtable(L, v->count > INT_MAX ? INT_MAX :
		    (int)v->count, 0);
		for (c = jscan_first(js, v); c != NULL; c = jscan_next(js, c)) {
			i++;
			if (c->type == JSCAN_NULL)
				continue; /* a hole */
			sandbox_pjs_value(L, js, c, depth + 1, max_depth);
			lua_rawseti(L, -2, i);
		}
		break;
	case JSCAN_STRING:
		lua_pushlstring(L, v->u.str.s, v->u.str.len);
		break;
	case JSCAN_INTEGER:
		lua_pushinteger(L, (lua_Integer)v->u.i);
		break;
	case JSCAN_REAL:
		lua_pushnumber(L, (lua_Number)v->u.d);
		break;
	case JSCAN_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSCAN_FALSE:
		lua_pushboolean(L, 0);
		break;
	case JSCAN_NULL:
		lua_pushnil(L);
		break;
	}
}

void
sandbox_push_jscan_value(lua_State *L, const struct jscan *js,
    const struct jscan_value *v, int depth, int max_depth)
{
	sandbox_pjs_value(L, js, v, depth, max_depth);
}

/* Under lua_pcall: 1 the context; returns the value. */
static int
sandbox_pj_cb(lua_State *L)
{
	struct sandbox_pj *c = lua_touserdata(L, 1);

	if (c->js != NULL)
		sandbox_pjs_value(L, c->js, jscan_root(c->js), 1,
		    c->max_depth);
	else
		sandbox_pj_value(L, c->v, 1, c->max_depth);
	return 1;
}

/* Pushes what c names, protected: no Lua error escapes. */
static int
sandbox_pj_push(lua_State *L, struct sandbox_pj *c, int max_depth)
{
	if (!lua_checkstack(L, 2))
		return -1;
	c->max_depth = max_depth < SANDBOX_DEPTH_CAP ? max_depth
						     : SANDBOX_DEPTH_CAP;
	lua_pushcfunction(L, sandbox_pj_cb);
	lua_pushlightuserdata(L, c);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		lua_pop(L, 1);
		return -1;
	}
	return 0;
}

int
sandbox_push_jscan(lua_State *L, const struct jscan *js, int max_depth)
{
	struct sandbox_pj c = {.js = js};

	if (jscan_root(js) == NULL)
		return -1;
	return sandbox_pj_push(L, &c, max_depth);
}

int
sandbox_push_json(lua_State *L, const json_t *v, int max_depth)
{
	struct sandbox_pj c = {.v = v};

	if (v == NULL)
		return -1;
	return sandbox_pj_push(L, &c, max_depth);
}
