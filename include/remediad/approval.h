/*
 * Pending approvals: a request the guard held waits here for people with
 * the approver role to answer it through remediactl. A quorum of N needs
 * N distinct people (the kernel's identity), one answer each; a denial
 * needs a reason; an unanswered approval expires as denied. Every answer
 * is audited with who and why, and the pending set with its deadlines is
 * rebuilt from the audit log after a restart.
 */
#ifndef REMEDIAD_APPROVAL_H
#define REMEDIAD_APPROVAL_H

#include <stdint.h>
#include <jansson.h>

struct daemon;
struct approvals;
struct control_req;

/*
 * Called once per approval: approved (1) or denied/expired (0); and with
 * -1 when it expired and is escalated (it stays pending): the owner sends
 * the notification to approvals.escalate_to.
 */
typedef void (*approval_cb)(void *arg, const char *id, int approved);

struct approvals *approvals_open(struct daemon *d, approval_cb cb,
    void *arg, char **cause);
void approvals_free(struct approvals *ap);

/*
 * Holds request `id` for approval: summary is what people see (stolen),
 * reason why it was held. Audited as approval.requested.
 */
void approvals_request(struct approvals *ap, const char *id, json_t *summary,
    const char *reason, int quorum);
/* 1 when id is pending. */
int approvals_pending(const struct approvals *ap, const char *id);
/* An approval rebuilt as approved whose request never ran: 1. */
int approvals_approved(const struct approvals *ap, const char *id);

void cmd_approvals(struct daemon *d, struct control_req *r);
void cmd_approve(struct daemon *d, struct control_req *r);
void cmd_deny(struct daemon *d, struct control_req *r);
json_t *approvals_status_json(const struct approvals *ap);

#endif
