/*
 * The audit log: append-only JSON lines in numbered segment files, each
 * record chained to the previous one by SHA-256, written with group commit.
 * It is also the journal the daemon's state is rebuilt from.
 *
 * A line is the canonical serialization (sorted keys, compact, UTF-8) of the
 * record without `hash`, with ,"hash":"<64 hex>" inserted before the final
 * brace. hash = SHA-256(prev || canonical bytes), as lowercase hex.
 *
 * This header has two halves: the chain and reader code, shared with
 * remediactl for offline verification (audit_chain.c), and the daemon's
 * writer (audit.c).
 */
#ifndef REMEDIAD_AUDIT_H
#define REMEDIAD_AUDIT_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <jansson.h>

#define AUDIT_HASH_HEX	  64
#define AUDIT_ZERO_HASH	  "0000000000000000000000000000000000000000000000000000000000000000"
/* ,"hash":"<64 hex>"} */
#define AUDIT_SUFFIX_LEN  (9 + AUDIT_HASH_HEX + 2)
#define AUDIT_SEGMENT_FMT "audit-%06u.log"

/* ---- Chain and reading (shared) --------------------------------------- */

/* hex(SHA-256(prev || data)) into out[65]. */
void audit_hash(const char *prev, const char *data, size_t len, char *out);

/*
 * The same with a reusable digest context (hot paths: append, replay with
 * verification), over data given in two pieces: hex(SHA-256(prev || a ||
 * b)). A hasher is used by one thread at a time.
 */
struct audit_hasher;
struct audit_hasher *audit_hasher_new(void);
void audit_hasher_free(struct audit_hasher *h);
void audit_hash_parts(struct audit_hasher *h, const char *prev,
    const char *a, size_t alen, const char *b, size_t blen, char *out);

/* A growable byte buffer (batches of lines). */
struct audit_buf {
	char *data;
	size_t len;
	size_t cap;
};
/* The slow half of audit_buf_put(): the buffer grows first. */
int audit_buf_grow_put(struct audit_buf *b, const void *p, size_t n);
/*
 * Appends n bytes; -1 when memory runs out (the buffer is unchanged).
 * Inline: a record is written in many small pieces, most of them from
 * other units than this writer's.
 */
static inline int
audit_buf_put(struct audit_buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->len)
		return audit_buf_grow_put(b, p, n);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}
/* A string literal, without its NUL; -1 as audit_buf_put(). */
#define audit_buf_lit(b, lit) audit_buf_put((b), (lit), sizeof(lit) - 1)
void audit_buf_free(struct audit_buf *b);

/*
 * Appends the canonical serialization of a record, byte for byte what
 * jansson's JSON_COMPACT | JSON_SORT_KEYS gives for the object with the
 * reserved members added, but WITHOUT its closing brace (the writer adds
 * the hash member there). Fields must not use the reserved keys. When
 * prev_at is not NULL it gets the offset in b of prev's 64 hex digits (the
 * appender writes a placeholder there and its writer thread the real
 * previous hash). On -1 (invalid UTF-8 in type/actor, out of memory) the
 * buffer is unchanged and *cause says why.
 */
int audit_canon_record(struct audit_buf *b, uint64_t seq, const char *time,
    const char *type, const char *actor, const char *prev,
    const json_t *fields, size_t *prev_at, const char **cause);

/*
 * The canonical bytes of any JSON value (compact, keys sorted: what
 * json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) gives),
 * appended to b: the fast writer for other hot paths too (a worker's
 * results). -1 when memory runs out (b is then unchanged).
 */
int audit_canon_value(struct audit_buf *b, const json_t *v);
/*
 * A string as canonical JSON text (quoted, escaped as jansson escapes),
 * appended to b. The bytes must be valid UTF-8 without NUL (the caller
 * has checked them). -1 when memory runs out (b is then unchanged).
 */
int audit_canon_string(struct audit_buf *b, const char *s, size_t len);
/* An integer as canonical JSON text, appended to b; -1 out of memory. */
int audit_canon_int(struct audit_buf *b, int64_t v);
/* A finite real, spelt as jansson spells it; -1 out of memory. */
int audit_canon_real(struct audit_buf *b, double d);
/*
 * v in decimal, as a record writes an integer, at the end of out (24
 * bytes); returns where the text starts (it ends at out + 24).
 */
