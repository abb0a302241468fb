/*
 * weft-proxy: the process, its worker threads and their sessions.
 *
 * A worker owns an event base, its listeners, its upstream connection
 * pool, its metrics shard and its access log buffer; a session (one
 * downstream connection) lives and dies on the worker that accepted it.
 */
#ifndef WEFT_PROXY_H
#define WEFT_PROXY_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "conn.h"
#include "http1.h"
#include "tls.h"
#include "log.h"
#include "metrics.h"
#include "trace_ctx.h"

#define PROXY_HIGH_WATER   (256 * 1024) /* pause the source past this */
#define PROXY_PIPELINE_MAX (64 * 1024)  /* pipelined bytes held per client */
#define PROXY_SERVICE_MAX  METRICS_LABEL_MAX

struct proxy_conf {
	const char *db_path;
	const char *certs_dir;
	const char *workload;
	const char *namespace;
	const char *service_account;
	const char *labels;
	const char *locality;
	const char *version_label; /* "version" from --labels, or "unknown" */
	uid_t uid;                 /* the uid weft-init excludes */
	gid_t gid;
	int uid_given;    /* --uid: drop from root to uid */
	int l4_queue;     /* NFQUEUE number, or -1 */
	int l4_fail_open; /* the kernel accepts when the queue is full */
	/*
	 * Outbound calls to no service of the mesh: passed through to the
	 * original destination (0, Istio's ALLOW_ANY) or refused (1,
	 * REGISTRY_ONLY: an egress lock-down).
	 */
	int registry_only;
	const char *access_log; /* path, "-" (stderr) or "off" */
	enum log_level log_level;
	int outbound_port;
	int inbound_port;
	int admin_port;
	int metrics_port;
	int threads;
	int max_connections;
	int detect_timeout_ms;
	int header_timeout_ms;
	int idle_timeout_ms;
	int connect_timeout_ms;
	int upstream_idle_ms;
	int drain_timeout_ms;
	size_t max_head;
	const char *jwks_ca; /* trust of jwksUri fetches; NULL: the system's */
	int jwks_refresh_ms; /* jwksUri refresh after a success */
	const char *trace_collector; /* span export URL; NULL: none */
	int trace_format;            /* enum trace_format */
	uint32_t trace_ppm;          /* sampling: parts per million */
};

struct proxy;
struct worker;
struct session;
struct snapshot;
struct lb_state;
struct admin;
struct snap_route;
struct snap_dest;
struct snap_cluster;
struct snap_endpoint;
struct snap_hdr_ops;

/*
 * A worker's hold on a policy snapshot, with the worker's load-balancer
 * state for it. Exchanges take a reference for their whole life, so a
 * reload never changes the policy under a request in flight; a hold
 * that is no longer current is freed with its last exchange.
 */
struct snap_hold {
	struct snapshot *snap;
	struct lb_state *lb;
	unsigned int refs; /* exchanges, plus one while current */
	LIST_ENTRY(snap_hold) entry;
};
LIST_HEAD(snap_hold_list, snap_hold);
struct mirror;
LIST_HEAD(mirror_list, mirror);

struct listener {
	struct worker *w;
	int fd;
	int direction; /* METRICS_OUTBOUND or METRICS_INBOUND */
	int port;
	struct event *ev;
	struct event *retry; /* resumes accepting after EMFILE */
	int paused;
};

struct upstream {
	struct conn c;
	struct worker *w;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint32_t hash;
	struct session *s; /* attached session; NULL while idle */
	TAILQ_ENTRY(upstream) entry;
	time_t idle_since;
	unsigned int requests; /* requests sent on this connection */
	int in_pool;
	int tls; /* mesh mTLS to a peer sidecar */
};
TAILQ_HEAD(upstream_list, upstream);

#define POOL_BUCKETS 256

struct pool {
	struct upstream_list buckets[POOL_BUCKETS];
	unsigned int idle;
	struct event *reaper;
};

