/*
 * remediad's entry point: command line, startup order, signals, and the
 * shutdown order (stop taking requests, close the control socket, release
 * the state directory).
 */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "remediad/action.h"
#include "remediad/audit.h"
#include "remediad/audit_ctl.h"
#include "remediad/child.h"
#include "remediad/config.h"
#include "remediad/job.h"
#include "remediad/kafka.h"
#include "remediad/control.h"
#include "remediad/daemon.h"
#include "remediad/log.h"
#include "remediad/offline.h"
#include "remediad/playbook.h"
#include "remediad/worker.h"

/* Freed blocks below this stay with the process (see main). */
#define DAEMON_MALLOC_KEEP (32 * 1024 * 1024)

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: remediad [-c FILE] [--check]\n"
	    "       remediad [-c FILE] replay [--json] ALERTS.jsonl\n"
	    "       remediad test-playbooks DIR\n"
	    "\n"
	    "  -c, --config FILE  config file (default " CONFIG_DEFAULT_PATH ")\n"
	    "      --check        validate the config and the playbooks, exit 0\n"
	    "                     (valid) or 1\n"
	    "  -d, --debug        log at debug level, whatever the config says\n"
	    "  -V, --version      print the version and exit\n"
	    "  -h, --help         this help\n"
	    "\n"
	    "replay runs recorded alerts (one JSON message per line) through\n"
	    "the playbooks as the daemon would and prints each plan; it touches\n"
	    "no broker, connector or audit log. test-playbooks runs the\n"
	    "*_test.lua files of DIR against the playbooks there.\n"
	    "\n"
	    "remediad runs in the foreground; SIGHUP reloads the config,\n"
	    "SIGTERM or SIGINT stop it. Talk to it with remediactl.\n");
}

static void
signal_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	log_notice("received %s, shutting down", strsignal((int)sig));
	daemon_stop(d, 0);
}

static void
signal_reloaded_cb(void *arg, int ok, uint64_t seq, const char *what,
    const char *error)
{
	/* daemon_reload_all() logged the outcome already. */
}

static void
signal_reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	log_notice("received SIGHUP, reloading %s", d->config_path);
	daemon_reload_all(d, "system", signal_reloaded_cb, NULL);
}

