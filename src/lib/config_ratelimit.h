/*
 * RateLimit (weft.io/v1): local token buckets on the inbound traffic
 * of the workloads it selects, each limit optionally for some methods
 * and paths only, and one bucket per source principal or per value of
 * a header. Checked and normalized into a row of the rate_limits table,
 * with every default filled in.
 */
#ifndef WEFT_CONFIG_RATELIMIT_H
#define WEFT_CONFIG_RATELIMIT_H

#include <jansson.h>

#include "config_field.h"

/* Bounds that keep token arithmetic exact in a double. */
#define CONFIG_RL_MAX_RATE  1000000000
#define CONFIG_RL_MAX_BURST 1000000000

/* json_t references are owned. */
struct config_rl {
	json_t *selector; /* selector.matchLabels; NULL: the namespace */
	/*
	 * spec.limits normalized: each {"requestsPerSecond": N, "burst": B}
	 * (B defaults to N rounded up, at least 1), with "match" when it
	 * narrows anything, "per" ("source" or "header") and "header" (lower
	 * case) when given.
	 */
	json_t *limits;
};

/* Checks spec (ctx at "spec"); NULL when it reported errors. */
struct config_rl *config_rl_parse(struct config_ctx *ctx, json_t *spec);
void config_rl_free(struct config_rl *rl);

#endif
