/*
 * WorkloadEntry (networking.istio.io): a workload declared by hand, and
 * the same fields as a ServiceEntry's inline endpoints. Normalized into
 * a row of the workloads table.
 */
#ifndef WEFT_CONFIG_WORKLOADENTRY_H
#define WEFT_CONFIG_WORKLOADENTRY_H

#include <stdint.h>

#include <jansson.h>

#include "config_field.h"

/* json_t references are owned; strings point into the spec. */
struct config_workload {
	const char *address;
	json_t *ports;               /* port name -> number, {} when absent */
	json_t *labels;              /* {} when absent */
	const char *service_account; /* "default" when absent */
	const char *locality;        /* "" when absent */
	int64_t weight;              /* 1 when absent or 0, as Istio */
};

/* Checks spec (ctx at "spec"); NULL when it reported errors. */
struct config_workload *config_we_parse(struct config_ctx *ctx, json_t *spec);
void config_workload_free(struct config_workload *w);

/*
 * Checks the fields of a WorkloadEntry spec or ServiceEntry endpoint v;
 * an address that is not an IP address is allowed when fqdn_ok.
 */
int config_workload_check(struct config_ctx *ctx, json_t *v, int fqdn_ok);

/* Fills w from checked v (w's references are new). */
void config_workload_fill(struct config_workload *w, json_t *v);

/* Releases what w holds (not w). */
void config_workload_clear(struct config_workload *w);

#endif
