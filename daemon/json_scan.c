/*
 * The object-free JSON parser (see json_scan.h): a recursive descent over
 * the text, bounded by max_depth, that appends one jscan_value per value in
 * preorder and writes each string, unescaped and NUL-terminated, into the
 * shadow buffer at the string's own offset (an unescaped string is never
 * longer than its quoted text, so strings cannot overlap). Numbers are
 * copied there too, for strtod(). It refuses what jansson refuses, with
 * the position jansson would report.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remediad/json_scan.h"
#include "remediad/utf8.h"
#include "remediad/jsonbytes.h"

/* Every value takes a byte of text, so indexes fit when the text does. */
#define JSCAN_MAX_TEXT ((size_t)INT32_MAX)
/* Objects up to this size are checked for duplicates as keys arrive. */
#define JSCAN_SMALL_OBJECT 32

struct jp {
	struct jscan *js;
	const unsigned char *s;
	size_t len, pos;
	int max_depth;
	struct jscan_error *err;
};

void
jscan_free(struct jscan *js)
{
	free(js->v);
	free(js->shadow);
	free(js->scratch);
	memset(js, 0, sizeof *js);
}

/* ---- Errors ---------------------------------------------------------------
 */

static int jp_fail(struct jp *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Line and column of byte `at` (the end of the text when at == len). */
static int
jp_fail(struct jp *p, size_t at, const char *fmt, ...)
{
	struct jscan_error *e = p->err;
	va_list ap;

	if (e == NULL)
		return -1;
	e->fault = JSCAN_SYNTAX;
	e->offset = at;
	e->line = 1;
	e->column = 1;
	for (size_t i = 0; i < at && i < p->len; i++) {
		if (p->s[i] == '\n') {
			e->line++;
			e->column = 1;
		} else if ((p->s[i] & 0xc0) != 0x80) {
			e->column++; /* continuation bytes are not characters */
		}
	}
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof e->text, fmt, ap);
	va_end(ap);
	return -1;
}

/* Says what kind of failure jp_fail() just reported; returns rc. */
static int
jp_fault(struct jp *p, enum jscan_fault fault, int rc)
{
	if (p->err != NULL)
		p->err->fault = fault;
	return rc;
}

/* The character at pos, quoted for a message, or "end of input". */
static const char *
jp_near(struct jp *p, char *buf, size_t size)
{
	unsigned char c;

	if (p->pos >= p->len)
		return "end of input";
	c = p->s[p->pos];
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "byte 0x%02x", c);
	return buf;
}

static int
jp_unexpected(struct jp *p, const char *wanted)
{
	char buf[16];

	return jp_fail(p, p->pos, "%s expected near %s", wanted,
	               jp_near(p, buf, sizeof buf));
}

/* ---- Values ---------------------------------------------------------------
 */

static int
jp_node(struct jp *p, enum jscan_type type, uint32_t *idx)
{
	struct jscan *js = p->js;
	struct jscan_value *v;

	if (js->n == js->cap) {
		size_t cap = js->cap ? js->cap * 2 : 64;

		v = realloc(js->v, cap * sizeof *v);
		if (v == NULL)
			return jp_fault(p, JSCAN_NO_MEMORY,
			                jp_fail(p, p->pos, "out of memory"));
		js->v = v;
		js->cap = cap;
	}
	*idx = (uint32_t)js->n;
	v = &js->v[js->n++];
	memset(v, 0, sizeof *v);
	v->type = (uint8_t)type;
	return 0;
}

static void
jp_ws(struct jp *p)
{
	while (p->pos < p->len) {
		unsigned char c = p->s[p->pos];

		if (c != ' ' && c != '\n' && c != '\t' && c != '\r')
			return;
		p->pos++;
	}
}

static int
jp_hex4(struct jp *p, size_t at, unsigned int *out)
{
	unsigned int u = 0;

	if (p->len - at < 4)
		return jp_fail(p, p->len,
		               "premature end of input in a "
		               "\\u escape");
	for (int i = 0; i < 4; i++) {
		unsigned char c = p->s[at + i];
		unsigned int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return jp_fail(p, at + i, "invalid escape");
		u = u << 4 | d;
	}
	*out = u;
	return 0;
}

