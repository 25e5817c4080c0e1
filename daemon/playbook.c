/*
 * The playbook engine, main-process side. An alert is matched in C against
 * the current set; each matched playbook is one run, sent to the set's
 * worker pool, and each run ends in exactly one outcome record:
 * plan.created, playbook.matched (an empty plan), playbook.skipped (when()
 * said no, or the dedup window) or playbook.failed. The alert.received
 * record lists the runs an alert owes, so an alert whose outcomes were not
 * all recorded before a crash runs them when Kafka delivers it again.
 * Runs of one playbook that share a dedup or escalation key go one at a
 * time, so the window and rd.prior are exact. Per-playbook counters, the
 * windows and quarantine live here; they survive reloads by name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "remediad/action.h"
#include "remediad/audit.h"
#include "remediad/child.h"
#include "remediad/config.h"
#include "remediad/daemon.h"
#include "remediad/dedup.h"
#include "remediad/hex.h"
#include "remediad/log.h"
#include "remediad/plan.h"
#include "remediad/idmap.h"
#include "remediad/json_scan.h"
#include "remediad/playbook.h"
#include "remediad/playbook_host.h"
#include "remediad/siphash.h"
#include "remediad/units.h"
#include "remediad/utf8.h"
#include "remediad/worker.h"

#define PB_RETRY_MS   250  /* records the log refused are tried again */
#define PB_SWEEP_MS   60000
#define PB_HIST	      48   /* run time buckets: 2^(i/2) us */
#define PB_MAX_PRIOR  1000 /* plans remembered per escalation key */
#define PB_MAX_KEYS   1000000


/* ---- Structures ----------------------------------------------------------- */

struct pbrun;
TAILQ_HEAD(pbruns, pbrun);

/*
 * One value of a playbook's dedup/escalation key. Values come from alerts
 * and may be 4096 bytes long: a key keeps its value's 128-bit SipHash (in
 * hex, the index's id) under its playbook's own random key, so each costs
 * the same whatever the alerts carry.
 */
#define PB_TAG_HEX 32
struct pbkey {
	char tag[PB_TAG_HEX + 1];
	uint64_t last_run_ms; /* dedup: the last run that counted, 0 none */
	uint64_t *plans;      /* escalation: times of the plans made */
	size_t nplans, cap;
	int busy;	      /* a run with this key is in flight */
	struct pbruns parked; /* runs waiting for it */
	LIST_ENTRY(pbkey) entry;
};

/* A playbook's life across sets, by name. */
struct pbstats {
	char *name;
	uint64_t matched, planned, empty, skipped, failed, quarantines;
	int quarantined;
	uint64_t *fails; /* times of recent failures, a ring of fails_k */
	size_t nfails, fails_head, fails_k;
	uint64_t hist[PB_HIST];
	uint64_t runs_timed;
	struct idmap *keys; /* value's tag -> pbkey */
	uint64_t tagkey[2];
	LIST_HEAD(, pbkey) keylist;
	size_t nkeys;
	int keys_full; /* at PB_MAX_KEYS, and said so */
	LIST_ENTRY(pbstats) entry;
};

struct strset {
	char **v;
	size_t n;
};

/* A playbook of a set, as the worker described it. */
struct pbdef {
	char *name, *file;
	struct strset source, category, rule;
	int min_severity; /* -1: any */
	unsigned int has; /* the fields it needs, as pb_alert.present bits */
	int protected; /* -1: any; 0, 1: the host must not, must be */
	int when, dry_run;
	/* The alert fields (entities) of dedup and escalate, or -1. */
	int dedup_field, escalate_field;
	uint64_t dedup_ms, escalate_ms;
	struct pbstats *st;
};

struct pbset {
	struct playbooks *pb;
	struct wpool *pool;
	struct pbdef *defs;
	size_t n;
	json_t *assets; /* the inventory its workers have, for protected */
	int refs;    /* runs in flight, plus one while current */
	int loaded;  /* ready() came */
	char *error; /* ready() said it does not load */
	pb_reload_cb reload_cb;
	void *reload_arg;
};

/* An alert submitted: freed when its last outcome is recorded. */
struct pbjob {
	struct playbooks *pb;
	char *body; /* the alert and its message, as run frames carry them */
	size_t bodylen;
	/*
	 * What the body is made from, while the submit that made the job
	 * runs: a body is encoded only for a run that goes to a worker or
	 * waits for its key, not for one that dedup skips at once.
	 */
	const struct pb_alert *alert;
	const char *raw;
	size_t rawlen;
	char *id;
	uint64_t alert_seq;
	size_t outstanding;
	uint64_t last_seq;
	int failed;
	pb_done_cb done;
	void *arg;
};

struct pbrun {
	struct wrun w; /* w.arg is this run */
	struct pbjob *job;
	struct pbset *set;
	struct pbdef *def;
	struct pbkey *key; /* held while in flight, or NULL */
	char *dedup_value, *escalate_value; /* the alert's, for the keys */
	TAILQ_ENTRY(pbrun) park;
	LIST_ENTRY(pbrun) live; /* every run, for playbooks_close() */
};

/*
 * A run's outcome record: its type and what it says besides the job's
 * alert and alert_seq. The strings are the run's while it is appended at
 * once; one the log refuses for now is kept with copies (pbpending).
 */
struct outcome {
	const char *type; /* plan.created, playbook.matched, .skipped, .failed */
	const char *playbook;
	const char *dedup_key, *escalate_key; /* the values, or NULL */
	const char *reason, *error;	      /* or NULL */
	const char *actions; /* plan.created: the plan, canonical text */
	size_t actions_len;
	int64_t us, prior;
	int has_us, has_prior, dry_run;
};

/* An outcome record the log refused for now, with its own strings. */
struct pbpending {
	struct pbjob *job;
	struct outcome o;
	char *strings[6];
	TAILQ_ENTRY(pbpending) entry;
};
TAILQ_HEAD(pbpendings, pbpending);

/*
 * The runs an alert owes (see the top comment). One allocation: the
 * struct, then names[], then the strings.
 */
struct owed {
	char *id;
	uint64_t seq; /* of its alert.received */
	char **names;
	size_t n;
	int inflight;
};

struct playbooks {
	struct daemon *d;
	struct pbset *cur;
	struct pbset *loading; /* a reload in progress */
	LIST_HEAD(, pbstats) stats;
	struct idmap *owed; /* alert id -> struct owed */
	struct pbpendings pending;
	size_t npending;
	LIST_HEAD(, pbrun) live;
	struct event *ev_retry, *ev_sweep;
	struct audit_buf plan; /* a result's plan, checked: its text */
	struct children *children;
	int closing;
	uint64_t runs, failures;
};

static void pbrun_dispatch(struct pbrun *run, int first);
static void pbset_unref(struct pbset *set);

/* ---- Small helpers -------------------------------------------------------- */

static void
strset_free(struct strset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* A string or a list of strings (checked by the worker already). */
static void
strset_from(struct strset *s, const json_t *v)
{
	size_t i;
	json_t *e;

	if (json_is_string(v)) {
		s->v = calloc(1, sizeof *s->v);
		s->v[0] = strdup(json_string_value(v));
		s->n = 1;
		return;
	}
	if (!json_is_array(v))
		return;
	s->v = calloc(json_array_size(v) + 1, sizeof *s->v);
	json_array_foreach(v, i, e)
		if (json_is_string(e))
			s->v[s->n++] = strdup(json_string_value(e));
}

static int
strset_has(const struct strset *s, const char *v)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], v) == 0)
			return 1;
	return 0;
}

/* A name of match.has as a pb_alert.present bit; one no field has is a
 * bit no alert sets. */
static unsigned int
pbdef_has_bit(const json_t *name)
{
	int f = alert_field_index(json_string_value(name));

	return f >= 0 ? 1u << f : 1u << ALERT_NFIELDS;
}

