/*
 * The audit log's control commands: verify (online, on a job thread, up to
 * the durable head), tail (the last N records, and -f: a stream of records
 * as they become durable), and search (KEY=VALUE filters over the log).
 * Scans run on job threads so the loop keeps serving meanwhile.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "remediad/audit.h"
#include "remediad/audit_ctl.h"
#include "remediad/control.h"
#include "remediad/daemon.h"
#include "remediad/job.h"
#include "remediad/log.h"

#define TAIL_DEFAULT	20
#define TAIL_MAX	10000
#define SEARCH_DEFAULT	100
#define SEARCH_MAX	10000
#define SEARCH_FILTERS	16
/* Records a follower may have queued before it is cut off. */
#define FOLLOW_MAX_QUEUE 100000

/* ---- Follow streams ---------------------------------------------------- */

struct follow_rec {
	uint64_t seq;
	json_t *rec;
	TAILQ_ENTRY(follow_rec) entry;
};

struct follower {
	struct audit_ctl *ctl;
	struct control_req *r;
	uint64_t sent; /* last seq sent */
	int streaming; /* the first reply went out */
	int watch;     /* only what people act on (watch_type()) */
	TAILQ_HEAD(, follow_rec) queue;
	size_t queued;
	LIST_ENTRY(follower) entry;
};

struct audit_ctl {
	struct daemon *d;
	LIST_HEAD(, follower) followers;
};

static void
follower_free(struct follower *f)
{
	struct follow_rec *fr;

	while ((fr = TAILQ_FIRST(&f->queue)) != NULL) {
		TAILQ_REMOVE(&f->queue, fr, entry);
		json_decref(fr->rec);
		free(fr);
	}
	/* Unlinked already when the audit commands closed first. */
	if (f->ctl != NULL)
		LIST_REMOVE(f, entry);
	free(f);
}

static void
follower_closed(void *arg)
{
	follower_free(arg);
}

/*
 * What `remediactl watch` shows: approvals, guard decisions and switches,
 * plans, action steps and lifecycles.
 */
static int
watch_type(const char *type, size_t len)
{
	static const char *const prefixes[] = {"approval.", "guard.",
	    "action.", "mitigation.", "remediation.", "plan.", NULL};

	for (size_t i = 0; prefixes[i] != NULL; i++) {
		size_t pl = strlen(prefixes[i]);
		if (len > pl && memcmp(type, prefixes[i], pl) == 0)
			return 1;
	}
	return 0;
}

static void
audit_ctl_tap(void *arg, uint64_t seq, const char *line, size_t len)
{
	struct audit_ctl *ctl = arg;
	struct follower *f, *next;
	json_t *rec;

	if (LIST_EMPTY(&ctl->followers))
		return;
	rec = json_loadb(line, len, 0, NULL);
	if (rec == NULL)
		return;
	for (f = LIST_FIRST(&ctl->followers); f != NULL; f = next) {
		next = LIST_NEXT(f, entry);
		if (seq <= f->sent)
			continue;
		if (f->watch) {
			const char *t = json_string_value(json_object_get(rec,
			    "type"));
			if (t == NULL || !watch_type(t, strlen(t)))
				continue;
		}
		if (f->queued >= FOLLOW_MAX_QUEUE) {
			if (!f->streaming)
				continue; /* bounded: the job ends soon */
			log_warnx("audit tail -f: %s fell too far behind; "
				  "ending its stream", f->r->peer->actor);
			struct control_req *r = f->r;
			follower_free(f);
			control_stream_end(r);
			continue;
		}
		struct follow_rec *fr = malloc(sizeof *fr);
		if (fr == NULL)
			continue;
		fr->seq = seq;
		fr->rec = json_incref(rec);
		TAILQ_INSERT_TAIL(&f->queue, fr, entry);
		f->queued++;
	}
	json_decref(rec);
}

static void
audit_ctl_advance(void *arg, uint64_t durable)
{
	struct audit_ctl *ctl = arg;
	struct follower *f, *next;
	struct follow_rec *fr;

	for (f = LIST_FIRST(&ctl->followers); f != NULL; f = next) {
		next = LIST_NEXT(f, entry);
		if (!f->streaming)
			continue;
		while ((fr = TAILQ_FIRST(&f->queue)) != NULL &&
		    fr->seq <= durable) {
			TAILQ_REMOVE(&f->queue, fr, entry);
			f->queued--;
			f->sent = fr->seq;
			json_t *rec = fr->rec;
			free(fr);
			if (control_stream_send(f->r, rec) == -1)
				break; /* the client is gone; f was freed */
		}
	}
}

