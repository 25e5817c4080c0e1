/*
 * The dedup window: duplicates inside the window, expiry, eviction at
 * max_entries, the index staying right through thousands of random
 * inserts and expiries (checked against a plain model), and the rebuild
 * from a real audit log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <malloc.h>
#include <event2/thread.h>

#include "remediad/audit.h"
#include "remediad/config.h"
#include "remediad/dedup.h"
#include "remediad/log.h"

#if defined(__SANITIZE_ADDRESS__)
/* libasan's (gcc ships no header for it). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* Bytes the allocator has handed out and not had back. */
static size_t
heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
#endif
}

static void
test_window(void **state)
{
	struct dedup *dd = dedup_new(1000, 1000);
	uint64_t first = 0;

	(void)state;
	assert_non_null(dd);
	assert_int_equal(dedup_check(dd, "a", 10000, 1, &first), 0);
	assert_int_equal(dedup_check(dd, "b", 10100, 2, &first), 0);
	assert_int_equal(dedup_check(dd, "a", 10500, 3, &first), 1);
	assert_int_equal(first, 1);
	/* "a" was seen at 10000: at 11001 it is out of the window. */
	assert_int_equal(dedup_check(dd, "a", 11001, 4, &first), 0);
	assert_int_equal(dedup_check(dd, "a", 11002, 5, &first), 1);
	assert_int_equal(first, 4);
	/* "b" (10100) is still inside the window at 11002, not at 11101. */
	assert_int_equal(dedup_check(dd, "b", 11002, 6, &first), 1);
	assert_int_equal(first, 2);
	assert_int_equal(dedup_check(dd, "b", 11101, 7, &first), 0);
	assert_int_equal(dedup_size(dd), 2);
	dedup_expire(dd, 99999);
	assert_int_equal(dedup_size(dd), 0);
	dedup_free(dd);
}

static void
test_eviction(void **state)
{
	struct dedup *dd = dedup_new(1000000, 1000);
	char id[32];
	uint64_t first;

	(void)state;
	for (int i = 0; i < 1500; i++) {
		snprintf(id, sizeof id, "id-%d", i);
		assert_int_equal(dedup_check(dd, id, 1000 + (uint64_t)i,
		    (uint64_t)i, &first), 0);
	}
	assert_int_equal(dedup_size(dd), 1000);
	assert_int_equal(dedup_evicted(dd), 500);
	/* The oldest went first. */
	assert_int_equal(dedup_check(dd, "id-1499", 3000, 9, &first), 1);
	assert_int_equal(dedup_check(dd, "id-600", 3000, 9, &first), 1);
	assert_int_equal(dedup_check(dd, "id-100", 3000, 9, &first), 0);
	dedup_free(dd);
}

/*
 * Ids come from outside and may be as long as a field can be (4096 bytes):
 * a full window of them costs what short ones do, the table made at
 * dedup_new() and nothing per id. Ids that differ only in their last byte
 * stay apart.
 */
static void
test_long_ids_fixed_memory(void **state)
{
	enum { N = 20000, LEN = 4096 };
	struct dedup *dd = dedup_new(1000000, N);
	static char id[LEN + 1];
	uint64_t first = 0;
	size_t before, after;

	(void)state;
	assert_non_null(dd);
	memset(id, 'x', LEN);
	before = heap_in_use();
	for (int i = 0; i < N; i++) {
		snprintf(id + LEN - 8, 9, "%08d", i);
		assert_int_equal(dedup_check(dd, id, 1000, (uint64_t)i + 1,
		    &first), 0);
	}
	after = heap_in_use();
	/* 20000 copies would be 80 MB; allow a little for the allocator. */
	if (after > before + 64 * 1024)
		fail_msg("%zu bytes held for %d ids", after - before, (int)N);
	assert_int_equal(dedup_size(dd), N);
	snprintf(id + LEN - 8, 9, "%08d", 12345);
	assert_int_equal(dedup_check(dd, id, 2000, 99999, &first), 1);
	assert_int_equal(first, 12346);
	snprintf(id + LEN - 8, 9, "%08d", N);
	assert_int_equal(dedup_check(dd, id, 2000, 99999, &first), 0);
	dedup_free(dd);
}

