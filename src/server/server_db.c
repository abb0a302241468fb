/*
 * weft-server's SQL (see server_db.h). The connection is the shared
 * store_db's, so that resources applied through the API are written by
 * exactly the code weftctl --db uses.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "replica_db.h"
#include "server_db.h"
#include "kube_discovery.h"
#include "store_db.h"
#include "xmalloc.h"

enum server_db_stmt {
	SS_HISTORY_INIT,
	SS_HISTORY,
	SS_CS_INSERT,
	SS_CS_PRUNE,
	SS_CS_SINCE,
	SS_CS_OLDEST,
	SS_REGISTER,
	SS_PROXY_UPSERT,
	SS_DEREGISTER,
	SS_PROXY_DELETE,
	SS_HEALTHY,
	SS_PROXIES,
	SS_PROXY_UPDATE,
	SS_TOKEN_ADD,
	SS_TOKEN_GET,
	SS_TOKEN_PRUNE,
	SS_CERT_ADD,
	SS_KUBE_FIND,
	SS_KUBE_DEL_WORKLOADS,
	SS_KUBE_DEL_HOSTS,
	SS_KUBE_DEL_ADDRESSES,
	SS_KUBE_DEL_PORTS,
	SS_KUBE_DEL_SERVICE,
	SS_KUBE_INS_SERVICE,
	SS_KUBE_INS_HOST,
	SS_KUBE_INS_ADDRESS,
	SS_KUBE_INS_PORT,
	SS_KUBE_INS_WORKLOAD,
	SS_KUBE_LIST,
	SS_KUBE_SIDECAR,
	SS_COUNT,
};

static const char *const server_db_sql[SS_COUNT] = {
    [SS_HISTORY_INIT] = "INSERT OR IGNORE INTO server_history (id, history) "
			"VALUES (1, lower(hex(randomblob(16))))",
    [SS_HISTORY] = "SELECT history FROM server_history WHERE id = 1",
    [SS_CS_INSERT] = "INSERT INTO server_changesets (version, changeset) "
		     "VALUES (?1, ?2)",
    [SS_CS_PRUNE] = "DELETE FROM server_changesets WHERE version <= ?1",
    [SS_CS_SINCE] = "SELECT version, changeset FROM server_changesets "
		    "WHERE version > ?1 ORDER BY version LIMIT ?2",
    [SS_CS_OLDEST] = "SELECT coalesce(min(version), 0) "
		     "FROM server_changesets",
    [SS_REGISTER] =
	"INSERT INTO workloads (namespace, name, source, address, labels, "
	"ports, service_account, locality, healthy) "
	"VALUES (?1, ?2, 'registered', ?3, ?4, ?5, ?6, ?7, 1) "
	"ON CONFLICT (source, namespace, name) DO UPDATE SET "
	"address = excluded.address, labels = excluded.labels, "
	"ports = excluded.ports, service_account = excluded.service_account, "
	"locality = excluded.locality, healthy = 1 "
	"WHERE address IS NOT excluded.address "
	"OR labels IS NOT excluded.labels OR ports IS NOT excluded.ports "
	"OR service_account IS NOT excluded.service_account "
	"OR locality IS NOT excluded.locality OR healthy != 1",
    [SS_PROXY_UPSERT] =
	"INSERT INTO server_proxies (namespace, workload, service_account, "
	"address, last_contact) VALUES (?1, ?2, ?3, ?4, ?5) "
	"ON CONFLICT (namespace, workload) DO UPDATE SET "
	"service_account = excluded.service_account, "
	"address = excluded.address, last_contact = excluded.last_contact",
    [SS_DEREGISTER] = "DELETE FROM workloads WHERE source = 'registered' "
		      "AND namespace = ?1 AND name = ?2",
    [SS_PROXY_DELETE] = "DELETE FROM server_proxies WHERE namespace = ?1 "
			"AND workload = ?2",
    [SS_HEALTHY] = "UPDATE workloads SET healthy = ?3 WHERE source = "
		   "'registered' AND namespace = ?1 AND name = ?2 "
		   "AND healthy != ?3",
    [SS_PROXIES] = "SELECT p.namespace, p.workload, p.service_account, "
		   "p.address, p.applied_version, p.proxy_version, "
		   "p.last_contact, coalesce(p.cert_expiry, 0), "
		   "coalesce(w.healthy, 0) FROM server_proxies p "
		   "LEFT JOIN workloads w ON w.source = 'registered' "
		   "AND w.namespace = p.namespace AND w.name = p.workload "
		   "ORDER BY p.namespace, p.workload",
    [SS_PROXY_UPDATE] = "UPDATE server_proxies SET applied_version = ?3, "
			"proxy_version = ?4, last_contact = ?5, "
			"cert_expiry = coalesce(?6, cert_expiry) "
			"WHERE namespace = ?1 AND workload = ?2",
    [SS_TOKEN_ADD] = "INSERT INTO server_tokens (id, secret_sha256, "
		     "namespace, workload, service_account, expires_at, "
		     "created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [SS_TOKEN_GET] = "SELECT secret_sha256, namespace, workload, "
		     "service_account, expires_at FROM server_tokens "
		     "WHERE id = ?1",
    [SS_TOKEN_PRUNE] = "DELETE FROM server_tokens WHERE expires_at < "
		       "CAST(strftime('%s', 'now') AS INTEGER) - 86400",
    [SS_CERT_ADD] = "INSERT OR REPLACE INTO server_certificates "
		    "(fingerprint, spiffe_id, namespace, workload, not_after) "
		    "VALUES (?1, ?2, ?3, ?4, ?5)",
    [SS_KUBE_FIND] = "SELECT id FROM services WHERE namespace = ?1 "
		     "AND name = ?2 AND source = 'kubernetes'",
    [SS_KUBE_DEL_WORKLOADS] = "DELETE FROM workloads WHERE service_id = ?1",
    [SS_KUBE_DEL_HOSTS] = "DELETE FROM service_hosts WHERE service_id = ?1",
    [SS_KUBE_DEL_ADDRESSES] = "DELETE FROM service_addresses "
			      "WHERE service_id = ?1",
    [SS_KUBE_DEL_PORTS] = "DELETE FROM service_ports WHERE service_id = ?1",
    [SS_KUBE_DEL_SERVICE] = "DELETE FROM services WHERE id = ?1",
    [SS_KUBE_INS_SERVICE] = "INSERT INTO services (id, namespace, name, "
			    "resolution, location, selector, source) "
			    "VALUES (?1, ?2, ?3, 'STATIC', 'MESH_INTERNAL', "
			    "NULL, 'kubernetes')",
    [SS_KUBE_INS_HOST] = "INSERT OR IGNORE INTO service_hosts (service_id, "
			 "host) VALUES (?1, ?2)",
    [SS_KUBE_INS_ADDRESS] = "INSERT OR IGNORE INTO service_addresses "
			    "(service_id, address) VALUES (?1, ?2)",
    [SS_KUBE_INS_PORT] = "INSERT OR IGNORE INTO service_ports (service_id, "
			 "number, name, protocol, target_port) "
			 "VALUES (?1, ?2, ?3, ?4, ?5)",
    [SS_KUBE_INS_WORKLOAD] = "INSERT INTO workloads (namespace, name, source, "
			     "service_id, address, labels, ports, "
			     "service_account, locality, healthy) VALUES "
			     "(?1, ?2, 'kubernetes', ?3, ?4, ?5, ?6, ?7, ?8, "
			     "?9)",
    [SS_KUBE_LIST] = "SELECT namespace, substr(name, 12) FROM services "
		     "WHERE source = 'kubernetes' ORDER BY namespace, name",
    [SS_KUBE_SIDECAR] = "SELECT service_account, labels FROM workloads "
			"WHERE source = 'registered' AND namespace = ?1 "
			"AND address = ?2 ORDER BY name LIMIT 1",
};

struct server_db {
	struct store_db *store;
	sqlite3 *db;
	sqlite3_stmt *st[SS_COUNT];
	struct replica_capture *capture;
	char *history;
	size_t keep;
};

static int
server_db_fail(struct server_db *s, char **cause)
{
	xasprintf(cause, "policy DB: %s", sqlite3_errmsg(s->db));
	return -1;
}

static sqlite3_stmt *
server_db_stmt(struct server_db *s, enum server_db_stmt which, char **cause)
{
	if (s->st[which] == NULL &&
	    sqlite3_prepare_v2(s->db, server_db_sql[which], -1, &s->st[which],
		NULL) != SQLITE_OK) {
		server_db_fail(s, cause);
		return NULL;
	}
	return s->st[which];
}

/* Steps a statement that returns no row, and resets it. */
static int
server_db_run(struct server_db *s, sqlite3_stmt *st, char **cause)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return server_db_fail(s, cause);
	return 0;
}

