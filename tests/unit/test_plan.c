/*
 * Plan validation: each action of the catalog with its required
 * parameters, the common fields and their defaults, and every way a
 * playbook's request can be refused, with the message that names it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "remediad/audit.h"
#include "remediad/json_scan.h"
#include "remediad/plan.h"

/* Validates one request given as JSON text; returns the normalized one. */
static json_t *
one(const char *req, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *r = json_loads(req, 0, &jerr);
	json_t *actions, *out;

	assert_non_null(r);
	actions = json_pack("[o]", r);
	out = plan_validate(actions, err, errlen);
	json_decref(actions);
	if (out == NULL)
		return NULL;
	assert_int_equal(json_array_size(out), 1);
	json_t *first = json_incref(json_array_get(out, 0));
	json_decref(out);
	return first;
}

static void
refused(const char *req, const char *want)
{
	char err[512] = "";
	json_t *r = one(req, err, sizeof err);

	if (r != NULL) {
		char *s = json_dumps(r, 0);
		fail_msg("accepted %s as %s", req, s);
	}
	if (strstr(err, want) == NULL)
		fail_msg("%s: error \"%s\" does not say \"%s\"", req, err, want);
}

static void
test_mitigation_defaults(void **state)
{
	char err[256];
	json_t *r = one("{\"kind\":\"mitigate\",\"action\":\"isolate\","
	    "\"params\":{\"host\":\"ws-1\",\"ttl\":\"4h\",\"reason\":\"x\"}}",
	    err, sizeof err);

	(void)state;
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "kind")),
	    "mitigate");
	assert_string_equal(json_string_value(json_object_get(r, "approval")),
	    "auto");
	assert_string_equal(json_string_value(json_object_get(r, "risk")),
	    "medium");
	assert_int_equal(json_integer_value(json_object_get(r, "ttl_ms")),
	    4 * 3600 * 1000);
	assert_string_equal(json_string_value(json_object_get(r, "rollback")),
	    "unisolate");
	assert_string_equal(json_string_value(json_object_get(r, "reason")),
	    "x");
	/* Common fields leave params; the action's own stay. */
	json_t *p = json_object_get(r, "params");
	assert_int_equal(json_object_size(p), 1);
	assert_string_equal(json_string_value(json_object_get(p, "host")),
	    "ws-1");
	assert_null(json_object_get(r, "verify"));
	json_decref(r);
}

static void
test_remediation_verify_default(void **state)
{
	char err[256];
	json_t *r = one("{\"kind\":\"remediate\",\"action\":\"patch\","
	    "\"params\":{\"host\":\"h\",\"package\":\"openssl\","
	    "\"approval\":\"required\",\"risk\":\"high\"}}", err, sizeof err);

	(void)state;
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "verify")));
	assert_string_equal(json_string_value(json_object_get(r, "approval")),
	    "required");
	assert_string_equal(json_string_value(json_object_get(r, "risk")),
	    "high");
	json_decref(r);
	r = one("{\"kind\":\"remediate\",\"action\":\"reimage\",\"params\":"
	    "{\"host\":\"h\",\"verify\":false}}", err, sizeof err);
	assert_non_null(r);
	assert_true(json_is_false(json_object_get(r, "verify")));
	json_decref(r);
}

static void
test_until_remediated_and_no_rollback(void **state)
{
	char err[256];
	json_t *r = one("{\"kind\":\"mitigate\",\"action\":\"block_ip\","
	    "\"params\":{\"ip\":\"203.0.113.0/24\",\"until_remediated\":true}}",
	    err, sizeof err);

	(void)state;
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "until_remediated")));
	assert_null(json_object_get(r, "ttl"));
	json_decref(r);
	/* No rollback: no ttl needed, and none allowed. */
	r = one("{\"kind\":\"mitigate\",\"action\":\"revoke_sessions\","
	    "\"params\":{\"user\":\"alice\"}}", err, sizeof err);
	assert_non_null(r);
	assert_null(json_object_get(r, "rollback"));
	json_decref(r);
	refused("{\"kind\":\"mitigate\",\"action\":\"revoke_sessions\","
	    "\"params\":{\"user\":\"alice\",\"ttl\":\"1h\"}}",
	    "has no rollback, so no ttl");
}