/* match.has, a name or a list (checked by the worker already). */
static unsigned int
pbdef_has(const json_t *v)
{
	unsigned int bits = 0;
	size_t i;
	json_t *e;

	if (json_is_string(v))
		return pbdef_has_bit(v);
	json_array_foreach(v, i, e)
		if (json_is_string(e))
			bits |= pbdef_has_bit(e);
	return bits;
}

/* ---- The alert, as read here --------------------------------------------- */

void
pb_alert_of_flat(struct pb_alert *a, const struct alert_flat *f,
    const char *store)
{
	memset(a, 0, sizeof *a);
	a->present = f->set;
	for (unsigned int i = 0; i < ALERT_NFIELDS; i++)
		a->text[i] = alert_flat_text(f, store, i, &a->len[i]);
	if (f->set & (1u << ALERT_FIELD_SEVERITY)) {
		a->has_severity = 1;
		a->severity = f->severity;
	}
}

/* An alert given as an object (offline): its canonical members. */
static void
pb_alert_of_json(struct pb_alert *a, const json_t *alert)
{
	memset(a, 0, sizeof *a);
	for (unsigned int i = 0; i < ALERT_NFIELDS; i++) {
		json_t *v = json_object_get(alert, alert_field_name(i));
		if (v == NULL)
			continue;
		a->present |= 1u << i;
		if (json_is_string(v)) {
			a->text[i] = json_string_value(v);
			a->len[i] = json_string_length(v);
		} else if (i == ALERT_FIELD_SEVERITY && json_is_integer(v)) {
			a->has_severity = 1;
			a->severity = json_integer_value(v);
		}
	}
}

/* The run frames' shared part: what run() finds in the alert, and raw. */
static char *
pb_alert_body(const struct pb_alert *a, const char *raw, size_t rawlen,
    size_t *lenp)
{
	struct pbfield f[ALERT_NFIELDS];
	size_t n = 0;

	for (unsigned int i = 0; i < ALERT_NFIELDS; i++) {
		const char *name = alert_field_name(i);
		if (a->text[i] != NULL)
			f[n++] = (struct pbfield){name, strlen(name),
			    a->text[i], a->len[i], 0};
		else if (i == ALERT_FIELD_SEVERITY && a->has_severity)
			f[n++] = (struct pbfield){name, strlen(name), NULL, 0,
			    a->severity};
	}
	return wrun_body(f, n, raw, rawlen, lenp);
}

/* ---- Stats and keys ----------------------------------------------------------- */

static struct pbstats *
pbstats_get(struct playbooks *pb, const char *name)
{
	struct pbstats *st;

	LIST_FOREACH(st, &pb->stats, entry)
		if (strcmp(st->name, name) == 0)
			return st;
	st = calloc(1, sizeof *st);
	if (st == NULL || (st->name = strdup(name)) == NULL)
		fatalx("playbooks: out of memory");
	if (siphash_key(st->tagkey) == -1)
		fatalx("playbooks: no random key for the key index");
	LIST_INIT(&st->keylist);
	LIST_INSERT_HEAD(&pb->stats, st, entry);
	return st;
}

static void
pbkey_free(struct pbkey *k)
{
	free(k->plans);
	free(k);
}

static struct pbkey *
pbkey_get(struct pbstats *st, const char *value, int create)
{
	struct pbkey *k;
	uint64_t t[2];
	char tag[PB_TAG_HEX + 1];

	if (st->keys == NULL) {
		if (!create)
			return NULL;
		if ((st->keys = idmap_new()) == NULL)
			fatalx("playbooks: out of memory");
	}
	siphash24_128(st->tagkey, (const unsigned char *)value, strlen(value),
	    t);
	hex_encode(tag, (const unsigned char *)t, sizeof t);
	tag[PB_TAG_HEX] = '\0';
	if ((k = idmap_get(st->keys, tag)) != NULL)
		return k;
	if (!create)
		return NULL;
	if (st->nkeys >= PB_MAX_KEYS) {
		if (!st->keys_full)
			log_warnx("playbooks: %s holds %d key values: new "
			    "values run without dedup and escalate windows "
			    "until older ones expire", st->name, PB_MAX_KEYS);
		st->keys_full = 1;
		return NULL;
	}
	k = calloc(1, sizeof *k);
	if (k == NULL)
		fatalx("playbooks: out of memory");
	memcpy(k->tag, tag, sizeof k->tag);
	if (idmap_put(st->keys, k->tag, k) == -1)
		fatalx("playbooks: out of memory");
	TAILQ_INIT(&k->parked);
	LIST_INSERT_HEAD(&st->keylist, k, entry);
	st->nkeys++;
	return k;
}

/* Out of the index and the list, and freed. */
static void
pbkey_drop(struct pbstats *st, struct pbkey *k)
{
	idmap_del(st->keys, k->tag);
	LIST_REMOVE(k, entry);
	st->nkeys--;
	if (st->nkeys < PB_MAX_KEYS / 10 * 9)
		st->keys_full = 0;
	pbkey_free(k);
}

/* Plans of the escalation window before now. */
static int64_t
pbkey_prior(struct pbkey *k, uint64_t window, uint64_t now)
{
	size_t keep = 0;

	for (size_t i = 0; i < k->nplans; i++)
		if (k->plans[i] + window > now)
			k->plans[keep++] = k->plans[i];
	k->nplans = keep;
	return (int64_t)keep;
}

static void
pbkey_add_plan(struct pbkey *k, uint64_t t)
{
	if (k->nplans == PB_MAX_PRIOR) {
		memmove(k->plans, k->plans + 1, (k->nplans - 1) * sizeof
		    *k->plans);
		k->nplans--;
	}
	if (k->nplans == k->cap) {
		size_t ncap = k->cap ? k->cap * 2 : 4;
		uint64_t *np = realloc(k->plans, ncap * sizeof *np);
		if (np == NULL)
			fatalx("playbooks: out of memory");
		k->plans = np;
		k->cap = ncap;
	}
	k->plans[k->nplans++] = t;
}

/* Forgets keys whose windows have passed and that nothing waits on. */
static void
pbstats_sweep(struct pbstats *st, uint64_t window, uint64_t now)
{
	struct pbkey *k, *next;

	for (k = LIST_FIRST(&st->keylist); k != NULL; k = next) {
		next = LIST_NEXT(k, entry);
		if (!k->busy && TAILQ_EMPTY(&k->parked) &&
		    k->last_run_ms + window <= now &&
		    pbkey_prior(k, window, now) == 0)
			pbkey_drop(st, k);
	}
}

/* Bucket b holds run times in [2^(b/2), 2^((b+1)/2)) microseconds. */
static void
pbstats_time(struct pbstats *st, uint64_t us)
{
	int b = 0;

	if (us > 0) {
		int l = 63 - __builtin_clzll(us);
		b = 2 * l + ((double)us >= 1.41421356 * (double)(1ULL << l));
	}
	if (b >= PB_HIST)
		b = PB_HIST - 1;
	st->hist[b]++;
	st->runs_timed++;
}

/* The upper bound of the bucket holding quantile q. */
static uint64_t
pbstats_pct(const struct pbstats *st, double q)
{
	uint64_t want = (uint64_t)((double)st->runs_timed * q + 0.5), seen = 0;

	if (st->runs_timed == 0)
		return 0;
	if (want == 0)
		want = 1;
	for (int b = 0; b < PB_HIST; b++) {
		seen += st->hist[b];
		if (seen >= want) {
			double hi = (double)(1ULL << ((b + 1) / 2));
			return (uint64_t)(b % 2 ? hi : hi * 1.41421356);
		}
	}
	return 0;
}

/* ---- Owed runs ------------------------------------------------------------- */

