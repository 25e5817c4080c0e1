/*
 * The decoder thread: every message comes out in the order it went in,
 * decoded exactly as alert_decode() decodes it on the caller's thread
 * (accepted or rejected, with the same reason); a full ring refuses; a
 * filter drops what it is told and keeps the rest in order, and the
 * thread goes on afterwards; what is inside at the end is handed back.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "remediad/alert.h"
#include "remediad/decoder.h"

/* The ready() side: a flag the test thread waits on. */
static pthread_mutex_t ready_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static int ready_calls;

static void
on_ready(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&ready_mtx);
	ready_calls++;
	pthread_cond_signal(&ready_cond);
	pthread_mutex_unlock(&ready_mtx);
}

static int
ready_count(void)
{
	pthread_mutex_lock(&ready_mtx);
	int calls = ready_calls;
	pthread_mutex_unlock(&ready_mtx);
	return calls;
}

/* The next result, waiting for it through decoder_want() and ready(). */
static struct decoded *
next_result(struct decoder *d)
{
	struct timespec until;
	struct decoded *s;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	for (;;) {
		if ((s = decoder_head(d)) != NULL)
			return s;
		int calls = ready_count();
		if (decoder_want(d))
			continue;
		pthread_mutex_lock(&ready_mtx);
		while (ready_calls == calls)
			if (pthread_cond_timedwait(&ready_cond, &ready_mtx,
				&until) != 0)
				fail_msg("no ready() in 30 s");
		pthread_mutex_unlock(&ready_mtx);
	}
}

/* Message i: mostly ECS alerts with their own id, some rejects. */
static char *
message(int i, size_t *len)
{
	char *m = NULL;
	int n;

	switch (i % 7) {
	case 3:
		n = asprintf(&m, "{\"event\":{\"kind\":\"alert\",\"id\":");
		break; /* cut short: invalid JSON */
	case 5:
		n = asprintf(&m, "[%d]", i); /* not an object */
		break;
	case 6:
		/* Whitespace, escapes and UTF-8, in the source and the fields. */
		n = asprintf(&m,
		    "{\n\t\"event\": {\"kind\": \"alert\", \"id\": \"e\\\"%d\"},\r\n"
		    "\t\"host\": {\"name\": \"w\xc5\x9b-%d\\\\x\"}, \"rule\": "
		    "{\"name\": \"\xc5\x9br \\u00e9\"}\n}\n",
		    i, i);
		break;
	default:
		n = asprintf(&m,
		    "{\"@timestamp\":\"2026-11-01T00:00:%02dZ\",\"event\":"
		    "{\"kind\":\"alert\",\"id\":\"ev-%d\",\"severity\":%d},"
		    "\"host\":{\"name\":\"ws-%d\"},\"rule\":{\"name\":\"r%d\"}"
		    "}",
		    i % 60, i, i % 101, i % 13, i % 5);
		break;
	}
	assert_true(n > 0);
	*len = (size_t)n;
	return m;
}

/* What alert_decode() makes of message i, received_at aside. */
static void
check_result(int i, const struct decoded *s)
{
	char why[512];
	json_t *want = NULL, *got;
	size_t len;
	char *m = message(i, &len);
	enum alert_reject r;

	r = alert_decode(m, len, NULL, s->received_at, &want, why, sizeof why);
	assert_int_equal(s->r, r);
	if (r != ALERT_OK) {
		assert_string_equal(s->why, why);
	} else {
		got = alert_flat_json(&s->flat, s->store);
		assert_true(json_equal(got, want));
		assert_string_equal(json_string_value(json_object_get(got,
					"received_at")),
		    s->received_at);
		json_decref(got);
	}
	json_decref(want);
	free(m);
}

static void
test_order_and_equivalence(void **state)
{
	enum { N = 3000 };
	const char *cause;
	struct decoder *d = decoder_new(NULL, 16, on_ready, NULL, &cause);
	char *msgs[N];
	int pushed = 0, taken = 0;

	(void)state;
	assert_non_null(d);
	while (taken < N) {
		/* Batches of varying size, up to the ring's room. */
		int batch = 1 + (taken * 7) % 13;
		for (int b = 0; b < batch && pushed < N; b++) {
			size_t len;

			if (decoder_room(d) == 0) {
				assert_int_equal(decoder_push(d, "{}", 2,
						     NULL),
				    -1);
				break;
			}
			msgs[pushed] = message(pushed, &len);
			assert_int_equal(decoder_push(d, msgs[pushed], len,
					     &msgs[pushed]),
			    0);
			pushed++;
		}
		decoder_commit(d);
		assert_int_equal(decoder_pending(d), (size_t)(pushed - taken));
		struct decoded *s = next_result(d);
		assert_ptr_equal(s->tag, &msgs[taken]);
		assert_ptr_equal(s->data, msgs[taken]);
		check_result(taken, s);
		decoder_pop(d);
		free(msgs[taken]);
		taken++;
	}
	assert_int_equal(decoder_pending(d), 0);
	assert_null(decoder_head(d));
	decoder_free(d, NULL, NULL);
}

