/*
 * Local rate limiting (weft.io/v1 RateLimit): token buckets on the
 * inbound side of a workload, one per limit, or per limit and source
 * principal or header value. Buckets live in the worker, across policy
 * reloads (a reload must not refill everyone's bucket), and their
 * number is bounded: past the cap the least recently used ones go.
 * Nothing here allocates per request once a bucket exists, and nothing
 * blocks.
 */
#ifndef WEFT_RATELIMIT_H
#define WEFT_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

/* One limit of a RateLimit, as the snapshot holds it. */
struct ratelimit_rule {
	const char *id; /* "ns/name#index": names the bucket family */
	double rate;    /* tokens added per second (> 0) */
	double burst;   /* bucket size (>= 1) */
	/* match: a request is limited only if it matches (NULL: all). */
	const char *const *methods; /* NULL-terminated, exact */
	const char *const *paths;   /* NULL-terminated: exact, "p*", "*s" */
	enum {
		RATELIMIT_PER_NONE = 0,
		RATELIMIT_PER_SOURCE, /* the peer's principal (or address) */
		RATELIMIT_PER_HEADER, /* the value of header */
	} per;
	const char *header; /* lower case, for RATELIMIT_PER_HEADER */
};

struct ratelimit_table;

/*
 * A table of at most max_buckets buckets (0: a default of 10,000), for
 * one worker (no locking). Exits when out of memory, as startup code
 * does. ratelimit_table_free(NULL) does nothing.
 */
struct ratelimit_table *ratelimit_table_new(size_t max_buckets);
void ratelimit_table_free(struct ratelimit_table *t);

/*
 * Whether rule applies to a request (method, path without query). An
 * empty methods or paths list narrows nothing, like NULL.
 */
int ratelimit_match(const struct ratelimit_rule *rule, const char *method,
    size_t method_len, const char *path, size_t path_len);

/*
 * Takes one token from the bucket of rule and key (key may be NULL or
 * empty for RATELIMIT_PER_NONE) at time now_ns (monotonic). Returns 1
 * when the request may go, 0 when the bucket is empty; then
 * *retry_after_ms (when not NULL) is how long until a token is back.
 * retry_after_ms is rounded up to the ms, so at least 1. A bucket
 * whose rule changed rate or burst is resized, keeping its fill level
 * in proportion. The key is ignored for RATELIMIT_PER_NONE; ids and
 * keys past 256 bytes are held as a keyed digest. When no memory can
 * be had for a new bucket, even by evicting one, the request goes.
 */
int ratelimit_take(struct ratelimit_table *t, const struct ratelimit_rule *rule,
    const char *key, size_t key_len, uint64_t now_ns, uint64_t *retry_after_ms);

/* Buckets held now (for tests and the admin dump). */
size_t ratelimit_table_size(const struct ratelimit_table *t);

#endif
