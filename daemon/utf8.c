/*
 * The strict UTF-8 check of everything that must be text: Kafka messages
 * before they are parsed (alert.c), what the sandbox converts out of Lua
 * (sandbox.c), the names audit records are given (audit_canon.c); the
 * repair of messages built from outside bytes (connector answers); and the
 * escaping of control characters in text people read (the log,
 * remediactl's tables).
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

/*
 * Why no character starts at s (utf8_char_len() said 0 for a byte of
 * 0x80 or more): only on the way out, so its decoding may take its time.
 */
static const char *
utf8_why(const unsigned char *s, size_t avail)
{
	unsigned int c = s[0];
	uint32_t cp, min;
	size_t n;

	if (c < 0xc0)
		return "unexpected continuation byte";
	if (c < 0xe0) {
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
	} else
		return "byte never valid in UTF-8";
	for (size_t k = 1; k <= n; k++) {
		if (k >= avail)
			return cut_short;
		if ((s[k] & 0xc0) != 0x80)
			return "incomplete sequence";
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if (cp < min)
		return "overlong encoding";
	if (cp >= 0xd800 && cp <= 0xdfff)
		return "surrogate code point";
	return "code point above U+10FFFF";
}

size_t
utf8_check(const void *text, size_t len, int nul_ok, const char **why)
{
	const unsigned char *s = text;
	const char *unused;
	size_t i = 0, n;

	if (why == NULL)
		why = &unused;
	while (i < len) {
		uint64_t w;

		/* ASCII, eight bytes at a time. */
		if (len - i >= 8) {
			memcpy(&w, s + i, 8);
			if ((w & UINT64_C(0x8080808080808080)) == 0 &&
			    (nul_ok || !has_zero_byte(w))) {
				i += 8;
				continue;
			}
		}
		if (s[i] < 0x80) {
			if (s[i] == 0 && !nul_ok) {
				*why = "a NUL byte";
				return i;
			}
			i++;
			continue;
		}
		if ((n = utf8_char_len(s + i, len - i)) == 0) {
			*why = utf8_why(s + i, len - i);
			return i;
		}
		i += n;
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

/*
 * Control characters are what text read on a terminal or in a log must
 * not carry as they are: a line feed forges a line (a log entry, under
 * systemd with any "<N>" priority; a row of remediactl's table, which
 * people approve from), an escape sequence clears the screen or hides
 * text. C0 and DEL are one byte; C1 (U+0080-U+009F, which some terminals
 * obey, U+009B being CSI) is 0xc2 and a second byte.
 */
static size_t
utf8_control_len(const unsigned char *s, size_t left)
{
	if (*s < 0x20 || *s == 0x7f)
		return 1;
	if (*s == 0xc2 && left > 1 && s[1] >= 0x80 && s[1] <= 0x9f)
		return 2;
	return 0;
}

int
utf8_has_controls(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (utf8_control_len((const unsigned char *)s + i, n - i) != 0)
			return 1;
	return 0;
}

size_t
utf8_escape_controls(const char *s, size_t n, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, c = 0, i;

	if (len == 0)
		return 0;
	for (i = 0; i < n; i += c ? c : 1) {
		c = utf8_control_len(p + i, n - i);
		if (c == 0) {
			if (o + 1 >= len)
				break;
			buf[o++] = (char)p[i];
			continue;
		}
		unsigned char b = c == 1 ? p[i] : p[i + 1];
		if (o + (c == 1 ? 4 : 6) >= len)
			break;
		buf[o++] = '\\';
		if (c == 1) {
			buf[o++] = 'x';
		} else {
			memcpy(buf + o, "u00", 3);
			o += 3;
		}
		buf[o++] = hex[b >> 4];
		buf[o++] = hex[b & 0xf];
	}
	if (i < n) {
		/* Cut: not inside a character (escapes are ASCII). */
		size_t lead = o;
		while (lead > 0 &&
		    ((unsigned char)buf[lead - 1] & 0xc0) == 0x80)
			lead--;
		if (lead > 0 && (unsigned char)buf[lead - 1] >= 0xc0) {
			unsigned char l = (unsigned char)buf[lead - 1];
			size_t want = l >= 0xf0 ? 4 : l >= 0xe0 ? 3 : 2;
			if (o - (lead - 1) < want)
				o = lead - 1;
		}
	}
	buf[o] = '\0';
	return o;
}