static struct owed *
owed_find(struct playbooks *pb, const char *id)
{
	return idmap_get(pb->owed, id);
}

static struct owed *
owed_add(struct playbooks *pb, const char *id, uint64_t seq,
    const char *const *names, size_t nn)
{
	struct owed *o = owed_find(pb, id);
	size_t size = sizeof *o + (nn + 1) * sizeof *o->names + strlen(id) + 1;

	if (o != NULL)
		return o;
	for (size_t i = 0; i < nn; i++)
		size += strlen(names[i]) + 1;
	if ((o = malloc(size)) == NULL)
		fatalx("playbooks: out of memory");
	memset(o, 0, sizeof *o);
	o->seq = seq;
	o->names = (char **)(o + 1);
	char *str = (char *)(o->names + nn + 1);
	for (size_t i = 0; i < nn; i++) {
		size_t len = strlen(names[i]) + 1;
		o->names[o->n++] = str;
		memcpy(str, names[i], len);
		str += len;
	}
	o->id = str;
	strcpy(o->id, id);
	if (idmap_put(pb->owed, o->id, o) == -1)
		fatalx("playbooks: out of memory");
	return o;
}

/* Nothing owed any more. */
static void
owed_drop(struct playbooks *pb, struct owed *o)
{
	idmap_del(pb->owed, o->id);
	free(o); /* one block (owed_add) */
}

/* An outcome for (id, name) is in the log: that run is owed no more. */
static void
owed_settle(struct playbooks *pb, const char *id, const char *name)
{
	struct owed *o = owed_find(pb, id);

	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n; i++) {
		if (strcmp(o->names[i], name) == 0) {
			o->names[i] = o->names[--o->n];
			break;
		}
	}
	if (o->n == 0)
		owed_drop(pb, o);
}

/* ---- Outcomes --------------------------------------------------------------- */

static void
pbjob_free(struct pbjob *job)
{
	free(job->id);
	free(job->body);
	free(job);
}

static void
pbjob_settle(struct pbjob *job, uint64_t seq, int ok)
{
	if (!ok)
		job->failed = 1;
	if (seq > job->last_seq)
		job->last_seq = seq;
	if (--job->outstanding > 0)
		return;
	struct owed *o = owed_find(job->pb, job->id);
	if (o != NULL)
		o->inflight = 0;
	job->done(job->arg, job->last_seq, !job->failed);
	pbjob_free(job);
}

/* The record's fields as members, in no particular order; returns n. */
static size_t
outcome_members(const struct pbjob *job, const struct outcome *o,
    struct audit_member *mb, char *seq, char *us, char *prior)
{
	size_t n = 0;

#define OM_TEXT(k, v)                                                   \
	do {                                                            \
		if ((v) != NULL)                                        \
			mb[n++] = (struct audit_member){k, NULL, v,     \
			    strlen(v), 0};                              \
	} while (0)
#define OM_INT(k, buf, v)                                               \
	do {                                                            \
		const char *t_ = audit_int_text(buf, v);                \
		mb[n++] = (struct audit_member){k, NULL, t_,            \
		    (size_t)((buf) + 24 - t_), 1};                      \
	} while (0)
	OM_TEXT("alert", job->id);
	OM_INT("alert_seq", seq, (int64_t)job->alert_seq);
	OM_TEXT("playbook", o->playbook);
	OM_TEXT("dedup_key", o->dedup_key);
	OM_TEXT("escalate_key", o->escalate_key);
	OM_TEXT("reason", o->reason);
	OM_TEXT("error", o->error);
	if (o->has_us)
		OM_INT("us", us, o->us);
	if (o->actions != NULL)
		mb[n++] = (struct audit_member){"actions", NULL, o->actions,
		    o->actions_len, 1};
	if (o->dry_run)
		mb[n++] = (struct audit_member){"dry_run", NULL, "true", 4, 1};
	if (o->has_prior)
		OM_INT("prior", prior, o->prior);
#undef OM_TEXT
#undef OM_INT
	return n;
}

/* The same fields as an object, for the action runner. */
static json_t *
outcome_json(const struct pbjob *job, const struct outcome *o)
{
	struct audit_member mb[12];
	char seq[24], us[24], prior[24];
	size_t n = outcome_members(job, o, mb, seq, us, prior);
	json_t *f = json_object();

	for (size_t i = 0; f != NULL && i < n; i++) {
		/* Members are text: escaped strings, or JSON (verbatim). */
		json_t *v = mb[i].verbatim ? json_loadb(mb[i].str, mb[i].slen,
		    JSON_DECODE_ANY, NULL) : json_stringn(mb[i].str,
		    mb[i].slen);
		if (json_object_set_new(f, mb[i].key, v) != 0) {
			json_decref(f);
			f = NULL;
		}
	}
	if (f == NULL)
		fatalx("playbooks: out of memory");
	return f;
}

static void
outcome_keep(struct pbpending *p, const struct outcome *o)
{
	const char *const *from[] = {&o->playbook, &o->dedup_key,
	    &o->escalate_key, &o->reason, &o->error};
	const char **to[] = {&p->o.playbook, &p->o.dedup_key,
	    &p->o.escalate_key, &p->o.reason, &p->o.error};

	p->o = *o;
	for (size_t i = 0; i < 5; i++) {
		if (*from[i] == NULL)
			continue;
		if ((p->strings[i] = strdup(*from[i])) == NULL)
			fatalx("playbooks: out of memory");
		*to[i] = p->strings[i];
	}
	if (o->actions != NULL) {
		if ((p->strings[5] = malloc(o->actions_len)) == NULL)
			fatalx("playbooks: out of memory");
		memcpy(p->strings[5], o->actions, o->actions_len);
		p->o.actions = p->strings[5];
	}
}

static void
pbpending_free(struct pbpending *p)
{
	for (size_t i = 0; i < 6; i++)
		free(p->strings[i]);
	free(p);
}

/*
 * Appends one outcome record; the log may refuse it for now (full,
 * stalled), then it waits and is tried again: nothing is dropped.
 */
static void
outcome_append(struct playbooks *pb, struct pbjob *job, struct outcome *o)
{
	struct audit_member mb[12];
	char seq[24], us[24], prior[24];
	const char *cause;
	uint64_t rseq;

	if (!TAILQ_EMPTY(&pb->pending) && !pb->closing)
		goto later; /* keep the order of an alert's records */
	rseq = audit_append_members(pb->d->audit, o->type, "system", mb,
	    outcome_members(job, o, mb, seq, us, prior), &cause);
	if (rseq == 0 && errno == EFBIG) {
		/* Too big to record (a huge plan): its failure is not. */
		*o = (struct outcome){"playbook.failed", o->playbook,
		    o->dedup_key, o->escalate_key, "invalid_plan",
		    "the plan is larger than audit.max_record", NULL, 0, 0, 0,
		    0, 0, 0};
		rseq = audit_append_members(pb->d->audit, o->type, "system",
		    mb, outcome_members(job, o, mb, seq, us, prior), &cause);
	}
	if (rseq != 0) {
		/* A plan goes to the action runner (once it is durable). */
		if (strcmp(o->type, "plan.created") == 0 &&
		    pb->d->actions != NULL) {
			json_t *f = outcome_json(job, o);
			actions_plan(pb->d->actions, rseq, f);
			json_decref(f);
		}
		owed_settle(pb, job->id, o->playbook);
		pbjob_settle(job, rseq, 1);
		return;
	}
	if (pb->closing) {
		pbjob_settle(job, 0, 0);
		return;
	}
	log_warnx("playbooks: %s for %s waits: %s", o->type, o->playbook,
	    cause);
later:;
	struct pbpending *p = calloc(1, sizeof *p);
	if (p == NULL)
		fatalx("playbooks: out of memory");
	p->job = job;
	outcome_keep(p, o);
	TAILQ_INSERT_TAIL(&pb->pending, p, entry);
	pb->npending++;
	if (!evtimer_pending(pb->ev_retry, NULL)) {
		struct timeval tv = {0, PB_RETRY_MS * 1000};
		evtimer_add(pb->ev_retry, &tv);
	}
}