enum session_mode {
	SESSION_DETECT = 0,
	SESSION_HTTP,
	SESSION_TCP,
	SESSION_TUNNEL, /* after an HTTP upgrade */
	SESSION_LINGER, /* final response sent: discarding input, then close */
};

enum http_req_state { REQ_IDLE = 0, REQ_HELD, REQ_BODY, REQ_DONE };
enum http_resp_state { RESP_NONE = 0, RESP_HEAD, RESP_BODY, RESP_DONE };

/* The state of the request/response exchange in progress on a session. */
struct http_exchange {
	enum http_req_state req_state;
	enum http_resp_state resp_state;
	enum http1_framing req_framing;
	enum http1_framing resp_framing;
	uint64_t req_remaining;
	uint64_t resp_remaining;
	struct http1_chunked req_chunk;
	struct http1_chunked resp_chunk;
	size_t head_scan; /* where to resume looking for the head end */
	size_t resp_head_scan;
	struct timespec t0;
	uint64_t req_bytes;
	uint64_t resp_bytes;
	int status;
	int rflag;
	int req_minor;
	int resp_minor;
	int method;                      /* enum metrics_method */
	unsigned int head_req : 1;       /* HEAD: no response body */
	unsigned int upgrade : 1;        /* an Upgrade request */
	unsigned int client_close : 1;   /* close the client after this */
	unsigned int upstream_close : 1; /* do not pool the upstream */
	unsigned int resp_started : 1;   /* response bytes reached the client */
	unsigned int retried : 1;
	unsigned int retryable : 1;    /* idempotent and bodyless */
	unsigned int bodyless : 1;     /* no body: the head alone resends it */
	unsigned int idempotent : 1;   /* RFC 9110 9.2.2 */
	unsigned int body_capture : 1; /* body kept in retry_body for retries */
	unsigned int retrying : 1;     /* counted in the retry budget */
	unsigned int mtls : 1;         /* sent upstream over mesh mTLS */
	int attempt;                   /* route retries made so far */
	const struct snap_endpoint *tried[4]; /* endpoints of past attempts */
	size_t ntried;
	struct sockaddr_storage target; /* where this request goes */
	socklen_t target_len;
	char method_str[16];
	char path[256];
	char authority[128];
	char user_agent[128];
	struct evbuffer *retry_head; /* request head kept for one retry */
	struct evbuffer *retry_body; /* and a small body, for route retries */
	/* Mesh policy of this request (http_route.c); NULL: passthrough. */
	struct snap_hold *hold;
	const struct snap_route *route_p;
	const struct snap_dest *dest_p;
	const struct snap_cluster *cluster;
	const struct snap_endpoint *endpoint;
	unsigned int lb_started : 1;
	int delay_ms;     /* fault delay before dispatch */
	int timeout_ms;   /* route timeout; 0: none */
	int reply_status; /* local reply decided by the route */
	const char *reply_body;
	char reply_headers[512]; /* extra fields of the local reply */
	struct mirror *mirror;   /* the copy of this request, while it lasts */
	char service[METRICS_LABEL_MAX]; /* destination_service label */
	char route[METRICS_LABEL_MAX];   /* route label */
	/* Why the inbound side refused it (401, 403, 429): the access
	 * log's denied_by. Empty: it did not. */
	char denied[384];
	/* Tracing: this hop's span, and the header lines that carry it. */
	struct trace_ctx trace;
	char trace_hdrs[TRACE_HEADERS_MAX];
	char request_id[64];  /* x-request-id, received or made */
	uint64_t start_us;    /* wall clock at the request head */
	uint64_t up_sent_ns;  /* monotonic: the head went upstream */
	uint64_t up_first_ns; /* the final response head came back */
	uint64_t up_last_ns;  /* the response ended */
};

