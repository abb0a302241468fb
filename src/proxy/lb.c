/*
 * Load balancing and outlier detection (see lb.h): the per-worker state
 * of a snapshot's clusters, and the choice of an endpoint.
 */
#include "config.h"

#include <sys/types.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "snapshot_build.h"
#include "xmalloc.h"

#define LB_MAX_EJECTION_MS 300000 /* Envoy's max_ejection_time default */
#define LB_TIER_ANY        3

struct lb_ep {
	int64_t cur; /* smooth weighted round robin */
	uint32_t inflight;
	uint32_t c5xx;          /* consecutive 5xx */
	uint32_t cgw;           /* consecutive gateway errors */
	uint32_t backoff;       /* the ejection time multiplier */
	uint64_t ejected_until; /* 0: in service */
	uint64_t readmitted;    /* when last back in service; 0: never */
};

struct lb_cl {
	const struct snap_cluster *c;
	struct lb_ep *eps;   /* parallel to c->endpoints */
	uint8_t *tier;       /* locality tier per endpoint */
	uint64_t weight;     /* total weight */
	uint32_t rr;         /* round-robin cursor */
	uint32_t nejected;   /* ejected, expired ones not yet readmitted */
	uint32_t nunhealthy; /* unhealthy in the DB */
	unsigned int tier_gen;
	int one_tier; /* every endpoint in the same tier */
	int equal_weights;
	uint32_t inflight; /* requests in flight to the whole cluster */
};

struct lb_state {
	const struct snapshot *s;
	struct lb_cl *cls;
	size_t ncls;
	struct lb_ep *eps;
	uint8_t *tiers;
	char *locality;
	unsigned int tier_gen;
};

uint64_t
lb_hash(const void *data, size_t len)
{
	return snap_hash(data, len);
}

struct lb_state *
lb_state_new(const struct snapshot *s)
{
	struct lb_state *st = xcalloc(1, sizeof(*st));
	size_t i, j, total = 0, off = 0;

	st->s = s;
	st->ncls = snapshot_nclusters(s);
	st->cls = xcalloc(st->ncls + 1, sizeof(*st->cls));
	for (i = 0; i < st->ncls; i++)
		total += snapshot_cluster(s, i)->nendpoints;
	st->eps = xcalloc(total + 1, sizeof(*st->eps));
	st->tiers = xcalloc(total + 1, 1);
	st->locality = xstrdup("");
	st->tier_gen = 1;
	for (i = 0; i < st->ncls; i++) {
		struct lb_cl *cl = &st->cls[i];
		const struct snap_cluster *c = snapshot_cluster(s, i);

		cl->c = c;
		cl->eps = st->eps + off;
		cl->tier = st->tiers + off;
		off += c->nendpoints;
		cl->equal_weights = 1;
		for (j = 0; j < c->nendpoints; j++) {
			cl->weight += c->endpoints[j]->weight;
			if (!c->endpoints[j]->healthy)
				cl->nunhealthy++;
			if (c->endpoints[j]->weight != c->endpoints[0]->weight)
				cl->equal_weights = 0;
		}
	}
	return st;
}

void
lb_state_free(struct lb_state *st)
{
	if (st == NULL)
		return;
	free(st->cls);
	free(st->eps);
	free(st->tiers);
	free(st->locality);
	free(st);
}

static struct lb_cl *
lb_cl(const struct lb_state *st, const struct snap_cluster *c)
{
	if (st == NULL || c == NULL || c->id >= st->ncls ||
	    st->cls[c->id].c != c)
		return NULL;
	return &st->cls[c->id];
}

/* The index of ep in c->endpoints (sorted by id), or -1. */
static ssize_t
lb_index(const struct snap_cluster *c, const struct snap_endpoint *ep)
{
	size_t lo = 0, hi = c->nendpoints, mid;

	if (ep == NULL)
		return -1;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c->endpoints[mid]->id < ep->id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nendpoints && c->endpoints[lo] == ep ? (ssize_t)lo : -1;
}

/* -- locality -- */

/* The length of the next "/"-separated part of s. */
static size_t
lb_part(const char *s)
{
	return strcspn(s, "/");
}

