/*
 * Unit tests for the audit log (daemon/audit_chain.c, daemon/audit.c): the
 * canonical line and its hash chain, segment rotation, replay and verify,
 * recovery of a torn tail, refusals, and the durability callbacks.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>

#include "remediad/audit.h"
#include "remediad/config.h"
#include "remediad/log.h"

/* Bounds the loop waiting for the writer: a bug fails instead of hanging. */
#define WAIT_ROUNDS 10000

struct fx {
	char dir[1024];
	struct config *cfg;
	struct event_base *base;
};

/* A file read whole. */
struct text {
	char *buf;
	size_t len;
};

/* ---- Fixture ----------------------------------------------------------- */

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);
	const char *tmp = getenv("TMPDIR");

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof fx->dir, "%s/test_audit.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	fx->cfg = calloc(1, sizeof *fx->cfg);
	fx->base = event_base_new();
	if (fx->cfg == NULL || fx->base == NULL ||
	    (fx->cfg->audit.dir = strdup(fx->dir)) == NULL)
		return -1;
	fx->cfg->audit.sync = AUDIT_SYNC_NONE;
	fx->cfg->audit.sync_interval_ms = 1;
	fx->cfg->audit.sync_records = 64;
	fx->cfg->audit.segment_size = 1 << 20;
	fx->cfg->audit.max_record = 1 << 20;
	fx->cfg->audit.anchor_every = 1000;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	struct dirent *de;
	char path[2048];
	DIR *dp;

	if (fx == NULL)
		return 0;
	dp = opendir(fx->dir);
	if (dp != NULL) {
		while ((de = readdir(dp)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof path, "%s/%s", fx->dir,
			    de->d_name);
			unlink(path);
		}
		closedir(dp);
	}
	rmdir(fx->dir);
	if (fx->base != NULL)
		event_base_free(fx->base);
	if (fx->cfg != NULL)
		free(fx->cfg->audit.dir);
	free(fx->cfg);
	free(fx);
	return 0;
}

/* ---- Helpers ----------------------------------------------------------- */

static struct audit *
open_log(struct fx *fx)
{
	char *cause = NULL, msg[1024];
	struct audit *a = audit_open(fx->base, fx->cfg, &cause);

	if (a == NULL) {
		snprintf(msg, sizeof msg, "%s", cause ? cause : "(no cause)");
		free(cause);
		fail_msg("audit_open refused %s: %s", fx->dir, msg);
	}
	assert_null(cause);
	return a;
}

static uint64_t
append_ok(struct audit *a, const char *type, json_t *fields)
{
	const char *cause = NULL;
	uint64_t seq = audit_append(a, type, "system", fields, &cause);

	if (seq == 0)
		fail_msg("audit_append(%s) refused: %s", type,
		    cause ? cause : "(no cause)");
	return seq;
}

/* A record of a few hundred bytes whose size varies with i. */
static json_t *
fields_n(uint64_t i)
{
	char pad[512];
	size_t n = 60 + (size_t)(i * 37 % 150);

	memset(pad, 'x', n);
	pad[n] = '\0';
	return json_pack("{s:I, s:s, s:s}", "n", (json_int_t)i, "note",
	    "record", "pad", pad);
}

static void
durable_flag_cb(void *arg, int ok)
{
	int *flag = arg;

	*flag = ok ? 1 : -1;
}

/* Runs the loop until *flag is set, within a bound. */
static void
run_until(struct fx *fx, const int *flag)
{
	for (int i = 0; i < WAIT_ROUNDS && *flag == 0; i++)
		if (event_base_loop(fx->base, EVLOOP_ONCE) == 1)
			usleep(1000); /* nothing pending: the writer is busy */
	if (*flag == 0)
		fail_msg("timed out waiting for the audit writer");
}

static void
wait_durable(struct fx *fx, struct audit *a, uint64_t seq)
{
	int flag = 0;

	audit_when_durable(a, seq, durable_flag_cb, &flag);
	run_until(fx, &flag);
	assert_int_equal(flag, 1);
	assert_true(audit_durable_seq(a) >= seq);
}

static void
seg_path(const struct fx *fx, unsigned seg, char *buf, size_t len)
{
	snprintf(buf, len, "%s/" AUDIT_SEGMENT_FMT, fx->dir, seg);
}

static void
slurp(const char *path, struct text *t)
{
	struct stat st;
	FILE *fp = fopen(path, "rb");

	if (fp == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fstat(fileno(fp), &st), 0);
	t->len = (size_t)st.st_size;
	t->buf = malloc(t->len + 1);
	assert_non_null(t->buf);
	assert_int_equal(fread(t->buf, 1, t->len, fp), t->len);
	t->buf[t->len] = '\0';
	fclose(fp);
}

static void
slurp_seg(const struct fx *fx, unsigned seg, struct text *t)
{
	char path[2048];

	seg_path(fx, seg, path, sizeof path);
	slurp(path, t);
}

static void
spit(const char *path, const char *buf, size_t len, const char *mode)
{
	FILE *fp = fopen(path, mode);

	if (fp == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void
spit_seg(const struct fx *fx, unsigned seg, const char *buf, size_t len,
    const char *mode)
{
	char path[2048];

	seg_path(fx, seg, path, sizeof path);
	spit(path, buf, len, mode);
}

static off_t
file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		fail_msg("%s: %s", path, strerror(errno));
	return st.st_size;
}

static off_t
file_size_seg(const struct fx *fx, unsigned seg)
{
	char path[2048];

	seg_path(fx, seg, path, sizeof path);
	return file_size(path);
}

static size_t
count_lines(const struct text *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->len; i++)
		if (t->buf[i] == '\n')
			n++;
	return n;
}

/* Line n (1-based) without its '\n', or NULL. */
static const char *
nth_line(const struct text *t, size_t n, size_t *len)
{
	const char *p = t->buf, *end = t->buf + t->len;

	for (size_t i = 1; p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return NULL;
		if (i == n) {
			*len = (size_t)(nl - p);
			return p;
		}
		p = nl + 1;
	}
	return NULL;
}

/* The file without line n (1-based); the caller frees. */
static char *
without_line(const struct text *t, size_t n, size_t *outlen)
{
	size_t len = 0;
	const char *l = nth_line(t, n, &len);
	char *out = malloc(t->len);

	assert_non_null(l);
	assert_non_null(out);
	size_t head = (size_t)(l - t->buf);
	memcpy(out, t->buf, head);
	memcpy(out + head, l + len + 1, t->len - head - len - 1);
	*outlen = t->len - len - 1;
	return out;
}

/* A record parsed with jansson, independently of the scanner. */
struct parsed {
	uint64_t seq;
	char type[64];
	char prev[AUDIT_HASH_HEX + 1];
	char hash[AUDIT_HASH_HEX + 1];
};