struct session {
	struct worker *w;
	int direction;
	enum session_mode mode;
	struct conn client;
	struct upstream *up;
	struct evbuffer *head_out; /* the request head to send upstream */
	struct sockaddr_storage peer;
	struct sockaddr_storage orig; /* the original destination */
	struct sockaddr_storage target;
	socklen_t target_len;
	struct metrics_tcp_key tcpkey;
	/*
	 * Inbound: the caller's workload as the registry knows its address
	 * ("" when it does not); see session_source().
	 */
	char src_workload[METRICS_LABEL_MAX];
	char src_namespace[METRICS_LABEL_MAX];
	char src_account[METRICS_LABEL_MAX];
	struct event *timer;
	int timer_kind;
	struct event *route_timer; /* the route timeout of the exchange */
	time_t last_active;
	uint64_t reported_in; /* client bytes already counted in metrics */
	uint64_t reported_out;
	struct timespec start;
	struct http_exchange hx;
	unsigned int client_paused : 1; /* reads stopped for back-pressure */
	unsigned int up_paused : 1;
	unsigned int closing : 1;     /* close once the client output drains */
	unsigned int counted : 1;     /* metrics_tcp_open was called */
	unsigned int tls_checked : 1; /* inbound: mTLS or not decided */
	TAILQ_ENTRY(session) entry;
};
TAILQ_HEAD(session_list, session);

struct worker {
	struct proxy *px;
	int id;
	struct event_base *base;
	struct listener listeners[4]; /* outbound v4/v6, inbound v4/v6 */
	int nlisteners;
	struct pool pool;
	struct metrics_shard *metrics;
	struct evbuffer *alog; /* access log lines not yet written */
	struct event *alog_timer;
	struct http1_msg msg; /* scratch for parsing, used synchronously */
	struct session_list sessions;
	unsigned int nsessions;
	unsigned int max_sessions;
	int draining;
	uint64_t rng;                       /* worker_rand() state */
	unsigned int retries_active;        /* exchanges retrying: the budget */
	struct snap_hold *hold;             /* the current policy */
	struct snap_hold_list retired;      /* older ones still in use */
	struct mirror_list mirrors;         /* mirrored requests in flight */
	struct ratelimit_table *ratelimits; /* token buckets (inbound) */
	struct jwt_cache *jwt_cache;        /* tokens verified (inbound) */
	time_t last_unredirected_log;
	time_t last_mtls_log;
	int notify_fd; /* eventfd: the main thread asks for a drain */
	struct event *notify_ev;
	pthread_t thread;
	int own_thread;
};

struct proxy {
	struct proxy_conf conf;
	struct event_base *base; /* main thread: admin, signals, reloads */
	struct worker **workers;
	int nworkers;
	struct metrics_shard **shards;
	struct metrics_identity id;
	struct metrics_globals globals;
	struct policy_db *db;
	pthread_mutex_t snap_mtx; /* guards snap between main and workers */
	struct snapshot *snap;    /* the newest snapshot, one reference */
	int alog_fd;              /* -1 when the access log is off */
	int ready;
	int draining;
	struct event *drain_timer;
	struct event *db_timer;
	struct admin *admin; /* the metrics and admin endpoints */
	/* Mesh certificates (tls.c), guarded by snap_mtx; NULL: none. */
	struct tls_certs *certs;
	struct tls_watch certs_watch;
	char principal[256]; /* metrics: our SPIFFE ID, or "unknown" */
	struct trace_exporter *tracer; /* NULL: spans are not exported */
	/*
	 * Live tap (tap_queue.c): nonzero while a client taps, read by the
	 * workers with one relaxed load per request; the queues (one per
	 * worker, written by it, read by the main thread) exist from the
	 * first tap on.
	 */
	int tap_active;
	struct tap_queue **tapq;
	uint64_t tap_dropped; /* events lost to full queues */
	/* Windowed golden metrics (admin_stats.c). */
	struct stats_ring *stats;
	struct event *stats_timer;
};

/* The current certificates, referenced (tls_certs_unref), or NULL. */
struct tls_certs *proxy_certs(struct proxy *px);

