/*
 * weftctl's policy DB access: every SQL statement weftctl runs. It
 * stores resources as given and in the normalized tables the proxies
 * load (sql/schema.sql), in explicit transactions.
 */
#ifndef WEFT_STORE_DB_H
#define WEFT_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config_doc.h"

struct store_db;

/*
 * Opens the policy DB at path, creating it (mode 0644, with the current
 * schema) when it does not exist; the directory must. With write, or
 * when the DB must be created or migrated, it is opened read-write in
 * WAL mode and brought to the current schema; otherwise read-only.
 * Returns NULL with *cause set on failure.
 */
struct store_db *store_db_open(const char *path, int write, char **cause);
void store_db_close(struct store_db *db);

/*
 * The connection, for the modules that replicate this DB (weft-server's
 * and weft-sync's *_db.c): they add their own statements to it.
 */
struct sqlite3 *store_db_handle(struct store_db *db);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (the last one cannot fail). */
int store_db_begin(struct store_db *db, char **cause);
int store_db_commit(struct store_db *db, char **cause);
void store_db_rollback(struct store_db *db);

/* The policy version (config_version.version). */
int store_db_version(struct store_db *db, int64_t *version, char **cause);

/*
 * Bumps the policy version, once per transaction: later calls in the
 * same transaction return the same new version.
 */
int store_db_bump(struct store_db *db, int64_t *version, char **cause);

struct store_db_row {
	enum config_kind kind;
	char *namespace;
	char *name;
	char *api_version;
	char *spec_text;
	json_t *spec;
	json_t *annotations; /* metadata.annotations, NULL when none */
	char *applied_by;
	char *applied_at;
	int64_t version;
};

struct store_db_rows {
	struct store_db_row *v;
	size_t n;
};

#define STORE_DB_KIND(k)   (1u << (k))
#define STORE_DB_ALL_KINDS ((1u << CONFIG_NKINDS) - 1)

/*
 * Appends to out the stored resources of the kinds in mask (STORE_DB_KIND
 * bits), of namespace ns and named name (each NULL for any), ordered by
 * kind, namespace and name. Returns 0, or -1 with *cause set.
 */
int store_db_list(struct store_db *db, unsigned int mask, const char *ns,
    const char *name, struct store_db_rows *out, char **cause);
void store_db_rows_clear(struct store_db_rows *rows);

/*
 * Looks a resource up: returns 1 with *api_version, *spec and
 * *annotations (JSON text; NULL when it has none) allocated for the
 * caller, 0 when there is none, -1 with *cause set on error.
 */
int store_db_get(struct store_db *db, enum config_kind kind, const char *ns,
    const char *name, char **api_version, char **spec, char **annotations,
    char **cause);

/*
 * Writes resource r (checked and normalized) at policy version version:
 * its resources row, replacing any, and its normalized rows, after
 * deleting those of the copy it replaces.
 */
int store_db_put(struct store_db *db, const struct config_resource *r,
    const char *applied_by, int64_t version, char **cause);

/*
 * Deletes a resource and its normalized rows. Returns 1 when it was
 * there, 0 when not, -1 with *cause set on error.
 */
int store_db_delete(struct store_db *db, enum config_kind kind, const char *ns,
    const char *name, char **cause);

/*
 * A workload by namespace and name (registered by weft-sync first, then
 * a WorkloadEntry, then a ServiceEntry endpoint): its service account,
 * address and labels (JSON text), allocated. Returns 1, 0 when there is
 * none, -1 with *cause set.
 */
int store_db_workload(struct store_db *db, const char *ns, const char *name,
    char **service_account, char **address, char **labels, char **cause);

/*
 * weftctl check: opens the existing policy DB at path read-only, never
 * creating or migrating it, and reads its schema version into
 * *schema. Returns NULL with *cause set when the file is missing (errno
 * ENOENT kept), not a regular file or not an SQLite DB.
 */
struct store_db *store_db_open_check(
    const char *path, int *schema, char **cause);

/*
 * PRAGMA quick_check: 1 when the DB is sound, 0 with *cause set to the
 * first problem, -1 with *cause set when it cannot run.
 */
int store_db_quick_check(struct store_db *db, char **cause);

/*
 * What weftctl check compares the policy with: into the JSON arrays
 * given (each may be NULL): hosts gets the host names of the services
 * discovered (not from ServiceEntries), workloads an object
 * {namespace, name, labels} per workload, certs an object {spiffeId,
 * notAfter (Unix seconds)} per issued certificate. Returns 0, or -1
 * with *cause set.
 */
int store_db_check_facts(struct store_db *db, json_t *hosts, json_t *workloads,
    json_t *certs, char **cause);

#endif
