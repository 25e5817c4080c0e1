/*
 * Actions: the requests of a plan carried out through connectors, exactly
 * once per idempotency key, with the mitigation lifecycle (applying ->
 * active with an expiry or until remediated -> rolling back -> rolled
 * back) and the remediation lifecycle (applying -> applied -> verifying ->
 * verified or verification failed). Every step is audited; the state is
 * rebuilt from the audit log at startup and unfinished steps run again
 * with the same key and the next attempt number.
 */
#ifndef REMEDIAD_ACTION_H
#define REMEDIAD_ACTION_H

#include <stdint.h>
#include <jansson.h>

struct daemon;
struct actions;
struct control_req;

/*
 * Starts per d->cfg->connectors: rebuilds from the audit log, resumes
 * what was unfinished, arms the expiry timers. NULL with *cause.
 */
struct actions *actions_open(struct daemon *d, char **cause);
/*
 * Waits up to connectors.shutdown_wait for running steps (running the
 * loop), then leaves the rest for the next start.
 */
void actions_close(struct actions *a);
/* After a config reload. */
void actions_reload(struct actions *a);

/*
 * A plan.created record was appended at seq with these fields (borrowed):
 * its requests start once it is durable.
 */
void actions_plan(struct actions *a, uint64_t seq, const json_t *fields);

/*
 * The connector an action is run by, or NULL when the config maps none
 * (plan validation refuses such requests when connectors are set up).
 */
const char *actions_connector_of(const struct actions *a, const char *name);

/* Control commands. */
void cmd_mitigations(struct daemon *d, struct control_req *r);
void cmd_rollback(struct daemon *d, struct control_req *r);
void cmd_extend(struct daemon *d, struct control_req *r);
void cmd_show(struct daemon *d, struct control_req *r);
void cmd_run(struct daemon *d, struct control_req *r);
/* The uid that asked for a manual request (four-eyes), or -1. */
int64_t actions_requester(const struct actions *a, const char *id);
json_t *actions_status_json(struct actions *a);

#endif
