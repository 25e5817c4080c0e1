/*
 * The strict UTF-8 check of everything that must be text: Kafka messages
 * before they are parsed (alert.c), what the sandbox converts out of Lua
 * (sandbox.c), the names audit records are given (audit_canon.c); and the
 * repair of messages built from outside bytes (connector answers).
 */
#include <stdint.h>
#include <string.h>

#include "remediad/utf8.h"

/* Whether one of the eight bytes of w is 0. */
static inline int
has_zero_byte(uint64_t w)
{
	return ((w - UINT64_C(0x0101010101010101)) & ~w &
		   UINT64_C(0x8080808080808080)) != 0;
}

static const char cut_short[] = "sequence cut short by the end of the text";

size_t
utf8_check(const void *text, size_t len, int nul_ok, const char **why)
{
	const unsigned char *s = text;
	const char *unused;
	size_t i = 0;

	if (why == NULL)
		why = &unused;
	while (i < len) {
		unsigned int c = s[i];
		uint32_t cp, min;
		uint64_t w;
		size_t n;

		/* ASCII, eight bytes at a time. */
		if (len - i >= 8) {
			memcpy(&w, s + i, 8);
			if ((w & UINT64_C(0x8080808080808080)) == 0 &&
			    (nul_ok || !has_zero_byte(w))) {
				i += 8;
				continue;
			}
		}
		if (c < 0x80) {
			if (c == 0 && !nul_ok) {
				*why = "a NUL byte";
				return i;
			}
			i++;
			continue;
		}
		if (c < 0xc0) {
			*why = "unexpected continuation byte";
			return i;
		} else if (c < 0xe0) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c < 0xf0) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c < 0xf8) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			*why = "byte never valid in UTF-8";
			return i;
		}
		for (size_t k = 1; k <= n; k++) {
			if (i + k >= len) {
				*why = cut_short;
				return i;
			}
			if ((s[i + k] & 0xc0) != 0x80) {
				*why = "incomplete sequence";
				return i;
			}
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min) {
			*why = "overlong encoding";
			return i;
		}
		if (cp >= 0xd800 && cp <= 0xdfff) {
			*why = "surrogate code point";
			return i;
		}
		if (cp > 0x10ffff) {
			*why = "code point above U+10FFFF";
			return i;
		}
		i += n + 1;
	}
	return len;
}

size_t
utf8_repair(char *s)
{
	size_t len = strlen(s), i = 0;
	const char *why;

	while ((i += utf8_check(s + i, len - i, 0, &why)) < len) {
		if (why == cut_short) {
			s[i] = '\0';
			return i;
		}
		s[i++] = '?';
	}
	return len;
}
