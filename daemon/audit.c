/*
 * The daemon's audit writer. The loop serializes each record (seq, time,
 * fields) into the current batch, with placeholders for the chain; a writer
 * thread links the batch into the chain (each record's prev and hash),
 * then does the write() and fdatasync() of the whole batch, so one sync
 * covers many records and the loop neither hashes nor waits on the disk.
 * When a batch is on disk the writer hands it back and wakes the loop,
 * which shows its lines to the observer, logs its anchors and fires the
 * durability callbacks in seq order. Write errors stall the log: the writer
 * retries, new records are refused, and nothing that was accepted is
 * dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "remediad/audit.h"
#include "remediad/config.h"
#include "remediad/fsutil.h"
#include "remediad/log.h"
#include "remediad/units.h"

/* Past this many bytes waiting for the disk, new records are refused. */
#define AUDIT_MAX_BACKLOG (256u * 1024 * 1024)
#define AUDIT_RETRY_MS	  1000
#define AUDIT_SPARE_BATCHES 4

/* Where a record's line is in its batch, and its placeholders. */
struct audit_line {
	size_t start;
	size_t clen;	/* canonical bytes, up to the closing brace */
	size_t prev_at; /* prev's 64 hex digits */
};

struct audit_batch {
	struct audit_buf buf;
	size_t written; /* by the writer, across retries */
	uint64_t first_seq;
	uint64_t last_seq;
	uint64_t nrecords;
	struct audit_line *lines; /* nrecords of them */
	size_t caplines;
	int linked; /* the writer filled in prev and hash */
	int rotate_after; /* the segment is full: start the next one */
	TAILQ_ENTRY(audit_batch) entry;
};
TAILQ_HEAD(audit_batches, audit_batch);

struct audit_waiter {
	uint64_t seq;
	audit_durable_cb cb;
	void *arg;
};

struct audit {
	struct event_base *base;
	char *dir;
	int sync;
	uint64_t interval_ms;
	uint64_t sync_records;
	uint64_t segment_size;
	uint64_t max_record;
	uint64_t anchor_every;

	/* Loop side. */
	uint64_t last_seq;
	char head[AUDIT_HASH_HEX + 1]; /* the hash of durable_seq */
	struct audit_batch *cur;
	uint64_t seg_bytes; /* bytes of the segment cur's records go to */
	unsigned seg_num;
	uint64_t durable_seq;
	uint64_t appended; /* bytes appended since open */
	uint64_t done_bytes; /* of those, on disk */
	int stalled;
	struct event *ev_timer;
	struct event *ev_done;
	struct audit_waiter *waiters; /* sorted by seq */
	size_t nwaiters, capwaiters;
	struct audit_waiter *firing; /* those being called, kept for reuse */
	size_t capfiring;
	uint64_t records;
	audit_tap_cb tap;
	audit_advance_cb advance;
	void *observer;
	struct units_clock clock;
	audit_anchor_cb anchor_cb;
	void *anchor_arg;

	/* Shared with the writer, under mtx. */
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	struct audit_batches queue;
	struct audit_batches written; /* on disk, for the loop to see */
	struct audit_batches spare; /* seen batches kept for reuse */
	int nspare;
	uint64_t w_durable_seq;
	uint64_t w_done_bytes;
	int w_stalled;
	char w_error[256];
	int w_quit;
	uint64_t w_syncs;
	uint64_t w_errors;

	/* Writer only (the loop touches them before start and after join). */
	pthread_t thread;
	int thread_started;
	int fd;
	unsigned fd_seg;
	char w_head[AUDIT_HASH_HEX + 1]; /* the hash of the last linked record */
	struct audit_hasher *hasher;
};

/* ---- Writer thread ----------------------------------------------------- */

static void
audit_path(const struct audit *a, unsigned seg, char *buf, size_t len)
{
	snprintf(buf, len, "%s/" AUDIT_SEGMENT_FMT, a->dir, seg);
}

static int
audit_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Creates segment `seg` (it must not exist) and makes the name durable. */
static int
audit_create_segment(const struct audit *a, unsigned seg)
{
	char path[4096];
	int fd;

	audit_path(a, seg, path, sizeof path);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC,
	    0640);
	if (fd == -1)
		return -1;
	/* 0640 exactly, whatever the umask: readable by the audit group. */
	if (fchmod(fd, 0640) == -1) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (audit_sync_dir(a->dir) == -1) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static void
