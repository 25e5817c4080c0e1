/*
 * The pool of playbook worker processes of one playbook set, seen from the
 * main process: spawning (fork, then exec of remediad itself so nothing of
 * the daemon's memory, threads or descriptors is inherited), dispatching
 * runs in batches, timing each run from the answer before it, and killing
 * and replacing a worker that passes a deadline, dies or breaks the
 * protocol. The frames are described in worker.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "remediad/child.h"
#include "remediad/growbuf.h"
#include "remediad/json_scan.h"
#include "remediad/log.h"
#include "remediad/worker.h"

#define WPOOL_PIPELINE	  256   /* runs sent ahead to one worker */
#define WPOOL_OUT_MAX	  (8 * 1024 * 1024) /* and bytes, not yet written */
#define WPOOL_RESPAWN_MS  1000 /* pause after a worker that died loading */
#define WPOOL_MAX_WORKERS 256
#define WBUF_READ	  (64 * 1024) /* room for each read from a worker */
#define WBUF_KEEP	  (1024 * 1024) /* an empty buffer past this shrinks */

/*
 * The bytes going to or coming from one worker: data[off, len) is still to
 * be written or parsed. One block reused for every frame (an evbuffer
 * allocated a chain per frame, and glibc consolidated its heap each time).
 */
struct wbuf {
	char *data;
	size_t off, len, cap;
};

struct worker {
	struct wpool *pool;
	int slot;
	pid_t pid;
	int fd;
	struct event *ev_read, *ev_write, *ev_deadline;
	struct wbuf in, out;
	struct wruns running; /* sent and unanswered, in order */
	size_t nrunning;
	int ready;  /* its hello came */
	int dead;   /* killed or gone: waiting for its exit status */
	const char *reason; /* why it was killed, if it was */
	char detail[256];
};

struct wpool {
	struct event_base *base;
	struct children *children;
	struct wpool_opts opts;
	struct wpool_cbs cbs;
	void *arg;
	char *config;	  /* the config frame, sent to each new worker */
	size_t config_len;
	struct worker *w[WPOOL_MAX_WORKERS];
	int n;
	struct wruns queue;
	size_t nqueued, nrunning;
	uint64_t next_id;
	int ready_called;
	int retired;
	int alive; /* processes not reaped yet */
	int busy;  /* inside a callback of ours: no free before it ends */
	uint64_t restarts, timeouts, crashes, protocol_errors;
	struct event *ev_load_timeout, *ev_respawn;
	struct jscan scan; /* results are parsed with it, buffers kept */
};

static void worker_kill(struct worker *w, const char *reason,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int worker_spawn(struct wpool *p, int slot);
static void wpool_dispatch(struct wpool *p);
static void wpool_maybe_free(struct wpool *p);

static struct timeval
ms_tv(uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) *
	    1000};
	return tv;
}

/* ---- Buffers and frames ---------------------------------------------------- */

static size_t
wbuf_pending(const struct wbuf *b)
{
	return b->len - b->off;
}

/*
 * Room for n more bytes at data + len. What was consumed is dropped first
 * when it is at least what is pending, so each byte moves at most once.
 */
static char *
wbuf_room(struct wbuf *b, size_t n)
{
	if (b->off > 0 && b->cap - b->len < n && b->off >= b->len - b->off) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + n < b->len ||
	    growbuf_reserve(&b->data, &b->cap, b->len + n, 4096) == -1)
		fatalx("worker: out of memory");
	return b->data + b->len;
}

static void
wbuf_add(struct wbuf *b, const void *p, size_t n)
{
	memcpy(wbuf_room(b, n), p, n);
	b->len += n;
}

/* Everything consumed: start over, and give back a block a big frame grew. */
static void
wbuf_consumed(struct wbuf *b)
{
	if (b->off < b->len)
		return;
	b->off = b->len = 0;
	if (b->cap > WBUF_KEEP) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}

static void
frame_header(struct wbuf *b, char type, size_t len)
{
	uint32_t l = (uint32_t)(len + 1);

	wbuf_add(b, &l, 4);
	wbuf_add(b, &type, 1);
}

