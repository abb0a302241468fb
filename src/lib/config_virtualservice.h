/*
 * VirtualService (networking.istio.io): ordered HTTP routes for a set of
 * hosts. Checked as Istio validates it, within what weft supports, and
 * normalized into the rows of the policy DB's virtual_services, routes
 * and route_destinations tables.
 */
#ifndef WEFT_CONFIG_VIRTUALSERVICE_H
#define WEFT_CONFIG_VIRTUALSERVICE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config_field.h"

/*
 * Every json_t below is a reference owned by the structure; strings
 * point into the spec, which the resource keeps.
 */
struct config_vs_dest {
	const char *host;
	const char *subset; /* NULL: all endpoints */
	int port;           /* 0: not given */
	int64_t weight;     /* 100 for a lone destination without one */
	json_t *headers;    /* or NULL */
};

struct config_vs_route {
	const char *name;   /* "" when unnamed */
	json_t *match;      /* the list as given, [] when absent */
	int64_t timeout_ms; /* -1: none */
	json_t *retries;    /* these as given, or NULL */
	json_t *fault;
	json_t *mirror; /* with mirrorPercentage copied in when given */
	json_t *rewrite;
	json_t *headers;
	struct config_vs_dest *dests;
	size_t ndests;
};

struct config_vs {
	json_t *hosts;
	json_t *gateways; /* ["mesh"] when absent */
	struct config_vs_route *routes;
	size_t nroutes;
};

/*
 * Checks spec (ctx at "spec") and returns its normalized form, or NULL
 * when it reported errors.
 */
struct config_vs *config_vs_parse(struct config_ctx *ctx, json_t *spec);
void config_vs_free(struct config_vs *vs);

/*
 * Calls cb for each subset reference of a stored (already checked)
 * VirtualService spec: route destinations and mirrors that name a
 * subset, with the field path of the subset.
 */
typedef void (*config_ref_cb)(
    const char *field, const char *host, const char *subset, void *arg);
void config_vs_refs(const json_t *spec, config_ref_cb cb, void *arg);

#endif
