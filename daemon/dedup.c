/*
 * The dedup window. Ids live in a ring in the order they arrived (so the
 * oldest expire first, and max_entries evicts the oldest) and in an
 * open-addressing index over that ring. Alert ids come from outside and
 * may be 4096 bytes long: an entry keeps the id's 128-bit SipHash tag
 * under a random key of the window's own, not the id, so the window costs
 * the same 32 bytes per id (plus 8 of index) whatever ids arrive, and
 * crafted ids can neither pile up in one probe chain nor share a tag.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "remediad/audit.h"
#include "remediad/dedup.h"
#include "remediad/fsutil.h"
#include "remediad/siphash.h"

#define EMPTY UINT32_MAX

struct dd_entry {
	uint64_t tag[2]; /* the id's; tag[0] places it in the index */
	uint64_t t_ms;
	uint64_t seq;
};

struct dedup {
	uint64_t window_ms;
	size_t cap;	     /* ring slots = max_entries */
	struct dd_entry *ring;
	size_t head, count;  /* oldest entry, number held */
	uint32_t *index;     /* ring slot per bucket, or EMPTY */
	size_t mask;	     /* buckets - 1 */
	uint64_t key[2];
	uint64_t evicted;
};


/* ---- The window ------------------------------------------------------------ */

struct dedup *
dedup_new(uint64_t window_ms, size_t max_entries)
{
	struct dedup *dd = calloc(1, sizeof *dd);
	size_t buckets = 16;

	if (dd == NULL)
		return NULL;
	while (buckets < max_entries * 2)
		buckets *= 2;
	dd->window_ms = window_ms;
	dd->cap = max_entries;
	/* calloc: untouched pages of a large window cost no memory. */
	dd->ring = calloc(max_entries, sizeof *dd->ring);
	dd->index = malloc(buckets * sizeof *dd->index);
	if (dd->ring == NULL || dd->index == NULL ||
	    siphash_key(dd->key) == -1) {
		dedup_free(dd);
		return NULL;
	}
	memset(dd->index, 0xff, buckets * sizeof *dd->index);
	dd->mask = buckets - 1;
	return dd;
}

void
dedup_free(struct dedup *dd)
{
	if (dd == NULL)
		return;
	free(dd->ring);
	free(dd->index);
	free(dd);
}

/* The bucket holding `slot`'s entry, found by probing from its hash. */
static size_t
dd_bucket_of(const struct dedup *dd, uint32_t slot)
{
	size_t b = dd->ring[slot].tag[0] & dd->mask;

	while (dd->index[b] != slot)
		b = (b + 1) & dd->mask;
	return b;
}

/* Linear-probing delete with backward shift: no tombstones to pile up. */
static void
dd_index_remove(struct dedup *dd, size_t b)
{
	size_t next = (b + 1) & dd->mask;

	dd->index[b] = EMPTY;
	while (dd->index[next] != EMPTY) {
		size_t home = dd->ring[dd->index[next]].tag[0] & dd->mask;
		/* Move it back if its home is not in (b, next]. */
		if (((next - home) & dd->mask) >= ((next - b) & dd->mask)) {
			dd->index[b] = dd->index[next];
			dd->index[next] = EMPTY;
			b = next;
		}
		next = (next + 1) & dd->mask;
	}
}

static void
dd_pop_oldest(struct dedup *dd)
{
	dd_index_remove(dd, dd_bucket_of(dd, (uint32_t)dd->head));
	dd->head = (dd->head + 1) % dd->cap;
	dd->count--;
}

void
dedup_expire(struct dedup *dd, uint64_t now_ms)
{
	uint64_t cutoff = now_ms > dd->window_ms ? now_ms - dd->window_ms : 0;

	while (dd->count > 0 && dd->ring[dd->head].t_ms < cutoff)
		dd_pop_oldest(dd);
}

static void
dd_tag(const struct dedup *dd, const char *id, uint64_t tag[2])
{
	siphash24_128(dd->key, (const unsigned char *)id, strlen(id), tag);
}

static void
dd_insert(struct dedup *dd, const uint64_t tag[2], uint64_t t_ms,
    uint64_t seq)
{
	size_t slot, b;

	if (dd->count == dd->cap) {
		dd_pop_oldest(dd);
		dd->evicted++;
	}
	slot = (dd->head + dd->count) % dd->cap;
	dd->ring[slot] = (struct dd_entry){{tag[0], tag[1]}, t_ms, seq};
	dd->count++;
	b = tag[0] & dd->mask;
	while (dd->index[b] != EMPTY)
		b = (b + 1) & dd->mask;
	dd->index[b] = (uint32_t)slot;
}

static struct dd_entry *
dd_find(struct dedup *dd, const uint64_t tag[2])
{
	size_t b = tag[0] & dd->mask;

	for (; dd->index[b] != EMPTY; b = (b + 1) & dd->mask) {
		struct dd_entry *e = &dd->ring[dd->index[b]];
		if (e->tag[0] == tag[0] && e->tag[1] == tag[1])
			return e;
	}
	return NULL;
}

