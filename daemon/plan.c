/*
 * The action catalog and plan validation: every request a playbook makes is
 * checked here, in the main process, before anything records or judges it.
 * A playbook is untrusted: names, parameters, durations and sizes are all
 * bounded, and the error names the request and what is wrong with it.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remediad/audit.h"
#include "remediad/json_scan.h"
#include "remediad/plan.h"
#include "remediad/units.h"
#include "remediad/utf8.h"

static const char *const p_host[] = {"host", NULL};
static const char *const p_ip[] = {"ip", NULL};
static const char *const p_user[] = {"user", NULL};
static const char *const p_host_process[] = {"host", "process", NULL};
static const char *const p_host_path[] = {"host", "path", NULL};
static const char *const p_container[] = {"container", NULL};
static const char *const p_host_package[] = {"host", "package", NULL};
static const char *const p_host_setting[] = {"host", "setting", NULL};
static const char *const p_summary[] = {"summary", NULL};
static const char *const p_message[] = {"message", NULL};

static const struct plan_action catalog[] = {
    {"mitigate", "isolate", p_host, "unisolate"},
    {"mitigate", "block_ip", p_ip, "unblock_ip"},
    {"mitigate", "revoke_sessions", p_user, NULL},
    {"mitigate", "disable_account", p_user, "enable_account"},
    {"mitigate", "kill_process", p_host_process, NULL},
    {"mitigate", "quarantine_file", p_host_path, "restore_file"},
    {"mitigate", "quarantine_pod", p_container, "release_pod"},
    {"remediate", "patch", p_host_package, NULL},
    {"remediate", "reimage", p_host, NULL},
    {"remediate", "rotate_credential", p_user, NULL},
    {"remediate", "fix_config", p_host_setting, NULL},
    {"remediate", "remove_file", p_host_path, NULL},
    {"ticket", "ticket", p_summary, NULL},
    {"notify", "notify", p_message, NULL},
    {NULL, NULL, NULL, NULL},
};

/* Fields every request may carry, taken out of params. */
static const char *const common[] = {"reason", "approval", "risk", "ttl",
    "until_remediated", "verify", NULL};

const struct plan_action *
plan_catalog(void)
{
	return catalog;
}

const struct plan_action *
plan_action_find(const char *kind, const char *name)
{
	for (const struct plan_action *a = catalog; a->kind != NULL; a++)
		if (strcmp(a->kind, kind) == 0 && strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

static int
is_common(const char *k)
{
	for (size_t i = 0; common[i] != NULL; i++)
		if (strcmp(common[i], k) == 0)
			return 1;
	return 0;
}

/* An address or a CIDR block, v4 or v6. */
static int
valid_ip(const char *s)
{
	char buf[INET6_ADDRSTRLEN + 8];
	unsigned char addr[16];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);

	if (len >= INET6_ADDRSTRLEN)
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	int v4 = inet_pton(AF_INET, buf, addr) == 1;
	if (!v4 && inet_pton(AF_INET6, buf, addr) != 1)
		return 0;
	if (slash == NULL)
		return 1;
	char *end;
	long bits = strtol(slash + 1, &end, 10);
	return slash[1] >= '0' && slash[1] <= '9' && *end == '\0' &&
	    bits >= 0 && bits <= (v4 ? 32 : 128);
}

/* The request an error is about, named only when there is one. */
struct plan_req {
	size_t i;
	const char *kind, *name;
};

static void plan_err(char *, size_t, const struct plan_req *, const char *,
    ...) __attribute__((format(printf, 4, 5)));

/*
 * "request 2 (mitigate.isolate): " and the message, into err: text, even
 * where a cut (of err, or of a quoted value) splits a character.
 */
static void
plan_err(char *err, size_t errlen, const struct plan_req *w,
    const char *fmt, ...)
{
	int same = strcmp(w->kind, w->name) == 0;
	int n = snprintf(err, errlen, "request %zu (%s%s%s): ", w->i + 1,
	    w->kind, same ? "" : ".", same ? "" : w->name);
	va_list ap;

	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	if (errlen > 0)
		utf8_repair(err);
}

/* ---- Checking, straight from a parse, into canonical text ----------------- */

/* Canonical key order: bytes, the shorter first on a tie. */
static int
param_order(const void *a, const void *b)
{
	const struct jscan_value *x = *(const struct jscan_value *const *)a;
	const struct jscan_value *y = *(const struct jscan_value *const *)b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);

	if (c != 0)
		return c;
	return x->keylen < y->keylen ? -1 : x->keylen > y->keylen;
}

