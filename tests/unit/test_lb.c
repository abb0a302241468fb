/*
 * Unit tests for load balancing and outlier detection (src/proxy/lb.c):
 * round robin (plain and weighted), random spread, consistent-hash
 * stickiness, least-request preference, unhealthy endpoints, ejection
 * and readmission timing, the maximum ejection percentage, locality
 * preference and failover, retries avoiding an endpoint, and outlier
 * state carried across snapshots.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lb.h"
#include "policy_fixture.h"
#include "snapshot.h"

struct ep_def {
	int weight;
	const char *locality;
	int healthy;
};

/*
 * A service <name> (id) with one endpoint per def on 10.<id>.0.<i + 1>:80
 * and a DestinationRule of traffic policy tp (or none).
 */
static void
add_service(sqlite3 *db, int id, const char *name, const struct ep_def *eps,
    size_t n, const char *tp)
{
	size_t i;

	fx_execf(db,
	    "INSERT INTO services (id, namespace, name, selector) VALUES"
	    " (%d, 'lb', '%s', json_object('app', '%s'));"
	    "INSERT INTO service_hosts VALUES (%d, '%s');"
	    "INSERT INTO service_ports (service_id, number, name) VALUES"
	    " (%d, 80, 'http');",
	    id, name, name, id, name, id);
	for (i = 0; i < n; i++) {
		fx_execf(db,
		    "INSERT INTO workloads (namespace, name, source, address,"
		    " labels, locality, weight, healthy) VALUES ('lb',"
		    " '%s-%zu', 'WorkloadEntry', '10.%d.0.%zu',"
		    " json_object('app', '%s'), '%s', %d, %d);",
		    name, i, id, i + 1, name,
		    eps[i].locality != NULL ? eps[i].locality : "",
		    eps[i].weight > 0 ? eps[i].weight : 1, !eps[i].healthy);
	}
	if (tp != NULL)
		fx_execf(db,
		    "INSERT INTO destination_rules (id, namespace, name, host,"
		    " traffic_policy) VALUES (%d, 'lb', '%s', '%s', '%s');",
		    id, name, name, tp);
}

/* healthy is stored inverted above so that {0} means healthy. */
#define UNHEALTHY 1

static const struct ep_def three[3] = {{0}, {0}, {0}};
static const struct ep_def four[4] = {{0}, {0}, {0}, {0}};
static const struct ep_def five[5] = {{0}, {0}, {0}, {0}, {0}};
static const struct ep_def weighted[2] = {{3, NULL, 0}, {1, NULL, 0}};
static const struct ep_def unhealthy[3] = {{0}, {0, NULL, UNHEALTHY}, {0}};
static const struct ep_def localities[4] = {{1, "r1/z1/s1", 0},
    {1, "r1/z1/s2", 0}, {1, "r1/z2/s1", 0}, {1, "r2/z1/s1", 0}};
static const struct ep_def one[1] = {{0}};

static sqlite3 *
lb_db(void)
{
	sqlite3 *db = fx_db_new();

	add_service(db, 1, "rr", three, 3,
	    "{\"loadBalancer\":{\"simple\":\"ROUND_ROBIN\"}}");
	add_service(db, 2, "wrr", weighted, 2,
	    "{\"loadBalancer\":{\"simple\":\"ROUND_ROBIN\"}}");
	add_service(db, 3, "rand", three, 3,
	    "{\"loadBalancer\":{\"simple\":\"RANDOM\"}}");
	add_service(db, 4, "wrand", weighted, 2,
	    "{\"loadBalancer\":{\"simple\":\"RANDOM\"}}");
	add_service(db, 5, "hash", five, 5,
	    "{\"loadBalancer\":{\"consistentHash\":{\"httpHeaderName\":"
	    "\"x-user\"}},\"outlierDetection\":{\"consecutive5xxErrors\":1,"
	    "\"baseEjectionTime\":\"10s\",\"maxEjectionPercent\":100}}");
	add_service(db, 6, "lr", three, 3, NULL);
	add_service(db, 7, "od", four, 4,
	    "{\"loadBalancer\":{\"simple\":\"ROUND_ROBIN\","
	    "\"localityLbSetting\":{\"enabled\":false}},"
	    "\"outlierDetection\":{\"consecutive5xxErrors\":3,"
	    "\"interval\":\"10s\",\"baseEjectionTime\":\"1s\","
	    "\"maxEjectionPercent\":50}}");
	add_service(db, 8, "odgw", weighted, 2,
	    "{\"outlierDetection\":{\"consecutive5xxErrors\":0,"
	    "\"consecutiveGatewayErrors\":2,\"maxEjectionPercent\":100}}");
	add_service(db, 9, "oddef", four, 4, "{\"outlierDetection\":{}}");
	add_service(db, 10, "unh", unhealthy, 3,
	    "{\"loadBalancer\":{\"simple\":\"ROUND_ROBIN\"}}");
	add_service(db, 11, "loc", localities, 4,
	    "{\"loadBalancer\":{\"simple\":\"ROUND_ROBIN\"},"
	    "\"outlierDetection\":{\"consecutive5xxErrors\":1,"
	    "\"baseEjectionTime\":\"10s\",\"maxEjectionPercent\":100}}");
	add_service(db, 12, "noloc", localities, 4,
	    "{\"loadBalancer\":{\"simple\":\"ROUND_ROBIN\"}}");
	add_service(db, 13, "one", one, 1, NULL);
	return db;
}