/* Whether id (its tag left in tag) is in the window before now_ms. */
static int
dd_seen(struct dedup *dd, const char *id, uint64_t now_ms, uint64_t tag[2],
    uint64_t *first_seq)
{
	struct dd_entry *e;

	dedup_expire(dd, now_ms);
	dd_tag(dd, id, tag);
	if ((e = dd_find(dd, tag)) == NULL)
		return 0;
	*first_seq = e->seq;
	return 1;
}

int
dedup_seen(struct dedup *dd, const char *id, uint64_t now_ms,
    uint64_t *first_seq)
{
	uint64_t tag[2];

	return dd_seen(dd, id, now_ms, tag, first_seq);
}

void
dedup_add(struct dedup *dd, const char *id, uint64_t now_ms, uint64_t seq)
{
	uint64_t tag[2];

	dd_tag(dd, id, tag);
	dd_insert(dd, tag, now_ms, seq);
}

int
dedup_check(struct dedup *dd, const char *id, uint64_t now_ms, uint64_t seq,
    uint64_t *first_seq)
{
	uint64_t tag[2];

	if (dd_seen(dd, id, now_ms, tag, first_seq))
		return 1;
	dd_insert(dd, tag, now_ms, seq);
	return 0;
}

size_t
dedup_size(const struct dedup *dd)
{
	return dd->count;
}

uint64_t
dedup_evicted(const struct dedup *dd)
{
	return dd->evicted;
}

/* ---- Rebuild from the audit log ------------------------------------------ */

int64_t
dedup_parse_time(const char *s, size_t len)
{
	struct tm tm;
	int us = 0;
	char buf[40];

	if (len < 20 || len >= sizeof buf)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(&tm, 0, sizeof tm);
	char *end = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return -1;
	if (*end == '.') {
		int digits = 0;
		for (end++; *end >= '0' && *end <= '9'; end++, digits++)
			if (digits < 6)
				us = us * 10 + (*end - '0');
		for (; digits < 6; digits++)
			us *= 10;
	}
	if (strcmp(end, "Z") != 0)
		return -1;
	return (int64_t)timegm(&tm) * 1000 + us / 1000;
}

struct dd_rebuild {
	struct dedup *dd;
	uint64_t cutoff;
	long long loaded;
};

static int
dd_rebuild_cb(const struct audit_rec *rec, void *arg)
{
	struct dd_rebuild *r = arg;
	json_t *j, *id, *t;

	if (rec->type_len != 14 || memcmp(rec->type, "alert.received", 14) != 0)
		return 0;
	j = audit_rec_json(rec);
	id = json_object_get(j, "alert");
	t = json_object_get(j, "time");
	if (json_is_string(id) && json_is_string(t)) {
		int64_t ms = dedup_parse_time(json_string_value(t),
		    json_string_length(t));
		uint64_t first;
		if (ms >= 0 && (uint64_t)ms >= r->cutoff &&
		    dedup_check(r->dd, json_string_value(id), (uint64_t)ms,
			rec->seq, &first) == 0)
			r->loaded++;
	}
	json_decref(j);
	return 0;
}

/* The time of a segment's first record; -1 when it has none. */
static int64_t
dd_segment_start(const char *dir, unsigned seg, uint64_t *seq)
{
	char path[4096];
	struct fs_map m;
	int64_t t = -1;

	snprintf(path, sizeof path, "%s/" AUDIT_SEGMENT_FMT, dir, seg);
	if (fs_map(path, &m) == -1 || m.size == 0)
		return -1;
	const char *nl = memchr(m.base, '\n', m.size);
	json_t *j = nl ? json_loadb(m.base, (size_t)(nl - m.base), 0, NULL)
		       : NULL;
	json_t *tm = json_object_get(j, "time");
	if (json_is_string(tm) && json_is_integer(json_object_get(j, "seq"))) {
		t = dedup_parse_time(json_string_value(tm),
		    json_string_length(tm));
		*seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
	}
	json_decref(j);
	fs_unmap(&m);
	return t;
}

uint64_t
dedup_replay_from(const char *audit_dir, uint64_t cutoff_ms)
{
	struct audit_segments segs;
	uint64_t from = 1, seq;
	char *cause = NULL;

	if (audit_segments_list(audit_dir, &segs, &cause) == -1) {
		free(cause);
		return 1;
	}
	/* Start in the last segment that began before the window did. */
	for (size_t i = 0; i < segs.n; i++) {
		int64_t t = dd_segment_start(audit_dir, segs.num[i], &seq);
		if (t < 0 || (uint64_t)t > cutoff_ms)
			break;
		from = seq;
	}
	audit_segments_free(&segs);
	return from;
}

long long
dedup_rebuild(struct dedup *dd, const char *audit_dir, uint64_t now_ms,
    char **cause)
{
	struct dd_rebuild r = {dd, 0, 0};
	uint64_t from;

	r.cutoff = now_ms > dd->window_ms ? now_ms - dd->window_ms : 0;
	from = dedup_replay_from(audit_dir, r.cutoff);
	if (audit_replay(audit_dir, from, 0, dd_rebuild_cb, &r, cause) == -1)
		return -1;
	return r.loaded;
}
