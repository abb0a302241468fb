#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "config_authorizationpolicy.h"
#include "config_destinationrule.h"
#include "config_peerauthentication.h"
#include "config_ratelimit.h"
#include "config_requestauthentication.h"
#include "config_serviceentry.h"
#include "config_virtualservice.h"
#include "config_workloadentry.h"
#include "store_db.h"
#include "schema_db.h"
#include "xmalloc.h"

/* Long enough for another writer (weft-sync, a second weftctl). */
#define STORE_DB_BUSY_MS 5000

enum store_db_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_VERSION,
	ST_BUMP,
	ST_LIST,
	ST_GET,
	ST_PUT,
	ST_DEL,
	ST_DEL_SERVICE,
	ST_DEL_WORKLOAD,
	ST_DEL_VS,
	ST_DEL_DR,
	ST_DEL_PA,
	ST_DEL_RA,
	ST_DEL_AP,
	ST_DEL_RL,
	ST_INS_SERVICE,
	ST_INS_HOST,
	ST_INS_ADDRESS,
	ST_INS_PORT,
	ST_INS_WORKLOAD,
	ST_INS_VS,
	ST_INS_ROUTE,
	ST_INS_DEST,
	ST_INS_DR,
	ST_INS_SUBSET,
	ST_INS_PA,
	ST_INS_RA,
	ST_INS_AP,
	ST_INS_RL,
	ST_COUNT,
};

static const char *const store_db_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_VERSION] = "SELECT version FROM config_version WHERE id = 1",
    [ST_BUMP] = "UPDATE config_version SET version = version + 1, "
		"updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
		"WHERE id = 1 RETURNING version",
    [ST_LIST] = "SELECT kind, namespace, name, api_version, spec, "
		"applied_by, applied_at, version, annotations FROM resources "
		"WHERE (?1 IS NULL OR namespace = ?1) "
		"AND (?2 IS NULL OR name = ?2) ORDER BY namespace, name",
    [ST_GET] = "SELECT api_version, spec, annotations FROM resources "
	       "WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
    [ST_PUT] = "INSERT INTO resources (kind, namespace, name, api_version, "
	       "spec, applied_by, version, annotations) "
	       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
	       "ON CONFLICT (kind, namespace, name) DO UPDATE SET "
	       "api_version = excluded.api_version, spec = excluded.spec, "
	       "annotations = excluded.annotations, "
	       "applied_by = excluded.applied_by, "
	       "applied_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), "
	       "version = excluded.version",
    [ST_DEL] = "DELETE FROM resources "
	       "WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
    [ST_DEL_SERVICE] = "DELETE FROM services WHERE namespace = ?1 AND "
		       "name = ?2",
    [ST_DEL_WORKLOAD] = "DELETE FROM workloads WHERE source = "
			"'WorkloadEntry' AND namespace = ?1 AND name = ?2",
    [ST_DEL_VS] = "DELETE FROM virtual_services WHERE namespace = ?1 AND "
		  "name = ?2",
    [ST_DEL_DR] = "DELETE FROM destination_rules WHERE namespace = ?1 AND "
		  "name = ?2",
    [ST_DEL_PA] = "DELETE FROM peer_authentications WHERE namespace = ?1 "
		  "AND name = ?2",
    [ST_DEL_RA] = "DELETE FROM request_authentications WHERE namespace = "
		  "?1 AND name = ?2",
    [ST_DEL_AP] = "DELETE FROM authorization_policies WHERE namespace = ?1 "
		  "AND name = ?2",
    [ST_DEL_RL] = "DELETE FROM rate_limits WHERE namespace = ?1 AND "
		  "name = ?2",
    [ST_INS_SERVICE] = "INSERT INTO services (namespace, name, resolution, "
		       "location, selector) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_INS_HOST] = "INSERT INTO service_hosts (service_id, host) "
		    "VALUES (?1, ?2)",
    [ST_INS_ADDRESS] = "INSERT INTO service_addresses (service_id, "
		       "address) VALUES (?1, ?2)",
    [ST_INS_PORT] = "INSERT INTO service_ports (service_id, number, name, "
		    "protocol, target_port) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_INS_WORKLOAD] = "INSERT INTO workloads (namespace, name, source, "
			"service_id, address, labels, ports, service_account, "
			"locality, weight) "
			"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_INS_VS] = "INSERT INTO virtual_services (namespace, name, hosts, "
		  "gateways) VALUES (?1, ?2, ?3, ?4)",
    [ST_INS_ROUTE] = "INSERT INTO routes (vs_id, position, name, match, "
		     "timeout_ms, retries, fault, mirror, rewrite, headers) "
		     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_INS_DEST] = "INSERT INTO route_destinations (route_id, position, "
		    "host, subset, port, weight, headers) "
		    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_INS_DR] = "INSERT INTO destination_rules (namespace, name, host, "
		  "traffic_policy) VALUES (?1, ?2, ?3, ?4)",
    [ST_INS_SUBSET] = "INSERT INTO subsets (dr_id, name, labels, "
		      "traffic_policy) VALUES (?1, ?2, ?3, ?4)",
    [ST_INS_PA] = "INSERT INTO peer_authentications (namespace, name, "
		  "selector, mode, port_modes) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_INS_RA] = "INSERT INTO request_authentications (namespace, name, "
		  "selector, jwt_rules) VALUES (?1, ?2, ?3, ?4)",
    [ST_INS_AP] = "INSERT INTO authorization_policies (namespace, name, "
		  "selector, action, rules, dry_run) "
		  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_INS_RL] = "INSERT INTO rate_limits (namespace, name, selector, "
		  "limits) VALUES (?1, ?2, ?3, ?4)",
};

