/*
 * Local rate limiting (see ratelimit.h).
 *
 * A bucket does not store its token count. It stores the time at which
 * it was, or will be, empty: the level at any moment is the time since
 * then over the time one token takes (capped at burst), so a level is
 * never summed up from many small refills and rounding cannot pile up
 * over a long run (the "virtual scheduling" form of GCRA). Times are
 * nanoseconds with a 32-bit binary fraction, so that a rate whose token
 * interval is not a whole number of nanoseconds (3 per second, 0.3 per
 * second) does not drift either; rates that divide a second evenly are
 * exact to the nanosecond.
 *
 * Buckets are found by a keyed hash of (rule id, key), chained, and kept
 * on an LRU list; past the cap the least recently used bucket is taken
 * over by the new one, reusing its memory when it is large enough. The
 * hash is keyed (SipHash, random key per table) because keys come from
 * peers (addresses, principals, header values): chains must not be made
 * long on purpose. Ids and keys longer than RL_PART_MAX bytes are held
 * as a keyed 128-bit digest, so a bucket is never larger than a few
 * hundred bytes whatever a client sends.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ratelimit.h"
#include "xmalloc.h"

#define RL_DEFAULT_MAX 10000
#define RL_PART_MAX    256 /* longer ids and keys are held as a digest */
#define RL_DIGEST_LEN  32  /* hex of a 128-bit digest */
#define RL_CAP_MIN     64  /* smallest bucket data; a power of 2 */
#define RL_HEADS_MIN   64  /* chains of a new table; a power of 2 */
#define RL_MIN_RATE    1e-9
#define RL_MAX_RATE    1e9
#define RL_MAX_BURST   1e9
/*
 * Bounds on times and on the time to fill a bucket keep every sum of
 * them inside an int64_t: a bucket that would take longer than 146
 * years to fill is simply capped there.
 */
#define RL_MAX_NS   ((int64_t)1 << 62)
#define RL_FRAC_ONE 4294967296.0 /* 2^32: the unit of rl_fx.frac */

#define RL_ID_DIGEST  0x01
#define RL_KEY_DIGEST 0x02

/* A time or a duration: ns + frac / 2^32 ns. */
struct rl_fx {
	int64_t ns;
	uint32_t frac;
};

struct rl_bucket {
	LIST_ENTRY(rl_bucket) chain;
	TAILQ_ENTRY(rl_bucket) lru;
	uint64_t hash;
	struct rl_fx empty; /* when the level was (or will be) zero */
	struct rl_fx ival;  /* time one token takes */
	struct rl_fx tau;   /* time to fill the bucket from empty */
	double rate;        /* the rule's, when ival and tau were set */
	double burst;
	uint16_t idlen;
	uint16_t keylen;
	uint16_t cap; /* bytes of data */
	uint8_t flags;
	char data[]; /* id then key, no terminators */
};

LIST_HEAD(rl_chain, rl_bucket);
TAILQ_HEAD(rl_lru, rl_bucket);

struct ratelimit_table {
	struct rl_chain *heads;
	size_t mask;       /* number of chains - 1 */
	size_t n;          /* buckets held */
	size_t max;        /* the cap on n */
	struct rl_lru lru; /* most recently used first */
	uint64_t hkey[2];  /* SipHash key of the chains */
	uint64_t dkey[2];  /* SipHash key of long ids and keys */
};

/* An id or a key as it is stored: itself or its digest. */
struct rl_part {
	const char *p;
	size_t len;
};

