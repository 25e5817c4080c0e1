/*
 * The control protocol, shared by remediad and remediactl: line framing,
 * request and reply validation, and the construction of frames. Nothing
 * here does I/O, so both sides and the unit tests use the same code.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remediad/growbuf.h"
#include "remediad/proto.h"
#include "remediad/utf8.h"

static const char *const role_names[] = {"none", "viewer", "approver",
    "admin"};

const char *
proto_role_name(enum proto_role role)
{
	if ((unsigned)role > ROLE_ADMIN)
		return "?";
	return role_names[role];
}

int
proto_role_parse(const char *name)
{
	for (int i = ROLE_VIEWER; i <= ROLE_ADMIN; i++)
		if (strcmp(name, role_names[i]) == 0)
			return i;
	return -1;
}

void
proto_framer_init(struct proto_framer *f, size_t max)
{
	memset(f, 0, sizeof *f);
	f->max = max;
}

void
proto_framer_free(struct proto_framer *f)
{
	free(f->buf);
	memset(f, 0, sizeof *f);
}

int
proto_framer_feed(struct proto_framer *f, const void *data, size_t len)
{
	/* Drop what was consumed before growing. */
	if (f->start > 0) {
		memmove(f->buf, f->buf + f->start, f->len - f->start);
		f->len -= f->start;
		f->start = 0;
	}
	if (f->len + len + 1 > f->cap) {
		size_t ncap = f->cap ? f->cap : 4096;
		while (ncap < f->len + len + 1)
			ncap *= 2;
		char *nbuf = realloc(f->buf, ncap);
		if (nbuf == NULL) {
			errno = ENOMEM;
			return -1;
		}
		f->buf = nbuf;
		f->cap = ncap;
	}
	memcpy(f->buf + f->len, data, len);
	f->len += len;
	return 0;
}

int
proto_framer_next(struct proto_framer *f, char **line, size_t *len)
{
	size_t avail = f->len - f->start;
	char *p, *nl;

	if (avail == 0)
		return 0;
	p = f->buf + f->start;
	/* A long line comes in many feeds: each byte is searched once. */
	nl = memchr(p + f->scanned, '\n', avail - f->scanned);
	if (nl == NULL) {
		f->scanned = avail;
		return avail > f->max ? -1 : 0;
	}
	if ((size_t)(nl - p) > f->max)
		return -1;
	f->scanned = 0;
	*nl = '\0';
	*line = p;
	*len = (size_t)(nl - p);
	/* Accept CRLF from hand-typed sessions (socat, nc -C). */
	if (*len > 0 && p[*len - 1] == '\r')
		p[--*len] = '\0';
	f->start += (size_t)(nl - p) + 1;
	return 1;
}

size_t
proto_framer_pending(const struct proto_framer *f)
{
	return f->len - f->start;
}

static void
proto_seterr(struct proto_error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
proto_seterr(struct proto_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
}

/* Nesting of containers, so a hostile peer cannot make us recurse later. */
static int
proto_depth(const json_t *v, int depth)
{
	const char *key;
	json_t *sub;
	size_t i;
	int max;

	if (!json_is_object(v) && !json_is_array(v))
		return depth;
	max = ++depth;
	if (depth > PROTO_MAX_DEPTH)
		return depth;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, sub) {
			int d = proto_depth(sub, depth);
			if (d > max)
				max = d;
			if (max > PROTO_MAX_DEPTH)
				break;
		}
	} else {
		json_array_foreach(v, i, sub) {
			int d = proto_depth(sub, depth);
			if (d > max)
				max = d;
			if (max > PROTO_MAX_DEPTH)
				break;
		}
	}
	return max;
}

int
proto_request_parse(const char *line, size_t len, struct proto_request *req,
    struct proto_error *err)
{
	json_error_t jerr;
	json_t *root, *v, *cmd, *args, *id;