static void
parse_line(const char *line, size_t len, struct parsed *p)
{
	json_error_t err;
	json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);

	if (j == NULL)
		fail_msg("line does not parse (%s): %.*s", err.text, (int)len,
		    line);
	assert_true(json_is_integer(json_object_get(j, "seq")));
	p->seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
	assert_non_null(json_string_value(json_object_get(j, "type")));
	assert_non_null(json_string_value(json_object_get(j, "prev")));
	assert_non_null(json_string_value(json_object_get(j, "hash")));
	snprintf(p->type, sizeof p->type, "%s",
	    json_string_value(json_object_get(j, "type")));
	assert_int_equal(strlen(json_string_value(json_object_get(j, "prev"))),
	    AUDIT_HASH_HEX);
	assert_int_equal(strlen(json_string_value(json_object_get(j, "hash"))),
	    AUDIT_HASH_HEX);
	memcpy(p->prev, json_string_value(json_object_get(j, "prev")),
	    AUDIT_HASH_HEX + 1);
	memcpy(p->hash, json_string_value(json_object_get(j, "hash")),
	    AUDIT_HASH_HEX + 1);
	json_decref(j);
}

static void
parse_nth(const struct text *t, size_t n, struct parsed *p)
{
	size_t len = 0;
	const char *l = nth_line(t, n, &len);

	if (l == NULL)
		fail_msg("no line %zu", n);
	parse_line(l, len, p);
}

static int
is_lower_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

/* The hash of a line recomputed from its own bytes, as the format says. */
static void
recompute_hash(const char *line, size_t len, const char *prev, char *out)
{
	size_t clen = len - AUDIT_SUFFIX_LEN;
	char *canon = malloc(clen + 1);

	assert_non_null(canon);
	memcpy(canon, line, clen);
	canon[clen] = '}';
	audit_hash(prev, canon, clen + 1, out);
	free(canon);
}

/* Checks the line's suffix and that its hash is SHA-256(prev || canon). */
static void
check_line_hash(const char *line, size_t len)
{
	char want[AUDIT_HASH_HEX + 1];
	struct parsed p;
	const char *sfx;

	assert_true(len > AUDIT_SUFFIX_LEN);
	sfx = line + len - AUDIT_SUFFIX_LEN;
	assert_memory_equal(sfx, ",\"hash\":\"", 9);
	assert_true(is_lower_hex(sfx + 9, AUDIT_HASH_HEX));
	assert_memory_equal(sfx + 9 + AUDIT_HASH_HEX, "\"}", 2);
	parse_line(line, len, &p);
	assert_memory_equal(sfx + 9, p.hash, AUDIT_HASH_HEX);
	recompute_hash(line, len, p.prev, want);
	assert_string_equal(want, p.hash);
}

static int
verdict_ok(const char *dir, uint64_t anchor, const char *hash, uint64_t upto,
    struct audit_verdict *v)
{
	audit_verify(dir, anchor, hash, upto, v);
	if (!v->ok)
		print_message("verdict: segment %u line %llu seq %llu: %s\n",
		    v->bad_segment, (unsigned long long)v->bad_line,
		    (unsigned long long)v->bad_seq, v->why);
	return v->ok;
}

/* Writes n records of fields_n() and closes the log. */
static void
build_log(struct fx *fx, uint64_t n)
{
	struct audit *a = open_log(fx);

	for (uint64_t i = 1; i <= n; i++)
		assert_int_equal(append_ok(a, "test.rec", fields_n(i)), i);
	audit_close(a);
}

static unsigned
segment_count(const struct fx *fx)
{
	struct audit_segments segs;
	char *cause = NULL;
	unsigned n;

	assert_int_equal(audit_segments_list(fx->dir, &segs, &cause), 0);
	assert_null(cause);
	n = (unsigned)segs.n;
	audit_segments_free(&segs);
	return n;
}

/* ---- The hash and the canonical line ----------------------------------- */

static void
test_hash_vectors(void **state)
{
	char out[AUDIT_HASH_HEX + 1];

	/* sha256sum of 64 '0' characters, then of those followed by "abc". */
	audit_hash(AUDIT_ZERO_HASH, "", 0, out);
	assert_string_equal(out,
	    "60e05bd1b195af2f94112fa7197a5c88289058840ce7c6df9693756bc6250f55");
	audit_hash(AUDIT_ZERO_HASH, "abc", 3, out);
	assert_string_equal(out,
	    "b64374d04ef9c4f39fddb1e0d6be38a0130f6c057fc0f4ee467ea0e18bc758f1");
	/* Only the first 64 bytes of prev count. */
	audit_hash(AUDIT_ZERO_HASH "trailing", "abc", 3, out);
	assert_string_equal(out,
	    "b64374d04ef9c4f39fddb1e0d6be38a0130f6c057fc0f4ee467ea0e18bc758f1");
}

/* A top-level member of a compact JSON object line. */
struct member {
	const char *key;
	size_t klen;
	const char *val;
	size_t vlen;
};

/* Splits a line into its top-level members; returns how many. */
static size_t
split_members(const char *line, size_t len, struct member *m, size_t max)
{
	const char *p = line + 1, *end = line + len - 1;
	size_t n = 0;

	assert_true(len >= 2 && line[0] == '{' && line[len - 1] == '}');
	while (p < end) {
		const char *k = p, *v;
		int depth = 0, instr = 0;

		assert_true(n < max);
		assert_int_equal(*p, '"');
		for (p++; *p != '"'; p++)
			if (*p == '\\')
				p++;
		m[n].key = k + 1;
		m[n].klen = (size_t)(p - k - 1);
		p++;
		assert_int_equal(*p, ':');
		v = ++p;
		for (; p < end; p++) {
			if (instr) {
				if (*p == '\\')
					p++;
				else if (*p == '"')
					instr = 0;
			} else if (*p == '"')
				instr = 1;
			else if (*p == '{' || *p == '[')
				depth++;
			else if (*p == '}' || *p == ']')
				depth--;
			else if (*p == ',' && depth == 0)
				break;
		}
		m[n].val = v;
		m[n].vlen = (size_t)(p - v);
		n++;
		if (p < end)
			p++;
	}
	return n;
}

/* No whitespace outside strings, no raw control characters anywhere. */
static void
check_compact(const char *line, size_t len)
{
	int instr = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20)
			fail_msg("raw control byte 0x%02x at %zu", c, i);
		if (instr) {
			if (c == '\\')
				i++;
			else if (c == '"')
				instr = 0;
		} else if (c == '"')
			instr = 1;
		else if (c == ' ')
			fail_msg("space outside a string at %zu: %.*s", i,
			    (int)len, line);
	}
	assert_false(instr);
}

/* The line with the values of seq, time, prev and hash replaced by '_'. */
static char *
normalize(const char *line, size_t len)
{
	struct member m[32];
	size_t n = split_members(line, len, m, 32);
	char *out = malloc(len + 1), *o = out;

	assert_non_null(out);
	*o++ = '{';
	for (size_t i = 0; i < n; i++) {
		int volatile_member =
		    (m[i].klen == 3 && memcmp(m[i].key, "seq", 3) == 0) ||
		    (m[i].klen == 4 && memcmp(m[i].key, "time", 4) == 0) ||
		    (m[i].klen == 4 && memcmp(m[i].key, "prev", 4) == 0) ||
		    (m[i].klen == 4 && memcmp(m[i].key, "hash", 4) == 0);
		if (i > 0)
			*o++ = ',';
		*o++ = '"';
		memcpy(o, m[i].key, m[i].klen);
		o += m[i].klen;
		*o++ = '"';
		*o++ = ':';
		if (volatile_member)
			*o++ = '_';
		else {
			memcpy(o, m[i].val, m[i].vlen);
			o += m[i].vlen;
		}
	}
	*o++ = '}';
	*o = '\0';
	return out;
}