static void
server_db_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static char *
server_db_col(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return xstrdup(v != NULL ? (const char *)v : "");
}

struct server_db *
server_db_open(const char *path, size_t history, char **cause)
{
	struct server_db *s;
	sqlite3_stmt *st;

	s = xcalloc(1, sizeof(*s));
	s->keep = history;
	if ((s->store = store_db_open(path, 1, cause)) == NULL) {
		free(s);
		return NULL;
	}
	s->db = store_db_handle(s->store);
	if ((st = server_db_stmt(s, SS_HISTORY_INIT, cause)) == NULL ||
	    server_db_run(s, st, cause) == -1 ||
	    (st = server_db_stmt(s, SS_HISTORY, cause)) == NULL)
		goto fail;
	if (sqlite3_step(st) != SQLITE_ROW) {
		server_db_fail(s, cause);
		goto fail;
	}
	s->history = server_db_col(st, 0);
	sqlite3_reset(st);
	return s;
fail:
	server_db_close(s);
	return NULL;
}

void
server_db_close(struct server_db *s)
{
	size_t i;

	if (s == NULL)
		return;
	replica_capture_free(s->capture);
	for (i = 0; i < SS_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	store_db_close(s->store);
	free(s->history);
	free(s);
}

struct store_db *
server_db_store(struct server_db *s)
{
	return s->store;
}

const char *
server_db_history(const struct server_db *s)
{
	return s->history;
}

int
server_db_version(struct server_db *s, int64_t *version, char **cause)
{
	return store_db_version(s->store, version, cause);
}

int
server_db_begin(struct server_db *s, char **cause)
{
	if (store_db_begin(s->store, cause) == -1)
		return -1;
	if ((s->capture = replica_capture_start(s->db, cause)) == NULL) {
		store_db_rollback(s->store);
		return -1;
	}
	return 0;
}

void
server_db_rollback(struct server_db *s)
{
	replica_capture_free(s->capture);
	s->capture = NULL;
	store_db_rollback(s->store);
}

int
server_db_commit(struct server_db *s, int64_t *version, char **cause)
{
	sqlite3_stmt *st;
	void *blob = NULL;
	size_t len = 0;

	*version = 0;
	if (replica_capture_changeset(s->capture, &blob, &len, cause) == -1)
		goto fail;
	replica_capture_free(s->capture);
	s->capture = NULL;
	if (len > 0) {
		if (store_db_version(s->store, version, cause) == -1 ||
		    (st = server_db_stmt(s, SS_CS_INSERT, cause)) == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, *version);
		sqlite3_bind_blob64(st, 2, blob, len, SQLITE_STATIC);
		if (server_db_run(s, st, cause) == -1 ||
		    (st = server_db_stmt(s, SS_CS_PRUNE, cause)) == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, *version - (int64_t)s->keep);
		if (server_db_run(s, st, cause) == -1)
			goto fail;
	}
	free(blob);
	if (store_db_commit(s->store, cause) == -1) {
		server_db_rollback(s);
		*version = 0;
		return -1;
	}
	return 0;
fail:
	free(blob);
	*version = 0;
	server_db_rollback(s);
	return -1;
}

int
server_db_changesets(struct server_db *s, int64_t since, size_t max,
    struct server_changeset **v, size_t *n, int64_t *oldest, char **cause)
{
	sqlite3_stmt *st;
	const void *p;
	int rc, len;

	*v = NULL;
	*n = 0;
	if ((st = server_db_stmt(s, SS_CS_OLDEST, cause)) == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return server_db_fail(s, cause);
	}
	*oldest = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if ((st = server_db_stmt(s, SS_CS_SINCE, cause)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		(*v)[*n].version = sqlite3_column_int64(st, 0);
		p = sqlite3_column_blob(st, 1);
		len = sqlite3_column_bytes(st, 1);
		(*v)[*n].len = (size_t)len;
		(*v)[*n].data = xmalloc(len > 0 ? (size_t)len : 1);
		if (len > 0)
			memcpy((*v)[*n].data, p, (size_t)len);
		(*n)++;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		server_changesets_free(*v, *n);
		*v = NULL;
		*n = 0;
		return server_db_fail(s, cause);
	}
	return 0;
}

void
server_changesets_free(struct server_changeset *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].data);
	free(v);
}

