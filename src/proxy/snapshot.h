/*
 * The policy snapshot: an immutable picture of one policy DB version,
 * built on the main thread when the DB changes and shared by every
 * worker. Nothing in it changes after snapshot_finish(); per-worker
 * mutable state (load-balancer cursors, outlier ejections, requests in
 * flight) lives in struct cluster_state, indexed by cluster and endpoint
 * ids, so that lookups on the request path take no lock.
 */
#ifndef WEFT_SNAPSHOT_H
#define WEFT_SNAPSHOT_H

#include <sys/socket.h>
#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "http_req.h"

enum snap_str_kind {
	SNAP_STR_EXACT = 0,
	SNAP_STR_PREFIX,
	SNAP_STR_REGEX,	  /* POSIX extended, anchored to the whole value */
	SNAP_STR_PRESENT, /* header or parameter present, any value */
};

struct snap_strmatch {
	enum snap_str_kind kind;
	char *value; /* exact or prefix text; NULL for PRESENT */
	size_t len;
	regex_t re; /* SNAP_STR_REGEX only */
	int ignore_case;
};

struct snap_fieldmatch {
	char *name; /* header (lower case) or query parameter name */
	struct snap_strmatch m;
	int invert; /* withoutHeaders: matches when the header does NOT match */
};

/* One HTTPMatchRequest: every condition present must hold. */
struct snap_match {
	int has_uri, has_method, has_authority;
	struct snap_strmatch uri; /* on the path without the query */
	struct snap_strmatch method;
	struct snap_strmatch authority;
	struct snap_fieldmatch *headers;
	size_t nheaders;
	struct snap_fieldmatch *query;
	size_t nquery;
	int port; /* 0: any */
};

struct snap_hdr {
	char *name;
	char *value;
};

/* headers: request/response set, add, remove (Istio Headers). */
struct snap_hdr_ops {
	struct snap_hdr *set;
	size_t nset;
	struct snap_hdr *add;
	size_t nadd;
	char **remove;
	size_t nremove;
};

struct snap_cluster;

struct snap_dest {
	struct snap_cluster *cluster; /* NULL: no such service (503 NR) */
	uint32_t weight;
	struct snap_hdr_ops req_hdrs, resp_hdrs;
};

#define SNAP_RETRY_5XX		    0x01
#define SNAP_RETRY_GATEWAY_ERROR    0x02
#define SNAP_RETRY_CONNECT_FAILURE  0x04
#define SNAP_RETRY_REFUSED_STREAM   0x08
#define SNAP_RETRY_RESET	    0x10
#define SNAP_RETRY_RETRIABLE_CODES  0x20

#define SNAP_PPM 1000000 /* percentages in parts per million (0.0001%) */

struct snap_route {
	char *name; /* the route label: its name, or "<vs>.<ns>/<position>" */
	struct snap_match *matches;
	size_t nmatches; /* 0: matches every request */
	struct snap_dest *dests;
	size_t ndests;
	uint64_t total_weight;
	int timeout_ms; /* -1: none */
	struct {
		int attempts; /* retries after the first try; 0: none */
		int per_try_ms; /* -1: none */
		unsigned int retry_on;
		uint16_t codes[16];
		size_t ncodes;
	} retries;
	struct {
		int delay_ms;
		uint32_t delay_ppm;
		int abort_status; /* 0: no abort */
		uint32_t abort_ppm;
	} fault;
	struct {
		struct snap_cluster *cluster; /* NULL: no mirror */
		uint32_t ppm;
	} mirror;
	char *rewrite_uri; /* replaces the matched prefix (or whole path) */
	char *rewrite_authority;
	struct snap_hdr_ops req_hdrs, resp_hdrs;
};

/* The routes of one VirtualService, for the hosts it names. */
struct snap_vhost {
	char *namespace;
	char *name;
	struct snap_route *routes;
	size_t nroutes;
};

struct snap_endpoint {
	unsigned int id; /* index in snapshot->endpoints */
	char *workload;
	char *namespace;
	char *locality; /* "region/zone/subzone" or "" */
	struct sockaddr_storage addr; /* port 0: the cluster's port applies */
	socklen_t addrlen;
	uint32_t weight;
	int healthy;
};

enum snap_lb {
	SNAP_LB_ROUND_ROBIN = 0,
	SNAP_LB_LEAST_REQUEST,
	SNAP_LB_RANDOM,
	SNAP_LB_HASH_HEADER,
};

/* The effective traffic policy of a cluster (DR, subset, port level). */
struct snap_policy {
	enum snap_lb lb;
	char *hash_header; /* SNAP_LB_HASH_HEADER, lower case */
	int locality_lb;   /* prefer the caller's locality, fail over */
	int max_connections; /* 0: unlimited */
	int max_pending;
	int max_requests;
	int max_retries;
	int outlier_consecutive_5xx;	 /* 0: off */
	int outlier_consecutive_gateway; /* 0: off */
	int outlier_interval_ms;
	int outlier_base_ejection_ms;
	int outlier_max_ejection_pct;
};

/* A destination: service, subset and port, with its endpoints. */
struct snap_cluster {
	unsigned int id; /* index in snapshot->clusters */
	char *name;	 /* "outbound|port|subset|host", as Envoy names it */
	struct snap_service *service;
	char *subset; /* NULL: all endpoints */
	int port;     /* the port connected to on each endpoint */
	struct snap_endpoint **endpoints;
	size_t nendpoints;
	struct snap_policy policy;
};

struct snap_service {
	char *namespace;
	char *name;
	char **hosts;
	size_t nhosts;
	int *ports;
	size_t nports;
	struct snap_vhost *vhost; /* the VirtualService for its hosts, or NULL */
};

struct snapshot;

/*
 * Looks a request up: the virtual host for authority (its host part; a
 * short name matches "<name>.<ns>.svc.cluster.local" too), or failing
 * that for the service owning the original destination dst (a VIP of a
 * ServiceEntry). Returns NULL when neither matches: pass through.
 * *service is set when a service was found.
 */
const struct snap_vhost *snapshot_lookup(const struct snapshot *s,
    const char *authority, size_t len, const struct sockaddr_storage *dst,
    const struct snap_service **service);

/*
 * The default cluster of a service on a port (no VirtualService, or a
 * destination without subset); NULL when the service has no such port.
 */
struct snap_cluster *snapshot_default_cluster(const struct snapshot *s,
    const struct snap_service *svc, int port);

/* The first route of vh matching req, or NULL (404 NR). */
const struct snap_route *route_match(const struct snap_vhost *vh,
    const struct http_req_view *req);

/*
 * Picks a destination of r in proportion to the weights, from a random
 * number r64. Returns NULL when every weight is 0.
 */
const struct snap_dest *route_pick(const struct snap_route *r, uint64_t r64);

/* True with probability ppm / SNAP_PPM, given a random number. */
int snap_chance(uint32_t ppm, uint64_t r64);

int64_t snapshot_version(const struct snapshot *s);
size_t snapshot_nclusters(const struct snapshot *s);
size_t snapshot_nendpoints(const struct snapshot *s);

/* Reference counting across threads (atomic). */
void snapshot_ref(struct snapshot *s);
void snapshot_unref(struct snapshot *s);

#endif