static char *
jp_put_utf8(char *w, unsigned int u)
{
	if (u < 0x80) {
		*w++ = (char)u;
	} else if (u < 0x800) {
		*w++ = (char)(0xc0 | u >> 6);
		*w++ = (char)(0x80 | (u & 0x3f));
	} else if (u < 0x10000) {
		*w++ = (char)(0xe0 | u >> 12);
		*w++ = (char)(0x80 | (u >> 6 & 0x3f));
		*w++ = (char)(0x80 | (u & 0x3f));
	} else {
		*w++ = (char)(0xf0 | u >> 18);
		*w++ = (char)(0x80 | (u >> 12 & 0x3f));
		*w++ = (char)(0x80 | (u >> 6 & 0x3f));
		*w++ = (char)(0x80 | (u & 0x3f));
	}
	return w;
}

/*
 * The closing quote of the string whose text goes on at `from`, or len.
 * jansson reports what is wrong with an escape's value there.
 */
static size_t
jp_string_end(const struct jp *p, size_t from)
{
	size_t i = from;

	while (i < p->len && p->s[i] != '"')
		i += p->s[i] == '\\' ? 2 : 1;
	return i < p->len ? i : p->len;
}

/* A \u escape at pos (the backslash); one or two of them for a pair. */
static int
jp_unicode(struct jp *p, char **w)
{
	size_t at = p->pos;
	unsigned int u, lo;

	if (jp_hex4(p, at + 2, &u) != 0)
		return -1;
	p->pos = at + 6;
	if (u >= 0xd800 && u <= 0xdbff) {
		if (p->len - p->pos < 6 || p->s[p->pos] != '\\' ||
		    p->s[p->pos + 1] != 'u')
			return jp_fail(
			    p, jp_string_end(p, p->pos),
			    "invalid Unicode '\\u%04X': a high surrogate "
			    "alone",
			    u);
		if (jp_hex4(p, p->pos + 2, &lo) != 0)
			return -1;
		if (lo < 0xdc00 || lo > 0xdfff)
			return jp_fail(p, jp_string_end(p, p->pos),
			               "invalid Unicode '\\u%04X\\u%04X'", u,
			               lo);
		p->pos += 6;
		u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
	} else if (u >= 0xdc00 && u <= 0xdfff) {
		return jp_fail(
		    p, jp_string_end(p, p->pos),
		    "invalid Unicode '\\u%04X': a low surrogate alone", u);
	} else if (u == 0) {
		return jp_fail(p, jp_string_end(p, p->pos),
		               "\\u0000 is not allowed");
	}
	*w = jp_put_utf8(*w, u);
	return 0;
}

/* A string at pos (its opening quote), into the shadow at its offset. */
static int
jp_string(struct jp *p, const char **out, uint32_t *outlen)
{
	char *start = p->js->shadow + p->pos + 1;
	char *w = start;
	const unsigned char *s = p->s;
	size_t n;

	p->pos++;
	for (;;) {
		size_t run = p->pos;

		p->pos += json_plain_span(s + p->pos, p->len - p->pos, 1);
		memcpy(w, s + run, p->pos - run);
		w += p->pos - run;
		if (p->pos >= p->len)
			return jp_fail(p, p->len,
			               "premature end of input in "
			               "a string");
		unsigned char c = s[p->pos];
		if (c == '"')
			break;
		if (c < 0x20)
			return jp_fail(p, p->pos,
			               "control character 0x%02x "
			               "in a string",
			               c);
		if (c >= 0x80) {
			n = utf8_char_len(s + p->pos, p->len - p->pos);
			if (n == 0)
				return jp_fail(p, p->pos,
				               "invalid UTF-8 in a "
				               "string");
			memcpy(w, s + p->pos, n);
			w += n;
			p->pos += n;
			continue;
		}
		/* A backslash. */
		if (p->pos + 1 >= p->len)
			return jp_fail(p, p->len,
			               "premature end of input in "
			               "a string");
		switch (s[p->pos + 1]) {
		case '"':
		case '\\':
		case '/':
			*w++ = (char)s[p->pos + 1];
			break;
		case 'b':
			*w++ = '\b';
			break;
		case 'f':
			*w++ = '\f';
			break;
		case 'n':
			*w++ = '\n';
			break;
		case 'r':
			*w++ = '\r';
			break;
		case 't':
			*w++ = '\t';
			break;
		case 'u':
			if (jp_unicode(p, &w) != 0)
				return -1;
			continue;
		default:
			return jp_fail(p, p->pos + 1, "invalid escape");
		}
		p->pos += 2;
	}
	*w = '\0';
	p->pos++; /* the closing quote */
	*out = start;
	*outlen = (uint32_t)(w - start);
	return 0;
}

