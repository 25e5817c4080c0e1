/*
 * The action runner: turns the requests of each plan into connector steps
 * and tracks them through their lifecycles. A step's action.started record
 * is durable before its process starts, so after a crash every started
 * step without an outcome runs again with the same idempotency key and the
 * next attempt number; the connector sees each effective change once.
 * Mitigations hold an expiry timer (or wait for their incident's
 * remediation) and are rolled back when it fires; a second request for the
 * same action and target extends the active one instead of applying
 * again. Remediations are verified over a window after they are applied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>

#include "remediad/action.h"
#include "remediad/approval.h"
#include "remediad/audit.h"
#include "remediad/audit_ctl.h"
#include "remediad/child.h"
#include "remediad/config.h"
#include "remediad/connector.h"
#include "remediad/control.h"
#include "remediad/daemon.h"
#include "remediad/dedup.h"
#include "remediad/guard.h"
#include "remediad/idmap.h"
#include "remediad/log.h"
#include "remediad/plan.h"
#include "remediad/units.h"
#include "remediad/utf8.h"

#define ACT_ID_MAX 48

enum act_state {
	ST_PENDING,	  /* in a plan, not started */
	ST_APPLYING,
	ST_ACTIVE,	  /* a mitigation in place */
	ST_ROLLING_BACK,
	ST_ROLLED_BACK,
	ST_APPLIED,	  /* a remediation, not verified (or no verify) */
	ST_VERIFYING,
	ST_VERIFIED,
	ST_VERIFY_FAILED,
	ST_DONE,	  /* a ticket or notification sent */
	ST_FAILED,
	ST_MERGED,	  /* extended an active mitigation instead */
	ST_HELD,	  /* waiting for an approval */
	ST_REFUSED,	  /* the guard refused it */
	ST_DENIED,	  /* its approval was denied or expired */
	ST_JUDGED,	  /* allowed (or approved), not started yet */
	ST_WAITING,	  /* behind the rollback of the same action+target */
};

static const char *const state_names[] = {
    [ST_PENDING] = "pending",
    [ST_APPLYING] = "applying",
    [ST_ACTIVE] = "active",
    [ST_ROLLING_BACK] = "rolling_back",
    [ST_ROLLED_BACK] = "rolled_back",
    [ST_APPLIED] = "applied",
    [ST_VERIFYING] = "verifying",
    [ST_VERIFIED] = "verified",
    [ST_VERIFY_FAILED] = "verification_failed",
    [ST_DONE] = "done",
    [ST_FAILED] = "failed",
    [ST_MERGED] = "merged",
    [ST_HELD] = "held",
    [ST_REFUSED] = "refused",
    [ST_DENIED] = "denied",
    [ST_JUDGED] = "allowed",
    [ST_WAITING] = "waiting",
};

/*
 * The actions on one target ("host=ws-1"), newest first: what merging,
 * waiting behind a rollback and ending until-remediated mitigations look
 * through, instead of every action the daemon holds.
 */
struct act_target {
	char *key;
	LIST_HEAD(, act) acts;
};

struct act {
	struct actions *a;
	char id[ACT_ID_MAX];
	uint64_t plan_seq;
	char *kind, *name;
	json_t *params;
	char *target_key, *target_value; /* the first required parameter */
	struct act_target *tgt;		 /* the same, shared; or NULL */
	LIST_ENTRY(act) on_target;
	char *rollback;			 /* the rollback action, or NULL */
	char *playbook, *alert, *reason;
	int dry_run, verify, until_remediated, approval_required;
	int playbook_dry_run;
	char *risk;
	char *requested_by; /* a manual request: who asked */
	int64_t requester_uid;
	uint64_t ttl_ms, expires_ms; /* epoch ms; 0: none */
	uint64_t since_ms;
	enum act_state state;
	const char *op;	  /* the step running or due */
	int attempt;	  /* of op */
	int step_running; /* a connector process runs it */
	uint64_t handle;
	/*
	 * A later expiry told to the connector (act_refresh): owed from the
	 * extension until the connector said ok, one at a time, and a
	 * rollback asked for meanwhile waits for it. One that failed is
	 * tried again at refresh_retry_ms (epoch ms; 0: none), as a step
	 * would be (connectors.retries, backoff).
	 */
	int refresh_owed, refreshing, refresh_again;
	int refresh_attempt;
	uint64_t refresh_retry_ms;
	uint64_t verify_until_ms;
	uint64_t finished_ms; /* first seen in a final state by the sweep */
	int plan_targets;     /* distinct targets of its plan (blast radius) */
	char last_error[256];
	struct event *ev_timer; /* retry, expiry, verify interval */
	LIST_ENTRY(act) entry;
};

struct actions {
	struct daemon *d;
	struct connectors *conn;
	struct children *children;
	LIST_HEAD(, act) acts;
	struct idmap *byid; /* the same, by id */
	struct idmap *bytarget; /* "host=ws-1" -> struct act_target */
	size_t nacts;
	int closing;
	struct event *ev_sweep; /* forgets finished actions */
	uint64_t n_started, n_succeeded, n_failed, n_retries, n_extended;
	uint64_t n_rolled_back;
};

#define ACT_SWEEP_MS	   10000
#define ACT_KEEP_DONE_MS   60000	 /* a finished action, for status/show */
#define ACT_KEEP_REMEDY_MS (3600 * 1000) /* a remediation, for late
					    until_remediated mitigations */

static void act_step(struct act *x, const char *op);
static uint64_t act_expire(struct act *x, const char *by);
static void act_go(struct act *x);
static void act_release_waiting(const struct act *done);

/* ---- Small helpers -------------------------------------------------------- */

static int
is_mitigation(const struct act *x)
{
	return strcmp(x->kind, "mitigate") == 0;
}

static int
is_remediation(const struct act *x)
{
	return strcmp(x->kind, "remediate") == 0;
}

/* The connector instance for an action name, from the config. */
const char *
actions_connector_of(const struct actions *a, const char *name)
{
	const json_t *map = a->d->cfg->connectors.actions;

	return json_string_value(json_object_get(json_object_get(map, name),
	    "connector"));
}

static struct act *
act_find(struct actions *a, const char *id)
{
	return idmap_get(a->byid, id);
}

/* Out of the list and the index, and freed. */
static void act_free(struct act *x);
static void
act_drop(struct actions *a, struct act *x)
{
	struct act_target *t = x->tgt;

	if (t != NULL) {
		LIST_REMOVE(x, on_target);
		if (LIST_EMPTY(&t->acts)) {
			idmap_del(a->bytarget, t->key);
			free(t->key);
			free(t);
		}
	}
	idmap_del(a->byid, x->id);
	LIST_REMOVE(x, entry);
	a->nacts--;
	act_free(x);
}

static void
act_free(struct act *x)
{
	if (x->ev_timer != NULL)
		event_free(x->ev_timer);
	json_decref(x->params);
	free(x->kind);
	free(x->name);
	free(x->target_key);
	free(x->target_value);
	free(x->rollback);
	free(x->playbook);
	free(x->alert);
	free(x->reason);
	free(x->risk);
	free(x->requested_by);
	free(x);
}

static uint64_t
audit_rec(struct actions *a, const char *type, const char *actor, json_t *f)
{
	return audit_append_logged(a->d->audit, type, actor, f);
}

/* The fields every record of an action carries. */
static json_t *
act_fields(const struct act *x)
{
	json_t *f = json_pack("{s:s, s:s, s:s}", "id", x->id, "kind", x->kind,
	    "action", x->name);

	if (x->target_key != NULL)
		json_object_set_new(f, "target", json_pack("{s:s}",
		    x->target_key, x->target_value));
	return f;
}

/* The action that undoes op on x, and its connector. */
static const char *
act_op_action(const struct act *x, const char *op)
{
	return strcmp(op, "rollback") == 0 && x->rollback != NULL ?
	    x->rollback : x->name;
}

/* ---- Timers -------------------------------------------------------------------- */

static void act_timer_cb(evutil_socket_t fd, short what, void *arg);

