/*
 * Unit tests for daemon/proto.c: line framing (partial lines, several lines
 * per read, CRLF, oversize), request validation, replies, encoding, roles.
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

#include "remediad/proto.h"

#define SMALL_MAX 16

/* ---- Framer ------------------------------------------------------------ */

static void
feed(struct proto_framer *f, const char *s)
{
	assert_int_equal(proto_framer_feed(f, s, strlen(s)), 0);
}

/* Expects the next line to be `want`, NUL-terminated at its length. */
static void
expect_line(struct proto_framer *f, const char *want)
{
	char *line = NULL;
	size_t len = 0;

	assert_int_equal(proto_framer_next(f, &line, &len), 1);
	assert_non_null(line);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(line, want, len);
	assert_int_equal(line[len], '\0');
}

static void
expect_no_line(struct proto_framer *f)
{
	char *line = NULL;
	size_t len = 0;

	assert_int_equal(proto_framer_next(f, &line, &len), 0);
}

static void
expect_oversize(struct proto_framer *f)
{
	char *line = NULL;
	size_t len = 0;

	assert_int_equal(proto_framer_next(f, &line, &len), -1);
}

static void
test_framer_empty(void **state)
{
	struct proto_framer f;

	proto_framer_init(&f, PROTO_MAX_LINE);
	assert_int_equal(proto_framer_pending(&f), 0);
	expect_no_line(&f);
	assert_int_equal(proto_framer_feed(&f, "", 0), 0);
	expect_no_line(&f);
	assert_int_equal(proto_framer_pending(&f), 0);
	proto_framer_free(&f);
}

static void
test_framer_partial_line(void **state)
{
	struct proto_framer f;

	proto_framer_init(&f, PROTO_MAX_LINE);
	feed(&f, "{\"v\":1,");
	expect_no_line(&f);
	assert_int_equal(proto_framer_pending(&f), 7);
	feed(&f, "\"cmd\":");
	expect_no_line(&f);
	assert_int_equal(proto_framer_pending(&f), 13);
	feed(&f, "\"status\"}\n");
	expect_line(&f, "{\"v\":1,\"cmd\":\"status\"}");
	assert_int_equal(proto_framer_pending(&f), 0);
	expect_no_line(&f);
	proto_framer_free(&f);
}

static void
test_framer_two_lines_one_feed(void **state)
{
	struct proto_framer f;

	proto_framer_init(&f, PROTO_MAX_LINE);
	feed(&f, "{\"v\":1,\"id\":1,\"cmd\":\"a\"}\n{\"v\":1,\"id\":2,\"cmd\":\"b\"}\n");
	expect_line(&f, "{\"v\":1,\"id\":1,\"cmd\":\"a\"}");
	assert_int_equal(proto_framer_pending(&f), 25);
	expect_line(&f, "{\"v\":1,\"id\":2,\"cmd\":\"b\"}");
	assert_int_equal(proto_framer_pending(&f), 0);
	expect_no_line(&f);
	proto_framer_free(&f);
}

static void
test_framer_line_and_partial(void **state)
{
	struct proto_framer f;

	proto_framer_init(&f, PROTO_MAX_LINE);
	feed(&f, "first\nsec");
	expect_line(&f, "first");
	expect_no_line(&f);
	assert_int_equal(proto_framer_pending(&f), 3);
	feed(&f, "ond\nthi");
	expect_line(&f, "second");
	expect_no_line(&f);
	assert_int_equal(proto_framer_pending(&f), 3);
	feed(&f, "rd\n");
	expect_line(&f, "third");
	assert_int_equal(proto_framer_pending(&f), 0);
	proto_framer_free(&f);
}

static void
test_framer_crlf(void **state)
{
	struct proto_framer f;

	proto_framer_init(&f, PROTO_MAX_LINE);
	feed(&f, "abc\r\n\r\na\rb\n");
	expect_line(&f, "abc");
	/* A bare CRLF is an empty line. */
	expect_line(&f, "");
	/* Only the CR right before the newline goes. */
	expect_line(&f, "a\rb");
	expect_no_line(&f);
	/* A CR split from its LF across feeds is still stripped. */
	feed(&f, "xyz\r");
	expect_no_line(&f);
	feed(&f, "\n");
	expect_line(&f, "xyz");
	proto_framer_free(&f);
}