/*
 * How far an endpoint's locality is from the caller's: 0 same subzone,
 * 1 same zone, 2 same region, 3 elsewhere or unknown.
 */
static uint8_t
lb_tier_of(const char *mine, const char *theirs)
{
	size_t a, b;
	int level;

	if (*mine == '\0' || *theirs == '\0')
		return LB_TIER_ANY;
	for (level = 0; level < 3; level++) {
		a = lb_part(mine);
		b = lb_part(theirs);
		if (a != b || memcmp(mine, theirs, a) != 0)
			return (uint8_t)(LB_TIER_ANY - level);
		mine += a + (mine[a] == '/');
		theirs += b + (theirs[b] == '/');
	}
	return 0;
}

static void
lb_tiers(struct lb_state *st, struct lb_cl *cl)
{
	const struct snap_cluster *c = cl->c;
	size_t i;

	if (cl->tier_gen == st->tier_gen)
		return;
	cl->one_tier = 1;
	for (i = 0; i < c->nendpoints; i++) {
		cl->tier[i] =
		    lb_tier_of(st->locality, c->endpoints[i]->locality);
		if (cl->tier[i] != cl->tier[0])
			cl->one_tier = 0;
	}
	cl->tier_gen = st->tier_gen;
}

static void
lb_set_locality(struct lb_state *st, const char *locality)
{
	if (locality == NULL)
		locality = "";
	if (strcmp(st->locality, locality) == 0)
		return;
	free(st->locality);
	st->locality = xstrdup(locality);
	st->tier_gen++;
}

/* -- outlier state -- */

static void
lb_readmit(struct lb_cl *cl, struct lb_ep *x, uint64_t now)
{
	x->ejected_until = 0;
	x->readmitted = now;
	x->c5xx = x->cgw = 0;
	if (cl->nejected > 0)
		cl->nejected--;
}

/* Whether endpoint i is available at now; readmits an expired ejection. */
static int
lb_avail(struct lb_cl *cl, size_t i, uint64_t now)
{
	struct lb_ep *x = &cl->eps[i];

	if (!cl->c->endpoints[i]->healthy)
		return 0;
	if (x->ejected_until != 0) {
		if (now < x->ejected_until)
			return 0;
		lb_readmit(cl, x, now);
	}
	return 1;
}

static void
lb_eject(struct lb_cl *cl, size_t i, uint64_t now)
{
	const struct snap_policy *p = &cl->c->policy;
	struct lb_ep *x = &cl->eps[i];
	uint64_t base = (uint64_t)p->outlier_base_ejection_ms, max, dec, ms;
	size_t j;

	if (x->ejected_until != 0)
		return;
	/* Count only what is ejected now. */
	for (j = 0; j < cl->c->nendpoints && cl->nejected > 0; j++) {
		if (cl->eps[j].ejected_until != 0 &&
		    now >= cl->eps[j].ejected_until)
			lb_readmit(cl, &cl->eps[j], now);
	}
	if (100 * ((uint64_t)cl->nejected + 1) >
	    (uint64_t)p->outlier_max_ejection_pct * cl->c->nendpoints) {
		/*
		 * Refused by maxEjectionPercent: the count starts again, as
		 * Envoy's does, so a later threshold can still eject.
		 */
		x->c5xx = x->cgw = 0;
		return;
	}
	if (x->readmitted != 0 && p->outlier_interval_ms > 0) {
		dec = (now - x->readmitted) / (uint64_t)p->outlier_interval_ms;
		x->backoff = dec >= x->backoff ? 0 : x->backoff - (uint32_t)dec;
	}
	max = base > LB_MAX_EJECTION_MS ? base : LB_MAX_EJECTION_MS;
	if (base * x->backoff < max)
		x->backoff++;
	ms = base * x->backoff;
	if (ms > max)
		ms = max;
	x->ejected_until = now + ms > 0 ? now + ms : 1;
	x->c5xx = x->cgw = 0;
	cl->nejected++;
}

