/*
 * Fuzz target for the main process's check of a worker's plan (plan_check
 * in daemon/plan.c). A worker is not trusted: its result is parsed like a
 * Kafka message and every request is checked, against the catalog or
 * against a connectors.actions map, before anything records or runs it.
 * The input is a result as a worker sends it (an object with "actions"),
 * or the list of requests alone.
 *
 * What the check accepts must be the list it was given, each request
 * well-formed by every rule the README states, written in the audit log's
 * canonical form: the bytes jansson's JSON_COMPACT | JSON_SORT_KEYS gives
 * for the same value. What it refuses must leave the output as it was and
 * say why. Anything else aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "remediad/audit.h"
#include "remediad/json_scan.h"
#include "remediad/plan.h"
#include "remediad/worker.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)
/* What the output holds before the check appends to it. */
#define PREFIX "{\"before\":1,\"actions\":"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what, const struct audit_buf *b, size_t from)
{
	fprintf(stderr, "plan_check: %s\n output %.*s\n", what,
	    (int)(b->len - from), b->data + from);
	abort();
}

/* A connectors.actions map: two catalog actions, two of its own. */
static json_t *
connectors_map(void)
{
	json_error_t err;
	json_t *m = json_loads("{"
	    "\"isolate\":{\"connector\":\"edr\",\"rollback\":\"unisolate\"},"
	    "\"ticket\":{\"connector\":\"log\"},"
	    "\"scan_host\":{\"connector\":\"edr\",\"kind\":\"remediate\","
	    "\"params\":[\"host\",\"depth\"]},"
	    "\"hold_mail\":{\"connector\":\"mail\",\"kind\":\"mitigate\","
	    "\"params\":[\"message_id\"],\"rollback\":\"release_mail\"}}",
	    0, &err);

	if (m == NULL)
		abort();
	return m;
}