static inline uint64_t
rl_rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t
rl_le64(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
	    (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

#define RL_SIPROUND                                                            \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = rl_rotl(v1, 13);                                          \
		v1 ^= v0;                                                      \
		v0 = rl_rotl(v0, 32);                                          \
		v2 += v3;                                                      \
		v3 = rl_rotl(v3, 16);                                          \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = rl_rotl(v3, 21);                                          \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = rl_rotl(v1, 17);                                          \
		v1 ^= v2;                                                      \
		v2 = rl_rotl(v2, 32);                                          \
	} while (0)

/*
 * SipHash-2-4 (Aumasson and Bernstein) of data under key k, with a
 * 64-bit result in out[0] or, when wide, the 128-bit variant's in
 * out[0] (first 8 bytes of the reference output, little endian) and
 * out[1].
 */
static void
rl_siphash(const uint64_t k[2], const void *data, size_t len, int wide,
    uint64_t out[2])
{
	const unsigned char *p = data;
	const unsigned char *end = p + (len - len % 8);
	uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ k[0];
	uint64_t v1 = UINT64_C(0x646f72616e646f6d) ^ k[1];
	uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ k[0];
	uint64_t v3 = UINT64_C(0x7465646279746573) ^ k[1];
	uint64_t m, b = (uint64_t)len << 56;
	size_t i;

	if (wide)
		v1 ^= 0xee;
	for (; p != end; p += 8) {
		m = rl_le64(p);
		v3 ^= m;
		RL_SIPROUND;
		RL_SIPROUND;
		v0 ^= m;
	}
	for (i = len % 8; i > 0; i--)
		b |= (uint64_t)p[i - 1] << (8 * (i - 1));
	v3 ^= b;
	RL_SIPROUND;
	RL_SIPROUND;
	v0 ^= b;
	v2 ^= wide ? 0xee : 0xff;
	RL_SIPROUND;
	RL_SIPROUND;
	RL_SIPROUND;
	RL_SIPROUND;
	out[0] = v0 ^ v1 ^ v2 ^ v3;
	if (!wide)
		return;
	v1 ^= 0xdd;
	RL_SIPROUND;
	RL_SIPROUND;
	RL_SIPROUND;
	RL_SIPROUND;
	out[1] = v0 ^ v1 ^ v2 ^ v3;
}

/*
 * s as a bucket holds it: itself when short, else the hex of its keyed
 * digest, written to buf (RL_DIGEST_LEN bytes). The key is secret so
 * that nobody can make two long keys share a bucket. Returns whether
 * it is a digest: that is part of the bucket's identity, so a short
 * key that spells some digest is still a bucket of its own.
 */
static int
rl_part(const struct ratelimit_table *t, const char *s, size_t len, char *buf,
    struct rl_part *out)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t d[2];
	int i, j;

	if (len <= RL_PART_MAX) {
		out->p = s;
		out->len = len;
		return 0;
	}
	rl_siphash(t->dkey, s, len, 1, d);
	for (i = 0; i < 2; i++)
		for (j = 0; j < 16; j++)
			buf[i * 16 + j] = hex[(d[i] >> (60 - 4 * j)) & 0xf];
	out->p = buf;
	out->len = RL_DIGEST_LEN;
	return 1;
}

static struct rl_fx
rl_fx_from(double ns)
{
	struct rl_fx r;

	if (!(ns > 0))
		ns = 0;
	if (ns >= (double)RL_MAX_NS)
		ns = (double)RL_MAX_NS;
	r.ns = (int64_t)ns;
	/* Scaling by 2^32 is exact, so this stays below 2^32. */
	r.frac = (uint32_t)((ns - (double)r.ns) * RL_FRAC_ONE);
	return r;
}

static double
rl_fx_double(struct rl_fx a)
{
	return (double)a.ns + a.frac / RL_FRAC_ONE;
}

static struct rl_fx
rl_fx_add(struct rl_fx a, struct rl_fx b)
{
	uint64_t f = (uint64_t)a.frac + b.frac;

	a.ns += b.ns + (int64_t)(f >> 32);
	a.frac = (uint32_t)f;
	return a;
}

/* now - d, for a duration d. */
static struct rl_fx
rl_fx_before(int64_t now, struct rl_fx d)
{
	struct rl_fx r;

	r.ns = now - d.ns;
	r.frac = 0;
	if (d.frac != 0) {
		r.ns--;
		r.frac = (uint32_t)(UINT64_C(4294967296) - d.frac);
	}
	return r;
}

static int
rl_fx_lt(struct rl_fx a, struct rl_fx b)
{
	return a.ns < b.ns || (a.ns == b.ns && a.frac < b.frac);
}