void
lb_report(struct lb_state *st, const struct snap_cluster *c,
    const struct snap_endpoint *ep, int status, uint64_t now_ms)
{
	struct lb_cl *cl = lb_cl(st, c);
	const struct snap_policy *p;
	struct lb_ep *x;
	ssize_t i;

	if (cl == NULL || (i = lb_index(c, ep)) == -1)
		return;
	p = &c->policy;
	if (p->outlier_consecutive_5xx == 0 &&
	    p->outlier_consecutive_gateway == 0)
		return;
	x = &cl->eps[i];
	if (x->ejected_until != 0) {
		if (now_ms < x->ejected_until)
			return; /* a request that started before */
		lb_readmit(cl, x, now_ms);
	}
	if (status == LB_FAIL_CONNECT || status == LB_FAIL_RESET)
		status = 503;
	else if (status == LB_FAIL_TIMEOUT)
		status = 504;
	if (status < 500 || status > 599) {
		x->c5xx = x->cgw = 0;
		return;
	}
	/* Envoy ejects when a count reaches the threshold, not past it. */
	if (status >= 502 && status <= 504) {
		if (++x->cgw == (uint32_t)p->outlier_consecutive_gateway)
			lb_eject(cl, (size_t)i, now_ms);
	} else
		x->cgw = 0;
	if (++x->c5xx == (uint32_t)p->outlier_consecutive_5xx)
		lb_eject(cl, (size_t)i, now_ms);
}

int
lb_ejected(struct lb_state *st, const struct snap_cluster *c,
    const struct snap_endpoint *ep, uint64_t now_ms)
{
	struct lb_cl *cl = lb_cl(st, c);
	ssize_t i;

	if (cl == NULL || (i = lb_index(c, ep)) == -1)
		return 0;
	return cl->eps[i].ejected_until != 0 &&
	    now_ms < cl->eps[i].ejected_until;
}

void
lb_start(struct lb_state *st, const struct snap_cluster *c,
    const struct snap_endpoint *ep)
{
	struct lb_cl *cl = lb_cl(st, c);
	ssize_t i;

	if (cl != NULL && (i = lb_index(c, ep)) != -1) {
		cl->eps[i].inflight++;
		cl->inflight++;
	}
}

void
lb_done(struct lb_state *st, const struct snap_cluster *c,
    const struct snap_endpoint *ep)
{
	struct lb_cl *cl = lb_cl(st, c);
	ssize_t i;

	if (cl != NULL && (i = lb_index(c, ep)) != -1 &&
	    cl->eps[i].inflight > 0) {
		cl->eps[i].inflight--;
		cl->inflight--;
	}
}

unsigned int
lb_cluster_inflight(const struct lb_state *st, const struct snap_cluster *c)
{
	struct lb_cl *cl = lb_cl(st, c);

	return cl != NULL ? cl->inflight : 0;
}

unsigned int
lb_inflight(const struct lb_state *st, const struct snap_cluster *c,
    const struct snap_endpoint *ep)
{
	struct lb_cl *cl = lb_cl(st, c);
	ssize_t i;

	if (cl == NULL || (i = lb_index(c, ep)) == -1)
		return 0;
	return cl->eps[i].inflight;
}

/* -- picking -- */

struct lb_pick {
	struct lb_cl *cl;
	uint64_t now;
	int all;  /* every endpoint is a candidate */
	int tier; /* -1: any */
	const struct snap_endpoint *avoid;
};

static int
lb_cand(const struct lb_pick *p, size_t i)
{
	if (p->all)
		return 1;
	if (!lb_avail(p->cl, i, p->now))
		return 0;
	if (p->tier >= 0 && p->cl->tier[i] != p->tier)
		return 0;
	return p->cl->c->endpoints[i] != p->avoid;
}

/* The k-th candidate (from 0). */
static size_t
lb_nth(const struct lb_pick *p, size_t k)
{
	size_t i;

	if (p->all)
		return k;
	for (i = 0; i < p->cl->c->nendpoints; i++) {
		if (lb_cand(p, i) && k-- == 0)
			return i;
	}
	return 0; /* not reached: k is below the count */
}

