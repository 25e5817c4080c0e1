/*
 * The alert unit: turns one untrusted Kafka message into the canonical
 * alert. It owns the checks made before the JSON parser (json_scan.c)
 * runs (size, UTF-8), format detection, and the per-format field and
 * severity maps, which read the parsed message without building objects.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "remediad/alert.h"
#include "remediad/growbuf.h"
#include "remediad/hex.h"
#include "remediad/json_scan.h"
#include "remediad/log.h"
#include "remediad/utf8.h"

enum alert_format {
	ALERT_FMT_GENERIC,
	ALERT_FMT_ECS,
	ALERT_FMT_OCSF,
	ALERT_FMT_WAZUH,
	ALERT_FMT_FALCO,
};

static const char *const alert_format_names[] = {
	[ALERT_FMT_GENERIC] = "generic",
	[ALERT_FMT_ECS] = "ecs",
	[ALERT_FMT_OCSF] = "ocsf",
	[ALERT_FMT_WAZUH] = "wazuh",
	[ALERT_FMT_FALCO] = "falco",
};

/* The canonical fields in the order an alert prints them. */
enum alert_field {
	F_ID, F_SOURCE, F_TIME, F_RECEIVED_AT, F_SEVERITY, F_TITLE, F_RULE,
	F_CATEGORY, F_HOST, F_USER, F_IP, F_PROCESS, F_CONTAINER, F_CLOUD,
	ALERT_NKEYS
};
static const char *const alert_keys[ALERT_NKEYS] = {
	"id", "source", "time", "received_at", "severity", "title", "rule",
	"category", "host", "user", "ip", "process", "container", "cloud",
};

_Static_assert(ALERT_NKEYS == ALERT_NFIELDS && F_ID == ALERT_FIELD_ID &&
	F_SOURCE == ALERT_FIELD_SOURCE && F_TIME == ALERT_FIELD_TIME &&
	F_SEVERITY == ALERT_FIELD_SEVERITY && F_RULE == ALERT_FIELD_RULE &&
	F_CATEGORY == ALERT_FIELD_CATEGORY && F_HOST == ALERT_FIELD_HOST,
    "alert.h's view of the fields");

/* One alert under construction. */
struct alert_build {
	const char *data; /* the message, for the hash id */
	size_t len;
	const struct jscan *js; /* the parsed message */
	const struct jscan_value *doc;
	struct alert_flat *out; /* the canonical fields so far */
	char **store;		/* their text */
	size_t *storecap, storelen;
	char *why;
	size_t whylen;
};

const char *
alert_reject_name(enum alert_reject r)
{
	switch (r) {
	case ALERT_OK:
		return "ok";
	case ALERT_TOO_LARGE:
		return "too_large";
	case ALERT_INVALID_UTF8:
		return "invalid_utf8";
	case ALERT_INVALID_JSON:
		return "invalid_json";
	case ALERT_NOT_OBJECT:
		return "not_object";
	case ALERT_TOO_DEEP:
		return "too_deep";
	case ALERT_MISSING_FIELD:
		return "missing_field";
	}
	return "unknown";
}

static void alert_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
alert_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* ---- Checks before the parser ------------------------------------------- */

static const char *
alert_type_name(const struct jscan_value *v)
{
	switch (v->type) {
	case JSCAN_OBJECT:
		return "an object";
	case JSCAN_ARRAY:
		return "an array";
	case JSCAN_STRING:
		return "a string";
	case JSCAN_INTEGER:
	case JSCAN_REAL:
		return "a number";
	case JSCAN_TRUE:
		return "true";
	case JSCAN_FALSE:
		return "false";
	case JSCAN_NULL:
		return "null";
	}
	return "something else";
}

/* ---- Lookups ------------------------------------------------------------ */

/*
 * Follows a dotted path. Exporters flatten ECS inconsistently ("kibana.
 * alert.rule.name" as one top-level key, or "event": {"kind": ...}, or a
 * mix), so at each object every split of the rest of the path is tried:
 * the nested form first, the literal dotted key last. Each node of the
 * document has one path from the root, so this visits a node at most once.
 * In an array, a segment of digits is an index.
 */
