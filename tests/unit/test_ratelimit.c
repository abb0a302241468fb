/*
 * Unit tests for local rate limiting (src/proxy/ratelimit.c): burst then
 * rate in steady state, fractional rates without drift, retry-after,
 * per-source buckets, the LRU cap, method and path matching, rate and
 * burst changes, long idle periods, long keys, and the cost of a take
 * on a warm table. Time is simulated: nothing sleeps.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ratelimit.h"

#define MS(x) (UINT64_C(1000000) * (x))
#define S(x)  (UINT64_C(1000000000) * (x))
/* Not zero, like a real monotonic clock, but small, like one at boot. */
#define T0 S(5)

static struct ratelimit_rule
rule(const char *id, double rate, double burst)
{
	struct ratelimit_rule r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.rate = rate;
	r.burst = burst;
	return r;
}

static int
take(struct ratelimit_table *t, const struct ratelimit_rule *r, const char *key,
    uint64_t now)
{
	return ratelimit_take(
	    t, r, key, key != NULL ? strlen(key) : 0, now, NULL);
}

/* Takes until refused at now; returns how many went. */
static unsigned int
drain(struct ratelimit_table *t, const struct ratelimit_rule *r,
    const char *key, uint64_t now)
{
	unsigned int n = 0;

	while (take(t, r, key, now))
		n++;
	return n;
}

/*
 * Admissions from start to end (inclusive) by a client asking as often
 * as it can, every step ns.
 */
static unsigned long
run(struct ratelimit_table *t, const struct ratelimit_rule *r, const char *key,
    uint64_t start, uint64_t end, uint64_t step)
{
	unsigned long n = 0;
	uint64_t now;

	for (now = start; now <= end; now += step)
		n += drain(t, r, key, now);
	return n;
}

static void
test_steady_state(void **state)
{
	struct ratelimit_table *t = ratelimit_table_new(0);
	struct ratelimit_rule r = rule("default/rl#0", 5, 3);

	/* burst at once, then nothing until a token is back */
	assert_int_equal(drain(t, &r, NULL, T0), 3);
	assert_int_equal(drain(t, &r, NULL, T0 + MS(199)), 0);
	assert_int_equal(drain(t, &r, NULL, T0 + MS(200)), 1);
	/* then rate per second, whatever the polling step */
	assert_int_equal(run(t, &r, NULL, T0 + MS(201), T0 + S(10), MS(1)), 49);
	assert_int_equal(
	    run(t, &r, NULL, T0 + S(10) + 1, T0 + S(20) + MS(100), 997000), 50);
	/* asking once a second gets the burst each time, not more */
	assert_int_equal(run(t, &r, NULL, T0 + S(21), T0 + S(30), S(1)), 30);
	ratelimit_table_free(t);
}

static void
test_fractional(void **state)
{
	struct ratelimit_table *t = ratelimit_table_new(0);
	struct ratelimit_rule half = rule("default/rl#0", 0.5, 1);
	struct ratelimit_rule third = rule("default/rl#1", 3, 3);
	struct ratelimit_rule odd = rule("default/rl#2", 7.3, 2);
	uint64_t retry = 0;

	/* 0.5 per second: one now, then one every 2 s, polled every 10 ms */
	assert_int_equal(drain(t, &half, NULL, T0), 1);
	assert_int_equal(ratelimit_take(t, &half, NULL, 0, T0, &retry), 0);
	assert_int_equal(retry, 2000);
	assert_int_equal(
	    run(t, &half, NULL, T0 + MS(10), T0 + S(100), MS(10)), 50);

	/* 3 per second: the token interval is not a whole ns */
	assert_int_equal(drain(t, &third, NULL, T0), 3);
	assert_int_equal(ratelimit_take(t, &third, NULL, 0, T0, &retry), 0);
	assert_int_equal(retry, 334);
	assert_int_equal(
	    run(t, &third, NULL, T0 + 1, T0 + S(1000) + MS(100), 999983), 3000);

	/*
	 * 7.3 per second over 1000 s polled every ms (a million refills):
	 * burst + R * T, to the request.
	 */
	assert_int_equal(
	    run(t, &odd, NULL, T0, T0 + S(1000) - MS(50), MS(1)), 2 + 7299);
	ratelimit_table_free(t);
}

