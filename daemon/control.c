/*
 * The control socket server: accepts local clients, reads their identity
 * from the kernel, frames their requests, checks each one against the role
 * the config gives the peer, and dispatches it to the command table. One
 * request per client is answered at a time, in order; a handler may answer
 * later (after an audit record is durable), and the client is kept alive
 * by a reference until it does.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "remediad/audit.h"
#include "remediad/config.h"
#include "remediad/control.h"
#include "remediad/daemon.h"
#include "remediad/log.h"

#define CONTROL_READ_CHUNK 65536
/* A client that does not read its replies is cut off past this. */
#define CONTROL_MAX_OUTPUT (8 * 1024 * 1024)
/*
 * Bytes written per wakeup: libevent's default (16 KiB) takes a hundred
 * turns of the loop for a reply of megabytes; a write never copies more
 * than the socket buffer takes anyway.
 */
#define CONTROL_WRITE_CHUNK (256 * 1024)

struct control_client {
	struct control *ctl;
	struct bufferevent *bev; /* NULL once the connection is gone */
	struct event *ev_resume; /* processes buffered lines after a reply */
	struct proto_framer framer;
	struct control_peer peer;
	int refs;
	int busy;    /* a request is being answered */
	int closing; /* close once the output is flushed */
	int eof;     /* the peer has shut down its side */
	struct control_req *stream; /* the connection is a stream */
	TAILQ_ENTRY(control_client) entry;
};

TAILQ_HEAD(control_clients, control_client);

struct control {
	struct daemon *d;
	struct evconnlistener *listener;
	char *path;
	dev_t dev; /* of the socket we bound, to unlink only our own */
	ino_t ino;
	struct control_clients clients;
	int nclients;
};

static void control_client_process(struct control_client *c);
static void control_client_close(struct control_client *c);

/* ---- Peer identity and roles ------------------------------------------ */

static void
control_peer_fill(struct control_peer *peer, int fd)
{
	struct ucred uc;
	socklen_t len = sizeof uc;
	struct passwd pw, *pwp = NULL;
	char buf[4096];

	memset(peer, 0, sizeof *peer);
	peer->uid = (uid_t)-1;
	peer->gid = (gid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1) {
		log_warn("%s: SO_PEERCRED", __func__);
		snprintf(peer->actor, sizeof peer->actor, "unknown");
		return;
	}
	peer->pid = uc.pid;
	peer->uid = uc.uid;
	peer->gid = uc.gid;
	if (getpwuid_r(uc.uid, &pw, buf, sizeof buf, &pwp) == 0 &&
	    pwp != NULL) {
		peer->user = strdup(pw.pw_name);
		int n = 32;
		peer->groups = calloc((size_t)n, sizeof(gid_t));
		if (peer->groups != NULL &&
		    getgrouplist(pw.pw_name, uc.gid, peer->groups, &n) == -1) {
			gid_t *ng = realloc(peer->groups, (size_t)n * sizeof(gid_t));
			if (ng != NULL) {
				peer->groups = ng;
				if (getgrouplist(pw.pw_name, uc.gid, ng, &n) == -1)
					n = 0;
			} else
				n = 0;
		}
		peer->ngroups = peer->groups ? n : 0;
	}
	if (peer->groups == NULL) {
		peer->groups = calloc(1, sizeof(gid_t));
		if (peer->groups != NULL) {
			peer->groups[0] = uc.gid;
			peer->ngroups = 1;
		}
	}
	if (peer->user != NULL)
		snprintf(peer->actor, sizeof peer->actor, "user:%s(uid=%u)",
		    peer->user, (unsigned)uc.uid);
	else
		snprintf(peer->actor, sizeof peer->actor, "uid:%u",
		    (unsigned)uc.uid);
}

static int
control_peer_in_group(const struct control_peer *peer, const char *name)
{
	struct group gr, *grp = NULL;
	char buf[8192];

	if (getgrnam_r(name, &gr, buf, sizeof buf, &grp) != 0 || grp == NULL)
		return 0;
	for (int i = 0; i < peer->ngroups; i++)
		if (peer->groups[i] == grp->gr_gid)
			return 1;
	return peer->gid == grp->gr_gid;
}

