/*
 * Child processes owned by the loop: a SIGCHLD event reaps with
 * waitpid(-1, WNOHANG) and calls the callback registered for each pid.
 * A pid that exits before it is registered is remembered briefly, so a
 * fast exit is never missed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/wait.h>
#include <time.h>

#include <event2/event.h>

#include "remediad/child.h"
#include "remediad/log.h"

#define CHILD_UNCLAIMED_MAX 64

struct child {
	pid_t pid;
	const void *owner;
	child_exit_cb cb; /* NULL: forgotten */
	void *arg;
	LIST_ENTRY(child) entry;
};

struct children {
	struct event *ev_sigchld;
	LIST_HEAD(, child) watched;
	/* Exited before children_watch() was called for them. */
	struct {
		pid_t pid;
		int status;
	} unclaimed[CHILD_UNCLAIMED_MAX];
	size_t nunclaimed;
};

void
child_status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s",
		    WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "ended with status 0x%x", status);
}

void
children_reap(struct children *c)
{
	struct child *ch;
	pid_t pid;
	int status;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		LIST_FOREACH(ch, &c->watched, entry)
			if (ch->pid == pid)
				break;
		if (ch == NULL) {
			if (c->nunclaimed < CHILD_UNCLAIMED_MAX) {
				c->unclaimed[c->nunclaimed].pid = pid;
				c->unclaimed[c->nunclaimed++].status = status;
			}
			continue;
		}
		LIST_REMOVE(ch, entry);
		if (ch->cb != NULL)
			ch->cb(pid, status, ch->arg);
		free(ch);
	}
}

static int
children_has(struct children *c, const void *owner)
{
	struct child *ch;

	LIST_FOREACH(ch, &c->watched, entry)
		if (owner == NULL || ch->owner == owner)
			return 1;
	return 0;
}

int
children_wait(struct children *c, const void *owner, int timeout_ms)
{
	struct timespec nap = {0, 5 * 1000 * 1000};

	for (int waited = 0;; waited += 5) {
		children_reap(c);
		if (!children_has(c, owner))
			return 0;
		if (waited >= timeout_ms)
			return -1;
		nanosleep(&nap, NULL);
	}
}

static void
children_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	children_reap(arg);
}

struct children *
children_new(struct event_base *base)
{
	struct children *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	LIST_INIT(&c->watched);
	c->ev_sigchld = evsignal_new(base, SIGCHLD, children_sigchld_cb, c);
	if (c->ev_sigchld == NULL || evsignal_add(c->ev_sigchld, NULL) == -1) {
		if (c->ev_sigchld != NULL)
			event_free(c->ev_sigchld);
		free(c);
		return NULL;
	}
	return c;
}

void
children_free(struct children *c)
{
	struct child *ch;

	if (c == NULL)
		return;
	event_free(c->ev_sigchld);
	while ((ch = LIST_FIRST(&c->watched)) != NULL) {
		LIST_REMOVE(ch, entry);
		free(ch);
	}
	/* Whatever exited already is reaped; the rest are init's. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	free(c);
}

int
children_watch(struct children *c, pid_t pid, const void *owner,
    child_exit_cb cb, void *arg)
{
	struct child *ch;

	for (size_t i = 0; i < c->nunclaimed; i++) {
		if (c->unclaimed[i].pid != pid)
			continue;
		int status = c->unclaimed[i].status;
		c->unclaimed[i] = c->unclaimed[--c->nunclaimed];
		cb(pid, status, arg);
		return 0;
	}
	ch = calloc(1, sizeof *ch);
	if (ch == NULL)
		return -1;
	ch->pid = pid;
	ch->owner = owner;
	ch->cb = cb;
	ch->arg = arg;
	LIST_INSERT_HEAD(&c->watched, ch, entry);
	return 0;
}

void
children_forget(struct children *c, pid_t pid)
{
	struct child *ch;

	LIST_FOREACH(ch, &c->watched, entry)
		if (ch->pid == pid)
			ch->cb = NULL;
}
