/*
 * The in-process broker: a librdkafka mock cluster listening on loopback,
 * its owning rd_kafka_t, topic creation, broker down/up for fault tests,
 * and the bootstrap file that tells other processes where it listens.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "remediad/broker.h"
#include "remediad/log.h"

struct broker {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mcluster;
	int nbrokers;
	char *bootstraps;
};

static void broker_cause(char **cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
broker_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		*cause = NULL;
	va_end(ap);
}

/*
 * librdkafka logs from its own threads. The owning handle is a producer
 * with no bootstrap servers, so most of what it says is noise about that;
 * everything goes to debug except errors, which are worth a warning.
 */
static void
broker_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	if (level <= 3)
		log_warnx("broker: %s: %s", fac, buf);
	else
		log_debug("broker: %s: %s", fac, buf);
}

int
broker_topic_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 249 || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return 0;
	for (const char *p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		      *p == '-'))
			return 0;
	}
	return 1;
}

struct broker *
broker_start(int nbrokers, const struct broker_topic *topics, size_t ntopics,
             char **cause)
{
	struct broker *b;
	rd_kafka_conf_t *conf;
	const char *bs;
	char errstr[512];

	*cause = NULL;
	if (nbrokers < 1 || nbrokers > BROKER_MAX_BROKERS) {
		broker_cause(cause, "broker count %d out of range 1..%d",
		             nbrokers, BROKER_MAX_BROKERS);
		return NULL;
	}
	if ((b = calloc(1, sizeof *b)) == NULL) {
		broker_cause(cause, "out of memory");
		return NULL;
	}
	b->nbrokers = nbrokers;

	conf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(conf, broker_log_cb);
	if (rd_kafka_conf_set(conf, "client.id", "remediad-broker", errstr,
	                      sizeof errstr) != RD_KAFKA_CONF_OK) {
		broker_cause(cause, "broker: %s", errstr);
		rd_kafka_conf_destroy(conf);
		free(b);
		return NULL;
	}
	/* rd_kafka_new() takes the conf only when it succeeds. */
	b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
	if (b->rk == NULL) {
		broker_cause(cause, "broker: cannot create handle: %s", errstr);
		rd_kafka_conf_destroy(conf);
		free(b);
		return NULL;
	}
	/*
	 * rd_kafka_mock_cluster_new() rather than test.mock.num.brokers: it
	 * gives ids 1..n we can take down and up, and leaves the handle free
	 * of a bootstrap list it would otherwise rewrite.
	 */
	b->mcluster = rd_kafka_mock_cluster_new(b->rk, nbrokers);
	if (b->mcluster == NULL) {
		broker_cause(cause,
		             "broker: cannot start a mock cluster of %d "
		             "brokers on 127.0.0.1",
		             nbrokers);
		goto fail;
	}
	bs = rd_kafka_mock_cluster_bootstraps(b->mcluster);
	if (bs == NULL || (b->bootstraps = strdup(bs)) == NULL) {
		broker_cause(cause, "broker: no bootstrap list");
		goto fail;
	}
	for (size_t i = 0; i < ntopics; i++) {
		char *why = NULL;

		if (broker_create_topic(b, topics[i].name, topics[i].partitions,
		                        &why) == -1) {
			*cause = why;
			goto fail;
		}
	}
	log_debug("broker: %d broker(s) listening on %s", nbrokers,
	          b->bootstraps);
	return b;

fail:
	broker_stop(b);
	return NULL;
}

const char *
broker_bootstraps(const struct broker *b)
{
	return b->bootstraps;
}

int
broker_count(const struct broker *b)
{
	return b->nbrokers;
}

