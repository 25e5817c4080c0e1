/*
 * Strict UTF-8 (RFC 3629), the daemon's one check of it: the shortest form
 * only, no surrogates, nothing above U+10FFFF.
 */
#ifndef REMEDIAD_UTF8_H
#define REMEDIAD_UTF8_H

#include <stddef.h>

/*
 * The length (2 to 4) of the valid multi-byte character at s, with avail
 * bytes there, or 0 when none starts there (ASCII included: callers take
 * it before). The one definition of validity: utf8_check() and the JSON
 * scanner's strings both use it.
 */
static inline size_t
utf8_char_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* beyond U+10FFFF */
	if (avail < 2 || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (i >= avail || (s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/*
 * The offset of the first byte of len at text that starts no valid
 * character (a NUL byte counts unless nul_ok), or len when all are valid.
 * *why (why may be NULL) then says what is wrong there: "overlong
 * encoding", "a NUL byte", ...
 */
size_t utf8_check(const void *text, size_t len, int nul_ok,
    const char **why);

/*
 * Makes the NUL-terminated s valid text in place, for a message built
 * from outside bytes: a character a cut split at the end is dropped,
 * any other byte that starts no valid character becomes '?'. Returns
 * the new length.
 */
size_t utf8_repair(char *s);

/*
 * Text for a log line or a terminal: n bytes of s into buf (len bytes,
 * NUL-terminated, cut between characters when full) with the control
 * characters escaped, C0 and DEL as \xHH, C1 as \u00HH; returns the length
 * written. utf8_has_controls(): whether s has any (most text has none,
 * and is shown as it is).
 */
size_t utf8_escape_controls(const char *s, size_t n, char *buf, size_t len);
int utf8_has_controls(const char *s, size_t n);

static inline int
utf8_valid(const void *text, size_t len, int nul_ok)
{
	return utf8_check(text, len, nul_ok, NULL) == len;
}

#endif
