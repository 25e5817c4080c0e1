/*
 * The dedup window: which alert ids were received in the last `window`,
 * bounded in memory, and rebuilt from the audit log after a restart.
 */
#ifndef REMEDIAD_DEDUP_H
#define REMEDIAD_DEDUP_H

#include <stddef.h>
#include <stdint.h>

struct dedup;

struct dedup *dedup_new(uint64_t window_ms, size_t max_entries);
void dedup_free(struct dedup *dd);

/*
 * Returns 1 when `id` was received within the window before now_ms (with
 * the seq of its alert.received record in *first_seq); otherwise records
 * it (at now_ms, seq) and returns 0. An id costs a fixed 40 bytes, from
 * the table dedup_new() made, whatever its length: nothing is allocated.
 */
int dedup_check(struct dedup *dd, const char *id, uint64_t now_ms,
    uint64_t seq, uint64_t *first_seq);
/* 1 when id is in the window before now_ms (its seq in *first_seq). */
int dedup_seen(struct dedup *dd, const char *id, uint64_t now_ms,
    uint64_t *first_seq);
/* Records id at now_ms with the seq of its record. */
void dedup_add(struct dedup *dd, const char *id, uint64_t now_ms,
    uint64_t seq);
/* Forgets ids older than the window. */
void dedup_expire(struct dedup *dd, uint64_t now_ms);

/*
 * Replays the alert.received records (their `alert` field is the id, their
 * `time` when it was received) of the audit log that fall within the
 * window before now_ms. Returns the number of ids loaded, -1 with *cause.
 */
long long dedup_rebuild(struct dedup *dd, const char *audit_dir,
    uint64_t now_ms, char **cause);

/*
 * The seq to replay from so every record written since cutoff_ms is seen:
 * the first of the last segment that began before it (1 at worst).
 */
uint64_t dedup_replay_from(const char *audit_dir, uint64_t cutoff_ms);

size_t dedup_size(const struct dedup *dd);
/* Ids dropped before their time because max_entries was reached. */
uint64_t dedup_evicted(const struct dedup *dd);

/* "2026-11-22T13:27:45.078244Z" (the audit log's form) to ms; -1 if bad. */
int64_t dedup_parse_time(const char *s, size_t len);

#endif