static int
jp_number(struct jp *p, uint32_t idx)
{
	const unsigned char *s = p->s;
	size_t start = p->pos, end;
	int real = 0, neg = 0;
	uint64_t mag = 0;
	int overflow = 0;
	char buf[16];

	if (s[p->pos] == '-') {
		neg = 1;
		p->pos++;
	}
	if (p->pos < p->len && s[p->pos] == '0') {
		p->pos++;
	} else if (p->pos < p->len && s[p->pos] >= '1' && s[p->pos] <= '9') {
		while (p->pos < p->len && s[p->pos] >= '0' &&
		       s[p->pos] <= '9') {
			unsigned int d = s[p->pos] - '0';

			if (mag > (UINT64_MAX - d) / 10)
				overflow = 1;
			else
				mag = mag * 10 + d;
			p->pos++;
		}
	} else {
		return jp_fail(p, p->pos, "invalid number near %s",
		               jp_near(p, buf, sizeof buf));
	}
	if (p->pos < p->len && s[p->pos] == '.') {
		real = 1;
		p->pos++;
		if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
			return jp_fail(p, p->pos,
			               "invalid number: a digit "
			               "expected after '.'");
		while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
		real = 1;
		p->pos++;
		if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
			return jp_fail(p, p->pos,
			               "invalid number: a digit "
			               "expected in the exponent");
		while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
			p->pos++;
	}
	end = p->pos;
	struct jscan_value *v = &p->js->v[idx];
	if (!real) {
		if (overflow || mag > (uint64_t)INT64_MAX + (uint64_t)neg)
			return jp_fail(p, end - 1, "too big %sinteger",
			               neg ? "negative " : "");
		v->type = JSCAN_INTEGER;
		v->u.i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
		return 0;
	}
	/*
	 * The byte after a number is never inside a string, so the shadow
	 * can hold it NUL-terminated for strtod().
	 */
	char *num = p->js->shadow + start;
	memcpy(num, s + start, end - start);
	num[end - start] = '\0';
	errno = 0;
	double d = strtod(num, NULL);
	if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
		return jp_fail(p, end - 1, "real number overflow");
	v->type = JSCAN_REAL;
	v->u.d = d;
	return 0;
}

static int
jp_literal(struct jp *p, const char *word, size_t n)
{
	char buf[16];

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return jp_fail(p, p->pos, "invalid token near %s",
		               jp_near(p, buf, sizeof buf));
	p->pos += n;
	return 0;
}

static int
jp_key_cmp(const void *a, const void *b)
{
	const struct jscan_value *x = *(const struct jscan_value *const *)a;
	const struct jscan_value *y = *(const struct jscan_value *const *)b;

	if (x->keylen != y->keylen)
		return x->keylen < y->keylen ? -1 : 1;
	int c = memcmp(x->key, y->key, x->keylen);
	if (c != 0)
		return c;
	return x < y ? -1 : x > y; /* the later one last */
}

/* A big object's duplicates, once it is complete: sorted, adjacent. */
static int
jp_big_object_dups(struct jp *p, uint32_t obj)
{
	struct jscan *js = p->js;
	uint32_t count = js->v[obj].count;

	if (js->scratch_cap < count) {
		const struct jscan_value **s =
		    realloc(js->scratch, count * sizeof *s);

		if (s == NULL)
			return jp_fault(p, JSCAN_NO_MEMORY,
			                jp_fail(p, p->pos, "out of memory"));
		js->scratch = s;
		js->scratch_cap = count;
	}
	size_t i = 0;
	for (uint32_t c = obj + 1; c != 0; c = js->v[c].next)
		js->scratch[i++] = &js->v[c];
	qsort(js->scratch, count, sizeof *js->scratch, jp_key_cmp);
	/* Report the first duplicate in document order, as jansson does. */
	const struct jscan_value *first = NULL;
	for (i = 1; i < count; i++) {
		const struct jscan_value *a = js->scratch[i - 1];
		const struct jscan_value *b = js->scratch[i];

		if (a->keylen == b->keylen &&
		    memcmp(a->key, b->key, a->keylen) == 0 &&
		    (first == NULL || b < first))
			first = b;
	}
	if (first != NULL)
		return jp_fail(
		    p, jp_string_end(p, (size_t)(first->key - p->js->shadow)),
		    "duplicate object key");
	return 0;
}

