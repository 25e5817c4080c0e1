/*
 * Kafka intake: the consumer group, at-least-once offsets stored only
 * after the audit records of a message are durable, the dead-letter topic,
 * backpressure, and the embedded broker when none is configured.
 */
#ifndef REMEDIAD_KAFKA_H
#define REMEDIAD_KAFKA_H

#include <jansson.h>

struct daemon;
struct kafka;

/* Starts intake per d->cfg->kafka; NULL with *cause on failure. */
struct kafka *kafka_open(struct daemon *d, char **cause);
/* Leaves the group: settles in-flight work, commits, closes. */
void kafka_close(struct kafka *k);
/* For `remediactl status`. */
json_t *kafka_status_json(const struct kafka *k);

#endif