/* Keys sorted, hash last, compact, time well-formed, hash recomputes. */
static void
check_canonical(const char *line, size_t len)
{
	struct member m[32];
	size_t n = 0;

	check_compact(line, len);
	check_line_hash(line, len);
	n = split_members(line, len, m, 32);
	assert_true(n >= 7);
	assert_int_equal(m[n - 1].klen, 4);
	assert_memory_equal(m[n - 1].key, "hash", 4);
	for (size_t i = 1; i + 1 < n; i++) {
		size_t l = m[i - 1].klen < m[i].klen ? m[i - 1].klen : m[i].klen;
		int c = memcmp(m[i - 1].key, m[i].key, l);
		if (c > 0 || (c == 0 && m[i - 1].klen >= m[i].klen))
			fail_msg("keys not sorted: %.*s before %.*s",
			    (int)m[i - 1].klen, m[i - 1].key, (int)m[i].klen,
			    m[i].key);
	}
	for (size_t i = 0; i < n; i++) {
		if (m[i].klen != 4 || memcmp(m[i].key, "time", 4) != 0)
			continue;
		/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" */
		static const char shape[] = "\"dddd-dd-ddTdd:dd:dd.ddddddZ\"";
		assert_int_equal(m[i].vlen, sizeof shape - 1);
		for (size_t j = 0; j < m[i].vlen; j++) {
			if (shape[j] == 'd')
				assert_true(m[i].val[j] >= '0' &&
				    m[i].val[j] <= '9');
			else
				assert_int_equal(m[i].val[j], shape[j]);
		}
	}
}

static void
test_canonical(void **state)
{
	struct fx *fx = *state;
	struct audit *a = open_log(fx);
	struct text t;
	struct parsed p1, p2;
	const char *l1, *l2;
	size_t n1 = 0, n2 = 0;
	char *norm1, *norm2;
	json_t *f1, *f2;

	/* The same fields inserted in two different orders. */
	f1 = json_object();
	json_object_set_new(f1, "zeta", json_pack("{s:i, s:i}", "b", 2, "a", 1));
	json_object_set_new(f1, "alpha", json_integer(1));
	json_object_set_new(f1, "mid", json_pack("[i, s]", 3, "x y"));
	json_object_set_new(f1, "beta", json_string("two words"));
	json_object_set_new(f1, "esc", json_string("q\"uote\\back\nline\ttab"));
	f2 = json_object();
	json_object_set_new(f2, "esc", json_string("q\"uote\\back\nline\ttab"));
	json_object_set_new(f2, "beta", json_string("two words"));
	json_object_set_new(f2, "mid", json_pack("[i, s]", 3, "x y"));
	json_object_set_new(f2, "alpha", json_integer(1));
	json_object_set_new(f2, "zeta", json_pack("{s:i, s:i}", "a", 1, "b", 2));
	assert_int_equal(append_ok(a, "test.canon", f1), 1);
	assert_int_equal(append_ok(a, "test.canon", f2), 2);
	audit_close(a);

	slurp_seg(fx, 1, &t);
	assert_int_equal(count_lines(&t), 2);
	assert_int_equal(t.buf[t.len - 1], '\n');
	l1 = nth_line(&t, 1, &n1);
	l2 = nth_line(&t, 2, &n2);
	check_canonical(l1, n1);
	check_canonical(l2, n2);
	parse_line(l1, n1, &p1);
	parse_line(l2, n2, &p2);
	assert_string_equal(p1.prev, AUDIT_ZERO_HASH);
	assert_string_equal(p2.prev, p1.hash);

	norm1 = normalize(l1, n1);
	norm2 = normalize(l2, n2);
	assert_string_equal(norm1, norm2);
	assert_string_equal(norm1,
	    "{\"actor\":\"system\",\"alpha\":1,\"beta\":\"two words\","
	    "\"esc\":\"q\\\"uote\\\\back\\nline\\ttab\",\"mid\":[3,\"x y\"],"
	    "\"prev\":_,\"seq\":_,\"time\":_,\"type\":\"test.canon\","
	    "\"zeta\":{\"a\":1,\"b\":2},\"hash\":_}");
	free(norm1);
	free(norm2);
	free(t.buf);
}

static void
test_utf8(void **state)
{
	struct fx *fx = *state;
	struct audit *a = open_log(fx);
	struct audit_verdict v;
	struct text t;
	const char *l;
	size_t n = 0;
	json_t *j;

	append_ok(a, "test.utf8", json_pack("{s:s, s:s}", "city",
	    "Z\xc3\xbcrich", "mark", "\xe2\x9c\x93 \xf0\x9f\x94\xa5"));
	audit_close(a);

	slurp_seg(fx, 1, &t);
	l = nth_line(&t, 1, &n);
	assert_non_null(l);
	check_canonical(l, n);
	/* Raw UTF-8, not \u escapes. */
	assert_non_null(memmem(l, n, "\"city\":\"Z\xc3\xbcrich\"", 15));
	assert_non_null(memmem(l, n, "\xf0\x9f\x94\xa5", 4));
	assert_null(memmem(l, n, "\\u", 2));
	j = json_loadb(l, n, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "city")),
	    "Z\xc3\xbcrich");
	json_decref(j);
	assert_true(verdict_ok(fx->dir, 0, NULL, 0, &v));
	assert_int_equal(v.records, 1);
	free(t.buf);
}

/* ---- Sequence and chain ------------------------------------------------ */

static void
test_seq_chain(void **state)
{
	struct fx *fx = *state;
	struct audit *a = open_log(fx);
	char prev[AUDIT_HASH_HEX + 1] = AUDIT_ZERO_HASH;
	struct audit_fields f;
	struct parsed p;
	struct text t;
	const char *why, *l;
	size_t n = 0;

	assert_int_equal(audit_last_seq(a), 0);
	for (uint64_t i = 1; i <= 20; i++) {
		assert_int_equal(append_ok(a, "test.rec", fields_n(i)), i);
		assert_int_equal(audit_last_seq(a), i);
	}
	audit_close(a);

	/* Reopened, the log continues the chain. */
	a = open_log(fx);
	assert_int_equal(audit_last_seq(a), 20);
	assert_int_equal(audit_durable_seq(a), 20);
	assert_int_equal(append_ok(a, "test.rec", fields_n(21)), 21);
	audit_close(a);

	slurp_seg(fx, 1, &t);
	assert_int_equal(count_lines(&t), 21);
	for (uint64_t i = 1; i <= 21; i++) {
		l = nth_line(&t, i, &n);
		parse_line(l, n, &p);
		assert_int_equal(p.seq, i);
		assert_string_equal(p.type, "test.rec");
		assert_string_equal(p.prev, prev);
		check_line_hash(l, n);
		/* The scanner agrees with the full parse. */
		assert_int_equal(audit_scan(l, n, &f, &why), 0);
		assert_int_equal(f.seq, i);
		assert_int_equal(f.type_len, 8);
		assert_memory_equal(f.type, "test.rec", 8);
		assert_memory_equal(f.prev, p.prev, AUDIT_HASH_HEX);
		assert_memory_equal(f.hash, p.hash, AUDIT_HASH_HEX);
		assert_int_equal(audit_hash_ok(l, n, &f), 1);
		memcpy(prev, p.hash, sizeof prev);
	}
	free(t.buf);
}

