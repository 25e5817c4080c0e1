/*
 * Unit tests for daemon/config.c: defaults, a full valid file, every kind of
 * schema error with its path, the Lua sandbox limits, and error collection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "remediad/config.h"
#include "remediad/proto.h"

#define NAME "test.conf"

static struct config *
load(const char *text, char **cause)
{
	return config_load_buffer(NAME, text, strlen(text), cause);
}

/* Loads `text`, which must be valid. */
static struct config *
load_ok(const char *text)
{
	char *cause = NULL;
	struct config *cfg = load(text, &cause);

	if (cfg == NULL) {
		char msg[1024];

		snprintf(msg, sizeof msg, "%s", cause ? cause : "(no cause)");
		free(cause);
		fail_msg("config refused:\n%s\n--- because:\n%s", text, msg);
	}
	assert_null(cause);
	return cfg;
}

static size_t
count_lines(const char *s)
{
	size_t n = 1;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
}

/*
 * Expects `text` to be refused with `lines` errors (0: any number), one of
 * them containing `want`.
 */
static void
expect_error_n(const char *text, const char *want, size_t lines)
{
	char *cause = NULL, msg[2048];
	struct config *cfg = load(text, &cause);

	if (cfg != NULL) {
		config_free(cfg);
		free(cause);
		fail_msg("config accepted:\n%s", text);
	}
	if (cause == NULL)
		fail_msg("config refused without a cause:\n%s", text);
	snprintf(msg, sizeof msg, "%s", cause);
	if (strstr(cause, want) == NULL) {
		free(cause);
		fail_msg("config:\n%s\n--- cause:\n%s\n--- lacks: %s", text,
		    msg, want);
	}
	if (lines != 0 && count_lines(cause) != lines) {
		free(cause);
		fail_msg("config:\n%s\n--- cause has %zu lines, want %zu:\n%s",
		    text, count_lines(msg), lines, msg);
	}
	free(cause);
}

static void
expect_error(const char *text, const char *want)
{
	expect_error_n(text, want, 1);
}

/* ---- Valid configs ----------------------------------------------------- */

static void
test_defaults(void **state)
{
	struct config *cfg = load_ok("");

	assert_string_equal(cfg->path, NAME);
	assert_string_equal(cfg->state_dir, "/var/lib/remediad");
	assert_int_equal(cfg->log.level, 3); /* info */
	assert_string_equal(cfg->control.socket, PROTO_DEFAULT_SOCK);
	assert_null(cfg->control.group);
	assert_int_equal(cfg->control.max_clients, 32);
	assert_int_equal(cfg->control.idle_timeout_ms, 300000);
	assert_int_equal(cfg->control.default_role, ROLE_NONE);
	assert_int_equal(cfg->control.nrules, 0);
	for (int r = 0; r <= ROLE_ADMIN; r++)
		assert_int_equal(cfg->control.roles[r].n, 0);
	assert_false(cfg->kafka.present);
	assert_null(cfg->kafka.topic);
	assert_null(cfg->kafka.brokers);
	assert_null(cfg->kafka.properties);
	assert_string_equal(cfg->audit.dir, "/var/lib/remediad/audit");
	assert_int_equal(cfg->audit.sync, AUDIT_SYNC_GROUP);
	assert_int_equal(cfg->audit.sync_interval_ms, 5);
	assert_int_equal(cfg->audit.sync_records, 4096);
	assert_int_equal(cfg->audit.segment_size, 64ULL << 20);
	assert_int_equal(cfg->audit.max_record, 1ULL << 20);
	assert_int_equal(cfg->audit.anchor_every, 1000);
	config_free(cfg);

	/* Comments and blank lines only. */
	cfg = load_ok("-- nothing here\n\n--[[ nor here ]]\n");
	assert_string_equal(cfg->state_dir, "/var/lib/remediad");
	config_free(cfg);
}

