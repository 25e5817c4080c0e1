/*
 * The audit log's own canonical serializer (audit_canon.c) against
 * jansson's JSON_COMPACT | JSON_SORT_KEYS: the same bytes for a corpus of
 * awkward values and for thousands of random records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "remediad/audit.h"

#define PREV "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TIME "2026-11-22T13:27:45.078244Z"

/* What jansson writes for the whole record, minus the final brace. */
static char *
reference(uint64_t seq, const char *type, const char *actor,
    const json_t *fields)
{
	json_t *o = json_deep_copy(fields);
	char *s;

	json_object_set_new(o, "seq", json_integer((json_int_t)seq));
	json_object_set_new(o, "time", json_string(TIME));
	json_object_set_new(o, "type", json_string(type));
	json_object_set_new(o, "actor", json_string(actor));
	json_object_set_new(o, "prev", json_string(PREV));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	assert_non_null(s);
	s[strlen(s) - 1] = '\0';
	return s;
}

static void
assert_same(uint64_t seq, const char *type, const char *actor,
    json_t *fields)
{
	struct audit_buf b = {0};
	const char *cause = NULL;
	char *want = reference(seq, type, actor, fields);
	size_t prev_at = 0;

	assert_int_equal(audit_canon_record(&b, seq, TIME, type, actor, PREV,
	    fields, &prev_at, &cause), 0);
	if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
		fail_msg("canonical bytes differ:\n got  %.*s\n want %s",
		    (int)b.len, b.data, want);
	/* Where the writer patches the previous hash in. */
	assert_true(prev_at >= 8 && prev_at + AUDIT_HASH_HEX < b.len);
	assert_memory_equal(b.data + prev_at - 8, "\"prev\":\"", 8);
	assert_memory_equal(b.data + prev_at, PREV, AUDIT_HASH_HEX);
	free(want);
	audit_buf_free(&b);
	json_decref(fields);
}

/*
 * The string writer looks at 16 bytes at a time (8 without SSE2): every
 * byte that must be escaped (and some that must not), at every offset
 * within and across two such blocks and the tail after them.
 */
static void
test_escape_positions(void **state)
{
	static const char *const odd[] = {
	    "\"", "\\", "\n", "\x01", "\x1f", " ", "!", "#", "[", "]",
	    "\x7f", "\xc3\xa9", "\xe2\x80\xa8", "\xf0\x9f\x98\x80",
	};
	char s[64];

	(void)state;
	for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++)
		for (size_t at = 0; at < 40; at++) {
			size_t n = strlen(odd[k]);

			memset(s, 'x', sizeof s);
			memcpy(s + at, odd[k], n);
			s[at + n + 17] = '\0';
			assert_same(at, "t", "a", json_pack("{s:s}", "s", s));
		}
}

/*
 * The string writer copies plain runs 16 bytes at a time and may write
 * past a run's end: it reserves room for that. Each string here is
 * written into a buffer whose capacity is exactly what it reserves, so
 * a write past it is an ASan error. Control bytes (six bytes each) are
 * the worst case.
 */
static void
test_exact_room(void **state)
{
	static const char fill[] = {'\x01', '"', 'x', '\x1f'};
	char s[64];

	(void)state;
	for (size_t f = 0; f < sizeof fill; f++)
		for (size_t n = 1; n < 50; n++) {
			struct audit_buf b = {0};
			json_t *v;
			char *want;
			size_t room = 6 * n + 18, pre = 5;

			memset(s, fill[f], n);
			s[n] = '\0';
			/* Every other byte plain: runs end all over a block. */
			if (f == 2)
				for (size_t i = 0; i < n; i += 2)
					s[i] = '\x02';
			v = json_string(s);
			want = json_dumps(v, JSON_ENCODE_ANY);
			b.cap = pre + room;
			b.data = malloc(b.cap);
			assert_non_null(b.data);
			memset(b.data, '.', pre);
			b.len = pre;
			assert_int_equal(audit_canon_value(&b, v), 0);
			assert_int_equal(b.cap, pre + room); /* not grown */
			assert_int_equal(b.len, pre + strlen(want));
			assert_memory_equal(b.data + pre, want, strlen(want));
			free(want);
			json_decref(v);
			audit_buf_free(&b);
		}
}