struct fx {
	sqlite3 *db;
	struct snapshot *s;
	struct lb_state *st;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->db = lb_db();
	f->s = fx_load(f->db);
	f->st = lb_state_new(f->s);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	lb_state_free(f->st);
	snapshot_unref(f->s);
	sqlite3_close(f->db);
	free(f);
	return 0;
}

static const struct snap_cluster *
cluster(const struct snapshot *s, const char *name)
{
	const struct snap_service *svc = fx_service(s, name);

	assert_non_null(svc);
	return snapshot_default_cluster(s, svc, 80);
}

/* The index of a picked endpoint in its cluster, -1 for none. */
static int
pick(struct fx *f, const struct snap_cluster *c, uint64_t r64,
    const char *locality, uint64_t now)
{
	struct lb_args a = {r64, NULL, locality, NULL, now};
	const struct snap_endpoint *ep = lb_pick(f->st, c, &a);
	size_t i;

	if (ep == NULL)
		return -1;
	for (i = 0; i < c->nendpoints; i++) {
		if (c->endpoints[i] == ep)
			return (int)i;
	}
	fail_msg("picked an endpoint of another cluster");
	return -1;
}

static void
report(
    struct fx *f, const struct snap_cluster *c, int i, int status, uint64_t now)
{
	lb_report(f->st, c, c->endpoints[i], status, now);
}

static void
test_round_robin(void **state)
{
	struct fx *f = *state;
	const struct snap_cluster *c = cluster(f->s, "rr");
	static const int want_w[] = {0, 0, 1, 0, 0, 0, 1, 0};
	int i;

	assert_int_equal(c->policy.lb, SNAP_LB_ROUND_ROBIN);
	for (i = 0; i < 7; i++)
		assert_int_equal(pick(f, c, 99, NULL, 1), i % 3);
	/* Weights 3 and 1: smooth weighted round robin, interleaved. */
	c = cluster(f->s, "wrr");
	for (i = 0; i < 8; i++)
		assert_int_equal(pick(f, c, 0, NULL, 1), want_w[i]);
	/* An unhealthy endpoint is skipped. */
	c = cluster(f->s, "unh");
	for (i = 0; i < 6; i++)
		assert_int_equal(pick(f, c, 0, NULL, 1), i % 2 == 0 ? 0 : 2);
}

static void
test_random(void **state)
{
	struct fx *f = *state;
	const struct snap_cluster *c = cluster(f->s, "rand");
	uint64_t rng = 1;
	int counts[3] = {0, 0, 0}, wc[2] = {0, 0}, i;

	for (i = 0; i < 30000; i++)
		counts[pick(f, c, fx_rand(&rng), NULL, 1)]++;
	for (i = 0; i < 3; i++)
		assert_in_range(counts[i], 9500, 10500);
	/* in proportion to the weights, 3:1 */
	c = cluster(f->s, "wrand");
	for (i = 0; i < 40000; i++)
		wc[pick(f, c, fx_rand(&rng), NULL, 1)]++;
	assert_in_range(wc[1], 10000 - 600, 10000 + 600);
	/* exact over an enumeration */
	wc[0] = wc[1] = 0;
	for (i = 0; i < 400; i++)
		wc[pick(f, c, (uint64_t)i, NULL, 1)]++;
	assert_int_equal(wc[0], 300);
	assert_int_equal(wc[1], 100);
}