static const char full_config[] =
    "-- A complete config.\n"
    "state_dir = \"/srv/remediad\"\n"
    "log = { level = \"debug\" }\n"
    "control = {\n"
    "\tsocket = \"/run/r/ctl.sock\",\n"
    "\tmax_clients = 8,\n"
    "\tidle_timeout = \"1h30m\",\n"
    "\tdefault_role = \"viewer\",\n"
    "\troles = {\n"
    "\t\tviewer = {\"user:nobody\"},\n"
    "\t\tapprover = {\"group:root\"},\n"
    "\t\tadmin = {\"uid:0\"},\n"
    "\t},\n"
    "}\n"
    "kafka = {\n"
    "\tbrokers = \"k1:9092,k2:9092\",\n"
    "\ttopic = \"alerts\",\n"
    "\tdlq_topic = \"alerts.dlq\",\n"
    "\tproperties = { [\"security.protocol\"] = \"ssl\" },\n"
    "}\n"
    "audit = {\n"
    "\tdir = \"/srv/audit\",\n"
    "\tsync = \"always\",\n"
    "\tsync_interval = \"10ms\",\n"
    "\tsync_records = 64,\n"
    "\tsegment_size = \"16MB\",\n"
    "\tmax_record = \"512KB\",\n"
    "\tanchor_every = 50,\n"
    "}\n";

static void
test_full(void **state)
{
	struct config *cfg = load_ok(full_config);
	const struct role_rule *r = cfg->control.rules;

	assert_string_equal(cfg->state_dir, "/srv/remediad");
	assert_int_equal(cfg->log.level, 4); /* debug */
	assert_string_equal(cfg->control.socket, "/run/r/ctl.sock");
	assert_int_equal(cfg->control.max_clients, 8);
	assert_int_equal(cfg->control.idle_timeout_ms, 5400000);
	assert_int_equal(cfg->control.default_role, ROLE_VIEWER);

	assert_int_equal(cfg->control.roles[ROLE_VIEWER].n, 1);
	assert_string_equal(cfg->control.roles[ROLE_VIEWER].v[0],
	    "user:nobody");
	assert_int_equal(cfg->control.nrules, 3);
	assert_non_null(r);
	assert_int_equal(r[0].kind, RULE_USER);
	assert_string_equal(r[0].name, "nobody");
	assert_int_equal(r[0].role, ROLE_VIEWER);
	assert_int_equal(r[1].kind, RULE_GROUP);
	assert_string_equal(r[1].name, "root");
	assert_int_equal(r[1].role, ROLE_APPROVER);
	assert_int_equal(r[2].kind, RULE_UID);
	assert_null(r[2].name);
	assert_int_equal(r[2].uid, 0);
	assert_int_equal(r[2].role, ROLE_ADMIN);

	assert_true(cfg->kafka.present);
	assert_string_equal(cfg->kafka.brokers, "k1:9092,k2:9092");
	assert_string_equal(cfg->kafka.topic, "alerts");
	assert_string_equal(cfg->kafka.group, "remediad");
	assert_string_equal(cfg->kafka.dlq_topic, "alerts.dlq");
	assert_true(json_is_object(cfg->kafka.properties));
	assert_string_equal(json_string_value(json_object_get(
	    cfg->kafka.properties, "security.protocol")), "ssl");

	assert_string_equal(cfg->audit.dir, "/srv/audit");
	assert_int_equal(cfg->audit.sync, AUDIT_SYNC_ALWAYS);
	assert_int_equal(cfg->audit.sync_interval_ms, 10);
	assert_int_equal(cfg->audit.sync_records, 64);
	assert_int_equal(cfg->audit.segment_size, 16ULL << 20);
	assert_int_equal(cfg->audit.max_record, 512ULL << 10);
	assert_int_equal(cfg->audit.anchor_every, 50);
	config_free(cfg);
}

