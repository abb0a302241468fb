#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "config_authorizationpolicy.h"
#include "config_field.h"
#include "xmalloc.h"

#define CONFIG_AP_TARGET_NOTE                                                  \
	"weft selects workloads by spec.selector (no Gateway API targets)"
/* Istio's bound on the service accounts of one field. */
#define CONFIG_AP_SA_MAX 16

/* A list of values to match: strings that are not empty. */
static int
config_ap_values(struct config_ctx *ctx, json_t *v)
{
	return config_nonempty_strings(ctx, v);
}

static int
config_ap_ip(struct config_ctx *ctx, json_t *v)
{
	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	if (config_cidr_valid(json_string_value(v)))
		return 0;
	config_error(ctx, "\"%s\" is neither an IP address nor a CIDR",
	    json_string_value(v));
	return -1;
}

/*
 * "ACCOUNT" (of the policy's namespace) or "NAMESPACE/ACCOUNT", as
 * Istio checks them: no wildcard, at most 320 characters.
 */
static int
config_ap_service_account(struct config_ctx *ctx, json_t *v)
{
	const char *s, *slash;

	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	s = json_string_value(v);
	slash = strchr(s, '/');
	if (strchr(s, '*') != NULL)
		config_error(
		    ctx, "\"%s\": a service account has no wildcard", s);
	else if (strlen(s) > 320)
		config_error(ctx, "\"%s\" is longer than 320 characters", s);
	else if (slash != NULL &&
	    (slash == s || slash[1] == '\0' || strchr(slash + 1, '/') != NULL))
		config_error(
		    ctx, "\"%s\" is neither ACCOUNT nor NAMESPACE/ACCOUNT", s);
	else
		return 0;
	return -1;
}

static int
config_ap_service_accounts(struct config_ctx *ctx, json_t *v)
{
	if (config_list(ctx, v, config_ap_service_account, 0) == -1)
		return -1;
	if (json_array_size(v) <= CONFIG_AP_SA_MAX)
		return 0;
	config_error(ctx, "more than %d service accounts", CONFIG_AP_SA_MAX);
	return -1;
}

static int
config_ap_ips(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_ap_ip, 0);
}

/* A port as Istio reads one here: a decimal string up to 65535. */
static int
config_ap_port(struct config_ctx *ctx, json_t *v)
{
	const char *s;
	size_t len;

	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	s = json_string_value(v);
	len = strlen(s);
	while (len > 1 && *s == '0') {
		s++;
		len--;
	}
	if (strspn(s, "0123456789") == len && len <= 5 && atol(s) <= 65535)
		return 0;
	config_error(ctx, "\"%s\" is not a port number (0 to 65535)",
	    json_string_value(v));
	return -1;
}

static int
config_ap_ports(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_ap_port, 0);
}

/* RFC 3986 pchar, as Istio wants the literal segments of a template. */
static int
config_ap_literal(const char *s, size_t len)
{
	static const char extra[] = "-._~%!$&'()+,;:@=";
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= '0' && s[i] <= '9') ||
			memchr(extra, s[i], sizeof(extra) - 1) != NULL))
			return 0;
	}
	return 1;
}

/*
 * Path templates as Istio checks them: {*} is one segment, {**} any
 * number of them and comes last of the operators; no other braces; with
 * a template, every other segment is a plain literal.
 */