audit_writer_error(struct audit *a, const char *what)
{
	pthread_mutex_lock(&a->mtx);
	a->w_errors++;
	if (!a->w_stalled)
		snprintf(a->w_error, sizeof a->w_error, "%s: %s", what,
		    strerror(errno));
	a->w_stalled = 1;
	pthread_mutex_unlock(&a->mtx);
	event_active(a->ev_done, EV_READ, 0);
}

/* Waits before a retry; returns 1 if the daemon is closing meanwhile. */
static int
audit_writer_backoff(struct audit *a)
{
	struct timespec ts;
	int quit;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += AUDIT_RETRY_MS / 1000;
	pthread_mutex_lock(&a->mtx);
	if (!a->w_quit)
		pthread_cond_timedwait(&a->cond, &a->mtx, &ts);
	quit = a->w_quit;
	pthread_mutex_unlock(&a->mtx);
	return quit;
}

/*
 * Links a batch's records into the chain, in seq order: each gets the
 * previous record's hash as prev, then its own hash over prev and its
 * canonical bytes. The writer is the only one to hash, so the chain's
 * order is the order batches are queued in.
 */
static void
audit_writer_link(struct audit *a, struct audit_batch *b)
{
	char hash[AUDIT_HASH_HEX + 1];

	for (uint64_t i = 0; i < b->nrecords; i++) {
		const struct audit_line *l = &b->lines[i];
		char *line = b->buf.data + l->start;

		memcpy(b->buf.data + l->prev_at, a->w_head, AUDIT_HASH_HEX);
		audit_hash_parts(a->hasher, a->w_head, line, l->clen, "}", 1,
		    hash);
		/* The suffix: ,"hash":"<64 hex>"} */
		memcpy(line + l->clen + 9, hash, AUDIT_HASH_HEX);
		memcpy(a->w_head, hash, sizeof a->w_head);
	}
	b->linked = 1;
}

/*
 * Writes one batch until it is whole on disk, retrying through errors.
 * At close, a batch that cannot be written after a retry is given up.
 */
static int
audit_writer_batch(struct audit *a, struct audit_batch *b, int *synced)
{
	char what[64];
	int tries = 0;

	while (b->written < b->buf.len) {
		ssize_t n = write(a->fd, b->buf.data + b->written,
		    b->buf.len - b->written);
		if (n > 0) {
			b->written += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0)
			errno = ENOSPC;
		snprintf(what, sizeof what, "write segment %u", a->fd_seg);
		audit_writer_error(a, what);
		if (audit_writer_backoff(a) && ++tries > 1)
			return -1;
	}
	*synced = 0;
	/* A full segment is synced before the next one exists. */
	if (a->sync != AUDIT_SYNC_NONE || b->rotate_after) {
		while (fdatasync(a->fd) == -1) {
			snprintf(what, sizeof what, "fdatasync segment %u",
			    a->fd_seg);
			audit_writer_error(a, what);
			if (audit_writer_backoff(a) && ++tries > 1)
				return -1;
		}
		*synced = 1;
	}
	while (b->rotate_after) {
		int fd = audit_create_segment(a, a->fd_seg + 1);
		if (fd != -1) {
			close(a->fd);
			a->fd = fd;
			a->fd_seg++;
			break;
		}
		snprintf(what, sizeof what, "create segment %u", a->fd_seg + 1);
		audit_writer_error(a, what);
		if (audit_writer_backoff(a) && ++tries > 1)
			return -1;
	}
	return 0;
}

static void *
audit_writer(void *arg)
{
	struct audit *a = arg;
	struct audit_batch *b;

	pthread_mutex_lock(&a->mtx);
	for (;;) {
		while (TAILQ_EMPTY(&a->queue) && !a->w_quit)
			pthread_cond_wait(&a->cond, &a->mtx);
		b = TAILQ_FIRST(&a->queue);
		if (b == NULL)
			break; /* quit with nothing left */
		pthread_mutex_unlock(&a->mtx);

		int synced = 0;
		if (!b->linked)
			audit_writer_link(a, b);
		int rc = audit_writer_batch(a, b, &synced);

		pthread_mutex_lock(&a->mtx);
		if (rc == -1)
			break; /* closing, and the disk still refuses */
		TAILQ_REMOVE(&a->queue, b, entry);
		if (b->last_seq > a->w_durable_seq)
			a->w_durable_seq = b->last_seq;
		a->w_done_bytes += b->buf.len;
		a->w_syncs += (uint64_t)synced;
		a->w_stalled = 0;
		/* audit_sync_now() may be waiting on the same condition. */
		pthread_cond_broadcast(&a->cond);
		/* Its lines and anchors are the loop's to show now. */
		TAILQ_INSERT_TAIL(&a->written, b, entry);
		pthread_mutex_unlock(&a->mtx);
		event_active(a->ev_done, EV_READ, 0);
		pthread_mutex_lock(&a->mtx);
	}
	pthread_mutex_unlock(&a->mtx);
	return NULL;
}

