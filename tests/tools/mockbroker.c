/*
 * mockbroker: the Kafka broker of the integration tests. It runs broker.c's
 * mock cluster on loopback, publishes its address in a bootstrap file, and
 * takes fault commands on stdin until SIGTERM, SIGINT or "quit".
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "remediad/broker.h"
#include "remediad/log.h"

#define MOCKBROKER_LINE_MAX 1024

static void
usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: mockbroker [--brokers N] [--topic NAME[:PARTITIONS]]... "
	    "--bootstrap-file PATH\n"
	    "\n"
	    "  -b, --brokers N            brokers, ids 1..N (1..%d, default "
	    "1)\n"
	    "  -t, --topic NAME[:P]       create topic NAME with P partitions\n"
	    "                             (1..%d, default 1); repeatable\n"
	    "  -f, --bootstrap-file PATH  written last, once the cluster "
	    "serves;\n"
	    "                             removed at exit\n"
	    "  -d, --debug                log librdkafka's messages to stderr\n"
	    "  -h, --help                 this help\n"
	    "\n"
	    "Prints \"ready BOOTSTRAPS\" when up, then answers \"ok\" or "
	    "\"error MESSAGE\"\n"
	    "to each command line on stdin: down ID, up ID, topic NAME "
	    "PARTITIONS,\n"
	    "fail APIKEY ERRCODE COUNT (the next COUNT requests of that Kafka "
	    "API get\n"
	    "that error), quit.\n"
	    "EOF on stdin does not stop it; SIGTERM and SIGINT do (exit 0).\n",
	    BROKER_MAX_BROKERS, BROKER_MAX_PARTITIONS);
}

static void mockbroker_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
mockbroker_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mockbroker: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	usage(stderr);
	exit(2);
}

/* Digits only: strtol alone would take "+3", " 3" and "3x" too. */
static int
mockbroker_parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* --topic NAME[:PARTITIONS]: checked here so a bad one is a usage error. */
static void
mockbroker_add_topic(struct broker_topic **topics, size_t *ntopics, char *arg)
{
	struct broker_topic *t;
	char *colon;
	int parts = 1;

	/* ':' is not legal in a topic name: no ambiguity. */
	if ((colon = strchr(arg, ':')) != NULL) {
		if (mockbroker_parse_int(colon + 1, 1, BROKER_MAX_PARTITIONS,
		                         &parts) == -1)
			mockbroker_usage_error("--topic \"%s\": partitions "
			                       "expected 1..%d",
			                       arg, BROKER_MAX_PARTITIONS);
		*colon = '\0';
	}
	if (!broker_topic_name_valid(arg))
		mockbroker_usage_error("--topic \"%s\": bad name (1..249 of "
		                       "A-Z a-z 0-9 . _ -)",
		                       arg);
	for (size_t i = 0; i < *ntopics; i++)
		if (strcmp((*topics)[i].name, arg) == 0)
			mockbroker_usage_error("--topic %s: given twice", arg);
	if ((t = realloc(*topics, (*ntopics + 1) * sizeof *t)) == NULL)
		fatalx("out of memory");
	t[*ntopics].name = arg;
	t[*ntopics].partitions = parts;
	*topics = t;
	(*ntopics)++;
}

