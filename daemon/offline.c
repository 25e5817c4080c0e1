/*
 * `remediad --check` of the playbooks and `remediad replay`: recorded
 * alerts decoded, matched and run through the playbooks with the code the
 * daemon uses (alert_decode, the engine's matching and windows, the
 * playbook host, plan validation), in-process, printing each plan. No
 * broker, connector or audit log is touched.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "remediad/alert.h"
#include "remediad/config.h"
#include "remediad/dedup.h"
#include "remediad/offline.h"
#include "remediad/plan.h"
#include "remediad/playbook.h"
#include "remediad/playbook_host.h"

static struct pbhost *
offline_load(const struct config *cfg, json_t **meta, char **cause)
{
	struct pbsources src;
	struct pbhost_opts o = {0};
	struct pbhost *h;

	if (pbsources_read(cfg->playbooks.dir, cfg->playbooks.assets, &src,
		cause) == -1)
		return NULL;
	o.src = &src;
	o.limits.memory = (size_t)cfg->playbooks.memory;
	o.limits.instructions = (uint64_t)cfg->playbooks.instructions;
	o.max_actions = (int)cfg->playbooks.max_actions;
	h = pbhost_load(&o, meta, cause);
	pbsources_free(&src);
	return h;
}

int
offline_check_playbooks(const struct config *cfg)
{
	json_t *meta = NULL;
	char *cause = NULL;
	struct pbhost *h = offline_load(cfg, &meta, &cause);

	if (h == NULL) {
		fprintf(stderr, "%s\n%s: playbooks are not valid\n",
		    cause ? cause : "out of memory", cfg->playbooks.dir);
		free(cause);
		return 1;
	}
	printf("%s: %zu playbook(s) OK\n", cfg->playbooks.dir,
	    pbhost_count(h));
	json_decref(meta);
	pbhost_free(h);
	return 0;
}

/* ---- replay ---------------------------------------------------------------- */

struct replay_sum {
	uint64_t alerts, rejected, duplicates, matched, plans, empty, skipped;
	uint64_t failures;
	json_t *by_action; /* "mitigate.isolate" -> count */
};

static void
replay_print_plan(FILE *out, int as_json, uint64_t line, const char *id,
    const char *playbook, const char *status, const json_t *actions,
    const char *error)
{
	size_t i;
	json_t *a;

	if (as_json) {
		json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "line",
		    (json_int_t)line, "alert", id, "playbook", playbook,
		    "status", status);
		if (actions != NULL)
			json_object_set(o, "actions", (json_t *)actions);
		if (error != NULL)
			json_object_set_new(o, "error", json_string(error));
		char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		fprintf(out, "%s\n", s ? s : "{}");
		free(s);
		json_decref(o);
		return;
	}
	fprintf(out, "%-6llu %-28.28s %-26.26s %s%s%s\n",
	    (unsigned long long)line, id, playbook, status, error ? ": " : "",
	    error ? error : "");
	json_array_foreach(actions, i, a) {
		const char *kind = json_string_value(json_object_get(a, "kind"));
		const char *name = json_string_value(json_object_get(a,
		    "action"));
		char *params = json_dumps(json_object_get(a, "params"),
		    JSON_COMPACT | JSON_SORT_KEYS);
		const char *ttl = json_string_value(json_object_get(a, "ttl"));
		fprintf(out, "         %s%s%s %s%s%s approval=%s risk=%s\n",
		    kind, strcmp(kind, name) ? "." : "", strcmp(kind, name) ?
		    name : "", params ? params : "{}", ttl ? " ttl=" : "",
		    ttl ? ttl : "", json_string_value(json_object_get(a,
			"approval")), json_string_value(json_object_get(a,
			"risk")));
		free(params);
	}
}

/* The clock of the windows: the alert's own time, else one per line. */
static uint64_t
replay_clock(const json_t *alert, uint64_t *fallback)
{
	const json_t *t = json_object_get(alert, "time");
	int64_t ms = json_is_string(t) ? dedup_parse_time(json_string_value(t),
	    json_string_length(t)) : -1;

	*fallback += 1000;
	return ms >= 0 ? (uint64_t)ms : *fallback;
}

static void
replay_one(struct pbhost *h, struct playbooks *eng, struct dedup *seen,
    const char *text, size_t len, uint64_t line, int as_json,
    struct replay_sum *sum, uint64_t *fallback)
{
	char why[512], received_at[32], err[512];
	struct pb_offline runs[PLAYBOOK_MAX_COUNT];
	json_t *alert = NULL;
	enum alert_reject r;
	time_t now = time(NULL);
	struct tm tm;
	uint64_t first;

