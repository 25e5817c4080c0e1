/*
 * The control protocol shared by remediad and remediactl: newline-delimited
 * JSON frames, request validation, reply construction, error codes, roles.
 *
 * Request: {"v":1,"id":7,"cmd":"status","args":{}}
 * Reply:   {"v":1,"id":7,"ok":true,"data":...}
 *          {"v":1,"id":7,"ok":false,"error":{"code":"forbidden","message":...}}
 */
#ifndef REMEDIAD_PROTO_H
#define REMEDIAD_PROTO_H

#include <stddef.h>
#include <jansson.h>

#define PROTO_VERSION	  1
#define PROTO_MAX_LINE	  (1024 * 1024)
#define PROTO_MAX_DEPTH	  32
#define PROTO_DEFAULT_SOCK "/run/remediad/control.sock"

/* Error codes carried in error.code. */
#define PROTO_E_BAD_REQUEST "bad_request"	  /* not JSON, wrong shape */
#define PROTO_E_TOO_LARGE   "too_large"		  /* line over the limit */
#define PROTO_E_VERSION	    "unsupported_version"
#define PROTO_E_UNKNOWN_CMD "unknown_command"
#define PROTO_E_FORBIDDEN   "forbidden"		  /* role too low */
#define PROTO_E_INVALID_ARG "invalid_args"
#define PROTO_E_FAILED	    "failed"		  /* the command failed */
#define PROTO_E_BUSY	    "busy"		  /* too many clients */
#define PROTO_E_UNAVAILABLE "unavailable"	  /* e.g. audit log not writable */
#define PROTO_E_NOT_FOUND   "not_found"
#define PROTO_E_INTERNAL    "internal"

/* Roles, ordered: a role may run every command of the roles below it. */
enum proto_role {
	ROLE_NONE = 0,
	ROLE_VIEWER,
	ROLE_APPROVER,
	ROLE_ADMIN,
};
const char *proto_role_name(enum proto_role role);
/* "viewer", "approver", "admin"; -1 when unknown. */
int proto_role_parse(const char *name);

/*
 * Splits a byte stream into lines without buffering more than one line of
 * at most `max` bytes (plus what one feed brings).
 */
struct proto_framer {
	char *buf;
	size_t start;	/* first unconsumed byte */
	size_t scanned; /* bytes from start known to hold no newline */
	size_t len;	/* bytes held, from buf[0] */
	size_t cap;
	size_t max;
};

void proto_framer_init(struct proto_framer *f, size_t max);
void proto_framer_free(struct proto_framer *f);
/* Appends bytes; -1 (errno ENOMEM) if memory ran out. */
int proto_framer_feed(struct proto_framer *f, const void *data, size_t len);
/*
 * Returns 1 and the next line (without '\n', NUL-terminated, valid until
 * the next feed or next call), 0 when no whole line is buffered, or -1 when
 * the current line is longer than `max` (the stream cannot be resynced).
 */
int proto_framer_next(struct proto_framer *f, char **line, size_t *len);
/* Bytes buffered but not yet returned as a line. */
size_t proto_framer_pending(const struct proto_framer *f);

struct proto_error {
	const char *code;
	char message[256];
};

struct proto_request {
	json_t *root; /* owns everything below */
	json_t *id;   /* borrowed; JSON null when absent */
	const char *cmd;
	json_t *args; /* borrowed; an object, empty when absent */
};

/*
 * Parses and validates one request line: UTF-8 JSON object, v == 1,
 * `cmd` a non-empty string, `id` absent or an integer or string, `args`
 * absent or an object. On failure fills *err (and req->id when it could be
 * read, so the error reply can carry it) and returns -1.
 */
int proto_request_parse(const char *line, size_t len, struct proto_request *req,
    struct proto_error *err);
void proto_request_clear(struct proto_request *req);

/* Builds replies; `data` is stolen (NULL means JSON null). */
json_t *proto_reply_ok(json_t *id, json_t *data);
json_t *proto_reply_error(json_t *id, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Builds a request; `args` is stolen (NULL means {}). */
json_t *proto_request_new(json_int_t id, const char *cmd, json_t *args);

/* Serializes a frame, compact, with the trailing newline; free() it. */
char *proto_encode(const json_t *msg, size_t *len);

/*
 * Parses a reply line: checks v, ok, and the presence of data or error.
 * Returns the reply object (caller owns) or NULL with *err filled.
 */
json_t *proto_reply_parse(const char *line, size_t len, struct proto_error *err);

#endif