static void
test_framer_empty_lines(void **state)
{
	struct proto_framer f;

	proto_framer_init(&f, PROTO_MAX_LINE);
	feed(&f, "\n\nx\n");
	expect_line(&f, "");
	expect_line(&f, "");
	expect_line(&f, "x");
	expect_no_line(&f);
	proto_framer_free(&f);
}

static void
test_framer_exact_max(void **state)
{
	struct proto_framer f;
	char line[SMALL_MAX + 1];

	memset(line, 'x', SMALL_MAX);
	line[SMALL_MAX] = '\0';

	/* Whole, in one feed. */
	proto_framer_init(&f, SMALL_MAX);
	feed(&f, line);
	feed(&f, "\n");
	expect_line(&f, line);
	assert_int_equal(proto_framer_pending(&f), 0);
	proto_framer_free(&f);

	/* max bytes still waiting for their newline is not an error. */
	proto_framer_init(&f, SMALL_MAX);
	feed(&f, line);
	expect_no_line(&f);
	assert_int_equal(proto_framer_pending(&f), SMALL_MAX);
	feed(&f, "\nok\n");
	expect_line(&f, line);
	expect_line(&f, "ok");
	proto_framer_free(&f);
}

static void
test_framer_oversize(void **state)
{
	struct proto_framer f;
	char line[SMALL_MAX + 2];

	memset(line, 'x', SMALL_MAX + 1);
	line[SMALL_MAX + 1] = '\0';

	/* max + 1 bytes and no newline yet. */
	proto_framer_init(&f, SMALL_MAX);
	feed(&f, line);
	expect_oversize(&f);
	proto_framer_free(&f);

	/* max + 1 bytes with their newline. */
	proto_framer_init(&f, SMALL_MAX);
	feed(&f, line);
	feed(&f, "\n");
	expect_oversize(&f);
	proto_framer_free(&f);

	/* Growing past max over several feeds. */
	proto_framer_init(&f, SMALL_MAX);
	feed(&f, "0123456789");
	expect_no_line(&f);
	feed(&f, "0123456");
	expect_oversize(&f);
	proto_framer_free(&f);

	/* A good line first, then an oversize one in the same read. */
	proto_framer_init(&f, SMALL_MAX);
	feed(&f, "ok\n");
	feed(&f, line);
	expect_line(&f, "ok");
	expect_oversize(&f);
	/* The stream cannot be resynced: it stays an error. */
	feed(&f, "\nshort\n");
	expect_oversize(&f);
	proto_framer_free(&f);
}

static void
test_framer_large_line(void **state)
{
	struct proto_framer f;
	size_t n = 3 * 4096 + 123;
	char *big = malloc(n + 1);

	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	big[n] = '\0';

	/* Fed in odd chunks so the buffer grows and compacts. */
	proto_framer_init(&f, PROTO_MAX_LINE);
	feed(&f, "head\n");
	for (size_t off = 0; off < n; off += 1000) {
		size_t chunk = n - off < 1000 ? n - off : 1000;
		assert_int_equal(proto_framer_feed(&f, big + off, chunk), 0);
		if (off == 0)
			expect_line(&f, "head");
		expect_no_line(&f);
	}
	assert_int_equal(proto_framer_pending(&f), n);
	feed(&f, "\ntail\n");
	expect_line(&f, big);
	expect_line(&f, "tail");
	expect_no_line(&f);
	proto_framer_free(&f);
	free(big);
}

