/*
 * The worker pool's side of the worker protocol, against workers that
 * misbehave on purpose. The pool spawns /proc/self/exe --worker: here that
 * is this program, which then plays a worker whose behaviour is named by
 * the one playbook file of the set it is sent (oversized.lua, zero.lua,
 * ...). Each case checks that the run fails with the right reason, the
 * main process's own limits (the 4 MiB frame bound among them) holding
 * whatever the worker sends.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "remediad/child.h"
#include "remediad/playbook_host.h"
#include "remediad/worker.h"

/* ---- The fake worker ------------------------------------------------------- */

#define FD 3

static int
read_all(void *buf, size_t n)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = read(FD, p, n);
		if (r <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
write_all(const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(FD, p, n);
		if (w <= 0) {
			if (w == -1 && errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One frame in: its type, its payload (malloc'ed) and length. */
static int
read_frame(char *type, char **data, uint32_t *len)
{
	uint32_t flen;

	if (read_all(&flen, 4) == -1 || flen == 0 || read_all(type, 1) == -1)
		return -1;
	*len = flen - 1;
	if ((*data = malloc(*len + 1)) == NULL || read_all(*data, *len) == -1)
		return -1;
	(*data)[*len] = '\0';
	return 0;
}

static int
send_frame(char type, const void *data, uint32_t len)
{
	uint32_t flen = len + 1;

	return write_all(&flen, 4) == -1 || write_all(&type, 1) == -1 ||
	    write_all(data, len) == -1 ? -1 : 0;
}

static int
send_result(uint64_t id, const char *json)
{
	size_t jl = strlen(json);
	char *buf = malloc(8 + jl);
	int rc;

	if (buf == NULL)
		return -1;
	memcpy(buf, &id, 8);
	memcpy(buf + 8, json, jl);
	rc = send_frame(WIRE_RESULT, buf, (uint32_t)(8 + jl));
	free(buf);
	return rc;
}

static int
fake_worker(void)
{
	static const char hello[] = "{\"ok\":true,\"playbooks\":[]}";
	char type, *data = NULL, *behave;
	uint32_t len;
	json_t *cfg;

	if (read_frame(&type, &data, &len) == -1 || type != WIRE_CONFIG)
		return 70;
	cfg = json_loads(data, 0, NULL);
	free(data);
	behave = strdup(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_object_get(cfg, "sources"), "files"), 0),
	    "name")) ?: "?");
	json_decref(cfg);
	if (behave == NULL || send_frame(WIRE_HELLO, hello,
	    sizeof hello - 1) == -1)
		return 70;
	for (;;) {
		uint64_t id;
		int rc = 0;

		data = NULL;
		if (read_frame(&type, &data, &len) == -1)
			break; /* the pool closed: done */
		if (type != WIRE_RUN || len < 8) {
			free(data);
			return 70;
		}
		memcpy(&id, data, 8);
		free(data);
		if (strcmp(behave, "oversized.lua") == 0) {
			/* A header past the bound: the body never needs to come. */
			uint32_t flen = WIRE_MAX_UP + 1;
			char t = WIRE_RESULT;
			rc = write_all(&flen, 4) || write_all(&t, 1);
			pause();
		} else if (strcmp(behave, "zero.lua") == 0) {
			uint32_t flen = 0;
			rc = write_all(&flen, 4) || write_all("\0", 1);
			pause();
		} else if (strcmp(behave, "badtype.lua") == 0) {
			rc = send_frame('Z', "x", 1);
			pause();
		} else if (strcmp(behave, "badjson.lua") == 0) {
			rc = send_result(id, "{\"status\": \"plan\"");
			pause();
		} else if (strcmp(behave, "wrongid.lua") == 0) {
			rc = send_result(id + 1000, "{\"status\":\"skip\"}");
			pause();
		} else if (strcmp(behave, "exit.lua") == 0) {
			_exit(3);
		} else if (strcmp(behave, "hang.lua") == 0) {
			pause();
		} else {
			rc = send_result(id, "{\"status\":\"skip\",\"us\":1}");
		}
		if (rc != 0)
			return 70;
	}
	free(behave);
	return 0;
}

/* ---- The pool, driven by the cases ---------------------------------------- */

struct seen {
	struct event_base *base;
	int ready, results, failed;
	char reason[32];
	char detail[256];
};

static void
ready_cb(struct wpool *p, void *arg, json_t *meta, const char *error)
{
	struct seen *s = arg;

	s->ready = error == NULL ? 1 : -1;
}

static void
result_cb(struct wpool *p, struct wrun *r, const struct jscan *js,
    const struct jscan_value *outcome)
{
	struct seen *s = r->arg;

	s->results++;
	event_base_loopbreak(s->base);
}

static void
failed_cb(struct wpool *p, struct wrun *r, const char *reason,
    const char *detail)
{
	struct seen *s = r->arg;

	s->failed++;
	snprintf(s->reason, sizeof s->reason, "%s", reason);
	snprintf(s->detail, sizeof s->detail, "%s", detail ? detail : "");
	event_base_loopbreak(s->base);
}

static void
give_up_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* One run on a pool of one worker that plays `behave`. */
static void
run_one(const char *behave, uint64_t timeout_ms, struct seen *s)
{
	static int owner;
	struct pbsource src = {(char *)behave, (char *)"", 0};
	struct pbsources srcs = {.v = &src, .n = 1};
	struct wpool_opts opts = {.src = &srcs, .max_actions = 8,
	    .workers = 1, .timeout_ms = timeout_ms, .load_timeout_ms = 10000,
	    .owner = &owner};
	struct wpool_cbs cbs = {ready_cb, result_cb, failed_cb};
	struct event_base *base = event_base_new();
	struct children *children;
	struct wpool *p;
	struct wrun run = {0};
	char *cause = NULL;
	const struct pbfield alert[] = {
	    {"id", 2, "a-1", 3, 0},
	    {"title", 5, "t", 1, 0},
	    {"severity", 8, NULL, 0, 50},
	};

	assert_non_null(base);
	assert_non_null((children = children_new(base)));
	memset(s, 0, sizeof *s);
	s->base = base;
	opts.limits.memory = 1 << 20;
	opts.limits.instructions = 1000;
	p = wpool_new(base, children, &opts, &cbs, s, &cause);
	if (p == NULL)
		fail_msg("wpool_new: %s", cause ? cause : "?");
	run.body = wrun_body(alert, 3, "{}", 2, &run.bodylen);
	run.arg = s;
	wpool_submit(p, &run, 0);
	struct event *give_up = evtimer_new(base, give_up_cb, base);
	struct timeval tv = {20, 0};
	evtimer_add(give_up, &tv);
	event_base_dispatch(base);
	event_free(give_up);

	/* Gone at once; the pool frees itself once its workers are reaped. */
	wpool_retire(p, 1);
	assert_int_equal(children_wait(children, &owner, 5000), 0);
	children_free(children);
	event_base_free(base);
	free((void *)run.body);
}

static void
assert_failed(const struct seen *s, const char *reason, const char *detail)
{
	assert_int_equal(s->ready, 1);
	assert_int_equal(s->results, 0);
	assert_int_equal(s->failed, 1);
	assert_string_equal(s->reason, reason);
	if (strstr(s->detail, detail) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", s->detail, detail);
}

static void
test_answers(void **state)
{
	struct seen s;

	(void)state;
	/* The fake itself: a worker that answers is heard. */
	run_one("fine.lua", 5000, &s);
	assert_int_equal(s.ready, 1);
	assert_int_equal(s.results, 1);
	assert_int_equal(s.failed, 0);
}

/* A worker that misbehaves one way, and how its run must fail. */
struct misbehaviour {
	const char *behave;
	uint64_t timeout_ms;
	const char *reason;
	const char *detail;
};

static const struct misbehaviour misbehaviours[] = {
    {"oversized.lua", 5000, "protocol", "sent a frame of 4194305 bytes"},
    {"zero.lua", 5000, "protocol", "sent a frame of 0 bytes"},
    {"badtype.lua", 5000, "protocol", "type 0x5a"},
    {"badjson.lua", 5000, "protocol", "malformed result"},
    {"wrongid.lua", 5000, "protocol", "expected"},
    {"exit.lua", 5000, "crash", ""},
    {"hang.lua", 300, "timeout", ""},
};

static void
test_misbehaves(void **state)
{
	const struct misbehaviour *m = *state;
	struct seen s;

	run_one(m->behave, m->timeout_ms, &s);
	assert_failed(&s, m->reason, m->detail);
}

int
main(int argc, char **argv)
{
	enum { N = sizeof misbehaviours / sizeof misbehaviours[0] };
	struct CMUnitTest tests[1 + N] = {cmocka_unit_test(test_answers)};

	/* One case per misbehaviour, named after it. */
	for (size_t i = 0; i < N; i++)
		tests[1 + i] = (struct CMUnitTest){misbehaviours[i].behave,
		    test_misbehaves, NULL, NULL, (void *)&misbehaviours[i]};

	if (argc > 1 && strcmp(argv[1], "--worker") == 0)
		return fake_worker();
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
