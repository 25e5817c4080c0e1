/*
 * The canonical serialization of an audit record, written directly into
 * the batch buffer: sorted keys, compact, UTF-8 as is, the same bytes as
 * jansson's JSON_COMPACT | JSON_SORT_KEYS (tests/unit/test_audit_canon.c
 * holds it to that). The generic dump costs most of an append; this one
 * copies strings eight plain bytes at a time and sorts each object's keys
 * once, leaving only reals (and nesting past CANON_MAX_DEPTH) to jansson.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remediad/audit.h"
#include "remediad/growbuf.h"
#include "remediad/jsonbytes.h"
#include "remediad/utf8.h"

static int canon_reserve(struct audit_buf *b, size_t n);

int
audit_buf_grow_put(struct audit_buf *b, const void *p, size_t n)
{
	if (canon_reserve(b, n) == -1)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void
audit_buf_free(struct audit_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

/*
 * Makes room for n more bytes without writing them: the string writer
 * reserves its worst case once instead of appending piece by piece.
 */
static int
canon_reserve(struct audit_buf *b, size_t n)
{
	if (n > SIZE_MAX - b->len)
		return -1;
	return growbuf_reserve(&b->data, &b->cap, b->len + n, 65536);
}

/* The escape of a special byte (json_special_byte); returns the end. */
static inline char *
canon_escape(char *out, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";

	*out++ = '\\';
	switch (c) {
	case '"': *out++ = '"'; break;
	case '\\': *out++ = '\\'; break;
	case '\b': *out++ = 'b'; break;
	case '\f': *out++ = 'f'; break;
	case '\n': *out++ = 'n'; break;
	case '\r': *out++ = 'r'; break;
	case '\t': *out++ = 't'; break;
	default:
		/* jansson writes \u with upper-case hex digits. */
		*out++ = 'u';
		*out++ = '0';
		*out++ = '0';
		*out++ = hex[c >> 4];
		*out++ = hex[c & 15];
		break;
	}
	return out;
}

/*
 * A JSON string: copies bytes, escapes '"', '\\' and control bytes. A
 * block of 16 is copied whole; one that holds special bytes (a quote
 * every few bytes, in a raw message) is written as its plain runs, each
 * copied 16 bytes at a time, with the escape after each: one step per
 * special byte found by its mask, not one per byte. The runs are read
 * from the text itself while 16 bytes past the block remain, else from
 * a padded copy of the block. (Always from the copy, each run's load
 * straddled the copy's store, which the CPU cannot forward: a stall per
 * quote, the largest single cost here on a raw message.)
 */
static int
canon_string(struct audit_buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	unsigned char blk[32] = {0}; /* a block, then room to over-copy */
	char *out;

	/*
	 * At worst every byte becomes \u00XX, plus the quotes, plus 16 that
	 * a run may be over-copied by: whatever came before, the room left
	 * is at least 6 per byte left + 17.
	 */
	if (len > (SIZE_MAX - 18) / 6)
		return -1;
	if (6 * len + 18 > b->cap - b->len &&
	    canon_reserve(b, 6 * len + 18) == -1)
		return -1;
	out = b->data + b->len;
	*out++ = '"';
	for (; end - p >= 16; p += 16) {
		unsigned m = json_special16(p, 0);
		if (m == 0) {
			memcpy(out, p, 16);
			out += 16;
			continue;
		}
		const unsigned char *src = p;
		if (end - p < 32) {
			memcpy(blk, p, 16);
			src = blk;
		}
		unsigned from = 0;
		do {
			unsigned j = (unsigned)__builtin_ctz(m);
			memcpy(out, src + from, 16);
			out += j - from;
			if (src[j] < 0x20)
				out = canon_escape(out, src[j]);
			else {
				/* '"' or '\\': a backslash first. */
				out[0] = '\\';
				out[1] = (char)src[j];
				out += 2;
			}
			from = j + 1;
			m &= m - 1;
		} while (m != 0);
		memcpy(out, src + from, 16);
		out += 16 - from;
	}
	for (; p < end; p++)
		if (json_special_byte(*p, 0))
			out = canon_escape(out, *p);
		else
			*out++ = (char)*p;
	*out++ = '"';
	b->len = (size_t)(out - b->data);
	return 0;
}

