/*
 * json_scan parses as jansson trees (see json_scan_tree.h).
 */
#include "remediad/json_scan_tree.h"

json_t *
jscan_tree(const struct jscan *js, const struct jscan_value *v)
{
	const struct jscan_value *c;
	json_t *o, *e;

	switch ((enum jscan_type)v->type) {
	case JSCAN_NULL:
		return json_null();
	case JSCAN_FALSE:
		return json_false();
	case JSCAN_TRUE:
		return json_true();
	case JSCAN_INTEGER:
		return json_integer(v->u.i);
	case JSCAN_REAL:
		return json_real(v->u.d);
	case JSCAN_STRING:
		return json_stringn_nocheck(v->u.str.s, v->u.str.len);
	case JSCAN_ARRAY:
	case JSCAN_OBJECT:
		o = v->type == JSCAN_OBJECT ? json_object() : json_array();
		for (c = jscan_first(js, v); o != NULL && c != NULL;
		     c = jscan_next(js, c)) {
			if ((e = jscan_tree(js, c)) == NULL ||
			    (v->type == JSCAN_OBJECT
				    ? json_object_setn_new_nocheck(o, c->key,
					  c->keylen, e)
				    : json_array_append_new(o, e)) != 0) {
				json_decref(o);
				o = NULL;
			}
		}
		return o;
	}
	return NULL;
}