	memset(req, 0, sizeof *req);
	req->id = json_null();
	if (len > PROTO_MAX_LINE) {
		proto_seterr(err, PROTO_E_TOO_LARGE,
		    "request of %zu bytes exceeds the limit of %d", len,
		    PROTO_MAX_LINE);
		return -1;
	}
	/* jansson rejects invalid UTF-8 and NUL bytes inside the line. */
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		proto_seterr(err, PROTO_E_BAD_REQUEST, "invalid JSON: %s",
		    jerr.text);
		return -1;
	}
	req->root = root;
	if (!json_is_object(root)) {
		proto_seterr(err, PROTO_E_BAD_REQUEST,
		    "a request must be a JSON object");
		return -1;
	}
	id = json_object_get(root, "id");
	if (id != NULL) {
		if (!json_is_integer(id) && !json_is_string(id)) {
			proto_seterr(err, PROTO_E_BAD_REQUEST,
			    "id must be an integer or a string");
			return -1;
		}
		req->id = id;
	}
	if (proto_depth(root, 0) > PROTO_MAX_DEPTH) {
		proto_seterr(err, PROTO_E_BAD_REQUEST,
		    "request nested deeper than %d levels", PROTO_MAX_DEPTH);
		return -1;
	}
	v = json_object_get(root, "v");
	if (v == NULL) {
		proto_seterr(err, PROTO_E_BAD_REQUEST, "missing v");
		return -1;
	}
	if (!json_is_integer(v) || json_integer_value(v) != PROTO_VERSION) {
		proto_seterr(err, PROTO_E_VERSION,
		    "protocol version %d is the only one supported",
		    PROTO_VERSION);
		return -1;
	}
	cmd = json_object_get(root, "cmd");
	if (cmd == NULL) {
		proto_seterr(err, PROTO_E_BAD_REQUEST, "missing cmd");
		return -1;
	}
	if (!json_is_string(cmd) || json_string_length(cmd) == 0) {
		proto_seterr(err, PROTO_E_BAD_REQUEST,
		    "cmd must be a non-empty string");
		return -1;
	}
	req->cmd = json_string_value(cmd);
	args = json_object_get(root, "args");
	if (args == NULL || json_is_null(args)) {
		args = json_object();
		json_object_set_new(root, "args", args);
	} else if (!json_is_object(args)) {
		proto_seterr(err, PROTO_E_BAD_REQUEST,
		    "args must be a JSON object");
		return -1;
	}
	req->args = args;
	return 0;
}

void
proto_request_clear(struct proto_request *req)
{
	json_decref(req->root);
	memset(req, 0, sizeof *req);
}

json_t *
proto_reply_ok(json_t *id, json_t *data)
{
	return json_pack("{s:i, s:O, s:b, s:o}", "v", PROTO_VERSION, "id",
	    id ? id : json_null(), "ok", 1, "data",
	    data ? data : json_null());
}

json_t *
proto_reply_error(json_t *id, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* Cut mid-character, or echoing a peer's bytes: text again. */
	utf8_repair(msg);
	return json_pack("{s:i, s:O, s:b, s:{s:s, s:s}}", "v", PROTO_VERSION,
	    "id", id ? id : json_null(), "ok", 0, "error", "code", code,
	    "message", msg);
}

json_t *
proto_request_new(json_int_t id, const char *cmd, json_t *args)
{
	return json_pack("{s:i, s:I, s:s, s:o}", "v", PROTO_VERSION, "id", id,
	    "cmd", cmd, "args", args ? args : json_object());
}

struct proto_out {
	char *buf;
	size_t len, cap;
};

static int
proto_out_add(const char *data, size_t n, void *arg)
{
	struct proto_out *o = arg;

	if (n > SIZE_MAX - o->len ||
	    growbuf_reserve(&o->buf, &o->cap, o->len + n, 4096) == -1)
		return -1;
	memcpy(o->buf + o->len, data, n);
	o->len += n;
	return 0;
}

/* One pass of the encoder: replies may be megabytes. */
char *
proto_encode(const json_t *msg, size_t *len)
{
	struct proto_out o = {NULL, 0, 0};

	if (json_dump_callback(msg, proto_out_add, &o, JSON_COMPACT) == -1 ||
	    o.len == 0 || proto_out_add("\n", 1, &o) == -1) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}

json_t *
proto_reply_parse(const char *line, size_t len, struct proto_error *err)
{
	json_error_t jerr;
	json_t *root, *v, *ok, *e;

	root = json_loadb(line, len, 0, &jerr);
	if (root == NULL) {
		proto_seterr(err, PROTO_E_BAD_REQUEST,
		    "invalid JSON in reply: %s", jerr.text);
		return NULL;
	}
	v = json_object_get(root, "v");
	ok = json_object_get(root, "ok");
	if (!json_is_object(root) || !json_is_integer(v) ||
	    json_integer_value(v) != PROTO_VERSION || !json_is_boolean(ok)) {
		proto_seterr(err, PROTO_E_BAD_REQUEST,
		    "reply is not a version %d frame", PROTO_VERSION);
		json_decref(root);
		return NULL;
	}
	if (json_is_true(ok) && json_object_get(root, "data") == NULL) {
		proto_seterr(err, PROTO_E_BAD_REQUEST, "ok reply without data");
		json_decref(root);
		return NULL;
	}
	if (!json_is_true(ok)) {
		e = json_object_get(root, "error");
		if (!json_is_object(e) ||
		    !json_is_string(json_object_get(e, "code")) ||
		    !json_is_string(json_object_get(e, "message"))) {
			proto_seterr(err, PROTO_E_BAD_REQUEST,
			    "error reply without code and message");
			json_decref(root);
			return NULL;
		}
	}
	return root;
}
