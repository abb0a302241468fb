/*
 * The policy snapshot: an immutable picture of one policy DB version,
 * built on the main thread when the DB changes (policy_db_load()) and
 * shared by every worker. Nothing in it changes once built; per-worker
 * mutable state (load-balancer cursors, outlier ejections, requests in
 * flight) lives in struct lb_state (lb.h), indexed by cluster and
 * endpoint, so that lookups on the request path take no lock.
 *
 * Names and hosts (how policy_db_load() reads the tables):
 *
 * - A host named in namespace ns (a ServiceEntry or VirtualService
 *   host) matches the Host header case-insensitively. A short name
 *   "reviews" also matches "reviews.ns.svc.cluster.local", and that
 *   FQDN, given or derived, also matches "reviews.ns" and
 *   "reviews.ns.svc" (weaker: a name given literally wins over such an
 *   alias). "*.example.com" matches any name ending in ".example.com"
 *   (the longest such suffix wins), "*" matches every name. A short
 *   name is not scoped to the caller's namespace: when two namespaces
 *   both say "reviews", the first (below) wins for the bare name.
 * - When several VirtualServices (or ServiceEntries, DestinationRules)
 *   claim the same host, the first by (namespace, name) wins.
 * - Only VirtualServices bound to the gateway "mesh" (the default) are
 *   loaded.
 * - A host referred to (route destination, mirror, DestinationRule)
 *   resolves to a service like a Host header does; a short name is
 *   taken in the referring resource's namespace first.
 * - Endpoints: the workloads (WorkloadEntry, registered) a service's
 *   workloadSelector picks in its namespace (every label of the selector
 *   present with the same value; an empty selector picks all), plus its
 *   inline endpoints. Only workloads whose address is an IP literal are
 *   endpoints. An endpoint's port for a service port is the workload's
 *   `ports` entry named like the service port, else the service port's
 *   targetPort, else the service port number (Istio's order). A
 *   workload weight of 0 counts as 1 (as in Istio).
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
	SNAP_STR_REGEX,   /* POSIX extended, anchored to the whole value */
	SNAP_STR_PRESENT, /* header or parameter present, any value */
};

/*
 * An Istio StringMatch. Regexes are compiled once, anchored, with
 * regcomp(REG_EXTENDED | REG_NOSUB); the RE2 forms "(?i)" (leading) and
 * \d, \D (outside brackets) are translated, and POSIX classes and the GNU
 * escapes \w \s \b work as in glibc. `{}` and the regex "*" are PRESENT
 * (as Istio translates them).
 */
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

/*
 * One HTTPMatchRequest: every condition present must hold. uri is
 * matched on the path without the query; authority on the host part of
 * the authority (no port, no IPv6 brackets). A header sent several
 * times is matched on its values joined with "," (as Envoy does); an
 * absent header is "" for an inverted (withoutHeaders) non-PRESENT
 * match. Query parameters are matched on their raw (undecoded) value,
 * the first occurrence; "?a" has a present, empty parameter a.
 */
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
	char *host;   /* as configured, for logs */
	char *subset; /* as configured, or NULL */
};

#define SNAP_RETRY_5XX                  0x01
#define SNAP_RETRY_GATEWAY_ERROR        0x02
#define SNAP_RETRY_CONNECT_FAILURE      0x04
#define SNAP_RETRY_REFUSED_STREAM       0x08
#define SNAP_RETRY_RESET                0x10
#define SNAP_RETRY_RETRIABLE_CODES      0x20
#define SNAP_RETRY_RETRIABLE_4XX        0x40 /* 409 */
#define SNAP_RETRY_RESET_BEFORE_REQUEST 0x80

#define SNAP_PPM 1000000 /* percentages in parts per million (0.0001%) */

/* Longest route name kept (the `route` metric label), in bytes. */
#define SNAP_ROUTE_NAME_MAX 63