static const struct jscan_value *
alert_path_getn(const struct jscan *js, const struct jscan_value *node,
    const char *path, size_t len)
{
	const struct jscan_value *child, *v;

	if (node == NULL)
		return NULL;
	if (jscan_is(node, JSCAN_ARRAY)) {
		size_t seg = 0, idx = 0;

		while (seg < len && path[seg] != '.') {
			if (path[seg] < '0' || path[seg] > '9' || seg >= 9)
				return NULL;
			idx = idx * 10 + (size_t)(path[seg] - '0');
			seg++;
		}
		if (seg == 0)
			return NULL;
		child = jscan_at(js, node, idx);
		if (seg == len)
			return child;
		return alert_path_getn(js, child, path + seg + 1,
		    len - seg - 1);
	}
	if (!jscan_is(node, JSCAN_OBJECT))
		return NULL;
	if (!node->dotted) {
		/* No key here holds a dot: only the first segment can match. */
		const char *dot = memchr(path, '.', len);

		if (dot == NULL)
			return jscan_get(js, node, path, len);
		child = jscan_get(js, node, path, (size_t)(dot - path));
		return alert_path_getn(js, child, dot + 1,
		    len - (size_t)(dot - path) - 1);
	}
	for (size_t i = 0; i < len; i++) {
		if (path[i] != '.')
			continue;
		child = jscan_get(js, node, path, i);
		if (child == NULL)
			continue;
		v = alert_path_getn(js, child, path + i + 1, len - i - 1);
		if (v != NULL)
			return v;
	}
	return jscan_get(js, node, path, len);
}

/* The value at a dotted path from the top of the message, or NULL. */
static const struct jscan_value *
alert_get(const struct alert_build *b, const char *path)
{
	return alert_path_getn(b->js, b->doc, path, strlen(path));
}

/* A member of an object by its literal key (dots and all), or NULL. */
static const struct jscan_value *
alert_member(const struct alert_build *b, const struct jscan_value *o,
    const char *key)
{
	return jscan_get(b->js, o, key, strlen(key));
}

/* An array stands for its first element where a format documents it. */
static const struct jscan_value *
alert_first(const struct alert_build *b, const struct jscan_value *v)
{
	return jscan_is(v, JSCAN_ARRAY) ? jscan_at(b->js, v, 0) : v;
}

/* ---- Canonical values --------------------------------------------------- */

static json_t *
alert_must(json_t *v)
{
	/* Only memory can make these fail: the inputs are checked. */
	if (v == NULL)
		fatalx("alert: out of memory");
	return v;
}

/*
 * Sets canonical field `key` to the text s (valid UTF-8, no NUL), copied
 * to the store; a later value replaces it.
 */
static void
alert_put(struct alert_build *b, enum alert_field key, const char *s,
    size_t n)
{
	if (n > UINT32_MAX || b->storelen + n + 1 > UINT32_MAX ||
	    growbuf_reserve(b->store, b->storecap, b->storelen + n + 1,
		256) == -1)
		fatalx("alert: out of memory");
	memcpy(*b->store + b->storelen, s, n);
	(*b->store)[b->storelen + n] = '\0';
	b->out->off[key] = (uint32_t)b->storelen;
	b->out->len[key] = (uint32_t)n;
	b->out->set |= 1u << key;
	b->storelen += n + 1;
}

/* The shortest text of a double that reads back the same, as JSON. */
static void
alert_real_text(double d, char *buf, size_t size)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (strpbrk(buf, ".eE") == NULL)
		strncat(buf, ".0", size - strlen(buf) - 1);
}

/*
 * The canonical text of a source value: 1 with *s, *n (into v, or into
 * buf), or 0 when there is none: absent, null, "" (an empty string says
 * nothing), an object or an array. Other scalars become their JSON text
 * (in buf), so that a numeric host id still names the host. Long strings
 * are cut to ALERT_MAX_STRING bytes at a character boundary, so one huge
 * field cannot bloat every copy of the alert; raw keeps it whole.
 */
static int
alert_string_of(const struct jscan_value *v, char buf[64], const char **s,
    size_t *n)
{
	if (v == NULL)
		return 0;
	switch (v->type) {
	case JSCAN_STRING:
		*s = v->u.str.s;
		*n = v->u.str.len;
		if (*n == 0)
			return 0;
		if (*n > ALERT_MAX_STRING) {
			*n = ALERT_MAX_STRING;
			while (*n > 0 && ((unsigned char)(*s)[*n] & 0xc0) ==
			    0x80)
				(*n)--;
		}
		return 1;
	case JSCAN_INTEGER:
		snprintf(buf, 64, "%" PRId64, v->u.i);
		break;
	case JSCAN_REAL:
		alert_real_text(v->u.d, buf, 64);
		break;
	case JSCAN_TRUE:
		snprintf(buf, 64, "true");
		break;
	case JSCAN_FALSE:
		snprintf(buf, 64, "false");
		break;
	default:
		return 0;
	}
	*s = buf;
	*n = strlen(buf);
	return 1;
}

/* Sets a string field from v; 1 if v gave one. */
static int
alert_set_string(struct alert_build *b, enum alert_field key,
    const struct jscan_value *v)
{
	char buf[64];
	const char *s;
	size_t n;

	if (!alert_string_of(v, buf, &s, &n))
		return 0;
	alert_put(b, key, s, n);
	return 1;
}

