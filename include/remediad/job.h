/*
 * Background jobs: a function run on its own thread (a long read-only scan
 * such as an audit verify), whose completion callback runs on the loop.
 * The work function must not touch daemon state.
 */
#ifndef REMEDIAD_JOB_H
#define REMEDIAD_JOB_H

struct event_base;
struct jobs;

typedef void (*job_work_fn)(void *arg);	   /* on the job's thread */
typedef void (*job_done_fn)(void *arg);	   /* on the loop, after work */

struct jobs *jobs_new(struct event_base *base, int max);
/* Waits for every running job and runs its done callback; frees. */
void jobs_free(struct jobs *jobs);
/* -1 when `max` jobs are already running or a thread cannot start. */
int job_start(struct jobs *jobs, job_work_fn work, job_done_fn done,
    void *arg);
int jobs_running(const struct jobs *jobs);

#endif