static void
act_timer_at(struct act *x, uint64_t when_ms)
{
	uint64_t now = units_now_ms(), d = when_ms > now ? when_ms - now : 0;
	struct timeval tv = {(time_t)(d / 1000), (suseconds_t)(d % 1000) *
	    1000};

	if (x->ev_timer == NULL)
		x->ev_timer = evtimer_new(x->a->d->base, act_timer_cb, x);
	if (x->ev_timer == NULL)
		fatalx("actions: out of memory");
	evtimer_add(x->ev_timer, &tv);
}

/* Exponential backoff with jitter: backoff * 2^(attempt-1), +-50%. */
static uint64_t
act_backoff(const struct act *x, int attempt)
{
	const struct config_connectors *c = &x->a->d->cfg->connectors;
	uint64_t d = c->backoff_ms;

	for (int i = 1; i < attempt && d < c->max_backoff_ms; i++)
		d *= 2;
	if (d > c->max_backoff_ms)
		d = c->max_backoff_ms;
	return d / 2 + (uint64_t)random() % (d + 1);
}

/* An active mitigation's timer: its expiry, or a refresh due before. */
static void
act_arm_active(struct act *x)
{
	uint64_t when = x->expires_ms;

	if (x->refresh_retry_ms != 0 && (when == 0 ||
	    x->refresh_retry_ms < when))
		when = x->refresh_retry_ms;
	if (when != 0)
		act_timer_at(x, when);
	else if (x->ev_timer != NULL)
		evtimer_del(x->ev_timer);
}

static uint64_t act_expire(struct act *x, const char *by);
static void act_refresh(struct act *x);
static void act_refresh_new(struct act *x);

static void
act_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct act *x = arg;
	uint64_t now = units_now_ms();

	switch (x->state) {
	case ST_ACTIVE:
		if (x->expires_ms != 0 && x->expires_ms <= now) {
			act_expire(x, "expiry");
			break;
		}
		if (x->refresh_retry_ms != 0 && x->refresh_retry_ms <= now) {
			x->refresh_retry_ms = 0;
			act_refresh(x);
		}
		act_arm_active(x);
		break;
	case ST_APPLYING:
	case ST_ROLLING_BACK:
	case ST_VERIFYING:
		/* A rollback waiting for a refresh is started by its end. */
		if (!x->step_running && !x->refreshing)
			act_step(x, x->op);
		break;
	default:
		break;
	}
}

/* ---- Steps ------------------------------------------------------------------- */

static void act_result(struct act *x, const struct connector_result *r);

static void
act_step_cb(void *arg, const struct connector_result *r)
{
	struct act *x = arg;

	x->step_running = 0;
	if (x->a->d->guard != NULL && !x->dry_run)
		guard_step_outcome(x->a->d->guard, r->status == CONN_OK);
	act_result(x, r);
}

/* action.started is durable: the connector may run now. */
static void
act_started_durable_cb(void *arg, int ok)
{
	struct act *x = arg;
	struct actions *a = x->a;

	if (!ok || a->closing) {
		/* Not durable (the log closed): the next start runs it. */
		x->step_running = 0;
		return;
	}
	const char *op = x->op;
	const char *inst = actions_connector_of(a, act_op_action(x, op));
	if (inst == NULL)
		inst = actions_connector_of(a, x->name);
	/*
	 * The connector is asked to do op to the action itself ("rollback"
	 * of block_ip deletes the block); the rollback action's name only
	 * picks the connector instance. The params are a copy: ttl_ms is for
	 * the connector, not for the action's own state.
	 */
	/*
	 * A dry run reaches only a connector that declares it can do one
	 * (connectors.settings.<name>.dry_run = true); otherwise it is
	 * recorded as it would have run, and nothing is called.
	 */
	const json_t *set = json_object_get(a->d->cfg->connectors.settings,
	    inst ? inst : "");
	if (x->dry_run && !json_is_true(json_object_get(set, "dry_run"))) {
		char msg[200];
		snprintf(msg, sizeof msg, "dry run: connector %s does not "
		    "declare dry_run support; not called", inst ? inst : "?");
		struct connector_result r = {CONN_OK, msg, NULL, 0, ""};
		act_step_cb(x, &r);
		return;
	}
	json_t *in = json_pack("{s:s, s:s, s:o, s:s, s:i, s:b}", "op", op,
	    "action", x->name, "params", json_deep_copy(x->params),
	    "idempotency_key", x->id, "attempt", x->attempt, "dry_run",
	    x->dry_run);
	if (in == NULL)
		fatalx("actions: out of memory");
	if (x->ttl_ms != 0)
		json_object_set_new(json_object_get(in, "params"), "ttl_ms",
		    json_integer((json_int_t)x->ttl_ms));
	x->handle = connectors_run(a->conn, inst ? inst : "(none)", in,
	    act_step_cb, x);
	json_decref(in);
}

/* Records action.started for op and runs it once that is durable. */
static void
act_step(struct act *x, const char *op)
{
	struct actions *a = x->a;
	const char *action = act_op_action(x, op);
	const char *inst = actions_connector_of(a, action);

	if (inst == NULL && strcmp(op, "apply") != 0)
		inst = actions_connector_of(a, x->name);
	x->op = op;
	x->attempt++;
	json_t *f = act_fields(x);
	json_object_set_new(f, "op", json_string(op));
	json_object_set_new(f, "attempt", json_integer(x->attempt));
	json_object_set_new(f, "connector", json_string(inst ? inst : ""));
	json_object_set_new(f, "idempotency_key", json_string(x->id));
	if (strcmp(op, "rollback") == 0 && x->rollback)
		json_object_set_new(f, "rollback", json_string(x->rollback));
	if (x->dry_run)
		json_object_set_new(f, "dry_run", json_true());
	uint64_t seq = audit_rec(a, "action.started", "system", f);
	if (seq == 0) {
		/* The log refuses for now: try again later. */
		x->attempt--;
		act_timer_at(x, units_now_ms() + 1000);
		return;
	}
	a->n_started++;
	x->step_running = 1;
	audit_when_durable(a->d->audit, seq, act_started_durable_cb, x);
}

/* The mitigation is in place: record it and arm its expiry. */
static void
act_activate(struct act *x)
{
	char when[32];
	json_t *f = act_fields(x);

	x->state = ST_ACTIVE;
	x->since_ms = units_now_ms();
	if (x->ttl_ms != 0) {
		x->expires_ms = x->since_ms + x->ttl_ms;
		units_format_time(x->expires_ms, when, sizeof when);
		json_object_set_new(f, "expires_at", json_string(when));
		json_object_set_new(f, "expires_ms",
		    json_integer((json_int_t)x->expires_ms));
		act_arm_active(x);
	} else
		json_object_set_new(f, "until_remediated", json_true());
	json_object_set_new(f, "playbook", json_string(x->playbook ?
	    x->playbook : ""));
	json_object_set_new(f, "alert", json_string(x->alert ? x->alert :
	    ""));
	json_object_set_new(f, "plan_seq", json_integer((json_int_t)
	    x->plan_seq));
	audit_rec(x->a, "mitigation.active", "system", f);
	/* Its remediation may have finished while it was being applied. */
	if (x->until_remediated && x->tgt != NULL) {
		struct act *r;
		LIST_FOREACH(r, &x->tgt->acts, on_target) {
			if (is_remediation(r) && r->plan_seq >= x->plan_seq &&
			    (r->state == ST_VERIFIED || (r->state == ST_APPLIED &&
			    !r->verify))) {
				char by[80];
				snprintf(by, sizeof by, "remediation %s", r->id);
				act_expire(x, by);
				return;
			}
		}
	}
}

/* Rolls back the until_remediated mitigations of a verified target. */
static void
act_remediated(struct act *rem)
{
	struct act *x;

	if (rem->tgt == NULL)
		return;
	LIST_FOREACH(x, &rem->tgt->acts, on_target) {
		if (x->state == ST_ACTIVE && x->until_remediated) {
			char by[80];
			snprintf(by, sizeof by, "remediation %s", rem->id);
			act_expire(x, by);
		}
	}
}