/* ---- Loop side --------------------------------------------------------- */

static void
audit_batch_free(struct audit_batch *b)
{
	audit_buf_free(&b->buf);
	free(b->lines);
	free(b);
}

static void
audit_batches_free(struct audit_batches *list)
{
	struct audit_batch *b;

	while ((b = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, b, entry);
		audit_batch_free(b);
	}
}

/*
 * Keeps a few seen batches for reuse: a fresh one would grow by realloc to
 * megabytes and be freed again, and that churn cost more than the
 * serialization.
 */
static void
audit_batch_recycle(struct audit *a, struct audit_batch *b)
{
	pthread_mutex_lock(&a->mtx);
	if (a->nspare < AUDIT_SPARE_BATCHES) {
		b->buf.len = 0;
		b->written = 0;
		b->first_seq = b->last_seq = b->nrecords = 0;
		b->linked = 0;
		b->rotate_after = 0;
		TAILQ_INSERT_TAIL(&a->spare, b, entry);
		a->nspare++;
		b = NULL;
	}
	pthread_mutex_unlock(&a->mtx);
	if (b != NULL)
		audit_batch_free(b);
}

/* Room for one more record's line position. */
static int
audit_batch_reserve_line(struct audit_batch *b)
{
	if (b->nrecords < b->caplines)
		return 0;
	size_t ncap = b->caplines ? b->caplines * 2 : 256;
	struct audit_line *nl = realloc(b->lines, ncap * sizeof *nl);
	if (nl == NULL)
		return -1;
	b->lines = nl;
	b->caplines = ncap;
	return 0;
}

static struct audit_batch *
audit_batch_new(struct audit *a)
{
	struct audit_batch *b;

	pthread_mutex_lock(&a->mtx);
	if ((b = TAILQ_FIRST(&a->spare)) != NULL) {
		TAILQ_REMOVE(&a->spare, b, entry);
		a->nspare--;
	}
	pthread_mutex_unlock(&a->mtx);
	return b != NULL ? b : calloc(1, sizeof(struct audit_batch));
}

/* Queues a batch for the writer; the group timer has nothing left to do. */
static void
audit_enqueue(struct audit *a, struct audit_batch *b)
{
	pthread_mutex_lock(&a->mtx);
	TAILQ_INSERT_TAIL(&a->queue, b, entry);
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mtx);
	if (event_pending(a->ev_timer, EV_TIMEOUT, NULL))
		event_del(a->ev_timer);
}

/* Hands the current batch to the writer. */
static void
audit_handoff(struct audit *a)
{
	struct audit_batch *b = a->cur, *nb;

	if (b == NULL || b->nrecords == 0)
		return;
	/* Without memory for the next batch, keep filling this one. */
	if ((nb = audit_batch_new(a)) == NULL)
		return;
	a->cur = nb;
	audit_enqueue(a, b);
}

static int
audit_writer_idle(struct audit *a)
{
	int idle;

	pthread_mutex_lock(&a->mtx);
	idle = TAILQ_EMPTY(&a->queue);
	pthread_mutex_unlock(&a->mtx);
	return idle;
}

static void
audit_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	audit_handoff(arg);
}

static void
audit_log_anchor(struct audit *a, uint64_t seq, const char *hash,
    const char *why)
{
	log_notice("audit anchor (%s): seq=%llu hash=%s", why,
	    (unsigned long long)seq, hash);
	/* A copy outside this host's log files, when syslog is not stderr. */
	syslog(LOG_AUTHPRIV | LOG_NOTICE, "remediad audit anchor: %llu:%s",
	    (unsigned long long)seq, hash);
	if (a->anchor_cb != NULL)
		a->anchor_cb(a->anchor_arg, seq, hash);
}

