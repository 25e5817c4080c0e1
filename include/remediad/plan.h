/*
 * Plans: the actions a playbook run requested, checked in the main process
 * against the catalog of known actions (kind, name, required parameters,
 * rollback) and normalized into what plan.created records and what the
 * guard and the action runner read.
 */
#ifndef REMEDIAD_PLAN_H
#define REMEDIAD_PLAN_H

#include <stddef.h>
#include <jansson.h>

#define PLAN_MAX_PARAMS	   32	/* parameters of one request */
#define PLAN_MAX_STRING	   4096 /* bytes of one parameter value */
#define PLAN_MAX_REASON	   1024
#define PLAN_MAX_TTL_MS	   (366ULL * 24 * 3600 * 1000)
#define PLAN_MAX_DEPTH	   64 /* nesting an object given as a plan may have */

struct audit_buf;
struct jscan;
struct jscan_value;

struct plan_action {
	const char *kind; /* mitigate, remediate, ticket, notify */
	const char *name;
	const char *const *required; /* parameter names, NULL-terminated */
	const char *rollback;	     /* mitigations that can be undone */
};

/* The catalog entry for kind.name, or NULL. */
const struct plan_action *plan_action_find(const char *kind,
    const char *name);
/* The whole catalog, ending with a NULL kind. */
const struct plan_action *plan_catalog(void);

/*
 * Checks and normalizes the requests of one run (an array of {kind,
 * action, params}). Returns a new array of requests: {kind, action,
 * params (without the common fields), reason, approval ("auto" unless
 * "required"), risk ("medium" by default), and for a mitigation ttl +
 * ttl_ms or until_remediated, for a remediation verify (default true)}.
 * On a bad request returns NULL with err naming it ("request 2
 * (mitigate.isolate): missing parameter host").
 */
json_t *plan_validate(const json_t *actions, char *err, size_t errlen);
/*
 * The same against the config's connectors.actions (map, borrowed): an
 * action it does not map is refused ("no connector"), and one outside the
 * catalog takes its kind, parameters and rollback from there. A NULL map
 * is plan_validate().
 */
json_t *plan_validate_with(const json_t *actions, const json_t *map,
    char *err, size_t errlen);
/*
 * The check itself, on the requests as a json_scan parse holds them (a
 * worker's result, read once): the normalized array is appended to out
 * as canonical JSON text (sorted keys, compact: what a record holds), and
 * the number of requests returned; -1 with err, and out as it was, when
 * a request is refused.
 */
int plan_check(const struct jscan *js, const struct jscan_value *actions,
    const json_t *map, struct audit_buf *out, char *err, size_t errlen);

#endif
