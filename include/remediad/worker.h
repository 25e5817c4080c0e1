/*
 * The playbook worker processes: a pool per playbook set, each worker a
 * re-executed remediad (`remediad --worker`) on a socketpair, holding the
 * set in its sandboxes. Runs go down in batches, results come back one
 * frame each. The main process enforces the wall-clock deadline of every
 * run; a worker that passes it, dies or breaks the protocol is killed
 * alone and replaced, its current run reported failed and the rest of its
 * queue given to the others.
 */
#ifndef REMEDIAD_WORKER_H
#define REMEDIAD_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <jansson.h>

#include "remediad/playbook_host.h"

struct event_base;
struct children;
struct wpool;
struct jscan;
struct jscan_value;

/* Frames: u32 length of what follows, u8 type, payload. */
#define WIRE_CONFIG 'C' /* main -> worker: JSON, the set to load */
#define WIRE_HELLO  'H' /* worker -> main: JSON {ok, playbooks|error} */
#define WIRE_RUN    'R' /* main -> worker: one run, binary */
#define WIRE_RESULT 'P' /* worker -> main: u64 run id, JSON outcome */
#define WIRE_MAX_UP (4 * 1024 * 1024) /* largest frame a worker may send */
#define WIRE_MAX_DEPTH 128 /* nesting a result may have (plans: plan.c) */

/* One playbook run: owned by the caller until result or failed says. */
struct wrun {
	uint64_t id; /* set by the pool */
	uint32_t playbook; /* index in the set */
	int64_t prior;
	const char *body; /* wrun_body(): the alert, encoded once */
	size_t bodylen;
	void *arg;
	TAILQ_ENTRY(wrun) entry;
};
TAILQ_HEAD(wruns, wrun);

/*
 * The part of a run frame that every playbook run on one alert shares: the
 * alert's fields (a string each, or an integer where str is NULL; keys of
 * at most 255 bytes, "raw" not among them) and the message as received, in
 * the layout of worker_main.c's run_decode(). Encoded once per alert, in
 * one block, so an alert waiting for its runs holds one allocation and no
 * parsed tree. *len gets its size; free() it.
 */
char *wrun_body(const struct pbfield *fields, size_t n, const char *raw,
    size_t rawlen, size_t *len);

struct wpool_cbs {
	/*
	 * The set loaded in the first worker (meta: one object per
	 * playbook, see pbhost_load) or failed to (error). Called once.
	 */
	void (*ready)(struct wpool *p, void *arg, json_t *meta,
	    const char *error);
	/*
	 * A run's outcome from its worker (see pbhost_run): an object with
	 * a string status, as checked by json_scan, valid for the call.
	 */
	void (*result)(struct wpool *p, struct wrun *r, const struct jscan *js,
	    const struct jscan_value *outcome);
	/*
	 * The run's worker was killed while running it: reason "timeout",
	 * "crash" or "protocol", detail says more.
	 */
	void (*failed)(struct wpool *p, struct wrun *r, const char *reason,
	    const char *detail);
};

struct wpool_opts {
	const struct pbsources *src; /* copied into the config frame */
	struct sandbox_limits limits;
	int max_actions;
	int workers;	     /* processes */
	uint64_t timeout_ms; /* per run */
	uint64_t load_timeout_ms;
	const void *owner; /* tags the workers for children_wait() */
};

/* Spawns the workers; ready() follows from the loop. NULL on failure. */
struct wpool *wpool_new(struct event_base *base, struct children *children,
    const struct wpool_opts *opts, const struct wpool_cbs *cbs, void *arg,
    char **cause);
/*
 * Queues a run (never refuses: the caller bounds what it submits); with
 * `first`, ahead of the runs already queued (a run others wait for).
 */
void wpool_submit(struct wpool *p, struct wrun *r, int first);
/* Runs queued or running. */
size_t wpool_pending(const struct wpool *p);
/*
 * No more runs will come: the workers end once their runs are answered,
 * then the pool frees itself. With `now`, they are killed at once and
 * nothing more is reported.
 */
void wpool_retire(struct wpool *p, int now);
/* For status: workers alive, restarts, runs queued. */
json_t *wpool_status_json(const struct wpool *p);

/* The worker process side: `remediad --worker`, fd 3. Returns exit code. */
int worker_main(void);

#endif
