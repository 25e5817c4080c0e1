/*
 * The audit chain and its readers, shared by remediad and remediactl: the
 * hash of a record, a scanner that finds seq/type/prev in a canonical line
 * without parsing it whole, the segment listing, and one walk over the log
 * that both replay (fast, for the state rebuild) and verify (every check,
 * naming the first bad record) are built on.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "remediad/audit.h"
#include "remediad/fsutil.h"
#include "remediad/hex.h"

static EVP_MD *audit_md;
static pthread_once_t audit_md_once = PTHREAD_ONCE_INIT;

static void
audit_md_init(void)
{
	/* Fetched once: an implicit fetch per digest costs more than it. */
	audit_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

struct audit_hasher {
	EVP_MD_CTX *ctx;
};

struct audit_hasher *
audit_hasher_new(void)
{
	struct audit_hasher *h = calloc(1, sizeof *h);

	if (h == NULL)
		return NULL;
	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

void
audit_hasher_free(struct audit_hasher *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void
audit_hash_parts(struct audit_hasher *h, const char *prev, const char *a,
    size_t alen, const char *b, size_t blen, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	int ok;

	pthread_once(&audit_md_once, audit_md_init);
	ctx = h != NULL ? h->ctx : EVP_MD_CTX_new();
	ok = ctx != NULL && audit_md != NULL &&
	    EVP_DigestInit_ex(ctx, audit_md, NULL) &&
	    EVP_DigestUpdate(ctx, prev, AUDIT_HASH_HEX) &&
	    EVP_DigestUpdate(ctx, a, alen) &&
	    (blen == 0 || EVP_DigestUpdate(ctx, b, blen)) &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
	if (h == NULL)
		EVP_MD_CTX_free(ctx);
	if (!ok) {
		/* Cannot happen with a working libcrypto; never pass as valid. */
		memset(out, 'x', AUDIT_HASH_HEX);
		out[AUDIT_HASH_HEX] = '\0';
		return;
	}
	hex_encode(out, md, 32);
	out[AUDIT_HASH_HEX] = '\0';
}

void
audit_hash(const char *prev, const char *data, size_t len, char *out)
{
	audit_hash_parts(NULL, prev, data, len, NULL, 0, out);
}

/* ---- Scanning a canonical line ---------------------------------------- */

static int
is_hex64(const char *p)
{
	for (int i = 0; i < AUDIT_HASH_HEX; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

/* Skips a JSON string starting at *p == '"'; returns the closing quote. */
static const char *
scan_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\') {
			p++;
			continue;
		}
		if (*p == '"')
			return p;
	}
	return NULL;
}

/* Skips one value of compact JSON; returns the byte after it, or NULL. */
static const char *
scan_value(const char *p, const char *end)
{
	int depth = 0;

	if (p >= end)
		return NULL;
	do {
		if (p >= end)
			return NULL;
		switch (*p) {
		case '"':
			p = scan_string(p, end);
			if (p == NULL)
				return NULL;
			p++;
			break;
		case '{':
		case '[':
			depth++;
			p++;
			break;
		case '}':
		case ']':
			if (--depth < 0)
				return NULL;
			p++;
			break;
		default:
			/* numbers, literals, ',' and ':' inside containers */
			if (depth == 0) {
				while (p < end && *p != ',' && *p != '}')
					p++;
				return p;
			}
			p++;
			break;
		}
	} while (depth > 0);
	return p;
}

int
audit_scan(const char *line, size_t len, struct audit_fields *f,
    const char **why)
{
	const char *p, *end, *suffix;
	int have_seq = 0;

	memset(f, 0, sizeof *f);
	if (len < AUDIT_SUFFIX_LEN + 2 || line[0] != '{') {
		*why = "not a JSON object line";
		return -1;
	}
	suffix = line + len - AUDIT_SUFFIX_LEN;
	if (memcmp(suffix, ",\"hash\":\"", 9) != 0 ||
	    memcmp(line + len - 2, "\"}", 2) != 0 || !is_hex64(suffix + 9)) {
		*why = "no hash at the end of the record";
		return -1;
	}
	f->hash = suffix + 9;
	p = line + 1;
	end = suffix;
	while (p < end) {
		const char *k = p, *kend, *v;

		if (*p != '"' || (kend = scan_string(p, end)) == NULL ||
		    kend + 1 >= end || kend[1] != ':') {
			*why = "unparsable line";
			return -1;
		}
		v = kend + 2;
		p = scan_value(v, end);
		if (p == NULL || (p < end && *p != ',')) {
			*why = "unparsable line";
			return -1;
		}
		size_t klen = (size_t)(kend - k - 1);
		if (klen == 3 && memcmp(k + 1, "seq", 3) == 0) {
			uint64_t s = 0;
			const char *q = v;
			if (q == p || *q == '0')
				goto badseq;
			for (; q < p; q++) {
				if (*q < '0' || *q > '9' ||
				    s > (UINT64_MAX - 9) / 10)
					goto badseq;
				s = s * 10 + (uint64_t)(*q - '0');
			}
			f->seq = s;
			have_seq = 1;
		} else if (klen == 4 && memcmp(k + 1, "type", 4) == 0) {
			if (*v != '"' || p - v < 3) {
				*why = "type is not a string";
				return -1;
			}
			f->type = v + 1;
			f->type_len = (size_t)(p - v - 2);
		} else if (klen == 4 && memcmp(k + 1, "prev", 4) == 0) {
			if (p - v != AUDIT_HASH_HEX + 2 || !is_hex64(v + 1)) {
				*why = "prev is not a hash";
				return -1;
			}
			f->prev = v + 1;
		}
		if (p < end)
			p++; /* the comma */
	}
	if (!have_seq || f->type == NULL || f->prev == NULL) {
		*why = "missing seq, type or prev";
		return -1;
	}
	return 0;
badseq:
	*why = "seq is not a positive integer";
	return -1;
}

int
audit_hash_ok_with(struct audit_hasher *h, const char *line, size_t len,
    const struct audit_fields *f)
{
	char want[AUDIT_HASH_HEX + 1];

	/* The canonical bytes: the line without the suffix, closed by '}'. */
	audit_hash_parts(h, f->prev, line, len - AUDIT_SUFFIX_LEN, "}", 1, want);
	return memcmp(want, f->hash, AUDIT_HASH_HEX) == 0;
}

int
audit_hash_ok(const char *line, size_t len, const struct audit_fields *f)
{
	return audit_hash_ok_with(NULL, line, len, f);
}

json_t *
audit_rec_json(const struct audit_rec *rec)
{
	return json_loadb(rec->line, rec->len, JSON_REJECT_DUPLICATES, NULL);
}

/* ---- Segments ---------------------------------------------------------- */

static int
seg_cmp(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

int
audit_segments_list(const char *dir, struct audit_segments *segs,
    char **cause)
{
	struct dirent *de;
	size_t cap = 0;
	DIR *dp;

	memset(segs, 0, sizeof *segs);
	dp = opendir(dir);
	if (dp == NULL) {
		if (asprintf(cause, "%s: %s", dir, strerror(errno)) == -1)
			*cause = NULL;
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		char canon[64];
		unsigned n;

		if (sscanf(de->d_name, "audit-%u.log", &n) != 1 || n == 0)
			continue;
		snprintf(canon, sizeof canon, AUDIT_SEGMENT_FMT, n);
		if (strcmp(canon, de->d_name) != 0)
			continue;
		if (segs->n == cap) {
			cap = cap ? cap * 2 : 16;
			unsigned *nn = realloc(segs->num, cap * sizeof *nn);
			if (nn == NULL) {
				closedir(dp);
				audit_segments_free(segs);
				*cause = strdup("out of memory");
				return -1;
			}
			segs->num = nn;
		}
		segs->num[segs->n++] = n;
	}
	closedir(dp);
	/* qsort(NULL, 0, ...) is undefined: an empty directory is common. */
	if (segs->n > 1)
		qsort(segs->num, segs->n, sizeof *segs->num, seg_cmp);
	return 0;
}

void
audit_segments_free(struct audit_segments *segs)
{
	free(segs->num);
	memset(segs, 0, sizeof *segs);
}

/* ---- The walk ---------------------------------------------------------- */

struct walk {
	const char *dir;
	uint64_t from;
	uint64_t upto; /* 0: no limit */
	int verify;    /* hashes and chain */
	int strict;    /* verify: a torn tail is an error, not a live write */
	audit_replay_cb cb;
	void *arg;
	struct audit_verdict *v;
	uint64_t next_seq; /* expected, 0 before the first record */
	char prev[AUDIT_HASH_HEX + 1];
	int cbret;
	struct audit_hasher *hasher;
	size_t good; /* bytes of the current segment's good records */
	int torn;    /* what follows them is a torn write */
};

static int walk_fail(struct walk *w, unsigned seg, uint64_t line,
    uint64_t seq, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
walk_fail(struct walk *w, unsigned seg, uint64_t line, uint64_t seq,
    const char *fmt, ...)
{
	va_list ap;

	w->v->ok = 0;
	w->v->bad_segment = seg;
	w->v->bad_line = line;
	w->v->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(w->v->why, sizeof w->v->why, fmt, ap);
	va_end(ap);
	return -1;
}

/* Reads a segment's first record seq (0 if none); for skipping on replay. */
static uint64_t
segment_first_seq(const char *dir, unsigned seg)
{
	char path[4096], buf[8192];
	struct audit_fields f;
	const char *why;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/" AUDIT_SEGMENT_FMT, dir, seg);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return 0;
	n = read(fd, buf, sizeof buf);
	close(fd);
	if (n <= 0)
		return 0;
	char *nl = memchr(buf, '\n', (size_t)n);
	if (nl == NULL)
		return 0; /* a record longer than 8 KiB: do not skip */
	if (audit_scan(buf, (size_t)(nl - buf), &f, &why) == -1)
		return 0;
	return f.seq;
}

static int
walk_segment(struct walk *w, unsigned seg, int last)
{
	char path[4096];
	struct fs_map m;
	const char *base, *p, *end;
	uint64_t lineno = 0;
	int rc = 0;

	w->good = 0;
	w->torn = 0;
	snprintf(path, sizeof path, "%s/" AUDIT_SEGMENT_FMT, w->dir, seg);
	if (fs_map(path, &m) == -1)
		return walk_fail(w, seg, 0, 0, "cannot read %s: %s", path,
		    strerror(errno));
	w->v->segments++;
	if (m.size == 0)
		return 0;
	base = m.base;
	p = base;
	end = base + m.size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct audit_fields f;
		struct audit_rec rec;
		const char *why;
		size_t len;

		lineno++;
		if (nl == NULL) {
			/* A live writer may be mid-batch: not yet a record. */
			if (last && !w->strict)
				break;
			rc = walk_fail(w, seg, lineno, 0,
			    "unterminated last line (%zu bytes): a torn or "
			    "truncated write", (size_t)(end - p));
			break;
		}
		len = (size_t)(nl - p);
		if (audit_scan(p, len, &f, &why) == -1) {
			rc = walk_fail(w, seg, lineno, 0, "unparsable line: %s",
			    why);
			break;
		}
		if (w->upto != 0 && f.seq > w->upto)
			break;
		if (w->next_seq != 0 && f.seq != w->next_seq) {
			rc = walk_fail(w, seg, lineno, f.seq,
			    "seq gap: expected %llu, found %llu",
			    (unsigned long long)w->next_seq,
			    (unsigned long long)f.seq);
			break;
		}
		if (w->next_seq == 0 && w->from <= 1 && f.seq != 1) {
			rc = walk_fail(w, seg, lineno, f.seq,
			    "seq gap: the log starts at %llu, not 1",
			    (unsigned long long)f.seq);
			break;
		}
		if (w->verify) {
			const char *want = w->next_seq ? w->prev
			    : (f.seq == 1 ? AUDIT_ZERO_HASH : NULL);
			if (want != NULL &&
			    memcmp(f.prev, want, AUDIT_HASH_HEX) != 0) {
				rc = walk_fail(w, seg, lineno, f.seq,
				    "prev mismatch: does not link to the "
				    "previous record's hash");
				break;
			}
			if (!audit_hash_ok_with(w->hasher, p, len, &f)) {
				rc = walk_fail(w, seg, lineno, f.seq,
				    "hash mismatch: the record was altered");
				break;
			}
		}
		w->next_seq = f.seq + 1;
		memcpy(w->prev, f.hash, AUDIT_HASH_HEX);
		w->v->records++;
		w->v->last_seq = f.seq;
		memcpy(w->v->last_hash, f.hash, AUDIT_HASH_HEX);
		w->v->last_hash[AUDIT_HASH_HEX] = '\0';
		if (w->cb != NULL && f.seq >= w->from) {
			rec.seq = f.seq;
			rec.type = f.type;
			rec.type_len = f.type_len;
			rec.line = p;
			rec.len = len;
			rec.segment = seg;
			rec.lineno = lineno;
			w->cbret = w->cb(&rec, w->arg);
			if (w->cbret != 0) {
				rc = 1;
				break;
			}
		}
		p = nl + 1;
		w->good = (size_t)(p - base);
	}
	if (rc == -1) {
		/* NUL padding, then at most an unterminated line: torn. */
		const char *q = base + w->good;
		while (q < end && *q == '\0')
			q++;
		w->torn = q == end || memchr(q, '\n', (size_t)(end - q)) == NULL;
	}
	fs_unmap(&m);
	return rc;
}

static int
walk_dir(struct walk *w)
{
	struct audit_segments segs;
	char *cause = NULL;
	size_t i, start = 0;
	int rc = 0;

	w->v->ok = 1;
	if (w->verify && (w->hasher = audit_hasher_new()) == NULL) {
		walk_fail(w, 0, 0, 0, "out of memory");
		return -1;
	}
	if (audit_segments_list(w->dir, &segs, &cause) == -1) {
		audit_hasher_free(w->hasher);
		walk_fail(w, 0, 0, 0, "%s", cause ? cause : "cannot list");
		free(cause);
		return -1;
	}
	/* Replay from seq N skips the segments that end before it. */
	if (w->from > 1 && !w->verify) {
		while (start + 1 < segs.n) {
			uint64_t first = segment_first_seq(w->dir,
			    segs.num[start + 1]);
			if (first == 0 || first > w->from)
				break;
			start++;
		}
	}
	for (i = start; i < segs.n; i++) {
		if (i > start && segs.num[i] != segs.num[i - 1] + 1 && w->verify) {
			walk_fail(w, segs.num[i], 0, 0,
			    "segment %u is missing before segment %u",
			    segs.num[i - 1] + 1, segs.num[i]);
			rc = -1;
			break;
		}
		rc = walk_segment(w, segs.num[i], i + 1 == segs.n);
		if (rc != 0)
			break;
		if (w->upto != 0 && w->v->last_seq >= w->upto)
			break;
	}
	audit_segments_free(&segs);
	audit_hasher_free(w->hasher);
	w->hasher = NULL;
	return rc;
}

int
audit_replay(const char *dir, uint64_t from, int flags, audit_replay_cb cb,
    void *arg, char **cause)
{
	struct audit_verdict v;
	struct walk w;
	int rc;

	memset(&v, 0, sizeof v);
	memset(&w, 0, sizeof w);
	w.dir = dir;
	w.from = from ? from : 1;
	w.verify = (flags & AUDIT_REPLAY_VERIFY) != 0;
	w.cb = cb;
	w.arg = arg;
	w.v = &v;
	*cause = NULL;
	rc = walk_dir(&w);
	if (rc == 1)
		return w.cbret;
	if (rc == -1) {
		if (asprintf(cause, "segment %u line %llu: %s",
			v.bad_segment, (unsigned long long)v.bad_line,
			v.why) == -1)
			*cause = NULL;
		return -1;
	}
	return 0;
}

void
audit_verify(const char *dir, uint64_t anchor_seq, const char *anchor_hash,
    uint64_t upto, struct audit_verdict *v)
{
	struct walk w;

	memset(v, 0, sizeof *v);
	memset(&w, 0, sizeof w);
	w.dir = dir;
	w.from = 1;
	w.upto = upto;
	w.verify = 1;
	w.strict = upto == 0;
	w.v = v;
	if (walk_dir(&w) != 0 || !v->ok)
		return;
	if (anchor_seq == 0)
		return;
	v->anchor_checked = 1;
	/* The anchor names a record the log must still hold, unchanged. */
	if (v->last_seq < anchor_seq) {
		v->ok = 0;
		v->bad_seq = anchor_seq;
		snprintf(v->why, sizeof v->why,
		    "the log ends at seq %llu, before the anchor at seq %llu: "
		    "its tail was truncated", (unsigned long long)v->last_seq,
		    (unsigned long long)anchor_seq);
		return;
	}
	/* Read that record's hash: a walk from and up to the anchor's seq. */
	struct audit_verdict at;
	struct walk wa;
	memset(&at, 0, sizeof at);
	memset(&wa, 0, sizeof wa);
	wa.dir = dir;
	wa.from = anchor_seq;
	wa.upto = anchor_seq;
	wa.v = &at;
	walk_dir(&wa);
	if (at.last_seq != anchor_seq ||
	    strncmp(at.last_hash, anchor_hash, AUDIT_HASH_HEX) != 0) {
		v->ok = 0;
		v->bad_seq = anchor_seq;
		snprintf(v->why, sizeof v->why,
		    "anchor mismatch: record %llu has hash %.16s..., the anchor "
		    "says %.16s...", (unsigned long long)anchor_seq,
		    at.last_hash[0] ? at.last_hash : "(none)", anchor_hash);
	}
}

void
audit_check_segment(const char *dir, unsigned seg, uint64_t prev_seq,
    const char *prev_hash, struct audit_verdict *v, size_t *good, int *torn)
{
	struct walk w;

	memset(v, 0, sizeof *v);
	memset(&w, 0, sizeof w);
	w.dir = dir;
	w.from = prev_seq + 1;
	w.verify = 1;
	w.strict = 1;
	w.v = v;
	v->ok = 1;
	v->last_seq = prev_seq;
	memcpy(v->last_hash, prev_hash, AUDIT_HASH_HEX);
	v->last_hash[AUDIT_HASH_HEX] = '\0';
	if (prev_seq > 0) {
		w.next_seq = prev_seq + 1;
		memcpy(w.prev, prev_hash, AUDIT_HASH_HEX);
	}
	w.hasher = audit_hasher_new();
	if (w.hasher == NULL) {
		walk_fail(&w, seg, 0, 0, "out of memory");
	} else
		walk_segment(&w, seg, 1);
	audit_hasher_free(w.hasher);
	*good = w.good;
	*torn = !v->ok && w.torn;
}

json_t *
audit_verdict_json(const struct audit_verdict *v)
{
	json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:s}", "ok", v->ok,
	    "records", (json_int_t)v->records, "segments",
	    (json_int_t)v->segments, "last_seq", (json_int_t)v->last_seq,
	    "last_hash", v->last_hash);

	if (v->anchor_checked || !v->ok)
		json_object_set_new(o, "anchor_checked",
		    json_boolean(v->anchor_checked));
	if (!v->ok)
		json_object_set_new(o, "first_bad", json_pack(
		    "{s:I, s:I, s:I, s:s}", "segment", (json_int_t)v->bad_segment,
		    "line", (json_int_t)v->bad_line, "seq",
		    (json_int_t)v->bad_seq, "why", v->why));
	return o;
}
