/*
 * Prometheus metrics of the proxy.
 *
 * Each worker thread owns a shard and is its only writer, so counting on
 * the request path is a hash lookup and a few relaxed stores, without
 * locks. A series is created the first time its label set is seen (at
 * most METRICS_MAX_SERIES per shard; past that, label sets fold into one
 * "overflow" series) and never moves or goes away, so the admin thread
 * can read the shards while workers write. Rendering merges the shards.
 */
#ifndef WEFT_METRICS_H
#define WEFT_METRICS_H

#include <stdint.h>
#include <event2/buffer.h>

#define METRICS_DUR_BUCKETS   16
#define METRICS_BYTES_BUCKETS 10
#define METRICS_MAX_SERIES    4096
#define METRICS_LABEL_MAX     64

enum metrics_direction {
	METRICS_OUTBOUND = 0, /* reporter="source" */
	METRICS_INBOUND,      /* reporter="destination" */
};

enum metrics_method {
	METRICS_M_GET = 0,
	METRICS_M_HEAD,
	METRICS_M_POST,
	METRICS_M_PUT,
	METRICS_M_DELETE,
	METRICS_M_CONNECT,
	METRICS_M_OPTIONS,
	METRICS_M_TRACE,
	METRICS_M_PATCH,
	METRICS_M_OTHER,
};

/* Envoy's response flags, as users of Istio know them. */
enum metrics_rflag {
	METRICS_RF_NONE = 0, /* "-" */
	METRICS_RF_UF,       /* upstream connection failure */
	METRICS_RF_UC,       /* upstream connection termination */
	METRICS_RF_UT,       /* upstream request timeout */
	METRICS_RF_DC,       /* downstream connection termination */
	METRICS_RF_UO,       /* upstream overflow (circuit breaking) */
	METRICS_RF_NR,       /* no route */
	METRICS_RF_URX,      /* upstream retry limit exceeded */
	METRICS_RF_FI,       /* fault injected abort */
	METRICS_RF_DI,       /* fault injected delay */
	METRICS_RF_RL,       /* rate limited */
	METRICS_RF_UAEX,     /* unauthorized (external or RBAC) */
	METRICS_RF_DPE,      /* downstream protocol error */
	METRICS_RF_UPE,      /* upstream protocol error */
	METRICS_RF_UH,       /* no healthy upstream */
	METRICS_RF_RBAC,     /* denied by authorization */
	METRICS_RF_COUNT,
};

enum metrics_deny_reason {
	METRICS_DENY_AUTHZ = 0,
	METRICS_DENY_JWT,
	METRICS_DENY_RATE_LIMIT,
	METRICS_DENY_MTLS,
	METRICS_DENY_L4,
	METRICS_DENY_BAD_REQUEST,
	METRICS_DENY_COUNT,
};

/* The labels of a request series that vary per request. */
struct metrics_req_key {
	uint8_t direction;
	uint8_t method;
	uint8_t rflag;
	uint16_t code;
	uint8_t mtls; /* connection_security_policy mutual_tls */
	char service[METRICS_LABEL_MAX]; /* destination_service */
	char route[METRICS_LABEL_MAX];
	char peer[METRICS_LABEL_MAX]; /* inbound: source_principal, or "" */
	/*
	 * The other side's workload when known ("" otherwise): outbound,
	 * the destination endpoint's (destination_workload,
	 * destination_workload_namespace, destination_version); inbound,
	 * the caller's, known by its address from the registry
	 * (source_workload, source_workload_namespace).
	 */
	char peer_workload[METRICS_LABEL_MAX];
	char peer_namespace[METRICS_LABEL_MAX];
	char peer_version[METRICS_LABEL_MAX];
};

struct metrics_tcp_key {
	uint8_t direction;
	uint8_t http; /* request_protocol http or tcp */
	uint8_t mtls;
	char service[METRICS_LABEL_MAX];
	char peer[METRICS_LABEL_MAX];
	/* As in metrics_req_key: the other side's workload, or "". */
	char peer_workload[METRICS_LABEL_MAX];
	char peer_namespace[METRICS_LABEL_MAX];
};

struct metrics_shard;

/* What is the same for every series of this proxy. */
struct metrics_identity {
	const char *workload;
	const char *namespace;
	const char *principal; /* "unknown" without mTLS */
	const char *version;   /* the workload's version label */
};

/* Counters of the L4 verdict process (shared memory, atomic). */
enum metrics_l4 {
	METRICS_L4_ACCEPT = 0,
	METRICS_L4_DENY,      /* dropped by policy: weft_denied_total l4 */
	METRICS_L4_MALFORMED, /* dropped: not a readable UDP/TCP packet */
	METRICS_L4_COUNT,
};

/* Process-wide values rendered with the shards. */
struct metrics_globals {
	int64_t config_version;
	uint64_t reloads_ok;
	uint64_t reloads_failed;
	double last_reload; /* unix time, 0 when never */
	double cert_expiry; /* unix time, 0 when there is no certificate */
	double start_time;
	uint64_t connections_active;
	uint64_t tap_dropped; /* tap events lost to full queues or clients */
	/* METRICS_L4_COUNT counters, or NULL without an L4 queue. */
	const uint64_t *l4;
};

/* Creates an empty shard; exits on allocation failure (startup only). */
struct metrics_shard *metrics_shard_new(void);
void metrics_shard_free(struct metrics_shard *);

/* Maps a request method to its label; unknown methods are OTHER. */
enum metrics_method metrics_method_of(const char *m, size_t len);
const char *metrics_method_name(enum metrics_method);
const char *metrics_rflag_name(enum metrics_rflag);

/* Counts one finished request (worker thread only). */
void metrics_request(struct metrics_shard *, const struct metrics_req_key *,
    uint64_t duration_ns, uint64_t req_bytes, uint64_t resp_bytes);

/*
 * Counts a connection opening and closing, and bytes sent to and
 * received from the downstream peer (as they pass, so that long-lived
 * connections show up before they close).
 */
void metrics_tcp_open(struct metrics_shard *, const struct metrics_tcp_key *);
void metrics_tcp_close(struct metrics_shard *, const struct metrics_tcp_key *);
void metrics_tcp_bytes(struct metrics_shard *, const struct metrics_tcp_key *,
    uint64_t sent, uint64_t received);

/* Counts a refused request or connection. */
void metrics_deny(struct metrics_shard *, enum metrics_deny_reason);

/*
 * Appends the Prometheus text exposition of the shards and globals to
 * out. Returns 0, or -1 on allocation failure.
 */
int metrics_render(struct evbuffer *out, struct metrics_shard *const *shards,
    int nshards, const struct metrics_identity *id,
    const struct metrics_globals *g);

struct stats_set;

/*
 * Adds the cumulative numbers of every request series (merged into
 * golden-metric keys: direction, service, peer workload, route, source
 * principal) and the open connections of every TCP series to set.
 * Returns 0, or -1 on allocation failure.
 */
int metrics_stats_collect(
    struct metrics_shard *const *shards, int nshards, struct stats_set *set);

/* Sums the requests counted by all shards (for tests and weftctl stat). */
uint64_t metrics_requests_total(
    struct metrics_shard *const *shards, int nshards);

#endif
