/*
 * The guard's rules, in their order of precedence: the kill switch holds
 * everything for a person to approve; dry-run (global or the playbook's)
 * records what would run; protected scope refuses or holds requests that
 * touch a protected host, user, address or cloud account; rate limits
 * (per action, per target, per playbook) hold what passes them; the
 * approval policy holds what it names, with its quorum. Everything else
 * runs. Each decision is audited with the rule that made it.
 */
#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "remediad/audit.h"
#include "remediad/config.h"
#include "remediad/control.h"
#include "remediad/daemon.h"
#include "remediad/dedup.h"
#include "remediad/guard.h"
#include "remediad/log.h"
#include "remediad/playbook_host.h"
#include "remediad/units.h"
#include "remediad/utf8.h"

#define GUARD_MAX_WINDOWS 100000 /* rate keys kept */

/* The times of the requests that ran under one rate key. */
struct rwin {
	char *key;
	uint64_t *t;
	size_t n, cap;
	LIST_ENTRY(rwin) entry;
};

struct guard {
	struct daemon *d;
	int paused;
	char paused_by[192]; /* "circuit breaker: " and a reason */
	int dry_run; /* -1: the config's default */
	LIST_HEAD(, rwin) wins;
	size_t nwins;
	/* The breaker's windows: actions run, steps ended, steps failed. */
	struct rwin runs, steps, fails;
	int tripped;
	uint64_t rebuild_since; /* older runs count in no window */
	json_t *assets; /* the inventory (playbooks.assets), or NULL */
	json_t *group_size; /* group -> assets in it */
	json_t *group_hits; /* group -> {host: last ms it was acted on} */
	uint64_t decisions[GUARD_REFUSE + 1];
};

static const char *const verdict_names[] = {"run", "dry_run", "hold",
    "refuse"};

int
guard_paused(const struct guard *g)
{
	return g->paused;
}

static int
guard_dry_run(const struct guard *g)
{
	return g->dry_run >= 0 ? g->dry_run : g->d->cfg->guard.dry_run;
}

/* ---- Rate windows ------------------------------------------------------------ */

static struct rwin *
rwin_get(struct guard *g, const char *key)
{
	struct rwin *w;

	LIST_FOREACH(w, &g->wins, entry)
		if (strcmp(w->key, key) == 0)
			return w;
	if (g->nwins >= GUARD_MAX_WINDOWS)
		return NULL;
	w = calloc(1, sizeof *w);
	if (w == NULL || (w->key = strdup(key)) == NULL)
		fatalx("guard: out of memory");
	LIST_INSERT_HEAD(&g->wins, w, entry);
	g->nwins++;
	return w;
}

/* Requests under key within window before now. */
static size_t
rwin_count(struct rwin *w, uint64_t window, uint64_t now)
{
	size_t keep = 0;

	for (size_t i = 0; i < w->n; i++)
		if (w->t[i] + window > now)
			w->t[keep++] = w->t[i];
	w->n = keep;
	return keep;
}

static void
rwin_add(struct rwin *w, uint64_t t)
{
	if (w->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 8;
		uint64_t *nt = realloc(w->t, ncap * sizeof *nt);
		if (nt == NULL)
			fatalx("guard: out of memory");
		w->t = nt;
		w->cap = ncap;
	}
	w->t[w->n++] = t;
}

/* What a request acts on, for the per-target limit. */
static const char *
guard_target(const struct guard_req *r)
{
	static const char *const fields[] = {"host", "user", "ip", "container",
	    "cloud", NULL};
	const char *t;

	for (size_t i = 0; fields[i] != NULL; i++)
		if ((t = json_string_value(json_object_get(r->params,
		    fields[i]))) != NULL)
			return t;
	return NULL;
}

/*
 * A request ran at t: it counts in every rate window it falls under (also
 * when the audit log is replayed at startup, so a restart is no way
 * around a limit).
 */
