#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "config_field.h"
#include "config_workloadentry.h"
#include "xmalloc.h"

static int
config_we_port_name(struct config_ctx *ctx, const char *name)
{
	if (config_dns_label(name))
		return 0;
	config_error(ctx,
	    "invalid port name (lower case letters, digits and '-', at most "
	    "63)");
	return -1;
}

static int
config_we_ports(struct config_ctx *ctx, json_t *v)
{
	return config_map(ctx, v, config_we_port_name, config_port);
}

static int
config_we_service_account(struct config_ctx *ctx, json_t *v)
{
	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	if (config_dns_subdomain(json_string_value(v)))
		return 0;
	config_error(ctx,
	    "invalid service account \"%s\" (lower case letters, digits, "
	    "'-' and '.')",
	    json_string_value(v));
	return -1;
}

static const struct config_field config_we_fields[] = {
    {"address", config_nonempty_string, CONFIG_REQUIRED, NULL},
    {"ports", config_we_ports, 0, NULL},
    {"labels", config_labels, 0, NULL},
    {"network", config_string, 0, NULL},
    {"locality", config_string, 0, NULL},
    {"weight", config_uint32, 0, NULL},
    {"serviceAccount", config_we_service_account, 0, NULL},
    {NULL, NULL, 0, NULL},
};

int
config_workload_check(struct config_ctx *ctx, json_t *v, int fqdn_ok)
{
	const char *addr;
	size_t mark;
	int rc;

	if (config_object(ctx, v, config_we_fields) == -1)
		return -1;
	addr = json_string_value(json_object_get(v, "address"));
	if (config_ip_valid(addr))
		return 0;
	mark = config_enter(ctx, "address");
	rc = -1;
	if (strncmp(addr, "unix://", 7) == 0)
		config_error(ctx,
		    "unix domain socket addresses are not "
		    "supported");
	else if (!fqdn_ok)
		config_error(ctx, "\"%s\" is not an IP address", addr);
	else if (!config_host_valid(addr, 0))
		config_error(ctx,
		    "\"%s\" is neither an IP address nor a DNS "
		    "name",
		    addr);
	else
		rc = 0;
	config_leave(ctx, mark);
	return rc;
}

static json_t *
config_we_object(json_t *v, const char *key)
{
	json_t *o = json_object_get(v, key);

	return o != NULL ? json_incref(o) : json_object();
}

void
config_workload_fill(struct config_workload *w, json_t *v)
{
	const char *s;
	json_t *weight;

	w->address = json_string_value(json_object_get(v, "address"));
	w->ports = config_we_object(v, "ports");
	w->labels = config_we_object(v, "labels");
	s = json_string_value(json_object_get(v, "serviceAccount"));
	w->service_account = s != NULL ? s : "default";
	s = json_string_value(json_object_get(v, "locality"));
	w->locality = s != NULL ? s : "";
	weight = json_object_get(v, "weight");
	w->weight = weight != NULL && json_integer_value(weight) > 0
	    ? json_integer_value(weight)
	    : 1;
}

void
config_workload_clear(struct config_workload *w)
{
	json_decref(w->ports);
	json_decref(w->labels);
	w->ports = w->labels = NULL;
}

struct config_workload *
config_we_parse(struct config_ctx *ctx, json_t *spec)
{
	struct config_workload *w;

	if (config_workload_check(ctx, spec, 1) == -1)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	config_workload_fill(w, spec);
	return w;
}

void
config_workload_free(struct config_workload *w)
{
	if (w == NULL)
		return;
	config_workload_clear(w);
	free(w);
}