static void
test_every_catalog_entry(void **state)
{
	char req[1024], err[256];

	(void)state;
	for (const struct plan_action *a = plan_catalog(); a->kind; a++) {
		int n = snprintf(req, sizeof req, "{\"kind\":\"%s\","
		    "\"action\":\"%s\",\"params\":{", a->kind, a->name);
		for (size_t i = 0; a->required[i] != NULL; i++)
			n += snprintf(req + n, sizeof req - (size_t)n,
			    "%s\"%s\":\"%s\"", i ? "," : "", a->required[i],
			    strcmp(a->required[i], "ip") == 0 ? "10.0.0.1" :
			    "v");
		if (a->rollback != NULL)
			n += snprintf(req + n, sizeof req - (size_t)n,
			    ",\"ttl\":\"1h\"");
		snprintf(req + n, sizeof req - (size_t)n, "}}");
		json_t *r = one(req, err, sizeof err);
		if (r == NULL)
			fail_msg("%s refused: %s", req, err);
		json_decref(r);
		/* Without its first required parameter it is refused. */
		snprintf(req, sizeof req, "{\"kind\":\"%s\",\"action\":\"%s\","
		    "\"params\":{%s}}", a->kind, a->name, a->rollback ?
		    "\"ttl\":\"1h\"" : "");
		char want[128];
		snprintf(want, sizeof want, "missing parameter %s",
		    a->required[0]);
		refused(req, want);
	}
}

static void
test_refusals(void **state)
{
	(void)state;
	refused("{\"kind\":\"mitigate\",\"action\":\"nuke\",\"params\":{}}",
	    "request 1 (mitigate.nuke): unknown action");
	refused("{\"kind\":\"remediate\",\"action\":\"isolate\","
	    "\"params\":{\"host\":\"h\"}}", "unknown action");
	refused("{\"kind\":\"mitigate\",\"action\":\"isolate\","
	    "\"params\":{\"host\":\"h\"}}", "needs ttl");
	refused("{\"kind\":\"mitigate\",\"action\":\"isolate\","
	    "\"params\":{\"host\":\"h\",\"ttl\":\"4x\"}}", "bad ttl");
	refused("{\"kind\":\"mitigate\",\"action\":\"isolate\","
	    "\"params\":{\"host\":\"h\",\"ttl\":\"400d\"}}", "bad ttl");
	refused("{\"kind\":\"mitigate\",\"action\":\"isolate\","
	    "\"params\":{\"host\":\"h\",\"ttl\":\"1h\","
	    "\"until_remediated\":true}}", "not both");
	refused("{\"kind\":\"mitigate\",\"action\":\"isolate\","
	    "\"params\":{\"host\":\"\",\"ttl\":\"1h\"}}",
	    "missing parameter host");
	refused("{\"kind\":\"mitigate\",\"action\":\"isolate\","
	    "\"params\":{\"host\":7,\"ttl\":\"1h\"}}", "missing parameter host");
	refused("{\"kind\":\"mitigate\",\"action\":\"block_ip\","
	    "\"params\":{\"ip\":\"10.0.0.300\",\"ttl\":\"1h\"}}",
	    "not an address");
	refused("{\"kind\":\"mitigate\",\"action\":\"block_ip\","
	    "\"params\":{\"ip\":\"10.0.0.0/33\",\"ttl\":\"1h\"}}",
	    "not an address");
	refused("{\"kind\":\"ticket\",\"action\":\"ticket\","
	    "\"params\":{\"summary\":\"s\",\"ttl\":\"1h\"}}",
	    "for mitigations");
	refused("{\"kind\":\"ticket\",\"action\":\"ticket\","
	    "\"params\":{\"summary\":\"s\",\"verify\":true}}",
	    "for remediations");
	refused("{\"kind\":\"ticket\",\"action\":\"ticket\","
	    "\"params\":{\"summary\":\"s\",\"approval\":\"maybe\"}}",
	    "approval must be");
	refused("{\"kind\":\"ticket\",\"action\":\"ticket\","
	    "\"params\":{\"summary\":\"s\",\"risk\":\"extreme\"}}",
	    "risk must be");
	refused("{\"kind\":\"ticket\",\"action\":\"ticket\","
	    "\"params\":{\"summary\":\"s\",\"reason\":5}}", "reason must be");
	/* A long reason is cut at a character boundary, not refused. */
	char req[3000], err[256];
	int n = snprintf(req, sizeof req, "{\"kind\":\"ticket\",\"action\":"
	    "\"ticket\",\"params\":{\"summary\":\"s\",\"reason\":\"");
	for (int i = 0; i < 700; i++)
		n += snprintf(req + n, sizeof req - (size_t)n, "\u00e9");
	snprintf(req + n, sizeof req - (size_t)n, "\"}}");
	json_t *r = one(req, err, sizeof err);
	assert_non_null(r);
	const char *reason = json_string_value(json_object_get(r, "reason"));
	assert_non_null(reason);
	assert_true(strlen(reason) <= PLAN_MAX_REASON);
	assert_int_equal(strlen(reason) % 2, 0);
	json_decref(r);
	refused("{\"kind\":\"ticket\",\"action\":\"ticket\","
	    "\"params\":{\"summary\":\"s\",\"extra\":{\"a\":1}}}",
	    "must be a string, number or boolean");
	refused("{\"kind\":\"ticket\",\"action\":\"ticket\"}", "malformed");
}

