/*
 * Pending approvals: requested by the guard, answered over the control
 * socket by approvers (quorum of distinct uids, a reason to deny), expired
 * by a timer; every step audited (approval.requested, approval.granted,
 * approval.approved, approval.denied, approval.expired) and the pending set
 * rebuilt from those records at startup, deadlines included. An approval
 * is answered once: the first answer that completes it wins, in the audit
 * log's order, and later ones get a precise error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "remediad/approval.h"
#include "remediad/idmap.h"
#include "remediad/audit.h"
#include "remediad/config.h"
#include "remediad/control.h"
#include "remediad/daemon.h"
#include "remediad/dedup.h"
#include "remediad/log.h"
#include "remediad/units.h"
#include "remediad/utf8.h"

#define APPROVAL_MAX_VOTERS 10
#define APPROVAL_MAX_MSG    1024

enum ap_state { AP_PENDING, AP_APPROVED, AP_DONE };

struct ap {
	struct approvals *ap;
	char id[48];
	json_t *summary;
	char reason[256];
	int quorum;
	uint64_t created_ms, expires_ms;
	uid_t voters[APPROVAL_MAX_VOTERS];
	int nvoters;
	int escalated;
	enum ap_state state;
	struct event *ev_expire;
	/*
	 * Its row in the list (ap_row_make): compact JSON without the ages,
	 * which a listing puts in at row_split. Made by the first listing
	 * that shows it, not when it is requested (the guard may hold
	 * thousands in a burst), and dropped when what it shows changes.
	 */
	char *row;
	size_t row_len, row_split;
	TAILQ_ENTRY(ap) entry;
};

struct approvals {
	struct daemon *d;
	approval_cb cb;
	void *arg;
	TAILQ_HEAD(, ap) list; /* in the order they were requested */
	struct idmap *byid;    /* the same, by id */
	size_t npending;
	uint64_t n_requested, n_approved, n_denied, n_expired;
};

static struct ap *
ap_find(const struct approvals *ap, const char *id)
{
	return idmap_get(ap->byid, id);
}

/* Out of the list and the index. */
static void
ap_unlink(struct approvals *ap, struct ap *a)
{
	idmap_del(ap->byid, a->id);
	TAILQ_REMOVE(&ap->list, a, entry);
}

/* What the row shows changed (votes, deadline): the next listing remakes it. */
static void
ap_row_drop(struct ap *a)
{
	free(a->row);
	a->row = NULL;
}

static void
ap_free(struct ap *a)
{
	if (a->ev_expire != NULL)
		event_free(a->ev_expire);
	json_decref(a->summary);
	ap_row_drop(a);
	free(a);
}

static uint64_t
ap_audit(struct approvals *ap, const char *type, const char *actor,
    json_t *f)
{
	return audit_append_logged(ap->d->audit, type, actor, f);
}

/* The approval is answered: it leaves the pending set. */
static void
ap_close(struct ap *a, int approved)
{
	struct approvals *ap = a->ap;

	a->state = AP_DONE;
	ap->npending--;
	if (a->ev_expire != NULL)
		evtimer_del(a->ev_expire);
	char id[48];
	snprintf(id, sizeof id, "%s", a->id);
	ap_unlink(ap, a);
	ap_free(a);
	ap->cb(ap->arg, id, approved);
}

static void ap_arm(struct ap *a);

