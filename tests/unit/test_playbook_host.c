/*
 * The playbook host's run: every run gets an rd and an alert of its own,
 * whatever an earlier run of the same state did to the ones it was given
 * or kept, and alert.raw is this run's message, decoded on first read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "remediad/playbook_host.h"

/*
 * Reports what it finds wrong in the rd and alert it is given, then
 * writes into them, into the ones the last run kept, and keeps them.
 */
static const char keeper[] =
    "local kept_rd, kept_alert, kept_raw, runs = nil, nil, nil, 0\n"
    "local function check(alert, rd, bad)\n"
    "  if getmetatable(rd) ~= nil then bad[#bad + 1] = 'rd metatable' end\n"
    "  if rawget(rd, 'x') ~= nil then bad[#bad + 1] = 'rd.x' end\n"
    "  for _, k in ipairs{'ticket', 'notify', 'log', 'asset',\n"
    "      'protected', 'cut'} do\n"
    "    if type(rawget(rd, k)) ~= 'function' then\n"
    "      bad[#bad + 1] = 'rd.' .. k end\n"
    "  end\n"
    "  for _, k in ipairs{'mitigate', 'remediate'} do\n"
    "    if type(rawget(rd, k)) ~= 'table' or next(rd[k]) ~= nil then\n"
    "      bad[#bad + 1] = 'rd.' .. k end\n"
    "  end\n"
    "  if rd.playbook ~= 'keeper' then bad[#bad + 1] = 'rd.playbook' end\n"
    "  local n = 0\n"
    "  for _ in pairs(rd) do n = n + 1 end\n"
    "  if n ~= 10 then bad[#bad + 1] = 'rd has ' .. n .. ' keys' end\n"
    "  if rawequal(rd, kept_rd) then bad[#bad + 1] = 'same rd' end\n"
    "  if rawequal(alert, kept_alert) then bad[#bad + 1] = 'same alert' end\n"
    "  if rawget(alert, 'x') ~= nil or rawget(alert, 'raw') ~= nil then\n"
    "    bad[#bad + 1] = 'alert keys' end\n"
    "  local mt = getmetatable(alert)\n"
    "  if type(mt) ~= 'table' or rawget(mt, 'y') ~= nil then\n"
    "    bad[#bad + 1] = 'alert metatable' end\n"
    "  local raw = alert.raw\n"
    "  if type(raw) ~= 'table' or raw.injected ~= nil or\n"
    "      raw.n ~= alert.severity or rawequal(raw, kept_raw) then\n"
    "    bad[#bad + 1] = 'alert.raw' end\n"
    "  if rawget(alert, 'raw') ~= raw then bad[#bad + 1] = 'raw kept' end\n"
    "end\n"
    "return playbook {\n"
    "  name = 'keeper',\n"
    "  run = function(alert, rd)\n"
    "    runs = runs + 1\n"
    "    local bad, ticket = {}, rd.ticket\n"
    "    check(alert, rd, bad)\n"
    "    if kept_rd ~= nil then\n"
    "      -- The last run's rd: its prior was that run's.\n"
    "      if kept_rd.prior ~= runs * 10 - 10 + 98 then\n"
    "        bad[#bad + 1] = 'kept prior' end\n"
    "      kept_rd.x, kept_rd.prior, kept_rd.ticket = 1, 99, nil\n"
    "      setmetatable(kept_rd, {__index = function() return 'leak' end})\n"
    "      kept_alert.x, kept_alert.host = 1, 'changed'\n"
    "      kept_raw.injected = true\n"
    "      getmetatable(kept_alert).y = 1\n"
    "    end\n"
    "    local summary = (#bad == 0 and 'clean' or table.concat(bad, ', '))\n"
    "        .. ' prior ' .. rd.prior .. ' host ' .. alert.host\n"
    "    -- And this run's, to be kept.\n"
    "    rd.x, rd.log, rd.prior = 2, nil, runs * 10 + 98\n"
    "    alert.x, alert.host = 2, 'mine'\n"
    "    alert.raw.injected = true\n"
    "    getmetatable(alert).y = 2\n"
    "    pcall(function() rd.mitigate.isolate = 1 end)\n"
    "    kept_rd, kept_alert, kept_raw = rd, alert, alert.raw\n"
    "    if runs % 2 == 0 then setmetatable(rd, {}) end\n"
    "    ticket{summary = summary}\n"
    "    if runs == 3 then error('failed run') end\n"
    "  end,\n"
    "}\n";

static struct pbhost *
host_load(const char *text)
{
	struct pbsource src = {(char *)"keeper.lua", (char *)text,
	                       strlen(text)};
	struct pbsources srcs = {&src, 1, {0}};
	struct pbhost_opts o = {
	    &srcs, {16 * 1024 * 1024, 1000000, 1 << 20}, 32};
	char *cause = NULL;
	json_t *meta = NULL;
	struct pbhost *h = pbhost_load(&o, &meta, &cause);

	if (h == NULL)
		fail_msg("pbhost_load: %s", cause ? cause : "?");
	json_decref(meta);
	return h;
}

/* The summary of the run's one ticket, or its status when it has none. */
static char *
run_summary(struct pbhost *h, int run, int64_t prior)
{
	char host[32], raw[64];
	json_t *fields, *res, *a;
	char *out;

	snprintf(host, sizeof host, "host-%d", run);
	snprintf(raw, sizeof raw, "{\"n\":%d,\"more\":[1,{\"a\":null}]}", run);
	fields = json_pack("{s:s, s:s, s:i}", "host", host, "title", "t",
	                   "severity", run);
	assert_non_null(fields);
	res = pbhost_run_object(h, 0, fields, raw, strlen(raw), prior);
	assert_non_null(res);
	a = json_array_get(json_object_get(res, "actions"), 0);
	if (a != NULL)
		out = strdup(json_string_value(
		    json_object_get(json_object_get(a, "params"), "summary")));
	else
		out = strdup(json_string_value(json_object_get(res, "status")));
	json_decref(res);
	json_decref(fields);
	return out;
}

static void
test_runs_get_their_own_rd_and_alert(void **state)
{
	struct pbhost *h = host_load(keeper);
	char want[64], *got;

	(void)state;
	for (int run = 1; run <= 6; run++) {
		got = run_summary(h, run, (int64_t)run * 10 + 88);
		if (run == 3) {
			/* It failed after asking: no plan, the error. */
			assert_string_equal(got, "error");
		} else {
			snprintf(want, sizeof want,
			         "clean prior %d host host-%d", run * 10 + 88,
			         run);
			assert_string_equal(got, want);
		}
		free(got);
	}
	pbhost_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runs_get_their_own_rd_and_alert),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