static int
config_ap_path(struct config_ctx *ctx, json_t *v)
{
	const char *path, *p, *end, *slash;
	size_t n;
	int templ, one, many, any = 0;

	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	path = json_string_value(v);
	templ = strstr(path, "{*}") != NULL || strstr(path, "{**}") != NULL;
	p = path;
	end = path + strlen(path);
	while (p < end && *p == '/')
		p++;
	while (end > p && end[-1] == '/')
		end--;
	for (;;) {
		slash = memchr(p, '/', (size_t)(end - p));
		n = slash != NULL ? (size_t)(slash - p) : (size_t)(end - p);
		one = n == 3 && strncmp(p, "{*}", 3) == 0;
		many = n == 4 && strncmp(p, "{**}", 4) == 0;
		if ((one || many) && any) {
			config_error(ctx,
			    "invalid path template \"%s\": {**} must be the "
			    "last operator",
			    path);
			return -1;
		}
		if (many)
			any = 1;
		else if (!one &&
		    (memchr(p, '{', n) != NULL || memchr(p, '}', n) != NULL)) {
			config_error(ctx,
			    "invalid path template \"%s\": '{' or '}' outside "
			    "of {*} and {**}",
			    path);
			return -1;
		} else if (!one && templ && !config_ap_literal(p, n)) {
			config_error(ctx,
			    "invalid path template \"%s\": segment \"%.*s\" is "
			    "not a plain literal",
			    path, (int)n, p);
			return -1;
		}
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return 0;
}

static int
config_ap_paths(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_ap_path, 0);
}

/* Whether a source or operation sets at least one non-empty list. */
static int
config_ap_nonempty(struct config_ctx *ctx, json_t *v)
{
	const char *key;
	json_t *value;

	json_object_foreach(v, key, value)
	{
		if (json_array_size(value) > 0)
			return 0;
	}
	config_error(ctx, "must not be empty");
	return -1;
}

static int
config_ap_source(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"principals", config_ap_values, 0, NULL},
	    {"notPrincipals", config_ap_values, 0, NULL},
	    {"requestPrincipals", config_ap_values, 0, NULL},
	    {"notRequestPrincipals", config_ap_values, 0, NULL},
	    {"namespaces", config_ap_values, 0, NULL},
	    {"notNamespaces", config_ap_values, 0, NULL},
	    {"ipBlocks", config_ap_ips, 0, NULL},
	    {"notIpBlocks", config_ap_ips, 0, NULL},
	    {"remoteIpBlocks", config_ap_ips, 0, NULL},
	    {"notRemoteIpBlocks", config_ap_ips, 0, NULL},
	    {"serviceAccounts", config_ap_service_accounts, 0, NULL},
	    {"notServiceAccounts", config_ap_service_accounts, 0, NULL},
	    {"trustDomains", config_ap_values, 0, NULL},
	    {"notTrustDomains", config_ap_values, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};
	static const char *const ids[] = {
	    "principals", "notPrincipals", "namespaces", "notNamespaces", NULL};
	size_t i, nids = 0, nsas;

	if (config_object(ctx, v, fields) == -1 ||
	    config_ap_nonempty(ctx, v) == -1)
		return -1;
	for (i = 0; ids[i] != NULL; i++)
		nids += json_array_size(json_object_get(v, ids[i]));
	nsas = json_array_size(json_object_get(v, "serviceAccounts")) +
	    json_array_size(json_object_get(v, "notServiceAccounts"));
	if (nids > 0 && nsas > 0) {
		/* As Istio: both would match the same peer identity. */
		config_error(ctx,
		    "cannot set serviceAccounts with namespaces or principals");
		return -1;
	}
	return 0;
}

static int
config_ap_from_item(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"source", config_ap_source, CONFIG_REQUIRED, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_ap_from(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_ap_from_item, 1);
}

static int
config_ap_operation(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"hosts", config_ap_values, 0, NULL},
	    {"notHosts", config_ap_values, 0, NULL},
	    {"ports", config_ap_ports, 0, NULL},
	    {"notPorts", config_ap_ports, 0, NULL},
	    {"methods", config_ap_values, 0, NULL},
	    {"notMethods", config_ap_values, 0, NULL},
	    {"paths", config_ap_paths, 0, NULL},
	    {"notPaths", config_ap_paths, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	if (config_object(ctx, v, fields) == -1)
		return -1;
	return config_ap_nonempty(ctx, v);
}

static int
config_ap_to_item(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"operation", config_ap_operation, CONFIG_REQUIRED, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_ap_to(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_ap_to_item, 1);
}

/* Condition keys */

