/*
 * weft-server: what its modules share. One thread, one event_base; the
 * HTTPS API (evhttp over OpenSSL bufferevents) on 15010; the policy DB
 * (server_db.c); the mesh CA (src/lib/ca.c); the registry of proxies
 * and the change feed held in memory.
 */
#ifndef WEFT_SERVER_H
#define WEFT_SERVER_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "inject.h"

struct ca;
struct event;
struct event_base;
struct evhttp;
struct evhttp_request;
struct kube_sync;
struct server_db;
struct ssl_ctx_st;

#define SERVER_DEFAULT_PORT     15010
#define SERVER_DEFAULT_DATA_DIR "/var/lib/weft/server"
#define SERVER_ADMIN_NAMESPACE  "weft-system"
#define SERVER_ADMIN_SA         "weft-admin"
#define SERVER_MAX_CHANGESETS   256 /* per sync answer */
#define SERVER_MAX_BODY         (64 * 1024 * 1024)
#define SERVER_WEBHOOK_PORT     15017
/* An AdmissionReview holds one object; kube-apiserver caps it at 3 MiB. */
#define SERVER_WEBHOOK_MAX_BODY (8 * 1024 * 1024)

struct server_conf {
	const char *data_dir;
	const char *db_path;
	const char *listen; /* ADDR:PORT */
	const char *trust_domain;
	int64_t cert_ttl_sec;
	int64_t heartbeat_timeout_sec;
	size_t history;    /* changesets kept */
	const char **sans; /* extra names/addresses of the server */
	size_t nsans;
	/* Kubernetes: the API (NULL: in-cluster when in a pod; "off") */
	const char *kube_api;
	const char *kube_token_file;
	const char *kube_ca;
	const char *kube_audience;
	int64_t kube_resync_sec;
	const char *webhook_listen; /* ADDR:PORT, or NULL: off */
	struct inject_conf inject;  /* what the webhook injects */
};

/* A registered proxy, as the server last heard of it. */
struct server_proxy {
	TAILQ_ENTRY(server_proxy) entry;
	char *namespace;
	char *workload;
	char *service_account;
	char *address;
	int64_t applied_version;
	int64_t proxy_version;
	int64_t last_contact;
	int64_t cert_expiry;
	int healthy;
	int dirty;   /* reported values not yet written to the DB */
	int waiting; /* sync requests of it held open */
	/* What its weft-sync has, as last heard since this server started. */
	char ca_bundle[65];   /* SHA-256 of its ca.pem, or "" */
	char cert_root[65];   /* fingerprint of its certificate's root, or "" */
	int64_t ca_bundle_at; /* when each was first heard as it is */
	int64_t cert_root_at;
};
TAILQ_HEAD(server_proxies, server_proxy);

/* A sync request held open until the policy moves past since. */
struct server_waiter {
	TAILQ_ENTRY(server_waiter) entry;
	struct server *srv;
	struct evhttp_request *req;
	struct event *timer;
	struct server_proxy *proxy;
	int64_t since;
	char ca_bundle[65]; /* what the client has: the answer brings ours */
};
TAILQ_HEAD(server_waiters, server_waiter);
struct server_tap;
TAILQ_HEAD(server_taps, server_tap);

struct server {
	struct server_conf conf;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp *webhook; /* the admission webhook, or NULL */
	struct ssl_ctx_st *ssl_ctx;
	struct server_db *db;
	struct ca *ca;
	char admin_token[65];
	char *admin_spiffe;
	int64_t version; /* the policy version committed last */
	int64_t started_at;
	struct server_proxies proxies;
	struct server_waiters waiters;
	struct server_taps taps; /* weftctl tap --server (server_tap.c) */
	struct event *tick;      /* health and flush timer */
	/* The last snapshot built, for clients that cannot catch up. */
	char *snapshot_b64;
	int64_t snapshot_version;
	struct kube_sync *kube; /* NULL: no Kubernetes API */
};

/* Who made a request, from its credential. */
enum server_role {
	SERVER_ROLE_NONE,
	SERVER_ROLE_ADMIN,
	SERVER_ROLE_WORKLOAD, /* by certificate: namespace + service account */
	SERVER_ROLE_JOIN,     /* by join token: namespace, workload, sa */
	SERVER_ROLE_KUBE,     /* by service-account token: namespace, sa,
				 and the pod it is bound to, or "" */
};

struct server_caller {
	enum server_role role;
	char namespace[64];
	char service_account[254];
	char workload[254]; /* join tokens only */
	char spiffe_id[512];
	int64_t cert_not_after; /* of the client certificate, or 0 */
	char cert_root[65];     /* fingerprint of its verified root, or "" */
	char *error;            /* why the credential was refused (allocated) */
	char *kube_token;       /* a service-account token not yet reviewed */
};

/* server_http.c */
/* Issues the server's certificate (server_tls_cert) and listens. */
int server_http_start(struct server *srv, char **cause);
/*
 * A new server certificate from the CA's signing root and a new TLS
 * context with the CA's chain and bundle, for new connections; those
 * open keep theirs. Returns 0, or -1 with *cause and the old context
 * kept.
 */
int server_http_tls(struct server *srv, char **cause);
void server_http_stop(struct server *srv);
/*
 * An HTTPS server (evhttp over the server's TLS context) listening on
 * listen ("ADDR:PORT", "[V6]:PORT", "ADDR" for default_port), calling
 * cb with srv for each request. Returns it, or NULL with *cause.
 */
struct evhttp *server_http_new(struct server *srv, const char *listen,
    int default_port, void (*cb)(struct evhttp_request *, void *),
    size_t max_body, char **cause);
