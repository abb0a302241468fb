/*
 * Replication with SQLite's session extension (see replica_db.h).
 * Debian's libsqlite3 is built with the session and pre-update hook
 * extensions; their declarations need these two macros.
 */
#include "config.h"

#define SQLITE_ENABLE_SESSION        1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "replica_db.h"
#include "xmalloc.h"

/* The empty copy of the schema that a snapshot is a diff against. */
#define REPLICA_EMPTY "weft_replica_empty"

struct replica_capture {
	sqlite3_session *session;
};

int
replica_table(const char *name)
{
	return strncmp(name, "server_", 7) != 0 &&
	    strncmp(name, "sync_", 5) != 0 && strncmp(name, "sqlite_", 7) != 0;
}

static int
replica_filter_cb(void *arg, const char *table)
{
	(void)arg;
	return replica_table(table);
}

static int
replica_fail(sqlite3 *db, const char *what, int rc, char **cause)
{
	xasprintf(cause, "%s: %s", what,
	    rc == SQLITE_OK || rc == SQLITE_ERROR ? sqlite3_errmsg(db)
						  : sqlite3_errstr(rc));
	return -1;
}

struct replica_capture *
replica_capture_start(sqlite3 *db, char **cause)
{
	struct replica_capture *c;
	int rc;

	c = xcalloc(1, sizeof(*c));
	if ((rc = sqlite3session_create(db, "main", &c->session)) !=
	    SQLITE_OK) {
		replica_fail(db, "cannot record changes", rc, cause);
		free(c);
		return NULL;
	}
	sqlite3session_table_filter(c->session, replica_filter_cb, NULL);
	if ((rc = sqlite3session_attach(c->session, NULL)) != SQLITE_OK) {
		replica_fail(db, "cannot record changes", rc, cause);
		replica_capture_free(c);
		return NULL;
	}
	return c;
}

/* Copies a buffer of SQLite's allocator into one of malloc's. */
static void
replica_take(void *p, int n, void **blob, size_t *len)
{
	*blob = NULL;
	*len = 0;
	if (n > 0) {
		*blob = xmalloc((size_t)n);
		memcpy(*blob, p, (size_t)n);
		*len = (size_t)n;
	}
	sqlite3_free(p);
}

int
replica_capture_changeset(
    struct replica_capture *c, void **blob, size_t *len, char **cause)
{
	void *p = NULL;
	int n = 0, rc;

	if ((rc = sqlite3session_changeset(c->session, &n, &p)) != SQLITE_OK) {
		sqlite3_free(p);
		xasprintf(cause, "cannot read the changes recorded: %s",
		    sqlite3_errstr(rc));
		return -1;
	}
	replica_take(p, n, blob, len);
	return 0;
}

void
replica_capture_free(struct replica_capture *c)
{
	if (c == NULL)
		return;
	if (c->session != NULL)
		sqlite3session_delete(c->session);
	free(c);
}

/* The replicated tables of main and the SQL that created them. */
static int
replica_tables(
    sqlite3 *db, char ***names, char ***sqls, size_t *n, char **cause)
{
	sqlite3_stmt *st;
	const char *name, *sql;
	int rc;

	*names = *sqls = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(db,
		"SELECT name, sql FROM main.sqlite_schema WHERE type = 'table' "
		"ORDER BY name",
		-1, &st, NULL) != SQLITE_OK)
		return replica_fail(db, "cannot list tables", SQLITE_OK, cause);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(st, 0);
		sql = (const char *)sqlite3_column_text(st, 1);
		if (name == NULL || sql == NULL || !replica_table(name))
			continue;
		*names = xreallocarray(*names, *n + 1, sizeof(**names));
		*sqls = xreallocarray(*sqls, *n + 1, sizeof(**sqls));
		(*names)[*n] = xstrdup(name);
		(*sqls)[*n] = xstrdup(sql);
		(*n)++;
	}
	if (rc != SQLITE_DONE)
		replica_fail(db, "cannot list tables", SQLITE_OK, cause);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
replica_tables_free(char **names, char **sqls, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(names[i]);
		free(sqls[i]);
	}
	free(names);
	free(sqls);
}

/* Creates the tables of main, empty, in the attached REPLICA_EMPTY. */
static int
replica_empty_schema(
    sqlite3 *db, char **names, char **sqls, size_t n, char **cause)
{
	static const char prefix[] = "CREATE TABLE ";
	char *sql;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		if (strncmp(sqls[i], prefix, sizeof(prefix) - 1) != 0) {
			xasprintf(
			    cause, "table %s: unexpected schema", names[i]);
			return -1;
		}
		xasprintf(&sql, "CREATE TABLE " REPLICA_EMPTY ".%s",
		    sqls[i] + sizeof(prefix) - 1);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		free(sql);
		if (rc != SQLITE_OK)
			return replica_fail(db, names[i], SQLITE_OK, cause);
	}
	return 0;
}