static void
guard_count_run(struct guard *g, const char *act, const char *target,
    const char *playbook, uint64_t t)
{
	const char *k;
	json_t *v;

	json_object_foreach(g->d->cfg->guard.rate, k, v) {
		char key[400];
		if (strcmp(k, "per_target") == 0 && target)
			snprintf(key, sizeof key, "target:%s", target);
		else if (strcmp(k, "per_playbook") == 0 && playbook)
			snprintf(key, sizeof key, "playbook:%s", playbook);
		else if (strcmp(k, "per_target") && strcmp(k, "per_playbook") &&
		    fnmatch(k, act, 0) == 0)
			snprintf(key, sizeof key, "action:%s", k);
		else
			continue;
		struct rwin *rw = rwin_get(g, key);
		if (rw != NULL)
			rwin_add(rw, t);
	}
}

/* The inventory group of a host, or NULL. */
static const char *
guard_group(const struct guard *g, const char *host)
{
	const json_t *a = host && g->assets ? pbhost_asset_find(g->assets,
	    host) : NULL;

	return json_string_value(json_object_get(a, "group"));
}

/* Distinct hosts of group acted on within the window before now. */
static size_t
group_count(struct guard *g, const char *group, const char *also,
    uint64_t now)
{
	json_t *hits = json_object_get(g->group_hits, group), *v;
	const char *h;
	void *tmp;
	size_t n = 0;
	int seen = 0;

	json_object_foreach_safe(hits, tmp, h, v) {
		if ((uint64_t)json_integer_value(v) +
		    g->d->cfg->guard.group_window_ms <= now) {
			json_object_del(hits, h);
			continue;
		}
		n++;
		if (also != NULL && strcmp(h, also) == 0)
			seen = 1;
	}
	return n + (also != NULL && !seen);
}

/*
 * The group of host when acting on it would bring the hosts of that group
 * acted on within guard.group_window past guard.group_percent; else NULL.
 */
static const char *
group_over(struct guard *g, const char *host, uint64_t now)
{
	const struct config_guard *c = &g->d->cfg->guard;
	const char *group;

	if (c->group_percent <= 0 || g->group_size == NULL ||
	    (group = guard_group(g, host)) == NULL)
		return NULL;
	size_t size = (size_t)json_integer_value(json_object_get(g->group_size,
	    group));
	if (group_count(g, group, host, now) * 100 >
	    (size_t)c->group_percent * size)
		return group;
	return NULL;
}

static void
group_hit(struct guard *g, const char *host, uint64_t t)
{
	const char *group = guard_group(g, host);

	if (group == NULL || g->group_hits == NULL)
		return;
	json_t *hits = json_object_get(g->group_hits, group);
	if (hits == NULL) {
		hits = json_object();
		json_object_set_new(g->group_hits, group, hits);
	}
	json_object_set_new(hits, host, json_integer((json_int_t)t));
}

/* Trips the breaker: automation pauses as with the kill switch. */
static void
guard_trip(struct guard *g, const char *why)
{

	if (g->paused)
		return;
	g->paused = g->tripped = 1;
	snprintf(g->paused_by, sizeof g->paused_by, "circuit breaker: %s",
	    why);
	log_warnx("guard: circuit breaker tripped: %s; automation paused "
	    "until remediactl resume", why);
	audit_append_logged(g->d->audit, "guard.breaker_tripped", "system",
	    json_pack("{s:s}", "reason", why));
}

void
guard_step_outcome(struct guard *g, int ok)
{
	const struct config_guard *c = &g->d->cfg->guard;
	uint64_t now = units_now_ms();
	char why[160];

	if (c->breaker_failure_percent <= 0)
		return;
	rwin_add(&g->steps, now);
	if (!ok)
		rwin_add(&g->fails, now);
	size_t n = rwin_count(&g->steps, c->breaker_window_ms, now);
	size_t f = rwin_count(&g->fails, c->breaker_window_ms, now);
	if (n >= (size_t)c->breaker_min_steps &&
	    f * 100 >= (size_t)c->breaker_failure_percent * n) {
		snprintf(why, sizeof why, "%zu of the last %zu connector steps "
		    "failed (guard.breaker_failure_percent = %lld)", f, n,
		    (long long)c->breaker_failure_percent);
		guard_trip(g, why);
	}
}