int
server_db_snapshot(struct server_db *s, void **blob, size_t *len,
    int64_t *version, char **cause)
{
	return replica_snapshot(s->db, blob, len, version, cause);
}

int
server_db_register(struct server_db *s, const struct server_workload *w,
    int64_t now, char **cause)
{
	sqlite3_stmt *st;
	int64_t version;

	if ((st = server_db_stmt(s, SS_REGISTER, cause)) == NULL)
		return -1;
	server_db_text(st, 1, w->namespace);
	server_db_text(st, 2, w->name);
	server_db_text(st, 3, w->address);
	server_db_text(st, 4, w->labels);
	server_db_text(st, 5, w->ports);
	server_db_text(st, 6, w->service_account);
	server_db_text(st, 7, w->locality);
	if (server_db_run(s, st, cause) == -1)
		return -1;
	if (sqlite3_changes(s->db) > 0 &&
	    store_db_bump(s->store, &version, cause) == -1)
		return -1;
	if ((st = server_db_stmt(s, SS_PROXY_UPSERT, cause)) == NULL)
		return -1;
	server_db_text(st, 1, w->namespace);
	server_db_text(st, 2, w->name);
	server_db_text(st, 3, w->service_account);
	server_db_text(st, 4, w->address);
	sqlite3_bind_int64(st, 5, now);
	return server_db_run(s, st, cause);
}