static void
test_bounds(void **state)
{
	char err[256];
	json_t *params = json_pack("{s:s}", "summary", "s");

	(void)state;
	for (int i = 0; i < 40; i++) {
		char k[16];
		snprintf(k, sizeof k, "p%d", i);
		json_object_set_new(params, k, json_integer(i));
	}
	json_t *a = json_pack("[{s:s, s:s, s:o}]", "kind", "ticket", "action",
	    "ticket", "params", params);
	assert_null(plan_validate(a, err, sizeof err));
	assert_non_null(strstr(err, "more than 32 parameters"));
	json_decref(a);
	char *big = malloc(PLAN_MAX_STRING + 2);
	memset(big, 'x', PLAN_MAX_STRING + 1);
	big[PLAN_MAX_STRING + 1] = '\0';
	a = json_pack("[{s:s, s:s, s:{s:s}}]", "kind", "ticket", "action",
	    "ticket", "params", "summary", big);
	assert_null(plan_validate(a, err, sizeof err));
	assert_non_null(strstr(err, "longer than 4096 bytes"));
	json_decref(a);
	free(big);
	/* The request's position is named. */
	a = json_pack("[{s:s, s:s, s:{s:s}}, {s:s, s:s, s:{}}]", "kind",
	    "ticket", "action", "ticket", "params", "summary", "s", "kind",
	    "notify", "action", "notify", "params");
	assert_null(plan_validate(a, err, sizeof err));
	assert_non_null(strstr(err, "request 2 (notify)"));
	json_decref(a);
	a = json_object();
	assert_null(plan_validate(a, err, sizeof err));
	assert_non_null(strstr(err, "not a list"));
	json_decref(a);
}

/*
 * plan_check on a parse, as the main process reads a worker's result: the
 * normalized requests come out as canonical text (sorted keys, params
 * sorted, reals spelt as jansson spells them), and a refused plan leaves
 * the buffer as it was.
 */