/* The approval policy: does it name this request, and with what quorum. */
static int
policy_requires(const struct guard *g, const struct config_approvals *c,
    const struct guard_req *r, int *quorum, char *rule, size_t rulelen)
{
	static const char *const risks[] = {"none", "low", "medium", "high",
	    "critical"};
	char act[160];
	const char *k;
	json_t *v;
	int req = 0;

	snprintf(act, sizeof act, "%s.%s", r->kind, r->name);
	*quorum = 1;
	json_object_foreach(c->quorum, k, v) {
		if (fnmatch(k, act, 0) == 0 && json_integer_value(v) > *quorum)
			*quorum = (int)json_integer_value(v);
	}
	for (size_t i = 0; i < c->required.n; i++) {
		if (fnmatch(c->required.v[i], act, 0) == 0) {
			snprintf(rule, rulelen, "approvals.required:%s",
			    c->required.v[i]);
			return 1;
		}
	}
	if (c->min_risk > 0 && r->risk != NULL) {
		for (int i = (int)c->min_risk; i <= 4; i++) {
			if (strcmp(risks[i], r->risk) == 0) {
				snprintf(rule, rulelen, "approvals.min_risk:%s",
				    risks[c->min_risk]);
				return 1;
			}
		}
	}
	/* The tier of the asset it touches, from the inventory. */
	const char *host = json_string_value(json_object_get(r->params,
	    "host"));
	const json_t *asset = host && g->assets ? pbhost_asset_find(g->assets,
	    host) : NULL;
	const char *tier = json_string_value(json_object_get(asset, "tier"));
	for (size_t i = 0; tier != NULL && i < c->tiers.n; i++) {
		if (strcmp(c->tiers.v[i], tier) == 0) {
			snprintf(rule, rulelen, "approvals.tiers:%s", tier);
			return 1;
		}
	}
	if (c->hint && r->hint_required) {
		snprintf(rule, rulelen, "playbook:approval=required");
		req = 1;
	}
	return req;
}

/* ---- Protected scope ---------------------------------------------------------- */

static int
ip_in(const char *ip, const char *cidr)
{
	unsigned char a[16], b[16];
	char net[64];
	const char *slash = strchr(cidr, '/');
	size_t len = slash ? (size_t)(slash - cidr) : strlen(cidr);
	int bits, fam;

	if (len >= sizeof net)
		return 0;
	memcpy(net, cidr, len);
	net[len] = '\0';
	fam = strchr(net, ':') ? AF_INET6 : AF_INET;
	/* The request's ip may be a block: its address part is judged. */
	char addr[64];
	const char *s2 = strchr(ip, '/');
	size_t l2 = s2 ? (size_t)(s2 - ip) : strlen(ip);
	if (l2 >= sizeof addr)
		return 0;
	memcpy(addr, ip, l2);
	addr[l2] = '\0';
	if (inet_pton(fam, net, a) != 1 || inet_pton(fam, addr, b) != 1)
		return 0;
	bits = slash ? atoi(slash + 1) : (fam == AF_INET ? 32 : 128);
	for (int i = 0; i < bits / 8; i++)
		if (a[i] != b[i])
			return 0;
	if (bits % 8) {
		unsigned char m = (unsigned char)(0xff << (8 - bits % 8));
		if ((a[bits / 8] & m) != (b[bits / 8] & m))
			return 0;
	}
	return 1;
}

static int
list_matches(const json_t *list, const char *value, int is_ip)
{
	size_t i;
	json_t *e;

	if (value == NULL)
		return 0;
	json_array_foreach(list, i, e) {
		const char *p = json_string_value(e);
		if (p == NULL)
			continue;
		if (is_ip ? ip_in(value, p) : fnmatch(p, value,
		    FNM_CASEFOLD) == 0)
			return 1;
	}
	return 0;
}