int
server_db_deregister(
    struct server_db *s, const char *ns, const char *name, char **cause)
{
	sqlite3_stmt *st;
	int64_t version;
	int removed;

	if ((st = server_db_stmt(s, SS_DEREGISTER, cause)) == NULL)
		return -1;
	server_db_text(st, 1, ns);
	server_db_text(st, 2, name);
	if (server_db_run(s, st, cause) == -1)
		return -1;
	removed = sqlite3_changes(s->db) > 0;
	if (removed && store_db_bump(s->store, &version, cause) == -1)
		return -1;
	if ((st = server_db_stmt(s, SS_PROXY_DELETE, cause)) == NULL)
		return -1;
	server_db_text(st, 1, ns);
	server_db_text(st, 2, name);
	if (server_db_run(s, st, cause) == -1)
		return -1;
	return removed || sqlite3_changes(s->db) > 0;
}

int
server_db_set_healthy(struct server_db *s, const char *ns, const char *name,
    int healthy, char **cause)
{
	sqlite3_stmt *st;
	int64_t version;

	if ((st = server_db_stmt(s, SS_HEALTHY, cause)) == NULL)
		return -1;
	server_db_text(st, 1, ns);
	server_db_text(st, 2, name);
	sqlite3_bind_int(st, 3, healthy != 0);
	if (server_db_run(s, st, cause) == -1)
		return -1;
	if (sqlite3_changes(s->db) > 0 &&
	    store_db_bump(s->store, &version, cause) == -1)
		return -1;
	return 0;
}

int
server_db_proxies(
    struct server_db *s, struct server_proxy_row **v, size_t *n, char **cause)
{
	struct server_proxy_row *r;
	sqlite3_stmt *st;
	int rc;

	*v = NULL;
	*n = 0;
	if ((st = server_db_stmt(s, SS_PROXIES, cause)) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		r = &(*v)[(*n)++];
		r->namespace = server_db_col(st, 0);
		r->workload = server_db_col(st, 1);
		r->service_account = server_db_col(st, 2);
		r->address = server_db_col(st, 3);
		r->applied_version = sqlite3_column_int64(st, 4);
		r->proxy_version = sqlite3_column_int64(st, 5);
		r->last_contact = sqlite3_column_int64(st, 6);
		r->cert_expiry = sqlite3_column_int64(st, 7);
		r->healthy = sqlite3_column_int(st, 8);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		server_proxy_rows_free(*v, *n);
		*v = NULL;
		*n = 0;
		return server_db_fail(s, cause);
	}
	return 0;
}

void
server_proxy_rows_free(struct server_proxy_row *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].namespace);
		free(v[i].workload);
		free(v[i].service_account);
		free(v[i].address);
	}
	free(v);
}

