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

#define SYNC_DEFAULT_DB     "/var/lib/weft/policy.db"
#define SYNC_DEFAULT_CERTS  "/var/lib/weft/certs"
#define SYNC_DEFAULT_ADMIN  "127.0.0.1:15000"
#define SYNC_BACKOFF_MIN_MS 500
#define SYNC_BACKOFF_MAX_MS 15000

struct sync_conf {
	const char *server; /* https://HOST[:PORT] */
	const char *token;  /* join token, or NULL */
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
	int probes;            /* proxy probes left before polling anyway */
	char *labels_json;
	char *ports_json;
	int exit_code;
};

/* sync_client.c */
void sync_start(struct sync *s);
void sync_stop(struct sync *s);

/* sync_certs.c */
/*
 * Whether DIR holds a usable certificate (cert.pem, key.pem, ca.pem that
 * verify and have not expired); fills *renew_at with the half-life.
 */
int sync_certs_usable(const char *dir, int64_t *renew_at);
/* A new key and its CSR; the key stays in memory until saved. */
int sync_certs_request(
    const char *spiffe_id, char **key_pem, char **csr_pem, char **cause);
/*
 * Checks and saves a certificate: the key first (0600), then the
 * certificate, then the trust bundle, each replaced atomically.
 */
int sync_certs_save(const char *dir, const char *key_pem, const char *cert_pem,
    const char *bundle_pem, int64_t *renew_at, char **cause);

/* sync_proxy.c: the version the proxy runs, from its admin port. */
typedef void (*sync_proxy_cb)(int64_t version, void *arg);
void sync_proxy_version(struct sync *s, sync_proxy_cb cb, void *arg);

#endif
