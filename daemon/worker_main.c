/*
 * The worker process (`remediad --worker`, started by worker.c on fd 3):
 * drops what it does not need, loads the playbook set named in the first
 * frame, then answers run frames with result frames until the main
 * process closes the socket. Blocking I/O, one run at a time: the main
 * process owns every deadline and kills this process when one passes.
 * Results go out in bursts, none held more than a millisecond (see
 * WORKER_HOLD_US).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "remediad/audit.h"
#include "remediad/growbuf.h"
#include "remediad/playbook_host.h"
#include "remediad/seccomp.h"
#include "remediad/units.h"
#include "remediad/worker.h"

#define WORKER_FD	 3
#define WORKER_MAX_DOWN	 (80 * 1024 * 1024) /* a run frame, raw included */

struct wbuf {
	char *p;
	size_t len, cap;
};

static int
wbuf_reserve(struct wbuf *b, size_t more)
{
	if (more > SIZE_MAX - b->len)
		return -1;
	return growbuf_reserve(&b->p, &b->cap, b->len + more, 65536);
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Results go out in bursts, one write for many runs. The main process
 * blames a deadline on the oldest run it has no answer for, so a result
 * must never wait behind a run that hangs: none is held longer than
 * WORKER_HOLD_US, and when that passes during a run, SIGALRM writes what
 * is held from its handler. The buffer is the loop's outside runs and the
 * handler's during one (in_run): never both at once.
 */
#define WORKER_HOLD_US	  1000
#define WORKER_HOLD_BYTES 65536

static struct wbuf held;    /* results, not all written yet */
static size_t held_sent;    /* how much of held is written */
static uint64_t held_since; /* when the oldest unsent one came, or 0 */
static volatile sig_atomic_t in_run;
static timer_t hold_timer;
static int hold_timer_ok; /* without it, every result goes at once */

/*
 * Writes what is not written yet; exits when the main process is gone.
 * Async-signal-safe: the handler calls it too.
 */
static void
held_write(void)
{
	if (held.len > held_sent && write_all(WORKER_FD, held.p + held_sent,
	    held.len - held_sent) == -1)
		_exit(0);
	held_sent = held.len;
}

static void
hold_alarm(int sig)
{
	int saved = errno;

	(void)sig;
	if (in_run)
		held_write();
	errno = saved;
}

/* SIGALRM from a one-shot timer; set up before seccomp. */
static void
hold_setup(void)
{
	struct sigaction sa;
	struct sigevent sev;
	sigset_t set;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = hold_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGALRM;
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	hold_timer_ok = sigaction(SIGALRM, &sa, NULL) == 0 &&
	    sigprocmask(SIG_UNBLOCK, &set, NULL) == 0 &&
	    timer_create(CLOCK_MONOTONIC, &sev, &hold_timer) == 0;
}

/* Everything held goes out, and the buffer starts empty. */
static void
hold_flush(void)
{
	held_write();
	held.len = held_sent = 0;
	held_since = 0;
}

/* A result was added: it is held, unless it is time to write. */
static void
hold_result(void)
{
	uint64_t now = units_mono_us();

	if (!hold_timer_ok) {
		hold_flush();
		return;
	}
	if (held_since == 0) {
		struct itimerspec its = {{0, 0}, {0, WORKER_HOLD_US * 1000}};
		held_since = now;
		if (timer_settime(hold_timer, 0, &its, NULL) == -1) {
			hold_flush();
			return;
		}
	}
	if (now - held_since >= WORKER_HOLD_US ||
	    held.len - held_sent >= WORKER_HOLD_BYTES)
		hold_flush();
}

/* Appends one frame of the given type: header, then the parts. */
static void
frame_add(struct wbuf *out, char type, const void *a, size_t alen,
    const void *b, size_t blen)
{
	uint32_t len = (uint32_t)(1 + alen + blen);

	if (wbuf_reserve(out, 4 + len) == -1)
		_exit(70); /* out of memory: the main process reports it */
	memcpy(out->p + out->len, &len, 4);
	out->p[out->len + 4] = type;
	if (alen)
		memcpy(out->p + out->len + 5, a, alen);
	if (blen)
		memcpy(out->p + out->len + 5 + alen, b, blen);
	out->len += 4 + len;
}

static void
frame_json(struct wbuf *out, char type, const void *prefix, size_t plen,
    json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);

	if (text == NULL)
		_exit(70);
	frame_add(out, type, prefix, plen, text, strlen(text));
	free(text);
}

/*
 * A result frame: the text pbhost_run() wrote. One the main process would
 * refuse (over WIRE_MAX_UP) is replaced by the failure it is, so the run
 * fails as too_large and this worker goes on; the main process still
 * checks every frame.
 */
static void
frame_result(struct wbuf *out, uint64_t id, struct audit_buf *text)
{
	if (1 + 8 + text->len > WIRE_MAX_UP) {
		char msg[160];

		snprintf(msg, sizeof msg, "the result is %zu bytes, more than "
		    "the %d a worker may send (a plan that big is a bug)",
		    text->len, WIRE_MAX_UP - 9);
		json_t *err = json_pack("{s:s, s:s, s:s}", "status", "error",
		    "kind", "too_large", "error", msg);
		text->len = 0;
		if (err == NULL || audit_canon_value(text, err) == -1)
			_exit(70);
		json_decref(err);
	}
	frame_add(out, WIRE_RESULT, &id, 8, text->data, text->len);
}

/*
 * A run frame: u64 id, u32 playbook, i64 prior, u16 nfields, fields
 * (u8 key length, key, u8 type 's' + u32 length + bytes or 'i' + i64),
 * u32 raw length, raw. Returns -1 on anything malformed.
 */