/* ---- Segments, replay, verify ------------------------------------------ */

struct replay_log {
	uint64_t seqs[256];
	size_t n;
	int bad; /* a record handed out did not match its line */
	uint64_t stop_at;
};

static int
replay_cb(const struct audit_rec *rec, void *arg)
{
	struct replay_log *r = arg;
	json_t *j = audit_rec_json(rec);

	if (j == NULL ||
	    (uint64_t)json_integer_value(json_object_get(j, "seq")) != rec->seq ||
	    rec->type_len != 8 || memcmp(rec->type, "test.rec", 8) != 0 ||
	    rec->line[rec->len - 1] != '}' || rec->lineno == 0 ||
	    rec->segment == 0)
		r->bad = 1;
	json_decref(j);
	if (r->n < sizeof r->seqs / sizeof r->seqs[0])
		r->seqs[r->n++] = rec->seq;
	return rec->seq == r->stop_at ? 7 : 0;
}

static void
check_replay_from(const struct fx *fx, uint64_t from, int flags,
    uint64_t total)
{
	struct replay_log r;
	char *cause = NULL;
	int rc;

	memset(&r, 0, sizeof r);
	rc = audit_replay(fx->dir, from, flags, replay_cb, &r, &cause);
	if (rc != 0) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", cause ? cause : "(none)");
		free(cause);
		fail_msg("replay from %llu: %d, %s", (unsigned long long)from,
		    rc, msg);
	}
	assert_null(cause);
	assert_false(r.bad);
	if (from == 0)
		from = 1;
	assert_int_equal(r.n, total - from + 1);
	for (size_t i = 0; i < r.n; i++)
		assert_int_equal(r.seqs[i], from + i);
}

#define SEG_RECORDS 60

static void
build_segmented(struct fx *fx)
{
	struct audit *a;

	fx->cfg->audit.segment_size = 4096;
	a = open_log(fx);
	for (uint64_t i = 1; i <= SEG_RECORDS / 2; i++)
		assert_int_equal(append_ok(a, "test.rec", fields_n(i)), i);
	wait_durable(fx, a, SEG_RECORDS / 2);
	for (uint64_t i = SEG_RECORDS / 2 + 1; i <= SEG_RECORDS; i++)
		assert_int_equal(append_ok(a, "test.rec", fields_n(i)), i);
	audit_close(a);
}

static void
test_segments(void **state)
{
	struct fx *fx = *state;
	struct audit_segments segs;
	struct audit_verdict v;
	char prev[AUDIT_HASH_HEX + 1] = AUDIT_ZERO_HASH;
	uint64_t next = 1, first_of[64] = {0};
	char *cause = NULL;

	build_segmented(fx);
	assert_int_equal(audit_segments_list(fx->dir, &segs, &cause), 0);
	assert_null(cause);
	assert_true(segs.n >= 3 && segs.n < 64);
	for (size_t k = 0; k < segs.n; k++) {
		struct text t;
		struct parsed p;
		size_t lines;

		assert_int_equal(segs.num[k], k + 1);
		slurp_seg(fx, segs.num[k], &t);
		/* Rotation keeps every segment within segment_size. */
		assert_true(t.len > 0 && t.len <= 4096);
		assert_int_equal(t.buf[t.len - 1], '\n');
		lines = count_lines(&t);
		for (size_t i = 1; i <= lines; i++) {
			parse_nth(&t, i, &p);
			assert_int_equal(p.seq, next);
			/* For i == 1, the link to the last of segment k - 1. */
			assert_string_equal(p.prev, prev);
			if (i == 1)
				first_of[k] = p.seq;
			memcpy(prev, p.hash, sizeof prev);
			next++;
		}
		free(t.buf);
	}
	assert_int_equal(next - 1, SEG_RECORDS);

	assert_true(verdict_ok(fx->dir, 0, NULL, 0, &v));
	assert_int_equal(v.records, SEG_RECORDS);
	assert_int_equal(v.segments, segs.n);
	assert_true(v.segments >= 3);
	assert_int_equal(v.last_seq, SEG_RECORDS);
	assert_string_equal(v.last_hash, prev);

	check_replay_from(fx, 0, 0, SEG_RECORDS);
	check_replay_from(fx, 1, AUDIT_REPLAY_VERIFY, SEG_RECORDS);
	/* From the first record of a segment, the last of the one before, one
	 * in the middle, and the very last. */
	check_replay_from(fx, first_of[2], 0, SEG_RECORDS);
	check_replay_from(fx, first_of[2] - 1, 0, SEG_RECORDS);
	check_replay_from(fx, first_of[1] + 2, 0, SEG_RECORDS);
	check_replay_from(fx, first_of[1] + 2, AUDIT_REPLAY_VERIFY,
	    SEG_RECORDS);
	check_replay_from(fx, SEG_RECORDS, 0, SEG_RECORDS);

	/* A callback's non-zero value stops the replay and is returned. */
	struct replay_log r;
	memset(&r, 0, sizeof r);
	r.stop_at = 10;
	assert_int_equal(audit_replay(fx->dir, 1, 0, replay_cb, &r, &cause), 7);
	assert_int_equal(r.n, 10);

	/* Names that are not segments are ignored by the listing. */
	char path[2048];
	snprintf(path, sizeof path, "%s/audit-1.log", fx->dir);
	spit(path, "x", 1, "wb");
	snprintf(path, sizeof path, "%s/audit-000002.log.bak", fx->dir);
	spit(path, "x", 1, "wb");
	snprintf(path, sizeof path, "%s/audit-000000.log", fx->dir);
	spit(path, "x", 1, "wb");
	struct audit_segments again;
	assert_int_equal(audit_segments_list(fx->dir, &again, &cause), 0);
	assert_int_equal(again.n, segs.n);
	for (size_t k = 0; k < segs.n; k++)
		assert_int_equal(again.num[k], segs.num[k]);
	audit_segments_free(&again);
	audit_segments_free(&segs);
}

/* Reopening a segmented log continues it in the last segment. */
static void
test_segments_reopen(void **state)
{
	struct fx *fx = *state;
	struct audit_verdict v;
	struct audit *a;
	unsigned before;

	build_segmented(fx);
	before = segment_count(fx);
	a = open_log(fx);
	assert_int_equal(audit_last_seq(a), SEG_RECORDS);
	for (uint64_t i = SEG_RECORDS + 1; i <= SEG_RECORDS + 30; i++)
		assert_int_equal(append_ok(a, "test.rec", fields_n(i)), i);
	audit_close(a);
	assert_true(segment_count(fx) > before);
	assert_true(verdict_ok(fx->dir, 0, NULL, 0, &v));
	assert_int_equal(v.records, SEG_RECORDS + 30);
	check_replay_from(fx, 1, AUDIT_REPLAY_VERIFY, SEG_RECORDS + 30);
}

