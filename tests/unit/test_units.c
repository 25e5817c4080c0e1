/*
 * Unit tests for daemon/units.c: parsing of durations and sizes (accepted
 * forms, every rejection with its cause, overflow) and duration formatting.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "remediad/units.h"

#define MIN_MS	(60ULL * 1000)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS	(24 * HOUR_MS)
#define WEEK_MS (7 * DAY_MS)

struct good {
	const char *in;
	uint64_t want;
};

struct bad {
	const char *in;
	const char *cause; /* substring expected in the cause */
};

static void
check_good_duration(const struct good *g)
{
	const char *cause = NULL;
	uint64_t ms = 12345;

	if (units_parse_duration(g->in, &ms, &cause) != 0)
		fail_msg("duration \"%s\" rejected: %s", g->in,
		    cause != NULL ? cause : "(no cause)");
	if (ms != g->want)
		fail_msg("duration \"%s\": got %" PRIu64 " ms, want %" PRIu64,
		    g->in, ms, g->want);
}

static void
check_bad_duration(const struct bad *b)
{
	const char *cause = NULL;
	uint64_t ms = 12345;

	if (units_parse_duration(b->in, &ms, &cause) != -1)
		fail_msg("duration \"%s\" accepted as %" PRIu64 " ms", b->in,
		    ms);
	if (cause == NULL)
		fail_msg("duration \"%s\" rejected without a cause", b->in);
	if (strstr(cause, b->cause) == NULL)
		fail_msg("duration \"%s\": cause \"%s\" lacks \"%s\"", b->in,
		    cause, b->cause);
}

static void
check_good_size(const struct good *g)
{
	const char *cause = NULL;
	uint64_t bytes = 12345;

	if (units_parse_size(g->in, &bytes, &cause) != 0)
		fail_msg("size \"%s\" rejected: %s", g->in,
		    cause != NULL ? cause : "(no cause)");
	if (bytes != g->want)
		fail_msg("size \"%s\": got %" PRIu64 " bytes, want %" PRIu64,
		    g->in, bytes, g->want);
}

static void
check_bad_size(const struct bad *b)
{
	const char *cause = NULL;
	uint64_t bytes = 12345;

	if (units_parse_size(b->in, &bytes, &cause) != -1)
		fail_msg("size \"%s\" accepted as %" PRIu64 " bytes", b->in,
		    bytes);
	if (cause == NULL)
		fail_msg("size \"%s\" rejected without a cause", b->in);
	if (strstr(cause, b->cause) == NULL)
		fail_msg("size \"%s\": cause \"%s\" lacks \"%s\"", b->in, cause,
		    b->cause);
}

