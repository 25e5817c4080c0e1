/*
 * Kafka intake. The consumer joins its group on the loop's thread: its
 * queue wakes the loop through a pipe (rd_kafka_queue_io_event_enable),
 * and each wake consumes a bounded batch and re-arms itself, since the
 * pipe is written only when the queue goes from empty to non-empty. Every
 * message is decoded on the decoder's thread (decoder.c: in order, ahead
 * of the loop), then checked against the dedup window and audited on the
 * loop's; its offset is stored (offset + 1, contiguous per partition)
 * only once its records are durable and, for a rejected message, once the
 * dead-letter topic has it. Messages the decoder holds for a revoked
 * partition are dropped, unstored, for the partition's next owner. Past
 * max_in_flight (the decoder's messages included), intake holds: it stops
 * taking messages from the consumer queue (librdkafka's prefetch stops at
 * its own bound) and takes them again as soon as some drain. Pausing the
 * partitions throws that prefetch away and costs a refetch of about 300
 * ms, so it is kept for what lasts: a hold with nothing drained for
 * KAFKA_HOLD_MS, or an audit log that is not writable. A paused consumer
 * is still polled, for its rebalances. Both resume where they left off.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>

#include "remediad/alert.h"
#include "remediad/audit.h"
#include "remediad/broker.h"
#include "remediad/config.h"
#include "remediad/daemon.h"
#include "remediad/decoder.h"
#include "remediad/dedup.h"
#include "remediad/hex.h"
#include "remediad/kafka.h"
#include "remediad/log.h"
#include "remediad/playbook.h"
#include "remediad/units.h"

#define KAFKA_BUDGET	   128	/* messages per wake of the loop */
#define KAFKA_DECODING	   (8 * KAFKA_BUDGET) /* in the decoder at once */
#define KAFKA_FIRST_ASSIGN_WAIT_MS 10000 /* at a stop: see kafka_close */
#define KAFKA_TICK_MS	   250	/* pause/resume, DLQ retries, expiry */
#define KAFKA_HOLD_MS	   1000 /* a hold this long, nothing drained: pause */
#define KAFKA_SETTLE_MS	   10000 /* bound of a revoke's wait */
#define KAFKA_DLQ_RETRY_MS 1000
#define KAFKA_SECRET_MAX   65536

struct kpart;

/* One consumed message until its offset may be stored. */
struct kmsg {
	struct kafka *k;
	struct kpart *part; /* NULL once the partition was revoked */
	int64_t offset;
	int pending; /* durability and DLQ delivery still awaited */
	int done;    /* all met: the offset may be stored */
	int failed;  /* one failed: never stored, read again later */
	/* A rejected message is kept for the dead-letter topic until then. */
	char *payload, *key;
	size_t len, key_len;
	char *reason, *why;
	struct timespec retry_at;
	TAILQ_ENTRY(kmsg) entry;      /* in its partition, by offset */
	TAILQ_ENTRY(kmsg) retry_entry; /* awaiting a DLQ retry */
	int retrying;
};
TAILQ_HEAD(kmsgs, kmsg);

struct kpart {
	char *topic;
	int32_t partition;
	struct kmsgs inflight;
	size_t ninflight; /* the length of inflight */
	int64_t stored;	   /* next offset to store, -1 before any */
	int64_t rewind_to; /* re-consume from here on resume, -1 none */
	int64_t lag;	   /* from the statistics, -1 unknown */
	LIST_ENTRY(kpart) entry;
};

struct kafka {
	struct daemon *d;
	rd_kafka_t *rk;	 /* consumer */
	rd_kafka_t *dlq; /* producer of the dead-letter topic */
	rd_kafka_queue_t *q, *dlq_q;
	int pipe[2], dlq_pipe[2];
	struct event *ev_wake, *ev_dlq_wake, *ev_more, *ev_tick, *ev_resume;
	struct broker *embedded;
	char *bootstraps;
	LIST_HEAD(, kpart) parts;
	struct kmsgs retries;
	size_t inflight;
	int paused;
	const char *pause_reason;
	int closing;
	struct dedup *dedup;
	EVP_MD *sha256;
	struct units_clock clock;
	struct alert_generic generic;
	struct alert_opts opts;
	struct decoder *dec; /* decodes what the consumer gives, in order */
	struct event *ev_decoded;
	char state[128];
	int brokers_up, brokers_total;
	struct {
		uint64_t received, accepted, duplicate, rejected, resumed;
		uint64_t dlq_delivered, dlq_failed, errors, rebalances;
		uint64_t pauses, holds;
	} n;
	int subscribed;	       /* joining the group */
	int assigned_once;     /* a first assignment came (see kafka_close) */
	int fatal;	       /* librdkafka raised a fatal error */
	int holding;	       /* at max_in_flight: not polling for messages */
	uint64_t hold_since;   /* ms, monotonic: since the last drain */
};

/* ---- Small helpers ------------------------------------------------------ */

/* `sha` is fetched once at open: an implicit fetch per digest costs more. */
static void
sha256_hex(EVP_MD *sha, const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (sha == NULL || !EVP_Digest(data, len, md, &n, sha, NULL) ||
	    n != 32) {
		memset(out, 'x', 64);
		out[64] = '\0';
		return;
	}
	hex_encode(out, md, 32);
	out[64] = '\0';
}

static struct kpart *
kpart_find(struct kafka *k, const char *topic, int32_t partition)
{
	struct kpart *p;

	LIST_FOREACH(p, &k->parts, entry)
		if (p->partition == partition && strcmp(p->topic, topic) == 0)
			return p;
	return NULL;
}

static struct kpart *
kpart_get(struct kafka *k, const char *topic, int32_t partition)
{
	struct kpart *p = kpart_find(k, topic, partition);

	if (p != NULL)
		return p;
	p = calloc(1, sizeof *p);
	if (p == NULL || (p->topic = strdup(topic)) == NULL) {
		free(p);
		return NULL;
	}
	p->partition = partition;
	p->stored = -1;
	p->rewind_to = -1;
	p->lag = -1;
	TAILQ_INIT(&p->inflight);
	LIST_INSERT_HEAD(&k->parts, p, entry);
	return p;
}

static void
kmsg_free(struct kmsg *m)
{
	if (m->retrying)
		TAILQ_REMOVE(&m->k->retries, m, retry_entry);
	free(m->payload);
	free(m->key);
	free(m->reason);
	free(m->why);
	free(m);
}

static void kafka_more_later(struct kafka *k);

/* In flight from which intake holds. */
static size_t
kafka_hold_at(const struct kafka *k)
{
	return (size_t)k->d->cfg->kafka.max_in_flight;
}

/* Takes messages again (from the loop: this may run in a callback). */
static void
kafka_release(struct kafka *k)
{
	k->holding = 0;
	kafka_more_later(k);
}

