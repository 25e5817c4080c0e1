/*
 * The decoder thread (see decoder.h). The ring's slots are split by
 * counters that only grow (but in decoder_filter): [head, done) decoded
 * and waiting to be taken, [done, tail) committed and waiting to be
 * decoded, [tail, pushed) pushed and not committed yet. The loop's thread
 * moves head, tail and pushed, the decoder's thread moves done; a slot
 * belongs to the side its range gives it to. The two shared counters are
 * atomics; the mutex is for sleeping, wakeup requests and filtering.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "remediad/decoder.h"
#include "remediad/json_scan.h"
#include "remediad/units.h"

/* Results that wait before ready() is worth a wakeup of the loop. */
#define DECODER_WAKE_BATCH 32

struct decoder {
	struct decoded *ring;
	size_t cap;
	/*
	 * tail is the loop's to move, done the thread's; each reads the
	 * other's without a lock (sequentially consistent, so that a side
	 * about to sleep or to ask for a wakeup always sees what the other
	 * side stored just before it looked at the flags below). head is
	 * the loop's alone.
	 */
	size_t head, pushed;
	_Atomic size_t done, tail;
	_Atomic int sleeping; /* the thread waits on `work` */
	_Atomic int want;     /* ready() asked for */
	size_t want_at;	      /* done when it was asked (under mtx) */
	pthread_mutex_t mtx;
	pthread_cond_t work;	/* the thread waits for pushes */
	pthread_cond_t drained; /* decoder_filter waits for done == tail */
	pthread_t thread;
	int started;
	int stop; /* under mtx */
	void (*ready)(void *);
	void *arg;
	/* The thread's own. */
	struct alert_opts opts;
	struct jscan scan;
	struct units_clock clock;
};

static void
decoder_one(struct decoder *d, struct decoded *s)
{
	units_now_rfc3339(&d->clock, s->received_at, sizeof s->received_at);
	s->why[0] = '\0';
	s->r = alert_decode_flat(s->data, s->len, &d->opts, s->received_at,
	    &s->flat, &s->store, &s->storecap, s->why, sizeof s->why);
}

/*
 * Sleeps until there is work or a stop; 0 to stop. decoder_filter() may
 * have moved done back meanwhile: the caller reads it again.
 */
static int
decoder_sleep(struct decoder *d)
{
	int go;

	pthread_mutex_lock(&d->mtx);
	atomic_store(&d->sleeping, 1);
	/* Whoever commits after this sees sleeping, and signals. */
	while (!d->stop && atomic_load(&d->tail) == atomic_load(&d->done))
		pthread_cond_wait(&d->work, &d->mtx);
	atomic_store(&d->sleeping, 0);
	go = !d->stop;
	pthread_mutex_unlock(&d->mtx);
	return go;
}

static void *
decoder_main(void *arg)
{
	struct decoder *d = arg;

	for (;;) {
		size_t done = atomic_load(&d->done);
		size_t tail = atomic_load(&d->tail);

		if (done == tail) {
			pthread_mutex_lock(&d->mtx);
			pthread_cond_broadcast(&d->drained);
			pthread_mutex_unlock(&d->mtx);
			if (!decoder_sleep(d))
				break;
			continue;
		}
		for (; done < tail; done++) {
			decoder_one(d, &d->ring[done % d->cap]);
			atomic_store(&d->done, done + 1);
			if (!atomic_load(&d->want))
				continue;
			pthread_mutex_lock(&d->mtx);
			int wake = atomic_load(&d->want) &&
			    (done + 1 == tail ||
				done + 1 - d->want_at >= DECODER_WAKE_BATCH);
			if (wake)
				atomic_store(&d->want, 0);
			pthread_mutex_unlock(&d->mtx);
			if (wake)
				d->ready(d->arg);
		}
	}
	return NULL;
}

