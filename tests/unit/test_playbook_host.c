/*
 * The playbook host's run: every run gets an rd and an alert of its own,
 * whatever an earlier run of the same state did to the ones it was given
 * or kept, and alert.raw is this run's message, decoded on first read.
 * The alert and alert.raw are made as they are read, and read exactly as
 * if they had been filled up front.
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
    "  if getmetatable(alert) ~= 'locked' or\n"
    "      pcall(setmetatable, alert, {}) then\n"
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
    "      pcall(setmetatable, kept_alert, {})\n"
    "    end\n"
    "    local summary = (#bad == 0 and 'clean' or table.concat(bad, ', '))\n"
    "        .. ' prior ' .. rd.prior .. ' host ' .. alert.host\n"
    "    -- And this run's, to be kept.\n"
    "    rd.x, rd.log, rd.prior = 2, nil, runs * 10 + 98\n"
    "    alert.x, alert.host = 2, 'mine'\n"
    "    alert.raw.injected = true\n"
    "    pcall(setmetatable, alert, {})\n"
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

/* The params of the result's first request, or NULL when it has none. */
static json_t *
first_params(const json_t *res)
{
	return json_object_get(
	    json_array_get(json_object_get(res, "actions"), 0), "params");
}

/* The summary of the run's one ticket, or its status when it has none. */
static char *
run_summary(struct pbhost *h, int run, int64_t prior)
{
	char host[32], raw[64];
	json_t *fields, *res, *params;
	char *out;

	snprintf(host, sizeof host, "host-%d", run);
	snprintf(raw, sizeof raw, "{\"n\":%d,\"more\":[1,{\"a\":null}]}", run);
	fields = json_pack("{s:s, s:s, s:i}", "host", host, "title", "t",
	                   "severity", run);
	assert_non_null(fields);
	res = pbhost_run_object(h, 0, fields, raw, strlen(raw), prior);
	assert_non_null(res);
	if ((params = first_params(res)) != NULL)
		out = strdup(json_string_value(
		    json_object_get(params, "summary")));
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

/*
 * Each prior picks a way of seeing the alert, or alert.raw, whole after
 * some of it was read, set or removed; the ticket's summary lists what
 * differs from a table filled up front ("ok" when nothing does), and
 * carries the tables so their conversion is checked too.
 */
static const char lazy[] =
    "local kept\n"
    "local function list(t)\n"
    "  local keys = {}\n"
    "  for k, v in pairs(t) do\n"
    "    keys[#keys + 1] = k .. '=' .. (type(v) == 'table' and 'table'\n"
    "        or tostring(v)) end\n"
    "  table.sort(keys)\n"
    "  return table.concat(keys, ',')\n"
    "end\n"
    "return playbook {\n"
    "  name = 'lazy',\n"
    "  run = function(alert, rd)\n"
    "    local bad = {}\n"
    "    local function want(ok, what) if not ok then\n"
    "      bad[#bad + 1] = what end end\n"
    "    local extra\n"
    "    if rd.prior == 1 then\n"
    "      alert.title = 'set'\n"
    "      want(alert.title == 'set', 'set before read')\n"
    "      want(alert.host == 'h1', 'host')\n"
    "      alert.host = nil\n"
    "      want(alert.host == nil, 'removed after read')\n"
    "      alert.user = nil\n"
    "      want(alert.user == nil, 'removed unread')\n"
    "      local l = list(alert)\n"
    "      want(l == 'id=a1,severity=7,source=generic,title=set', l)\n"
    "    elseif rd.prior == 2 then\n"
    "      want(next(alert) ~= nil, 'next')\n"
    "      local n = 0\n"
    "      for k in next, alert do n = n + 1 end\n"
    "      want(n == 6, 'next walks ' .. n)\n"
    "      want(rawget(alert, 'raw') == nil, 'raw is not a key')\n"
    "    elseif rd.prior == 3 then\n"
    "      want(rawget(alert, 'severity') == 7, 'rawget')\n"
    "      alert.host = nil\n"
    "      extra = alert\n"
    "    elseif rd.prior == 4 then\n"
    "      local raw = alert.raw\n"
    "      want(raw.a == 1, 'raw.a')\n"
    "      raw.a = nil\n"
    "      want(raw.a == nil, 'raw.a removed')\n"
    "      want(raw.n == nil, 'null is absent')\n"
    "      want(raw.b.c[2] == 2, 'raw.b.c')\n"
    "      for i = 1, 20 do want(raw['no' .. i] == nil, 'miss') end\n"
    "      want(raw.s == 'x', 'raw.s after misses')\n"
    "      raw.t = 'new'\n"
    "      local l = list(raw)\n"
    "      want(l == 'b=table,s=x,t=new', l)\n"
    "      want(rawequal(alert.raw, raw), 'alert.raw kept')\n"
    "      extra = raw\n"
    "    elseif rd.prior == 5 then\n"
    "      local raw = alert.raw\n"
    "      want(raw.s == 'x', 'raw.s')\n"
    "      extra = raw\n"
    "    elseif rd.prior == 6 then\n"
    "      want(alert.id == 'a1', 'id')\n"
    "      kept = alert\n"
    "    elseif rd.prior == 8 then\n"
    "      -- Many new keys: past a few, the table is filled whole.\n"
    "      local raw = alert.raw\n"
    "      for i = 1, 30 do raw['w' .. i] = i end\n"
    "      want(raw.a == 1 and raw.s == 'x', 'members after writes')\n"
    "      local n = 0\n"
    "      for _ in pairs(raw) do n = n + 1 end\n"
    "      want(n == 33, 'keys ' .. n)\n"
    "    elseif rd.prior == 7 then\n"
    "      -- The last run's alert: what it read, and nothing more.\n"
    "      want(kept.id == 'a1' and kept.host == nil, 'kept alert')\n"
    "      want(list(kept) == 'id=a1', 'kept: ' .. list(kept))\n"
    "      want(alert.host == 'h1', 'this alert')\n"
    "    end\n"
    "    rd.ticket{summary = #bad == 0 and 'ok' or table.concat(bad, '; '),\n"
    "              extra = extra}\n"
    "  end,\n"
    "}\n";

/* The run's ticket's params (caller owns), or fails. */
static json_t *
lazy_run(struct pbhost *h, int64_t prior)
{
	static const char raw[] =
	    "{\"a\":1,\"b\":{\"c\":[1,2]},\"n\":null,\"s\":\"x\"}";
	json_t *fields, *res, *params;

	fields = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "id", "a1",
	                   "source", "generic", "host", "h1", "user", "u1",
	                   "title", "t", "severity", 7);
	assert_non_null(fields);
	res = pbhost_run_object(h, 0, fields, raw, strlen(raw), prior);
	assert_non_null(res);
	if ((params = first_params(res)) == NULL)
		fail_msg("run %d: %s", (int)prior,
		         json_dumps(res, JSON_COMPACT));
	json_incref(params);
	json_decref(res);
	json_decref(fields);
	return params;
}