enum proto_role
control_peer_role(const struct config *cfg, const struct control_peer *peer)
{
	int role = -1;

	for (size_t i = 0; i < cfg->control.nrules; i++) {
		const struct role_rule *rule = &cfg->control.rules[i];
		int match = 0;

		switch (rule->kind) {
		case RULE_UID:
			match = peer->uid == rule->uid;
			break;
		case RULE_USER:
			match = peer->user != NULL &&
			    strcmp(peer->user, rule->name) == 0;
			break;
		case RULE_GROUP:
			match = control_peer_in_group(peer, rule->name);
			break;
		}
		if (match && (int)rule->role > role)
			role = (int)rule->role;
	}
	if (role != -1)
		return (enum proto_role)role;
	/* Root is admin unless a rule above said otherwise. */
	if (peer->uid == 0)
		return ROLE_ADMIN;
	return (enum proto_role)cfg->control.default_role;
}

/* ---- Replies ----------------------------------------------------------- */

/* Room for len more bytes of output, or the client is cut off. */
static int
control_client_room(struct control_client *c, size_t len)
{
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) + len <=
	    CONTROL_MAX_OUTPUT)
		return 1;
	log_warnx("control: %s does not read its replies; closing",
	    c->peer.actor);
	control_client_close(c);
	return 0;
}

static void
control_client_send(struct control_client *c, json_t *msg)
{
	size_t len;
	char *buf;

	if (c->bev == NULL || msg == NULL) {
		json_decref(msg);
		return;
	}
	buf = proto_encode(msg, &len);
	json_decref(msg);
	if (buf == NULL) {
		log_warnx("%s: cannot encode a reply", __func__);
		control_client_close(c);
		return;
	}
	if (control_client_room(c, len))
		bufferevent_write(c->bev, buf, len);
	free(buf);
}

/* An encoded frame: its bytes are moved to the output. */
static void
control_client_send_frame(struct control_client *c, struct evbuffer *frame)
{
	if (c->bev != NULL && control_client_room(c,
	    evbuffer_get_length(frame)))
		bufferevent_write_buffer(c->bev, frame);
}

static void
control_client_unref(struct control_client *c)
{
	if (--c->refs > 0)
		return;
	event_free(c->ev_resume);
	proto_framer_free(&c->framer);
	free(c->peer.user);
	free(c->peer.groups);
	free(c);
}

/* Ends a request: frees it and lets the client read its next one. */
static void
control_req_done(struct control_req *r)
{
	struct control_client *c = r->client;

	proto_request_clear(&r->req);
	free(r);
	c->busy = 0;
	if (c->bev != NULL)
		event_active(c->ev_resume, EV_WRITE, 0);
	control_client_unref(c);
}

static void
control_req_durable_cb(void *arg, int ok)
{
	struct control_req *r = arg;
	json_t *msg = r->held;
	struct evbuffer *frame = r->held_raw;

	r->held = NULL;
	r->held_raw = NULL;
	if (!ok) {
		json_decref(msg);
		if (frame != NULL)
			evbuffer_free(frame);
		frame = NULL;
		r->d->counters.control_errors++;
		msg = proto_reply_error(r->req.id, PROTO_E_UNAVAILABLE,
		    "the audit record of this command could not be written");
	}
	if (frame != NULL) {
		control_client_send_frame(r->client, frame);
		evbuffer_free(frame);
	} else
		control_client_send(r->client, msg);
	control_req_done(r);
}

/*
 * Sends a reply (msg, or the encoded frame) once everything the request
 * wrote to the log is durable.
 */
static void
control_req_reply(struct control_req *r, json_t *msg, struct evbuffer *frame)
{
	if (r->audit_seq != 0 && r->d->audit != NULL &&
	    r->audit_seq > audit_durable_seq(r->d->audit)) {
		r->held = msg;
		r->held_raw = frame;
		audit_when_durable(r->d->audit, r->audit_seq,
		    control_req_durable_cb, r);
		return;
	}
	if (frame != NULL) {
		control_client_send_frame(r->client, frame);
		evbuffer_free(frame);
	} else
		control_client_send(r->client, msg);
	control_req_done(r);
}

void
control_req_audited(struct control_req *r, uint64_t seq)
{
	if (seq > r->audit_seq)
		r->audit_seq = seq;
}

void
control_reply_ok(struct control_req *r, json_t *data)
{
	control_req_reply(r, proto_reply_ok(r->req.id, data), NULL);
}

/*
 * The frame of an ok reply around data already encoded: the frame of a
 * null data, cut where the null is, so that both kinds of reply are
 * framed by proto_encode() alike.
 */