/* proxy_conf.c */
/* Fills conf from argv; prints one line and exits 1 on bad input. */
void proxy_conf_parse(struct proxy_conf *conf, int argc, char **argv);

/* worker.c */
/* Creates worker id with its own base (or the main base for worker 0). */
struct worker *worker_new(struct proxy *px, int id, struct event_base *base);
/* Binds the worker's listeners; returns 0 or -1 with a logged reason. */
int worker_listen(struct worker *w);
/* Starts the worker's thread (workers other than the one on the main base). */
int worker_start(struct worker *w);
/* Asks the worker to drain (thread-safe). */
void worker_drain(struct worker *w);
void worker_join(struct worker *w);
void worker_free(struct worker *w);
/*
 * Tells the worker that px->snap changed (thread-safe); the worker
 * adopts it for new requests.
 */
void worker_snapshot_changed(struct worker *w);
/* The current policy with a reference for one exchange, or NULL. */
struct snap_hold *worker_hold(struct worker *w);
/* Drops an exchange's reference (NULL is a no-op). */
void worker_release(struct worker *w, struct snap_hold *h);
/* The worker's cached wall-clock time in seconds (no system call). */
time_t worker_now(struct worker *w);
/* Flushes the access log buffer of w. */
void worker_alog_flush(struct worker *w);

/* listener.c */
int listener_open(struct listener *l, struct worker *w, int family, int port,
    int direction, int reuseport);
void listener_close(struct listener *l);
/* Resumes accepting after a pause for the connection limit. */
void listener_resume(struct listener *l);

/* session.c */
/* Takes ownership of fd, an accepted connection; drops it on failure. */
void session_accept(struct listener *l, int fd, struct sockaddr_storage *peer);
/* The one teardown path of a session (and its upstream). */
void session_close(struct session *s);
/* Arms the session timer: kind is one of SESSION_T_*. */
void session_timer(struct session *s, int kind, int ms);
/* Counts client bytes not yet reported to the metrics. */
void session_report_bytes(struct session *s);
/* Closes the session if it is idle (draining). */
void session_drain(struct session *s);
/*
 * Ends a session whose output is written: half-closes, discards what the
 * client still sends for a moment, then closes (a close with unread
 * input would be a reset that can destroy the response in flight).
 */
void session_linger(struct session *s);

enum {
	SESSION_T_NONE = 0,
	SESSION_T_DETECT,
	SESSION_T_IDLE,    /* keep-alive idle or TCP idle */
	SESSION_T_HEADER,  /* request head in progress */
	SESSION_T_CONNECT, /* upstream connect */
	SESSION_T_STREAM,  /* waiting for or streaming a response */
	SESSION_T_LINGER,
	SESSION_T_DELAY,   /* fault injection delay */
	SESSION_T_PERTRY,  /* retries.perTryTimeout of one attempt */
	SESSION_T_BACKOFF, /* the pause before a retry */
};

/* tcp_relay.c */
/* Relays opaque bytes between the client and a fresh upstream. */
void tcp_relay_start(struct session *s);
/* Continues a relay on an upstream already connected (HTTP upgrade). */
void tcp_relay_tunnel(struct session *s);

/* http_proxy.c */
/* inbound_policy.c: JWT, authorization and rate limits, inbound. */
struct http1_msg;
int inbound_http(struct session *s, const struct http1_msg *m, const char *buf);
int inbound_tcp(struct session *s);
struct ratelimit_table;

void http_start(struct session *s);
/* Writes a request or response head with header operations. */
struct snap_hdr_ops;
/* Copies a field value of len bytes into dst, truncated to fit. */
void http_copy_field(char *dst, size_t size, const char *src, size_t len);
/*
 * trace, when not NULL, holds the trace header lines of a request
 * head: they replace the request's own (trace_header_replaced()).
 */
void http_write_head(struct evbuffer *out, const char *buf,
    const struct http1_msg *m, const char *connection,
    const struct snap_hdr_ops *a, const struct snap_hdr_ops *b,
    const char *trace);
