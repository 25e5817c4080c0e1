/*
 * The strict UTF-8 check (utf8.c): where it stops and why, on both sides
 * of its eight-bytes-at-a-time ASCII path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "remediad/utf8.h"

#define L(s) (s), sizeof(s) - 1

static void
expect_bad(const char *s, size_t len, int nul_ok, size_t at,
    const char *why)
{
	const char *got = NULL;

	assert_int_equal(utf8_check(s, len, nul_ok, &got), at);
	assert_non_null(got);
	assert_string_equal(got, why);
	assert_false(utf8_valid(s, len, nul_ok));
}

static void
test_valid(void **state)
{
	static const char *const ok[] = {"", "a", "plain ASCII, longer than eight",
	    "caf\xc3\xa9", "\xe2\x82\xac 5", "\xf0\x9f\x98\x80",
	    "\xed\x9f\xbf", "\xee\x80\x80", "\xf4\x8f\xbf\xbf", NULL};

	(void)state;
	for (size_t i = 0; ok[i] != NULL; i++) {
		size_t n = strlen(ok[i]);
		assert_int_equal(utf8_check(ok[i], n, 0, NULL), n);
		assert_true(utf8_valid(ok[i], n, 0));
	}
	/* A character across the boundary of an eight-byte block. */
	assert_true(utf8_valid(L("1234567\xe2\x82\xac" "89abcdef"), 0));
}

static void
test_nul(void **state)
{
	(void)state;
	/* In a block of eight, before it, and after it. */
	expect_bad(L("abcdefg\0hijklmno"), 0, 7, "a NUL byte");
	expect_bad(L("\0bc"), 0, 0, "a NUL byte");
	expect_bad(L("abcdefghij\0"), 0, 10, "a NUL byte");
	assert_true(utf8_valid(L("abcdefg\0hijklmno"), 1));
	assert_true(utf8_valid(L("\0"), 1));
}

static void
test_invalid(void **state)
{
	(void)state;
	expect_bad(L("abcdefgh\x80"), 0, 8, "unexpected continuation byte");
	expect_bad(L("\xff"), 1, 0, "byte never valid in UTF-8");
	expect_bad(L("\xf8\x88\x80\x80\x80"), 1, 0,
	    "byte never valid in UTF-8");
	expect_bad(L("caf\xc3"), 1, 3,
	    "sequence cut short by the end of the text");
	expect_bad(L("caf\xc3x"), 1, 3, "incomplete sequence");
	expect_bad(L("\xc0\xaf"), 1, 0, "overlong encoding");
	expect_bad(L("\xe0\x80\xaf"), 1, 0, "overlong encoding");
	expect_bad(L("\xf0\x82\x82\xac"), 1, 0, "overlong encoding");
	expect_bad(L("12345678\xed\xa0\x80"), 1, 8, "surrogate code point");
	expect_bad(L("\xf4\x90\x80\x80"), 1, 0, "code point above U+10FFFF");
	/* The first bad one counts; a NULL why is allowed. */
	assert_int_equal(utf8_check(L("ok\xff\x80"), 1, NULL), 2);
}

/* utf8_repair(): what a cut split goes, other bad bytes become '?'. */
static void
test_repair(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"", ""},
	    {"plain", "plain"},
	    {"caf\xc3\xa9", "caf\xc3\xa9"},
	    {"caf\xc3", "caf"},			 /* cut in a 2-byte */
	    {"euro \xe2\x82", "euro "},		 /* cut in a 3-byte */
	    {"emoji \xf0\x9f\x98", "emoji "},	 /* cut in a 4-byte */
	    {"\xff\xfe ok", "?? ok"},		 /* never valid */
	    {"a\xc3(b", "a?(b"},			 /* incomplete inside */
	    {"\xc0\xaf", "??"},			 /* overlong */
	    {"\xed\xa0\x80.", "???."},		 /* surrogate */
	    {"x\xff\xc3", "x?"},			 /* both */
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(buf, sizeof buf, "%s", cases[i].in);
		size_t n = utf8_repair(buf);
		assert_string_equal(buf, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
		assert_true(utf8_valid(buf, n, 0));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_repair),
	    cmocka_unit_test(test_nul),
	    cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
