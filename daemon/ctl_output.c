/*
 * remediactl's human output: aligned key/value blocks and column tables
 * built from the daemon's JSON data. Scripts use --json, which bypasses
 * all of this and prints the data verbatim.
 */
#include <stdio.h>
#include <string.h>

#include "remediad/units.h"
#include "ctl.h"

/* Scalars as people read them; objects and arrays compact. */
void
ctl_format_value(const json_t *v, char *buf, size_t len)
{
	char *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		snprintf(buf, len, "%s", json_string_value(v));
		break;
	case JSON_INTEGER:
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(buf, len, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
		snprintf(buf, len, "yes");
		break;
	case JSON_FALSE:
		snprintf(buf, len, "no");
		break;
	case JSON_NULL:
		snprintf(buf, len, "-");
		break;
	default:
		s = json_dumps(v, JSON_COMPACT);
		snprintf(buf, len, "%s", s ? s : "?");
		free(s);
		break;
	}
}

static void
ctl_print_kv_indent(FILE *out, const json_t *obj, int indent)
{
	const char *key;
	json_t *v;
	size_t width = 0;
	char val[1024];

	json_object_foreach((json_t *)obj, key, v)
		if (!json_is_object(v) && strlen(key) > width)
			width = strlen(key);
	/* Scalars first, aligned; then nested blocks. */
	json_object_foreach((json_t *)obj, key, v) {
		if (json_is_object(v))
			continue;
		ctl_format_value(v, val, sizeof val);
		fprintf(out, "%*s%-*s  %s\n", indent, "", (int)width, key, val);
	}
	json_object_foreach((json_t *)obj, key, v) {
		if (!json_is_object(v))
			continue;
		fprintf(out, "%*s%s:\n", indent, "", key);
		ctl_print_kv_indent(out, v, indent + 2);
	}
}

void
ctl_print_kv(FILE *out, const json_t *obj)
{
	char val[1024];

	if (!json_is_object(obj)) {
		ctl_format_value(obj, val, sizeof val);
		fprintf(out, "%s\n", val);
		return;
	}
	ctl_print_kv_indent(out, obj, 0);
}

/*
 * A cell's text: strings as they are (no copy), the rest formatted into
 * buf. Tables of thousands of rows are printed, so strings take no
 * snprintf.
 */
static const char *
ctl_cell(const json_t *v, char *buf, size_t len, size_t *n)
{
	if (json_is_string(v)) {
		*n = json_string_length(v);
		return json_string_value(v);
	}
	ctl_format_value(v ? v : json_null(), buf, len);
	*n = strlen(buf);
	return buf;
}

static void
ctl_pad(FILE *out, size_t n)
{
	static const char spaces[] = "                                ";

	while (n > 0) {
		size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
		fwrite(spaces, 1, k, out);
		n -= k;
	}
}

void
ctl_print_table(FILE *out, const json_t *rows, const struct ctl_column *cols)
{
	size_t ncols = 0, i, c, n;
	size_t width[32];
	char val[1024];
	const char *t;
	json_t *row;

	while (cols[ncols].key != NULL && ncols < 32)
		ncols++;
	for (c = 0; c < ncols; c++)
		width[c] = strlen(cols[c].title);
	json_array_foreach(rows, i, row) {
		for (c = 0; c < ncols; c++) {
			ctl_cell(json_object_get(row, cols[c].key), val,
			    sizeof val, &n);
			if (n > width[c])
				width[c] = n;
		}
	}
	for (c = 0; c < ncols; c++) {
		fputs(cols[c].title, out);
		if (c + 1 < ncols) {
			ctl_pad(out, width[c] - strlen(cols[c].title) + 2);
		} else
			fputc('\n', out);
	}
	json_array_foreach(rows, i, row) {
		for (c = 0; c < ncols; c++) {
			t = ctl_cell(json_object_get(row, cols[c].key), val,
			    sizeof val, &n);
			fwrite(t, 1, n, out);
			if (c + 1 < ncols)
				ctl_pad(out, width[c] - n + 2);
			else
				fputc('\n', out);
		}
	}
}

void
ctl_show_status(FILE *out, const json_t *data)
{
	json_t *copy = json_deep_copy(data);
	json_t *up = json_object_get(copy, "uptime_s");
	char buf[64];

	static const struct ctl_column part_cols[] = {
	    {"topic", "TOPIC"},
	    {"partition", "PARTITION"},
	    {"lag", "LAG"},
	    {"inflight", "IN FLIGHT"},
	    {"stored", "STORED OFFSET"},
	    {NULL, NULL},
	};
	json_t *kafka = json_object_get(copy, "kafka");
	json_t *parts = json_incref(json_object_get(kafka, "partitions"));

	if (json_is_integer(up)) {
		units_format_duration((uint64_t)json_integer_value(up) * 1000,
		    buf, sizeof buf);
		json_object_set_new(copy, "uptime", json_string(buf));
		json_object_del(copy, "uptime_s");
	}
	/* Partitions read better as a table after the rest. */
	if (parts != NULL)
		json_object_del(kafka, "partitions");
	ctl_print_kv(out, copy);
	if (json_array_size(parts) > 0) {
		fprintf(out, "kafka partitions:\n");
		ctl_print_table(out, parts, part_cols);
	}
	json_decref(parts);
	json_decref(copy);
}

void
ctl_show_kv(FILE *out, const json_t *data)
{
	ctl_print_kv(out, data);
}

void
ctl_show_playbooks(FILE *out, const json_t *data)
{
	static const struct ctl_column cols[] = {
	    {"name", "NAME"},
	    {"file", "FILE"},
	    {"matched", "MATCHED"},
	    {"planned", "PLANNED"},
	    {"empty", "EMPTY"},
	    {"skipped", "SKIPPED"},
	    {"failed", "FAILED"},
	    {"quarantined", "QUARANTINED"},
	    {"p50_us", "P50 US"},
	    {"p99_us", "P99 US"},
	    {NULL, NULL},
	};

	ctl_print_table(out, json_object_get(data, "playbooks"), cols);
	json_t *engine = json_object_get(data, "engine");
	if (engine != NULL) {
		fprintf(out, "\n");
		ctl_print_kv(out, engine);
	}
}