static int
check_config(const char *path)
{
	char *cause = NULL;
	struct config *cfg = config_load(path, &cause);

	if (cfg == NULL) {
		fprintf(stderr, "%s\n", cause ? cause : "out of memory");
		fprintf(stderr, "%s: config is not valid\n", path);
		free(cause);
		return 1;
	}
	printf("%s: config OK\n", path);
	if (cfg->playbooks.present) {
		int rc = offline_check_playbooks(cfg);
		config_free(cfg);
		return rc;
	}
	config_free(cfg);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check", no_argument, NULL, 'C'},
	    {"debug", no_argument, NULL, 'd'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {"worker", no_argument, NULL, 'W'}, /* internal: worker.c */
	    {NULL, 0, NULL, 0},
	};
	const char *path = CONFIG_DEFAULT_PATH;
	struct daemon d;
	char *cause = NULL;
	int ch, check = 0, debug = 0, worker = 0;

	/* Options stop at the first word: replay and test-playbooks have
	 * their own. */
	while ((ch = getopt_long(argc, argv, "+c:dVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = 1;
			break;
		case 'd':
			debug = 1;
			break;
		case 'W':
			worker = 1;
			break;
		case 'V':
			printf("remediad %s\n", REMEDIAD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (worker)
		return worker_main();
	if (optind < argc && strcmp(argv[optind], "replay") == 0)
		return offline_replay(path, argc - optind, argv + optind);
	if (optind < argc && strcmp(argv[optind], "test-playbooks") == 0)
		return offline_test_playbooks(argc - optind, argv + optind);
	if (optind != argc) {
		fprintf(stderr, "remediad: unexpected argument: %s\n",
		    argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check)
		return check_config(path);

	/*
	 * The loop frees and reallocates the same big buffers all the time
	 * (audit batches, fetched Kafka messages, worker frames): glibc would
	 * give them back to the kernel at each free and fault them in again,
	 * which cost about a tenth of the loop's time. Keep them.
	 */
	mallopt(M_MMAP_THRESHOLD, DAEMON_MALLOC_KEEP);
	mallopt(M_TRIM_THRESHOLD, DAEMON_MALLOC_KEEP);

	memset(&d, 0, sizeof d);
	d.lock_fd = -1;
	d.config_path = path;
	log_init("remediad", LOG_LVL_INFO);
	d.cfg = config_load(path, &cause);
	if (d.cfg == NULL) {
		log_lines(LOG_LVL_ERROR, cause ? cause : "out of memory",
		    "%s: config is not valid:", path);
		free(cause);
		return 1;
	}
	log_set_level(debug ? LOG_LVL_DEBUG : (enum log_level)d.cfg->log.level);

	/* A peer that closes its socket must not kill us with SIGPIPE, nor
	 * a file size limit with SIGXFSZ: both are errors to handle. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);

	d.lock_fd = statedir_lock(d.cfg->state_dir, &cause);
	if (d.lock_fd == -1) {
		log_error("%s", cause ? cause : "cannot lock state_dir");
		free(cause);
		config_free(d.cfg);
		return 1;
	}
	/* The audit writer and jobs wake the loop from their threads. */
	if (evthread_use_pthreads() == -1 ||
	    (d.base = event_base_new()) == NULL) {
		log_error("cannot create the event loop");
		return 1;
	}
	time(&d.started);
	clock_gettime(CLOCK_MONOTONIC, &d.started_mono);

	d.ev_sigterm = evsignal_new(d.base, SIGTERM, signal_stop_cb, &d);
	d.ev_sigint = evsignal_new(d.base, SIGINT, signal_stop_cb, &d);
	d.ev_sighup = evsignal_new(d.base, SIGHUP, signal_reload_cb, &d);
	evsignal_add(d.ev_sigterm, NULL);
	evsignal_add(d.ev_sigint, NULL);
	evsignal_add(d.ev_sighup, NULL);

	d.audit = audit_open(d.base, d.cfg, &cause);
	if (d.audit == NULL) {
		log_error("audit log: %s", cause ? cause : "cannot open");
		free(cause);
		d.exit_code = 1;
		goto out;
	}
	d.jobs = jobs_new(d.base, 4);
	d.audit_ctl = audit_ctl_new(&d);
	d.children = children_new(d.base);
	if (d.jobs == NULL || d.audit_ctl == NULL || d.children == NULL) {
		log_error("out of memory");
		d.exit_code = 1;
		goto out;
	}
	{
		const char *why;
		if (audit_append(d.audit, "daemon.started", "system",
			json_pack("{s:s, s:i, s:s, s:s}", "version",
			    REMEDIAD_VERSION, "pid", (int)getpid(), "config",
			    path, "state_dir", d.cfg->state_dir), &why) == 0) {
			log_error("audit log: %s", why);
			d.exit_code = 1;
			goto out;
		}
	}

	d.control = control_open(&d, &cause);
	if (d.control == NULL) {
		log_error("control socket: %s", cause ? cause : "cannot open");
		free(cause);
		d.exit_code = 1;
		goto out;
	}
	if (d.cfg->connectors.present) {
		/* Before playbooks: plans find the runner rebuilt. */
		d.actions = actions_open(&d, &cause);
		if (d.actions == NULL) {
			log_error("actions: %s", cause ? cause : "cannot start");
			free(cause);
			d.exit_code = 1;
			goto out;
		}
	} else
		log_notice("actions disabled: no connectors section in the "
		    "config; plans are recorded, not carried out");
	if (d.cfg->playbooks.present) {
		d.playbooks = playbooks_open(&d, &cause);
		if (d.playbooks == NULL) {
			log_error("playbooks: %s", cause ? cause :
			    "cannot load");
			free(cause);
			d.exit_code = 1;
			goto out;
		}
	} else
		log_notice("playbooks disabled: no playbooks section in the "
		    "config");
	if (d.cfg->kafka.present) {
		d.kafka = kafka_open(&d, &cause);
		if (d.kafka == NULL) {
			log_error("kafka: %s", cause ? cause : "cannot start");
			free(cause);
			d.exit_code = 1;
			goto out;
		}
	} else
		log_notice("intake disabled: no kafka section in the config");
	log_notice("remediad %s started (pid %d, config %s, state_dir %s)",
	    REMEDIAD_VERSION, (int)getpid(), path, d.cfg->state_dir);
	notify_systemd("READY=1");

	event_base_dispatch(d.base);

out:
	/*
	 * Stop intake first (its in-flight alerts settle against the log),
	 * then requests, streams and scans; the log closes last.
	 */
	playbooks_close(d.playbooks); /* their alerts stay unstored */
	d.playbooks = NULL;
	kafka_close(d.kafka);
	d.kafka = NULL;
	actions_close(d.actions); /* a bounded wait for running connectors */
	d.actions = NULL;
	audit_ctl_free(d.audit_ctl);
	d.audit_ctl = NULL; /* late scans answer without a stream */
	control_close(d.control);
	d.control = NULL;
	jobs_free(d.jobs);
	d.jobs = NULL; /* a tail answered at audit_close cannot start one */
	if (d.audit != NULL) {
		const char *why;
		if (audit_append(d.audit, "daemon.stopped", "system",
			json_pack("{s:i}", "exit_code", d.exit_code), &why) == 0)
			log_warnx("audit log: daemon.stopped not recorded: %s",
			    why);
		audit_close(d.audit);
	}
	children_free(d.children);
	event_free(d.ev_sigterm);
	event_free(d.ev_sigint);
	event_free(d.ev_sighup);
	event_base_free(d.base);
	close(d.lock_fd);
	log_notice("remediad stopped");
	config_free(d.cfg);
	return d.exit_code;
}
