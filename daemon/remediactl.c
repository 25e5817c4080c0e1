/*
 * remediactl: the operator's tool. Finds the command in a table by unique
 * prefixes of its words, builds the request, sends it over the control
 * socket, and prints the reply for people (tables) or scripts (--json).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "remediad/json_scan.h"
#include "remediad/proto.h"
#include "ctl.h"

static const struct ctl_command commands[] = {
    {"status", "", "show the daemon's version, uptime, pid and counters",
	ROLE_VIEWER, "status", NULL, ctl_show_status, NULL, NULL, NULL},
    {"ping", "", "check that the daemon answers", ROLE_NONE, "ping", NULL,
	ctl_show_kv, NULL, NULL, NULL},
    {"reload", "", "reload the config and the playbooks (a bad config or "
	"playbook set is refused whole)", ROLE_ADMIN, "reload", NULL,
	ctl_show_kv, NULL, NULL, NULL},
    {"playbooks", "", "the loaded playbooks with their counters and run "
	"times", ROLE_VIEWER, "playbooks", NULL, ctl_show_playbooks, NULL,
	NULL, NULL},
    {"mitigations", "", "active mitigations: id, action, target, since, "
	"expires, playbook, alert", ROLE_VIEWER, "mitigations", NULL,
	ctl_show_mitigations, NULL, NULL, NULL},
    {"rollback", "ID", "roll an active mitigation back now", ROLE_APPROVER,
	"rollback", ctl_rollback_parse, ctl_show_kv, NULL, NULL, NULL},
    {"extend", "ID DURATION", "push an active mitigation's expiry later",
	ROLE_APPROVER, "extend", ctl_extend_parse, ctl_show_kv, NULL, NULL,
	NULL},
    {"show", "ID", "an action or mitigation: its state, its alert, its "
	"plan and its history from the audit log", ROLE_VIEWER, "show",
	ctl_show_parse,
	ctl_show_action, NULL, NULL, NULL},
    {"pause", "", "the kill switch: hold every new action for approval",
	ROLE_APPROVER, "pause", NULL, ctl_show_kv, NULL, NULL, NULL},
    {"resume", "", "let the guard run actions automatically again",
	ROLE_APPROVER, "resume", NULL, ctl_show_kv, NULL, NULL, NULL},
    {"dry-run", "on|off", "record actions as if they ran; change nothing",
	ROLE_ADMIN, "dry-run", ctl_dry_run_parse, ctl_show_kv, NULL, NULL,
	NULL},
    {"approvals", "", "pending approvals, oldest first", ROLE_VIEWER,
	"approvals", NULL, ctl_show_approvals, NULL, NULL,
	ctl_scan_approvals},
    {"approve", "ID [-m TEXT]", "approve a held request", ROLE_APPROVER,
	"approve", ctl_approve_parse, ctl_show_kv, NULL, NULL, NULL},
    {"deny", "ID -m TEXT", "deny a held request (a reason is required)",
	ROLE_APPROVER, "deny", ctl_deny_parse, ctl_show_kv, NULL, NULL, NULL},
    {"run", "ACTION key=value... -m TEXT", "request an action by hand, "
	"through the guard and approvals", ROLE_ADMIN, "run", ctl_run_parse,
	ctl_show_kv, NULL, NULL, NULL},
    {"watch", "", "stream approvals, guard decisions and action outcomes as "
	"they happen, one line each", ROLE_VIEWER, "audit.tail",
	ctl_watch_parse, ctl_audit_records_show, NULL, NULL, NULL},
    {"audit verify", "[DIR] [--anchor SEQ:HASH]",
	"check the audit chain (offline on DIR, else online)",
	ROLE_VIEWER, "audit.verify", ctl_audit_verify_parse,
	ctl_audit_verify_show, ctl_audit_verify_status,
	ctl_audit_verify_local, NULL},
    {"audit tail", "[-n N] [-f]",
	"the last N audit records (default 20); -f follows",
	ROLE_VIEWER, "audit.tail", ctl_audit_tail_parse,
	ctl_audit_records_show, NULL, NULL, NULL},
    {"audit search", "KEY=VALUE... [-n N]",
	"audit records whose fields match (type=..., alert=...)",
	ROLE_VIEWER, "audit.search", ctl_audit_search_parse,
	ctl_audit_records_show, NULL, NULL, NULL},
    {NULL, NULL, NULL, ROLE_NONE, NULL, NULL, NULL, NULL, NULL, NULL},
};

static void
usage(FILE *out)
{
	const struct ctl_command *c;
	size_t width = 0;
	char left[128];

	fprintf(out,
	    "usage: remediactl [-s SOCKET] [--json] [-t SECONDS] COMMAND [ARGS]\n"
	    "\n"
	    "  -s, --socket PATH   control socket (default $REMEDIAD_SOCKET or\n"
	    "                      " PROTO_DEFAULT_SOCK ")\n"
	    "  -j, --json          print the daemon's data as JSON\n"
	    "  -t, --timeout SECS  how long to wait for a reply (default 30)\n"
	    "  -h, --help          this help\n"
	    "\n"
	    "Commands (any unique prefix of each word works):\n");
	for (c = commands; c->words != NULL; c++) {
		snprintf(left, sizeof left, "%s%s%s", c->words,
		    *c->synopsis ? " " : "", c->synopsis);
		if (strlen(left) > width)
			width = strlen(left);
	}
	for (c = commands; c->words != NULL; c++) {
		snprintf(left, sizeof left, "%s%s%s", c->words,
		    *c->synopsis ? " " : "", c->synopsis);
		fprintf(out, "  %-*s  %s (%s)\n", (int)width, left, c->help,
		    c->role == ROLE_NONE ? "anyone" : proto_role_name(c->role));
	}
	fprintf(out,
	    "\n"
	    "Exit status: 0 done, 1 refused or failed, 2 usage error,\n"
	    "3 the daemon is unreachable.\n");
}

/*
 * Matches argv against the command words: each word may be abbreviated to
 * a unique prefix. Returns the command and the number of words it used, or
 * NULL after printing the commands the words could have meant.
 */
