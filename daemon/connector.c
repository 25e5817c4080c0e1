/*
 * Connector processes: spawning a connector program for one step with a
 * clean environment in its own process group, feeding it its request,
 * reading its bounded answer, enforcing its deadline (SIGTERM to the group,
 * SIGKILL after the grace period), a FIFO queue per connector instance
 * beyond its concurrency limit, and reaping through the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "remediad/child.h"
#include "remediad/config.h"
#include "remediad/connector.h"
#include "remediad/log.h"
#include "remediad/utf8.h"
#include "remediad/units.h"

#define CONN_ENV_MAX 64

struct cinst;

/* One step: queued, then running, then answered. */
struct cstep {
	struct connectors *c;
	struct cinst *inst;
	uint64_t handle;
	char *input; /* serialized request */
	size_t input_len, input_off;
	connector_cb cb;
	void *arg;
	pid_t pid; /* 0 until started; also the process group */
	int in_fd, out_fd, err_fd;
	struct event *ev_in, *ev_out, *ev_err, *ev_deadline;
	struct evbuffer *out, *err;
	int out_overflow;
	int exited, status; /* reaped, and how */
	int out_eof, err_eof;
	int timed_out, termed;
	uint64_t timeout_ms;
	struct timespec started;
	TAILQ_ENTRY(cstep) entry;
};
TAILQ_HEAD(csteps, cstep);

/* A connector instance: its queue and what runs. */
struct cinst {
	char *name;
	struct csteps waiting;
	size_t running;
	uint64_t started, ok, failed;
	LIST_ENTRY(cinst) entry;
};

struct connectors {
	struct event_base *base;
	struct children *children;
	const struct config_connectors *cfg;
	LIST_HEAD(, cinst) insts;
	struct csteps running;
	uint64_t next_handle;
	size_t nrunning;
};

static void cstep_start(struct cstep *s);

const char *
connector_status_name(enum connector_status s)
{
	static const char *const names[] = {"ok", "failed", "retry",
	    "timeout", "crash"};

	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

static uint64_t
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)((now.tv_sec - t0->tv_sec) * 1000 +
	    (now.tv_nsec - t0->tv_nsec) / 1000000);
}

/* The instance's settings table, or NULL. */
static const json_t *
cinst_settings(const struct connectors *c, const char *name)
{
	return c->cfg->settings ? json_object_get(c->cfg->settings, name) :
	    NULL;
}

static size_t
cinst_limit(const struct connectors *c, const struct cinst *in)
{
	const json_t *v = json_object_get(cinst_settings(c, in->name),
	    "concurrency");

	return json_is_integer(v) ? (size_t)json_integer_value(v) :
	    (size_t)c->cfg->concurrency;
}

static uint64_t
cinst_timeout(const struct connectors *c, const char *name)
{
	const json_t *v = json_object_get(cinst_settings(c, name), "timeout");
	uint64_t ms;
	const char *why;

	if (json_is_string(v) && units_parse_duration(json_string_value(v),
	    &ms, &why) == 0)
		return ms;
	return c->cfg->timeout_ms;
}

static struct cinst *
cinst_get(struct connectors *c, const char *name)
{
	struct cinst *in;

	LIST_FOREACH(in, &c->insts, entry)
		if (strcmp(in->name, name) == 0)
			return in;
	in = calloc(1, sizeof *in);
	if (in == NULL || (in->name = strdup(name)) == NULL)
		fatalx("connectors: out of memory");
	TAILQ_INIT(&in->waiting);
	LIST_INSERT_HEAD(&c->insts, in, entry);
	return in;
}

/* ---- Finishing a step ------------------------------------------------------ */

static void
cstep_free(struct cstep *s)
{
	if (s->ev_in != NULL)
		event_free(s->ev_in);
	if (s->ev_out != NULL)
		event_free(s->ev_out);
	if (s->ev_err != NULL)
		event_free(s->ev_err);
	if (s->ev_deadline != NULL)
		event_free(s->ev_deadline);
	if (s->in_fd != -1)
		close(s->in_fd);
	if (s->out_fd != -1)
		close(s->out_fd);
	if (s->err_fd != -1)
		close(s->err_fd);
	if (s->out != NULL)
		evbuffer_free(s->out);
	if (s->err != NULL)
		evbuffer_free(s->err);
	free(s->input);
	free(s);
}