/* Random ids from a small space, so collisions and re-inserts happen. */
static void
test_model(void **state)
{
	enum { SPACE = 3000, STEPS = 60000, WINDOW = 500 };
	struct dedup *dd = dedup_new(WINDOW, 100000);
	static int64_t seen[SPACE]; /* model: last insert time, -1 none */
	uint64_t rng = 0x9e3779b97f4a7c15ULL, now = 1000000, first;
	char id[32];

	(void)state;
	for (int i = 0; i < SPACE; i++)
		seen[i] = -1;
	for (int step = 0; step < STEPS; step++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		now += rng % 3;
		int k = (int)(rng % SPACE);
		snprintf(id, sizeof id, "alert-%d", k);
		int want = seen[k] >= 0 &&
		    (uint64_t)seen[k] >= now - WINDOW;
		int got = dedup_check(dd, id, now, (uint64_t)step, &first);
		if (got != want)
			fail_msg("step %d id %s: got %d want %d", step, id, got,
			    want);
		if (!want)
			seen[k] = (int64_t)now;
	}
	dedup_free(dd);
}

static void
test_parse_time(void **state)
{
	(void)state;
	assert_int_equal(dedup_parse_time("1970-01-01T00:00:01.500000Z", 27),
	    1500);
	assert_int_equal(dedup_parse_time("2026-11-22T13:27:45Z", 20),
	    1795354065000LL);
	assert_int_equal(dedup_parse_time("2026-11-22T13:27:45+01:00", 25), -1);
	assert_int_equal(dedup_parse_time("yesterday", 9), -1);
}

static void
noop_cb(void *arg, int ok)
{
	*(int *)arg = ok;
}

static void
test_rebuild(void **state)
{
	char dir[] = "/tmp/test_dedup.XXXXXX";
	struct config cfg;
	struct event_base *base;
	struct audit *a;
	char *cause = NULL;
	const char *why;
	int done = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&cfg, 0, sizeof cfg);
	cfg.audit.dir = dir;
	cfg.audit.sync = AUDIT_SYNC_NONE;
	cfg.audit.sync_interval_ms = 1;
	cfg.audit.sync_records = 16;
	cfg.audit.segment_size = 2048; /* several segments */
	cfg.audit.max_record = 1 << 20;
	cfg.audit.anchor_every = 1000;
	evthread_use_pthreads();
	base = event_base_new();
	a = audit_open(base, &cfg, &cause);
	assert_non_null(a);
	uint64_t seq = 0;
	for (int i = 0; i < 50; i++) {
		char id[16];
		snprintf(id, sizeof id, "id-%d", i % 40); /* 10 repeats */
		seq = audit_append(a, i < 40 ? "alert.received" : "alert.duplicate",
		    "system", json_pack("{s:s}", "alert", id), &why);
		assert_true(seq > 0);
	}
	audit_when_durable(a, seq, noop_cb, &done);
	audit_close(a);
	assert_int_equal(done, 1);

	struct dedup *dd = dedup_new(3600 * 1000, 1000);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + 1000;
	long long n = dedup_rebuild(dd, dir, now, &cause);
	assert_int_equal(n, 40);
	uint64_t first = 0;
	assert_int_equal(dedup_check(dd, "id-7", now, 999, &first), 1);
	assert_true(first >= 1 && first <= 40);
	assert_int_equal(dedup_check(dd, "id-40", now, 999, &first), 0);
	dedup_free(dd);

	/* Far in the future, the window holds nothing of it. */
	dd = dedup_new(1000, 1000);
	assert_int_equal(dedup_rebuild(dd, dir, now + 86400000ULL, &cause), 0);
	dedup_free(dd);
	event_base_free(base);
	char cmd[64];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_window),
	    cmocka_unit_test(test_eviction),
	    cmocka_unit_test(test_long_ids_fixed_memory),
	    cmocka_unit_test(test_model),
	    cmocka_unit_test(test_parse_time),
	    cmocka_unit_test(test_rebuild),
	};

	log_init("test_dedup", LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