/* The rule's rate and burst, kept within what the arithmetic allows. */
static void
rl_rule_params(const struct ratelimit_rule *rule, double *rate, double *burst)
{
	*rate = rule->rate;
	if (!(*rate >= RL_MIN_RATE))
		*rate = RL_MIN_RATE;
	else if (*rate > RL_MAX_RATE)
		*rate = RL_MAX_RATE;
	*burst = rule->burst;
	if (!(*burst >= 1))
		*burst = 1;
	else if (*burst > RL_MAX_BURST)
		*burst = RL_MAX_BURST;
}

/*
 * a * m for m >= 0, capped at RL_MAX_NS. The whole part of m multiplies
 * exactly, so that a whole burst is exactly burst token intervals and
 * a full bucket admits every one of them.
 */
static struct rl_fx
rl_fx_mul(struct rl_fx a, double m)
{
	struct rl_fx r;
	uint64_t n = (uint64_t)m, f;

	if (n != 0 && (uint64_t)a.ns > (uint64_t)RL_MAX_NS / n)
		return rl_fx_from((double)RL_MAX_NS);
	/* n is at most RL_MAX_BURST < 2^30: no overflow */
	f = (uint64_t)a.frac * n;
	r.ns = a.ns * (int64_t)n + (int64_t)(f >> 32);
	r.frac = (uint32_t)f;
	r = rl_fx_add(r, rl_fx_from((m - (double)n) * rl_fx_double(a)));
	if (r.ns >= RL_MAX_NS)
		return rl_fx_from((double)RL_MAX_NS);
	return r;
}

static void
rl_bucket_set(struct rl_bucket *b, double rate, double burst)
{
	b->rate = rate;
	b->burst = burst;
	b->ival = rl_fx_from(1e9 / rate);
	b->tau = rl_fx_mul(b->ival, burst);
}

/* Tokens in b at now, between 0 and its burst. */
static double
rl_bucket_level(const struct rl_bucket *b, int64_t now)
{
	double since =
	    (double)(now - b->empty.ns) - b->empty.frac / RL_FRAC_ONE;

	if (!(since > 0))
		return 0;
	if (!rl_fx_lt(rl_fx_before(now, b->tau), b->empty))
		return b->burst;
	return since / rl_fx_double(b->ival);
}

/*
 * A new rate or burst for b: the bucket keeps the fraction of its burst
 * that it holds, so a reload neither refills everyone nor empties them.
 */
static void
rl_bucket_resize(struct rl_bucket *b, double rate, double burst, int64_t now)
{
	double level = rl_bucket_level(b, now), oldburst = b->burst;
	double whole;

	rl_bucket_set(b, rate, burst);
	if (level >= oldburst) {
		b->empty = rl_fx_before(now, b->tau);
		return;
	}
	level = level / oldburst * burst;
	/*
	 * A level meant to be whole (half of 20) must not come out of the
	 * division a hair short, which would cost a request.
	 */
	whole = (double)(uint64_t)(level + 0.5);
	if (level - whole < 1e-9 && whole - level < 1e-9)
		level = whole;
	if (level >= burst)
		b->empty = rl_fx_before(now, b->tau);
	else
		b->empty = rl_fx_before(now, rl_fx_mul(b->ival, level));
}

static uint64_t
rl_hash(const struct ratelimit_table *t, const struct rl_part *id,
    const struct rl_part *key)
{
	char buf[2 * RL_PART_MAX];
	uint64_t h[2];

	/*
	 * One pass over both: the lengths are compared on lookup, so the
	 * missing separator only costs a collision between rules whose ids
	 * prefix one another, which the keyed hash makes rare anyway.
	 */
	memcpy(buf, id->p, id->len);
	memcpy(buf + id->len, key->p, key->len);
	rl_siphash(t->hkey, buf, id->len + key->len, 0, h);
	return h[0];
}

static struct rl_bucket *
rl_lookup(const struct ratelimit_table *t, uint64_t h, const struct rl_part *id,
    const struct rl_part *key, uint8_t flags)
{
	struct rl_bucket *b;

	LIST_FOREACH (b, &t->heads[h & t->mask], chain) {
		if (b->hash == h && b->flags == flags && b->idlen == id->len &&
		    b->keylen == key->len &&
		    memcmp(b->data, id->p, id->len) == 0 &&
		    memcmp(b->data + id->len, key->p, key->len) == 0)
			return b;
	}
	return NULL;
}