static struct evbuffer *
control_frame_raw(json_t *id, struct evbuffer *data)
{
	static const char null_end[] = "null}\n";
	const size_t nl = sizeof null_end - 1;
	json_t *msg = proto_reply_ok(id, NULL);
	struct evbuffer *frame;
	size_t len;
	char *buf = proto_encode(msg, &len);

	json_decref(msg);
	if (buf == NULL || len <= nl ||
	    memcmp(buf + len - nl, null_end, nl) != 0) {
		free(buf);
		return NULL;
	}
	frame = evbuffer_new();
	if (frame != NULL && (evbuffer_add(frame, buf, len - nl) == -1 ||
	    evbuffer_add_buffer(frame, data) == -1 ||
	    evbuffer_add(frame, "}\n", 2) == -1)) {
		evbuffer_free(frame);
		frame = NULL;
	}
	free(buf);
	return frame;
}

void
control_reply_ok_raw(struct control_req *r, struct evbuffer *data)
{
	struct evbuffer *frame = control_frame_raw(r->req.id, data);

	if (frame == NULL) {
		log_warnx("%s: cannot frame a reply", __func__);
		control_reply_error(r, PROTO_E_INTERNAL, "out of memory");
		return;
	}
	control_req_reply(r, NULL, frame);
}

void
control_reply_error(struct control_req *r, const char *code, const char *fmt,
    ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->d->counters.control_errors++;
	control_req_reply(r, proto_reply_error(r->req.id, code, "%s", msg),
	    NULL);
}

void
control_stream_begin(struct control_req *r, json_t *first,
    void (*closed)(void *arg), void *arg)
{
	struct control_client *c = r->client;

	r->stream_closed = closed;
	r->stream_arg = arg;
	if (c->bev == NULL) {
		/* The client left while the first reply was being made. */
		json_decref(first);
		closed(arg);
		control_req_done(r);
		return;
	}
	c->stream = r;
	control_client_send(c, proto_reply_ok(r->req.id, first));
	if (c->bev != NULL) {
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		bufferevent_enable(c->bev, EV_READ); /* to see the EOF */
	}
}

int
control_stream_send(struct control_req *r, json_t *data)
{
	struct control_client *c = r->client;
	json_t *msg;

	if (c->bev == NULL) {
		json_decref(data);
		return -1;
	}
	msg = proto_reply_ok(r->req.id, data);
	json_object_set_new(msg, "stream", json_true());
	control_client_send(c, msg);
	return c->bev == NULL ? -1 : 0;
}

/* Frees a stream's request; the client goes back to taking requests. */
static void
control_stream_free(struct control_req *r)
{
	r->client->stream = NULL;
	control_req_done(r);
}

void
control_stream_end(struct control_req *r)
{
	control_stream_free(r);
}

/* ---- Dispatch ---------------------------------------------------------- */