static void
act_result(struct act *x, const struct connector_result *r)
{
	struct actions *a = x->a;
	const struct config_connectors *c = &a->d->cfg->connectors;
	json_t *f = act_fields(x);
	int roll = strcmp(x->op, "rollback") == 0;
	int verify = strcmp(x->op, "verify") == 0;

	json_object_set_new(f, "op", json_string(x->op));
	json_object_set_new(f, "attempt", json_integer(x->attempt));
	json_object_set_new(f, "status", json_string(
	    connector_status_name(r->status)));
	json_object_set_new(f, "message", json_string(r->message));
	json_object_set_new(f, "duration_ms", json_integer((json_int_t)
	    r->duration_ms));
	if (r->details != NULL && json_is_object(r->details))
		json_object_set(f, "details", r->details);
	if (r->stderr_tail != NULL && *r->stderr_tail)
		log_info("connector %s for %s: stderr: %.300s",
		    actions_connector_of(a, act_op_action(x, x->op)), x->id,
		    r->stderr_tail);
	snprintf(x->last_error, sizeof x->last_error, "%s: %s",
	    connector_status_name(r->status), r->message);
	utf8_repair(x->last_error); /* the cut may split a character */

	if (r->status == CONN_OK) {
		a->n_succeeded++;
		audit_rec(a, "action.succeeded", "system", f);
		x->attempt = 0;
		x->last_error[0] = '\0';
		if (roll) {
			x->state = ST_ROLLED_BACK;
			a->n_rolled_back++;
			audit_rec(a, "mitigation.rolled_back", "system",
			    act_fields(x));
			act_release_waiting(x);
		} else if (verify) {
			x->state = ST_VERIFIED;
			audit_rec(a, "remediation.verified", "system",
			    act_fields(x));
			act_remediated(x);
		} else if (x->dry_run) {
			x->state = ST_DONE;
		} else if (is_mitigation(x) && x->rollback != NULL) {
			act_activate(x);
		} else if (is_remediation(x)) {
			x->state = ST_APPLIED;
			audit_rec(a, "remediation.applied", "system",
			    act_fields(x));
			if (x->verify) {
				x->state = ST_VERIFYING;
				x->verify_until_ms = units_now_ms() +
				    c->verify_window_ms;
				act_step(x, "verify");
			} else
				act_remediated(x);
		} else
			x->state = ST_DONE;
		return;
	}
	/* A verification that says no is tried again over its window. */
	if (verify) {
		if (units_now_ms() + c->verify_interval_ms <= x->verify_until_ms) {
			json_object_set_new(f, "retry_in_ms", json_integer(
			    (json_int_t)c->verify_interval_ms));
			audit_rec(a, "action.retrying", "system", f);
			act_timer_at(x, units_now_ms() + c->verify_interval_ms);
			return;
		}
		audit_rec(a, "action.failed", "system", f);
		x->state = ST_VERIFY_FAILED;
		audit_rec(a, "remediation.verification_failed", "system",
		    act_fields(x));
		return;
	}
	int again = r->status != CONN_FAILED &&
	    x->attempt <= (int)c->retries;
	if (again || roll) {
		/* A rollback is never given up: it stays due, and visible. */
		a->n_retries++;
		uint64_t delay = act_backoff(x, x->attempt);
		json_object_set_new(f, "retry_in_ms", json_integer((json_int_t)
		    delay));
		audit_rec(a, "action.retrying", "system", f);
		act_timer_at(x, units_now_ms() + delay);
		return;
	}
	a->n_failed++;
	audit_rec(a, "action.failed", "system", f);
	x->state = ST_FAILED;
}

/* The mitigation goes: recorded, then its rollback runs. */
static uint64_t
act_expire(struct act *x, const char *by)
{
	json_t *f = act_fields(x);

	json_object_set_new(f, "by", json_string(by));
	uint64_t seq = audit_rec(x->a, strcmp(by, "expiry") == 0 ?
	    "mitigation.expired" : "mitigation.rolling_back", "system", f);
	if (x->ev_timer != NULL)
		evtimer_del(x->ev_timer);
	x->state = ST_ROLLING_BACK;
	x->attempt = 0;
	x->refresh_owed = 0;
	x->refresh_retry_ms = 0;
	/* Never beside a refresh: the apply could put the block back. */
	if (!x->refreshing)
		act_step(x, "rollback");
	return seq;
}

/* ---- Refreshing an extended mitigation ------------------------------------- */

/*
 * A refresh that failed is tried again with the connector's retries and
 * backoff, under the same key, while the mitigation is active and no
 * newer extension replaces it; the connector's own timeout would lift it
 * early otherwise. A refusal (status failed) or the last retry gives up,
 * loudly: the next extension tries again.
 */
static void
act_refresh_cb(void *arg, const struct connector_result *r)
{
	struct act *x = arg;
	const struct config_connectors *c = &x->a->d->cfg->connectors;
	json_t *f = act_fields(x);

	x->refreshing = 0;
	json_object_set_new(f, "expires_ms", json_integer((json_int_t)
	    x->expires_ms));
	json_object_set_new(f, "attempt", json_integer(x->refresh_attempt));
	if (r->status == CONN_OK) {
		if (!x->refresh_again)
			x->refresh_owed = 0;
		x->refresh_attempt = 0;
		audit_rec(x->a, "mitigation.refreshed", "system", f);
	} else {
		int again = r->status != CONN_FAILED &&
		    x->refresh_attempt <= (int)c->retries &&
		    x->state == ST_ACTIVE && !x->refresh_again &&
		    !x->a->closing;
		json_object_set_new(f, "status", json_string(
		    connector_status_name(r->status)));
		json_object_set_new(f, "message", json_string(r->message));
		if (again) {
			uint64_t delay = act_backoff(x, x->refresh_attempt);
			json_object_set_new(f, "retry_in_ms", json_integer(
			    (json_int_t)delay));
			x->refresh_retry_ms = units_now_ms() + delay;
			log_warnx("actions: %s: the connector did not take the "
			    "later expiry (%s: %s); trying again in %llu ms",
			    x->id, connector_status_name(r->status),
			    r->message, (unsigned long long)delay);
		} else {
			log_warnx("actions: %s: the connector did not take the "
			    "later expiry (%s: %s) after %d attempts; its own "
			    "timeout may lift it early", x->id,
			    connector_status_name(r->status), r->message,
			    x->refresh_attempt);
			x->refresh_owed = 0; /* the next extension tries again */
			x->refresh_attempt = 0;
		}
		audit_rec(x->a, "mitigation.refresh_failed", "system", f);
	}
	if (x->state == ST_ROLLING_BACK) {
		act_step(x, "rollback"); /* it waited for this refresh */
		return;
	}
	if (x->refresh_again) {
		x->refresh_again = 0;
		act_refresh_new(x);
		return;
	}
	if (x->refresh_retry_ms != 0)
		act_arm_active(x);
}

/*
 * An active mitigation's expiry moved later: the connector is asked to
 * apply it again with the time left, so that a timeout of its own (an
 * nftables element's) does not lift it at the first expiry. The key is
 * new per expiry: a connector that dedups by key applies it again.
 */
static void
act_refresh(struct act *x)
{
	struct actions *a = x->a;
	uint64_t now = units_now_ms();

	if (x->state != ST_ACTIVE || x->dry_run || a->closing ||
	    (x->expires_ms <= now && !x->until_remediated)) {
		x->refresh_owed = 0;
		x->refresh_retry_ms = 0;
		return;
	}
	if (x->refreshing) {
		x->refresh_again = 1;
		return;
	}
	const char *inst = actions_connector_of(a, x->name);
	char key[ACT_ID_MAX + 24];
	if (x->expires_ms != 0)
		snprintf(key, sizeof key, "%s+%llu", x->id,
		    (unsigned long long)x->expires_ms);
	else
		snprintf(key, sizeof key, "%s+until_remediated", x->id);
	x->refresh_attempt++;
	json_t *in = json_pack("{s:s, s:s, s:o, s:s, s:i, s:b}", "op", "apply",
	    "action", x->name, "params", json_deep_copy(x->params),
	    "idempotency_key", key, "attempt", x->refresh_attempt,
	    "dry_run", 0);
	if (in == NULL)
		fatalx("actions: out of memory");
	/* Until remediated: no ttl_ms, so no timeout of the connector's. */
	if (x->expires_ms != 0)
		json_object_set_new(json_object_get(in, "params"), "ttl_ms",
		    json_integer((json_int_t)(x->expires_ms - now)));
	json_t *f = act_fields(x);
	json_object_set_new(f, "connector", json_string(inst ? inst : ""));
	json_object_set_new(f, "idempotency_key", json_string(key));
	json_object_set_new(f, "expires_ms", json_integer((json_int_t)
	    x->expires_ms));
	audit_rec(a, "mitigation.refreshing", "system", f);
	x->refreshing = 1;
	connectors_run(a->conn, inst ? inst : "(none)", in, act_refresh_cb, x);
	json_decref(in);
}

