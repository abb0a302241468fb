/* weft-sync's SQL (see sync_db.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "replica_db.h"
#include "store_db.h"
#include "sync_db.h"
#include "xmalloc.h"

struct sync_db {
	struct store_db *store;
	sqlite3 *db;
	char *path;
};

/*
 * 1 when the file at path is damaged (not a DB, or failing
 * quick_check), 0 when sound or absent, -1 when it cannot be read at
 * all (permissions: not ours to replace). Read-only, so that a damaged
 * file is kept exactly as it was found.
 */
static int
sync_db_damaged(const char *path, char **cause)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	const unsigned char *res;
	int rc, damaged = 0;

	if (access(path, F_OK) == -1)
		return 0;
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		rc =
		    sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
	}
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		res = sqlite3_column_text(st, 0);
		damaged = res == NULL || strcmp((const char *)res, "ok") != 0;
		rc = SQLITE_OK;
	}
	if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
		damaged = 1;
	else if (rc != SQLITE_OK && rc != SQLITE_DONE) {
		xasprintf(cause, "%s: %s", path,
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		damaged = -1;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return damaged;
}

/* Moves a damaged DB (and its WAL) aside; keeps it for a post-mortem. */
static int
sync_db_move_aside(const char *path, char **cause)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char from[4096], to[4096];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(from, sizeof(from), "%s%s", path, suffixes[i]);
		snprintf(to, sizeof(to), "%s.corrupt%s", path, suffixes[i]);
		if (rename(from, to) == -1 && errno != ENOENT) {
			xasprintf(cause, "cannot move %s aside: %s", from,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

struct sync_db *
sync_db_open(const char *path, int *rebuilt, char **cause)
{
	struct sync_db *d;
	int damaged;

	*rebuilt = 0;
	if ((damaged = sync_db_damaged(path, cause)) == -1)
		return NULL;
	if (damaged) {
		log_warnx("%s is damaged: moving it to %s.corrupt and "
			  "rebuilding it from the server",
		    path, path);
		if (sync_db_move_aside(path, cause) == -1)
			return NULL;
		*rebuilt = 1;
	}
	d = xcalloc(1, sizeof(*d));
	d->path = xstrdup(path);
	if ((d->store = store_db_open(path, 1, cause)) == NULL) {
		free(d->path);
		free(d);
		return NULL;
	}
	d->db = store_db_handle(d->store);
	/* Changesets carry the rows that cascades removed on the server. */
	if (sqlite3_exec(d->db, "PRAGMA foreign_keys = OFF", NULL, NULL,
		NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", path, sqlite3_errmsg(d->db));
		sync_db_close(d);
		return NULL;
	}
	return d;
}

void
sync_db_close(struct sync_db *d)
{
	if (d == NULL)
		return;
	store_db_close(d->store);
	free(d->path);
	free(d);
}

static int
sync_db_fail(struct sync_db *d, char **cause)
{
	xasprintf(cause, "%s: %s", d->path, sqlite3_errmsg(d->db));
	return -1;
}

int
sync_db_state(struct sync_db *d, char **history, int64_t *version, char **cause)
{
	sqlite3_stmt *st;
	int rc;

	*history = NULL;
	if (store_db_version(d->store, version, cause) == -1)
		return -1;
	if (sqlite3_prepare_v2(d->db,
		"SELECT history FROM sync_state WHERE id = 1", -1, &st,
		NULL) != SQLITE_OK)
		return sync_db_fail(d, cause);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		*history = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sync_db_fail(d, cause);
	return 0;
}

static int
sync_db_record(struct sync_db *d, const char *server, const char *history,
    int64_t version, char **cause)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(d->db,
		"INSERT OR REPLACE INTO sync_state (id, server, history, "
		"version) VALUES (1, ?1, ?2, ?3)",
		-1, &st, NULL) != SQLITE_OK)
		return sync_db_fail(d, cause);
	sqlite3_bind_text(st, 1, server, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, history, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, version);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sync_db_fail(d, cause);
}

int
sync_db_apply(struct sync_db *d, const char *server, const char *history,
    const struct sync_change *v, size_t n, char **cause)
{
	int64_t version;
	size_t i;

	if (store_db_begin(d->store, cause) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (store_db_version(d->store, &version, cause) == -1)
			goto fail;
		if (version != v[i].version - 1) {
			xasprintf(cause,
			    "changeset of version %lld does not follow on "
			    "from version %lld",
			    (long long)v[i].version, (long long)version);
			goto fail;
		}
		if (replica_apply(d->db, v[i].data, v[i].len, cause) == -1 ||
		    store_db_version(d->store, &version, cause) == -1)
			goto fail;
		if (version != v[i].version) {
			xasprintf(cause,
			    "changeset of version %lld left version %lld",
			    (long long)v[i].version, (long long)version);
			goto fail;
		}
	}
	if (n > 0 &&
	    (sync_db_record(d, server, history, v[n - 1].version, cause) ==
		    -1 ||
		store_db_commit(d->store, cause) == -1))
		goto fail;
	if (n == 0)
		store_db_rollback(d->store);
	return 0;
fail:
	store_db_rollback(d->store);
	return -1;
}

int
sync_db_apply_snapshot(struct sync_db *d, const char *server,
    const char *history, const void *blob, size_t len, int64_t version,
    char **cause)
{
	int64_t got;

	if (store_db_begin(d->store, cause) == -1)
		return -1;
	if (replica_clear(d->db, cause) == -1 ||
	    replica_apply(d->db, blob, len, cause) == -1 ||
	    store_db_version(d->store, &got, cause) == -1)
		goto fail;
	if (got != version) {
		xasprintf(cause, "snapshot of version %lld holds version %lld",
		    (long long)version, (long long)got);
		goto fail;
	}
	if (sync_db_record(d, server, history, version, cause) == -1 ||
	    store_db_commit(d->store, cause) == -1)
		goto fail;
	return 0;
fail:
	store_db_rollback(d->store);
	return -1;
}
