/*
 * remediactl's human output: aligned key/value blocks and column tables
 * built from the daemon's JSON data, every string shown with its control
 * characters escaped. Scripts use --json, which bypasses all of this and
 * prints the data verbatim.
 */
#include <stdio.h>
#include <string.h>

#include "remediad/growbuf.h"
#include "remediad/json_scan.h"
#include "remediad/units.h"
#include "remediad/utf8.h"
#include "ctl.h"

/* Scalars as people read them; objects and arrays compact. */
void
ctl_format_value(const json_t *v, char *buf, size_t len)
{
	char *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		utf8_escape_controls(json_string_value(v),
		    json_string_length(v), buf, len);
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
		/* jansson escapes C0 controls itself, not DEL or C1. */
		s = json_dumps(v, JSON_COMPACT);
		if (s != NULL)
			utf8_escape_controls(s, strlen(s), buf, len);
		else
			snprintf(buf, len, "?");
		free(s);
		break;
	}
}

static void
ctl_print_kv_indent(FILE *out, const json_t *obj, int indent)
{
	const char *key;
	json_t *v;
	size_t width = 0, n;
	char val[1024], k[256];

	json_object_foreach((json_t *)obj, key, v)
		if (!json_is_object(v) && (n = utf8_escape_controls(key,
		    strlen(key), k, sizeof k)) > width)
			width = n;
	/* Scalars first, aligned; then nested blocks. */
	json_object_foreach((json_t *)obj, key, v) {
		if (json_is_object(v))
			continue;
		utf8_escape_controls(key, strlen(key), k, sizeof k);
		ctl_format_value(v, val, sizeof val);
		fprintf(out, "%*s%-*s  %s\n", indent, "", (int)width, k, val);
	}
	json_object_foreach((json_t *)obj, key, v) {
		if (!json_is_object(v))
			continue;
		utf8_escape_controls(key, strlen(key), k, sizeof k);
		fprintf(out, "%*s%s:\n", indent, "", k);
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
 * A table is gathered before anything is printed (the widths need every
 * row), then printed with one write. A cell points at its text in the
 * reply when it is a string; numbers and the like are formatted into one
 * arena. Tables of thousands of rows are printed, so strings are never
 * copied and nothing is formatted twice.
 */
#define CTL_TABLE_MAX_COLS 32

struct ctl_cell {
	const char *s; /* NULL: the text is at off in the arena */
	size_t off, n;
};

struct ctl_table {
	const struct ctl_column *cols;
	size_t ncols, nrows;
	struct ctl_cell *cells; /* nrows * ncols, row by row */
	char *arena;
	size_t alen, acap;
};

static int
ctl_table_init(struct ctl_table *t, const struct ctl_column *cols,
    size_t nrows)
{
	memset(t, 0, sizeof *t);
	t->cols = cols;
	while (cols[t->ncols].key != NULL && t->ncols < CTL_TABLE_MAX_COLS)
		t->ncols++;
	t->nrows = nrows;
	if (nrows > 0 &&
	    (t->cells = calloc(nrows * t->ncols, sizeof *t->cells)) == NULL)
		return -1;
	return 0;
}

static void
ctl_table_free(struct ctl_table *t)
{
	free(t->cells);
	free(t->arena);
}

/* The cell shows s itself, which outlives the table. */
static void
ctl_table_text(struct ctl_table *t, size_t row, size_t col, const char *s,
    size_t n)
{
	struct ctl_cell *c = &t->cells[row * t->ncols + col];

	c->s = s;
	c->n = n;
}

/* The cell shows a copy of s, kept in the arena. */
static int
ctl_table_copy(struct ctl_table *t, size_t row, size_t col, const char *s)
{
	struct ctl_cell *c = &t->cells[row * t->ncols + col];
	size_t n = strlen(s);

	if (growbuf_reserve(&t->arena, &t->acap, t->alen + n, 4096) == -1)
		return -1;
	memcpy(t->arena + t->alen, s, n);
	c->s = NULL;
	c->off = t->alen;
	c->n = n;
	t->alen += n;
	return 0;
}

static const char *
ctl_table_cell(const struct ctl_table *t, size_t row, size_t col, size_t *n)
{
	const struct ctl_cell *c = &t->cells[row * t->ncols + col];

	*n = c->n;
	return c->s != NULL ? c->s : t->arena + c->off;
}

/* Writes the title row, then each row: every column but the last padded. */
static int
ctl_table_print(FILE *out, const struct ctl_table *t)
{
	size_t width[CTL_TABLE_MAX_COLS], line = 1, r, c, n;
	const char *s;
	char *buf, *p;

	for (c = 0; c < t->ncols; c++) {
		width[c] = strlen(t->cols[c].title);
		for (r = 0; r < t->nrows; r++)
			if (t->cells[r * t->ncols + c].n > width[c])
				width[c] = t->cells[r * t->ncols + c].n;
		line += width[c] + 2;
	}
	if ((buf = malloc((t->nrows + 1) * line)) == NULL)
		return -1;
	p = buf;
	for (r = 0; r <= t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			if (r == 0) {
				s = t->cols[c].title;
				n = strlen(s);
			} else
				s = ctl_table_cell(t, r - 1, c, &n);
			memcpy(p, s, n);
			p += n;
			if (c + 1 < t->ncols) {
				memset(p, ' ', width[c] - n + 2);
				p += width[c] - n + 2;
			} else
				*p++ = '\n';
		}
	}
	fwrite(buf, 1, (size_t)(p - buf), out);
	free(buf);
	return 0;
}

void
ctl_print_table(FILE *out, const json_t *rows, const struct ctl_column *cols)
{
	struct ctl_table t;
	char val[1024];
	size_t i, c;
	json_t *row, *v;

	if (ctl_table_init(&t, cols, json_array_size(rows)) == -1)
		goto fail;
	json_array_foreach(rows, i, row) {
		for (c = 0; c < t.ncols; c++) {
			v = json_object_get(row, cols[c].key);
			if (json_is_string(v) && !utf8_has_controls(
			    json_string_value(v), json_string_length(v))) {
				ctl_table_text(&t, i, c, json_string_value(v),
				    json_string_length(v));
				continue;
			}
			ctl_format_value(v ? v : json_null(), val, sizeof val);
			if (ctl_table_copy(&t, i, c, val) == -1)
				goto fail;
		}
	}
	if (ctl_table_print(out, &t) == -1)
		goto fail;
	ctl_table_free(&t);
	return;
fail:
	ctl_table_free(&t);
	fprintf(stderr, "remediactl: out of memory\n");
}

/*
 * The same table from the scanner's values (json_scan.h), cell for cell
 * as ctl_format_value() shows them; -1 before printing anything when a
 * cell holds an array or an object, which only jansson's values can show.
 */
int
ctl_print_table_scan(FILE *out, const struct jscan *js,
    const struct jscan_value *rows, const struct ctl_column *cols)
{
	struct ctl_table t;
	size_t keylen[CTL_TABLE_MAX_COLS], i = 0, c;
	const struct jscan_value *row, *v;
	char val[64], text[1024];
	int rc = -1;

	if (!jscan_is(rows, JSCAN_ARRAY) ||
	    ctl_table_init(&t, cols, rows->count) == -1)
		return -1;
	for (c = 0; c < t.ncols; c++)
		keylen[c] = strlen(cols[c].key);
	for (row = jscan_first(js, rows); row != NULL && i < t.nrows;
	     row = jscan_next(js, row), i++) {
		for (c = 0; c < t.ncols; c++) {
			v = jscan_get(js, row, cols[c].key, keylen[c]);
			switch (v != NULL ? v->type : JSCAN_NULL) {
			case JSCAN_STRING:
				if (!utf8_has_controls(v->u.str.s,
				    v->u.str.len)) {
					ctl_table_text(&t, i, c, v->u.str.s,
					    v->u.str.len);
					continue;
				}
				utf8_escape_controls(v->u.str.s, v->u.str.len,
				    text, sizeof text);
				if (ctl_table_copy(&t, i, c, text) == -1)
					goto done;
				continue;
			case JSCAN_INTEGER:
				snprintf(val, sizeof val, "%lld",
				    (long long)v->u.i);
				break;
			case JSCAN_REAL:
				snprintf(val, sizeof val, "%g", v->u.d);
				break;
			case JSCAN_TRUE:
				ctl_table_text(&t, i, c, "yes", 3);
				continue;
			case JSCAN_FALSE:
				ctl_table_text(&t, i, c, "no", 2);
				continue;
			case JSCAN_NULL:
				ctl_table_text(&t, i, c, "-", 1);
				continue;
			default:
				goto done;
			}
			if (ctl_table_copy(&t, i, c, val) == -1)
				goto done;
		}
	}
	rc = ctl_table_print(out, &t);
done:
	ctl_table_free(&t);
	return rc;
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