/* ---- Torn tails -------------------------------------------------------- */

/*
 * Appends `junk` to segment `seg` of a closed log of `n` records, checks
 * that verify calls it unterminated, reopens, and checks the recovery.
 */
static void
check_torn_recovery(struct fx *fx, unsigned seg, uint64_t n,
    const char *junk, size_t junklen)
{
	struct audit_verdict v;
	struct text before, after;
	struct parsed last, p;
	struct audit *a;
	char path[2048];
	json_t *j;
	size_t len = 0;
	const char *l;

	seg_path(fx, seg, path, sizeof path);
	slurp(path, &before);
	spit(path, junk, junklen, "ab");
	assert_int_equal(file_size(path), (off_t)(before.len + junklen));

	audit_verify(fx->dir, 0, NULL, 0, &v);
	assert_false(v.ok);
	assert_non_null(strstr(v.why, "unterminated"));
	assert_int_equal(v.bad_segment, seg);
	assert_int_equal(v.bad_line, count_lines(&before) + 1);

	a = open_log(fx);
	/* The recovery is itself a record, right after the last whole one. */
	assert_int_equal(audit_last_seq(a), n + 1);
	assert_int_equal(append_ok(a, "test.after", NULL), n + 2);
	audit_close(a);

	slurp(path, &after);
	assert_true(after.len > before.len);
	assert_memory_equal(after.buf, before.buf, before.len);
	assert_int_equal(count_lines(&after), count_lines(&before) + 2);
	assert_int_equal(after.buf[after.len - 1], '\n');
	/* Nothing of the junk is left: the new lines start at the cut. */
	l = after.buf + before.len;
	assert_non_null(memchr(l, '\n', after.len - before.len));
	len = (size_t)((char *)memchr(l, '\n', after.len - before.len) - l);
	j = json_loadb(l, len, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "type")),
	    "audit.recovered");
	assert_int_equal(json_integer_value(json_object_get(j, "seq")), n + 1);
	assert_int_equal(json_integer_value(json_object_get(j,
	    "bytes_dropped")), junklen);
	assert_int_equal(json_integer_value(json_object_get(j, "offset")),
	    before.len);
	assert_non_null(strstr(json_string_value(json_object_get(j,
	    "segment")), path + strlen(fx->dir)));
	json_decref(j);
	check_line_hash(l, len);

	/* The recovered record links to the last whole record. */
	if (before.len > 0) {
		parse_nth(&before, count_lines(&before), &last);
		parse_line(l, len, &p);
		assert_string_equal(p.prev, last.hash);
	}
	parse_nth(&after, count_lines(&after), &p);
	assert_int_equal(p.seq, n + 2);
	assert_string_equal(p.type, "test.after");

	assert_true(verdict_ok(fx->dir, 0, NULL, 0, &v));
	assert_int_equal(v.records, n + 2);
	assert_int_equal(v.last_seq, n + 2);
	free(before.buf);
	free(after.buf);
}

static void
test_torn_tail(void **state)
{
	struct fx *fx = *state;
	struct text t;
	const char *l;
	size_t len = 0;
	char *half;

	build_log(fx, 8);
	slurp_seg(fx, 1, &t);
	/* Half of a record, as a crash in the middle of a write leaves. */
	l = nth_line(&t, 4, &len);
	half = malloc(len / 2);
	assert_non_null(half);
	memcpy(half, l, len / 2);
	free(t.buf);
	check_torn_recovery(fx, 1, 8, half, len / 2);
	free(half);
}

static void
test_nul_padding(void **state)
{
	struct fx *fx = *state;
	char zeros[100];

	memset(zeros, 0, sizeof zeros);
	build_log(fx, 5);
	check_torn_recovery(fx, 1, 5, zeros, sizeof zeros);
}

/* A crash right after a rotation: the new segment holds only a torn line. */
static void
test_torn_new_segment(void **state)
{
	struct fx *fx = *state;
	unsigned n;

	build_segmented(fx);
	struct text last, t;
	struct parsed lp, p;

	n = segment_count(fx);
	slurp_seg(fx, n, &last);
	parse_nth(&last, count_lines(&last), &lp);
	assert_int_equal(lp.seq, SEG_RECORDS);
	spit_seg(fx, n + 1, "", 0, "wb");
	check_torn_recovery(fx, n + 1, SEG_RECORDS, "{\"actor\":\"sys", 13);
	/* The recovery record links to the last one of the segment before. */
	slurp_seg(fx, n + 1, &t);
	parse_nth(&t, 1, &p);
	assert_int_equal(p.seq, SEG_RECORDS + 1);
	assert_string_equal(p.prev, lp.hash);
	assert_int_equal(segment_count(fx), n + 1);
	free(last.buf);
	free(t.buf);
}

/*
 * A crash right after a rotation leaves an empty last segment: the closed
 * segment before it is then checked record by record, so damage at its
 * end refuses the start instead of being chained onto.
 */
static void
test_empty_last_segment(void **state)
{
	struct fx *fx = *state;
	struct text t;
	char *cause = NULL;
	unsigned nseg;

	fx->cfg->audit.segment_size = 4096;
	build_log(fx, 40);
	nseg = segment_count(fx);
	assert_true(nseg >= 2);
	/* The empty next segment, as the writer creates it at rotation. */
	spit_seg(fx, nseg + 1, "", 0, "wb");

	/* Intact: the chain goes on in the empty segment. */
	struct audit *a = open_log(fx);
	assert_int_equal(append_ok(a, "test.after", NULL), 41);
	audit_close(a);
	struct audit_verdict v;
	assert_true(verdict_ok(fx->dir, 0, NULL, 0, &v));
	assert_int_equal(v.records, 41);

	/* Again an empty last segment, with the closed one's end damaged. */
	spit_seg(fx, nseg + 2, "", 0, "wb");
	slurp_seg(fx, nseg + 1, &t);
	/* A digit of the last record's time: still well-formed, hash wrong. */
	char *last = t.buf + t.len - 1;
	while (last > t.buf && last[-1] != '\n')
		last--;
	char *tm = strstr(last, "\"time\":\"2");
	assert_non_null(tm);
	tm[8] ^= 1;
	spit_seg(fx, nseg + 1, t.buf, t.len, "wb");
	assert_null(audit_open(fx->base, fx->cfg, &cause));
	assert_non_null(cause);
	if (strstr(cause, "damaged") == NULL)
		fail_msg("cause: %s", cause);
	free(cause);
	free(t.buf);

	/* A closed segment is never cut, even where it looks torn. */
	slurp_seg(fx, nseg + 1, &t);
	last = t.buf + t.len - 1;
	while (last > t.buf && last[-1] != '\n')
		last--;
	strstr(last, "\"time\":\"")[8] ^= 1; /* repaired */
	spit_seg(fx, nseg + 1, t.buf, t.len - 1, "wb"); /* no final newline */
	cause = NULL;
	assert_null(audit_open(fx->base, fx->cfg, &cause));
	assert_non_null(cause);
	if (strstr(cause, "closed segment") == NULL)
		fail_msg("cause: %s", cause);
	free(cause);
	assert_int_equal(file_size_seg(fx, nseg + 1), (off_t)t.len - 1);
	free(t.buf);
}