struct audit_ctl *
audit_ctl_new(struct daemon *d)
{
	struct audit_ctl *ctl = calloc(1, sizeof *ctl);

	if (ctl == NULL)
		return NULL;
	ctl->d = d;
	LIST_INIT(&ctl->followers);
	audit_set_observer(d->audit, audit_ctl_tap, audit_ctl_advance, ctl);
	return ctl;
}

void
audit_ctl_free(struct audit_ctl *ctl)
{
	struct follower *f;

	if (ctl == NULL)
		return;
	while ((f = LIST_FIRST(&ctl->followers)) != NULL) {
		struct control_req *r = f->r;
		if (!f->streaming) {
			/* Its scan still owns it and answers without a stream. */
			LIST_REMOVE(f, entry);
			f->ctl = NULL;
			continue;
		}
		follower_free(f);
		control_stream_end(r);
	}
	audit_set_observer(ctl->d->audit, NULL, NULL, NULL);
	free(ctl);
}

/* ---- Jobs over the log ------------------------------------------------- */

enum scan_kind { SCAN_VERIFY, SCAN_TAIL, SCAN_SEARCH };

struct scan {
	enum scan_kind kind;
	struct control_req *r;
	char *dir;
	uint64_t upto;	/* the durable head when asked */
	uint64_t from;
	struct follower *follower; /* tail -f, registered at the request */
	/* verify */
	uint64_t anchor_seq;
	char anchor_hash[AUDIT_HASH_HEX + 1];
	struct audit_verdict verdict;
	/* tail and search */
	size_t limit;
	const char *keys[SEARCH_FILTERS];
	json_t *values[SEARCH_FILTERS];
	size_t nfilters;
	json_t *filters; /* owns keys/values */
	json_t *extra;	 /* more members for the reply, or NULL */
	uint64_t also[2]; /* records matched by seq too (0: none) */
	json_t *ring;	 /* the last `limit` matches */
	int watch;	 /* a tail of what watch_type() takes only */
	size_t ringpos;
	uint64_t matched;
	uint64_t scanned;
	char *error;
};

static int
scan_value_matches(json_t *have, json_t *want)
{
	if (have == NULL)
		return 0;
	if (json_equal(have, want))
		return 1;
	/* "partition=3" arrives as a string: compare as a number too. */
	if (json_is_string(want) && json_is_integer(have)) {
		char buf[32];
		snprintf(buf, sizeof buf, "%lld",
		    (long long)json_integer_value(have));
		return strcmp(buf, json_string_value(want)) == 0;
	}
	if (json_is_string(want) && json_is_boolean(have))
		return strcmp(json_string_value(want),
			   json_is_true(have) ? "true" : "false") == 0;
	return 0;
}

static int
scan_cb(const struct audit_rec *rec, void *arg)
{
	struct scan *s = arg;
	json_t *j;

	if (rec->seq > s->upto)
		return 1;
	s->scanned++;
	if (s->watch && !watch_type(rec->type, rec->type_len))
		return 0;
	int by_seq = s->kind == SCAN_SEARCH && rec->seq != 0 &&
	    (rec->seq == s->also[0] || rec->seq == s->also[1]);
	if (s->kind == SCAN_SEARCH && !by_seq) {
		/* Cheap pre-filter: a string value must appear in the line. */
		for (size_t i = 0; i < s->nfilters; i++) {
			const char *v = json_string_value(s->values[i]);
			if (v != NULL && memmem(rec->line, rec->len, v,
			    strlen(v)) == NULL)
				return 0;
		}
	}
	j = audit_rec_json(rec);
	if (j == NULL)
		return 0;
	if (s->kind == SCAN_SEARCH) {
		for (size_t i = 0; i < s->nfilters && !by_seq; i++) {
			if (!scan_value_matches(json_object_get(j, s->keys[i]),
			    s->values[i])) {
				json_decref(j);
				return 0;
			}
		}
		s->matched++;
	}
	/* Keep the newest `limit`: a ring, unrolled in order at the end. */
	if (json_array_size(s->ring) < s->limit) {
		json_array_append_new(s->ring, j);
	} else {
		json_array_set_new(s->ring, s->ringpos, j);
		s->ringpos = (s->ringpos + 1) % s->limit;
	}
	return 0;
}

static void
scan_work(void *arg)
{
	struct scan *s = arg;
	char *cause = NULL;

	if (s->kind == SCAN_VERIFY) {
		audit_verify(s->dir, s->anchor_seq,
		    s->anchor_seq ? s->anchor_hash : NULL, s->upto, &s->verdict);
		return;
	}
	if (s->upto == 0)
		return;
	if (audit_replay(s->dir, s->from, 0, scan_cb, s, &cause) == -1)
		s->error = cause;
	else
		free(cause);
}

