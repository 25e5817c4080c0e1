/*
 * remediactl's internal interfaces: the command table row, the connection
 * to the daemon, and the output formatters.
 */
#ifndef REMEDIAD_CTL_H
#define REMEDIAD_CTL_H

#include <stdio.h>
#include <stdlib.h>
#include <jansson.h>

#include "remediad/proto.h"

struct jscan;
struct jscan_value;

/* Exit codes, as in DESIGN.md. */
#define CTL_EXIT_OK	    0
#define CTL_EXIT_FAILED	    1
#define CTL_EXIT_USAGE	    2
#define CTL_EXIT_UNREACHABLE 3

struct ctl_options {
	const char *socket;
	int json;
	int timeout_s;
	int stream; /* the reply is followed by frames until EOF */
};

/*
 * One command. `parse` turns the remaining words into the request's args
 * (NULL: the command takes none) and returns -1 with a message on stderr
 * for a usage error. `show` prints the reply's data for people.
 */
struct ctl_command {
	const char *words; /* "status", later "audit verify" */
	const char *synopsis;
	const char *help;
	enum proto_role role;
	const char *request; /* the daemon command it sends */
	int (*parse)(int argc, char **argv, json_t *args);
	void (*show)(FILE *out, const json_t *data);
	/* The exit status a successful reply means (NULL: 0). */
	int (*status)(const json_t *data);
	/*
	 * Runs the command without the daemon when the args ask for it
	 * (audit verify DIR): returns the data, or NULL to go online (or
	 * with *error set when the args are wrong).
	 */
	json_t *(*local)(const json_t *args, char **error);
	/*
	 * For long lists: prints the data from the scanner's values
	 * (json_scan.h) instead of jansson's, which cost a malloc each. -1,
	 * with nothing printed, leaves the reply to `show`.
	 */
	int (*show_scan)(FILE *out, const struct jscan *js,
	    const struct jscan_value *data);
};

struct ctl_column {
	const char *key;
	const char *title;
};

/* A value as people read it (strings escaped), into buf. */
void ctl_format_value(const json_t *v, char *buf, size_t len);
void ctl_print_kv(FILE *out, const json_t *obj);
void ctl_print_table(FILE *out, const json_t *rows,
    const struct ctl_column *cols);
int ctl_print_table_scan(FILE *out, const struct jscan *js,
    const struct jscan_value *rows, const struct ctl_column *cols);
void ctl_show_status(FILE *out, const json_t *data);
void ctl_show_kv(FILE *out, const json_t *data);
void ctl_show_playbooks(FILE *out, const json_t *data);

int ctl_audit_verify_parse(int argc, char **argv, json_t *args);
json_t *ctl_audit_verify_local(const json_t *args, char **error);
void ctl_audit_verify_show(FILE *out, const json_t *data);
int ctl_audit_verify_status(const json_t *data);
int ctl_audit_tail_parse(int argc, char **argv, json_t *args);
int ctl_audit_search_parse(int argc, char **argv, json_t *args);
void ctl_show_record(FILE *out, const json_t *rec);
void ctl_audit_records_show(FILE *out, const json_t *data);

int ctl_rollback_parse(int argc, char **argv, json_t *args);
int ctl_extend_parse(int argc, char **argv, json_t *args);
int ctl_show_parse(int argc, char **argv, json_t *args);
void ctl_show_mitigations(FILE *out, const json_t *data);
void ctl_show_action(FILE *out, const json_t *data);
int ctl_dry_run_parse(int argc, char **argv, json_t *args);
int ctl_approve_parse(int argc, char **argv, json_t *args);
int ctl_deny_parse(int argc, char **argv, json_t *args);
void ctl_show_approvals(FILE *out, const json_t *data);
int ctl_scan_approvals(FILE *out, const struct jscan *js,
    const struct jscan_value *data);
int ctl_run_parse(int argc, char **argv, json_t *args);
int ctl_watch_parse(int argc, char **argv, json_t *args);

#endif
