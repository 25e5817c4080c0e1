/*
 * A map from string ids to the things they name: actions by "A12.0",
 * approvals by id, the runs an alert owes by its id, a playbook's dedup
 * and escalation keys by value. Some ids come from alerts, so they are
 * hashed with SipHash under a key of the map's own. Neither the ids nor
 * the values are copied: an id must stay valid (and unchanged) while it
 * is in the map.
 */
#ifndef REMEDIAD_IDMAP_H
#define REMEDIAD_IDMAP_H

#include <stddef.h>

struct idmap;

/* NULL when memory runs out. */
struct idmap *idmap_new(void);
void idmap_free(struct idmap *m);

/* Adds id -> v, or replaces v if id is there; -1 out of memory. */
int idmap_put(struct idmap *m, const char *id, void *v);
/* The value of id, or NULL. */
void *idmap_get(const struct idmap *m, const char *id);
/* Removes id (nothing if absent). */
void idmap_del(struct idmap *m, const char *id);
size_t idmap_size(const struct idmap *m);
/*
 * Calls fn on every value, in no order. fn must not change the map, but
 * may free the value and its id: the map is then only fit for
 * idmap_free().
 */
void idmap_foreach(const struct idmap *m, void (*fn)(void *v));

#endif