/* A new expiry to tell the connector: its own attempts, from the first. */
static void
act_refresh_new(struct act *x)
{
	x->refresh_owed = 1;
	x->refresh_retry_ms = 0;
	if (!x->refreshing)
		x->refresh_attempt = 0;
	act_refresh(x);
}

/* ---- Plans ------------------------------------------------------------------ */

/* Files x under its target, made on first use. */
static void
act_target_join(struct actions *a, struct act *x)
{
	struct act_target *t;
	char *key;

	if (asprintf(&key, "%s=%s", x->target_key, x->target_value) == -1)
		fatalx("actions: out of memory");
	if ((t = idmap_get(a->bytarget, key)) != NULL)
		free(key);
	else {
		if ((t = calloc(1, sizeof *t)) == NULL)
			fatalx("actions: out of memory");
		t->key = key;
		LIST_INIT(&t->acts);
		if (idmap_put(a->bytarget, t->key, t) == -1)
			fatalx("actions: out of memory");
	}
	LIST_INSERT_HEAD(&t->acts, x, on_target);
	x->tgt = t;
}

static struct act *
act_new(struct actions *a, uint64_t plan_seq, size_t idx, const json_t *req,
    const json_t *plan)
{
	struct act *x = calloc(1, sizeof *x);
	const char *kind = json_string_value(json_object_get(req, "kind"));
	const char *name = json_string_value(json_object_get(req, "action"));
	const struct plan_action *cat;
	const json_t *map;

	if (x == NULL || kind == NULL || name == NULL) {
		free(x);
		return NULL;
	}
	x->a = a;
	snprintf(x->id, sizeof x->id, "A%llu.%zu", (unsigned long long)plan_seq,
	    idx);
	x->plan_seq = plan_seq;
	x->kind = strdup(kind);
	x->name = strdup(name);
	x->params = json_deep_copy(json_object_get(req, "params"));
	if (x->params == NULL)
		x->params = json_object();
	x->ttl_ms = (uint64_t)json_integer_value(json_object_get(req,
	    "ttl_ms"));
	x->until_remediated = json_is_true(json_object_get(req,
	    "until_remediated"));
	x->verify = json_is_true(json_object_get(req, "verify"));
	x->approval_required = json_string_value(json_object_get(req,
	    "approval")) != NULL && strcmp(json_string_value(json_object_get(
	    req, "approval")), "required") == 0;
	const char *risk = json_string_value(json_object_get(req, "risk"));
	x->risk = risk ? strdup(risk) : NULL;
	const char *rb = json_string_value(json_object_get(req, "rollback"));
	map = json_object_get(a->d->cfg->connectors.actions, name);
	if (json_string_value(json_object_get(map, "rollback")) != NULL)
		rb = json_string_value(json_object_get(map, "rollback"));
	x->rollback = rb ? strdup(rb) : NULL;
	const char *reason = json_string_value(json_object_get(req, "reason"));
	x->reason = reason ? strdup(reason) : NULL;
	x->playbook = json_string_value(json_object_get(plan, "playbook")) ?
	    strdup(json_string_value(json_object_get(plan, "playbook"))) :
	    NULL;
	x->alert = json_string_value(json_object_get(plan, "alert")) ?
	    strdup(json_string_value(json_object_get(plan, "alert"))) : NULL;
	x->playbook_dry_run = json_is_true(json_object_get(plan, "dry_run"));
	x->requester_uid = json_is_integer(json_object_get(plan,
	    "requester_uid")) ? json_integer_value(json_object_get(plan,
	    "requester_uid")) : -1;
	const char *rq = json_string_value(json_object_get(plan,
	    "requested_by"));
	x->requested_by = rq ? strdup(rq) : NULL;
	/* The target: the action's first required parameter. */
	const char *tk = NULL;
	if ((cat = plan_action_find(kind, name)) != NULL)
		tk = cat->required[0];
	else if (json_is_array(json_object_get(map, "params")))
		tk = json_string_value(json_array_get(json_object_get(map,
		    "params"), 0));
	const char *tv = tk ? json_string_value(json_object_get(x->params,
	    tk)) : NULL;
	if (tk != NULL && tv != NULL) {
		x->target_key = strdup(tk);
		x->target_value = strdup(tv);
		act_target_join(a, x);
	}
	x->state = ST_PENDING;
	LIST_INSERT_HEAD(&a->acts, x, entry);
	if (idmap_put(a->byid, x->id, x) == -1)
		fatalx("actions: out of memory");
	a->nacts++;
	return x;
}

/*
 * The actions of a plan record (every request, in order; NULL for one
 * that is malformed), each told how many distinct targets its plan
 * touches. The caller frees the array.
 */
static struct act **
acts_of_plan(struct actions *a, uint64_t seq, const json_t *plan, size_t *n)
{
	const json_t *reqs = json_object_get(plan, "actions");
	struct act **xs = calloc(json_array_size(reqs) + 1, sizeof *xs);
	size_t i, j;
	json_t *req;
	int targets = 0;

	if (xs == NULL)
		fatalx("actions: out of memory");
	*n = json_array_size(reqs);
	json_array_foreach(reqs, i, req)
		xs[i] = act_new(a, seq, i, req, plan);
	for (i = 0; i < *n; i++) {
		if (xs[i] == NULL || xs[i]->target_value == NULL)
			continue;
		for (j = 0; j < i; j++)
			if (xs[j] != NULL && xs[j]->target_value != NULL &&
			    strcmp(xs[j]->target_value, xs[i]->target_value) == 0)
				break;
		targets += j == i;
	}
	for (i = 0; i < *n; i++)
		if (xs[i] != NULL)
			xs[i]->plan_targets = targets;
	return xs;
}

/* An active mitigation of the same action and target, or NULL. */
static struct act *
act_same_active(const struct act *n)
{
	struct act *x;

	if (n->tgt == NULL)
		return NULL;
	LIST_FOREACH(x, &n->tgt->acts, on_target) {
		if (x != n && (x->state == ST_ACTIVE ||
		    x->state == ST_APPLYING) && is_mitigation(x) &&
		    strcmp(x->name, n->name) == 0)
			return x;
	}
	return NULL;
}

/* A mitigation of the same action and target being rolled back. */
static struct act *
act_same_rolling_back(const struct act *n)
{
	struct act *x;

	if (n->tgt == NULL)
		return NULL;
	LIST_FOREACH(x, &n->tgt->acts, on_target)
		if (x != n && x->state == ST_ROLLING_BACK &&
		    strcmp(x->name, n->name) == 0)
			return x;
	return NULL;
}

/* A rollback finished: what waited behind it goes now. */
static void
act_release_waiting(const struct act *done)
{
	struct act *y, *next;

	if (done->tgt == NULL)
		return;
	for (y = LIST_FIRST(&done->tgt->acts); y != NULL; y = next) {
		next = LIST_NEXT(y, on_target);
		if (y->state == ST_WAITING && strcmp(y->name, done->name) == 0)
			act_go(y);
	}
}

