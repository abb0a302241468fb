/*
 * Unit tests for route matching and the random choices of a route
 * (src/proxy/route_match.c): every kind of match condition, first match
 * wins, weighted destinations (exact over an enumeration, within 0.5%
 * over random draws) and fault percentages.
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

#include "policy_fixture.h"
#include "snapshot.h"

/* One route per condition kind, in this order; the last matches all. */
static const char *const match_routes[][2] = {
    {"uri-exact", "[{\"uri\":{\"exact\":\"/exact\"}}]"},
    {"uri-prefix", "[{\"uri\":{\"prefix\":\"/pre\"}}]"},
    {"uri-regex", "[{\"uri\":{\"regex\":\"/re/[0-9]+\"}}]"},
    {"uri-icase", "[{\"uri\":{\"exact\":\"/CaSe\"},\"ignoreUriCase\":true}]"},
    {"uri-icase-prefix",
	"[{\"uri\":{\"prefix\":\"/Up\"},\"ignoreUriCase\":true}]"},
    {"uri-icase-regex",
	"[{\"uri\":{\"regex\":\"/rx/[a-c]+\"},\"ignoreUriCase\":true}]"},
    {"method", "[{\"method\":{\"exact\":\"POST\"}}]"},
    {"method-regex", "[{\"method\":{\"regex\":\"PUT|PATCH\"}}]"},
    {"authority", "[{\"authority\":{\"exact\":\"api.example.com\"}}]"},
    {"authority-prefix", "[{\"authority\":{\"prefix\":\"api.\"}}]"},
    {"hdr-exact", "[{\"headers\":{\"x-user\":{\"exact\":\"jason\"}}}]"},
    {"hdr-prefix", "[{\"headers\":{\"x-user\":{\"prefix\":\"ja\"}}}]"},
    {"hdr-regex", "[{\"headers\":{\"x-user\":{\"regex\":\"j.*n\"}}}]"},
    {"hdr-present", "[{\"headers\":{\"x-debug\":{}}}]"},
    {"hdr-upper", "[{\"headers\":{\"X-Mixed\":{\"exact\":\"v\"}}}]"},
    {"without", "[{\"withoutHeaders\":{\"x-canary\":{\"exact\":\"1\"}}}]"},
    {"without-present", "[{\"withoutHeaders\":{\"x-canary\":{}}}]"},
    {"query-exact", "[{\"queryParams\":{\"v\":{\"exact\":\"2\"}}}]"},
    {"query-prefix", "[{\"queryParams\":{\"v\":{\"prefix\":\"a%20\"}}}]"},
    {"query-regex", "[{\"queryParams\":{\"id\":{\"regex\":\"\\\\d+\"}}}]"},
    {"query-present", "[{\"queryParams\":{\"flag\":{}}}]"},
    {"port", "[{\"port\":8080}]"},
    {"and",
	"[{\"uri\":{\"prefix\":\"/and\"},\"method\":{\"exact\":\"GET\"},"
	"\"headers\":{\"a\":{\"exact\":\"1\"},\"b\":{\"exact\":\"2\"}}}]"},
    {"or", "[{\"uri\":{\"exact\":\"/or1\"}},{\"uri\":{\"exact\":\"/or2\"}}]"},
    {"hdr-joined", "[{\"headers\":{\"x-multi\":{\"exact\":\"a,b\"}}}]"},
    {"catchall", "[]"},
};
#define NROUTES (sizeof(match_routes) / sizeof(match_routes[0]))

static struct snapshot *snap;
static const struct snap_vhost *vh;

static int
setup(void **state)
{
	sqlite3 *db = fx_db_new();
	size_t i;

	fx_exec(db,
	    "INSERT INTO virtual_services (id, namespace, name, hosts)"
	    " VALUES (1, 'default', 'm', '[\"m.example\"]');");
	for (i = 0; i < NROUTES; i++) {
		fx_execf(db,
		    "INSERT INTO routes (id, vs_id, position, name, match)"
		    " VALUES (%zu, 1, %zu, '%s', '%s');",
		    i + 1, i, match_routes[i][0], match_routes[i][1]);
	}
	snap = fx_load(db);
	sqlite3_close(db);
	vh = snapshot_lookup(snap, "m.example", 9, NULL, NULL);
	assert_non_null(vh);
	assert_int_equal(vh->nroutes, NROUTES);
	return 0;
}

static int
teardown(void **state)
{
	snapshot_unref(snap);
	return 0;
}

static const struct snap_match *
match_of(const char *name)
{
	size_t i;

	for (i = 0; i < vh->nroutes; i++) {
		if (strcmp(vh->routes[i].name, name) == 0)
			return &vh->routes[i].matches[0];
	}
	fail_msg("no route %s", name);
	return NULL;
}

