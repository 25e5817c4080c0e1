/*
 * SipHash-2-4 against the reference implementation's published vectors:
 * the key is the bytes 0x00..0x0f and vector i is the tag of the i-byte
 * message 0x00..(i-1). Lengths below, at and past one and two 8-byte
 * blocks, and the longest (63) cover the block loop and every tail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "remediad/siphash.h"

/* A reference tag: of the len-byte message, 8 or 16 bytes long. */
struct vec {
	size_t len;
	size_t taglen;
	unsigned char tag[16];
};

static const struct vec tags[] = {
    {0, 8, {0x31, 0x0e, 0x0e, 0xdd, 0x47, 0xdb, 0x6f, 0x72}},
    {1, 8, {0xfd, 0x67, 0xdc, 0x93, 0xc5, 0x39, 0xf8, 0x74}},
    {15, 8, {0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1}},
    {63, 8, {0x72, 0x45, 0x06, 0xeb, 0x4c, 0x32, 0x8a, 0x95}},
    {0, 16, {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6,
		0x72, 0x14, 0xc7, 0x55, 0x02, 0x93}},
    {5, 16, {0x13, 0x68, 0x87, 0x59, 0x80, 0x77, 0x6f, 0x88, 0x54, 0x52,
		0x7a, 0x07, 0x69, 0x0e, 0x96, 0x27}},
    {7, 16, {0xa1, 0xf1, 0xeb, 0xbe, 0xd8, 0xdb, 0xc1, 0x53, 0xc0, 0xb8,
		0x4a, 0xa6, 0x1f, 0xf0, 0x82, 0x39}},
    {8, 16, {0x3b, 0x62, 0xa9, 0xba, 0x62, 0x58, 0xf5, 0x61, 0x0f, 0x83,
		0xe2, 0x64, 0xf3, 0x14, 0x97, 0xb4}},
    {15, 16, {0x54, 0x93, 0xe9, 0x99, 0x33, 0xb0, 0xa8, 0x11, 0x7e, 0x08,
		 0xec, 0x0f, 0x97, 0xcf, 0xc3, 0xd9}},
    {16, 16, {0x6e, 0xe2, 0xa4, 0xca, 0x67, 0xb0, 0x54, 0xbb, 0xfd, 0x33,
		 0x15, 0xbf, 0x85, 0x23, 0x05, 0x77}},
    {63, 16, {0x51, 0x50, 0xd1, 0x77, 0x2f, 0x50, 0x83, 0x4a, 0x50, 0x3e,
		 0x06, 0x9a, 0x97, 0x3f, 0xbd, 0x7c}},
};

static void
ref_key_and_message(uint64_t key[2], unsigned char msg[64])
{
	unsigned char k[16];

	for (int i = 0; i < 16; i++)
		k[i] = (unsigned char)i;
	memcpy(key, k, sizeof k); /* little-endian, as the reference reads it */
	for (int i = 0; i < 64; i++)
		msg[i] = (unsigned char)i;
}

static void
test_reference_vectors(void **state)
{
	uint64_t key[2], out[2];
	unsigned char msg[64];

	(void)state;
	ref_key_and_message(key, msg);
	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
		if (tags[i].taglen == 8)
			out[0] = siphash24(key, msg, tags[i].len);
		else
			siphash24_128(key, msg, tags[i].len, out);
		if (memcmp(out, tags[i].tag, tags[i].taglen) != 0)
			fail_msg("%zu-bit tag of %zu bytes", 8 * tags[i].taglen,
			    tags[i].len);
	}
}

/* The two halves differ, and a different key gives a different tag. */
static void
test_siphash128_keyed(void **state)
{
	uint64_t k1[2] = {1, 2}, k2[2] = {1, 3}, a[2], b[2];

	(void)state;
	siphash24_128(k1, (const unsigned char *)"alert-1", 7, a);
	siphash24_128(k2, (const unsigned char *)"alert-1", 7, b);
	assert_true(a[0] != a[1]);
	assert_true(a[0] != b[0] || a[1] != b[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reference_vectors),
	    cmocka_unit_test(test_siphash128_keyed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
