#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats_window.h"

const double stats_bounds[METRICS_DUR_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

struct stats_sample {
	double t;
	struct stats_point *p; /* sorted by key */
	size_t n;
};

struct stats_ring {
	struct stats_sample s[STATS_SLOTS];
	int first; /* index of the oldest sample */
	int count;
};

static int
stats_key_cmp(const struct stats_key *a, const struct stats_key *b)
{
	int r;

	if (a->direction != b->direction)
		return a->direction - b->direction;
	if ((r = strcmp(a->service, b->service)) != 0)
		return r;
	if ((r = strcmp(a->workload, b->workload)) != 0)
		return r;
	if ((r = strcmp(a->route, b->route)) != 0)
		return r;
	return strcmp(a->peer, b->peer);
}

static int
stats_point_cmp(const void *a, const void *b)
{
	return stats_key_cmp(&((const struct stats_point *)a)->key,
	    &((const struct stats_point *)b)->key);
}

static void
stats_point_sum(struct stats_point *to, const struct stats_point *p)
{
	int i;

	to->requests += p->requests;
	to->success += p->success;
	to->tcp_open += p->tcp_open;
	for (i = 0; i < STATS_BUCKETS; i++)
		to->dur[i] += p->dur[i];
}

int
stats_set_add(struct stats_set *set, const struct stats_key *k,
    uint64_t requests, uint64_t success, const uint64_t *dur, int64_t tcp_open)
{
	struct stats_point *p;
	size_t cap;

	if (set->n == set->cap) {
		cap = set->cap == 0 ? 16 : set->cap * 2;
		if ((p = reallocarray(set->p, cap, sizeof(*p))) == NULL)
			return -1;
		set->p = p;
		set->cap = cap;
	}
	p = &set->p[set->n++];
	memset(p, 0, sizeof(*p));
	p->key = *k;
	p->requests = requests;
	p->success = success;
	p->tcp_open = tcp_open;
	if (dur != NULL)
		memcpy(p->dur, dur, sizeof(p->dur));
	return 0;
}

void
stats_set_fold(struct stats_set *set)
{
	size_t i, o;

	if (set->n == 0)
		return;
	qsort(set->p, set->n, sizeof(*set->p), stats_point_cmp);
	for (o = 0, i = 1; i < set->n; i++) {
		if (stats_key_cmp(&set->p[o].key, &set->p[i].key) == 0)
			stats_point_sum(&set->p[o], &set->p[i]);
		else
			set->p[++o] = set->p[i];
	}
	set->n = o + 1;
}

void
stats_set_clear(struct stats_set *set)
{
	free(set->p);
	memset(set, 0, sizeof(*set));
}

struct stats_ring *
stats_ring_new(void)
{
	return calloc(1, sizeof(struct stats_ring));
}

void
stats_ring_free(struct stats_ring *r)
{
	int i;

	if (r == NULL)
		return;
	for (i = 0; i < STATS_SLOTS; i++)
		free(r->s[i].p);
	free(r);
}

static const struct stats_sample *
stats_ring_at(const struct stats_ring *r, int i)
{
	return &r->s[(r->first + i) % STATS_SLOTS];
}

static const struct stats_point *
stats_find(const struct stats_point *p, size_t n, const struct stats_key *k)
{
	size_t lo = 0, hi = n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = stats_key_cmp(k, &p[mid].key)) == 0)
			return &p[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t
stats_ring_bound(const struct stats_ring *r, struct stats_set *cur)
{
	const struct stats_sample *last = NULL;
	struct stats_point ovf[2];
	size_t i, o, admitted = 0, folded = 0;
	int d, have[2] = {0, 0};

	if (r != NULL && r->count > 0)
		last = stats_ring_at(r, r->count - 1);
	/* The keys already known are admitted first, whatever their order. */
	for (i = 0; i < cur->n && last != NULL; i++) {
		if (stats_find(last->p, last->n, &cur->p[i].key) != NULL)
			admitted++;
	}
	memset(ovf, 0, sizeof(ovf));
	for (o = 0, i = 0; i < cur->n; i++) {
		struct stats_point *p = &cur->p[i];

		if (strcmp(p->key.service, "overflow") != 0 &&
		    ((last != NULL && stats_find(last->p, last->n, &p->key)) ||
			admitted < STATS_MAX_KEYS - 2)) {
			if (last == NULL ||
			    stats_find(last->p, last->n, &p->key) == NULL)
				admitted++;
			cur->p[o++] = *p;
			continue;
		}
		d = p->key.direction == METRICS_INBOUND;
		if (!have[d]) {
			ovf[d].key.direction = p->key.direction;
			strcpy(ovf[d].key.service, "overflow");
			strcpy(ovf[d].key.route, "overflow");
			have[d] = 1;
		}
		stats_point_sum(&ovf[d], p);
		folded++;
	}
	for (d = 0; d < 2; d++) {
		if (have[d])
			cur->p[o++] = ovf[d];
	}
	cur->n = o;
	if (folded > 0)
		stats_set_fold(cur);
	return folded;
}

void
stats_ring_push(struct stats_ring *r, double t, struct stats_set *cur)
{
	struct stats_sample *s;

	if (r->count == STATS_SLOTS) {
		free(r->s[r->first].p);
		r->s[r->first].p = NULL;
		r->first = (r->first + 1) % STATS_SLOTS;
		r->count--;
	}
	s = &r->s[(r->first + r->count) % STATS_SLOTS];
	s->t = t;
	s->p = cur->p;
	s->n = cur->n;
	r->count++;
	memset(cur, 0, sizeof(*cur));
}

/* to = now - then, or now when any counter went down (a reset). */
static void
stats_delta(struct stats_point *to, const struct stats_point *now,
    const struct stats_point *then)
{
	int i, reset = 0;

	*to = *now;
	if (then == NULL)
		return;
	if (now->requests < then->requests || now->success < then->success)
		reset = 1;
	for (i = 0; i < STATS_BUCKETS && !reset; i++) {
		if (now->dur[i] < then->dur[i])
			reset = 1;
	}
	if (reset)
		return;
	to->requests -= then->requests;
	to->success -= then->success;
	for (i = 0; i < STATS_BUCKETS; i++)
		to->dur[i] -= then->dur[i];
}

int
stats_ring_window(const struct stats_ring *r, double now, double window,
    const struct stats_set *cur, struct stats_set *out, double *covered)
{
	const struct stats_sample *base = NULL, *s;
	struct stats_point d;
	size_t i;
	int k;

	stats_set_clear(out);
	*covered = 0;
	/* Samples are in time order: the last one old enough wins. */
	for (k = 0; r != NULL && k < r->count; k++) {
		s = stats_ring_at(r, k);
		if (s->t > now)
			break;
		if (base == NULL || now - s->t >= window)
			base = s;
	}
	if (base != NULL)
		*covered = now - base->t;
	for (i = 0; i < cur->n; i++) {
		stats_delta(&d, &cur->p[i],
		    base != NULL ? stats_find(base->p, base->n, &cur->p[i].key)
				 : NULL);
		if (d.requests == 0 && d.tcp_open <= 0)
			continue;
		if (stats_set_add(out, &d.key, d.requests, d.success, d.dur,
			d.tcp_open) == -1)
			return -1;
	}
	return 0;
}

double
stats_quantile(double q, const uint64_t *dur)
{
	uint64_t total = 0, cum = 0;
	double rank, lo;
	int i;

	for (i = 0; i < STATS_BUCKETS; i++)
		total += dur[i];
	if (total == 0 || isnan(q))
		return NAN;
	if (q <= 0)
		return 0;
	if (q >= 1)
		q = 1;
	rank = q * (double)total;
	for (i = 0; i < STATS_BUCKETS; i++) {
		if ((double)(cum + dur[i]) >= rank)
			break;
		cum += dur[i];
	}
	if (i >= METRICS_DUR_BUCKETS)
		return stats_bounds[METRICS_DUR_BUCKETS - 1];
	lo = i == 0 ? 0 : stats_bounds[i - 1];
	if (dur[i] == 0)
		return stats_bounds[i];
	return lo +
	    (stats_bounds[i] - lo) * (rank - (double)cum) / (double)dur[i];
}
