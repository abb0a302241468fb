/*
 * Load balancing and outlier detection over the clusters of one policy
 * snapshot. The snapshot is immutable and shared; what changes as
 * requests flow (round-robin cursors, requests in flight, consecutive
 * errors, ejections) is in a struct lb_state, one per worker thread, so
 * that nothing here takes a lock. Each worker thus detects outliers on
 * its own traffic. Times are monotonic milliseconds from the caller.
 *
 * An endpoint is available when it is healthy in the DB and not ejected.
 * lb_pick() chooses among the available endpoints of a cluster by its
 * policy (snapshot.h):
 *
 * - ROUND_ROBIN: in turn; with unequal weights, smooth weighted round
 *   robin (each endpoint in proportion, interleaved).
 * - RANDOM: at random, in proportion to the weights.
 * - LEAST_REQUEST: power of two choices: two distinct endpoints drawn at
 *   random, the one with fewer requests in flight (lb_start/lb_done)
 *   relative to its weight wins, the first on a tie.
 * - HASH_HEADER, HASH_SOURCE_IP: a ring hash (Envoy's): the caller's hash
 *   picks the first endpoint clockwise on the ring, skipping unavailable
 *   ones, so a key stays on its endpoint while the endpoint set does not
 *   change, and only the keys of a lost endpoint move. No hash: random.
 * - With locality_lb, only the best locality tier with an available
 *   endpoint is considered: same region/zone/subzone as the caller, then
 *   same region and zone, then same region, then any (Envoy's failover
 *   by priority, without its overprovisioning spill).
 *
 * Outlier detection (Envoy's consecutive errors): lb_report() counts
 * consecutive 5xx (and gateway errors: 502, 503, 504) per endpoint; a
 * locally originated failure counts as 503 (connect, reset) or 504
 * (timeout). Any other status resets both counts. Reaching a threshold
 * ejects the endpoint for baseEjectionTime times the number of times it
 * was ejected (less one per interval spent in service since, at most
 * max(300 s, baseEjectionTime)), unless that would eject more than
 * maxEjectionPercent of the cluster: as in Envoy (without its
 * always_eject_one_host), a cluster of fewer than 10 endpoints ejects
 * none at the default 10%. An ejected endpoint is back in service as
 * soon as its time is over.
 */
#ifndef WEFT_LB_H
#define WEFT_LB_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

/* Locally originated failures, for lb_report(). */
#define LB_FAIL_CONNECT (-1) /* connect failed or refused: as 503 */
#define LB_FAIL_RESET   (-2) /* reset before a response: as 503 */
#define LB_FAIL_TIMEOUT (-3) /* no response in time: as 504 */

struct lb_state;

/* What one choice depends on. */
struct lb_args {
	uint64_t r64;         /* a fresh random number */
	const uint64_t *hash; /* hash policies: lb_hash() of the key, or NULL */
	const char *locality; /* the caller's "region/zone/subzone", or NULL */
	/*
	 * A retry: an endpoint tried already, avoided when another is
	 * available (Envoy's previous_hosts), or NULL.
	 */
	const struct snap_endpoint *avoid;
	uint64_t now_ms;
};

/*
 * Per-worker state for the clusters of s, all endpoints in service.
 * s must outlive it. Allocates once; picks and reports never allocate.
 */
struct lb_state *lb_state_new(const struct snapshot *s);
void lb_state_free(struct lb_state *st);

/*
 * Carries outlier state (consecutive errors, ejections and their
 * backoff) from old, the state of the previous snapshot, into st, for
 * the clusters of the same name and endpoints of the same address, so
 * that a policy reload does not readmit an outlier. Requests in flight
 * are not carried: lb_done() them on the state they started on.
 */
void lb_state_inherit(struct lb_state *st, const struct lb_state *old);

/* The stable 64-bit hash to give lb_pick() (a header value, an IP). */
uint64_t lb_hash(const void *data, size_t len);

/*
 * Chooses an endpoint of c (a cluster of the state's snapshot), or NULL
 * when none is available (503 UH for the caller).
 */
const struct snap_endpoint *lb_pick(
    struct lb_state *st, const struct snap_cluster *c, const struct lb_args *a);

/* A request to ep (of c) starts, and is over (LEAST_REQUEST's counts). */
void lb_start(struct lb_state *st, const struct snap_cluster *c,
    const struct snap_endpoint *ep);
void lb_done(struct lb_state *st, const struct snap_cluster *c,
    const struct snap_endpoint *ep);

/*
 * The outcome of a request to ep (of c): an HTTP status, or one of
 * LB_FAIL_*. May eject ep (outlier detection, when c's policy has it).
 */
void lb_report(struct lb_state *st, const struct snap_cluster *c,
    const struct snap_endpoint *ep, int status, uint64_t now_ms);

/* True while ep is ejected from c at now_ms (admin, tests). */
int lb_ejected(struct lb_state *st, const struct snap_cluster *c,
    const struct snap_endpoint *ep, uint64_t now_ms);

/*
 * Requests in flight to the whole cluster c on this worker: what the
 * connection pool limits (http2MaxRequests) are checked against.
 */
unsigned int lb_cluster_inflight(
    const struct lb_state *st, const struct snap_cluster *c);

/* Requests in flight to ep in c (admin, tests). */
unsigned int lb_inflight(const struct lb_state *st,
    const struct snap_cluster *c, const struct snap_endpoint *ep);

#endif
