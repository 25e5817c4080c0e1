/*
 * Differential fuzz target for the audit log's canonical writer
 * (daemon/audit_canon.c) against jansson's JSON_COMPACT | JSON_SORT_KEYS,
 * whose bytes it promises: the input as one string, written straight from
 * the input's own bytes (as a raw message goes into alert.received, with
 * no byte to spare after it), and the input as JSON text, any value. A
 * difference, or a failure where jansson succeeds, aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "remediad/audit.h"
#include "remediad/utf8.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same(const struct audit_buf *b, const json_t *v, const char *what)
{
	char *want = json_dumps(v, DUMP_FLAGS);

	if (want == NULL)
		abort(); /* out of memory: nothing to compare */
	if (b->len != strlen(want) || memcmp(b->data, want, b->len) != 0) {
		fprintf(stderr, "%s: canonical bytes differ:\n got  %.*s\n "
		    "want %s\n", what, (int)b->len, b->data, want);
		abort();
	}
	free(want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_buf b = {0};
	json_error_t err;
	json_t *v;

	/* The bytes as a string: what the writer accepts is UTF-8 sans NUL. */
	if (utf8_valid(data, size, 0)) {
		if (audit_canon_string(&b, (const char *)data, size) != 0)
			abort();
		v = json_stringn((const char *)data, size);
		if (v == NULL)
			abort();
		same(&b, v, "string");
		json_decref(v);
		b.len = 0;
	}

	/* The bytes as JSON: objects (keys sorted), arrays, every scalar. */
	v = json_loadb((const char *)data, size, JSON_DECODE_ANY, &err);
	if (v != NULL) {
		if (audit_canon_value(&b, v) != 0)
			abort();
		same(&b, v, "value");
		json_decref(v);
	}
	audit_buf_free(&b);
	return 0;
}