struct snap_route {
	/*
	 * The route label: the route's `name`, else "<vs>.<ns>/<position>"
	 * (position in spec.http, from 0), cut to SNAP_ROUTE_NAME_MAX bytes.
	 */
	char *name;
	struct snap_match *matches;
	size_t nmatches; /* 0: matches every request */
	struct snap_dest *dests;
	size_t ndests;
	uint64_t total_weight;
	int timeout_ms; /* -1: none (also for "0s") */
	/*
	 * Without a `retries` object, Istio's default applies: 2 attempts on
	 * connect-failure, refused-stream and 503 (retriable-status-codes);
	 * `attempts: 0` disables retries. retryOn tokens for gRPC are
	 * accepted and ignored; numbers are retriable status codes.
	 */
	struct {
		int attempts;   /* retries after the first try; 0: none */
		int per_try_ms; /* -1: none */
		unsigned int retry_on;
		uint16_t codes[16];
		size_t ncodes;
		int backoff_ms; /* base interval; 0: the proxy's default */
	} retries;
	/*
	 * Fault percentages without `percentage` (nor the legacy integer
	 * `percent`) are 0, as Envoy reads Istio's translation.
	 */
	struct {
		int delay_ms;
		uint32_t delay_ppm;
		int abort_status; /* 0: no abort */
		uint32_t abort_ppm;
	} fault;
	struct {
		struct snap_cluster *cluster; /* NULL: no mirror */
		uint32_t ppm;                 /* default 100% */
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
	char **hosts; /* as configured */
	size_t nhosts;
};

struct snap_endpoint {
	unsigned int id; /* index in snapshot->endpoints */
	char *workload;
	char *namespace;
	char *locality; /* "region/zone/subzone" or "" */
	/*
	 * The address to connect to, port included (never 0). One workload
	 * serving several ports is one endpoint per port.
	 */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint32_t weight; /* >= 1 */
	int healthy;
	char *service_account;
	char *version; /* the "version" label, or "unknown" */
	int sidecar;   /* registered by weft-sync: a weft proxy answers */
};

enum snap_lb {
	SNAP_LB_ROUND_ROBIN = 0,
	SNAP_LB_LEAST_REQUEST,
	SNAP_LB_RANDOM,
	SNAP_LB_HASH_HEADER,
	SNAP_LB_HASH_SOURCE_IP, /* consistentHash useSourceIp */
};

enum snap_tls {
	SNAP_TLS_AUTO = 0, /* no tls in the DestinationRule: auto mTLS */
	SNAP_TLS_DISABLE,
	SNAP_TLS_ISTIO_MUTUAL,
	SNAP_TLS_SIMPLE,
	SNAP_TLS_MUTUAL,
};

/*
 * The effective traffic policy of a cluster. Istio's precedence, by
 * whole component (loadBalancer, connectionPool, outlierDetection, tls):
 * the DestinationRule's trafficPolicy; its portLevelSettings entry for
 * the cluster's port replaces all four; a subset's trafficPolicy
 * replaces the components it sets; the subset's portLevelSettings entry
 * replaces all four. Without a loadBalancer the algorithm is
 * LEAST_REQUEST (Istio's default). locality_lb is on when the effective
 * policy has an outlierDetection and localityLbSetting.enabled is not
 * false (Istio fails over between localities only with outlier
 * detection). An outlierDetection object turns on consecutive 5xx
 * ejection at 5 unless consecutive5xxErrors says otherwise (0: off);
 * the legacy consecutiveErrors is consecutive gateway errors with 5xx
 * off; interval 10s, baseEjectionTime 30s, maxEjectionPercent 10 by
 * default (Envoy's).
 */
struct snap_policy {
	enum snap_lb lb;
	char *hash_header;   /* SNAP_LB_HASH_HEADER, lower case */
	int locality_lb;     /* prefer the caller's locality, fail over */
	int max_connections; /* 0: unlimited */
	int max_pending;
	int max_requests;
	int max_retries;
	int max_requests_per_connection; /* 0: unlimited */
	int connect_timeout_ms;          /* 0: the proxy's default */
	int idle_timeout_ms;             /* 0: the proxy's default */
	int outlier_consecutive_5xx;     /* 0: off */
	int outlier_consecutive_gateway; /* 0: off */
	int outlier_interval_ms;
	int outlier_base_ejection_ms;
	int outlier_max_ejection_pct;
	enum snap_tls tls_mode;
	char *sni; /* tls.sni, or NULL */
};

/* One point of a consistent-hash ring (lb.c). */
struct snap_ring_point {
	uint64_t hash;
	unsigned int index; /* in cluster->endpoints */
};

/* A destination: service, subset and port, with its endpoints. */
struct snap_cluster {
	unsigned int id; /* index in snapshot->clusters */
	char *name;      /* "outbound|port|subset|host", as Envoy names it */
	struct snap_service *service;
	char *subset; /* NULL: all endpoints */
	/*
	 * The service port this cluster serves; each endpoint's addr holds
	 * the port to connect to (targetPort and named ports applied).
	 */
	int port;
	struct snap_endpoint **endpoints; /* sorted by id */
	size_t nendpoints;
	struct snap_policy policy;
	struct snap_ring_point *ring; /* hash policies only, sorted */
	size_t nring;
};

enum snap_resolution {
	SNAP_RES_STATIC = 0,
	SNAP_RES_NONE,
	SNAP_RES_DNS,
	SNAP_RES_DNS_ROUND_ROBIN,
};

struct snap_port {
	int number;
	char *name;
	char *protocol;  /* as configured, upper case: HTTP, TCP, GRPC... */
	int target_port; /* 0: none */
	struct snap_cluster *cluster; /* the default cluster of this port */
};

struct snap_service {
	unsigned int id; /* index in snapshot->services */
	char *namespace;
	char *name;
	char **hosts;
	size_t nhosts;
	int *ports;
	size_t nports;
	struct snap_port *portdefs; /* parallel to ports */
	/*
	 * The VirtualService of its first host that has one (in the order
	 * of the hosts), or NULL.
	 */
	struct snap_vhost *vhost;
	enum snap_resolution resolution;
	int mesh_external; /* location MESH_EXTERNAL */
};

struct snapshot;

/* PeerAuthentication modes, as Istio's. */
enum snap_mtls_mode {
	SNAP_MTLS_UNSET = 0, /* inherit; PERMISSIVE at the top */
	SNAP_MTLS_DISABLE,
	SNAP_MTLS_PERMISSIVE,
	SNAP_MTLS_STRICT,
};

/*
 * Whether mesh mTLS is required on this workload's inbound port (the
 * PeerAuthentication in force: port level, workload, namespace, mesh).
 * A NULL snapshot is an empty policy: permissive.
 */
int snapshot_peer_auth_strict(const struct snapshot *s, int port);

/* A RequestAuthentication jwtRule in force on this workload. */
struct snap_jwt_rule {
	const char *issuer;
	const char *const *audiences; /* NULL-terminated */
	struct jwt_keys *keys;        /* NULL: none usable (yet) */
	const char *jwks_uri;         /* NULL: inline jwks */
	/*
	 * Without inline jwks, the cache entry of jwks_uri (jwks_fetch.h),
	 * whose keys change as they are fetched; NULL in programs that do
	 * not fetch.
	 */
	struct jwks_entry *jwks;
	struct snap_jwt_from {
		const char *name;   /* header (lower case) or query param */
		const char *prefix; /* "Bearer " or "" */
	} * from_headers, *from_params;
	size_t nfrom_headers, nfrom_params;
	int forward;                /* forwardOriginalToken */
	const char *payload_header; /* outputPayloadToHeader, or NULL */
	struct snap_jwt_claim_header {
		const char *header;
		const char *claim;
	} * claim_headers;
	size_t nclaim_headers;
};

struct authz_set;
struct ratelimit_rule;

/* What guards this workload's inbound side. */
struct snap_security {
	struct authz_set *authz; /* NULL: no AuthorizationPolicy applies */
	struct snap_jwt_rule *jwt;
	size_t njwt;
	struct ratelimit_rule *limits;
	size_t nlimits;
};

/* The security policies of the workload this snapshot was built for. */
const struct snap_security *snapshot_security(const struct snapshot *s);

/* A workload that a weft sidecar fronts, known by its address. */
struct snap_peer {
	const char *name; /* the workload's name */
	const char *namespace;
	const char *service_account;
};

/*
 * The sidecar workload at addr's IP (any port; IPv4-mapped IPv6 taken
 * as IPv4): a workload registered by weft-sync, or declared with the
 * label security.istio.io/tlsMode: istio. NULL when there is none: the
 * peer takes plaintext.
 */
const struct snap_peer *snapshot_peer(
    const struct snapshot *s, const struct sockaddr_storage *addr);

/*
 * The workload at addr's IP, sidecar or not (any WorkloadEntry or
 * registered workload whose address is an IP literal; the first one
 * when several share it; IPv4-mapped IPv6 taken as IPv4), or NULL:
 * how the L4 policy knows a source by its address.
 */
const struct snap_peer *snapshot_workload_at(
    const struct snapshot *s, const struct sockaddr_storage *addr);

/*
 * The service whose endpoint is addr (IP and port), as the inbound side
 * sees its original destination; the first one when several share the
 * endpoint; NULL when none does.
 */
const struct snap_service *snapshot_service_at(
    const struct snapshot *s, const struct sockaddr_storage *addr);

/*
 * Looks a request up: the virtual host for authority (its host part,
 * without port or IPv6 brackets; see the host rules above), or failing
 * that for the service owning the original destination dst (a VIP of a
 * ServiceEntry: exact addresses are hashed; CIDR addresses are a list
 * scanned longest prefix first, meant to stay short). dst may be NULL;
 * an IPv4-mapped IPv6 dst is taken as IPv4. Returns NULL when no
 * virtual host applies. *service (may be NULL) is set to the service
 * named by the authority, else the one owning dst, else NULL: a NULL
 * return with a service means its default cluster, with neither means
 * pass through.
 */
const struct snap_vhost *snapshot_lookup(const struct snapshot *s,
    const char *authority, size_t len, const struct sockaddr_storage *dst,
    const struct snap_service **service);

/*
 * The default cluster of a service on a port (no VirtualService, or a
 * destination without subset); NULL when the service has no such port.
 */
struct snap_cluster *snapshot_default_cluster(
    const struct snapshot *s, const struct snap_service *svc, int port);

/*
 * The host part of an authority: without the port, an IPv6 literal
 * without its brackets, without a trailing dot. Returns 0, or -1 when
 * it is malformed (an unclosed bracket).
 */
int snap_authority_host(
    const char *authority, size_t len, const char **host, size_t *hostlen);

/* The first route of vh matching req, or NULL (404 NR). */
const struct snap_route *route_match(
    const struct snap_vhost *vh, const struct http_req_view *req);

/*
 * The same, also setting *match to the condition that matched (NULL
 * for a route without conditions): a uri rewrite replaces the prefix
 * of that one.
 */
const struct snap_route *route_match_detail(const struct snap_vhost *vh,
    const struct http_req_view *req, const struct snap_match **match);

/*
 * True when one match condition holds for req (route_match() tries
 * them in order); exposed for tests and `weftctl explain`.
 */
int route_match_one(
    const struct snap_match *m, const struct http_req_view *req);

/*
 * Picks a destination of r in proportion to the weights, from a random
 * number r64: exact over r64 = 0 .. total_weight - 1. A route with one
 * destination always picks it, whatever its weight (as Istio). Returns
 * NULL when there is none or every weight is 0.
 */
const struct snap_dest *route_pick(const struct snap_route *r, uint64_t r64);

/* True with probability ppm / SNAP_PPM, given a random number. */
int snap_chance(uint32_t ppm, uint64_t r64);

int64_t snapshot_version(const struct snapshot *s);
size_t snapshot_nclusters(const struct snapshot *s);
size_t snapshot_nendpoints(const struct snapshot *s);
size_t snapshot_nservices(const struct snapshot *s);
size_t snapshot_nvhosts(const struct snapshot *s);
/* The i-th cluster, endpoint, service, vhost (0 .. n - 1), or NULL. */
const struct snap_cluster *snapshot_cluster(const struct snapshot *s, size_t i);
const struct snap_endpoint *snapshot_endpoint(
    const struct snapshot *s, size_t i);
const struct snap_service *snapshot_service(const struct snapshot *s, size_t i);
const struct snap_vhost *snapshot_vhost(const struct snapshot *s, size_t i);

/*
 * Reference counting across threads (atomic). A new snapshot holds one
 * reference, its creator's; the last snapshot_unref() frees it.
 */
void snapshot_ref(struct snapshot *s);
void snapshot_unref(struct snapshot *s);

/*
 * Frees s and everything in it, whatever its count: only for an owner
 * that never shared it. snapshot_free(NULL) is a no-op.
 */
void snapshot_free(struct snapshot *s);

#endif