static void
test_valid_variants(void **state)
{
	struct config *cfg;

	/* Lua expressions are allowed; the result is what counts. */
	cfg = load_ok("local base = \"/srv\"\n"
		      "state_dir = base .. \"/r\"\n"
		      "control = { max_clients = 4 * 25 }\n");
	assert_string_equal(cfg->state_dir, "/srv/r");
	assert_string_equal(cfg->audit.dir, "/srv/r/audit");
	assert_int_equal(cfg->control.max_clients, 100);
	config_free(cfg);

	/* An integral float is an integer; uid rules take any uid. */
	cfg = load_ok("control = { max_clients = 10.0, roles = {"
		      " admin = {\"uid:0\", \"uid:4294967294\"},"
		      " viewer = {} } }\n"
		      "audit = { sync = \"none\", sync_interval = \"0s\" }\n");
	assert_int_equal(cfg->control.max_clients, 10);
	assert_int_equal(cfg->control.nrules, 2);
	assert_int_equal(cfg->control.rules[1].uid, 4294967294U);
	assert_int_equal(cfg->control.roles[ROLE_VIEWER].n, 0);
	assert_int_equal(cfg->audit.sync, AUDIT_SYNC_NONE);
	assert_int_equal(cfg->audit.sync_interval_ms, 0);
	config_free(cfg);

	/* Bounds are inclusive. */
	cfg = load_ok("control = { max_clients = 10000, idle_timeout = \"1s\" }\n"
		      "audit = { sync_interval = \"10s\","
		      " segment_size = \"64KiB\", max_record = \"64MB\" }\n");
	assert_int_equal(cfg->control.max_clients, 10000);
	assert_int_equal(cfg->control.idle_timeout_ms, 1000);
	assert_int_equal(cfg->audit.sync_interval_ms, 10000);
	assert_int_equal(cfg->audit.segment_size, 64 * 1024);
	assert_int_equal(cfg->audit.max_record, 64 * 1024 * 1024);
	config_free(cfg);
}

/* ---- Schema errors ----------------------------------------------------- */

static void
test_unknown_key(void **state)
{
	expect_error("bogus = 1\n", "bogus: unknown key");
	expect_error("kafka = { topic = \"t\", x = 1 }\n",
	    "kafka.x: unknown key");
	expect_error("control = { roles = { root = {\"uid:0\"} } }\n",
	    "control.roles.root: unknown key");
	expect_error("log = { level = \"info\", lvl = \"debug\" }\n",
	    "log.lvl: unknown key");
}

static void
test_wrong_type(void **state)
{
	expect_error("kafka = { topic = 5 }\n",
	    "kafka.topic: expected string, got number");
	expect_error("state_dir = true\n",
	    "state_dir: expected string, got boolean");
	expect_error("control = 5\n", "control: expected table, got number");
	expect_error("control = { max_clients = \"8\" }\n",
	    "control.max_clients: expected integer, got string");
	expect_error("control = { max_clients = 1.5 }\n",
	    "control.max_clients: expected integer, got number");
	expect_error("control = { idle_timeout = 30 }\n",
	    "control.idle_timeout: expected duration string");
	expect_error("audit = { segment_size = 1024 }\n",
	    "audit.segment_size: expected size string");
	expect_error("log = { level = 3 }\n",
	    "log.level: expected string, got number");
	expect_error("control = { roles = { admin = \"uid:0\" } }\n",
	    "control.roles.admin: expected list of strings, got string");
	expect_error("control = { roles = { admin = {1} } }\n",
	    "control.roles.admin: item 1: expected string, got number");
	expect_error("kafka = { topic = \"t\", properties = { a = 1 } }\n",
	    "kafka.properties: a: expected string, got number");
	expect_error("kafka = { topic = \"t\", properties = {\"a\"} }\n",
	    "kafka.properties: expected table of strings, got list");
	expect_error("state_dir = \"\"\n", "state_dir: must not be empty");
}

