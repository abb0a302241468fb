/*
 * Unit tests for the windowed golden metrics (src/lib/stats_window.c):
 * folding series into keys, deltas over a window and its edges,
 * counters that go down (a restart) taken as a reset, the key bound,
 * and quantiles against values worked out by hand the way Prometheus'
 * histogram_quantile() computes them.
 */
#include "config.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stats_window.h"

static struct stats_key
key(int direction, const char *service, const char *route)
{
	struct stats_key k;

	memset(&k, 0, sizeof(k));
	k.direction = (uint8_t)direction;
	snprintf(k.service, sizeof(k.service), "%s", service);
	snprintf(k.route, sizeof(k.route), "%s", route);
	return k;
}

/* A sample: n requests of service svc, s of them successful, all in bucket b. */
static void
add(struct stats_set *set, const char *svc, uint64_t n, uint64_t s, int b)
{
	struct stats_key k = key(METRICS_OUTBOUND, svc, "default");
	uint64_t dur[STATS_BUCKETS] = {0};

	dur[b] = n;
	assert_int_equal(stats_set_add(set, &k, n, s, dur, 0), 0);
}

static const struct stats_point *
find(const struct stats_set *set, const char *svc)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		if (strcmp(set->p[i].key.service, svc) == 0)
			return &set->p[i];
	}
	return NULL;
}

static void
test_fold(void **state)
{
	struct stats_set set = {0};

	add(&set, "b", 3, 3, 1);
	add(&set, "a", 1, 0, 2);
	add(&set, "b", 2, 1, 4);
	stats_set_fold(&set);
	assert_int_equal(set.n, 2);
	assert_string_equal(set.p[0].key.service, "a");
	assert_int_equal(set.p[1].requests, 5);
	assert_int_equal(set.p[1].success, 4);
	assert_int_equal(set.p[1].dur[1], 3);
	assert_int_equal(set.p[1].dur[4], 2);
	stats_set_clear(&set);
	assert_int_equal(set.n, 0);
}

/* Samples at t = 0, 10, 20 and 30 of a counter growing 10 a sample. */
static struct stats_ring *
ring_of_four(void)
{
	struct stats_ring *r = stats_ring_new();
	struct stats_set s = {0};
	int i;

	assert_non_null(r);
	for (i = 0; i < 4; i++) {
		add(&s, "web", 10 * (uint64_t)i, 10 * (uint64_t)i, 3);
		stats_set_fold(&s);
		stats_ring_bound(r, &s);
		stats_ring_push(r, 10.0 * i, &s);
	}
	return r;
}

static void
test_window_delta(void **state)
{
	struct stats_ring *r = ring_of_four();
	struct stats_set cur = {0}, out = {0};
	double covered;

	/* Now t = 35, 50 requests in all. */
	add(&cur, "web", 50, 45, 3);
	stats_set_fold(&cur);
	/* 10 s window: the sample at 20 is the newest one 10 s old. */
	assert_int_equal(stats_ring_window(r, 35, 10, &cur, &out, &covered), 0);
	assert_true(fabs(covered - 15) < 1e-9);
	assert_int_equal(find(&out, "web")->requests, 30);
	assert_int_equal(find(&out, "web")->success, 25);
	assert_int_equal(find(&out, "web")->dur[3], 30);
	/* Exactly on a sample's age: that sample opens the window. */
	assert_int_equal(stats_ring_window(r, 30, 10, &cur, &out, &covered), 0);
	assert_true(fabs(covered - 10) < 1e-9);
	assert_int_equal(find(&out, "web")->requests, 30);
	/* A window longer than the ring: from the oldest sample. */
	assert_int_equal(
	    stats_ring_window(r, 35, 300, &cur, &out, &covered), 0);
	assert_true(fabs(covered - 35) < 1e-9);
	assert_int_equal(find(&out, "web")->requests, 50);
	/* A window shorter than the sampling: the newest sample. */
	assert_int_equal(stats_ring_window(r, 31, 1, &cur, &out, &covered), 0);
	assert_true(fabs(covered - 1) < 1e-9);
	assert_int_equal(find(&out, "web")->requests, 20);
	stats_set_clear(&cur);
	stats_set_clear(&out);
	stats_ring_free(r);
}

static void
test_window_idle_and_new(void **state)
{
	struct stats_ring *r = ring_of_four();
	struct stats_set cur = {0}, out = {0};
	double covered;

	/* No new request of web; a new key cart appears. */
	add(&cur, "web", 30, 30, 3);
	add(&cur, "cart", 7, 7, 0);
	stats_set_fold(&cur);
	assert_int_equal(stats_ring_window(r, 40, 10, &cur, &out, &covered), 0);
	assert_null(find(&out, "web"));
	assert_int_equal(find(&out, "cart")->requests, 7);
	stats_set_clear(&cur);
	stats_set_clear(&out);

	/* An empty ring: everything counted so far, covering nothing. */
	add(&cur, "web", 4, 4, 3);
	assert_int_equal(
	    stats_ring_window(NULL, 40, 10, &cur, &out, &covered), 0);
	assert_true(covered == 0);
	assert_int_equal(find(&out, "web")->requests, 4);
	stats_set_clear(&cur);
	stats_set_clear(&out);
	stats_ring_free(r);
}

