/*
 * Unit tests for daemon/alert.c: each format mapped from sample alerts with
 * every canonical field checked, the severity tables, ids, times, each
 * rejection with its reason, and truncated or mangled messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "remediad/alert.h"

#define RECEIVED "2026-11-01T00:01:00.000001Z"

/* ---- Sample lines, copied from ../shared/samples ------------------------ */

/* Line 1 of alerts-mixed-2k.jsonl. */
static const char sample_ecs_1[] =
    "{\"@timestamp\":\"2026-11-01T00:00:00Z\",\"event\":{\"kind\":\"a"
    "lert\",\"id\":\"ec99108d-db5b-5fab-8f4d-3e27dda1494c\",\"categor"
    "y\":[\"malware\"],\"severity\":99,\"module\":\"endpoint\",\"data"
    "set\":\"endpoint.alerts\"},\"host\":{\"name\":\"ws-0231.corp.exa"
    "mple\",\"hostname\":\"ws-0231\",\"id\":\"8201e2bd73ab4876\",\"os"
    "\":{\"family\":\"windows\"},\"ip\":[\"10.1.97.48\"]},\"user\":{\""
    "name\":\"user262\",\"domain\":\"CORP\"},\"process\":{\"name\":\""
    "powershell.exe\",\"pid\":31279,\"executable\":\"C:\\\\Windows\\\\S"
    "ystem32\\\\WindowsPowerShell\\\\v1.0\\\\powershell.exe\",\"comma"
    "nd_line\":\"powershell -enc SQBFAFgAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAA\",\"hash\":{\"sha256\":\"17362f25244caf9c4dabb48"
    "17253edc6181879932fa91425cb0088539d2c67ed\"}},\"rule\":{\"name\""
    ":\"Ransomware Behavior\",\"id\":\"1686\",\"ruleset\":\"productio"
    "n\"},\"threat\":{\"tactic\":{\"name\":\"Execution\"},\"technique"
    "\":{\"id\":\"T1059.001\"}},\"agent\":{\"type\":\"endpoint\",\"ve"
    "rsion\":\"8.15.0\"}}";

/* Line 9 of alerts-mixed-2k.jsonl. */
static const char sample_ecs_9[] =
    "{\"@timestamp\":\"2026-11-01T00:00:08Z\",\"event\":{\"kind\":\"a"
    "lert\",\"id\":\"9a1de24e-dab8-71d5-feef-16e964ef2ebe\",\"categor"
    "y\":[\"malware\"],\"severity\":21,\"module\":\"endpoint\",\"data"
    "set\":\"endpoint.alerts\"},\"host\":{\"name\":\"ws-0095.corp.exa"
    "mple\",\"hostname\":\"ws-0095\",\"id\":\"fd42e0440ac793f5\",\"os"
    "\":{\"family\":\"windows\"},\"ip\":[\"10.1.74.55\"]},\"user\":{\""
    "name\":\"user226\",\"domain\":\"CORP\"},\"process\":{\"name\":\""
    "powershell.exe\",\"pid\":17026,\"executable\":\"C:\\\\Windows\\\\S"
    "ystem32\\\\WindowsPowerShell\\\\v1.0\\\\powershell.exe\",\"comma"
    "nd_line\":\"powershell -enc SQBFAFgAAAAAAAAAAAAA\",\"hash\":{\"s"
    "ha256\":\"1304145212ca3f7062dc08d64bdbf090d48dd9f354366c219c3ecb"
    "54c5cefdd8\"}},\"rule\":{\"name\":\"Malicious Behavior Detected\""
    ",\"id\":\"4419\",\"ruleset\":\"production\"},\"threat\":{\"tacti"
    "c\":{\"name\":\"Execution\"},\"technique\":{\"id\":\"T1059.001\""
    "}},\"agent\":{\"type\":\"endpoint\",\"version\":\"8.15.0\"}}";

/* Line 2 of alerts-mixed-2k.jsonl. */
static const char sample_ocsf_2[] =
    "{\"class_uid\":2004,\"class_name\":\"Detection Finding\",\"categ"
    "ory_uid\":2,\"activity_id\":1,\"severity_id\":5,\"time\":1793491"
    "201000,\"finding_info\":{\"uid\":\"73f778aa-f6fa-5db8-656a-bd72f"
    "b710734\",\"title\":\"Brute force\",\"types\":[\"Identity\"]},\""
    "actor\":{\"user\":{\"name\":\"user80@corp.example\",\"uid\":\"3d"
    "716849f8558a6\"},\"session\":{\"uid\":\"8743feb6d4ea65d0\"}},\"s"
    "rc_endpoint\":{\"ip\":\"45.30.18.49\",\"location\":{\"country\":"
    "\"BR\"}},\"metadata\":{\"product\":{\"name\":\"Okta\",\"vendor_n"
    "ame\":\"Okta\"},\"version\":\"1.3.0\"}}";

/* Line 26 of alerts-mixed-2k.jsonl. */
static const char sample_ocsf_26[] =
    "{\"class_uid\":2004,\"class_name\":\"Detection Finding\",\"categ"
    "ory_uid\":2,\"activity_id\":1,\"severity_id\":2,\"time\":1793491"
    "225000,\"finding_info\":{\"uid\":\"2dbe5f3d-418b-fbb0-79a2-ed17d"
    "2e708c8\",\"title\":\"Brute force\",\"types\":[\"Identity\"]},\""
    "actor\":{\"user\":{\"name\":\"user5@corp.example\",\"uid\":\"78e"
    "21103c14b0510\"},\"session\":{\"uid\":\"b6d3e87988ebd524\"}},\"s"
    "rc_endpoint\":{\"ip\":\"45.91.115.70\",\"location\":{\"country\""
    ":\"US\"}},\"metadata\":{\"product\":{\"name\":\"Okta\",\"vendor_"
    "name\":\"Okta\"},\"version\":\"1.3.0\"}}";

/* Line 3 of alerts-mixed-2k.jsonl. */
static const char sample_wazuh_3[] =
    "{\"timestamp\":\"2026-11-01T00:00:02+0000\",\"rule\":{\"level\":"
    "5,\"description\":\"sshd: brute force trying to get access to th"
    "e system.\",\"id\":\"5712\",\"firedtimes\":30,\"groups\":[\"sysl"
    "og\",\"sshd\",\"authentication_failures\"],\"mitre\":{\"id\":[\""
    "T1110\"]}},\"agent\":{\"id\":\"335\",\"name\":\"ws-0225\",\"ip\""
    ":\"10.2.100.133\"},\"manager\":{\"name\":\"wazuh-manager\"},\"id"
    "\":\"1700000002.244995\",\"full_log\":\"sshd[5819]: Failed passw"
    "ord for invalid user admin from 193.2.43.118 port 43937 ssh2\",\""
    "data\":{\"srcip\":\"185.208.42.182\",\"srcuser\":\"admin\"},\"lo"
    "cation\":\"/var/log/auth.log\"}";

/* Line 11 of alerts-mixed-2k.jsonl. */
static const char sample_wazuh_11[] =
    "{\"timestamp\":\"2026-11-01T00:00:10+0000\",\"rule\":{\"level\":"
    "12,\"description\":\"sshd: brute force trying to get access to t"
    "he system.\",\"id\":\"5712\",\"firedtimes\":15,\"groups\":[\"sys"
    "log\",\"sshd\",\"authentication_failures\"],\"mitre\":{\"id\":[\""
    "T1110\"]}},\"agent\":{\"id\":\"838\",\"name\":\"ws-0312\",\"ip\""
    ":\"10.2.127.186\"},\"manager\":{\"name\":\"wazuh-manager\"},\"id"
    "\":\"1700000010.199020\",\"full_log\":\"sshd[3596]: Failed passw"
    "ord for invalid user admin from 103.198.247.155 port 6168 ssh2\""
    ",\"data\":{\"srcip\":\"193.24.53.28\",\"srcuser\":\"admin\"},\"l"
    "ocation\":\"/var/log/auth.log\"}";

/* Line 4 of alerts-mixed-2k.jsonl. */
static const char sample_falco_4[] =
    "{\"uuid\":\"3acb6266-c20b-a2c2-50b6-01fc4105cca7\",\"output\":\""
    "Shell spawned in a container (user=root container_id=abc123 shel"
    "l=bash)\",\"priority\":\"Critical\",\"rule\":\"Terminal shell in"
    " container\",\"time\":\"2026-11-01T00:00:03.000000000Z\",\"sourc"
    "e\":\"syscall\",\"hostname\":\"ws-0147.corp.example\",\"tags\":["
    "\"container\",\"shell\",\"mitre_execution\"],\"output_fields\":{"
    "\"container.id\":\"11fa079dd25a\",\"k8s.ns.name\":\"kube-system\""
    ",\"k8s.pod.name\":\"api-c42b7170\",\"proc.cmdline\":\"bash\",\"u"
    "ser.name\":\"root\"}}";

/* Line 12 of alerts-mixed-2k.jsonl. */
static const char sample_falco_12[] =
    "{\"uuid\":\"41536363-f672-4ba0-8329-c05b09e80319\",\"output\":\""
    "Shell spawned in a container (user=root container_id=abc123 shel"
    "l=bash)\",\"priority\":\"Warning\",\"rule\":\"Terminal shell in "
    "container\",\"time\":\"2026-11-01T00:00:11.000000000Z\",\"source"
    "\":\"syscall\",\"hostname\":\"ws-0378.corp.example\",\"tags\":[\""
    "container\",\"shell\",\"mitre_execution\"],\"output_fields\":{\""
    "container.id\":\"6440b45f51c3\",\"k8s.ns.name\":\"payments\",\"k"
    "8s.pod.name\":\"api-6bba8d21\",\"proc.cmdline\":\"bash\",\"user."
    "name\":\"root\"}}";