static const struct ctl_command *
ctl_match(int argc, char **argv, int *used)
{
	const struct ctl_command *c, *exact = NULL, *found = NULL;
	const struct ctl_command *cand[64];
	int nfound = 0, nexact = 0, ncand = 0, nwords = 0;

	for (c = commands; c->words != NULL; c++) {
		char words[128], *save = NULL, *w;
		int i = 0, ok = 1, isexact = 1;

		snprintf(words, sizeof words, "%s", c->words);
		for (w = strtok_r(words, " ", &save); w != NULL;
		     w = strtok_r(NULL, " ", &save), i++) {
			if (i >= argc) {
				ok = -1; /* the words given are a prefix */
				break;
			}
			if (argv[i][0] == '\0' ||
			    strncmp(w, argv[i], strlen(argv[i])) != 0) {
				ok = 0;
				break;
			}
			if (strcmp(w, argv[i]) != 0)
				isexact = 0;
		}
		if (ok == 0)
			continue;
		if (ncand < 64)
			cand[ncand++] = c;
		if (ok == -1)
			continue;
		nfound++;
		found = c;
		nwords = i;
		if (isexact) {
			nexact++;
			exact = c;
			*used = i;
		}
	}
	if (nexact == 1)
		return exact;
	if (nfound == 1) {
		*used = nwords;
		return found;
	}
	if (ncand == 0) {
		/* Name the words that failed: "audit x", not "audit". */
		int known = 0;
		for (c = commands; c->words != NULL; c++)
			if (strncmp(c->words, argv[0], strlen(argv[0])) == 0)
				known = 1;
		fprintf(stderr, "remediactl: unknown command \"%s%s%s\"; "
				"valid: ", argv[0], known && argc > 1 ? " " : "",
		    known && argc > 1 ? argv[1] : "");
		for (c = commands; c->words != NULL; c++)
			fprintf(stderr, "%s%s", c == commands ? "" : ", ",
			    c->words);
	} else {
		fprintf(stderr, "remediactl: \"%s%s\" is %s; one of: ",
		    argv[0], argc > 1 ? " ..." : "",
		    nfound > 1 ? "ambiguous" : "incomplete");
		for (int i = 0; i < ncand; i++)
			fprintf(stderr, "%s%s", i ? ", " : "", cand[i]->words);
	}
	fprintf(stderr, "\n");
	return NULL;
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int
ctl_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Reads the next line within timeout_s (0: wait as long as it takes):
 * returns 1 and the line (valid until the next read), or 0 with *err
 * (code "eof" when the daemon closed the connection between frames).
 */
static int
ctl_read_line(int fd, struct proto_framer *f, int timeout_s, char **line,
    size_t *len, struct proto_error *err)
{
	char chunk[65536];
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int r = proto_framer_next(f, line, len);
		if (r == 1)
			return 1;
		if (r == -1) {
			err->code = PROTO_E_TOO_LARGE;
			snprintf(err->message, sizeof err->message,
			    "reply too large");
			return 0;
		}
		int wait = -1;
		if (timeout_s > 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long left = (long)timeout_s * 1000 -
			    ((now.tv_sec - start.tv_sec) * 1000 +
				(now.tv_nsec - start.tv_nsec) / 1000000);
			if (left <= 0) {
				err->code = "timeout";
				snprintf(err->message, sizeof err->message,
				    "no reply within %d s", timeout_s);
				return 0;
			}
			wait = (int)left;
		}
		struct pollfd pfd = {fd, POLLIN, 0};
		int pr = poll(&pfd, 1, wait);
		if (pr <= 0)
			continue;
		ssize_t n = recv(fd, chunk, sizeof chunk, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			err->code = proto_framer_pending(f) ? "disconnected"
							    : "eof";
			snprintf(err->message, sizeof err->message,
			    "the daemon closed the connection without a reply");
			return 0;
		}
		if (proto_framer_feed(f, chunk, (size_t)n) == -1) {
			err->code = PROTO_E_INTERNAL;
			snprintf(err->message, sizeof err->message,
			    "out of memory");
			return 0;
		}
	}
}