static int
alert_vpick(struct alert_build *b, enum alert_field key, int first,
    va_list ap)
{
	const char *path;

	while ((path = va_arg(ap, const char *)) != NULL) {
		const struct jscan_value *v = alert_get(b, path);

		if (first)
			v = alert_first(b, v);
		if (alert_set_string(b, key, v))
			return 1;
	}
	return 0;
}

static int alert_pick(struct alert_build *b, enum alert_field key, ...)
    __attribute__((sentinel));
static int alert_pick_first(struct alert_build *b, enum alert_field key, ...)
    __attribute__((sentinel));

/* Sets a string field from the first of the paths that gives one. */
static int
alert_pick(struct alert_build *b, enum alert_field key, ...)
{
	va_list ap;
	int set;

	va_start(ap, key);
	set = alert_vpick(b, key, 0, ap);
	va_end(ap);
	return set;
}

/* The same, where an array gives its first element. */
static int
alert_pick_first(struct alert_build *b, enum alert_field key, ...)
{
	va_list ap;
	int set;

	va_start(ap, key);
	set = alert_vpick(b, key, 1, ap);
	va_end(ap);
	return set;
}

/* The hash id: what a redelivery of the same bytes is recognised by. */
static void
alert_set_hash_id(struct alert_build *b)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char id[ALERT_HASH_ID_LEN + 1] = "sha256:";

	if (!EVP_Digest(b->data, b->len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != 32)
		fatalx("alert: SHA-256 failed");
	hex_encode(id + 7, md, mdlen);
	alert_put(b, F_ID, id, ALERT_HASH_ID_LEN);
}

static void
alert_set_severity(struct alert_build *b, double d)
{
	if (d < 0)
		d = 0;
	if (d > 100)
		d = 100;
	/* Half away from zero, as lround, without needing libm. */
	b->out->severity = (int64_t)(d + 0.5);
	b->out->set |= 1u << F_SEVERITY;
}

/* A number in 0-100 (rounded), or -1. */
static double
alert_percent(const struct jscan_value *v)
{
	double d;

	if (!jscan_is_number(v))
		return -1;
	d = jscan_number(v);
	return d >= 0 && d <= 100 ? d : -1;
}

/* ECS's named severities, also used by generic alerts; -1 when unknown. */
static int
alert_severity_named(const struct jscan_value *v)
{
	static const struct {
		const char *name;
		int value;
	} names[] = {
	    {"low", 21},
	    {"medium", 47},
	    {"high", 73},
	    {"critical", 99},
	};

	if (!jscan_is(v, JSCAN_STRING))
		return -1;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcasecmp(v->u.str.s, names[i].name) == 0)
			return names[i].value;
	return -1;
}

/* ---- Time --------------------------------------------------------------- */

#define ALERT_US_PER_S	 INT64_C(1000000)
/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z, in microseconds. */
#define ALERT_TIME_MIN_S INT64_C(-62167219200)
#define ALERT_TIME_MAX_S INT64_C(253402300799)

/* Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant). */
static int64_t
alert_days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	int64_t era;
	unsigned int yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned int)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
alert_civil_from_days(int64_t z, int64_t *y, unsigned int *m,
    unsigned int *d)
{
	int64_t era;
	unsigned int doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned int)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int