/* Stores the offsets that became contiguous at the head of a partition. */
static void
kpart_advance(struct kafka *k, struct kpart *p)
{
	struct kmsg *m;
	int64_t stored = p->stored;

	while ((m = TAILQ_FIRST(&p->inflight)) != NULL && m->done) {
		TAILQ_REMOVE(&p->inflight, m, entry);
		p->ninflight--;
		k->inflight--;
		stored = m->offset + 1;
		kmsg_free(m);
	}
	if (stored == p->stored)
		return;
	if (k->holding) {
		k->hold_since = units_mono_ms();
		if (k->inflight < kafka_hold_at(k))
			kafka_release(k);
	}
	/* Drained enough: resume now, not at the next tick (deferred, as
	 * this may run inside a rebalance callback). */
	if (k->paused && k->inflight <= (size_t)k->d->cfg->kafka.max_in_flight / 2)
		event_active(k->ev_resume, EV_WRITE, 0);
	p->stored = stored;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
	    stored;
	rd_kafka_resp_err_t err = rd_kafka_offsets_store(k->rk, l);
	/* A partition revoked meanwhile refuses: its new owner re-reads. */
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_debug("kafka: store %s[%d]@%lld: %s", p->topic,
		    (int)p->partition, (long long)stored, rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(l);
}

/*
 * One of a message's conditions resolved. A message is freed only when
 * the last one has, whatever the outcome, so no late callback finds it
 * gone. A failed one stays in its partition, holding back the offsets
 * after it, until the partition is revoked or intake closes.
 */
static void
kmsg_settle(struct kmsg *m, int ok)
{
	if (!ok)
		m->failed = 1;
	if (--m->pending > 0)
		return;
	if (m->part == NULL) {
		kmsg_free(m); /* detached: nothing to store any more */
		return;
	}
	if (m->failed)
		return;
	m->done = 1;
	kpart_advance(m->k, m->part);
}

/* Detaches a partition's messages; those still awaited free themselves. */
static void
kpart_detach(struct kafka *k, struct kpart *p)
{
	struct kmsg *m;

	while ((m = TAILQ_FIRST(&p->inflight)) != NULL) {
		TAILQ_REMOVE(&p->inflight, m, entry);
		p->ninflight--;
		k->inflight--;
		m->part = NULL;
		if (m->pending == 0)
			kmsg_free(m);
	}
	LIST_REMOVE(p, entry);
	free(p->topic);
	free(p);
}

static void
kmsg_durable_cb(void *arg, int ok)
{
	/* !ok: the log closed first; the offset stays unstored. */
	kmsg_settle(arg, ok);
}

/* ---- Pause and resume ---------------------------------------------------- */

/* The current assignment, or NULL. */
static rd_kafka_topic_partition_list_t *
kafka_assignment(struct kafka *k)
{
	rd_kafka_topic_partition_list_t *l = NULL;

	if (rd_kafka_assignment(k->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return NULL;
	return l;
}

static void
kafka_pause(struct kafka *k, const char *reason)
{
	rd_kafka_topic_partition_list_t *l;

	if (k->paused)
		return;
	if ((l = kafka_assignment(k)) != NULL) {
		rd_kafka_pause_partitions(k->rk, l);
		rd_kafka_topic_partition_list_destroy(l);
	}
	k->paused = 1;
	k->pause_reason = reason;
	k->n.pauses++;
	log_notice("kafka: intake paused: %s", reason);
}

static void
kafka_resume(struct kafka *k)
{
	rd_kafka_topic_partition_list_t *l, *seek;
	struct kpart *p;

	if (!k->paused)
		return;
	/*
	 * Messages refused by the audit log are read again. Until the seek
	 * has worked intake stays paused (the tick tries again): resuming
	 * past a refused message would store offsets beyond it.
	 */
	seek = rd_kafka_topic_partition_list_new(4);
	LIST_FOREACH(p, &k->parts, entry)
		if (p->rewind_to >= 0)
			rd_kafka_topic_partition_list_add(seek, p->topic,
			    p->partition)->offset = p->rewind_to;
	if (seek->cnt > 0) {
		rd_kafka_error_t *e = rd_kafka_seek_partitions(k->rk, seek, 2000);
		int failed = e != NULL;
		if (e != NULL) {
			log_warnx("kafka: rewind: %s; intake stays paused",
			    rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
		}
		for (int i = 0; i < seek->cnt; i++) {
			rd_kafka_topic_partition_t *t = &seek->elems[i];
			if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
				log_warnx("kafka: rewind %s[%d] to %lld: %s; "
					  "intake stays paused", t->topic,
				    (int)t->partition, (long long)t->offset,
				    rd_kafka_err2str(t->err));
				failed = 1;
				continue;
			}
			if ((p = kpart_find(k, t->topic, t->partition)) != NULL)
				p->rewind_to = -1;
		}
		if (failed) {
			rd_kafka_topic_partition_list_destroy(seek);
			return;
		}
	}
	rd_kafka_topic_partition_list_destroy(seek);
	if ((l = kafka_assignment(k)) != NULL) {
		rd_kafka_resume_partitions(k->rk, l);
		rd_kafka_topic_partition_list_destroy(l);
	}
	k->paused = 0;
	log_notice("kafka: intake resumed (%s)", k->pause_reason);
	k->pause_reason = NULL;
}

/* ---- The dead-letter topic ------------------------------------------------ */

static void
kafka_dlq_produce(struct kafka *k, struct kmsg *m)
{
	char part[16], off[24];
	const char *topic = m->part ? m->part->topic : "";
	rd_kafka_resp_err_t err;

	snprintf(part, sizeof part, "%d", m->part ? (int)m->part->partition : -1);
	snprintf(off, sizeof off, "%lld", (long long)m->offset);
	err = rd_kafka_producev(k->dlq,
	    RD_KAFKA_V_TOPIC(k->d->cfg->kafka.dlq_topic),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	    RD_KAFKA_V_VALUE(m->payload, m->len),
	    RD_KAFKA_V_KEY(m->key, m->key_len),
	    RD_KAFKA_V_HEADER("remediad.source.topic", topic, -1),
	    RD_KAFKA_V_HEADER("remediad.source.partition", part, -1),
	    RD_KAFKA_V_HEADER("remediad.source.offset", off, -1),
	    RD_KAFKA_V_HEADER("remediad.error", m->reason, -1),
	    RD_KAFKA_V_HEADER("remediad.error.message", m->why, -1),
	    RD_KAFKA_V_OPAQUE(m), RD_KAFKA_V_END);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		/* Queue full or similar: try again from the tick. */
		log_warnx("kafka: dead-letter produce: %s", rd_kafka_err2str(err));
		clock_gettime(CLOCK_MONOTONIC, &m->retry_at);
		m->retry_at.tv_sec += KAFKA_DLQ_RETRY_MS / 1000;
		if (!m->retrying) {
			TAILQ_INSERT_TAIL(&k->retries, m, retry_entry);
			m->retrying = 1;
		}
	}
}

static void
kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *dm, void *opaque)
{
	struct kafka *k = opaque;
	struct kmsg *m = dm->_private;

	if (m == NULL)
		return;
	if (dm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		k->n.dlq_delivered++;
		kmsg_settle(m, 1);
		return;
	}
	k->n.dlq_failed++;
	if (k->closing) {
		/* Never stored: the message is read again after the restart. */
		kmsg_settle(m, 0);
		return;
	}
	log_error("kafka: dead-letter delivery of %s offset %lld failed: %s; "
		  "retrying (its offset stays unstored)",
	    m->part ? m->part->topic : "?", (long long)m->offset,
	    rd_kafka_err2str(dm->err));
	clock_gettime(CLOCK_MONOTONIC, &m->retry_at);
	m->retry_at.tv_sec += KAFKA_DLQ_RETRY_MS / 1000;
	TAILQ_INSERT_TAIL(&k->retries, m, retry_entry);
	m->retrying = 1;
}

/* ---- Audit anchors -------------------------------------------------------------- */

/*
 * A copy of the audit log's head outside this host: what lets a truncation
 * of the whole tail be detected. Best effort, like syslog: a lost anchor
 * weakens nothing but itself.
 */
static void
kafka_anchor_cb(void *arg, uint64_t seq, const char *hash)
{
	struct kafka *k = arg;
	char key[32], value[256], now[40];
	rd_kafka_resp_err_t err;

	units_now_rfc3339(&k->clock, now, sizeof now);
	snprintf(key, sizeof key, "%llu", (unsigned long long)seq);
	int n = snprintf(value, sizeof value,
	    "{\"seq\":%llu,\"hash\":\"%s\",\"time\":\"%s\",\"dir\":",
	    (unsigned long long)seq, hash, now);
	json_t *dir = json_string(audit_dir(k->d->audit));
	char *dirs = json_dumps(dir, JSON_ENCODE_ANY);
	json_decref(dir);
	if (dirs == NULL || n < 0 || (size_t)n + strlen(dirs) + 2 > sizeof value) {
		free(dirs);
		return;
	}
	snprintf(value + n, sizeof value - (size_t)n, "%s}", dirs);
	free(dirs);
	err = rd_kafka_producev(k->dlq,
	    RD_KAFKA_V_TOPIC(k->d->cfg->audit.anchor_topic),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	    RD_KAFKA_V_KEY(key, strlen(key)),
	    RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_END);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warnx("kafka: anchor %s to %s: %s", key,
		    k->d->cfg->audit.anchor_topic, rd_kafka_err2str(err));
}

/* ---- Messages --------------------------------------------------------------- */

static json_t *
kafka_coords(const rd_kafka_message_t *rm)
{
	json_t *o = json_object();

	/* Not json_pack(): it parses its format for every message. */
	if (o == NULL ||
	    json_object_set_new_nocheck(o, "topic",
		json_string(rd_kafka_topic_name(rm->rkt))) != 0 ||
	    json_object_set_new_nocheck(o, "partition",
		json_integer(rm->partition)) != 0 ||
	    json_object_set_new_nocheck(o, "offset",
		json_integer(rm->offset)) != 0)
		fatalx("kafka: out of memory");
	return o;
}

/*
 * Appends the alert.received record, made from the decoded alert (which
 * stays as it is, for the playbooks): the id becomes `alert`, the source's
 * time `alert_time`, and `raw` the message exactly as received (a JSON
 * string: byte-exact for forensics, and no re-serialization of the parsed
 * tree), or with `digest` its SHA-256 (`omitted` says why, if set).
 * `playbooks` lists the runs the alert owes. The members are given to the
 * log as they are: no fields object is built, and the message is not
 * copied.
 */
#define KAFKA_RECEIVED_MAX 32 /* the alert's 14 canonical fields, and ours */

/*
 * A canonical field's name in alert.received: the id is "alert" and the
 * source's time "alert_time" there (the record has its own "time").
 */
static const char *
kafka_received_name(unsigned int i)
{
	if (i == ALERT_FIELD_ID)
		return "alert";
	if (i == ALERT_FIELD_TIME)
		return "alert_time";
	return alert_field_name(i);
}

/* v in decimal at p, as a record writes it; returns the end. */
static char *
kafka_put_int(char *p, int64_t v)
{
	char buf[24], *t = audit_int_text(buf, v);
	size_t n = (size_t)(buf + sizeof buf - t);

	memcpy(p, t, n);
	return p + n;
}

/*
 * The Kafka coordinates as canonical JSON text (keys sorted) in buf (of
 * 64 bytes and the topic's length), or 0 when the topic's name is not one
 * Kafka allows: only those are sure to need no escaping.
 */
static size_t
kafka_coords_text(const rd_kafka_message_t *rm, char *buf, size_t size)
{
	const char *topic = rd_kafka_topic_name(rm->rkt);
	size_t tlen = strlen(topic);
	char *p = buf;

	if (tlen + 64 > size || !broker_topic_name_valid(topic))
		return 0;
	memcpy(p, "{\"offset\":", 10);
	p = kafka_put_int(p + 10, rm->offset);
	memcpy(p, ",\"partition\":", 13);
	p = kafka_put_int(p + 13, rm->partition);
	memcpy(p, ",\"topic\":\"", 10);
	memcpy(p + 10, topic, tlen);
	p += 10 + tlen;
	memcpy(p, "\"}", 2);
	return (size_t)(p + 2 - buf);
}

static uint64_t
kafka_append_received(struct kafka *k, const struct decoded *s,
    const rd_kafka_message_t *rm, const struct pb_match *m, int digest,
    const char *omitted, const char **cause)
{
	struct audit_member mb[KAFKA_RECEIVED_MAX];
	json_t *coords = NULL;
	char names[PB_NAMES_TEXT_MAX], skipped[PB_NAMES_TEXT_MAX];
	char hex[65], sev[24], where[320];
	size_t n = 0, len, wlen;
	uint64_t seq;

	/* The fields as the decoder left them: no object is built. */
	for (unsigned int i = 0; i < ALERT_NFIELDS; i++) {
		const char *text = alert_flat_text(&s->flat, s->store, i, &len);

		if (text != NULL)
			mb[n++] = (struct audit_member){kafka_received_name(i),
			    NULL, text, len, 0};
		else if (i == ALERT_FIELD_SEVERITY &&
		    (s->flat.set & (1u << i)))
			mb[n++] = (struct audit_member){kafka_received_name(i),
			    NULL, sev, (size_t)(kafka_put_int(sev,
				s->flat.severity) - sev), 1};
	}
	if (!digest) {
		/* The decoder checked it is UTF-8 without NUL bytes. */
		mb[n++] = (struct audit_member){"raw", NULL, rm->payload,
		    rm->len, 0};
	} else {
		sha256_hex(k->sha256, rm->payload, rm->len, hex);
		mb[n++] = (struct audit_member){"raw_sha256", NULL, hex, 64, 0};
		if (omitted != NULL)
			mb[n++] = (struct audit_member){"raw_omitted", NULL,
			    omitted, strlen(omitted), 0};
	}
	if ((wlen = kafka_coords_text(rm, where, sizeof where)) > 0)
		mb[n++] = (struct audit_member){"kafka", NULL, where, wlen, 1};
	else
		mb[n++] = (struct audit_member){"kafka",
		    coords = kafka_coords(rm), NULL, 0, 0};
	if (m->n > 0)
		mb[n++] = (struct audit_member){"playbooks", NULL, names,
		    playbooks_match_names(m, 0, names), 1};
	if (m->nskipped > 0)
		mb[n++] = (struct audit_member){"dedup_skipped", NULL, skipped,
		    playbooks_match_names(m, 1, skipped), 1};
	seq = audit_append_members(k->d->audit, "alert.received", "system", mb,
	    n, cause);
	int saved = errno; /* what the caller tells EFBIG by */
	json_decref(coords);
	errno = saved;
	return seq;
}

/* The playbooks' outcomes for a message are appended: wait for them. */
static void
kmsg_playbooks_cb(void *arg, uint64_t last_seq, int ok)
{
	struct kmsg *m = arg;

	if (!ok || last_seq == 0) {
		kmsg_settle(m, ok);
		return;
	}
	audit_when_durable(m->k->d->audit, last_seq, kmsg_durable_cb, m);
}

/*
 * The audit log refused a record (not writable): this message and the
 * rest of its partition are read again once intake resumes.
 */
static void
kafka_refused(struct kafka *k, struct kpart *p, struct kmsg *m,
    const char *why)
{
	log_warnx("kafka: %s[%d]@%lld not taken: %s", p->topic,
	    (int)p->partition, (long long)m->offset, why);
	if (p->rewind_to < 0 || m->offset < p->rewind_to)
		p->rewind_to = m->offset;
	TAILQ_REMOVE(&p->inflight, m, entry);
	p->ninflight--;
	k->inflight--;
	kmsg_free(m);
	kafka_pause(k, "the audit log is not writable");
}

/*
 * A message that is not an alert remediad can take: audited as
 * alert.rejected, then to the dead-letter topic; its offset waits for
 * both.
 */
static void
kafka_reject(struct kafka *k, struct kpart *p, struct kmsg *m,
    const rd_kafka_message_t *rm, const char *reason, const char *why)
{
	const char *cause;
	char hex[65];
	uint64_t seq;

	sha256_hex(k->sha256, rm->payload, rm->len, hex);
	seq = audit_append(k->d->audit, "alert.rejected", "system",
	    json_pack("{s:s, s:s, s:I, s:s, s:o}", "reason", reason, "error",
		why, "size", (json_int_t)rm->len, "payload_sha256", hex,
		"kafka", kafka_coords(rm)), &cause);
	if (seq == 0) {
		kafka_refused(k, p, m, cause);
		return;
	}
	k->n.rejected++;
	log_info("kafka: %s[%d]@%lld rejected (%s): %s", p->topic,
	    (int)rm->partition, (long long)rm->offset, reason, why);
	m->payload = malloc(rm->len ? rm->len : 1);
	m->key = malloc(rm->key_len ? rm->key_len : 1);
	m->reason = strdup(reason);
	m->why = strdup(why);
	if (m->payload == NULL || m->key == NULL || m->reason == NULL ||
	    m->why == NULL)
		fatalx("kafka: out of memory");
	memcpy(m->payload, rm->payload, rm->len);
	if (rm->key_len)
		memcpy(m->key, rm->key, rm->key_len);
	m->len = rm->len;
	m->key_len = rm->key_len;
	m->pending = 2; /* the record durable, the DLQ delivered */
	kafka_dlq_produce(k, m);
	audit_when_durable(k->d->audit, seq, kmsg_durable_cb, m);
}

/*
 * One message, as the decoder left it (s), from receipt to its records.
 * No alert object is made: the records and the playbooks read the
 * decoder's fields in place.
 */
static void
kafka_message(struct kafka *k, rd_kafka_message_t *rm, struct decoded *s)
{
	const char *topic = rd_kafka_topic_name(rm->rkt), *cause;
	struct kpart *p;
	struct kmsg *m;
	struct pb_alert alert;
	uint64_t seq, first;

	p = kpart_get(k, topic, rm->partition);
	if (p == NULL) {
		log_error("kafka: out of memory");
		return;
	}
	/* Prefetched past a refused message: it comes again after the seek. */
	if (p->rewind_to >= 0 && rm->offset >= p->rewind_to)
		return;
	m = calloc(1, sizeof *m);
	if (m == NULL) {
		log_error("kafka: out of memory");
		return;
	}
	m->k = k;
	m->part = p;
	m->offset = rm->offset;
	TAILQ_INSERT_TAIL(&p->inflight, m, entry);
	p->ninflight++;
	k->inflight++;
	k->n.received++;

	if (s->r != ALERT_OK) {
		kafka_reject(k, p, m, rm, alert_reject_name(s->r), s->why);
		return;
	}
	/* The playbooks read the fields where the decoder left them. */
	struct playbooks *pb = k->d->playbooks;
	if (pb != NULL)
		pb_alert_of_flat(&alert, &s->flat, s->store);

	size_t idlen;
	const char *id = alert_flat_text(&s->flat, s->store, ALERT_FIELD_ID,
	    &idlen);
	uint64_t now = units_now_ms();
	struct pb_match match = {0};
	if (dedup_seen(k->dedup, id, now, &first)) {
		/* Seen, but its runs were not all recorded: run them now. */
		m->pending = 1; /* the callback may come at once */
		if (pb != NULL && playbooks_resume(pb, &alert, rm->payload,
			rm->len, kmsg_playbooks_cb, m)) {
			k->n.resumed++;
			return;
		}
		m->pending = 0;
		seq = audit_append(k->d->audit, "alert.duplicate", "system",
		    json_pack("{s:s, s:I, s:o}", "alert", id, "first_seq",
			(json_int_t)first, "kafka", kafka_coords(rm)), &cause);
		if (seq == 0) {
			kafka_refused(k, p, m, cause);
			return;
		}
		k->n.duplicate++;
	} else {
		if (pb != NULL)
			playbooks_match(pb, &alert, now, &match);
		int digest = k->d->cfg->audit.raw != AUDIT_RAW_FULL;
		seq = kafka_append_received(k, s, rm, &match, digest, NULL,
		    &cause);
		if (seq == 0 && errno == EFBIG && !digest) {
			/*
			 * Kept verbatim (escaped) the message would pass
			 * audit.max_record: keep its digest instead, or it
			 * would be refused and read again forever.
			 */
			seq = kafka_append_received(k, s, rm, &match, 1,
			    "larger than audit.max_record", &cause);
		}
		if (seq == 0 && errno == EFBIG) {
			/* Even so too large: a dead letter, not a poison. */
			kafka_reject(k, p, m, rm, "too_large", "its audit record "
			    "is larger than audit.max_record");
			return;
		}
		if (seq != 0)
			dedup_add(k->dedup, id, now, seq);
		if (seq == 0) {
			kafka_refused(k, p, m, cause);
			return;
		}
		k->n.accepted++;
		if (match.n + match.nskipped > 0) {
			/* Stored once the record and every outcome are. */
			m->pending = 2;
			audit_when_durable(k->d->audit, seq, kmsg_durable_cb, m);
			playbooks_submit(pb, &match, &alert, rm->payload,
			    rm->len, seq, kmsg_playbooks_cb, m);
			return;
		}
	}
	m->pending = 1;
	audit_when_durable(k->d->audit, seq, kmsg_durable_cb, m);
}

/* Messages held by the decoder: settled with their partition, or at close. */
static int
kafka_keep_decoded(void *tag, void *arg)
{
	const rd_kafka_message_t *rm = tag;
	const rd_kafka_topic_partition_list_t *revoked = arg;

	return rd_kafka_topic_partition_list_find(revoked,
	    rd_kafka_topic_name(rm->rkt), rm->partition) == NULL;
}

static void
kafka_drop_decoded(void *tag, void *arg)
{
	rd_kafka_message_destroy(tag);
}

/* ---- Rebalances --------------------------------------------------------------- */

/*
 * Before partitions go to another member: make what was consumed durable,
 * store and commit its offsets, and forget the rest (the next owner reads
 * it again). The wait is bounded; what misses it is simply re-read.
 */
static void
kafka_settle(struct kafka *k, rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_topic_partition_list_t *commit;

	/* Not taken yet: left for the partition's next owner too. */
	if (k->dec != NULL)
		decoder_filter(k->dec, kafka_keep_decoded, kafka_drop_decoded,
		    parts);
	if (audit_sync_now(k->d->audit, KAFKA_SETTLE_MS) == -1)
		log_warnx("kafka: revoke: the audit log did not catch up; "
			  "unfinished messages will be read again");
	if (rd_kafka_outq_len(k->dlq) > 0)
		rd_kafka_flush(k->dlq, KAFKA_SETTLE_MS);
	commit = rd_kafka_topic_partition_list_new(parts->cnt);
	for (int i = 0; i < parts->cnt; i++) {
		struct kpart *p = kpart_find(k, parts->elems[i].topic,
		    parts->elems[i].partition);
		if (p == NULL)
			continue;
		kpart_advance(k, p);
		if (p->stored >= 0)
			rd_kafka_topic_partition_list_add(commit, p->topic,
			    p->partition)->offset = p->stored;
		/* The rest is read again by the partition's next owner. */
		kpart_detach(k, p);
	}
	if (commit->cnt > 0) {
		rd_kafka_resp_err_t err = rd_kafka_commit(k->rk, commit, 0);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR &&
		    err != RD_KAFKA_RESP_ERR__NO_OFFSET)
			log_warnx("kafka: commit on revoke: %s",
			    rd_kafka_err2str(err));
	}
	rd_kafka_topic_partition_list_destroy(commit);
}

