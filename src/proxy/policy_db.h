/*
 * The proxy's read-only view of the local policy DB. This is the only
 * proxy module that speaks SQL; it runs on the main thread, off the
 * request path, when the DB changes.
 */
#ifndef WEFT_POLICY_DB_H
#define WEFT_POLICY_DB_H

#include <stdint.h>

struct policy_db;

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

#endif
