/*
 * AuthorizationPolicy (security.istio.io): who may call the workloads
 * it selects, and how. Checked as Istio validates it (sources,
 * operations, the condition keys Istio documents, IP blocks, ports and
 * path templates), within what weft enforces: ALLOW, DENY and AUDIT,
 * never CUSTOM. Normalized into a row of the authorization_policies
 * table: the rules are kept as given, for the proxy's evaluator
 * (authz.c) to compile.
 */
#ifndef WEFT_CONFIG_AUTHORIZATIONPOLICY_H
#define WEFT_CONFIG_AUTHORIZATIONPOLICY_H

#include <jansson.h>

#include "config_field.h"

/* The annotation that makes a policy report instead of enforcing. */
#define CONFIG_AP_DRY_RUN "istio.io/dry-run"

/* json_t references are owned; strings point into the spec. */
struct config_ap {
	json_t *selector;   /* selector.matchLabels; NULL: the namespace */
	const char *action; /* "ALLOW" (the default), "DENY" or "AUDIT" */
	json_t *rules;      /* spec.rules as given; [] when absent */
	int dry_run;        /* metadata.annotations["istio.io/dry-run"] */
};

/* Checks spec (ctx at "spec"); NULL when it reported errors. */
struct config_ap *config_ap_parse(struct config_ctx *ctx, json_t *spec);
void config_ap_free(struct config_ap *ap);

/*
 * Reads the istio.io/dry-run annotation of annotations (ctx at
 * "metadata.annotations"): 1 or 0, a bad value reported (and 0).
 */
int config_ap_dry_run(struct config_ctx *ctx, json_t *annotations);

/*
 * Whether key is a condition key (spec.rules[].when[].key) that weft
 * evaluates: 1, or 0 with *why set to a static reason.
 */
int config_ap_condition_key(const char *key, const char **why);

#endif