static void
pb_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct playbooks *pb = arg;
	struct pbpending *p;
	struct pbpendings todo;

	TAILQ_INIT(&todo);
	TAILQ_CONCAT(&todo, &pb->pending, entry);
	pb->npending = 0;
	while ((p = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, p, entry);
		if (!TAILQ_EMPTY(&pb->pending)) {
			/* Refused again: the rest keep their order. */
			TAILQ_INSERT_TAIL(&pb->pending, p, entry);
			pb->npending++;
			continue;
		}
		outcome_append(pb, p->job, &p->o);
		pbpending_free(p);
	}
}

/* An outcome of the run, its keys filled in. */
static struct outcome
outcome_of(const struct pbrun *run, const char *type)
{
	return (struct outcome){.type = type, .playbook = run->def->name,
	    .dedup_key = run->dedup_value,
	    .escalate_key = run->escalate_value};
}

/* K failures within the window: no more runs until the next reload. */
static void
pb_count_failure(struct playbooks *pb, struct pbstats *st)
{
	const struct config_playbooks *c = &pb->d->cfg->playbooks;
	size_t k = (size_t)c->quarantine_failures;
	uint64_t now = units_now_ms();

	st->failed++;
	pb->failures++;
	if (st->fails_k != k) {
		free(st->fails);
		if ((st->fails = calloc(k, sizeof *st->fails)) == NULL)
			fatalx("playbooks: out of memory");
		st->fails_k = k;
		st->nfails = st->fails_head = 0;
	}
	st->fails[st->fails_head] = now;
	st->fails_head = (st->fails_head + 1) % k;
	if (st->nfails < k)
		st->nfails++;
	/* The oldest of the last k is at the head once the ring is full. */
	if (st->quarantined || st->nfails < k ||
	    st->fails[st->fails_head] + c->quarantine_window_ms < now)
		return;
	st->quarantined = 1;
	st->quarantines++;
	log_warnx("playbook %s quarantined: %zu failures within %llu ms",
	    st->name, k, (unsigned long long)c->quarantine_window_ms);
	audit_append_logged(pb->d->audit, "playbook.quarantined", "system",
	    json_pack("{s:s, s:I, s:I}", "playbook", st->name, "failures",
	    (json_int_t)k, "window_ms", (json_int_t)c->quarantine_window_ms));
}

static void
pbrun_free(struct pbrun *run)
{
	LIST_REMOVE(run, live);
	free(run->dedup_value);
	free(run->escalate_value);
	free(run);
}

/* The run is over: its key goes to the next waiting run. */
static void
pbrun_finish(struct pbrun *run)
{
	struct pbkey *k = run->key;
	struct pbset *set = run->set;

	pbrun_free(run);
	if (k != NULL) {
		k->busy = 0;
		struct pbrun *next = TAILQ_FIRST(&k->parked);
		if (next != NULL) {
			TAILQ_REMOVE(&k->parked, next, park);
			pbrun_dispatch(next, 1); /* its key waited */
		}
	}
	pbset_unref(set);
}

static void
pbrun_failed(struct pbrun *run, const char *reason, const char *error)
{
	struct playbooks *pb = run->job->pb;
	struct outcome o = outcome_of(run, "playbook.failed");
	char text[1024];

	/* Into the audit log only as text (an error may quote a cut). */
	if (!utf8_valid(error, strlen(error), 0)) {
		snprintf(text, sizeof text, "%s", error);
		utf8_repair(text);
		error = text;
	}
	o.reason = reason;
	o.error = error;
	log_warnx("playbook %s failed on alert %s: %s: %s", run->def->name,
	    run->job->id, reason, error);
	/* A failed run counts for dedup: it is not retried by itself. */
	if (run->key != NULL && run->def->dedup_field >= 0)
		run->key->last_run_ms = units_now_ms();
	pb_count_failure(pb, run->def->st);
	outcome_append(pb, run->job, &o);
	pbrun_finish(run);
}

static void
pb_log_lines(const struct pbrun *run, const struct jscan *js,
    const struct jscan_value *logs)
{
	const struct jscan_value *e;

	if (!jscan_is(logs, JSCAN_ARRAY))
		return;
	for (e = jscan_first(js, logs); e != NULL; e = jscan_next(js, e)) {
		const char *msg = jscan_get_str(js, e, "msg");
		int lvl = log_level_parse(jscan_get_str(js, e, "level"));
		log_msg(lvl < 0 ? LOG_LVL_INFO : (enum log_level)lvl,
		    "playbook %s: %s", run->def->name, msg ? msg : "");
	}
}

static void
pool_result_cb(struct wpool *p, struct wrun *w, const struct jscan *js,
    const struct jscan_value *res)
{
	struct pbrun *run = w->arg;
	struct playbooks *pb = run->job->pb;
	struct pbstats *st = run->def->st;
	const char *status = jscan_get_str(js, res, "status");
	const struct jscan_value *us = jscan_get(js, res, "us", 2);
	struct outcome o;
	char err[512];
	int n;

	pb->runs++;
	if (jscan_is(us, JSCAN_INTEGER) && us->u.i >= 0)
		pbstats_time(st, (uint64_t)us->u.i);
	pb_log_lines(run, js, jscan_get(js, res, "logs", 4));
	if (strcmp(status, "skip") == 0) {
		st->skipped++;
		o = outcome_of(run, "playbook.skipped");
		o.reason = "when";
		outcome_append(pb, run->job, &o);
		pbrun_finish(run);
		return;
	}
	if (strcmp(status, "plan") != 0) {
		const char *kind = jscan_get_str(js, res, "kind");
		const char *e = jscan_get_str(js, res, "error");
		pbrun_failed(run, kind ? kind : "runtime", e ? e : "failed");
		return;
	}
	/* With connectors, only the actions they map may be requested. */
	const struct config_connectors *cc = &pb->d->cfg->connectors;
	json_t *none = cc->present && cc->actions == NULL ? json_object() :
	    NULL;
	pb->plan.len = 0;
	n = plan_check(js, jscan_get(js, res, "actions", 7), cc->present ?
	    (cc->actions ? cc->actions : none) : NULL, &pb->plan, err,
	    sizeof err);
	json_decref(none);
	if (n < 0) {
		pbrun_failed(run, "invalid_plan", err);
		return;
	}
	uint64_t now = units_now_ms();
	if (run->key != NULL && run->def->dedup_field >= 0)
		run->key->last_run_ms = now;
	o = outcome_of(run, "playbook.matched");
	o.has_us = 1;
	o.us = jscan_is(us, JSCAN_INTEGER) ? us->u.i : 0;
	if (n == 0) {
		st->empty++;
	} else {
		st->planned++;
		if (run->def->escalate_field >= 0 && run->escalate_value) {
			struct pbkey *k = run->key;
			if (k != NULL)
				pbkey_add_plan(k, now);
		}
		o.type = "plan.created";
		o.actions = pb->plan.data;
		o.actions_len = pb->plan.len;
		o.dry_run = run->def->dry_run;
		o.has_prior = run->def->escalate_field >= 0;
		o.prior = run->w.prior;
	}
	outcome_append(pb, run->job, &o);
	if (pb->plan.cap > 1024 * 1024)
		audit_buf_free(&pb->plan); /* what a huge plan grew */
	pbrun_finish(run);
}

static void
pool_failed_cb(struct wpool *p, struct wrun *w, const char *reason,
    const char *detail)
{
	pbrun_failed(w->arg, reason, detail);
}

/* ---- Dispatch ----------------------------------------------------------------- */

