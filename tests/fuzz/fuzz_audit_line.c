/*
 * Fuzz target for the audit line scanner (daemon/audit_chain.c): audit files
 * may have been tampered with, so any line is scanned, and a line that scans
 * has its hash recomputed, with and without a reusable hasher.
 */
#include <stddef.h>
#include <stdint.h>

#include "remediad/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	struct audit_fields f;
	struct audit_hasher *h;
	const char *why;

	if (audit_scan(line, size, &f, &why) != 0)
		return 0;
	int ok = audit_hash_ok(line, size, &f);
	h = audit_hasher_new();
	if (h != NULL) {
		/* Both paths must agree on every line. */
		if (audit_hash_ok_with(h, line, size, &f) != ok)
			__builtin_trap();
		audit_hasher_free(h);
	}
	return 0;
}
