/*
 * A validating JSON parser for untrusted messages that builds no objects:
 * one pass over the text fills a flat array of values (preorder, reused
 * from one message to the next) and a shadow copy of the text in which
 * every string is unescaped in place and NUL-terminated. It accepts exactly
 * what jansson's json_loadb() accepts with JSON_REJECT_DUPLICATES |
 * JSON_DECODE_ANY (no NUL in strings, valid UTF-8, surrogates paired,
 * integers that fit int64_t, reals that do not overflow), within a depth
 * limit, except that a NUL byte after a number or a literal, which
 * jansson skips, is refused like any other stray byte. The intake
 * decodes every Kafka message with it: no malloc per value, and strings
 * are only ever copied once.
 */
#ifndef REMEDIAD_JSON_SCAN_H
#define REMEDIAD_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

enum jscan_type {
	JSCAN_NULL,
	JSCAN_FALSE,
	JSCAN_TRUE,
	JSCAN_INTEGER,
	JSCAN_REAL,
	JSCAN_STRING,
	JSCAN_ARRAY,
	JSCAN_OBJECT,
};

/*
 * One value. Its children (array elements, object members) follow it in
 * the array: the first is the next value, and each links to its next
 * sibling. A member of an object carries its key.
 */
struct jscan_value {
	uint8_t type;	 /* enum jscan_type */
	uint8_t dotted;	 /* an object: some member's key holds a '.' */
	uint32_t next;	 /* index of the next sibling; 0: the last one */
	uint32_t count;	 /* array elements or object members */
	const char *key; /* a member's key (NUL-terminated), else NULL */
	uint32_t keylen;
	union {
		struct {
			const char *s; /* NUL-terminated; may hold no NUL */
			uint32_t len;
		} str;
		int64_t i;
		double d;
	} u;
};

struct jscan {
	struct jscan_value *v; /* v[0] is the top level once parsed */
	size_t n, cap;
	char *shadow; /* the strings, unescaped */
	size_t shadow_cap;
	const struct jscan_value **scratch; /* duplicate checks of big objects */
	size_t scratch_cap;
};

enum jscan_fault {
	JSCAN_SYNTAX,	 /* not JSON, or JSON jansson would refuse */
	JSCAN_TOO_DEEP,	 /* containers nested deeper than max_depth */
	JSCAN_NO_MEMORY, /* or a text too large to index */
};

/* Where and why a text was refused. */
struct jscan_error {
	enum jscan_fault fault;
	size_t offset;	  /* byte offset of the offending character */
	int line, column; /* of that offset, 1-based; columns count
			     characters, the end of the text included */
	char text[96];
};

/* A zeroed struct is an empty parser; jscan_free() releases it. */
void jscan_free(struct jscan *js);

/*
 * Parses len bytes (not NUL-terminated). Returns 0 and fills js, or -1 with
 * err set (also on out of memory: "out of memory"). Containers nested
 * deeper than max_depth are refused. Values stay valid until the next
 * parse or jscan_free().
 */
int jscan_parse(struct jscan *js, const char *text, size_t len,
    int max_depth, struct jscan_error *err);

static inline const struct jscan_value *
jscan_root(const struct jscan *js)
{
	return js->n > 0 ? &js->v[0] : NULL;
}

/* The member of object o named key (klen bytes), or NULL. */
const struct jscan_value *jscan_get(const struct jscan *js,
    const struct jscan_value *o, const char *key, size_t klen);
/* The string member of object o named key (NUL-terminated), or NULL. */
const char *jscan_get_str(const struct jscan *js,
    const struct jscan_value *o, const char *key);
/* Element i of array a, or NULL. */
const struct jscan_value *jscan_at(const struct jscan *js,
    const struct jscan_value *a, size_t i);
/* The first child of an array or object, or NULL. */
const struct jscan_value *jscan_first(const struct jscan *js,
    const struct jscan_value *c);
/* The sibling after v, or NULL. */
const struct jscan_value *jscan_next(const struct jscan *js,
    const struct jscan_value *v);

static inline int
jscan_is(const struct jscan_value *v, enum jscan_type t)
{
	return v != NULL && v->type == t;
}

static inline int
jscan_is_number(const struct jscan_value *v)
{
	return jscan_is(v, JSCAN_INTEGER) || jscan_is(v, JSCAN_REAL);
}

/* An integer or real as a double; 0 for anything else. */
double jscan_number(const struct jscan_value *v);

#endif
