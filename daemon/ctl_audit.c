/*
 * remediactl's audit commands: argument parsing and output for verify
 * (offline on a directory, or online through the daemon), tail [-f] and
 * search.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remediad/audit.h"
#include "remediad/utf8.h"
#include "ctl.h"

static int
ctl_parse_count(const char *flag, const char *s, long max, json_t *args)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || n < 1 || n > max) {
		fprintf(stderr, "remediactl: %s wants a number from 1 to %ld, "
				"not \"%s\"\n", flag, max, s);
		return -1;
	}
	json_object_set_new(args, "n", json_integer(n));
	return 0;
}

/* ---- verify ------------------------------------------------------------ */

int
ctl_audit_verify_parse(int argc, char **argv, json_t *args)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--anchor") == 0 || strcmp(argv[i], "-a") == 0) {
			if (++i == argc) {
				fprintf(stderr, "remediactl: --anchor wants "
						"SEQ:HASH\n");
				return -1;
			}
			json_object_set_new(args, "anchor", json_string(argv[i]));
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "remediactl: audit verify: unknown "
					"option %s\n", argv[i]);
			return -1;
		} else if (json_object_get(args, "dir") == NULL) {
			json_object_set_new(args, "dir", json_string(argv[i]));
		} else {
			fprintf(stderr, "remediactl: audit verify takes one "
					"directory\n");
			return -1;
		}
	}
	return 0;
}

/* With a DIR the check runs here, without the daemon. */
json_t *
ctl_audit_verify_local(const json_t *args, char **error)
{
	const char *dir = json_string_value(json_object_get(args, "dir"));
	const char *anchor = json_string_value(json_object_get(args, "anchor"));
	struct audit_verdict v;
	unsigned long long seq = 0;
	char hash[AUDIT_HASH_HEX + 2] = "";
	int n = -1;

	if (dir == NULL)
		return NULL;
	if (anchor != NULL &&
	    (sscanf(anchor, "%llu:%65[0-9a-f]%n", &seq, hash, &n) != 2 ||
		n < 0 || anchor[n] != '\0' || seq == 0 ||
		strlen(hash) != AUDIT_HASH_HEX)) {
		if (asprintf(error, "--anchor wants SEQ:HASH (64 lowercase "
				    "hex), not \"%s\"", anchor) == -1)
			*error = NULL;
		return NULL;
	}
	audit_verify(dir, seq, seq ? hash : NULL, 0, &v);
	return audit_verdict_json(&v);
}

void
ctl_audit_verify_show(FILE *out, const json_t *data)
{
	json_t *bad = json_object_get(data, "first_bad");
	long long records = json_integer_value(json_object_get(data, "records"));
	long long segments = json_integer_value(json_object_get(data,
	    "segments"));
	const char *head = json_string_value(json_object_get(data, "last_hash"));

	if (json_is_true(json_object_get(data, "ok"))) {
		fprintf(out, "audit log OK: %lld records checked in %lld "
			     "segment%s; head %lld:%s%s\n", records, segments,
		    segments == 1 ? "" : "s",
		    json_integer_value(json_object_get(data, "last_seq")),
		    head ? head : "",
		    json_is_true(json_object_get(data, "anchor_checked"))
			? " (anchor matches)" : "");
		return;
	}
	long long seg = json_integer_value(json_object_get(bad, "segment"));
	long long line = json_integer_value(json_object_get(bad, "line"));
	long long seq = json_integer_value(json_object_get(bad, "seq"));
	char where[128] = "";
	if (seg > 0)
		snprintf(where, sizeof where, "segment %lld (" AUDIT_SEGMENT_FMT
		    ")%s", seg, (unsigned)seg, line > 0 ? ", " : "");
	if (line > 0)
		snprintf(where + strlen(where), sizeof where - strlen(where),
		    "line %lld", line);
	if (seq > 0)
		snprintf(where + strlen(where), sizeof where - strlen(where),
		    "%sseq %lld", where[0] ? ", " : "", seq);
	fprintf(out, "audit log FAILED after %lld good records: %s%s%s\n",
	    records, where, where[0] ? ": " : "",
	    json_string_value(json_object_get(bad, "why")));
}

int
ctl_audit_verify_status(const json_t *data)
{
	return json_is_true(json_object_get(data, "ok")) ? CTL_EXIT_OK
							 : CTL_EXIT_FAILED;
}