/* The next frame, parsed; NULL with *err as ctl_read_line() says. */
static json_t *
ctl_read_frame(int fd, struct proto_framer *f, int timeout_s,
    struct proto_error *err)
{
	char *line;
	size_t len;

	if (!ctl_read_line(fd, f, timeout_s, &line, &len, err))
		return NULL;
	return proto_reply_parse(line, len, err);
}

/*
 * A long list for people is printed from the scanner's values, without a
 * jansson value (and a malloc) per field: when the command can (show_scan)
 * and the reply is a plain {"v":1,"ok":true,"data":...}. Returns 0 once
 * printed; -1 leaves the line as it was to the usual path, which reports
 * errors and anything unusual as always.
 */
static int
ctl_print_scan(const struct ctl_command *cmd, const struct ctl_options *opt,
    const char *line, size_t len)
{
	struct jscan js = {0};
	struct jscan_error jerr;
	const struct jscan_value *root, *v;
	int rc = -1;

	if (opt->json || opt->stream || cmd->show_scan == NULL ||
	    cmd->status != NULL)
		return -1;
	if (jscan_parse(&js, line, len, PROTO_MAX_DEPTH, &jerr) == 0) {
		root = jscan_root(&js);
		v = jscan_get(&js, root, "v", 1);
		if (jscan_is(v, JSCAN_INTEGER) && v->u.i == PROTO_VERSION &&
		    jscan_is(jscan_get(&js, root, "ok", 2), JSCAN_TRUE) &&
		    (v = jscan_get(&js, root, "data", 4)) != NULL)
			rc = cmd->show_scan(stdout, &js, v);
	}
	jscan_free(&js);
	if (rc == 0)
		fflush(stdout);
	return rc;
}

