/*
 * Replication of the policy DB with SQLite's session extension: what
 * weft-server records per transaction and what weft-sync applies. Every
 * table is replicated row for row except the local state of the two
 * daemons (tables named server_* and sync_*).
 */
#ifndef WEFT_REPLICA_DB_H
#define WEFT_REPLICA_DB_H

#include <stddef.h>
#include <stdint.h>

struct sqlite3;
struct replica_capture;

/* Whether table name is replicated. */
int replica_table(const char *name);

/*
 * Starts recording the changes made to the replicated tables of db
 * (call inside the transaction, before its first write). NULL with
 * *cause set on failure.
 */
struct replica_capture *replica_capture_start(struct sqlite3 *db, char **cause);

/*
 * The changes recorded so far, as a changeset (*blob allocated with
 * malloc, *len 0 and *blob NULL when nothing changed). Returns 0, or -1
 * with *cause set.
 */
int replica_capture_changeset(
    struct replica_capture *c, void **blob, size_t *len, char **cause);
void replica_capture_free(struct replica_capture *c);

/*
 * The whole replicated content of db as one changeset of inserts, read
 * in one read transaction, with the policy version it holds. Returns 0,
 * or -1 with *cause set.
 */
int replica_snapshot(struct sqlite3 *db, void **blob, size_t *len,
    int64_t *version, char **cause);

/*
 * Applies a changeset in db's open transaction, exactly: any conflict
 * (a row that is not as the changeset expects it) aborts the apply and
 * returns -1 with *cause set, so that the caller rolls back and
 * resyncs. Foreign keys must be off on db (the changeset already holds
 * the rows that cascades removed on the server).
 */
int replica_apply(
    struct sqlite3 *db, const void *blob, size_t len, char **cause);

/* Deletes every row of the replicated tables, in db's open transaction. */
int replica_clear(struct sqlite3 *db, char **cause);

/*
 * Makes db (a new, empty DB of the current schema) a copy of a
 * snapshot, in one transaction of its own, foreign keys off (for
 * tools that look at a server's policy: weftctl explain --server).
 */
int replica_load(
    struct sqlite3 *db, const void *blob, size_t len, char **cause);

#endif
