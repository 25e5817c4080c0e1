/*
 * Bytes as lowercase hex: digests in ids, the audit chain, tags.
 */
#ifndef REMEDIAD_HEX_H
#define REMEDIAD_HEX_H

#include <stddef.h>

/* Writes 2 * n digits to out, high nibble first, and no terminator. */
static inline void
hex_encode(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
}

#endif