/* A scalar as canonical text (strings escaped, reals as jansson spells). */
static int
put_scalar(struct audit_buf *b, const struct jscan_value *v)
{
	switch ((enum jscan_type)v->type) {
	case JSCAN_STRING:
		return audit_canon_string(b, v->u.str.s, v->u.str.len);
	case JSCAN_INTEGER:
		return audit_canon_int(b, v->u.i);
	case JSCAN_TRUE:
		return audit_buf_put(b, "true", 4);
	case JSCAN_FALSE:
		return audit_buf_put(b, "false", 5);
	case JSCAN_REAL:
		return audit_canon_real(b, v->u.d);
	default:
		return audit_buf_put(b, "null", 4);
	}
}

/* ,"key": then the string s. */
static int
put_member(struct audit_buf *b, const char *key, const char *s, size_t len)
{
	return audit_buf_put(b, ",\"", 2) == -1 ||
	    audit_buf_put(b, key, strlen(key)) == -1 ||
	    audit_buf_put(b, "\":", 2) == -1 ||
	    audit_canon_string(b, s, len) == -1 ? -1 : 0;
}

/*
 * Request i, checked and written to out as its normalized object. The
 * keys are written in canonical order: action, approval, kind, params,
 * reason, risk, rollback, ttl, ttl_ms, until_remediated, verify.
 */