static void
audit_fire(struct audit *a, uint64_t upto, int ok)
{
	size_t i = 0;

	while (i < a->nwaiters && a->waiters[i].seq <= upto)
		i++;
	if (i == 0)
		return;
	/*
	 * Copied out first: a callback may register new waiters, or close
	 * the log (which fires the rest itself). The copy is taken over
	 * while it runs, and kept afterwards.
	 */
	struct audit_waiter *fire = a->firing;
	size_t cap = a->capfiring;
	a->firing = NULL;
	a->capfiring = 0;
	if (cap < i) {
		free(fire);
		cap = i < 256 ? 256 : i;
		if ((fire = malloc(cap * sizeof *fire)) == NULL)
			fatalx("%s: out of memory", __func__);
	}
	memcpy(fire, a->waiters, i * sizeof *fire);
	memmove(a->waiters, a->waiters + i,
	    (a->nwaiters - i) * sizeof *a->waiters);
	a->nwaiters -= i;
	for (size_t j = 0; j < i; j++)
		fire[j].cb(fire[j].arg, ok);
	if (a->firing == NULL) {
		a->firing = fire;
		a->capfiring = cap;
	} else {
		free(fire);
	}
}

/*
 * The batches the writer has on disk, in order: the observer sees their
 * lines, every anchor_every-th record's hash is logged, and the head moves
 * to their last record.
 */
static void
audit_take_written(struct audit *a)
{
	struct audit_batches done = TAILQ_HEAD_INITIALIZER(done);
	struct audit_batch *b;

	pthread_mutex_lock(&a->mtx);
	TAILQ_CONCAT(&done, &a->written, entry);
	pthread_mutex_unlock(&a->mtx);
	while ((b = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, b, entry);
		for (uint64_t i = 0; i < b->nrecords; i++) {
			const struct audit_line *l = &b->lines[i];
			const char *line = b->buf.data + l->start;
			const char *hash = line + l->clen + 9;
			uint64_t seq = b->first_seq + i;

			if (a->tap != NULL)
				a->tap(a->observer, seq, line,
				    l->clen + AUDIT_SUFFIX_LEN);
			if (seq % a->anchor_every == 0) {
				char h[AUDIT_HASH_HEX + 1];
				memcpy(h, hash, AUDIT_HASH_HEX);
				h[AUDIT_HASH_HEX] = '\0';
				audit_log_anchor(a, seq, h, "periodic");
			}
			if (i + 1 == b->nrecords) {
				memcpy(a->head, hash, AUDIT_HASH_HEX);
				a->head[AUDIT_HASH_HEX] = '\0';
			}
		}
		audit_batch_recycle(a, b);
	}
}

static void
audit_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct audit *a = arg;
	uint64_t durable, done_bytes;
	int stalled;
	char error[256];

	pthread_mutex_lock(&a->mtx);
	durable = a->w_durable_seq;
	done_bytes = a->w_done_bytes;
	stalled = a->w_stalled;
	memcpy(error, a->w_error, sizeof error);
	pthread_mutex_unlock(&a->mtx);

	if (stalled && !a->stalled)
		log_error("audit: %s; new work is refused until the log is "
			  "writable again (retrying every %d ms)", error,
		    AUDIT_RETRY_MS);
	else if (!stalled && a->stalled)
		log_notice("audit: writable again, resuming");
	a->stalled = stalled;
	a->done_bytes = done_bytes;
	/* Every batch up to `durable` was handed back before it was read. */
	audit_take_written(a);
	if (durable > a->durable_seq) {
		a->durable_seq = durable;
		audit_fire(a, durable, 1);
		if (a->advance != NULL)
			a->advance(a->observer, durable);
	}
	/* "always": the next batch goes as soon as the writer is free. */
	if (a->sync == AUDIT_SYNC_ALWAYS && audit_writer_idle(a))
		audit_handoff(a);
}

void
audit_when_durable(struct audit *a, uint64_t seq, audit_durable_cb cb,
    void *arg)
{
	size_t i;

	if (seq <= a->durable_seq) {
		cb(arg, 1);
		return;
	}
	if (a->nwaiters == a->capwaiters) {
		size_t ncap = a->capwaiters ? a->capwaiters * 2 : 64;
		struct audit_waiter *nw = realloc(a->waiters,
		    ncap * sizeof *nw);
		if (nw == NULL)
			fatalx("%s: out of memory", __func__);
		a->waiters = nw;
		a->capwaiters = ncap;
	}
	/* Usually the newest seq: insertion from the end is O(1). */
	i = a->nwaiters;
	while (i > 0 && a->waiters[i - 1].seq > seq) {
		a->waiters[i] = a->waiters[i - 1];
		i--;
	}
	a->waiters[i].seq = seq;
	a->waiters[i].cb = cb;
	a->waiters[i].arg = arg;
	a->nwaiters++;
}

