/*
 * Child processes owned by the loop: one SIGCHLD event reaps every child
 * that exited and calls what was registered for its pid. Workers and
 * connectors are started by their own units and watched here, so no
 * zombie outlives its callback.
 */
#ifndef REMEDIAD_CHILD_H
#define REMEDIAD_CHILD_H

#include <sys/types.h>

struct event_base;
struct children;

typedef void (*child_exit_cb)(pid_t pid, int status, void *arg);

struct children *children_new(struct event_base *base);
/* Reaps what already exited, then forgets the rest (they are not killed). */
void children_free(struct children *c);
/*
 * Calls cb once, from the loop, when pid exits. owner tags the child for
 * children_wait(). 0, or -1 (ENOMEM).
 */
int children_watch(struct children *c, pid_t pid, const void *owner,
    child_exit_cb cb, void *arg);
/* The callback will not be called; the child is still reaped. */
void children_forget(struct children *c, pid_t pid);
/* Reaps now (also done on each SIGCHLD). */
void children_reap(struct children *c);
/*
 * Outside the loop (at shutdown): reaps until no watched child of owner
 * (any owner: NULL) is left, or timeout_ms passed; 0 or -1.
 */
int children_wait(struct children *c, const void *owner, int timeout_ms);
/* "exited with status 1", "killed by signal 11 (Segmentation fault)". */
void child_status_str(int status, char *buf, size_t len);

#endif