static int
one(const struct jscan *js, const struct jscan_value *req, size_t i,
    const json_t *map, struct audit_buf *out, char *err, size_t errlen)
{
	const char *kind = jscan_get_str(js, req, "kind");
	const char *name = jscan_get_str(js, req, "action");
	const struct jscan_value *params = jscan_get(js, req, "params", 6);
	const struct jscan_value *v, *clean[PLAN_MAX_PARAMS];
	const struct plan_action *a;
	const char *s;
	size_t nclean = 0;

	if (kind == NULL || name == NULL || !jscan_is(params, JSCAN_OBJECT)) {
		snprintf(err, errlen, "request %zu: malformed", i + 1);
		return -1;
	}
	const struct plan_req w = {i, kind, name};
	a = plan_action_find(kind, name);
	/* With connectors, the config says which actions exist. */
	struct plan_action custom;
	const char *req_names[17] = {NULL};
	if (map != NULL) {
		const json_t *e = json_object_get(map, name);
		if (e == NULL) {
			plan_err(err, errlen, &w, "no connector for action %s "
			    "(connectors.actions)", name);
			return -1;
		}
		if (a == NULL) {
			const char *ek = json_string_value(json_object_get(e,
			    "kind"));
			if (ek == NULL || strcmp(ek, kind) != 0) {
				plan_err(err, errlen, &w, "connectors.actions.%s "
				    "is of kind %s", name, ek ? ek :
				    "(unset)");
				return -1;
			}
			const json_t *ps = json_object_get(e, "params");
			for (size_t j = 0; j < 16 && j < json_array_size(ps);
			    j++)
				req_names[j] = json_string_value(
				    json_array_get(ps, j));
			custom.kind = kind;
			custom.name = name;
			custom.required = req_names;
			custom.rollback = json_string_value(json_object_get(e,
			    "rollback"));
			a = &custom;
		}
	}
	if (a == NULL) {
		plan_err(err, errlen, &w, "unknown action");
		return -1;
	}
	if (params->count > PLAN_MAX_PARAMS) {
		plan_err(err, errlen, &w, "more than %d parameters",
		    PLAN_MAX_PARAMS);
		return -1;
	}
	for (v = jscan_first(js, params); v != NULL; v = jscan_next(js, v)) {
		if (is_common(v->key))
			continue;
		if (jscan_is(v, JSCAN_STRING) && v->u.str.len >
		    PLAN_MAX_STRING) {
			plan_err(err, errlen, &w, "parameter %s is longer than "
			    "%d bytes", v->key, PLAN_MAX_STRING);
			return -1;
		}
		if (!jscan_is(v, JSCAN_STRING) && !jscan_is_number(v) &&
		    !jscan_is(v, JSCAN_TRUE) && !jscan_is(v, JSCAN_FALSE)) {
			plan_err(err, errlen, &w, "parameter %s must be a "
			    "string, number or boolean", v->key);
			return -1;
		}
		clean[nclean++] = v;
	}
	for (size_t j = 0; a->required[j] != NULL; j++) {
		if (*a->required[j] == '\0')
			continue;
		v = is_common(a->required[j]) ? NULL : jscan_get(js, params,
		    a->required[j], strlen(a->required[j]));
		if (!jscan_is(v, JSCAN_STRING) || v->u.str.len == 0) {
			plan_err(err, errlen, &w, "missing parameter %s (a "
			    "non-empty string)", a->required[j]);
			return -1;
		}
	}
	if ((s = jscan_get_str(js, params, "ip")) != NULL &&
	    !valid_ip(s)) {
		plan_err(err, errlen, &w, "ip \"%.64s\" is not an address or "
		    "CIDR block", s);
		return -1;
	}
	const char *reason = NULL;
	size_t reason_len = 0;
	if ((v = jscan_get(js, params, "reason", 6)) != NULL) {
		if (!jscan_is(v, JSCAN_STRING)) {
			plan_err(err, errlen, &w, "reason must be a string");
			return -1;
		}
		/* A long reason (an alert title, often) is cut, not refused:
		 * at a UTF-8 character boundary. */
		reason = v->u.str.s;
		reason_len = v->u.str.len;
		if (reason_len > PLAN_MAX_REASON) {
			reason_len = PLAN_MAX_REASON;
			while (reason_len > 0 &&
			    ((unsigned char)reason[reason_len] & 0xc0) == 0x80)
				reason_len--;
		}
	}
	v = jscan_get(js, params, "approval", 8);
	const char *approval = v ? jscan_get_str(js, params, "approval") :
				   "auto";
	if (approval == NULL || (strcmp(approval, "auto") &&
	    strcmp(approval, "required"))) {
		plan_err(err, errlen, &w, "approval must be \"auto\" or "
		    "\"required\"");
		return -1;
	}
	v = jscan_get(js, params, "risk", 4);
	const char *risk = v ? jscan_get_str(js, params, "risk") : "medium";
	if (risk == NULL || (strcmp(risk, "low") && strcmp(risk, "medium") &&
	    strcmp(risk, "high") && strcmp(risk, "critical"))) {
		plan_err(err, errlen, &w, "risk must be low, medium, high or "
		    "critical");
		return -1;
	}

	const struct jscan_value *ttl = jscan_get(js, params, "ttl", 3);
	const struct jscan_value *until = jscan_get(js, params,
	    "until_remediated", 16);
	const struct jscan_value *verify = jscan_get(js, params, "verify", 6);
	if (strcmp(kind, "mitigate") != 0 && (ttl || until)) {
		plan_err(err, errlen, &w, "ttl and until_remediated are for "
		    "mitigations");
		return -1;
	}
	if (strcmp(kind, "remediate") != 0 && verify) {
		plan_err(err, errlen, &w, "verify is for remediations");
		return -1;
	}
	if (until != NULL && !jscan_is(until, JSCAN_TRUE) &&
	    !jscan_is(until, JSCAN_FALSE)) {
		plan_err(err, errlen, &w, "until_remediated must be a boolean");
		return -1;
	}
	if (until != NULL && !jscan_is(until, JSCAN_TRUE))
		until = NULL;
	if (ttl != NULL && until != NULL) {
		plan_err(err, errlen, &w, "give ttl or until_remediated, not "
		    "both");
		return -1;
	}
	uint64_t ms = 0;
	if (ttl != NULL) {
		const char *cause = "not a string";
		if (!jscan_is(ttl, JSCAN_STRING) ||
		    units_parse_duration(ttl->u.str.s, &ms, &cause) != 0 ||
		    ms == 0 || ms > PLAN_MAX_TTL_MS) {
			plan_err(err, errlen, &w, "bad ttl: %s",
			    jscan_is(ttl, JSCAN_STRING) && cause == NULL ?
			    "between 1ms and 366d" : cause ? cause :
			    "between 1ms and 366d");
			return -1;
		}
		if (a->rollback == NULL) {
			plan_err(err, errlen, &w, "has no rollback, so no ttl");
			return -1;
		}
	} else if (until != NULL) {
		if (a->rollback == NULL) {
			plan_err(err, errlen, &w, "has no rollback, so no "
			    "until_remediated");
			return -1;
		}
	} else if (a->rollback != NULL) {
		/* A mitigation never stays in place forever by accident. */
		plan_err(err, errlen, &w, "needs ttl = \"...\" or "
		    "until_remediated = true");
		return -1;
	}
	if (strcmp(kind, "remediate") == 0 && verify != NULL &&
	    !jscan_is(verify, JSCAN_TRUE) && !jscan_is(verify, JSCAN_FALSE)) {
		plan_err(err, errlen, &w, "verify must be a boolean");
		return -1;
	}

	/* Checked: written, in canonical key order. */
	qsort(clean, nclean, sizeof *clean, param_order);
	int bad = audit_buf_lit(out, "{\"action\":") == -1 ||
	    audit_canon_string(out, name, strlen(name)) == -1 ||
	    put_member(out, "approval", approval, strlen(approval)) == -1 ||
	    put_member(out, "kind", kind, strlen(kind)) == -1 ||
	    audit_buf_lit(out, ",\"params\":{") == -1;
	for (size_t j = 0; !bad && j < nclean; j++)
		bad = (j > 0 && audit_buf_lit(out, ",") == -1) ||
		    audit_canon_string(out, clean[j]->key,
			clean[j]->keylen) == -1 ||
		    audit_buf_lit(out, ":") == -1 ||
		    put_scalar(out, clean[j]) == -1;
	bad = bad || audit_buf_lit(out, "}") == -1 ||
	    (reason != NULL && put_member(out, "reason", reason,
		reason_len) == -1) ||
	    put_member(out, "risk", risk, strlen(risk)) == -1 ||
	    (a->rollback != NULL && put_member(out, "rollback", a->rollback,
		strlen(a->rollback)) == -1);
	if (!bad && ttl != NULL)
		bad = put_member(out, "ttl", ttl->u.str.s, ttl->u.str.len) ==
			-1 ||
		    audit_buf_lit(out, ",\"ttl_ms\":") == -1 ||
		    audit_canon_int(out, (int64_t)ms) == -1;
	if (!bad && until != NULL)
		bad = audit_buf_lit(out, ",\"until_remediated\":true") == -1;
	if (!bad && strcmp(kind, "remediate") == 0)
		bad = verify == NULL || jscan_is(verify, JSCAN_TRUE) ?
		    audit_buf_lit(out, ",\"verify\":true") == -1 :
		    audit_buf_lit(out, ",\"verify\":false") == -1;
	if (bad || audit_buf_lit(out, "}") == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
plan_check(const struct jscan *js, const struct jscan_value *actions,
    const json_t *map, struct audit_buf *out, char *err, size_t errlen)
{
	const struct jscan_value *req;
	size_t start = out->len, i = 0;

	if (!jscan_is(actions, JSCAN_ARRAY)) {
		snprintf(err, errlen, "the plan is not a list of requests");
		return -1;
	}
	if (audit_buf_lit(out, "[") == -1)
		goto oom;
	for (req = jscan_first(js, actions); req != NULL;
	     req = jscan_next(js, req), i++) {
		if (!jscan_is(req, JSCAN_OBJECT)) {
			snprintf(err, errlen, "request %zu: malformed", i + 1);
			goto fail;
		}
		if ((i > 0 && audit_buf_lit(out, ",") == -1))
			goto oom;
		if (one(js, req, i, map, out, err, errlen) == -1)
			goto fail;
	}
	if (audit_buf_lit(out, "]") == -1)
		goto oom;
	return (int)i;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	out->len = start;
	return -1;
}

json_t *
plan_validate(const json_t *actions, char *err, size_t errlen)
{
	return plan_validate_with(actions, NULL, err, errlen);
}

/*
 * The object form, for the callers that hold one (the offline tools, a
 * request typed at remediactl): the same check, through the text.
 */
json_t *
plan_validate_with(const json_t *actions, const json_t *map, char *err,
    size_t errlen)
{
	struct jscan js = {0};
	struct jscan_error jerr;
	struct audit_buf out = {0};
	json_t *plan = NULL;
	char *text;

	if (!json_is_array(actions)) {
		snprintf(err, errlen, "the plan is not a list of requests");
		return NULL;
	}
	if ((text = json_dumps(actions, JSON_COMPACT)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (jscan_parse(&js, text, strlen(text), PLAN_MAX_DEPTH, &jerr) != 0)
		snprintf(err, errlen, "the plan is not a list of requests: %s",
		    jerr.text);
	else if (plan_check(&js, jscan_root(&js), map, &out, err,
	    errlen) >= 0 && (plan = json_loadb(out.data, out.len, 0,
	    NULL)) == NULL)
		snprintf(err, errlen, "out of memory");
	free(text);
	jscan_free(&js);
	audit_buf_free(&out);
	return plan;
}