/* The first protected rule the request touches, or NULL. */
static const char *
protected_rule(const struct guard *g, const struct guard_req *r,
    const json_t **rule)
{
	const char *name;
	json_t *t;

	json_object_foreach(g->d->cfg->guard.protected, name, t) {
		const char *host = json_string_value(json_object_get(r->params,
		    "host"));
		const char *user = json_string_value(json_object_get(r->params,
		    "user"));
		const char *ip = json_string_value(json_object_get(r->params,
		    "ip"));
		const char *cloud = json_string_value(json_object_get(
		    r->params, "cloud"));
		if (list_matches(json_object_get(t, "hosts"), host, 0) ||
		    list_matches(json_object_get(t, "users"), user, 0) ||
		    list_matches(json_object_get(t, "ips"), ip, 1) ||
		    list_matches(json_object_get(t, "clouds"), cloud, 0)) {
			*rule = t;
			return name;
		}
	}
	return NULL;
}

/* ---- Judging ------------------------------------------------------------------ */

uint64_t
guard_judge(struct guard *g, const struct guard_req *r,
    struct guard_decision *out)
{
	const struct config *cfg = g->d->cfg;
	const json_t *prule;
	const char *pname, *grp;
	uint64_t now = units_now_ms();
	char act[160];

	memset(out, 0, sizeof *out);
	out->quorum = 1;
	snprintf(act, sizeof act, "%s.%s", r->kind, r->name);
	if (g->paused) {
		out->verdict = GUARD_HOLD;
		snprintf(out->rule, sizeof out->rule, "paused");
		snprintf(out->reason, sizeof out->reason, "automation is paused "
		    "(%s)", g->paused_by);
	} else if (guard_dry_run(g) || r->playbook_dry_run) {
		out->verdict = GUARD_DRY_RUN;
		snprintf(out->rule, sizeof out->rule, "%s",
		    r->playbook_dry_run ? "playbook:dry_run" : "dry_run");
		snprintf(out->reason, sizeof out->reason, "dry-run: recorded, "
		    "nothing changes");
	} else if ((pname = protected_rule(g, r, &prule)) != NULL) {
		const char *mode = json_string_value(json_object_get(prule,
		    "mode"));
		out->verdict = mode && strcmp(mode, "refuse") == 0 ?
		    GUARD_REFUSE : GUARD_HOLD;
		snprintf(out->rule, sizeof out->rule, "protected:%s", pname);
		snprintf(out->reason, sizeof out->reason, "touches a protected "
		    "asset (guard.protected.%s)", pname);
	} else if (cfg->guard.max_targets > 0 &&
	    r->plan_targets > cfg->guard.max_targets) {
		/* Blast radius: a plan that reaches too far waits for people. */
		out->verdict = GUARD_HOLD;
		snprintf(out->rule, sizeof out->rule, "blast:max_targets");
		snprintf(out->reason, sizeof out->reason, "its plan touches %d "
		    "targets (guard.max_targets = %lld)", r->plan_targets,
		    (long long)cfg->guard.max_targets);
	} else if ((grp = group_over(g, json_string_value(json_object_get(
	    r->params, "host")), now)) != NULL) {
		/* Blast radius: too much of one asset group in the window. */
		out->verdict = GUARD_HOLD;
		snprintf(out->rule, sizeof out->rule, "blast:group:%.100s", grp);
		snprintf(out->reason, sizeof out->reason, "more than %lld%% of "
		    "asset group %.100s within %llu s", (long long)
		    cfg->guard.group_percent, grp, (unsigned long long)
		    (cfg->guard.group_window_ms / 1000));
	} else {
		/* Rate limits: per action pattern, per target, per playbook. */
		const char *k;
		json_t *v;
		const char *target = guard_target(r);
		json_object_foreach(cfg->guard.rate, k, v) {
			char key[400];
			int64_t n;
			uint64_t w;
			if (config_parse_rate(json_string_value(v), &n, &w) == -1)
				continue;
			if (strcmp(k, "per_target") == 0) {
				if (target == NULL)
					continue;
				snprintf(key, sizeof key, "target:%s", target);
			} else if (strcmp(k, "per_playbook") == 0) {
				if (r->playbook == NULL)
					continue;
				snprintf(key, sizeof key, "playbook:%s",
				    r->playbook);
			} else if (fnmatch(k, act, 0) == 0) {
				snprintf(key, sizeof key, "action:%s", k);
			} else
				continue;
			struct rwin *rw = rwin_get(g, key);
			if (rw != NULL && rwin_count(rw, w, now) >= (size_t)n) {
				out->verdict = GUARD_HOLD;
				snprintf(out->rule, sizeof out->rule, "rate:%s",
				    k);
				snprintf(out->reason, sizeof out->reason,
				    "over the rate limit %.60s = %.20s (%.100s)",
				    k, json_string_value(v), key);
				break;
			}
		}
		if (out->rule[0] == '\0') {
			if (policy_requires(g, &cfg->approvals, r, &out->quorum,
			    out->rule, sizeof out->rule)) {
				out->verdict = GUARD_HOLD;
				snprintf(out->reason, sizeof out->reason,
				    "approval required (%s)", out->rule);
			} else {
				out->verdict = GUARD_RUN;
				snprintf(out->rule, sizeof out->rule,
				    "approvals:auto");
				snprintf(out->reason, sizeof out->reason,
				    "automatic");
			}
		}
		/* The breaker: more actions in its window than it allows. */
		int64_t bn;
		uint64_t bw;
		if (out->verdict == GUARD_RUN && cfg->guard.breaker != NULL &&
		    config_parse_rate(cfg->guard.breaker, &bn, &bw) == 0) {
			if (rwin_count(&g->runs, bw, now) >= (size_t)bn) {
				char why[160];
				snprintf(why, sizeof why, "more than %lld actions "
				    "within the window (guard.breaker = %s)",
				    (long long)bn, cfg->guard.breaker);
				guard_trip(g, why);
				out->verdict = GUARD_HOLD;
				snprintf(out->rule, sizeof out->rule,
				    "breaker");
				snprintf(out->reason, sizeof out->reason,
				    "%s", g->paused_by);
			} else
				rwin_add(&g->runs, now);
		}
		/* What runs counts against every window it falls under. */
		if (out->verdict == GUARD_RUN) {
			guard_count_run(g, act, target, r->playbook, now);
			group_hit(g, json_string_value(json_object_get(r->params,
			    "host")), now);
		}
	}
	/*
	 * Whichever rule held it (paused, protected, blast radius, rate, the
	 * breaker), the policy's quorum for the action stands: a request
	 * held by a stricter rule never needs fewer people.
	 */
	if (out->verdict == GUARD_HOLD) {
		char unused[128];
		int q;
		(void)policy_requires(g, &cfg->approvals, r, &q, unused,
		    sizeof unused);
		if (q > out->quorum)
			out->quorum = q;
	}
	g->decisions[out->verdict]++;
	/* Cut to size with a target in them: text again, or no record. */
	utf8_repair(out->rule);
	utf8_repair(out->reason);
	json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", r->id,
	    "action", act, "decision", verdict_names[out->verdict], "rule",
	    out->rule, "reason", out->reason);
	if (r->playbook != NULL)
		json_object_set_new(f, "playbook", json_string(r->playbook));
	const char *tgt = guard_target(r);
	if (tgt != NULL)
		json_object_set_new(f, "target", json_string(tgt));
	if (out->verdict == GUARD_HOLD)
		json_object_set_new(f, "quorum", json_integer(out->quorum));
	return audit_append_logged(g->d->audit, "guard.decision", "system", f);
}