/*
 * Doubles the chains while the table fills, up to one per bucket of the
 * cap. Runs only while the table warms up; out of memory, the chains
 * just get longer.
 */
static void
rl_grow(struct ratelimit_table *t)
{
	struct rl_chain *heads;
	struct rl_bucket *b;
	size_t i, nheads = (t->mask + 1) * 2;

	if (t->n < t->mask + 1 || t->mask + 1 >= t->max)
		return;
	if ((heads = calloc(nheads, sizeof(*heads))) == NULL)
		return;
	for (i = 0; i < nheads; i++)
		LIST_INIT(&heads[i]);
	TAILQ_FOREACH (b, &t->lru, lru)
		LIST_INSERT_HEAD(&heads[b->hash & (nheads - 1)], b, chain);
	free(t->heads);
	t->heads = heads;
	t->mask = nheads - 1;
}

static void
rl_unlink(struct ratelimit_table *t, struct rl_bucket *b)
{
	LIST_REMOVE(b, chain);
	TAILQ_REMOVE(&t->lru, b, lru);
	t->n--;
}

/*
 * Memory for a bucket with need bytes of data: a new one while under
 * the cap, else (or when malloc fails) the least recently used one,
 * whose memory is reused when large enough. Sizes are rounded up to
 * powers of 2 so that reuse is the rule once the table is warm.
 */
static struct rl_bucket *
rl_bucket_get(struct ratelimit_table *t, size_t need)
{
	struct rl_bucket *b;
	size_t cap = RL_CAP_MIN;

	while (cap < need)
		cap *= 2;
	if (t->n < t->max) {
		rl_grow(t);
		if ((b = malloc(sizeof(*b) + cap)) != NULL) {
			b->cap = (uint16_t)cap;
			return b;
		}
	}
	if ((b = TAILQ_LAST(&t->lru, rl_lru)) == NULL)
		return NULL;
	rl_unlink(t, b);
	if (b->cap >= cap)
		return b;
	free(b);
	if ((b = malloc(sizeof(*b) + cap)) == NULL)
		return NULL;
	b->cap = (uint16_t)cap;
	return b;
}

struct ratelimit_table *
ratelimit_table_new(size_t max_buckets)
{
	struct ratelimit_table *t = xcalloc(1, sizeof(*t));
	struct timespec ts;
	uint64_t seed[4];
	size_t i, nheads = RL_HEADS_MIN;

	t->max = max_buckets != 0 ? max_buckets : RL_DEFAULT_MAX;
	while (nheads / 2 >= t->max)
		nheads /= 2;
	t->heads = xcalloc(nheads, sizeof(*t->heads));
	for (i = 0; i < nheads; i++)
		LIST_INIT(&t->heads[i]);
	t->mask = nheads - 1;
	TAILQ_INIT(&t->lru);
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		/*
		 * Without the kernel's randomness the limiter still works;
		 * only peers able to guess this could lengthen chains.
		 */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed[0] = (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)t;
		seed[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
		seed[2] = ~seed[0];
		seed[3] = ~seed[1] ^ UINT64_C(0x9e3779b97f4a7c15);
	}
	t->hkey[0] = seed[0];
	t->hkey[1] = seed[1];
	t->dkey[0] = seed[2];
	t->dkey[1] = seed[3];
	return t;
}

void
ratelimit_table_free(struct ratelimit_table *t)
{
	struct rl_bucket *b;

	if (t == NULL)
		return;
	while ((b = TAILQ_FIRST(&t->lru)) != NULL) {
		TAILQ_REMOVE(&t->lru, b, lru);
		free(b);
	}
	free(t->heads);
	free(t);
}

size_t
ratelimit_table_size(const struct ratelimit_table *t)
{
	return t->n;
}

/*
 * Istio's convention for paths, as in authz.c: "*" anything, a leading
 * '*' a suffix, a trailing '*' a prefix, a '*' elsewhere literal.
 */