struct decoder *
decoder_new(const struct alert_opts *opts, size_t capacity,
    void (*ready)(void *), void *arg, const char **cause)
{
	struct decoder *d;

	*cause = "out of memory";
	if (capacity == 0 || (d = calloc(1, sizeof *d)) == NULL)
		return NULL;
	if ((d->ring = calloc(capacity, sizeof *d->ring)) == NULL) {
		free(d);
		return NULL;
	}
	d->cap = capacity;
	d->ready = ready;
	d->arg = arg;
	if (opts != NULL)
		d->opts = *opts;
	d->opts.scan = &d->scan;
	pthread_mutex_init(&d->mtx, NULL);
	pthread_cond_init(&d->work, NULL);
	pthread_cond_init(&d->drained, NULL);
	/* Signals stay with the loop's thread: the thread starts blocking them. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&d->thread, NULL, decoder_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		*cause = "cannot start the decoder thread";
		decoder_free(d, NULL, NULL);
		return NULL;
	}
	d->started = 1;
	pthread_setname_np(d->thread, "decode");
	return d;
}

int
decoder_push(struct decoder *d, const char *data, size_t len, void *tag)
{
	struct decoded *s;

	if (d->pushed - d->head == d->cap)
		return -1;
	s = &d->ring[d->pushed % d->cap];
	s->tag = tag;
	s->data = data;
	s->len = len;
	d->pushed++;
	return 0;
}

void
decoder_commit(struct decoder *d)
{
	if (d->pushed == atomic_load(&d->tail))
		return;
	atomic_store(&d->tail, d->pushed);
	if (atomic_load(&d->sleeping)) {
		pthread_mutex_lock(&d->mtx);
		pthread_cond_signal(&d->work);
		pthread_mutex_unlock(&d->mtx);
	}
}

/* Only the loop's thread moves head and pushed: they need no lock. */
size_t
decoder_pending(const struct decoder *d)
{
	return d->pushed - d->head;
}

size_t
decoder_room(const struct decoder *d)
{
	return d->cap - (d->pushed - d->head);
}

struct decoded *
decoder_head(struct decoder *d)
{
	if (d->head == atomic_load(&d->done))
		return NULL;
	return &d->ring[d->head % d->cap];
}

void
decoder_pop(struct decoder *d)
{
	d->head++;
}

int
decoder_want(struct decoder *d)
{
	int ready = 0;

	decoder_commit(d);
	pthread_mutex_lock(&d->mtx);
	d->want_at = atomic_load(&d->done);
	atomic_store(&d->want, 1);
	/* Decoded since: the thread may have looked at want before. */
	if (atomic_load(&d->done) > d->head) {
		atomic_store(&d->want, 0);
		ready = 1;
	}
	pthread_mutex_unlock(&d->mtx);
	return ready;
}

void
decoder_filter(struct decoder *d, int (*keep)(void *, void *),
    void (*drop)(void *, void *), void *arg)
{
	size_t to;

	decoder_commit(d);
	pthread_mutex_lock(&d->mtx);
	while (atomic_load(&d->done) != d->pushed)
		pthread_cond_wait(&d->drained, &d->mtx);
	/*
	 * The thread is idle until the next commit: the ring is ours. It
	 * counts on its own from the done it left, so the counters move
	 * back together, under the lock it sleeps with.
	 */
	to = d->head;
	for (size_t i = d->head; i < d->pushed; i++) {
		struct decoded *s = &d->ring[i % d->cap];
		if (keep(s->tag, arg)) {
			/* Swapped, not copied: each slot keeps a store. */
			if (to != i) {
				struct decoded t = d->ring[to % d->cap];
				d->ring[to % d->cap] = *s;
				*s = t;
			}
			to++;
			continue;
		}
		drop(s->tag, arg);
	}
	d->pushed = to;
	atomic_store(&d->tail, to);
	atomic_store(&d->done, to);
	pthread_mutex_unlock(&d->mtx);
}

void
decoder_free(struct decoder *d, void (*drop)(void *, void *), void *arg)
{
	if (d == NULL)
		return;
	if (d->started) {
		pthread_mutex_lock(&d->mtx);
		d->stop = 1;
		pthread_cond_signal(&d->work);
		pthread_mutex_unlock(&d->mtx);
		pthread_join(d->thread, NULL);
	}
	for (size_t i = d->head; i < d->pushed && drop != NULL; i++)
		drop(d->ring[i % d->cap].tag, arg);
	for (size_t i = 0; i < d->cap; i++)
		free(d->ring[i].store);
	pthread_cond_destroy(&d->drained);
	pthread_cond_destroy(&d->work);
	pthread_mutex_destroy(&d->mtx);
	jscan_free(&d->scan);
	free(d->ring);
	free(d);
}