struct store_db {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *st[ST_COUNT];
	int64_t bumped; /* the version this transaction bumped to, or 0 */
};

static int
store_db_fail(struct store_db *d, char **cause)
{
	xasprintf(cause, "%s: %s", d->path, sqlite3_errmsg(d->db));
	return -1;
}

/* The statement, prepared once, reset and with its bindings cleared. */
static sqlite3_stmt *
store_db_stmt(struct store_db *d, enum store_db_stmt which, char **cause)
{
	if (d->st[which] == NULL &&
	    sqlite3_prepare_v2(d->db, store_db_sql[which], -1, &d->st[which],
		NULL) != SQLITE_OK) {
		store_db_fail(d, cause);
		return NULL;
	}
	sqlite3_reset(d->st[which]);
	sqlite3_clear_bindings(d->st[which]);
	return d->st[which];
}

/* Steps a statement that returns no row, then resets it. */
static int
store_db_done(struct store_db *d, sqlite3_stmt *st, char **cause)
{
	int rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		store_db_fail(d, cause);
		sqlite3_reset(st);
		return -1;
	}
	if (sqlite3_reset(st) != SQLITE_OK)
		return store_db_fail(d, cause);
	return 0;
}

static int
store_db_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* Binds v as JSON text, NULL as SQL NULL. */
static int
store_db_json(sqlite3_stmt *st, int i, const json_t *v)
{
	char *s;

	if (v == NULL)
		return sqlite3_bind_null(st, i);
	if ((s = config_spec_dump(v)) == NULL)
		return SQLITE_NOMEM;
	return sqlite3_bind_text(st, i, s, -1, free);
}

static int
store_db_int(sqlite3_stmt *st, int i, int64_t v, int null_if_zero)
{
	if (null_if_zero && v == 0)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_int64(st, i, v);
}