static int jp_value(struct jp *p, int depth, uint32_t *out);

/* Makes child the last of container idx's children (prev: the last). */
static void
jp_append(struct jscan *js, uint32_t idx, uint32_t *prev, uint32_t child)
{
	if (*prev != 0)
		js->v[*prev].next = child;
	*prev = child;
	js->v[idx].count++;
}

/* After a child: ',' says 1 (another follows), `close` 0, else -1. */
static int
jp_after(struct jp *p, char close, const char *wanted)
{
	jp_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ',') {
		p->pos++;
		return 1;
	}
	if (p->pos < p->len && p->s[p->pos] == (unsigned char)close) {
		p->pos++;
		return 0;
	}
	return jp_unexpected(p, wanted);
}

static int
jp_object(struct jp *p, int depth, uint32_t idx)
{
	struct jscan *js = p->js;
	uint32_t prev = 0, child;
	const char *key;
	uint32_t keylen;

	p->pos++;
	jp_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '}') {
		p->pos++;
		return 0;
	}
	for (;;) {
		jp_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != '"')
			return jp_unexpected(p, "string or '}'");
		if (jp_string(p, &key, &keylen) != 0)
			return -1;
		if (keylen > 0 && memchr(key, '.', keylen) != NULL)
			js->v[idx].dotted = 1;
		if (js->v[idx].count < JSCAN_SMALL_OBJECT) {
			for (uint32_t c = js->v[idx].count ? idx + 1 : 0;
			     c != 0; c = js->v[c].next)
				if (js->v[c].keylen == keylen &&
				    (keylen == 0 || js->v[c].key[0] == key[0]) &&
				    memcmp(js->v[c].key, key, keylen) == 0)
					return jp_fail(p, p->pos - 1,
					               "duplicate object key");
		}
		jp_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != ':')
			return jp_unexpected(p, "':'");
		p->pos++;
		if (jp_value(p, depth, &child) != 0)
			return -1;
		js->v[child].key = key;
		js->v[child].keylen = keylen;
		jp_append(js, idx, &prev, child);
		int more = jp_after(p, '}', "',' or '}'");
		if (more <= 0) {
			if (more < 0)
				return -1;
			break;
		}
	}
	if (js->v[idx].count > JSCAN_SMALL_OBJECT)
		return jp_big_object_dups(p, idx);
	return 0;
}

static int
jp_array(struct jp *p, int depth, uint32_t idx)
{
	struct jscan *js = p->js;
	uint32_t prev = 0, child;

	p->pos++;
	jp_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ']') {
		p->pos++;
		return 0;
	}
	for (;;) {
		if (jp_value(p, depth, &child) != 0)
			return -1;
		jp_append(js, idx, &prev, child);
		int more = jp_after(p, ']', "',' or ']'");
		if (more <= 0)
			return more;
	}
}