/* The run frame's body, made for the first run of the job that needs it. */
static void
pbrun_body(struct pbrun *run)
{
	struct pbjob *job = run->job;

	if (job->body == NULL) {
		/* Only the submit can get here first, the alert at hand. */
		if (job->alert == NULL)
			fatalx("playbooks: a run without its alert");
		job->body = pb_alert_body(job->alert, job->raw, job->rawlen,
		    &job->bodylen);
	}
	run->w.body = job->body;
	run->w.bodylen = job->bodylen;
}

/*
 * Sends a run to the pool, unless its key is busy (it parks) or dedup
 * skips it. `first`: it waited for its key, so it goes ahead of the queue
 * (runs on one key go one at a time; each queued behind all the others
 * made a hot key's runs crawl).
 */
static void
pbrun_dispatch(struct pbrun *run, int first)
{
	struct pbdef *def = run->def;
	struct pbstats *st = def->st;
	uint64_t now = units_now_ms();
	const char *keyval = run->dedup_value ? run->dedup_value :
	    run->escalate_value;

	if (keyval != NULL && run->key == NULL) {
		struct pbkey *k = pbkey_get(st, keyval, 1);
		if (k != NULL && k->busy) {
			pbrun_body(run);
			TAILQ_INSERT_TAIL(&k->parked, run, park);
			return;
		}
		if (k != NULL) {
			k->busy = 1;
			run->key = k;
		}
	}
	if (run->key != NULL && run->dedup_value != NULL &&
	    run->key->last_run_ms != 0 &&
	    run->key->last_run_ms + def->dedup_ms > now) {
		struct outcome o = outcome_of(run, "playbook.skipped");
		o.reason = "dedup";
		st->skipped++;
		outcome_append(run->job->pb, run->job, &o);
		pbrun_finish(run);
		return;
	}
	run->w.prior = 0;
	if (run->key != NULL && run->escalate_value != NULL)
		run->w.prior = pbkey_prior(run->key, def->escalate_ms, now);
	pbrun_body(run);
	wpool_submit(run->set->pool, &run->w, first);
}

/*
 * The dedup window skips a run of def on the alert at once: its key ran
 * recently, and no run with it is in flight (one that is decides for the
 * runs waiting for it, when it ends).
 */
static int
pb_dedup_skips(const struct pbdef *def, const struct pb_alert *alert,
    uint64_t now)
{
	const char *v = def->dedup_field >= 0 ?
	    alert->text[def->dedup_field] : NULL;
	struct pbkey *k = v != NULL ? pbkey_get(def->st, v, 0) : NULL;

	return k != NULL && !k->busy && k->last_run_ms != 0 &&
	    k->last_run_ms + def->dedup_ms > now;
}

size_t
playbooks_match(struct playbooks *pb, const struct pb_alert *alert,
    uint64_t now_ms, struct pb_match *m)
{
	struct pbset *set = pb->cur;
	const char *source = alert->text[ALERT_FIELD_SOURCE];
	const char *category = alert->text[ALERT_FIELD_CATEGORY];
	const char *rule = alert->text[ALERT_FIELD_RULE];
	int protected = -1; /* looked up once, when a playbook asks */

	m->set = set;
	m->n = m->nskipped = 0;
	if (set == NULL)
		return 0;
	for (size_t i = 0; i < set->n; i++) {
		const struct pbdef *def = &set->defs[i];
		if (def->st->quarantined)
			continue;
		if (def->source.n && (source == NULL ||
		    !strset_has(&def->source, source)))
			continue;
		if (def->category.n && (category == NULL ||
		    !strset_has(&def->category, category)))
			continue;
		if (def->rule.n && (rule == NULL ||
		    !strset_has(&def->rule, rule)))
			continue;
		if (def->min_severity >= 0 && (!alert->has_severity ||
		    alert->severity < def->min_severity))
			continue;
		if ((alert->present & def->has) != def->has)
			continue;
		if (def->protected >= 0) {
			if (protected < 0)
				protected = pbhost_asset_protected(set->assets,
				    alert->text[ALERT_FIELD_HOST]);
			if (protected != def->protected)
				continue;
		}
		if (pb_dedup_skips(def, alert, now_ms))
			m->skipped[m->nskipped++] = (uint16_t)i;
		else
			m->idx[m->n++] = (uint16_t)i;
	}
	return m->n + m->nskipped;
}

size_t
playbooks_match_names(const struct pb_match *m, int skipped,
    char out[PB_NAMES_TEXT_MAX])
{
	const uint16_t *idx = skipped ? m->skipped : m->idx;
	size_t n = skipped ? m->nskipped : m->n, len = 0;

	/* The names need no escaping: pbset_define() checked them. */
	out[len++] = '[';
	for (size_t i = 0; i < n; i++) {
		const char *name = m->set->defs[idx[i]].name;
		size_t nl = strlen(name);
		if (i > 0)
			out[len++] = ',';
		out[len++] = '"';
		memcpy(out + len, name, nl);
		len += nl;
		out[len++] = '"';
	}
	out[len++] = ']';
	return len;
}

/* Field i's text, copied, or NULL when it has none. */
static char *
pb_alert_dup(const struct pb_alert *a, int i)
{
	char *c;

	if (i < 0 || a->text[i] == NULL)
		return NULL;
	if ((c = malloc(a->len[i] + 1)) == NULL)
		fatalx("playbooks: out of memory");
	memcpy(c, a->text[i], a->len[i]);
	c[a->len[i]] = '\0';
	return c;
}

static void
pb_submit_runs(struct playbooks *pb, struct pbset *set, const uint16_t *idx,
    size_t n, const struct pb_alert *alert, const char *raw, size_t rawlen,
    uint64_t alert_seq, pb_done_cb done, void *arg)
{
	struct pbjob *job;

	job = calloc(1, sizeof *job);
	if (job == NULL)
		fatalx("playbooks: out of memory");
	job->pb = pb;
	/* The job keeps no tree: a body is encoded, if need be, right here. */
	job->alert = alert;
	job->raw = raw;
	job->rawlen = rawlen;
	job->id = pb_alert_dup(alert, ALERT_FIELD_ID);
	if (job->id == NULL)
		fatalx("playbooks: an alert without an id");
	job->alert_seq = alert_seq;
	/* One more than the runs: the job outlives this loop. */
	job->outstanding = n + 1;
	job->done = done;
	job->arg = arg;
	for (size_t i = 0; i < n; i++) {
		struct pbrun *run = calloc(1, sizeof *run);
		if (run == NULL)
			fatalx("playbooks: out of memory");
		run->job = job;
		run->set = set;
		set->refs++;
		LIST_INSERT_HEAD(&pb->live, run, live);
		run->def = &set->defs[idx[i]];
		run->def->st->matched++;
		run->w.playbook = idx[i];
		run->w.arg = run;
		run->dedup_value = pb_alert_dup(alert, run->def->dedup_field);
		run->escalate_value = pb_alert_dup(alert,
		    run->def->escalate_field);
		pbrun_dispatch(run, 0);
	}
	job->alert = NULL; /* gone once this returns */
	job->raw = NULL;
	pbjob_settle(job, 0, 1);
}

void
playbooks_submit(struct playbooks *pb, const struct pb_match *m,
    const struct pb_alert *alert, const char *raw, size_t rawlen,
    uint64_t alert_seq, pb_done_cb done, void *arg)
{
	for (size_t i = 0; m->set != NULL && i < m->nskipped; i++) {
		struct pbstats *st = m->set->defs[m->skipped[i]].st;
		st->matched++;
		st->skipped++;
	}
	if (m->n == 0 || m->set == NULL) {
		done(arg, 0, 1);
		return;
	}
	const char *names[PLAYBOOK_MAX_COUNT];
	for (size_t i = 0; i < m->n; i++)
		names[i] = m->set->defs[m->idx[i]].name;
	struct owed *o = owed_add(pb, alert->text[ALERT_FIELD_ID], alert_seq,
	    names, m->n);
	o->inflight = 1;
	pb_submit_runs(pb, m->set, m->idx, m->n, alert, raw, rawlen,
	    alert_seq, done, arg);
}

