/*
 * Background jobs: each runs its work function on a thread of its own and
 * hands back to the loop through event_active(), where the completion
 * callback runs. Bounded in number; joined at shutdown so no thread
 * outlives the event base.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "remediad/job.h"
#include "remediad/log.h"

struct job {
	struct jobs *jobs;
	job_work_fn work;
	job_done_fn done;
	void *arg;
	pthread_t thread;
	struct event *ev;
	LIST_ENTRY(job) entry;
};

struct jobs {
	struct event_base *base;
	int max;
	int running;
	LIST_HEAD(, job) list;
};

static void *
job_thread(void *arg)
{
	struct job *j = arg;

	j->work(j->arg);
	event_active(j->ev, EV_READ, 0);
	return NULL;
}

static void
job_finish(struct job *j)
{
	pthread_join(j->thread, NULL);
	LIST_REMOVE(j, entry);
	j->jobs->running--;
	event_free(j->ev);
	j->done(j->arg);
	free(j);
}

static void
job_done_cb(evutil_socket_t fd, short what, void *arg)
{
	job_finish(arg);
}

struct jobs *
jobs_new(struct event_base *base, int max)
{
	struct jobs *jobs = calloc(1, sizeof *jobs);

	if (jobs == NULL)
		return NULL;
	jobs->base = base;
	jobs->max = max;
	LIST_INIT(&jobs->list);
	return jobs;
}

void
jobs_free(struct jobs *jobs)
{
	struct job *j;

	if (jobs == NULL)
		return;
	while ((j = LIST_FIRST(&jobs->list)) != NULL) {
		/* The work ends by itself; its event may still be pending. */
		event_del(j->ev);
		job_finish(j);
	}
	free(jobs);
}

int
job_start(struct jobs *jobs, job_work_fn work, job_done_fn done, void *arg)
{
	struct job *j;

	if (jobs->running >= jobs->max)
		return -1;
	j = calloc(1, sizeof *j);
	if (j == NULL)
		return -1;
	j->jobs = jobs;
	j->work = work;
	j->done = done;
	j->arg = arg;
	j->ev = event_new(jobs->base, -1, 0, job_done_cb, j);
	if (j->ev == NULL) {
		free(j);
		return -1;
	}
	if (pthread_create(&j->thread, NULL, job_thread, j) != 0) {
		log_warn("%s: pthread_create", __func__);
		event_free(j->ev);
		free(j);
		return -1;
	}
	LIST_INSERT_HEAD(&jobs->list, j, entry);
	jobs->running++;
	return 0;
}

int
jobs_running(const struct jobs *jobs)
{
	return jobs->running;
}