static void
test_bad_duration(void **state)
{
	expect_error("control = { idle_timeout = \"15x\" }\n",
	    "control.idle_timeout: bad duration \"15x\"");
	expect_error("control = { idle_timeout = \"-1s\" }\n",
	    "control.idle_timeout: bad duration \"-1s\"");
	expect_error("control = { idle_timeout = \"10\" }\n",
	    "control.idle_timeout: bad duration \"10\"");
	expect_error("control = { idle_timeout = \"500ms\" }\n",
	    "control.idle_timeout: must be at least 1s");
	expect_error("control = { idle_timeout = \"0s\" }\n",
	    "control.idle_timeout: must be at least 1s");
	expect_error("audit = { sync_interval = \"11s\" }\n",
	    "audit.sync_interval: must be between 0s and 10s (got 11000ms)");
	/* Larger than INT64_MAX milliseconds. */
	expect_error("control = { idle_timeout = \"18446744073709551615ms\" }\n",
	    "control.idle_timeout: must be");
}

static void
test_bad_size(void **state)
{
	expect_error("audit = { segment_size = \"16XB\" }\n",
	    "audit.segment_size: bad size \"16XB\"");
	expect_error("audit = { segment_size = \"-1MB\" }\n",
	    "audit.segment_size: bad size \"-1MB\"");
	expect_error("audit = { segment_size = \"1KB\" }\n",
	    "audit.segment_size: must be at least 65536 bytes");
	expect_error("audit = { max_record = \"65MB\" }\n",
	    "audit.max_record: must be between 1024 bytes and 67108864 bytes");
}

static void
test_out_of_range(void **state)
{
	expect_error("control = { max_clients = 0 }\n",
	    "control.max_clients: must be between");
	expect_error("control = { max_clients = 0 }\n", "(got 0)");
	expect_error("control = { max_clients = 10001 }\n",
	    "control.max_clients: must be between 1 and 10000 (got 10001)");
	expect_error("control = { max_clients = -5 }\n",
	    "control.max_clients: must be between");
	expect_error("audit = { anchor_every = 0 }\n",
	    "audit.anchor_every: must be at least 1");
	/* Floats far outside the integer range. */
	expect_error("control = { max_clients = 1e300 }\n",
	    "control.max_clients: ");
	expect_error("control = { max_clients = -1e300 }\n",
	    "control.max_clients: ");
}

static void
test_bad_enum(void **state)
{
	expect_error("log = { level = \"loud\" }\n",
	    "log.level: \"loud\" is not one of: error, warn, notice, info, "
	    "debug");
	expect_error("audit = { sync = \"sometimes\" }\n",
	    "audit.sync: \"sometimes\" is not one of: group, always, none");
	expect_error("control = { default_role = \"root\" }\n",
	    "control.default_role: \"root\" is not one of");
	/* Case matters. */
	expect_error("log = { level = \"DEBUG\" }\n", "log.level: \"DEBUG\"");
}

static void
test_missing_required(void **state)
{
	expect_error("kafka = { brokers = \"x\" }\n",
	    "kafka.topic: missing required key");
	expect_error("kafka = {}\n", "kafka.topic: missing required key");
}

static void
test_bad_role_rule(void **state)
{
	expect_error("control = { roles = { admin = {\"root\"} } }\n",
	    "control.roles.admin[1]: \"root\": expected user:NAME, "
	    "group:NAME or uid:N");
	expect_error("control = { roles = { viewer = {\"uid:0\", \"user:\"} } "
		     "}\n",
	    "control.roles.viewer[2]: \"user:\"");
	expect_error("control = { roles = { approver = {\"group:\"} } }\n",
	    "control.roles.approver[1]");
	expect_error("control = { roles = { admin = {\"uid:abc\"} } }\n",
	    "control.roles.admin[1]: \"uid:abc\": expected");
	expect_error("control = { roles = { admin = {\"uid:-1\"} } }\n",
	    "control.roles.admin[1]");
	expect_error("control = { roles = { admin = {\"uid:12x\"} } }\n",
	    "control.roles.admin[1]: \"uid:12x\": bad uid");
	expect_error("control = { roles = { admin = {\"uid:4294967295\"} } }\n",
	    "control.roles.admin[1]: \"uid:4294967295\": bad uid");
	expect_error("control = { roles = { admin = "
		     "{\"uid:99999999999999999999999\"} } }\n",
	    "control.roles.admin[1]: \"uid:99999999999999999999999\": bad uid");
}