static void
kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct kafka *k = opaque;
	const char *proto = rd_kafka_rebalance_protocol(rk);
	int cooperative = proto != NULL && strcmp(proto, "COOPERATIVE") == 0;
	rd_kafka_error_t *e = NULL;
	char list[512] = "";

	k->n.rebalances++;
	for (int i = 0; i < parts->cnt && strlen(list) < sizeof list - 32; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list),
		    "%s%s[%d]", i ? " " : "", parts->elems[i].topic,
		    (int)parts->elems[i].partition);
	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		log_info("kafka: assigned (%s): %s", proto ? proto : "?", list);
		k->assigned_once = 1;
		for (int i = 0; i < parts->cnt; i++)
			kpart_get(k, parts->elems[i].topic,
			    parts->elems[i].partition);
		if (cooperative)
			e = rd_kafka_incremental_assign(rk, parts);
		else
			rd_kafka_assign(rk, parts);
		/* New partitions join a paused intake paused. */
		if (k->paused)
			rd_kafka_pause_partitions(rk, parts);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		log_info("kafka: revoked (%s): %s", proto ? proto : "?", list);
		kafka_settle(k, parts);
		if (cooperative)
			e = rd_kafka_incremental_unassign(rk, parts);
		else
			rd_kafka_assign(rk, NULL);
		break;
	default:
		log_warnx("kafka: rebalance error: %s", rd_kafka_err2str(err));
		kafka_settle(k, parts);
		rd_kafka_assign(rk, NULL);
		break;
	}
	if (e != NULL) {
		log_warnx("kafka: rebalance: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
}

/* ---- librdkafka's reports ---------------------------------------------------- */

/*
 * The handle is unusable (fenced, say): the daemon stops with a non-zero
 * exit, for its supervisor to start it afresh. librdkafka says so through
 * the error callback or, to a consumer, as an error message: either way.
 */
static void
kafka_fatal(struct kafka *k, rd_kafka_t *rk)
{
	char why[512];

	if (k->fatal)
		return;
	k->fatal = 1;
	rd_kafka_fatal_error(rk, why, sizeof why);
	log_error("kafka: fatal error: %s; stopping (the supervisor restarts "
		  "remediad)", why);
	daemon_stop(k->d, 1);
}

static void
kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka *k = opaque;

	k->n.errors++;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		kafka_fatal(k, rk);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		snprintf(k->state, sizeof k->state, "all brokers down");
		log_warnx("kafka: all brokers are down; waiting for them");
		return;
	}
	log_warnx("kafka: %s: %s", rd_kafka_err2name(err), reason);
}