/* Whether the request matches the named route's first condition. */
#define MATCH(name, ...)                                                       \
	do {                                                                   \
		struct fx_req q_;                                              \
		fx_req(&q_, __VA_ARGS__, NULL);                                \
		if (!route_match_one(match_of(name), &q_.v))                   \
			fail_msg(                                              \
			    "%s: should match (line %d)", name, __LINE__);     \
	} while (0)
#define NOMATCH(name, ...)                                                     \
	do {                                                                   \
		struct fx_req q_;                                              \
		fx_req(&q_, __VA_ARGS__, NULL);                                \
		if (route_match_one(match_of(name), &q_.v))                    \
			fail_msg(                                              \
			    "%s: should not match (line %d)", name, __LINE__); \
	} while (0)

static void
test_uri(void **state)
{
	MATCH("uri-exact", "GET", "/exact", "m.example", 80);
	MATCH("uri-exact", "GET", "/exact?q=1", "m.example", 80);
	MATCH("uri-exact", "GET", "/exact#frag", "m.example", 80);
	MATCH("uri-exact", "GET", "http://m.example/exact?x", "m.example", 80);
	NOMATCH("uri-exact", "GET", "/exact/", "m.example", 80);
	NOMATCH("uri-exact", "GET", "/Exact", "m.example", 80);
	NOMATCH("uri-exact", "GET", "/exac", "m.example", 80);

	MATCH("uri-prefix", "GET", "/pre", "m.example", 80);
	MATCH("uri-prefix", "GET", "/prefix/more", "m.example", 80);
	NOMATCH("uri-prefix", "GET", "/pr", "m.example", 80);
	NOMATCH("uri-prefix", "GET", "/x?/pre", "m.example", 80);

	MATCH("uri-regex", "GET", "/re/123", "m.example", 80);
	MATCH("uri-regex", "GET", "/re/1?x=abc", "m.example", 80);
	NOMATCH("uri-regex", "GET", "/re/12a", "m.example", 80);
	NOMATCH("uri-regex", "GET", "/x/re/12", "m.example", 80);
	NOMATCH("uri-regex", "GET", "/re/", "m.example", 80);

	MATCH("uri-icase", "GET", "/case", "m.example", 80);
	MATCH("uri-icase", "GET", "/CASE", "m.example", 80);
	NOMATCH("uri-icase", "GET", "/cases", "m.example", 80);
	MATCH("uri-icase-prefix", "GET", "/uP/down", "m.example", 80);
	NOMATCH("uri-icase-prefix", "GET", "/u", "m.example", 80);
	MATCH("uri-icase-regex", "GET", "/RX/AbC", "m.example", 80);
	NOMATCH("uri-icase-regex", "GET", "/rx/abd", "m.example", 80);
}

static void
test_method_authority(void **state)
{
	MATCH("method", "POST", "/", "m.example", 80);
	NOMATCH("method", "post", "/", "m.example", 80);
	NOMATCH("method", "POSTS", "/", "m.example", 80);
	NOMATCH("method", "GET", "/", "m.example", 80);
	MATCH("method-regex", "PUT", "/", "m.example", 80);
	MATCH("method-regex", "PATCH", "/", "m.example", 80);
	NOMATCH("method-regex", "PUTS", "/", "m.example", 80);

	/* the host part: no port, no brackets */
	MATCH("authority", "GET", "/", "api.example.com", 80);
	MATCH("authority", "GET", "/", "api.example.com:8443", 80);
	NOMATCH("authority", "GET", "/", "api.example.co", 80);
	NOMATCH("authority", "GET", "/", "API.example.com", 80);
	NOMATCH("authority", "GET", "/", NULL, 80);
	MATCH("authority-prefix", "GET", "/", "api.internal:80", 80);
	NOMATCH("authority-prefix", "GET", "/", "web.api.x", 80);
}