/* ---- tail and search --------------------------------------------------- */

int
ctl_audit_tail_parse(int argc, char **argv, json_t *args)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 ||
		    strcmp(argv[i], "--follow") == 0) {
			json_object_set_new(args, "follow", json_true());
		} else if (strcmp(argv[i], "-n") == 0) {
			if (++i == argc || ctl_parse_count("-n", argv[i], 10000,
			    args) == -1) {
				if (i == argc)
					fprintf(stderr, "remediactl: -n wants a "
							"number\n");
				return -1;
			}
		} else {
			fprintf(stderr, "remediactl: audit tail: unexpected "
					"\"%s\" (options: -n N, -f)\n", argv[i]);
			return -1;
		}
	}
	return 0;
}

int
ctl_audit_search_parse(int argc, char **argv, json_t *args)
{
	json_t *filters = json_object();

	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		if (strcmp(argv[i], "-n") == 0) {
			if (++i == argc || ctl_parse_count("-n", argv[i], 10000,
			    args) == -1) {
				if (i == argc)
					fprintf(stderr, "remediactl: -n wants a "
							"number\n");
				json_decref(filters);
				return -1;
			}
			continue;
		}
		if (eq == NULL || eq == argv[i]) {
			fprintf(stderr, "remediactl: audit search: expected "
					"KEY=VALUE, not \"%s\"\n", argv[i]);
			json_decref(filters);
			return -1;
		}
		char *key = strndup(argv[i], (size_t)(eq - argv[i]));
		json_t *val = json_string(eq + 1);
		if (key == NULL || val == NULL) {
			fprintf(stderr, "remediactl: audit search: \"%s\" is "
					"not valid UTF-8\n", argv[i]);
			free(key);
			json_decref(val);
			json_decref(filters);
			return -1;
		}
		json_object_set_new(filters, key, val);
		free(key);
	}
	if (json_object_size(filters) == 0) {
		fprintf(stderr, "remediactl: audit search wants at least one "
				"KEY=VALUE (e.g. type=control.command)\n");
		json_decref(filters);
		return -1;
	}
	json_object_set_new(args, "filters", filters);
	return 0;
}

/* A string member of rec, escaped for a terminal, or "-". */
static const char *
ctl_record_str(const json_t *rec, const char *key, char *buf, size_t len)
{
	const json_t *v = json_object_get(rec, key);

	if (!json_is_string(v))
		return "-";
	utf8_escape_controls(json_string_value(v), json_string_length(v), buf,
	    len);
	return buf;
}

/* One record per line: seq, time, type, actor, then its own fields. */
void
ctl_show_record(FILE *out, const json_t *rec)
{
	static const char *const skip[] = {"seq", "time", "type", "actor",
	    "prev", "hash", NULL};
	const char *key;
	json_t *v;
	char val[512], k[256], time[64], type[64], actor[256];

	fprintf(out, "%-6lld %s  %-18s %s",
	    json_integer_value(json_object_get(rec, "seq")),
	    ctl_record_str(rec, "time", time, sizeof time),
	    ctl_record_str(rec, "type", type, sizeof type),
	    ctl_record_str(rec, "actor", actor, sizeof actor));
	json_object_foreach((json_t *)rec, key, v) {
		int skipped = 0;
		for (int i = 0; skip[i] != NULL; i++)
			if (strcmp(key, skip[i]) == 0)
				skipped = 1;
		if (skipped)
			continue;
		utf8_escape_controls(key, strlen(key), k, sizeof k);
		ctl_format_value(v, val, sizeof val);
		fprintf(out, "  %s=%s", k, val);
	}
	fputc('\n', out);
}

void
ctl_audit_records_show(FILE *out, const json_t *data)
{
	json_t *recs = json_object_get(data, "records"), *rec;
	size_t i;

	/* A stream frame carries one record. */
	if (recs == NULL && json_object_get(data, "seq") != NULL) {
		ctl_show_record(out, data);
		return;
	}
	json_array_foreach(recs, i, rec)
		ctl_show_record(out, rec);
	if (json_object_get(data, "matched") != NULL)
		fprintf(out, "(%lld matched of %lld records; the newest %zu "
			     "shown)\n",
		    json_integer_value(json_object_get(data, "matched")),
		    json_integer_value(json_object_get(data, "scanned")),
		    json_array_size(recs));
}