/* ---- Helpers ------------------------------------------------------------ */

static const char *const canonical_keys[] = {
	"id", "source", "time", "received_at", "severity", "title", "rule",
	"category", "host", "user", "ip", "process", "container", "cloud",
};

/* Decodes msg, which must be accepted. */
static json_t *
decode_opts(const char *msg, size_t len, const struct alert_opts *opts)
{
	char why[512] = "unset";
	json_t *a = (json_t *)1;
	enum alert_reject r;

	r = alert_decode(msg, len, opts, RECEIVED, &a, why, sizeof why);
	if (r != ALERT_OK)
		fail_msg("rejected (%s: %s):\n%.*s", alert_reject_name(r), why,
		    (int)len, msg);
	assert_non_null(a);
	assert_true(json_is_object(a));
	return a;
}

static json_t *
decode(const char *msg)
{
	return decode_opts(msg, strlen(msg), NULL);
}

/*
 * Expects msg to be refused for reason r, with a why that equals `want`
 * (or, when `want` ends in '*', starts with it).
 */
static void
expect_reject_opts(const char *msg, size_t len, const struct alert_opts *opts,
    enum alert_reject r, const char *want)
{
	char why[512] = "unset";
	json_t *a = (json_t *)1;
	enum alert_reject got;
	size_t n = strlen(want);

	got = alert_decode(msg, len, opts, RECEIVED, &a, why, sizeof why);
	if (got != r) {
		json_decref(got == ALERT_OK ? a : NULL);
		fail_msg("got %s (%s), want %s for:\n%.*s",
		    alert_reject_name(got), why, alert_reject_name(r),
		    (int)(len > 300 ? 300 : len), msg);
	}
	assert_null(a);
	if (n > 0 && want[n - 1] == '*') {
		if (strncmp(why, want, n - 1) != 0)
			fail_msg("why \"%s\" does not start with \"%.*s\"", why,
			    (int)(n - 1), want);
	} else if (strcmp(why, want) != 0)
		fail_msg("why \"%s\", want \"%s\"", why, want);
}

static void
expect_reject(const char *msg, enum alert_reject r, const char *want)
{
	expect_reject_opts(msg, strlen(msg), NULL, r, want);
}

/* A string field: want NULL means it must be absent. */
static void
check_string(const json_t *a, const char *key, const char *want)
{
	json_t *v = json_object_get(a, key);

	if (want == NULL) {
		if (v != NULL)
			fail_msg("%s: want absent, got %s", key,
			    json_is_string(v) ? json_string_value(v) : "?");
		return;
	}
	if (v == NULL)
		fail_msg("%s: want \"%s\", got absent", key, want);
	if (!json_is_string(v))
		fail_msg("%s: want \"%s\", got a non-string", key, want);
	if (strcmp(json_string_value(v), want) != 0)
		fail_msg("%s: want \"%s\", got \"%s\"", key, want,
		    json_string_value(v));
}

/* severity: -1 means absent. */
static void
check_severity(const json_t *a, int want)
{
	json_t *v = json_object_get(a, "severity");

	if (want < 0) {
		if (v != NULL)
			fail_msg("severity: want absent, got %lld",
			    (long long)json_integer_value(v));
		return;
	}
	if (!json_is_integer(v))
		fail_msg("severity: want %d, got %s", want,
		    v == NULL ? "absent" : "a non-integer");
	assert_int_equal(json_integer_value(v), want);
}

/* Every canonical field of an alert, NULL / -1 for absent. */
struct want {
	const char *id, *source, *time;
	int severity;
	const char *title, *rule, *category, *host, *user, *ip, *process,
	    *container, *cloud;
};

static void
check_alert(const json_t *a, const char *msg, const struct want *w)
{
	const char *key;
	json_t *v;
	int known;

	check_string(a, "id", w->id);
	check_string(a, "source", w->source);
	check_string(a, "time", w->time);
	check_string(a, "received_at", RECEIVED);
	check_severity(a, w->severity);
	check_string(a, "title", w->title);
	check_string(a, "rule", w->rule);
	check_string(a, "category", w->category);
	check_string(a, "host", w->host);
	check_string(a, "user", w->user);
	check_string(a, "ip", w->ip);
	check_string(a, "process", w->process);
	check_string(a, "container", w->container);
	check_string(a, "cloud", w->cloud);

	/* The message is JSON that jansson reads too (the alert keeps none
	 * of it beyond the canonical fields). */
	v = json_loads(msg, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(v);
	json_decref(v);

	/* Nothing but the canonical fields. */
	json_object_foreach((json_t *)a, key, v) {
		known = 0;
		for (size_t i = 0; i < sizeof canonical_keys /
			 sizeof canonical_keys[0]; i++)
			known |= strcmp(key, canonical_keys[i]) == 0;
		if (!known)
			fail_msg("unexpected field %s", key);
	}
}

static void
check_decoded(const char *msg, const struct want *w)
{
	json_t *a = decode(msg);

	check_alert(a, msg, w);
	json_decref(a);
}

/* The severity msg decodes to, -1 when absent. */
static int
severity_of(const char *msg, const struct alert_opts *opts)
{
	json_t *a = decode_opts(msg, strlen(msg), opts), *v;
	int s = -1;

	v = json_object_get(a, "severity");
	if (v != NULL) {
		assert_true(json_is_integer(v));
		s = (int)json_integer_value(v);
	}
	json_decref(a);
	return s;
}

static char *
fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* A formatted message; the tests free it. */
static char *
fmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	assert_true(n >= 0);
	return s;
}

/* ---- Each format from its sample lines ---------------------------------- */

static void
test_ecs_samples(void **state)
{
	check_decoded(sample_ecs_1, &(struct want){
	    .id = "ec99108d-db5b-5fab-8f4d-3e27dda1494c",
	    .source = "ecs",
	    .time = "2026-11-01T00:00:00Z",
	    .severity = 99,
	    .title = "Ransomware Behavior",
	    .rule = "Ransomware Behavior",
	    .category = "malware",
	    .host = "ws-0231.corp.example",
	    .user = "user262",
	    .ip = "10.1.97.48",
	    .process = "powershell.exe",
	});
	check_decoded(sample_ecs_9, &(struct want){
	    .id = "9a1de24e-dab8-71d5-feef-16e964ef2ebe",
	    .source = "ecs",
	    .time = "2026-11-01T00:00:08Z",
	    .severity = 21,
	    .title = "Malicious Behavior Detected",
	    .rule = "Malicious Behavior Detected",
	    .category = "malware",
	    .host = "ws-0095.corp.example",
	    .user = "user226",
	    .ip = "10.1.74.55",
	    .process = "powershell.exe",
	});
}

static void
test_ocsf_samples(void **state)
{
	check_decoded(sample_ocsf_2, &(struct want){
	    .id = "73f778aa-f6fa-5db8-656a-bd72fb710734",
	    .source = "ocsf",
	    .time = "2026-11-01T00:00:01Z",
	    .severity = 90,
	    .title = "Brute force",
	    .rule = "Okta",
	    .category = "Identity",
	    .user = "user80@corp.example",
	    .ip = "45.30.18.49",
	});
	check_decoded(sample_ocsf_26, &(struct want){
	    .id = "2dbe5f3d-418b-fbb0-79a2-ed17d2e708c8",
	    .source = "ocsf",
	    .time = "2026-11-01T00:00:25Z",
	    .severity = 25,
	    .title = "Brute force",
	    .rule = "Okta",
	    .category = "Identity",
	    .user = "user5@corp.example",
	    .ip = "45.91.115.70",
	});
}

static void
test_wazuh_samples(void **state)
{
	check_decoded(sample_wazuh_3, &(struct want){
	    .id = "1700000002.244995",
	    .source = "wazuh",
	    .time = "2026-11-01T00:00:02Z",
	    .severity = 33,
	    .title = "sshd: brute force trying to get access to the system.",
	    .rule = "5712",
	    .category = "syslog",
	    .host = "ws-0225",
	    .user = "admin",
	    .ip = "185.208.42.182",
	});
	check_decoded(sample_wazuh_11, &(struct want){
	    .id = "1700000010.199020",
	    .source = "wazuh",
	    .time = "2026-11-01T00:00:10Z",
	    .severity = 80,
	    .title = "sshd: brute force trying to get access to the system.",
	    .rule = "5712",
	    .category = "syslog",
	    .host = "ws-0312",
	    .user = "admin",
	    .ip = "193.24.53.28",
	});
}

static void
test_falco_samples(void **state)
{
	check_decoded(sample_falco_4, &(struct want){
	    .id = "3acb6266-c20b-a2c2-50b6-01fc4105cca7",
	    .source = "falco",
	    .time = "2026-11-01T00:00:03Z",
	    .severity = 90,
	    .title = "Shell spawned in a container (user=root "
		     "container_id=abc123 shell=bash)",
	    .rule = "Terminal shell in container",
	    .category = "container",
	    .host = "ws-0147.corp.example",
	    .user = "root",
	    .process = "bash",
	    .container = "11fa079dd25a",
	});
	check_decoded(sample_falco_12, &(struct want){
	    .id = "41536363-f672-4ba0-8329-c05b09e80319",
	    .source = "falco",
	    .time = "2026-11-01T00:00:11Z",
	    .severity = 50,
	    .title = "Shell spawned in a container (user=root "
		     "container_id=abc123 shell=bash)",
	    .rule = "Terminal shell in container",
	    .category = "container",
	    .host = "ws-0378.corp.example",
	    .user = "root",
	    .process = "bash",
	    .container = "6440b45f51c3",
	});
}