static void
ap_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ap *a = arg;
	struct approvals *ap = a->ap;

	if (a->state != AP_PENDING)
		return;
	if (a->expires_ms > units_now_ms() + 5) {
		struct timeval tv = {(time_t)((a->expires_ms - units_now_ms()) / 1000),
		    0};
		evtimer_add(a->ev_expire, &tv);
		return;
	}
	const char *to = ap->d->cfg->approvals.escalate_to;
	if (to != NULL && !a->escalated) {
		/* Once: the next tier is told and gets a fresh window. */
		a->escalated = 1;
		a->expires_ms = units_now_ms() + ap->d->cfg->approvals.expire_ms;
		ap_row_drop(a);
		char when[32];
		units_format_time(a->expires_ms, when, sizeof when);
		log_notice("approval %s expired unanswered: escalated to %s",
		    a->id, to);
		ap_audit(ap, "approval.escalated", "system", json_pack("{s:s, "
		    "s:s, s:s, s:I}", "id", a->id, "to", to, "expires_at", when,
		    "expires_ms", (json_int_t)a->expires_ms));
		ap_arm(a);
		ap->cb(ap->arg, a->id, -1);
		return;
	}
	ap->n_expired++;
	log_notice("approval %s expired unanswered: denied", a->id);
	ap_audit(ap, "approval.expired", "system", json_pack("{s:s, s:s}",
	    "id", a->id, "outcome", "denied"));
	ap_close(a, 0);
}

static void
ap_arm(struct ap *a)
{
	uint64_t now = units_now_ms(), d = a->expires_ms > now ?
	    a->expires_ms - now : 0;
	struct timeval tv = {(time_t)(d / 1000), (suseconds_t)(d % 1000) *
	    1000};

	if (a->ev_expire == NULL)
		a->ev_expire = evtimer_new(a->ap->d->base, ap_expire_cb, a);
	if (a->ev_expire == NULL)
		fatalx("approvals: out of memory");
	evtimer_add(a->ev_expire, &tv);
}

static struct ap *
ap_new(struct approvals *ap, const char *id)
{
	struct ap *a = calloc(1, sizeof *a);

	if (a == NULL)
		fatalx("approvals: out of memory");
	a->ap = ap;
	snprintf(a->id, sizeof a->id, "%s", id);
	a->quorum = 1;
	TAILQ_INSERT_TAIL(&ap->list, a, entry);
	if (idmap_put(ap->byid, a->id, a) == -1)
		fatalx("approvals: out of memory");
	ap->npending++;
	return a;
}

void
approvals_request(struct approvals *ap, const char *id, json_t *summary,
    const char *reason, int quorum)
{
	struct ap *a = ap_find(ap, id);
	char when[32];

	if (a != NULL) {
		json_decref(summary);
		return;
	}
	a = ap_new(ap, id);
	a->summary = summary;
	snprintf(a->reason, sizeof a->reason, "%s", reason);
	a->quorum = quorum < 1 ? 1 : quorum > APPROVAL_MAX_VOTERS ?
	    APPROVAL_MAX_VOTERS : quorum;
	a->created_ms = units_now_ms();
	a->expires_ms = a->created_ms + ap->d->cfg->approvals.expire_ms;
	units_format_time(a->expires_ms, when, sizeof when);
	ap->n_requested++;
	ap_audit(ap, "approval.requested", "system", json_pack("{s:s, s:O, "
	    "s:s, s:i, s:s, s:I}", "id", id, "summary", summary, "reason",
	    reason, "quorum", a->quorum, "expires_at", when, "expires_ms",
	    (json_int_t)a->expires_ms));
	ap_arm(a);
}

int
approvals_pending(const struct approvals *ap, const char *id)
{
	const struct ap *a = ap_find(ap, id);

	return a != NULL && a->state == AP_PENDING;
}

int
approvals_approved(const struct approvals *ap, const char *id)
{
	const struct ap *a = ap_find(ap, id);

	return a != NULL && a->state == AP_APPROVED;
}

/* ---- Rebuild ------------------------------------------------------------------ */