	gmtime_r(&now, &tm);
	strftime(received_at, sizeof received_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
	sum->alerts++;
	r = alert_decode(text, len, NULL, received_at, &alert, why,
	    sizeof why);
	if (r != ALERT_OK) {
		sum->rejected++;
		if (as_json)
			printf("{\"error\":\"%s\",\"line\":%llu,\"status\":"
			    "\"rejected\"}\n", alert_reject_name(r),
			    (unsigned long long)line);
		else
			printf("%-6llu rejected (%s): %s\n",
			    (unsigned long long)line, alert_reject_name(r), why);
		return;
	}
	const char *id = json_string_value(json_object_get(alert, "id"));
	uint64_t clock = replay_clock(alert, fallback);
	if (dedup_check(seen, id, clock, line, &first) == 1) {
		sum->duplicates++;
		json_decref(alert);
		return;
	}
	size_t n = playbooks_offline_match(eng, alert, clock, runs);
	json_t *fields = json_object(), *v;
	const char *k;
	json_object_foreach(alert, k, v)
		if (strcmp(k, "raw") != 0)
			json_object_set(fields, k, v);
	for (size_t i = 0; i < n; i++) {
		const char *name = playbooks_offline_name(eng, runs[i].idx);
		sum->matched++;
		if (runs[i].skip != NULL) {
			sum->skipped++;
			replay_print_plan(stdout, as_json, line, id, name,
			    "skipped", NULL, runs[i].skip);
			continue;
		}
		json_t *res = pbhost_run_object(h, runs[i].idx, fields, text,
		    len, runs[i].prior);
		const char *status = json_string_value(json_object_get(res,
		    "status"));
		json_t *plan = NULL;
		if (status != NULL && strcmp(status, "plan") == 0) {
			plan = plan_validate(json_object_get(res, "actions"),
			    err, sizeof err);
			if (plan == NULL) {
				sum->failures++;
				replay_print_plan(stdout, as_json, line, id,
				    name, "failed", NULL, err);
			} else {
				size_t j;
				json_t *a;
				if (json_array_size(plan) == 0)
					sum->empty++;
				else
					sum->plans++;
				json_array_foreach(plan, j, a) {
					char key[160];
					const char *kd = json_string_value(
					    json_object_get(a, "kind"));
					const char *an = json_string_value(
					    json_object_get(a, "action"));
					snprintf(key, sizeof key, "%s%s%s", kd,
					    strcmp(kd, an) ? "." : "",
					    strcmp(kd, an) ? an : "");
					json_t *c = json_object_get(
					    sum->by_action, key);
					json_object_set_new(sum->by_action, key,
					    json_integer(c ?
						json_integer_value(c) + 1 : 1));
				}
				replay_print_plan(stdout, as_json, line, id,
				    name, json_array_size(plan) ? "plan" :
				    "matched", plan, NULL);
			}
		} else if (status != NULL && strcmp(status, "skip") == 0) {
			sum->skipped++;
			replay_print_plan(stdout, as_json, line, id, name,
			    "skipped", NULL, "when");
		} else {
			char msg[1200];
			sum->failures++;
			snprintf(msg, sizeof msg, "%s: %s",
			    json_string_value(json_object_get(res, "kind")),
			    json_string_value(json_object_get(res, "error")));
			replay_print_plan(stdout, as_json, line, id, name,
			    "failed", NULL, msg);
		}
		playbooks_offline_outcome(eng, alert, runs[i].idx,
		    status ? status : "error", json_array_size(plan), clock);
		json_decref(plan);
		json_decref(res);
	}
	json_decref(fields);
	json_decref(alert);
}

int
offline_replay(const char *config_path, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	struct replay_sum sum = {0};
	struct config *cfg;
	struct pbhost *h;
	struct playbooks *eng;
	struct dedup *seen;
	json_t *meta = NULL;
	char *cause = NULL, *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t line = 0, fallback = 0;
	int ch, as_json = 0;
	FILE *in;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:j", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'j':
			as_json = 1;
			break;
		default:
			fprintf(stderr, "usage: remediad replay -c FILE [--json] "
			    "ALERTS.jsonl\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: remediad replay -c FILE [--json] "
		    "ALERTS.jsonl\n");
		return 2;
	}
	cfg = config_load(config_path, &cause);
	if (cfg == NULL) {
		fprintf(stderr, "%s\n%s: config is not valid\n", cause ? cause :
		    "out of memory", config_path);
		free(cause);
		return 1;
	}
	if (!cfg->playbooks.present) {
		fprintf(stderr, "%s: no playbooks section\n", config_path);
		config_free(cfg);
		return 1;
	}
	h = offline_load(cfg, &meta, &cause);
	if (h == NULL) {
		fprintf(stderr, "%s\n", cause ? cause : "out of memory");
		free(cause);
		config_free(cfg);
		return 1;
	}
	eng = playbooks_offline_new(meta, pbhost_assets(h), &cause);
	json_decref(meta);
	in = strcmp(argv[optind], "-") == 0 ? stdin : fopen(argv[optind], "r");
	if (eng == NULL || in == NULL) {
		fprintf(stderr, "%s: %s\n", eng ? argv[optind] : "playbooks",
		    eng ? strerror(errno) : cause ? cause : "out of memory");
		free(cause);
		playbooks_offline_free(eng);
		pbhost_free(h);
		config_free(cfg);
		return 1;
	}
	seen = dedup_new(cfg->dedup.window_ms, (size_t)cfg->dedup.max_entries);
	sum.by_action = json_object();
	while ((len = getline(&buf, &cap, in)) != -1) {
		line++;
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		if (len == 0)
			continue;
		replay_one(h, eng, seen, buf, (size_t)len, line, as_json, &sum,
		    &fallback);
	}
	free(buf);
	if (in != stdin)
		fclose(in);
	/* The summary goes to stderr so --json output stays pure lines. */
	FILE *out = as_json ? stderr : stdout;
	fprintf(out, "\n%llu alerts: %llu rejected, %llu duplicates; %llu "
	    "playbook runs matched: %llu plans, %llu empty, %llu skipped, %llu "
	    "failed\n", (unsigned long long)sum.alerts,
	    (unsigned long long)sum.rejected,
	    (unsigned long long)sum.duplicates,
	    (unsigned long long)sum.matched, (unsigned long long)sum.plans,
	    (unsigned long long)sum.empty, (unsigned long long)sum.skipped,
	    (unsigned long long)sum.failures);
	const char *k;
	json_t *v;
	json_object_foreach(sum.by_action, k, v)
		fprintf(out, "  %-28s %lld\n", k,
		    (long long)json_integer_value(v));
	json_decref(sum.by_action);
	dedup_free(seen);
	playbooks_offline_free(eng);
	pbhost_free(h);
	config_free(cfg);
	return sum.failures > 0 ? 1 : 0;
}
