/*
 * The control socket: the one place that accepts local clients, learns who
 * they are from the kernel (SO_PEERCRED), maps them to a role, and
 * dispatches their requests to the command table.
 */
#ifndef REMEDIAD_CONTROL_H
#define REMEDIAD_CONTROL_H

#include <sys/types.h>
#include <jansson.h>

#include "remediad/proto.h"

struct daemon;
struct config;
struct control;
struct control_client;
struct evbuffer;

/* Who is on the other end, as the kernel reported it. */
struct control_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char *user;	/* NULL when the uid has no passwd entry */
	gid_t *groups;	/* primary and supplementary */
	int ngroups;
	char actor[128]; /* "user:alice(uid=1001)" for the audit log */
};

/* One request being answered. The reply may come later (async). */
struct control_req {
	struct control_client *client;
	struct proto_request req;
	const struct control_peer *peer;
	enum proto_role role;
	struct daemon *d;
	uint64_t audit_seq; /* the reply waits until this record is durable */
	json_t *held;	    /* a reply waiting for durability */
	struct evbuffer *held_raw; /* the same, already encoded */
	void (*stream_closed)(void *arg);
	void *stream_arg;
};

typedef void (*control_handler)(struct daemon *d, struct control_req *r);

enum {
	/*
	 * The command changes state: it is audited as control.command before
	 * it runs, refused while the audit log is not writable, and its reply
	 * waits until the record is durable.
	 */
	CMD_CHANGES_STATE = 1,
};

struct control_cmd {
	const char *name;
	enum proto_role min_role;
	control_handler handler;
	int flags;
};

/* The command table, one row per command (commands.c). */
extern const struct control_cmd control_commands[];

struct control *control_open(struct daemon *d, char **cause);
void control_close(struct control *ctl);
/* Number of connected clients. */
int control_clients(const struct control *ctl);

/* Answers a request; exactly one of these per request. `data` is stolen. */
void control_reply_ok(struct control_req *r, json_t *data);
void control_reply_error(struct control_req *r, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * control_reply_ok() for data already encoded as compact JSON text, for
 * lists too long to build as jansson values on every request: the bytes
 * are moved out of `data` (which the caller still frees).
 */
void control_reply_ok_raw(struct control_req *r, struct evbuffer *data);

/* A handler that wrote more records makes its reply wait for them too. */
void control_req_audited(struct control_req *r, uint64_t seq);

/*
 * Streams: the reply `first` is sent, then control_stream_send() frames
 * ({"v":1,"id":..,"ok":true,"stream":true,"data":..}) until the owner ends
 * the stream or the client goes away, when closed(arg) is called and the
 * request freed. A streaming connection takes no further requests and has
 * no idle timeout.
 */
void control_stream_begin(struct control_req *r, json_t *first,
    void (*closed)(void *arg), void *arg);
/* -1 when the client cannot keep up (it is then disconnected). */
int control_stream_send(struct control_req *r, json_t *data);
void control_stream_end(struct control_req *r);

/* The role the config gives this peer. */
enum proto_role control_peer_role(const struct config *cfg,
    const struct control_peer *peer);

#endif
