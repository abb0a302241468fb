#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "policy_db.h"
#include "schema_db.h"
#include "snapshot_build.h"
#include "xmalloc.h"

/* The statements of a snapshot load, prepared once per connection. */
enum {
	PQ_BEGIN = 0,
	PQ_COMMIT,
	PQ_ROLLBACK,
	PQ_VERSION,
	PQ_SERVICES,
	PQ_HOSTS,
	PQ_ADDRESSES,
	PQ_PORTS,
	PQ_WORKLOADS,
	PQ_VS,
	PQ_ROUTES,
	PQ_DESTS,
	PQ_DRS,
	PQ_SUBSETS,
	PQ_SEC, /* schema version 3: the security policies */
	PQ_N
};

static const char *const policy_db_sql[PQ_N] = {
    [PQ_BEGIN] = "BEGIN",
    [PQ_COMMIT] = "COMMIT",
    [PQ_ROLLBACK] = "ROLLBACK",
    [PQ_VERSION] = "SELECT version FROM config_version WHERE id = 1",
    [PQ_SERVICES] = "SELECT id, namespace, name, resolution, location, "
		    "selector FROM services",
    /* Hosts, addresses and ports in the order they were written. */
    [PQ_HOSTS] = "SELECT service_id, host FROM service_hosts "
		 "ORDER BY service_id, rowid",
    [PQ_ADDRESSES] = "SELECT service_id, address FROM service_addresses "
		     "ORDER BY service_id, rowid",
    [PQ_PORTS] = "SELECT service_id, number, name, protocol, target_port "
		 "FROM service_ports ORDER BY service_id, rowid",
    [PQ_WORKLOADS] = "SELECT id, namespace, name, source, service_id, "
		     "address, labels, ports, service_account, locality, "
		     "weight, healthy FROM workloads",
    [PQ_VS] = "SELECT id, namespace, name, hosts, gateways "
	      "FROM virtual_services",
    [PQ_ROUTES] = "SELECT id, vs_id, position, name, match, timeout_ms, "
		  "retries, fault, mirror, rewrite, headers FROM routes",
    [PQ_DESTS] = "SELECT route_id, position, host, subset, port, weight, "
		 "headers FROM route_destinations",
    [PQ_DRS] = "SELECT id, namespace, name, host, traffic_policy "
	       "FROM destination_rules",
    [PQ_SUBSETS] = "SELECT dr_id, name, labels, traffic_policy FROM subsets",
    [PQ_SEC] = "SELECT 0, namespace, name, selector, mode, port_modes, 0 "
	       "FROM peer_authentications UNION ALL "
	       "SELECT 1, namespace, name, selector, action, rules, dry_run "
	       "FROM authorization_policies UNION ALL "
	       "SELECT 2, namespace, name, selector, jwt_rules, NULL, 0 "
	       "FROM request_authentications UNION ALL "
	       "SELECT 3, namespace, name, selector, limits, NULL, 0 "
	       "FROM rate_limits ORDER BY 1, 2, 3",
};

struct policy_db {
	char *path;
	sqlite3 *db;
	sqlite3_stmt *st_data_version;
	sqlite3_stmt *st_version;
	sqlite3_stmt *st_load[PQ_N];
	int64_t data_version;
	char *ns; /* whose policy: the security part selects by these */
	char *labels;
	dev_t dev;
	ino_t ino;
	int present;
};

struct policy_db *
policy_db_new(const char *path)
{
	struct policy_db *p = xcalloc(1, sizeof(*p));

	p->path = xstrdup(path);
	p->data_version = -1;
	return p;
}

static void
policy_db_finalize(sqlite3_stmt **st)
{
	size_t i;

	for (i = 0; i < PQ_N; i++) {
		sqlite3_finalize(st[i]);
		st[i] = NULL;
	}
}

static void
policy_db_close(struct policy_db *p)
{
	policy_db_finalize(p->st_load);
	sqlite3_finalize(p->st_data_version);
	sqlite3_finalize(p->st_version);
	sqlite3_close(p->db);
	p->st_data_version = p->st_version = NULL;
	p->db = NULL;
	p->data_version = -1;
}

void
policy_db_free(struct policy_db *p)
{
	if (p == NULL)
		return;
	policy_db_close(p);
	free(p->path);
	free(p->ns);
	free(p->labels);
	free(p);
}