static int
ap_rebuild_cb(const struct audit_rec *rec, void *arg)
{
	struct approvals *ap = arg;

	if (rec->type_len < 9 || memcmp(rec->type, "approval.", 9) != 0)
		return 0;
	json_t *j = audit_rec_json(rec);
	const char *id = json_string_value(json_object_get(j, "id"));
	struct ap *a = id ? ap_find(ap, id) : NULL;
	const char *t = rec->type + 9;
	size_t tl = rec->type_len - 9;

	if (id == NULL) {
		json_decref(j);
		return 0;
	}
	if (tl == 9 && memcmp(t, "requested", 9) == 0 && a == NULL) {
		a = ap_new(ap, id);
		a->summary = json_incref(json_object_get(j, "summary"));
		snprintf(a->reason, sizeof a->reason, "%s",
		    json_string_value(json_object_get(j, "reason")) ?
		    json_string_value(json_object_get(j, "reason")) : "");
		a->quorum = (int)json_integer_value(json_object_get(j,
		    "quorum"));
		a->expires_ms = (uint64_t)json_integer_value(json_object_get(j,
		    "expires_ms"));
		const char *tm = json_string_value(json_object_get(j, "time"));
		int64_t ms = tm ? dedup_parse_time(tm, strlen(tm)) : -1;
		a->created_ms = ms > 0 ? (uint64_t)ms : 0;
	} else if (a != NULL && tl == 7 && memcmp(t, "granted", 7) == 0) {
		if (a->nvoters < APPROVAL_MAX_VOTERS)
			a->voters[a->nvoters++] = (uid_t)json_integer_value(
			    json_object_get(j, "uid"));
	} else if (a != NULL && tl == 9 && memcmp(t, "escalated", 9) == 0) {
		a->escalated = 1;
		a->expires_ms = (uint64_t)json_integer_value(json_object_get(j,
		    "expires_ms"));
	} else if (a != NULL && tl == 8 && memcmp(t, "approved", 8) == 0) {
		/* Answered: no longer pending (nor counted as such). */
		if (a->state == AP_PENDING)
			ap->npending--;
		a->state = AP_APPROVED;
	} else if (a != NULL && ((tl == 6 && memcmp(t, "denied", 6) == 0) ||
	    (tl == 7 && memcmp(t, "expired", 7) == 0) ||
	    (tl == 4 && memcmp(t, "done", 4) == 0))) {
		/* Answered: gone from the pending set. */
		if (a->state == AP_PENDING)
			ap->npending--;
		ap_unlink(ap, a);
		ap_free(a);
	}
	json_decref(j);
	return 0;
}

