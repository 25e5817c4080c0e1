/*
 * The alert decoder: one untrusted Kafka message in, one canonical alert
 * out (or a precise reason to reject it). The formats it recognises and
 * how each maps onto the canonical alert are in playbooks-lua/README.md.
 */
#ifndef REMEDIAD_ALERT_H
#define REMEDIAD_ALERT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct jscan;

#define ALERT_DEFAULT_MAX_SIZE	(1024 * 1024)
#define ALERT_DEFAULT_MAX_DEPTH 64
/* Longest canonical string field, in bytes; raw keeps the original. */
#define ALERT_MAX_STRING	4096
/* "sha256:" and 64 hex digits. */
#define ALERT_HASH_ID_LEN	(7 + 64)

/*
 * Dotted paths into the document, NULL = not mapped. A segment that is a
 * number indexes an array; a key that itself contains dots ("kibana.alert
 * .uuid" flattened at the top level) is found as well as the nested form.
 */
struct alert_generic {
	const char *id, *time, *severity, *title, *rule, *category, *host,
	    *user, *ip, *process, *container, *cloud;
};

/* A zeroed struct (or NULL opts) means the defaults. */
struct alert_opts {
	size_t max_size; /* bytes; larger is rejected (0: 1 MiB) */
	int max_depth;	 /* [ and { nesting; deeper is rejected (0: 64) */
	/*
	 * The paths for this topic, which then carries generic alerts only,
	 * or NULL to detect the format of every message.
	 */
	const struct alert_generic *generic;
	/*
	 * The parser's buffers, kept from one message to the next by a
	 * caller that decodes many (see json_scan.h), or NULL.
	 */
	struct jscan *scan;
};

enum alert_reject {
	ALERT_OK = 0,
	ALERT_TOO_LARGE,
	ALERT_INVALID_UTF8,
	ALERT_INVALID_JSON,
	ALERT_NOT_OBJECT,
	ALERT_TOO_DEEP,
	ALERT_MISSING_FIELD,
};

/*
 * A decoded alert before it is an object: each canonical field's text is
 * in a buffer of the caller's (at off, len bytes, NUL-terminated), and
 * the severity is a number. What alert_decode() makes of it is what
 * alert_flat_json() makes.
 */
#define ALERT_NFIELDS 14
struct alert_flat {
	uint32_t off[ALERT_NFIELDS], len[ALERT_NFIELDS];
	unsigned int set; /* bit i: field i is present */
	int64_t severity; /* with its bit set */
};
/* Fields i of ALERT_NFIELDS, in the order an alert prints them. */
#define ALERT_FIELD_ID	     0
#define ALERT_FIELD_SOURCE   1
#define ALERT_FIELD_TIME     2
#define ALERT_FIELD_SEVERITY 4 /* the number; every other field is text */
#define ALERT_FIELD_RULE     6
#define ALERT_FIELD_CATEGORY 7
#define ALERT_FIELD_HOST     8
/* Field i's name in the alert object ("id", "source", ...). */
const char *alert_field_name(unsigned int i);
/* The i whose name is name, or -1 when no canonical field has it. */
int alert_field_index(const char *name);
/* Field i's text (NUL-terminated, *len bytes), or NULL when absent. */
const char *alert_flat_text(const struct alert_flat *f, const char *store,
    unsigned int i, size_t *len);

/* "ok", "too_large", "invalid_utf8", ...; "unknown" out of range. */
const char *alert_reject_name(enum alert_reject r);

/*
 * Decodes and normalizes one message. On success returns ALERT_OK and
 * *out (caller owns) is the canonical alert object. On rejection returns
 * the reason, *out is NULL and why holds a precise message ("missing field
 * finding_info.uid for OCSF class 2004", "nested deeper than 64 levels at
 * byte 1234"). received_at (RFC 3339, ASCII: the caller's own clock) is
 * copied into the alert; NULL leaves it absent. Checks, in order: size,
 * UTF-8 of the whole message, JSON syntax and nesting depth (json_scan.c;
 * duplicate keys and NUL in strings are errors), an object at the top
 * level, the fields the detected format requires. The alert holds the canonical fields only:
 * the message itself stays with the caller (records keep it as text,
 * workers get its bytes).
 */
enum alert_reject alert_decode(const char *data, size_t len,
    const struct alert_opts *opts, const char *received_at, json_t **out,
    char *why, size_t whylen);

/*
 * The same decoding, with no allocation but the growth of *store (of
 * *storecap bytes, the caller's to keep and free), which holds the
 * fields' text: for a caller on another thread than the alert's users.
 * On a rejection *out is empty.
 */
enum alert_reject alert_decode_flat(const char *data, size_t len,
    const struct alert_opts *opts, const char *received_at,
    struct alert_flat *out, char **store, size_t *storecap, char *why,
    size_t whylen);

/* The canonical alert object (the caller's) of a flat one. */
json_t *alert_flat_json(const struct alert_flat *f, const char *store);

#endif
