/*
 * The configuration: a Lua-syntax file evaluated once in a bare, bounded Lua
 * state, converted to a tree, then validated against a schema written in C.
 * Every error is reported with its path, all of them at once.
 */
#ifndef REMEDIAD_CONFIG_H
#define REMEDIAD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "remediad/proto.h"

#define CONFIG_DEFAULT_PATH   "/etc/remediad/remediad.conf"
#define CONFIG_MAX_FILE	      (1024 * 1024)
#define CONFIG_MAX_MEMORY     (32 * 1024 * 1024)
#define CONFIG_MAX_INSTRUCTIONS 10000000
#define CONFIG_MAX_DEPTH      16

struct strlist {
	char **v;
	size_t n;
};

enum role_rule_kind { RULE_USER, RULE_GROUP, RULE_UID };

struct role_rule {
	enum role_rule_kind kind;
	char *name; /* user or group name; NULL for RULE_UID */
	uid_t uid;
	enum proto_role role;
};

enum audit_sync { AUDIT_SYNC_GROUP = 0, AUDIT_SYNC_ALWAYS, AUDIT_SYNC_NONE };
enum audit_raw { AUDIT_RAW_FULL = 0, AUDIT_RAW_HASH };

struct config {
	char *path; /* as given on the command line */

	char *state_dir;

	struct {
		int64_t level; /* enum log_level */
	} log;

	struct {
		char *socket;
		char *group; /* owner group of the socket, or NULL */
		int64_t max_clients;
		uint64_t idle_timeout_ms;
		int64_t default_role; /* enum proto_role for unmapped peers */
		struct strlist roles[ROLE_ADMIN + 1];
		struct role_rule *rules; /* parsed from roles */
		size_t nrules;
	} control;

	struct config_kafka {
		bool present; /* a kafka table was given */
		char *brokers; /* NULL: the embedded broker */
		char *topic;
		char *group;
		char *dlq_topic; /* default: topic ".dlq" */
		json_t *properties;   /* object of string values, or NULL */
		json_t *secret_files; /* property -> file holding its value */
		uint64_t max_message;
		int64_t max_in_flight;
		int64_t partitions; /* of the embedded broker's topic */
		struct {
			bool present;
			char *id, *time, *severity, *title, *rule, *category;
			char *host, *user, *ip, *process, *container, *cloud;
		} generic; /* field paths: the topic carries generic JSON */
	} kafka;

	struct config_dedup {
		uint64_t window_ms;
		int64_t max_entries;
	} dedup;

	struct config_playbooks {
		bool present; /* a playbooks table was given */
		char *dir;
		int64_t workers;	/* 0: the number of online CPUs */
		uint64_t memory;	/* bytes per lua_State */
		int64_t instructions;	/* per run */
		uint64_t timeout_ms;	/* wall clock per run */
		uint64_t load_timeout_ms; /* of a worker loading the set */
		char *assets;		/* the asset inventory, JSON or Lua */
		int64_t quarantine_failures;
		uint64_t quarantine_window_ms;
		int64_t max_actions; /* requests per plan */
	} playbooks;

	struct config_connectors {
		bool present; /* a connectors table was given */
		char *dir;
		uint64_t timeout_ms, grace_ms;
		int64_t retries;	/* attempts after the first */
		uint64_t backoff_ms, max_backoff_ms;
		int64_t concurrency;	/* per connector instance */
		uint64_t verify_window_ms, verify_interval_ms;
		uint64_t shutdown_wait_ms;
		/*
		 * action name -> {connector, rollback?, kind?, params?,
		 * verify?}; checked by config.c.
		 */
		json_t *actions;
		/*
		 * instance -> {program?, env?, secrets?, concurrency?,
		 * timeout?}; checked by config.c.
		 */
		json_t *settings;
	} connectors;

	struct config_guard {
		bool dry_run;	    /* the default until dry-run on|off */
		json_t *protected;  /* rule name -> {hosts, users, ips,
				       clouds, mode} */
		json_t *rate;	    /* "kind.action" | "per_target" |
				       "per_playbook" -> "N/duration" */
		int64_t max_targets; /* a plan touching more is held; 0 off */
		int64_t group_percent; /* of an asset group within the window */
		uint64_t group_window_ms;
		char *breaker;	     /* "N/duration" actions that trip it */
		int64_t breaker_failure_percent; /* of connector steps; 0 off */
		int64_t breaker_min_steps;	 /* before the ratio counts */
		uint64_t breaker_window_ms;
	} guard;

	struct config_approvals {
		struct strlist required; /* "kind.action" patterns */
		struct strlist tiers;	 /* asset tiers that need approval */
		bool whole_plan;	 /* one approval for a plan's requests */
		int64_t min_risk;	 /* 0 none, 1 low .. 4 critical */
		bool hint;		 /* a playbook's approval = required */
		uint64_t expire_ms;
		json_t *quorum;		 /* pattern -> N approvers */
		char *escalate_to; /* an expired approval notifies them once
				      and gets a fresh window; NULL: denied */
	} approvals;

	struct {
		char *dir; /* default: state_dir/audit */
		int64_t sync; /* enum audit_sync */
		uint64_t sync_interval_ms;
		int64_t sync_records;
		uint64_t segment_size;
		uint64_t max_record;
		int64_t anchor_every;
		char *anchor_topic; /* anchors also go to this Kafka topic */
		int64_t raw; /* enum audit_raw: alert documents in the log */
	} audit;
};

/*
 * Loads and validates a config file. On failure returns NULL and sets *cause
 * to every error, one per line, each starting with the path of the key
 * (free() it).
 */
struct config *config_load(const char *path, char **cause);
/* Same from a buffer; `name` is used in messages. */
struct config *config_load_buffer(const char *name, const char *text,
    size_t len, char **cause);
void config_free(struct config *cfg);
/* "20/1h" into 20 and 3600000; -1 when malformed. */
int config_parse_rate(const char *s, int64_t *count, uint64_t *window_ms);

#endif