char *audit_int_text(char out[24], int64_t v);

/*
 * A member of a record given apart from a fields object: a JSON value, or
 * (value NULL) a string given as its slen bytes at str, so a long one
 * needs no copy into a json_t. Such bytes must be valid UTF-8 without NUL
 * (the caller has checked them). With verbatim set, str is instead the
 * value's canonical JSON text, copied as it is: for values the caller
 * made itself (a number it printed, a string it escaped beforehand with
 * audit_canon_string()).
 */
struct audit_member {
	const char *key;
	const json_t *value;
	const char *str;
	size_t slen;
	int verbatim;
};

/*
 * audit_canon_record() of the members of fields (NULL: none) and the
 * nmore of more, together. A key given twice is refused.
 */
int audit_canon_record_with(struct audit_buf *b, uint64_t seq,
    const char *time, const char *type, const char *actor, const char *prev,
    const json_t *fields, const struct audit_member *more, size_t nmore,
    size_t *prev_at, const char **cause);

/* The top-level fields a reader needs, found without a full parse. */
struct audit_fields {
	uint64_t seq;
	const char *type; /* inside the line; not NUL-terminated */
	size_t type_len;
	const char *prev; /* 64 hex */
	const char *hash; /* 64 hex, in the suffix */
};

/*
 * Checks the shape of one line (an object whose last member is the hash,
 * with seq, type and prev at the top level) and fills *f. Does not check
 * the hash. Returns 0, or -1 with a static reason.
 */
int audit_scan(const char *line, size_t len, struct audit_fields *f,
    const char **why);

/* Recomputes the hash of a scanned line: 1 when it matches. */
int audit_hash_ok(const char *line, size_t len, const struct audit_fields *f);
int audit_hash_ok_with(struct audit_hasher *h, const char *line, size_t len,
    const struct audit_fields *f);

/* Segment files of a directory, in order. */
struct audit_segments {
	unsigned *num;
	size_t n;
};
int audit_segments_list(const char *dir, struct audit_segments *segs,
    char **cause);
void audit_segments_free(struct audit_segments *segs);

/* One record, as replay hands it out; valid during the callback only. */
struct audit_rec {
	uint64_t seq;
	const char *type;
	size_t type_len;
	const char *line; /* the whole line, without '\n' */
	size_t len;
	unsigned segment;
	uint64_t lineno; /* 1-based within the segment */
};

/* Parses a record's line into JSON (caller owns), or NULL. */
json_t *audit_rec_json(const struct audit_rec *rec);

/* Returns 0 to go on, anything else stops the replay with that value. */
typedef int (*audit_replay_cb)(const struct audit_rec *rec, void *arg);

enum {
	AUDIT_REPLAY_VERIFY = 1, /* recompute every hash and the chain */
};

/*
 * Calls cb for every record with seq >= from, in order, checking seq
 * continuity (and the chain with AUDIT_REPLAY_VERIFY). Returns 0 at the
 * end, cb's non-zero value if it stopped, or -1 with *cause.
 */
int audit_replay(const char *dir, uint64_t from, int flags,
    audit_replay_cb cb, void *arg, char **cause);

struct audit_verdict {
	uint64_t records;	/* checked */
	uint64_t segments;
	uint64_t last_seq;
	char last_hash[AUDIT_HASH_HEX + 1];
	int ok;
	/* the first bad record, when !ok */
	unsigned bad_segment;
	uint64_t bad_line;
	uint64_t bad_seq;	/* 0 when it could not be read */
	char why[256];
	int anchor_checked;
};

/*
 * Verifies a whole directory: every line parses, seq has no gap from 1,
 * prev links, hashes match, segments follow each other. With an anchor
 * (seq > 0), also checks that record anchor_seq exists with that hash.
 * `upto` (0 for all) stops at that seq, for online checks of a live log.
 */
void audit_verify(const char *dir, uint64_t anchor_seq,
    const char *anchor_hash, uint64_t upto, struct audit_verdict *v);
