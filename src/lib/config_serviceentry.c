#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_field.h"
#include "config_serviceentry.h"
#include "xmalloc.h"

/* Istio's protocols, as stored (upper case); UDP is refused. */
static const char *const config_se_protocols[] = {"HTTP", "HTTPS", "HTTP2",
    "GRPC", "GRPC-WEB", "TCP", "TLS", "MONGO", "MYSQL", "REDIS", NULL};
/* Those whose requests name their host (HTTP) or server (TLS SNI). */
static const char *const config_se_named_protocols[] = {
    "HTTP", "HTTPS", "HTTP2", "GRPC", "GRPC-WEB", "TLS", NULL};

static const char *
config_se_protocol(const char *s, const char *const *set)
{
	size_t i;

	for (i = 0; set[i] != NULL; i++) {
		if (strcasecmp(s, set[i]) == 0)
			return set[i];
	}
	return NULL;
}

static int
config_se_host(struct config_ctx *ctx, json_t *v)
{
	return config_host(ctx, v, CONFIG_HOST_WILDCARD);
}

static int
config_se_hosts(struct config_ctx *ctx, json_t *v)
{
	return config_unique_list(ctx, v, config_se_host, 1, "host");
}

static int
config_se_address(struct config_ctx *ctx, json_t *v)
{
	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	if (config_cidr_valid(json_string_value(v)))
		return 0;
	config_error(ctx, "\"%s\" is neither an IP address nor a CIDR",
	    json_string_value(v));
	return -1;
}

static int
config_se_addresses(struct config_ctx *ctx, json_t *v)
{
	return config_unique_list(ctx, v, config_se_address, 0, "address");
}

static int
config_se_port_name(struct config_ctx *ctx, json_t *v)
{
	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	if (config_dns_label(json_string_value(v)))
		return 0;
	config_error(ctx,
	    "invalid port name \"%s\" (lower case letters, digits and '-', "
	    "at most 63)",
	    json_string_value(v));
	return -1;
}

static int
config_se_port_protocol(struct config_ctx *ctx, json_t *v)
{
	const char *s;

	if (config_string(ctx, v) == -1)
		return -1;
	s = json_string_value(v);
	if (config_se_protocol(s, config_se_protocols) != NULL)
		return 0;
	if (strcasecmp(s, "UDP") == 0)
		config_error(ctx, "UDP is not supported (weft proxies TCP)");
	else
		config_error(ctx,
		    "unknown protocol \"%s\" (HTTP, HTTPS, HTTP2, GRPC, "
		    "GRPC-WEB, TCP, TLS, MONGO, MYSQL or REDIS)",
		    s);
	return -1;
}

static int
config_se_port(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"number", config_port, CONFIG_REQUIRED, NULL},
	    {"protocol", config_se_port_protocol, 0, NULL},
	    {"name", config_se_port_name, CONFIG_REQUIRED, NULL},
	    {"targetPort", config_port, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_se_ports(struct config_ctx *ctx, json_t *v)
{
	json_t *a, *b;
	size_t i, j, mark;
	int before = ctx->nerrors;

	if (config_list(ctx, v, config_se_port, 0) == -1)
		return -1;
	for (i = 0; i < json_array_size(v); i++) {
		a = json_array_get(v, i);
		for (j = 0; j < i; j++) {
			b = json_array_get(v, j);
			mark = config_enter_index(ctx, i);
			if (json_equal(json_object_get(a, "number"),
				json_object_get(b, "number"))) {
				config_enter(ctx, "number");
				config_error(ctx,
				    "port %lld is already defined",
				    (long long)json_integer_value(
					json_object_get(a, "number")));
			} else if (json_equal(json_object_get(a, "name"),
				       json_object_get(b, "name"))) {
				config_enter(ctx, "name");
				config_error(ctx,
				    "port name \"%s\" is already defined",
				    json_string_value(
					json_object_get(a, "name")));
			}
			config_leave(ctx, mark);
			if (ctx->nerrors != before)
				return -1;
		}
	}
	return 0;
}

static int
config_se_location(struct config_ctx *ctx, json_t *v)
{
	static const char *const values[] = {
	    "MESH_EXTERNAL", "MESH_INTERNAL", NULL};

	return config_enum(ctx, v, values);
}

static int
config_se_resolution(struct config_ctx *ctx, json_t *v)
{
	static const char *const values[] = {
	    "NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", NULL};

	return config_enum(ctx, v, values);
}

static int
config_se_endpoint(struct config_ctx *ctx, json_t *v)
{
	/* The address is checked with the resolution, below. */
	return config_workload_check(ctx, v, 1);
}

static int
config_se_endpoints(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_se_endpoint, 0);
}

