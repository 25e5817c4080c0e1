/*
 * Connector processes: one step of an action (apply, rollback, verify) run
 * as a child program with a clean environment, its own process group, one
 * JSON object on stdin and one expected on stdout (bounded). A step that
 * passes its timeout gets SIGTERM to its group, then SIGKILL after a grace
 * period. Each connector has a concurrency limit; steps beyond it wait in
 * order. Children are reaped through the loop (child.c).
 */
#ifndef REMEDIAD_CONNECTOR_H
#define REMEDIAD_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define CONNECTOR_MAX_OUTPUT (64 * 1024) /* stdout; more is a failure */
#define CONNECTOR_MAX_STDERR 4096	 /* kept for the log */

struct event_base;
struct children;
struct config_connectors;
struct connectors;

enum connector_status {
	CONN_OK,      /* the connector said ok */
	CONN_FAILED,  /* it said failed, or its answer was unusable */
	CONN_RETRY,   /* it said retry */
	CONN_TIMEOUT, /* killed at its deadline */
	CONN_CRASH,   /* ended without an answer (signal, exit) */
};

/* "ok", "failed", "retry", "timeout", "crash". */
const char *connector_status_name(enum connector_status s);

struct connector_result {
	enum connector_status status;
	const char *message; /* the connector's, or ours */
	json_t *details;     /* borrowed; may be NULL */
	uint64_t duration_ms;
	const char *stderr_tail; /* may be empty */
};

typedef void (*connector_cb)(void *arg, const struct connector_result *r);

struct connectors *connectors_new(struct event_base *base,
    struct children *children, const struct config_connectors *cfg);
/*
 * Kills what still runs (SIGKILL to each group) and drops what waits;
 * no callback is called after this.
 */
void connectors_free(struct connectors *c);
/* Points at a new config after a reload (limits apply to new steps). */
void connectors_set_config(struct connectors *c,
    const struct config_connectors *cfg);

/*
 * Runs one step of `instance` (a key of connectors.settings, or a program
 * name in connectors.dir) with `input` on stdin (borrowed; serialized at
 * once). The deadline is now + the instance's timeout; input's "deadline"
 * field is set to it. cb is called exactly once, from the loop, unless
 * connectors_cancel() or connectors_free() comes first. Returns a handle.
 */
uint64_t connectors_run(struct connectors *c, const char *instance,
    json_t *input, connector_cb cb, void *arg);
/* Forgets a step: queued, it never starts; running, it is killed. */
void connectors_cancel(struct connectors *c, uint64_t handle);
/* Steps running and waiting, for status. */
json_t *connectors_status_json(const struct connectors *c);
/* Steps running now (shutdown waits for them, bounded). */
size_t connectors_running(const struct connectors *c);

#endif