static void
test_framer_stream(void **state)
{
	struct proto_framer f;
	char stream[16384], want[32];
	size_t len = 0, off = 0, got = 0;
	char *line;
	size_t llen;
	int r;

	for (int i = 0; i < 1000; i++) {
		int n = snprintf(stream + len, sizeof stream - len,
		    "line-%d\n", i);
		assert_true(n > 0 && (size_t)n < sizeof stream - len);
		len += (size_t)n;
	}
	/* Feed 7 bytes at a time, draining after each feed. */
	proto_framer_init(&f, 32);
	while (off < len) {
		size_t chunk = len - off < 7 ? len - off : 7;
		assert_int_equal(proto_framer_feed(&f, stream + off, chunk), 0);
		off += chunk;
		while ((r = proto_framer_next(&f, &line, &llen)) == 1) {
			snprintf(want, sizeof want, "line-%zu", got);
			assert_string_equal(line, want);
			assert_int_equal(llen, strlen(want));
			got++;
		}
		assert_int_equal(r, 0);
	}
	assert_int_equal(got, 1000);
	assert_int_equal(proto_framer_pending(&f), 0);
	proto_framer_free(&f);
}

/* ---- Requests ---------------------------------------------------------- */

/* Expects `line` to be refused with `code` and a message naming `what`. */
static void
expect_bad(const char *line, size_t len, const char *code, const char *what)
{
	struct proto_request req;
	struct proto_error err;

	memset(&err, 0, sizeof err);
	if (proto_request_parse(line, len, &req, &err) != -1) {
		proto_request_clear(&req);
		fail_msg("request %s accepted", line);
	}
	proto_request_clear(&req);
	if (err.code == NULL || strcmp(err.code, code) != 0)
		fail_msg("request %s: code %s, want %s", line,
		    err.code ? err.code : "(null)", code);
	if (strstr(err.message, what) == NULL)
		fail_msg("request %s: message \"%s\" lacks \"%s\"", line,
		    err.message, what);
}

static void
expect_bad_str(const char *line, const char *code, const char *what)
{
	expect_bad(line, strlen(line), code, what);
}

static void
test_request_valid(void **state)
{
	const char *line = "{\"v\":1,\"id\":7,\"cmd\":\"status\",\"args\":"
			   "{\"verbose\":true,\"n\":3}}";
	struct proto_request req;
	struct proto_error err;

	assert_int_equal(proto_request_parse(line, strlen(line), &req, &err), 0);
	assert_non_null(req.root);
	assert_string_equal(req.cmd, "status");
	assert_true(json_is_integer(req.id));
	assert_int_equal(json_integer_value(req.id), 7);
	assert_true(json_is_object(req.args));
	assert_int_equal(json_object_size(req.args), 2);
	assert_true(json_is_true(json_object_get(req.args, "verbose")));
	assert_int_equal(json_integer_value(json_object_get(req.args, "n")), 3);
	proto_request_clear(&req);
	assert_null(req.root);
	assert_null(req.cmd);
}

static void
test_request_defaults(void **state)
{
	const char *line = "{\"cmd\":\"status\",\"v\":1}";
	const char *line2 = "{\"v\":1,\"id\":\"abc\",\"cmd\":\"x\",\"args\":null}";
	struct proto_request req;
	struct proto_error err;

	/* No id: JSON null. No args: an empty object. */
	assert_int_equal(proto_request_parse(line, strlen(line), &req, &err), 0);
	assert_string_equal(req.cmd, "status");
	assert_non_null(req.id);
	assert_true(json_is_null(req.id));
	assert_non_null(req.args);
	assert_true(json_is_object(req.args));
	assert_int_equal(json_object_size(req.args), 0);
	proto_request_clear(&req);

	/* A string id; args null counts as absent. */
	assert_int_equal(proto_request_parse(line2, strlen(line2), &req, &err),
	    0);
	assert_string_equal(json_string_value(req.id), "abc");
	assert_true(json_is_object(req.args));
	assert_int_equal(json_object_size(req.args), 0);
	proto_request_clear(&req);
}