static void
test_paths_checked(void **state)
{
	expect_error("state_dir = \"var/lib/remediad\"\n",
	    "state_dir: must be an absolute path");
	expect_error("control = { socket = \"ctl.sock\" }\n",
	    "control.socket: must be an absolute path");
	expect_error("audit = { dir = \"audit\" }\n",
	    "audit.dir: must be an absolute path");
	expect_error("control = { group = \"no-such-group-remediad-test\" }\n",
	    "control.group: no such group \"no-such-group-remediad-test\"");
}

/* A control.socket of `len` bytes. */
static void
socket_of_len(char *buf, size_t bufsz, size_t len)
{
	char path[256];

	assert_true(len < sizeof path);
	memset(path, 'a', len);
	path[0] = '/';
	path[len] = '\0';
	snprintf(buf, bufsz, "control = { socket = \"%s\" }\n", path);
}

static void
test_socket_length(void **state)
{
	char text[512];
	struct config *cfg;

	/* sun_path holds 107 bytes and the NUL. */
	socket_of_len(text, sizeof text, 107);
	cfg = load_ok(text);
	assert_int_equal(strlen(cfg->control.socket), 107);
	config_free(cfg);
	socket_of_len(text, sizeof text, 108);
	expect_error(text, "control.socket: longer than the 107 bytes");
}

/* ---- Lua evaluation ---------------------------------------------------- */

static void
test_syntax_error(void **state)
{
	expect_error("state_dir = = \"/x\"\n", NAME ":1:");
	expect_error("\n\ncontrol = { max_clients = 1\n", NAME ":");
	/* A runtime error carries the line too. */
	expect_error("x = nil + 1\n", NAME ":1:");
}

static void
test_sandbox(void **state)
{
	/* No libraries are loaded. */
	expect_error("os.execute(\"true\")\n", "global 'os'");
	expect_error("io.open(\"/etc/passwd\")\n", "global 'io'");
	expect_error("require(\"x\")\n", "global 'require'");
	expect_error("print(1)\n", "global 'print'");
	/* No precompiled chunks. */
	expect_error("\x1bLua", "binary chunk");
}

static void
test_instruction_limit(void **state)
{
	expect_error("while true do end\n", "instruction limit");
	expect_error("local n = 0\nfor i = 1, 1e9 do n = n + i end\n",
	    NAME ":2: instruction limit");
}

static void
test_memory_limit(void **state)
{
	expect_error("local t={} for i=1,1e7 do t[i]={i,i,i} end\n",
	    "memory limit");
	/* One huge string. */
	expect_error("local s = \"x\" for i = 1, 30 do s = s .. s end\n",
	    "memory limit");
}

static void
test_bad_values(void **state)
{
	expect_error("x = function() end\n",
	    "x: a function cannot be a config value");
	expect_error("control = { socket = function() end }\n",
	    "control.socket: a function cannot be a config value");
	expect_error("x = {1, a=2}\n",
	    "x: a table is either a list or has named keys, not both");
	expect_error("x = { [1.5] = 1 }\n",
	    "x: table keys must be names or list positions");
	expect_error("x = { [true] = 1 }\n",
	    "x: table keys must be names or list positions");
	expect_error("state_dir = \"/a\\0b\"\n",
	    "state_dir: string contains a NUL byte");
	expect_error("state_dir = \"/\\xff\"\n",
	    "state_dir: string is not valid UTF-8");
	expect_error("x = 1/0\n", "x: number is not finite");
	/* A cycle: cut at the depth limit ("x" is also an unknown key). */
	expect_error_n("local t = {} t.t = t x = t\n",
	    "x.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t: nested deeper than 16 levels",
	    2);
	expect_error("_ENV[1] = \"a\"\n", NAME ": top-level keys must be names");
}

