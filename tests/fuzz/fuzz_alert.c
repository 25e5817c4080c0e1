/*
 * Fuzz target for the alert decoder (daemon/alert.c): every Kafka message is
 * untrusted, so each input is decoded once with the defaults and once with a
 * topic's generic field paths, picked by the first byte.
 */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "remediad/alert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Path sets a config may give a generic topic: nothing mapped, the flat
 * defaults, nested paths, array indexes, and keys that contain dots.
 */
static const struct alert_generic generic_paths[] = {
	{0},
	{.id = "id", .time = "time", .severity = "severity",
	    .title = "title", .rule = "rule", .category = "category",
	    .host = "host", .user = "user", .ip = "ip", .process = "process",
	    .container = "container", .cloud = "cloud"},
	{.id = "alert.uuid", .time = "@timestamp", .severity = "event.severity",
	    .title = "rule.name", .host = "host.name", .ip = "source.ip.0"},
	{.id = "kibana.alert.uuid", .category = "tags.0",
	    .user = "a.b.c.d.e.f", .process = "0.1.2"},
	{.id = "", .time = ".", .severity = "..", .title = "x..y",
	    .rule = "x.", .host = ".x", .cloud = "99999999999999999999"},
};

static void
decode(const char *data, size_t len, const struct alert_opts *opts)
{
	json_t *out = NULL;
	char why[256];

	alert_decode(data, len, opts, "2026-11-01T00:00:00Z", &out, why,
	    sizeof why);
	json_decref(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct alert_opts opts = {0};
	size_t n = sizeof generic_paths / sizeof generic_paths[0];

	decode((const char *)data, size, NULL);
	if (size == 0)
		return 0;
	opts.generic = &generic_paths[data[0] % n];
	/* The high bits also try a shallow depth limit now and then. */
	if (data[0] & 0x80)
		opts.max_depth = 1 + (data[0] >> 4 & 7);
	decode((const char *)data + 1, size - 1, &opts);
	return 0;
}