static int
rl_path_match(const char *pat, const char *path, size_t len)
{
	size_t plen = strlen(pat);

	if (plen == 1 && pat[0] == '*')
		return 1;
	if (plen > 0 && pat[0] == '*')
		return len >= plen - 1 &&
		    memcmp(path + len - (plen - 1), pat + 1, plen - 1) == 0;
	if (plen > 0 && pat[plen - 1] == '*')
		return len >= plen - 1 && memcmp(path, pat, plen - 1) == 0;
	return len == plen && memcmp(path, pat, len) == 0;
}

int
ratelimit_match(const struct ratelimit_rule *rule, const char *method,
    size_t method_len, const char *path, size_t path_len)
{
	const char *const *p;
	int ok;

	if (method == NULL) {
		method = "";
		method_len = 0;
	}
	if (path == NULL) {
		path = "";
		path_len = 0;
	}
	/* An empty list narrows nothing, like an absent one. */
	if (rule->methods != NULL && rule->methods[0] != NULL) {
		ok = 0;
		for (p = rule->methods; *p != NULL && !ok; p++)
			ok = strlen(*p) == method_len &&
			    memcmp(*p, method, method_len) == 0;
		if (!ok)
			return 0;
	}
	if (rule->paths != NULL && rule->paths[0] != NULL) {
		ok = 0;
		for (p = rule->paths; *p != NULL && !ok; p++)
			ok = rl_path_match(*p, path, path_len);
		if (!ok)
			return 0;
	}
	return 1;
}

int
ratelimit_take(struct ratelimit_table *t, const struct ratelimit_rule *rule,
    const char *key, size_t key_len, uint64_t now_ns, uint64_t *retry_after_ms)
{
	struct rl_bucket *b;
	struct rl_part id, k;
	struct rl_fx e, next;
	char idbuf[RL_DIGEST_LEN], keybuf[RL_DIGEST_LEN];
	double rate, burst;
	uint64_t h, wait;
	int64_t now;
	uint8_t flags = 0;

	now = now_ns > (uint64_t)RL_MAX_NS ? RL_MAX_NS : (int64_t)now_ns;
	/* A limit without "per" has one bucket, whatever the caller has. */
	if (key == NULL || rule->per == RATELIMIT_PER_NONE) {
		key = "";
		key_len = 0;
	}
	if (rl_part(t, rule->id, strlen(rule->id), idbuf, &id))
		flags |= RL_ID_DIGEST;
	if (rl_part(t, key, key_len, keybuf, &k))
		flags |= RL_KEY_DIGEST;
	h = rl_hash(t, &id, &k);
	rl_rule_params(rule, &rate, &burst);

	if ((b = rl_lookup(t, h, &id, &k, flags)) != NULL) {
		if (b != TAILQ_FIRST(&t->lru)) {
			TAILQ_REMOVE(&t->lru, b, lru);
			TAILQ_INSERT_HEAD(&t->lru, b, lru);
		}
		if (b->rate != rate || b->burst != burst)
			rl_bucket_resize(b, rate, burst, now);
	} else {
		/*
		 * No memory at all for a bucket: let the request go. A
		 * limiter that refused everyone here would turn a memory
		 * shortage into an outage.
		 */
		if ((b = rl_bucket_get(t, id.len + k.len)) == NULL)
			return 1;
		b->hash = h;
		b->flags = flags;
		b->idlen = (uint16_t)id.len;
		b->keylen = (uint16_t)k.len;
		memcpy(b->data, id.p, id.len);
		memcpy(b->data + id.len, k.p, k.len);
		rl_bucket_set(b, rate, burst);
		b->empty = rl_fx_before(now, b->tau); /* a new bucket is full */
		LIST_INSERT_HEAD(&t->heads[h & t->mask], b, chain);
		TAILQ_INSERT_HEAD(&t->lru, b, lru);
		t->n++;
	}

	/* A bucket idle for long is full, not fuller. */
	e = rl_fx_before(now, b->tau);
	if (rl_fx_lt(e, b->empty))
		e = b->empty;
	next = rl_fx_add(e, b->ival);
	if (next.ns < now || (next.ns == now && next.frac == 0)) {
		b->empty = next;
		return 1;
	}
	if (retry_after_ms != NULL) {
		/* Rounded up: a client back on time finds its token. */
		wait = (uint64_t)(next.ns - now) + (next.frac != 0);
		*retry_after_ms = (wait + 999999) / 1000000;
	}
	return 0;
}