static void
test_request_not_json(void **state)
{
	static const char nul[] = "{\"v\":1,\"cmd\":\"a\0b\"}";

	expect_bad_str("", PROTO_E_BAD_REQUEST, "invalid JSON");
	expect_bad_str("{\"v\":1,", PROTO_E_BAD_REQUEST, "invalid JSON");
	expect_bad_str("status", PROTO_E_BAD_REQUEST, "invalid JSON");
	/* Two objects on one line, or trailing garbage. */
	expect_bad_str("{\"v\":1,\"cmd\":\"a\"}{\"v\":1,\"cmd\":\"b\"}",
	    PROTO_E_BAD_REQUEST, "invalid JSON");
	expect_bad_str("{\"v\":1,\"cmd\":\"a\"} x", PROTO_E_BAD_REQUEST,
	    "invalid JSON");
	/* A NUL byte inside the line. */
	expect_bad(nul, sizeof nul - 1, PROTO_E_BAD_REQUEST, "invalid JSON");
}

static void
test_request_bad_utf8(void **state)
{
	/* A lone 0xff, an overlong '/', a UTF-16 surrogate, a cut sequence. */
	expect_bad_str("{\"v\":1,\"cmd\":\"\xff\"}", PROTO_E_BAD_REQUEST,
	    "invalid JSON");
	expect_bad_str("{\"v\":1,\"cmd\":\"x\",\"args\":{\"p\":\"\xc0\xaf\"}}",
	    PROTO_E_BAD_REQUEST, "invalid JSON");
	expect_bad_str("{\"v\":1,\"cmd\":\"\xed\xa0\x80\"}", PROTO_E_BAD_REQUEST,
	    "invalid JSON");
	expect_bad_str("{\"v\":1,\"cmd\":\"x\xc3\"}", PROTO_E_BAD_REQUEST,
	    "invalid JSON");
	/* In a key too. */
	expect_bad_str("{\"v\":1,\"cmd\":\"x\",\"args\":{\"\xfe\":1}}",
	    PROTO_E_BAD_REQUEST, "invalid JSON");
}

static void
test_request_not_object(void **state)
{
	expect_bad_str("[{\"v\":1,\"cmd\":\"status\"}]", PROTO_E_BAD_REQUEST,
	    "must be a JSON object");
	expect_bad_str("[]", PROTO_E_BAD_REQUEST, "must be a JSON object");
	/* Scalars are not even accepted by the decoder. */
	expect_bad_str("\"status\"", PROTO_E_BAD_REQUEST, "invalid JSON");
	expect_bad_str("1", PROTO_E_BAD_REQUEST, "invalid JSON");
}

static void
test_request_version(void **state)
{
	const char *line = "{\"v\":2,\"id\":9,\"cmd\":\"status\"}";
	struct proto_request req;
	struct proto_error err;

	expect_bad_str("{\"id\":1,\"cmd\":\"status\"}", PROTO_E_BAD_REQUEST,
	    "missing v");
	expect_bad_str("{\"v\":0,\"cmd\":\"status\"}", PROTO_E_VERSION,
	    "version 1");
	expect_bad_str("{\"v\":\"1\",\"cmd\":\"status\"}", PROTO_E_VERSION,
	    "version 1");
	expect_bad_str("{\"v\":1.0,\"cmd\":\"status\"}", PROTO_E_VERSION,
	    "version 1");

	/* The id is kept so the error reply can echo it. */
	memset(&err, 0, sizeof err);
	assert_int_equal(proto_request_parse(line, strlen(line), &req, &err),
	    -1);
	assert_string_equal(err.code, PROTO_E_VERSION);
	assert_non_null(strstr(err.message, "version 1"));
	assert_true(json_is_integer(req.id));
	assert_int_equal(json_integer_value(req.id), 9);

	json_t *reply = proto_reply_error(req.id, err.code, "%s", err.message);
	proto_request_clear(&req);
	assert_non_null(reply);
	assert_int_equal(json_integer_value(json_object_get(reply, "id")), 9);
	json_decref(reply);
}

