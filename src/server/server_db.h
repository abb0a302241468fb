/*
 * weft-server's policy DB: every SQL statement of weft-server. The
 * resources and the normalized policy are written by the shared
 * store_db / store_apply code; this module records each write
 * transaction as one changeset, and keeps the server's own tables
 * (history, tokens, registered proxies, certificates).
 */
#ifndef WEFT_SERVER_DB_H
#define WEFT_SERVER_DB_H

#include <stddef.h>
#include <stdint.h>

struct server_db;
struct store_db;

/*
 * Opens (creating and migrating) the DB at path; keeps at most history
 * changesets. Returns NULL with *cause set.
 */
struct server_db *server_db_open(
    const char *path, size_t history, char **cause);
void server_db_close(struct server_db *sdb);

/* For store_apply / store_delete inside a server_db_begin transaction. */
struct store_db *server_db_store(struct server_db *sdb);

/* This DB's history id (random, made with the DB). */
const char *server_db_history(const struct server_db *sdb);

int server_db_version(struct server_db *sdb, int64_t *version, char **cause);

/*
 * A write transaction whose changes to the replicated tables become one
 * changeset. Commit stores it under the new policy version and returns
 * that version in *version, or 0 when nothing changed.
 */
int server_db_begin(struct server_db *sdb, char **cause);
int server_db_commit(struct server_db *sdb, int64_t *version, char **cause);
void server_db_rollback(struct server_db *sdb);

struct server_changeset {
	int64_t version;
	void *data;
	size_t len;
};

/*
 * The changesets after version since, in order, at most max of them.
 * *oldest is the oldest version still kept (0 when none are): a client
 * at since < *oldest - 1 cannot catch up by changesets.
 */
int server_db_changesets(struct server_db *sdb, int64_t since, size_t max,
    struct server_changeset **v, size_t *n, int64_t *oldest, char **cause);
void server_changesets_free(struct server_changeset *v, size_t n);

/* The whole replicated policy as one changeset (replica_snapshot). */
int server_db_snapshot(struct server_db *sdb, void **blob, size_t *len,
    int64_t *version, char **cause);

/* A workload as weft-sync registers it; JSON texts for labels and ports. */
struct server_workload {
	const char *namespace;
	const char *name;
	const char *service_account;
	const char *address;
	const char *labels; /* {"app": "orders"} */
	const char *ports;  /* {"http": 8080} */
	const char *locality;
};

/*
 * In a write transaction: makes w an endpoint (workloads, source
 * "registered", healthy) and records its proxy (server_proxies), bumping
 * the policy version when the endpoint changed.
 */
int server_db_register(struct server_db *sdb, const struct server_workload *w,
    int64_t now, char **cause);

/* In a write transaction: removes both; returns 1, or 0 when unknown. */
int server_db_deregister(
    struct server_db *sdb, const char *ns, const char *name, char **cause);

/* In a write transaction: the endpoint's health; bumps when it changes. */
int server_db_set_healthy(struct server_db *sdb, const char *ns,
    const char *name, int healthy, char **cause);

/* A row of server_proxies, with its endpoint's health. */
struct server_proxy_row {
	char *namespace;
	char *workload;
	char *service_account;
	char *address;
	int64_t applied_version;
	int64_t proxy_version;
	int64_t last_contact;
	int64_t cert_expiry; /* 0 when none issued */
	int healthy;
};

int server_db_proxies(struct server_db *sdb, struct server_proxy_row **v,
    size_t *n, char **cause);
void server_proxy_rows_free(struct server_proxy_row *v, size_t n);

/*
 * Writes what the proxies reported (versions, last contact, certificate
 * expiry) in one transaction of its own; not replicated.
 */
int server_db_proxies_update(struct server_db *sdb,
    const struct server_proxy_row *v, size_t n, char **cause);

struct server_token {
	char *id;
	char *secret_sha256;
	char *namespace;
	char *workload;
	char *service_account;
	int64_t expires_at;
};

int server_db_token_add(struct server_db *sdb, const struct server_token *t,
    const char *created_by, char **cause);
/* Returns 1 with *t filled, 0 when there is no such token, -1 on error. */
int server_db_token_get(struct server_db *sdb, const char *id,
    struct server_token *t, char **cause);
void server_token_clear(struct server_token *t);

int server_db_cert_add(struct server_db *sdb, const char *fingerprint,
    const char *spiffe_id, const char *ns, const char *workload,
    int64_t not_after, char **cause);

struct kube_service;

/*
 * In a write transaction: the rows of a Service discovered from
 * Kubernetes (services of source "kubernetes", named "kubernetes/NAME",
 * and its endpoints) replace those it had; bumps the policy version.
 */
int server_db_kube_put(
    struct server_db *sdb, const struct kube_service *ks, char **cause);
/* In a write transaction: removes them; returns 1, or 0 when unknown. */
int server_db_kube_delete(
    struct server_db *sdb, const char *ns, const char *name, char **cause);
/*
 * The Services that have rows: *n pairs (namespace, name) in *names
 * (2 * *n strings, allocated, the caller frees each and the array).
 */
int server_db_kube_list(
    struct server_db *sdb, char ***names, size_t *n, char **cause);
/*
 * Whether address is a workload registered by weft-sync in namespace
 * ns (it has a sidecar): 1 with its service account in sa and its
 * labels (JSON text, allocated) in *labels, 0, or -1.
 */
int server_db_kube_sidecar(struct server_db *sdb, const char *ns,
    const char *address, char *sa, size_t salen, char **labels);

#endif