/* librdkafka threads call this: the log is safe from any thread. */
static void
kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
    const char *buf)
{
	if (level <= 4)
		log_warnx("kafka: %s: %s", fac, buf);
	else
		log_debug("kafka: %s: %s", fac, buf);
}

/* Statistics: broker states and per-partition lag for `status`. */
static int
kafka_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct kafka *k = opaque;
	json_t *root = json_loadb(json, len, 0, NULL), *v, *t, *pp;
	json_t *nodes = json_object();
	const char *name, *tname, *pname;
	int up = 0, total = 0;

	if (root == NULL) {
		json_decref(nodes);
		return 0;
	}
	/*
	 * A broker may be listed twice (its own entry and the group
	 * coordinator's); bootstrap entries have no id. Count node ids.
	 */
	json_object_foreach(json_object_get(root, "brokers"), name, v) {
		json_t *id = json_object_get(v, "nodeid");
		char key[24];
		if (!json_is_integer(id) || json_integer_value(id) < 0)
			continue;
		snprintf(key, sizeof key, "%lld", (long long)json_integer_value(id));
		int is_up = strcmp(json_string_value(json_object_get(v,
		    "state")) ?: "", "UP") == 0;
		json_t *seen = json_object_get(nodes, key);
		if (seen == NULL) {
			json_object_set_new(nodes, key, json_boolean(is_up));
			total++;
			up += is_up;
		} else if (is_up && !json_is_true(seen)) {
			json_object_set_new(nodes, key, json_true());
			up++;
		}
	}
	json_decref(nodes);
	k->brokers_up = up;
	k->brokers_total = total;
	if (total > 0)
		snprintf(k->state, sizeof k->state, "%s (%d of %d brokers up)",
		    up > 0 ? "up" : "all brokers down", up, total);
	json_object_foreach(json_object_get(root, "topics"), tname, t) {
		json_object_foreach(json_object_get(t, "partitions"), pname, pp) {
			struct kpart *p = kpart_find(k, tname, atoi(pname));
			json_t *lag = json_object_get(pp, "consumer_lag");
			if (p != NULL && json_is_integer(lag))
				p->lag = json_integer_value(lag);
		}
	}
	json_decref(root);
	return 0;
}