uint64_t
guard_record_hold(struct guard *g, const char *id, const char *act,
    const char *reason, int quorum)
{
	g->decisions[GUARD_HOLD]++;
	return audit_append_logged(g->d->audit, "guard.decision", "system",
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "id", id, "action", act,
	    "decision", "hold", "rule", "approvals.whole_plan", "reason",
	    reason, "quorum", quorum));
}

/* ---- Rebuild -------------------------------------------------------------------- */

static int
guard_rebuild_cb(const struct audit_rec *rec, void *arg)
{
	struct guard *g = arg;
	static const char *const types[] = {"guard.paused", "guard.resumed",
	    "guard.dry_run", "guard.breaker_tripped", "guard.decision", NULL};
	size_t i;

	for (i = 0; types[i] != NULL; i++)
		if (rec->type_len == strlen(types[i]) &&
		    memcmp(rec->type, types[i], rec->type_len) == 0)
			break;
	if (types[i] == NULL)
		return 0;
	json_t *j = audit_rec_json(rec);
	if (j == NULL)
		return 0;
	if (i == 0) {
		g->paused = 1;
		snprintf(g->paused_by, sizeof g->paused_by, "%s",
		    json_string_value(json_object_get(j, "actor")) ?
		    json_string_value(json_object_get(j, "actor")) : "?");
	} else if (i == 1) {
		g->paused = g->tripped = 0;
	} else if (i == 2) {
		g->dry_run = json_is_true(json_object_get(j, "on"));
	} else if (i == 3) {
		g->paused = g->tripped = 1;
		snprintf(g->paused_by, sizeof g->paused_by, "circuit breaker: "
		    "%s", json_string_value(json_object_get(j, "reason")) ?
		    json_string_value(json_object_get(j, "reason")) : "?");
	} else if (i == 4 && json_string_value(json_object_get(j,
	    "decision")) != NULL && strcmp(json_string_value(json_object_get(j,
	    "decision")), "run") == 0) {
		const char *tm = json_string_value(json_object_get(j, "time"));
		int64_t ms = tm ? dedup_parse_time(tm, strlen(tm)) : -1;
		const char *act = json_string_value(json_object_get(j,
		    "action"));
		if (ms > 0 && (uint64_t)ms >= g->rebuild_since && act != NULL) {
			guard_count_run(g, act, json_string_value(
			    json_object_get(j, "target")), json_string_value(
			    json_object_get(j, "playbook")), (uint64_t)ms);
			if ((uint64_t)ms + g->d->cfg->guard.group_window_ms >
			    units_now_ms())
				group_hit(g, json_string_value(json_object_get(j,
				    "target")), (uint64_t)ms);
			rwin_add(&g->runs, (uint64_t)ms);
		}
	}
	json_decref(j);
	return 0;
}