static void
test_corpus(void **state)
{
	char ctl[64];

	(void)state;
	/* Every control byte, quote, backslash, slash and DEL. */
	for (int i = 1; i < 32; i++)
		ctl[i - 1] = (char)i;
	memcpy(ctl + 31, "\"\\/\x7f", 5);
	assert_same(1, "t", "system", json_pack("{s:s}", "s", ctl));
	assert_same(2, "t", "system", json_pack("{s:s%}", "nul", "a\0b", 3));
	assert_same(3, "alert.received", "user:z\xc3\xbcrich(uid=1)",
	    json_pack("{s:s, s:s, s:s}", "two", "Z\xc3\xbcrich", "three",
		"\xe2\x82\xac", "four", "\xf0\x9f\x98\x80"));
	assert_same(4, "t", "a", json_pack("{s:I, s:I, s:I, s:I}", "zero",
	    (json_int_t)0, "neg", (json_int_t)-1, "min", (json_int_t)INT64_MIN,
	    "max", (json_int_t)INT64_MAX));
	assert_same(5, "t", "a", json_pack("{s:f, s:f, s:f, s:f}", "half",
	    0.5, "big", 1e300, "negzero", -0.0, "third", 1.0 / 3));
	assert_same(6, "t", "a", json_pack("{s:b, s:b, s:n}", "yes", 1, "no",
	    0, "nothing"));
	assert_same(7, "t", "a", json_pack("{s:{s:i, s:i, s:{s:s}}, s:[i, s, "
	    "{s:i, s:i}, []], s:{}}", "obj", "z", 1, "a", 2, "deep", "k", "v",
	    "arr", 1, "x", "b", 1, "a", 2, "empty"));
	/* Keys that sort right around the reserved ones. */
	assert_same(8, "t", "a", json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, "
	    "s:i, s:i, s:i, s:i, s:i, s:i}", "a", 1, "actor_x", 2, "actoq", 3,
	    "prev0", 4, "pre", 5, "s", 6, "seq2", 7, "tim", 8, "type0", 9,
	    "z", 10, "Z", 11, "\xc3\xa9t\xc3\xa9", 12));
	assert_same(9, "t", "a", json_pack("{s:s, s:s}", "a\"b", "q", "c\\d",
	    "\n"));
	/* Keys alike in their first eight bytes, or prefixes of each other. */
	assert_same(11, "t", "a", json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, "
	    "s:i, s:i}", "escalate_value", 1, "escalate_key", 2, "escalate",
	    3, "escalat", 4, "escalate_", 5, "escalate_keys", 6,
	    "escalate\xc3\xa9", 7, "escalate\x7f", 8));
	assert_same(10, "t", "a", json_object());
	assert_same(UINT64_C(9007199254740993), "x.y", "playbook:p", json_object());
}

static void
test_many_keys(void **state)
{
	json_t *o = json_object();
	char key[16];

	(void)state;
	/* More keys than fit on the stack: the heap path. */
	for (int i = 100; i > 0; i--) {
		snprintf(key, sizeof key, "k%03d", i * 7 % 101);
		json_object_set_new(o, key, json_integer(i));
	}
	assert_same(11, "t", "a", o);
}

/* A small deterministic PRNG, so a failure replays. */
static uint64_t rng = 88172645463325252ULL;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
random_string(char *buf, size_t max)
{
	static const char *const pieces[] = {"a", "Z", "\"", "\\", "/", "\n",
	    "\x01", "\x1f", " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
	    "\x7f", "actor", "seq", "0", "-", "{", "}"};
	size_t len = 0, n = next() % 12;

	for (size_t i = 0; i < n; i++) {
		const char *p = pieces[next() % (sizeof pieces / sizeof *pieces)];
		size_t l = strlen(p);
		if (len + l + 1 > max)
			break;
		memcpy(buf + len, p, l);
		len += l;
	}
	buf[len] = '\0';
}

static json_t *
random_value(int depth)
{
	char s[128];
	json_t *v;

	switch (next() % (depth > 2 ? 6 : 8)) {
	case 0:
		random_string(s, sizeof s);
		return json_string(s);
	case 1:
		return json_integer((json_int_t)next());
	case 2:
		return json_real((double)(int64_t)next() / 1000.0);
	case 3:
		return json_true();
	case 4:
		return json_false();
	case 5:
		return json_null();
	case 6:
		v = json_object();
		for (int i = (int)(next() % 5); i > 0; i--) {
			random_string(s, sizeof s);
			json_object_set_new(v, s, random_value(depth + 1));
		}
		return v;
	default:
		v = json_array();
		for (int i = (int)(next() % 5); i > 0; i--)
			json_array_append_new(v, random_value(depth + 1));
		return v;
	}
}