static int
policy_db_open(struct policy_db *p, char **cause)
{
	if (sqlite3_open_v2(p->path, &p->db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		xasprintf(cause, "%s: %s", p->path, sqlite3_errmsg(p->db));
		policy_db_close(p);
		return -1;
	}
	sqlite3_busy_timeout(p->db, 200);
	if (sqlite3_prepare_v2(p->db, "PRAGMA data_version", -1,
		&p->st_data_version, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", p->path, sqlite3_errmsg(p->db));
		policy_db_close(p);
		return -1;
	}
	return 0;
}

int
policy_db_changed(struct policy_db *p, char **cause)
{
	struct stat sb;
	int64_t dv;
	int rc;

	if (stat(p->path, &sb) == -1) {
		if (errno != ENOENT) {
			xasprintf(cause, "%s: %s", p->path, strerror(errno));
			return -1;
		}
		if (!p->present)
			return 0;
		/* The DB went away: back to an empty policy. */
		policy_db_close(p);
		p->present = 0;
		return 1;
	}
	if (!p->present || sb.st_dev != p->dev || sb.st_ino != p->ino) {
		/* New or replaced file (an atomic rename by the writer). */
		policy_db_close(p);
		p->present = 1;
		p->dev = sb.st_dev;
		p->ino = sb.st_ino;
		if (policy_db_open(p, cause) == -1)
			return -1;
	}
	if (p->db == NULL && policy_db_open(p, cause) == -1)
		return -1;
	rc = sqlite3_step(p->st_data_version);
	dv =
	    rc == SQLITE_ROW ? sqlite3_column_int64(p->st_data_version, 0) : -1;
	sqlite3_reset(p->st_data_version);
	if (rc != SQLITE_ROW) {
		xasprintf(cause, "%s: %s", p->path, sqlite3_errmsg(p->db));
		policy_db_close(p);
		return -1;
	}
	if (dv == p->data_version)
		return 0;
	p->data_version = dv;
	return 1;
}

int
policy_db_version(struct policy_db *p, int64_t *version, char **cause)
{
	int v, rc;

	*version = 0;
	if (!p->present || p->db == NULL)
		return 0;
	if (schema_version(p->db, &v, cause) == -1) {
		char *c = *cause;

		xasprintf(cause, "%s: %s", p->path, c);
		free(c);
		return -1;
	}
	if (v == 0)
		return 0; /* created but empty: no policy yet */
	if (v > SCHEMA_VERSION) {
		xasprintf(cause,
		    "%s: schema version %d is newer than this "
		    "weft-proxy understands (%d)",
		    p->path, v, SCHEMA_VERSION);
		return -1;
	}
	if (p->st_version == NULL &&
	    sqlite3_prepare_v2(p->db,
		"SELECT version FROM config_version WHERE id = 1", -1,
		&p->st_version, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", p->path, sqlite3_errmsg(p->db));
		return -1;
	}
	rc = sqlite3_step(p->st_version);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int64(p->st_version, 0);
	sqlite3_reset(p->st_version);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		xasprintf(cause, "%s: %s", p->path, sqlite3_errmsg(p->db));
		return -1;
	}
	return 0;
}

/* The text of column i, "" for NULL when nonnull, else NULL for NULL. */
static const char *
policy_db_text(sqlite3_stmt *st, int i, int nonnull)
{
	const char *t = (const char *)sqlite3_column_text(st, i);

	return t != NULL || !nonnull ? t : "";
}

static int64_t
policy_db_int(sqlite3_stmt *st, int i, int64_t null)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return null;
	return sqlite3_column_int64(st, i);
}

/* Hands one row of query q to the builder. */
static void
policy_db_row(int q, sqlite3_stmt *st, struct snapshot_builder *b)
{
	switch (q) {
	case PQ_SERVICES: {
		struct sb_service r = {sqlite3_column_int64(st, 0),
		    policy_db_text(st, 1, 1), policy_db_text(st, 2, 1),
		    policy_db_text(st, 3, 0), policy_db_text(st, 4, 0),
		    policy_db_text(st, 5, 0)};

		snapshot_builder_service(b, &r);
		break;
	}
	case PQ_HOSTS:
	case PQ_ADDRESSES: {
		struct sb_service_name r = {
		    sqlite3_column_int64(st, 0), policy_db_text(st, 1, 1)};

		if (q == PQ_HOSTS)
			snapshot_builder_host(b, &r);
		else
			snapshot_builder_address(b, &r);
		break;
	}
	case PQ_PORTS: {
		struct sb_port r = {sqlite3_column_int64(st, 0),
		    (int)sqlite3_column_int64(st, 1), policy_db_text(st, 2, 1),
		    policy_db_text(st, 3, 1), (int)policy_db_int(st, 4, 0)};

		snapshot_builder_port(b, &r);
		break;
	}
	case PQ_WORKLOADS: {
		struct sb_workload r = {sqlite3_column_int64(st, 0),
		    policy_db_text(st, 1, 1), policy_db_text(st, 2, 1),
		    policy_db_text(st, 3, 1), policy_db_int(st, 4, 0),
		    policy_db_text(st, 5, 1), policy_db_text(st, 6, 1),
		    policy_db_text(st, 7, 1), policy_db_text(st, 8, 1),
		    policy_db_text(st, 9, 1), sqlite3_column_int64(st, 10),
		    sqlite3_column_int64(st, 11) != 0};

		snapshot_builder_workload(b, &r);
		break;
	}
	case PQ_VS: {
		struct sb_vs r = {sqlite3_column_int64(st, 0),
		    policy_db_text(st, 1, 1), policy_db_text(st, 2, 1),
		    policy_db_text(st, 3, 1), policy_db_text(st, 4, 0)};

		snapshot_builder_vs(b, &r);
		break;
	}
	case PQ_ROUTES: {
		struct sb_route r = {sqlite3_column_int64(st, 0),
		    sqlite3_column_int64(st, 1),
		    (int)sqlite3_column_int64(st, 2), policy_db_text(st, 3, 1),
		    policy_db_text(st, 4, 1), policy_db_int(st, 5, -1),
		    policy_db_text(st, 6, 0), policy_db_text(st, 7, 0),
		    policy_db_text(st, 8, 0), policy_db_text(st, 9, 0),
		    policy_db_text(st, 10, 0)};

		snapshot_builder_route(b, &r);
		break;
	}
	case PQ_DESTS: {
		struct sb_dest r = {sqlite3_column_int64(st, 0),
		    (int)sqlite3_column_int64(st, 1), policy_db_text(st, 2, 1),
		    policy_db_text(st, 3, 0), (int)policy_db_int(st, 4, 0),
		    sqlite3_column_int64(st, 5), policy_db_text(st, 6, 0)};

		snapshot_builder_dest(b, &r);
		break;
	}
	case PQ_DRS: {
		struct sb_dr r = {sqlite3_column_int64(st, 0),
		    policy_db_text(st, 1, 1), policy_db_text(st, 2, 1),
		    policy_db_text(st, 3, 1), policy_db_text(st, 4, 1)};

		snapshot_builder_dr(b, &r);
		break;
	}
	case PQ_SUBSETS: {
		struct sb_subset r = {sqlite3_column_int64(st, 0),
		    policy_db_text(st, 1, 1), policy_db_text(st, 2, 1),
		    policy_db_text(st, 3, 1)};

		snapshot_builder_subset(b, &r);
		break;
	}
	case PQ_SEC: {
		struct sb_sec r = {(enum sb_sec_kind)sqlite3_column_int(st, 0),
		    policy_db_text(st, 1, 1), policy_db_text(st, 2, 1),
		    policy_db_text(st, 3, 0), policy_db_text(st, 4, 0),
		    policy_db_text(st, 5, 0), sqlite3_column_int(st, 6)};

		snapshot_builder_sec(b, &r);
		break;
	}
	}
}

/* Runs statement st to its end; rows go to the builder (if any). */
static int
policy_db_run(sqlite3 *db, int q, sqlite3_stmt *st, struct snapshot_builder *b,
    int64_t *version)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (q == PQ_VERSION)
			*version = sqlite3_column_int64(st, 0);
		else if (b != NULL)
			policy_db_row(q, st, b);
	}
	if (sqlite3_reset(st) != SQLITE_OK || rc != SQLITE_DONE)
		return -1;
	return 0;
}