static void
test_duration_single_units(void **state)
{
	static const struct good cases[] = {
		{"250ms", 250},
		{"30s", 30 * 1000},
		{"15m", 15 * MIN_MS},
		{"4h", 4 * HOUR_MS},
		{"1d", DAY_MS},
		{"1w", WEEK_MS},
		{"0s", 0},
		{"0ms", 0},
		{"1ms", 1},
		{"007s", 7000},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_good_duration(&cases[i]);
}

static void
test_duration_chained(void **state)
{
	static const struct good cases[] = {
		{"1h30m", 5400000},
		{"1m30s", 90 * 1000},
		/* "m" must not swallow the "m" of "ms". */
		{"1m1ms", MIN_MS + 1},
		{"2w3d", 2 * WEEK_MS + 3 * DAY_MS},
		{"1d1h1m1s1ms", 90061001},
		{"1w1d1h1m1s1ms", WEEK_MS + 90061001},
		{"0h0m0s", 0},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_good_duration(&cases[i]);
}

static void
test_duration_limits(void **state)
{
	static const struct good good[] = {
		{"18446744073709551615ms", UINT64_MAX},
		{"30500w", 30500 * WEEK_MS},
	};
	static const struct bad bad[] = {
		/* Digits alone overflow. */
		{"99999999999999999999s", "too large"},
		{"18446744073709551616ms", "too large"},
		/* The product overflows. */
		{"999999999999999w", "too large"},
		{"18446744073709552s", "too large"},
		/* The sum overflows. */
		{"1s18446744073709551615ms", "too large"},
	};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		check_good_duration(&good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		check_bad_duration(&bad[i]);
}

static void
test_duration_rejects(void **state)
{
	static const struct bad cases[] = {
		{"", "empty"},
		{"15x", "unknown unit"},
		{"15S", "unknown unit"},
		{"15 s", "unknown unit"},
		{"-1s", "no sign"},
		{"+1s", "no sign"},
		{"1.5h", "fractions"},
		{"10", "missing unit"},
		{"1h30", "missing unit"},
		{"s", "expected a number"},
		{"1hm", "expected a number"},
		{" 1s", "expected a number"},
		{"30m1h", "largest to smallest"},
		{"1h1h", "largest to smallest"},
		{"1ms1s", "largest to smallest"},
		{"1s1s", "largest to smallest"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_bad_duration(&cases[i]);
}

static void
test_duration_null(void **state)
{
	const char *cause = NULL;
	uint64_t ms;

	assert_int_equal(units_parse_duration(NULL, &ms, &cause), -1);
	assert_non_null(cause);
}

static void
test_size_accepts(void **state)
{
	static const struct good cases[] = {
		{"4096", 4096},
		{"0", 0},
		{"1B", 1},
		{"16MB", 16ULL << 20},
		{"1MiB", 1ULL << 20},
		{"1M", 1ULL << 20},
		{"512KB", 512ULL << 10},
		{"512K", 512ULL << 10},
		{"512KiB", 512ULL << 10},
		{"2G", 2ULL << 30},
		{"2GB", 2ULL << 30},
		{"3GiB", 3ULL << 30},
		{"18446744073709551615", UINT64_MAX},
		{"17179869183GB", (17179869183ULL) << 30},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_good_size(&cases[i]);
}

static void
test_size_rejects(void **state)
{
	static const struct bad cases[] = {
		{"", "empty"},
		{"-1MB", "no sign"},
		{"+1MB", "no sign"},
		{"1.5MB", "fractions"},
		{"16XB", "unknown unit"},
		{"16MBx", "unknown unit"},
		{"16 MB", "unknown unit"},
		{"16BB", "unknown unit"},
		{"MB", "expected a number"},
		{"99999999999999GB", "too large"},
		{"17179869184GB", "too large"},
		{"18446744073709551616", "too large"},
	};
	const char *cause = NULL;
	uint64_t bytes;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_bad_size(&cases[i]);
	assert_int_equal(units_parse_size(NULL, &bytes, &cause), -1);
	assert_non_null(cause);
}

static void
check_format(uint64_t ms, const char *want)
{
	char buf[64];

	memset(buf, 'X', sizeof buf);
	units_format_duration(ms, buf, sizeof buf);
	if (memchr(buf, '\0', sizeof buf) == NULL)
		fail_msg("format %" PRIu64 ": not NUL-terminated", ms);
	if (strcmp(buf, want) != 0)
		fail_msg("format %" PRIu64 ": got \"%s\", want \"%s\"", ms, buf,
		    want);
}

static void
test_format(void **state)
{
	check_format(0, "0s");
	check_format(250, "250ms");
	check_format(1000, "1s");
	check_format(5400000, "1h30m");
	check_format(90061001, "1d1h1m1s1ms");
	/* Weeks are never printed. */
	check_format(WEEK_MS, "7d");
	check_format(UINT64_MAX, "213503982334d14h25m51s615ms");
}

static void
test_format_round_trip(void **state)
{
	static const uint64_t values[] = {1, 999, 1000, 61001, 5400000,
	    90061001, WEEK_MS + 1, 123456789012ULL, UINT64_MAX};
	const char *cause = NULL;
	char buf[64];
	uint64_t ms;

	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		units_format_duration(values[i], buf, sizeof buf);
		if (units_parse_duration(buf, &ms, &cause) != 0)
			fail_msg("\"%s\" (from %" PRIu64 ") rejected: %s", buf,
			    values[i], cause);
		if (ms != values[i])
			fail_msg("\"%s\" parsed back as %" PRIu64
				 ", want %" PRIu64, buf, ms, values[i]);
	}
}

static void
test_format_small_buffer(void **state)
{
	char buf[4] = "abc";

	/* A zero length must not write at all. */
	units_format_duration(5400000, buf, 0);
	assert_string_equal(buf, "abc");
	/* A short buffer stays NUL-terminated within its length. */
	memset(buf, 'X', sizeof buf);
	units_format_duration(90061001, buf, sizeof buf);
	assert_non_null(memchr(buf, '\0', sizeof buf));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_single_units),
		cmocka_unit_test(test_duration_chained),
		cmocka_unit_test(test_duration_limits),
		cmocka_unit_test(test_duration_rejects),
		cmocka_unit_test(test_duration_null),
		cmocka_unit_test(test_size_accepts),
		cmocka_unit_test(test_size_rejects),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_format_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