static int
run_decode(const char *p, size_t len, uint64_t *id, uint32_t *pb,
    int64_t *prior, struct pbfield *fields, size_t *nfields,
    const char **raw, size_t *rawlen)
{
	const char *end = p + len;
	uint16_t n;
	uint32_t l;

	if (len < 8 + 4 + 8 + 2)
		return -1;
	memcpy(id, p, 8);
	memcpy(pb, p + 8, 4);
	memcpy(prior, p + 12, 8);
	memcpy(&n, p + 20, 2);
	p += 22;
	if (n > PBHOST_MAX_FIELDS)
		return -1;
	/* The fields point into the frame, which outlives the run. */
	for (uint16_t i = 0; i < n; i++) {
		struct pbfield *f = &fields[i];
		if (end - p < 2)
			return -1;
		f->klen = (uint8_t)*p++;
		if (end - p < (ptrdiff_t)f->klen + 1)
			return -1;
		f->key = p;
		p += f->klen;
		char type = *p++;
		if (type == 'i') {
			if (end - p < 8)
				return -1;
			memcpy(&f->i, p, 8);
			f->str = NULL;
			p += 8;
		} else if (type == 's') {
			if (end - p < 4)
				return -1;
			memcpy(&l, p, 4);
			p += 4;
			if ((size_t)(end - p) < l)
				return -1;
			f->str = p;
			f->slen = l;
			p += l;
		} else
			return -1;
	}
	*nfields = n;
	if (end - p < 4)
		return -1;
	memcpy(&l, p, 4);
	p += 4;
	if ((size_t)(end - p) != l)
		return -1;
	*raw = l ? p : NULL;
	*rawlen = l;
	return 0;
}

/* Everything the worker inherited but its socket and stdio goes. */
static void
worker_confine(void)
{
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* stdin is nothing to read; logs are the main process's job. */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null != -1) {
		dup2(null, 0);
		dup2(null, 1);
		if (null > 2)
			close(null);
	}
}

int
worker_main(void)
{
	struct wbuf in = {0};
	/* The result of a run, as text; its buffer kept for the next. */
	struct audit_buf res = {0};
	struct pbhost *host = NULL;

	worker_confine();
	hold_setup();
	for (;;) {
		/* Frames complete in the buffer are handled first. */
		size_t off = 0;
		while (in.len - off >= 5) {
			uint32_t flen;
			memcpy(&flen, in.p + off, 4);
			if (flen == 0 || flen > WORKER_MAX_DOWN)
				_exit(65);
			if (in.len - off - 4 < flen)
				break;
			char type = in.p[off + 4];
			const char *pl = in.p + off + 5;
			size_t plen = flen - 1;
			off += 4 + flen;
			if (type == WIRE_CONFIG && host == NULL) {
				json_t *cfg, *meta = NULL, *hello;
				json_error_t jerr;
				char *cause = NULL;
				cfg = json_loadb(pl, plen, 0, &jerr);
				if (cfg == NULL)
					_exit(65);
				struct pbsources src;
				struct pbhost_opts o = {0};
				if (pbsources_from_json(json_object_get(cfg,
					"sources"), &src) == -1)
					_exit(65);
				o.src = &src;
				o.limits.memory = (size_t)json_integer_value(
				    json_object_get(cfg, "memory"));
				o.limits.instructions = (uint64_t)
				    json_integer_value(json_object_get(cfg,
					"instructions"));
				o.max_actions = (int)json_integer_value(
				    json_object_get(cfg, "max_actions"));
				host = pbhost_load(&o, &meta, &cause);
				pbsources_free(&src);
				json_decref(cfg);
				if (host == NULL)
					hello = json_pack("{s:b, s:s}", "ok", 0,
					    "error", cause ? cause :
					    "out of memory");
				else
					hello = json_pack("{s:b, s:o}", "ok", 1,
					    "playbooks", meta);
				free(cause);
				frame_json(&held, WIRE_HELLO, NULL, 0, hello);
				json_decref(hello);
				hold_flush();
				if (host == NULL)
					_exit(0);
				/* Loaded: nothing more to open or start. */
				seccomp_confine_worker();
				continue;
			}
			if (type != WIRE_RUN || host == NULL)
				_exit(65);
			uint64_t id;
			uint32_t pb;
			int64_t prior;
			struct pbfield fields[PBHOST_MAX_FIELDS];
			size_t nfields;
			const char *raw;
			size_t rawlen;
			if (run_decode(pl, plen, &id, &pb, &prior, fields,
				&nfields, &raw, &rawlen) == -1 ||
			    pb >= pbhost_count(host))
				_exit(65);
			/* The handler may write held while the run goes. */
			atomic_signal_fence(memory_order_seq_cst);
			in_run = 1;
			atomic_signal_fence(memory_order_seq_cst);
			res.len = 0;
			int r = pbhost_run(host, pb, fields, nfields, raw,
			    rawlen, prior, &res);
			atomic_signal_fence(memory_order_seq_cst);
			in_run = 0;
			atomic_signal_fence(memory_order_seq_cst);
			if (r == -1)
				_exit(70);
			frame_result(&held, id, &res);
			if (res.cap > 1024 * 1024)
				audit_buf_free(&res); /* what a huge one grew */
			hold_result();
		}
		/* Nothing complete to run: nothing is held while it waits. */
		hold_flush();
		if (off > 0) {
			memmove(in.p, in.p + off, in.len - off);
			in.len -= off;
		}
		if (wbuf_reserve(&in, 65536) == -1)
			_exit(70);
		ssize_t n = read(WORKER_FD, in.p + in.len, in.cap - in.len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the main process closed: retired */
		in.len += (size_t)n;
	}
	pbhost_free(host);
	audit_buf_free(&res);
	free(in.p);
	free(held.p);
	return 0;
}