static void
test_damaged_refused(void **state)
{
	struct fx *fx = *state;
	struct text before, after;
	char path[2048], *cause = NULL, *p;
	size_t len = 0;
	const char *l;

	build_log(fx, 6);
	seg_path(fx, 1, path, sizeof path);
	slurp(path, &before);
	/* One byte of a value of a complete record in the middle. */
	l = nth_line(&before, 3, &len);
	p = memmem(l, len, "\"record\"", 8);
	assert_non_null(p);
	p[1] = 'R';
	spit(path, before.buf, before.len, "wb");

	assert_null(audit_open(fx->base, fx->cfg, &cause));
	assert_non_null(cause);
	if (strstr(cause, "damaged") == NULL) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", cause);
		free(cause);
		fail_msg("cause lacks \"damaged\": %s", msg);
	}
	free(cause);
	/* Untouched, and no segment was added. */
	slurp(path, &after);
	assert_int_equal(after.len, before.len);
	assert_memory_equal(after.buf, before.buf, before.len);
	assert_int_equal(segment_count(fx), 1);
	free(before.buf);
	free(after.buf);
}

/* ---- Verify on altered logs -------------------------------------------- */

static void
test_verify_deleted_line(void **state)
{
	struct fx *fx = *state;
	struct audit_verdict v;
	struct text t;
	char *out;
	size_t len = 0;

	build_log(fx, 10);
	assert_true(verdict_ok(fx->dir, 0, NULL, 0, &v));
	assert_int_equal(v.records, 10);
	slurp_seg(fx, 1, &t);
	out = without_line(&t, 5, &len);
	spit_seg(fx, 1, out, len, "wb");
	audit_verify(fx->dir, 0, NULL, 0, &v);
	assert_false(v.ok);
	assert_non_null(strstr(v.why, "seq gap"));
	assert_non_null(strstr(v.why, "expected 5"));
	assert_int_equal(v.bad_segment, 1);
	assert_int_equal(v.bad_line, 5);
	assert_int_equal(v.bad_seq, 6);
	assert_int_equal(v.records, 4);
	free(out);
	free(t.buf);
}

static void
test_verify_swapped_lines(void **state)
{
	struct fx *fx = *state;
	struct audit_verdict v;
	struct text t;
	const char *l3, *l4;
	size_t n3 = 0, n4 = 0;
	char *out;

	build_log(fx, 10);
	slurp_seg(fx, 1, &t);
	l3 = nth_line(&t, 3, &n3);
	l4 = nth_line(&t, 4, &n4);
	out = malloc(t.len);
	assert_non_null(out);
	size_t off = (size_t)(l3 - t.buf);
	memcpy(out, t.buf, off);
	memcpy(out + off, l4, n4 + 1);
	memcpy(out + off + n4 + 1, l3, n3 + 1);
	memcpy(out + off + n3 + n4 + 2, l4 + n4 + 1,
	    t.len - off - n3 - n4 - 2);
	spit_seg(fx, 1, out, t.len, "wb");
	audit_verify(fx->dir, 0, NULL, 0, &v);
	assert_false(v.ok);
	assert_int_equal(v.bad_line, 3);
	free(out);
	free(t.buf);
}

static void
test_verify_altered_value(void **state)
{
	struct fx *fx = *state;
	struct audit_verdict v;
	struct replay_log r;
	struct text t;
	char *p, *cause = NULL;
	const char *l;
	size_t len = 0;

	build_log(fx, 10);
	slurp_seg(fx, 1, &t);
	l = nth_line(&t, 7, &len);
	p = memmem(l, len, "\"record\"", 8);
	assert_non_null(p);
	p[1] = 'R';
	spit_seg(fx, 1, t.buf, t.len, "wb");

	audit_verify(fx->dir, 0, NULL, 0, &v);
	assert_false(v.ok);
	assert_non_null(strstr(v.why, "hash mismatch"));
	assert_int_equal(v.bad_segment, 1);
	assert_int_equal(v.bad_line, 7);
	assert_int_equal(v.bad_seq, 7);
	assert_int_equal(v.records, 6);

	/* A verifying replay stops there; a plain one does not check. */
	memset(&r, 0, sizeof r);
	assert_int_equal(audit_replay(fx->dir, 1, AUDIT_REPLAY_VERIFY,
	    replay_cb, &r, &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "hash mismatch"));
	free(cause);
	cause = NULL;
	assert_int_equal(r.n, 6);
	memset(&r, 0, sizeof r);
	assert_int_equal(audit_replay(fx->dir, 1, 0, replay_cb, &r, &cause), 0);
	assert_int_equal(r.n, 10);
	free(t.buf);
}

static void
test_verify_missing_segment(void **state)
{
	struct fx *fx = *state;
	struct audit_verdict v;
	char path[2048];

	build_segmented(fx);
	assert_true(segment_count(fx) >= 3);
	seg_path(fx, 2, path, sizeof path);
	assert_int_equal(unlink(path), 0);
	audit_verify(fx->dir, 0, NULL, 0, &v);
	assert_false(v.ok);
	assert_non_null(strstr(v.why, "segment 2 is missing"));
	assert_int_equal(v.bad_segment, 3);
}

/* ---- Anchors and upto -------------------------------------------------- */

/* The hash of every record of a closed log, by seq. */
static void
collect_hashes(const struct fx *fx, char (*hash)[AUDIT_HASH_HEX + 1],
    uint64_t max)
{
	unsigned nseg = segment_count(fx);

	for (unsigned s = 1; s <= nseg; s++) {
		struct text t;
		struct parsed p;

		slurp_seg(fx, s, &t);
		for (size_t i = 1; i <= count_lines(&t); i++) {
			parse_nth(&t, i, &p);
			assert_true(p.seq <= max);
			memcpy(hash[p.seq], p.hash, AUDIT_HASH_HEX + 1);
		}
		free(t.buf);
	}
}

static void
test_anchors(void **state)
{
	struct fx *fx = *state;
	static char hash[SEG_RECORDS + 1][AUDIT_HASH_HEX + 1];
	char wrong[AUDIT_HASH_HEX + 1];
	struct audit_verdict v;

	build_segmented(fx);
	collect_hashes(fx, hash, SEG_RECORDS);
	/* Every record, whichever segment it is in, as an anchor. */
	for (uint64_t s = 1; s <= SEG_RECORDS; s++) {
		if (!verdict_ok(fx->dir, s, hash[s], 0, &v))
			fail_msg("anchor at seq %llu refused",
			    (unsigned long long)s);
		assert_true(v.anchor_checked);
		assert_int_equal(v.records, SEG_RECORDS);
	}
	/* A wrong hash, and the hash of another record. */
	memcpy(wrong, hash[20], sizeof wrong);
	wrong[AUDIT_HASH_HEX - 1] = wrong[AUDIT_HASH_HEX - 1] == '0' ? '1' : '0';
	audit_verify(fx->dir, 20, wrong, 0, &v);
	assert_false(v.ok);
	assert_true(v.anchor_checked);
	assert_int_equal(v.bad_seq, 20);
	assert_non_null(strstr(v.why, "anchor mismatch"));
	audit_verify(fx->dir, 20, hash[21], 0, &v);
	assert_false(v.ok);
	assert_non_null(strstr(v.why, "anchor mismatch"));
	/* No anchor, no anchor check. */
	assert_true(verdict_ok(fx->dir, 0, NULL, 0, &v));
	assert_false(v.anchor_checked);
}