static const struct control_cmd *
control_find(const char *name)
{
	for (const struct control_cmd *cmd = control_commands;
	     cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

static void
control_dispatch(struct control_client *c, const char *line, size_t len)
{
	struct daemon *d = c->ctl->d;
	struct proto_error err;
	const struct control_cmd *cmd;
	struct control_req *r;

	d->counters.control_requests++;
	r = calloc(1, sizeof *r);
	if (r == NULL) {
		control_client_send(c, proto_reply_error(NULL, PROTO_E_INTERNAL,
		    "out of memory"));
		return;
	}
	r->client = c;
	r->peer = &c->peer;
	r->d = d;
	c->refs++;
	c->busy = 1;
	if (proto_request_parse(line, len, &r->req, &err) == -1) {
		control_reply_error(r, err.code, "%s", err.message);
		return;
	}
	cmd = control_find(r->req.cmd);
	if (cmd == NULL) {
		control_reply_error(r, PROTO_E_UNKNOWN_CMD,
		    "unknown command \"%.64s\"", r->req.cmd);
		return;
	}
	r->role = control_peer_role(d->cfg, &c->peer);
	if (r->role < cmd->min_role) {
		log_notice("control: %s (role %s) refused %s, which needs %s",
		    c->peer.actor, proto_role_name(r->role), cmd->name,
		    proto_role_name(cmd->min_role));
		control_reply_error(r, PROTO_E_FORBIDDEN,
		    "%s needs the %s role; %s has %s", cmd->name,
		    proto_role_name(cmd->min_role), c->peer.actor,
		    proto_role_name(r->role));
		return;
	}
	log_debug("control: %s: %s", c->peer.actor, cmd->name);
	if (cmd->flags & CMD_CHANGES_STATE) {
		const char *why = "the audit log is not open";
		uint64_t seq = 0;

		if (d->audit != NULL)
			seq = audit_append(d->audit, "control.command",
			    c->peer.actor, json_pack("{s:s, s:O, s:i}",
				"command", cmd->name, "args", r->req.args,
				"pid", (int)c->peer.pid), &why);
		if (seq == 0) {
			log_warnx("control: %s refused for %s: %s", cmd->name,
			    c->peer.actor, why);
			control_reply_error(r, PROTO_E_UNAVAILABLE,
			    "%s is refused: %s", cmd->name, why);
			return;
		}
		r->audit_seq = seq;
	}
	cmd->handler(d, r);
}

/* Pulls buffered input into the framer, in bounded chunks. */
static int
control_client_fill(struct control_client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	char chunk[CONTROL_READ_CHUNK];
	int n;

	n = evbuffer_remove(in, chunk, sizeof chunk);
	if (n <= 0)
		return 0;
	if (proto_framer_feed(&c->framer, chunk, (size_t)n) == -1) {
		log_warnx("control: out of memory reading from %s",
		    c->peer.actor);
		control_client_close(c);
		return 0;
	}
	return 1;
}

static void
control_client_process(struct control_client *c)
{
	char *line;
	size_t len;
	int r;

	if (c->bev == NULL)
		return;
	if (c->stream != NULL) {
		/* A stream takes no requests: its input is only watched for EOF. */
		struct evbuffer *in = bufferevent_get_input(c->bev);
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	c->refs++;
	while (c->bev != NULL && !c->busy && !c->closing) {
		r = proto_framer_next(&c->framer, &line, &len);
		if (r == 1) {
			if (len > 0)
				control_dispatch(c, line, len);
			continue;
		}
		if (r == -1) {
			c->ctl->d->counters.control_errors++;
			control_client_send(c, proto_reply_error(NULL,
			    PROTO_E_TOO_LARGE,
			    "request line longer than %d bytes; closing",
			    PROTO_MAX_LINE));
			c->closing = 1;
			break;
		}
		if (control_client_fill(c))
			continue;
		/* A last line without a newline still counts at EOF. */
		if (c->eof && proto_framer_pending(&c->framer) > 0) {
			proto_framer_feed(&c->framer, "\n", 1);
			continue;
		}
		if (c->eof)
			c->closing = 1;
		break;
	}
	if (c->bev != NULL) {
		if (c->busy || c->closing)
			bufferevent_disable(c->bev, EV_READ);
		else if (!c->eof)
			bufferevent_enable(c->bev, EV_READ);
		if (c->closing &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			control_client_close(c);
	}
	control_client_unref(c);
}

/* ---- Connections ------------------------------------------------------- */

static void
control_client_close(struct control_client *c)
{
	if (c->bev == NULL)
		return;
	bufferevent_free(c->bev);
	c->bev = NULL;
	if (c->stream != NULL) {
		struct control_req *r = c->stream;
		r->stream_closed(r->stream_arg);
		control_stream_free(r);
	}
	event_del(c->ev_resume);
	TAILQ_REMOVE(&c->ctl->clients, c, entry);
	c->ctl->nclients--;
	log_debug("control: %s disconnected", c->peer.actor);
	control_client_unref(c);
}

static void
control_read_cb(struct bufferevent *bev, void *arg)
{
	control_client_process(arg);
}

static void
control_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *c = arg;

	/* Called once the output drained: finish a pending close. */
	if (c->closing && !c->busy)
		control_client_close(c);
}

static void
control_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_client *c = arg;

	if ((what & BEV_EVENT_EOF) && c->stream == NULL) {
		/* Answer what was sent before the shutdown, then close. */
		c->eof = 1;
		control_client_process(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_info("control: %s idle too long; closing", c->peer.actor);
	control_client_close(c);
}

static void
control_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	control_client_process(arg);
}

static void
control_reject(int fd, const char *code, const char *msg)
{
	json_t *reply = proto_reply_error(NULL, code, "%s", msg);
	size_t len;
	char *buf = proto_encode(reply, &len);

	json_decref(reply);
	/* Best effort: a short line fits in an empty socket buffer. */
	if (buf != NULL && send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("%s: send: %s", __func__, strerror(errno));
	free(buf);
	close(fd);
}

static void
control_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control *ctl = arg;
	struct daemon *d = ctl->d;
	struct control_client *c;
	struct timeval idle;

	d->counters.control_connections++;
	if (ctl->nclients >= d->cfg->control.max_clients) {
		d->counters.control_rejected++;
		log_warnx("control: %d clients connected; refusing another",
		    ctl->nclients);
		control_reject(fd, PROTO_E_BUSY, "too many clients connected");
		return;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		close(fd);
		return;
	}
	c->ctl = ctl;
	c->refs = 1; /* held by the connection */
	control_peer_fill(&c->peer, fd);
	proto_framer_init(&c->framer, PROTO_MAX_LINE);
	c->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->ev_resume = event_new(d->base, -1, 0, control_resume_cb, c);
	if (c->bev == NULL || c->ev_resume == NULL) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			close(fd);
		c->bev = NULL;
		control_client_unref(c);
		return;
	}
	TAILQ_INSERT_TAIL(&ctl->clients, c, entry);
	ctl->nclients++;
	bufferevent_setcb(c->bev, control_read_cb, control_write_cb,
	    control_event_cb, c);
	bufferevent_set_max_single_write(c->bev, CONTROL_WRITE_CHUNK);
	idle.tv_sec = (time_t)(d->cfg->control.idle_timeout_ms / 1000);
	idle.tv_usec = (suseconds_t)(d->cfg->control.idle_timeout_ms % 1000) *
	    1000;
	bufferevent_set_timeouts(c->bev, &idle, NULL);
	bufferevent_enable(c->bev, EV_READ);
	log_debug("control: %s connected (pid %d)", c->peer.actor,
	    (int)c->peer.pid);
}

static void
control_listener_error_cb(struct evconnlistener *l, void *arg)
{
	/* EMFILE and friends: keep serving those connected, retry later. */
	log_warn("control: accept");
}

/*
 * A socket file left by a crashed run is replaced; one a live daemon still
 * answers on is not.
 */
static int
control_check_stale(const char *path, char **cause)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, r;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		if (asprintf(cause, "%s exists and is not a socket", path) == -1)
			*cause = NULL;
		return -1;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	r = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	close(fd);
	if (r == 0) {
		if (asprintf(cause, "%s is in use by a running daemon", path) ==
		    -1)
			*cause = NULL;
		return -1;
	}
	log_notice("control: replacing stale socket %s", path);
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

struct control *
control_open(struct daemon *d, char **cause)
{
	const struct config *cfg = d->cfg;
	struct sockaddr_un sun;
	struct control *ctl;
	struct stat st;
	mode_t old;
	int fd;

	*cause = NULL;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(cfg->control.socket) >= sizeof sun.sun_path) {
		if (asprintf(cause, "%s: path too long", cfg->control.socket) == -1)
			*cause = NULL;
		return NULL;
	}
	strcpy(sun.sun_path, cfg->control.socket);

	ctl = calloc(1, sizeof *ctl);
	if (ctl == NULL)
		return NULL;
	ctl->d = d;
	TAILQ_INIT(&ctl->clients);
	ctl->path = strdup(cfg->control.socket);

	/* The parent directory: /run/remediad when not made by systemd. */
	char *dir = strdup(cfg->control.socket);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) == -1 && errno != EEXIST)
			log_warn("control: mkdir %s", dir);
	}
	free(dir);

	if (control_check_stale(ctl->path, cause) == -1)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	/* Created with its final mode: no window where others may connect. */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		umask(old);
		close(fd);
		goto fail;
	}
	umask(old);
	if (chmod(ctl->path, 0660) == -1)
		log_warn("control: chmod %s", ctl->path);
	if (cfg->control.group != NULL) {
		struct group *gr = getgrnam(cfg->control.group);
		if (gr == NULL || chown(ctl->path, (uid_t)-1, gr->gr_gid) == -1)
			log_warn("control: cannot give %s to group %s",
			    ctl->path, cfg->control.group);
	}
	if (stat(ctl->path, &st) == 0) {
		ctl->dev = st.st_dev;
		ctl->ino = st.st_ino;
	}
	ctl->listener = evconnlistener_new(d->base, control_accept_cb, ctl,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64, fd);
	if (ctl->listener == NULL) {
		close(fd);
		unlink(ctl->path);
		goto fail;
	}
	evconnlistener_set_error_cb(ctl->listener, control_listener_error_cb);
	log_info("control: listening on %s", ctl->path);
	return ctl;
fail:
	if (*cause == NULL &&
	    asprintf(cause, "%s: %s", ctl->path, strerror(errno)) == -1)
		*cause = NULL;
	free(ctl->path);
	free(ctl);
	return NULL;
}

void
control_close(struct control *ctl)
{
	struct control_client *c;
	struct stat st;

	if (ctl == NULL)
		return;
	while ((c = TAILQ_FIRST(&ctl->clients)) != NULL)
		control_client_close(c);
	evconnlistener_free(ctl->listener);
	/* Remove the socket only if it is still the one we made. */
	if (stat(ctl->path, &st) == 0 && st.st_dev == ctl->dev &&
	    st.st_ino == ctl->ino)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}

int
control_clients(const struct control *ctl)
{
	return ctl->nclients;
}
