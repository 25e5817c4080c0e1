/*
 * remediactl's action commands: the arguments of rollback, extend and show,
 * and the tables of active mitigations and of one action's history.
 */
#include <stdio.h>
#include <string.h>

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