static void
test_request_cmd(void **state)
{
	expect_bad_str("{\"v\":1,\"id\":1}", PROTO_E_BAD_REQUEST, "missing cmd");
	expect_bad_str("{\"v\":1,\"cmd\":5}", PROTO_E_BAD_REQUEST,
	    "cmd must be a non-empty string");
	expect_bad_str("{\"v\":1,\"cmd\":null}", PROTO_E_BAD_REQUEST,
	    "cmd must be a non-empty string");
	expect_bad_str("{\"v\":1,\"cmd\":[\"status\"]}", PROTO_E_BAD_REQUEST,
	    "cmd must be a non-empty string");
	expect_bad_str("{\"v\":1,\"cmd\":\"\"}", PROTO_E_BAD_REQUEST,
	    "cmd must be a non-empty string");
}

static void
test_request_args(void **state)
{
	expect_bad_str("{\"v\":1,\"cmd\":\"x\",\"args\":[]}",
	    PROTO_E_BAD_REQUEST, "args must be a JSON object");
	expect_bad_str("{\"v\":1,\"cmd\":\"x\",\"args\":\"a=1\"}",
	    PROTO_E_BAD_REQUEST, "args must be a JSON object");
	expect_bad_str("{\"v\":1,\"cmd\":\"x\",\"args\":0}",
	    PROTO_E_BAD_REQUEST, "args must be a JSON object");
}

static void
test_request_id(void **state)
{
	static const char *const bad[] = {
		"{\"v\":1,\"id\":[1],\"cmd\":\"x\"}",
		"{\"v\":1,\"id\":{\"a\":1},\"cmd\":\"x\"}",
		"{\"v\":1,\"id\":1.5,\"cmd\":\"x\"}",
		"{\"v\":1,\"id\":true,\"cmd\":\"x\"}",
	};
	const char *line = "{\"v\":1,\"id\":[1],\"cmd\":\"x\"}";
	struct proto_request req;
	struct proto_error err;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_bad_str(bad[i], PROTO_E_BAD_REQUEST,
		    "id must be an integer or a string");
	/* A bad id is not echoed: the reply carries null. */
	assert_int_equal(proto_request_parse(line, strlen(line), &req, &err),
	    -1);
	assert_true(json_is_null(req.id));
	proto_request_clear(&req);
}

/* A request whose nesting, counting the outer object, is `levels` deep. */
static char *
nested_request(int levels)
{
	const char *head = "{\"v\":1,\"cmd\":\"x\",\"args\":{\"a\":";
	size_t n = strlen(head) + 2 * (size_t)levels + 8;
	char *s = malloc(n), *p;

	assert_non_null(s);
	p = s + sprintf(s, "%s", head);
	for (int i = 2; i < levels; i++)
		*p++ = '[';
	*p++ = '1';
	for (int i = 2; i < levels; i++)
		*p++ = ']';
	strcpy(p, "}}");
	return s;
}

static void
test_request_depth(void **state)
{
	struct proto_request req;
	struct proto_error err;
	char *s;

	/* PROTO_MAX_DEPTH levels are fine. */
	s = nested_request(PROTO_MAX_DEPTH);
	if (proto_request_parse(s, strlen(s), &req, &err) != 0)
		fail_msg("%d levels refused: %s", PROTO_MAX_DEPTH, err.message);
	proto_request_clear(&req);
	free(s);

	/* One more is not. */
	s = nested_request(PROTO_MAX_DEPTH + 1);
	expect_bad_str(s, PROTO_E_BAD_REQUEST, "nested deeper than");
	free(s);
	s = nested_request(100);
	expect_bad_str(s, PROTO_E_BAD_REQUEST, "nested deeper than");
	free(s);
	/* Past the decoder's own limit: refused as invalid JSON. */
	s = nested_request(5000);
	expect_bad_str(s, PROTO_E_BAD_REQUEST, "invalid JSON");
	free(s);
}

static void
test_request_duplicates(void **state)
{
	expect_bad_str("{\"v\":1,\"cmd\":\"status\",\"cmd\":\"shutdown\"}",
	    PROTO_E_BAD_REQUEST, "invalid JSON");
	expect_bad_str("{\"v\":1,\"v\":1,\"cmd\":\"status\"}",
	    PROTO_E_BAD_REQUEST, "invalid JSON");
	expect_bad_str("{\"v\":1,\"cmd\":\"x\",\"args\":{\"a\":1,\"a\":2}}",
	    PROTO_E_BAD_REQUEST, "invalid JSON");
}

