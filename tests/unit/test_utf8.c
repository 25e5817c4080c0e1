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

/*
 * An independent reading of RFC 3629, by code point: whether the n bytes
 * at s are exactly one valid character.
 */
static int
ref_one_char(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t want;

	if (s[0] < 0x80)
		return n == 1;
	if ((s[0] & 0xe0) == 0xc0)
		want = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		want = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		want = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n != want)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	return cp >= min[n] && cp <= 0x10ffff && !(cp >= 0xd800 &&
	    cp <= 0xdfff);
}

/* Every sequence of 1 to 3 bytes, and 4 bytes over the bytes that matter:
 * utf8_check() and utf8_char_len() against the reference. */
static void
test_against_reference(void **state)
{
	static const unsigned char edge[] = {0x00, 0x41, 0x7f, 0x80, 0x8f,
	    0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef,
	    0xf0, 0xf4, 0xf5, 0xff};
	unsigned char b[4];
	size_t ne = sizeof edge;

	(void)state;
	for (uint32_t v = 0; v < (1u << 24); v++) {
		size_t n = v < 256 ? 1 : v < 65536 ? 2 : 3;
		for (size_t k = 0; k < n; k++)
			b[k] = (unsigned char)(v >> (8 * (n - 1 - k)));
		int ok = ref_one_char(b, n);
		if (n == 1 || b[0] >= 0x80) {
			int got = utf8_check(b, n, 1, NULL) == n &&
			    (b[0] < 0x80 || utf8_char_len(b, n) == n);
			if (got != ok)
				fail_msg("%zu bytes %02x %02x %02x: got %d, want %d",
				    n, b[0], n > 1 ? b[1] : 0, n > 2 ? b[2] : 0,
				    got, ok);
		}
	}
	for (unsigned lead = 0xf0; lead <= 0xff; lead++)
		for (unsigned x = 0; x < 256; x++)
			for (size_t y = 0; y < ne; y++)
				for (size_t z = 0; z < ne; z++) {
					b[0] = (unsigned char)lead;
					b[1] = (unsigned char)x;
					b[2] = edge[y];
					b[3] = edge[z];
					int ok = ref_one_char(b, 4);
					int got = utf8_check(b, 4, 1, NULL) == 4 &&
					    utf8_char_len(b, 4) == 4;
					if (got != ok)
						fail_msg("%02x %02x %02x %02x: "
						    "got %d, want %d", b[0], b[1],
						    b[2], b[3], got, ok);
				}
}

/* Control characters for a log line or a terminal: escaped, cut whole. */
static void
test_escape_controls(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"plain caf\xc3\xa9", "plain caf\xc3\xa9"},
	    {"a\nb\r\t\x1b[2J\x7f", "a\\x0ab\\x0d\\x09\\x1b[2J\\x7f"},
	    {"csi \xc2\x9b" "31m, nbsp \xc2\xa0", "csi \\u009b31m, nbsp \xc2\xa0"},
	    {"\xc2", "\xc2"}, /* a lone lead byte is no C1 control */
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = strlen(cases[i].in);
		assert_int_equal(utf8_escape_controls(cases[i].in, n, buf,
		    sizeof buf), strlen(cases[i].out));
		assert_string_equal(buf, cases[i].out);
		assert_int_equal(utf8_has_controls(cases[i].in, n),
		    strcmp(cases[i].in, cases[i].out) != 0);
	}
	/* NUL bytes inside n are controls too. */
	assert_true(utf8_has_controls("a\0b", 3));
	assert_int_equal(utf8_escape_controls("a\0b", 3, buf, sizeof buf), 6);
	assert_string_equal(buf, "a\\x00b");
	/* Full: cut between escapes, and never inside a character. */
	assert_int_equal(utf8_escape_controls("\n\n\n", 3, buf, 10), 8);
	assert_string_equal(buf, "\\x0a\\x0a");
	assert_int_equal(utf8_escape_controls("ab\xe2\x82\xac", 5, buf, 5), 2);
	assert_string_equal(buf, "ab");
	assert_int_equal(utf8_escape_controls("x", 1, buf, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_repair),
	    cmocka_unit_test(test_against_reference),
	    cmocka_unit_test(test_escape_controls),
	    cmocka_unit_test(test_nul),
	    cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