char *
wrun_body(const struct pbfield *fields, size_t n, const char *raw,
    size_t rawlen, size_t *lenp)
{
	size_t len = 2 + 4 + rawlen;
	uint16_t nf = (uint16_t)n;
	char *buf, *q;

	if (n > UINT16_MAX)
		fatalx("worker: %zu fields in a run frame", n);
	for (size_t i = 0; i < n; i++) {
		if (fields[i].klen > 255)
			fatalx("worker: a field name of %zu bytes",
			    fields[i].klen);
		len += 1 + fields[i].klen + 1 +
		    (fields[i].str != NULL ? 4 + fields[i].slen : 8);
	}
	if ((buf = q = malloc(len)) == NULL)
		fatalx("worker: out of memory");
	memcpy(q, &nf, 2);
	q += 2;
	for (size_t i = 0; i < n; i++) {
		const struct pbfield *f = &fields[i];
		*q++ = (char)f->klen;
		memcpy(q, f->key, f->klen);
		q += f->klen;
		if (f->str != NULL) {
			uint32_t sl = (uint32_t)f->slen;
			*q++ = 's';
			memcpy(q, &sl, 4);
			memcpy(q + 4, f->str, f->slen);
			q += 4 + f->slen;
		} else {
			*q++ = 'i';
			memcpy(q, &f->i, 8);
			q += 8;
		}
	}
	uint32_t rl = (uint32_t)rawlen;
	memcpy(q, &rl, 4);
	q += 4;
	if (rawlen)
		memcpy(q, raw, rawlen);
	*lenp = len;
	return buf;
}

/* A run frame (layout: worker_main.c's run_decode()): its head, the body. */
static void
frame_run(struct wbuf *b, const struct wrun *r)
{
	char *q;

	frame_header(b, WIRE_RUN, 20 + r->bodylen);
	q = wbuf_room(b, 20 + r->bodylen);
	memcpy(q, &r->id, 8);
	memcpy(q + 8, &r->playbook, 4);
	memcpy(q + 12, &r->prior, 8);
	memcpy(q + 20, r->body, r->bodylen);
	b->len += 20 + r->bodylen;
}

/* ---- One worker ----------------------------------------------------------- */

static void
worker_arm_deadline(struct worker *w)
{
	if (w->nrunning == 0) {
		event_del(w->ev_deadline);
		return;
	}
	struct timeval tv = ms_tv(w->pool->opts.timeout_ms);
	event_add(w->ev_deadline, &tv);
}

static void
worker_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	if (!w->ready)
		worker_kill(w, "timeout", "did not load the playbooks within "
		    "%llu ms", (unsigned long long)w->pool->opts.load_timeout_ms);
	else
		worker_kill(w, "timeout", "ran past playbooks.timeout (%llu ms)",
		    (unsigned long long)w->pool->opts.timeout_ms);
}

/* Stops talking to a worker; the rest happens once it is reaped. */
static void
worker_close_io(struct worker *w)
{
	if (w->fd == -1)
		return;
	event_del(w->ev_read);
	event_del(w->ev_write);
	event_del(w->ev_deadline);
	close(w->fd);
	w->fd = -1;
}

static void
worker_kill(struct worker *w, const char *reason, const char *fmt, ...)
{
	va_list ap;

	if (w->dead)
		return;
	w->dead = 1;
	w->reason = reason;
	va_start(ap, fmt);
	vsnprintf(w->detail, sizeof w->detail, fmt, ap);
	va_end(ap);
	log_warnx("playbook worker %d: %s; killing it", (int)w->pid,
	    w->detail);
	kill(w->pid, SIGKILL);
	worker_close_io(w);
}

static void
worker_free(struct worker *w)
{
	worker_close_io(w);
	event_free(w->ev_read);
	event_free(w->ev_write);
	event_free(w->ev_deadline);
	free(w->in.data);
	free(w->out.data);
	free(w);
}

/*
 * The worker is gone. Its current run failed (the reason is ours if we
 * killed it, else how it died); the runs queued behind go back to the
 * front of the pool's queue, in order. A replacement is started.
 */