int
audit_canon_string(struct audit_buf *b, const char *s, size_t len)
{
	return canon_string(b, s, len);
}

char *
audit_int_text(char out[24], int64_t v)
{
	char *p = out + 24;
	/* Negated as unsigned so INT64_MIN works. */
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v
				     : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	return p;
}

int
audit_canon_int(struct audit_buf *b, int64_t v)
{
	char buf[24], *p = audit_int_text(buf, v);

	return audit_buf_put(b, p, (size_t)(buf + sizeof buf - p));
}

static int
canon_dump_cb(const char *data, size_t len, void *arg)
{
	return audit_buf_put(arg, data, len);
}

int
audit_canon_real(struct audit_buf *b, double d)
{
	json_t *v = json_real(d);
	int r = v != NULL ? audit_canon_value(b, v) : -1;

	json_decref(v);
	return r;
}

static int canon_members(struct audit_buf *b, const json_t *o, int depth);
static int canon_value(struct audit_buf *b, const json_t *v, int depth);

/* Deeper than this, jansson's dump takes over (and its own limits). */
#define CANON_MAX_DEPTH 32

static int
canon_array(struct audit_buf *b, const json_t *a, int depth)
{
	size_t n = json_array_size(a);

	if (audit_buf_put(b, "[", 1) == -1)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((i > 0 && audit_buf_put(b, ",", 1) == -1) ||
		    canon_value(b, json_array_get(a, i), depth + 1) == -1)
			return -1;
	return audit_buf_put(b, "]", 1);
}

