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
#include "remediad/log.h"

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
	const char *why;
	uint64_t seq;

	if (d->audit == NULL) {
		json_decref(fields);
		return 0;
	}
	seq = audit_append(d->audit, type, actor, fields, &why);
	if (seq == 0)
		log_error("audit: cannot record %s: %s", type, why);
	return seq;
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
		log_error("reload: %s rejected, the running config stays:\n%s",
		    d->config_path, *cause ? *cause : "unknown error");
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
	config_free(d->cfg);
	d->cfg = ncfg;
	log_set_level((enum log_level)ncfg->log.level);
	d->counters.reloads++;
	log_notice("reload: %s applied", d->config_path);
	*seq = daemon_audit(d, "config.reloaded", actor,
	    json_pack("{s:s}", "config", d->config_path));
	notify_systemd("READY=1");
	return 0;
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