static void
test_headers(void **state)
{
	MATCH("hdr-exact", "GET", "/", "m", 80, "x-user", "jason");
	MATCH("hdr-exact", "GET", "/", "m", 80, "X-User", "jason");
	NOMATCH("hdr-exact", "GET", "/", "m", 80, "x-user", "Jason");
	NOMATCH("hdr-exact", "GET", "/", "m", 80, "x-users", "jason");
	NOMATCH("hdr-exact", "GET", "/", "m", 80);
	MATCH("hdr-prefix", "GET", "/", "m", 80, "x-user", "jack");
	NOMATCH("hdr-prefix", "GET", "/", "m", 80, "x-user", "j");
	MATCH("hdr-regex", "GET", "/", "m", 80, "x-user", "jason");
	MATCH("hdr-regex", "GET", "/", "m", 80, "x-user", "jn");
	NOMATCH("hdr-regex", "GET", "/", "m", 80, "x-user", "jasonx");
	MATCH("hdr-present", "GET", "/", "m", 80, "X-DEBUG", "");
	MATCH("hdr-present", "GET", "/", "m", 80, "x-debug", "anything");
	NOMATCH("hdr-present", "GET", "/", "m", 80, "x-debugger", "1");
	/* configured names are lower-cased */
	assert_string_equal(match_of("hdr-upper")->headers[0].name, "x-mixed");
	MATCH("hdr-upper", "GET", "/", "m", 80, "x-MIXED", "v");

	/* withoutHeaders: absent (read as ""), or another value */
	MATCH("without", "GET", "/", "m", 80);
	MATCH("without", "GET", "/", "m", 80, "x-canary", "0");
	NOMATCH("without", "GET", "/", "m", 80, "x-canary", "1");
	MATCH("without-present", "GET", "/", "m", 80, "x-other", "1");
	NOMATCH("without-present", "GET", "/", "m", 80, "x-canary", "");

	/* several occurrences: the values joined with "," (as Envoy) */
	MATCH(
	    "hdr-joined", "GET", "/", "m", 80, "x-multi", "a", "x-multi", "b");
	NOMATCH("hdr-joined", "GET", "/", "m", 80, "x-multi", "a");
	NOMATCH(
	    "hdr-joined", "GET", "/", "m", 80, "x-multi", "b", "x-multi", "a");
	MATCH("hdr-joined", "GET", "/", "m", 80, "x-multi", "a,b");
	MATCH("hdr-exact", "GET", "/", "m", 80, "x-user", "jason", "x-other",
	    "1");
	NOMATCH("hdr-exact", "GET", "/", "m", 80, "x-user", "jason", "x-user",
	    "jason");
}

static void
test_query_port(void **state)
{
	MATCH("query-exact", "GET", "/p?v=2", "m", 80);
	MATCH("query-exact", "GET", "/p?a=1&v=2&b", "m", 80);
	MATCH("query-exact", "GET", "/p?v=2#x", "m", 80);
	NOMATCH("query-exact", "GET", "/p?v=22", "m", 80);
	NOMATCH("query-exact", "GET", "/p?vv=2", "m", 80);
	NOMATCH("query-exact", "GET", "/p", "m", 80);
	/* the first occurrence counts */
	NOMATCH("query-exact", "GET", "/p?v=1&v=2", "m", 80);
	/* raw values: not decoded */
	MATCH("query-prefix", "GET", "/p?v=a%20b", "m", 80);
	NOMATCH("query-prefix", "GET", "/p?v=a%2", "m", 80);
	NOMATCH("query-prefix", "GET", "/p?v=a b", "m", 80);
	MATCH("query-regex", "GET", "/p?id=42", "m", 80);
	NOMATCH("query-regex", "GET", "/p?id=4x", "m", 80);
	NOMATCH("query-regex", "GET", "/p?id=", "m", 80);
	MATCH("query-present", "GET", "/p?flag", "m", 80);
	MATCH("query-present", "GET", "/p?x=1&flag=", "m", 80);
	NOMATCH("query-present", "GET", "/p?flags=1", "m", 80);
	NOMATCH("query-present", "GET", "/flag", "m", 80);

	MATCH("port", "GET", "/", "m", 8080);
	NOMATCH("port", "GET", "/", "m", 80);
}

static void
test_and_or_order(void **state)
{
	const struct snap_match *m;
	const struct snap_route *r;
	struct fx_req q;

	MATCH("and", "GET", "/and/x", "m", 80, "a", "1", "b", "2");
	NOMATCH("and", "POST", "/and/x", "m", 80, "a", "1", "b", "2");
	NOMATCH("and", "GET", "/and/x", "m", 80, "a", "1");
	NOMATCH("and", "GET", "/an", "m", 80, "a", "1", "b", "2");

	/* any one match of a route ("without" needs x-canary: 1) */
	fx_req(&q, "GET", "/or2", "m", 80, "x-canary", "1", NULL);
	assert_string_equal(route_match(vh, &q.v)->name, "or");
	r = route_match_detail(vh, &q.v, &m);
	assert_string_equal(r->name, "or");
	assert_ptr_equal(m, &r->matches[1]);
	fx_req(&q, "GET", "/or1", "m", 80, "x-canary", "1", NULL);
	assert_string_equal(route_match(vh, &q.v)->name, "or");
	fx_req(&q, "GET", "/or3", "m", 80, NULL);
	assert_string_equal(route_match(vh, &q.v)->name, "without");

	/* the first route that matches wins */
	fx_req(&q, "POST", "/exact", "api.example.com", 8080, "x-user", "jason",
	    NULL);
	assert_string_equal(route_match(vh, &q.v)->name, "uri-exact");
	fx_req(
	    &q, "POST", "/x", "api.example.com", 8080, "x-user", "jason", NULL);
	assert_string_equal(route_match(vh, &q.v)->name, "method");
	fx_req(
	    &q, "GET", "/x", "m", 80, "x-user", "jack", "x-canary", "1", NULL);
	assert_string_equal(route_match(vh, &q.v)->name, "hdr-prefix");
	fx_req(&q, "GET", "/nothing", "m", 80, "x-canary", "1", NULL);
	r = route_match_detail(vh, &q.v, &m);
	assert_string_equal(r->name, "catchall");
	assert_int_equal(r->nmatches, 0);
	assert_null(m);

	/* no route matching: NULL (404 NR) */
	assert_null(route_match(NULL, &q.v));
}