/* The example of the brief: 10 per second, burst 10. */
static void
test_ten_qps(void **state)
{
	struct ratelimit_table *t = ratelimit_table_new(0);
	struct ratelimit_rule r = rule("default/orders#0", 10, 10);
	uint64_t retry = 0;
	int i;

	for (i = 0; i < 10; i++)
		assert_int_equal(ratelimit_take(t, &r, NULL, 0, T0, &retry), 1);
	assert_int_equal(ratelimit_take(t, &r, NULL, 0, T0, &retry), 0);
	assert_int_equal(retry, 100);
	assert_int_equal(
	    ratelimit_take(t, &r, NULL, 0, T0 + MS(40), &retry), 0);
	assert_int_equal(retry, 60);
	assert_int_equal(take(t, &r, NULL, T0 + MS(100)), 1);
	assert_int_equal(take(t, &r, NULL, T0 + MS(100)), 0);
	/* 1 ns short of a token still waits a whole ms */
	assert_int_equal(
	    ratelimit_take(t, &r, NULL, 0, T0 + MS(200) - 1, &retry), 0);
	assert_int_equal(retry, 1);
	assert_int_equal(take(t, &r, NULL, T0 + MS(200)), 1);
	ratelimit_table_free(t);
}

static void
test_retry_min(void **state)
{
	struct ratelimit_table *t = ratelimit_table_new(0);
	struct ratelimit_rule r = rule("default/fast#0", 1e6, 1);
	uint64_t retry = 0;

	assert_int_equal(take(t, &r, NULL, T0), 1);
	assert_int_equal(ratelimit_take(t, &r, NULL, 0, T0, &retry), 0);
	assert_int_equal(retry, 1);
	assert_int_equal(take(t, &r, NULL, T0 + 1000), 1);
	ratelimit_table_free(t);
}

static void
test_per_source(void **state)
{
	struct ratelimit_table *t = ratelimit_table_new(0);
	struct ratelimit_rule r = rule("default/rl#0", 1, 2);
	struct ratelimit_rule other = rule("default/rl#1", 1, 2);
	struct ratelimit_rule none = rule("default/all#0", 1, 2);
	const char *a = "spiffe://cluster.local/ns/default/sa/a";
	const char *b = "spiffe://cluster.local/ns/default/sa/b";

	r.per = other.per = RATELIMIT_PER_SOURCE;
	assert_int_equal(drain(t, &r, a, T0), 2);
	assert_int_equal(drain(t, &r, b, T0), 2);
	assert_int_equal(drain(t, &r, a, T0), 0);
	/* the same key under another limit is another bucket */
	assert_int_equal(drain(t, &other, a, T0), 2);
	/* no key: one bucket of its own */
	assert_int_equal(drain(t, &r, NULL, T0), 2);
	assert_int_equal(drain(t, &r, "", T0), 0);
	assert_int_equal(ratelimit_table_size(t), 4);
	assert_int_equal(drain(t, &r, b, T0 + S(1)), 1);
	assert_int_equal(drain(t, &r, a, T0 + S(1)), 1);

	/* without "per", a key given anyway does not split the bucket */
	assert_int_equal(drain(t, &none, a, T0), 2);
	assert_int_equal(drain(t, &none, b, T0), 0);
	assert_int_equal(drain(t, &none, NULL, T0), 0);
	assert_int_equal(ratelimit_table_size(t), 5);
	ratelimit_table_free(t);
}

static void
test_lru(void **state)
{
	struct ratelimit_table *t = ratelimit_table_new(3);
	struct ratelimit_rule r = rule("default/rl#0", 1, 1);
	char key[320];
	int i;

	r.per = RATELIMIT_PER_SOURCE;
	assert_int_equal(take(t, &r, "a", T0), 1);
	assert_int_equal(take(t, &r, "b", T0 + 1), 1);
	assert_int_equal(take(t, &r, "c", T0 + 2), 1);
	assert_int_equal(ratelimit_table_size(t), 3);
	/* a is used again (and refused): b is now the oldest */
	assert_int_equal(take(t, &r, "a", T0 + 3), 0);
	assert_int_equal(take(t, &r, "d", T0 + 4), 1);
	assert_int_equal(ratelimit_table_size(t), 3);
	/* a, c and d kept their empty buckets; b starts over, full */
	assert_int_equal(take(t, &r, "a", T0 + 5), 0);
	assert_int_equal(take(t, &r, "c", T0 + 6), 0);
	assert_int_equal(take(t, &r, "d", T0 + 7), 0);
	assert_int_equal(take(t, &r, "b", T0 + 8), 1);
	assert_int_equal(ratelimit_table_size(t), 3);
	/* and a, the oldest now, went for it */
	assert_int_equal(take(t, &r, "a", T0 + 9), 1);

	/* many keys of many sizes through a small table */
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "%0*d", 1 + i % 300, i);
		assert_int_equal(take(t, &r, key, T0 + 10), 1);
		assert_true(ratelimit_table_size(t) <= 3);
	}
	ratelimit_table_free(t);
}