/* ---- The loop side --------------------------------------------------------------- */

static void
kafka_drain_pipe(int fd)
{
	char buf[256];

	while (read(fd, buf, sizeof buf) > 0)
		;
}

static void
kafka_more_later(struct kafka *k)
{
	struct timeval now = {0, 0};

	event_add(k->ev_more, &now);
}

/* Decoded messages, in order, at most KAFKA_BUDGET. Returns how many. */
static int
kafka_take(struct kafka *k)
{
	struct decoded *s;
	int n;

	for (n = 0; n < KAFKA_BUDGET && !k->closing &&
	     (s = decoder_head(k->dec)) != NULL; n++) {
		rd_kafka_message_t *rm = s->tag;
		kafka_message(k, rm, s);
		decoder_pop(k->dec);
		rd_kafka_message_destroy(rm);
	}
	return n;
}

/*
 * From the consumer's queue into the decoder, up to its room: a long lead
 * keeps the loop fed when the decoder's thread waits for a CPU. Returns 1
 * if the consumer may hold more, 0 if not (or if intake holds, or the
 * decoder is full: what drains them comes back), -1 after a fatal error.
 */
static int
kafka_fill(struct kafka *k)
{
	for (int n = 0; n < KAFKA_DECODING; n++) {
		if (k->closing || decoder_room(k->dec) == 0)
			return 0;
		if (!k->paused && k->inflight + decoder_pending(k->dec) >=
		    kafka_hold_at(k)) {
			/* Whatever drains next releases it (kpart_advance). */
			if (!k->holding) {
				k->holding = 1;
				k->hold_since = units_mono_ms();
				k->n.holds++;
			}
			return 0;
		}
		rd_kafka_message_t *rm = rd_kafka_consumer_poll(k->rk, 0);
		if (rm == NULL)
			return 0;
		if (rm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			/* Kept until taken: the decoder reads its payload. */
			if (decoder_push(k->dec, rm->payload, rm->len, rm) == 0)
				continue;
		} else if (rm->err == RD_KAFKA_RESP_ERR__FATAL) {
			k->n.errors++;
			rd_kafka_message_destroy(rm);
			kafka_fatal(k, k->rk);
			return -1;
		} else if (rm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			k->n.errors++;
			log_warnx("kafka: consumer: %s",
			    rd_kafka_message_errstr(rm));
		}
		rd_kafka_message_destroy(rm);
	}
	return 1;
}