/* An 8.x detection-engine alert: kibana.alert.* and event.kind flattened,
 * the source event's fields partly nested, partly flattened. */
static const char ecs_kibana[] =
    "{\"@timestamp\":\"2026-11-02T10:15:30.123Z\","
    "\"kibana.alert.uuid\":\"6c0f3b5e9a1d2c4b7e8f0a1b2c3d4e5f6a7b8c9d0e1f2a3b"
    "4c5d6e7f8a9b0c1d\","
    "\"kibana.alert.rule.name\":\"Suspicious PowerShell Encoded Command\","
    "\"kibana.alert.rule.rule_id\":\"a8e2b1f0-1d2c-4b5a-9e8f-7d6c5b4a3f21\","
    "\"kibana.alert.severity\":\"high\",\"kibana.alert.risk_score\":68,"
    "\"kibana.alert.workflow_status\":\"open\","
    "\"kibana.alert.reason\":\"process event with process powershell.exe\","
    "\"event.kind\":\"signal\","
    "\"event\":{\"category\":[\"process\",\"execution\"],"
    "\"type\":[\"start\"]},"
    "\"host\":{\"name\":\"ws-0001.corp.example\",\"id\":42},"
    "\"user.name\":\"user1\",\"source.ip\":\"45.1.2.3\","
    "\"process\":{\"name\":\"powershell.exe\",\"pid\":4242},"
    "\"container.id\":\"c0ffee000001\","
    "\"cloud\":{\"account\":{\"id\":\"123456789012\"}}}";

static void
test_ecs_detection_engine(void **state)
{
	char *msg;

	check_decoded(ecs_kibana, &(struct want){
	    .id = "6c0f3b5e9a1d2c4b7e8f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b"
		  "0c1d",
	    .source = "ecs",
	    .time = "2026-11-02T10:15:30.123000Z",
	    .severity = 68,
	    .title = "Suspicious PowerShell Encoded Command",
	    .rule = "Suspicious PowerShell Encoded Command",
	    .category = "process",
	    .host = "ws-0001.corp.example",
	    .user = "user1",
	    .ip = "45.1.2.3",
	    .process = "powershell.exe",
	    .container = "c0ffee000001",
	    .cloud = "123456789012",
	});

	/* Without event.kind, kibana.alert.uuid alone says ECS. */
	assert_int_equal(severity_of("{\"kibana.alert.uuid\":\"u\","
				     "\"kibana.alert.severity\":\"Critical\"}",
			     NULL),
	    99);
	msg = fmt("{\"kibana.alert.uuid\":\"u\",\"kibana.alert.rule.rule_id\":"
		  "\"r-1\"}");
	{
		json_t *a = decode(msg);

		check_string(a, "source", "ecs");
		check_string(a, "id", "u");
		check_string(a, "rule", "r-1"); /* the id when no name */
		check_string(a, "title", NULL);
		json_decref(a);
	}
	free(msg);
}

/* A 7.x .siem-signals document: legacy signal.rule.*, no id of its own. */
static const char ecs_legacy[] =
    "{\"@timestamp\":\"2021-03-04T05:06:07.891Z\","
    "\"event\":{\"kind\":\"signal\",\"category\":\"network\"},"
    "\"signal\":{\"rule\":{\"id\":\"8c8e2a70-7d6b-11eb-9439-0242ac130002\","
    "\"rule_id\":\"dc3b0a4e-7d6b-11eb-9439-0242ac130002\","
    "\"name\":\"Network Connection via Certutil\",\"severity\":\"medium\","
    "\"risk_score\":47},\"status\":\"open\"},"
    "\"host\":{\"hostname\":\"WIN-01\",\"ip\":[\"10.0.0.5\",\"fe80::1\"]},"
    "\"user\":{\"name\":\"bob\"},\"process\":{\"name\":\"certutil.exe\"},"
    "\"destination\":{\"ip\":\"1.2.3.4\"}}";

static void
test_ecs_legacy_signal(void **state)
{
	json_t *a = decode(ecs_legacy);
	const char *id;

	id = json_string_value(json_object_get(a, "id"));
	assert_non_null(id);
	assert_int_equal(strlen(id), ALERT_HASH_ID_LEN);
	assert_memory_equal(id, "sha256:", 7);
	check_alert(a, ecs_legacy, &(struct want){
	    .id = id,
	    .source = "ecs",
	    .time = "2021-03-04T05:06:07.891000Z",
	    .severity = 47,
	    .title = "Network Connection via Certutil",
	    .rule = "Network Connection via Certutil",
	    .category = "network",
	    .host = "WIN-01",
	    .user = "bob",
	    .ip = "10.0.0.5",
	    .process = "certutil.exe",
	});
	json_decref(a);

	/* The named severity when there is no score. */
	assert_int_equal(severity_of("{\"event\":{\"kind\":\"signal\"},"
				     "\"signal\":{\"rule\":{\"severity\":"
				     "\"low\"}}}",
			     NULL),
	    21);
}

/* An OCSF 1.0 Security Finding (class 2001), AWS Security Hub style. */
static const char ocsf_2001[] =
    "{\"class_uid\":2001,\"class_name\":\"Security Finding\","
    "\"category_uid\":2,\"activity_id\":1,\"severity_id\":4,"
    "\"time\":1700000000123,"
    "\"finding\":{\"uid\":\"arn:aws:securityhub:us-east-1:123456789012:"
    "finding/abc\",\"title\":\"S3 bucket is publicly readable\","
    "\"types\":[\"Software and Configuration Checks\"]},"
    "\"cloud\":{\"provider\":\"AWS\",\"region\":\"us-east-1\","
    "\"account\":{\"uid\":\"123456789012\"}},"
    "\"device\":{\"name\":\"bucket-host\"},"
    "\"resources\":[{\"uid\":\"arn:aws:s3:::public-bucket\"}],"
    "\"metadata\":{\"product\":{\"name\":\"Security Hub\","
    "\"vendor_name\":\"AWS\"},\"version\":\"1.0.0\"}}";

static void
test_ocsf_2001(void **state)
{
	check_decoded(ocsf_2001, &(struct want){
	    .id = "arn:aws:securityhub:us-east-1:123456789012:finding/abc",
	    .source = "ocsf",
	    .time = "2023-11-14T22:13:20.123000Z",
	    .severity = 75,
	    .title = "S3 bucket is publicly readable",
	    .rule = "Security Hub",
	    .category = "Software and Configuration Checks",
	    .host = "bucket-host",
	    .cloud = "123456789012",
	});
}

/* The OCSF fields the samples lack: analytic, device, process, class_name. */
static void
test_ocsf_fields(void **state)
{
	static const char msg[] =
	    "{\"class_uid\":2004,\"class_name\":\"Detection Finding\","
	    "\"time_dt\":\"2026-11-01T01:02:03.5+01:00\","
	    "\"finding_info\":{\"uid\":\"f-1\",\"title\":\"T\","
	    "\"analytic\":{\"name\":\"Mimikatz\",\"type_id\":1}},"
	    "\"device\":{\"hostname\":\"h1\",\"name\":\"n1\"},"
	    "\"actor\":{\"user\":{\"name\":\"eve\"},"
	    "\"process\":{\"name\":\"lsass.exe\"}},"
	    "\"container\":{\"uid\":\"ctr-9\"}}";

	check_decoded(msg, &(struct want){
	    .id = "f-1",
	    .source = "ocsf",
	    .time = "2026-11-01T00:02:03.500000Z",
	    .severity = -1,
	    .title = "T",
	    .rule = "Mimikatz",
	    .category = "Detection Finding",
	    .host = "h1",
	    .user = "eve",
	    .process = "lsass.exe",
	    .container = "ctr-9",
	});
}

static void
test_wazuh_fields(void **state)
{
	/* A syslog program, dstuser only, no srcip: agent.ip; decoder. */
	static const char msg[] =
	    "{\"timestamp\":\"2026-11-01T10:00:00.123+0200\","
	    "\"rule\":{\"level\":3,\"description\":\"PAM: Login session "
	    "opened.\",\"id\":\"5501\",\"groups\":[\"pam\",\"syslog\"]},"
	    "\"agent\":{\"id\":\"001\",\"name\":\"web-1\",\"ip\":\"10.0.0.9\"},"
	    "\"decoder\":{\"name\":\"pam\"},\"id\":\"1730455200.1\","
	    "\"predecoder\":{\"program_name\":\"sshd\"},"
	    "\"data\":{\"dstuser\":\"root\"}}";

	check_decoded(msg, &(struct want){
	    .id = "1730455200.1",
	    .source = "wazuh",
	    .time = "2026-11-01T08:00:00.123000Z",
	    .severity = 20,
	    .title = "PAM: Login session opened.",
	    .rule = "5501",
	    .category = "pam",
	    .host = "web-1",
	    .user = "root",
	    .ip = "10.0.0.9",
	    .process = "sshd",
	});
}

