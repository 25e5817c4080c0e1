/*
 * The one daemon context: everything the main process owns, reachable from
 * every callback. No other globals exist beyond immutable tables.
 */
#ifndef REMEDIAD_DAEMON_H
#define REMEDIAD_DAEMON_H

#include <stdint.h>
#include <time.h>

struct event_base;
struct event;
struct config;
struct control;
struct audit;
struct audit_ctl;
struct jobs;
struct kafka;
struct playbooks;
struct actions;
struct children;
struct guard;
struct approvals;

struct daemon_counters {
	uint64_t reloads;
	uint64_t reload_failures;
	uint64_t control_connections;
	uint64_t control_rejected; /* over max_clients */
	uint64_t control_requests;
	uint64_t control_errors; /* error replies */
};

struct daemon {
	struct event_base *base;
	struct config *cfg;
	const char *config_path;
	time_t started;
	struct timespec started_mono;
	int lock_fd;
	struct control *control;
	struct audit *audit;
	struct audit_ctl *audit_ctl;
	struct jobs *jobs;
	struct children *children; /* every child process, reaped here */
	struct kafka *kafka; /* NULL: intake disabled (no kafka section) */
	struct playbooks *playbooks; /* NULL: no playbooks section */
	struct actions *actions;     /* NULL: no connectors section */
	struct guard *guard;	     /* with actions */
	struct approvals *approvals; /* with actions */
	struct event *ev_sigterm;
	struct event *ev_sigint;
	struct event *ev_sighup;
	struct daemon_counters counters;
	int stopping;
	int exit_code;
};

/*
 * Loads the config file again and applies what can change at run time.
 * Keys that need a restart (state_dir, control.socket) keep their running
 * values, with a warning. On failure the running config stays and *cause
 * says why (free() it). Either outcome is audited (config.reloaded or
 * config.rejected) by `actor`; *seq is that record's seq (0 if none).
 */
int daemon_reload(struct daemon *d, const char *actor, uint64_t *seq,
    char **cause);
/*
 * daemon_reload(), then the playbook set: a new set loads in fresh workers
 * and replaces the running one only if all of it loads. cb gets the
 * outcome once known (ok, the seq of the last record written, which part
 * was rejected and why); it may be called before this returns.
 */
typedef void (*daemon_reload_cb)(void *arg, int ok, uint64_t seq,
    const char *what, const char *error); /* what: config, playbooks */
void daemon_reload_all(struct daemon *d, const char *actor,
    daemon_reload_cb cb, void *arg);

/* Starts the orderly shutdown from the loop. */
void daemon_stop(struct daemon *d, int exit_code);
/* Seconds since start, monotonic. */
uint64_t daemon_uptime(const struct daemon *d);

/* sd_notify(3) without libsystemd: a datagram to $NOTIFY_SOCKET. */
void notify_systemd(const char *state);

/*
 * Creates state_dir (0750) if absent and takes an exclusive lock on
 * state_dir/remediad.lock. Returns the lock fd, or -1 with *cause set.
 */
int statedir_lock(const char *dir, char **cause);

#endif