/* Starts what waits on an instance, up to its limit. */
static void
cinst_pump(struct connectors *c, struct cinst *in)
{
	struct cstep *s;

	while (in->running < cinst_limit(c, in) &&
	    (s = TAILQ_FIRST(&in->waiting)) != NULL) {
		TAILQ_REMOVE(&in->waiting, s, entry);
		cstep_start(s);
	}
}

/* Parses the answer and calls back: once the process is reaped and its
 * output closed. */
static void
cstep_finish(struct cstep *s)
{
	struct connectors *c = s->c;
	struct cinst *in = s->inst;
	struct connector_result r = {0};
	char msg[512], how[128];
	json_t *ans = NULL;
	size_t errlen;

	if (!s->exited || !s->out_eof || !s->err_eof)
		return;
	TAILQ_REMOVE(&c->running, s, entry);
	c->nrunning--;
	in->running--;
	r.duration_ms = ms_since(&s->started);
	errlen = evbuffer_get_length(s->err);
	char *errtxt = (char *)evbuffer_pullup(s->err, -1);
	char errbuf[CONNECTOR_MAX_STDERR + 1];
	if (errlen > CONNECTOR_MAX_STDERR)
		errlen = CONNECTOR_MAX_STDERR;
	memcpy(errbuf, errtxt ? errtxt : "", errlen);
	errbuf[errlen] = '\0';
	r.stderr_tail = errbuf;
	child_status_str(s->status, how, sizeof how);
	if (s->timed_out) {
		r.status = CONN_TIMEOUT;
		snprintf(msg, sizeof msg, "no answer within %llu ms (%s)",
		    (unsigned long long)s->timeout_ms, how);
	} else if (s->out_overflow) {
		r.status = CONN_FAILED;
		snprintf(msg, sizeof msg, "answer larger than %d bytes",
		    CONNECTOR_MAX_OUTPUT);
	} else {
		json_error_t jerr;
		size_t len = evbuffer_get_length(s->out);
		const char *text = (const char *)evbuffer_pullup(s->out, -1);
		ans = len ? json_loadb(text, len, JSON_REJECT_DUPLICATES,
		    &jerr) : NULL;
		const char *st = json_string_value(json_object_get(ans,
		    "status"));
		if (ans == NULL || !json_is_object(ans) || st == NULL) {
			if (WIFSIGNALED(s->status) || len == 0) {
				r.status = CONN_CRASH;
				snprintf(msg, sizeof msg, "no answer: %s", how);
			} else {
				r.status = CONN_FAILED;
				snprintf(msg, sizeof msg, "unusable answer "
				    "(%s): %s", ans ? "no status" : jerr.text,
				    how);
			}
		} else {
			const char *m = json_string_value(json_object_get(ans,
			    "message"));
			snprintf(msg, sizeof msg, "%s", m ? m : "");
			if (strcmp(st, "ok") == 0)
				r.status = CONN_OK;
			else if (strcmp(st, "retry") == 0)
				r.status = CONN_RETRY;
			else if (strcmp(st, "failed") == 0)
				r.status = CONN_FAILED;
			else {
				r.status = CONN_FAILED;
				snprintf(msg, sizeof msg, "unknown status "
				    "\"%.32s\"", st);
			}
			r.details = json_object_get(ans, "details");
		}
	}
	/* Cut to size, or quoting what the connector printed: text again. */
	utf8_repair(msg);
	r.message = msg;
	if (r.status == CONN_OK)
		in->ok++;
	else
		in->failed++;
	if (s->cb != NULL)
		s->cb(s->arg, &r);
	json_decref(ans);
	cstep_free(s);
	cinst_pump(c, in);
}

static void
cstep_exit_cb(pid_t pid, int status, void *arg)
{
	struct cstep *s = arg;

	s->exited = 1;
	s->status = status;
	/* The group may hold children of the connector: they go too. */
	kill(-pid, SIGKILL);
	/*
	 * The deadline stays armed: a process outside the group (one that
	 * called setsid) may hold the pipes open, and the step must end
	 * anyway (cstep_deadline_cb).
	 */
	cstep_finish(s);
}

