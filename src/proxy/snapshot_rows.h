/*
 * The rows a snapshot is built from, as the policy DB gives them
 * (snapshot_rows.c fills them, snapshot_build.c builds from them):
 * private to the two.
 */
#ifndef WEFT_SNAPSHOT_ROWS_H
#define WEFT_SNAPSHOT_ROWS_H

#include "snapshot_build.h"

struct snapshot_builder {
	int64_t version;
	struct sb_service *services;
	size_t nservices, capservices;
	struct sb_service_name *hosts;
	size_t nhosts, caphosts;
	struct sb_service_name *addresses;
	size_t naddresses, capaddresses;
	struct sb_port *ports;
	size_t nports, capports;
	struct sb_workload *workloads;
	size_t nworkloads, capworkloads;
	struct sb_vs *vss;
	size_t nvss, capvss;
	struct sb_route *routes;
	size_t nroutes, caproutes;
	struct sb_dest *dests;
	size_t ndests, capdests;
	struct sb_dr *drs;
	size_t ndrs, capdrs;
	struct sb_subset *subsets;
	size_t nsubsets, capsubsets;
	struct sb_sec *secs;
	size_t nsecs, capsecs;
	char *ns; /* the workload's identity, for the security part */
	char *labels;
};

#endif
