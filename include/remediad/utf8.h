/*
 * Strict UTF-8 (RFC 3629), the daemon's one check of it: the shortest form
 * only, no surrogates, nothing above U+10FFFF.
 */
#ifndef REMEDIAD_UTF8_H
#define REMEDIAD_UTF8_H

#include <stddef.h>

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

static inline int
utf8_valid(const void *text, size_t len, int nul_ok)
{
	return utf8_check(text, len, nul_ok, NULL) == len;
}

#endif
