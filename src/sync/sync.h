/*
 * weft-sync: what its modules share. One thread, one event_base, one
 * request to weft-server at a time: register, get a certificate, then
 * long-poll the change feed, applying each answer to the local DB.
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include <stdint.h>

struct event;
struct event_base;
struct https_client;
struct sync_db;
struct sync_tap;

#define SYNC_DEFAULT_DB     "/var/lib/weft/policy.db"
#define SYNC_DEFAULT_CERTS  "/var/lib/weft/certs"
#define SYNC_DEFAULT_ADMIN  "127.0.0.1:15000"
#define SYNC_BACKOFF_MIN_MS 500
#define SYNC_BACKOFF_MAX_MS 15000

struct sync_conf {
	const char *server; /* https://HOST[:PORT] */
	const char *token;  /* join token, or NULL */
	/* or a Kubernetes service-account token, re-read at each use,
	 * with the server's CA (no pinning then) */
	const char *kube_token_file;
	const char *ca_file;
	const char *db_path;
	const char *certs_dir;
	const char *workload;
	const char *namespace;
	const char *service_account;
	const char *labels; /* k=v,... */
	const char *locality;
	const char *address;
	const char *ports;       /* [name=]port,... */
	const char *proxy_admin; /* ADDR:PORT of the proxy's admin port */
	int once;                /* sync once and exit */
	int keep_registered;     /* do not deregister on exit */
};

enum sync_state {
	SYNC_REGISTER,
	SYNC_CERTIFICATE,
	SYNC_POLL,
	SYNC_STOPPING,
};

struct sync {
	struct sync_conf conf;
	struct event_base *base;
	struct sync_db *db;
	struct https_client *client;
	int by_cert; /* the client authenticates with the certificate */
	enum sync_state state;
	struct event *timer; /* backoff and proxy probes */
	int64_t backoff_ms;
	int64_t heartbeat_sec;
	char *history;         /* of the local copy, or NULL */
	int64_t version;       /* of the local copy */
	int64_t proxy_version; /* last seen in the proxy, -1 unknown */
	int64_t cert_renew_at; /* Unix seconds; 0: no certificate yet */
	char ca_sha[65];       /* SHA-256 of ca.pem, or "" */
	char cert_root[65];    /* fingerprint of the certificate's root */
	char renew_signer[65]; /* the signing root last renewed for */
	const char *renew_why; /* why cert_renew_at is what it is */
	int probes;            /* proxy probes left before polling anyway */
	char *labels_json;
	char *ports_json;
	int exit_code;
	struct sync_tap *taps; /* relayed taps (sync_tap.c), a list */
};

/* sync_client.c */
void sync_start(struct sync *s);
void sync_stop(struct sync *s);

/* sync_tap.c */
struct json_t;
/* Starts relaying the taps a sync answer names that do not run yet. */
void sync_tap_instructions(struct sync *s, const struct json_t *answer);
/* Ends every relayed tap. */
void sync_tap_stop(struct sync *s);

/* sync_certs.c */
/*
 * Whether the certs directory holds a usable certificate (cert.pem,
 * key.pem, ca.pem that verify and have not expired); fills
 * s->cert_renew_at with the half-life, s->ca_sha and s->cert_root.
 */
int sync_certs_usable(struct sync *s);
/* A new key and its CSR; the key stays in memory until saved. */
int sync_certs_request(
    const char *spiffe_id, char **key_pem, char **csr_pem, char **cause);
/*
 * Checks and saves a certificate: the key first (0600), then the
 * certificate, then the trust bundle, each replaced atomically; fills
 * s->cert_renew_at, s->ca_sha and s->cert_root.
 */
int sync_certs_save(struct sync *s, const char *key_pem, const char *cert_pem,
    const char *bundle_pem, char **cause);
/*
 * Replaces ca.pem (atomically) with bundle_pem, when the certificate in
 * cert.pem chains to it. Returns 0 when it did, 1 when the certificate
 * does not chain to it (ca.pem is left alone: renew first), -1 with
 * *cause set on errors.
 */
int sync_certs_bundle(struct sync *s, const char *bundle_pem, char **cause);

/* sync_proxy.c: the version the proxy runs, from its admin port. */
typedef void (*sync_proxy_cb)(int64_t version, void *arg);
/* --proxy-admin split into host and port; -1 when it is not HOST:PORT. */
int sync_proxy_admin_addr(const char *addr, char *host, size_t len, int *port);
void sync_proxy_version(struct sync *s, sync_proxy_cb cb, void *arg);

#endif