static void
cstep_read(struct cstep *s, int which)
{
	struct evbuffer *b = which ? s->err : s->out;
	int *fd = which ? &s->err_fd : &s->out_fd;
	struct event *ev = which ? s->ev_err : s->ev_out;
	size_t cap = which ? CONNECTOR_MAX_STDERR : CONNECTOR_MAX_OUTPUT;

	int n = evbuffer_read(b, *fd, 16384);
	if (n > 0) {
		if (evbuffer_get_length(b) > cap) {
			if (!which)
				s->out_overflow = 1;
			/* Past the bound only the tail is kept. */
			evbuffer_drain(b, evbuffer_get_length(b) - cap - 1);
		}
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	event_del(ev);
	close(*fd);
	*fd = -1;
	if (which)
		s->err_eof = 1;
	else
		s->out_eof = 1;
	cstep_finish(s);
}

static void
cstep_out_cb(evutil_socket_t fd, short what, void *arg)
{
	cstep_read(arg, 0);
}

static void
cstep_err_cb(evutil_socket_t fd, short what, void *arg)
{
	cstep_read(arg, 1);
}

static void
cstep_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cstep *s = arg;
	ssize_t n = write(s->in_fd, s->input + s->input_off,
	    s->input_len - s->input_off);

	if (n > 0)
		s->input_off += (size_t)n;
	if ((n == -1 && errno != EAGAIN && errno != EINTR) ||
	    s->input_off == s->input_len) {
		/* All given (or it stopped reading): stdin closes. */
		event_del(s->ev_in);
		close(s->in_fd);
		s->in_fd = -1;
	}
}

/* Reads what is buffered in a pipe (bounded), then closes it. */
static void
cstep_drain_close(struct cstep *s, int which)
{
	struct evbuffer *b = which ? s->err : s->out;
	int *fd = which ? &s->err_fd : &s->out_fd;
	size_t cap = which ? CONNECTOR_MAX_STDERR : CONNECTOR_MAX_OUTPUT;

	if (*fd == -1)
		return;
	while (evbuffer_get_length(b) <= cap && evbuffer_read(b, *fd,
	    16384) > 0)
		;
	if (evbuffer_get_length(b) > cap) {
		if (!which)
			s->out_overflow = 1;
		evbuffer_drain(b, evbuffer_get_length(b) - cap - 1);
	}
	event_del(which ? s->ev_err : s->ev_out);
	close(*fd);
	*fd = -1;
	if (which)
		s->err_eof = 1;
	else
		s->out_eof = 1;
}

static void
cstep_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cstep *s = arg;
	struct timeval grace = {(time_t)(s->c->cfg->grace_ms / 1000),
	    (suseconds_t)(s->c->cfg->grace_ms % 1000) * 1000};

	if (s->exited) {
		/* Reaped, but its output is held open by a process that left
		 * the group: what it wrote is its answer. */
		log_warnx("connector %s (pid %d): exited, but another process "
		    "holds its output open; reading no further",
		    s->inst->name, (int)s->pid);
		cstep_drain_close(s, 0);
		cstep_drain_close(s, 1);
		cstep_finish(s);
		return;
	}
	if (!s->termed) {
		log_warnx("connector %s (pid %d): no answer within %llu ms; "
		    "SIGTERM to its group", s->inst->name, (int)s->pid,
		    (unsigned long long)s->timeout_ms);
		s->timed_out = s->termed = 1;
		kill(-s->pid, SIGTERM);
		event_add(s->ev_deadline, &grace);
		return;
	}
	log_warnx("connector %s (pid %d): still there after the grace "
	    "period; SIGKILL", s->inst->name, (int)s->pid);
	kill(-s->pid, SIGKILL);
	/* Once more: for output held open after the kill (above). */
	struct timeval again = {0, 100 * 1000};
	event_add(s->ev_deadline, s->c->cfg->grace_ms >= 100 ? &grace :
	    &again);
}

/* ---- Starting a step ---------------------------------------------------- */

/* The program's environment: the fixed base, the instance's, secrets. */
static char **
cstep_env(const struct connectors *c, const char *instance)
{
	const json_t *set = cinst_settings(c, instance), *v;
	char **env = calloc(CONN_ENV_MAX + 1, sizeof *env);
	const char *k;
	size_t n = 0;

	if (env == NULL)
		return NULL;
	env[n++] = strdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	env[n++] = strdup("LANG=C.UTF-8");
	json_object_foreach((json_t *)json_object_get(set, "env"), k, v) {
		if (n < CONN_ENV_MAX && json_is_string(v) &&
		    asprintf(&env[n], "%s=%s", k, json_string_value(v)) != -1)
			n++;
	}
	json_object_foreach((json_t *)json_object_get(set, "secrets"), k, v) {
		if (n < CONN_ENV_MAX && json_is_string(v) &&
		    asprintf(&env[n], "REMEDIAD_SECRET_%s=%s", k,
			json_string_value(v)) != -1)
			n++;
	}
	return env;
}