static void
test_request_too_large(void **state)
{
	size_t n = PROTO_MAX_LINE + 1;
	char *s = malloc(n);
	struct proto_request req;
	struct proto_error err;

	assert_non_null(s);
	memset(s, ' ', n);
	memcpy(s, "{\"v\":1,\"cmd\":\"x\"}", 17);
	assert_int_equal(proto_request_parse(s, n, &req, &err), -1);
	proto_request_clear(&req);
	assert_string_equal(err.code, PROTO_E_TOO_LARGE);
	/* Exactly the limit is parsed (trailing blanks are fine in JSON). */
	assert_int_equal(proto_request_parse(s, n - 1, &req, &err), 0);
	assert_string_equal(req.cmd, "x");
	proto_request_clear(&req);
	free(s);
}

/* ---- Replies ----------------------------------------------------------- */

/* Encodes `msg` (consumed), checks the framing, and parses it back. */
static json_t *
round_trip(json_t *msg)
{
	struct proto_error err;
	size_t len = 0;
	char *buf;
	json_t *back;

	assert_non_null(msg);
	buf = proto_encode(msg, &len);
	json_decref(msg);
	assert_non_null(buf);
	assert_true(len >= 2);
	assert_int_equal(buf[len - 1], '\n');
	/* Exactly one newline, the last byte; no NUL inside. */
	assert_ptr_equal(memchr(buf, '\n', len), buf + len - 1);
	assert_null(memchr(buf, '\0', len));
	back = proto_reply_parse(buf, len - 1, &err);
	if (back == NULL) {
		free(buf);
		fail_msg("encoded reply does not parse back: %s", err.message);
	}
	free(buf);
	return back;
}

static void
test_reply_ok(void **state)
{
	json_t *id = json_integer(42);
	json_t *data = json_pack("{s:s, s:i}", "state", "running", "n", 3);
	json_t *back;

	back = round_trip(proto_reply_ok(id, data));
	/* The id is borrowed, not stolen. */
	assert_int_equal(id->refcount, 1);
	json_decref(id);
	assert_int_equal(json_integer_value(json_object_get(back, "v")),
	    PROTO_VERSION);
	assert_true(json_is_true(json_object_get(back, "ok")));
	assert_int_equal(json_integer_value(json_object_get(back, "id")), 42);
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(back, "data"), "state")), "running");
	assert_null(json_object_get(back, "error"));
	json_decref(back);

	/* NULL id and data both become JSON null. */
	back = round_trip(proto_reply_ok(NULL, NULL));
	assert_true(json_is_null(json_object_get(back, "id")));
	assert_true(json_is_null(json_object_get(back, "data")));
	assert_true(json_is_true(json_object_get(back, "ok")));
	json_decref(back);
}

static void
test_reply_error(void **state)
{
	json_t *id = json_string("req-1");
	json_t *back, *e;

	back = round_trip(proto_reply_error(id, PROTO_E_FORBIDDEN,
	    "%s needs the %s role\nsecond line \"quoted\"", "reload", "admin"));
	json_decref(id);
	assert_true(json_is_false(json_object_get(back, "ok")));
	assert_string_equal(json_string_value(json_object_get(back, "id")),
	    "req-1");
	e = json_object_get(back, "error");
	assert_string_equal(json_string_value(json_object_get(e, "code")),
	    PROTO_E_FORBIDDEN);
	assert_string_equal(json_string_value(json_object_get(e, "message")),
	    "reload needs the admin role\nsecond line \"quoted\"");
	json_decref(back);

	back = round_trip(proto_reply_error(NULL, PROTO_E_BUSY, "too many"));
	assert_true(json_is_null(json_object_get(back, "id")));
	json_decref(back);
}

/*
 * A long message is cut to fit; the cut must not leave half a UTF-8
 * character, or the reply cannot be built at all and the client never
 * hears back.
 */
