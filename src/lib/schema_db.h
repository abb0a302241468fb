/*
 * The policy DB schema and its migrations, shared by every program that
 * writes a policy DB.
 */
#ifndef WEFT_SCHEMA_DB_H
#define WEFT_SCHEMA_DB_H

#include <sqlite3.h>

/* The schema version this build reads and writes (PRAGMA user_version). */
#define SCHEMA_VERSION 4

/*
 * Brings db to SCHEMA_VERSION in one transaction: creates the schema in
 * an empty DB, runs the migrations of an older one. Returns 0, or -1
 * with *cause set (caller frees) when the DB is newer than this build,
 * not a weft DB, or a statement fails; the DB is then unchanged.
 */
int schema_migrate(sqlite3 *db, char **cause);

/* Reads PRAGMA user_version; returns -1 with *cause set on failure. */
int schema_version(sqlite3 *db, int *version, char **cause);

#endif
