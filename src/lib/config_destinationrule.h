/*
 * DestinationRule (networking.istio.io): the traffic policy and the
 * subsets of a host. Checked as Istio validates it, within what weft
 * supports, and normalized into the rows of the destination_rules and
 * subsets tables (traffic policies kept as JSON in Istio's names).
 */
#ifndef WEFT_CONFIG_DESTINATIONRULE_H
#define WEFT_CONFIG_DESTINATIONRULE_H

#include <stddef.h>

#include <jansson.h>

#include "config_field.h"

/* json_t references are owned; strings point into the spec. */
struct config_dr_subset {
	const char *name;
	json_t *labels;         /* {} when absent */
	json_t *traffic_policy; /* {} when absent */
};

struct config_dr {
	const char *host;
	json_t *traffic_policy; /* {} when absent */
	struct config_dr_subset *subsets;
	size_t nsubsets;
};

/* Checks spec (ctx at "spec"); NULL when it reported errors. */
struct config_dr *config_dr_parse(struct config_ctx *ctx, json_t *spec);
void config_dr_free(struct config_dr *dr);

/*
 * Whether a stored DestinationRule spec of namespace ns defines subset
 * for fully qualified host fqdn (its host equal to it, or a wildcard
 * covering it).
 */
int config_dr_defines(
    const json_t *spec, const char *ns, const char *fqdn, const char *subset);

#endif