static int
jp_value(struct jp *p, int depth, uint32_t *out)
{
	char buf[16];
	uint32_t idx;

	jp_ws(p);
	if (p->pos >= p->len)
		return jp_fail(p, p->len,
		               "a value expected near end of "
		               "input");
	switch (p->s[p->pos]) {
	case '{':
	case '[':
		if (depth >= p->max_depth)
			return jp_fault(p, JSCAN_TOO_DEEP,
			                jp_fail(p, p->pos,
			                        "nested deeper than %d levels",
			                        p->max_depth));
		if (jp_node(p, p->s[p->pos] == '{' ? JSCAN_OBJECT : JSCAN_ARRAY,
		            &idx) != 0)
			return -1;
		*out = idx;
		return p->s[p->pos] == '{' ? jp_object(p, depth + 1, idx)
		                           : jp_array(p, depth + 1, idx);
	case '"':
		if (jp_node(p, JSCAN_STRING, &idx) != 0)
			return -1;
		*out = idx;
		return jp_string(p, &p->js->v[idx].u.str.s,
		                 &p->js->v[idx].u.str.len);
	case 't':
		if (jp_node(p, JSCAN_TRUE, out) != 0)
			return -1;
		return jp_literal(p, "true", 4);
	case 'f':
		if (jp_node(p, JSCAN_FALSE, out) != 0)
			return -1;
		return jp_literal(p, "false", 5);
	case 'n':
		if (jp_node(p, JSCAN_NULL, out) != 0)
			return -1;
		return jp_literal(p, "null", 4);
	default:
		if (p->s[p->pos] == '-' ||
		    (p->s[p->pos] >= '0' && p->s[p->pos] <= '9')) {
			if (jp_node(p, JSCAN_INTEGER, out) != 0)
				return -1;
			return jp_number(p, *out);
		}
		return jp_fail(p, p->pos, "invalid token near %s",
		               jp_near(p, buf, sizeof buf));
	}
}

int
jscan_parse(struct jscan *js, const char *text, size_t len, int max_depth,
            struct jscan_error *err)
{
	struct jp p = {
	    .js = js,
	    .s = (const unsigned char *)text,
	    .len = len,
	    .max_depth = max_depth,
	    .err = err,
	};
	uint32_t root;

	js->n = 0;
	if (len > JSCAN_MAX_TEXT)
		return jp_fault(
		    &p, JSCAN_NO_MEMORY,
		    jp_fail(&p, 0, "text of %zu bytes is too large", len));
	if (js->shadow_cap < len + 1) {
		char *s = realloc(js->shadow, len + 1);

		if (s == NULL)
			return jp_fault(&p, JSCAN_NO_MEMORY,
			                jp_fail(&p, 0, "out of memory"));
		js->shadow = s;
		js->shadow_cap = len + 1;
	}
	if (jp_value(&p, 0, &root) != 0) {
		js->n = 0;
		return -1;
	}
	jp_ws(&p);
	if (p.pos < len) {
		char buf[16];

		js->n = 0;
		return jp_fail(&p, p.pos, "end of input expected near %s",
		               jp_near(&p, buf, sizeof buf));
	}
	return 0;
}

/* ---- Reading --------------------------------------------------------------
 */

const struct jscan_value *
jscan_first(const struct jscan *js, const struct jscan_value *c)
{
	if (c == NULL || (c->type != JSCAN_ARRAY && c->type != JSCAN_OBJECT) ||
	    c->count == 0)
		return NULL;
	(void)js; /* children follow their container */
	return c + 1;
}

const struct jscan_value *
jscan_next(const struct jscan *js, const struct jscan_value *v)
{
	return v != NULL && v->next != 0 ? &js->v[v->next] : NULL;
}

const struct jscan_value *
jscan_get(const struct jscan *js, const struct jscan_value *o, const char *key,
          size_t klen)
{
	if (!jscan_is(o, JSCAN_OBJECT))
		return NULL;
	for (const struct jscan_value *m = jscan_first(js, o); m != NULL;
	     m = jscan_next(js, m))
		/* The first byte first: most keys differ there. */
		if (m->keylen == klen && (klen == 0 || m->key[0] == key[0]) &&
		    memcmp(m->key, key, klen) == 0)
			return m;
	return NULL;
}

const char *
jscan_get_str(const struct jscan *js, const struct jscan_value *o,
    const char *key)
{
	const struct jscan_value *v = jscan_get(js, o, key, strlen(key));

	return jscan_is(v, JSCAN_STRING) ? v->u.str.s : NULL;
}

const struct jscan_value *
jscan_at(const struct jscan *js, const struct jscan_value *a, size_t i)
{
	const struct jscan_value *e;

	if (!jscan_is(a, JSCAN_ARRAY) || i >= a->count)
		return NULL;
	for (e = jscan_first(js, a); i > 0 && e != NULL; i--)
		e = jscan_next(js, e);
	return e;
}

double
jscan_number(const struct jscan_value *v)
{
	if (jscan_is(v, JSCAN_INTEGER))
		return (double)v->u.i;
	if (jscan_is(v, JSCAN_REAL))
		return v->u.d;
	return 0.0;
}
