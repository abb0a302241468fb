#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "config_destinationrule.h"
#include "config_field.h"
#include "xmalloc.h"

static int
config_dr_lb_simple(struct config_ctx *ctx, json_t *v)
{
	static const char *const values[] = {"UNSPECIFIED", "ROUND_ROBIN",
	    "LEAST_REQUEST", "LEAST_CONN", "RANDOM", "PASSTHROUGH", NULL};

	return config_enum(ctx, v, values);
}

static int
config_dr_hash_header(struct config_ctx *ctx, json_t *v)
{
	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	if (config_header_name_valid(json_string_value(v)))
		return 0;
	config_error(ctx, "invalid header name \"%s\"", json_string_value(v));
	return -1;
}

#define CONFIG_DR_HASH_NOTE "weft hashes on a header only (httpHeaderName)"

static int
config_dr_consistent_hash(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"httpHeaderName", config_dr_hash_header, CONFIG_REQUIRED, NULL},
	    {"httpCookie", NULL, 0, CONFIG_DR_HASH_NOTE},
	    {"useSourceIp", NULL, 0, CONFIG_DR_HASH_NOTE},
	    {"httpQueryParameterName", NULL, 0, CONFIG_DR_HASH_NOTE},
	    {"ringHash", NULL, 0, NULL},
	    {"maglev", NULL, 0, NULL},
	    {"minimumRingSize", NULL, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_dr_failover_item(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"from", config_nonempty_string, CONFIG_REQUIRED, NULL},
	    {"to", config_nonempty_string, CONFIG_REQUIRED, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_dr_failover(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_dr_failover_item, 0);
}

static int
config_dr_locality(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"enabled", config_bool, 0, NULL},
	    {"failover", config_dr_failover, 0, NULL},
	    {"distribute", NULL, 0, NULL},
	    {"failoverPriority", NULL, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_dr_load_balancer(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"simple", config_dr_lb_simple, 0, NULL},
	    {"consistentHash", config_dr_consistent_hash, 0, NULL},
	    {"localityLbSetting", config_dr_locality, 0, NULL},
	    {"warmupDurationSecs", NULL, 0, NULL},
	    {"warmup", NULL, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	if (config_object(ctx, v, fields) == -1)
		return -1;
	if (json_object_get(v, "simple") != NULL &&
	    json_object_get(v, "consistentHash") != NULL) {
		config_error(ctx,
		    "only one of simple or consistentHash may be "
		    "set");
		return -1;
	}
	return 0;
}

static int
config_dr_duration(struct config_ctx *ctx, json_t *v)
{
	return config_duration(ctx, v, NULL);
}

static int
config_dr_pool_tcp(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"maxConnections", config_nonneg_int32, 0, NULL},
	    {"connectTimeout", config_dr_duration, 0, NULL},
	    {"tcpKeepalive", NULL, 0, NULL},
	    {"maxConnectionDuration", NULL, 0, NULL},
	    {"idleTimeout", NULL, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_dr_pool_http(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"http1MaxPendingRequests", config_nonneg_int32, 0, NULL},
	    {"http2MaxRequests", config_nonneg_int32, 0, NULL},
	    {"maxRequestsPerConnection", config_nonneg_int32, 0, NULL},
	    {"maxRetries", config_nonneg_int32, 0, NULL},
	    {"idleTimeout", config_dr_duration, 0, NULL},
	    {"h2UpgradePolicy", NULL, 0, NULL},
	    {"useClientProtocol", NULL, 0, NULL},
	    {"maxConcurrentStreams", NULL, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_dr_pool(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"tcp", config_dr_pool_tcp, 0, NULL},
	    {"http", config_dr_pool_http, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	if (config_object(ctx, v, fields) == -1)
		return -1;
	if (json_object_size(v) == 0) {
		config_error(ctx, "must set tcp or http");
		return -1;
	}
	return 0;
}

static int
config_dr_percent_int(struct config_ctx *ctx, json_t *v)
{
	return config_int(ctx, v, 0, 100);
}

static int
config_dr_outlier(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"consecutive5xxErrors", config_uint32, 0, NULL},
	    {"consecutiveGatewayErrors", config_uint32, 0, NULL},
	    {"interval", config_dr_duration, 0, NULL},
	    {"baseEjectionTime", config_dr_duration, 0, NULL},
	    {"maxEjectionPercent", config_dr_percent_int, 0, NULL},
	    {"minHealthPercent", NULL, 0, NULL},
	    {"consecutiveErrors", NULL, 0,
		"deprecated, use consecutive5xxErrors or "
		"consecutiveGatewayErrors"},
	    {"splitExternalLocalOriginErrors", NULL, 0, NULL},
	    {"consecutiveLocalOriginFailures", NULL, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_dr_tls_mode(struct config_ctx *ctx, json_t *v)
{
	static const char *const values[] = {
	    "DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL", NULL};

	return config_enum(ctx, v, values);
}

static int
config_dr_tls(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"mode", config_dr_tls_mode, 0, NULL},
	    {"clientCertificate", config_string, 0, NULL},
	    {"privateKey", config_string, 0, NULL},
	    {"caCertificates", config_string, 0, NULL},
	    {"credentialName", config_string, 0, NULL},
	    {"subjectAltNames", config_string_list, 0, NULL},
	    {"sni", config_string, 0, NULL},
	    {"insecureSkipVerify", config_bool, 0, NULL},
	    {"caCrl", config_string, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};
	static const char *const certs[] = {"clientCertificate", "privateKey",
	    "caCertificates", "credentialName", "caCrl", NULL};
	const char *mode;
	size_t i;

	if (config_object(ctx, v, fields) == -1)
		return -1;
	mode = json_string_value(json_object_get(v, "mode"));
	if (mode != NULL && strcmp(mode, "ISTIO_MUTUAL") == 0) {
		for (i = 0; certs[i] != NULL; i++) {
			if (json_object_get(v, certs[i]) != NULL) {
				config_error(ctx,
				    "%s cannot be set with mode ISTIO_MUTUAL "
				    "(the mesh certificates are used)",
				    certs[i]);
				return -1;
			}
		}
	}
	if (mode != NULL && strcmp(mode, "MUTUAL") == 0 &&
	    json_object_get(v, "credentialName") == NULL &&
	    (json_object_get(v, "clientCertificate") == NULL ||
		json_object_get(v, "privateKey") == NULL)) {
		config_error(ctx,
		    "mode MUTUAL needs clientCertificate and "
		    "privateKey (or credentialName)");
		return -1;
	}
	return 0;
}

static int
config_dr_port_selector(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"number", config_port, CONFIG_REQUIRED, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_dr_port_policy(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"port", config_dr_port_selector, CONFIG_REQUIRED, NULL},
	    {"loadBalancer", config_dr_load_balancer, 0, NULL},
	    {"connectionPool", config_dr_pool, 0, NULL},
	    {"outlierDetection", config_dr_outlier, 0, NULL},
	    {"tls", config_dr_tls, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	if (config_object(ctx, v, fields) == -1)
		return -1;
	if (json_object_size(v) < 2) {
		config_error(ctx, "must set a policy for the port");
		return -1;
	}
	return 0;
}

static int
config_dr_port_policies(struct config_ctx *ctx, json_t *v)
{
	json_t *a, *b;
	size_t i, j, mark;

	if (config_list(ctx, v, config_dr_port_policy, 0) == -1)
		return -1;
	for (i = 0; i < json_array_size(v); i++) {
		a = json_object_get(json_array_get(v, i), "port");
		for (j = 0; j < i; j++) {
			b = json_object_get(json_array_get(v, j), "port");
			if (json_equal(a, b)) {
				mark = config_enter_index(ctx, i);
				config_error(ctx,
				    "port %lld has a policy already",
				    (long long)json_integer_value(
					json_object_get(a, "number")));
				config_leave(ctx, mark);
				return -1;
			}
		}
	}
	return 0;
}

static int
config_dr_policy(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"loadBalancer", config_dr_load_balancer, 0, NULL},
	    {"connectionPool", config_dr_pool, 0, NULL},
	    {"outlierDetection", config_dr_outlier, 0, NULL},
	    {"tls", config_dr_tls, 0, NULL},
	    {"portLevelSettings", config_dr_port_policies, 0, NULL},
	    {"tunnel", NULL, 0, NULL},
	    {"proxyProtocol", NULL, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	if (config_object(ctx, v, fields) == -1)
		return -1;
	if (json_object_size(v) == 0) {
		config_error(ctx, "must set at least one field");
		return -1;
	}
	return 0;
}

static int
config_dr_subset_name(struct config_ctx *ctx, json_t *v)
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
config_dr_subset(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"name", config_dr_subset_name, CONFIG_REQUIRED, NULL},
	    {"labels", config_labels, 0, NULL},
	    {"trafficPolicy", config_dr_policy, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_dr_subsets(struct config_ctx *ctx, json_t *v)
{
	json_t *a;
	size_t i, j, mark;

	if (config_list(ctx, v, config_dr_subset, 0) == -1)
		return -1;
	for (i = 0; i < json_array_size(v); i++) {
		a = json_object_get(json_array_get(v, i), "name");
		for (j = 0; j < i; j++) {
			if (json_equal(a,
				json_object_get(
				    json_array_get(v, j), "name"))) {
				mark = config_enter_index(ctx, i);
				config_enter(ctx, "name");
				config_error(ctx, "duplicate subset \"%s\"",
				    json_string_value(a));
				config_leave(ctx, mark);
				return -1;
			}
		}
	}
	return 0;
}

static int
config_dr_host(struct config_ctx *ctx, json_t *v)
{
	return config_host(ctx, v, CONFIG_HOST_WILDCARD | CONFIG_HOST_STAR);
}

static const struct config_field config_dr_fields[] = {
    {"host", config_dr_host, CONFIG_REQUIRED, NULL},
    {"trafficPolicy", config_dr_policy, 0, NULL},
    {"subsets", config_dr_subsets, 0, NULL},
    {"exportTo", config_export_to, 0, NULL},
    {"workloadSelector", NULL, 0, NULL},
    {NULL, NULL, 0, NULL},
};

static json_t *
config_dr_object(json_t *v, const char *key)
{
	json_t *o = json_object_get(v, key);

	return o != NULL ? json_incref(o) : json_object();
}

struct config_dr *
config_dr_parse(struct config_ctx *ctx, json_t *spec)
{
	struct config_dr *dr;
	json_t *subsets, *s;
	size_t i;

	if (config_object(ctx, spec, config_dr_fields) == -1)
		return NULL;
	dr = xcalloc(1, sizeof(*dr));
	dr->host = json_string_value(json_object_get(spec, "host"));
	dr->traffic_policy = config_dr_object(spec, "trafficPolicy");
	subsets = json_object_get(spec, "subsets");
	dr->nsubsets = json_array_size(subsets);
	dr->subsets = xcalloc(dr->nsubsets + 1, sizeof(*dr->subsets));
	for (i = 0; i < dr->nsubsets; i++) {
		s = json_array_get(subsets, i);
		dr->subsets[i].name =
		    json_string_value(json_object_get(s, "name"));
		dr->subsets[i].labels = config_dr_object(s, "labels");
		dr->subsets[i].traffic_policy =
		    config_dr_object(s, "trafficPolicy");
	}
	return dr;
}

void
config_dr_free(struct config_dr *dr)
{
	size_t i;

	if (dr == NULL)
		return;
	json_decref(dr->traffic_policy);
	for (i = 0; i < dr->nsubsets; i++) {
		json_decref(dr->subsets[i].labels);
		json_decref(dr->subsets[i].traffic_policy);
	}
	free(dr->subsets);
	free(dr);
}

int
config_dr_defines(
    const json_t *spec, const char *ns, const char *fqdn, const char *subset)
{
	const char *host, *name;
	json_t *subsets;
	char *pattern;
	size_t i;
	int covers;

	host = json_string_value(json_object_get(spec, "host"));
	if (host == NULL)
		return 0;
	pattern = config_host_fqdn(host, ns);
	covers = config_host_covers(pattern, fqdn);
	free(pattern);
	if (!covers)
		return 0;
	subsets = json_object_get(spec, "subsets");
	for (i = 0; i < json_array_size(subsets); i++) {
		name = json_string_value(
		    json_object_get(json_array_get(subsets, i), "name"));
		if (name != NULL && strcmp(name, subset) == 0)
			return 1;
	}
	return 0;
}