int
playbooks_resume(struct playbooks *pb, const struct pb_alert *alert,
    const char *raw, size_t rawlen, pb_done_cb done, void *arg)
{
	const char *id = alert->text[ALERT_FIELD_ID];
	struct owed *o = id ? owed_find(pb, id) : NULL;
	struct pbset *set = pb->cur;
	uint16_t idx[PLAYBOOK_MAX_COUNT];
	size_t n = 0;

	if (o == NULL || o->inflight || set == NULL)
		return 0;
	for (size_t i = 0; i < o->n; i++) {
		size_t j;
		for (j = 0; j < set->n; j++)
			if (strcmp(set->defs[j].name, o->names[i]) == 0)
				break;
		if (j < set->n && !set->defs[j].st->quarantined)
			idx[n++] = (uint16_t)j;
	}
	log_info("playbooks: alert %s owes %zu run(s); running %zu", id, o->n,
	    n);
	if (n == 0) {
		/* Its playbooks are gone or quarantined: nothing to owe. */
		owed_drop(pb, o);
		return 0;
	}
	o->inflight = 1;
	pb_submit_runs(pb, set, idx, n, alert, raw, rawlen, o->seq, done, arg);
	return 1;
}

/* ---- Sets ------------------------------------------------------------------ */

static void
pbset_free(struct pbset *set)
{
	for (size_t i = 0; i < set->n; i++) {
		struct pbdef *d = &set->defs[i];
		free(d->name);
		free(d->file);
		strset_free(&d->source);
		strset_free(&d->category);
		strset_free(&d->rule);
	}
	free(set->defs);
	free(set->error);
	json_decref(set->assets);
	free(set);
}

static void
pbset_unref(struct pbset *set)
{
	if (--set->refs > 0)
		return;
	if (set->pool != NULL)
		wpool_retire(set->pool, 0);
	pbset_free(set);
}

/* The metadata of the first worker becomes the set's match table. */
static int
pbset_define(struct pbset *set, const json_t *meta, char **cause)
{
	struct playbooks *pb = set->pb;
	size_t i;
	json_t *m;

	set->defs = calloc(json_array_size(meta) + 1, sizeof *set->defs);
	if (set->defs == NULL)
		return -1;
	json_array_foreach(meta, i, m) {
		struct pbdef *d = &set->defs[set->n++];
		json_t *match = json_object_get(m, "match"), *w;
		json_t *jn = json_object_get(m, "name");
		const char *name = json_string_value(jn);
		/* A worker is not trusted; records hold names unescaped. */
		if (name == NULL || !playbook_name_valid(name,
		    json_string_length(jn))) {
			*cause = strdup("a worker described a playbook "
			    "without a valid name");
			return -1;
		}
		d->name = strdup(name);
		d->file = strdup(json_string_value(json_object_get(m, "file")) ?
		    json_string_value(json_object_get(m, "file")) : "?");
		d->min_severity = -1;
		d->dedup_field = d->escalate_field = -1;
		strset_from(&d->source, json_object_get(match, "source"));
		strset_from(&d->category, json_object_get(match, "category"));
		strset_from(&d->rule, json_object_get(match, "rule"));
		d->has = pbdef_has(json_object_get(match, "has"));
		w = json_object_get(match, "protected");
		d->protected = json_is_boolean(w) ? json_is_true(w) : -1;
		if (json_is_integer(json_object_get(match, "min_severity")))
			d->min_severity = (int)json_integer_value(
			    json_object_get(match, "min_severity"));
		d->when = json_is_true(json_object_get(m, "when"));
		d->dry_run = json_is_true(json_object_get(m, "dry_run"));
		for (int k = 0; k < 2; k++) {
			w = json_object_get(m, k ? "escalate" : "dedup");
			if (w == NULL)
				continue;
			const char *key = json_string_value(json_object_get(w,
			    "key"));
			uint64_t ms = 0;
			const char *why;
			if (!playbook_is_entity(key) || units_parse_duration(
			    json_string_value(json_object_get(w, "window")) ?
			    json_string_value(json_object_get(w, "window")) :
			    "", &ms, &why) != 0) {
				if (asprintf(cause, "%s: bad %s", d->name,
					k ? "escalate" : "dedup") == -1)
					*cause = NULL;
				return -1;
			}
			if (k) {
				d->escalate_field = alert_field_index(key);
				d->escalate_ms = ms;
			} else {
				d->dedup_field = alert_field_index(key);
				d->dedup_ms = ms;
			}
		}
		d->st = pbstats_get(pb, d->name);
	}
	return 0;
}

static void
pool_ready_cb(struct wpool *p, void *arg, json_t *meta, const char *error)
{
	struct pbset *set = arg;
	char *cause = NULL;

	if (error == NULL && pbset_define(set, meta, &cause) == -1)
		error = cause ? cause : "out of memory";
	if (error != NULL) {
		set->error = strdup(error);
		free(cause);
	} else
		set->loaded = 1;
	if (set->reload_cb != NULL) {
		/* A reload waits in the loop for this (see below). */
		pb_reload_cb cb = set->reload_cb;
		set->reload_cb = NULL;
		cb(set->reload_arg, set->error);
	}
}

static struct pbset *
pbset_start(struct playbooks *pb, char **cause)
{
	const struct config_playbooks *c = &pb->d->cfg->playbooks;
	struct pbsources src;
	struct wpool_opts o = {0};
	struct wpool_cbs cbs = {pool_ready_cb, pool_result_cb, pool_failed_cb};
	struct pbset *set;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (pbsources_read(c->dir, c->assets, &src, cause) == -1)
		return NULL;
	set = calloc(1, sizeof *set);
	if (set == NULL)
		fatalx("playbooks: out of memory");
	/* Parsed from the very text the workers get. */
	if (pbsources_assets(&src, &set->assets, cause) == -1) {
		pbsources_free(&src);
		free(set);
		return NULL;
	}
	set->pb = pb;
	set->refs = 1;
	o.src = &src;
	o.limits.memory = (size_t)c->memory;
	o.limits.instructions = (uint64_t)c->instructions;
	o.max_actions = (int)c->max_actions;
	o.workers = c->workers > 0 ? (int)c->workers : (int)(cpus > 0 ?
	    cpus : 1);
	o.timeout_ms = c->timeout_ms;
	o.load_timeout_ms = c->load_timeout_ms;
	o.owner = pb;
	set->pool = wpool_new(pb->d->base, pb->children, &o, &cbs, set, cause);
	pbsources_free(&src);
	if (set->pool == NULL) {
		json_decref(set->assets);
		free(set);
		return NULL;
	}
	return set;
}

/* Drops a set that never became current. */
static void
pbset_abandon(struct pbset *set)
{
	wpool_retire(set->pool, 1);
	set->pool = NULL;
	pbset_free(set);
}

/* ---- Rebuild from the audit log ------------------------------------------------ */

struct pb_rebuild {
	struct playbooks *pb;
	uint64_t now;
	uint64_t owed_cutoff;
	long long records;
};