struct approvals *
approvals_open(struct daemon *d, approval_cb cb, void *arg, char **cause)
{
	struct approvals *ap = calloc(1, sizeof *ap);
	struct ap *a;

	*cause = NULL;
	if (ap == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	ap->d = d;
	ap->cb = cb;
	ap->arg = arg;
	TAILQ_INIT(&ap->list);
	if ((ap->byid = idmap_new()) == NULL)
		fatalx("approvals: out of memory");
	if (audit_replay(audit_dir(d->audit), 1, 0, ap_rebuild_cb, ap,
	    cause) == -1) {
		approvals_free(ap);
		return NULL;
	}
	/* Deadlines as recorded: one that passed while down expires now. */
	TAILQ_FOREACH(a, &ap->list, entry)
		if (a->state == AP_PENDING)
			ap_arm(a);
	log_info("approvals: %zu pending", ap->npending);
	return ap;
}

void
approvals_free(struct approvals *ap)
{
	struct ap *a;

	if (ap == NULL)
		return;
	while ((a = TAILQ_FIRST(&ap->list)) != NULL) {
		ap_unlink(ap, a);
		ap_free(a);
	}
	idmap_free(ap->byid);
	free(ap);
}

/* ---- Commands ------------------------------------------------------------------ */

/*
 * A row of the list: what it takes to decide to look closer (the
 * parameters and the alert are in `remediactl show ID`). Kept small: the
 * list may hold thousands, so the row is encoded once (until it changes),
 * as the two halves of the object around the ages (which change with
 * every listing); -1 when it cannot be (not UTF-8, out of memory).
 */
static int
ap_row_make(struct ap *a)
{
	char target[160] = "", created[32], expires[32];
	const json_t *sum = a->summary, *tgt = json_object_get(sum, "target");
	const char *k;
	json_t *v;
	char *head = NULL, *tail = NULL;
	int rc = -1;

	ap_row_drop(a);
	json_object_foreach((json_t *)tgt, k, v)
		snprintf(target, sizeof target, "%s=%s", k,
		    json_string_value(v) ? json_string_value(v) : "");
	utf8_repair(target); /* cut to fit the row, maybe in a character */
	units_format_time(a->created_ms, created, sizeof created);
	units_format_time(a->expires_ms, expires, sizeof expires);
	json_t *h = json_pack("{s:s, s:s, s:s}", "id", a->id, "created",
	    created, "expires", expires);
	json_t *t = json_pack("{s:s, s:i, s:i, s:s}", "reason", a->reason,
	    "quorum", a->quorum, "votes", a->nvoters, "target", target);
	if (t != NULL && a->escalated)
		json_object_set_new(t, "escalated", json_true());
	const char *kind = json_string_value(json_object_get(sum, "kind"));
	const char *act = json_string_value(json_object_get(sum, "action"));
	if (t != NULL && kind != NULL && act != NULL)
		json_object_set_new(t, "action", json_pack("s++", kind, ".",
		    act));
	const char *pb = json_string_value(json_object_get(sum, "playbook"));
	if (t != NULL && pb != NULL)
		json_object_set_new(t, "playbook", json_string(pb));
	if (h != NULL && t != NULL) {
		head = json_dumps(h, JSON_COMPACT);
		tail = json_dumps(t, JSON_COMPACT);
	}
	if (head != NULL && tail != NULL) {
		/* {"id":..,"expires":".."} and {"reason":..}: one object. */
		size_t hl = strlen(head) - 1, tl = strlen(tail) - 1;

		if ((a->row = malloc(hl + tl)) != NULL) {
			memcpy(a->row, head, hl);
			memcpy(a->row + hl, tail + 1, tl);
			a->row_len = hl + tl;
			a->row_split = hl;
			rc = 0;
		}
	}
	free(head);
	free(tail);
	json_decref(h);
	json_decref(t);
	return rc;
}

/* Appends the row with its ages as of now. */
static int
ap_row_add(struct evbuffer *out, const struct ap *a, uint64_t now)
{
	char ages[64];
	int n = snprintf(ages, sizeof ages, ",\"age_s\":%" PRId64
	    ",\"left_s\":%" PRId64 ",",
	    (int64_t)((now - a->created_ms) / 1000),
	    (int64_t)(a->expires_ms > now ? (a->expires_ms - now) / 1000 : 0));

	if (evbuffer_add(out, a->row, a->row_split) == -1 ||
	    evbuffer_add(out, ages, (size_t)n) == -1 ||
	    evbuffer_add(out, a->row + a->row_split, a->row_len -
	    a->row_split) == -1)
		return -1;
	return 0;
}

void
cmd_approvals(struct daemon *d, struct control_req *r)
{
	struct evbuffer *out = evbuffer_new();
	struct ap *a;
	uint64_t now = units_now_ms();
	int n = 0;

	/* Oldest first: the list is kept in the order of the requests. */
	if (out == NULL || evbuffer_add(out, "{\"approvals\":[", 14) == -1)
		goto fail;
	if (d->approvals != NULL) {
		TAILQ_FOREACH(a, &d->approvals->list, entry) {
			if (a->state != AP_PENDING ||
			    (a->row == NULL && ap_row_make(a) == -1))
				continue;
			if ((n++ > 0 && evbuffer_add(out, ",", 1) == -1) ||
			    ap_row_add(out, a, now) == -1)
				goto fail;
		}
	}
	if (evbuffer_add(out, "]}", 2) == -1)
		goto fail;
	control_reply_ok_raw(r, out);
	evbuffer_free(out);
	return;
fail:
	if (out != NULL)
		evbuffer_free(out);
	control_reply_error(r, PROTO_E_INTERNAL, "out of memory");
}

static struct ap *
cmd_ap(struct daemon *d, struct control_req *r, const char **msg)
{
	const char *id = json_string_value(json_object_get(r->req.args, "id"));
	struct ap *a;

	*msg = json_string_value(json_object_get(r->req.args, "message"));
	if (id == NULL || *id == '\0') {
		control_reply_error(r, PROTO_E_INVALID_ARG, "an id is needed");
		return NULL;
	}
	if (*msg != NULL && strlen(*msg) > APPROVAL_MAX_MSG) {
		control_reply_error(r, PROTO_E_INVALID_ARG, "the message is "
		    "longer than %d bytes", APPROVAL_MAX_MSG);
		return NULL;
	}
	if (d->approvals == NULL || (a = ap_find(d->approvals, id)) == NULL ||
	    a->state != AP_PENDING) {
		control_reply_error(r, PROTO_E_NOT_FOUND, "no pending approval "
		    "%s (unknown, expired or already answered: remediactl show "
		    "%s tells which)", id, id);
		return NULL;
	}
	return a;
}

void
cmd_approve(struct daemon *d, struct control_req *r)
{
	const char *msg;
	struct ap *a = cmd_ap(d, r, &msg);
	struct approvals *ap = d->approvals;

	if (a == NULL)
		return;
	/* Four eyes: who asked for an action does not approve it. */
	int64_t asker = json_is_integer(json_object_get(a->summary,
	    "requester_uid")) ? json_integer_value(json_object_get(a->summary,
	    "requester_uid")) : -1;
	if (asker >= 0 && (uid_t)asker == r->peer->uid) {
		control_reply_error(r, PROTO_E_FORBIDDEN, "%s requested %s and "
		    "cannot approve it: four eyes (another approver must)",
		    r->peer->actor, a->id);
		return;
	}
	for (int i = 0; i < a->nvoters; i++) {
		if (a->voters[i] == r->peer->uid) {
			control_reply_error(r, PROTO_E_FAILED, "%s already "
			    "approved %s: a quorum of %d needs %d different "
			    "people", r->peer->actor, a->id, a->quorum,
			    a->quorum);
			return;
		}
	}
	a->voters[a->nvoters++] = r->peer->uid;
	ap_row_drop(a);
	uint64_t seq = ap_audit(ap, "approval.granted", r->peer->actor,
	    json_pack("{s:s, s:i, s:s, s:i, s:i}", "id", a->id, "uid",
	    (int)r->peer->uid, "message", msg ? msg : "", "votes",
	    a->nvoters, "quorum", a->quorum));
	control_req_audited(r, seq);
	if (a->nvoters < a->quorum) {
		control_reply_ok(r, json_pack("{s:s, s:s, s:i, s:i}", "id",
		    a->id, "state", "pending", "votes", a->nvoters, "quorum",
		    a->quorum));
		return;
	}
	ap->n_approved++;
	control_req_audited(r, ap_audit(ap, "approval.approved",
	    r->peer->actor, json_pack("{s:s, s:i}", "id", a->id, "votes",
	    a->nvoters)));
	char id[48];
	snprintf(id, sizeof id, "%s", a->id);
	control_reply_ok(r, json_pack("{s:s, s:s}", "id", id, "state",
	    "approved"));
	ap_close(a, 1);
}

void
cmd_deny(struct daemon *d, struct control_req *r)
{
	const char *msg;
	struct ap *a;

	msg = json_string_value(json_object_get(r->req.args, "message"));
	if (msg == NULL || *msg == '\0') {
		control_reply_error(r, PROTO_E_INVALID_ARG, "deny needs a reason "
		    "(-m TEXT)");
		return;
	}
	if ((a = cmd_ap(d, r, &msg)) == NULL)
		return;
	d->approvals->n_denied++;
	control_req_audited(r, ap_audit(d->approvals, "approval.denied",
	    r->peer->actor, json_pack("{s:s, s:i, s:s}", "id", a->id, "uid",
	    (int)r->peer->uid, "message", msg)));
	control_reply_ok(r, json_pack("{s:s, s:s}", "id", a->id, "state",
	    "denied"));
	ap_close(a, 0);
}

json_t *
approvals_status_json(const struct approvals *ap)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "pending",
	    (json_int_t)ap->npending, "requested", (json_int_t)ap->n_requested,
	    "approved", (json_int_t)ap->n_approved, "denied",
	    (json_int_t)ap->n_denied, "expired", (json_int_t)ap->n_expired);
}
