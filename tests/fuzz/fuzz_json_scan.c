/*
 * Differential fuzz target for the JSON scanner (daemon/json_scan.c): each
 * input goes to jscan_parse() and to jansson's json_loadb() with the flags
 * the scanner promises to match, and any disagreement aborts: one accepts
 * and the other refuses, or the values differ in type, integer, the bits of
 * a real, the bytes of a string, or the keys and order of an object.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "remediad/json_scan.h"

#define JFLAGS	  (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
#define MAX_DEPTH 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The deepest nesting of brackets outside strings. It equals the real depth
 * of any valid text; where a text is invalid, both parsers stop at the
 * first error, before the scan and the parsers can see the text differently.
 */
static int
text_depth(const uint8_t *p, size_t len)
{
	int depth = 0, max = 0, in_string = 0;

	for (size_t i = 0; i < len; i++) {
		if (in_string) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in_string = 0;
			continue;
		}
		switch (p[i]) {
		case '"':
			in_string = 1;
			break;
		case '[':
		case '{':
			if (++depth > max)
				max = depth;
			break;
		case ']':
		case '}':
			depth--;
			break;
		}
	}
	return max;
}

static void
differ(const char *what, const char *path)
{
	fprintf(stderr, "fuzz_json_scan: %s at %s\n", what,
	    path[0] ? path : "/");
	abort();
}

static void compare(const struct jscan *js, const struct jscan_value *v,
    const json_t *j, char *path, size_t plen);

/*
 * Appends a key, or an index when key is NULL, to the path shown in a
 * failure, truncating quietly.
 */
static size_t
path_push(char *path, size_t plen, const char *key, size_t i)
{
	int n;

	if (key != NULL)
		n = snprintf(path + plen, 256 - plen, "/%s", key);
	else
		n = snprintf(path + plen, 256 - plen, "/%zu", i);
	if (n < 0 || (size_t)n >= 256 - plen)
		return 255;
	return plen + (size_t)n;
}

static void
compare_array(const struct jscan *js, const struct jscan_value *v,
    const json_t *j, char *path, size_t plen)
{
	const struct jscan_value *c;
	size_t i = 0, n = json_array_size(j);

	if (v->count != n)
		differ("array size", path);
	c = jscan_first(js, v);
	if (n > 0 && c != v + 1)
		differ("first element is not the next value", path);
	for (; c != NULL; c = jscan_next(js, c), i++) {
		size_t l = path_push(path, plen, NULL, i);

		if (i >= n)
			differ("more elements than jansson", path);
		if (c->key != NULL)
			differ("element with a key", path);
		if (i < 16 && jscan_at(js, v, i) != c)
			differ("jscan_at() is not the walk", path);
		compare(js, c, json_array_get(j, i), path, l);
		path[plen] = '\0';
	}
	if (i != n)
		differ("fewer elements than jansson", path);
	if (jscan_at(js, v, n) != NULL)
		differ("jscan_at() past the end", path);
}

static void
compare_object(const struct jscan *js, const struct jscan_value *v,
    const json_t *j, char *path, size_t plen)
{
	const struct jscan_value *c;
	size_t i = 0;

	if (v->count != json_object_size(j))
		differ("object size", path);
	c = jscan_first(js, v);
	if (c != NULL && c != v + 1)
		differ("first member is not the next value", path);
	/* jansson 2.14 iterates an object in insertion order. */
	for (void *it = json_object_iter((json_t *)j); it != NULL;
	    it = json_object_iter_next((json_t *)j, it), i++) {
		const char *k = json_object_iter_key(it);
		size_t klen = json_object_iter_key_len(it);
		size_t l = path_push(path, plen, k, 0);

		if (c == NULL)
			differ("fewer members than jansson", path);
		if (c->key == NULL || c->keylen != klen ||
		    memcmp(c->key, k, klen) != 0)
			differ("key or member order", path);
		if (c->key[klen] != '\0')
			differ("key not NUL-terminated", path);
		if (jscan_get(js, v, k, klen) != c)
			differ("jscan_get() does not find the member", path);
		compare(js, c, json_object_iter_value(it), path, l);
		path[plen] = '\0';
		c = jscan_next(js, c);
	}
	if (c != NULL)
		differ("more members than jansson", path);
}

