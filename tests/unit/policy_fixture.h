/*
 * Policy DBs and requests for the proxy's unit tests: an in-memory DB
 * with the current schema, filled by SQL as weftctl writes it, loaded
 * into a snapshot by policy_db_load_conn(); and request views built
 * from strings. Every helper fails the running test on error.
 */
#ifndef WEFT_POLICY_FIXTURE_H
#define WEFT_POLICY_FIXTURE_H

#include <sqlite3.h>

#include "http_req.h"
#include "snapshot.h"

#define FX_MAX_HEADERS 16

/* A new in-memory DB with the schema (caller closes). */
sqlite3 *fx_db_new(void);
/* Runs SQL (several statements allowed). */
void fx_exec(sqlite3 *db, const char *sql);
void fx_execf(sqlite3 *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Loads a snapshot that must build (caller unrefs). */
struct snapshot *fx_load(sqlite3 *db);
/* Loads a snapshot that must fail; returns the cause (caller frees). */
char *fx_load_fail(sqlite3 *db);

/* A request: headers are "name", "value" pairs ending with NULL. */
struct fx_req {
	struct http_req_view v;
	struct http1_header h[FX_MAX_HEADERS];
};
void fx_req(struct fx_req *r, const char *method, const char *path,
    const char *authority, int port, ...);

/* The service of a host (by authority), or NULL. */
const struct snap_service *fx_service(
    const struct snapshot *s, const char *host);

/* A deterministic 64-bit pseudo-random sequence (splitmix64). */
uint64_t fx_rand(uint64_t *state);

#endif
