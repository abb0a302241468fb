#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_field.h"
#include "config_virtualservice.h"
#include "xmalloc.h"

/* The status codes a retryOn list may hold (struct snap_route). */
#define CONFIG_VS_RETRY_CODES 16

/* Hosts and gateways */

static int
config_vs_host(struct config_ctx *ctx, json_t *v)
{
	return config_host(
	    ctx, v, CONFIG_HOST_WILDCARD | CONFIG_HOST_STAR | CONFIG_HOST_IP);
}

static int
config_vs_hosts(struct config_ctx *ctx, json_t *v)
{
	return config_unique_list(ctx, v, config_vs_host, 1, "host");
}

/* "mesh", a gateway name, or "namespace/name". */
static int
config_vs_gateway(struct config_ctx *ctx, json_t *v)
{
	const char *s, *slash;
	char ns[64];

	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	s = json_string_value(v);
	slash = strchr(s, '/');
	if (slash == NULL && config_dns_subdomain(s))
		return 0;
	if (slash != NULL && (size_t)(slash - s) < sizeof(ns)) {
		memcpy(ns, s, (size_t)(slash - s));
		ns[slash - s] = '\0';
		if (config_dns_label(ns) && config_dns_label(slash + 1))
			return 0;
	}
	config_error(
	    ctx, "invalid gateway \"%s\" (mesh, NAME or NAMESPACE/NAME)", s);
	return -1;
}

static int
config_vs_gateways(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_vs_gateway, 0);
}

/* Matches */

static int
config_vs_uri(struct config_ctx *ctx, json_t *v)
{
	return config_strmatch(ctx, v, CONFIG_MATCH_EMPTY_PREFIX);
}

static int
config_vs_strict_match(struct config_ctx *ctx, json_t *v)
{
	return config_strmatch(ctx, v, 0);
}

static int
config_vs_presence_match(struct config_ctx *ctx, json_t *v)
{
	return config_strmatch(ctx, v, CONFIG_MATCH_PRESENCE);
}

static int
config_vs_header_key(struct config_ctx *ctx, const char *name)
{
	if (config_header_name_valid(name))
		return 0;
	config_error(ctx, "invalid header name");
	return -1;
}

static int
config_vs_match_headers(struct config_ctx *ctx, json_t *v)
{
	return config_map(
	    ctx, v, config_vs_header_key, config_vs_presence_match);
}

static int
config_vs_query_key(struct config_ctx *ctx, const char *name)
{
	if (*name != '\0')
		return 0;
	config_error(ctx, "empty query parameter name");
	return -1;
}

static int
config_vs_query_params(struct config_ctx *ctx, json_t *v)
{
	return config_map(
	    ctx, v, config_vs_query_key, config_vs_presence_match);
}

#define CONFIG_VS_SOURCE_NOTE "weft routes on what the request carries"

static int
config_vs_match(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"name", config_string, 0, NULL},
	    {"uri", config_vs_uri, 0, NULL},
	    {"scheme", NULL, 0, NULL},
	    {"method", config_vs_strict_match, 0, NULL},
	    {"authority", config_vs_strict_match, 0, NULL},
	    {"headers", config_vs_match_headers, 0, NULL},
	    {"port", config_port, 0, NULL},
	    {"sourceLabels", NULL, 0, CONFIG_VS_SOURCE_NOTE},
	    {"gateways", NULL, 0, NULL},
	    {"queryParams", config_vs_query_params, 0, NULL},
	    {"ignoreUriCase", config_bool, 0, NULL},
	    {"withoutHeaders", config_vs_match_headers, 0, NULL},
	    {"sourceNamespace", NULL, 0, CONFIG_VS_SOURCE_NOTE},
	    {"statPrefix", NULL, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_vs_matches(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_vs_match, 0);
}

/* Header operations */

static int
config_vs_header_value(struct config_ctx *ctx, json_t *v)
{
	const char *s;

	if (config_string(ctx, v) == -1)
		return -1;
	for (s = json_string_value(v); *s != '\0'; s++) {
		if ((*s > 0 && *s < ' ' && *s != '\t') || *s == 0x7f) {
			config_error(ctx,
			    "control characters are not allowed "
			    "in header values");
			return -1;
		}
		if (*s == '%') {
			config_error(ctx,
			    "'%%' is not allowed (weft does not "
			    "expand Envoy %%VARIABLES%%)");
			return -1;
		}
	}
	return 0;
}

