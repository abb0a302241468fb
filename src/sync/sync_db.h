/*
 * weft-sync's local policy DB: every SQL statement of weft-sync. The
 * copy is changed only by whole batches (changesets or a snapshot), in
 * one transaction each, so the proxy never sees half of a change.
 */
#ifndef WEFT_SYNC_DB_H
#define WEFT_SYNC_DB_H

#include <stddef.h>
#include <stdint.h>

struct sync_db;

/*
 * Opens the DB at path, creating it when missing. A DB that fails its
 * integrity check (or is not a DB) is moved aside to path.corrupt and
 * made anew, so the next sync rebuilds it from a snapshot; *rebuilt
 * says so. Returns NULL with *cause set.
 */
struct sync_db *sync_db_open(const char *path, int *rebuilt, char **cause);
void sync_db_close(struct sync_db *db);

/*
 * Where the copy stands: the server's history id (NULL when the copy
 * never synced) and the policy version it holds.
 */
int sync_db_state(
    struct sync_db *db, char **history, int64_t *version, char **cause);

struct sync_change {
	int64_t version;
	void *data;
	size_t len;
};

/*
 * Applies changesets in order in one transaction: each must take the
 * copy from version - 1 to version exactly. Any conflict or gap rolls
 * everything back and returns -1 with *cause set.
 */
int sync_db_apply(struct sync_db *db, const char *server, const char *history,
    const struct sync_change *v, size_t n, char **cause);

/* Replaces the whole replicated policy with a snapshot, in one transaction. */
int sync_db_apply_snapshot(struct sync_db *db, const char *server,
    const char *history, const void *blob, size_t len, int64_t version,
    char **cause);

#endif