/* Those compared as strings, or as addresses and ports (below). */
static const char *const config_ap_plain_keys[] = {"source.namespace",
    "source.principal", "request.auth.principal", "request.auth.audiences",
    "request.auth.presenter", "connection.sni", NULL};
/* Checked as serviceAccounts are. */
#define CONFIG_AP_SA_KEY "source.serviceAccount"
static const char *const config_ap_ip_keys[] = {
    "source.ip", "remote.ip", "destination.ip", NULL};

static int
config_ap_in(const char *key, const char *const *set)
{
	size_t i;

	for (i = 0; set[i] != NULL; i++) {
		if (strcmp(key, set[i]) == 0)
			return 1;
	}
	return 0;
}

/* "[a]" (nested: "[a][b]..."): non-empty names without brackets. */
static int
config_ap_brackets(const char *s, int nested)
{
	size_t n, groups = 0;

	while (*s != '\0') {
		if (*s != '[')
			return 0;
		n = strcspn(s + 1, "[]");
		if (n == 0 || s[1 + n] != ']')
			return 0;
		s += n + 2;
		groups++;
	}
	return groups == 1 || (nested && groups > 1);
}

static int
config_ap_prefix(const char *key, const char *prefix)
{
	return strncmp(key, prefix, strlen(prefix)) == 0;
}

int
config_ap_condition_key(const char *key, const char **why)
{
	*why = NULL;
	if (config_ap_in(key, config_ap_plain_keys) ||
	    config_ap_in(key, config_ap_ip_keys) ||
	    strcmp(key, "destination.port") == 0 ||
	    strcmp(key, CONFIG_AP_SA_KEY) == 0)
		return 1;
	if (config_ap_prefix(key, "request.headers[")) {
		if (config_ap_brackets(key + strlen("request.headers"), 0))
			return 1;
		*why = "a header key is request.headers[NAME]";
	} else if (config_ap_prefix(key, "request.auth.claims[")) {
		if (config_ap_brackets(key + strlen("request.auth.claims"), 1))
			return 1;
		*why = "a claim key is request.auth.claims[NAME], or "
		       "request.auth.claims[NAME][NESTED]... for a nested "
		       "claim";
	} else if (config_ap_prefix(key, "request.experimental."))
		*why = "not supported: use request.headers[NAME]";
	else if (config_ap_prefix(key, "experimental.envoy.filters."))
		*why = "not supported: weft has no Envoy filter metadata";
	else if (strcmp(key, "destination.namespace") == 0)
		*why = "replaced by the policy's metadata.namespace";
	else if (config_ap_prefix(key, "destination.labels"))
		*why = "replaced by the policy's selector";
	else if (strcmp(key, "destination.name") == 0 ||
	    strcmp(key, "destination.user") == 0)
		*why = "deprecated: only Istio's v1alpha1 RBAC had it";
	return 0;
}

static int
config_ap_when_key(struct config_ctx *ctx, json_t *v)
{
	const char *why;

	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	if (config_ap_condition_key(json_string_value(v), &why))
		return 0;
	if (why != NULL)
		config_error(
		    ctx, "condition key \"%s\": %s", json_string_value(v), why);
	else
		config_error(ctx,
		    "unknown condition key \"%s\" (request.headers[NAME], "
		    "source.ip, remote.ip, source.namespace, "
		    "source.principal, " CONFIG_AP_SA_KEY ", "
		    "request.auth.principal, "
		    "request.auth.audiences, request.auth.presenter, "
		    "request.auth.claims[NAME], destination.ip, "
		    "destination.port or connection.sni)",
		    json_string_value(v));
	return -1;
}