/*
 * Reads every table of db in one read transaction into a snapshot.
 * Statements missing from st are prepared (and kept there).
 */
static struct snapshot *
policy_db_read(sqlite3 *db, sqlite3_stmt **st, const char *name, const char *ns,
    const char *labels, char **cause)
{
	struct snapshot_builder *b = NULL;
	struct snapshot *s;
	int64_t version = 0;
	char *c;
	int q, v, nq;

	for (q = PQ_BEGIN; q <= PQ_ROLLBACK; q++) {
		if (st[q] == NULL &&
		    sqlite3_prepare_v2(
			db, policy_db_sql[q], -1, &st[q], NULL) != SQLITE_OK) {
			xasprintf(cause, "%s: %s", name, sqlite3_errmsg(db));
			return NULL;
		}
	}
	if (policy_db_run(db, PQ_BEGIN, st[PQ_BEGIN], NULL, NULL) == -1) {
		xasprintf(cause, "%s: %s", name, sqlite3_errmsg(db));
		return NULL;
	}
	if (schema_version(db, &v, cause) == -1) {
		c = *cause;
		xasprintf(cause, "%s: %s", name, c);
		free(c);
		goto fail;
	}
	if (v == 0) {
		/* created but empty: no policy yet */
		policy_db_run(db, PQ_COMMIT, st[PQ_COMMIT], NULL, NULL);
		return snapshot_new_empty(0);
	}
	if (v > SCHEMA_VERSION) {
		xasprintf(cause,
		    "%s: schema version %d is newer than this "
		    "weft-proxy understands (%d)",
		    name, v, SCHEMA_VERSION);
		goto fail;
	}
	/* Only now: a DB without the schema has none of these tables. */
	nq = v >= 3 ? PQ_N : PQ_SEC;
	for (q = PQ_VERSION; q < nq; q++) {
		if (st[q] == NULL &&
		    sqlite3_prepare_v2(
			db, policy_db_sql[q], -1, &st[q], NULL) != SQLITE_OK) {
			xasprintf(cause, "%s: %s", name, sqlite3_errmsg(db));
			goto fail;
		}
	}
	if (policy_db_run(db, PQ_VERSION, st[PQ_VERSION], NULL, &version) ==
	    -1) {
		xasprintf(cause, "%s: %s", name, sqlite3_errmsg(db));
		goto fail;
	}
	b = snapshot_builder_new(version);
	snapshot_builder_identity(b, ns, labels);
	for (q = PQ_SERVICES; q < nq; q++) {
		if (policy_db_run(db, q, st[q], b, &version) == -1) {
			xasprintf(cause, "%s: %s", name, sqlite3_errmsg(db));
			goto fail;
		}
	}
	if (policy_db_run(db, PQ_COMMIT, st[PQ_COMMIT], NULL, NULL) == -1) {
		xasprintf(cause, "%s: %s", name, sqlite3_errmsg(db));
		goto fail;
	}
	if ((s = snapshot_builder_finish(b, &c)) == NULL) {
		xasprintf(
		    cause, "%s: version %lld: %s", name, (long long)version, c);
		free(c);
	}
	snapshot_builder_free(b);
	return s;
fail:
	snapshot_builder_free(b);
	policy_db_run(db, PQ_ROLLBACK, st[PQ_ROLLBACK], NULL, NULL);
	return NULL;
}