static void mockbroker_reply(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* A reader that went away is not our failure: SIGPIPE is ignored. */
static void
mockbroker_reply(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Commands: argv[0] is the name; the table checks the argument count. */
struct mockbroker_cmd {
	const char *name;
	int nargs;
	const char *args;
	int (*fn)(struct broker *, char **);
};

static int
mockbroker_cmd_state(struct broker *b, char **argv, int up)
{
	int id;

	if (mockbroker_parse_int(argv[1], 1, broker_count(b), &id) == -1) {
		mockbroker_reply("error no broker \"%s\" (ids 1..%d)", argv[1],
		                 broker_count(b));
		return 0;
	}
	if ((up ? broker_set_up(b, id) : broker_set_down(b, id)) == -1) {
		mockbroker_reply("error broker %d: cannot set %s", id,
		                 up ? "up" : "down");
		return 0;
	}
	mockbroker_reply("ok");
	return 0;
}

static int
mockbroker_cmd_down(struct broker *b, char **argv)
{
	return mockbroker_cmd_state(b, argv, 0);
}

static int
mockbroker_cmd_up(struct broker *b, char **argv)
{
	return mockbroker_cmd_state(b, argv, 1);
}

static int
mockbroker_cmd_topic(struct broker *b, char **argv)
{
	char *cause = NULL;
	int parts;

	if (mockbroker_parse_int(argv[2], 1, BROKER_MAX_PARTITIONS, &parts) ==
	    -1) {
		mockbroker_reply("error bad partition count \"%s\" (1..%d)",
		                 argv[2], BROKER_MAX_PARTITIONS);
		return 0;
	}
	if (broker_create_topic(b, argv[1], parts, &cause) == -1) {
		mockbroker_reply("error %s", cause ? cause : "out of memory");
		free(cause);
		return 0;
	}
	mockbroker_reply("ok");
	return 0;
}

static int
mockbroker_cmd_fail(struct broker *b, char **argv)
{
	int key, err, count;

	if (mockbroker_parse_int(argv[1], 0, INT16_MAX, &key) == -1 ||
	    mockbroker_parse_int(argv[2], 1, 1000, &err) == -1 ||
	    mockbroker_parse_int(argv[3], 1, BROKER_MAX_FAILS, &count) == -1) {
		mockbroker_reply("error usage: fail APIKEY ERRCODE COUNT (a Kafka "
		                 "API key, an error code 1..1000, 1..%d requests)",
		                 BROKER_MAX_FAILS);
		return 0;
	}
	if (broker_fail_requests(b, key, err, count) == -1) {
		mockbroker_reply("error cannot fail API %d", key);
		return 0;
	}
	mockbroker_reply("ok");
	return 0;
}

static int
mockbroker_cmd_quit(struct broker *b, char **argv)
{
	mockbroker_reply("ok");
	return 1;
}

static const struct mockbroker_cmd mockbroker_cmds[] = {
    {"down", 1, " ID", mockbroker_cmd_down},
    {"up", 1, " ID", mockbroker_cmd_up},
    {"topic", 2, " NAME PARTITIONS", mockbroker_cmd_topic},
    {"fail", 3, " APIKEY ERRCODE COUNT", mockbroker_cmd_fail},
    {"quit", 0, "", mockbroker_cmd_quit},
};

/* Runs one command line; 1 when it asks to quit. */
static int
mockbroker_command(struct broker *b, char *line)
{
	const struct mockbroker_cmd *cmd = NULL;
	char *argv[4], *last;
	int argc = 0;

	for (char *w = strtok_r(line, " \t\r", &last); w != NULL;
	     w = strtok_r(NULL, " \t\r", &last)) {
		if (argc == 4) {
			argc++;
			break;
		}
		argv[argc++] = w;
	}
	if (argc == 0) {
		mockbroker_reply("error empty command (down, up, topic, fail, quit)");
		return 0;
	}
	for (size_t i = 0; i < sizeof mockbroker_cmds / sizeof *mockbroker_cmds;
	     i++)
		if (strcmp(argv[0], mockbroker_cmds[i].name) == 0)
			cmd = &mockbroker_cmds[i];
	if (cmd == NULL) {
		mockbroker_reply("error unknown command \"%.64s\" (down, up, "
		                 "topic, fail, quit)",
		                 argv[0]);
		return 0;
	}
	if (argc != cmd->nargs + 1) {
		mockbroker_reply("error usage: %s%s", cmd->name, cmd->args);
		return 0;
	}
	return cmd->fn(b, argv);
}

/*
 * Reads what stdin has and runs each whole line. Returns 1 on "quit", -1
 * at EOF (the caller stops polling stdin but keeps serving), 0 otherwise.
 * A line over MOCKBROKER_LINE_MAX gets one error and is skipped.
 */
static int
mockbroker_read(struct broker *b, char *buf, size_t *len, int *skipping)
{
	char *nl, *start;
	ssize_t n;

	n = read(STDIN_FILENO, buf + *len, MOCKBROKER_LINE_MAX - *len);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n == -1)
		log_warn("stdin");
	if (n <= 0)
		return -1;
	*len += (size_t)n;
	start = buf;
	while ((nl = memchr(start, '\n', *len - (size_t)(start - buf))) !=
	       NULL) {
		*nl = '\0';
		if (*skipping)
			*skipping = 0;
		else if (mockbroker_command(b, start) == 1)
			return 1;
		start = nl + 1;
	}
	*len -= (size_t)(start - buf);
	memmove(buf, start, *len);
	if (*len == MOCKBROKER_LINE_MAX) {
		if (!*skipping)
			mockbroker_reply("error line too long (over %d bytes)",
			                 MOCKBROKER_LINE_MAX);
		*skipping = 1;
		*len = 0;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"brokers", required_argument, NULL, 'b'},
	    {"topic", required_argument, NULL, 't'},
	    {"bootstrap-file", required_argument, NULL, 'f'},
	    {"debug", no_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct broker_topic *topics = NULL;
	const char *path = NULL;
	char buf[MOCKBROKER_LINE_MAX], *cause = NULL;
	struct signalfd_siginfo si;
	struct pollfd pfd[2];
	struct broker *b;
	size_t ntopics = 0, len = 0;
	int nbrokers = 1, ch, skipping = 0, quit = 0, rc = 0;
	sigset_t set;

	log_init("mockbroker", LOG_LVL_INFO);
	while ((ch = getopt_long(argc, argv, "b:t:f:dh", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'b':
			if (mockbroker_parse_int(optarg, 1, BROKER_MAX_BROKERS,
			                         &nbrokers) == -1)
				mockbroker_usage_error("--brokers \"%s\": "
				                       "expected 1..%d",
				                       optarg,
				                       BROKER_MAX_BROKERS);
			break;
		case 't':
			mockbroker_add_topic(&topics, &ntopics, optarg);
			break;
		case 'f':
			if (*optarg == '\0')
				mockbroker_usage_error("--bootstrap-file: "
				                       "empty path");
			path = optarg;
			break;
		case 'd':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'h':
			usage(stdout);
			free(topics);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		mockbroker_usage_error("unexpected argument \"%s\"",
		                       argv[optind]);
	if (path == NULL)
		mockbroker_usage_error("--bootstrap-file is required");

	/*
	 * Blocked before the cluster's threads start, so they inherit the
	 * mask and the signals only ever arrive through the signalfd.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		fatalx("sigprocmask: %s", strerror(errno));
	pfd[0].fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (pfd[0].fd == -1)
		fatalx("signalfd: %s", strerror(errno));
	pfd[0].events = POLLIN;
	pfd[1].fd = STDIN_FILENO;
	pfd[1].events = POLLIN;
	signal(SIGPIPE, SIG_IGN);

	/* A file left by an earlier run must not announce a dead broker. */
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("%s", path);
		free(topics);
		return 1;
	}
	if ((b = broker_start(nbrokers, topics, ntopics, &cause)) == NULL) {
		log_error("%s", cause ? cause : "out of memory");
		free(cause);
		free(topics);
		return 1;
	}
	free(topics);
	/* The file last: a test waiting for it knows the cluster serves. */
	if (broker_write_bootstrap_file(b, path, &cause) == -1) {
		log_error("%s", cause ? cause : "out of memory");
		free(cause);
		broker_stop(b);
		return 1;
	}
	mockbroker_reply("ready %s", broker_bootstraps(b));
	log_info("%d broker(s) on %s", nbrokers, broker_bootstraps(b));

	while (!quit) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			rc = 1;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			if (read(pfd[0].fd, &si, sizeof si) == sizeof si)
				log_info("received %s, stopping",
				         strsignal((int)si.ssi_signo));
			break;
		}
		if (pfd[1].revents != 0) {
			switch (mockbroker_read(b, buf, &len, &skipping)) {
			case 1:
				quit = 1;
				break;
			case -1:
				/* Tests may close stdin; keep serving. */
				pfd[1].fd = -1;
				break;
			}
		}
	}
	broker_stop(b);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("%s", path);
	close(pfd[0].fd);
	return rc;
}