static void
test_match(void **state)
{
	static const char *const get[] = {"GET", NULL};
	static const char *const getpost[] = {"GET", "POST", NULL};
	static const char *const none[] = {NULL};
	static const char *const paths[] = {"/count", "/api/*", "*.png", NULL};
	static const char *const star[] = {"*", NULL};
	static const char *const inner[] = {"/a*b", NULL};
	struct ratelimit_rule r = rule("default/rl#0", 1, 1);

#define M(m, p) ratelimit_match(&r, (m), strlen(m), (p), strlen(p))
	/* no match: every request */
	assert_true(M("GET", "/"));
	assert_true(M("DELETE", "/x"));
	r.methods = none;
	r.paths = none;
	assert_true(M("DELETE", "/x"));

	r.methods = get;
	assert_true(M("GET", "/anything"));
	assert_false(M("get", "/anything"));
	assert_false(M("GETS", "/anything"));
	assert_false(M("GE", "/anything"));
	assert_false(M("POST", "/anything"));
	r.methods = getpost;
	assert_true(M("POST", "/anything"));

	r.methods = get;
	r.paths = paths;
	assert_true(M("GET", "/count"));
	assert_false(M("GET", "/count/"));
	assert_false(M("GET", "/coun"));
	assert_false(M("POST", "/count"));
	assert_true(M("GET", "/api/"));
	assert_true(M("GET", "/api/v1/x"));
	assert_false(M("GET", "/api"));
	assert_true(M("GET", "/img/a.png"));
	assert_true(M("GET", ".png"));
	assert_false(M("GET", "/img/a.png?x"));
	assert_false(M("GET", "png"));

	r.methods = NULL;
	r.paths = star;
	assert_true(M("PUT", "/"));
	assert_true(M("PUT", ""));
	/* a '*' inside is literal */
	r.paths = inner;
	assert_true(M("GET", "/a*b"));
	assert_false(M("GET", "/axb"));
	/* a length bounds the path, which need not end there */
	assert_false(ratelimit_match(&r, "GET", 3, "/a*bc", 3));
	assert_true(ratelimit_match(&r, "GETX", 3, "/a*bc", 4));
#undef M
}

static void
test_rate_change(void **state)
{
	struct ratelimit_table *t = ratelimit_table_new(0);
	struct ratelimit_rule r = rule("default/rl#0", 10, 10);
	struct ratelimit_rule r2;
	uint64_t retry = 0;
	int i;

	for (i = 0; i < 5; i++)
		assert_int_equal(take(t, &r, NULL, T0), 1);
	/* half full stays half full: 10 of 20 */
	r2 = rule("default/rl#0", 20, 20);
	assert_int_equal(drain(t, &r2, NULL, T0), 10);
	assert_int_equal(ratelimit_take(t, &r2, NULL, 0, T0, &retry), 0);
	assert_int_equal(retry, 50);
	assert_int_equal(drain(t, &r2, NULL, T0 + MS(50)), 1);
	/* a full bucket stays full when the burst shrinks */
	assert_int_equal(drain(t, &r2, NULL, T0 + S(10)), 20);
	r2 = rule("default/rl#0", 20, 4);
	assert_int_equal(drain(t, &r2, NULL, T0 + S(20)), 4);
	/* only the rate changes: the level is kept, the refill is new */
	assert_int_equal(take(t, &r2, NULL, T0 + S(30)), 1);
	assert_int_equal(take(t, &r2, NULL, T0 + S(30)), 1);
	r2 = rule("default/rl#0", 1, 4);
	assert_int_equal(drain(t, &r2, NULL, T0 + S(30)), 2);
	assert_int_equal(
	    ratelimit_take(t, &r2, NULL, 0, T0 + S(30), &retry), 0);
	assert_int_equal(retry, 1000);
	assert_int_equal(run(t, &r2, NULL, T0 + S(30), T0 + S(40), MS(1)), 10);
	/* an empty bucket stays empty */
	r2 = rule("default/rl#0", 2, 8);
	assert_int_equal(drain(t, &r2, NULL, T0 + S(40)), 0);
	assert_int_equal(drain(t, &r2, NULL, T0 + S(40) + MS(500)), 1);
	assert_int_equal(ratelimit_table_size(t), 1);
	ratelimit_table_free(t);
}