static void
test_reply_error_long_utf8(void **state)
{
	size_t n = 800; /* 1600 bytes of "é", past the 1024-byte buffer */
	char *msg = malloc(2 * n + 1);
	json_t *reply;

	assert_non_null(msg);
	for (size_t i = 0; i < n; i++)
		memcpy(msg + 2 * i, "\xc3\xa9", 2);
	msg[2 * n] = '\0';
	reply = proto_reply_error(NULL, PROTO_E_FAILED, "%s", msg);
	free(msg);
	if (reply == NULL)
		fail_msg("proto_reply_error returned NULL for a long UTF-8 "
			 "message");
	reply = round_trip(reply);
	const char *m = json_string_value(json_object_get(
	    json_object_get(reply, "error"), "message"));
	assert_non_null(m);
	assert_true(strlen(m) > 0 && strlen(m) < 1024);
	assert_memory_equal(m, "\xc3\xa9\xc3\xa9", 4);
	json_decref(reply);
}

static void
test_request_new_round_trip(void **state)
{
	json_t *msg = proto_request_new(5, "status", NULL);
	struct proto_request req;
	struct proto_error err;
	size_t len;
	char *buf;

	assert_non_null(msg);
	buf = proto_encode(msg, &len);
	json_decref(msg);
	assert_non_null(buf);
	assert_ptr_equal(memchr(buf, '\n', len), buf + len - 1);
	assert_int_equal(proto_request_parse(buf, len - 1, &req, &err), 0);
	free(buf);
	assert_string_equal(req.cmd, "status");
	assert_int_equal(json_integer_value(req.id), 5);
	assert_true(json_is_object(req.args));
	assert_int_equal(json_object_size(req.args), 0);
	proto_request_clear(&req);

	msg = proto_request_new(6, "approve", json_pack("{s:s}", "plan", "p1"));
	buf = proto_encode(msg, &len);
	json_decref(msg);
	assert_non_null(buf);
	assert_int_equal(proto_request_parse(buf, len - 1, &req, &err), 0);
	free(buf);
	assert_string_equal(json_string_value(json_object_get(req.args,
	    "plan")), "p1");
	proto_request_clear(&req);
}

static void
expect_reply_rejected(const char *line, const char *what)
{
	struct proto_error err;
	json_t *r;

	memset(&err, 0, sizeof err);
	r = proto_reply_parse(line, strlen(line), &err);
	if (r != NULL) {
		json_decref(r);
		fail_msg("reply %s accepted", line);
	}
	assert_string_equal(err.code, PROTO_E_BAD_REQUEST);
	if (strstr(err.message, what) == NULL)
		fail_msg("reply %s: message \"%s\" lacks \"%s\"", line,
		    err.message, what);
}

static void
test_reply_parse_rejects(void **state)
{
	expect_reply_rejected("{\"v\":1,\"ok\":", "invalid JSON");
	expect_reply_rejected("[1]", "not a version 1 frame");
	expect_reply_rejected("{\"id\":1,\"ok\":true,\"data\":null}",
	    "not a version 1 frame");
	expect_reply_rejected("{\"v\":2,\"id\":1,\"ok\":true,\"data\":null}",
	    "not a version 1 frame");
	expect_reply_rejected("{\"v\":\"1\",\"id\":1,\"ok\":true,\"data\":1}",
	    "not a version 1 frame");
	expect_reply_rejected("{\"v\":1,\"id\":1,\"ok\":1,\"data\":null}",
	    "not a version 1 frame");
	expect_reply_rejected("{\"v\":1,\"id\":1,\"ok\":\"true\",\"data\":1}",
	    "not a version 1 frame");
	expect_reply_rejected("{\"v\":1,\"id\":1,\"data\":null}",
	    "not a version 1 frame");
	expect_reply_rejected("{\"v\":1,\"id\":1,\"ok\":false}",
	    "without code and message");
	expect_reply_rejected("{\"v\":1,\"id\":1,\"ok\":false,\"error\":"
			      "{\"message\":\"m\"}}",
	    "without code and message");
	expect_reply_rejected("{\"v\":1,\"id\":1,\"ok\":false,\"error\":"
			      "{\"code\":7,\"message\":\"m\"}}",
	    "without code and message");
	expect_reply_rejected("{\"v\":1,\"id\":1,\"ok\":false,\"error\":"
			      "{\"code\":\"failed\"}}",
	    "without code and message");
	expect_reply_rejected("{\"v\":1,\"id\":1,\"ok\":false,\"error\":"
			      "\"failed\"}",
	    "without code and message");
}

