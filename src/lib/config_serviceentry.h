/*
 * ServiceEntry (networking.istio.io): a service's names, virtual IPs,
 * ports and endpoints (listed inline, or the workloads a selector
 * picks). Normalized into the rows of the services, service_hosts,
 * service_addresses, service_ports and workloads tables.
 */
#ifndef WEFT_CONFIG_SERVICEENTRY_H
#define WEFT_CONFIG_SERVICEENTRY_H

#include <stddef.h>

#include <jansson.h>

#include "config_field.h"
#include "config_workloadentry.h"

struct config_se_port {
	int number;
	const char *name;
	const char *protocol; /* upper case; "TCP" when absent */
	int target_port;      /* 0: the same as number */
};

/* json_t references are owned; strings point into the spec. */
struct config_se {
	json_t *hosts;
	json_t *addresses; /* [] when absent */
	struct config_se_port *ports;
	size_t nports;
	const char *location;   /* "MESH_INTERNAL" when absent */
	const char *resolution; /* "STATIC" when absent */
	json_t *selector;       /* workloadSelector.labels, or NULL */
	struct config_workload *endpoints;
	size_t nendpoints;
};

/* Checks spec (ctx at "spec"); NULL when it reported errors. */
struct config_se *config_se_parse(struct config_ctx *ctx, json_t *spec);
void config_se_free(struct config_se *se);

#endif
