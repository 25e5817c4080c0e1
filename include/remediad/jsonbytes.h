/*
 * The inner loop of JSON strings, shared by the reader (json_scan.c) and
 * the audit log's writer (audit_canon.c): which bytes of a string need an
 * escape (or, reading, a closer look), 16 at a time. With SSE2 (every
 * x86-64 has it) a block is a handful of instructions; elsewhere (or
 * with JSONBYTES_PORTABLE defined, as one unit test builds it) a plain
 * loop gives the same answers.
 */
#ifndef REMEDIAD_JSONBYTES_H
#define REMEDIAD_JSONBYTES_H

#include <stddef.h>

#if defined(__SSE2__) && !defined(JSONBYTES_PORTABLE)
#define JSONBYTES_SSE2 1
#include <emmintrin.h>
#endif

/* '"', '\\', a byte below 0x20; with ascii, a byte above 0x7f too. */
static inline int
json_special_byte(unsigned char c, int ascii)
{
	return c < 0x20 || c == '"' || c == '\\' || (ascii && c >= 0x80);
}

/* Bit j set: p[j] is special, for j in 0..15. */
static inline unsigned
json_special16(const unsigned char *p, int ascii)
{
#ifdef JSONBYTES_SSE2
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	/* min(v, 0x1f) == v: v is a control byte. */
	__m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
	__m128i sp = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v,
	    _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))), ctl);
	unsigned m = (unsigned)_mm_movemask_epi8(sp);

	return ascii ? m | (unsigned)_mm_movemask_epi8(v) : m;
#else
	unsigned m = 0;

	for (unsigned j = 0; j < 16; j++)
		if (json_special_byte(p[j], ascii))
			m |= 1u << j;
	return m;
#endif
}

/* The length of the longest prefix of p[0..n) without a special byte. */
static inline size_t
json_plain_span(const unsigned char *p, size_t n, int ascii)
{
	size_t i = 0;

	for (; n - i >= 16; i += 16) {
		unsigned m = json_special16(p + i, ascii);
		if (m != 0)
			return i + (size_t)__builtin_ctz(m);
	}
	for (; i < n; i++)
		if (json_special_byte(p[i], ascii))
			return i;
	return n;
}

#endif
