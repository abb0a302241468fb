#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_db.h"
#include "xmalloc.h"

/* sql/schema.sql, embedded at build time (schema_sql.c). */
extern const char schema_sql[];

/*
 * sql/schema.sql is the whole schema of a new DB, in sections: what
 * version N added starts at a line "-- Schema version N:". An older DB
 * runs the sections after its version, in order, so that the file stays
 * the one place where the schema is written.
 */
static const char *
schema_since(int version)
{
	char marker[48];

	if (version == 0)
		return schema_sql;
	snprintf(
	    marker, sizeof(marker), "\n-- Schema version %d:", version + 1);
	return strstr(schema_sql, marker);
}

/* Runs a query of one integer result. */
static int
schema_query_int(sqlite3 *db, const char *sql, int *out, char **cause)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s", sqlite3_errmsg(db));
		return -1;
	}
	if (sqlite3_step(st) != SQLITE_ROW) {
		xasprintf(cause, "%s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int
schema_version(sqlite3 *db, int *version, char **cause)
{
	return schema_query_int(db, "PRAGMA user_version", version, cause);
}

/*
 * A DB at user_version 0 is new only if it holds nothing: one with
 * tables belongs to something else, and must not gain ours.
 */
static int
schema_empty(sqlite3 *db, int *empty, char **cause)
{
	int n;

	if (schema_query_int(
		db, "SELECT count(*) FROM sqlite_master", &n, cause) == -1)
		return -1;
	*empty = n == 0;
	return 0;
}

static int
schema_exec(sqlite3 *db, const char *sql, char **cause)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		xasprintf(cause, "%s", err != NULL ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

int
schema_migrate(sqlite3 *db, char **cause)
{
	const char *sql;
	char pragma[64];
	int empty, v;

	if (schema_exec(db, "BEGIN IMMEDIATE", cause) == -1)
		return -1;
	if (schema_version(db, &v, cause) == -1)
		goto fail;
	if (v > SCHEMA_VERSION) {
		xasprintf(cause,
		    "schema version %d is newer than this weft understands "
		    "(%d)",
		    v, SCHEMA_VERSION);
		goto fail;
	}
	if (v == 0) {
		if (schema_empty(db, &empty, cause) == -1)
			goto fail;
		if (!empty) {
			xasprintf(cause,
			    "not a weft policy DB (user_version 0 but it "
			    "holds tables)");
			goto fail;
		}
	}
	if (v < SCHEMA_VERSION) {
		if ((sql = schema_since(v)) == NULL) {
			xasprintf(cause,
			    "sql/schema.sql has no section for "
			    "schema version %d",
			    v + 1);
			goto fail;
		}
		if (schema_exec(db, sql, cause) == -1)
			goto fail;
	}
	snprintf(
	    pragma, sizeof(pragma), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (schema_exec(db, pragma, cause) == -1 ||
	    schema_exec(db, "COMMIT", cause) == -1)
		goto fail;
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