static void
worker_exit(pid_t pid, int status, struct worker *w)
{
	struct wpool *p = w->pool;
	struct wrun *r, *head;
	char how[128];
	int was_ready = w->ready;

	p->alive--;
	p->w[w->slot] = NULL;
	child_status_str(status, how, sizeof how);
	if (!w->dead) {
		/* It went by itself: a crash (or a retirement). */
		w->reason = "crash";
		snprintf(w->detail, sizeof w->detail, "%s", how);
	}
	head = TAILQ_FIRST(&w->running);
	if (head != NULL) {
		TAILQ_REMOVE(&w->running, head, entry);
		w->nrunning--;
		p->nrunning--;
	}
	/* Back to the front of the queue, keeping their order. */
	while ((r = TAILQ_LAST(&w->running, wruns)) != NULL) {
		TAILQ_REMOVE(&w->running, r, entry);
		w->nrunning--;
		p->nrunning--;
		TAILQ_INSERT_HEAD(&p->queue, r, entry);
		p->nqueued++;
	}
	if (strcmp(w->reason, "timeout") == 0)
		p->timeouts++;
	else if (strcmp(w->reason, "protocol") == 0)
		p->protocol_errors++;
	else if (head != NULL || !p->retired)
		p->crashes++;
	if (head != NULL || !p->retired)
		log_warnx("playbook worker %d %s", (int)pid, how);
	int slot = w->slot;
	char reason[32], detail[256];
	snprintf(reason, sizeof reason, "%s", w->reason);
	snprintf(detail, sizeof detail, "%s", w->detail);
	worker_free(w);

	if (!p->ready_called && !was_ready) {
		/* The first load never answered: the set does not load. */
		p->ready_called = 1;
		char err[400];
		snprintf(err, sizeof err, "a worker loading the playbooks %s",
		    detail);
		if (p->cbs.ready != NULL)
			p->cbs.ready(p, p->arg, NULL, err);
	}
	if (head != NULL && p->cbs.failed != NULL)
		p->cbs.failed(p, head, reason, detail);
	if (!p->retired) {
		p->restarts++;
		if (was_ready) {
			if (worker_spawn(p, slot) == -1)
				event_add(p->ev_respawn, &(struct timeval){1, 0});
		} else
			event_add(p->ev_respawn,
			    &(struct timeval){WPOOL_RESPAWN_MS / 1000, 0});
	}
	wpool_dispatch(p);
}

static void
worker_exit_cb(pid_t pid, int status, void *arg)
{
	struct wpool *p = ((struct worker *)arg)->pool;

	p->busy++;
	worker_exit(pid, status, arg);
	p->busy--;
	wpool_maybe_free(p);
}

static int
worker_hello(struct worker *w, const char *data, size_t len)
{
	struct wpool *p = w->pool;
	json_error_t jerr;
	json_t *hello = json_loadb(data, len, 0, &jerr);

	if (hello == NULL || w->ready)
		goto bad;
	if (!json_is_true(json_object_get(hello, "ok"))) {
		const char *err = json_string_value(json_object_get(hello,
		    "error"));
		if (!p->ready_called) {
			p->ready_called = 1;
			if (p->cbs.ready != NULL)
				p->cbs.ready(p, p->arg, NULL, err ? err :
				    "the playbooks did not load");
		} else
			log_warnx("playbook worker %d: the set no longer "
			    "loads: %s", (int)w->pid, err ? err : "?");
		json_decref(hello);
		worker_kill(w, "crash", "could not load the playbooks");
		return 0;
	}
	w->ready = 1;
	event_del(w->ev_deadline);
	if (!p->ready_called) {
		p->ready_called = 1;
		event_del(p->ev_load_timeout);
		if (p->cbs.ready != NULL)
			p->cbs.ready(p, p->arg, json_object_get(hello,
			    "playbooks"), NULL);
	}
	json_decref(hello);
	wpool_dispatch(p);
	return 0;
bad:
	json_decref(hello);
	worker_kill(w, "protocol", "sent a malformed hello");
	return -1;
}