static int
pb_rebuild_cb(const struct audit_rec *rec, void *arg)
{
	struct pb_rebuild *r = arg;
	struct playbooks *pb = r->pb;
	int received = rec->type_len == 14 &&
	    memcmp(rec->type, "alert.received", 14) == 0;
	int outcome = (rec->type_len == 12 &&
	    memcmp(rec->type, "plan.created", 12) == 0) ||
	    (rec->type_len > 9 && memcmp(rec->type, "playbook.", 9) == 0);

	if (!received && !outcome)
		return 0;
	json_t *j = audit_rec_json(rec);
	const char *id = json_string_value(json_object_get(j, "alert"));
	json_t *t = json_object_get(j, "time");
	int64_t ms = json_is_string(t) ? dedup_parse_time(json_string_value(t),
	    json_string_length(t)) : -1;
	if (id == NULL || ms < 0) {
		json_decref(j);
		return 0;
	}
	r->records++;
	if (received) {
		json_t *names = json_object_get(j, "playbooks"), *e;
		const char *v[PLAYBOOK_MAX_COUNT];
		size_t i, n = 0;
		json_array_foreach(names, i, e)
			if (json_is_string(e) && n < PLAYBOOK_MAX_COUNT)
				v[n++] = json_string_value(e);
		if ((uint64_t)ms >= r->owed_cutoff && n > 0)
			owed_add(pb, id, rec->seq, v, n);
		json_decref(j);
		return 0;
	}
	const char *name = json_string_value(json_object_get(j, "playbook"));
	if (name == NULL) {
		json_decref(j);
		return 0;
	}
	owed_settle(pb, id, name);
	/* The windows of the playbooks in the current set. */
	struct pbset *set = pb->cur;
	for (size_t i = 0; set != NULL && i < set->n; i++) {
		struct pbdef *d = &set->defs[i];
		if (strcmp(d->name, name) != 0)
			continue;
		const char *dv = json_string_value(json_object_get(j,
		    "dedup_key"));
		const char *ev = json_string_value(json_object_get(j,
		    "escalate_key"));
		int counts = !(rec->type_len == 16 &&
		    memcmp(rec->type, "playbook.skipped", 16) == 0);
		if (d->dedup_field >= 0 && dv && counts &&
		    (uint64_t)ms + d->dedup_ms > r->now) {
			struct pbkey *k = pbkey_get(d->st, dv, 1);
			if (k != NULL && (uint64_t)ms > k->last_run_ms)
				k->last_run_ms = (uint64_t)ms;
		}
		if (d->escalate_field >= 0 && ev && rec->type_len == 12 &&
		    (uint64_t)ms + d->escalate_ms > r->now) {
			struct pbkey *k = pbkey_get(d->st, ev, 1);
			if (k != NULL)
				pbkey_add_plan(k, (uint64_t)ms);
		}
	}
	json_decref(j);
	return 0;
}

static int
pb_rebuild(struct playbooks *pb, char **cause)
{
	struct pb_rebuild r = {pb, units_now_ms(), 0, 0};
	uint64_t longest = pb->d->cfg->dedup.window_ms;
	struct pbset *set = pb->cur;

	for (size_t i = 0; set != NULL && i < set->n; i++) {
		if (set->defs[i].dedup_ms > longest)
			longest = set->defs[i].dedup_ms;
		if (set->defs[i].escalate_ms > longest)
			longest = set->defs[i].escalate_ms;
	}
	/* An alert older than the dedup window is new when it comes back. */
	r.owed_cutoff = r.now > pb->d->cfg->dedup.window_ms ?
	    r.now - pb->d->cfg->dedup.window_ms : 0;
	uint64_t from = dedup_replay_from(audit_dir(pb->d->audit),
	    r.now > longest ? r.now - longest : 0);
	if (audit_replay(audit_dir(pb->d->audit), from, 0, pb_rebuild_cb, &r,
		cause) == -1)
		return -1;
	log_info("playbooks: rebuilt from %lld records: %zu alert(s) owe runs",
	    r.records, idmap_size(pb->owed));
	return 0;
}

/* ---- Open, reload, close ----------------------------------------------------- */

static void
pb_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct playbooks *pb = arg;
	struct pbset *set = pb->cur;
	uint64_t now = units_now_ms();

	for (size_t i = 0; set != NULL && i < set->n; i++) {
		struct pbdef *d = &set->defs[i];
		uint64_t w = d->dedup_ms > d->escalate_ms ? d->dedup_ms :
		    d->escalate_ms;
		pbstats_sweep(d->st, w, now);
	}
}

static void
pb_startup_ready_cb(void *arg, const char *error)
{
	int *state = arg;

	*state = error == NULL ? 1 : 2;
}

struct playbooks *
playbooks_open(struct daemon *d, char **cause)
{
	struct playbooks *pb;
	struct pbset *set;
	int state = 0;

	*cause = NULL;
	pb = calloc(1, sizeof *pb);
	if (pb == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	pb->d = d;
	LIST_INIT(&pb->stats);
	LIST_INIT(&pb->live);
	TAILQ_INIT(&pb->pending);
	pb->children = d->children;
	pb->owed = idmap_new();
	pb->ev_retry = evtimer_new(d->base, pb_retry_cb, pb);
	pb->ev_sweep = event_new(d->base, -1, EV_PERSIST, pb_sweep_cb, pb);
	if (pb->children == NULL || pb->owed == NULL || pb->ev_retry == NULL ||
	    pb->ev_sweep == NULL) {
		*cause = strdup("out of memory");
		goto fail;
	}
	set = pbset_start(pb, cause);
	if (set == NULL)
		goto fail;
	set->reload_cb = pb_startup_ready_cb;
	set->reload_arg = &state;
	/* Startup waits for the set: an alert must not find none. */
	while (state == 0 && !d->stopping)
		event_base_loop(d->base, EVLOOP_ONCE);
	if (state != 1) {
		*cause = strdup(set->error ? set->error :
		    "stopped while loading the playbooks");
		pbset_abandon(set);
		goto fail;
	}
	pb->cur = set;
	if (pb_rebuild(pb, cause) == -1)
		goto fail;
	struct timeval sweep = {PB_SWEEP_MS / 1000, 0};
	event_add(pb->ev_sweep, &sweep);
	log_notice("playbooks: %zu loaded from %s", set->n,
	    d->cfg->playbooks.dir);
	return pb;
fail:
	playbooks_close(pb);
	return NULL;
}

struct reload_ctx {
	struct playbooks *pb;
	struct pbset *set;
	pb_reload_cb cb;
	void *arg;
};

static void
pb_reload_ready_cb(void *arg, const char *error)
{
	struct reload_ctx *rc = arg;
	struct playbooks *pb = rc->pb;
	struct pbset *set = rc->set, *old = pb->cur;
	char *err = error ? strdup(error) : NULL;

	pb->loading = NULL;
	if (error != NULL) {
		/* Deferred: the pool is inside its own callback. */
		wpool_retire(set->pool, 1);
		set->pool = NULL;
		pbset_unref(set);
	} else {
		struct pbstats *st;
		/* Quarantine lasts until a reload. */
		LIST_FOREACH(st, &pb->stats, entry) {
			st->quarantined = 0;
			st->nfails = st->fails_head = 0;
		}
		pb->cur = set;
		if (old != NULL)
			pbset_unref(old); /* finishes what it runs, then goes */
		log_notice("playbooks: reloaded, %zu loaded", set->n);
	}
	rc->cb(rc->arg, err);
	free(err);
	free(rc);
}

void
playbooks_reload(struct playbooks *pb, pb_reload_cb cb, void *arg)
{
	struct reload_ctx *rc;
	char *cause = NULL;

	if (pb->loading != NULL) {
		cb(arg, "a reload of the playbooks is already in progress");
		return;
	}
	struct pbset *set = pbset_start(pb, &cause);
	if (set == NULL) {
		cb(arg, cause ? cause : "out of memory");
		free(cause);
		return;
	}
	rc = calloc(1, sizeof *rc);
	if (rc == NULL)
		fatalx("playbooks: out of memory");
	*rc = (struct reload_ctx){pb, set, cb, arg};
	set->reload_cb = pb_reload_ready_cb;
	set->reload_arg = rc;
	pb->loading = set;
}

void
playbooks_close(struct playbooks *pb)
{
	struct pbpending *p;
	struct pbstats *st;

	if (pb == NULL)
		return;
	pb->closing = 1;
	/* Records still refused: their alerts stay owed (not stored). */
	while ((p = TAILQ_FIRST(&pb->pending)) != NULL) {
		TAILQ_REMOVE(&pb->pending, p, entry);
		pbjob_settle(p->job, 0, 0);
		pbpending_free(p);
	}
	if (pb->loading != NULL) {
		struct reload_ctx *rc = pb->loading->reload_arg;
		pb->loading->reload_cb = NULL;
		pbset_abandon(pb->loading);
		rc->cb(rc->arg, "the daemon is stopping");
		free(rc);
	}
	/*
	 * Runs in flight are dropped with their workers; their alerts are
	 * owed in the log and come again from Kafka. Each set's pool goes
	 * first so no callback finds a run freed.
	 */
	struct pbrun *run;
	LIST_FOREACH(run, &pb->live, live)
		if (run->set->pool != NULL) {
			wpool_retire(run->set->pool, 1);
			run->set->pool = NULL;
		}
	if (pb->cur != NULL && pb->cur->pool != NULL) {
		wpool_retire(pb->cur->pool, 1);
		pb->cur->pool = NULL;
	}
	while ((run = LIST_FIRST(&pb->live)) != NULL) {
		struct pbjob *job = run->job;
		if (run->key != NULL)
			run->key->busy = 0;
		pbset_unref(run->set);
		pbrun_free(run);
		pbjob_settle(job, 0, 0);
	}
	if (pb->cur != NULL) {
		pbset_unref(pb->cur);
		pb->cur = NULL;
	}
	while ((st = LIST_FIRST(&pb->stats)) != NULL) {
		LIST_REMOVE(st, entry);
		struct pbkey *k;
		while ((k = LIST_FIRST(&st->keylist)) != NULL)
			pbkey_drop(st, k);
		idmap_free(st->keys);
		free(st->fails);
		free(st->name);
		free(st);
	}
	if (pb->owed != NULL) {
		idmap_foreach(pb->owed, free); /* one block each (owed_add) */
		idmap_free(pb->owed);
	}
	/* The killed workers are reaped here: their pools free themselves. */
	if (pb->children != NULL && children_wait(pb->children, pb, 5000) ==
	    -1)
		log_warnx("playbooks: workers still running at exit");
	if (pb->ev_retry != NULL)
		event_free(pb->ev_retry);
	if (pb->ev_sweep != NULL)
		event_free(pb->ev_sweep);
	audit_buf_free(&pb->plan);
	free(pb);
}

/* ---- Status ------------------------------------------------------------------ */

json_t *
playbooks_list_json(struct playbooks *pb)
{
	json_t *list = json_array();
	struct pbset *set = pb->cur;

	for (size_t i = 0; set != NULL && i < set->n; i++) {
		struct pbdef *d = &set->defs[i];
		struct pbstats *st = d->st;
		json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:I, "
		    "s:I, s:I, s:I, s:b, s:I, s:I, s:b}", "name", d->name,
		    "file", d->file, "matched", (json_int_t)st->matched,
		    "planned", (json_int_t)st->planned, "empty",
		    (json_int_t)st->empty, "skipped", (json_int_t)st->skipped,
		    "failed", (json_int_t)st->failed, "quarantined",
		    st->quarantined, "p50_us", (json_int_t)pbstats_pct(st, 0.5),
		    "p99_us", (json_int_t)pbstats_pct(st, 0.99), "dry_run",
		    d->dry_run));
	}
	return list;
}

