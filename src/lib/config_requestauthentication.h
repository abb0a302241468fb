/*
 * RequestAuthentication (security.istio.io): the JWTs that the
 * workloads it selects accept, per issuer. Checked as Istio validates
 * it (an inline JWKS must parse), within what weft supports, and
 * normalized into a row of the request_authentications table (the
 * rules kept as given, for the proxy's jwt.c).
 */
#ifndef WEFT_CONFIG_REQUESTAUTHENTICATION_H
#define WEFT_CONFIG_REQUESTAUTHENTICATION_H

#include <jansson.h>

#include "config_field.h"

/* json_t references are owned. */
struct config_ra {
	json_t *selector;  /* selector.matchLabels; NULL: the namespace */
	json_t *jwt_rules; /* spec.jwtRules as given; [] when absent */
};

/* Checks spec (ctx at "spec"); NULL when it reported errors. */
struct config_ra *config_ra_parse(struct config_ctx *ctx, json_t *spec);
void config_ra_free(struct config_ra *ra);

#endif