static void
test_alert_reads_as_if_filled(void **state)
{
	struct pbhost *h = host_load(lazy);
	json_t *p;
	char *text;

	(void)state;
	for (int prior = 1; prior <= 8; prior++) {
		p = lazy_run(h, prior);
		if (strcmp(json_string_value(json_object_get(p, "summary")),
		        "ok") != 0)
			fail_msg("run %d: %s", prior,
			         json_string_value(json_object_get(p, "summary")));
		/* A request that carries the table carries all of it. */
		text = json_dumps(json_object_get(p, "extra"),
		                  JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		if (prior == 3)
			assert_string_equal(text,
			    "{\"id\":\"a1\",\"severity\":7,\"source\":\"generic\","
			    "\"title\":\"t\",\"user\":\"u1\"}");
		else if (prior == 4)
			assert_string_equal(text,
			    "{\"b\":{\"c\":[1,2]},\"s\":\"x\",\"t\":\"new\"}");
		else if (prior == 5)
			assert_string_equal(text,
			    "{\"a\":1,\"b\":{\"c\":[1,2]},\"s\":\"x\"}");
		free(text);
		json_decref(p);
	}
	pbhost_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runs_get_their_own_rd_and_alert),
	    cmocka_unit_test(test_alert_reads_as_if_filled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