static void
test_anchor_truncated(void **state)
{
	struct fx *fx = *state;
	char hash[11][AUDIT_HASH_HEX + 1];
	struct audit_verdict v;
	struct text t;
	char *out, *out2;
	size_t len, len2;

	build_log(fx, 10);
	collect_hashes(fx, hash, 10);
	assert_true(verdict_ok(fx->dir, 10, hash[10], 0, &v));

	/* Cut the last two records: whole lines, so the log alone looks fine. */
	slurp_seg(fx, 1, &t);
	out = without_line(&t, 10, &len);
	free(t.buf);
	t.buf = out;
	t.len = len;
	out2 = without_line(&t, 9, &len2);
	spit_seg(fx, 1, out2, len2, "wb");
	assert_true(verdict_ok(fx->dir, 0, NULL, 0, &v));
	assert_int_equal(v.last_seq, 8);
	assert_true(verdict_ok(fx->dir, 8, hash[8], 0, &v));

	audit_verify(fx->dir, 10, hash[10], 0, &v);
	assert_false(v.ok);
	assert_true(v.anchor_checked);
	assert_int_equal(v.bad_seq, 10);
	assert_non_null(strstr(v.why, "truncated"));
	free(out);
	free(out2);
}

static void
test_verify_upto(void **state)
{
	struct fx *fx = *state;
	struct audit_verdict v;

	build_log(fx, 10);
	/* A live writer may be in the middle of a line past `upto`. */
	spit_seg(fx, 1, "{\"actor\"", 8, "ab");
	assert_true(verdict_ok(fx->dir, 0, NULL, 6, &v));
	assert_int_equal(v.records, 6);
	assert_int_equal(v.last_seq, 6);
	audit_verify(fx->dir, 0, NULL, 0, &v);
	assert_false(v.ok);
}

/* ---- Refusals ---------------------------------------------------------- */

static void
expect_refused(struct audit *a, const char *type, json_t *fields,
    const char *want)
{
	const char *cause = NULL;
	uint64_t last = audit_last_seq(a);

	assert_int_equal(audit_append(a, type, "system", fields, &cause), 0);
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("cause \"%s\" lacks \"%s\"", cause, want);
	assert_int_equal(audit_last_seq(a), last);
}

static void
test_refusals(void **state)
{
	struct fx *fx = *state;
	static const char *const reserved[] = {"seq", "time", "type", "actor",
	    "prev", "hash"};
	struct audit_verdict v;
	struct parsed p2, p3;
	struct audit *a;
	struct text t;
	char big[2048];

	fx->cfg->audit.max_record = 1024;
	a = open_log(fx);
	assert_int_equal(append_ok(a, "test.rec", fields_n(1)), 1);
	assert_int_equal(append_ok(a, "test.rec", fields_n(2)), 2);

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	expect_refused(a, "test.big", json_pack("{s:s}", "blob", big),
	    "max_record");
	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
		expect_refused(a, "test.reserved", json_pack("{s:i, s:s}",
		    reserved[i], 1, "other", "ok"), "reserved");
	expect_refused(a, "test.array", json_pack("[i]", 1), "object");
	expect_refused(a, "test.\xff", NULL, "UTF-8");

	/* The next record takes the next seq and links to record 2. */
	assert_int_equal(append_ok(a, "test.rec", fields_n(3)), 3);
	audit_close(a);

	slurp_seg(fx, 1, &t);
	assert_int_equal(count_lines(&t), 3);
	parse_nth(&t, 2, &p2);
	parse_nth(&t, 3, &p3);
	assert_int_equal(p3.seq, 3);
	assert_string_equal(p3.prev, p2.hash);
	assert_null(memmem(t.buf, t.len, "\"blob\"", 6));
	assert_null(memmem(t.buf, t.len, "test.reserved", 13));
	assert_true(verdict_ok(fx->dir, 0, NULL, 0, &v));
	assert_int_equal(v.records, 3);
	free(t.buf);
}

/*
 * max_record bounds the bytes of a record's line, newline included: a
 * line of exactly max_record bytes fits, one byte more does not.
 */
static void
test_max_record_boundary(void **state)
{
	struct fx *fx = *state;
	const char *cause = NULL;
	struct audit *a;
	char path[2048];
	off_t line;

	/* Record 1 gives the length of an identical record 2 (same digits). */
	a = open_log(fx);
	assert_int_equal(append_ok(a, "test.size", fields_n(5)), 1);
	audit_close(a);
	seg_path(fx, 1, path, sizeof path);
	line = file_size(path);

	fx->cfg->audit.max_record = (uint64_t)line - 1;
	a = open_log(fx);
	assert_int_equal(audit_append(a, "test.size", "system", fields_n(5),
	    &cause), 0);
	assert_non_null(cause);
	assert_int_equal(audit_last_seq(a), 1);
	audit_close(a);
	assert_int_equal(file_size(path), line);

	fx->cfg->audit.max_record = (uint64_t)line;
	a = open_log(fx);
	cause = NULL;
	uint64_t seq = audit_append(a, "test.size", "system", fields_n(5),
	    &cause);
	audit_close(a);
	if (seq == 0)
		fail_msg("a %lld-byte line refused with max_record = %lld: %s",
		    (long long)line, (long long)line, cause ? cause : "?");
	assert_int_equal(seq, 2);
	assert_int_equal(file_size(path), 2 * line);
}

/* ---- Durability callbacks ---------------------------------------------- */

#define DUR_RECORDS 150

struct dur_log {
	uint64_t order[DUR_RECORDS * 2];
	size_t n;
	int ok_all;
	int count[DUR_RECORDS + 2];
};

struct dur_arg {
	struct dur_log *log;
	uint64_t seq;
	int ok;
};

static void
dur_cb(void *arg, int ok)
{
	struct dur_arg *d = arg;

	if (d->log->n < sizeof d->log->order / sizeof d->log->order[0])
		d->log->order[d->log->n++] = d->seq;
	d->log->count[d->seq]++;
	d->ok = ok;
	if (!ok)
		d->log->ok_all = 0;
}