int
server_db_proxies_update(struct server_db *s, const struct server_proxy_row *v,
    size_t n, char **cause)
{
	sqlite3_stmt *st;
	size_t i;

	if (n == 0)
		return 0;
	if (store_db_begin(s->store, cause) == -1)
		return -1;
	if ((st = server_db_stmt(s, SS_PROXY_UPDATE, cause)) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		server_db_text(st, 1, v[i].namespace);
		server_db_text(st, 2, v[i].workload);
		sqlite3_bind_int64(st, 3, v[i].applied_version);
		sqlite3_bind_int64(st, 4, v[i].proxy_version);
		sqlite3_bind_int64(st, 5, v[i].last_contact);
		if (v[i].cert_expiry > 0)
			sqlite3_bind_int64(st, 6, v[i].cert_expiry);
		if (server_db_run(s, st, cause) == -1)
			goto fail;
	}
	if (store_db_commit(s->store, cause) == -1)
		goto fail;
	return 0;
fail:
	store_db_rollback(s->store);
	return -1;
}

int
server_db_token_add(struct server_db *s, const struct server_token *t,
    const char *created_by, char **cause)
{
	sqlite3_stmt *st;

	if ((st = server_db_stmt(s, SS_TOKEN_PRUNE, cause)) == NULL ||
	    server_db_run(s, st, cause) == -1 ||
	    (st = server_db_stmt(s, SS_TOKEN_ADD, cause)) == NULL)
		return -1;
	server_db_text(st, 1, t->id);
	server_db_text(st, 2, t->secret_sha256);
	server_db_text(st, 3, t->namespace);
	server_db_text(st, 4, t->workload);
	server_db_text(st, 5, t->service_account);
	sqlite3_bind_int64(st, 6, t->expires_at);
	server_db_text(st, 7, created_by);
	return server_db_run(s, st, cause);
}

int
server_db_token_get(
    struct server_db *s, const char *id, struct server_token *t, char **cause)
{
	sqlite3_stmt *st;
	int rc;

	memset(t, 0, sizeof(*t));
	if ((st = server_db_stmt(s, SS_TOKEN_GET, cause)) == NULL)
		return -1;
	server_db_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		t->id = xstrdup(id);
		t->secret_sha256 = server_db_col(st, 0);
		t->namespace = server_db_col(st, 1);
		t->workload = server_db_col(st, 2);
		t->service_account = server_db_col(st, 3);
		t->expires_at = sqlite3_column_int64(st, 4);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return server_db_fail(s, cause);
}

void
server_token_clear(struct server_token *t)
{
	free(t->id);
	free(t->secret_sha256);
	free(t->namespace);
	free(t->workload);
	free(t->service_account);
	memset(t, 0, sizeof(*t));
}

int
server_db_cert_add(struct server_db *s, const char *fingerprint,
    const char *spiffe_id, const char *ns, const char *workload,
    int64_t not_after, char **cause)
{
	sqlite3_stmt *st;

	if ((st = server_db_stmt(s, SS_CERT_ADD, cause)) == NULL)
		return -1;
	server_db_text(st, 1, fingerprint);
	server_db_text(st, 2, spiffe_id);
	server_db_text(st, 3, ns);
	server_db_text(st, 4, workload);
	sqlite3_bind_int64(st, 5, not_after);
	return server_db_run(s, st, cause);
}

/* The id of a Service's row, 0 when it has none, -1 on error. */
static int64_t
server_db_kube_find(
    struct server_db *s, const char *ns, const char *name, char **cause)
{
	sqlite3_stmt *st;
	char *row;
	int64_t id = 0;
	int rc;

	if ((st = server_db_stmt(s, SS_KUBE_FIND, cause)) == NULL)
		return -1;
	xasprintf(&row, KUBE_SERVICE_PREFIX "%s", name);
	server_db_text(st, 1, ns);
	server_db_text(st, 2, row);
	free(row);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return server_db_fail(s, cause);
	return id;
}