json_t *audit_verdict_json(const struct audit_verdict *v);

/*
 * Checks one segment record by record, continuing a chain that ended at
 * (prev_seq, prev_hash); (0, zeros) for the first segment. Fills *v (the
 * good part's last seq and hash; on failure the first bad line), *good
 * (the bytes of the good part) and *torn (1 when everything after the good
 * part is an unterminated line or NUL padding: what a crash mid-write
 * leaves, as opposed to damage).
 */
void audit_check_segment(const char *dir, unsigned seg, uint64_t prev_seq,
    const char *prev_hash, struct audit_verdict *v, size_t *good, int *torn);

/* ---- The daemon's writer ----------------------------------------------- */

struct audit;
struct event_base;
struct config;

/*
 * Opens the log in cfg->audit.dir: creates it, recovers a torn tail of the
 * last segment (the only edit ever made, itself audited as
 * audit.recovered), and continues the chain. NULL with *cause on failure,
 * including a damaged (not merely torn) tail.
 */
struct audit *audit_open(struct event_base *base, const struct config *cfg,
    char **cause);
/* Writes and syncs everything pending, fires the callbacks, frees. */
void audit_close(struct audit *a);

/*
 * Appends a record: type (dotted), actor ("system", "playbook:NAME",
 * "user:NAME(uid=N)"), and the type's fields (an object, stolen; NULL for
 * none; keys seq, time, type, actor, prev, hash are reserved). Returns the
 * seq, or 0 with *cause (static) when the record is refused, and errno
 * saying which way: EFBIG larger than audit.max_record (trying again
 * will not help), EAGAIN the log is not writable or too far behind (it
 * will pass later), EINVAL bad fields, ENOMEM.
 */
uint64_t audit_append(struct audit *a, const char *type, const char *actor,
    json_t *fields, const char **cause);
/*
 * The same with the fields given as n members (not stolen: they are
 * serialized before it returns), so a hot record needs no fields object.
 */
uint64_t audit_append_members(struct audit *a, const char *type,
    const char *actor, const struct audit_member *m, size_t n,
    const char **cause);
/*
 * audit_append() for records whose loss is logged, not handled: the
 * refusal is logged at warn level with its reason. NULL a: the fields are
 * dropped (nothing to record to). Returns the seq, or 0.
 */
uint64_t audit_append_logged(struct audit *a, const char *type,
    const char *actor, json_t *fields);

/*
 * Calls cb(arg, ok) once record `seq` is on disk (per the sync policy):
 * at once if it already is. ok is 0 only when the log is closed with the
 * record still unwritten.
 */
typedef void (*audit_durable_cb)(void *arg, int ok);
void audit_when_durable(struct audit *a, uint64_t seq, audit_durable_cb cb,
    void *arg);

/*
 * One observer of the log (the control socket's audit commands): `tap`
 * sees every record's line as it is appended, `durable` every advance of
 * the durable seq. Either may be NULL.
 */
typedef void (*audit_tap_cb)(void *arg, uint64_t seq, const char *line,
    size_t len);
typedef void (*audit_advance_cb)(void *arg, uint64_t durable_seq);
void audit_set_observer(struct audit *a, audit_tap_cb tap,
    audit_advance_cb durable, void *arg);

/*
 * Waits, blocking the caller, until every record appended so far is on
 * disk or timeout_ms passes, and fires the callbacks of what is durable.
 * Only for moments that cannot wait for the loop (a Kafka partition
 * revoke). 0 when everything is durable, -1 otherwise.
 */
int audit_sync_now(struct audit *a, int timeout_ms);

/* Also told of every head anchor (the Kafka anchor topic). NULL: none. */
typedef void (*audit_anchor_cb)(void *arg, uint64_t seq, const char *hash);
void audit_set_anchor_hook(struct audit *a, audit_anchor_cb cb, void *arg);

uint64_t audit_last_seq(const struct audit *a);
uint64_t audit_durable_seq(const struct audit *a);
/* 1 while writes fail: new work must be refused. */
int audit_stalled(const struct audit *a);
const char *audit_dir(const struct audit *a);
/* Fields for `remediactl status`. */
json_t *audit_status_json(const struct audit *a);

#endif
