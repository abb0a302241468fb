/*
 * Golden metrics over a recent window, from cumulative counters.
 *
 * The proxy's admin thread takes a sample of its request counters every
 * STATS_SAMPLE_S seconds into a small ring; the numbers over a window are
 * the difference between now and the sample that opened the window. A
 * counter that went down (a restart) counts as reset: the new value is
 * the whole delta. Quantiles come from the duration histogram buckets by
 * linear interpolation inside the bucket, as Prometheus'
 * histogram_quantile() does.
 */
#ifndef WEFT_STATS_WINDOW_H
#define WEFT_STATS_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define STATS_SAMPLE_S   10
#define STATS_MAX_WINDOW 300 /* seconds */
#define STATS_SLOTS      (STATS_MAX_WINDOW / STATS_SAMPLE_S + 2)
#define STATS_MAX_KEYS   512
#define STATS_BUCKETS    (METRICS_DUR_BUCKETS + 1) /* the last is +Inf */

/* What a row of golden metrics is about. */
struct stats_key {
	uint8_t direction; /* METRICS_OUTBOUND or METRICS_INBOUND */
	char service[METRICS_LABEL_MAX];
	char workload[METRICS_LABEL_MAX]; /* the peer's when known, or "" */
	char route[METRICS_LABEL_MAX];
	char peer[METRICS_LABEL_MAX]; /* inbound: source principal, or "" */
};

/* Cumulative (in a sample) or windowed (in a result) numbers of a key. */
struct stats_point {
	struct stats_key key;
	uint64_t requests;
	uint64_t success; /* responses below 500 */
	uint64_t dur[STATS_BUCKETS];
	int64_t tcp_open; /* connections open now (not windowed) */
};

/* A growable list of points (unsorted until stats_set_fold). */
struct stats_set {
	struct stats_point *p;
	size_t n;
	size_t cap;
};

struct stats_ring;

/* The upper bounds of the duration buckets, in seconds. */
extern const double stats_bounds[METRICS_DUR_BUCKETS];

/* Adds the numbers of one series to set. Returns 0, or -1 on ENOMEM. */
int stats_set_add(struct stats_set *set, const struct stats_key *k,
    uint64_t requests, uint64_t success, const uint64_t *dur, int64_t tcp_open);

/*
 * Sorts set by key and sums the points of equal keys, so that each key
 * appears once.
 */
void stats_set_fold(struct stats_set *set);

/* Frees the points of set (not set itself) and empties it. */
void stats_set_clear(struct stats_set *set);

/* An empty ring; NULL on ENOMEM. Nothing is allocated per sample yet. */
struct stats_ring *stats_ring_new(void);
void stats_ring_free(struct stats_ring *);

/*
 * Bounds the keys of cur (folded) to STATS_MAX_KEYS: keys that the
 * ring's newest sample has keep their place, new ones are admitted while
 * there is room, the others fold into a key whose service and route are
 * "overflow". Returns the number of points folded.
 */
size_t stats_ring_bound(const struct stats_ring *r, struct stats_set *cur);

/*
 * Records cur (folded and bounded) as the sample taken at t (seconds, a
 * monotonic clock). Takes ownership of cur's points and empties cur.
 * The oldest sample past STATS_SLOTS goes.
 */
void stats_ring_push(struct stats_ring *r, double t, struct stats_set *cur);

/*
 * The numbers over the last window seconds before now: cur (folded and
 * bounded, taken at now) minus the newest sample at least window old, or
 * the oldest sample when none is that old. Fills out (emptied first)
 * with one point per key of cur that saw requests or has connections
 * open, and *covered with the seconds the result really spans (0 when
 * the ring is empty: then out is cur itself). Returns 0, or -1 on ENOMEM.
 */
int stats_ring_window(const struct stats_ring *r, double now, double window,
    const struct stats_set *cur, struct stats_set *out, double *covered);

/*
 * The q-quantile (0 < q < 1) of the observations in the non-cumulative
 * buckets dur, in seconds, as Prometheus' histogram_quantile(): the
 * bucket holding rank q * total, linearly interpolated from its lower
 * to its upper bound (0 to the first bound; the highest finite bound
 * when the rank falls into +Inf). NaN when there are no observations.
 */
double stats_quantile(double q, const uint64_t *dur);

#endif