/* Runs a request the guard let through: or extends the one it repeats. */
static void
act_go(struct act *x)
{
	struct actions *a = x->a;
	struct act *same;

	/*
	 * Not while the same mitigation is being rolled back: the two would
	 * race at the connector and the target could end unprotected.
	 */
	if (is_mitigation(x) && !x->dry_run &&
	    (same = act_same_rolling_back(x)) != NULL) {
		x->state = ST_WAITING;
		json_t *f = act_fields(x);
		json_object_set_new(f, "behind", json_string(same->id));
		audit_rec(a, "action.waiting", "system", f);
		return;
	}

	if (is_mitigation(x) && x->rollback != NULL && !x->dry_run &&
	    (same = act_same_active(x)) != NULL) {
		/* Not applied again: the later expiry of the two wins. */
		x->state = ST_MERGED;
		json_t *f = act_fields(same);
		json_object_set_new(f, "request", json_string(x->id));
		uint64_t want = x->ttl_ms ? units_now_ms() + x->ttl_ms : 0;
		if (x->until_remediated) {
			same->until_remediated = 1;
			same->expires_ms = 0;
			same->ttl_ms = 0;
			/* Applying, its timer is a retry's: left alone. */
			if (same->state == ST_ACTIVE)
				act_arm_active(same);
			json_object_set_new(f, "until_remediated", json_true());
		} else if (same->expires_ms != 0 && want > same->expires_ms) {
			same->expires_ms = want;
			if (same->state == ST_ACTIVE)
				act_arm_active(same);
		} else if (same->state == ST_APPLYING && !same->until_remediated &&
		    x->ttl_ms > same->ttl_ms) {
			same->ttl_ms = x->ttl_ms;
			/* Recorded: a restart while applying keeps it. */
			json_object_set_new(f, "ttl_ms", json_integer((json_int_t)
			    same->ttl_ms));
		}
		char when[32];
		if (same->expires_ms != 0) {
			units_format_time(same->expires_ms, when, sizeof when);
			json_object_set_new(f, "expires_at", json_string(when));
			json_object_set_new(f, "expires_ms", json_integer(
			    (json_int_t)same->expires_ms));
		}
		a->n_extended++;
		audit_rec(a, "mitigation.extended", "system", f);
		if (same->state == ST_ACTIVE)
			act_refresh_new(same);
		return;
	}
	x->state = ST_APPLYING;
	x->attempt = 0;
	act_step(x, "apply");
}

/* What people see of a held request. */
static json_t *
act_summary(const struct act *x)
{
	json_t *s = act_fields(x);

	json_object_set_new(s, "params", json_incref(x->params));
	if (x->playbook)
		json_object_set_new(s, "playbook", json_string(x->playbook));
	if (x->alert)
		json_object_set_new(s, "alert", json_string(x->alert));
	if (x->reason)
		json_object_set_new(s, "request_reason", json_string(
		    x->reason));
	if (x->ttl_ms)
		json_object_set_new(s, "ttl_ms", json_integer((json_int_t)
		    x->ttl_ms));
	if (x->until_remediated)
		json_object_set_new(s, "until_remediated", json_true());
	if (x->risk)
		json_object_set_new(s, "risk", json_string(x->risk));
	json_object_set_new(s, "plan_seq", json_integer((json_int_t)
	    x->plan_seq));
	if (x->requested_by != NULL) {
		json_object_set_new(s, "requested_by", json_string(
		    x->requested_by));
		json_object_set_new(s, "requester_uid", json_integer(
		    x->requester_uid));
	}
	return s;
}

/* The guard's decision on a request, recorded. */
static void
act_judge(struct act *x, struct guard_decision *gd)
{
	struct guard_req gr = {x->id, x->kind, x->name, x->playbook,
	    x->params, x->risk, x->approval_required, x->playbook_dry_run,
	    x->plan_targets};

	guard_judge(x->a->d->guard, &gr, gd);
}

/* Carries out a decision. */
static void
act_decided(struct act *x, const struct guard_decision *gd);

/* Every request passes the guard before anything runs. */
static void
act_begin(struct act *x)
{
	struct guard_decision gd;

	act_judge(x, &gd);
	act_decided(x, &gd);
}

static void
act_decided(struct act *x, const struct guard_decision *gd_)
{
	struct actions *a = x->a;
	const struct guard_decision gd = *gd_;

	switch (gd.verdict) {
	case GUARD_DRY_RUN:
		x->dry_run = 1;
		/* FALLTHROUGH */
	case GUARD_RUN:
		act_go(x);
		return;
	case GUARD_HOLD:
		x->state = ST_HELD;
		approvals_request(a->d->approvals, x->id, act_summary(x),
		    gd.reason, gd.quorum);
		return;
	case GUARD_REFUSE:
		x->state = ST_REFUSED;
		log_notice("guard: %s (%s.%s) refused: %s", x->id, x->kind,
		    x->name, gd.reason);
		return;
	}
}

/*
 * An approval expired and is escalated: a notification to the next tier,
 * through the guard like any request (a notify the policy holds would
 * wait, so keep notify automatic).
 */
static void
act_escalate(struct actions *a, const struct act *x)
{
	const char *to = a->d->cfg->approvals.escalate_to;
	char msg[512];

	/* The target is a playbook's: cut to fit, and text again. */
	snprintf(msg, sizeof msg, "approval %s (%s.%s%s%.256s) is still "
	    "waiting; remediactl approvals", x->id, x->kind, x->name,
	    x->target_value ? " on " : "", x->target_value ? x->target_value :
	    "");
	utf8_repair(msg);
	json_t *f = json_pack("{s:[{s:s, s:s, s:{s:s, s:s}, s:s, s:s}], s:s, "
	    "s:s}", "actions", "kind", "notify", "action", "notify", "params",
	    "message", msg, "to", to ? to : "", "approval", "auto", "risk",
	    "low", "escalation_of", x->id, "reason", "approval escalated");
	json_incref(f);
	uint64_t seq = audit_rec(a, "plan.created", "system", f);
	if (seq == 0)
		log_warnx("actions: escalation of %s not recorded", x->id);
	else if (actions_connector_of(a, "notify") != NULL)
		actions_plan(a, seq, f);
	else
		log_warnx("actions: escalation of %s: no connector maps "
		    "notify", x->id);
	json_decref(f);
}

/* An approval was answered. */
static void
act_approval_cb(void *arg, const char *id, int approved)
{
	struct actions *a = arg;
	struct act *x = act_find(a, id);

	if (id[0] == 'P') {
		/* A whole plan: each of its held requests, as shown. */
		uint64_t seq = strtoull(id + 1, NULL, 10);
		struct act *y, *next;
		int escalated = 0;
		for (y = LIST_FIRST(&a->acts); y != NULL; y = next) {
			next = LIST_NEXT(y, entry);
			if (y->plan_seq != seq || y->state != ST_HELD)
				continue;
			if (approved == -1) {
				if (!escalated++)
					act_escalate(a, y);
			} else if (!approved)
				y->state = ST_DENIED;
			else
				act_go(y);
		}
		return;
	}
	if (x == NULL || x->state != ST_HELD)
		return;
	if (approved == -1) {
		act_escalate(a, x);
		return;
	}
	if (!approved) {
		x->state = ST_DENIED;
		return;
	}
	act_go(x);
}

void
actions_plan(struct actions *a, uint64_t seq, const json_t *fields)
{
	size_t i, n;

	if (a == NULL || a->closing)
		return;
	/* All of the plan first: the guard looks at it as a whole. */
	struct act **xs = acts_of_plan(a, seq, fields, &n);
	if (!a->d->cfg->approvals.whole_plan || n < 2) {
		for (i = 0; i < n; i++)
			if (xs[i] != NULL)
				act_begin(xs[i]);
		free(xs);
		return;
	}
	/*
	 * approvals.whole_plan: if the guard holds any request, the plan is
	 * held whole under one approval (P<seq>); approving it runs exactly
	 * the requests shown, nothing is judged again.
	 */
	struct guard_decision *gd = calloc(n, sizeof *gd);
	if (gd == NULL)
		fatalx("actions: out of memory");
	int held = 0, quorum = 1;
	char reason[256] = "";
	for (i = 0; i < n; i++) {
		if (xs[i] == NULL)
			continue;
		act_judge(xs[i], &gd[i]);
		if (gd[i].verdict == GUARD_HOLD) {
			if (!held) {
				snprintf(reason, sizeof reason, "%s: %s",
				    xs[i]->id, gd[i].reason);
				utf8_repair(reason);
			}
			held = 1;
			if (gd[i].quorum > quorum)
				quorum = gd[i].quorum;
		}
	}
	if (!held) {
		for (i = 0; i < n; i++)
			if (xs[i] != NULL)
				act_decided(xs[i], &gd[i]);
		free(gd);
		free(xs);
		return;
	}
	char pid[ACT_ID_MAX];
	snprintf(pid, sizeof pid, "P%llu", (unsigned long long)seq);
	json_t *reqsum = json_array();
	for (i = 0; i < n; i++) {
		if (xs[i] == NULL || gd[i].verdict == GUARD_REFUSE) {
			if (xs[i] != NULL)
				act_decided(xs[i], &gd[i]);
			continue;
		}
		if (gd[i].verdict != GUARD_HOLD) {
			char act[160];
			snprintf(act, sizeof act, "%s.%s", xs[i]->kind,
			    xs[i]->name);
			guard_record_hold(a->d->guard, xs[i]->id, act,
			    "its plan is approved as a whole", quorum);
		}
		xs[i]->state = ST_HELD;
		xs[i]->dry_run = gd[i].verdict == GUARD_DRY_RUN;
		json_array_append_new(reqsum, act_summary(xs[i]));
	}
	json_t *sum = json_pack("{s:s, s:s, s:o, s:I}", "kind", "plan",
	    "action", "plan", "requests", reqsum, "plan_seq", (json_int_t)seq);
	const char *pb = json_string_value(json_object_get(fields, "playbook"));
	if (pb != NULL)
		json_object_set_new(sum, "playbook", json_string(pb));
	approvals_request(a->d->approvals, pid, sum, reason, quorum);
	free(gd);
	free(xs);
}

