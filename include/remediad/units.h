/*
 * Parsing of the human units used in config files and on the command line:
 * durations ("250ms", "30s", "1h30m") and sizes ("16MB", "512KiB").
 */
#ifndef REMEDIAD_UNITS_H
#define REMEDIAD_UNITS_H

#include <stdint.h>
#include <stddef.h>

/*
 * Parses a duration into milliseconds. Units: ms, s, m, h, d, w; components
 * may be chained largest first ("1h30m"). No sign, no fraction, no bare
 * number. Returns 0, or -1 with a static reason in *cause.
 */
int units_parse_duration(const char *s, uint64_t *ms, const char **cause);

/*
 * Parses a size into bytes. Units: B, K/KB/KiB, M/MB/MiB, G/GB/GiB (all
 * powers of 1024) or a bare number of bytes. Returns 0 or -1 with *cause.
 */
int units_parse_size(const char *s, uint64_t *bytes, const char **cause);

/*
 * The current time as RFC 3339 UTC with microseconds
 * ("2026-11-22T13:27:45.078244Z"). The caller's clock caches the part
 * that changes once a second (formatting it is most of the cost).
 */
struct units_clock {
	long long sec;
	char base[24];
};
void units_now_rfc3339(struct units_clock *c, char *buf, size_t len);

/* Wall-clock milliseconds since the epoch. */
uint64_t units_now_ms(void);
/* Monotonic milliseconds, and microseconds, for intervals. */
uint64_t units_mono_ms(void);
uint64_t units_mono_us(void);
/* An epoch time in ms as "2026-11-22T13:27:45Z" (whole seconds, UTC). */
void units_format_time(uint64_t ms, char *buf, size_t len);

/* Formats milliseconds as the shortest exact duration ("1h30m", "250ms"). */
void units_format_duration(uint64_t ms, char *buf, size_t len);

#endif
