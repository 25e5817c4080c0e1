/*
 * remediactl's action commands: the arguments of rollback, extend and show,
 * and the tables of active mitigations and of one action's history.
 */
#include <stdio.h>
#include <string.h>

#include "remediad/json_scan.h"
#include "ctl.h"

static int
ctl_id(const char *cmd, int argc, char **argv, int want, json_t *args)
{
	if (argc != want) {
		fprintf(stderr, "remediactl: %s: expected %s\n", cmd, want == 1 ?
		    "an ID" : "an ID and a DURATION (e.g. 2h)");
		return -1;
	}
	json_t *id = json_string(argv[0]);
	if (id == NULL || argv[0][0] == '\0') {
		fprintf(stderr, "remediactl: %s: bad ID\n", cmd);
		json_decref(id);
		return -1;
	}
	json_object_set_new(args, "id", id);
	if (want == 2)
		json_object_set_new(args, "duration", json_string(argv[1]));
	return 0;
}

int
ctl_rollback_parse(int argc, char **argv, json_t *args)
{
	return ctl_id("rollback", argc, argv, 1, args);
}

int
ctl_extend_parse(int argc, char **argv, json_t *args)
{
	return ctl_id("extend", argc, argv, 2, args);
}

int
ctl_show_parse(int argc, char **argv, json_t *args)
{
	return ctl_id("show", argc, argv, 1, args);
}

void
ctl_show_mitigations(FILE *out, const json_t *data)
{
	static const struct ctl_column cols[] = {
	    {"id", "ID"},
	    {"action", "ACTION"},
	    {"target", "TARGET"},
	    {"state", "STATE"},
	    {"since", "SINCE"},
	    {"expires", "EXPIRES"},
	    {"playbook", "PLAYBOOK"},
	    {"alert", "ALERT"},
	    {NULL, NULL},
	};
	const json_t *list = json_object_get(data, "mitigations");

	if (json_array_size(list) == 0) {
		fprintf(out, "no active mitigations\n");
		return;
	}
	ctl_print_table(out, list, cols);
}

void
ctl_show_action(FILE *out, const json_t *data)
{
	const json_t *state = json_object_get(data, "state");
	const json_t *recs = json_object_get(data, "records");
	size_t i;
	json_t *r;

	if (state != NULL) {
		ctl_print_kv(out, state);
		fprintf(out, "\n");
	}
	if (json_array_size(recs) == 0) {
		fprintf(out, "no audit records with this id\n");
		return;
	}
	json_array_foreach(recs, i, r)
		ctl_show_record(out, r);
}

int
ctl_dry_run_parse(int argc, char **argv, json_t *args)
{
	if (argc != 1 || (strcmp(argv[0], "on") && strcmp(argv[0], "off"))) {
		fprintf(stderr, "remediactl: dry-run: expected on or off\n");
		return -1;
	}
	json_object_set_new(args, "mode", json_string(argv[0]));
	return 0;
}

/* ID [-m TEXT]; deny needs the -m. */
static int
ctl_answer(const char *cmd, int argc, char **argv, json_t *args,
    int need_msg)
{
	const char *id = NULL, *msg = NULL;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-m") == 0) {
			if (++i == argc) {
				fprintf(stderr, "remediactl: %s: -m wants a "
				    "text\n", cmd);
				return -1;
			}
			msg = argv[i];
		} else if (id == NULL)
			id = argv[i];
		else {
			fprintf(stderr, "remediactl: %s: unexpected \"%s\"\n",
			    cmd, argv[i]);
			return -1;
		}
	}
	if (id == NULL || *id == '\0') {
		fprintf(stderr, "remediactl: %s: expected an ID\n", cmd);
		return -1;
	}
	if (need_msg && (msg == NULL || *msg == '\0')) {
		fprintf(stderr, "remediactl: %s: a reason is required (-m "
		    "TEXT)\n", cmd);
		return -1;
	}
	json_t *jid = json_string(id), *jmsg = msg ? json_string(msg) : NULL;
	if (jid == NULL || (msg != NULL && jmsg == NULL)) {
		fprintf(stderr, "remediactl: %s: not valid UTF-8\n", cmd);
		json_decref(jid);
		json_decref(jmsg);
		return -1;
	}
	json_object_set_new(args, "id", jid);
	if (jmsg != NULL)
		json_object_set_new(args, "message", jmsg);
	return 0;
}

int
ctl_approve_parse(int argc, char **argv, json_t *args)
{
	return ctl_answer("approve", argc, argv, args, 0);
}

int
ctl_deny_parse(int argc, char **argv, json_t *args)
{
	return ctl_answer("deny", argc, argv, args, 1);
}

static const struct ctl_column approval_cols[] = {
    {"id", "ID"},
    {"age_s", "AGE S"},
    {"left_s", "LEFT S"},
    {"quorum", "QUORUM"},
    {"votes", "VOTES"},
    {"action", "ACTION"},
    {"target", "TARGET"},
    {"playbook", "PLAYBOOK"},
    {"reason", "HELD BECAUSE"},
    {NULL, NULL},
};

void
ctl_show_approvals(FILE *out, const json_t *data)
{
	const json_t *list = json_object_get(data, "approvals");

	if (json_array_size(list) == 0) {
		fprintf(out, "no pending approvals\n");
		return;
	}
	ctl_print_table(out, list, approval_cols);
}

/* The list may hold thousands: printed from the scanner's values. */
int
ctl_scan_approvals(FILE *out, const struct jscan *js,
    const struct jscan_value *data)
{
	const struct jscan_value *list = jscan_get(js, data, "approvals", 9);

	if (!jscan_is(list, JSCAN_ARRAY))
		return -1;
	if (list->count == 0) {
		fprintf(out, "no pending approvals\n");
		return 0;
	}
	return ctl_print_table_scan(out, js, list, approval_cols);
}

/* run ACTION key=value... -m TEXT */
int
ctl_run_parse(int argc, char **argv, json_t *args)
{
	json_t *params = json_object();
	const char *action = NULL, *msg = NULL;

	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		if (strcmp(argv[i], "-m") == 0) {
			if (++i == argc)
				goto usage;
			msg = argv[i];
		} else if (action == NULL && eq == NULL) {
			action = argv[i];
		} else if (eq != NULL && eq != argv[i]) {
			char *k = strndup(argv[i], (size_t)(eq - argv[i]));
			json_t *v = json_string(eq + 1);
			if (k == NULL || v == NULL) {
				free(k);
				json_decref(v);
				goto usage;
			}
			/* true/false are booleans (until_remediated=true). */
			if (strcmp(eq + 1, "true") == 0 ||
			    strcmp(eq + 1, "false") == 0) {
				json_decref(v);
				v = json_boolean(strcmp(eq + 1, "true") == 0);
			}
			json_object_set_new(params, k, v);
			free(k);
		} else
			goto usage;
	}
	if (action == NULL || msg == NULL || *msg == '\0')
		goto usage;
	json_object_set_new(args, "action", json_string(action));
	json_object_set_new(args, "params", params);
	json_object_set_new(args, "message", json_string(msg));
	return 0;
usage:
	fprintf(stderr, "remediactl: run: expected ACTION key=value... -m "
	    "TEXT (a reason is required)\n");
	json_decref(params);
	return -1;
}

int
ctl_watch_parse(int argc, char **argv, json_t *args)
{
	if (argc != 0) {
		fprintf(stderr, "remediactl: watch takes no arguments\n");
		return -1;
	}
	json_object_set_new(args, "follow", json_true());
	json_object_set_new(args, "watch", json_true());
	json_object_set_new(args, "n", json_integer(10));
	return 0;
}