/*
 * Takes what the decoder is done with, then feeds it from the consumer,
 * so the two threads work side by side.
 */
static void
kafka_consume(struct kafka *k)
{
	int taken, more;

	if (k->closing)
		return;
	taken = kafka_take(k);
	more = kafka_fill(k);
	if (more == -1 || k->closing)
		return;
	decoder_commit(k->dec);
	/*
	 * The pipe is written only on empty -> non-empty: come back while
	 * anything may be left. As a zero timer, not event_active(): an
	 * event activated from a callback runs in the same loop iteration,
	 * so the loop would never poll, and the workers' results, the audit
	 * log's wakeups and control clients would wait until Kafka ran dry.
	 * Messages still being decoded call back themselves (decoder_want).
	 */
	if (taken == KAFKA_BUDGET || more ||
	    (decoder_pending(k->dec) > 0 && decoder_want(k->dec)))
		kafka_more_later(k);
}

/* The decoder's thread: results wait. */
static void
kafka_decoded_cb(void *arg)
{
	struct kafka *k = arg;

	event_active(k->ev_decoded, EV_READ, 0);
}

static void
kafka_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kafka *k = arg;

	kafka_drain_pipe(k->pipe[0]);
	kafka_consume(k);
}

static void
kafka_more_cb(evutil_socket_t fd, short what, void *arg)
{
	kafka_consume(arg);
}

static void
kafka_dlq_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kafka *k = arg;

	kafka_drain_pipe(k->dlq_pipe[0]);
	rd_kafka_poll(k->dlq, 0);
}

static void
kafka_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kafka *k = arg;

	if (!k->closing && !audit_stalled(k->d->audit) && k->inflight <=
	    (size_t)k->d->cfg->kafka.max_in_flight / 2)
		kafka_resume(k);
}

static void
kafka_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kafka *k = arg;
	struct timespec now;
	struct kmsg *m, *next;

	rd_kafka_poll(k->dlq, 0);
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (m = TAILQ_FIRST(&k->retries); m != NULL; m = next) {
		next = TAILQ_NEXT(m, retry_entry);
		if (m->retry_at.tv_sec > now.tv_sec)
			continue;
		TAILQ_REMOVE(&k->retries, m, retry_entry);
		m->retrying = 0;
		kafka_dlq_produce(k, m);
	}
	dedup_expire(k->dedup, units_now_ms());
	if (k->holding && units_mono_ms() - k->hold_since >= KAFKA_HOLD_MS) {
		/* Stuck, not slow: pause, and poll for rebalances again. */
		kafka_pause(k, "too many alerts in flight, none drained for 1 s");
		kafka_release(k);
	}
	if (audit_stalled(k->d->audit))
		kafka_pause(k, "the audit log is not writable");
	else if (k->paused && k->inflight <=
	    (size_t)k->d->cfg->kafka.max_in_flight / 2)
		kafka_resume(k);
}

/* ---- Setup ---------------------------------------------------------------------- */

static int
kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value,
    const char *where, char **cause)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) ==
	    RD_KAFKA_CONF_OK)
		return 0;
	if (asprintf(cause, "%s%s: %s", where, name, errstr) == -1)
		*cause = NULL;
	return -1;
}

/* A secret's value from its file: at most 64 KiB, trailing newline cut. */
static char *
kafka_read_secret(const char *path, char **cause)
{
	char *buf = malloc(KAFKA_SECRET_MAX + 1);
	ssize_t n;
	int fd;

	if (buf == NULL)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || (n = read(fd, buf, KAFKA_SECRET_MAX + 1)) < 0) {
		if (asprintf(cause, "%s: %s", path, strerror(errno)) == -1)
			*cause = NULL;
		if (fd != -1)
			close(fd);
		free(buf);
		return NULL;
	}
	close(fd);
	if (n > KAFKA_SECRET_MAX) {
		if (asprintf(cause, "%s: larger than 64 KiB", path) == -1)
			*cause = NULL;
		free(buf);
		return NULL;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return buf;
}

/* Properties remediad owns: a config setting them is refused. */
static const char *const kafka_owned[] = {"bootstrap.servers", "group.id",
    "enable.auto.offset.store", "enable.partition.eof", NULL};