static int
worker_result(struct worker *w, const char *data, size_t len)
{
	struct wpool *p = w->pool;
	struct wrun *r = TAILQ_FIRST(&w->running);
	const struct jscan_value *res = NULL;
	uint64_t id;

	if (len < 8 || r == NULL) {
		worker_kill(w, "protocol", "sent a result for nothing it runs");
		return -1;
	}
	memcpy(&id, data, 8);
	if (id != r->id) {
		worker_kill(w, "protocol", "answered run %llu, expected %llu",
		    (unsigned long long)id, (unsigned long long)r->id);
		return -1;
	}
	/* The worker is not trusted: the JSON is checked like a message. */
	struct jscan_error jerr;
	if (jscan_parse(&p->scan, data + 8, len - 8, WIRE_MAX_DEPTH, &jerr) ==
	    0)
		res = jscan_root(&p->scan);
	else if (jerr.fault == JSCAN_NO_MEMORY)
		fatalx("worker: out of memory");
	if (!jscan_is(res, JSCAN_OBJECT) ||
	    !jscan_is(jscan_get(&p->scan, res, "status", 6), JSCAN_STRING)) {
		worker_kill(w, "protocol", "sent a malformed result");
		return -1;
	}
	TAILQ_REMOVE(&w->running, r, entry);
	w->nrunning--;
	p->nrunning--;
	worker_arm_deadline(w); /* the next run starts now */
	if (p->cbs.result != NULL)
		p->cbs.result(p, r, &p->scan, res);
	return 0;
}

static void
worker_read(evutil_socket_t fd, struct worker *w)
{
	struct wpool *p = w->pool;
	uint32_t flen;
	char type;

	ssize_t n = read(fd, wbuf_room(&w->in, WBUF_READ), WBUF_READ);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		/* Gone: the exit status tells how, at the reap. */
		worker_close_io(w);
		kill(w->pid, SIGKILL);
		return;
	}
	if (n > 0)
		w->in.len += (size_t)n;
	while (wbuf_pending(&w->in) >= 5 && w->fd != -1) {
		memcpy(&flen, w->in.data + w->in.off, 4);
		if (flen == 0 || flen > WIRE_MAX_UP) {
			worker_kill(w, "protocol", "sent a frame of %u bytes",
			    flen);
			return;
		}
		if (wbuf_pending(&w->in) < 4 + (size_t)flen)
			break;
		type = w->in.data[w->in.off + 4];
		char *data = w->in.data + w->in.off + 5;
		int rc;
		if (type == WIRE_HELLO)
			rc = worker_hello(w, data, flen - 1);
		else if (type == WIRE_RESULT && w->ready)
			rc = worker_result(w, data, flen - 1);
		else {
			worker_kill(w, "protocol", "sent a frame of type 0x%02x",
			    (unsigned char)type);
			return;
		}
		if (rc == -1 || w->fd == -1)
			return;
		w->in.off += 4 + (size_t)flen;
	}
	wbuf_consumed(&w->in);
	wpool_dispatch(p);
}

static void
worker_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wpool *p = ((struct worker *)arg)->pool;

	p->busy++;
	worker_read(fd, arg);
	p->busy--;
	wpool_maybe_free(p);
}

static void
worker_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	ssize_t n = write(fd, w->out.data + w->out.off, wbuf_pending(&w->out));

	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		worker_close_io(w);
		kill(w->pid, SIGKILL);
		return;
	}
	if (n > 0)
		w->out.off += (size_t)n;
	wbuf_consumed(&w->out);
	if (wbuf_pending(&w->out) > 0)
		event_add(w->ev_write, NULL);
}

/* The environment a worker gets: the sanitizers' settings and TZ only. */
static char **
worker_env(void)
{
	static const char *const keep[] = {"ASAN_OPTIONS=", "UBSAN_OPTIONS=",
	    "LSAN_OPTIONS=", "TZ=", NULL};
	extern char **environ;
	size_t n = 0;
	char **env = calloc(8, sizeof *env);

	if (env == NULL)
		return NULL;
	for (char **e = environ; *e != NULL && n < 7; e++)
		for (size_t i = 0; keep[i] != NULL; i++)
			if (strncmp(*e, keep[i], strlen(keep[i])) == 0)
				env[n++] = *e;
	return env;
}