static int
is_one_of(const char *s, const char *const *set)
{
	for (; s != NULL && *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return 1;
	return 0;
}

/* The kind, required parameters and rollback action name must have. */
static void
expected(const char *name, const json_t *map, const char **kind,
    const char *need[17], const char **rollback)
{
	const json_t *e = map ? json_object_get(map, name) : NULL;
	const struct plan_action *a = NULL;

	memset(need, 0, 17 * sizeof *need);
	for (a = plan_catalog(); a->kind != NULL; a++)
		if (strcmp(a->name, name) == 0)
			break;
	if (a->kind != NULL) {
		*kind = a->kind;
		for (size_t j = 0; a->required[j] != NULL && j < 16; j++)
			need[j] = a->required[j];
		*rollback = a->rollback;
		return;
	}
	if (e == NULL)
		fail("accepted an action neither the catalog nor the map has",
		    &(struct audit_buf){0}, 0);
	*kind = json_string_value(json_object_get(e, "kind"));
	for (size_t j = 0; j < 16 && j < json_array_size(json_object_get(e,
	    "params")); j++)
		need[j] = json_string_value(json_array_get(json_object_get(e,
		    "params"), j));
	*rollback = json_string_value(json_object_get(e, "rollback"));
}

/* One accepted request, against every rule. */
static void
check_request(const json_t *r, const json_t *map, const struct audit_buf *b,
    size_t from)
{
	static const char *const kinds[] = {"mitigate", "remediate", "ticket",
	    "notify", NULL};
	static const char *const keys[] = {"action", "approval", "kind",
	    "params", "reason", "risk", "rollback", "ttl", "ttl_ms",
	    "until_remediated", "verify", NULL};
	static const char *const common[] = {"reason", "approval", "risk",
	    "ttl", "until_remediated", "verify", NULL};
	static const char *const approvals[] = {"auto", "required", NULL};
	static const char *const risks[] = {"low", "medium", "high",
	    "critical", NULL};
	const char *key, *kind, *rollback, *need[17];
	const json_t *v, *params = json_object_get(r, "params");
	const char *name = json_string_value(json_object_get(r, "action"));

	if (!json_is_object(r) || name == NULL || !json_is_object(params))
		fail("a request without action or params", b, from);
	json_object_foreach((json_t *)r, key, v)
		if (!is_one_of(key, keys))
			fail("a request with a member of no rule", b, from);
	if (map != NULL && json_object_get(map, name) == NULL)
		fail("an action the connectors do not map", b, from);
	expected(name, map, &kind, need, &rollback);
	if (!is_one_of(json_string_value(json_object_get(r, "kind")), kinds) ||
	    strcmp(json_string_value(json_object_get(r, "kind")), kind) != 0)
		fail("a request of the wrong kind", b, from);
	if (!is_one_of(json_string_value(json_object_get(r, "approval")),
	    approvals) || !is_one_of(json_string_value(json_object_get(r,
	    "risk")), risks))
		fail("a bad approval or risk", b, from);
	if ((v = json_object_get(r, "reason")) != NULL &&
	    (!json_is_string(v) || json_string_length(v) > PLAN_MAX_REASON))
		fail("a reason not a string of at most 1024 bytes", b, from);
	if (json_object_size(params) > PLAN_MAX_PARAMS)
		fail("more parameters than allowed", b, from);
	json_object_foreach((json_t *)params, key, v) {
		if (is_one_of(key, common))
			fail("a common field left among the parameters", b,
			    from);
		if (!json_is_string(v) && !json_is_number(v) &&
		    !json_is_boolean(v))
			fail("a parameter not a scalar", b, from);
		if (json_is_string(v) && json_string_length(v) >
		    PLAN_MAX_STRING)
			fail("a parameter longer than allowed", b, from);
	}
	for (size_t j = 0; need[j] != NULL; j++) {
		if (*need[j] == '\0' || is_one_of(need[j], common))
			continue;
		v = json_object_get(params, need[j]);
		if (!json_is_string(v) || json_string_length(v) == 0)
			fail("a required parameter missing", b, from);
	}

	const json_t *ttl = json_object_get(r, "ttl");
	const json_t *ttl_ms = json_object_get(r, "ttl_ms");
	const json_t *until = json_object_get(r, "until_remediated");
	const json_t *verify = json_object_get(r, "verify");
	const json_t *rb = json_object_get(r, "rollback");
	if ((rollback == NULL) != (rb == NULL) || (rollback != NULL &&
	    strcmp(json_string_value(rb), rollback) != 0))
		fail("a rollback not the action's", b, from);
	if ((ttl == NULL) != (ttl_ms == NULL) || (until != NULL &&
	    !json_is_true(until)) || (ttl != NULL && until != NULL))
		fail("ttl, ttl_ms and until_remediated inconsistent", b, from);
	if (ttl_ms != NULL && (!json_is_integer(ttl_ms) ||
	    json_integer_value(ttl_ms) < 1 ||
	    (uint64_t)json_integer_value(ttl_ms) > PLAN_MAX_TTL_MS ||
	    !json_is_string(ttl)))
		fail("a ttl out of bounds", b, from);
	if (strcmp(kind, "mitigate") == 0 && rollback != NULL &&
	    ttl == NULL && until == NULL)
		fail("a mitigation that stays for ever", b, from);
	if ((strcmp(kind, "mitigate") != 0 || rollback == NULL) &&
	    (ttl != NULL || until != NULL))
		fail("a ttl where it means nothing", b, from);
	if ((strcmp(kind, "remediate") == 0) != (verify != NULL) ||
	    (verify != NULL && !json_is_boolean(verify)))
		fail("verify missing on a remediation, or elsewhere", b, from);
}

static void
check(const struct jscan *js, const struct jscan_value *actions,
    const json_t *map)
{
	struct audit_buf b = {0};
	const size_t from = sizeof PREFIX - 1;
	char err[512] = "";
	json_error_t jerr;
	json_t *plan;
	int n;

	if (audit_buf_put(&b, PREFIX, from) == -1)
		abort();
	n = plan_check(js, actions, map, &b, err, sizeof err);
	if (n < 0) {
		if (b.len != from || memcmp(b.data, PREFIX, from) != 0)
			fail("refused, and the output changed", &b, 0);
		if (err[0] == '\0' || memchr(err, '\0', sizeof err) == NULL)
			fail("refused without saying why", &b, from);
		audit_buf_free(&b);
		return;
	}
	if (memcmp(b.data, PREFIX, from) != 0)
		fail("accepted, and the bytes before changed", &b, 0);
	plan = json_loadb(b.data + from, b.len - from,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (plan == NULL || !json_is_array(plan))
		fail("accepted, and wrote no JSON list", &b, from);
	if (json_array_size(plan) != (size_t)n || (size_t)n !=
	    actions->count)
		fail("accepted a number of requests not the given one", &b,
		    from);

	char *want = json_dumps(plan, DUMP_FLAGS);
	if (want == NULL)
		abort();
	if (strlen(want) != b.len - from || memcmp(want, b.data + from,
	    b.len - from) != 0) {
		fprintf(stderr, "want %s\n", want);
		fail("wrote what is not the canonical form", &b, from);
	}
	free(want);
	for (size_t i = 0; i < json_array_size(plan); i++)
		check_request(json_array_get(plan, i), map, &b, from);
	json_decref(plan);
	audit_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *map;
	struct jscan js = {0};
	struct jscan_error jerr;
	const struct jscan_value *root, *actions;

	if (map == NULL)
		map = connectors_map(); /* once, for the process */
	if (size > WIRE_MAX_UP)
		return 0;
	/* As worker_result() reads a result frame's JSON. */
	if (jscan_parse(&js, (const char *)data, size, WIRE_MAX_DEPTH,
	    &jerr) == 0) {
		root = jscan_root(&js);
		actions = jscan_is(root, JSCAN_OBJECT) ? jscan_get(&js, root,
		    "actions", 7) : root;
		if (actions != NULL) {
			check(&js, actions, NULL);
			check(&js, actions, map);
		}
	}
	jscan_free(&js);
	return 0;
}
