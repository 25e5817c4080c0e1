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

#include "remediad/plan.h"
#include "remediad/units.h"

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

/* "request 2 (mitigate.isolate): " and the message, into err. */
static void
plan_err(char *err, size_t errlen, const struct plan_req *w,
    const char *fmt, ...)
{
	int same = strcmp(w->kind, w->name) == 0;
	int n = snprintf(err, errlen, "request %zu (%s%s%s): ", w->i + 1,
	    w->kind, same ? "" : ".", same ? "" : w->name);
	va_list ap;

	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static int
one(const json_t *req, size_t i, const json_t *map, json_t *out, char *err,
    size_t errlen)
{
	const char *kind = json_string_value(json_object_get(req, "kind"));
	const char *name = json_string_value(json_object_get(req, "action"));
	json_t *params = json_object_get(req, "params"), *v, *clean, *r;
	const struct plan_action *a;
	const char *k, *s;

	if (kind == NULL || name == NULL || !json_is_object(params)) {
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
	if (json_object_size(params) > PLAN_MAX_PARAMS) {
		plan_err(err, errlen, &w, "more than %d parameters",
		    PLAN_MAX_PARAMS);
		return -1;
	}
	clean = json_object();
	r = json_object();
	if (clean == NULL || r == NULL) {
		json_decref(clean);
		json_decref(r);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* A failed set_new frees its value: r alone is left to free. */
	if (json_object_set_new_nocheck(r, "kind", json_string(kind)) != 0 ||
	    json_object_set_new_nocheck(r, "action", json_string(name)) != 0 ||
	    json_object_set_new_nocheck(r, "params", clean) != 0) {
		snprintf(err, errlen, "out of memory");
		json_decref(r);
		return -1;
	}
	json_object_foreach(params, k, v) {
		if (is_common(k))
			continue;
		if (json_is_string(v) && json_string_length(v) >
		    PLAN_MAX_STRING) {
			plan_err(err, errlen, &w, "parameter %s is longer than "
			    "%d bytes", k, PLAN_MAX_STRING);
			goto fail;
		}
		if (!json_is_string(v) && !json_is_number(v) &&
		    !json_is_boolean(v)) {
			plan_err(err, errlen, &w, "parameter %s must be a "
			    "string, number or boolean", k);
			goto fail;
		}
		json_object_set(clean, k, v);
	}
	for (size_t j = 0; a->required[j] != NULL; j++) {
		if (*a->required[j] == '\0')
			continue;
		v = json_object_get(clean, a->required[j]);
		if (!json_is_string(v) || json_string_length(v) == 0) {
			plan_err(err, errlen, &w, "missing parameter %s (a "
			    "non-empty string)", a->required[j]);
			goto fail;
		}
	}
	if ((s = json_string_value(json_object_get(clean, "ip"))) != NULL &&
	    !valid_ip(s)) {
		plan_err(err, errlen, &w, "ip \"%.64s\" is not an address or "
		    "CIDR block", s);
		goto fail;
	}
	v = json_object_get(params, "reason");
	if (v != NULL) {
		if (!json_is_string(v)) {
			plan_err(err, errlen, &w, "reason must be a string");
			goto fail;
		}
		/* A long reason (an alert title, often) is cut, not refused:
		 * at a UTF-8 character boundary. */
		size_t len = json_string_length(v);
		const char *txt = json_string_value(v);
		if (len > PLAN_MAX_REASON) {
			len = PLAN_MAX_REASON;
			while (len > 0 && ((unsigned char)txt[len] & 0xc0) ==
			    0x80)
				len--;
			json_object_set_new(r, "reason", json_stringn(txt, len));
		} else
			json_object_set(r, "reason", v);
	}
	v = json_object_get(params, "approval");
	s = v ? json_string_value(v) : "auto";
	if (s == NULL || (strcmp(s, "auto") && strcmp(s, "required"))) {
		plan_err(err, errlen, &w, "approval must be \"auto\" or "
		    "\"required\"");
		goto fail;
	}
	json_object_set_new(r, "approval", json_string(s));
	v = json_object_get(params, "risk");
	s = v ? json_string_value(v) : "medium";
	if (s == NULL || (strcmp(s, "low") && strcmp(s, "medium") &&
	    strcmp(s, "high") && strcmp(s, "critical"))) {
		plan_err(err, errlen, &w, "risk must be low, medium, high or "
		    "critical");
		goto fail;
	}
	json_object_set_new(r, "risk", json_string(s));

	json_t *ttl = json_object_get(params, "ttl");
	json_t *until = json_object_get(params, "until_remediated");
	json_t *verify = json_object_get(params, "verify");
	if (strcmp(kind, "mitigate") != 0 && (ttl || until)) {
		plan_err(err, errlen, &w, "ttl and until_remediated are for "
		    "mitigations");
		goto fail;
	}
	if (strcmp(kind, "remediate") != 0 && verify) {
		plan_err(err, errlen, &w, "verify is for remediations");
		goto fail;
	}
	if (until != NULL && !json_is_boolean(until)) {
		plan_err(err, errlen, &w, "until_remediated must be a boolean");
		goto fail;
	}
	if (until != NULL && !json_is_true(until))
		until = NULL;
	if (ttl != NULL && until != NULL) {
		plan_err(err, errlen, &w, "give ttl or until_remediated, not "
		    "both");
		goto fail;
	}
	if (ttl != NULL) {
		uint64_t ms;
		const char *cause = "not a string";
		if (!json_is_string(ttl) ||
		    units_parse_duration(json_string_value(ttl), &ms,
			&cause) != 0 || ms == 0 || ms > PLAN_MAX_TTL_MS) {
			plan_err(err, errlen, &w, "bad ttl: %s",
			    json_is_string(ttl) && cause == NULL ?
			    "between 1ms and 366d" : cause ? cause :
			    "between 1ms and 366d");
			goto fail;
		}
		if (a->rollback == NULL) {
			plan_err(err, errlen, &w, "has no rollback, so no ttl");
			goto fail;
		}
		json_object_set(r, "ttl", ttl);
		json_object_set_new(r, "ttl_ms", json_integer((json_int_t)ms));
	} else if (until != NULL) {
		if (a->rollback == NULL) {
			plan_err(err, errlen, &w, "has no rollback, so no "
			    "until_remediated");
			goto fail;
		}
		json_object_set_new(r, "until_remediated", json_true());
	} else if (a->rollback != NULL) {
		/* A mitigation never stays in place forever by accident. */
		plan_err(err, errlen, &w, "needs ttl = \"...\" or "
		    "until_remediated = true");
		goto fail;
	}
	if (strcmp(kind, "remediate") == 0) {
		if (verify != NULL && !json_is_boolean(verify)) {
			plan_err(err, errlen, &w, "verify must be a boolean");
			goto fail;
		}
		json_object_set_new(r, "verify", json_boolean(verify == NULL ||
		    json_is_true(verify)));
	}
	if (a->rollback != NULL)
		json_object_set_new(r, "rollback", json_string(a->rollback));
	json_array_append_new(out, r);
	return 0;
fail:
	json_decref(r);
	return -1;
}

json_t *
plan_validate(const json_t *actions, char *err, size_t errlen)
{
	return plan_validate_with(actions, NULL, err, errlen);
}

json_t *
plan_validate_with(const json_t *actions, const json_t *map, char *err,
    size_t errlen)
{
	json_t *out = json_array();

	if (!json_is_array(actions)) {
		snprintf(err, errlen, "the plan is not a list of requests");
		json_decref(out);
		return NULL;
	}
	for (size_t i = 0; i < json_array_size(actions); i++) {
		if (one(json_array_get(actions, i), i, map, out, err, errlen) ==
		    -1) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}