static int
pick_hash(
    struct fx *f, const struct snap_cluster *c, const char *key, uint64_t now)
{
	uint64_t h = lb_hash(key, strlen(key));
	struct lb_args a = {12345, &h, NULL, NULL, now};
	const struct snap_endpoint *ep = lb_pick(f->st, c, &a);
	size_t i;

	for (i = 0; ep != NULL && i < c->nendpoints; i++) {
		if (c->endpoints[i] == ep)
			return (int)i;
	}
	return -1;
}

static void
test_hash(void **state)
{
	struct fx *f = *state;
	const struct snap_cluster *c = cluster(f->s, "hash");
	int first[1000], per[5] = {0}, i, moved = 0;
	char key[32];

	assert_int_equal(c->policy.lb, SNAP_LB_HASH_HEADER);
	assert_string_equal(c->policy.hash_header, "x-user");
	assert_true(c->nring >= 1024);
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "user-%d", i);
		first[i] = pick_hash(f, c, key, 1);
		assert_in_range(first[i], 0, 4);
		per[first[i]]++;
	}
	/* every endpoint gets a fair share */
	for (i = 0; i < 5; i++)
		assert_in_range(per[i], 100, 320);
	/* sticky: the same key, the same endpoint */
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "user-%d", i);
		assert_int_equal(pick_hash(f, c, key, 2), first[i]);
	}
	/* Endpoint 2 ejected: only its keys move. */
	report(f, c, 2, 503, 1000);
	assert_true(lb_ejected(f->st, c, c->endpoints[2], 1000));
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "user-%d", i);
		if (first[i] == 2) {
			assert_int_not_equal(pick_hash(f, c, key, 1001), 2);
			moved++;
		} else
			assert_int_equal(pick_hash(f, c, key, 1001), first[i]);
	}
	assert_int_equal(moved, per[2]);
	/* Readmitted after 10 s: they come back. */
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "user-%d", i);
		assert_int_equal(pick_hash(f, c, key, 11000), first[i]);
	}
	/* No hash (header absent): any endpoint, at random. */
	assert_in_range(pick(f, c, 7, NULL, 11000), 0, 4);
}

static void
test_least_request(void **state)
{
	struct fx *f = *state;
	const struct snap_cluster *c = cluster(f->s, "lr");
	int counts[3] = {0, 0, 0}, i;
	uint64_t rng = 3;

	assert_int_equal(c->policy.lb, SNAP_LB_LEAST_REQUEST);
	for (i = 0; i < 5; i++)
		lb_start(f->st, c, c->endpoints[0]);
	for (i = 0; i < 2; i++)
		lb_start(f->st, c, c->endpoints[1]);
	assert_int_equal(lb_inflight(f->st, c, c->endpoints[0]), 5);
	/* Two distinct candidates, the less loaded wins: never the busiest. */
	for (i = 0; i < 3000; i++)
		counts[pick(f, c, fx_rand(&rng), NULL, 1)]++;
	assert_int_equal(counts[0], 0);
	/* endpoint 2 wins both of its pairs, endpoint 1 one of its two */
	assert_in_range(counts[2], 1800, 2200);
	assert_in_range(counts[1], 800, 1200);
	for (i = 0; i < 5; i++)
		lb_done(f->st, c, c->endpoints[0]);
	lb_done(f->st, c, c->endpoints[0]); /* never below 0 */
	assert_int_equal(lb_inflight(f->st, c, c->endpoints[0]), 0);
	counts[0] = counts[1] = counts[2] = 0;
	for (i = 0; i < 3000; i++)
		counts[pick(f, c, fx_rand(&rng), NULL, 1)]++;
	/* 0 and 2 idle now, 1 busy: 1 never, the others evenly */
	assert_int_equal(counts[1], 0);
	assert_in_range(counts[0], 1300, 1700);
}

static int
picked(struct fx *f, const struct snap_cluster *c, int ep, uint64_t now)
{
	int i;

	for (i = 0; i < (int)c->nendpoints * 2; i++) {
		if (pick(f, c, 0, NULL, now) == ep)
			return 1;
	}
	return 0;
}