static int
canon_value(struct audit_buf *b, const json_t *v, int depth)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return canon_string(b, json_string_value(v),
		    json_string_length(v));
	case JSON_INTEGER:
		return audit_canon_int(b, json_integer_value(v));
	case JSON_TRUE:
		return audit_buf_put(b, "true", 4);
	case JSON_FALSE:
		return audit_buf_put(b, "false", 5);
	case JSON_NULL:
		return audit_buf_put(b, "null", 4);
	case JSON_OBJECT:
		if (depth < CANON_MAX_DEPTH)
			return canon_members(b, v, depth + 1);
		break;
	case JSON_ARRAY:
		if (depth < CANON_MAX_DEPTH)
			return canon_array(b, v, depth);
		break;
	default:
		break;
	}
	/* Reals and very deep values are rare: jansson's own dump. */
	return json_dump_callback(v, canon_dump_cb, b,
	    JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

int
audit_canon_value(struct audit_buf *b, const json_t *v)
{
	size_t start = b->len;

	if (canon_value(b, v, 0) == -1) {
		b->len = start;
		return -1;
	}
	return 0;
}

struct canon_member {
	const char *key;
	size_t klen;
	uint64_t prefix; /* the first 8 bytes, big-endian, zero-padded */
	const json_t *value; /* NULL: the string str */
	const char *str;
	size_t slen;
	int verbatim; /* str is canonical JSON text */
};

static uint64_t
canon_prefix(const char *key, size_t klen)
{
	unsigned char p[8] = {0};

	memcpy(p, key, klen < 8 ? klen : 8);
	return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 |
	    (uint64_t)p[2] << 40 | (uint64_t)p[3] << 32 |
	    (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
	    (uint64_t)p[6] << 8 | (uint64_t)p[7];
}

/* Byte order, the shorter first on a tie (as jansson sorts keys). */
static int
canon_member_order(const struct canon_member *a, const struct canon_member *b)
{
	if (a->prefix != b->prefix)
		return a->prefix < b->prefix ? -1 : 1;
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int c = n > 8 ? memcmp(a->key + 8, b->key + 8, n - 8) : 0;
	if (c != 0)
		return c;
	return a->klen < b->klen ? -1 : a->klen > b->klen;
}

static int
canon_member_cmp(const void *a, const void *b)
{
	return canon_member_order(a, b);
}

/*
 * The members of o (NULL: none) and the nmore of more, sorted by key, into
 * *keys (stack, or malloc'ed when more than nstack); -1 out of memory. The
 * caller frees *keys if it is not stack.
 */
static int
canon_sorted_with(const json_t *o, const struct audit_member *more,
    size_t nmore, struct canon_member *stack, size_t nstack,
    struct canon_member **keys, size_t *nk)
{
	size_t n = (o != NULL ? json_object_size(o) : 0) + nmore;

	*keys = stack;
	*nk = 0;
	if (n > nstack && (*keys = malloc(n * sizeof **keys)) == NULL)
		return -1;
	for (void *it = o != NULL ? json_object_iter((json_t *)o) : NULL;
	     it != NULL && *nk < n;
	     it = json_object_iter_next((json_t *)o, it)) {
		struct canon_member *m = &(*keys)[(*nk)++];
		m->key = json_object_iter_key(it);
		m->klen = json_object_iter_key_len(it);
		m->prefix = canon_prefix(m->key, m->klen);
		m->value = json_object_iter_value(it);
		m->str = NULL;
		m->slen = 0;
		m->verbatim = 0;
	}
	for (size_t i = 0; i < nmore; i++) {
		struct canon_member *m = &(*keys)[(*nk)++];
		m->key = more[i].key;
		m->klen = strlen(more[i].key);
		m->prefix = canon_prefix(m->key, m->klen);
		m->value = more[i].value;
		m->str = more[i].str;
		m->slen = more[i].slen;
		m->verbatim = more[i].verbatim;
	}
	if (*nk > 16) {
		qsort(*keys, *nk, sizeof **keys, canon_member_cmp);
		return 0;
	}
	/* A record has a dozen keys: insertion sort beats qsort's setup. */
	for (size_t i = 1; i < *nk; i++) {
		struct canon_member m = (*keys)[i];
		size_t j = i;

		for (; j > 0 && canon_member_order(&(*keys)[j - 1], &m) > 0;
		     j--)
			(*keys)[j] = (*keys)[j - 1];
		(*keys)[j] = m;
	}
	return 0;
}

static int
canon_sorted(const json_t *o, struct canon_member *stack, size_t nstack,
    struct canon_member **keys, size_t *nk)
{
	return canon_sorted_with(o, NULL, 0, stack, nstack, keys, nk);
}

static int
canon_members(struct audit_buf *b, const json_t *o, int depth)
{
	struct canon_member stack[16], *keys;
	size_t nk;
	int rc = -1;

	if (canon_sorted(o, stack, 16, &keys, &nk) == -1)
		return -1;
	if (audit_buf_put(b, "{", 1) == -1)
		goto out;
	for (size_t i = 0; i < nk; i++)
		if ((i > 0 && audit_buf_put(b, ",", 1) == -1) ||
		    canon_string(b, keys[i].key, keys[i].klen) == -1 ||
		    audit_buf_put(b, ":", 1) == -1 ||
		    canon_value(b, keys[i].value, depth) == -1)
			goto out;
	rc = audit_buf_put(b, "}", 1);
out:
	if (keys != stack)
		free(keys);
	return rc;
}

/*
 * The reserved members, in sorted order, then "hash" (which ends the line,
 * so it is not merged in, but no field may use it either).
 */
enum { R_ACTOR, R_PREV, R_SEQ, R_TIME, R_TYPE, R_N, R_HASH = R_N };
/* As canon_prefix() makes them, spelled out: no work per record. */
#define CANON_P(a, b, c, d, e)                                              \
	((uint64_t)(a) << 56 | (uint64_t)(b) << 48 | (uint64_t)(c) << 40 |  \
	    (uint64_t)(d) << 32 | (uint64_t)(e) << 24)
static const struct canon_member reserved[R_N + 1] = {
    {"actor", 5, CANON_P('a', 'c', 't', 'o', 'r'), NULL, NULL, 0, 0},
    {"prev", 4, CANON_P('p', 'r', 'e', 'v', 0), NULL, NULL, 0, 0},
    {"seq", 3, CANON_P('s', 'e', 'q', 0, 0), NULL, NULL, 0, 0},
    {"time", 4, CANON_P('t', 'i', 'm', 'e', 0), NULL, NULL, 0, 0},
    {"type", 4, CANON_P('t', 'y', 'p', 'e', 0), NULL, NULL, 0, 0},
    {"hash", 4, CANON_P('h', 'a', 's', 'h', 0), NULL, NULL, 0, 0},
};

/* Keys of eight bytes at most are equal when length and prefix are. */
static int
canon_reserved(const struct canon_member *m, const struct canon_member *rk)
{
	for (size_t r = 0; r <= R_HASH; r++)
		if (m->klen == rk[r].klen && m->prefix == rk[r].prefix)
			return 1;
	return 0;
}

int
audit_canon_record(struct audit_buf *b, uint64_t seq, const char *time,
    const char *type, const char *actor, const char *prev,
    const json_t *fields, size_t *prev_at, const char **cause)
{
	return audit_canon_record_with(b, seq, time, type, actor, prev, fields,
	    NULL, 0, prev_at, cause);
}

int
audit_canon_record_with(struct audit_buf *b, uint64_t seq, const char *time,
    const char *type, const char *actor, const char *prev,
    const json_t *fields, const struct audit_member *more, size_t nmore,
    size_t *prev_at, const char **cause)
{
	struct canon_member stackkeys[32], *keys = stackkeys;
	const struct canon_member *rk = reserved;
	size_t nk = 0, r = 0, start = b->len;
	int first = 1, rc = -1;

	if (!utf8_valid(type, strlen(type), 0) ||
	    !utf8_valid(actor, strlen(actor), 0)) {
		*cause = "type or actor is not valid UTF-8";
		return -1;
	}
	if (canon_sorted_with(fields, more, nmore, stackkeys, 32, &keys,
		&nk) == -1) {
		*cause = "out of memory";
		return -1;
	}
	for (size_t i = 0; i < nk; i++) {
		if (canon_reserved(&keys[i], rk)) {
			*cause = "record fields use a reserved key";
			goto out;
		}
		/* Sorted: a key given twice is next to itself. */
		if (i > 0 && canon_member_order(&keys[i - 1], &keys[i]) == 0) {
			*cause = "record fields repeat a key";
			goto out;
		}
	}
	*cause = "out of memory";
	if (audit_buf_put(b, "{", 1) == -1)
		goto out;
	/* Merge the sorted field keys with the sorted reserved ones. */
	for (size_t i = 0; i < nk || r < R_N; first = 0) {
		if (!first && audit_buf_put(b, ",", 1) == -1)
			goto out;
		if (r < R_N &&
		    (i == nk || canon_member_order(&rk[r], &keys[i]) < 0)) {
			int e = canon_string(b, rk[r].key, rk[r].klen) == -1 ||
			    audit_buf_put(b, ":", 1) == -1;
			switch (r) {
			case R_ACTOR:
				e = e || canon_string(b, actor, strlen(actor));
				break;
			case R_PREV:
				/* Past its opening quote: where it is patched. */
				if (prev_at != NULL)
					*prev_at = b->len + 1;
				e = e || canon_string(b, prev, AUDIT_HASH_HEX);
				break;
			case R_SEQ:
				e = e || audit_canon_int(b, (int64_t)seq);
				break;
			case R_TIME:
				e = e || canon_string(b, time, strlen(time));
				break;
			case R_TYPE:
				e = e || canon_string(b, type, strlen(type));
				break;
			}
			if (e)
				goto out;
			r++;
			continue;
		}
		if (canon_string(b, keys[i].key, keys[i].klen) == -1 ||
		    audit_buf_put(b, ":", 1) == -1 ||
		    (keys[i].value != NULL ? canon_value(b, keys[i].value, 0) :
		     keys[i].verbatim ?
			audit_buf_put(b, keys[i].str, keys[i].slen) :
			canon_string(b, keys[i].str, keys[i].slen)) == -1) {
			*cause = "cannot serialize the record";
			goto out;
		}
		i++;
	}
	rc = 0;
out:
	if (rc == -1)
		b->len = start;
	if (keys != stackkeys)
		free(keys);
	return rc;
}