static void
test_check_text(void **state)
{
	static const char text[] =
	    "[{\"kind\":\"mitigate\",\"action\":\"block_ip\",\"params\":"
	    "{\"zone\":\"dmz\",\"ip\":\"203.0.113.9\",\"ttl\":\"2h\","
	    "\"weight\":0.5,\"big\":1e300,\"on\":true,\"n\":-7,"
	    "\"note\":\"tab\\there \\\"q\\\" \\u00e9\",\"reason\":\"why\","
	    "\"risk\":\"low\"}},"
	    "{\"kind\":\"remediate\",\"action\":\"patch\",\"params\":"
	    "{\"package\":\"openssl\",\"host\":\"h1\",\"verify\":false}}]";
	static const char want[] =
	    "[{\"action\":\"block_ip\",\"approval\":\"auto\",\"kind\":"
	    "\"mitigate\",\"params\":{\"big\":1.0000000000000001e300,"
	    "\"ip\":\"203.0.113.9\","
	    "\"n\":-7,\"note\":\"tab\\there \\\"q\\\" \xc3\xa9\",\"on\":true,"
	    "\"weight\":0.5,\"zone\":\"dmz\"},\"reason\":\"why\",\"risk\":"
	    "\"low\",\"rollback\":\"unblock_ip\",\"ttl\":\"2h\",\"ttl_ms\":"
	    "7200000},"
	    "{\"action\":\"patch\",\"approval\":\"auto\",\"kind\":"
	    "\"remediate\",\"params\":{\"host\":\"h1\",\"package\":"
	    "\"openssl\"},\"risk\":\"medium\",\"verify\":false}]";
	struct jscan js = {0};
	struct jscan_error jerr;
	struct audit_buf out = {0};
	char err[256];

	(void)state;
	assert_int_equal(jscan_parse(&js, text, strlen(text), 16, &jerr), 0);
	assert_int_equal(audit_buf_put(&out, "xyz", 3), 0);
	assert_int_equal(plan_check(&js, jscan_root(&js), NULL, &out, err,
	    sizeof err), 2);
	char *got = strndup(out.data, out.len);
	assert_non_null(got);
	assert_string_equal(got + 3, want);
	free(got);

	/* The same as the object form gives, dumped with sorted keys. */
	json_t *a = json_loads(text, 0, NULL);
	json_t *plan = plan_validate(a, err, sizeof err);
	assert_non_null(plan);
	char *dump = json_dumps(plan, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(dump, want);
	free(dump);
	json_decref(plan);
	json_decref(a);

	/* Refused: the message, and the buffer as it was. */
	static const char bad[] =
	    "[{\"kind\":\"ticket\",\"action\":\"ticket\",\"params\":"
	    "{\"summary\":\"s\"}},{\"kind\":\"mitigate\",\"action\":"
	    "\"isolate\",\"params\":{\"host\":\"h\"}}]";
	out.len = 3;
	assert_int_equal(jscan_parse(&js, bad, strlen(bad), 16, &jerr), 0);
	assert_int_equal(plan_check(&js, jscan_root(&js), NULL, &out, err,
	    sizeof err), -1);
	assert_non_null(strstr(err, "request 2 (mitigate.isolate): needs ttl"));
	assert_int_equal(out.len, 3);
	/* Not a list; a request that is not an object. */
	assert_int_equal(jscan_parse(&js, "{}", 2, 16, &jerr), 0);
	assert_int_equal(plan_check(&js, jscan_root(&js), NULL, &out, err,
	    sizeof err), -1);
	assert_non_null(strstr(err, "not a list"));
	assert_int_equal(jscan_parse(&js, "[3]", 3, 16, &jerr), 0);
	assert_int_equal(plan_check(&js, jscan_root(&js), NULL, &out, err,
	    sizeof err), -1);
	assert_string_equal(err, "request 1: malformed");
	/* Empty: a plan of no requests. */
	assert_int_equal(jscan_parse(&js, "[]", 2, 16, &jerr), 0);
	assert_int_equal(plan_check(&js, jscan_root(&js), NULL, &out, err,
	    sizeof err), 0);
	assert_int_equal(out.len, 5);
	assert_memory_equal(out.data + 3, "[]", 2);
	audit_buf_free(&out);
	jscan_free(&js);
}

/* With connectors, the config's connectors.actions decides. */
static void
test_connector_map(void **state)
{
	char err[256];
	json_error_t jerr;
	json_t *map = json_loads("{\"isolate\": {\"connector\": \"edr\", "
	    "\"rollback\": \"lift\"}, \"contain_vm\": {\"connector\": "
	    "\"cloud\", \"kind\": \"mitigate\", \"params\": [\"vm\"], "
	    "\"rollback\": \"release_vm\"}}", 0, &jerr);
	json_t *a, *r;

	(void)state;
	assert_non_null(map);
	/* In the catalog but not mapped: refused. */
	a = json_pack("[{s:s, s:s, s:{s:s}}]", "kind", "ticket", "action",
	    "ticket", "params", "summary", "s");
	assert_null(plan_validate_with(a, map, err, sizeof err));
	assert_non_null(strstr(err, "no connector for action ticket"));
	json_decref(a);
	/* Mapped and in the catalog: the catalog's parameters hold. */
	a = json_pack("[{s:s, s:s, s:{s:s}}]", "kind", "mitigate", "action",
	    "isolate", "params", "ttl", "1h");
	assert_null(plan_validate_with(a, map, err, sizeof err));
	assert_non_null(strstr(err, "missing parameter host"));
	json_decref(a);
	/* Outside the catalog: the map gives kind, parameters, rollback. */
	a = json_pack("[{s:s, s:s, s:{s:s, s:s}}]", "kind", "mitigate",
	    "action", "contain_vm", "params", "vm", "vm-7", "ttl", "2h");
	r = plan_validate_with(a, map, err, sizeof err);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(r, 0), "rollback")), "release_vm");
	json_decref(r);
	json_decref(a);
	a = json_pack("[{s:s, s:s, s:{s:s}}]", "kind", "mitigate", "action",
	    "contain_vm", "params", "ttl", "2h");
	assert_null(plan_validate_with(a, map, err, sizeof err));
	assert_non_null(strstr(err, "missing parameter vm"));
	json_decref(a);
	a = json_pack("[{s:s, s:s, s:{s:s}}]", "kind", "remediate", "action",
	    "contain_vm", "params", "vm", "v");
	assert_null(plan_validate_with(a, map, err, sizeof err));
	assert_non_null(strstr(err, "is of kind mitigate"));
	json_decref(a);
	json_decref(map);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mitigation_defaults),
	    cmocka_unit_test(test_remediation_verify_default),
	    cmocka_unit_test(test_until_remediated_and_no_rollback),
	    cmocka_unit_test(test_every_catalog_entry),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_connector_map),
	    cmocka_unit_test(test_check_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