/* Names a request header set or add may use: also Host / :authority. */
static int
config_vs_request_set_name(struct config_ctx *ctx, const char *name)
{
	if (strcasecmp(name, ":authority") == 0 ||
	    config_header_name_valid(name))
		return 0;
	config_error(ctx, "invalid header name");
	return -1;
}

static int
config_vs_header_op_name(struct config_ctx *ctx, const char *name)
{
	if (strcasecmp(name, "host") == 0) {
		config_error(ctx, "the Host header cannot be changed here");
		return -1;
	}
	if (config_header_name_valid(name))
		return 0;
	config_error(ctx, "invalid header name");
	return -1;
}

static int
config_vs_request_set(struct config_ctx *ctx, json_t *v)
{
	return config_map(
	    ctx, v, config_vs_request_set_name, config_vs_header_value);
}

static int
config_vs_response_set(struct config_ctx *ctx, json_t *v)
{
	return config_map(
	    ctx, v, config_vs_header_op_name, config_vs_header_value);
}

static int
config_vs_remove_item(struct config_ctx *ctx, json_t *v)
{
	if (config_string(ctx, v) == -1)
		return -1;
	return config_vs_header_op_name(ctx, json_string_value(v));
}

static int
config_vs_remove(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_vs_remove_item, 0);
}

