/*
 * The control command table: one row per command with the least role that
 * may run it and its handler. Later units add rows here; control.c does the
 * framing, identity and role checks before a handler is called.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "remediad/action.h"
#include "remediad/approval.h"
#include "remediad/guard.h"
#include "remediad/audit.h"
#include "remediad/audit_ctl.h"
#include "remediad/config.h"
#include "remediad/control.h"
#include "remediad/kafka.h"
#include "remediad/daemon.h"
#include "remediad/log.h"
#include "remediad/playbook.h"

static void
cmd_ping(struct daemon *d, struct control_req *r)
{
	control_reply_ok(r, json_pack("{s:s}", "pong", "remediad"));
}

static void
cmd_status(struct daemon *d, struct control_req *r)
{
	const struct daemon_counters *c = &d->counters;
	char started[32];
	struct tm tm;
	json_t *data;

	gmtime_r(&d->started, &tm);
	strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &tm);
	data = json_pack("{s:s, s:I, s:i, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "version", REMEDIAD_VERSION,
	    "uptime_s", (json_int_t)daemon_uptime(d),
	    "pid", (int)getpid(),
	    "config", d->config_path,
	    "state_dir", d->cfg->state_dir,
	    "socket", d->cfg->control.socket,
	    "role", proto_role_name(r->role),
	    "started", started,
	    "intake", d->kafka == NULL ? "disabled" :
	    "enabled");
	json_object_set_new(data, "counters", json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:i}",
	    "reloads", (json_int_t)c->reloads,
	    "reload_failures", (json_int_t)c->reload_failures,
	    "control_connections", (json_int_t)c->control_connections,
	    "control_rejected", (json_int_t)c->control_rejected,
	    "control_requests", (json_int_t)c->control_requests,
	    "control_errors", (json_int_t)c->control_errors,
	    "control_clients", control_clients(d->control)));
	if (d->audit != NULL)
		json_object_set_new(data, "audit", audit_status_json(d->audit));
	if (d->kafka != NULL)
		json_object_set_new(data, "kafka", kafka_status_json(d->kafka));
	if (d->playbooks != NULL)
		json_object_set_new(data, "playbooks",
		    playbooks_status_json(d->playbooks));
	if (d->actions != NULL)
		json_object_set_new(data, "actions",
		    actions_status_json(d->actions));
	if (d->guard != NULL)
		json_object_set_new(data, "guard", guard_status_json(d->guard));
	if (d->approvals != NULL)
		json_object_set_new(data, "approvals",
		    approvals_status_json(d->approvals));
	control_reply_ok(r, data);
}

static void
cmd_reload_cb(void *arg, int ok, uint64_t seq, const char *what,
    const char *error)
{
	struct control_req *r = arg;

	control_req_audited(r, seq);
	if (!ok) {
		control_reply_error(r, PROTO_E_FAILED, "%s rejected, the "
		    "running %s stays:\n%s", what, strcmp(what, "config") == 0 ?
		    "one" : "set", error);
		return;
	}
	control_reply_ok(r, json_pack("{s:s}", "config", r->d->config_path));
}

static void
cmd_reload(struct daemon *d, struct control_req *r)
{
	log_notice("reload requested by %s", r->peer->actor);
	daemon_reload_all(d, r->peer->actor, cmd_reload_cb, r);
}

static void
cmd_playbooks(struct daemon *d, struct control_req *r)
{
	if (d->playbooks == NULL) {
		control_reply_error(r, PROTO_E_FAILED, "no playbooks: the "
		    "config has no playbooks section");
		return;
	}
	control_reply_ok(r, json_pack("{s:o, s:o}", "playbooks",
	    playbooks_list_json(d->playbooks), "engine",
	    playbooks_status_json(d->playbooks)));
}

const struct control_cmd control_commands[] = {
    {"ping", ROLE_NONE, cmd_ping, 0},
    {"status", ROLE_VIEWER, cmd_status, 0},
    {"reload", ROLE_ADMIN, cmd_reload, CMD_CHANGES_STATE},
    {"playbooks", ROLE_VIEWER, cmd_playbooks, 0},
    {"mitigations", ROLE_VIEWER, cmd_mitigations, 0},
    {"rollback", ROLE_APPROVER, cmd_rollback, CMD_CHANGES_STATE},
    {"extend", ROLE_APPROVER, cmd_extend, CMD_CHANGES_STATE},
    {"show", ROLE_VIEWER, cmd_show, 0},
    {"pause", ROLE_APPROVER, cmd_pause, CMD_CHANGES_STATE},
    {"resume", ROLE_APPROVER, cmd_resume, CMD_CHANGES_STATE},
    {"dry-run", ROLE_ADMIN, cmd_dry_run, CMD_CHANGES_STATE},
    {"approvals", ROLE_VIEWER, cmd_approvals, 0},
    {"approve", ROLE_APPROVER, cmd_approve, CMD_CHANGES_STATE},
    {"deny", ROLE_APPROVER, cmd_deny, CMD_CHANGES_STATE},
    {"run", ROLE_ADMIN, cmd_run, CMD_CHANGES_STATE},
    {"audit.verify", ROLE_VIEWER, cmd_audit_verify, 0},
    {"audit.tail", ROLE_VIEWER, cmd_audit_tail, 0},
    {"audit.search", ROLE_VIEWER, cmd_audit_search, 0},
    {NULL, ROLE_NONE, NULL, 0},
};