static void
env_free(char **env)
{
	for (size_t i = 0; env != NULL && env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

static void
cstep_failed_cb(evutil_socket_t fd, short what, void *arg)
{
	cstep_finish(arg);
}

/* A step that could not start answers at once, from the loop. */
static void
cstep_fail_start(struct cstep *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
cstep_fail_start(struct cstep *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warnx("connector %s: %s", s->inst->name, msg);
	/* Reported as a crash: it is retried like one. */
	s->exited = s->out_eof = s->err_eof = 1;
	s->status = 127 << 8;
	s->out = s->out ? s->out : evbuffer_new();
	s->err = s->err ? s->err : evbuffer_new();
	evbuffer_add_printf(s->err, "%s", msg);
	TAILQ_INSERT_TAIL(&s->c->running, s, entry);
	s->c->nrunning++;
	s->inst->running++;
	/* Answered from the loop, never from inside connectors_run(). */
	struct timeval now = {0, 0};
	s->ev_deadline = evtimer_new(s->c->base, cstep_failed_cb, s);
	if (s->ev_deadline == NULL)
		fatalx("connectors: out of memory");
	evtimer_add(s->ev_deadline, &now);
}

static void
cstep_start(struct cstep *s)
{
	struct connectors *c = s->c;
	const json_t *set = cinst_settings(c, s->inst->name);
	const char *prog = json_string_value(json_object_get(set, "program"));
	char path[4096];
	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
	char **env;
	pid_t pid;

	snprintf(path, sizeof path, "%s/%s", c->cfg->dir, prog ? prog :
	    s->inst->name);
	if (pipe2(pin, O_CLOEXEC) == -1 || pipe2(pout, O_CLOEXEC) == -1 ||
	    pipe2(perr, O_CLOEXEC) == -1) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			if (pin[i] != -1)
				close(pin[i]);
			if (pout[i] != -1)
				close(pout[i]);
			if (perr[i] != -1)
				close(perr[i]);
		}
		cstep_fail_start(s, "pipe: %s", strerror(e));
		return;
	}
	env = cstep_env(c, s->inst->name);
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	/*
	 * posix_spawn, not fork: glibc spawns with CLONE_VM|CLONE_VFORK, so
	 * the daemon's page tables are not copied for every step (a fork of
	 * a process this size costs more than the connector itself).
	 */
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t dfl;
	char *const argv[] = {path, NULL};
	int rc;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setpgroup(&attr, 0);
	/* The daemon ignores SIGPIPE; the connector gets the defaults. */
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGXFSZ);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	sigemptyset(&dfl);
	posix_spawnattr_setsigmask(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	rc = posix_spawn(&pid, path, &fa, &attr, argv, env ? env :
	    (char *[]){NULL});
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	env_free(env);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	if (rc != 0) {
		close(pin[1]);
		close(pout[0]);
		close(perr[0]);
		cstep_fail_start(s, "cannot run %s: %s", path, strerror(rc));
		return;
	}
	/* Also from here, so a kill before the child's own call works. */
	setpgid(pid, pid);
	s->pid = pid;
	s->in_fd = pin[1];
	s->out_fd = pout[0];
	s->err_fd = perr[0];
	evutil_make_socket_nonblocking(s->in_fd);
	evutil_make_socket_nonblocking(s->out_fd);
	evutil_make_socket_nonblocking(s->err_fd);
	s->out = evbuffer_new();
	s->err = evbuffer_new();
	s->ev_in = event_new(c->base, s->in_fd, EV_WRITE | EV_PERSIST,
	    cstep_in_cb, s);
	s->ev_out = event_new(c->base, s->out_fd, EV_READ | EV_PERSIST,
	    cstep_out_cb, s);
	s->ev_err = event_new(c->base, s->err_fd, EV_READ | EV_PERSIST,
	    cstep_err_cb, s);
	s->ev_deadline = evtimer_new(c->base, cstep_deadline_cb, s);
	if (s->out == NULL || s->err == NULL || s->ev_in == NULL ||
	    s->ev_out == NULL || s->ev_err == NULL || s->ev_deadline == NULL)
		fatalx("connectors: out of memory");
	TAILQ_INSERT_TAIL(&c->running, s, entry);
	c->nrunning++;
	s->inst->running++;
	s->inst->started++;
	if (children_watch(c->children, pid, c, cstep_exit_cb, s) == -1)
		fatalx("connectors: out of memory");
	event_add(s->ev_in, NULL);
	event_add(s->ev_out, NULL);
	event_add(s->ev_err, NULL);
	struct timeval tv = {(time_t)(s->timeout_ms / 1000),
	    (suseconds_t)(s->timeout_ms % 1000) * 1000};
	event_add(s->ev_deadline, &tv);
}

/* ---- Interface --------------------------------------------------------------- */

struct connectors *
connectors_new(struct event_base *base, struct children *children,
    const struct config_connectors *cfg)
{
	struct connectors *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->base = base;
	c->children = children;
	c->cfg = cfg;
	LIST_INIT(&c->insts);
	TAILQ_INIT(&c->running);
	return c;
}

void
connectors_set_config(struct connectors *c,
    const struct config_connectors *cfg)
{
	c->cfg = cfg;
}

void
connectors_free(struct connectors *c)
{
	struct cinst *in;
	struct cstep *s;

	if (c == NULL)
		return;
	while ((s = TAILQ_FIRST(&c->running)) != NULL) {
		TAILQ_REMOVE(&c->running, s, entry);
		if (s->pid > 0 && !s->exited) {
			kill(-s->pid, SIGKILL);
			children_forget(c->children, s->pid);
		}
		cstep_free(s);
	}
	while ((in = LIST_FIRST(&c->insts)) != NULL) {
		LIST_REMOVE(in, entry);
		while ((s = TAILQ_FIRST(&in->waiting)) != NULL) {
			TAILQ_REMOVE(&in->waiting, s, entry);
			cstep_free(s);
		}
		free(in->name);
		free(in);
	}
	free(c);
}

uint64_t
connectors_run(struct connectors *c, const char *instance, json_t *input,
    connector_cb cb, void *arg)
{
	struct cstep *s = calloc(1, sizeof *s);
	char deadline[40];
	time_t t;
	struct tm tm;

	if (s == NULL)
		fatalx("connectors: out of memory");
	s->c = c;
	s->inst = cinst_get(c, instance);
	s->handle = ++c->next_handle;
	s->cb = cb;
	s->arg = arg;
	s->in_fd = s->out_fd = s->err_fd = -1;
	s->timeout_ms = cinst_timeout(c, instance);
	/* The deadline is known when it starts; queued, it is an estimate. */
	t = time(NULL) + (time_t)((s->timeout_ms + 999) / 1000);
	gmtime_r(&t, &tm);
	strftime(deadline, sizeof deadline, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(input, "deadline", json_string(deadline));
	s->input = json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS);
	if (s->input == NULL)
		fatalx("connectors: out of memory");
	s->input_len = strlen(s->input);
	/* One line: connectors may read a line. */
	char *nl = realloc(s->input, s->input_len + 2);
	if (nl == NULL)
		fatalx("connectors: out of memory");
	s->input = nl;
	s->input[s->input_len++] = '\n';
	s->input[s->input_len] = '\0';
	TAILQ_INSERT_TAIL(&s->inst->waiting, s, entry);
	cinst_pump(c, s->inst);
	return s->handle;
}

void
connectors_cancel(struct connectors *c, uint64_t handle)
{
	struct cinst *in;
	struct cstep *s;

	TAILQ_FOREACH(s, &c->running, entry) {
		if (s->handle == handle) {
			s->cb = NULL; /* reaped later, reported to nobody */
			if (!s->exited)
				kill(-s->pid, SIGKILL);
			return;
		}
	}
	LIST_FOREACH(in, &c->insts, entry) {
		TAILQ_FOREACH(s, &in->waiting, entry) {
			if (s->handle == handle) {
				TAILQ_REMOVE(&in->waiting, s, entry);
				cstep_free(s);
				return;
			}
		}
	}
}

size_t
connectors_running(const struct connectors *c)
{
	return c->nrunning;
}

json_t *
connectors_status_json(const struct connectors *c)
{
	json_t *o = json_object();
	struct cinst *in;
	struct cstep *s;

	LIST_FOREACH(in, &c->insts, entry) {
		size_t waiting = 0;
		TAILQ_FOREACH(s, &in->waiting, entry)
			waiting++;
		json_object_set_new(o, in->name, json_pack("{s:I, s:I, s:I, "
		    "s:I, s:I, s:I}", "running", (json_int_t)in->running,
		    "waiting", (json_int_t)waiting, "limit",
		    (json_int_t)cinst_limit(c, in), "started",
		    (json_int_t)in->started, "ok", (json_int_t)in->ok,
		    "failed", (json_int_t)in->failed));
	}
	return o;
}
