/*
 * The daemon context's run-time operations: reloading the config in place,
 * the orderly stop, uptime.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "remediad/audit.h"
#include "remediad/config.h"
#include "remediad/daemon.h"
#include "remediad/action.h"
#include "remediad/log.h"
#include "remediad/playbook.h"

/* Keeps the running value of a key that only a restart may change. */
static void
daemon_keep(const char *key, char **running, char **loaded)
{
	if ((*running == NULL) != (*loaded == NULL) ||
	    (*running != NULL && strcmp(*running, *loaded) != 0))
		log_warnx("reload: %s changed; it takes effect at the next "
			  "restart, keeping %s", key,
		    *running ? *running : "(unset)");
	char *tmp = *loaded;
	*loaded = *running;
	*running = tmp;
}

static uint64_t
daemon_audit(struct daemon *d, const char *type, const char *actor,
    json_t *fields)
{
	return audit_append_logged(d->audit, type, actor, fields);
}

static int
str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

static int
json_differs(const json_t *a, const json_t *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return !json_equal((json_t *)a, (json_t *)b);
}

static int
kafka_differs(const struct config_kafka *a, const struct config_kafka *b)
{
	const char *pa[] = {a->generic.id, a->generic.time, a->generic.severity,
	    a->generic.title, a->generic.rule, a->generic.category,
	    a->generic.host, a->generic.user, a->generic.ip, a->generic.process,
	    a->generic.container, a->generic.cloud};
	const char *pb[] = {b->generic.id, b->generic.time, b->generic.severity,
	    b->generic.title, b->generic.rule, b->generic.category,
	    b->generic.host, b->generic.user, b->generic.ip, b->generic.process,
	    b->generic.container, b->generic.cloud};

	if (a->present != b->present || str_differs(a->brokers, b->brokers) ||
	    str_differs(a->topic, b->topic) || str_differs(a->group, b->group) ||
	    str_differs(a->dlq_topic, b->dlq_topic) ||
	    json_differs(a->properties, b->properties) ||
	    json_differs(a->secret_files, b->secret_files) ||
	    a->max_message != b->max_message ||
	    a->max_in_flight != b->max_in_flight ||
	    a->partitions != b->partitions ||
	    a->generic.present != b->generic.present)
		return 1;
	for (size_t i = 0; i < sizeof pa / sizeof pa[0]; i++)
		if (str_differs(pa[i], pb[i]))
			return 1;
	return 0;
}

/*
 * Sections bound when their unit started (intake holds pointers into the
 * running config): the running values stay, a change waits for a restart.
 */
static void
daemon_keep_sections(struct config *running, struct config *loaded)
{
	if (kafka_differs(&running->kafka, &loaded->kafka))
		log_warnx("reload: kafka changed; it takes effect at the next "
			  "restart, keeping the running intake settings");
	if (running->dedup.window_ms != loaded->dedup.window_ms ||
	    running->dedup.max_entries != loaded->dedup.max_entries)
		log_warnx("reload: dedup changed; it takes effect at the next "
			  "restart");
	if (running->audit.sync != loaded->audit.sync ||
	    running->audit.sync_interval_ms != loaded->audit.sync_interval_ms ||
	    running->audit.sync_records != loaded->audit.sync_records ||
	    running->audit.segment_size != loaded->audit.segment_size ||
	    running->audit.max_record != loaded->audit.max_record ||
	    running->audit.anchor_every != loaded->audit.anchor_every)
		log_warnx("reload: audit settings changed; they take effect at "
			  "the next restart");
	/* Swapped whole: the running one lives on, the loaded one is freed. */
	struct config_kafka k = running->kafka;
	running->kafka = loaded->kafka;
	loaded->kafka = k;
	loaded->dedup = running->dedup;
	int64_t raw = loaded->audit.raw; /* read per alert: may change */
	char *dir = loaded->audit.dir, *anchor = loaded->audit.anchor_topic;
	loaded->audit = running->audit;
	loaded->audit.raw = raw;
	loaded->audit.dir = dir;
	loaded->audit.anchor_topic = anchor;
}