static void
test_falco_fields(void **state)
{
	/* proc.name over proc.cmdline; <NA> and "host" name nothing. */
	static const char msg[] =
	    "{\"output\":\"o\",\"priority\":\"notice\",\"rule\":\"r\","
	    "\"time\":\"2026-11-01T00:00:00.123456789Z\","
	    "\"source\":\"k8s_audit\","
	    "\"tags\":[],\"hostname\":\"node-1\","
	    "\"output_fields\":{\"proc.name\":\"nc\","
	    "\"proc.cmdline\":\"nc -l\","
	    "\"user.name\":\"<NA>\",\"container.id\":\"host\"},"
	    "\"proc\":{\"name\":\"not this\"}}";
	json_t *a = decode(msg);
	const char *id = json_string_value(json_object_get(a, "id"));

	assert_non_null(id);
	check_alert(a, msg, &(struct want){
	    .id = id, /* no uuid: the hash */
	    .source = "falco",
	    .time = "2026-11-01T00:00:00.123456Z",
	    .severity = 30,
	    .title = "o",
	    .rule = "r",
	    .category = "k8s_audit",
	    .host = "node-1",
	    .process = "nc",
	});
	assert_memory_equal(id, "sha256:", 7);
	json_decref(a);
}

/* ---- Detection ---------------------------------------------------------- */

static const char *
source_of(const char *msg)
{
	static char buf[32];
	json_t *a = decode(msg);

	snprintf(buf, sizeof buf, "%s",
	    json_string_value(json_object_get(a, "source")));
	json_decref(a);
	return buf;
}

static void
test_detection_order(void **state)
{
	/* OCSF wins over everything else it also looks like. */
	assert_string_equal(source_of("{\"class_uid\":2004,\"finding_info\":"
				      "{\"uid\":\"x\"},\"event\":{\"kind\":"
				      "\"alert\"}}"),
	    "ocsf");
	/* class_uid must be the integer of a finding class. */
	assert_string_equal(source_of("{\"class_uid\":\"2004\"}"), "generic");
	assert_string_equal(source_of("{\"class_uid\":2004.0}"), "generic");
	assert_string_equal(source_of("{\"class_uid\":3002}"), "generic");
	/* ECS over Wazuh. */
	assert_string_equal(source_of("{\"event\":{\"kind\":\"alert\"},"
				      "\"rule\":{\"level\":3},\"agent\":{},"
				      "\"manager\":{},\"id\":\"1\"}"),
	    "ecs");
	assert_string_equal(source_of("{\"event\":{\"kind\":\"event\"}}"),
	    "generic");
	assert_string_equal(source_of("{\"event\":{\"kind\":\"ALERT\"}}"),
	    "generic");
	/* Wazuh needs rule.level, an agent object, manager or decoder. */
	assert_string_equal(source_of("{\"rule\":{\"level\":3},\"agent\":{},"
				      "\"decoder\":{},\"id\":\"1\"}"),
	    "wazuh");
	assert_string_equal(source_of("{\"rule\":{\"level\":3},\"agent\":{},"
				      "\"id\":\"1\"}"),
	    "generic");
	assert_string_equal(source_of("{\"rule\":{\"level\":\"3\"},"
				      "\"agent\":{},\"manager\":{},"
				      "\"id\":\"1\"}"),
	    "generic");
	assert_string_equal(source_of("{\"rule\":{\"level\":3},\"agent\":"
				      "\"a\",\"manager\":{},\"id\":\"1\"}"),
	    "generic");
	/* Wazuh over Falco (a Wazuh alert cannot be Falco anyway). */
	/* Falco needs output, priority, rule as strings and uuid or time. */
	assert_string_equal(source_of("{\"output\":\"o\",\"priority\":"
				      "\"Error\",\"rule\":\"r\",\"time\":1}"),
	    "falco");
	assert_string_equal(source_of("{\"output\":\"o\",\"priority\":"
				      "\"Error\",\"rule\":\"r\"}"),
	    "generic");
	assert_string_equal(source_of("{\"output\":\"o\",\"priority\":3,"
				      "\"rule\":\"r\",\"uuid\":\"u\"}"),
	    "generic");
}

/* A topic with configured paths is generic whatever its messages say. */
static void
test_generic_forced(void **state)
{
	const struct alert_generic g = {.host = "host.name"};
	const struct alert_opts opts = {.generic = &g};
	json_t *a = decode_opts(sample_ecs_1, strlen(sample_ecs_1), &opts);

	check_alert(a, sample_ecs_1, &(struct want){
	    .id = json_string_value(json_object_get(a, "id")),
	    .source = "generic",
	    .severity = -1,
	    .host = "ws-0231.corp.example",
	});
	assert_memory_equal(json_string_value(json_object_get(a, "id")),
	    "sha256:", 7);
	json_decref(a);
}

/* ---- Generic ------------------------------------------------------------ */

static void
test_generic_defaults(void **state)
{
	check_decoded("{\"id\":\"g-1\",\"@timestamp\":\"2026-11-01T00:00:00Z\","
		      "\"severity\":7,\"message\":\"m\",\"rule\":\"r\","
		      "\"category\":\"c\",\"host\":\"h\",\"user\":\"u\","
		      "\"ip\":\"192.0.2.1\",\"process\":\"p\","
		      "\"container\":\"k\",\"cloud\":\"acct\"}",
	    &(struct want){
		.id = "g-1",
		.source = "generic",
		.time = "2026-11-01T00:00:00Z",
		.severity = 7,
		.title = "m",
		.rule = "r",
		.category = "c",
		.host = "h",
		.user = "u",
		.ip = "192.0.2.1",
		.process = "p",
		.container = "k",
		.cloud = "acct",
	    });
	/* time before @timestamp before timestamp; title before message. */
	check_decoded("{\"id\":\"g-2\",\"timestamp\":\"2026-11-01T00:00:02Z\","
		      "\"@timestamp\":\"2026-11-01T00:00:01Z\","
		      "\"title\":\"t\",\"message\":\"m\"}",
	    &(struct want){
		.id = "g-2",
		.source = "generic",
		.time = "2026-11-01T00:00:01Z",
		.severity = -1,
		.title = "t",
	    });
	/* An unreadable first time does not hide a readable second one. */
	check_decoded("{\"id\":\"g-3\",\"time\":\"soon\","
		      "\"timestamp\":\"2026-11-01T00:00:02Z\"}",
	    &(struct want){
		.id = "g-3",
		.source = "generic",
		.time = "2026-11-01T00:00:02Z",
		.severity = -1,
	    });
	/* Arrays are not strings: default paths index nothing. */
	check_decoded("{\"id\":\"g-4\",\"category\":[\"a\"],"
		      "\"host\":{\"name\":\"h\"}}",
	    &(struct want){
		.id = "g-4",
		.source = "generic",
		.severity = -1,
	    });
}

/*
 * A flattened key below a top level that has none (the lookup takes the
 * first segment only where no key holds a dot), and one at the top.
 */
static void
test_generic_flattened_nested(void **state)
{
	static const char nested[] = "{\"id\":\"n-1\",\"k8s\":{\"container.id\":"
				     "\"c1\",\"container\":{\"name\":\"c2\"}},"
				     "\"net\":{\"ip\":\"192.0.2.9\"}}";
	static const char top[] = "{\"id\":\"n-2\",\"k8s.container.id\":\"c3\","
				  "\"net\":{\"ip\":\"192.0.2.8\"}}";
	const struct alert_generic g = {.id = "id",
	    .container = "k8s.container.id", .host = "k8s.container.name",
	    .ip = "net.ip", .user = "net.ip.x"};
	const struct alert_opts opts = {.generic = &g};
	json_t *a;

	(void)state;
	a = decode_opts(nested, strlen(nested), &opts);
	/* The nested form first, then the flattened key, as at the top. */
	check_alert(a, nested, &(struct want){.id = "n-1", .source = "generic",
	    .severity = -1, .container = "c1", .host = "c2",
	    .ip = "192.0.2.9"});
	json_decref(a);
	a = decode_opts(top, strlen(top), &opts);
	check_alert(a, top, &(struct want){.id = "n-2", .source = "generic",
	    .severity = -1, .container = "c3", .ip = "192.0.2.8"});
	json_decref(a);
}

static void
test_generic_paths(void **state)
{
	static const char msg[] =
	    "{\"alert\":{\"uuid\":\"a-1\"},\"ts\":1793491201000,"
	    "\"sev\":{\"score\":88.4},\"summary\":\"S\","
	    "\"detector\":{\"name\":\"D\"},\"tags\":[\"t0\",\"t1\"],"
	    "\"asset\":{\"hostname\":\"h\"},\"identity.principal\":\"p\","
	    "\"net\":{\"src\":{\"ip\":\"198.51.100.7\"}},\"proc\":\"bash\","
	    "\"k8s\":{\"container.id\":\"cid\"},\"account\":123456789012,"
	    "\"host\":\"not-this\",\"cloud\":\"nor-this\"}";
	const struct alert_generic g = {
	    .id = "alert.uuid",
	    .time = "ts",
	    .severity = "sev.score",
	    .title = "summary",
	    .rule = "detector.name",
	    .category = "tags.1",
	    .host = "asset.hostname",
	    .user = "identity.principal",
	    .ip = "net.src.ip",
	    .process = "proc",
	    .container = "k8s.container.id",
	    .cloud = "account",
	};
	struct alert_generic partial = {.id = "alert.uuid"};
	struct alert_opts opts = {.generic = &g};
	json_t *a;

	a = decode_opts(msg, strlen(msg), &opts);
	check_alert(a, msg, &(struct want){
	    .id = "a-1",
	    .source = "generic",
	    .time = "2026-11-01T00:00:01Z",
	    .severity = 88,
	    .title = "S",
	    .rule = "D",
	    .category = "t1",
	    .host = "h",
	    .user = "p",
	    .ip = "198.51.100.7",
	    .process = "bash",
	    .container = "cid",
	    .cloud = "123456789012",
	});
	json_decref(a);

	/* Unmapped fields stay absent: no falling back to default paths. */
	opts.generic = &partial;
	a = decode_opts(msg, strlen(msg), &opts);
	check_alert(a, msg, &(struct want){
	    .id = "a-1", .source = "generic", .severity = -1});
	json_decref(a);

	/* An index past the end, or into an object, finds nothing. */
	partial.category = "tags.2";
	partial.host = "asset.0";
	partial.user = "tags.x";
	a = decode_opts(msg, strlen(msg), &opts);
	check_string(a, "category", NULL);
	check_string(a, "host", NULL);
	check_string(a, "user", NULL);
	json_decref(a);
}

