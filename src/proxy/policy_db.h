/*
 * The proxy's read-only view of the local policy DB. This is the only
 * proxy module that speaks SQL; it runs on the main thread, off the
 * request path, when the DB changes.
 */
#ifndef WEFT_POLICY_DB_H
#define WEFT_POLICY_DB_H

#include <stdint.h>

struct policy_db;
struct snapshot;
struct sqlite3;

/* Creates a handle on path; the DB need not exist yet. */
struct policy_db *policy_db_new(const char *path);
void policy_db_free(struct policy_db *);

/*
 * Checks whether the DB changed since the last call (it appeared, was
 * replaced, or another connection committed). Returns 1 when it did and
 * a new snapshot should be built, 0 when not, -1 when the DB cannot be
 * read (cause set; caller frees).
 */
int policy_db_changed(struct policy_db *, char **cause);

/*
 * Reads the policy version. A missing or empty DB is version 0, an
 * empty policy. Returns 0, or -1 with cause set (the old snapshot stays).
 */
int policy_db_version(struct policy_db *, int64_t *version, char **cause);

/*
 * Builds the snapshot of the current policy: every table read in one
 * read transaction, so the snapshot is one consistent version. A
 * missing or empty DB is an empty snapshot (version 0). Returns the
 * snapshot (one reference, the caller's), or NULL with *cause set
 * (caller frees) when the DB cannot be read or holds an invalid JSON
 * column or regex: the caller keeps its old snapshot. Call after
 * policy_db_changed() reported a change.
 */
struct snapshot *policy_db_load(struct policy_db *, char **cause);

/*
 * The same on an open connection (tests, tools): statements are
 * prepared and finalized within the call.
 */
struct snapshot *policy_db_load_conn(struct sqlite3 *db, char **cause);

/*
 * Whose snapshots these are: the workload's namespace and labels
 * ("k=v,..."), which select its security policies.
 */
void policy_db_identity(
    struct policy_db *p, const char *ns, const char *labels);
struct snapshot *policy_db_load_conn_as(
    struct sqlite3 *db, const char *ns, const char *labels, char **cause);

#endif