static int
worker_spawn(struct wpool *p, int slot)
{
	struct worker *w;
	int sv[2];
	pid_t pid;
	char **env;
	char *const argv[] = {"remediad-worker", "--worker", NULL};

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("playbook worker: socketpair");
		return -1;
	}
	env = worker_env();
	pid = fork();
	if (pid == -1) {
		log_warn("playbook worker: fork");
		close(sv[0]);
		close(sv[1]);
		free(env);
		return -1;
	}
	if (pid == 0) {
		/* Async-signal-safe calls only until exec. */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (dup2(sv[1], 3) == -1)
			_exit(71);
		close_range(4, ~0U, 0);
		execve("/proc/self/exe", argv, env ? env : (char *[]){NULL});
		_exit(71);
	}
	free(env);
	close(sv[1]);
	evutil_make_socket_nonblocking(sv[0]);
	w = calloc(1, sizeof *w);
	if (w == NULL)
		fatalx("worker: out of memory");
	w->pool = p;
	w->slot = slot;
	w->pid = pid;
	w->fd = sv[0];
	TAILQ_INIT(&w->running);
	w->ev_read = event_new(p->base, w->fd, EV_READ | EV_PERSIST,
	    worker_read_cb, w);
	w->ev_write = event_new(p->base, w->fd, EV_WRITE, worker_write_cb, w);
	w->ev_deadline = evtimer_new(p->base, worker_deadline_cb, w);
	if (w->ev_read == NULL ||
	    w->ev_write == NULL || w->ev_deadline == NULL)
		fatalx("worker: out of memory");
	p->w[slot] = w;
	p->alive++;
	if (children_watch(p->children, pid, p->opts.owner, worker_exit_cb,
	    w) == -1)
		fatalx("worker: out of memory");
	frame_header(&w->out, WIRE_CONFIG, p->config_len);
	wbuf_add(&w->out, p->config, p->config_len);
	event_add(w->ev_read, NULL);
	event_add(w->ev_write, NULL);
	struct timeval tv = ms_tv(p->opts.load_timeout_ms);
	event_add(w->ev_deadline, &tv);
	log_debug("playbook worker %d started", (int)pid);
	return 0;
}

/* ---- The pool -------------------------------------------------------------- */

static void
wpool_respawn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wpool *p = arg;

	if (p->retired)
		return;
	for (int i = 0; i < p->n; i++)
		if (p->w[i] == NULL && worker_spawn(p, i) == -1) {
			event_add(p->ev_respawn, &(struct timeval){1, 0});
			return;
		}
}

static void
wpool_load_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wpool *p = arg;

	/* The workers' own deadlines kill them; this only reports once. */
	if (!p->ready_called) {
		p->ready_called = 1;
		p->busy++;
		if (p->cbs.ready != NULL)
			p->cbs.ready(p, p->arg, NULL, "the playbooks did not "
			    "load within playbooks.load_timeout");
		p->busy--;
		wpool_maybe_free(p);
	}
}

/* Sends queued runs to the least busy ready workers. */
static void
wpool_dispatch(struct wpool *p)
{
	struct wrun *r;

	while ((r = TAILQ_FIRST(&p->queue)) != NULL) {
		struct worker *best = NULL;
		for (int i = 0; i < p->n; i++) {
			struct worker *w = p->w[i];
			if (w == NULL || !w->ready || w->dead ||
			    w->nrunning >= WPOOL_PIPELINE ||
			    wbuf_pending(&w->out) >= WPOOL_OUT_MAX)
				continue;
			if (best == NULL || w->nrunning < best->nrunning)
				best = w;
		}
		if (best == NULL)
			return;
		TAILQ_REMOVE(&p->queue, r, entry);
		p->nqueued--;
		TAILQ_INSERT_TAIL(&best->running, r, entry);
		if (best->nrunning++ == 0)
			worker_arm_deadline(best);
		p->nrunning++;
		frame_run(&best->out, r);
		event_add(best->ev_write, NULL);
	}
}

static void
wpool_maybe_free(struct wpool *p)
{
	if (!p->retired)
		return;
	/* Idle workers of a retired pool are told to go. */
	for (int i = 0; i < p->n; i++) {
		struct worker *w = p->w[i];
		if (w != NULL && w->nrunning == 0 && w->fd != -1 &&
		    wbuf_pending(&w->out) == 0 && p->nqueued == 0)
			worker_close_io(w);
	}
	if (p->alive > 0 || p->busy > 0)
		return;
	event_free(p->ev_load_timeout);
	event_free(p->ev_respawn);
	jscan_free(&p->scan);
	free(p->config);
	free(p);
}