static void
test_full(void **state)
{
	const char *cause;
	struct decoder *d = decoder_new(NULL, 4, on_ready, NULL, &cause);
	static const char msg[] = "{\"a\":1}";

	(void)state;
	assert_non_null(d);
	for (int i = 0; i < 4; i++)
		assert_int_equal(decoder_push(d, msg, sizeof msg - 1, NULL), 0);
	assert_int_equal(decoder_room(d), 0);
	assert_int_equal(decoder_push(d, msg, sizeof msg - 1, NULL), -1);
	assert_int_equal(decoder_pending(d), 4);
	decoder_commit(d);
	/* Taking one makes room for one. */
	(void)next_result(d);
	decoder_pop(d);
	assert_int_equal(decoder_room(d), 1);
	assert_int_equal(decoder_push(d, msg, sizeof msg - 1, NULL), 0);
	assert_int_equal(decoder_push(d, msg, sizeof msg - 1, NULL), -1);
	decoder_free(d, NULL, NULL);
}

static int
keep_even(void *tag, void *arg)
{
	(void)arg;
	return (int)(intptr_t)tag % 2 == 0;
}

static void
record_drop(void *tag, void *arg)
{
	int *dropped = arg;

	dropped[dropped[0]++ + 1] = (int)(intptr_t)tag;
}

static void
test_filter(void **state)
{
	enum { N = 10 };
	const char *cause;
	struct decoder *d = decoder_new(NULL, N, on_ready, NULL, &cause);
	char *msgs[N + 4];
	int dropped[N + 1] = {0};
	size_t len;

	(void)state;
	assert_non_null(d);
	/* The last two are not committed: filtered all the same. */
	for (int i = 0; i < N; i++) {
		msgs[i] = message(i, &len);
		assert_int_equal(decoder_push(d, msgs[i], len,
				     (void *)(intptr_t)i),
		    0);
		if (i == N - 3)
			decoder_commit(d);
	}
	/* Two taken first: the filter starts past the ring's start. */
	for (int i = 0; i < 2; i++) {
		struct decoded *s = next_result(d);
		assert_int_equal((int)(intptr_t)s->tag, i);
		decoder_pop(d);
	}
	decoder_filter(d, keep_even, record_drop, dropped);
	assert_int_equal(dropped[0], 4);
	for (int j = 0; j < 4; j++)
		assert_int_equal(dropped[j + 1], 3 + 2 * j);
	assert_int_equal(decoder_pending(d), 4);
	/* The thread goes on after a filter, in order. */
	for (int i = N; i < N + 4; i++) {
		msgs[i] = message(i, &len);
		assert_int_equal(decoder_push(d, msgs[i], len,
				     (void *)(intptr_t)i),
		    0);
	}
	decoder_commit(d);
	for (int want = 2; want < N + 4; want++) {
		if (want < N && want % 2)
			continue;
		struct decoded *s = next_result(d);
		assert_int_equal((int)(intptr_t)s->tag, want);
		check_result(want, s);
		decoder_pop(d);
	}
	assert_int_equal(decoder_pending(d), 0);
	decoder_free(d, NULL, NULL);
	for (int i = 0; i < N + 4; i++)
		free(msgs[i]);
}

static void
count_drop(void *tag, void *arg)
{
	(void)tag;
	(*(int *)arg)++;
}

static void
test_free_hands_back(void **state)
{
	const char *cause;
	struct decoder *d = decoder_new(NULL, 8, on_ready, NULL, &cause);
	char *msgs[8];
	int dropped = 0;
	size_t len;

	(void)state;
	assert_non_null(d);
	for (int i = 0; i < 8; i++) {
		msgs[i] = message(i, &len);
		assert_int_equal(decoder_push(d, msgs[i], len, msgs[i]), 0);
		if (i == 4)
			decoder_commit(d); /* some decoded, some not */
	}
	decoder_free(d, count_drop, &dropped);
	assert_int_equal(dropped, 8);
	for (int i = 0; i < 8; i++)
		free(msgs[i]);
}

static void
test_want(void **state)
{
	const char *cause;
	struct decoder *d = decoder_new(NULL, 8, on_ready, NULL, &cause);
	static const char msg[] = "{\"a\":1}";

	(void)state;
	assert_non_null(d);
	assert_int_equal(decoder_push(d, msg, sizeof msg - 1, NULL), 0);
	/* Asked before the result: ready() follows. */
	(void)next_result(d);
	/* Asked after it: no call, and want says so. */
	int calls = ready_count();
	assert_int_equal(decoder_want(d), 1);
	assert_int_equal(ready_count(), calls);
	decoder_pop(d);
	decoder_free(d, NULL, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_and_equivalence),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_filter),
	    cmocka_unit_test(test_free_hands_back),
	    cmocka_unit_test(test_want),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