/* ---- Rebuild from the audit log ------------------------------------------------ */

struct rebuild {
	struct actions *a;
	long long records;
};

static int
type_is(const struct audit_rec *rec, const char *t)
{
	size_t n = strlen(t);

	return rec->type_len == n && memcmp(rec->type, t, n) == 0;
}

static int
rebuild_cb(const struct audit_rec *rec, void *arg)
{
	struct rebuild *rb = arg;
	struct actions *a = rb->a;
	int plan = type_is(rec, "plan.created");

	if (type_is(rec, "guard.decision")) {
		json_t *g = audit_rec_json(rec);
		const char *gid = json_string_value(json_object_get(g, "id"));
		const char *dec = json_string_value(json_object_get(g,
		    "decision"));
		struct act *gx = gid ? act_find(a, gid) : NULL;
		if (gx != NULL && dec != NULL) {
			if (strcmp(dec, "hold") == 0)
				gx->state = ST_HELD;
			else if (strcmp(dec, "refuse") == 0)
				gx->state = ST_REFUSED;
			else {
				if (strcmp(dec, "dry_run") == 0)
					gx->dry_run = 1;
				/* Judged, not yet started: it starts now. */
				gx->state = ST_JUDGED;
			}
		}
		json_decref(g);
		return 0;
	}
	if (type_is(rec, "approval.approved") || type_is(rec,
	    "approval.denied") || type_is(rec, "approval.expired")) {
		json_t *g = audit_rec_json(rec);
		const char *gid = json_string_value(json_object_get(g, "id"));
		struct act *gx = gid ? act_find(a, gid) : NULL;
		enum act_state to = type_is(rec, "approval.approved") ?
		    ST_JUDGED : ST_DENIED;
		if (gx != NULL && gx->state == ST_HELD)
			gx->state = to;
		else if (gid != NULL && gid[0] == 'P') {
			uint64_t pseq = strtoull(gid + 1, NULL, 10);
			LIST_FOREACH(gx, &a->acts, entry)
				if (gx->plan_seq == pseq && gx->state == ST_HELD)
					gx->state = to;
		}
		json_decref(g);
		return 0;
	}
	if (!plan && !(rec->type_len > 7 && memcmp(rec->type, "action.", 7) ==
	    0) && !(rec->type_len > 11 && memcmp(rec->type, "mitigation.",
	    11) == 0) && !(rec->type_len > 12 && memcmp(rec->type,
	    "remediation.", 12) == 0))
		return 0;
	json_t *j = audit_rec_json(rec);
	if (j == NULL)
		return 0;
	rb->records++;
	if (plan) {
		size_t n;
		free(acts_of_plan(a, rec->seq, j, &n));
		json_decref(j);
		return 0;
	}
	const char *id = json_string_value(json_object_get(j, "id"));
	struct act *x = id ? act_find(a, id) : NULL;
	if (x == NULL) {
		json_decref(j);
		return 0;
	}
	const char *op = json_string_value(json_object_get(j, "op"));
	int attempt = (int)json_integer_value(json_object_get(j, "attempt"));
	if (type_is(rec, "action.started")) {
		x->op = op && strcmp(op, "rollback") == 0 ? "rollback" :
		    op && strcmp(op, "verify") == 0 ? "verify" : "apply";
		x->attempt = attempt;
		if (strcmp(x->op, "apply") == 0)
			x->state = ST_APPLYING;
		else if (strcmp(x->op, "rollback") == 0)
			x->state = ST_ROLLING_BACK;
		else
			x->state = ST_VERIFYING;
		x->step_running = 1; /* until an outcome says otherwise */
	} else if (type_is(rec, "action.succeeded")) {
		x->step_running = 0;
		x->attempt = 0;
		if (x->state == ST_APPLYING && !is_mitigation(x) &&
		    !is_remediation(x))
			x->state = ST_DONE;
		if (x->state == ST_APPLYING && x->dry_run)
			x->state = ST_DONE;
	} else if (type_is(rec, "action.waiting")) {
		x->state = ST_WAITING;
	} else if (type_is(rec, "action.retrying")) {
		x->step_running = 0;
	} else if (type_is(rec, "action.failed")) {
		x->step_running = 0;
		if (x->state != ST_VERIFYING)
			x->state = ST_FAILED;
	} else if (type_is(rec, "mitigation.active")) {
		x->state = ST_ACTIVE;
		x->expires_ms = (uint64_t)json_integer_value(json_object_get(j,
		    "expires_ms"));
		x->until_remediated = json_is_true(json_object_get(j,
		    "until_remediated"));
		const char *t = json_string_value(json_object_get(j, "time"));
		int64_t ms = t ? dedup_parse_time(t, strlen(t)) : -1;
		x->since_ms = ms > 0 ? (uint64_t)ms : 0;
	} else if (type_is(rec, "mitigation.refreshed") ||
	    type_is(rec, "mitigation.refresh_failed")) {
		/* A failure with a retry due is still owed: tried at start. */
		x->refresh_owed = json_object_get(j, "retry_in_ms") != NULL;
	} else if (type_is(rec, "mitigation.extended")) {
		/* An active one's connector is told (act_refresh). */
		if (x->state == ST_ACTIVE)
			x->refresh_owed = 1;
		if (json_is_true(json_object_get(j, "until_remediated"))) {
			x->until_remediated = 1;
			x->expires_ms = 0;
		} else if (json_is_integer(json_object_get(j, "expires_ms")))
			x->expires_ms = (uint64_t)json_integer_value(
			    json_object_get(j, "expires_ms"));
		if (json_is_integer(json_object_get(j, "ttl_ms")) &&
		    (uint64_t)json_integer_value(json_object_get(j, "ttl_ms")) >
		    x->ttl_ms)
			x->ttl_ms = (uint64_t)json_integer_value(json_object_get(
			    j, "ttl_ms"));
		const char *req = json_string_value(json_object_get(j,
		    "request"));
		struct act *m = req ? act_find(a, req) : NULL;
		if (m != NULL)
			m->state = ST_MERGED;
	} else if (type_is(rec, "mitigation.expired") ||
	    type_is(rec, "mitigation.rolling_back")) {
		x->state = ST_ROLLING_BACK;
		x->op = "rollback";
		x->attempt = 0;
	} else if (type_is(rec, "mitigation.rolled_back")) {
		x->state = ST_ROLLED_BACK;
	} else if (type_is(rec, "remediation.applied")) {
		x->state = x->verify ? ST_VERIFYING : ST_APPLIED;
		x->op = "verify";
		x->attempt = 0;
		x->verify_until_ms = units_now_ms() +
		    a->d->cfg->connectors.verify_window_ms;
	} else if (type_is(rec, "remediation.verified")) {
		x->state = ST_VERIFIED;
	} else if (type_is(rec, "remediation.verification_failed")) {
		x->state = ST_VERIFY_FAILED;
	}
	json_decref(j);
	return 0;
}

