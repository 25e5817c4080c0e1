/*
 * An in-process Kafka-protocol broker on loopback (librdkafka's mock
 * cluster): the daemon's embedded default when no brokers are configured,
 * and the broker the tests run through tests/tools/mockbroker.
 */
#ifndef REMEDIAD_BROKER_H
#define REMEDIAD_BROKER_H

#include <stddef.h>

#define BROKER_MAX_BROKERS    16
#define BROKER_MAX_PARTITIONS 1024
#define BROKER_MAX_FAILS 64 /* requests failed by one broker_fail_requests() */

/* A mock cluster and the rd_kafka_t that owns it. */
struct broker;

struct broker_topic {
	const char *name;
	int partitions;
};

/*
 * Starts nbrokers (1..BROKER_MAX_BROKERS) brokers on 127.0.0.1, each on an
 * ephemeral port, with ids 1..nbrokers, and creates the topics as
 * broker_create_topic() does. Returns NULL with *cause (to free) on
 * failure. The cluster serves from its own thread; the functions below
 * may be called from any one thread.
 */
struct broker *broker_start(int nbrokers, const struct broker_topic *topics,
                            size_t ntopics, char **cause);

/* "127.0.0.1:PORT,127.0.0.1:PORT,...", valid until broker_stop(). */
const char *broker_bootstraps(const struct broker *b);
int broker_count(const struct broker *b);

/*
 * Creates a topic of 1..BROKER_MAX_PARTITIONS partitions, replication
 * factor 1, the leader of partition p being broker 1 + p % nbrokers. A bad
 * name (Kafka rules: 1..249 of [A-Za-z0-9._-], not "." or "..") or an
 * existing topic is refused with *cause.
 */
int broker_create_topic(struct broker *b, const char *name, int partitions,
                        char **cause);
/* 1 when `name` is a legal Kafka topic name, else 0. */
int broker_topic_name_valid(const char *name);

/*
 * Takes broker `broker_id` (1..nbrokers) down: its connections are closed
 * and new ones refused. Partition leadership does not move, so what it led
 * is unavailable until broker_set_up(). -1 (errno EINVAL) for a bad id.
 */
int broker_set_down(struct broker *b, int broker_id);
int broker_set_up(struct broker *b, int broker_id);

/*
 * The next `count` requests of Kafka API `api_key` (14: SyncGroup, ...)
 * are answered with error code `err`, whichever broker gets them: for the
 * fault tests. -1 (errno EINVAL) for a key or count out of range.
 */
int broker_fail_requests(struct broker *b, int api_key, int err, int count);

/* Closes every listener and connection and frees everything; NULL is ok. */
void broker_stop(struct broker *b);

/*
 * Writes the bootstrap string and '\n' to `path` atomically (a temporary
 * file in the same directory, then rename), mode 0640: a reader sees no
 * file or the whole line, never part of it.
 */
int broker_write_bootstrap_file(const struct broker *b, const char *path,
                                char **cause);

#endif