static int
kafka_user_conf(struct kafka *k, rd_kafka_conf_t *conf, char **cause)
{
	const struct config *cfg = k->d->cfg;
	const char *key;
	json_t *v;

	json_object_foreach(cfg->kafka.properties, key, v) {
		for (int i = 0; kafka_owned[i] != NULL; i++) {
			if (strcmp(key, kafka_owned[i]) == 0) {
				if (asprintf(cause, "kafka.properties.%s: set "
				    "by remediad itself; remove it", key) == -1)
					*cause = NULL;
				return -1;
			}
		}
		if (kafka_set(conf, key, json_string_value(v),
		    "kafka.properties.", cause) == -1)
			return -1;
	}
	json_object_foreach(cfg->kafka.secret_files, key, v) {
		char *secret = kafka_read_secret(json_string_value(v), cause);
		if (secret == NULL)
			return -1;
		int rc = kafka_set(conf, key, secret, "kafka.secret_files.",
		    cause);
		explicit_bzero(secret, strlen(secret));
		free(secret);
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int
kafka_pipe(int p[2], char **cause)
{
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		if (asprintf(cause, "pipe: %s", strerror(errno)) == -1)
			*cause = NULL;
		return -1;
	}
	return 0;
}

static int
kafka_start_embedded(struct kafka *k, char **cause)
{
	const struct config *cfg = k->d->cfg;
	struct broker_topic topics[3] = {
	    {cfg->kafka.topic, (int)cfg->kafka.partitions},
	    {cfg->kafka.dlq_topic, 1},
	    {cfg->audit.anchor_topic, 1},
	};
	char path[4096];

	k->embedded = broker_start(1, topics,
	    cfg->audit.anchor_topic != NULL ? 3 : 2, cause);
	if (k->embedded == NULL)
		return -1;
	k->bootstraps = strdup(broker_bootstraps(k->embedded));
	snprintf(path, sizeof path, "%s/embedded-broker", cfg->state_dir);
	if (broker_write_bootstrap_file(k->embedded, path, cause) == -1)
		return -1;
	log_notice("kafka: no brokers configured: embedded broker at %s "
		   "(written to %s); it keeps only a few MB per partition and "
		   "is for trying things out", k->bootstraps, path);
	return 0;
}

struct kafka *
kafka_open(struct daemon *d, char **cause)
{
	const struct config *cfg = d->cfg;
	rd_kafka_conf_t *conf = NULL, *pconf = NULL;
	rd_kafka_topic_partition_list_t *sub;
	struct kafka *k;
	char errstr[512];

	*cause = NULL;
	k = calloc(1, sizeof *k);
	if (k == NULL)
		return NULL;
	k->d = d;
	k->pipe[0] = k->pipe[1] = k->dlq_pipe[0] = k->dlq_pipe[1] = -1;
	LIST_INIT(&k->parts);
	TAILQ_INIT(&k->retries);
	snprintf(k->state, sizeof k->state, "connecting");
	k->generic = (struct alert_generic){cfg->kafka.generic.id,
	    cfg->kafka.generic.time, cfg->kafka.generic.severity,
	    cfg->kafka.generic.title, cfg->kafka.generic.rule,
	    cfg->kafka.generic.category, cfg->kafka.generic.host,
	    cfg->kafka.generic.user, cfg->kafka.generic.ip,
	    cfg->kafka.generic.process, cfg->kafka.generic.container,
	    cfg->kafka.generic.cloud};
	k->opts.max_size = cfg->kafka.max_message;
	k->opts.max_depth = ALERT_DEFAULT_MAX_DEPTH;
	k->opts.generic = cfg->kafka.generic.present ? &k->generic : NULL;
	k->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);

	k->dedup = dedup_new(cfg->dedup.window_ms, (size_t)cfg->dedup.max_entries);
	if (k->dedup == NULL) {
		*cause = strdup("cannot allocate the dedup window");
		goto fail;
	}
	long long loaded = dedup_rebuild(k->dedup, audit_dir(d->audit),
	    units_now_ms(), cause);
	if (loaded < 0)
		goto fail;
	log_info("kafka: dedup window rebuilt from the audit log: %lld ids",
	    loaded);

	if (cfg->kafka.brokers != NULL)
		k->bootstraps = strdup(cfg->kafka.brokers);
	else if (kafka_start_embedded(k, cause) == -1)
		goto fail;

	/*
	 * The consumer. Defaults first, so the config may override them.
	 * The prefetch bound is in bytes only, and twice librdkafka's: once
	 * the queue passes it, librdkafka 2.0 stops fetching and looks again
	 * only when its broker thread next wakes, up to a second later
	 * (fetch.queue.backoff.ms came in 2.1). A queue that the loop
	 * drained in less than that left intake idle: 64 MB of 600-byte
	 * alerts took 0.6 s, and a run of 600000 stood still 0.5 s in 4.
	 */
	conf = rd_kafka_conf_new();
	if (kafka_set(conf, "partition.assignment.strategy",
		"cooperative-sticky", "", cause) ||
	    kafka_set(conf, "queued.min.messages", "10000000", "", cause) ||
	    kafka_set(conf, "queued.max.messages.kbytes", "131072", "",
		cause) ||
	    kafka_set(conf, "auto.offset.reset", "earliest", "", cause) ||
	    kafka_set(conf, "enable.auto.commit", "true", "", cause) ||
	    kafka_set(conf, "auto.commit.interval.ms", "1000", "", cause) ||
	    kafka_set(conf, "statistics.interval.ms", "1000", "", cause) ||
	    kafka_set(conf, "client.id", "remediad", "", cause) ||
	    kafka_user_conf(k, conf, cause) ||
	    kafka_set(conf, "bootstrap.servers", k->bootstraps, "", cause) ||
	    kafka_set(conf, "group.id", cfg->kafka.group, "", cause) ||
	    kafka_set(conf, "enable.auto.offset.store", "false", "", cause) ||
	    kafka_set(conf, "enable.partition.eof", "false", "", cause))
		goto fail;
	rd_kafka_conf_set_opaque(conf, k);
	rd_kafka_conf_set_rebalance_cb(conf, kafka_rebalance_cb);
	rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
	rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
	rd_kafka_conf_set_stats_cb(conf, kafka_stats_cb);
	k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
	if (k->rk == NULL) {
		if (asprintf(cause, "kafka consumer: %s", errstr) == -1)
			*cause = NULL;
		goto fail;
	}
	conf = NULL; /* owned by rk now */

	/* The dead-letter producer, with the same connection settings. */
	pconf = rd_kafka_conf_new();
	if (kafka_set(pconf, "client.id", "remediad-dlq", "", cause) ||
	    kafka_set(pconf, "enable.idempotence", "true", "", cause) ||
	    kafka_user_conf(k, pconf, cause) ||
	    kafka_set(pconf, "bootstrap.servers", k->bootstraps, "", cause))
		goto fail;
	rd_kafka_conf_set_opaque(pconf, k);
	rd_kafka_conf_set_dr_msg_cb(pconf, kafka_dr_cb);
	rd_kafka_conf_set_error_cb(pconf, kafka_error_cb);
	rd_kafka_conf_set_log_cb(pconf, kafka_log_cb);
	k->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof errstr);
	if (k->dlq == NULL) {
		if (asprintf(cause, "kafka producer: %s", errstr) == -1)
			*cause = NULL;
		goto fail;
	}
	pconf = NULL;

	/* Both queues wake the loop through a pipe. */
	if (kafka_pipe(k->pipe, cause) == -1 ||
	    kafka_pipe(k->dlq_pipe, cause) == -1)
		goto fail;
	rd_kafka_poll_set_consumer(k->rk);
	k->q = rd_kafka_queue_get_consumer(k->rk);
	k->dlq_q = rd_kafka_queue_get_main(k->dlq);
	rd_kafka_queue_io_event_enable(k->q, k->pipe[1], "1", 1);
	rd_kafka_queue_io_event_enable(k->dlq_q, k->dlq_pipe[1], "1", 1);
	k->ev_wake = event_new(d->base, k->pipe[0], EV_READ | EV_PERSIST,
	    kafka_wake_cb, k);
	k->ev_dlq_wake = event_new(d->base, k->dlq_pipe[0],
	    EV_READ | EV_PERSIST, kafka_dlq_wake_cb, k);
	k->ev_more = event_new(d->base, -1, 0, kafka_more_cb, k);
	k->ev_tick = event_new(d->base, -1, EV_PERSIST, kafka_tick_cb, k);
	k->ev_resume = event_new(d->base, -1, 0, kafka_resume_cb, k);
	k->ev_decoded = event_new(d->base, -1, 0, kafka_more_cb, k);
	if (k->ev_wake == NULL || k->ev_dlq_wake == NULL || k->ev_more == NULL ||
	    k->ev_tick == NULL || k->ev_resume == NULL ||
	    k->ev_decoded == NULL) {
		*cause = strdup("out of memory");
		goto fail;
	}
	const char *why;
	k->dec = decoder_new(&k->opts, KAFKA_DECODING, kafka_decoded_cb, k,
	    &why);
	if (k->dec == NULL) {
		*cause = strdup(why);
		goto fail;
	}
	struct timeval tick = {0, KAFKA_TICK_MS * 1000};
	event_add(k->ev_wake, NULL);
	event_add(k->ev_dlq_wake, NULL);
	event_add(k->ev_tick, &tick);

	sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, cfg->kafka.topic,
	    RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t err = rd_kafka_subscribe(k->rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (asprintf(cause, "subscribe %s: %s", cfg->kafka.topic,
		    rd_kafka_err2str(err)) == -1)
			*cause = NULL;
		goto fail;
	}
	k->subscribed = 1;
	log_notice("kafka: consuming %s as group %s from %s (dead letters to "
		   "%s)", cfg->kafka.topic, cfg->kafka.group, k->bootstraps,
	    cfg->kafka.dlq_topic);
	if (cfg->audit.anchor_topic != NULL)
		audit_set_anchor_hook(d->audit, kafka_anchor_cb, k);
	/* Anything queued before the pipe was attached. */
	kafka_more_later(k);
	return k;