static int
config_se_selector(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"labels", config_labels, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static const struct config_field config_se_fields[] = {
    {"hosts", config_se_hosts, CONFIG_REQUIRED, NULL},
    {"addresses", config_se_addresses, 0, NULL},
    {"ports", config_se_ports, 0, NULL},
    {"location", config_se_location, 0, NULL},
    {"resolution", config_se_resolution, 0, NULL},
    {"endpoints", config_se_endpoints, 0, NULL},
    {"workloadSelector", config_se_selector, 0, NULL},
    {"exportTo", config_export_to, 0, NULL},
    {"subjectAltNames", config_string_list, 0, NULL},
    {NULL, NULL, 0, NULL},
};

/* Checks what depends on several fields: resolution, endpoints, ports. */
static void
config_se_cross(struct config_ctx *ctx, json_t *spec, const char *resolution)
{
	json_t *hosts, *addrs, *ports, *eps, *ep, *p, *proto;
	const char *name;
	void *it;
	size_t i, j, mark;
	int dns, found;

	hosts = json_object_get(spec, "hosts");
	addrs = json_object_get(spec, "addresses");
	ports = json_object_get(spec, "ports");
	eps = json_object_get(spec, "endpoints");
	dns = strcmp(resolution, "DNS") == 0 ||
	    strcmp(resolution, "DNS_ROUND_ROBIN") == 0;
	if (eps != NULL && json_object_get(spec, "workloadSelector") != NULL) {
		config_error(ctx,
		    "only one of workloadSelector or endpoints may be set");
		return;
	}
	for (i = 0; i < json_array_size(addrs); i++) {
		if (strchr(json_string_value(json_array_get(addrs, i)), '/') !=
			NULL &&
		    dns) {
			mark = config_enter(ctx, "addresses");
			config_enter_index(ctx, i);
			config_error(ctx,
			    "CIDR addresses are allowed only "
			    "with resolution NONE or STATIC");
			config_leave(ctx, mark);
		}
	}
	if (strcmp(resolution, "NONE") == 0 && json_array_size(eps) > 0) {
		mark = config_enter(ctx, "endpoints");
		config_error(ctx,
		    "no endpoints may be listed with resolution "
		    "NONE");
		config_leave(ctx, mark);
	}
	if (dns && json_array_size(eps) == 0) {
		for (i = 0; i < json_array_size(hosts); i++) {
			if (strchr(json_string_value(json_array_get(hosts, i)),
				'*') == NULL)
				continue;
			mark = config_enter(ctx, "hosts");
			config_enter_index(ctx, i);
			config_error(ctx,
			    "wildcard hosts need endpoints with resolution %s",
			    resolution);
			config_leave(ctx, mark);
		}
	}
	if (strcmp(resolution, "DNS_ROUND_ROBIN") == 0 &&
	    json_array_size(eps) > 1) {
		mark = config_enter(ctx, "endpoints");
		config_error(ctx,
		    "at most one endpoint with resolution "
		    "DNS_ROUND_ROBIN");
		config_leave(ctx, mark);
	}
	for (i = 0; i < json_array_size(eps); i++) {
		ep = json_array_get(eps, i);
		mark = config_enter(ctx, "endpoints");
		config_enter_index(ctx, i);
		if (!dns &&
		    !config_ip_valid(
			json_string_value(json_object_get(ep, "address")))) {
			config_enter(ctx, "address");
			config_error(ctx,
			    "\"%s\" is not an IP address (resolution %s)",
			    json_string_value(json_object_get(ep, "address")),
			    resolution);
			config_leave(ctx, mark);
			continue;
		}
		p = json_object_get(ep, "ports");
		for (it = json_object_iter(p); it != NULL;
		     it = json_object_iter_next(p, it)) {
			name = json_object_iter_key(it);
			found = 0;
			for (j = 0; j < json_array_size(ports); j++) {
				if (strcmp(name,
					json_string_value(json_object_get(
					    json_array_get(ports, j),
					    "name"))) == 0)
					found = 1;
			}
			if (!found) {
				config_enter(ctx, "ports");
				config_enter(ctx, name);
				config_error(ctx,
				    "no port of the ServiceEntry is named "
				    "\"%s\"",
				    name);
				break;
			}
		}
		config_leave(ctx, mark);
	}
	if (strcmp(resolution, "NONE") != 0 && json_array_size(hosts) > 1) {
		for (i = 0; i < json_array_size(ports); i++) {
			proto = json_object_get(
			    json_array_get(ports, i), "protocol");
			if (proto != NULL &&
			    config_se_protocol(json_string_value(proto),
				config_se_named_protocols) != NULL)
				continue;
			mark = config_enter(ctx, "ports");
			config_enter_index(ctx, i);
			config_error(ctx,
			    "with several hosts, every port must be HTTP, "
			    "HTTPS, HTTP2, GRPC or TLS (the protocol tells the "
			    "hosts apart) unless resolution is NONE");
			config_leave(ctx, mark);
			break;
		}
	}
}

struct config_se *
config_se_parse(struct config_ctx *ctx, json_t *spec)
{
	struct config_se *se;
	json_t *v, *p, *sel;
	const char *resolution;
	size_t i;
	int before = ctx->nerrors;

	if (config_object(ctx, spec, config_se_fields) == -1)
		return NULL;
	v = json_object_get(spec, "resolution");
	resolution = v != NULL ? json_string_value(v) : "STATIC";
	config_se_cross(ctx, spec, resolution);
	if (ctx->nerrors != before)
		return NULL;

	se = xcalloc(1, sizeof(*se));
	se->hosts = json_incref(json_object_get(spec, "hosts"));
	v = json_object_get(spec, "addresses");
	se->addresses = v != NULL ? json_incref(v) : json_array();
	se->resolution = resolution;
	v = json_object_get(spec, "location");
	se->location = v != NULL ? json_string_value(v) : "MESH_INTERNAL";
	sel = json_object_get(spec, "workloadSelector");
	if (sel != NULL) {
		v = json_object_get(sel, "labels");
		se->selector = v != NULL ? json_incref(v) : json_object();
	}
	v = json_object_get(spec, "ports");
	se->nports = json_array_size(v);
	se->ports = xcalloc(se->nports + 1, sizeof(*se->ports));
	for (i = 0; i < se->nports; i++) {
		p = json_array_get(v, i);
		se->ports[i].number =
		    (int)json_integer_value(json_object_get(p, "number"));
		se->ports[i].name =
		    json_string_value(json_object_get(p, "name"));
		se->ports[i].protocol = json_object_get(p, "protocol") != NULL
		    ? config_se_protocol(
			  json_string_value(json_object_get(p, "protocol")),
			  config_se_protocols)
		    : "TCP";
		se->ports[i].target_port =
		    (int)json_integer_value(json_object_get(p, "targetPort"));
	}
	v = json_object_get(spec, "endpoints");
	se->nendpoints = json_array_size(v);
	se->endpoints = xcalloc(se->nendpoints + 1, sizeof(*se->endpoints));
	for (i = 0; i < se->nendpoints; i++)
		config_workload_fill(&se->endpoints[i], json_array_get(v, i));
	return se;
}

void
config_se_free(struct config_se *se)
{
	size_t i;

	if (se == NULL)
		return;
	json_decref(se->hosts);
	json_decref(se->addresses);
	json_decref(se->selector);
	for (i = 0; i < se->nendpoints; i++)
		config_workload_clear(&se->endpoints[i]);
	free(se->endpoints);
	free(se->ports);
	free(se);
}