static int
config_vs_request_ops(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"set", config_vs_request_set, 0, NULL},
	    {"add", config_vs_request_set, 0, NULL},
	    {"remove", config_vs_remove, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_vs_response_ops(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"set", config_vs_response_set, 0, NULL},
	    {"add", config_vs_response_set, 0, NULL},
	    {"remove", config_vs_remove, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_vs_headers(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"request", config_vs_request_ops, 0, NULL},
	    {"response", config_vs_response_ops, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

/* Destinations */

static int
config_vs_dest_host(struct config_ctx *ctx, json_t *v)
{
	return config_host(ctx, v, CONFIG_HOST_WILDCARD);
}

static int
config_vs_subset(struct config_ctx *ctx, json_t *v)
{
	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	if (config_dns_label(json_string_value(v)))
		return 0;
	config_error(ctx,
	    "invalid subset name \"%s\" (lower case letters, digits and '-', "
	    "at most 63)",
	    json_string_value(v));
	return -1;
}

static int
config_vs_port_selector(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"number", config_port, CONFIG_REQUIRED, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_vs_destination(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"host", config_vs_dest_host, CONFIG_REQUIRED, NULL},
	    {"subset", config_vs_subset, 0, NULL},
	    {"port", config_vs_port_selector, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_vs_route_dest(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"destination", config_vs_destination, CONFIG_REQUIRED, NULL},
	    {"weight", config_nonneg_int32, 0, NULL},
	    {"headers", config_vs_headers, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_vs_route_dests(struct config_ctx *ctx, json_t *v)
{
	json_int_t total = 0;
	size_t i;

	if (config_list(ctx, v, config_vs_route_dest, 1) == -1)
		return -1;
	for (i = 0; i < json_array_size(v); i++)
		total += json_integer_value(
		    json_object_get(json_array_get(v, i), "weight"));
	if (json_array_size(v) > 1 && total == 0) {
		config_error(ctx, "the total weight of the destinations is 0");
		return -1;
	}
	return 0;
}

/* Route policies */

static int
config_vs_timeout(struct config_ctx *ctx, json_t *v)
{
	return config_duration(ctx, v, NULL);
}

static int
config_vs_rewrite(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"uri", config_string, 0, NULL},
	    {"authority", config_string, 0, NULL},
	    {"uriRegexRewrite", NULL, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	if (config_object(ctx, v, fields) == -1)
		return -1;
	if (json_string_length(json_object_get(v, "uri")) == 0 &&
	    json_string_length(json_object_get(v, "authority")) == 0) {
		config_error(ctx, "must set uri or authority");
		return -1;
	}
	return 0;
}

static int
config_vs_retry_on(struct config_ctx *ctx, json_t *v)
{
	static const char *const supported[] = {"5xx", "gateway-error",
	    "connect-failure", "refused-stream", "reset",
	    "reset-before-request", "retriable-4xx", "retriable-status-codes",
	    NULL};
	static const char *const envoy[] = {"retriable-headers",
	    "envoy-ratelimited", "http3-post-connect-failure", "cancelled",
	    "deadline-exceeded", "internal", "resource-exhausted",
	    "unavailable", NULL};
	const char *s, *end;
	char tok[64];
	size_t i, n, ncodes = 0;
	int ok;

	if (config_string(ctx, v) == -1)
		return -1;
	for (s = json_string_value(v);; s = end + 1) {
		end = strchr(s, ',');
		if (end == NULL)
			end = s + strlen(s);
		n = (size_t)(end - s);
		if (n == 0 || n >= sizeof(tok)) {
			config_error(ctx, "empty or overlong policy in \"%s\"",
			    json_string_value(v));
			return -1;
		}
		memcpy(tok, s, n);
		tok[n] = '\0';
		if (strspn(tok, "0123456789") == n) {
			if (n != 3 || tok[0] < '1' || tok[0] > '5') {
				config_error(ctx,
				    "\"%s\" is not an HTTP status code", tok);
				return -1;
			}
			if (++ncodes > CONFIG_VS_RETRY_CODES) {
				config_error(ctx,
				    "at most %d status codes may be listed",
				    CONFIG_VS_RETRY_CODES);
				return -1;
			}
		} else {
			ok = 0;
			for (i = 0; supported[i] != NULL; i++)
				ok |= strcmp(tok, supported[i]) == 0;
			if (!ok) {
				for (i = 0; envoy[i] != NULL; i++)
					ok |= strcmp(tok, envoy[i]) == 0;
				if (ok)
					config_error(ctx,
					    "retryOn policy \"%s\" is not "
					    "supported",
					    tok);
				else
					config_error(ctx,
					    "\"%s\" is not a valid retryOn "
					    "policy",
					    tok);
				return -1;
			}
		}
		if (*end == '\0')
			return 0;
	}
}

static int
config_vs_retries(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"attempts", config_nonneg_int32, 0, NULL},
	    {"perTryTimeout", config_vs_timeout, 0, NULL},
	    {"retryOn", config_vs_retry_on, 0, NULL},
	    {"retryRemoteLocalities", NULL, 0, NULL},
	    {"backoff", config_vs_timeout, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	if (config_object(ctx, v, fields) == -1)
		return -1;
	if (json_integer_value(json_object_get(v, "attempts")) == 0 &&
	    (json_object_get(v, "perTryTimeout") != NULL ||
		json_object_get(v, "retryOn") != NULL)) {
		config_error(
		    ctx, "perTryTimeout and retryOn need attempts above 0");
		return -1;
	}
	return 0;
}

static int
config_vs_fault_percent(struct config_ctx *ctx, json_t *v)
{
	return config_int(ctx, v, 0, 100);
}

static int
config_vs_delay(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"fixedDelay", config_vs_timeout, 0, NULL},
	    {"percentage", config_percent, 0, NULL},
	    {"percent", config_vs_fault_percent, 0, NULL},
	    {"exponentialDelay", NULL, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};
	size_t mark;

	if (config_object(ctx, v, fields) == -1)
		return -1;
	if (json_object_get(v, "fixedDelay") == NULL) {
		mark = config_enter(ctx, "fixedDelay");
		config_error(ctx, "required");
		config_leave(ctx, mark);
		return -1;
	}
	if (json_object_get(v, "percentage") != NULL &&
	    json_object_get(v, "percent") != NULL) {
		config_error(ctx, "set percentage or percent, not both");
		return -1;
	}
	return 0;
}

static int
config_vs_abort_status(struct config_ctx *ctx, json_t *v)
{
	return config_int(ctx, v, 200, 599);
}

static int
config_vs_abort(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"httpStatus", config_vs_abort_status, 0, NULL},
	    {"percentage", config_percent, 0, NULL},
	    {"grpcStatus", NULL, 0, NULL},
	    {"http2Error", NULL, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};
	size_t mark;

	if (config_object(ctx, v, fields) == -1)
		return -1;
	if (json_object_get(v, "httpStatus") == NULL) {
		mark = config_enter(ctx, "httpStatus");
		config_error(ctx, "required");
		config_leave(ctx, mark);
		return -1;
	}
	return 0;
}

static int
config_vs_fault(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"delay", config_vs_delay, 0, NULL},
	    {"abort", config_vs_abort, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	if (config_object(ctx, v, fields) == -1)
		return -1;
	if (json_object_size(v) == 0) {
		config_error(ctx, "must set delay, abort or both");
		return -1;
	}
	return 0;
}

/* Whether headers set or add the authority (Host or :authority). */
static int
config_vs_sets_authority(json_t *headers)
{
	json_t *req = json_object_get(headers, "request");
	const char *ops[] = {"set", "add"};
	json_t *m;
	void *it;
	size_t i;
	int n = 0;

	for (i = 0; i < 2; i++) {
		m = json_object_get(req, ops[i]);
		for (it = json_object_iter(m); it != NULL;
		     it = json_object_iter_next(m, it)) {
			if (strcasecmp(json_object_iter_key(it), "host") == 0 ||
			    strcasecmp(
				json_object_iter_key(it), ":authority") == 0)
				n++;
		}
	}
	return n;
}

static int
config_vs_route(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"name", config_string, 0, NULL},
	    {"match", config_vs_matches, 0, NULL},
	    {"route", config_vs_route_dests, 0, NULL},
	    {"redirect", NULL, 0, NULL},
	    {"directResponse", NULL, 0, NULL},
	    {"delegate", NULL, 0, NULL},
	    {"rewrite", config_vs_rewrite, 0, NULL},
	    {"timeout", config_vs_timeout, 0, NULL},
	    {"retries", config_vs_retries, 0, NULL},
	    {"fault", config_vs_fault, 0, NULL},
	    {"mirror", config_vs_destination, 0, NULL},
	    {"mirrors", NULL, 0, "use mirror and mirrorPercentage"},
	    {"mirrorPercent", NULL, 0, "deprecated, use mirrorPercentage"},
	    {"mirrorPercentage", config_percent, 0, NULL},
	    {"corsPolicy", NULL, 0, NULL},
	    {"headers", config_vs_headers, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};
	size_t mark;
	int n;

	if (config_object(ctx, v, fields) == -1)
		return -1;
	if (json_object_get(v, "route") == NULL) {
		mark = config_enter(ctx, "route");
		config_error(ctx, "required");
		config_leave(ctx, mark);
		return -1;
	}
	if (json_object_get(v, "mirrorPercentage") != NULL &&
	    json_object_get(v, "mirror") == NULL) {
		mark = config_enter(ctx, "mirrorPercentage");
		config_error(ctx, "needs mirror");
		config_leave(ctx, mark);
		return -1;
	}
	n = config_vs_sets_authority(json_object_get(v, "headers"));
	if (json_string_length(json_object_get(
		json_object_get(v, "rewrite"), "authority")) > 0)
		n++;
	if (n > 1) {
		config_error(ctx,
		    "the authority is rewritten more than once "
		    "(rewrite.authority and headers)");
		return -1;
	}
	return 0;
}

static int
config_vs_http(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_vs_route, 1);
}

#define CONFIG_VS_L4_NOTE "weft routes HTTP (spec.http)"

static const struct config_field config_vs_fields[] = {
    {"hosts", config_vs_hosts, CONFIG_REQUIRED, NULL},
    {"gateways", config_vs_gateways, 0, NULL},
    {"http", config_vs_http, 0, NULL},
    {"tls", NULL, 0, CONFIG_VS_L4_NOTE},
    {"tcp", NULL, 0, CONFIG_VS_L4_NOTE},
    {"exportTo", config_export_to, 0, NULL},
    {NULL, NULL, 0, NULL},
};

/* Bound to sidecars: no gateways, or "mesh" among them (Istio). */
static int
config_vs_applies_to_mesh(json_t *gateways)
{
	size_t i;

	if (json_array_size(gateways) == 0)
		return 1;
	for (i = 0; i < json_array_size(gateways); i++) {
		if (strcmp(json_string_value(json_array_get(gateways, i)),
			"mesh") == 0)
			return 1;
	}
	return 0;
}

/* Normalization */

static json_t *
config_vs_ref(json_t *v)
{
	return v != NULL ? json_incref(v) : NULL;
}

static void
config_vs_fill_route(struct config_vs_route *r, json_t *v)
{
	json_t *dests, *d, *dest, *w, *mp;
	size_t i;

	r->name = json_string_value(json_object_get(v, "name"));
	if (r->name == NULL)
		r->name = "";
	r->match = config_vs_ref(json_object_get(v, "match"));
	if (r->match == NULL)
		r->match = json_array();
	r->timeout_ms = -1;
	if (json_object_get(v, "timeout") != NULL)
		config_duration_parse(
		    json_string_value(json_object_get(v, "timeout")),
		    &r->timeout_ms);
	r->retries = config_vs_ref(json_object_get(v, "retries"));
	r->fault = config_vs_ref(json_object_get(v, "fault"));
	r->rewrite = config_vs_ref(json_object_get(v, "rewrite"));
	r->headers = config_vs_ref(json_object_get(v, "headers"));
	if (json_object_get(v, "mirror") != NULL) {
		r->mirror = json_copy(json_object_get(v, "mirror"));
		mp = json_object_get(v, "mirrorPercentage");
		if (mp != NULL)
			json_object_set(r->mirror, "mirrorPercentage", mp);
	}
	dests = json_object_get(v, "route");
	r->ndests = json_array_size(dests);
	r->dests = xcalloc(r->ndests + 1, sizeof(*r->dests));
	for (i = 0; i < r->ndests; i++) {
		d = json_array_get(dests, i);
		dest = json_object_get(d, "destination");
		r->dests[i].host =
		    json_string_value(json_object_get(dest, "host"));
		r->dests[i].subset =
		    json_string_value(json_object_get(dest, "subset"));
		r->dests[i].port = (int)json_integer_value(
		    json_object_get(json_object_get(dest, "port"), "number"));
		w = json_object_get(d, "weight");
		r->dests[i].weight = w != NULL ? json_integer_value(w) : 0;
		/* A lone destination takes all the traffic (Istio). */
		if (r->ndests == 1 && r->dests[i].weight == 0)
			r->dests[i].weight = 100;
		r->dests[i].headers =
		    config_vs_ref(json_object_get(d, "headers"));
	}
}

struct config_vs *
config_vs_parse(struct config_ctx *ctx, json_t *spec)
{
	struct config_vs *vs;
	json_t *hosts, *http;
	size_t i, mark;
	int before = ctx->nerrors;

	if (config_object(ctx, spec, config_vs_fields) == -1)
		return NULL;
	if (json_object_get(spec, "http") == NULL) {
		mark = config_enter(ctx, "http");
		config_error(ctx, "required");
		config_leave(ctx, mark);
		return NULL;
	}
	hosts = json_object_get(spec, "hosts");
	if (config_vs_applies_to_mesh(json_object_get(spec, "gateways"))) {
		for (i = 0; i < json_array_size(hosts); i++) {
			if (strcmp(json_string_value(json_array_get(hosts, i)),
				"*") != 0)
				continue;
			mark = config_enter(ctx, "hosts");
			config_enter_index(ctx, i);
			config_error(ctx,
			    "host \"*\" is not allowed for a VirtualService "
			    "bound to the mesh (no gateways, or \"mesh\" among "
			    "them)");
			config_leave(ctx, mark);
		}
	}
	if (ctx->nerrors != before)
		return NULL;

	vs = xcalloc(1, sizeof(*vs));
	vs->hosts = json_incref(hosts);
	vs->gateways = config_vs_ref(json_object_get(spec, "gateways"));
	if (vs->gateways == NULL)
		vs->gateways = json_pack("[s]", "mesh");
	http = json_object_get(spec, "http");
	vs->nroutes = json_array_size(http);
	vs->routes = xcalloc(vs->nroutes + 1, sizeof(*vs->routes));
	for (i = 0; i < vs->nroutes; i++)
		config_vs_fill_route(&vs->routes[i], json_array_get(http, i));
	return vs;
}

void
config_vs_free(struct config_vs *vs)
{
	struct config_vs_route *r;
	size_t i, j;

	if (vs == NULL)
		return;
	for (i = 0; i < vs->nroutes; i++) {
		r = &vs->routes[i];
		json_decref(r->match);
		json_decref(r->retries);
		json_decref(r->fault);
		json_decref(r->mirror);
		json_decref(r->rewrite);
		json_decref(r->headers);
		for (j = 0; j < r->ndests; j++)
			json_decref(r->dests[j].headers);
		free(r->dests);
	}
	free(vs->routes);
	json_decref(vs->hosts);
	json_decref(vs->gateways);
	free(vs);
}

void
config_vs_refs(const json_t *spec, config_ref_cb cb, void *arg)
{
	json_t *http, *route, *dest, *mirror;
	const char *subset, *host;
	char field[128];
	size_t i, j;

	http = json_object_get(spec, "http");
	for (i = 0; i < json_array_size(http); i++) {
		route = json_object_get(json_array_get(http, i), "route");
		for (j = 0; j < json_array_size(route); j++) {
			dest = json_object_get(
			    json_array_get(route, j), "destination");
			host = json_string_value(json_object_get(dest, "host"));
			subset =
			    json_string_value(json_object_get(dest, "subset"));
			if (host == NULL || subset == NULL)
				continue;
			snprintf(field, sizeof(field),
			    "spec.http[%zu].route[%zu].destination.subset", i,
			    j);
			cb(field, host, subset, arg);
		}
		mirror = json_object_get(json_array_get(http, i), "mirror");
		host = json_string_value(json_object_get(mirror, "host"));
		subset = json_string_value(json_object_get(mirror, "subset"));
		if (host != NULL && subset != NULL) {
			snprintf(field, sizeof(field),
			    "spec.http[%zu].mirror.subset", i);
			cb(field, host, subset, arg);
		}
	}
}
