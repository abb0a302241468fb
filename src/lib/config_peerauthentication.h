/*
 * PeerAuthentication (security.istio.io): the mTLS mode that the
 * workloads it selects accept inbound, for all their ports and per
 * port. Checked as Istio validates it and normalized into a row of the
 * peer_authentications table.
 */
#ifndef WEFT_CONFIG_PEERAUTHENTICATION_H
#define WEFT_CONFIG_PEERAUTHENTICATION_H

#include <jansson.h>

#include "config_field.h"

/* json_t references are owned; strings point into the spec. */
struct config_pa {
	json_t *selector;   /* selector.matchLabels; NULL: the namespace */
	const char *mode;   /* mtls.mode; "UNSET" when not given */
	json_t *port_modes; /* {"8080": "DISABLE"}; {} when none */
};

/* Checks spec (ctx at "spec"); NULL when it reported errors. */
struct config_pa *config_pa_parse(struct config_ctx *ctx, json_t *spec);
void config_pa_free(struct config_pa *pa);

#endif