static json_t *
scan_records(struct scan *s)
{
	json_t *out = json_array();
	size_t n = json_array_size(s->ring);

	for (size_t i = 0; i < n; i++)
		json_array_append(out, json_array_get(s->ring,
		    (s->ringpos + i) % n));
	return out;
}

static void
scan_free(struct scan *s)
{
	json_decref(s->filters);
	json_decref(s->extra);
	json_decref(s->ring);
	free(s->error);
	free(s->dir);
	free(s);
}

static void
scan_done(void *arg)
{
	struct scan *s = arg;
	struct control_req *r = s->r;

	if (s->error != NULL) {
		if (s->follower != NULL)
			follower_free(s->follower);
		control_reply_error(r, PROTO_E_FAILED, "%s", s->error);
	} else if (s->kind == SCAN_VERIFY) {
		control_reply_ok(r, audit_verdict_json(&s->verdict));
	} else if (s->kind == SCAN_SEARCH) {
		json_t *data = json_pack("{s:o, s:I, s:I}", "records",
		    scan_records(s), "matched", (json_int_t)s->matched,
		    "scanned", (json_int_t)s->scanned);
		if (s->extra != NULL)
			json_object_update(data, s->extra);
		control_reply_ok(r, data);
	} else if (s->follower == NULL || s->follower->ctl == NULL) {
		/* No follow, or shutting down: the records, no stream. */
		if (s->follower != NULL)
			follower_free(s->follower);
		control_reply_ok(r, json_pack("{s:o}", "records",
		    scan_records(s)));
	} else {
		/*
		 * The tap has queued every record after s->upto since the
		 * request; send what is durable already, then stream.
		 */
		struct follower *f = s->follower;
		f->streaming = 1;
		control_stream_begin(r, json_pack("{s:o, s:b}", "records",
		    scan_records(s), "follow", 1), follower_closed, f);
		if (r->d->audit != NULL)
			audit_ctl_advance(r->d->audit_ctl,
			    audit_durable_seq(r->d->audit));
	}
	scan_free(s);
}

static struct scan *
scan_new(struct daemon *d, struct control_req *r, enum scan_kind kind)
{
	struct scan *s = calloc(1, sizeof *s);

	if (s == NULL)
		return NULL;
	s->kind = kind;
	s->r = r;
	s->dir = strdup(audit_dir(d->audit));
	s->upto = audit_durable_seq(d->audit);
	s->from = 1;
	s->ring = json_array();
	return s;
}

static void
scan_start(struct daemon *d, struct scan *s)
{
	if (d->jobs == NULL) {
		if (s->follower != NULL)
			follower_free(s->follower);
		control_reply_error(s->r, PROTO_E_UNAVAILABLE,
		    "remediad is shutting down");
		scan_free(s);
		return;
	}
	if (job_start(d->jobs, scan_work, scan_done, s) == -1) {
		if (s->follower != NULL)
			follower_free(s->follower);
		control_reply_error(s->r, PROTO_E_BUSY,
		    "too many audit scans running; try again");
		scan_free(s);
	}
}

static void
scan_durable_cb(void *arg, int ok)
{
	struct scan *s = arg;

	if (!ok) {
		if (s->follower != NULL)
			follower_free(s->follower);
		control_reply_error(s->r, PROTO_E_UNAVAILABLE,
		    "the audit log closed before its tail was written");
		scan_free(s);
		return;
	}
	scan_start(s->r->d, s);
}

static int
arg_count(struct control_req *r, const char *key, size_t def, size_t max,
    size_t *out)
{
	json_t *v = json_object_get(r->req.args, key);

	*out = def;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    (size_t)json_integer_value(v) > max) {
		control_reply_error(r, PROTO_E_INVALID_ARG,
		    "%s must be an integer from 1 to %zu", key, max);
		return -1;
	}
	*out = (size_t)json_integer_value(v);
	return 0;
}

void
cmd_audit_verify(struct daemon *d, struct control_req *r)
{
	json_t *anchor = json_object_get(r->req.args, "anchor");
	struct scan *s;
	unsigned long long seq;
	char hash[AUDIT_HASH_HEX + 2];

	s = scan_new(d, r, SCAN_VERIFY);
	if (s == NULL) {
		control_reply_error(r, PROTO_E_INTERNAL, "out of memory");
		return;
	}
	if (anchor != NULL) {
		int n = -1;
		if (!json_is_string(anchor) ||
		    sscanf(json_string_value(anchor), "%llu:%65[0-9a-f]%n", &seq,
			hash, &n) != 2 || n < 0 ||
		    json_string_value(anchor)[n] != '\0' || seq == 0 ||
		    strlen(hash) != AUDIT_HASH_HEX) {
			control_reply_error(r, PROTO_E_INVALID_ARG,
			    "anchor must be SEQ:HASH (64 lowercase hex)");
			scan_free(s);
			return;
		}
		s->anchor_seq = seq;
		memcpy(s->anchor_hash, hash, sizeof s->anchor_hash);
	}
	scan_start(d, s);
}