static void
test_pick(void **state)
{
	struct snap_dest d[4];
	struct snap_route r;
	uint64_t rng = 42, counts[4], i;
	size_t k;

	memset(&r, 0, sizeof(r));
	memset(d, 0, sizeof(d));
	r.dests = d;

	/* 90/10: exact over r64 = 0 .. total - 1 */
	d[0].weight = 90;
	d[1].weight = 10;
	r.ndests = 2;
	r.total_weight = 100;
	memset(counts, 0, sizeof(counts));
	for (i = 0; i < 100; i++)
		counts[route_pick(&r, i) - d]++;
	assert_int_equal(counts[0], 90);
	assert_int_equal(counts[1], 10);
	/* the same over many cycles */
	memset(counts, 0, sizeof(counts));
	for (i = 1000; i < 1000 + 100 * 1000; i++)
		counts[route_pick(&r, i) - d]++;
	assert_int_equal(counts[0], 90000);
	assert_int_equal(counts[1], 10000);
	/* 100k random draws: within 0.5% of 90/10 */
	memset(counts, 0, sizeof(counts));
	for (i = 0; i < 100000; i++)
		counts[route_pick(&r, fx_rand(&rng)) - d]++;
	assert_in_range(counts[1], 10000 - 500, 10000 + 500);
	assert_int_equal(counts[0] + counts[1], 100000);

	/* any non-negative weights; 0 never chosen */
	d[0].weight = 3;
	d[1].weight = 0;
	d[2].weight = 7;
	d[3].weight = 1000000;
	r.ndests = 4;
	r.total_weight = 1000010;
	memset(counts, 0, sizeof(counts));
	for (i = 0; i < r.total_weight; i++)
		counts[route_pick(&r, i) - d]++;
	assert_int_equal(counts[0], 3);
	assert_int_equal(counts[1], 0);
	assert_int_equal(counts[2], 7);
	assert_int_equal(counts[3], 1000000);
	assert_ptr_equal(route_pick(&r, UINT64_MAX), &d[3]);

	/* every weight 0: nothing */
	for (k = 0; k < 4; k++)
		d[k].weight = 0;
	r.total_weight = 0;
	assert_null(route_pick(&r, 5));
	/* one destination: always, whatever its weight (as Istio) */
	r.ndests = 1;
	assert_ptr_equal(route_pick(&r, 5), &d[0]);
	r.ndests = 0;
	assert_null(route_pick(&r, 5));
}

static void
test_chance(void **state)
{
	uint64_t i, n, rng = 7;

	/* 1 ppm: exactly once per million */
	for (i = 0, n = 0; i < SNAP_PPM; i++)
		n += snap_chance(1, i);
	assert_int_equal(n, 1);
	for (i = 0, n = 0; i < SNAP_PPM; i++)
		n += snap_chance(500000, i);
	assert_int_equal(n, 500000);
	assert_false(snap_chance(0, 0));
	assert_false(snap_chance(0, UINT64_MAX));
	assert_true(snap_chance(SNAP_PPM, UINT64_MAX));
	assert_true(snap_chance(SNAP_PPM + 1, 12345));
	for (i = 0, n = 0; i < 100000; i++)
		n += snap_chance(250000, fx_rand(&rng));
	assert_in_range(n, 25000 - 500, 25000 + 500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uri),
	    cmocka_unit_test(test_method_authority),
	    cmocka_unit_test(test_headers),
	    cmocka_unit_test(test_query_port),
	    cmocka_unit_test(test_and_or_order),
	    cmocka_unit_test(test_pick),
	    cmocka_unit_test(test_chance),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