static size_t
lb_round_robin(struct lb_pick *p, uint64_t total)
{
	struct lb_cl *cl = p->cl;
	size_t n = cl->c->nendpoints, i, k, best = n;

	if (cl->equal_weights) {
		for (k = 0; k < n; k++) {
			i = (cl->rr + k) % n;
			if (lb_cand(p, i)) {
				cl->rr = (uint32_t)((i + 1) % n);
				return i;
			}
		}
		return n;
	}
	/* Smooth weighted round robin (nginx's): interleaved, exact. */
	for (i = 0; i < n; i++) {
		if (!lb_cand(p, i))
			continue;
		cl->eps[i].cur += cl->c->endpoints[i]->weight;
		if (best == n || cl->eps[i].cur > cl->eps[best].cur)
			best = i;
	}
	if (best < n)
		cl->eps[best].cur -= (int64_t)total;
	return best;
}

static size_t
lb_random(struct lb_pick *p, uint64_t r64, size_t m, uint64_t total)
{
	const struct snap_cluster *c = p->cl->c;
	uint64_t x;
	size_t i;

	if (p->cl->equal_weights)
		return lb_nth(p, (size_t)(r64 % m));
	x = r64 % total;
	for (i = 0; i < c->nendpoints; i++) {
		if (!lb_cand(p, i))
			continue;
		if (x < c->endpoints[i]->weight)
			return i;
		x -= c->endpoints[i]->weight;
	}
	return c->nendpoints;
}

static size_t
lb_least_request(struct lb_pick *p, uint64_t r64, size_t m)
{
	const struct snap_cluster *c = p->cl->c;
	size_t k1, k2, a, b;
	uint64_t la, lb;

	k1 = (size_t)((r64 & 0xffffffff) % m);
	if (m == 1)
		return lb_nth(p, k1);
	k2 = (k1 + 1 + (size_t)((r64 >> 32) % (m - 1))) % m;
	a = lb_nth(p, k1);
	b = lb_nth(p, k2);
	/* Fewer in flight per unit of weight wins; a on a tie. */
	la = (uint64_t)p->cl->eps[a].inflight * c->endpoints[b]->weight;
	lb = (uint64_t)p->cl->eps[b].inflight * c->endpoints[a]->weight;
	return lb < la ? b : a;
}

static size_t
lb_ring(struct lb_pick *p, uint64_t h)
{
	const struct snap_cluster *c = p->cl->c;
	size_t lo = 0, hi = c->nring, mid, j, i;

	if (c->nring == 0)
		return c->nendpoints;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c->ring[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (j = 0; j < c->nring; j++) {
		i = c->ring[(lo + j) % c->nring].index;
		if (lb_cand(p, i))
			return i;
	}
	return c->nendpoints;
}

const struct snap_endpoint *
lb_pick(
    struct lb_state *st, const struct snap_cluster *c, const struct lb_args *a)
{
	struct lb_cl *cl = lb_cl(st, c);
	struct lb_pick p;
	uint64_t total = 0;
	size_t i, n, m = 0, pick;
	int best;

	if (cl == NULL || c->nendpoints == 0)
		return NULL;
	n = c->nendpoints;
	memset(&p, 0, sizeof(p));
	p.cl = cl;
	p.now = a->now_ms;
	p.tier = -1;
	p.avoid = a->avoid;
	if (c->policy.locality_lb) {
		lb_set_locality(st, a->locality);
		lb_tiers(st, cl);
	}
	if (p.avoid == NULL && cl->nejected == 0 && cl->nunhealthy == 0 &&
	    (!c->policy.locality_lb || cl->one_tier)) {
		p.all = 1;
		m = n;
		total = cl->weight;
	} else {
		if (c->policy.locality_lb) {
			best = LB_TIER_ANY + 1;
			for (i = 0; i < n; i++) {
				if (cl->tier[i] < best &&
				    lb_avail(cl, i, p.now))
					best = cl->tier[i];
			}
			if (best > LB_TIER_ANY)
				return NULL;
			p.tier = best;
		}
		for (i = 0; i < n; i++) {
			if (lb_cand(&p, i)) {
				m++;
				total += c->endpoints[i]->weight;
			}
		}
		if (m == 0 && p.avoid != NULL) {
			/* Only the endpoint tried already is left. */
			p.avoid = NULL;
			for (i = 0; i < n; i++) {
				if (lb_cand(&p, i)) {
					m++;
					total += c->endpoints[i]->weight;
				}
			}
		}
		if (m == 0)
			return NULL;
	}
	switch (c->policy.lb) {
	case SNAP_LB_ROUND_ROBIN:
		pick = lb_round_robin(&p, total);
		break;
	case SNAP_LB_RANDOM:
		pick = lb_random(&p, a->r64, m, total);
		break;
	case SNAP_LB_HASH_HEADER:
	case SNAP_LB_HASH_SOURCE_IP:
		pick = a->hash != NULL ? lb_ring(&p, *a->hash)
				       : lb_random(&p, a->r64, m, total);
		break;
	case SNAP_LB_LEAST_REQUEST:
	default:
		pick = lb_least_request(&p, a->r64, m);
		break;
	}
	return pick < n ? c->endpoints[pick] : NULL;
}

/* -- carrying outlier state across snapshots -- */

struct lb_key {
	const char *name; /* cluster name, or NULL for an endpoint */
	const struct sockaddr_storage *addr;
	size_t index;
};

static int
lb_addr_cmp(const struct sockaddr_storage *x, const struct sockaddr_storage *y)
{
	if (x->ss_family != y->ss_family)
		return x->ss_family < y->ss_family ? -1 : 1;
	if (x->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)x;
		const struct sockaddr_in *b = (const struct sockaddr_in *)y;
		int r = memcmp(&a->sin_addr, &b->sin_addr, sizeof(a->sin_addr));

		return r != 0 ? r : memcmp(&a->sin_port, &b->sin_port, 2);
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)x;
		const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)y;
		int r =
		    memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr));

		return r != 0 ? r : memcmp(&a->sin6_port, &b->sin6_port, 2);
	}
}