/* Runs SQL of no result (pragmas). */
static int
store_db_exec(struct store_db *d, const char *sql, char **cause)
{
	char *err = NULL;

	if (sqlite3_exec(d->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", d->path,
		    err != NULL ? err : sqlite3_errmsg(d->db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

/* Creates an empty DB file readable by the proxies, whatever the umask. */
static int
store_db_create(const char *path, char **cause)
{
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd == -1) {
		if (errno == EEXIST)
			return 0;
		xasprintf(cause, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0644) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Prefixes *cause with the DB's path; returns -1. */
static int
store_db_prefix(struct store_db *d, char **cause)
{
	char *c = *cause;

	xasprintf(cause, "%s: %s", d->path, c);
	free(c);
	return -1;
}

static int
store_db_connect(struct store_db *d, int write, char **cause)
{
	int flags = write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
	int v, persist;

	if (sqlite3_open_v2(d->path, &d->db, flags, NULL) != SQLITE_OK)
		return store_db_fail(d, cause);
	sqlite3_extended_result_codes(d->db, 1);
	sqlite3_busy_timeout(d->db, STORE_DB_BUSY_MS);
	if (store_db_exec(d, "PRAGMA foreign_keys = ON", cause) == -1)
		return -1;
	if (!write) {
		if (schema_version(d->db, &v, cause) == -1)
			return store_db_prefix(d, cause);
		return v == SCHEMA_VERSION ? 0 : 1;
	}
	if (store_db_exec(d, "PRAGMA journal_mode = WAL", cause) == -1)
		return -1;
	/*
	 * Keep the -wal and -shm files after the last close: a reader that
	 * may not write in the DB's directory (weft-proxy as its own uid,
	 * an auditor's sqlite3 -readonly) can open a WAL DB only when they
	 * exist.
	 */
	persist = 1;
	sqlite3_file_control(d->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
	if (schema_migrate(d->db, cause) == -1)
		return store_db_prefix(d, cause);
	return 0;
}

struct store_db *
store_db_open(const char *path, int write, char **cause)
{
	struct store_db *d;
	struct stat sb;
	int rc;

	if (stat(path, &sb) == -1) {
		if (errno != ENOENT) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			return NULL;
		}
		if (store_db_create(path, cause) == -1)
			return NULL;
		write = 1;
	} else if (!S_ISREG(sb.st_mode)) {
		xasprintf(cause, "%s: not a regular file", path);
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->path = xstrdup(path);
	rc = store_db_connect(d, write, cause);
	if (rc == 1) {
		/* Read-only, but the schema needs creating or moving on. */
		sqlite3_close(d->db);
		d->db = NULL;
		rc = store_db_connect(d, 1, cause);
	}
	if (rc == -1) {
		store_db_close(d);
		return NULL;
	}
	return d;
}

void
store_db_close(struct store_db *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(d->st[i]);
	sqlite3_close(d->db);
	free(d->path);
	free(d);
}

struct sqlite3 *
store_db_handle(struct store_db *d)
{
	return d->db;
}

int
store_db_begin(struct store_db *d, char **cause)
{
	sqlite3_stmt *st;

	if ((st = store_db_stmt(d, ST_BEGIN, cause)) == NULL)
		return -1;
	d->bumped = 0;
	return store_db_done(d, st, cause);
}

int
store_db_commit(struct store_db *d, char **cause)
{
	sqlite3_stmt *st;

	if ((st = store_db_stmt(d, ST_COMMIT, cause)) == NULL)
		return -1;
	return store_db_done(d, st, cause);
}

void
store_db_rollback(struct store_db *d)
{
	if (sqlite3_get_autocommit(d->db))
		return;
	sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
}

int
store_db_version(struct store_db *d, int64_t *version, char **cause)
{
	sqlite3_stmt *st;

	if ((st = store_db_stmt(d, ST_VERSION, cause)) == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		store_db_fail(d, cause);
		sqlite3_reset(st);
		return -1;
	}
	*version = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

int
store_db_bump(struct store_db *d, int64_t *version, char **cause)
{
	sqlite3_stmt *st;

	if (d->bumped != 0) {
		*version = d->bumped;
		return 0;
	}
	if ((st = store_db_stmt(d, ST_BUMP, cause)) == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		store_db_fail(d, cause);
		sqlite3_reset(st);
		return -1;
	}
	d->bumped = sqlite3_column_int64(st, 0);
	if (store_db_done(d, st, cause) == -1)
		return -1;
	*version = d->bumped;
	return 0;
}

static char *
store_db_column(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return xstrdup(s != NULL ? (const char *)s : "");
}

int
store_db_list(struct store_db *d, unsigned int mask, const char *ns,
    const char *name, struct store_db_rows *out, char **cause)
{
	struct store_db_row *row, *v, tmp;
	enum config_kind kind;
	sqlite3_stmt *st;
	json_error_t jerr;
	size_t i, j, first = out->n;
	int rc;

	if ((st = store_db_stmt(d, ST_LIST, cause)) == NULL)
		return -1;
	if (store_db_text(st, 1, ns) != SQLITE_OK ||
	    store_db_text(st, 2, name) != SQLITE_OK)
		return store_db_fail(d, cause);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (config_kind_lookup((const char *)sqlite3_column_text(st, 0),
			&kind) == -1 ||
		    !(mask & STORE_DB_KIND(kind)))
			continue; /* kinds of other modules */
		v = realloc(out->v, (out->n + 1) * sizeof(*out->v));
		if (v == NULL)
			abort();
		out->v = v;
		row = &out->v[out->n];
		memset(row, 0, sizeof(*row));
		row->kind = kind;
		row->namespace = store_db_column(st, 1);
		row->name = store_db_column(st, 2);
		row->api_version = store_db_column(st, 3);
		row->spec_text = store_db_column(st, 4);
		row->applied_by = store_db_column(st, 5);
		row->applied_at = store_db_column(st, 6);
		row->version = sqlite3_column_int64(st, 7);
		out->n++;
		if (sqlite3_column_type(st, 8) != SQLITE_NULL) {
			row->annotations = json_loads(
			    (const char *)sqlite3_column_text(st, 8), 0, &jerr);
			if (row->annotations == NULL) {
				xasprintf(cause,
				    "%s: %s %s/%s: stored annotations: %s",
				    d->path, config_kind_info(kind)->kind,
				    row->namespace, row->name, jerr.text);
				sqlite3_reset(st);
				return -1;
			}
		}
		row->spec = json_loads(row->spec_text, 0, &jerr);
		if (row->spec == NULL) {
			xasprintf(cause, "%s: %s %s/%s: stored spec: %s",
			    d->path, config_kind_info(kind)->kind,
			    row->namespace, row->name, jerr.text);
			sqlite3_reset(st);
			return -1;
		}
	}
	if (rc != SQLITE_DONE) {
		store_db_fail(d, cause);
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	/* Kinds in config order, then namespace and name (from SQL). */
	for (i = first + 1; i < out->n; i++) {
		for (j = i; j > first && out->v[j - 1].kind > out->v[j].kind;
		     j--) {
			tmp = out->v[j];
			out->v[j] = out->v[j - 1];
			out->v[j - 1] = tmp;
		}
	}
	return 0;
}

void
store_db_rows_clear(struct store_db_rows *rows)
{
	struct store_db_row *r;
	size_t i;

	for (i = 0; i < rows->n; i++) {
		r = &rows->v[i];
		free(r->namespace);
		free(r->name);
		free(r->api_version);
		free(r->spec_text);
		json_decref(r->spec);
		json_decref(r->annotations);
		free(r->applied_by);
		free(r->applied_at);
	}
	free(rows->v);
	rows->v = NULL;
	rows->n = 0;
}

int
store_db_get(struct store_db *d, enum config_kind kind, const char *ns,
    const char *name, char **api_version, char **spec, char **annotations,
    char **cause)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_db_stmt(d, ST_GET, cause)) == NULL)
		return -1;
	if (store_db_text(st, 1, config_kind_info(kind)->kind) != SQLITE_OK ||
	    store_db_text(st, 2, ns) != SQLITE_OK ||
	    store_db_text(st, 3, name) != SQLITE_OK)
		return store_db_fail(d, cause);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		store_db_fail(d, cause);
		sqlite3_reset(st);
		return -1;
	}
	*api_version = store_db_column(st, 0);
	*spec = store_db_column(st, 1);
	*annotations = sqlite3_column_type(st, 2) != SQLITE_NULL
	    ? store_db_column(st, 2)
	    : NULL;
	sqlite3_reset(st);
	return 1;
}

/* Deletes the normalized rows of a resource (cascading to its parts). */
static int
store_db_unnormalize(struct store_db *d, enum config_kind kind, const char *ns,
    const char *name, char **cause)
{
	static const enum store_db_stmt which[CONFIG_NKINDS] = {
	    [CONFIG_SERVICE_ENTRY] = ST_DEL_SERVICE,
	    [CONFIG_WORKLOAD_ENTRY] = ST_DEL_WORKLOAD,
	    [CONFIG_DESTINATION_RULE] = ST_DEL_DR,
	    [CONFIG_VIRTUAL_SERVICE] = ST_DEL_VS,
	    [CONFIG_PEER_AUTHENTICATION] = ST_DEL_PA,
	    [CONFIG_REQUEST_AUTHENTICATION] = ST_DEL_RA,
	    [CONFIG_AUTHORIZATION_POLICY] = ST_DEL_AP,
	    [CONFIG_RATE_LIMIT] = ST_DEL_RL,
	};
	sqlite3_stmt *st;

	if ((st = store_db_stmt(d, which[kind], cause)) == NULL)
		return -1;
	if (store_db_text(st, 1, ns) != SQLITE_OK ||
	    store_db_text(st, 2, name) != SQLITE_OK)
		return store_db_fail(d, cause);
	return store_db_done(d, st, cause);
}

static int
store_db_put_workload(struct store_db *d, const char *ns, const char *name,
    const char *source, int64_t service_id, const struct config_workload *w,
    char **cause)
{
	sqlite3_stmt *st;

	if ((st = store_db_stmt(d, ST_INS_WORKLOAD, cause)) == NULL)
		return -1;
	if (store_db_text(st, 1, ns) != SQLITE_OK ||
	    store_db_text(st, 2, name) != SQLITE_OK ||
	    store_db_text(st, 3, source) != SQLITE_OK ||
	    store_db_int(st, 4, service_id, 1) != SQLITE_OK ||
	    store_db_text(st, 5, w->address) != SQLITE_OK ||
	    store_db_json(st, 6, w->labels) != SQLITE_OK ||
	    store_db_json(st, 7, w->ports) != SQLITE_OK ||
	    store_db_text(st, 8, w->service_account) != SQLITE_OK ||
	    store_db_text(st, 9, w->locality) != SQLITE_OK ||
	    store_db_int(st, 10, w->weight, 0) != SQLITE_OK)
		return store_db_fail(d, cause);
	return store_db_done(d, st, cause);
}

/* Inserts one row of (id, text) into a service's hosts or addresses. */
static int
store_db_put_service_item(struct store_db *d, enum store_db_stmt which,
    int64_t id, const char *text, char **cause)
{
	sqlite3_stmt *st;

	if ((st = store_db_stmt(d, which, cause)) == NULL)
		return -1;
	if (store_db_int(st, 1, id, 0) != SQLITE_OK ||
	    store_db_text(st, 2, text) != SQLITE_OK)
		return store_db_fail(d, cause);
	return store_db_done(d, st, cause);
}

static int
store_db_put_se(
    struct store_db *d, const struct config_resource *r, char **cause)
{
	const struct config_se *se = r->u.se;
	sqlite3_stmt *st;
	int64_t id;
	size_t i;
	char *name;
	int rc;

	if ((st = store_db_stmt(d, ST_INS_SERVICE, cause)) == NULL)
		return -1;
	if (store_db_text(st, 1, r->namespace) != SQLITE_OK ||
	    store_db_text(st, 2, r->name) != SQLITE_OK ||
	    store_db_text(st, 3, se->resolution) != SQLITE_OK ||
	    store_db_text(st, 4, se->location) != SQLITE_OK ||
	    store_db_json(st, 5, se->selector) != SQLITE_OK)
		return store_db_fail(d, cause);
	if (store_db_done(d, st, cause) == -1)
		return -1;
	id = sqlite3_last_insert_rowid(d->db);
	for (i = 0; i < json_array_size(se->hosts); i++) {
		if (store_db_put_service_item(d, ST_INS_HOST, id,
			json_string_value(json_array_get(se->hosts, i)),
			cause) == -1)
			return -1;
	}
	for (i = 0; i < json_array_size(se->addresses); i++) {
		if (store_db_put_service_item(d, ST_INS_ADDRESS, id,
			json_string_value(json_array_get(se->addresses, i)),
			cause) == -1)
			return -1;
	}
	for (i = 0; i < se->nports; i++) {
		if ((st = store_db_stmt(d, ST_INS_PORT, cause)) == NULL)
			return -1;
		if (store_db_int(st, 1, id, 0) != SQLITE_OK ||
		    store_db_int(st, 2, se->ports[i].number, 0) != SQLITE_OK ||
		    store_db_text(st, 3, se->ports[i].name) != SQLITE_OK ||
		    store_db_text(st, 4, se->ports[i].protocol) != SQLITE_OK ||
		    store_db_int(st, 5, se->ports[i].target_port, 1) !=
			SQLITE_OK)
			return store_db_fail(d, cause);
		if (store_db_done(d, st, cause) == -1)
			return -1;
	}
	/* Inline endpoints are named after their entry and position. */
	for (i = 0; i < se->nendpoints; i++) {
		xasprintf(&name, "%s/%zu", r->name, i);
		rc = store_db_put_workload(d, r->namespace, name,
		    "ServiceEntry", id, &se->endpoints[i], cause);
		free(name);
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int
store_db_put_vs(
    struct store_db *d, const struct config_resource *r, char **cause)
{
	const struct config_vs *vs = r->u.vs;
	const struct config_vs_route *rt;
	const struct config_vs_dest *ds;
	sqlite3_stmt *st;
	int64_t vs_id, route_id;
	size_t i, j;

	if ((st = store_db_stmt(d, ST_INS_VS, cause)) == NULL)
		return -1;
	if (store_db_text(st, 1, r->namespace) != SQLITE_OK ||
	    store_db_text(st, 2, r->name) != SQLITE_OK ||
	    store_db_json(st, 3, vs->hosts) != SQLITE_OK ||
	    store_db_json(st, 4, vs->gateways) != SQLITE_OK)
		return store_db_fail(d, cause);
	if (store_db_done(d, st, cause) == -1)
		return -1;
	vs_id = sqlite3_last_insert_rowid(d->db);
	for (i = 0; i < vs->nroutes; i++) {
		rt = &vs->routes[i];
		if ((st = store_db_stmt(d, ST_INS_ROUTE, cause)) == NULL)
			return -1;
		if (store_db_int(st, 1, vs_id, 0) != SQLITE_OK ||
		    store_db_int(st, 2, (int64_t)i, 0) != SQLITE_OK ||
		    store_db_text(st, 3, rt->name) != SQLITE_OK ||
		    store_db_json(st, 4, rt->match) != SQLITE_OK ||
		    (rt->timeout_ms >= 0
			    ? store_db_int(st, 5, rt->timeout_ms, 0)
			    : sqlite3_bind_null(st, 5)) != SQLITE_OK ||
		    store_db_json(st, 6, rt->retries) != SQLITE_OK ||
		    store_db_json(st, 7, rt->fault) != SQLITE_OK ||
		    store_db_json(st, 8, rt->mirror) != SQLITE_OK ||
		    store_db_json(st, 9, rt->rewrite) != SQLITE_OK ||
		    store_db_json(st, 10, rt->headers) != SQLITE_OK)
			return store_db_fail(d, cause);
		if (store_db_done(d, st, cause) == -1)
			return -1;
		route_id = sqlite3_last_insert_rowid(d->db);
		for (j = 0; j < rt->ndests; j++) {
			ds = &rt->dests[j];
			if ((st = store_db_stmt(d, ST_INS_DEST, cause)) == NULL)
				return -1;
			if (store_db_int(st, 1, route_id, 0) != SQLITE_OK ||
			    store_db_int(st, 2, (int64_t)j, 0) != SQLITE_OK ||
			    store_db_text(st, 3, ds->host) != SQLITE_OK ||
			    store_db_text(st, 4, ds->subset) != SQLITE_OK ||
			    store_db_int(st, 5, ds->port, 1) != SQLITE_OK ||
			    store_db_int(st, 6, ds->weight, 0) != SQLITE_OK ||
			    store_db_json(st, 7, ds->headers) != SQLITE_OK)
				return store_db_fail(d, cause);
			if (store_db_done(d, st, cause) == -1)
				return -1;
		}
	}
	return 0;
}

static int
store_db_put_dr(
    struct store_db *d, const struct config_resource *r, char **cause)
{
	const struct config_dr *dr = r->u.dr;
	sqlite3_stmt *st;
	int64_t id;
	size_t i;

	if ((st = store_db_stmt(d, ST_INS_DR, cause)) == NULL)
		return -1;
	if (store_db_text(st, 1, r->namespace) != SQLITE_OK ||
	    store_db_text(st, 2, r->name) != SQLITE_OK ||
	    store_db_text(st, 3, dr->host) != SQLITE_OK ||
	    store_db_json(st, 4, dr->traffic_policy) != SQLITE_OK)
		return store_db_fail(d, cause);
	if (store_db_done(d, st, cause) == -1)
		return -1;
	id = sqlite3_last_insert_rowid(d->db);
	for (i = 0; i < dr->nsubsets; i++) {
		if ((st = store_db_stmt(d, ST_INS_SUBSET, cause)) == NULL)
			return -1;
		if (store_db_int(st, 1, id, 0) != SQLITE_OK ||
		    store_db_text(st, 2, dr->subsets[i].name) != SQLITE_OK ||
		    store_db_json(st, 3, dr->subsets[i].labels) != SQLITE_OK ||
		    store_db_json(st, 4, dr->subsets[i].traffic_policy) !=
			SQLITE_OK)
			return store_db_fail(d, cause);
		if (store_db_done(d, st, cause) == -1)
			return -1;
	}
	return 0;
}

/*
 * The row of a kind that is one row per resource: its namespace, name
 * and selector, then the columns the kind binds from 4 on.
 */
static sqlite3_stmt *
store_db_put_row(struct store_db *d, enum store_db_stmt which,
    const struct config_resource *r, const json_t *selector, char **cause)
{
	sqlite3_stmt *st;

	if ((st = store_db_stmt(d, which, cause)) == NULL)
		return NULL;
	if (store_db_text(st, 1, r->namespace) != SQLITE_OK ||
	    store_db_text(st, 2, r->name) != SQLITE_OK ||
	    store_db_json(st, 3, selector) != SQLITE_OK) {
		store_db_fail(d, cause);
		return NULL;
	}
	return st;
}

static int
store_db_put_pa(
    struct store_db *d, const struct config_resource *r, char **cause)
{
	const struct config_pa *pa = r->u.pa;
	sqlite3_stmt *st;

	if ((st = store_db_put_row(d, ST_INS_PA, r, pa->selector, cause)) ==
	    NULL)
		return -1;
	if (store_db_text(st, 4, pa->mode) != SQLITE_OK ||
	    store_db_json(st, 5, pa->port_modes) != SQLITE_OK)
		return store_db_fail(d, cause);
	return store_db_done(d, st, cause);
}

static int
store_db_put_ra(
    struct store_db *d, const struct config_resource *r, char **cause)
{
	const struct config_ra *ra = r->u.ra;
	sqlite3_stmt *st;

	if ((st = store_db_put_row(d, ST_INS_RA, r, ra->selector, cause)) ==
	    NULL)
		return -1;
	if (store_db_json(st, 4, ra->jwt_rules) != SQLITE_OK)
		return store_db_fail(d, cause);
	return store_db_done(d, st, cause);
}

static int
store_db_put_ap(
    struct store_db *d, const struct config_resource *r, char **cause)
{
	const struct config_ap *ap = r->u.ap;
	sqlite3_stmt *st;

	if ((st = store_db_put_row(d, ST_INS_AP, r, ap->selector, cause)) ==
	    NULL)
		return -1;
	if (store_db_text(st, 4, ap->action) != SQLITE_OK ||
	    store_db_json(st, 5, ap->rules) != SQLITE_OK ||
	    store_db_int(st, 6, ap->dry_run != 0, 0) != SQLITE_OK)
		return store_db_fail(d, cause);
	return store_db_done(d, st, cause);
}

static int
store_db_put_rl(
    struct store_db *d, const struct config_resource *r, char **cause)
{
	const struct config_rl *rl = r->u.rl;
	sqlite3_stmt *st;

	if ((st = store_db_put_row(d, ST_INS_RL, r, rl->selector, cause)) ==
	    NULL)
		return -1;
	if (store_db_json(st, 4, rl->limits) != SQLITE_OK)
		return store_db_fail(d, cause);
	return store_db_done(d, st, cause);
}

int
store_db_put(struct store_db *d, const struct config_resource *r,
    const char *applied_by, int64_t version, char **cause)
{
	sqlite3_stmt *st;

	if ((st = store_db_stmt(d, ST_PUT, cause)) == NULL)
		return -1;
	if (store_db_text(st, 1, config_kind_info(r->kind)->kind) !=
		SQLITE_OK ||
	    store_db_text(st, 2, r->namespace) != SQLITE_OK ||
	    store_db_text(st, 3, r->name) != SQLITE_OK ||
	    store_db_text(st, 4, r->api_version) != SQLITE_OK ||
	    store_db_json(st, 5, r->spec) != SQLITE_OK ||
	    store_db_text(st, 6, applied_by) != SQLITE_OK ||
	    store_db_int(st, 7, version, 0) != SQLITE_OK ||
	    store_db_json(st, 8, r->annotations) != SQLITE_OK)
		return store_db_fail(d, cause);
	if (store_db_done(d, st, cause) == -1 ||
	    store_db_unnormalize(d, r->kind, r->namespace, r->name, cause) ==
		-1)
		return -1;
	switch (r->kind) {
	case CONFIG_SERVICE_ENTRY:
		return store_db_put_se(d, r, cause);
	case CONFIG_WORKLOAD_ENTRY:
		return store_db_put_workload(d, r->namespace, r->name,
		    "WorkloadEntry", 0, r->u.we, cause);
	case CONFIG_DESTINATION_RULE:
		return store_db_put_dr(d, r, cause);
	case CONFIG_VIRTUAL_SERVICE:
		return store_db_put_vs(d, r, cause);
	case CONFIG_PEER_AUTHENTICATION:
		return store_db_put_pa(d, r, cause);
	case CONFIG_REQUEST_AUTHENTICATION:
		return store_db_put_ra(d, r, cause);
	case CONFIG_AUTHORIZATION_POLICY:
		return store_db_put_ap(d, r, cause);
	case CONFIG_RATE_LIMIT:
		return store_db_put_rl(d, r, cause);
	}
	return 0;
}

int
store_db_delete(struct store_db *d, enum config_kind kind, const char *ns,
    const char *name, char **cause)
{
	sqlite3_stmt *st;

	if ((st = store_db_stmt(d, ST_DEL, cause)) == NULL)
		return -1;
	if (store_db_text(st, 1, config_kind_info(kind)->kind) != SQLITE_OK ||
	    store_db_text(st, 2, ns) != SQLITE_OK ||
	    store_db_text(st, 3, name) != SQLITE_OK)
		return store_db_fail(d, cause);
	if (store_db_done(d, st, cause) == -1)
		return -1;
	if (sqlite3_changes(d->db) == 0)
		return 0;
	if (store_db_unnormalize(d, kind, ns, name, cause) == -1)
		return -1;
	return 1;
}

int
store_db_workload(struct store_db *d, const char *ns, const char *name,
    char **service_account, char **address, char **labels, char **cause)
{
	static const char sql[] =
	    "SELECT service_account, address, labels FROM workloads "
	    "WHERE namespace = ?1 AND name = ?2 ORDER BY CASE source "
	    "WHEN 'registered' THEN 0 WHEN 'WorkloadEntry' THEN 1 "
	    "ELSE 2 END LIMIT 1";
	sqlite3_stmt *st = NULL;
	int rc;

	*service_account = *address = *labels = NULL;
	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
		store_db_fail(d, cause);
		return -1;
	}
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*service_account = store_db_column(st, 0);
		*address = store_db_column(st, 1);
		*labels = store_db_column(st, 2);
		rc = 1;
	} else if (rc == SQLITE_DONE)
		rc = 0;
	else {
		store_db_fail(d, cause);
		rc = -1;
	}
	sqlite3_finalize(st);
	return rc;
}

struct store_db *
store_db_open_check(const char *path, int *schema, char **cause)
{
	struct store_db *d;
	struct stat sb;

	if (stat(path, &sb) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(sb.st_mode)) {
		xasprintf(cause, "%s: not a regular file", path);
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->path = xstrdup(path);
	if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		store_db_fail(d, cause);
		goto fail;
	}
	sqlite3_extended_result_codes(d->db, 1);
	sqlite3_busy_timeout(d->db, STORE_DB_BUSY_MS);
	if (schema_version(d->db, schema, cause) == -1) {
		store_db_prefix(d, cause);
		goto fail;
	}
	return d;
fail:
	store_db_close(d);
	return NULL;
}

int
store_db_quick_check(struct store_db *d, char **cause)
{
	sqlite3_stmt *st = NULL;
	const char *s;
	int rc;

	if (sqlite3_prepare_v2(d->db, "PRAGMA quick_check(1)", -1, &st, NULL) !=
	    SQLITE_OK)
		return store_db_fail(d, cause);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		store_db_fail(d, cause);
		sqlite3_finalize(st);
		return -1;
	}
	s = (const char *)sqlite3_column_text(st, 0);
	if (s != NULL && strcmp(s, "ok") == 0)
		rc = 1;
	else {
		xasprintf(cause, "%s: %s", d->path, s != NULL ? s : "?");
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Runs sql, appending each row to out as cb makes it. */
static int
store_db_each(struct store_db *d, const char *sql, json_t *out,
    json_t *(*cb)(sqlite3_stmt *), char **cause)
{
	sqlite3_stmt *st = NULL;
	json_t *v;
	int rc;

	if (out == NULL)
		return 0;
	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
		return store_db_fail(d, cause);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((v = cb(st)) != NULL)
			json_array_append_new(out, v);
	}
	if (rc != SQLITE_DONE) {
		store_db_fail(d, cause);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static json_t *
store_db_host_row(sqlite3_stmt *st)
{
	return json_string((const char *)sqlite3_column_text(st, 0));
}

static json_t *
store_db_workload_row(sqlite3_stmt *st)
{
	json_t *labels;

	labels = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
	if (!json_is_object(labels)) {
		json_decref(labels);
		labels = json_object();
	}
	return json_pack("{s:s, s:s, s:o}", "namespace",
	    (const char *)sqlite3_column_text(st, 0), "name",
	    (const char *)sqlite3_column_text(st, 1), "labels", labels);
}

static json_t *
store_db_cert_row(sqlite3_stmt *st)
{
	return json_pack("{s:s, s:I}", "spiffeId",
	    (const char *)sqlite3_column_text(st, 0), "notAfter",
	    (json_int_t)sqlite3_column_int64(st, 1));
}

int
store_db_check_facts(struct store_db *d, json_t *hosts, json_t *workloads,
    json_t *certs, char **cause)
{
	if (store_db_each(d,
		"SELECT DISTINCT lower(h.host) FROM service_hosts h "
		"JOIN services s ON s.id = h.service_id "
		"WHERE s.source <> 'config'",
		hosts, store_db_host_row, cause) == -1 ||
	    store_db_each(d,
		"SELECT namespace, name, labels FROM workloads "
		"WHERE labels IS NOT NULL",
		workloads, store_db_workload_row, cause) == -1 ||
	    store_db_each(d,
		"SELECT spiffe_id, CAST(strftime('%s', not_after) AS INTEGER) "
		"FROM certificates",
		certs, store_db_cert_row, cause) == -1)
		return -1;
	return 0;
}