struct guard *
guard_open(struct daemon *d, char **cause)
{
	struct guard *g = calloc(1, sizeof *g);

	*cause = NULL;
	if (g == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	g->d = d;
	g->dry_run = -1;
	LIST_INIT(&g->wins);
	guard_reload(g); /* the inventory first: the replay reads groups */
	/* Only the runs the longest window still holds are counted again. */
	uint64_t longest = d->cfg->guard.breaker_window_ms, w;
	int64_t n;
	const char *k;
	json_t *v;
	json_object_foreach(d->cfg->guard.rate, k, v)
		if (config_parse_rate(json_string_value(v), &n, &w) == 0 &&
		    w > longest)
			longest = w;
	if (d->cfg->guard.breaker != NULL &&
	    config_parse_rate(d->cfg->guard.breaker, &n, &w) == 0 && w > longest)
		longest = w;
	g->rebuild_since = units_now_ms() > longest ? units_now_ms() - longest :
	    0;
	if (audit_replay(audit_dir(d->audit), 1, 0, guard_rebuild_cb, g,
	    cause) == -1) {
		guard_free(g);
		return NULL;
	}
	if (g->paused)
		log_warnx("guard: automation is paused (since a remediactl "
		    "pause by %s); remediactl resume restores it", g->paused_by);
	return g;
}

void
guard_reload(struct guard *g)
{
	char *cause = NULL;

	json_decref(g->assets);
	json_decref(g->group_size);
	g->assets = g->group_size = NULL;
	if (g->group_hits == NULL)
		g->group_hits = json_object();
	if (g->d->cfg->playbooks.assets == NULL)
		return;
	g->assets = pbhost_load_assets(g->d->cfg->playbooks.assets, &cause);
	if (g->assets == NULL) {
		log_warnx("guard: the asset inventory does not load (asset "
		    "tiers and groups are not judged): %s", cause ? cause : "?");
		free(cause);
		return;
	}
	/* How many assets each group has: the blast radius' denominator. */
	const char *k;
	json_t *v;
	g->group_size = json_object();
	json_object_foreach(g->assets, k, v) {
		const char *grp = json_string_value(json_object_get(v, "group"));
		if (grp == NULL)
			continue;
		json_t *n = json_object_get(g->group_size, grp);
		json_object_set_new(g->group_size, grp, json_integer(n ?
		    json_integer_value(n) + 1 : 1));
	}
}

void
guard_free(struct guard *g)
{
	struct rwin *w;

	if (g == NULL)
		return;
	json_decref(g->assets);
	json_decref(g->group_size);
	json_decref(g->group_hits);
	free(g->runs.t);
	free(g->steps.t);
	free(g->fails.t);
	while ((w = LIST_FIRST(&g->wins)) != NULL) {
		LIST_REMOVE(w, entry);
		free(w->key);
		free(w->t);
		free(w);
	}
	free(g);
}

/* ---- Commands ------------------------------------------------------------------ */

static void
guard_switch(struct daemon *d, struct control_req *r, const char *type,
    json_t *fields)
{
	const char *cause;
	uint64_t seq = audit_append(d->audit, type, r->peer->actor, fields,
	    &cause);

	if (seq == 0) {
		control_reply_error(r, PROTO_E_UNAVAILABLE, "not recorded: %s",
		    cause);
		return;
	}
	control_req_audited(r, seq);
	control_reply_ok(r, guard_status_json(d->guard));
}

void
cmd_pause(struct daemon *d, struct control_req *r)
{
	if (d->guard == NULL) {
		control_reply_error(r, PROTO_E_FAILED, "no actions: the config "
		    "has no connectors section");
		return;
	}
	d->guard->paused = 1;
	snprintf(d->guard->paused_by, sizeof d->guard->paused_by, "%s",
	    r->peer->actor);
	log_notice("guard: automation paused by %s", r->peer->actor);
	guard_switch(d, r, "guard.paused", json_object());
}

void
cmd_resume(struct daemon *d, struct control_req *r)
{
	if (d->guard == NULL) {
		control_reply_error(r, PROTO_E_FAILED, "no actions: the config "
		    "has no connectors section");
		return;
	}
	d->guard->paused = d->guard->tripped = 0;
	/* The breaker counts afresh. */
	d->guard->steps.n = d->guard->fails.n = d->guard->runs.n = 0;
	log_notice("guard: automation resumed by %s", r->peer->actor);
	guard_switch(d, r, "guard.resumed", json_object());
}

void
cmd_dry_run(struct daemon *d, struct control_req *r)
{
	const char *v = json_string_value(json_object_get(r->req.args,
	    "mode"));

	if (d->guard == NULL) {
		control_reply_error(r, PROTO_E_FAILED, "no actions: the config "
		    "has no connectors section");
		return;
	}
	if (v == NULL || (strcmp(v, "on") && strcmp(v, "off"))) {
		control_reply_error(r, PROTO_E_INVALID_ARG, "dry-run on or off");
		return;
	}
	d->guard->dry_run = strcmp(v, "on") == 0;
	log_notice("guard: dry-run %s by %s", v, r->peer->actor);
	guard_switch(d, r, "guard.dry_run", json_pack("{s:b}", "on",
	    d->guard->dry_run));
}

json_t *
guard_status_json(const struct guard *g)
{
	json_t *o = json_pack("{s:b, s:b, s:I, s:I, s:I, s:I}", "paused",
	    g->paused, "dry_run", guard_dry_run(g), "run",
	    (json_int_t)g->decisions[GUARD_RUN], "dry_runs",
	    (json_int_t)g->decisions[GUARD_DRY_RUN], "held",
	    (json_int_t)g->decisions[GUARD_HOLD], "refused",
	    (json_int_t)g->decisions[GUARD_REFUSE]);

	if (g->paused)
		json_object_set_new(o, "paused_by", json_string(g->paused_by));
	json_object_set_new(o, "breaker_tripped", json_boolean(g->tripped));
	return o;
}