static uint64_t audit_append_canon(struct audit *a, const char *type,
    const char *actor, const json_t *fields, const struct audit_member *m,
    size_t n, const char **cause);

uint64_t
audit_append(struct audit *a, const char *type, const char *actor,
    json_t *fields, const char **cause)
{
	uint64_t seq;

	if (fields == NULL)
		fields = json_object();
	if (!json_is_object(fields)) {
		json_decref(fields);
		*cause = "record fields must be an object";
		errno = EINVAL;
		return 0;
	}
	seq = audit_append_canon(a, type, actor, fields, NULL, 0, cause);
	json_decref(fields);
	return seq;
}

uint64_t
audit_append_members(struct audit *a, const char *type, const char *actor,
    const struct audit_member *m, size_t n, const char **cause)
{
	return audit_append_canon(a, type, actor, NULL, m, n, cause);
}

static uint64_t
audit_append_canon(struct audit *a, const char *type, const char *actor,
    const json_t *fields, const struct audit_member *m, size_t n,
    const char **cause)
{
	struct audit_batch *b;
	char now[40];
	size_t start, clen, rlen, prev_at;
	uint64_t seq;

	if (a->stalled) {
		*cause = "the audit log is not writable";
		errno = EAGAIN;
		return 0;
	}
	if (a->appended - a->done_bytes > AUDIT_MAX_BACKLOG) {
		*cause = "the audit log is too far behind";
		errno = EAGAIN;
		return 0;
	}
	seq = a->last_seq + 1;
	units_now_rfc3339(&a->clock, now, sizeof now);
	b = a->cur;
	if (audit_batch_reserve_line(b) == -1) {
		*cause = "out of memory";
		errno = ENOMEM;
		return 0;
	}
	start = b->buf.len;
	/*
	 * Serialized straight into the batch, without the closing brace;
	 * prev and hash are placeholders the writer fills in.
	 */
	if (audit_canon_record_with(&b->buf, seq, now, type, actor,
		AUDIT_ZERO_HASH, fields, m, n, &prev_at, cause) == -1) {
		errno = strcmp(*cause, "out of memory") == 0 ? ENOMEM : EINVAL;
		return 0;
	}
	clen = b->buf.len - start;
	/* The line: these bytes, the hash member with its brace, '\n'. */
	rlen = clen + AUDIT_SUFFIX_LEN + 1;
	if (rlen > a->max_record) {
		b->buf.len = start;
		*cause = "record larger than audit.max_record";
		errno = EFBIG;
		return 0;
	}
	/* hash = SHA-256(prev || canonical bytes), the brace included. */
	if (audit_buf_put(&b->buf, ",\"hash\":\"" AUDIT_ZERO_HASH "\"}\n",
		AUDIT_SUFFIX_LEN + 1) == -1) {
		b->buf.len = start;
		*cause = "out of memory";
		errno = ENOMEM;
		return 0;
	}

	/* A record starts a new segment when this one would overflow. */
	if (a->seg_bytes > 0 && a->seg_bytes + rlen > a->segment_size) {
		struct audit_batch *nb = audit_batch_new(a);
		if (nb == NULL || audit_batch_reserve_line(nb) == -1 ||
		    audit_buf_put(&nb->buf, b->buf.data + start, rlen) == -1) {
			if (nb != NULL)
				audit_batch_free(nb);
			b->buf.len = start;
			*cause = "out of memory";
			errno = ENOMEM;
			return 0;
		}
		b->buf.len = start;
		b->rotate_after = 1;
		/* Queued even when empty: the writer then only rotates. */
		audit_enqueue(a, b);
		a->cur = nb;
		b = nb;
		a->seg_num++;
		a->seg_bytes = 0;
		prev_at -= start;
		start = 0;
	}
	if (b->nrecords == 0)
		b->first_seq = seq;
	b->lines[b->nrecords].start = start;
	b->lines[b->nrecords].clen = clen;
	b->lines[b->nrecords].prev_at = prev_at;
	b->nrecords++;
	b->last_seq = seq;
	a->seg_bytes += rlen;
	a->appended += rlen;
	a->last_seq = seq;
	a->records++;

	switch (a->sync) {
	case AUDIT_SYNC_ALWAYS:
		if (audit_writer_idle(a))
			audit_handoff(a);
		break;
	default:
		if (b->nrecords >= a->sync_records) {
			audit_handoff(a);
		} else if (!event_pending(a->ev_timer, EV_TIMEOUT, NULL)) {
			struct timeval tv = {
			    (time_t)(a->interval_ms / 1000),
			    (suseconds_t)(a->interval_ms % 1000) * 1000};
			event_add(a->ev_timer, &tv);
		}
		break;
	}
	return seq;
}

