/*
 * Unit tests for the tap filter and events (src/lib/tap.c): parsing the
 * query of /tap (and refusing bad ones in one line), the query weftctl
 * builds from its options parsing back the same, matching on source,
 * destination, method, path prefix and status, and the NDJSON form.
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
#include <event2/buffer.h>
#include <jansson.h>

#include "metrics.h"
#include "tap.h"

static struct tap_event
event(void)
{
	struct tap_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.direction = METRICS_OUTBOUND;
	ev.status = 201;
	ev.duration_ns = 1500000;
	strcpy(ev.method, "POST");
	strcpy(ev.src_workload, "cli");
	strcpy(ev.src_principal, "spiffe://cluster.local/ns/shop/sa/cli");
	strcpy(ev.dst_service, "web.shop.svc.cluster.local");
	strcpy(ev.dst_workload, "web-1");
	strcpy(ev.path, "/api/orders?id=1");
	strcpy(ev.authority, "web");
	strcpy(ev.route, "api");
	return ev;
}

static void
test_parse(void **state)
{
	struct tap_filter f;
	char cause[160];

	assert_int_equal(tap_filter_parse(&f, "", cause, sizeof(cause)), 0);
	assert_int_equal(f.max, 0);
	assert_int_equal(
	    tap_filter_parse(&f,
		"source=cli&destination=web&method=POST&path=%2Fapi%"
		"2F&status=201&max=5",
		cause, sizeof(cause)),
	    0);
	assert_string_equal(f.source, "cli");
	assert_string_equal(f.destination, "web");
	assert_string_equal(f.method, "POST");
	assert_string_equal(f.path, "/api/");
	assert_int_equal(f.status, 201);
	assert_int_equal(f.max, 5);
	/* Empty values mean "any". */
	assert_int_equal(
	    tap_filter_parse(&f, "status=&path=", cause, sizeof(cause)), 0);
	assert_int_equal(f.status, 0);
}

static void
test_parse_bad(void **state)
{
	static const char *const bad[] = {"colour=red", "status=99",
	    "status=2xx", "max=-1", "path=api", "path=%zz", "path=/a%00b",
	    "source", "method=ABCDEFGHIJKLMNOPQRSTUVWXYZ", "max=99999999"};
	struct tap_filter f;
	char cause[160];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cause[0] = '\0';
		assert_int_equal(
		    tap_filter_parse(&f, bad[i], cause, sizeof(cause)), -1);
		assert_true(cause[0] != '\0');
		assert_null(strchr(cause, '\n'));
	}
}

static void
test_query_round_trip(void **state)
{
	struct tap_filter f, g;
	char q[1024], cause[160];

	memset(&f, 0, sizeof(f));
	strcpy(f.source, "spiffe://cluster.local/ns/a b/sa/c&d");
	strcpy(f.path, "/a?b=c&d=%");
	strcpy(f.method, "GET");
	f.status = 503;
	f.max = 7;
	tap_filter_query(&f, q, sizeof(q));
	assert_null(strchr(q, ' '));
	assert_int_equal(tap_filter_parse(&g, q, cause, sizeof(cause)), 0);
	assert_memory_equal(&f, &g, sizeof(f));
	memset(&f, 0, sizeof(f));
	tap_filter_query(&f, q, sizeof(q));
	assert_string_equal(q, "");
}

static void
test_match(void **state)
{
	struct tap_event ev = event();
	struct tap_filter f;

	memset(&f, 0, sizeof(f));
	assert_true(tap_match(&f, &ev));
	strcpy(f.source, "cli");
	assert_true(tap_match(&f, &ev));
	strcpy(f.source, "spiffe://cluster.local/ns/shop/sa/cli");
	assert_true(tap_match(&f, &ev));
	strcpy(f.source, "other");
	assert_false(tap_match(&f, &ev));
	f.source[0] = '\0';
	strcpy(f.destination, "web.shop.svc.cluster.local");
	assert_true(tap_match(&f, &ev));
	strcpy(f.destination, "web-1");
	assert_true(tap_match(&f, &ev));
	strcpy(f.destination, "web");
	assert_false(tap_match(&f, &ev));
	f.destination[0] = '\0';
	strcpy(f.method, "post");
	assert_true(tap_match(&f, &ev));
	strcpy(f.method, "GET");
	assert_false(tap_match(&f, &ev));
	f.method[0] = '\0';
	strcpy(f.path, "/api/");
	assert_true(tap_match(&f, &ev));
	strcpy(f.path, "/api/orders?id=1");
	assert_true(tap_match(&f, &ev));
	strcpy(f.path, "/apix");
	assert_false(tap_match(&f, &ev));
	strcpy(f.path, "/api/orders?id=10");
	assert_false(tap_match(&f, &ev));
	f.path[0] = '\0';
	f.status = 201;
	assert_true(tap_match(&f, &ev));
	f.status = 200;
	assert_false(tap_match(&f, &ev));
}

static void
test_json(void **state)
{
	struct tap_event ev = event();
	struct evbuffer *b = evbuffer_new();
	json_error_t err;
	json_t *j;
	char *text;
	size_t len;

	strcpy(ev.path, "/q?\"x\"\\\n");
	strcpy(ev.request_id, "abc");
	ev.time_ns = 1700000000123456789ULL;
	tap_event_json(b, &ev);
	len = evbuffer_get_length(b);
	text = calloc(1, len + 1);
	evbuffer_remove(b, text, len);
	assert_int_equal(text[len - 1], '\n');
	assert_null(memchr(text, '\n', len - 1));
	j = json_loads(text, 0, &err);
	assert_non_null(j);
	assert_string_equal(
	    json_string_value(json_object_get(j, "path")), "/q?\"x\"\\\n");
	assert_string_equal(json_string_value(json_object_get(j, "time")),
	    "2023-11-14T22:13:20.123456Z");
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 201);
	assert_true(json_real_value(json_object_get(j, "duration_ms")) == 1.5);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(j, "destination"), "workload")),
	    "web-1");
	assert_string_equal(
	    json_string_value(json_object_get(j, "request_id")), "abc");
	assert_null(json_object_get(j, "trace_id"));
	json_decref(j);
	free(text);
	evbuffer_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_query_round_trip),
	    cmocka_unit_test(test_match),
	    cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests_name("tap", tests, NULL, NULL);
}