struct snapshot *
policy_db_load(struct policy_db *p, char **cause)
{
	if (!p->present)
		return snapshot_new_empty(0);
	if (p->db == NULL) {
		/* policy_db_changed() could not open it: keep the old one. */
		xasprintf(cause, "%s: not open", p->path);
		return NULL;
	}
	return policy_db_read(
	    p->db, p->st_load, p->path, p->ns, p->labels, cause);
}

void
policy_db_identity(struct policy_db *p, const char *ns, const char *labels)
{
	free(p->ns);
	free(p->labels);
	p->ns = ns != NULL ? xstrdup(ns) : NULL;
	p->labels = labels != NULL ? xstrdup(labels) : NULL;
}

struct snapshot *
policy_db_load_conn(struct sqlite3 *db, char **cause)
{
	return policy_db_load_conn_as(db, NULL, NULL, cause);
}

struct snapshot *
policy_db_load_conn_as(
    struct sqlite3 *db, const char *ns, const char *labels, char **cause)
{
	sqlite3_stmt *st[PQ_N];
	struct snapshot *s;

	memset(st, 0, sizeof(st));
	s = policy_db_read(db, st,
	    sqlite3_db_filename(db, "main") != NULL &&
		    *sqlite3_db_filename(db, "main") != '\0'
		? sqlite3_db_filename(db, "main")
		: "policy DB",
	    ns, labels, cause);
	policy_db_finalize(st);
	return s;
}
