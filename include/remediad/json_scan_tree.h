/*
 * A json_scan parse as jansson values, for the callers that keep a tree
 * of what they checked (a run's result, for the offline tools). Kept
 * apart from json_scan.c, which remediactl links without jansson.
 */
#ifndef REMEDIAD_JSON_SCAN_TREE_H
#define REMEDIAD_JSON_SCAN_TREE_H

#include <jansson.h>

#include "remediad/json_scan.h"

/*
 * Value v of the parse as a new jansson value (json_scan checked the
 * UTF-8, the keys and the depth: nothing is checked twice); NULL when
 * memory runs out.
 */
json_t *jscan_tree(const struct jscan *js, const struct jscan_value *v);

#endif