static void
test_window_reset(void **state)
{
	struct stats_ring *r = ring_of_four();
	struct stats_set cur = {0}, out = {0};
	double covered;

	/* The counters restarted: 5 now, 20 at the window's start. */
	add(&cur, "web", 5, 5, 3);
	stats_set_fold(&cur);
	assert_int_equal(stats_ring_window(r, 40, 20, &cur, &out, &covered), 0);
	assert_int_equal(find(&out, "web")->requests, 5);
	stats_set_clear(&cur);
	/* Only a bucket went down (requests moved): a reset too. */
	{
		struct stats_key k = key(METRICS_OUTBOUND, "web", "default");
		uint64_t dur[STATS_BUCKETS] = {0};

		dur[2] = 25;
		assert_int_equal(stats_set_add(&cur, &k, 25, 25, dur, 0), 0);
	}
	assert_int_equal(stats_ring_window(r, 40, 20, &cur, &out, &covered), 0);
	assert_int_equal(find(&out, "web")->requests, 25);
	assert_int_equal(find(&out, "web")->dur[2], 25);
	stats_set_clear(&cur);
	stats_set_clear(&out);
	stats_ring_free(r);
}

static void
test_ring_slots(void **state)
{
	struct stats_ring *r = stats_ring_new();
	struct stats_set s = {0}, out = {0};
	double covered;
	int i;

	/* Twice as many samples as slots: the oldest go. */
	for (i = 0; i < 2 * STATS_SLOTS; i++) {
		add(&s, "web", (uint64_t)i, (uint64_t)i, 0);
		stats_ring_push(r, 10.0 * i, &s);
	}
	add(&s, "web", 1000, 1000, 0);
	i = 2 * STATS_SLOTS - 1;
	assert_int_equal(stats_ring_window(
			     r, 10.0 * i, STATS_MAX_WINDOW, &s, &out, &covered),
	    0);
	assert_true(fabs(covered - STATS_MAX_WINDOW) < 1e-9);
	assert_int_equal(find(&out, "web")->requests,
	    1000 - (uint64_t)(i - STATS_MAX_WINDOW / STATS_SAMPLE_S));
	stats_set_clear(&s);
	stats_set_clear(&out);
	stats_ring_free(r);
}

static void
test_bound(void **state)
{
	struct stats_ring *r = stats_ring_new();
	struct stats_set s = {0};
	char name[32];
	size_t folded;
	int i;

	for (i = 0; i < STATS_MAX_KEYS + 100; i++) {
		snprintf(name, sizeof(name), "svc-%04d", i);
		add(&s, name, 1, 1, 0);
	}
	stats_set_fold(&s);
	folded = stats_ring_bound(r, &s);
	assert_int_equal(folded, 102);
	assert_int_equal(s.n, STATS_MAX_KEYS - 1);
	assert_int_equal(find(&s, "overflow")->requests, 102);
	stats_ring_push(r, 0, &s);

	/* A key known to the ring keeps its place before newcomers. */
	add(&s, "aaa-new", 1, 1, 0);
	add(&s, "svc-0500", 2, 2, 0);
	stats_set_fold(&s);
	assert_int_equal(stats_ring_bound(r, &s), 0);
	for (i = 0; i < STATS_MAX_KEYS; i++) {
		snprintf(name, sizeof(name), "svc-%04d", i);
		add(&s, name, 1, 1, 0);
	}
	add(&s, "aaa-new", 1, 1, 0);
	stats_set_fold(&s);
	folded = stats_ring_bound(r, &s);
	assert_non_null(find(&s, "svc-0509"));
	assert_non_null(find(&s, "overflow"));
	stats_set_clear(&s);
	stats_ring_free(r);
}

static void
test_quantile(void **state)
{
	uint64_t dur[STATS_BUCKETS] = {0};

	assert_true(isnan(stats_quantile(0.5, dur)));
	/* 90 in (0.0025, 0.005], 10 in (0.1, 0.25]. */
	dur[3] = 90;
	dur[8] = 10;
	/* rank 50 in bucket 3: 0.0025 + 0.0025 * 50/90 */
	assert_true(fabs(stats_quantile(0.5, dur) -
			(0.0025 + 0.0025 * 50 / 90.0)) < 1e-12);
	/* rank 99: 9 into the 10 of (0.1, 0.25] */
	assert_true(
	    fabs(stats_quantile(0.99, dur) - (0.1 + 0.15 * 9 / 10.0)) < 1e-12);
	/* rank 90 exactly: the top of bucket 3 */
	assert_true(fabs(stats_quantile(0.9, dur) - 0.005) < 1e-12);
	/* The first bucket starts at 0. */
	memset(dur, 0, sizeof(dur));
	dur[0] = 4;
	assert_true(fabs(stats_quantile(0.5, dur) - 0.00025) < 1e-12);
	/* In +Inf: the highest finite bound. */
	memset(dur, 0, sizeof(dur));
	dur[STATS_BUCKETS - 1] = 3;
	assert_true(stats_quantile(0.5, dur) == 60);
	assert_true(stats_quantile(0, dur) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fold),
	    cmocka_unit_test(test_window_delta),
	    cmocka_unit_test(test_window_idle_and_new),
	    cmocka_unit_test(test_window_reset),
	    cmocka_unit_test(test_ring_slots),
	    cmocka_unit_test(test_bound),
	    cmocka_unit_test(test_quantile),
	};

	return cmocka_run_group_tests_name("stats_window", tests, NULL, NULL);
}
