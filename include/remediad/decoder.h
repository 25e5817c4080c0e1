/*
 * The decoder: alert_decode() for a stream of messages on a thread of its
 * own, so the loop's thread only does what needs its state (dedup, the
 * audit log, the playbooks). Messages go in at the tail of a bounded ring
 * and come out at its head, decoded, in the order they went in.
 *
 * One thread pushes and takes (the loop's); the decoder's thread only
 * decodes. The caller's `ready` callback runs on the decoder's thread,
 * once after the caller asked for it (decoder_want), when results wait.
 */
#ifndef REMEDIAD_DECODER_H
#define REMEDIAD_DECODER_H

#include <stddef.h>

#include "remediad/alert.h"

/* One message and, once decoded, what became of it. */
struct decoded {
	void *tag;	   /* the caller's, as pushed */
	const char *data;  /* the message, the caller's until taken */
	size_t len;
	enum alert_reject r;
	/*
	 * ALERT_OK: the canonical alert, flat: alert_flat_json(&flat,
	 * store) makes the object, on the taker's thread (so its memory is
	 * allocated where it is freed).
	 */
	struct alert_flat flat;
	char *store; /* the slot's, reused */
	size_t storecap;
	char received_at[40]; /* when it was decoded (RFC 3339) */
	char why[512];	      /* a rejection's reason */
};

struct decoder;

/*
 * Starts the thread. opts as for alert_decode() (its scan member is
 * ignored: the decoder has its own buffers); capacity bounds the messages
 * inside at once. ready(arg) is called from the decoder's thread.
 * Returns NULL with *cause set.
 */
struct decoder *decoder_new(const struct alert_opts *opts, size_t capacity,
    void (*ready)(void *), void *arg, const char **cause);

/*
 * Queues a message (data stays valid until taken). -1: full. The thread
 * sees what was queued at the next decoder_commit() (or decoder_want()),
 * so a batch costs one wakeup.
 */
int decoder_push(struct decoder *d, const char *data, size_t len,
    void *tag);
void decoder_commit(struct decoder *d);

/* Messages pushed and not yet taken, decoded or not. */
size_t decoder_pending(const struct decoder *d);

/* Room left for pushes. */
size_t decoder_room(const struct decoder *d);

/* The oldest message if it is decoded, else NULL; decoder_pop() ends it. */
struct decoded *decoder_head(struct decoder *d);
void decoder_pop(struct decoder *d);

/*
 * Commits, and asks for ready() once results wait. Returns 1, without
 * asking, if some already do.
 */
int decoder_want(struct decoder *d);

/*
 * Waits until every message pushed is decoded, then drops those for
 * which keep(tag, arg) is 0, with drop(tag, arg); the rest keep their
 * order.
 */
void decoder_filter(struct decoder *d, int (*keep)(void *, void *),
    void (*drop)(void *, void *), void *arg);

/* Stops the thread; drop(tag, arg) for every message still inside. */
void decoder_free(struct decoder *d, void (*drop)(void *, void *),
    void *arg);

#endif