void
cmd_audit_tail(struct daemon *d, struct control_req *r)
{
	json_t *follow = json_object_get(r->req.args, "follow");
	struct scan *s;
	size_t n;

	if (arg_count(r, "n", TAIL_DEFAULT, TAIL_MAX, &n) == -1)
		return;
	if (follow != NULL && !json_is_boolean(follow)) {
		control_reply_error(r, PROTO_E_INVALID_ARG,
		    "follow must be true or false");
		return;
	}
	s = scan_new(d, r, SCAN_TAIL);
	if (s == NULL) {
		control_reply_error(r, PROTO_E_INTERNAL, "out of memory");
		return;
	}
	s->limit = n;
	s->watch = json_is_true(json_object_get(r->req.args, "watch"));
	/* Up to the last record appended: the scan waits until it is durable. */
	s->upto = audit_last_seq(d->audit);
	/* watch keeps the last n of its kinds: it reads the whole log. */
	s->from = s->watch ? 1 : s->upto > n ? s->upto - n + 1 : 1;
	if (json_is_true(follow) && d->audit_ctl != NULL) {
		struct follower *f = calloc(1, sizeof *f);
		if (f == NULL) {
			control_reply_error(r, PROTO_E_INTERNAL,
			    "out of memory");
			scan_free(s);
			return;
		}
		f->ctl = d->audit_ctl;
		f->r = r;
		f->watch = s->watch;
		f->sent = s->upto;
		TAILQ_INIT(&f->queue);
		LIST_INSERT_HEAD(&d->audit_ctl->followers, f, entry);
		s->follower = f;
	}
	audit_when_durable(d->audit, s->upto, scan_durable_cb, s);
}

void
cmd_audit_search(struct daemon *d, struct control_req *r)
{
	json_t *filters = json_object_get(r->req.args, "filters");
	struct scan *s;
	const char *key;
	json_t *v;
	size_t n;

	if (arg_count(r, "n", SEARCH_DEFAULT, SEARCH_MAX, &n) == -1)
		return;
	if (!json_is_object(filters) || json_object_size(filters) == 0 ||
	    json_object_size(filters) > SEARCH_FILTERS) {
		control_reply_error(r, PROTO_E_INVALID_ARG,
		    "filters must be an object of 1 to %d KEY: VALUE pairs",
		    SEARCH_FILTERS);
		return;
	}
	json_object_foreach(filters, key, v) {
		if (json_is_object(v) || json_is_array(v)) {
			control_reply_error(r, PROTO_E_INVALID_ARG,
			    "filter %s: the value must be a scalar", key);
			return;
		}
	}
	s = scan_new(d, r, SCAN_SEARCH);
	if (s == NULL) {
		control_reply_error(r, PROTO_E_INTERNAL, "out of memory");
		return;
	}
	s->limit = n;
	s->filters = json_incref(filters);
	json_object_foreach(filters, key, v) {
		s->keys[s->nfilters] = key;
		s->values[s->nfilters] = v;
		s->nfilters++;
	}
	scan_start(d, s);
}

void
audit_ctl_search(struct daemon *d, struct control_req *r, json_t *filters,
    size_t limit, json_t *extra)
{
	audit_ctl_search_also(d, r, filters, limit, extra, 0, 0);
}

void
audit_ctl_search_also(struct daemon *d, struct control_req *r,
    json_t *filters, size_t limit, json_t *extra, uint64_t seq1,
    uint64_t seq2)
{
	struct scan *s = scan_new(d, r, SCAN_SEARCH);
	const char *key;
	json_t *v;

	if (s == NULL) {
		json_decref(filters);
		json_decref(extra);
		control_reply_error(r, PROTO_E_INTERNAL, "out of memory");
		return;
	}
	s->limit = limit;
	s->filters = filters;
	s->extra = extra;
	s->also[0] = seq1;
	s->also[1] = seq2;
	json_object_foreach(filters, key, v) {
		if (s->nfilters == SEARCH_FILTERS)
			break;
		s->keys[s->nfilters] = key;
		s->values[s->nfilters] = v;
		s->nfilters++;
	}
	scan_start(d, s);
}