/* ---- Opening and recovery ---------------------------------------------- */

/* The last record's seq and hash of a complete segment (for the link). */
static int
audit_segment_tail(const struct audit *a, unsigned seg, uint64_t *seq,
    char *hash, char **cause)
{
	char path[4096];
	struct audit_fields f;
	struct fs_map m;
	const char *why, *end, *p;
	int rc = -1;

	audit_path(a, seg, path, sizeof path);
	if (fs_map(path, &m) == -1) {
		if (asprintf(cause, "%s: %s", path, strerror(errno)) == -1)
			*cause = NULL;
		return -1;
	}
	if (m.size == 0) {
		*seq = 0;
		return 0;
	}
	end = m.base + m.size;
	if (end[-1] == '\n') {
		p = end - 1;
		while (p > m.base && p[-1] != '\n')
			p--;
		if (audit_scan(p, (size_t)(end - 1 - p), &f, &why) == 0) {
			*seq = f.seq;
			memcpy(hash, f.hash, AUDIT_HASH_HEX);
			hash[AUDIT_HASH_HEX] = '\0';
			rc = 0;
		}
	}
	if (rc == -1 && asprintf(cause, "%s: the last record of a closed "
	    "segment is damaged; run remediactl audit verify %s", path,
	    a->dir) == -1)
		*cause = NULL;
	fs_unmap(&m);
	return rc;
}

/*
 * Checks a segment record by record and, when allowed, cuts a torn tail:
 * an unterminated last line, or the NUL padding a crash can leave. A
 * complete record that fails its checks is damage, not a torn write:
 * refused. Fills the head and returns the bytes dropped (0 if none), or -1.
 */
static long long
audit_recover(struct audit *a, unsigned seg, uint64_t prev_seq,
    const char *prev_hash, int may_cut, char **cause)
{
	struct audit_verdict v;
	char path[4096];
	size_t good;
	long long dropped = 0;
	struct stat st;
	int torn;

	audit_path(a, seg, path, sizeof path);
	audit_check_segment(a->dir, seg, prev_seq, prev_hash, &v, &good, &torn);
	if (!v.ok && !(torn && may_cut)) {
		if (asprintf(cause, "%s line %llu: %s; the audit log is damaged%s"
		    ": remediad will not append to it (run remediactl audit "
		    "verify %s)", path, (unsigned long long)v.bad_line, v.why,
		    torn ? " (a torn record in a closed segment)"
			 : ", not merely torn", a->dir) == -1)
			*cause = NULL;
		return -1;
	}
	if (!v.ok) {
		/* The one edit ever made to the log, and it is audited. */
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd == -1 || fstat(fd, &st) == -1 ||
		    ftruncate(fd, (off_t)good) == -1 || fsync(fd) == -1) {
			if (asprintf(cause, "%s: cannot cut the torn tail: %s",
			    path, strerror(errno)) == -1)
				*cause = NULL;
			if (fd != -1)
				close(fd);
			return -1;
		}
		close(fd);
		dropped = (long long)st.st_size - (long long)good;
		log_warnx("audit: %s ended with a torn record (%lld bytes "
			  "after offset %zu); cut back to the last whole "
			  "record", path, dropped, good);
	}
	a->last_seq = v.last_seq;
	memcpy(a->head, v.last_hash, sizeof a->head);
	a->seg_bytes = (uint64_t)good;
	return dropped;
}