/* ---- Field values ------------------------------------------------------- */

static void
test_scalar_conversion(void **state)
{
	check_decoded("{\"id\":12345678901234,\"host\":12345,\"user\":true,"
		      "\"ip\":1.5,\"process\":{\"name\":\"x\"},"
		      "\"container\":[\"a\"],\"cloud\":null,\"rule\":\"\","
		      "\"category\":false,\"title\":1e300,\"time\":null}",
	    &(struct want){
		.id = "12345678901234",
		.source = "generic",
		.severity = -1,
		.title = "1e+300",
		.category = "false",
		.host = "12345",
		.user = "true",
		.ip = "1.5",
	    });
	/* A real prints as the shortest text that reads back the same. */
	check_decoded("{\"id\":0.1,\"host\":3.0,\"user\":-2.5e-7}",
	    &(struct want){
		.id = "0.1",
		.source = "generic",
		.severity = -1,
		.host = "3.0",
		.user = "-2.5e-07",
	    });
	/* ECS: a numeric host.name. */
	check_decoded("{\"event\":{\"kind\":\"alert\",\"id\":7},"
		      "\"host\":{\"name\":42}}",
	    &(struct want){
		.id = "7",
		.source = "ecs",
		.severity = -1,
		.host = "42",
	    });
}

/* A title of n copies of the UTF-8 character ch. */
static char *
long_title(const char *ch, size_t n)
{
	size_t cl = strlen(ch), at = 0;
	char *msg = malloc(n * cl + 64);

	assert_non_null(msg);
	at += (size_t)sprintf(msg, "{\"id\":\"t\",\"title\":\"");
	for (size_t i = 0; i < n; i++, at += cl)
		memcpy(msg + at, ch, cl);
	strcpy(msg + at, "\"}");
	return msg;
}

static void
check_title_len(const char *ch, size_t n, size_t want)
{
	char *msg = long_title(ch, n);
	json_t *a = decode(msg);
	json_t *t = json_object_get(a, "title");
	json_t *doc = json_loads(msg, 0, NULL);
	json_t *raw = json_object_get(doc, "title");

	assert_true(json_is_string(t));
	assert_int_equal(json_string_length(t), want);
	/* Only whole characters: the cut is a prefix of the original. */
	assert_memory_equal(json_string_value(t), json_string_value(raw), want);
	assert_int_equal(json_string_length(raw), n * strlen(ch));
	json_decref(doc);
	json_decref(a);
	free(msg);
}

static void
test_truncation(void **state)
{
	check_title_len("a", 4096, 4096);
	check_title_len("a", 4097, 4096);
	check_title_len("a", 5000, 4096);
	check_title_len("\xc3\xa9", 2048, 4096);	 /* é: fits exactly */
	check_title_len("\xc3\xa9", 2500, 4096);
	check_title_len("\xe2\x82\xac", 2000, 4095); /* €: 1365 of them */
	check_title_len("\xf0\x9f\x94\xa5", 1500, 4096); /* 🔥: 1024 */
	check_title_len("\xf0\x9f\x94\xa5", 1025, 4096);
}

/* ---- Severity tables ---------------------------------------------------- */

static void
test_severity_ecs(void **state)
{
	static const struct {
		const char *fields;
		int want;
	} cases[] = {
	    {"\"event\":{\"kind\":\"alert\",\"severity\":0}", 0},
	    {"\"event\":{\"kind\":\"alert\",\"severity\":100}", 100},
	    {"\"event\":{\"kind\":\"alert\",\"severity\":47.4}", 47},
	    {"\"event\":{\"kind\":\"alert\",\"severity\":47.5}", 48},
	    /* Out of range or not a number: the next source, else absent. */
	    {"\"event\":{\"kind\":\"alert\",\"severity\":101}", -1},
	    {"\"event\":{\"kind\":\"alert\",\"severity\":-1}", -1},
	    {"\"event\":{\"kind\":\"alert\",\"severity\":\"50\"}", -1},
	    {"\"event\":{\"kind\":\"alert\",\"severity\":101},"
	     "\"kibana.alert.risk_score\":60",
		60},
	    {"\"event\":{\"kind\":\"alert\"},\"kibana.alert.risk_score\":60,"
	     "\"kibana.alert.severity\":\"low\"",
		60},
	    {"\"event\":{\"kind\":\"alert\"},\"kibana\":{\"alert\":{\"rule\":"
	     "{\"risk_score\":12}}}",
		12},
	    {"\"event\":{\"kind\":\"alert\"},\"kibana.alert.risk_score\":160,"
	     "\"kibana.alert.severity\":\"medium\"",
		47},
	    {"\"event\":{\"kind\":\"signal\"},\"signal\":{\"rule\":"
	     "{\"risk_score\":33}}",
		33},
	    {"\"event\":{\"kind\":\"alert\"},\"kibana.alert.severity\":\"low\"",
		21},
	    {"\"event\":{\"kind\":\"alert\"},\"kibana.alert.severity\":"
	     "\"medium\"",
		47},
	    {"\"event\":{\"kind\":\"alert\"},\"kibana.alert.severity\":"
	     "\"high\"",
		73},
	    {"\"event\":{\"kind\":\"alert\"},\"kibana.alert.severity\":"
	     "\"critical\"",
		99},
	    {"\"event\":{\"kind\":\"alert\"},\"kibana.alert.severity\":"
	     "\"HIGH\"",
		73},
	    {"\"event\":{\"kind\":\"alert\"},\"kibana.alert.rule.severity\":"
	     "\"critical\"",
		99},
	    {"\"event\":{\"kind\":\"alert\"},\"kibana.alert.severity\":"
	     "\"urgent\"",
		-1},
	    {"\"event\":{\"kind\":\"alert\"}", -1},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *msg = fmt("{%s}", cases[i].fields);
		int got = severity_of(msg, NULL);

		if (got != cases[i].want)
			fail_msg("%s: severity %d, want %d", msg, got,
			    cases[i].want);
		free(msg);
	}
}

static void
test_severity_ocsf(void **state)
{
	static const struct {
		const char *id;
		int want;
	} cases[] = {
	    {"0", 0}, {"1", 10}, {"2", 25}, {"3", 50}, {"4", 75},
	    {"5", 90}, {"6", 100}, {"99", 50},
	    /* Not in the table: absent. */
	    {"7", -1}, {"-1", -1}, {"98", -1}, {"\"3\"", -1}, {"3.0", -1},
	    {"null", -1},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *msg = fmt("{\"class_uid\":2004,\"finding_info\":"
				"{\"uid\":\"u\"},\"severity_id\":%s}",
		    cases[i].id);
		int got = severity_of(msg, NULL);

		if (got != cases[i].want)
			fail_msg("%s: severity %d, want %d", msg, got,
			    cases[i].want);
		free(msg);
	}
	assert_int_equal(severity_of("{\"class_uid\":2004,\"finding_info\":"
				     "{\"uid\":\"u\"}}",
			     NULL),
	    -1);
}

static void
test_severity_wazuh(void **state)
{
	/* round(level * 100 / 15) for levels 0..15. */
	static const int table[16] = {
	    0, 7, 13, 20, 27, 33, 40, 47, 53, 60, 67, 73, 80, 87, 93, 100,
	};
	static const struct {
		const char *level;
		int want;
	} beyond[] = {
	    {"16", 100}, {"1000", 100}, {"-1", 0}, {"7.5", 50}, {"0.1", 1},
	};

	for (int level = 0; level <= 15; level++) {
		char *msg = fmt("{\"rule\":{\"level\":%d},\"agent\":{},"
				"\"manager\":{},\"id\":\"w\"}",
		    level);
		int got = severity_of(msg, NULL);

		if (got != table[level])
			fail_msg("level %d: severity %d, want %d", level, got,
			    table[level]);
		free(msg);
	}
	for (size_t i = 0; i < sizeof beyond / sizeof beyond[0]; i++) {
		char *msg = fmt("{\"rule\":{\"level\":%s},\"agent\":{},"
				"\"manager\":{},\"id\":\"w\"}",
		    beyond[i].level);
		int got = severity_of(msg, NULL);

		if (got != beyond[i].want)
			fail_msg("level %s: severity %d, want %d",
			    beyond[i].level, got, beyond[i].want);
		free(msg);
	}
}