/* After the rebuild: what was unfinished goes on. */
static void
actions_resume(struct actions *a)
{
	struct act *x, *next;
	uint64_t now = units_now_ms();
	size_t resumed = 0, active = 0;

	for (x = LIST_FIRST(&a->acts); x != NULL; x = next) {
		next = LIST_NEXT(x, entry);
		switch (x->state) {
		case ST_PENDING:
			/* A plan recorded, its requests never judged. */
			resumed++;
			act_begin(x);
			break;
		case ST_JUDGED:
			/* Allowed or approved, never started. */
			resumed++;
			act_go(x);
			break;
		case ST_HELD:
			/* Waits for its approval (rebuilt by approvals). */
			break;
		case ST_WAITING:
			/* Goes now, or waits again behind the rollback. */
			resumed++;
			act_go(x);
			break;
		case ST_APPLYING:
		case ST_ROLLING_BACK:
		case ST_VERIFYING:
			/* Same key, next attempt: the connector is
			 * idempotent. */
			resumed++;
			x->step_running = 0;
			act_step(x, x->op ? x->op : "apply");
			break;
		case ST_ACTIVE:
			active++;
			if (x->expires_ms != 0 && x->expires_ms <= now) {
				act_expire(x, "expiry");
				break;
			}
			act_arm_active(x);
			/* Extended, and the connector never said ok. */
			if (x->refresh_owed)
				act_refresh(x);
			break;
		default:
			/* Finished: nothing to keep in memory. */
			act_drop(a, x);
			break;
		}
	}
	log_info("actions: %zu active mitigation(s), %zu step(s) resumed",
	    active, resumed);
}

/* ---- Forgetting finished actions ------------------------------------------- */

static int
act_final(const struct act *x)
{
	switch (x->state) {
	case ST_ROLLED_BACK:
	case ST_APPLIED:
	case ST_VERIFIED:
	case ST_VERIFY_FAILED:
	case ST_DONE:
	case ST_FAILED:
	case ST_MERGED:
	case ST_REFUSED:
	case ST_DENIED:
		return !x->step_running;
	default:
		return 0;
	}
}

/*
 * What is finished leaves memory after a while (its history is in the
 * audit log, which `show` reads): the list every request scans stays the
 * size of what is in flight or active, not of everything ever done.
 */
static void
actions_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct actions *a = arg;
	struct act *x, *next;
	uint64_t now = units_now_ms();

	for (x = LIST_FIRST(&a->acts); x != NULL; x = next) {
		next = LIST_NEXT(x, entry);
		if (!act_final(x)) {
			x->finished_ms = 0;
			continue;
		}
		if (x->finished_ms == 0) {
			x->finished_ms = now;
			continue;
		}
		uint64_t keep = is_remediation(x) ? ACT_KEEP_REMEDY_MS :
		    ACT_KEEP_DONE_MS;
		if (now - x->finished_ms < keep)
			continue;
		act_drop(a, x);
	}
}

/* ---- Open and close --------------------------------------------------------- */

struct actions *
actions_open(struct daemon *d, char **cause)
{
	struct actions *a = calloc(1, sizeof *a);
	struct rebuild rb;

	*cause = NULL;
	if (a == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	a->d = d;
	LIST_INIT(&a->acts);
	if ((a->byid = idmap_new()) == NULL ||
	    (a->bytarget = idmap_new()) == NULL)
		fatalx("actions: out of memory");
	a->children = d->children;
	a->conn = connectors_new(d->base, a->children, &d->cfg->connectors);
	if (a->conn == NULL) {
		*cause = strdup("out of memory");
		actions_close(a);
		return NULL;
	}
	srandom((unsigned)units_now_ms());
	d->guard = guard_open(d, cause);
	if (d->guard == NULL) {
		actions_close(a);
		return NULL;
	}
	rb.a = a;
	rb.records = 0;
	if (audit_replay(audit_dir(d->audit), 1, 0, rebuild_cb, &rb,
	    cause) == -1) {
		actions_close(a);
		return NULL;
	}
	log_info("actions: rebuilt from %lld records", rb.records);
	/* Approvals after the actions: an approval answered before a crash
	 * finds its request in place. */
	d->approvals = approvals_open(d, act_approval_cb, a, cause);
	if (d->approvals == NULL) {
		actions_close(a);
		return NULL;
	}
	actions_resume(a);
	a->ev_sweep = event_new(d->base, -1, EV_PERSIST, actions_sweep_cb, a);
	if (a->ev_sweep == NULL) {
		*cause = strdup("out of memory");
		actions_close(a);
		return NULL;
	}
	struct timeval sweep = {ACT_SWEEP_MS / 1000, 0};
	event_add(a->ev_sweep, &sweep);
	return a;
}

void
actions_reload(struct actions *a)
{
	connectors_set_config(a->conn, &a->d->cfg->connectors);
	if (a->d->guard != NULL)
		guard_reload(a->d->guard);
}

void
actions_close(struct actions *a)
{
	struct act *x;

	if (a == NULL)
		return;
	a->closing = 1;
	/* Running steps get a bounded time to answer; the rest resume at
	 * the next start (their action.started has no outcome). */
	if (a->conn != NULL && connectors_running(a->conn) > 0) {
		struct timespec t0, now;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		log_notice("actions: waiting up to %llu ms for %zu connector(s)",
		    (unsigned long long)a->d->cfg->connectors.shutdown_wait_ms,
		    connectors_running(a->conn));
		while (connectors_running(a->conn) > 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			uint64_t el = (uint64_t)((now.tv_sec - t0.tv_sec) * 1000 +
			    (now.tv_nsec - t0.tv_nsec) / 1000000);
			if (el >= a->d->cfg->connectors.shutdown_wait_ms)
				break;
			struct timeval tv = {0, 50000};
			event_base_loopexit(a->d->base, &tv);
			event_base_loop(a->d->base, EVLOOP_ONCE);
		}
	}
	if (a->ev_sweep != NULL)
		event_free(a->ev_sweep);
	connectors_free(a->conn);
	approvals_free(a->d->approvals);
	a->d->approvals = NULL;
	guard_free(a->d->guard);
	a->d->guard = NULL;
	while ((x = LIST_FIRST(&a->acts)) != NULL)
		act_drop(a, x);
	idmap_free(a->byid);
	idmap_free(a->bytarget); /* emptied by act_drop */
	free(a);
}

/* ---- Control commands ---------------------------------------------------------- */

static json_t *
act_json(const struct act *x)
{
	char since[32] = "", expires[32] = "";
	json_t *o;

	if (x->since_ms)
		units_format_time(x->since_ms, since, sizeof since);
	if (x->expires_ms)
		units_format_time(x->expires_ms, expires, sizeof expires);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", x->id,
	    "kind", x->kind, "action", x->name, "state", state_names[x->state],
	    "target", x->target_key ? x->target_value : "", "since", since,
	    "expires", x->until_remediated ? "until remediated" : expires,
	    "playbook", x->playbook ? x->playbook : "");
	json_object_set_new(o, "alert", json_string(x->alert ? x->alert : ""));
	json_object_set_new(o, "params", json_incref(x->params));
	if (x->last_error[0])
		json_object_set_new(o, "last_error", json_string(
		    x->last_error));
	if (x->attempt)
		json_object_set_new(o, "attempt", json_integer(x->attempt));
	return o;
}

void
cmd_mitigations(struct daemon *d, struct control_req *r)
{
	json_t *list = json_array();
	struct act *x;

	if (d->actions != NULL)
		LIST_FOREACH(x, &d->actions->acts, entry)
			if (is_mitigation(x) && (x->state == ST_ACTIVE ||
			    x->state == ST_APPLYING ||
			    x->state == ST_ROLLING_BACK))
				json_array_append_new(list, act_json(x));
	control_reply_ok(r, json_pack("{s:o}", "mitigations", list));
}

static struct act *
cmd_act(struct daemon *d, struct control_req *r)
{
	const char *id = json_string_value(json_object_get(r->req.args, "id"));
	struct act *x;

	if (id == NULL) {
		control_reply_error(r, PROTO_E_INVALID_ARG, "an id is needed");
		return NULL;
	}
	if (d->actions == NULL || (x = act_find(d->actions, id)) == NULL) {
		control_reply_error(r, PROTO_E_NOT_FOUND, "no mitigation %s in "
		    "progress or active", id);
		return NULL;
	}
	if (!is_mitigation(x) || x->state != ST_ACTIVE) {
		control_reply_error(r, PROTO_E_FAILED, "%s is %s, not an active "
		    "mitigation", id, state_names[x->state]);
		return NULL;
	}
	return x;
}