struct audit *
audit_open(struct event_base *base, const struct config *cfg, char **cause)
{
	struct audit_segments segs = {0};
	struct audit *a;
	char path[4096];
	long long dropped = 0;
	unsigned seg;

	*cause = NULL;
	a = calloc(1, sizeof *a);
	if (a == NULL)
		return NULL;
	a->base = base;
	a->fd = -1;
	a->dir = strdup(cfg->audit.dir);
	a->sync = (int)cfg->audit.sync;
	a->interval_ms = cfg->audit.sync_interval_ms;
	a->sync_records = (uint64_t)cfg->audit.sync_records;
	a->segment_size = cfg->audit.segment_size;
	a->max_record = cfg->audit.max_record;
	a->anchor_every = (uint64_t)cfg->audit.anchor_every;
	memcpy(a->head, AUDIT_ZERO_HASH, sizeof a->head);
	TAILQ_INIT(&a->queue);
	TAILQ_INIT(&a->written);
	TAILQ_INIT(&a->spare);
	pthread_mutex_init(&a->mtx, NULL);
	pthread_cond_init(&a->cond, NULL);

	if (fs_mkdirs(a->dir, 0750, 0750) == -1) {
		if (asprintf(cause, "audit.dir %s: %s", a->dir,
		    strerror(errno)) == -1)
			*cause = NULL;
		goto fail;
	}
	if (audit_segments_list(a->dir, &segs, cause) == -1)
		goto fail;
	if (segs.n == 0) {
		seg = 1;
		a->fd = audit_create_segment(a, seg);
		if (a->fd == -1) {
			audit_path(a, seg, path, sizeof path);
			if (asprintf(cause, "%s: %s", path, strerror(errno)) == -1)
				*cause = NULL;
			goto fail;
		}
	} else {
		uint64_t prev_seq = 0;
		char prev_hash[AUDIT_HASH_HEX + 1] = AUDIT_ZERO_HASH;

		size_t last = segs.n - 1, check = last;
		struct stat st;

		seg = segs.num[last];
		audit_path(a, seg, path, sizeof path);
		/*
		 * An empty last segment (a crash right after a rotation): the
		 * closed one before it gets the record-by-record check, and
		 * is never cut.
		 */
		if (last > 0 && stat(path, &st) == 0 && st.st_size == 0)
			check = last - 1;
		if (check > 0 && audit_segment_tail(a, segs.num[check - 1],
		    &prev_seq, prev_hash, cause) == -1)
			goto fail;
		dropped = audit_recover(a, segs.num[check], prev_seq, prev_hash,
		    check == last, cause);
		if (dropped < 0)
			goto fail;
		if (check != last)
			a->seg_bytes = 0;
		audit_path(a, seg, path, sizeof path);
		a->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (a->fd == -1) {
			if (asprintf(cause, "%s: %s", path, strerror(errno)) == -1)
				*cause = NULL;
			goto fail;
		}
	}
	audit_segments_free(&segs);
	a->fd_seg = seg;
	a->seg_num = seg;
	a->durable_seq = a->last_seq;
	/* The writer links from the recovered head on. */
	memcpy(a->w_head, a->head, sizeof a->w_head);
	a->cur = audit_batch_new(a);
	a->hasher = audit_hasher_new();
	a->ev_timer = evtimer_new(base, audit_timer_cb, a);
	a->ev_done = event_new(base, -1, 0, audit_done_cb, a);
	if (a->cur == NULL || a->hasher == NULL || a->ev_timer == NULL ||
	    a->ev_done == NULL) {
		*cause = strdup("out of memory");
		goto fail;
	}
	if (pthread_create(&a->thread, NULL, audit_writer, a) != 0) {
		*cause = strdup("cannot start the audit writer thread");
		goto fail;
	}
	a->thread_started = 1;
	log_info("audit: %s, segment %u, last seq %llu, sync %s", a->dir, seg,
	    (unsigned long long)a->last_seq,
	    a->sync == AUDIT_SYNC_GROUP ? "group" :
	    a->sync == AUDIT_SYNC_ALWAYS ? "always" : "none");
	if (dropped > 0) {
		const char *why;
		audit_path(a, seg, path, sizeof path);
		audit_append(a, "audit.recovered", "system",
		    json_pack("{s:s, s:I, s:I}", "segment", path,
			"bytes_dropped", (json_int_t)dropped, "offset",
			(json_int_t)a->seg_bytes), &why);
	}
	return a;
fail:
	audit_segments_free(&segs);
	audit_close(a);
	return NULL;
}