fail:
	if (conf != NULL)
		rd_kafka_conf_destroy(conf);
	if (pconf != NULL)
		rd_kafka_conf_destroy(pconf);
	if (*cause == NULL)
		*cause = strdup("cannot start Kafka intake");
	kafka_close(k);
	return NULL;
}

/*
 * librdkafka 2.0.2 aborts (an assert in its sticky assignor, its issue
 * #4312) when a cooperative-sticky consumer leaves its group after the
 * JoinGroup answer and before its first assignment. A stop in that window
 * waits for the assignment, taking no message (what it polls is read
 * again by the partition's next owner). 1 once there was one.
 */
static int
kafka_await_first_assignment(struct kafka *k)
{
	uint64_t until = units_mono_ms() + KAFKA_FIRST_ASSIGN_WAIT_MS;

	if (k->fatal)
		return k->assigned_once; /* none will come any more */
	if (!k->assigned_once)
		log_info("kafka: stopping before the first assignment: waiting "
			 "up to %d s for it, to leave the group cleanly",
		    KAFKA_FIRST_ASSIGN_WAIT_MS / 1000);
	while (!k->assigned_once && units_mono_ms() < until) {
		rd_kafka_message_t *rm = rd_kafka_consumer_poll(k->rk, 100);
		if (rm != NULL)
			rd_kafka_message_destroy(rm);
	}
	return k->assigned_once;
}

/* A consumer handle left to the exit: kept reachable for leak checkers. */
static rd_kafka_t *kafka_abandoned;

void
kafka_close(struct kafka *k)
{
	struct kpart *p;
	struct kmsg *m;

	if (k == NULL)
		return;
	/* The producer goes: the shutdown anchor reaches syslog only. */
	audit_set_anchor_hook(k->d->audit, NULL, NULL);
	if (k->rk != NULL && k->subscribed &&
	    !kafka_await_first_assignment(k)) {
		/*
		 * Never assigned: nothing was taken, nothing is to commit.
		 * Closing could abort, so the handle is not closed; the
		 * group drops this member after session.timeout.ms.
		 */
		log_warnx("kafka: no assignment came; leaving without closing "
			  "the consumer (the group drops it after "
			  "session.timeout.ms)");
		if (k->q != NULL)
			rd_kafka_queue_destroy(k->q);
		k->q = NULL;
		kafka_abandoned = k->rk;
		k->rk = NULL;
	}
	if (k->rk != NULL) {
		/* Leaving the group revokes everything: settle, commit. */
		rd_kafka_consumer_close(k->rk);
	}
	k->closing = 1;
	/* What it still holds is read again: before the consumer goes. */
	decoder_free(k->dec, kafka_drop_decoded, NULL);
	k->dec = NULL;
	if (k->dlq != NULL) {
		rd_kafka_flush(k->dlq, KAFKA_SETTLE_MS);
		rd_kafka_purge(k->dlq, RD_KAFKA_PURGE_F_QUEUE |
		    RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(k->dlq, 0); /* the purged reports free their kmsgs */
	}
	/* Dead letters still to be retried: that condition has failed. */
	while ((m = TAILQ_FIRST(&k->retries)) != NULL) {
		TAILQ_REMOVE(&k->retries, m, retry_entry);
		m->retrying = 0;
		kmsg_settle(m, 0);
	}
	/*
	 * Partitions left (the close failed to revoke): detach their work.
	 * Messages still awaiting the audit log outlive this struct and
	 * free themselves when audit_close() fires their callbacks.
	 */
	while ((p = LIST_FIRST(&k->parts)) != NULL)
		kpart_detach(k, p);
	if (k->q != NULL)
		rd_kafka_queue_destroy(k->q);
	if (k->dlq_q != NULL)
		rd_kafka_queue_destroy(k->dlq_q);
	if (k->rk != NULL)
		rd_kafka_destroy(k->rk);
	if (k->dlq != NULL)
		rd_kafka_destroy(k->dlq);
	if (k->ev_wake != NULL)
		event_free(k->ev_wake);
	if (k->ev_dlq_wake != NULL)
		event_free(k->ev_dlq_wake);
	if (k->ev_more != NULL)
		event_free(k->ev_more);
	if (k->ev_tick != NULL)
		event_free(k->ev_tick);
	if (k->ev_resume != NULL)
		event_free(k->ev_resume);
	if (k->ev_decoded != NULL)
		event_free(k->ev_decoded);
	for (int i = 0; i < 2; i++) {
		if (k->pipe[i] != -1)
			close(k->pipe[i]);
		if (k->dlq_pipe[i] != -1)
			close(k->dlq_pipe[i]);
	}
	if (k->embedded != NULL) {
		/* Its data dies with it: leave no address pointing nowhere. */
		char path[4096];
		snprintf(path, sizeof path, "%s/embedded-broker",
		    k->d->cfg->state_dir);
		unlink(path);
	}
	broker_stop(k->embedded);
	dedup_free(k->dedup);
	EVP_MD_free(k->sha256);
	free(k->bootstraps);
	free(k);
}

json_t *
kafka_status_json(const struct kafka *k)
{
	const struct config *cfg = k->d->cfg;
	json_t *parts = json_array();
	struct kpart *p;
	size_t i = 0;

	LIST_FOREACH(p, &k->parts, entry) {
		json_t *o = json_pack("{s:s, s:i, s:I, s:I}", "topic", p->topic,
		    "partition", (int)p->partition, "inflight",
		    (json_int_t)p->ninflight,
		    "stored", (json_int_t)p->stored);
		if (p->lag >= 0)
			json_object_set_new(o, "lag", json_integer(p->lag));
		json_array_append_new(parts, o);
		i++;
	}
	json_t *o = json_pack("{s:s, s:b, s:s, s:s, s:s, s:s, s:o, s:I, s:b}",
	    "brokers", k->bootstraps ? k->bootstraps : "",
	    "embedded", k->embedded != NULL,
	    "state", k->state,
	    "topic", cfg->kafka.topic,
	    "group", cfg->kafka.group,
	    "dlq_topic", cfg->kafka.dlq_topic,
	    "partitions", parts,
	    "inflight", (json_int_t)k->inflight,
	    "paused", k->paused);
	if (k->paused)
		json_object_set_new(o, "pause_reason",
		    json_string(k->pause_reason));
	json_object_set_new(o, "holding", json_boolean(k->holding));
	/* Taken from the consumer, not yet through the decoder. */
	json_object_set_new(o, "decoding", json_integer(k->dec != NULL ?
	    (json_int_t)decoder_pending(k->dec) : 0));
	json_object_set_new(o, "counters", json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "received", (json_int_t)k->n.received,
	    "resumed", (json_int_t)k->n.resumed,
	    "accepted", (json_int_t)k->n.accepted,
	    "duplicate", (json_int_t)k->n.duplicate,
	    "rejected", (json_int_t)k->n.rejected,
	    "dlq_delivered", (json_int_t)k->n.dlq_delivered,
	    "dlq_failed", (json_int_t)k->n.dlq_failed,
	    "errors", (json_int_t)k->n.errors,
	    "rebalances", (json_int_t)k->n.rebalances,
	    "pauses", (json_int_t)k->n.pauses,
	    "holds", (json_int_t)k->n.holds));
	json_object_set_new(o, "dedup", json_pack("{s:I, s:I}", "ids",
	    (json_int_t)dedup_size(k->dedup), "evicted",
	    (json_int_t)dedup_evicted(k->dedup)));
	return o;
}