int
replica_snapshot(
    sqlite3 *db, void **blob, size_t *len, int64_t *version, char **cause)
{
	sqlite3_session *s = NULL;
	sqlite3_stmt *st = NULL;
	char **names = NULL, **sqls = NULL, *err = NULL;
	size_t n = 0, i;
	void *p = NULL;
	int np = 0, rc = -1, in_txn = 0;

	if (sqlite3_exec(db, "ATTACH ':memory:' AS " REPLICA_EMPTY, NULL, NULL,
		NULL) != SQLITE_OK)
		return replica_fail(db, "snapshot", SQLITE_OK, cause);
	if (replica_tables(db, &names, &sqls, &n, cause) == -1 ||
	    replica_empty_schema(db, names, sqls, n, cause) == -1)
		goto out;
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		replica_fail(db, "snapshot", SQLITE_OK, cause);
		goto out;
	}
	in_txn = 1;
	if (sqlite3_prepare_v2(db,
		"SELECT version FROM main.config_version WHERE id = 1", -1, &st,
		NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		replica_fail(db, "snapshot", SQLITE_OK, cause);
		goto out;
	}
	*version = sqlite3_column_int64(st, 0);
	if (sqlite3session_create(db, "main", &s) != SQLITE_OK) {
		replica_fail(db, "snapshot", SQLITE_OK, cause);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (sqlite3session_attach(s, names[i]) != SQLITE_OK ||
		    sqlite3session_diff(s, REPLICA_EMPTY, names[i], &err) !=
			SQLITE_OK) {
			xasprintf(cause, "snapshot of %s: %s", names[i],
			    err != NULL ? err : sqlite3_errmsg(db));
			sqlite3_free(err);
			goto out;
		}
	}
	if (sqlite3session_changeset(s, &np, &p) != SQLITE_OK) {
		sqlite3_free(p);
		replica_fail(db, "snapshot", SQLITE_OK, cause);
		goto out;
	}
	replica_take(p, np, blob, len);
	rc = 0;
out:
	if (s != NULL)
		sqlite3session_delete(s);
	sqlite3_finalize(st);
	if (in_txn)
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_exec(db, "DETACH " REPLICA_EMPTY, NULL, NULL, NULL);
	replica_tables_free(names, sqls, n);
	return rc;
}

struct replica_apply_ctx {
	int conflict; /* the first conflict type seen, or 0 */
	char table[64];
};

static int
replica_conflict_cb(void *arg, int type, sqlite3_changeset_iter *it)
{
	struct replica_apply_ctx *ctx = arg;
	const char *table = NULL;
	int ncol, op, indirect;

	if (ctx->conflict == 0) {
		ctx->conflict = type;
		if (sqlite3changeset_op(it, &table, &ncol, &op, &indirect) ==
			SQLITE_OK &&
		    table != NULL)
			snprintf(ctx->table, sizeof(ctx->table), "%s", table);
	}
	return SQLITE_CHANGESET_ABORT;
}

static const char *
replica_conflict_name(int type)
{
	switch (type) {
	case SQLITE_CHANGESET_DATA:
		return "a row differs from what the change expects";
	case SQLITE_CHANGESET_NOTFOUND:
		return "a changed row is missing";
	case SQLITE_CHANGESET_CONFLICT:
		return "an inserted row is already there";
	case SQLITE_CHANGESET_CONSTRAINT:
		return "a constraint fails";
	case SQLITE_CHANGESET_FOREIGN_KEY:
		return "a foreign key fails";
	}
	return "conflict";
}

int
replica_apply(sqlite3 *db, const void *blob, size_t len, char **cause)
{
	struct replica_apply_ctx ctx;
	int rc;

	if (len > INT32_MAX) {
		xasprintf(cause, "changeset too large");
		return -1;
	}
	memset(&ctx, 0, sizeof(ctx));
	rc = sqlite3changeset_apply(db, (int)len, (void *)(uintptr_t)blob, NULL,
	    replica_conflict_cb, &ctx);
	if (ctx.conflict != 0) {
		xasprintf(cause, "changeset does not apply: table %s: %s",
		    ctx.table, replica_conflict_name(ctx.conflict));
		return -1;
	}
	if (rc != SQLITE_OK)
		return replica_fail(db, "changeset does not apply", rc, cause);
	return 0;
}

int
replica_clear(sqlite3 *db, char **cause)
{
	char **names = NULL, **sqls = NULL, *sql;
	size_t n = 0, i;
	int rc = 0;

	if (replica_tables(db, &names, &sqls, &n, cause) == -1)
		return -1;
	for (i = 0; i < n && rc == 0; i++) {
		xasprintf(&sql, "DELETE FROM main.\"%s\"", names[i]);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
			rc = replica_fail(db, names[i], SQLITE_OK, cause);
		free(sql);
	}
	replica_tables_free(names, sqls, n);
	return rc;
}

int
replica_load(sqlite3 *db, const void *blob, size_t len, char **cause)
{
	if (sqlite3_exec(db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL) !=
		SQLITE_OK ||
	    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return replica_fail(db, "snapshot", SQLITE_OK, cause);
	if (replica_clear(db, cause) == -1 ||
	    replica_apply(db, blob, len, cause) == -1) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		replica_fail(db, "snapshot", SQLITE_OK, cause);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}