static void
ctl_print_data(const struct ctl_command *cmd, const struct ctl_options *opt,
    const json_t *data)
{
	if (opt->json) {
		/* Streams print one compact document per line. */
		char *s = json_dumps(data, JSON_ENCODE_ANY |
		    (opt->stream ? JSON_COMPACT : JSON_INDENT(2)));
		printf("%s\n", s ? s : "null");
		free(s);
	} else if (cmd->show != NULL)
		cmd->show(stdout, data);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct ctl_options opt = {NULL, 0, 30, 0};
	struct proto_framer framer;
	const struct ctl_command *cmd;
	struct proto_error err = {0};
	json_t *args, *req, *reply;
	char *buf, *end, *line;
	size_t len;
	int ch, used, fd, rc;

	opt.socket = getenv("REMEDIAD_SOCKET");
	if (opt.socket == NULL || *opt.socket == '\0')
		opt.socket = PROTO_DEFAULT_SOCK;
	/* "+": options end at the command, whose own flags follow it. */
	while ((ch = getopt_long(argc, argv, "+s:jt:hV", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 's':
			opt.socket = optarg;
			break;
		case 'j':
			opt.json = 1;
			break;
		case 't':
			opt.timeout_s = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || opt.timeout_s <= 0 ||
			    opt.timeout_s > 86400) {
				fprintf(stderr, "remediactl: bad timeout "
						"\"%s\"\n", optarg);
				return CTL_EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("remediactl %s\n", REMEDIAD_VERSION);
			return CTL_EXIT_OK;
		default:
			usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0) {
		usage(stdout);
		return CTL_EXIT_OK;
	}
	cmd = ctl_match(argc, argv, &used);
	if (cmd == NULL)
		return CTL_EXIT_USAGE;
	argc -= used;
	argv += used;
	/* --json may also follow the command ("status --json"). */
	int kept = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				argv[kept++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			opt.json = 1;
		else
			argv[kept++] = argv[i];
	}
	argc = kept;
	args = json_object();
	if (cmd->parse != NULL) {
		if (cmd->parse(argc, argv, args) == -1) {
			json_decref(args);
			return CTL_EXIT_USAGE;
		}
	} else if (argc > 0) {
		fprintf(stderr, "remediactl: %s takes no arguments\n",
		    cmd->words);
		json_decref(args);
		return CTL_EXIT_USAGE;
	}

	if (cmd->local != NULL) {
		char *error = NULL;
		json_t *data = cmd->local(args, &error);
		if (error != NULL) {
			fprintf(stderr, "remediactl: %s\n", error);
			free(error);
			json_decref(args);
			return CTL_EXIT_USAGE;
		}
		if (data != NULL) {
			ctl_print_data(cmd, &opt, data);
			rc = cmd->status ? cmd->status(data) : CTL_EXIT_OK;
			json_decref(data);
			json_decref(args);
			return rc;
		}
	}
	opt.stream = json_is_true(json_object_get(args, "follow"));

	fd = ctl_connect(opt.socket);
	if (fd == -1) {
		fprintf(stderr, "remediactl: cannot reach remediad at %s: %s\n",
		    opt.socket, strerror(errno));
		json_decref(args);
		return CTL_EXIT_UNREACHABLE;
	}
	req = proto_request_new((json_int_t)getpid(), cmd->request, args);
	buf = proto_encode(req, &len);
	json_decref(req);
	if (buf == NULL || ctl_write_all(fd, buf, len) == -1) {
		fprintf(stderr, "remediactl: cannot send to %s: %s\n",
		    opt.socket, strerror(errno));
		free(buf);
		close(fd);
		return CTL_EXIT_UNREACHABLE;
	}
	free(buf);
	proto_framer_init(&framer, PROTO_MAX_LINE * 64);
	reply = NULL;
	if (ctl_read_line(fd, &framer, opt.timeout_s, &line, &len, &err)) {
		if (ctl_print_scan(cmd, &opt, line, len) == 0) {
			proto_framer_free(&framer);
			close(fd);
			return CTL_EXIT_OK;
		}
		reply = proto_reply_parse(line, len, &err);
	}
	if (reply == NULL) {
		fprintf(stderr, "remediactl: %s: %s\n", opt.socket,
		    err.message);
		proto_framer_free(&framer);
		close(fd);
		return CTL_EXIT_UNREACHABLE;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		json_t *e = json_object_get(reply, "error");
		json_t *code = json_object_get(e, "code");
		json_t *msg = json_object_get(e, "message");
		char ctext[128], mtext[1024];
		/* The message may quote what an alert or a playbook said. */
		ctl_format_value(code ? code : json_null(), ctext,
		    sizeof ctext);
		ctl_format_value(msg ? msg : json_null(), mtext,
		    sizeof mtext);
		fprintf(stderr, "remediactl: %s: %s\n", ctext, mtext);
		rc = CTL_EXIT_FAILED;
	} else {
		json_t *data = json_object_get(reply, "data");
		ctl_print_data(cmd, &opt, data);
		rc = cmd->status ? cmd->status(data) : CTL_EXIT_OK;
	}
	/* A stream goes on until the daemon ends it or we are stopped. */
	while (rc == CTL_EXIT_OK && opt.stream) {
		json_decref(reply);
		reply = ctl_read_frame(fd, &framer, 0, &err);
		if (reply == NULL) {
			if (strcmp(err.code, "eof") != 0) {
				fprintf(stderr, "remediactl: %s: %s\n",
				    opt.socket, err.message);
				rc = CTL_EXIT_UNREACHABLE;
			}
			break;
		}
		ctl_print_data(cmd, &opt, json_object_get(reply, "data"));
	}
	proto_framer_free(&framer);
	close(fd);
	json_decref(reply);
	return rc;
}
