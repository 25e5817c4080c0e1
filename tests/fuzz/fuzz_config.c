/*
 * Fuzz target for the config loader (daemon/config.c): the text is evaluated
 * in the bare, bounded Lua state and validated. Inputs are capped at 64 KiB;
 * the evaluator's own instruction and memory budgets bound the rest.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "remediad/config.h"
#include "remediad/log.h"

#define FUZZ_CONFIG_MAX (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg;
	char *cause = NULL;

	if (size > FUZZ_CONFIG_MAX)
		return 0;
	/* Errors come back in cause; keep the log quiet in any case. */
	log_set_level(LOG_LVL_ERROR);
	cfg = config_load_buffer("fuzz.conf", (const char *)data, size, &cause);
	config_free(cfg);
	free(cause);
	return 0;
}
