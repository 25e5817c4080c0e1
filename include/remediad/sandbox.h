/*
 * The Lua sandbox: one bounded lua_State for untrusted playbook code. An
 * allocator with exact accounting and a ceiling, a per-call instruction
 * budget that cannot be swallowed by pcall, text chunks only, an allow-list
 * of the standard library with read-only library tables, no __gc, errors
 * read as strings only, and conversions between Lua values and JSON with
 * depth and cycle limits. Used inside the playbook worker processes (and by
 * the offline tools); nothing here knows about playbooks.
 */
#ifndef REMEDIAD_SANDBOX_H
#define REMEDIAD_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <lua.h>

#define SANDBOX_DEFAULT_MEMORY	     (16 * 1024 * 1024)
#define SANDBOX_DEFAULT_INSTRUCTIONS 1000000
/* Longest result of string.rep (and of the sandbox's own concatenations). */
#define SANDBOX_DEFAULT_MAX_STRING   (1024 * 1024)
#define SANDBOX_MAX_DEPTH	     32 /* of a Lua <-> JSON conversion */

struct sandbox_limits {
	size_t memory;	       /* bytes allocated by the state, ceiling */
	uint64_t instructions; /* VM instructions per sandbox_call() */
	size_t max_string;     /* string.rep result length */
};

enum sandbox_err {
	SANDBOX_OK = 0,
	SANDBOX_ERR_RUNTIME,	  /* error() or a failing operation */
	SANDBOX_ERR_MEMORY,	  /* the memory ceiling was hit */
	SANDBOX_ERR_INSTRUCTIONS, /* the instruction budget ran out */
	SANDBOX_ERR_SYNTAX,	  /* sandbox_load(): does not compile */
};

/* "runtime", "memory", "instructions", "syntax" ("ok" for SANDBOX_OK). */
const char *sandbox_err_name(enum sandbox_err e);

struct sandbox;

/*
 * A new state with the allowed libraries open (see sandbox.c for the exact
 * list). NULL limits or zero members mean the defaults. NULL on failure,
 * with a message in err.
 */
struct sandbox *sandbox_new(const struct sandbox_limits *limits, char *err,
    size_t errlen);
void sandbox_free(struct sandbox *sb);
lua_State *sandbox_state(struct sandbox *sb);
/* The sandbox a state belongs to (from lua_getallocf). */
struct sandbox *sandbox_of(lua_State *L);
/*
 * A message handler for lua_pcall over untrusted code: the error as a
 * string, read without running any metamethod of the error value.
 */
int sandbox_msgh(lua_State *L);
/* Bytes currently allocated by the state, exactly. */
size_t sandbox_memory(const struct sandbox *sb);
/* The highest it has been. */
size_t sandbox_memory_peak(const struct sandbox *sb);

/*
 * Compiles a text chunk (binary chunks are refused) and pushes it as a
 * function whose _ENV is the sandbox's global table. chunkname as for
 * lua_load ("@file.lua" gives "file.lua:12:" in messages). On failure
 * pushes nothing and returns the kind with the message in err.
 */
enum sandbox_err sandbox_load(struct sandbox *sb, const char *text,
    size_t len, const char *chunkname, char *err, size_t errlen);

/*
 * Like lua_pcall() of the function under nargs arguments, with a fresh
 * instruction budget. Once the budget is spent every further instruction
 * raises, so a pcall inside the chunk cannot carry on. The error value is
 * read only if it is a string or a number (never through __tostring);
 * anything else is reported as "(error object is a table value)". On
 * failure nothing is left on the stack.
 */
enum sandbox_err sandbox_call(struct sandbox *sb, int nargs, int nresults,
    char *err, size_t errlen);

/*
 * Takes a snapshot of the global table (its keys and values, shallow).
 * sandbox_restore_globals() then puts every global back to the snapshot:
 * globals a run added are removed, changed ones restored. Call the first
 * after loading a playbook and the second after each run. A restore after
 * a run that wrote no global only checks the snapshot's own keys: the
 * snapshot gives globals without a metatable a marker one (which
 * getmetatable() does not show) through which every added key passes.
 */
void sandbox_snapshot_globals(struct sandbox *sb);
void sandbox_restore_globals(struct sandbox *sb);

/*
 * Converts the Lua value at idx to JSON: nil (only as a whole) -> null,
 * booleans, integers, floats (finite only), strings (valid UTF-8 only),
 * tables as arrays (keys exactly 1..n, n >= 1) or objects (string keys
 * only; an empty table is an object). Metamethods are never called.
 * Depth beyond max_depth, a cycle, functions, userdata, threads, mixed or
 * non-string keys are errors: NULL with a message that says where
 * ("at plan.actions[2].params: a function").
 */
json_t *sandbox_to_json(lua_State *L, int idx, int max_depth,
    const char *what, char *err, size_t errlen);
/*
 * The same walk, written as compact JSON text appended to out instead of
 * a jansson tree: the same values accepted, the same messages, and text
 * that json_loads() reads back as the tree sandbox_to_json() gives (keys
 * in the same order, strings escaped and reals spelt as jansson does).
 * 0, or -1 with out as it was and a message in err.
 */
struct audit_buf;
int sandbox_to_text(lua_State *L, int idx, int max_depth, const char *what,
    struct audit_buf *out, char *err, size_t errlen);

/*
 * Pushes JSON as Lua values: objects and arrays as tables, integers as
 * integers, reals as floats. A null is nil: a whole null pushes nil, in an
 * object the key is left out, in an array it leaves a hole (the other
 * elements keep their indexes). An empty array becomes an empty table,
 * which sandbox_to_json() gives back as {}. Returns 0, or -1 with nothing
 * pushed when depth exceeds max_depth or memory runs out (no Lua error
 * escapes).
 */
int sandbox_push_json(lua_State *L, const json_t *v, int max_depth);
/*
 * The same for the top value of a json_scan parse (alert.raw): no jansson
 * tree in between. Same values, same limits, same -1.
 */
struct jscan;
int sandbox_push_jscan(lua_State *L, const struct jscan *js, int max_depth);
/*
 * Pushes one value of a parse, v, found depth deep (the top value is 1),
 * unprotected: raises past max_depth or when memory runs out.
 */
struct jscan_value;
void sandbox_push_jscan_value(lua_State *L, const struct jscan *js,
    const struct jscan_value *v, int depth, int max_depth);

/*
 * Makes the table at the top of the stack read-only for Lua code: it is
 * replaced on the stack by an empty proxy whose reads go to the table,
 * writes (also through rawset) raise, pairs() enumerates the table and
 * getmetatable() gives "locked". Like the lua_* calls it makes, it raises
 * a Lua error when memory runs out: call it under a protected call.
 */
void sandbox_push_readonly(lua_State *L);
/*
 * Marks the metatable at idx as one of a read-only table's, for a proxy
 * of the host's own (whose __newindex already refuses): rawset() into a
 * table with that metatable then raises too. Raises out of memory.
 */
void sandbox_mark_readonly(lua_State *L, int idx);

/*
 * Marks the metatable at mt as a lazy table's: one whose __index makes a
 * member when it is first read. fill, called with the table, makes every
 * member not made yet. The sandbox calls it before anything sees the table
 * whole or goes around __index: pairs() (through the __pairs this sets in
 * mt), next(), rawget(), rawset(), and the walk of sandbox_to_json() and
 * sandbox_to_text(). Raises out of memory.
 */
void sandbox_mark_lazy(lua_State *L, int mt, lua_CFunction fill);
/* Fills the value at idx if it is a lazy table; raises as its fill does. */
void sandbox_fill_lazy(lua_State *L, int idx);

#endif