alert_digits(const char *s, size_t len, size_t at, size_t count, int *out)
{
	int v = 0;

	if (at + count > len)
		return -1;
	for (size_t i = at; i < at + count; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * RFC 3339 and the ISO 8601 forms sources really send:
 * YYYY-MM-DD[T t space]HH:MM:SS[.fraction][Z z +HH:MM +HHMM +HH], digits
 * of the fraction past microseconds dropped (truncated, not rounded, so
 * that a time never moves into the next second). No offset is read as UTC.
 */
static int
alert_time_parse(const char *s, size_t len, int64_t *us)
{
	static const unsigned char mdays[] = {
	    31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	int y, mo, d, h, mi, sec, oh = 0, om = 0, frac = 0;
	int64_t secs;
	size_t i = 19;

	if (alert_digits(s, len, 0, 4, &y) || len < 19 || s[4] != '-' ||
	    alert_digits(s, len, 5, 2, &mo) || s[7] != '-' ||
	    alert_digits(s, len, 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    alert_digits(s, len, 11, 2, &h) || s[13] != ':' ||
	    alert_digits(s, len, 14, 2, &mi) || s[16] != ':' ||
	    alert_digits(s, len, 17, 2, &sec))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	/* February 29th only in leap years. */
	if (mo == 2 && d == 29 &&
	    !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	if (i < len && s[i] == '.') {
		int scale = 100000;

		i++;
		if (i >= len || s[i] < '0' || s[i] > '9')
			return -1;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
			frac += (s[i] - '0') * scale;
			scale /= 10;
		}
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		int sign = s[i] == '-' ? -1 : 1;

		if (alert_digits(s, len, i + 1, 2, &oh))
			return -1;
		i += 3;
		/* +HH:MM, +HHMM or +HH. */
		if (i < len) {
			if (s[i] == ':')
				i++;
			if (alert_digits(s, len, i, 2, &om))
				return -1;
			i += 2;
		}
		if (oh > 23 || om > 59)
			return -1;
		oh *= sign;
		om *= sign;
	}
	if (i != len)
		return -1;
	/* A leap second (:60) falls into the next minute. */
	secs = alert_days_from_civil(y, (unsigned int)mo, (unsigned int)d) *
		86400 +
	    h * 3600 + mi * 60 + sec - (oh * 3600 + om * 60);
	if (secs < ALERT_TIME_MIN_S || secs > ALERT_TIME_MAX_S)
		return -1;
	*us = secs * ALERT_US_PER_S + frac;
	return 0;
}

/*
 * A number is milliseconds since the epoch (OCSF), or seconds when below
 * 1e11: no real alert is from before March 1973, and some producers send
 * seconds where milliseconds are due.
 */
static int
alert_time_number(double t, int64_t *us)
{
	double scale = t < 1e11 ? 1e6 : 1e3;

	if (!(t >= 0) || t * scale / 1e6 > (double)ALERT_TIME_MAX_S)
		return -1;
	*us = (int64_t)(t * scale);
	return 0;
}

/* v (0 <= v < 10^width) in exactly `width` digits at buf + *n. */
static void
alert_put_digits(char *buf, size_t *n, int64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		buf[*n + (size_t)i] = (char)('0' + v % 10);
	*n += (size_t)width;
}

/* Sets time from v when v is a time this unit can read. */
static int
alert_set_time(struct alert_build *b, const struct jscan_value *v)
{
	char buf[64];
	int64_t us, days, secs, y;
	unsigned int m, d;
	int rest;
	size_t n;

	if (jscan_is(v, JSCAN_STRING)) {
		if (alert_time_parse(v->u.str.s, v->u.str.len, &us) != 0)
			return 0;
	} else if (jscan_is(v, JSCAN_INTEGER) &&
	    v->u.i < INT64_C(1000000000000000)) {
		/* Integers are converted exactly, without a double. */
		int64_t t = v->u.i;

		if (t < 0)
			return 0;
		us = t < INT64_C(100000000000) ? t * ALERT_US_PER_S : t * 1000;
		if (us / ALERT_US_PER_S > ALERT_TIME_MAX_S)
			return 0;
	} else if (jscan_is(v, JSCAN_REAL)) {
		if (alert_time_number(v->u.d, &us) != 0)
			return 0;
	} else
		return 0;
	secs = us >= 0 ? us / ALERT_US_PER_S
		       : -((-us + ALERT_US_PER_S - 1) / ALERT_US_PER_S);
	days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	rest = (int)(secs - days * 86400);
	alert_civil_from_days(days, &y, &m, &d);
	/* YYYY-MM-DDTHH:MM:SS by hand: one per alert. */
	n = 0;
	alert_put_digits(buf, &n, y, 4);
	buf[n++] = '-';
	alert_put_digits(buf, &n, m, 2);
	buf[n++] = '-';
	alert_put_digits(buf, &n, d, 2);
	buf[n++] = 'T';
	alert_put_digits(buf, &n, rest / 3600, 2);
	buf[n++] = ':';
	alert_put_digits(buf, &n, rest / 60 % 60, 2);
	buf[n++] = ':';
	alert_put_digits(buf, &n, rest % 60, 2);
	/* Whole seconds print without a fraction: one instant, one string. */
	if (us - secs * ALERT_US_PER_S != 0) {
		buf[n++] = '.';
		alert_put_digits(buf, &n, us - secs * ALERT_US_PER_S, 6);
	}
	buf[n++] = 'Z';
	buf[n] = '\0';
	alert_put(b, F_TIME, buf, n);
	return 1;
}

static int alert_pick_time(struct alert_build *b, ...)
    __attribute__((sentinel));

static int
alert_pick_time(struct alert_build *b, ...)
{
	const char *path;
	va_list ap;
	int set = 0;

	va_start(ap, b);
	while (!set && (path = va_arg(ap, const char *)) != NULL)
		set = alert_set_time(b, alert_get(b, path));
	va_end(ap);
	return set;
}

/* ---- Formats ------------------------------------------------------------ */

static int
alert_is_string(const struct jscan_value *v, const char *s)
{
	return jscan_is(v, JSCAN_STRING) && strcmp(v->u.str.s, s) == 0;
}

/* The first match wins; the order is documented in playbooks-lua/README.md. */
static enum alert_format
alert_detect(const struct alert_build *b)
{
	const struct jscan_value *doc = b->doc, *v;

	v = alert_member(b, doc, "class_uid");
	if (jscan_is(v, JSCAN_INTEGER) && (v->u.i == 2004 || v->u.i == 2001))
		return ALERT_FMT_OCSF;
	v = alert_get(b, "event.kind");
	if (alert_is_string(v, "alert") || alert_is_string(v, "signal") ||
	    jscan_is(alert_get(b, "kibana.alert.uuid"), JSCAN_STRING))
		return ALERT_FMT_ECS;
	if (jscan_is_number(alert_get(b, "rule.level")) &&
	    jscan_is(alert_member(b, doc, "agent"), JSCAN_OBJECT) &&
	    (alert_member(b, doc, "manager") != NULL ||
		alert_member(b, doc, "decoder") != NULL))
		return ALERT_FMT_WAZUH;
	if (jscan_is(alert_member(b, doc, "output"), JSCAN_STRING) &&
	    jscan_is(alert_member(b, doc, "priority"), JSCAN_STRING) &&
	    jscan_is(alert_member(b, doc, "rule"), JSCAN_STRING) &&
	    (alert_member(b, doc, "uuid") != NULL ||
		alert_member(b, doc, "time") != NULL))
		return ALERT_FMT_FALCO;
	return ALERT_FMT_GENERIC;
}

static enum alert_reject
alert_map_ecs(struct alert_build *b)
{
	static const char *const risk[] = {
	    "kibana.alert.risk_score",
	    "kibana.alert.rule.risk_score",
	    "signal.rule.risk_score",
	};
	static const char *const named[] = {
	    "kibana.alert.severity",
	    "kibana.alert.rule.severity",
	    "signal.rule.severity",
	};
	double sev;
	int s;

	if (!alert_pick(b, F_ID, "event.id", "kibana.alert.uuid", "_id", NULL))
		alert_set_hash_id(b);
	alert_pick_time(b, "@timestamp", NULL);
	/* The most specific score first: the source's own, then the rule's. */
	sev = alert_percent(alert_get(b, "event.severity"));
	for (size_t i = 0; sev < 0 && i < sizeof risk / sizeof risk[0]; i++)
		sev = alert_percent(alert_get(b, risk[i]));
	for (size_t i = 0; sev < 0 && i < sizeof named / sizeof named[0]; i++) {
		s = alert_severity_named(alert_get(b, named[i]));
		if (s >= 0)
			sev = s;
	}
	if (sev >= 0)
		alert_set_severity(b, sev);
	alert_pick(b, F_TITLE, "rule.name", "kibana.alert.rule.name",
	    "signal.rule.name", "message", NULL);
	/*
	 * The rule's name, not its id: playbooks are written by people and
	 * match on what they read in the SIEM; ids are the fallback.
	 */
	alert_pick(b, F_RULE, "rule.name", "kibana.alert.rule.name",
	    "signal.rule.name", "rule.id", "kibana.alert.rule.rule_id",
	    "signal.rule.rule_id", NULL);
	alert_pick_first(b, F_CATEGORY, "event.category", NULL);
	alert_pick(b, F_HOST, "host.name", "host.hostname", NULL);
	alert_pick(b, F_USER, "user.name", NULL);
	alert_pick_first(b, F_IP, "source.ip", "host.ip", NULL);
	alert_pick(b, F_PROCESS, "process.name", NULL);
	alert_pick(b, F_CONTAINER, "container.id", NULL);
	alert_pick(b, F_CLOUD, "cloud.account.id", NULL);
	return ALERT_OK;
}

static enum alert_reject
alert_map_ocsf(struct alert_build *b)
{
	static const int sev[][2] = {
	    {0, 0}, {1, 10}, {2, 25}, {3, 50}, {4, 75}, {5, 90}, {6, 100},
	    {99, 50},
	};
	int64_t cls = alert_member(b, b->doc, "class_uid")->u.i;
	const struct jscan_value *v;
	int legacy = cls == 2001;

	/*
	 * Security Finding (2001) kept its details in `finding`; Detection
	 * Finding (2004) in `finding_info`. A finding without its uid cannot
	 * be deduplicated, and hashing would make every redelivery a new
	 * alert, so it is refused.
	 */
	if (!(legacy ? alert_pick(b, F_ID, "finding.uid", "finding_info.uid",
			   NULL)
		     : alert_pick(b, F_ID, "finding_info.uid", NULL))) {
		alert_why(b->why, b->whylen,
		    "missing field %s for OCSF class %d",
		    legacy ? "finding.uid" : "finding_info.uid", (int)cls);
		return ALERT_MISSING_FIELD;
	}
	alert_pick_time(b, "time", "time_dt", NULL);
	v = alert_member(b, b->doc, "severity_id");
	for (size_t i = 0;
	     jscan_is(v, JSCAN_INTEGER) && i < sizeof sev / sizeof sev[0]; i++)
		if (v->u.i == sev[i][0]) {
			alert_set_severity(b, sev[i][1]);
			break;
		}
	if (legacy)
		alert_pick(b, F_TITLE, "finding.title", "finding_info.title",
		    NULL);
	else
		alert_pick(b, F_TITLE, "finding_info.title", NULL);
	alert_pick(b, F_RULE, "finding_info.analytic.name",
	    "metadata.product.name", NULL);
	if (legacy)
		alert_pick_first(b, F_CATEGORY, "finding.types",
		    "finding_info.types", "class_name", NULL);
	else
		alert_pick_first(b, F_CATEGORY, "finding_info.types",
		    "class_name", NULL);
	alert_pick(b, F_HOST, "device.hostname", "device.name", NULL);
	alert_pick(b, F_USER, "actor.user.name", NULL);
	alert_pick(b, F_IP, "src_endpoint.ip", NULL);
	alert_pick(b, F_PROCESS, "actor.process.name", NULL);
	alert_pick(b, F_CONTAINER, "container.uid", NULL);
	alert_pick(b, F_CLOUD, "cloud.account.uid", NULL);
	return ALERT_OK;
}

static enum alert_reject
alert_map_wazuh(struct alert_build *b)
{
	const struct jscan_value *level;

	/* Wazuh always sends an id; one without is not a real alert. */
	if (!alert_pick(b, F_ID, "id", NULL)) {
		alert_why(b->why, b->whylen,
		    "missing field id for Wazuh alert");
		return ALERT_MISSING_FIELD;
	}
	alert_pick_time(b, "timestamp", NULL);
	level = alert_get(b, "rule.level");
	/* Levels run 0-15; set_severity clamps what lies outside. */
	alert_set_severity(b, jscan_number(level) * 100 / 15);
	alert_pick(b, F_TITLE, "rule.description", NULL);
	alert_pick(b, F_RULE, "rule.id", NULL);
	alert_pick_first(b, F_CATEGORY, "rule.groups", NULL);
	alert_pick(b, F_HOST, "agent.name", NULL);
	alert_pick(b, F_USER, "data.srcuser", "data.dstuser", NULL);
	alert_pick(b, F_IP, "data.srcip", "agent.ip", NULL);
	alert_pick(b, F_PROCESS, "data.program_name",
	    "predecoder.program_name", NULL);
	return ALERT_OK;
}

/*
 * A Falco output field, looked up as the literal key it is ("proc.name"
 * is one key, not a path). Falco writes "<NA>" (older) or null (newer)
 * for a field it could not resolve: neither names anything.
 */
static int
alert_falco_field(struct alert_build *b, enum alert_field key,
    const char *name)
{
	const struct jscan_value *fields =
	    alert_member(b, b->doc, "output_fields");
	const struct jscan_value *v = alert_member(b, fields, name);

	if (alert_is_string(v, "<NA>"))
		return 0;
	/* container.id is "host" for events outside any container. */
	if (strcmp(name, "container.id") == 0 && alert_is_string(v, "host"))
		return 0;
	return alert_set_string(b, key, v);
}

static enum alert_reject
alert_map_falco(struct alert_build *b)
{
	static const struct {
		const char *name;
		int value;
	} prio[] = {
	    {"emergency", 100}, {"alert", 95},	   {"critical", 90},
	    {"error", 75},	{"warning", 50},   {"notice", 30},
	    {"informational", 20}, {"info", 20}, {"debug", 10},
	};
	const char *p;

	if (!alert_pick(b, F_ID, "uuid", NULL))
		alert_set_hash_id(b);
	alert_pick_time(b, "time", NULL);
	/* alert_detect() saw it is a string. */
	p = alert_member(b, b->doc, "priority")->u.str.s;
	for (size_t i = 0; i < sizeof prio / sizeof prio[0]; i++)
		if (strcasecmp(p, prio[i].name) == 0) {
			alert_set_severity(b, prio[i].value);
			break;
		}
	alert_pick(b, F_TITLE, "output", NULL);
	alert_pick(b, F_RULE, "rule", NULL);
	if (!alert_set_string(b, F_CATEGORY,
		alert_first(b, alert_member(b, b->doc, "tags"))))
		alert_pick(b, F_CATEGORY, "source", NULL);
	alert_pick(b, F_HOST, "hostname", NULL);
	alert_falco_field(b, F_USER, "user.name");
	if (!alert_falco_field(b, F_PROCESS, "proc.name"))
		alert_falco_field(b, F_PROCESS, "proc.cmdline");
	alert_falco_field(b, F_CONTAINER, "container.id");
	return ALERT_OK;
}

/*
 * Generic severity: a number (or a string holding only one) is taken as
 * 0-100 and clamped. 0-10 scales are NOT rescaled: a 7 would be ambiguous
 * between "7 of 10" and "7 of 100", so it stays 7; such a topic should
 * map its scale upstream. Names are ECS's.
 */
static void
alert_generic_severity(struct alert_build *b, const struct jscan_value *v)
{
	const char *s;
	char *end;
	double d;
	int named;

	if (jscan_is_number(v)) {
		alert_set_severity(b, jscan_number(v));
		return;
	}
	if ((named = alert_severity_named(v)) >= 0) {
		alert_set_severity(b, named);
		return;
	}
	if (!jscan_is(v, JSCAN_STRING))
		return;
	s = v->u.str.s;
	/* Digits only: strtod alone would take "nan", "inf" and hex. */
	if (*s == '\0' || strspn(s, "0123456789.+-eE") != strlen(s))
		return;
	d = strtod(s, &end);
	if (*end == '\0' && isfinite(d))
		alert_set_severity(b, d);
}

static enum alert_reject
alert_map_generic(struct alert_build *b, const struct alert_generic *g)
{
	static const struct alert_generic defaults = {
	    .id = "id",
	    .severity = "severity",
	    .rule = "rule",
	    .category = "category",
	    .host = "host",
	    .user = "user",
	    .ip = "ip",
	    .process = "process",
	    .container = "container",
	    .cloud = "cloud",
	};
	const struct {
		enum alert_field key;
		const char *path;
	} strings[] = {
	    {F_RULE, g ? g->rule : defaults.rule},
	    {F_CATEGORY, g ? g->category : defaults.category},
	    {F_HOST, g ? g->host : defaults.host},
	    {F_USER, g ? g->user : defaults.user},
	    {F_IP, g ? g->ip : defaults.ip},
	    {F_PROCESS, g ? g->process : defaults.process},
	    {F_CONTAINER, g ? g->container : defaults.container},
	    {F_CLOUD, g ? g->cloud : defaults.cloud},
	};

	if (g == NULL) {
		if (!alert_pick(b, F_ID, "id", NULL))
			alert_set_hash_id(b);
		alert_pick_time(b, "time", "@timestamp", "timestamp", NULL);
		alert_pick(b, F_TITLE, "title", "message", NULL);
		g = &defaults;
	} else {
		/*
		 * A configured id path is a promise about the topic: a
		 * message without it is refused rather than hashed.
		 */
		if (g->id != NULL) {
			if (!alert_pick(b, F_ID, g->id, NULL)) {
				alert_why(b->why, b->whylen,
				    "missing field %s (the topic's id path)",
				    g->id);
				return ALERT_MISSING_FIELD;
			}
		} else
			alert_set_hash_id(b);
		if (g->time != NULL)
			alert_pick_time(b, g->time, NULL);
		if (g->title != NULL)
			alert_pick(b, F_TITLE, g->title, NULL);
	}
	if (g->severity != NULL)
		alert_generic_severity(b, alert_get(b, g->severity));
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		if (strings[i].path != NULL)
			alert_pick(b, strings[i].key, strings[i].path, NULL);
	return ALERT_OK;
}

/* ---- Decoding ----------------------------------------------------------- */

enum alert_reject
alert_decode_flat(const char *data, size_t len, const struct alert_opts *opts,
    const char *received_at, struct alert_flat *out, char **store,
    size_t *storecap, char *why, size_t whylen)
{
	size_t max_size = ALERT_DEFAULT_MAX_SIZE, bad;
	int max_depth = ALERT_DEFAULT_MAX_DEPTH;
	const struct alert_generic *generic = NULL;
	struct jscan own = {0}, *js = &own;
	struct alert_build b = {0};
	struct jscan_error jerr;
	enum alert_format fmt;
	enum alert_reject r;
	const char *what = NULL;

	memset(out, 0, sizeof *out);
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (opts != NULL) {
		if (opts->max_size > 0)
			max_size = opts->max_size;
		if (opts->max_depth > 0)
			max_depth = opts->max_depth;
		generic = opts->generic;
		if (opts->scan != NULL)
			js = opts->scan;
	}
	if (data == NULL)
		data = "";

	/* Cheapest first, and nothing parses what a cheap check refuses. */
	if (len > max_size) {
		alert_why(why, whylen,
		    "message of %zu bytes is larger than the limit of %zu "
		    "bytes",
		    len, max_size);
		return ALERT_TOO_LARGE;
	}
	/*
	 * Over the whole message, not only inside strings where the parser
	 * would look: bytes it would stop before are covered too, and the
	 * message says what is wrong. NUL is the parser's to refuse.
	 */
	bad = utf8_check(data, len, 1, &what);
	if (bad != len) {
		alert_why(why, whylen, "invalid UTF-8 at byte %zu (0x%02x): %s",
		    bad, (unsigned int)(unsigned char)data[bad], what);
		return ALERT_INVALID_UTF8;
	}
	if (jscan_parse(js, data, len, max_depth, &jerr) != 0) {
		r = ALERT_INVALID_JSON;
		if (jerr.fault == JSCAN_TOO_DEEP) {
			r = ALERT_TOO_DEEP;
			alert_why(why, whylen,
			    "nested deeper than %d levels at byte %zu",
			    max_depth, jerr.offset);
		} else if (jerr.fault == JSCAN_NO_MEMORY) {
			fatalx("alert: out of memory");
		} else {
			alert_why(why, whylen,
			    "invalid JSON at line %d column %d: %s", jerr.line,
			    jerr.column, jerr.text);
		}
		goto done;
	}
	b.doc = jscan_root(js);
	if (!jscan_is(b.doc, JSCAN_OBJECT)) {
		alert_why(why, whylen, "top level is %s, not an object",
		    alert_type_name(b.doc));
		r = ALERT_NOT_OBJECT;
		goto done;
	}

	b.data = data;
	b.len = len;
	b.js = js;
	b.out = out;
	b.store = store;
	b.storecap = storecap;
	b.why = why;
	b.whylen = whylen;
	/* A topic with configured paths carries generic alerts only. */
	fmt = generic != NULL ? ALERT_FMT_GENERIC : alert_detect(&b);
	switch (fmt) {
	case ALERT_FMT_ECS:
		r = alert_map_ecs(&b);
		break;
	case ALERT_FMT_OCSF:
		r = alert_map_ocsf(&b);
		break;
	case ALERT_FMT_WAZUH:
		r = alert_map_wazuh(&b);
		break;
	case ALERT_FMT_FALCO:
		r = alert_map_falco(&b);
		break;
	default:
		r = alert_map_generic(&b, generic);
		break;
	}
	if (r != ALERT_OK)
		goto done;
	alert_put(&b, F_SOURCE, alert_format_names[fmt],
	    strlen(alert_format_names[fmt]));
	if (received_at != NULL)
		alert_put(&b, F_RECEIVED_AT, received_at, strlen(received_at));
done:
	if (r != ALERT_OK)
		memset(out, 0, sizeof *out);
	if (js == &own)
		jscan_free(&own);
	return r;
}

const char *
alert_field_name(unsigned int i)
{
	return i < ALERT_NKEYS ? alert_keys[i] : NULL;
}

int
alert_field_index(const char *name)
{
	for (unsigned int i = 0; name != NULL && i < ALERT_NKEYS; i++)
		if (strcmp(alert_keys[i], name) == 0)
			return (int)i;
	return -1;
}

const char *
alert_flat_text(const struct alert_flat *f, const char *store,
    unsigned int i, size_t *len)
{
	if (i >= ALERT_NKEYS || i == F_SEVERITY || !(f->set & (1u << i)))
		return NULL;
	*len = f->len[i];
	return store + f->off[i];
}

json_t *
alert_flat_json(const struct alert_flat *f, const char *store)
{
	json_t *alert = alert_must(json_object());

	/* In the documented order, for people reading logs. */
	for (size_t i = 0; i < ALERT_NKEYS; i++) {
		json_t *v;

		if (!(f->set & (1u << i)))
			continue;
		v = i == F_SEVERITY ? json_integer((json_int_t)f->severity) :
				      json_stringn_nocheck(store + f->off[i],
					  f->len[i]);
		if (json_object_set_new_nocheck(alert, alert_keys[i],
			alert_must(v)) != 0)
			fatalx("alert: out of memory");
	}
	return alert;
}

enum alert_reject
alert_decode(const char *data, size_t len, const struct alert_opts *opts,
    const char *received_at, json_t **out, char *why, size_t whylen)
{
	struct alert_flat flat;
	char *store = NULL;
	size_t storecap = 0;
	enum alert_reject r;

	r = alert_decode_flat(data, len, opts, received_at, &flat, &store,
	    &storecap, why, whylen);
	*out = r == ALERT_OK ? alert_flat_json(&flat, store) : NULL;
	free(store);
	return r;
}