int
daemon_reload(struct daemon *d, const char *actor, uint64_t *seq,
    char **cause)
{
	struct config *ncfg;

	*seq = 0;
	notify_systemd("RELOADING=1");
	ncfg = config_load(d->config_path, cause);
	if (ncfg == NULL) {
		d->counters.reload_failures++;
		log_lines(LOG_LVL_ERROR, *cause ? *cause : "unknown error",
		    "reload: %s rejected, the running config stays:",
		    d->config_path);
		*seq = daemon_audit(d, "config.rejected", actor,
		    json_pack("{s:s, s:s}", "config", d->config_path, "errors",
			*cause ? *cause : "unknown error"));
		notify_systemd("READY=1");
		return -1;
	}
	daemon_keep("state_dir", &d->cfg->state_dir, &ncfg->state_dir);
	daemon_keep("control.socket", &d->cfg->control.socket,
	    &ncfg->control.socket);
	daemon_keep("control.group", &d->cfg->control.group,
	    &ncfg->control.group);
	daemon_keep("audit.dir", &d->cfg->audit.dir, &ncfg->audit.dir);
	daemon_keep("audit.anchor_topic", &d->cfg->audit.anchor_topic,
	    &ncfg->audit.anchor_topic);
	daemon_keep_sections(d->cfg, ncfg);
	config_free(d->cfg);
	d->cfg = ncfg;
	if (d->actions != NULL)
		actions_reload(d->actions);
	log_set_level((enum log_level)ncfg->log.level);
	d->counters.reloads++;
	log_notice("reload: %s applied", d->config_path);
	*seq = daemon_audit(d, "config.reloaded", actor,
	    json_pack("{s:s}", "config", d->config_path));
	notify_systemd("READY=1");
	return 0;
}

struct reload_all {
	struct daemon *d;
	char *actor;
	daemon_reload_cb cb;
	void *arg;
};

static void
daemon_playbooks_cb(void *arg, const char *error)
{
	struct reload_all *ra = arg;
	struct daemon *d = ra->d;
	uint64_t seq;

	if (error != NULL) {
		d->counters.reload_failures++;
		log_error("reload: playbooks rejected, the running set "
		    "stays:\n%s", error);
		seq = daemon_audit(d, "playbooks.rejected", ra->actor,
		    json_pack("{s:s, s:s}", "dir", d->cfg->playbooks.dir,
			"error", error));
	} else
		seq = daemon_audit(d, "playbooks.reloaded", ra->actor,
		    json_pack("{s:s}", "dir", d->cfg->playbooks.dir));
	ra->cb(ra->arg, error == NULL, seq, "playbooks", error);
	free(ra->actor);
	free(ra);
}

void
daemon_reload_all(struct daemon *d, const char *actor, daemon_reload_cb cb,
    void *arg)
{
	struct reload_all *ra;
	char *cause = NULL;
	uint64_t seq;

	if (daemon_reload(d, actor, &seq, &cause) == -1) {
		cb(arg, 0, seq, "config", cause ? cause : "unknown error");
		free(cause);
		return;
	}
	if (d->playbooks == NULL || !d->cfg->playbooks.present) {
		if (d->playbooks == NULL && d->cfg->playbooks.present)
			log_warnx("reload: playbooks were added; they start at "
			    "the next restart");
		else if (d->playbooks != NULL)
			log_warnx("reload: the playbooks section was removed; "
			    "the running set stays until the next restart");
		cb(arg, 1, seq, NULL, NULL);
		return;
	}
	ra = calloc(1, sizeof *ra);
	if (ra == NULL || (ra->actor = strdup(actor)) == NULL)
		fatalx("reload: out of memory");
	ra->d = d;
	ra->cb = cb;
	ra->arg = arg;
	playbooks_reload(d->playbooks, daemon_playbooks_cb, ra);
}

void
daemon_stop(struct daemon *d, int exit_code)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	d->exit_code = exit_code;
	notify_systemd("STOPPING=1");
	event_base_loopexit(d->base, NULL);
}

uint64_t
daemon_uptime(const struct daemon *d)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - d->started_mono.tv_sec);
}