struct wpool *
wpool_new(struct event_base *base, struct children *children,
    const struct wpool_opts *opts, const struct wpool_cbs *cbs, void *arg,
    char **cause)
{
	struct wpool *p;
	json_t *cfg;

	*cause = NULL;
	p = calloc(1, sizeof *p);
	if (p == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	p->base = base;
	p->children = children;
	p->opts = *opts;
	p->opts.src = NULL;
	p->cbs = *cbs;
	p->arg = arg;
	p->n = opts->workers;
	if (p->n < 1)
		p->n = 1;
	if (p->n > WPOOL_MAX_WORKERS)
		p->n = WPOOL_MAX_WORKERS;
	TAILQ_INIT(&p->queue);
	cfg = json_pack("{s:o, s:I, s:I, s:i}", "sources",
	    pbsources_json(opts->src), "memory", (json_int_t)opts->limits.memory,
	    "instructions", (json_int_t)opts->limits.instructions,
	    "max_actions", opts->max_actions);
	p->config = cfg ? json_dumps(cfg, JSON_COMPACT) : NULL;
	json_decref(cfg);
	p->ev_load_timeout = evtimer_new(base, wpool_load_timeout_cb, p);
	p->ev_respawn = evtimer_new(base, wpool_respawn_cb, p);
	if (p->config == NULL || p->ev_load_timeout == NULL ||
	    p->ev_respawn == NULL) {
		*cause = strdup("out of memory");
		goto fail;
	}
	p->config_len = strlen(p->config);
	for (int i = 0; i < p->n; i++) {
		if (worker_spawn(p, i) == -1) {
			if (asprintf(cause, "cannot start a playbook worker: %s",
				strerror(errno)) == -1)
				*cause = NULL;
			goto fail;
		}
	}
	struct timeval tv = ms_tv(opts->load_timeout_ms + 100);
	event_add(p->ev_load_timeout, &tv);
	return p;
fail:
	/* Workers already started are killed and reaped by the pool. */
	p->retired = 1;
	p->cbs.ready = NULL;
	for (int i = 0; i < p->n; i++)
		if (p->w[i] != NULL)
			worker_kill(p->w[i], "crash", "pool failed to start");
	if (p->alive == 0) {
		if (p->ev_load_timeout != NULL)
			event_free(p->ev_load_timeout);
		if (p->ev_respawn != NULL)
			event_free(p->ev_respawn);
		free(p->config);
		free(p);
	}
	return NULL;
}

void
wpool_submit(struct wpool *p, struct wrun *r, int first)
{
	r->id = ++p->next_id;
	if (first)
		TAILQ_INSERT_HEAD(&p->queue, r, entry);
	else
		TAILQ_INSERT_TAIL(&p->queue, r, entry);
	p->nqueued++;
	wpool_dispatch(p);
}

size_t
wpool_pending(const struct wpool *p)
{
	return p->nqueued + p->nrunning;
}

void
wpool_retire(struct wpool *p, int now)
{
	p->retired = 1;
	event_del(p->ev_respawn);
	event_del(p->ev_load_timeout);
	if (now) {
		/* Nothing more is reported: the owner is going away. */
		memset(&p->cbs, 0, sizeof p->cbs);
		for (int i = 0; i < p->n; i++)
			if (p->w[i] != NULL && !p->w[i]->dead) {
				p->w[i]->dead = 1;
				p->w[i]->reason = "retired";
				kill(p->w[i]->pid, SIGKILL);
				worker_close_io(p->w[i]);
			}
		/* Nor are the runs touched again: the owner frees them. */
		for (int i = 0; i < p->n; i++)
			if (p->w[i] != NULL) {
				TAILQ_INIT(&p->w[i]->running);
				p->w[i]->nrunning = 0;
			}
		p->nrunning = 0;
		/* Queued runs stay the owner's; it knows them. */
		TAILQ_INIT(&p->queue);
		p->nqueued = 0;
	}
	wpool_maybe_free(p);
}

json_t *
wpool_status_json(const struct wpool *p)
{
	int up = 0;

	for (int i = 0; i < p->n; i++)
		if (p->w[i] != NULL && p->w[i]->ready && !p->w[i]->dead)
			up++;
	return json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "workers", p->n, "ready", up, "queued", (json_int_t)p->nqueued,
	    "running", (json_int_t)p->nrunning, "restarts",
	    (json_int_t)p->restarts, "timeouts", (json_int_t)p->timeouts,
	    "crashes", (json_int_t)p->crashes, "protocol_errors",
	    (json_int_t)p->protocol_errors);
}
