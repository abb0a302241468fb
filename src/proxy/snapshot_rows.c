/*
 * The snapshot builder's rows: copies of what the policy DB (or a test)
 * hands snapshot_builder_*(), kept until snapshot_builder_finish()
 * builds the snapshot from them.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "snapshot_rows.h"
#include "xmalloc.h"

static const char *
sb_dup(const char *s)
{
	return s == NULL ? NULL : xstrdup(s);
}

struct snapshot_builder *
snapshot_builder_new(int64_t version)
{
	struct snapshot_builder *b = xcalloc(1, sizeof(*b));

	b->version = version;
	return b;
}

#define SB_FREE(p) free((void *)(uintptr_t)(p))

void
snapshot_builder_free(struct snapshot_builder *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nservices; i++) {
		SB_FREE(b->services[i].namespace);
		SB_FREE(b->services[i].name);
		SB_FREE(b->services[i].resolution);
		SB_FREE(b->services[i].location);
		SB_FREE(b->services[i].selector);
	}
	for (i = 0; i < b->nhosts; i++)
		SB_FREE(b->hosts[i].value);
	for (i = 0; i < b->naddresses; i++)
		SB_FREE(b->addresses[i].value);
	for (i = 0; i < b->nports; i++) {
		SB_FREE(b->ports[i].name);
		SB_FREE(b->ports[i].protocol);
	}
	for (i = 0; i < b->nworkloads; i++) {
		struct sb_workload *w = &b->workloads[i];

		SB_FREE(w->namespace);
		SB_FREE(w->name);
		SB_FREE(w->source);
		SB_FREE(w->address);
		SB_FREE(w->labels);
		SB_FREE(w->ports);
		SB_FREE(w->service_account);
		SB_FREE(w->locality);
	}
	for (i = 0; i < b->nvss; i++) {
		SB_FREE(b->vss[i].namespace);
		SB_FREE(b->vss[i].name);
		SB_FREE(b->vss[i].hosts);
		SB_FREE(b->vss[i].gateways);
	}
	for (i = 0; i < b->nroutes; i++) {
		struct sb_route *r = &b->routes[i];

		SB_FREE(r->name);
		SB_FREE(r->match);
		SB_FREE(r->retries);
		SB_FREE(r->fault);
		SB_FREE(r->mirror);
		SB_FREE(r->rewrite);
		SB_FREE(r->headers);
	}
	for (i = 0; i < b->ndests; i++) {
		SB_FREE(b->dests[i].host);
		SB_FREE(b->dests[i].subset);
		SB_FREE(b->dests[i].headers);
	}
	for (i = 0; i < b->ndrs; i++) {
		SB_FREE(b->drs[i].namespace);
		SB_FREE(b->drs[i].name);
		SB_FREE(b->drs[i].host);
		SB_FREE(b->drs[i].traffic_policy);
	}
	for (i = 0; i < b->nsubsets; i++) {
		SB_FREE(b->subsets[i].name);
		SB_FREE(b->subsets[i].labels);
		SB_FREE(b->subsets[i].traffic_policy);
	}
	for (i = 0; i < b->nsecs; i++) {
		SB_FREE(b->secs[i].namespace);
		SB_FREE(b->secs[i].name);
		SB_FREE(b->secs[i].selector);
		SB_FREE(b->secs[i].a);
		SB_FREE(b->secs[i].b);
	}
	free(b->secs);
	free(b->ns);
	free(b->labels);
	free(b->services);
	free(b->hosts);
	free(b->addresses);
	free(b->ports);
	free(b->workloads);
	free(b->vss);
	free(b->routes);
	free(b->dests);
	free(b->drs);
	free(b->subsets);
	free(b);
}

void
snapshot_builder_service(struct snapshot_builder *b, const struct sb_service *r)
{
	struct sb_service *n;

	SNAP_PUSH(b->services, b->nservices, b->capservices);
	n = &b->services[b->nservices++];
	n->id = r->id;
	n->namespace = sb_dup(r->namespace != NULL ? r->namespace : "");
	n->name = sb_dup(r->name != NULL ? r->name : "");
	n->resolution = sb_dup(r->resolution);
	n->location = sb_dup(r->location);
	n->selector = sb_dup(r->selector);
}

void
snapshot_builder_host(
    struct snapshot_builder *b, const struct sb_service_name *r)
{
	if (r->value == NULL)
		return;
	SNAP_PUSH(b->hosts, b->nhosts, b->caphosts);
	b->hosts[b->nhosts].service_id = r->service_id;
	b->hosts[b->nhosts++].value = xstrdup(r->value);
}

void
snapshot_builder_address(
    struct snapshot_builder *b, const struct sb_service_name *r)
{
	if (r->value == NULL)
		return;
	SNAP_PUSH(b->addresses, b->naddresses, b->capaddresses);
	b->addresses[b->naddresses].service_id = r->service_id;
	b->addresses[b->naddresses++].value = xstrdup(r->value);
}

void
snapshot_builder_port(struct snapshot_builder *b, const struct sb_port *r)
{
	struct sb_port *n;

	SNAP_PUSH(b->ports, b->nports, b->capports);
	n = &b->ports[b->nports++];
	*n = *r;
	n->name = sb_dup(r->name != NULL ? r->name : "");
	n->protocol = sb_dup(r->protocol != NULL ? r->protocol : "TCP");
}

void
snapshot_builder_workload(
    struct snapshot_builder *b, const struct sb_workload *r)
{
	struct sb_workload *n;

	SNAP_PUSH(b->workloads, b->nworkloads, b->capworkloads);
	n = &b->workloads[b->nworkloads++];
	*n = *r;
	n->namespace = sb_dup(r->namespace != NULL ? r->namespace : "");
	n->name = sb_dup(r->name != NULL ? r->name : "");
	n->source = sb_dup(r->source != NULL ? r->source : "");
	n->address = sb_dup(r->address != NULL ? r->address : "");
	n->labels = sb_dup(r->labels != NULL ? r->labels : "{}");
	n->ports = sb_dup(r->ports != NULL ? r->ports : "{}");
	n->service_account =
	    sb_dup(r->service_account != NULL ? r->service_account : "default");
	n->locality = sb_dup(r->locality != NULL ? r->locality : "");
}

void
snapshot_builder_vs(struct snapshot_builder *b, const struct sb_vs *r)
{
	struct sb_vs *n;

	SNAP_PUSH(b->vss, b->nvss, b->capvss);
	n = &b->vss[b->nvss++];
	n->id = r->id;
	n->namespace = sb_dup(r->namespace != NULL ? r->namespace : "");
	n->name = sb_dup(r->name != NULL ? r->name : "");
	n->hosts = sb_dup(r->hosts != NULL ? r->hosts : "[]");
	n->gateways = sb_dup(r->gateways);
}

void
snapshot_builder_route(struct snapshot_builder *b, const struct sb_route *r)
{
	struct sb_route *n;

	SNAP_PUSH(b->routes, b->nroutes, b->caproutes);
	n = &b->routes[b->nroutes++];
	*n = *r;
	n->name = sb_dup(r->name != NULL ? r->name : "");
	n->match = sb_dup(r->match != NULL ? r->match : "[]");
	n->retries = sb_dup(r->retries);
	n->fault = sb_dup(r->fault);
	n->mirror = sb_dup(r->mirror);
	n->rewrite = sb_dup(r->rewrite);
	n->headers = sb_dup(r->headers);
}

void
snapshot_builder_dest(struct snapshot_builder *b, const struct sb_dest *r)
{
	struct sb_dest *n;

	SNAP_PUSH(b->dests, b->ndests, b->capdests);
	n = &b->dests[b->ndests++];
	*n = *r;
	n->host = sb_dup(r->host != NULL ? r->host : "");
	n->subset = sb_dup(r->subset);
	n->headers = sb_dup(r->headers);
}

void
snapshot_builder_dr(struct snapshot_builder *b, const struct sb_dr *r)
{
	struct sb_dr *n;

	SNAP_PUSH(b->drs, b->ndrs, b->capdrs);
	n = &b->drs[b->ndrs++];
	n->id = r->id;
	n->namespace = sb_dup(r->namespace != NULL ? r->namespace : "");
	n->name = sb_dup(r->name != NULL ? r->name : "");
	n->host = sb_dup(r->host != NULL ? r->host : "");
	n->traffic_policy =
	    sb_dup(r->traffic_policy != NULL ? r->traffic_policy : "{}");
}

void
snapshot_builder_subset(struct snapshot_builder *b, const struct sb_subset *r)
{
	struct sb_subset *n;

	SNAP_PUSH(b->subsets, b->nsubsets, b->capsubsets);
	n = &b->subsets[b->nsubsets++];
	n->dr_id = r->dr_id;
	n->name = sb_dup(r->name != NULL ? r->name : "");
	n->labels = sb_dup(r->labels != NULL ? r->labels : "{}");
	n->traffic_policy =
	    sb_dup(r->traffic_policy != NULL ? r->traffic_policy : "{}");
}

void
snapshot_builder_sec(struct snapshot_builder *b, const struct sb_sec *r)
{
	struct sb_sec *n;

	SNAP_PUSH(b->secs, b->nsecs, b->capsecs);
	n = &b->secs[b->nsecs++];
	n->kind = r->kind;
	n->namespace = sb_dup(r->namespace != NULL ? r->namespace : "");
	n->name = sb_dup(r->name != NULL ? r->name : "");
	n->selector = sb_dup(r->selector);
	n->a = sb_dup(r->a);
	n->b = sb_dup(r->b);
	n->flag = r->flag;
}

void
snapshot_builder_identity(
    struct snapshot_builder *b, const char *ns, const char *labels)
{
	free(b->ns);
	free(b->labels);
	b->ns = ns != NULL ? xstrdup(ns) : NULL;
	b->labels = labels != NULL ? xstrdup(labels) : NULL;
}