static void
test_severity_falco(void **state)
{
	static const struct {
		const char *priority;
		int want;
	} cases[] = {
	    {"Emergency", 100}, {"Alert", 95}, {"Critical", 90},
	    {"Error", 75}, {"Warning", 50}, {"Notice", 30},
	    {"Informational", 20}, {"Info", 20}, {"Debug", 10},
	    {"EMERGENCY", 100}, {"warning", 50}, {"iNfO", 20},
	    /* Unknown names: absent. */
	    {"Warn", -1}, {"Fatal", -1}, {"", -1},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *msg = fmt("{\"output\":\"o\",\"priority\":\"%s\","
				"\"rule\":\"r\",\"uuid\":\"u\"}",
		    cases[i].priority);
		int got = severity_of(msg, NULL);

		if (got != cases[i].want)
			fail_msg("%s: severity %d, want %d", cases[i].priority,
			    got, cases[i].want);
		free(msg);
	}
}

static void
test_severity_generic(void **state)
{
	static const struct {
		const char *value;
		int want;
	} cases[] = {
	    {"0", 0}, {"7", 7}, /* 0-10 is not rescaled */
	    {"10", 10}, {"55", 55}, {"100", 100}, {"42.6", 43},
	    {"150", 100}, {"-3", 0}, {"1e9", 100}, {"\"55\"", 55},
	    {"\"7.5\"", 8}, {"\"low\"", 21}, {"\"Medium\"", 47},
	    {"\"high\"", 73}, {"\"CRITICAL\"", 99},
	    /* Nothing readable: absent. */
	    {"\"info\"", -1}, {"\"nan\"", -1}, {"\"inf\"", -1},
	    {"\"0x10\"", -1}, {"\"5 of 10\"", -1}, {"\"\"", -1},
	    {"true", -1}, {"null", -1}, {"[50]", -1}, {"{\"v\":50}", -1},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *msg = fmt("{\"id\":\"s\",\"severity\":%s}",
		    cases[i].value);
		int got = severity_of(msg, NULL);

		if (got != cases[i].want)
			fail_msg("%s: severity %d, want %d", cases[i].value,
			    got, cases[i].want);
		free(msg);
	}
	assert_int_equal(severity_of("{\"id\":\"s\"}", NULL), -1);
}

/* ---- Ids ---------------------------------------------------------------- */

static const char *
id_of(const char *msg, const struct alert_opts *opts, char *buf, size_t size)
{
	json_t *a = decode_opts(msg, strlen(msg), opts);

	snprintf(buf, size, "%s", json_string_value(json_object_get(a, "id")));
	json_decref(a);
	return buf;
}

static void
test_ids(void **state)
{
	char a[128], b[128];

	/* sha256 of these 19 bytes, computed independently (sha256sum). */
	assert_string_equal(id_of("{\"message\":\"hello\"}", NULL, a, sizeof a),
	    "sha256:9b2d43affbf49a367028df2e1414f84c0e099ac98c3d54a8a80157fd"
	    "7771af25");
	/* The bytes, not the document: a space makes a different id. */
	id_of("{\"message\": \"hello\"}", NULL, b, sizeof b);
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(b), ALERT_HASH_ID_LEN);

	/* ECS: event.id, kibana.alert.uuid, _id, then the hash. */
	assert_string_equal(id_of("{\"event\":{\"kind\":\"alert\","
				  "\"id\":\"e\"},\"kibana.alert.uuid\":\"k\","
				  "\"_id\":\"d\"}",
				NULL, a, sizeof a),
	    "e");
	assert_string_equal(id_of("{\"event\":{\"kind\":\"alert\"},"
				  "\"kibana.alert.uuid\":\"k\",\"_id\":\"d\"}",
				NULL, a, sizeof a),
	    "k");
	assert_string_equal(id_of("{\"event\":{\"kind\":\"alert\"},"
				  "\"_id\":\"d\"}",
				NULL, a, sizeof a),
	    "d");
	/* An empty id is no id. */
	assert_string_equal(id_of("{\"event\":{\"kind\":\"alert\","
				  "\"id\":\"\"}}",
				NULL, a, sizeof a),
	    "sha256:0caf743e57b21ca934c2ff1c7cebc8b3bacd1d58a722c6d548f73e"
	    "b8d21384a1");
	/* Falco: uuid, then the hash. */
	assert_string_equal(id_of("{\"output\":\"o\",\"priority\":\"Error\","
				  "\"rule\":\"r\",\"uuid\":\"f-1\"}",
				NULL, a, sizeof a),
	    "f-1");
	/* Generic without paths: id, then the hash. */
	assert_string_equal(id_of("{\"id\":\"x\"}", NULL, a, sizeof a), "x");
	/* A configured topic without an id path: always the hash. */
	{
		const struct alert_generic g = {.title = "id"};
		const struct alert_opts opts = {.generic = &g};

		assert_string_equal(id_of("{\"message\":\"hello\"}", &opts, a,
					sizeof a),
		    "sha256:9b2d43affbf49a367028df2e1414f84c0e099ac98c3d54a8a"
		    "80157fd7771af25");
		id_of("{\"id\":\"x\"}", &opts, a, sizeof a);
		assert_memory_equal(a, "sha256:", 7);
	}
}

/* ---- Time --------------------------------------------------------------- */

/* The time a generic alert with "time": <value> gets; want NULL: absent. */
static void
check_time(const char *value, const char *want)
{
	char *msg = fmt("{\"id\":\"t\",\"time\":%s}", value);
	json_t *a = decode(msg);
	json_t *t = json_object_get(a, "time");

	if (want == NULL && t != NULL)
		fail_msg("%s: time %s, want absent", value,
		    json_string_value(t));
	if (want != NULL && (!json_is_string(t) ||
				strcmp(json_string_value(t), want) != 0))
		fail_msg("%s: time %s, want %s", value,
		    t ? json_string_value(t) : "absent", want);
	json_decref(a);
	free(msg);
}

static void
test_time(void **state)
{
	/* Offsets, in every spelling, to UTC. */
	check_time("\"2026-11-01T00:00:02Z\"", "2026-11-01T00:00:02Z");
	check_time("\"2026-11-01T00:00:02+0000\"", "2026-11-01T00:00:02Z");
	check_time("\"2026-11-01T00:00:02-00:00\"", "2026-11-01T00:00:02Z");
	check_time("\"2026-11-01T05:30:00+05:30\"", "2026-11-01T00:00:00Z");
	check_time("\"2026-11-01T00:00:03-03\"", "2026-11-01T03:00:03Z");
	check_time("\"2026-01-01T01:00:00+02:00\"", "2025-12-31T23:00:00Z");
	check_time("\"2026-12-31T20:00:00-0800\"", "2027-01-01T04:00:00Z");
	check_time("\"2024-03-01T00:30:00+01:00\"", "2024-02-29T23:30:00Z");
	/* Fractions: truncated to microseconds, none when zero. */
	check_time("\"2026-11-01T00:00:03.000000000Z\"",
	    "2026-11-01T00:00:03Z");
	check_time("\"2026-11-01T00:00:03.123456789Z\"",
	    "2026-11-01T00:00:03.123456Z");
	check_time("\"2026-11-01T00:00:03.999999999Z\"",
	    "2026-11-01T00:00:03.999999Z");
	check_time("\"2026-11-01T00:00:03.5Z\"", "2026-11-01T00:00:03.500000Z");
	check_time("\"2026-11-01T00:00:03.000001+0100\"",
	    "2026-10-31T23:00:03.000001Z");
	/* Lower case, a space, no offset (read as UTC). */
	check_time("\"2026-11-01t00:00:03z\"", "2026-11-01T00:00:03Z");
	check_time("\"2026-11-01 00:00:03Z\"", "2026-11-01T00:00:03Z");
	check_time("\"2026-11-01T00:00:03\"", "2026-11-01T00:00:03Z");
	/* Calendar edges. */
	check_time("\"2024-02-29T12:00:00Z\"", "2024-02-29T12:00:00Z");
	check_time("\"2000-02-29T12:00:00Z\"", "2000-02-29T12:00:00Z");
	check_time("\"2016-12-31T23:59:60Z\"", "2017-01-01T00:00:00Z");
	check_time("\"1969-12-31T23:59:59.5Z\"", "1969-12-31T23:59:59.500000Z");
	check_time("\"0000-01-01T00:00:00Z\"", "0000-01-01T00:00:00Z");
	check_time("\"9999-12-31T23:59:59.999999Z\"",
	    "9999-12-31T23:59:59.999999Z");
	/* Numbers: milliseconds, or seconds below 1e11. */
	check_time("1793491201000", "2026-11-01T00:00:01Z");
	check_time("1793491201123", "2026-11-01T00:00:01.123000Z");
	check_time("1793491201000.5", "2026-11-01T00:00:01.000500Z");
	check_time("1793491201", "2026-11-01T00:00:01Z");
	check_time("1793491201.25", "2026-11-01T00:00:01.250000Z");
	check_time("0", "1970-01-01T00:00:00Z");
	check_time("253402300799999", "9999-12-31T23:59:59.999000Z");

	/* Unreadable: absent. */
	check_time("\"2026-02-29T12:00:00Z\"", NULL);
	check_time("\"1900-02-29T12:00:00Z\"", NULL);
	check_time("\"2026-13-01T00:00:00Z\"", NULL);
	check_time("\"2026-00-01T00:00:00Z\"", NULL);
	check_time("\"2026-11-31T00:00:00Z\"", NULL);
	check_time("\"2026-11-00T00:00:00Z\"", NULL);
	check_time("\"2026-11-01T24:00:00Z\"", NULL);
	check_time("\"2026-11-01T00:60:00Z\"", NULL);
	check_time("\"2026-11-01T00:00:61Z\"", NULL);
	check_time("\"2026-11-01T00:00:00+24:00\"", NULL);
	check_time("\"2026-11-01T00:00:00+05:60\"", NULL);
	check_time("\"2026-11-01T00:00:00+05:\"", NULL);
	check_time("\"2026-11-01T00:00:00+5\"", NULL);
	check_time("\"2026-11-01T00:00:00.Z\"", NULL);
	check_time("\"2026-11-01T00:00:00Zjunk\"", NULL);
	check_time("\"2026-11-01T00:00:00Z \"", NULL);
	check_time("\"2026-11-01X00:00:00Z\"", NULL);
	check_time("\"2026-11-01T0:00:00Z\"", NULL);
	check_time("\"2026-11-01\"", NULL);
	check_time("\"+2026-11-01T00:00:00Z\"", NULL);
	check_time("\"yesterday\"", NULL);
	check_time("\"\"", NULL);
	check_time("\"9999-12-31T23:59:59-01:00\"", NULL);
	check_time("\"0000-01-01T00:00:00+01:00\"", NULL);
	check_time("-1", NULL);
	check_time("-0.5", NULL);
	check_time("1e20", NULL);
	check_time("1000000000000000", NULL);
	check_time("253402300800000", NULL);
	check_time("true", NULL);
	check_time("{\"t\":0}", NULL);
	check_time("[1793491201000]", NULL);
}