void http_client_read(struct session *s);
void http_client_drained(struct session *s);
void http_timeout(struct session *s, int kind);
void http_drain(struct session *s);
void http_exchange_free(struct http_exchange *hx);

/* http_route.c */
enum {
	ROUTE_PASS = 0, /* no policy for this request: original destination */
	ROUTE_FORWARD,  /* head written to head_out, target chosen */
	ROUTE_REPLY,    /* answer locally with hx->reply_status */
};
/* destination_service of what REGISTRY_ONLY refuses, as in Istio. */
#define ROUTE_BLACKHOLE "BlackHoleCluster"
/*
 * Applies the mesh policy to an outbound request whose head m is still
 * in place: chooses the route, destination and endpoint, and writes the
 * rewritten head to s->head_out. Returns a ROUTE_* value.
 */
int http_route(struct session *s, const struct http1_msg *m);
/* Tells the load balancer how the request went (status or LB_FAIL_*). */
void http_route_report(struct session *s, int status);
/*
 * After an attempt ended with status (an HTTP status or LB_FAIL_*):
 * 1 when the route retries it and the retry budget has room, 2 when it
 * would but the attempts or the budget are spent (flag URX), 0 when the
 * outcome is not retried.
 */
int http_route_should_retry(struct session *s, int status);
/*
 * Chooses the endpoint of the next attempt, another one than the last
 * when there is one. Returns 0, or -1 when none is available.
 */
int http_route_repick(struct session *s);
/* The pause before retry number hx->attempt, jittered, in ms. */
int http_route_backoff_ms(struct session *s);
/* Releases what the exchange held of the policy. */
void http_route_end(struct session *s);

/*
 * session.c: the inbound caller's workload name and namespace, when the
 * registry knows its address and, with mTLS, its certificate says the
 * same identity; NULL otherwise.
 */
const char *session_source(const struct session *s, const char **ns);
/*
 * Inbound: puts session_source() in the connection's metrics key; once,
 * before the connection is counted (the key must not change after).
 */
void session_tcpkey_source(struct session *s);

/* tcp_route.c */
enum {
	TCP_ROUTE_PASS = 0, /* no service: the original destination */
	TCP_ROUTE_ENDPOINT, /* s->target is an endpoint of the service */
	TCP_ROUTE_REFUSE,   /* REGISTRY_ONLY, or no healthy endpoint */
};
/*
 * Where the outbound opaque TCP connection of s goes; an endpoint is
 * held in s->hx (cluster, endpoint, snapshot) until the session ends.
 */
int tcp_route(struct session *s);
/* True when s goes to a service port declared opaque (TCP, TLS...). */
int tcp_route_opaque(struct session *s);
/*
 * Writes the fields of m without hop-by-hop ones, applying header
 * operations a then b (either may be NULL) and replacing the Host value
 * with authority when it is not NULL. trace, when not NULL, holds
 * trace header lines that replace the request's own.
 */
void http_route_write_fields(struct evbuffer *out, const struct http1_msg *m,
    const struct snap_hdr_ops *a, const struct snap_hdr_ops *b,
    const char *authority, const char *trace);
/* mirror.c */
/*
 * Sends the request head (taken, drained) to addr and discards the
 * answer: traffic mirroring, fire and forget.
 */
void mirror_send(struct worker *w, const struct sockaddr_storage *addr,
    socklen_t len, struct evbuffer *head, struct mirror **owner);
/*
 * Copies the next n bytes of src (the request body on its way to the
 * primary) to the mirror; drops the mirror if it falls behind.
 */
void mirror_body(struct mirror *mr, struct evbuffer *src, size_t n);
/* The exchange is over: the mirror goes on alone. */
void mirror_detach(struct mirror *mr);
/* Ends every mirrored request of w (shutdown). */
void mirror_free_all(struct worker *w);

/* A random number from the worker's generator. */
uint64_t worker_rand(struct worker *w);

