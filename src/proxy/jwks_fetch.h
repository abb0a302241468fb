/*
 * The keys of RequestAuthentication jwksUri's: fetched away from the
 * request path, cached per URI for the life of the process, refreshed,
 * and read by the workers without I/O.
 *
 * Entries. The cache is process-wide: one entry per URI, made when a
 * policy snapshot that names the URI is built (jwks_cache_entry(), which
 * snapshot_security.c reaches through jwks_registry) and freed only by
 * jwks_cache_free() at exit, so that a snapshot's rules point at their
 * entries without holding references. Each snapshot put in force is
 * handed to jwks_fetch_use() by the main thread: the URIs it names are
 * kept fresh from then on; the others keep their keys but are no longer
 * fetched until a snapshot names them again.
 *
 * Fetching. A thread of its own, with its own event_base, started with
 * the first URI to fetch, does every fetch: the HTTPS client resolves
 * host names with getaddrinfo(3), which blocks, and the main thread is
 * also the first worker. A URI is fetched as soon as a snapshot in force
 * names it; after a success, again every refresh interval (5 minutes by
 * default, where Istio refreshes every 20: a rotated key is picked up
 * sooner, for one small request per URI); after a failure, again after
 * 1 s, then 2, 4 ... up to 60 s until a fetch succeeds. At most
 * JWKS_MAX_FETCHES fetches run at once, the others wait their turn. A
 * fetch is one GET of the URI, over HTTPS checked against the CA file
 * given (weft-proxy --jwks-ca) or else the system's trust store, or over
 * plain HTTP (as Envoy allows, for an identity provider on the pod
 * network: anyone on the path could then substitute keys, which is
 * logged once per URI). It must end within 5 s (or the jwtRule's
 * timeout, at most 60 s) with status 200 and a body of at most 1 MiB
 * that jwt_keys_parse() accepts. A failure keeps the keys of the last
 * success, if any.
 *
 * Keys. An entry's keys are replaced whole by each successful fetch; a
 * worker takes a reference to the current set for one verification
 * (jwks_entry_keys(): a pointer copy and an atomic increment under a
 * per-entry mutex, nothing else) and drops it right after, so a refresh
 * never frees keys in use, and never waits for a worker.
 */
#ifndef WEFT_JWKS_FETCH_H
#define WEFT_JWKS_FETCH_H

#include <stddef.h>
#include <time.h>

#define JWKS_REFRESH_MS     (5 * 60 * 1000)
#define JWKS_TIMEOUT_MS     5000
#define JWKS_TIMEOUT_MAX_MS 60000
#define JWKS_MAX_BODY       ((size_t)1024 * 1024)
#define JWKS_MAX_FETCHES    4
#define JWKS_BACKOFF_MIN_MS 1000
#define JWKS_BACKOFF_MAX_MS 60000

struct jwt_keys;
struct jwks_entry;
struct jwks_keys;
struct snap_security;

struct jwks_fetch_conf {
	const char *ca_file; /* HTTPS trust (PEM); NULL: the system's */
	int refresh_ms;      /* after a success; 0: JWKS_REFRESH_MS */
	int timeout_ms;      /* a whole fetch; 0: JWKS_TIMEOUT_MS */
	size_t max_body;     /* 0: JWKS_MAX_BODY */
	int max_fetches;     /* at once; 0: JWKS_MAX_FETCHES */
	int backoff_min_ms;  /* first retry; 0: JWKS_BACKOFF_MIN_MS */
	int backoff_max_ms;  /* 0: JWKS_BACKOFF_MAX_MS */
};

/*
 * How a snapshot build finds the entry of a jwksUri: set by
 * jwks_fetch_init(), NULL before. It is defined in snapshot_security.c,
 * so that programs that build snapshots without fetching keys (weftctl
 * explain, the snapshot's unit tests) link without this module; their
 * jwksUri rules have no keys.
 */
extern struct jwks_entry *(*jwks_registry)(const char *uri, int timeout_ms);

/*
 * Sets up the cache (conf is copied) and jwks_registry; the fetch
 * thread starts later, with the first URI to fetch. Call once, from the
 * main thread, after the privileges are dropped (the CA file is read as
 * the proxy's uid). Returns 0, or -1 with *cause set when the CA file
 * cannot be read.
 */
int jwks_fetch_init(const struct jwks_fetch_conf *conf, char **cause);

/*
 * The entry of uri, made if it is new (not fetched until a snapshot in
 * force names it). timeout_ms is the jwtRule's timeout for its fetches
 * (0: the default of jwks_fetch_conf; capped at JWKS_TIMEOUT_MAX_MS, so
 * that a slow server cannot hold a fetch slot for long); when rules
 * naming the same URI differ, the last one built sets it. The pointer
 * stays valid until jwks_cache_free(). Thread-safe; exits when out of
 * memory, like the snapshot build that calls it.
 */
struct jwks_entry *jwks_cache_entry(const char *uri, int timeout_ms);

/*
 * Main thread, with each snapshot put in force (sec may be NULL): the
 * entries of its jwt rules are fetched and refreshed from now on, those
 * of no rule are left alone. Starts the fetch thread when needed (a
 * failure to start is logged, and tried again with the next snapshot).
 */
void jwks_fetch_use(const struct snap_security *sec);

/*
 * The current keys of e, with a reference in *ref for the caller to
 * drop with jwks_keys_release() once done with them; NULL (and *ref
 * NULL) while no fetch has succeeded, or when e is NULL. Any thread;
 * never blocks on I/O.
 */
const struct jwt_keys *jwks_entry_keys(
    struct jwks_entry *e, struct jwks_keys **ref);

/* Drops a reference of jwks_entry_keys(); NULL is a no-op. */
void jwks_keys_release(struct jwks_keys *ref);

/* What is known of an entry, for the logs and the tests. */
struct jwks_entry_info {
	size_t nkeys;          /* keys in force; 0: none fetched yet */
	unsigned int fetches;  /* attempts ended */
	unsigned int failures; /* consecutive failed attempts */
	time_t last_fetch;     /* the end of the last attempt, or 0 */
	time_t last_ok;        /* of the last success, or 0 */
	int retry_ms;          /* the current backoff; 0 after a success */
	int used;              /* named by the snapshot in force */
	int timeout_ms;        /* the rule's; 0: the default */
	char last_error[256];  /* of the last attempt, or "" */
};

/* Fills *info with e's state (any thread). */
void jwks_entry_info(struct jwks_entry *e, struct jwks_entry_info *info);

/*
 * Stops the fetch thread, if it runs, cancelling fetches in flight;
 * the keys stay readable. Main thread.
 */
void jwks_fetch_stop(void);

/*
 * Frees every entry and its keys, and unsets jwks_registry: at exit,
 * after jwks_fetch_stop(), once no snapshot and no worker is left.
 */
void jwks_cache_free(void);

#endif