static void
test_idle(void **state)
{
	struct ratelimit_table *t = ratelimit_table_new(0);
	struct ratelimit_rule r = rule("default/rl#0", 100, 5);
	struct ratelimit_rule slow = rule("default/slow#0", 1e-6, 2);
	uint64_t then = T0 + S(1000000); /* 11 days later */

	assert_int_equal(drain(t, &r, NULL, T0), 5);
	assert_int_equal(drain(t, &r, NULL, then), 5);
	assert_int_equal(drain(t, &r, NULL, then + S(1)), 5);
	/* a clock near its end, or a time going back, do not refill */
	assert_int_equal(drain(t, &r, NULL, UINT64_MAX), 5);
	assert_int_equal(drain(t, &r, NULL, UINT64_MAX), 0);
	assert_int_equal(drain(t, &r, NULL, T0), 0);
	/* a bucket that takes weeks to fill, from boot */
	assert_int_equal(drain(t, &slow, NULL, 0), 2);
	assert_int_equal(drain(t, &slow, NULL, S(999999)), 0);
	assert_int_equal(drain(t, &slow, NULL, S(1000000)), 1);
	ratelimit_table_free(t);
}

static void
test_long_key(void **state)
{
	struct ratelimit_table *t = ratelimit_table_new(0);
	struct ratelimit_rule r = rule("default/rl#0", 1, 1);
	char *k1 = malloc(10241), *k2 = malloc(10241), *id = malloc(4097);
	struct ratelimit_rule longid;
	uint64_t retry = 0;

	assert_non_null(k1);
	assert_non_null(k2);
	assert_non_null(id);
	memset(k1, 'x', 10240);
	k1[10240] = '\0';
	memcpy(k2, k1, 10241);
	k2[10239] = 'y';
	r.per = RATELIMIT_PER_HEADER;
	r.header = "x-user";
	assert_int_equal(take(t, &r, k1, T0), 1);
	assert_int_equal(ratelimit_take(t, &r, k1, 10240, T0, &retry), 0);
	assert_int_equal(retry, 1000);
	/* differing in the last byte only: another bucket */
	assert_int_equal(take(t, &r, k2, T0), 1);
	assert_int_equal(take(t, &r, k2, T0), 0);
	/* keys at and just past the stored length */
	assert_int_equal(ratelimit_take(t, &r, k1, 256, T0, NULL), 1);
	assert_int_equal(ratelimit_take(t, &r, k1, 256, T0, NULL), 0);
	assert_int_equal(ratelimit_take(t, &r, k1, 257, T0, NULL), 1);
	assert_int_equal(ratelimit_take(t, &r, k1, 257, T0, NULL), 0);
	assert_int_equal(ratelimit_table_size(t), 4);
	/* a long id too */
	memset(id, 'n', 4096);
	id[4096] = '\0';
	longid = r;
	longid.id = id;
	assert_int_equal(take(t, &longid, k1, T0), 1);
	assert_int_equal(take(t, &longid, k1, T0), 0);
	assert_int_equal(take(t, &longid, k2, T0), 1);
	assert_int_equal(take(t, &r, k1, T0 + S(1)), 1);
	assert_int_equal(ratelimit_table_size(t), 6);
	free(k1);
	free(k2);
	free(id);
	ratelimit_table_free(t);
}

static uint64_t
clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/*
 * The cost of a take on a warm table: printed, not asserted, as it
 * depends on the machine and on the sanitizers.
 */
static void
test_speed(void **state)
{
	struct ratelimit_table *t = ratelimit_table_new(0);
	struct ratelimit_rule r = rule("default/orders#0", 1000, 1000);
	enum { NKEYS = 4096, NTAKES = 1000000 };
	static char keys[NKEYS][48];
	uint64_t now = T0, start, ns;
	unsigned long ok = 0;
	int i;

	r.per = RATELIMIT_PER_SOURCE;
	for (i = 0; i < NKEYS; i++)
		snprintf(keys[i], sizeof(keys[i]),
		    "spiffe://cluster.local/ns/default/sa/u%d", i);
	for (i = 0; i < NKEYS; i++)
		take(t, &r, keys[i], now);
	assert_int_equal(ratelimit_table_size(t), NKEYS);
	start = clock_ns();
	for (i = 0; i < NTAKES; i++) {
		now += 1000;
		ok += (unsigned long)take(
		    t, &r, keys[((unsigned int)i * 7919) % NKEYS], now);
	}
	ns = clock_ns() - start;
	assert_int_equal(ratelimit_table_size(t), NKEYS);
	assert_true(ok > 0);
	printf("# ratelimit_take: %.1f ns/op (%d takes, %d keys)\n",
	    (double)ns / NTAKES, NTAKES, NKEYS);
	ratelimit_table_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_steady_state),
	    cmocka_unit_test(test_fractional),
	    cmocka_unit_test(test_ten_qps),
	    cmocka_unit_test(test_retry_min),
	    cmocka_unit_test(test_per_source),
	    cmocka_unit_test(test_lru),
	    cmocka_unit_test(test_match),
	    cmocka_unit_test(test_rate_change),
	    cmocka_unit_test(test_idle),
	    cmocka_unit_test(test_long_key),
	    cmocka_unit_test(test_speed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