static int
config_ap_when_item(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"key", config_ap_when_key, CONFIG_REQUIRED, NULL},
	    {"values", config_ap_values, 0, NULL},
	    {"notValues", config_ap_values, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};
	static const char *const lists[] = {"values", "notValues", NULL};
	const char *key;
	json_t *list;
	config_check_fn item = NULL;
	size_t i, mark;
	int before = ctx->nerrors;

	if (config_object(ctx, v, fields) == -1)
		return -1;
	if (json_array_size(json_object_get(v, "values")) == 0 &&
	    json_array_size(json_object_get(v, "notValues")) == 0) {
		config_error(ctx, "must set values or notValues");
		return -1;
	}
	key = json_string_value(json_object_get(v, "key"));
	if (config_ap_in(key, config_ap_ip_keys))
		item = config_ap_ip;
	else if (strcmp(key, "destination.port") == 0)
		item = config_ap_port;
	else if (strcmp(key, CONFIG_AP_SA_KEY) == 0)
		item = config_ap_service_account;
	if (item == NULL)
		return 0;
	for (i = 0; lists[i] != NULL; i++) {
		if ((list = json_object_get(v, lists[i])) == NULL)
			continue;
		mark = config_enter(ctx, lists[i]);
		config_list(ctx, list, item, 0);
		config_leave(ctx, mark);
	}
	return ctx->nerrors == before ? 0 : -1;
}

static int
config_ap_when(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_ap_when_item, 0);
}

static int
config_ap_rule(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"from", config_ap_from, 0, NULL},
	    {"to", config_ap_to, 0, NULL},
	    {"when", config_ap_when, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_ap_rules(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_ap_rule, 0);
}

static int
config_ap_action(struct config_ctx *ctx, json_t *v)
{
	static const char *const values[] = {"ALLOW", "DENY", "AUDIT", NULL};

	if (json_is_string(v) && strcmp(json_string_value(v), "CUSTOM") == 0) {
		config_error(ctx,
		    "CUSTOM is not supported (weft has no external "
		    "authorization; use ALLOW, DENY or AUDIT)");
		return -1;
	}
	return config_enum(ctx, v, values);
}

static const struct config_field config_ap_fields[] = {
    {"selector", config_selector, 0, NULL},
    {"action", config_ap_action, 0, NULL},
    {"rules", config_ap_rules, 0, NULL},
    {"provider", NULL, 0,
	"weft has no external authorization provider (action CUSTOM)"},
    {"targetRef", NULL, 0, CONFIG_AP_TARGET_NOTE},
    {"targetRefs", NULL, 0, CONFIG_AP_TARGET_NOTE},
    {NULL, NULL, 0, NULL},
};

struct config_ap *
config_ap_parse(struct config_ctx *ctx, json_t *spec)
{
	struct config_ap *ap;
	const char *action;
	json_t *rules;
	size_t mark;

	if (config_object(ctx, spec, config_ap_fields) == -1)
		return NULL;
	action = json_string_value(json_object_get(spec, "action"));
	if (action == NULL)
		action = "ALLOW";
	rules = json_object_get(spec, "rules");
	if (strcmp(action, "DENY") == 0 && json_array_size(rules) == 0) {
		/* As Istio: such a policy would never deny anything. */
		mark = config_enter(ctx, "rules");
		config_error(ctx,
		    "required with action DENY (a DENY policy without rules "
		    "never applies; add an empty rule {} to deny every "
		    "request)");
		config_leave(ctx, mark);
		return NULL;
	}
	ap = xcalloc(1, sizeof(*ap));
	ap->selector = config_selector_labels(spec);
	ap->action = action;
	ap->rules = rules != NULL ? json_incref(rules) : json_array();
	return ap;
}

void
config_ap_free(struct config_ap *ap)
{
	if (ap == NULL)
		return;
	json_decref(ap->selector);
	json_decref(ap->rules);
	free(ap);
}

int
config_ap_dry_run(struct config_ctx *ctx, json_t *annotations)
{
	json_t *v = json_object_get(annotations, CONFIG_AP_DRY_RUN);
	size_t mark;
	int b;

	if (!json_is_string(v))
		return 0; /* absent, or reported as not a string */
	if ((b = config_bool_word(json_string_value(v))) != -1)
		return b;
	mark = config_enter(ctx, CONFIG_AP_DRY_RUN);
	config_error(ctx, "\"%s\" is not a boolean (true or false)",
	    json_string_value(v));
	config_leave(ctx, mark);
	return 0;
}
