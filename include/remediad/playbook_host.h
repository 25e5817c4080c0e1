/*
 * The playbook host: loads a directory of playbooks, each into its own
 * sandboxed lua_State, and runs one playbook on one alert, returning the
 * plan it requested. It runs inside the worker processes (and in-process
 * for `remediad test-playbooks`); it never touches daemon state. The `rd`
 * API given to playbooks lives here (playbook_lua.c).
 */
#ifndef REMEDIAD_PLAYBOOK_HOST_H
#define REMEDIAD_PLAYBOOK_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "remediad/sandbox.h"

#define PLAYBOOK_MAX_FILE    (1024 * 1024) /* bytes of one .lua file */
#define PLAYBOOK_MAX_COUNT   256	   /* playbooks in a directory */
#define PLAYBOOK_MAX_NAME    64
#define PLAYBOOK_MAX_LOGS    16	  /* rd.log lines kept per run */
#define PLAYBOOK_MAX_LOG_LEN 1024 /* bytes of one, cut beyond */
/* The entity fields `has`, `dedup.key` and `escalate.key` may name. */
#define PLAYBOOK_ENTITIES \
	"host", "user", "ip", "process", "container", "cloud", "rule", \
	    "category", "title", "source"

/*
 * A playbook's name as playbook{} allows it: 1 to PLAYBOOK_MAX_NAME
 * letters, digits, '-', '_' and '.' (len bytes, no NUL). Records and
 * replies hold names as they are, with no escaping.
 */
int playbook_name_valid(const char *name, size_t len);
/* Whether name is one of PLAYBOOK_ENTITIES (NULL is not). */
int playbook_is_entity(const char *name);

/* One file, read once by the main process and sent to every worker. */
struct pbsource {
	char *name; /* file name, e.g. "edr.lua" */
	char *text;
	size_t len;
};

/* A playbook set's files: every playbook, and the asset inventory. */
struct pbsources {
	struct pbsource *v;
	size_t n;
	struct pbsource assets; /* name NULL: none */
};

/*
 * Reads every `*.lua` file of dir but `*_test.lua` (in name order), and
 * the inventory file if assets is not NULL. 0, or -1 with *cause.
 */
int pbsources_read(const char *dir, const char *assets,
    struct pbsources *out, char **cause);
void pbsources_free(struct pbsources *s);
/*
 * The set's inventory, parsed (JSON, or Lua returning a table): *out is
 * NULL when the set has none. 0, or -1 with *cause.
 */
int pbsources_assets(const struct pbsources *s, json_t **out, char **cause);
/* As JSON for the worker's config frame, and back (-1: malformed). */
json_t *pbsources_json(const struct pbsources *s);
int pbsources_from_json(const json_t *j, struct pbsources *out);

struct pbhost_opts {
	const struct pbsources *src;
	struct sandbox_limits limits; /* per playbook state */
	int max_actions;	     /* requests per plan (0: 32) */
};

struct pbhost;

/*
 * Loads every playbook of the set, each in its own state, in order. All
 * or nothing: on any error returns NULL and *cause says which
 * file and line ("edr.lua:12: playbook.match.min_severity: expected an
 * integer 0-100"). On success *meta (caller owns) is an array with one
 * object per playbook, in load order: name, file, description, match
 * (without `when`), when (boolean), dedup, escalate, dry_run.
 */
struct pbhost *pbhost_load(const struct pbhost_opts *opts, json_t **meta,
    char **cause);
void pbhost_free(struct pbhost *h);
size_t pbhost_count(const struct pbhost *h);
/* The index of a playbook by name, or -1. */
int pbhost_find(const struct pbhost *h, const char *name);

/*
 * One field of the alert a run reads: a string (str, slen) or, with str
 * NULL, an integer. Key and string point into the caller's memory (a
 * worker's run frame): nothing is copied until the Lua table is made.
 */
struct pbfield {
	const char *key;
	size_t klen;
	const char *str;
	size_t slen;
	int64_t i;
};
/* The canonical alert has 14; a run frame with more is malformed. */
#define PBHOST_MAX_FIELDS 32


/*
 * Runs playbook idx on the alert: its n fields (strings and integers, the
 * canonical alert without raw) and raw, the original message bytes,
 * decoded for the playbook only when it reads alert.raw. prior is what
 * rd.prior says. Appends the outcome to out as compact JSON text (the
 * body of a worker's result frame), one object:
 *   {"status":"plan", "actions":[{kind, action, params}...], "logs":[...],
 *    "us":N}                 run() finished; actions may be empty
 *   {"status":"skip", "us":N}  match.when(alert) said no
 *   {"status":"error", "kind":"runtime"|"memory"|"instructions",
 *    "error":"file.lua:7: ...", "logs":[...], "us":N}
 * ("logs_dropped":N when rd.log lines were lost). The requests are
 * written as they are made, with no jansson tree in between. 0, or -1
 * only when out of memory (out is then unchanged).
 */
struct audit_buf;
int pbhost_run(struct pbhost *h, size_t idx, const struct pbfield *fields,
    size_t n, const char *raw, size_t rawlen, int64_t prior,
    struct audit_buf *out);

/*
 * pbhost_run() with the fields given as an object (its string and integer
 * members), for the offline tools: replay and test-playbooks. The result
 * is the text read back (caller owns); NULL when out of memory.
 */
json_t *pbhost_run_object(struct pbhost *h, size_t idx, const json_t *fields,
    const char *raw, size_t rawlen, int64_t prior);

/*
 * The asset inventory file (JSON, or Lua returning a table) as JSON, for
 * the main process's guard; NULL with *cause.
 */
json_t *pbhost_load_assets(const char *path, char **cause);
/* An inventory entry as rd.asset finds it (exact, lowercase, short). */
json_t *pbhost_asset_find(const json_t *assets, const char *name);
/*
 * What rd.protected and match.protected say of a host: its entry has tier
 * "critical" or the tag "protected". 0 without a name or an inventory.
 */
int pbhost_asset_protected(const json_t *assets, const char *name);
/* The inventory the set was loaded with (borrowed), or NULL. */
const json_t *pbhost_assets(const struct pbhost *h);

/* The sandbox of playbook idx (for the test runner). */
struct sandbox *pbhost_sandbox(struct pbhost *h, size_t idx);

#endif
