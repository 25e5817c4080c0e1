/*
 * The seccomp filter of the playbook workers: once the playbooks are
 * loaded a worker only computes and talks on its socket, so the system
 * calls that open files, make sockets, start programs or change the
 * system fail with EPERM.
 */
#ifndef REMEDIAD_SECCOMP_H
#define REMEDIAD_SECCOMP_H

/* 0 installed, -1 not (unsupported architecture or kernel). */
int seccomp_confine_worker(void);

#endif