/* ---- Rejections --------------------------------------------------------- */

static void
test_reject_names(void **state)
{
	assert_string_equal(alert_reject_name(ALERT_OK), "ok");
	assert_string_equal(alert_reject_name(ALERT_TOO_LARGE), "too_large");
	assert_string_equal(alert_reject_name(ALERT_INVALID_UTF8),
	    "invalid_utf8");
	assert_string_equal(alert_reject_name(ALERT_INVALID_JSON),
	    "invalid_json");
	assert_string_equal(alert_reject_name(ALERT_NOT_OBJECT), "not_object");
	assert_string_equal(alert_reject_name(ALERT_TOO_DEEP), "too_deep");
	assert_string_equal(alert_reject_name(ALERT_MISSING_FIELD),
	    "missing_field");
	assert_string_equal(alert_reject_name((enum alert_reject)99),
	    "unknown");
}

static void
test_reject_size(void **state)
{
	static const char msg[] = "{\"id\":\"x\"}"; /* 10 bytes */
	struct alert_opts opts = {.max_size = 10};
	size_t big = ALERT_DEFAULT_MAX_SIZE + 1;
	char *buf;
	json_t *a;

	a = decode_opts(msg, 10, &opts);
	json_decref(a);
	opts.max_size = 9;
	expect_reject_opts(msg, 10, &opts, ALERT_TOO_LARGE,
	    "message of 10 bytes is larger than the limit of 9 bytes");

	/* The default, 1 MiB, exactly: a title padded with spaces after. */
	buf = malloc(big);
	assert_non_null(buf);
	memset(buf, ' ', big);
	memcpy(buf, msg, 10);
	a = decode_opts(buf, big - 1, NULL);
	check_string(a, "id", "x");
	json_decref(a);
	expect_reject_opts(buf, big, NULL, ALERT_TOO_LARGE,
	    "message of 1048577 bytes is larger than the limit of 1048576 "
	    "bytes");

	/* Size comes before anything else looks at the bytes. */
	memset(buf, 0xff, big);
	expect_reject_opts(buf, big, NULL, ALERT_TOO_LARGE, "message of*");
	free(buf);
}