static int
lb_key_cmp(const void *pa, const void *pb)
{
	const struct lb_key *a = pa, *b = pb;

	if (a->name != NULL)
		return strcmp(a->name, b->name);
	return lb_addr_cmp(a->addr, b->addr);
}

void
lb_state_inherit(struct lb_state *st, const struct lb_state *old)
{
	struct lb_key *names, *addrs, key, *f, *g;
	size_t i, j, naddrs;

	if (st == NULL || old == NULL || old->ncls == 0)
		return;
	memset(&key, 0, sizeof(key));
	names = xcalloc(old->ncls, sizeof(*names));
	for (i = 0; i < old->ncls; i++) {
		names[i].name = old->cls[i].c->name;
		names[i].index = i;
	}
	qsort(names, old->ncls, sizeof(*names), lb_key_cmp);
	for (i = 0; i < st->ncls; i++) {
		struct lb_cl *cl = &st->cls[i];
		const struct lb_cl *ocl;

		key.name = cl->c->name;
		if ((f = bsearch(&key, names, old->ncls, sizeof(*names),
			 lb_key_cmp)) == NULL)
			continue;
		ocl = &old->cls[f->index];
		naddrs = ocl->c->nendpoints;
		if (naddrs == 0 || cl->c->nendpoints == 0)
			continue;
		addrs = xcalloc(naddrs, sizeof(*addrs));
		for (j = 0; j < naddrs; j++) {
			addrs[j].addr = &ocl->c->endpoints[j]->addr;
			addrs[j].index = j;
		}
		qsort(addrs, naddrs, sizeof(*addrs), lb_key_cmp);
		for (j = 0; j < cl->c->nendpoints; j++) {
			const struct lb_ep *o;
			struct lb_ep *x = &cl->eps[j];

			key.name = NULL;
			key.addr = &cl->c->endpoints[j]->addr;
			if ((g = bsearch(&key, addrs, naddrs, sizeof(*addrs),
				 lb_key_cmp)) == NULL)
				continue;
			o = &ocl->eps[g->index];
			x->c5xx = o->c5xx;
			x->cgw = o->cgw;
			x->backoff = o->backoff;
			x->readmitted = o->readmitted;
			x->ejected_until = o->ejected_until;
			if (x->ejected_until != 0)
				cl->nejected++;
		}
		free(addrs);
	}
	free(names);
}
