/*
 * Durations and sizes as people write them in config files and commands.
 * Strict: anything that is not exactly a known form is refused with a reason,
 * because a typo in a TTL or a memory ceiling must not silently become 0.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "remediad/units.h"

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 3600 * 1000},
    {"d", 86400 * 1000},
    {"w", 7 * 86400 * 1000ULL},
};
#define NDURATION (sizeof duration_units / sizeof duration_units[0])

static const struct unit size_units[] = {
    {"B", 1},
    {"K", 1ULL << 10}, {"KB", 1ULL << 10}, {"KiB", 1ULL << 10},
    {"M", 1ULL << 20}, {"MB", 1ULL << 20}, {"MiB", 1ULL << 20},
    {"G", 1ULL << 30}, {"GB", 1ULL << 30}, {"GiB", 1ULL << 30},
};
#define NSIZE (sizeof size_units / sizeof size_units[0])

/* Reads digits into *v; returns the count read, or -1 on overflow. */
static int
units_digits(const char **p, uint64_t *v)
{
	int n = 0;

	*v = 0;
	while (isdigit((unsigned char)**p)) {
		unsigned d = (unsigned)(**p - '0');
		if (*v > (UINT64_MAX - d) / 10)
			return -1;
		*v = *v * 10 + d;
		(*p)++;
		n++;
	}
	return n;
}

/* Finds the unit spelled at *p (longest match); advances *p. */
static const struct unit *
units_match(const char **p, const struct unit *tab, size_t n)
{
	const struct unit *best = NULL;
	size_t bestlen = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(tab[i].name);
		if (l > bestlen && strncmp(*p, tab[i].name, l) == 0) {
			best = &tab[i];
			bestlen = l;
		}
	}
	if (best != NULL)
		*p += bestlen;
	return best;
}

int
units_parse_duration(const char *s, uint64_t *ms, const char **cause)
{
	const char *p = s;
	size_t last = NDURATION;
	uint64_t total = 0, v;

	if (s == NULL || *s == '\0') {
		*cause = "empty duration";
		return -1;
	}
	if (*s == '-' || *s == '+') {
		*cause = "a duration has no sign";
		return -1;
	}
	while (*p != '\0') {
		const struct unit *u;
		int nd = units_digits(&p, &v);

		if (nd == -1) {
			*cause = "duration too large";
			return -1;
		}
		if (nd == 0) {
			*cause = "expected a number followed by a unit "
				 "(ms, s, m, h, d, w)";
			return -1;
		}
		if (*p == '.') {
			*cause = "fractions are not allowed; use a smaller unit";
			return -1;
		}
		/* "m" must not swallow the "m" of "ms": longest match wins. */
		u = units_match(&p, duration_units, NDURATION);
		if (u == NULL) {
			*cause = *p == '\0' ? "missing unit (ms, s, m, h, d, w)"
					    : "unknown unit (ms, s, m, h, d, w)";
			return -1;
		}
		size_t idx = (size_t)(u - duration_units);
		if (last != NDURATION && idx >= last) {
			*cause = "units must go from largest to smallest, "
				 "each once";
			return -1;
		}
		last = idx;
		if (v != 0 && u->mult > UINT64_MAX / v) {
			*cause = "duration too large";
			return -1;
		}
		if (total > UINT64_MAX - v * u->mult) {
			*cause = "duration too large";
			return -1;
		}
		total += v * u->mult;
	}
	*ms = total;
	return 0;
}

int
units_parse_size(const char *s, uint64_t *bytes, const char **cause)
{
	const char *p = s;
	const struct unit *u;
	uint64_t v;
	int nd;

	if (s == NULL || *s == '\0') {
		*cause = "empty size";
		return -1;
	}
	if (*s == '-' || *s == '+') {
		*cause = "a size has no sign";
		return -1;
	}
	nd = units_digits(&p, &v);
	if (nd == -1) {
		*cause = "size too large";
		return -1;
	}
	if (nd == 0) {
		*cause = "expected a number followed by a unit "
			 "(B, KB, MB, GB)";
		return -1;
	}
	if (*p == '.') {
		*cause = "fractions are not allowed; use a smaller unit";
		return -1;
	}
	if (*p == '\0') {
		*bytes = v;
		return 0;
	}
	u = units_match(&p, size_units, NSIZE);
	if (u == NULL || *p != '\0') {
		*cause = "unknown unit (B, KB, MB, GB)";
		return -1;
	}
	if (v != 0 && u->mult > UINT64_MAX / v) {
		*cause = "size too large";
		return -1;
	}
	*bytes = v * u->mult;
	return 0;
}

void
units_format_duration(uint64_t ms, char *buf, size_t len)
{
	size_t off = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (ms == 0) {
		snprintf(buf, len, "0s");
		return;
	}
	/* Largest unit first; weeks are left out as "168h" reads worse. */
	for (size_t i = NDURATION - 1; i < NDURATION; i--) {
		const struct unit *u = &duration_units[i];
		if (strcmp(u->name, "w") == 0 || ms < u->mult)
			continue;
		int n = snprintf(buf + off, len - off, "%llu%s",
		    (unsigned long long)(ms / u->mult), u->name);
		if (n < 0 || (size_t)n >= len - off)
			return;
		off += (size_t)n;
		ms %= u->mult;
	}
}

void
units_now_rfc3339(struct units_clock *c, char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	if ((long long)ts.tv_sec != c->sec || c->base[0] == '\0') {
		gmtime_r(&ts.tv_sec, &tm);
		strftime(c->base, sizeof c->base, "%Y-%m-%dT%H:%M:%S", &tm);
		c->sec = (long long)ts.tv_sec;
	}
	/* By hand: this runs for every record. */
	char out[32];
	int us = (int)(ts.tv_nsec / 1000) % 1000000;
	size_t n = strnlen(c->base, 20);
	memcpy(out, c->base, n);
	out[n++] = '.';
	for (int i = 5; i >= 0; i--, us /= 10)
		out[n + (size_t)i] = (char)('0' + us % 10);
	n += 6;
	out[n++] = 'Z';
	out[n] = '\0';
	if (len > 0) {
		if (n >= len)
			n = len - 1;
		memcpy(buf, out, n);
		buf[n] = '\0';
	}
}

uint64_t
units_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
units_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
units_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void
units_format_time(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