static void
test_ejection(void **state)
{
	struct fx *f = *state;
	const struct snap_cluster *c = cluster(f->s, "od");
	int i;

	/* Three consecutive 5xx; a success in between resets the count. */
	report(f, c, 0, 503, 1000);
	report(f, c, 0, 503, 1000);
	report(f, c, 0, 200, 1000);
	report(f, c, 0, 500, 1000);
	report(f, c, 0, 404, 1000);
	report(f, c, 0, 500, 1000);
	report(f, c, 0, LB_FAIL_CONNECT, 1000);
	assert_false(lb_ejected(f->st, c, c->endpoints[0], 1000));
	assert_true(picked(f, c, 0, 1000));
	report(f, c, 0, LB_FAIL_TIMEOUT, 1000);
	assert_true(lb_ejected(f->st, c, c->endpoints[0], 1000));
	/* baseEjectionTime 1s: out until 1999, back at 2000 */
	for (i = 0; i < 12; i++)
		assert_int_not_equal(pick(f, c, 0, NULL, 1999), 0);
	assert_true(lb_ejected(f->st, c, c->endpoints[0], 1999));
	assert_false(lb_ejected(f->st, c, c->endpoints[0], 2000));
	assert_true(picked(f, c, 0, 2000));

	/* Ejected again soon: twice as long (2 s). */
	for (i = 0; i < 3; i++)
		report(f, c, 0, 502, 2500);
	assert_true(lb_ejected(f->st, c, c->endpoints[0], 4499));
	assert_false(picked(f, c, 0, 4499));
	assert_true(picked(f, c, 0, 4500));
	/* After three intervals in service, back to 1 s. */
	for (i = 0; i < 3; i++)
		report(f, c, 0, 500, 40000);
	assert_true(lb_ejected(f->st, c, c->endpoints[0], 40999));
	assert_false(lb_ejected(f->st, c, c->endpoints[0], 41000));
}

static void
test_max_ejection(void **state)
{
	struct fx *f = *state;
	const struct snap_cluster *c = cluster(f->s, "od");
	int i, e;

	/* maxEjectionPercent 50 of 4 endpoints: two at most. */
	for (e = 0; e < 3; e++) {
		for (i = 0; i < 3; i++)
			report(f, c, e, 500, 1000);
	}
	assert_true(lb_ejected(f->st, c, c->endpoints[0], 1000));
	assert_true(lb_ejected(f->st, c, c->endpoints[1], 1000));
	assert_false(lb_ejected(f->st, c, c->endpoints[2], 1000));
	for (i = 0; i < 8; i++)
		assert_in_range(pick(f, c, 0, NULL, 1000), 2, 3);
	/* Past the threshold already: more errors do not eject (Envoy). */
	report(f, c, 2, 500, 1500);
	assert_false(lb_ejected(f->st, c, c->endpoints[2], 1500));
	/* Once the others are back, a new run of errors ejects it. */
	report(f, c, 2, 200, 2000);
	for (i = 0; i < 3; i++)
		report(f, c, 2, 500, 2000);
	assert_true(lb_ejected(f->st, c, c->endpoints[2], 2000));
	/* reports for an ejected endpoint are ignored */
	report(f, c, 2, 200, 2100);
	assert_true(lb_ejected(f->st, c, c->endpoints[2], 2100));

	/* Envoy's default 10%: a 4-endpoint cluster ejects nothing. */
	c = cluster(f->s, "oddef");
	assert_int_equal(c->policy.outlier_consecutive_5xx, 5);
	assert_int_equal(c->policy.outlier_max_ejection_pct, 10);
	for (i = 0; i < 10; i++)
		report(f, c, 0, 500, 1000);
	assert_false(lb_ejected(f->st, c, c->endpoints[0], 1000));
}

static void
test_gateway_errors(void **state)
{
	struct fx *f = *state;
	const struct snap_cluster *c = cluster(f->s, "odgw");

	/* 5xx detection off: 500s never eject */
	report(f, c, 0, 500, 1000);
	report(f, c, 0, 500, 1000);
	report(f, c, 0, 500, 1000);
	assert_false(lb_ejected(f->st, c, c->endpoints[0], 1000));
	/* a non-gateway 5xx resets the gateway count */
	report(f, c, 0, 504, 1000);
	report(f, c, 0, 500, 1000);
	report(f, c, 0, 502, 1000);
	assert_false(lb_ejected(f->st, c, c->endpoints[0], 1000));
	report(f, c, 0, LB_FAIL_RESET, 1000);
	assert_true(lb_ejected(f->st, c, c->endpoints[0], 1000));
	/* 30 s by default; with both ejected (100%) nothing is left */
	report(f, c, 1, LB_FAIL_CONNECT, 1000);
	report(f, c, 1, 503, 1000);
	assert_int_equal(pick(f, c, 0, NULL, 1000), -1);
	assert_int_equal(pick(f, c, 0, NULL, 30999), -1);
	assert_int_not_equal(pick(f, c, 0, NULL, 31000), -1);
	/* another cluster's endpoints are not affected */
	assert_int_not_equal(pick(f, cluster(f->s, "rr"), 0, NULL, 1000), -1);
}