/* upstream.c */
/* An idle pooled connection to addr, or NULL. */
/*
 * An upstream connection to addr for an outbound exchange: pooled
 * (when pooled) or new, over mesh mTLS when the peer is a sidecar (the
 * endpoint ep says so, or the registry knows addr) and this proxy has
 * certificates, unless tls_mode (the DestinationRule's) disables it.
 * NULL with errno set on failure.
 */
struct upstream *upstream_get(struct worker *w,
    const struct sockaddr_storage *addr, socklen_t len,
    const struct snap_endpoint *ep, int tls_mode, int pooled);
struct upstream *upstream_take(struct worker *w,
    const struct sockaddr_storage *addr, socklen_t len, int tls);
/* A new connection to addr (connecting); NULL with errno on failure. */
struct upstream *upstream_connect(
    struct worker *w, const struct sockaddr_storage *addr, socklen_t len);
/* Returns a healthy idle connection to the pool. */
void upstream_release(struct upstream *up);
void upstream_free(struct upstream *up);
void pool_init(struct worker *w);
void pool_clear(struct worker *w);

/* origdst.c */
/*
 * Reads the original destination of a REDIRECTed connection. Returns 0,
 * or -1 when fd was not redirected (or the lookup failed).
 */
int origdst_get(
    int fd, int family, struct sockaddr_storage *dst, socklen_t *len);

/* access_log.c */
/* Opens the configured access log; returns 0 or -1 (logged). */
int access_log_open(struct proxy *px);
/* Reopens the log file in place (SIGHUP). */
void access_log_reopen(struct proxy *px);
/* Appends the line of a finished request. */
void access_log_request(struct session *s, uint64_t duration_ns);
/* Appends the line of a closed TCP connection. */
void access_log_tcp(struct session *s, uint64_t duration_ns);

/* trace_span.c */
struct trace_exporter;
/*
 * At a request head m: reads the caller's trace context, makes this
 * hop's span and request id, and the header lines for the upstream.
 */
void trace_request_start(struct session *s, const struct http1_msg *m);
/* At the end of an exchange: a sampled span goes to the exporter. */
void trace_request_end(struct session *s, uint64_t duration_ns);
/* tap_queue.c */
struct tap_event;
/*
 * Allocates the workers' tap queues if they do not exist yet (main
 * thread, before tap_active is set). Returns 0 or -1 on ENOMEM.
 */
int tap_queue_alloc(struct proxy *px);
void tap_queue_free(struct proxy *px);
/*
 * Hands the finished exchange of s to the main thread (worker thread,
 * only while px->tap_active); drops and counts it when the queue is full.
 */
void tap_publish(struct session *s, uint64_t duration_ns);
/* Calls cb for every queued event (main thread); returns their number. */
size_t tap_queue_drain(
    struct proxy *px, void (*cb)(const struct tap_event *, void *), void *arg);

/* admin_stats.c */
/* Starts the sampling of the windowed metrics (main thread). */
int admin_stats_start(struct proxy *px);
void admin_stats_stop(struct proxy *px);
/*
 * Appends the JSON golden metrics over ?window=DURATION (default 1m,
 * at most 5m) to b. Returns an HTTP status; on 400 b holds the reason.
 */
int admin_stats(struct proxy *px, struct evbuffer *b, const char *query);

/* admin.c */
int admin_start(struct proxy *px);
void admin_stop(struct proxy *px);

/* netaddr helpers (netaddr.c) */
/* Formats addr as "ip:port" ("[ip]:port" for IPv6). */
void netaddr_str(const struct sockaddr_storage *addr, char *buf, size_t len);
/* The port of addr, 0 when it is of no IP family. */
int netaddr_port(const struct sockaddr_storage *addr);
void netaddr_set_port(struct sockaddr_storage *addr, int port);
/* True when both hold the same address and port. */
int netaddr_eq(
    const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* Monotonic time in nanoseconds. */
uint64_t now_ns(void);

#endif