static void
test_reject_utf8(void **state)
{
	/* Inside a string: é cut short by the closing quote. */
	expect_reject("{\"title\":\"caf\xc3\"}", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 13 (0xc3): incomplete sequence");
	/* Overlong encodings of '/' and '€'. */
	expect_reject("{\"t\":\"\xc0\xaf\"}", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 6 (0xc0): overlong encoding");
	expect_reject("{\"t\":\"\xc1\xbf\"}", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 6 (0xc1): overlong encoding");
	expect_reject("{\"t\":\"\xe0\x80\xaf\"}", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 6 (0xe0): overlong encoding");
	expect_reject("{\"t\":\"\xf0\x82\x82\xac\"}", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 6 (0xf0): overlong encoding");
	/* Surrogates, and beyond U+10FFFF. */
	expect_reject("{\"t\":\"\xed\xa0\x80\"}", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 6 (0xed): surrogate code point");
	expect_reject("{\"t\":\"\xed\xbf\xbf\"}", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 6 (0xed): surrogate code point");
	expect_reject("{\"t\":\"\xf4\x90\x80\x80\"}", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 6 (0xf4): code point above U+10FFFF");
	expect_reject("{\"t\":\"\xf7\xbf\xbf\xbf\"}", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 6 (0xf7): code point above U+10FFFF");
	/* Bytes that never start a character. */
	expect_reject("{\"t\":\"\x80\"}", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 6 (0x80): unexpected continuation byte");
	expect_reject("{\"t\":\"\xff\"}", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 6 (0xff): byte never valid in UTF-8");
	expect_reject("{\"t\":\"\xf8\x88\x80\x80\x80\"}", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 6 (0xf8): byte never valid in UTF-8");
	/* Outside any string, and at the very end. */
	expect_reject("{\"t\":1}\xc3", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 7 (0xc3): sequence cut short by the end "
	    "of the text");
	expect_reject("{\"t\":\"\xe2\x82", ALERT_INVALID_UTF8,
	    "invalid UTF-8 at byte 6 (0xe2): sequence cut short by the end "
	    "of the text");
	/* The edges that are valid. */
	check_decoded("{\"id\":\"\xf4\x8f\xbf\xbf \xee\x80\x80 \xc2\x80 "
		      "\xe0\xa0\x80 \xf0\x90\x80\x80\"}",
	    &(struct want){
		.id = "\xf4\x8f\xbf\xbf \xee\x80\x80 \xc2\x80 \xe0\xa0\x80 "
		      "\xf0\x90\x80\x80",
		.source = "generic",
		.severity = -1,
	    });
	/* UTF-8 is checked before depth. */
	expect_reject("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		      "[[[[[[[[[[[[[[[\xff",
	    ALERT_INVALID_UTF8, "invalid UTF-8 at byte 69 (0xff)*");
}

static void
test_reject_json(void **state)
{
	expect_reject("{\"a\":1,}", ALERT_INVALID_JSON,
	    "invalid JSON at line 1 column 8: *");
	expect_reject("{\"a\":1,\"a\":2}", ALERT_INVALID_JSON,
	    "invalid JSON at line 1 column 10: duplicate object key*");
	expect_reject("{\"a\":\"x\\u0000y\"}", ALERT_INVALID_JSON,
	    "invalid JSON at line 1 column 15: \\u0000 is not allowed*");
	expect_reject("{\"a\":\"\\ud800\"}", ALERT_INVALID_JSON,
	    "invalid JSON at*");
	expect_reject("{} x", ALERT_INVALID_JSON, "invalid JSON at*");
	expect_reject("{}{}", ALERT_INVALID_JSON, "invalid JSON at*");
	expect_reject("", ALERT_INVALID_JSON, "invalid JSON at*");
	expect_reject("   ", ALERT_INVALID_JSON, "invalid JSON at*");
	expect_reject("{\"a\":tru}", ALERT_INVALID_JSON, "invalid JSON at*");
	expect_reject("{\"a\":\"\ttab\"}", ALERT_INVALID_JSON,
	    "invalid JSON at*");
	expect_reject_opts("{\"a\":\"x\0y\"}", 11, NULL, ALERT_INVALID_JSON,
	    "invalid JSON at*");
	/* NULL data with no bytes is an empty message. */
	expect_reject_opts(NULL, 0, NULL, ALERT_INVALID_JSON,
	    "invalid JSON at*");
}

static void
test_reject_not_object(void **state)
{
	expect_reject("[1,2]", ALERT_NOT_OBJECT,
	    "top level is an array, not an object");
	expect_reject("[]", ALERT_NOT_OBJECT,
	    "top level is an array, not an object");
	expect_reject("\"alert\"", ALERT_NOT_OBJECT,
	    "top level is a string, not an object");
	expect_reject("42", ALERT_NOT_OBJECT,
	    "top level is a number, not an object");
	expect_reject(" null ", ALERT_NOT_OBJECT,
	    "top level is null, not an object");
	expect_reject("true", ALERT_NOT_OBJECT,
	    "top level is true, not an object");
	/* Whitespace around an object is fine. */
	check_decoded(" \r\n\t{\"id\":\"w\"}\n", &(struct want){
	    .id = "w", .source = "generic", .severity = -1});
}

/* {"a": then depth-1 '[', their ']', and '}': depth levels in all. */
static char *
nested(int depth)
{
	char *msg = malloc((size_t)depth * 2 + 16), *p = msg;

	assert_non_null(msg);
	p += sprintf(p, "{\"a\":");
	for (int i = 1; i < depth; i++)
		*p++ = '[';
	for (int i = 1; i < depth; i++)
		*p++ = ']';
	strcpy(p, "}");
	return msg;
}

static void
test_reject_depth(void **state)
{
	struct alert_opts opts = {.max_depth = 2};
	char *msg, *s;
	json_t *a;

	msg = nested(64);
	a = decode(msg);
	check_string(a, "source", "generic");
	json_decref(a);
	free(msg);

	msg = nested(65);
	/* '{' at 0, "a": at 1-4, the 64th '[' (level 65) at 5 + 63. */
	expect_reject(msg, ALERT_TOO_DEEP,
	    "nested deeper than 64 levels at byte 68");
	free(msg);

	/* Far deeper than jansson's own limit, and unterminated. */
	s = malloc(200001);
	assert_non_null(s);
	memset(s, '[', 200000);
	s[200000] = '\0';
	expect_reject(s, ALERT_TOO_DEEP,
	    "nested deeper than 64 levels at byte 64");
	free(s);

	/* Brackets inside strings, escaped quotes included, do not count. */
	s = malloc(400);
	assert_non_null(s);
	strcpy(s, "{\"id\":\"\\\"");
	memset(s + strlen(s), '[', 300);
	strcpy(s + 9 + 300, "\\\\\",\"k[{\":\"{\"}");
	a = decode(s);
	/* The id is the string: a quote, 300 brackets, a backslash. */
	assert_int_equal(json_string_length(json_object_get(a, "id")), 302);
	json_decref(a);
	free(s);

	/* A lower limit from the options. */
	a = decode_opts("{\"a\":{\"b\":1}}", 13, &opts);
	json_decref(a);
	expect_reject_opts("{\"a\":{\"b\":[]}}", 14, &opts, ALERT_TOO_DEEP,
	    "nested deeper than 2 levels at byte 10");
}

static void
test_reject_missing(void **state)
{
	const struct alert_generic g = {.id = "alert.uuid", .host = "h"};
	const struct alert_opts opts = {.generic = &g};
	static const char no_id[] = "{\"alert\":{\"id\":\"a\"},\"h\":\"x\"}";

	expect_reject("{\"class_uid\":2004,\"finding_info\":{\"title\":\"t\"}}",
	    ALERT_MISSING_FIELD,
	    "missing field finding_info.uid for OCSF class 2004");
	/* An empty or structured uid is no uid. */
	expect_reject("{\"class_uid\":2004,\"finding_info\":{\"uid\":\"\"}}",
	    ALERT_MISSING_FIELD,
	    "missing field finding_info.uid for OCSF class 2004");
	expect_reject("{\"class_uid\":2004,\"finding_info\":{\"uid\":{}}}",
	    ALERT_MISSING_FIELD,
	    "missing field finding_info.uid for OCSF class 2004");
	expect_reject("{\"class_uid\":2001,\"finding\":{\"title\":\"t\"}}",
	    ALERT_MISSING_FIELD,
	    "missing field finding.uid for OCSF class 2001");
	/* 2001 from OCSF 1.1 on carries finding_info. */
	check_decoded("{\"class_uid\":2001,\"finding_info\":{\"uid\":\"n\","
		      "\"title\":\"t\",\"types\":[\"x\"]}}",
	    &(struct want){
		.id = "n",
		.source = "ocsf",
		.severity = -1,
		.title = "t",
		.category = "x",
	    });
	expect_reject("{\"rule\":{\"level\":3},\"agent\":{\"name\":\"a\"},"
		      "\"manager\":{\"name\":\"m\"}}",
	    ALERT_MISSING_FIELD, "missing field id for Wazuh alert");
	expect_reject("{\"rule\":{\"level\":3},\"agent\":{},\"manager\":{},"
		      "\"id\":null}",
	    ALERT_MISSING_FIELD, "missing field id for Wazuh alert");
	expect_reject_opts(no_id, strlen(no_id), &opts, ALERT_MISSING_FIELD,
	    "missing field alert.uuid (the topic's id path)");
}

/* Defaults without opts; received_at copied, or absent when NULL. */
static void
test_opts_and_received(void **state)
{
	char why[64];
	json_t *a = NULL;
	char *s;

	assert_int_equal(alert_decode("{\"id\":\"x\"}", 10, NULL, NULL, &a, why,
			     sizeof why),
	    ALERT_OK);
	s = json_dumps(a, JSON_COMPACT);
	/* The canonical order, and nothing invented. */
	assert_string_equal(s, "{\"id\":\"x\",\"source\":\"generic\"}");
	free(s);
	json_decref(a);

	a = decode("{\"id\":\"x\",\"time\":0,\"severity\":1}");
	s = json_dumps(a, JSON_COMPACT);
	assert_string_equal(s, "{\"id\":\"x\",\"source\":\"generic\","
			       "\"time\":\"1970-01-01T00:00:00Z\","
			       "\"received_at\":\"" RECEIVED "\","
			       "\"severity\":1}");
	free(s);
	json_decref(a);

	/* A why buffer of any size, even none. */
	assert_int_equal(alert_decode("[]", 2, NULL, NULL, &a, NULL, 0),
	    ALERT_NOT_OBJECT);
	assert_null(a);
	assert_int_equal(alert_decode("[]", 2, NULL, NULL, &a, why, 8),
	    ALERT_NOT_OBJECT);
	assert_string_equal(why, "top lev");
}

/* ---- Truncated and mangled messages ------------------------------------- */

static const char *const all_samples[] = {
	sample_ecs_1, sample_ecs_9, sample_ocsf_2, sample_ocsf_26,
	sample_wazuh_3, sample_wazuh_11, sample_falco_4, sample_falco_12,
	ecs_kibana, ecs_legacy, ocsf_2001,
};

static void
check_contract(const char *msg, size_t len, enum alert_reject *r)
{
	char why[256];
	json_t *a = (json_t *)1;

	why[0] = 'x';
	*r = alert_decode(msg, len, NULL, RECEIVED, &a, why, sizeof why);
	if (*r == ALERT_OK) {
		assert_non_null(a);
		assert_true(json_is_string(json_object_get(a, "id")));
		assert_true(json_is_string(json_object_get(a, "source")));
		assert_null(json_object_get(a, "raw"));
		assert_string_equal(why, "");
		json_decref(a);
	} else {
		assert_null(a);
		assert_true(why[0] != '\0' && why[0] != 'x');
		assert_string_not_equal(alert_reject_name(*r), "unknown");
	}
}

static void
test_truncated(void **state)
{
	enum alert_reject r;

	for (size_t i = 0; i < sizeof all_samples / sizeof all_samples[0];
	     i++) {
		const char *msg = all_samples[i];
		size_t len = strlen(msg);

		for (size_t n = 0; n < len; n++) {
			/* A heap copy of n bytes: ASan sees any overread. */
			char *copy = malloc(n + 1);

			assert_non_null(copy);
			memcpy(copy, msg, n);
			check_contract(copy, n, &r);
			if (r == ALERT_OK)
				fail_msg("sample %zu cut at %zu accepted", i,
				    n);
			free(copy);
		}
		check_contract(msg, len, &r);
		assert_int_equal(r, ALERT_OK);
	}
}

static void
test_mangled(void **state)
{
	static const unsigned char bytes[] = {
	    '"', '\\', '{', '}', '[', ']', ':', ',', '0', ' ', 0x00, 0x80,
	    0xc3, 0xe2, 0xf0, 0xff, 'u', '.',
	};
	uint32_t seed = 12345;
	size_t counts[ALERT_MISSING_FIELD + 1] = {0};
	enum alert_reject r;

	for (size_t i = 0; i < sizeof all_samples / sizeof all_samples[0];
	     i++) {
		size_t len = strlen(all_samples[i]);

		for (int round = 0; round < 400; round++) {
			char *copy = malloc(len);
			int edits;

			assert_non_null(copy);
			memcpy(copy, all_samples[i], len);
			seed = seed * 1103515245 + 12345;
			edits = 1 + (int)(seed >> 16) % 3;
			for (int e = 0; e < edits; e++) {
				seed = seed * 1103515245 + 12345;
				size_t at = (seed >> 8) % len;

				seed = seed * 1103515245 + 12345;
				copy[at] = (char)bytes[(seed >> 16) %
				    sizeof bytes];
			}
			check_contract(copy, len, &r);
			counts[r]++;
			free(copy);
		}
	}
	/* The mangling reaches both sides of the parser. */
	assert_true(counts[ALERT_OK] > 0);
	assert_true(counts[ALERT_INVALID_JSON] > 0);
	assert_true(counts[ALERT_INVALID_UTF8] > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ecs_samples),
	    cmocka_unit_test(test_ocsf_samples),
	    cmocka_unit_test(test_wazuh_samples),
	    cmocka_unit_test(test_falco_samples),
	    cmocka_unit_test(test_ecs_detection_engine),
	    cmocka_unit_test(test_ecs_legacy_signal),
	    cmocka_unit_test(test_ocsf_2001),
	    cmocka_unit_test(test_ocsf_fields),
	    cmocka_unit_test(test_wazuh_fields),
	    cmocka_unit_test(test_falco_fields),
	    cmocka_unit_test(test_detection_order),
	    cmocka_unit_test(test_generic_forced),
	    cmocka_unit_test(test_generic_defaults),
	    cmocka_unit_test(test_generic_paths),
	    cmocka_unit_test(test_generic_flattened_nested),
	    cmocka_unit_test(test_scalar_conversion),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_severity_ecs),
	    cmocka_unit_test(test_severity_ocsf),
	    cmocka_unit_test(test_severity_wazuh),
	    cmocka_unit_test(test_severity_falco),
	    cmocka_unit_test(test_severity_generic),
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_time),
	    cmocka_unit_test(test_reject_names),
	    cmocka_unit_test(test_reject_size),
	    cmocka_unit_test(test_reject_utf8),
	    cmocka_unit_test(test_reject_json),
	    cmocka_unit_test(test_reject_not_object),
	    cmocka_unit_test(test_reject_depth),
	    cmocka_unit_test(test_reject_missing),
	    cmocka_unit_test(test_opts_and_received),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_mangled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