int
broker_create_topic(struct broker *b, const char *name, int partitions,
                    char **cause)
{
	rd_kafka_resp_err_t err;

	*cause = NULL;
	if (name == NULL || !broker_topic_name_valid(name)) {
		broker_cause(cause,
		             "topic \"%s\": bad name (1..249 of "
		             "A-Z a-z 0-9 . _ -)",
		             name != NULL ? name : "");
		return -1;
	}
	if (partitions < 1 || partitions > BROKER_MAX_PARTITIONS) {
		broker_cause(cause,
		             "topic %s: %d partitions, out of range "
		             "1..%d",
		             name, partitions, BROKER_MAX_PARTITIONS);
		return -1;
	}
	err = rd_kafka_mock_topic_create(b->mcluster, name, partitions, 1);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		broker_cause(cause, "topic %s: %s", name,
		             rd_kafka_err2str(err));
		return -1;
	}
	/*
	 * The mock puts leaders in runs (1,1,1,1,2,2 for 6 partitions on 3
	 * brokers); round-robin instead, so a test taking broker N down knows
	 * it loses exactly the partitions p with p % nbrokers == N - 1.
	 */
	for (int p = 0; p < partitions; p++) {
		err = rd_kafka_mock_partition_set_leader(b->mcluster, name, p,
		                                         1 + p % b->nbrokers);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			broker_cause(cause, "topic %s: partition %d: %s", name,
			             p, rd_kafka_err2str(err));
			return -1;
		}
	}
	log_debug("broker: created topic %s (%d partitions)", name, partitions);
	return 0;
}

static int
broker_set_state(struct broker *b, int broker_id, int up)
{
	rd_kafka_resp_err_t err;

	/* The mock reads -1 as "every broker": never pass it through. */
	if (broker_id < 1 || broker_id > b->nbrokers) {
		errno = EINVAL;
		return -1;
	}
	if (up)
		err = rd_kafka_mock_broker_set_up(b->mcluster, broker_id);
	else
		err = rd_kafka_mock_broker_set_down(b->mcluster, broker_id);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_warnx("broker: set %d %s: %s", broker_id,
		          up ? "up" : "down", rd_kafka_err2str(err));
		errno = EINVAL;
		return -1;
	}
	log_debug("broker: broker %d %s", broker_id, up ? "up" : "down");
	return 0;
}

int
broker_set_down(struct broker *b, int broker_id)
{
	return broker_set_state(b, broker_id, 0);
}

int
broker_set_up(struct broker *b, int broker_id)
{
	return broker_set_state(b, broker_id, 1);
}

int
broker_fail_requests(struct broker *b, int api_key, int err, int count)
{
	rd_kafka_resp_err_t errs[BROKER_MAX_FAILS];

	if (api_key < 0 || api_key > INT16_MAX || count < 1 ||
	    count > BROKER_MAX_FAILS) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < count; i++)
		errs[i] = (rd_kafka_resp_err_t)err;
	rd_kafka_mock_push_request_errors_array(b->mcluster, (int16_t)api_key,
	    (size_t)count, errs);
	return 0;
}

void
broker_stop(struct broker *b)
{
	if (b == NULL)
		return;
	/* The cluster first: it lives on the handle's bookkeeping. */
	if (b->mcluster != NULL)
		rd_kafka_mock_cluster_destroy(b->mcluster);
	if (b->rk != NULL)
		rd_kafka_destroy(b->rk);
	free(b->bootstraps);
	free(b);
}

int
broker_write_bootstrap_file(const struct broker *b, const char *path,
                            char **cause)
{
	char *tmp, *line;
	ssize_t n;
	int len, fd;

	*cause = NULL;
	if ((len = asprintf(&line, "%s\n", b->bootstraps)) == -1) {
		broker_cause(cause, "out of memory");
		return -1;
	}
	if (asprintf(&tmp, "%s.XXXXXX", path) == -1) {
		broker_cause(cause, "out of memory");
		free(line);
		return -1;
	}
	/* Same directory, so rename() replaces the file in one step. */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		broker_cause(cause, "%s: %s", tmp, strerror(errno));
		free(tmp);
		free(line);
		return -1;
	}
	/* fchmod, not the umask: the mode is the same wherever it runs. */
	if (fchmod(fd, 0640) == -1) {
		broker_cause(cause, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if ((n = write(fd, line, (size_t)len)) != len) {
		/* A short write to a regular file means the disk is full. */
		broker_cause(cause, "%s: %s", tmp,
		             strerror(n == -1 ? errno : ENOSPC));
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		broker_cause(cause, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		broker_cause(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
	free(tmp);
	free(line);
	return 0;

fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	free(line);
	return -1;
}