/* Deletes a service row and everything of it (foreign keys or not). */
static int
server_db_kube_remove(struct server_db *s, int64_t id, char **cause)
{
	static const enum server_db_stmt which[] = {SS_KUBE_DEL_WORKLOADS,
	    SS_KUBE_DEL_HOSTS, SS_KUBE_DEL_ADDRESSES, SS_KUBE_DEL_PORTS,
	    SS_KUBE_DEL_SERVICE};
	sqlite3_stmt *st;
	size_t i;

	for (i = 0; i < sizeof(which) / sizeof(which[0]); i++) {
		if ((st = server_db_stmt(s, which[i], cause)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, id);
		if (server_db_run(s, st, cause) == -1)
			return -1;
	}
	return 0;
}

int
server_db_kube_put(
    struct server_db *s, const struct kube_service *ks, char **cause)
{
	sqlite3_stmt *st;
	int64_t id, version;
	char *row;
	size_t i;

	if ((id = server_db_kube_find(s, ks->namespace, ks->name, cause)) == -1)
		return -1;
	if (id != 0 && server_db_kube_remove(s, id, cause) == -1)
		return -1;
	if ((st = server_db_stmt(s, SS_KUBE_INS_SERVICE, cause)) == NULL)
		return -1;
	/* The same id again, so that the proxies' rows keep theirs. */
	if (id != 0)
		sqlite3_bind_int64(st, 1, id);
	xasprintf(&row, KUBE_SERVICE_PREFIX "%s", ks->name);
	server_db_text(st, 2, ks->namespace);
	server_db_text(st, 3, row);
	free(row);
	if (server_db_run(s, st, cause) == -1)
		return -1;
	id = sqlite3_last_insert_rowid(s->db);
	if ((st = server_db_stmt(s, SS_KUBE_INS_HOST, cause)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	server_db_text(st, 2, ks->host);
	if (server_db_run(s, st, cause) == -1)
		return -1;
	for (i = 0; i < ks->naddresses; i++) {
		if ((st = server_db_stmt(s, SS_KUBE_INS_ADDRESS, cause)) ==
		    NULL)
			return -1;
		sqlite3_bind_int64(st, 1, id);
		server_db_text(st, 2, ks->addresses[i]);
		if (server_db_run(s, st, cause) == -1)
			return -1;
	}
	for (i = 0; i < ks->nports; i++) {
		if ((st = server_db_stmt(s, SS_KUBE_INS_PORT, cause)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, ks->ports[i].number);
		server_db_text(st, 3, ks->ports[i].name);
		server_db_text(st, 4, ks->ports[i].protocol);
		if (ks->ports[i].target_port > 0)
			sqlite3_bind_int(st, 5, ks->ports[i].target_port);
		if (server_db_run(s, st, cause) == -1)
			return -1;
	}
	for (i = 0; i < ks->nendpoints; i++) {
		const struct kube_endpoint *e = &ks->endpoints[i];

		if ((st = server_db_stmt(s, SS_KUBE_INS_WORKLOAD, cause)) ==
		    NULL)
			return -1;
		server_db_text(st, 1, ks->namespace);
		server_db_text(st, 2, e->name);
		sqlite3_bind_int64(st, 3, id);
		server_db_text(st, 4, e->address);
		server_db_text(st, 5, e->labels);
		server_db_text(st, 6, e->ports);
		server_db_text(st, 7, e->service_account);
		server_db_text(st, 8, e->locality);
		sqlite3_bind_int(st, 9, e->ready);
		if (server_db_run(s, st, cause) == -1)
			return -1;
	}
	return store_db_bump(s->store, &version, cause);
}

int
server_db_kube_delete(
    struct server_db *s, const char *ns, const char *name, char **cause)
{
	int64_t id, version;

	if ((id = server_db_kube_find(s, ns, name, cause)) <= 0)
		return (int)id;
	if (server_db_kube_remove(s, id, cause) == -1 ||
	    store_db_bump(s->store, &version, cause) == -1)
		return -1;
	return 1;
}

int
server_db_kube_list(struct server_db *s, char ***names, size_t *n, char **cause)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	*names = NULL;
	*n = 0;
	if ((st = server_db_stmt(s, SS_KUBE_LIST, cause)) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n + 2 > cap) {
			cap = cap == 0 ? 16 : cap * 2;
			*names = xreallocarray(*names, cap, sizeof(char *));
		}
		(*names)[(*n)++] = server_db_col(st, 0);
		(*names)[(*n)++] = server_db_col(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		while (*n > 0)
			free((*names)[--*n]);
		free(*names);
		*names = NULL;
		return server_db_fail(s, cause);
	}
	*n /= 2;
	return 0;
}

int
server_db_kube_sidecar(struct server_db *s, const char *ns, const char *address,
    char *sa, size_t salen, char **labels)
{
	sqlite3_stmt *st;
	char *cause = NULL;
	int rc, found = 0;

	if ((st = server_db_stmt(s, SS_KUBE_SIDECAR, &cause)) == NULL) {
		free(cause);
		return -1;
	}
	server_db_text(st, 1, ns);
	server_db_text(st, 2, address);
	*labels = NULL;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(sa, salen, "%s", sqlite3_column_text(st, 0));
		*labels = server_db_col(st, 1);
		found = 1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	return found;
}
