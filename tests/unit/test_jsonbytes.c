/*
 * The 16-byte classifier of JSON string bytes (include/remediad/
 * jsonbytes.h) against its one-byte rule: every byte value at every
 * position of a block, both modes, and the span it gives. This file is
 * built twice, with SSE2 and with JSONBYTES_PORTABLE, so both paths are
 * held to the same rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "remediad/jsonbytes.h"

static int
rule(unsigned char c, int ascii)
{
	return c < 0x20 || c == '"' || c == '\\' || (ascii && c > 0x7f);
}

static void
test_every_byte_everywhere(void **state)
{
	unsigned char b[16];

	(void)state;
	for (int ascii = 0; ascii < 2; ascii++)
		for (unsigned c = 0; c < 256; c++)
			for (unsigned at = 0; at < 16; at++) {
				unsigned want = rule((unsigned char)c, ascii) ?
				    1u << at : 0;
				memset(b, 'a', sizeof b);
				b[at] = (unsigned char)c;
				assert_int_equal(json_special16(b, ascii), want);
				assert_int_equal(json_special_byte(
				    (unsigned char)c, ascii), want != 0);
			}
}

static void
test_masks_of_mixed_blocks(void **state)
{
	uint32_t x = 2463534242u;
	unsigned char b[16];

	(void)state;
	for (int n = 0; n < 20000; n++) {
		unsigned want[2] = {0, 0};
		for (unsigned j = 0; j < 16; j++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			b[j] = (unsigned char)x;
			for (int ascii = 0; ascii < 2; ascii++)
				if (rule(b[j], ascii))
					want[ascii] |= 1u << j;
		}
		assert_int_equal(json_special16(b, 0), want[0]);
		assert_int_equal(json_special16(b, 1), want[1]);
	}
}

static void
test_span(void **state)
{
	unsigned char s[70];

	(void)state;
	memset(s, 'z', sizeof s);
	assert_int_equal(json_plain_span(s, 0, 0), 0);
	assert_int_equal(json_plain_span(s, sizeof s, 1), sizeof s);
	for (size_t at = 0; at < sizeof s; at++) {
		s[at] = '"';
		assert_int_equal(json_plain_span(s, sizeof s, 0), at);
		/* Not looked at beyond n. */
		assert_int_equal(json_plain_span(s, at, 0), at);
		s[at] = 0xc3;
		assert_int_equal(json_plain_span(s, sizeof s, 0), sizeof s);
		assert_int_equal(json_plain_span(s, sizeof s, 1), at);
		s[at] = 'z';
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_byte_everywhere),
	    cmocka_unit_test(test_masks_of_mixed_blocks),
	    cmocka_unit_test(test_span),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
