/*
 * The audit log's control commands (verify, tail, tail -f, search) and the
 * observer that feeds tail -f streams.
 */
#ifndef REMEDIAD_AUDIT_CTL_H
#define REMEDIAD_AUDIT_CTL_H

struct daemon;
struct control_req;
struct audit_ctl;

struct audit_ctl *audit_ctl_new(struct daemon *d);
/* Ends every stream. */
void audit_ctl_free(struct audit_ctl *ctl);

void cmd_audit_verify(struct daemon *d, struct control_req *r);
void cmd_audit_tail(struct daemon *d, struct control_req *r);
void cmd_audit_search(struct daemon *d, struct control_req *r);
/*
 * Answers r with the newest `limit` records matching filters (stolen, an
 * object of scalar values), and the members of extra (stolen, or NULL)
 * added to the reply's data.
 */
void audit_ctl_search(struct daemon *d, struct control_req *r,
    json_t *filters, size_t limit, json_t *extra);
/* The same, and the records at seq1 and seq2 (0: none) whatever they hold. */
void audit_ctl_search_also(struct daemon *d, struct control_req *r,
    json_t *filters, size_t limit, json_t *extra, uint64_t seq1,
    uint64_t seq2);

#endif