static void
test_several_errors(void **state)
{
	const char *text = "bogus = 1\n"
			   "control = { max_clients = 0 }\n"
			   "log = { level = \"loud\" }\n";
	char *cause = NULL;
	struct config *cfg = load(text, &cause);
	size_t nl = 0;

	assert_null(cfg);
	assert_non_null(cause);
	for (const char *p = cause; *p != '\0'; p++)
		if (*p == '\n')
			nl++;
	if (nl != 2 || strstr(cause, "bogus: unknown key") == NULL ||
	    strstr(cause, "control.max_clients: must be between") == NULL ||
	    strstr(cause, "log.level: \"loud\"") == NULL) {
		char msg[2048];

		snprintf(msg, sizeof msg, "%s", cause);
		free(cause);
		fail_msg("want 3 errors, got:\n%s", msg);
	}
	/* One per line, sorted by path. */
	assert_true(strncmp(cause, "bogus: ", 7) == 0);
	assert_non_null(strstr(cause, "\ncontrol.max_clients: "));
	assert_non_null(strstr(cause, "\nlog.level: "));
	assert_true(cause[strlen(cause) - 1] != '\n');
	free(cause);

	/* Errors in unrelated tables and in the checks are all reported. */
	expect_error_n("state_dir = \"rel\"\n"
		       "kafka = { brokers = \"x\" }\n"
		       "audit = { segment_size = \"16XB\", sync = \"x\" }\n"
		       "control = { roles = { admin = {\"bogus\"} } }\n",
	    "state_dir: must be an absolute path", 5);
}

/* ---- Files ------------------------------------------------------------- */

static void
test_load_file(void **state)
{
	char path[] = "/tmp/remediad-test-config-XXXXXX";
	const char *text = "state_dir = \"/srv/x\"\n";
	struct config *cfg;
	char *cause = NULL;
	int fd = mkstemp(path);

	assert_true(fd != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cfg = config_load(path, &cause);
	unlink(path);
	assert_non_null(cfg);
	assert_null(cause);
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->state_dir, "/srv/x");
	config_free(cfg);

	cfg = config_load("/nonexistent/remediad.conf", &cause);
	assert_null(cfg);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "/nonexistent/remediad.conf: No such file"));
	free(cause);

	cfg = config_load("/", &cause);
	assert_null(cfg);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "/: not a regular file"));
	free(cause);

	/* A FIFO is refused at once: opening it must not wait for a writer. */
	char dir[] = "/tmp/remediad-test-config-XXXXXX", fifo[64];
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof fifo, "%s/fifo.conf", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	cfg = config_load(fifo, &cause);
	unlink(fifo);
	rmdir(dir);
	assert_null(cfg);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "fifo.conf: not a regular file"));
	free(cause);
}

/* Anchors go to Kafka through the intake's producer: no kafka, no topic. */
static void
test_anchor_topic(void **state)
{
	struct config *cfg;

	(void)state;
	expect_error("audit = { anchor_topic = \"anchors\" }\n",
	    "audit.anchor_topic: needs a kafka section");
	cfg = load_ok("kafka = { topic = \"alerts\" }\n"
		      "audit = { anchor_topic = \"anchors\" }\n");
	assert_string_equal(cfg->audit.anchor_topic, "anchors");
	assert_string_equal(cfg->kafka.dlq_topic, "alerts.dlq");
	config_free(cfg);
	expect_error("kafka = { topic = \"a\", dlq_topic = \"a\" }\n",
	    "kafka.dlq_topic: must differ from kafka.topic");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_valid_variants),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_bad_duration),
		cmocka_unit_test(test_bad_size),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_bad_enum),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_bad_role_rule),
		cmocka_unit_test(test_paths_checked),
		cmocka_unit_test(test_socket_length),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_sandbox),
		cmocka_unit_test(test_instruction_limit),
		cmocka_unit_test(test_memory_limit),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_several_errors),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_anchor_topic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