void server_reply_json(struct evhttp_request *req, int code, json_t *body);
void server_reply_error(struct evhttp_request *req, int code, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
/* The request body as JSON; replies 400 and returns NULL when it is not. */
json_t *server_body_json(struct evhttp_request *req);
/* The request body, NUL-terminated (allocated), its length in *len. */
char *server_body(struct evhttp_request *req, size_t *len);
/* The value of a query parameter (allocated), or NULL. */
char *server_query(struct evhttp_request *req, const char *name);

/* server_auth.c */
void server_caller_identify(
    struct server *srv, struct evhttp_request *req, struct server_caller *c);
void server_caller_clear(struct server_caller *c);
/*
 * Replies 401/403 and returns -1 unless the caller is an admin. The
 * workload checks take the workload and namespace a request names.
 */
int server_require_admin(
    struct evhttp_request *req, const struct server_caller *c);
int server_require_workload(struct evhttp_request *req,
    const struct server_caller *c, const char *ns, const char *workload,
    const char *service_account);
/*
 * GET /v1/whoami: the identity of the caller's credential, for any
 * valid credential ({"role", "spiffeId", "namespace", "serviceAccount",
 * "workload"}); weftctl join checks a join token with it before it
 * writes any setting. Changes nothing.
 */
void server_whoami_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c);
/* Makes a join token (printed form allocated in *token). */
int server_token_create(struct server *srv, const char *ns,
    const char *workload, const char *sa, int64_t ttl_sec,
    const char *created_by, char **token, int64_t *expires_at, char **cause);

/* server_resources.c: /v1/resources */
void server_resources_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c, const char *rest);

/* server_feed.c: /v1/sync and the change feed */
/* The CA's roots changed: every held sync request is answered now. */
void server_feed_ca_changed(struct server *srv);
/* GET /v1/snapshot (admin): the whole replicated policy, as /v1/sync
 * sends it to a workload that must resync. */
void server_snapshot_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c);
void server_sync_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c);
/* A transaction committed version: wake the waiters. */
void server_feed_committed(struct server *srv, int64_t version);
void server_feed_stop(struct server *srv);
/* A proxy is going away: its held requests no longer point at it. */
void server_feed_forget_proxy(struct server *srv, struct server_proxy *p);

/* server_registry.c: /v1/register, /v1/certificates, /v1/status,
 * /v1/tokens, health */
int server_registry_load(struct server *srv, char **cause);
void server_registry_free(struct server *srv);
struct server_proxy *server_proxy_find(
    struct server *srv, const char *ns, const char *workload);
/* The proxy was heard from now. */
void server_proxy_contact(struct server *srv, struct server_proxy *p);
/*
 * What p's weft-sync has: the hash of its trust bundle and the root of
 * its certificate (either NULL or "" when not known from this request).
 */
void server_proxy_ca(
    struct server_proxy *p, const char *bundle_sha, const char *cert_root);
void server_register_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c);
void server_certificates_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c);
void server_status_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c);
void server_tokens_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c);
/* Once a second: health by heartbeat, reported state to the DB. */
void server_registry_tick(struct server *srv);

/* server_tap.c: /v1/tap, the relay of weftctl tap --server */
void server_tap_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c, const char *rest);
void server_tap_stop(struct server *srv);
/* Whether a tap has not been told to p's weft-sync yet. */
int server_tap_untold(struct server *srv, const struct server_proxy *p);
/*
 * Adds the taps p has not been told of to a sync answer j (taking j,
 * which may be shared, and returning the answer to send, or NULL on
 * ENOMEM), and records them as told.
 */
json_t *server_tap_attach(
    struct server *srv, struct server_proxy *p, json_t *j);
/* server_feed.c: answers now the held sync requests a new tap is for. */
void server_feed_wake_taps(struct server *srv);
/* server_stats.c: GET /v1/stats (admin), from every healthy proxy */
void server_stats_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c);
/* server_ca.c: /v1/ca and /v1/ca/rotate */
void server_ca_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c);
void server_ca_rotate_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c);

/* kube_sync.c: Kubernetes discovery and service-account tokens */
/*
 * Starts the discovery when the conf or the environment names an API
 * server; with none, removes what an earlier run discovered. Returns 0,
 * or -1 with *cause set.
 */
int kube_sync_start(struct server *srv, char **cause);
/*
 * A workload of namespace ns registered or left: the Services of ns are
 * mapped again (which endpoints have sidecars, their labels).
 */
void kube_sync_refresh(struct server *srv, const char *ns);
/* Fills c from a recent positive review of token: 1, or 0. */
int kube_sync_cached(
    struct server *srv, const char *token, struct server_caller *c);
/*
 * Reviews token with the API server; done runs later with the caller
 * (role SERVER_ROLE_KUBE, or NONE with its error), unless the request's
 * connection closed. Returns 0, or -1 with *cause set.
 */
int kube_sync_authenticate(struct server *srv, struct evhttp_request *req,
    const char *token,
    void (*done)(
	struct server *, struct evhttp_request *, struct server_caller *),
    char **cause);
/* server_webhook.c: the Kubernetes admission webhook, POST /inject */
/* Listens on conf.webhook_listen (unless NULL); 0, or -1 with *cause. */
int server_webhook_start(struct server *srv, char **cause);
void server_webhook_stop(struct server *srv);

/* weft_server.c */
int64_t server_now(void);
/*
 * The server's TLS certificate and key (allocated), from the CA's
 * signing root, for every address of this host and the names given.
 * Returns 0, or -1 with *cause set.
 */
int server_tls_cert(struct server *srv, char **cert, char **key, char **cause);
/*
 * Makes DIR/admin.pem and admin-key.pem (0600) when they are missing or
 * do not chain to the CA's signing root. Returns 0, or -1 with *cause.
 */
int server_admin_cert(struct server *srv, char **cause);

#endif