json_t *
playbooks_status_json(struct playbooks *pb)
{
	size_t quarantined = 0;
	struct pbset *set = pb->cur;

	for (size_t i = 0; set != NULL && i < set->n; i++)
		quarantined += set->defs[i].st->quarantined != 0;
	json_t *s = json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:b}", "loaded",
	    set ? (int)set->n : 0, "quarantined", (int)quarantined, "runs",
	    (json_int_t)pb->runs, "failures", (json_int_t)pb->failures,
	    "owed_alerts", (json_int_t)idmap_size(pb->owed), "pending_records",
	    (json_int_t)pb->npending, "reloading", pb->loading != NULL);
	if (set != NULL && set->pool != NULL)
		json_object_set_new(s, "pool", wpool_status_json(set->pool));
	return s;
}

/* ---- Offline ------------------------------------------------------------------ */

struct playbooks *
playbooks_offline_new(const json_t *meta, const json_t *assets,
    char **cause)
{
	struct playbooks *pb = calloc(1, sizeof *pb);
	struct pbset *set = calloc(1, sizeof *set);

	*cause = NULL;
	if (pb != NULL)
		pb->owed = idmap_new();
	if (pb == NULL || set == NULL || pb->owed == NULL) {
		if (pb != NULL)
			idmap_free(pb->owed);
		free(pb);
		free(set);
		*cause = strdup("out of memory");
		return NULL;
	}
	LIST_INIT(&pb->stats);
	LIST_INIT(&pb->live);
	TAILQ_INIT(&pb->pending);
	set->pb = pb;
	set->refs = 1;
	set->assets = json_incref((json_t *)assets);
	pb->cur = set;
	if (pbset_define(set, meta, cause) == -1) {
		playbooks_offline_free(pb);
		return NULL;
	}
	set->loaded = 1;
	return pb;
}

void
playbooks_offline_free(struct playbooks *pb)
{
	playbooks_close(pb);
}

const char *
playbooks_offline_name(struct playbooks *pb, uint16_t idx)
{
	return idx < pb->cur->n ? pb->cur->defs[idx].name : "?";
}

static const char *
offline_key(const struct pbdef *d, const struct pb_alert *a, int escalate)
{
	int field = escalate ? d->escalate_field : d->dedup_field;

	return field >= 0 ? a->text[field] : NULL;
}

size_t
playbooks_offline_match(struct playbooks *pb, const json_t *alert,
    uint64_t now_ms, struct pb_offline *out)
{
	struct pb_match m;
	struct pb_alert a;

	pb_alert_of_json(&a, alert);
	size_t n = 0, i = 0, j = 0;

	playbooks_match(pb, &a, now_ms, &m);
	/* Both lists are in the set's order: merged, so is the answer. */
	while (i < m.n || j < m.nskipped) {
		int skip = j < m.nskipped && (i == m.n || m.skipped[j] < m.idx[i]);
		uint16_t idx = skip ? m.skipped[j++] : m.idx[i++];
		struct pbdef *d = &pb->cur->defs[idx];
		const char *ev = offline_key(d, &a, 1);
		struct pbkey *k = ev ? pbkey_get(d->st, ev, 0) : NULL;
		out[n++] = (struct pb_offline){idx,
		    k != NULL ? pbkey_prior(k, d->escalate_ms, now_ms) : 0,
		    skip ? "dedup" : NULL};
	}
	return n;
}

void
playbooks_offline_outcome(struct playbooks *pb, const json_t *alert,
    uint16_t idx, const char *status, size_t nactions, uint64_t now_ms)
{
	struct pbdef *d = &pb->cur->defs[idx];
	struct pb_alert a;

	pb_alert_of_json(&a, alert);
	const char *dv = offline_key(d, &a, 0);
	const char *ev = offline_key(d, &a, 1);

	if (strcmp(status, "skip") == 0)
		return;
	if (dv != NULL) {
		struct pbkey *k = pbkey_get(d->st, dv, 1);
		if (k != NULL)
			k->last_run_ms = now_ms;
	}
	if (ev != NULL && strcmp(status, "plan") == 0 && nactions > 0) {
		struct pbkey *k = pbkey_get(d->st, ev, 1);
		if (k != NULL)
			pbkey_add_plan(k, now_ms);
	}
}