static void
test_random(void **state)
{
	static const char *const reserved[] = {"seq", "time", "type", "actor",
	    "prev", "hash"};
	char key[128];

	(void)state;
	for (int iter = 0; iter < 2000; iter++) {
		json_t *o = json_object();
		for (int i = (int)(next() % 40); i > 0; i--) {
			random_string(key, sizeof key);
			int clash = 0;
			for (size_t r = 0; r < 6; r++)
				clash |= strcmp(key, reserved[r]) == 0;
			if (!clash)
				json_object_set_new(o, key, random_value(0));
		}
		assert_same((uint64_t)iter + 1, "rand.om", "user:x(uid=2)", o);
	}
}

static void
test_refusals(void **state)
{
	struct audit_buf b = {0};
	const char *cause = NULL;
	json_t *o = json_object();

	(void)state;
	assert_int_equal(audit_buf_put(&b, "keep", 4), 0);
	assert_int_equal(audit_canon_record(&b, 1, TIME, "bad\xff", "a", PREV,
	    o, NULL, &cause), -1);
	assert_non_null(cause);
	assert_int_equal(audit_canon_record(&b, 1, TIME, "t", "\xc0\x80", PREV,
	    o, NULL, &cause), -1);
	assert_int_equal(audit_canon_record(&b, 1, TIME, "t",
	    "\xed\xa0\x80", PREV, o, NULL, &cause), -1); /* a surrogate */
	/* The buffer is left as it was. */
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "keep", 4);
	json_decref(o);
	audit_buf_free(&b);
}

/*
 * Members given apart from a fields object (the alert.received path): the
 * same bytes as the object that holds them all, strings given as bytes
 * included; a key given twice is refused.
 */
static void
test_members(void **state)
{
	static const char raw[] = "{\"a\":\"q\\\"x\",\"n\":[1,2]}\n\t";
	json_t *fields = json_pack("{s:s, s:i}", "title", "t", "severity", 70);
	json_t *kafka = json_pack("{s:s, s:i, s:i}", "topic", "alerts",
	    "partition", 3, "offset", 99);
	json_t *id = json_string("a-1");
	/* Verbatim members are copied as the canonical text they are. */
	struct audit_member more[] = {
	    {"raw", NULL, raw, sizeof raw - 1, 0},
	    {"kafka", kafka, NULL, 0, 0},
	    {"alert", id, NULL, 0, 0},
	    {"zz", NULL, "", 0, 0},
	    {"num", NULL, "-42", 3, 1},
	    {"where", NULL, "{\"a\":[1,\"x\"],\"b\":null}", 22, 1},
	};
	struct audit_buf b = {0};
	const char *cause = NULL;
	size_t prev_at = 0;

	(void)state;
	assert_int_equal(audit_canon_record_with(&b, 5, TIME, "alert.received",
	    "system", PREV, fields, more, 6, &prev_at, &cause), 0);
	json_t *all = json_deep_copy(fields);
	json_object_set_new(all, "raw", json_stringn(raw, sizeof raw - 1));
	json_object_set(all, "kafka", kafka);
	json_object_set(all, "alert", id);
	json_object_set_new(all, "zz", json_string(""));
	json_object_set_new(all, "num", json_integer(-42));
	json_object_set_new(all, "where", json_pack("{s:[i,s], s:n}", "a", 1,
	    "x", "b"));
	char *want = reference(5, "alert.received", "system", all);
	if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
		fail_msg("canonical bytes differ:\n got  %.*s\n want %s",
		    (int)b.len, b.data, want);
	assert_memory_equal(b.data + prev_at, PREV, AUDIT_HASH_HEX);
	free(want);
	json_decref(all);

	/* The same key in the object and among the members, or twice. */
	size_t len = b.len;
	struct audit_member twice[] = {{"title", id, NULL, 0, 0}};
	assert_int_equal(audit_canon_record_with(&b, 6, TIME, "t", "a", PREV,
	    fields, twice, 1, NULL, &cause), -1);
	assert_string_equal(cause, "record fields repeat a key");
	struct audit_member dup[] = {{"k", id, NULL, 0, 0}, {"k", NULL, "", 0, 0}};
	assert_int_equal(audit_canon_record_with(&b, 6, TIME, "t", "a", PREV,
	    NULL, dup, 2, NULL, &cause), -1);
	struct audit_member resv[] = {{"seq", id, NULL, 0, 0}};
	assert_int_equal(audit_canon_record_with(&b, 6, TIME, "t", "a", PREV,
	    NULL, resv, 1, NULL, &cause), -1);
	assert_string_equal(cause, "record fields use a reserved key");
	assert_int_equal(b.len, len);

	audit_buf_free(&b);
	json_decref(fields);
	json_decref(kafka);
	json_decref(id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_escape_positions),
	    cmocka_unit_test(test_exact_room),
	    cmocka_unit_test(test_many_keys),
	    cmocka_unit_test(test_random),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_members),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
