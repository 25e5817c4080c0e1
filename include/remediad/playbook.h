/*
 * The playbook engine in the main process: the loaded playbook set and its
 * worker pool, matching alerts in C, per-playbook dedup and escalation
 * windows, the runs an alert owes until each has an outcome record, plan
 * validation and the plan.created / playbook.* records, quarantine of
 * failing playbooks, and the atomic switch to a new set on reload.
 */
#ifndef REMEDIAD_PLAYBOOK_H
#define REMEDIAD_PLAYBOOK_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "remediad/alert.h"
#include "remediad/playbook_host.h"

struct daemon;
struct playbooks;
struct pbset;

/*
 * An alert as the engine reads it: each canonical field's text, or NULL,
 * pointing into the caller's memory for the length of a call. A field can
 * be present without text (an object given offline with a number where a
 * name belongs): `has` sees it, nothing reads it. No tree is built.
 */
struct pb_alert {
	const char *text[ALERT_NFIELDS];
	size_t len[ALERT_NFIELDS];
	unsigned int present; /* bit i: field i is there */
	int has_severity;     /* severity is an integer */
	int64_t severity;
};
/* The intake's decoded alert, as the engine reads it. */
void pb_alert_of_flat(struct pb_alert *a, const struct alert_flat *f,
    const char *store);

/*
 * The playbooks an alert matched, from one set: the runs it owes (idx),
 * and those its dedup window skips at once (skipped: the key's last run
 * is recent and none with it is in flight). A skipped one owes nothing
 * and gets no record of its own: the alert.received record lists it.
 */
struct pb_match {
	struct pbset *set;
	uint16_t idx[PLAYBOOK_MAX_COUNT];
	size_t n;
	uint16_t skipped[PLAYBOOK_MAX_COUNT];
	size_t nskipped;
};

/*
 * Called once every outcome record of a submitted alert is appended:
 * last_seq is the last of them (0 if none), or ok == 0 when the records
 * could not all be written (the engine is closing): the alert is owed
 * and runs again when it is delivered again.
 */
typedef void (*pb_done_cb)(void *arg, uint64_t last_seq, int ok);

/*
 * Loads the set named by d->cfg->playbooks, waiting (running the loop) for
 * the workers to load it, and rebuilds the windows and owed runs from the
 * audit log. NULL with *cause when the set does not load.
 */
struct playbooks *playbooks_open(struct daemon *d, char **cause);
/* Kills the workers; runs in flight are owed and run after a restart. */
void playbooks_close(struct playbooks *pb);

/*
 * The playbooks the alert matches in C at now_ms: source, category, rule,
 * min_severity, has, protected; then the dedup window. Quarantined
 * playbooks are left out. Returns m->n + m->nskipped.
 */
size_t playbooks_match(struct playbooks *pb, const struct pb_alert *alert,
    uint64_t now_ms, struct pb_match *m);
/*
 * The names of the runs owed (skipped 0) or skipped, for alert.received:
 * a JSON array's text in out; returns its length.
 */
#define PB_NAMES_TEXT_MAX (2 + PLAYBOOK_MAX_COUNT * (PLAYBOOK_MAX_NAME + 3))
size_t playbooks_match_names(const struct pb_match *m, int skipped,
    char out[PB_NAMES_TEXT_MAX]);

/*
 * Runs the matched playbooks on the alert recorded at alert_seq, whose
 * message is raw, and counts the skipped ones. The engine copies what it
 * keeps of both. done is called once, possibly before this returns
 * (nothing to run).
 */
void playbooks_submit(struct playbooks *pb, const struct pb_match *m,
    const struct pb_alert *alert, const char *raw, size_t rawlen,
    uint64_t alert_seq, pb_done_cb done, void *arg);

/*
 * An alert seen before was delivered again. If it still owes runs (the
 * daemon stopped before their outcomes were recorded) and none is in
 * flight, they are submitted as above and 1 is returned; else 0.
 */
int playbooks_resume(struct playbooks *pb, const struct pb_alert *alert,
    const char *raw, size_t rawlen, pb_done_cb done, void *arg);

/*
 * Loads a new set in fresh workers. The reply comes through cb: NULL
 * error on success, after the switch (runs in flight finish on the old
 * set); else the error, and the running set stays.
 */
typedef void (*pb_reload_cb)(void *arg, const char *error);
void playbooks_reload(struct playbooks *pb, pb_reload_cb cb, void *arg);

/* For `remediactl playbooks` and status. */
json_t *playbooks_list_json(struct playbooks *pb);
json_t *playbooks_status_json(struct playbooks *pb);

/*
 * Offline (replay, test-playbooks): the same matching and the same dedup
 * and escalation windows, without a daemon, workers or audit log; runs
 * are the caller's, one at a time, on a clock the caller gives.
 */
struct pb_offline {
	uint16_t idx;	  /* in the set described by meta */
	int64_t prior;	  /* what rd.prior says */
	const char *skip; /* "dedup": the daemon would not run it */
};
/* meta as pbhost_load gives it; assets the set's inventory, or NULL. */
struct playbooks *playbooks_offline_new(const json_t *meta,
    const json_t *assets, char **cause);
void playbooks_offline_free(struct playbooks *pb);
/* The runs the daemon would make for the alert at now_ms; returns n. */
size_t playbooks_offline_match(struct playbooks *pb, const json_t *alert,
    uint64_t now_ms, struct pb_offline *out);
/* A run's outcome ("plan", "skip", "error"), so the windows move on. */
void playbooks_offline_outcome(struct playbooks *pb, const json_t *alert,
    uint16_t idx, const char *status, size_t nactions, uint64_t now_ms);
/* The name of playbook idx. */
const char *playbooks_offline_name(struct playbooks *pb, uint16_t idx);

#endif