static void
compare(const struct jscan *js, const struct jscan_value *v, const json_t *j,
    char *path, size_t plen)
{
	json_int_t ji;
	double d;

	switch (json_typeof(j)) {
	case JSON_NULL:
		if (v->type != JSCAN_NULL)
			differ("type (jansson: null)", path);
		break;
	case JSON_TRUE:
		if (v->type != JSCAN_TRUE)
			differ("type (jansson: true)", path);
		break;
	case JSON_FALSE:
		if (v->type != JSCAN_FALSE)
			differ("type (jansson: false)", path);
		break;
	case JSON_INTEGER:
		ji = json_integer_value(j);
		if (v->type != JSCAN_INTEGER)
			differ("type (jansson: integer)", path);
		if (v->u.i != ji)
			differ("integer value", path);
		if (jscan_number(v) != (double)ji)
			differ("jscan_number() of an integer", path);
		break;
	case JSON_REAL:
		d = json_real_value(j);
		if (v->type != JSCAN_REAL)
			differ("type (jansson: real)", path);
		if (memcmp(&v->u.d, &d, sizeof d) != 0)
			differ("real value", path);
		break;
	case JSON_STRING:
		if (v->type != JSCAN_STRING)
			differ("type (jansson: string)", path);
		if (v->u.str.s == NULL ||
		    v->u.str.len != json_string_length(j) ||
		    memcmp(v->u.str.s, json_string_value(j), v->u.str.len) != 0)
			differ("string value", path);
		if (v->u.str.s[v->u.str.len] != '\0')
			differ("string not NUL-terminated", path);
		break;
	case JSON_ARRAY:
		if (v->type != JSCAN_ARRAY)
			differ("type (jansson: array)", path);
		compare_array(js, v, j, path, plen);
		break;
	case JSON_OBJECT:
		if (v->type != JSCAN_OBJECT)
			differ("type (jansson: object)", path);
		compare_object(js, v, j, path, plen);
		break;
	}
}

/*
 * A refusal names a place inside the text: its line is one more than the
 * newlines before the offset (or, as jansson counts, up to and including
 * the offending character when that is itself a newline).
 */
static void
check_error(const struct jscan_error *err, const uint8_t *data, size_t size)
{
	int line = 1;

	if (memchr(err->text, '\0', sizeof err->text) == NULL ||
	    err->text[0] == '\0')
		differ("error without a text", "");
	if (err->offset > size || err->line < 1 || err->column < 0) {
		fprintf(stderr, "offset %zu of %zu, line %d, column %d: %s\n",
		    err->offset, size, err->line, err->column, err->text);
		differ("error position out of range", "");
	}
	for (size_t i = 0; i < err->offset; i++)
		if (data[i] == '\n')
			line++;
	if (err->line != line && !(err->offset < size &&
	    data[err->offset] == '\n' && err->line == line + 1)) {
		fprintf(stderr, "offset %zu: line %d, expected %d: %s\n",
		    err->offset, err->line, line, err->text);
		differ("error line does not match its offset", "");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jscan js = {0};
	struct jscan_error err;
	json_error_t jerr;
	json_t *j;
	char path[256] = "";
	int depth, rc;

	depth = text_depth(data, size);
	j = json_loadb((const char *)data, size, JFLAGS, &jerr);
	rc = jscan_parse(&js, (const char *)data, size, MAX_DEPTH, &err);
	if (rc != 0 && rc != -1)
		differ("jscan_parse() returned neither 0 nor -1", "");
	if (rc == -1)
		check_error(&err, data, size);
	if (depth > MAX_DEPTH) {
		/* Too deep for the scanner whatever jansson thinks. */
		if (rc == 0)
			differ("accepted deeper than max_depth", "");
		/* Valid but for the depth: refused for that. */
		if (j != NULL && memchr(data, 0, size) == NULL &&
		    err.fault != JSCAN_TOO_DEEP)
			differ("too deep, refused for another reason", "");
	} else if (rc == -1 && err.fault != JSCAN_SYNTAX) {
		/* Never deeper than the limit, and no text is this large. */
		fprintf(stderr, "jscan: fault %d: %s\n", (int)err.fault,
		    err.text);
		differ("refused within max_depth, not as a syntax error", "");
	} else if (j == NULL && rc == 0) {
		fprintf(stderr, "jansson: line %d column %d: %s\n", jerr.line,
		    jerr.column, jerr.text);
		differ("jscan accepts, jansson refuses", "");
	} else if (j != NULL && rc != 0 && memchr(data, 0, size) != NULL) {
		/*
		 * jansson 2.14 drops one NUL byte right after a number or a
		 * literal ("1\0" and "[true\0]" load): a NUL is never valid
		 * JSON, so refusing such a text is not counted as a difference.
		 */
	} else if (j != NULL && rc != 0) {
		fprintf(stderr, "jscan: line %d column %d offset %zu: %s\n",
		    err.line, err.column, err.offset, err.text);
		differ("jansson accepts, jscan refuses", "");
	} else if (j != NULL) {
		const struct jscan_value *root = jscan_root(&js);

		if (root == NULL || root != &js.v[0] || root->key != NULL ||
		    root->next != 0 || jscan_next(&js, root) != NULL)
			differ("root", "");
		compare(&js, root, j, path, 0);
		/*
		 * The limit is exact: the same parser again at the text's own
		 * depth accepts, one less refuses (a limit of 0 is left out).
		 */
		if (depth >= 1) {
			if (jscan_parse(&js, (const char *)data, size, depth,
			    &err) != 0)
				differ("refused at exactly max_depth", "");
			compare(&js, jscan_root(&js), j, path, 0);
		}
		if (depth >= 2) {
			if (jscan_parse(&js, (const char *)data, size,
			    depth - 1, &err) == 0)
				differ("accepted one beyond max_depth", "");
			if (err.fault != JSCAN_TOO_DEEP)
				differ("too deep by one, refused otherwise",
				    "");
		}
	}
	json_decref(j);
	jscan_free(&js);
	return 0;
}