static void
check_durable_order(struct fx *fx, int mode)
{
	static struct dur_arg args[DUR_RECORDS + 1];
	static struct dur_log dlog;
	struct audit_verdict v;
	struct audit *a;
	int flag = 0;

	memset(&dlog, 0, sizeof dlog);
	dlog.ok_all = 1;
	fx->cfg->audit.sync = mode;
	a = open_log(fx);
	for (uint64_t i = 1; i <= DUR_RECORDS; i++)
		assert_int_equal(append_ok(a, "test.rec", fields_n(i)), i);
	/* Registered out of order, before any of them is durable. */
	for (uint64_t k = 0; k < DUR_RECORDS; k++) {
		uint64_t s = k * 37 % DUR_RECORDS + 1;
		args[s].log = &dlog;
		args[s].seq = s;
		args[s].ok = -1;
		audit_when_durable(a, s, dur_cb, &args[s]);
	}
	assert_int_equal(dlog.n, 0);
	audit_when_durable(a, DUR_RECORDS, durable_flag_cb, &flag);
	run_until(fx, &flag);
	assert_int_equal(flag, 1);
	assert_int_equal(dlog.n, DUR_RECORDS);
	assert_true(dlog.ok_all);
	for (size_t i = 0; i < dlog.n; i++)
		assert_int_equal(dlog.order[i], i + 1);
	for (uint64_t s = 1; s <= DUR_RECORDS; s++) {
		assert_int_equal(dlog.count[s], 1);
		assert_int_equal(args[s].ok, 1);
	}
	assert_int_equal(audit_durable_seq(a), DUR_RECORDS);

	/* Already durable: at once, without running the loop. */
	flag = 0;
	audit_when_durable(a, 3, durable_flag_cb, &flag);
	assert_int_equal(flag, 1);
	audit_close(a);
	/* Nothing fired twice at close. */
	assert_int_equal(dlog.n, DUR_RECORDS);
	assert_true(verdict_ok(fx->dir, 0, NULL, 0, &v));
	assert_int_equal(v.records, DUR_RECORDS);
}

static void
test_durable_group(void **state)
{
	check_durable_order(*state, AUDIT_SYNC_GROUP);
}

static void
test_durable_none(void **state)
{
	check_durable_order(*state, AUDIT_SYNC_NONE);
}

static void
test_durable_always(void **state)
{
	check_durable_order(*state, AUDIT_SYNC_ALWAYS);
}

/* Close writes what is pending and fires every callback exactly once. */
static void
test_durable_at_close(void **state)
{
	struct fx *fx = *state;
	static struct dur_arg args[12];
	static struct dur_log dlog;
	struct audit_verdict v;
	struct audit *a;
	int flag = 0;

	memset(&dlog, 0, sizeof dlog);
	dlog.ok_all = 1;
	fx->cfg->audit.sync = AUDIT_SYNC_GROUP;
	fx->cfg->audit.sync_interval_ms = 10000;
	a = open_log(fx);
	for (uint64_t i = 1; i <= 10; i++) {
		assert_int_equal(append_ok(a, "test.rec", fields_n(i)), i);
		args[i].log = &dlog;
		args[i].seq = i;
		args[i].ok = -1;
		audit_when_durable(a, i, dur_cb, &args[i]);
	}
	/* A record never appended: still unwritten at close. */
	args[11].log = &dlog;
	args[11].seq = 11;
	args[11].ok = -1;
	audit_when_durable(a, 11, dur_cb, &args[11]);
	assert_int_equal(dlog.n, 0);
	audit_close(a);
	assert_int_equal(dlog.n, 11);
	for (uint64_t i = 1; i <= 11; i++) {
		assert_int_equal(dlog.order[i - 1], i);
		assert_int_equal(dlog.count[i], 1);
	}
	for (uint64_t i = 1; i <= 10; i++)
		assert_int_equal(args[i].ok, 1);
	assert_int_equal(args[11].ok, 0);
	assert_true(verdict_ok(fx->dir, 0, NULL, 0, &v));
	assert_int_equal(v.records, 10);

	/* Reopened, everything on disk is durable at once. */
	a = open_log(fx);
	audit_when_durable(a, 10, durable_flag_cb, &flag);
	assert_int_equal(flag, 1);
	audit_close(a);
}

/* ---- A directory without segments ------------------------------------- */

/*
 * Runs fn in a child, so that a sanitizer abort fails this test instead of
 * killing the whole program; returns the child's exit status or -signal.
 */
static int
in_child(int (*fn)(const char *), const char *dir)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(fn(dir));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int
child_list_empty(const char *dir)
{
	struct audit_segments segs;
	struct audit_verdict v;
	char *cause = NULL;

	if (audit_segments_list(dir, &segs, &cause) != 0 || segs.n != 0)
		return 10;
	audit_segments_free(&segs);
	audit_verify(dir, 0, NULL, 0, &v);
	if (!v.ok || v.records != 0 || v.segments != 0)
		return 11;
	return 0;
}

static int
child_open_fresh(const char *dir)
{
	struct config cfg;
	struct audit_verdict v;
	struct event_base *base = event_base_new();
	struct audit *a;
	char *cause = NULL, sub[2048];
	const char *why;

	snprintf(sub, sizeof sub, "%s/new/audit", dir);
	memset(&cfg, 0, sizeof cfg);
	cfg.audit.dir = sub;
	cfg.audit.sync = AUDIT_SYNC_NONE;
	cfg.audit.sync_interval_ms = 1;
	cfg.audit.sync_records = 64;
	cfg.audit.segment_size = 1 << 20;
	cfg.audit.max_record = 1 << 20;
	cfg.audit.anchor_every = 1000;
	if (base == NULL || (a = audit_open(base, &cfg, &cause)) == NULL)
		return 20;
	if (audit_append(a, "test.rec", "system", NULL, &why) != 1)
		return 21;
	audit_close(a);
	event_base_free(base);
	audit_verify(sub, 0, NULL, 0, &v);
	if (!v.ok || v.records != 1)
		return 22;
	return 0;
}

/* A new directory: no segment yet, created on open. */
static void
test_fresh_dir(void **state)
{
	char dir[1024];
	const char *tmp = getenv("TMPDIR");
	int rc1, rc2;

	snprintf(dir, sizeof dir, "%s/test_audit.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	rc1 = in_child(child_list_empty, dir);
	rc2 = in_child(child_open_fresh, dir);

	char path[2048];
	snprintf(path, sizeof path, "%s/new/audit/" AUDIT_SEGMENT_FMT, dir, 1u);
	unlink(path);
	snprintf(path, sizeof path, "%s/new/audit", dir);
	rmdir(path);
	snprintf(path, sizeof path, "%s/new", dir);
	rmdir(path);
	rmdir(dir);
	if (rc1 != 0)
		fail_msg("listing / verifying an empty directory: child "
		    "status %d", rc1);
	if (rc2 != 0)
		fail_msg("audit_open on a new directory: child status %d", rc2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_vectors),
		cmocka_unit_test(test_fresh_dir),
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_canonical),
		T(test_utf8),
		T(test_seq_chain),
		T(test_segments),
		T(test_segments_reopen),
		T(test_torn_tail),
		T(test_nul_padding),
		T(test_torn_new_segment),
		T(test_damaged_refused),
		T(test_empty_last_segment),
		T(test_verify_deleted_line),
		T(test_verify_swapped_lines),
		T(test_verify_altered_value),
		T(test_verify_missing_segment),
		T(test_anchors),
		T(test_anchor_truncated),
		T(test_verify_upto),
		T(test_refusals),
		T(test_max_record_boundary),
		T(test_durable_group),
		T(test_durable_none),
		T(test_durable_always),
		T(test_durable_at_close),
#undef T
	};

	/* Keep the torn-tail warnings, not the open/close chatter. */
	log_set_level(LOG_LVL_WARN);
	/* The writer thread wakes the loop with event_active(). */
	if (evthread_use_pthreads() == -1) {
		fprintf(stderr, "evthread_use_pthreads failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
