/*
 * The guard: every request of a plan is judged here before anything runs,
 * deterministically and in a fixed order (kill switch, dry-run, protected
 * scope, rate limits, approval policy), and the decision and the rule
 * that made it are audited as guard.decision. The kill switch and the
 * global dry-run survive restarts (rebuilt from the audit log).
 */
#ifndef REMEDIAD_GUARD_H
#define REMEDIAD_GUARD_H

#include <stdint.h>
#include <jansson.h>

struct daemon;
struct guard;
struct control_req;

enum guard_verdict {
	GUARD_RUN,
	GUARD_DRY_RUN, /* recorded as if it ran; the connector gets dry_run */
	GUARD_HOLD,    /* a pending approval */
	GUARD_REFUSE,
};

/* What the guard looks at in a request. */
struct guard_req {
	const char *id;	      /* the action's id */
	const char *kind;     /* mitigate, remediate, ticket, notify */
	const char *name;     /* isolate, ... */
	const char *playbook; /* or NULL for a manual request */
	const json_t *params;
	const char *risk;     /* low .. critical */
	int hint_required;    /* the request asked for approval */
	int playbook_dry_run;
	int plan_targets; /* distinct targets in its plan */
};

struct guard_decision {
	enum guard_verdict verdict;
	char rule[128];	  /* "paused", "protected:dcs", "rate:...", ... */
	char reason[256]; /* for people */
	int quorum;	  /* approvers needed when held */
};

/* Rebuilds the switches and the rate windows from the audit log. */
struct guard *guard_open(struct daemon *d, char **cause);
void guard_free(struct guard *g);
/* Reads the asset inventory again (after a config reload). */
void guard_reload(struct guard *g);

/* Judges one request and records guard.decision (0 if not recorded). */
uint64_t guard_judge(struct guard *g, const struct guard_req *r,
    struct guard_decision *out);
int guard_paused(const struct guard *g);
/* Records a decision made for a whole plan (rule "approvals.whole_plan"). */
uint64_t guard_record_hold(struct guard *g, const char *id, const char *act,
    const char *reason, int quorum);
/*
 * A connector step ended (ok or not): the circuit breaker counts it and
 * may trip, which pauses automation until remediactl resume.
 */
void guard_step_outcome(struct guard *g, int ok);

void cmd_pause(struct daemon *d, struct control_req *r);
void cmd_resume(struct daemon *d, struct control_req *r);
void cmd_dry_run(struct daemon *d, struct control_req *r);
json_t *guard_status_json(const struct guard *g);

#endif