void
cmd_rollback(struct daemon *d, struct control_req *r)
{
	struct act *x = cmd_act(d, r);

	if (x == NULL)
		return;
	char by[300];
	snprintf(by, sizeof by, "%s", r->peer->actor);
	control_req_audited(r, act_expire(x, by));
	control_reply_ok(r, json_pack("{s:s, s:s}", "id", x->id, "state",
	    state_names[x->state]));
}

void
cmd_extend(struct daemon *d, struct control_req *r)
{
	const char *dur = json_string_value(json_object_get(r->req.args,
	    "duration"));
	const char *why;
	uint64_t ms;
	char when[32];

	if (dur == NULL || units_parse_duration(dur, &ms, &why) != 0 ||
	    ms == 0 || ms > PLAN_MAX_TTL_MS) {
		control_reply_error(r, PROTO_E_INVALID_ARG, "bad duration \"%s\"",
		    dur ? dur : "");
		return;
	}
	struct act *x = cmd_act(d, r);
	if (x == NULL)
		return;
	if (x->expires_ms == 0) {
		control_reply_error(r, PROTO_E_FAILED, "%s stays until "
		    "remediated: it has no expiry to extend", x->id);
		return;
	}
	x->expires_ms += ms;
	act_arm_active(x);
	units_format_time(x->expires_ms, when, sizeof when);
	json_t *f = act_fields(x);
	json_object_set_new(f, "expires_at", json_string(when));
	json_object_set_new(f, "expires_ms", json_integer((json_int_t)
	    x->expires_ms));
	json_object_set_new(f, "by", json_string(r->peer->actor));
	json_object_set_new(f, "extended_by_ms", json_integer((json_int_t)ms));
	control_req_audited(r, audit_rec(d->actions, "mitigation.extended",
	    r->peer->actor, f));
	act_refresh_new(x);
	control_reply_ok(r, json_pack("{s:s, s:s}", "id", x->id, "expires",
	    when));
}

struct show_plan {
	uint64_t seq;
	uint64_t alert_seq;
	int is_plan;
};

/* The first record of the replay: the plan.created of an action. */
static int
show_plan_cb(const struct audit_rec *rec, void *arg)
{
	struct show_plan *sp = arg;

	if (rec->seq == sp->seq && type_is(rec, "plan.created")) {
		sp->is_plan = 1;
		json_t *j = audit_rec_json(rec);
		sp->alert_seq = (uint64_t)json_integer_value(json_object_get(j,
		    "alert_seq"));
		json_decref(j);
	}
	return 1; /* one record is all it needs */
}

void
cmd_show(struct daemon *d, struct control_req *r)
{
	const char *id = json_string_value(json_object_get(r->req.args, "id"));
	struct act *x;

	if (id == NULL || *id == '\0') {
		control_reply_error(r, PROTO_E_INVALID_ARG, "an id is needed");
		return;
	}
	x = d->actions ? act_find(d->actions, id) : NULL;
	/* An action's id names its plan: A<seq of plan.created>.<index>. */
	uint64_t plan_seq = 0, alert_seq = 0;
	char *end;
	if ((id[0] == 'A' || id[0] == 'P') && id[1] >= '0' && id[1] <= '9') {
		plan_seq = strtoull(id + 1, &end, 10);
		/* A<plan>.<index> for an action, P<plan> for a whole plan. */
		if ((id[0] == 'A' ? *end != '.' : *end != '\0') ||
		    plan_seq > audit_last_seq(d->audit))
			plan_seq = 0;
	}
	if (plan_seq != 0) {
		/* The plan tells the alert it came from (its alert.received). */
		struct show_plan sp = {plan_seq, 0, 0};
		char *cause = NULL;
		if (audit_replay(audit_dir(d->audit), plan_seq, 0, show_plan_cb,
		    &sp, &cause) == -1)
			free(cause);
		/* An id that only looks like one names no plan: nothing more. */
		if (!sp.is_plan)
			plan_seq = 0;
		alert_seq = sp.alert_seq;
	}
	audit_ctl_search_also(d, r, json_pack("{s:s}", "id", id), 1000,
	    x ? json_pack("{s:o}", "state", act_json(x)) : NULL, plan_seq,
	    alert_seq);
}

json_t *
actions_status_json(struct actions *a)
{
	size_t counts[ST_WAITING + 1] = {0};
	struct act *x;
	json_t *states = json_object();

	LIST_FOREACH(x, &a->acts, entry)
		counts[x->state]++;
	for (int s = 0; s <= ST_WAITING; s++)
		if (counts[s])
			json_object_set_new(states, state_names[s],
			    json_integer((json_int_t)counts[s]));
	size_t failing = 0;
	LIST_FOREACH(x, &a->acts, entry)
		if (x->state == ST_ROLLING_BACK && x->last_error[0])
			failing++;
	return json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
	    "states", states, "started", (json_int_t)a->n_started,
	    "succeeded", (json_int_t)a->n_succeeded, "failed",
	    (json_int_t)a->n_failed, "retries", (json_int_t)a->n_retries,
	    "extended", (json_int_t)a->n_extended, "rolled_back",
	    (json_int_t)a->n_rolled_back, "rollbacks_failing",
	    (json_int_t)failing, "connectors",
	    connectors_status_json(a->conn));
}

/*
 * remediactl run ACTION key=value... -m TEXT: a person's request, recorded
 * as a plan of one with who asked and why, judged by the guard like any.
 */
void
cmd_run(struct daemon *d, struct control_req *r)
{
	const char *name = json_string_value(json_object_get(r->req.args,
	    "action"));
	const char *msg = json_string_value(json_object_get(r->req.args,
	    "message"));
	json_t *params = json_object_get(r->req.args, "params");
	const json_t *map = d->cfg->connectors.actions;
	const char *kind = NULL;
	char err[512];

	if (d->actions == NULL) {
		control_reply_error(r, PROTO_E_FAILED, "no actions: the config "
		    "has no connectors section");
		return;
	}
	if (name == NULL || msg == NULL || *msg == '\0' ||
	    !json_is_object(params)) {
		control_reply_error(r, PROTO_E_INVALID_ARG, "run needs an "
		    "action, its parameters and a reason (-m TEXT)");
		return;
	}
	for (const struct plan_action *c = plan_catalog(); c->kind; c++)
		if (strcmp(c->name, name) == 0)
			kind = c->kind;
	if (kind == NULL)
		kind = json_string_value(json_object_get(json_object_get(map,
		    name), "kind"));
	if (kind == NULL) {
		control_reply_error(r, PROTO_E_INVALID_ARG, "unknown action "
		    "%s", name);
		return;
	}
	json_t *reqs = json_pack("[{s:s, s:s, s:O}]", "kind", kind, "action",
	    name, "params", params);
	json_t *none = map == NULL ? json_object() : NULL;
	json_t *plan = plan_validate_with(reqs, map ? map : none, err,
	    sizeof err);
	json_decref(none);
	json_decref(reqs);
	if (plan == NULL) {
		control_reply_error(r, PROTO_E_INVALID_ARG, "%s", err);
		return;
	}
	json_t *f = json_pack("{s:o, s:b, s:s, s:i, s:s}", "actions", plan,
	    "manual", 1, "requested_by", r->peer->actor, "requester_uid",
	    (int)r->peer->uid, "reason", msg);
	const char *cause;
	json_incref(f);
	uint64_t seq = audit_append(d->audit, "plan.created", r->peer->actor,
	    f, &cause);
	if (seq == 0) {
		json_decref(f);
		control_reply_error(r, PROTO_E_UNAVAILABLE, "not recorded: %s",
		    cause);
		return;
	}
	control_req_audited(r, seq);
	actions_plan(d->actions, seq, f);
	json_decref(f);
	char id[ACT_ID_MAX];
	snprintf(id, sizeof id, "A%llu.0", (unsigned long long)seq);
	struct act *x = act_find(d->actions, id);
	control_reply_ok(r, json_pack("{s:s, s:s}", "id", id, "state", x ?
	    state_names[x->state] : "unknown"));
}

/* The uid that asked for a manual request, or -1. */
int64_t
actions_requester(const struct actions *a, const char *id)
{
	struct act *x = act_find((struct actions *)a, id);

	return x ? x->requester_uid : -1;
}