static void
test_locality(void **state)
{
	struct fx *f = *state;
	const struct snap_cluster *c = cluster(f->s, "loc");
	int counts[4] = {0}, i, e;

	assert_true(c->policy.locality_lb);
	/* Same subzone first, then zone, region, anywhere. */
	for (e = 0; e < 4; e++) {
		for (i = 0; i < 6; i++)
			assert_int_equal(pick(f, c, 0, "r1/z1/s1", 1000), e);
		report(f, c, e, 503, 1000);
	}
	assert_int_equal(pick(f, c, 0, "r1/z1/s1", 1000), -1);
	/* all back after 10 s: the nearest again */
	assert_int_equal(pick(f, c, 0, "r1/z1/s1", 11000), 0);
	/* a caller with no subzone: its zone is its best */
	assert_int_equal(pick(f, c, 0, "r1/z2", 11000), 2);
	assert_int_equal(pick(f, c, 0, "r2", 11000), 3);
	/* no locality known: all of them in turn */
	for (i = 0; i < 8; i++)
		counts[pick(f, c, 0, NULL, 11000)]++;
	for (i = 0; i < 4; i++)
		assert_int_equal(counts[i], 2);
	/* Without outlier detection Istio does not fail over: no tiers. */
	c = cluster(f->s, "noloc");
	assert_false(c->policy.locality_lb);
	memset(counts, 0, sizeof(counts));
	for (i = 0; i < 8; i++)
		counts[pick(f, c, 0, "r1/z1/s1", 11000)]++;
	for (i = 0; i < 4; i++)
		assert_int_equal(counts[i], 2);
}

static void
test_avoid(void **state)
{
	struct fx *f = *state;
	const struct snap_cluster *c = cluster(f->s, "rr");
	struct lb_args a = {0, NULL, NULL, c->endpoints[0], 1};
	int i;

	for (i = 0; i < 10; i++)
		assert_ptr_not_equal(lb_pick(f->st, c, &a), c->endpoints[0]);
	/* the only endpoint: tried again */
	c = cluster(f->s, "one");
	a.avoid = c->endpoints[0];
	assert_ptr_equal(lb_pick(f->st, c, &a), c->endpoints[0]);
	/* a cluster of another snapshot, or none: nothing */
	assert_null(lb_pick(f->st, NULL, &a));
}

static void
test_inherit(void **state)
{
	struct fx *f = *state;
	const struct snap_cluster *c = cluster(f->s, "od"), *c2;
	struct snapshot *s2;
	struct lb_state *st2;

	report(f, c, 1, 500, 1000);
	report(f, c, 1, 500, 1000);
	report(f, c, 1, 500, 1000);
	report(f, c, 2, 500, 1000);
	assert_true(lb_ejected(f->st, c, c->endpoints[1], 1000));

	/* A new version adds an endpoint; the others keep their state. */
	fx_exec(f->db,
	    "INSERT INTO workloads (namespace, name, source,"
	    " address, labels) VALUES ('lb', 'od-new',"
	    " 'WorkloadEntry', '10.7.0.9', '{\"app\":\"od\"}');");
	s2 = fx_load(f->db);
	st2 = lb_state_new(s2);
	lb_state_inherit(st2, f->st);
	c2 = cluster(s2, "od");
	assert_int_equal(c2->nendpoints, 5);
	/* the cluster of the old snapshot is not this state's */
	assert_null(
	    lb_pick(st2, c, &(struct lb_args){0, NULL, NULL, NULL, 1000}));
	assert_true(lb_ejected(st2, c2, c2->endpoints[1], 1000));
	assert_false(lb_ejected(st2, c2, c2->endpoints[1], 2000));
	/* the consecutive count goes on: two more 500s eject 2 */
	lb_report(st2, c2, c2->endpoints[2], 500, 1000);
	assert_false(lb_ejected(st2, c2, c2->endpoints[2], 1000));
	lb_report(st2, c2, c2->endpoints[2], 500, 1000);
	assert_true(lb_ejected(st2, c2, c2->endpoints[2], 1000));
	lb_state_free(st2);
	snapshot_unref(s2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_robin, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_random, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hash, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_least_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ejection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_ejection, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_gateway_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_locality, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_avoid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inherit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