void
audit_close(struct audit *a)
{
	uint64_t durable;

	if (a == NULL)
		return;
	if (a->thread_started) {
		audit_handoff(a);
		pthread_mutex_lock(&a->mtx);
		a->w_quit = 1;
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->mtx);
		pthread_join(a->thread, NULL);
	}
	durable = a->w_durable_seq > a->durable_seq ? a->w_durable_seq
						     : a->durable_seq;
	/* What the writer finished since the loop last looked. */
	audit_take_written(a);
	if (durable < a->last_seq)
		log_error("audit: records %llu to %llu could not be written",
		    (unsigned long long)durable + 1,
		    (unsigned long long)a->last_seq);
	else if (a->thread_started && a->last_seq > 0)
		audit_log_anchor(a, a->last_seq, a->head, "shutdown");
	a->durable_seq = durable;
	audit_fire(a, durable, 1);
	audit_fire(a, UINT64_MAX, 0);
	audit_batches_free(&a->queue);
	audit_batches_free(&a->written);
	audit_batches_free(&a->spare);
	if (a->cur != NULL)
		audit_batch_free(a->cur);
	audit_hasher_free(a->hasher);
	if (a->ev_timer != NULL)
		event_free(a->ev_timer);
	if (a->ev_done != NULL)
		event_free(a->ev_done);
	if (a->fd != -1)
		close(a->fd);
	free(a->waiters);
	free(a->firing);
	pthread_mutex_destroy(&a->mtx);
	pthread_cond_destroy(&a->cond);
	free(a->dir);
	free(a);
}

int
audit_sync_now(struct audit *a, int timeout_ms)
{
	struct timespec until;
	int rc = 0;

	if (a->durable_seq >= a->last_seq)
		return 0;
	audit_handoff(a);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&a->mtx);
	while (a->w_durable_seq < a->last_seq && rc == 0)
		rc = pthread_cond_timedwait(&a->cond, &a->mtx, &until);
	pthread_mutex_unlock(&a->mtx);
	/* What the writer finished: callbacks now, not at the next loop turn. */
	audit_done_cb(-1, 0, a);
	return a->durable_seq >= a->last_seq ? 0 : -1;
}

void
audit_set_observer(struct audit *a, audit_tap_cb tap, audit_advance_cb durable,
    void *arg)
{
	a->tap = tap;
	a->advance = durable;
	a->observer = arg;
}

void
audit_set_anchor_hook(struct audit *a, audit_anchor_cb cb, void *arg)
{
	a->anchor_cb = cb;
	a->anchor_arg = arg;
}

uint64_t
audit_last_seq(const struct audit *a)
{
	return a->last_seq;
}

uint64_t
audit_durable_seq(const struct audit *a)
{
	return a->durable_seq;
}

int
audit_stalled(const struct audit *a)
{
	return a->stalled;
}

const char *
audit_dir(const struct audit *a)
{
	return a->dir;
}

json_t *
audit_status_json(const struct audit *a)
{
	struct audit *m = (struct audit *)a;
	uint64_t syncs, errors;
	char error[256];

	pthread_mutex_lock(&m->mtx);
	syncs = m->w_syncs;
	errors = m->w_errors;
	memcpy(error, m->w_error, sizeof error);
	pthread_mutex_unlock(&m->mtx);
	json_t *o = json_pack("{s:s, s:I, s:I, s:s, s:i, s:s, s:b, s:I, s:I, "
	    "s:I, s:I}",
	    "dir", a->dir,
	    "last_seq", (json_int_t)a->last_seq,
	    "durable_seq", (json_int_t)a->durable_seq,
	    "head", a->head,
	    "segment", (int)a->seg_num,
	    "sync", a->sync == AUDIT_SYNC_GROUP ? "group" :
		a->sync == AUDIT_SYNC_ALWAYS ? "always" : "none",
	    "stalled", a->stalled,
	    "records_appended", (json_int_t)a->records,
	    "bytes_pending", (json_int_t)(a->appended - a->done_bytes),
	    "syncs", (json_int_t)syncs,
	    "write_errors", (json_int_t)errors);
	if (a->stalled)
		json_object_set_new(o, "error", json_string(error));
	return o;
}

uint64_t
audit_append_logged(struct audit *a, const char *type, const char *actor,
    json_t *fields)
{
	const char *cause;
	uint64_t seq;

	if (a == NULL) {
		json_decref(fields);
		return 0;
	}
	seq = audit_append(a, type, actor, fields, &cause);
	if (seq == 0)
		log_warnx("audit: %s not recorded: %s", type, cause);
	return seq;
}