/* proto.h: proto_reply_parse "checks v, ok, and the presence of data". */
static void
test_reply_parse_ok_without_data(void **state)
{
	expect_reply_rejected("{\"v\":1,\"id\":1,\"ok\":true}", "data");
}

static void
test_reply_parse_accepts(void **state)
{
	const char *line = "{\"v\":1,\"id\":null,\"ok\":false,\"error\":"
			   "{\"code\":\"busy\",\"message\":\"later\"}}";
	struct proto_error err;
	json_t *r;

	r = proto_reply_parse(line, strlen(line), &err);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(r, "error"), "code")), PROTO_E_BUSY);
	json_decref(r);
}

/* ---- Roles ------------------------------------------------------------- */

static void
test_roles(void **state)
{
	static const enum proto_role roles[] = {ROLE_VIEWER, ROLE_APPROVER,
	    ROLE_ADMIN};

	assert_string_equal(proto_role_name(ROLE_VIEWER), "viewer");
	assert_string_equal(proto_role_name(ROLE_APPROVER), "approver");
	assert_string_equal(proto_role_name(ROLE_ADMIN), "admin");
	assert_string_equal(proto_role_name(ROLE_NONE), "none");
	assert_string_equal(proto_role_name((enum proto_role)(ROLE_ADMIN + 1)),
	    "?");
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		assert_int_equal(proto_role_parse(proto_role_name(roles[i])),
		    roles[i]);
	/* Roles are ordered. */
	assert_true(ROLE_NONE < ROLE_VIEWER && ROLE_VIEWER < ROLE_APPROVER &&
	    ROLE_APPROVER < ROLE_ADMIN);
	assert_int_equal(proto_role_parse("root"), -1);
	assert_int_equal(proto_role_parse(""), -1);
	assert_int_equal(proto_role_parse("Admin"), -1);
	assert_int_equal(proto_role_parse("admin "), -1);
	assert_int_equal(proto_role_parse("none"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framer_empty),
		cmocka_unit_test(test_framer_partial_line),
		cmocka_unit_test(test_framer_two_lines_one_feed),
		cmocka_unit_test(test_framer_line_and_partial),
		cmocka_unit_test(test_framer_crlf),
		cmocka_unit_test(test_framer_empty_lines),
		cmocka_unit_test(test_framer_exact_max),
		cmocka_unit_test(test_framer_oversize),
		cmocka_unit_test(test_framer_large_line),
		cmocka_unit_test(test_framer_stream),
		cmocka_unit_test(test_request_valid),
		cmocka_unit_test(test_request_defaults),
		cmocka_unit_test(test_request_not_json),
		cmocka_unit_test(test_request_bad_utf8),
		cmocka_unit_test(test_request_not_object),
		cmocka_unit_test(test_request_version),
		cmocka_unit_test(test_request_cmd),
		cmocka_unit_test(test_request_args),
		cmocka_unit_test(test_request_id),
		cmocka_unit_test(test_request_depth),
		cmocka_unit_test(test_request_duplicates),
		cmocka_unit_test(test_request_too_large),
		cmocka_unit_test(test_reply_ok),
		cmocka_unit_test(test_reply_error),
		cmocka_unit_test(test_reply_error_long_utf8),
		cmocka_unit_test(test_request_new_round_trip),
		cmocka_unit_test(test_reply_parse_rejects),
		cmocka_unit_test(test_reply_parse_ok_without_data),
		cmocka_unit_test(test_reply_parse_accepts),
		cmocka_unit_test(test_roles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
