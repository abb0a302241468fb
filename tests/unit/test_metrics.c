/*
 * Unit tests for the proxy's Prometheus metrics (src/lib/metrics.c):
 * label mappings, counting into shards, and the exact text a scrape
 * gets, merged across shards, escaped, and bounded by the series cap.
 * When promtool is on PATH, it checks a full rendering too.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "metrics.h"
#include "stats_window.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))
#define NSHARDS   2

#define PRINCIPAL "spiffe://cluster.local/ns/shop/sa/web"
#define CART      "cart.shop.svc.cluster.local"
#define WEB       "web.shop.svc.cluster.local"

/* The Istio labels of a series this proxy reports as the client... */
#define OUT_LABELS(svc, proto)                                                 \
	"reporter=\"source\",direction=\"outbound\",source_workload=\"web\","  \
	"source_workload_namespace=\"shop\",source_principal=\"unknown\","     \
	"destination_service=\"" svc "\",destination_workload=\"unknown\","    \
	"destination_workload_namespace=\"unknown\","                          \
	"destination_version=\"unknown\",request_protocol=\"" proto "\","      \
	"connection_security_policy=\"none\""
/* ...and as the server. */
#define IN_LABELS(svc, proto)                                                  \
	"reporter=\"destination\",direction=\"inbound\","                      \
	"source_workload=\"unknown\",source_workload_namespace=\"unknown\","   \
	"source_principal=\"unknown\",destination_service=\"" svc "\","        \
	"destination_workload=\"web\",destination_workload_namespace="         \
	"\"shop\","                                                            \
	"destination_version=\"v1\",request_protocol=\"" proto "\","           \
	"connection_security_policy=\"none\""
#define REQ_LABELS(peer, code, flag, method, route)                            \
	peer ",response_code=\"" code "\",response_flags=\"" flag              \
	     "\",method=\"" method "\",route=\"" route "\""

#define ASSERT_LINE(text, line)    expect_lines((text), (line), 1, __LINE__)
#define ASSERT_NO_LINE(text, line) expect_lines((text), (line), 0, __LINE__)

static const struct metrics_identity ident = {"web", "shop", PRINCIPAL, "v1"};
static const struct metrics_globals no_globals;

static const char *const dur_le[METRICS_DUR_BUCKETS] = {"0.0005", "0.001",
    "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "2.5", "5", "10", "30", "60"};
static const uint64_t dur_le_ns[METRICS_DUR_BUCKETS] = {500000, 1000000,
    2500000, 5000000, 10000000, 25000000, 50000000, 100000000, 250000000,
    500000000, 1000000000, 2500000000, 5000000000, 10000000000, 30000000000,
    60000000000};
static const uint64_t bytes_le[METRICS_BYTES_BUCKETS] = {
    64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216};

/* Per test: two empty shards, and the latest rendering. */
static struct metrics_shard *shards[NSHARDS];
static char *text;

static int
shards_new(void **state)
{
	int i;

	for (i = 0; i < NSHARDS; i++)
		shards[i] = metrics_shard_new();
	return 0;
}

static int
shards_free(void **state)
{
	int i;

	for (i = 0; i < NSHARDS; i++) {
		metrics_shard_free(shards[i]);
		shards[i] = NULL;
	}
	free(text);
	text = NULL;
	return 0;
}

static struct metrics_req_key
req_key(enum metrics_direction dir, enum metrics_method method,
    enum metrics_rflag rflag, uint16_t code, const char *service,
    const char *route)
{
	struct metrics_req_key k;

	memset(&k, 0, sizeof(k));
	k.direction = dir;
	k.method = method;
	k.rflag = rflag;
	k.code = code;
	snprintf(k.service, sizeof(k.service), "%s", service);
	snprintf(k.route, sizeof(k.route), "%s", route);
	return k;
}

static struct metrics_tcp_key
tcp_key(enum metrics_direction dir, int http, const char *service)
{
	struct metrics_tcp_key k;

	memset(&k, 0, sizeof(k));
	k.direction = dir;
	k.http = http;
	snprintf(k.service, sizeof(k.service), "%s", service);
	return k;
}

/* Renders n shards into text, after what the buffer already held. */
static const char *
render_n(int n, const struct metrics_globals *g)
{
	static const char prior[] = "# prior\n";
	struct evbuffer *b;
	size_t len;

	free(text);
	text = NULL;
	assert_non_null(b = evbuffer_new());
	assert_int_equal(evbuffer_add(b, prior, strlen(prior)), 0);
	assert_int_equal(metrics_render(b, shards, n, &ident, g), 0);
	len = evbuffer_get_length(b);
	assert_true(len > strlen(prior));
	assert_non_null(text = malloc(len + 1));
	assert_int_equal(evbuffer_remove(b, text, len), (int)len);
	text[len] = '\0';
	evbuffer_free(b);
	/* metrics_render appends. */
	assert_memory_equal(text, prior, strlen(prior));
	return text;
}

static const char *
render(void)
{
	return render_n(NSHARDS, &no_globals);
}

/*
 * The first line of s that is line (whole) or starts with it, or NULL.
 * It walks line by line: strstr in a loop over a large rendering is
 * quadratic under ASan, which measures the whole rest on every call.
 */
static const char *
find_line(const char *s, const char *line, int whole)
{
	size_t len = strlen(line), n;
	const char *nl;

	while (*s != '\0') {
		nl = strchr(s, '\n');
		n = nl != NULL ? (size_t)(nl - s) : strlen(s);
		if (n >= len && memcmp(s, line, len) == 0 &&
		    (!whole || n == len))
			return s;
		s += n + (nl != NULL);
	}
	return NULL;
}

static int
count_matching(const char *s, const char *line, int whole)
{
	int n = 0;

	while ((s = find_line(s, line, whole)) != NULL) {
		n++;
		if ((s = strchr(s, '\n')) == NULL)
			break;
		s++;
	}
	return n;
}

/* Counts the lines of s that are exactly line. */
static int
count_lines(const char *s, const char *line)
{
	return count_matching(s, line, 1);
}

/* Counts the lines of s that start with prefix. */
static int
count_prefix(const char *s, const char *prefix)
{
	return count_matching(s, prefix, 0);
}

static void
expect_lines(const char *s, const char *line, int want, int lineno)
{
	int n = count_lines(s, line);

	if (n != want) {
		print_error(
		    "line \"%s\": found %d times, want %d\n", line, n, want);
		_fail(__FILE__, lineno);
	}
}

/* Where line is in s, so that tests can check the order of lines. */
static const char *
line_at(const char *s, const char *line)
{
	const char *p;

	if ((p = find_line(s, line, 1)) == NULL)
		fail_msg("line \"%s\" missing", line);
	return p;
}

/*
 * Checks a whole histogram: one bucket line per bound with the
 * cumulative count want[i] (want[nb] for +Inf), in increasing order,
 * then _sum and _count.
 */
static void
expect_histogram(const char *s, const char *name, const char *labels, int nb,
    const char *const *le_str, const uint64_t *le_num, const uint64_t *want,
    const char *sum)
{
	const char *prev = NULL, *at;
	char line[1024], le[32];
	int i;

	for (i = 0; i <= nb; i++) {
		if (i == nb)
			snprintf(le, sizeof(le), "+Inf");
		else if (le_str != NULL)
			snprintf(le, sizeof(le), "%s", le_str[i]);
		else
			snprintf(le, sizeof(le), "%llu",
			    (unsigned long long)le_num[i]);
		snprintf(line, sizeof(line), "%s_bucket{%s,le=\"%s\"} %llu",
		    name, labels, le, (unsigned long long)want[i]);
		expect_lines(s, line, 1, __LINE__);
		at = line_at(s, line);
		assert_true(prev == NULL || at > prev);
		prev = at;
	}
	snprintf(line, sizeof(line), "%s_sum{%s} %s", name, labels, sum);
	expect_lines(s, line, 1, __LINE__);
	snprintf(line, sizeof(line), "%s_count{%s} %llu", name, labels,
	    (unsigned long long)want[nb]);
	expect_lines(s, line, 1, __LINE__);
	/* Nothing else of this series. */
	snprintf(line, sizeof(line), "%s_bucket{%s,", name, labels);
	assert_int_equal(count_prefix(s, line), nb + 1);
}

static void
test_method_of(void **state)
{
	static const struct {
		const char *name;
		enum metrics_method m;
	} cases[] = {
	    {"GET", METRICS_M_GET},
	    {"HEAD", METRICS_M_HEAD},
	    {"POST", METRICS_M_POST},
	    {"PUT", METRICS_M_PUT},
	    {"DELETE", METRICS_M_DELETE},
	    {"CONNECT", METRICS_M_CONNECT},
	    {"OPTIONS", METRICS_M_OPTIONS},
	    {"TRACE", METRICS_M_TRACE},
	    {"PATCH", METRICS_M_PATCH},
	};
	static const char *const other[] = {"get", "Get", "GETS", "GE", "",
	    "PROPFIND", "MKCOL", "BREW", "OTHER", "PATCH "};
	size_t i;

	for (i = 0; i < NCASES(cases); i++) {
		assert_int_equal(
		    metrics_method_of(cases[i].name, strlen(cases[i].name)),
		    cases[i].m);
		assert_string_equal(
		    metrics_method_name(cases[i].m), cases[i].name);
	}
	for (i = 0; i < NCASES(other); i++) {
		if (metrics_method_of(other[i], strlen(other[i])) !=
		    METRICS_M_OTHER)
			fail_msg("\"%s\" is not OTHER", other[i]);
	}
	/* The length bounds the method: it need not end in a NUL. */
	assert_int_equal(metrics_method_of("GET /", 3), METRICS_M_GET);
	assert_int_equal(metrics_method_of("POST", 3), METRICS_M_OTHER);
	assert_string_equal(metrics_method_name(METRICS_M_OTHER), "OTHER");
	assert_string_equal(
	    metrics_method_name((enum metrics_method)99), "OTHER");
}

static void
test_rflag_name(void **state)
{
	static const char *const want[METRICS_RF_COUNT] = {"-", "UF", "UC",
	    "UT", "DC", "UO", "NR", "URX", "FI", "DI", "RL", "UAEX", "DPE",
	    "UPE", "UH", "RBAC"};
	int i;

	for (i = 0; i < METRICS_RF_COUNT; i++)
		assert_string_equal(
		    metrics_rflag_name((enum metrics_rflag)i), want[i]);
	assert_string_equal(metrics_rflag_name(METRICS_RF_UAEX), "UAEX");
	assert_string_equal(metrics_rflag_name(METRICS_RF_COUNT), "-");
	assert_string_equal(metrics_rflag_name((enum metrics_rflag)200), "-");
}

static void
test_request_labels(void **state)
{
	struct metrics_req_key out = req_key(METRICS_OUTBOUND, METRICS_M_GET,
	    METRICS_RF_NONE, 200, CART, "default");
	struct metrics_req_key in = req_key(
	    METRICS_INBOUND, METRICS_M_POST, METRICS_RF_UC, 503, WEB, "api");
	const char *s;

	metrics_request(shards[0], &out, 1000000, 10, 20);
	metrics_request(shards[0], &in, 1000000, 10, 20);
	metrics_request(shards[0], &in, 1000000, 10, 20);
	s = render();
	ASSERT_LINE(s,
	    "# HELP weft_requests_total Requests handled, by the "
	    "Istio standard labels.");
	ASSERT_LINE(s, "# TYPE weft_requests_total counter");
	ASSERT_LINE(s,
	    "weft_requests_total{" REQ_LABELS(
		OUT_LABELS(CART, "http"), "200", "-", "GET", "default") "} 1");
	ASSERT_LINE(s,
	    "weft_requests_total{" REQ_LABELS(
		IN_LABELS(WEB, "http"), "503", "UC", "POST", "api") "} 2");
	assert_int_equal(count_prefix(s, "weft_requests_total{"), 2);
	/* Outbound series sort first. */
	assert_true(
	    line_at(s,
		"weft_requests_total{" REQ_LABELS(OUT_LABELS(CART, "http"),
		    "200", "-", "GET", "default") "} 1") <
	    line_at(s,
		"weft_requests_total{" REQ_LABELS(
		    IN_LABELS(WEB, "http"), "503", "UC", "POST", "api") "} 2"));
	ASSERT_LINE(s, "# TYPE weft_request_duration_seconds histogram");
	ASSERT_LINE(s, "# TYPE weft_request_bytes histogram");
	ASSERT_LINE(s, "# TYPE weft_response_bytes histogram");
	/* No TCP series came from requests. */
	assert_int_equal(count_prefix(s, "weft_tcp_"), 0);
	assert_int_equal(metrics_requests_total(shards, NSHARDS), 3);
}

static void
test_duration_histogram(void **state)
{
	struct metrics_req_key k = req_key(METRICS_OUTBOUND, METRICS_M_GET,
	    METRICS_RF_NONE, 200, CART, "default");
	uint64_t want[METRICS_DUR_BUCKETS + 1];
	int i;

	metrics_request(shards[0], &k, 400000, 0, 0);         /* 0.0004 s */
	metrics_request(shards[0], &k, 3000000, 0, 0);        /* 0.003 s */
	metrics_request(shards[0], &k, 70000000000ULL, 0, 0); /* 70 s */
	for (i = 0; i <= METRICS_DUR_BUCKETS; i++)
		want[i] = i < 3 ? 1 : i < METRICS_DUR_BUCKETS ? 2 : 3;
	expect_histogram(render(), "weft_request_duration_seconds",
	    REQ_LABELS(OUT_LABELS(CART, "http"), "200", "-", "GET", "default"),
	    METRICS_DUR_BUCKETS, dur_le, NULL, want, "70.0034");
}

/* A duration equal to a bound is in that bucket (le is "<="). */
static void
test_duration_bounds_inclusive(void **state)
{
	struct metrics_req_key k = req_key(
	    METRICS_INBOUND, METRICS_M_PUT, METRICS_RF_NONE, 204, WEB, "");
	uint64_t want[METRICS_DUR_BUCKETS + 1];
	int i;

	for (i = 0; i < METRICS_DUR_BUCKETS; i++) {
		metrics_request(shards[1], &k, dur_le_ns[i], 0, 0);
		want[i] = i + 1;
	}
	metrics_request(
	    shards[1], &k, dur_le_ns[METRICS_DUR_BUCKETS - 1] + 1, 0, 0);
	want[METRICS_DUR_BUCKETS] = METRICS_DUR_BUCKETS + 1;
	/* 0.0005 + 0.001 + ... + 60, and 60.000000001. */
	expect_histogram(render(), "weft_request_duration_seconds",
	    REQ_LABELS(IN_LABELS(WEB, "http"), "204", "-", "PUT", ""),
	    METRICS_DUR_BUCKETS, dur_le, NULL, want, "169.444000001");
}

static void
test_bytes_histograms(void **state)
{
	struct metrics_req_key k = req_key(METRICS_OUTBOUND, METRICS_M_POST,
	    METRICS_RF_NONE, 201, CART, "orders");
	static const uint64_t want_req[METRICS_BYTES_BUCKETS + 1] = {
	    1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3};
	static const uint64_t want_resp[METRICS_BYTES_BUCKETS + 1] = {
	    1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3};
	const char *s;

	/* Requests of 64, 65 and 20e6 bytes; responses of 0, 1 MiB, 5000. */
	metrics_request(shards[0], &k, 1000, 64, 0);
	metrics_request(shards[0], &k, 1000, 65, 1048576);
	metrics_request(shards[0], &k, 1000, 20000000, 5000);
	s = render();
	expect_histogram(s, "weft_request_bytes",
	    REQ_LABELS(OUT_LABELS(CART, "http"), "201", "-", "POST", "orders"),
	    METRICS_BYTES_BUCKETS, NULL, bytes_le, want_req, "20000129");
	expect_histogram(s, "weft_response_bytes",
	    REQ_LABELS(OUT_LABELS(CART, "http"), "201", "-", "POST", "orders"),
	    METRICS_BYTES_BUCKETS, NULL, bytes_le, want_resp, "1053576");
	ASSERT_LINE(s,
	    "weft_request_duration_seconds_sum{" REQ_LABELS(
		OUT_LABELS(CART, "http"), "201", "-", "POST",
		"orders") "} 0.000003");
}

/* Sums are exact: no rounding to 9 significant digits. */
static void
test_sums_exact(void **state)
{
	struct metrics_req_key a = req_key(
	    METRICS_OUTBOUND, METRICS_M_GET, METRICS_RF_NONE, 200, CART, "big");
	struct metrics_req_key b = req_key(
	    METRICS_OUTBOUND, METRICS_M_GET, METRICS_RF_NONE, 404, CART, "big");
	const char *s;

	metrics_request(
	    shards[0], &a, 1234567891234ULL, 1000000123, 98765432101ULL);
	metrics_request(shards[0], &b, 1000000000, 0, 0);
	metrics_request(shards[0], &b, 1000000000, 0, 0);
	s = render();
	ASSERT_LINE(s,
	    "weft_request_duration_seconds_sum{" REQ_LABELS(
		OUT_LABELS(CART, "http"), "200", "-", "GET",
		"big") "} 1234.567891234");
	ASSERT_LINE(s,
	    "weft_request_bytes_sum{" REQ_LABELS(OUT_LABELS(CART, "http"),
		"200", "-", "GET", "big") "} 1000000123");
	ASSERT_LINE(s,
	    "weft_response_bytes_sum{" REQ_LABELS(OUT_LABELS(CART, "http"),
		"200", "-", "GET", "big") "} 98765432101");
	ASSERT_LINE(s,
	    "weft_request_duration_seconds_sum{" REQ_LABELS(
		OUT_LABELS(CART, "http"), "404", "-", "GET", "big") "} 2");
	ASSERT_LINE(s,
	    "weft_request_bytes_sum{" REQ_LABELS(
		OUT_LABELS(CART, "http"), "404", "-", "GET", "big") "} 0");
}

static void
test_merge_shards(void **state)
{
	struct metrics_req_key a = req_key(METRICS_OUTBOUND, METRICS_M_GET,
	    METRICS_RF_NONE, 200, CART, "default");
	struct metrics_req_key b = req_key(METRICS_OUTBOUND, METRICS_M_GET,
	    METRICS_RF_UT, 504, CART, "default");
	static const uint64_t want_dur[METRICS_DUR_BUCKETS + 1] = {
	    2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3};
	static const uint64_t want_req[METRICS_BYTES_BUCKETS + 1] = {
	    0, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3};
	const char *s;

	metrics_request(shards[0], &a, 400000, 100, 1);
	metrics_request(shards[0], &a, 400000, 100, 1);
	metrics_request(shards[1], &a, 3000000, 300, 1);
	metrics_request(shards[1], &b, 15000000000ULL, 0, 0);
	assert_int_equal(metrics_requests_total(shards, 1), 2);
	assert_int_equal(metrics_requests_total(shards + 1, 1), 2);
	assert_int_equal(metrics_requests_total(shards, NSHARDS), 4);
	s = render();
	ASSERT_LINE(s,
	    "weft_requests_total{" REQ_LABELS(
		OUT_LABELS(CART, "http"), "200", "-", "GET", "default") "} 3");
	ASSERT_LINE(s,
	    "weft_requests_total{" REQ_LABELS(
		OUT_LABELS(CART, "http"), "504", "UT", "GET", "default") "} 1");
	assert_int_equal(count_prefix(s, "weft_requests_total{"), 2);
	expect_histogram(s, "weft_request_duration_seconds",
	    REQ_LABELS(OUT_LABELS(CART, "http"), "200", "-", "GET", "default"),
	    METRICS_DUR_BUCKETS, dur_le, NULL, want_dur, "0.0038");
	expect_histogram(s, "weft_request_bytes",
	    REQ_LABELS(OUT_LABELS(CART, "http"), "200", "-", "GET", "default"),
	    METRICS_BYTES_BUCKETS, NULL, bytes_le, want_req, "500");

	/* Rendering one shard shows only what it counted. */
	s = render_n(1, &no_globals);
	ASSERT_LINE(s,
	    "weft_requests_total{" REQ_LABELS(
		OUT_LABELS(CART, "http"), "200", "-", "GET", "default") "} 2");
	assert_int_equal(count_prefix(s, "weft_requests_total{"), 1);
}

/*
 * The other side's workload on TCP series: outbound the endpoint's
 * (destination_workload), inbound the caller's (source_workload).
 */
static void
test_tcp_peer_names(void **state)
{
	struct metrics_tcp_key out, in;
	const char *s;

	(void)state;
	memset(&out, 0, sizeof(out));
	out.direction = METRICS_OUTBOUND;
	strcpy(out.service, "db.data.svc.cluster.local");
	strcpy(out.peer_workload, "db-1");
	strcpy(out.peer_namespace, "data");
	memset(&in, 0, sizeof(in));
	in.direction = METRICS_INBOUND;
	strcpy(in.service, "web.shop.svc.cluster.local");
	strcpy(in.peer_workload, "cart");
	strcpy(in.peer_namespace, "shop");
	metrics_tcp_open(shards[0], &out);
	metrics_tcp_open(shards[1 % NSHARDS], &in);
	metrics_tcp_open(shards[0], &in);
	s = render();
	assert_non_null(strstr(s,
	    "weft_tcp_connections_opened_total{reporter=\"source\","
	    "direction=\"outbound\",source_workload=\"web\","
	    "source_workload_namespace=\"shop\",source_principal=\"unknown\","
	    "destination_service=\"db.data.svc.cluster.local\","
	    "destination_workload=\"db-1\","
	    "destination_workload_namespace=\"data\","
	    "destination_version=\"unknown\","));
	assert_non_null(strstr(s,
	    "weft_tcp_connections_opened_total{reporter=\"destination\","
	    "direction=\"inbound\",source_workload=\"cart\","
	    "source_workload_namespace=\"shop\",source_principal=\"unknown\","
	    "destination_service=\"web.shop.svc.cluster.local\","
	    "destination_workload=\"web\","));
	/* Equal keys of two shards are one series: 2 inbound opens. */
	assert_non_null(strstr(s,
	    "destination_version=\"v1\","
	    "request_protocol=\"tcp\","
	    "connection_security_policy=\"none\"} 2\n"));
}

static void
test_tcp(void **state)
{
	struct metrics_tcp_key db = tcp_key(METRICS_OUTBOUND, 0, "db.shop");
	struct metrics_tcp_key web = tcp_key(METRICS_INBOUND, 1, WEB);
	const char *s;

	metrics_tcp_open(shards[0], &db);
	metrics_tcp_open(shards[0], &db);
	metrics_tcp_bytes(shards[0], &db, 100, 200);
	metrics_tcp_bytes(shards[0], &db, 5, 7);
	metrics_tcp_close(shards[0], &db);
	metrics_tcp_open(shards[0], &web);
	metrics_tcp_open(shards[1], &web);
	metrics_tcp_bytes(shards[1], &web, 10, 20);
	s = render();
	ASSERT_LINE(s, "# TYPE weft_tcp_connections_opened_total counter");
	ASSERT_LINE(s, "# TYPE weft_tcp_connections_closed_total counter");
	ASSERT_LINE(s, "# TYPE weft_tcp_sent_bytes_total counter");
	ASSERT_LINE(s, "# TYPE weft_tcp_received_bytes_total counter");
	ASSERT_LINE(s,
	    "weft_tcp_connections_opened_total{" OUT_LABELS(
		"db.shop", "tcp") "} 2");
	ASSERT_LINE(s,
	    "weft_tcp_connections_closed_total{" OUT_LABELS(
		"db.shop", "tcp") "} 1");
	ASSERT_LINE(s,
	    "weft_tcp_sent_bytes_total{" OUT_LABELS("db.shop", "tcp") "} 105");
	ASSERT_LINE(s,
	    "weft_tcp_received_bytes_total{" OUT_LABELS(
		"db.shop", "tcp") "} 207");
	ASSERT_LINE(s,
	    "weft_tcp_connections_opened_total{" IN_LABELS(WEB, "http") "} 2");
	ASSERT_LINE(s,
	    "weft_tcp_connections_closed_total{" IN_LABELS(WEB, "http") "} 0");
	ASSERT_LINE(
	    s, "weft_tcp_sent_bytes_total{" IN_LABELS(WEB, "http") "} 10");
	ASSERT_LINE(
	    s, "weft_tcp_received_bytes_total{" IN_LABELS(WEB, "http") "} 20");
	assert_int_equal(count_prefix(s, "weft_tcp_"), 8);
	/* Connections are not requests. */
	assert_int_equal(count_prefix(s, "weft_requests_total{"), 0);
	assert_int_equal(metrics_requests_total(shards, NSHARDS), 0);
}

static void
test_denied(void **state)
{
	static const char *const zero[] = {
	    "weft_denied_total{reason=\"authz\"} 0",
	    "weft_denied_total{reason=\"jwt\"} 0",
	    "weft_denied_total{reason=\"rate_limit\"} 0",
	    "weft_denied_total{reason=\"mtls\"} 0",
	    "weft_denied_total{reason=\"l4\"} 0",
	    "weft_denied_total{reason=\"bad_request\"} 0",
	};
	const char *s;
	size_t i;

	s = render();
	ASSERT_LINE(s, "# TYPE weft_denied_total counter");
	for (i = 0; i < NCASES(zero); i++)
		ASSERT_LINE(s, zero[i]);
	assert_int_equal(count_prefix(s, "weft_denied_total{"), 6);

	metrics_deny(shards[0], METRICS_DENY_AUTHZ);
	metrics_deny(shards[0], METRICS_DENY_AUTHZ);
	metrics_deny(shards[0], METRICS_DENY_JWT);
	metrics_deny(shards[1], METRICS_DENY_AUTHZ);
	metrics_deny(shards[1], METRICS_DENY_BAD_REQUEST);
	metrics_deny(shards[1], METRICS_DENY_COUNT); /* ignored */
	s = render();
	ASSERT_LINE(s, "weft_denied_total{reason=\"authz\"} 3");
	ASSERT_LINE(s, "weft_denied_total{reason=\"jwt\"} 1");
	ASSERT_LINE(s, "weft_denied_total{reason=\"rate_limit\"} 0");
	ASSERT_LINE(s, "weft_denied_total{reason=\"mtls\"} 0");
	ASSERT_LINE(s, "weft_denied_total{reason=\"l4\"} 0");
	ASSERT_LINE(s, "weft_denied_total{reason=\"bad_request\"} 1");
	assert_int_equal(count_prefix(s, "weft_denied_total{"), 6);
	assert_int_equal(count_prefix(s, "weft_requests_total{"), 0);
}

static void
test_globals(void **state)
{
	struct metrics_globals g = {
	    42, 3, 1, 1700000000.5, 1800000000.0, 1699999999.25, 7, 4, NULL};
	const char *s;

	s = render_n(NSHARDS, &g);
	ASSERT_LINE(s, "# TYPE weft_config_version gauge");
	ASSERT_LINE(s, "weft_config_version 42");
	ASSERT_LINE(s, "# TYPE weft_config_reloads_total counter");
	ASSERT_LINE(s, "weft_config_reloads_total{result=\"success\"} 3");
	ASSERT_LINE(s, "weft_config_reloads_total{result=\"failure\"} 1");
	ASSERT_LINE(s,
	    "# TYPE weft_config_last_reload_timestamp_seconds "
	    "gauge");
	ASSERT_LINE(
	    s, "weft_config_last_reload_timestamp_seconds 1700000000.500");
	ASSERT_LINE(s, "# TYPE weft_cert_expiry_timestamp_seconds gauge");
	ASSERT_LINE(s, "weft_cert_expiry_timestamp_seconds 1800000000");
	ASSERT_LINE(s, "# TYPE weft_connections_active gauge");
	ASSERT_LINE(s, "weft_connections_active 7");
	ASSERT_LINE(s, "# TYPE weft_start_time_seconds gauge");
	ASSERT_LINE(s, "weft_start_time_seconds 1699999999.250");
	ASSERT_LINE(s, "# TYPE weft_tap_events_dropped_total counter");
	ASSERT_LINE(s, "weft_tap_events_dropped_total 4");
	ASSERT_LINE(s, "weft_metrics_overflow_total 0");
	/* Without an L4 queue, no L4 series. */
	assert_null(strstr(s, "weft_l4_"));

	/* Without a certificate the gauge has no sample. */
	g.cert_expiry = 0;
	g.config_version = -1;
	s = render_n(NSHARDS, &g);
	ASSERT_LINE(s, "# TYPE weft_cert_expiry_timestamp_seconds gauge");
	assert_int_equal(count_prefix(s, "weft_cert_expiry_timestamp"), 0);
	ASSERT_LINE(s, "weft_config_version -1");

	s = render_n(NSHARDS, &no_globals);
	ASSERT_LINE(s, "weft_config_version 0");
	ASSERT_LINE(s, "weft_config_reloads_total{result=\"success\"} 0");
	ASSERT_LINE(s, "weft_config_last_reload_timestamp_seconds 0.000");
	ASSERT_LINE(s, "weft_connections_active 0");
}

/* The L4 verdict process's counters: verdicts, and its denials. */
static void
test_l4(void **state)
{
	uint64_t l4[METRICS_L4_COUNT] = {5, 2, 1};
	struct metrics_globals g = {.l4 = l4};
	const char *s;

	metrics_deny(shards[0], METRICS_DENY_L4);
	metrics_deny(shards[1], METRICS_DENY_AUTHZ);
	s = render_n(NSHARDS, &g);
	ASSERT_LINE(s, "# TYPE weft_l4_verdicts_total counter");
	ASSERT_LINE(s, "weft_l4_verdicts_total{verdict=\"accept\"} 5");
	/* Policy denials and unreadable packets are both dropped. */
	ASSERT_LINE(s, "weft_l4_verdicts_total{verdict=\"drop\"} 3");
	ASSERT_LINE(s, "# TYPE weft_l4_malformed_packets_total counter");
	ASSERT_LINE(s, "weft_l4_malformed_packets_total 1");
	ASSERT_LINE(s, "weft_denied_total{reason=\"l4\"} 3");
	ASSERT_LINE(s, "weft_denied_total{reason=\"authz\"} 1");
}

/* A quote, a backslash and a newline in label values are escaped. */
static void
test_label_escaping(void **state)
{
	struct metrics_req_key k = req_key(METRICS_OUTBOUND, METRICS_M_GET,
	    METRICS_RF_NONE, 200, "we\"ird\\svc\nx", "r\"1\\");
	struct metrics_tcp_key t = tcp_key(METRICS_OUTBOUND, 0, "a\\\"\n");
	const char *s;

	metrics_request(shards[0], &k, 1000, 1, 1);
	metrics_tcp_open(shards[0], &t);
	s = render();
	ASSERT_LINE(s,
	    "weft_requests_total{" REQ_LABELS(
		OUT_LABELS("we\\\"ird\\\\svc\\nx", "http"), "200", "-", "GET",
		"r\\\"1\\\\") "} 1");
	ASSERT_LINE(s,
	    "weft_tcp_connections_opened_total{" OUT_LABELS(
		"a\\\\\\\"\\n", "tcp") "} 1");
	/* No raw newline splits a sample. */
	assert_int_equal(count_prefix(s, "x\""), 0);
}

/*
 * Past METRICS_MAX_SERIES label sets in a shard, new ones fold into
 * service="overflow" (keeping method and code), counted in
 * weft_metrics_overflow_total; existing series go on counting.
 */
static void
test_series_cap(void **state)
{
	struct metrics_req_key k;
	char svc[32];
	const char *s;
	int i;

	for (i = 0; i < METRICS_MAX_SERIES; i++) {
		snprintf(svc, sizeof(svc), "svc-%04d", i);
		k = req_key(METRICS_OUTBOUND, METRICS_M_GET, METRICS_RF_NONE,
		    200, svc, "r");
		metrics_request(shards[0], &k, 1000, 1, 1);
	}
	k = req_key(METRICS_OUTBOUND, METRICS_M_GET, METRICS_RF_NONE, 200,
	    "svc-0000", "r");
	metrics_request(shards[0], &k, 1000, 1, 1);
	k = req_key(METRICS_OUTBOUND, METRICS_M_GET, METRICS_RF_NONE, 200,
	    "late-1", "r");
	metrics_request(shards[0], &k, 1000, 1, 1);
	metrics_request(shards[0], &k, 1000, 1, 1);
	k = req_key(METRICS_OUTBOUND, METRICS_M_GET, METRICS_RF_NONE, 200,
	    "late-2", "x");
	metrics_request(shards[0], &k, 1000, 1, 1);
	k = req_key(METRICS_OUTBOUND, METRICS_M_POST, METRICS_RF_NONE, 500,
	    "late-3", "r");
	metrics_request(shards[0], &k, 1000, 1, 1);
	/* The other shard has room of its own. */
	k = req_key(METRICS_OUTBOUND, METRICS_M_GET, METRICS_RF_NONE, 200,
	    "late-1", "r");
	metrics_request(shards[1], &k, 1000, 1, 1);
	assert_int_equal(
	    metrics_requests_total(shards, NSHARDS), METRICS_MAX_SERIES + 6);

	s = render();
	ASSERT_LINE(s, "weft_metrics_overflow_total 4");
	ASSERT_LINE(s,
	    "weft_requests_total{" REQ_LABELS(OUT_LABELS("overflow", "http"),
		"200", "-", "GET", "overflow") "} 3");
	ASSERT_LINE(s,
	    "weft_requests_total{" REQ_LABELS(OUT_LABELS("overflow", "http"),
		"500", "-", "POST", "overflow") "} 1");
	ASSERT_LINE(s,
	    "weft_requests_total{" REQ_LABELS(
		OUT_LABELS("svc-0000", "http"), "200", "-", "GET", "r") "} 2");
	ASSERT_LINE(s,
	    "weft_requests_total{" REQ_LABELS(
		OUT_LABELS("svc-4095", "http"), "200", "-", "GET", "r") "} 1");
	ASSERT_LINE(s,
	    "weft_requests_total{" REQ_LABELS(
		OUT_LABELS("late-1", "http"), "200", "-", "GET", "r") "} 1");
	assert_null(strstr(s, "late-2"));
	assert_null(strstr(s, "late-3"));
	assert_int_equal(
	    count_prefix(s, "weft_requests_total{"), METRICS_MAX_SERIES + 3);
	/* Each series: a counter and three histograms, nothing more. */
	assert_int_equal(count_prefix(s, "weft_request_duration_seconds_"),
	    (METRICS_MAX_SERIES + 3) * (METRICS_DUR_BUCKETS + 3));
}

/* Outbound, the endpoint's workload, namespace and version label. */
static void
test_destination_workload(void **state)
{
	struct metrics_req_key k = req_key(METRICS_OUTBOUND, METRICS_M_GET,
	    METRICS_RF_NONE, 200, CART, "default");

	snprintf(k.peer_workload, sizeof(k.peer_workload), "cart-1");
	snprintf(k.peer_namespace, sizeof(k.peer_namespace), "shop");
	snprintf(k.peer_version, sizeof(k.peer_version), "v2");
	metrics_request(shards[0], &k, 1000000, 10, 10);
	/* Another endpoint of the same service is another series. */
	snprintf(k.peer_workload, sizeof(k.peer_workload), "cart-2");
	metrics_request(shards[1], &k, 1000000, 10, 10);
	render();
	ASSERT_LINE(text,
	    "weft_requests_total{reporter=\"source\",direction=\"outbound\","
	    "source_workload=\"web\",source_workload_namespace=\"shop\","
	    "source_principal=\"unknown\",destination_service=\"" CART "\","
	    "destination_workload=\"cart-1\","
	    "destination_workload_namespace=\"shop\","
	    "destination_version=\"v2\",request_protocol=\"http\","
	    "connection_security_policy=\"none\",response_code=\"200\","
	    "response_flags=\"-\",method=\"GET\",route=\"default\"} 1");
	assert_non_null(strstr(text, "destination_workload=\"cart-2\""));
}

/* The golden-metric view: requests, successes and buckets per key. */
static void
test_stats_collect(void **state)
{
	struct metrics_req_key k;
	struct metrics_tcp_key t = tcp_key(METRICS_INBOUND, 1, WEB);
	struct stats_set set = {0};
	size_t i;

	k = req_key(METRICS_INBOUND, METRICS_M_GET, METRICS_RF_NONE, 200, WEB,
	    "default");
	metrics_request(shards[0], &k, 3000000, 1, 1);
	metrics_request(shards[1], &k, 3000000, 1, 1);
	k.code = 404; /* a client error is a success of the server */
	metrics_request(shards[0], &k, 200000000, 1, 1);
	k.code = 503;
	metrics_request(shards[1], &k, 200000000, 1, 1);
	k.method = METRICS_M_POST;
	k.code = 0; /* the client went away */
	metrics_request(shards[1], &k, 200000000, 1, 1);
	metrics_tcp_open(shards[0], &t);
	metrics_tcp_open(shards[1], &t);
	metrics_tcp_close(shards[1], &t);
	assert_int_equal(metrics_stats_collect(shards, NSHARDS, &set), 0);
	stats_set_fold(&set);
	/* One key for the requests, one for the connections ("-"). */
	assert_int_equal(set.n, 2);
	for (i = 0; i < set.n; i++) {
		if (strcmp(set.p[i].key.route, "-") == 0) {
			assert_int_equal(set.p[i].tcp_open, 1);
			assert_int_equal(set.p[i].requests, 0);
			continue;
		}
		assert_string_equal(set.p[i].key.service, WEB);
		assert_int_equal(set.p[i].requests, 5);
		assert_int_equal(set.p[i].success, 3);
		assert_int_equal(set.p[i].dur[3], 2); /* (2.5, 5] ms */
		assert_int_equal(set.p[i].dur[8], 3); /* (0.1, 0.25] s */
	}
	stats_set_clear(&set);
}

/* mTLS: the peer's principal inbound, ours outbound, and the policy. */
static void
test_mtls_labels(void **state)
{
	struct metrics_tcp_key in = tcp_key(METRICS_INBOUND, 0, "db.shop");
	struct metrics_req_key out = req_key(METRICS_OUTBOUND, METRICS_M_GET,
	    METRICS_RF_NONE, 200, CART, "default");
	const char *s;

	in.mtls = 1;
	snprintf(in.peer, sizeof(in.peer), "spiffe://cluster.local/ns/a/sa/b");
	out.mtls = 1;
	metrics_tcp_open(shards[0], &in);
	metrics_request(shards[0], &out, 1000000, 10, 20);
	s = render();
	ASSERT_LINE(s,
	    "weft_tcp_connections_opened_total{reporter=\"destination\","
	    "direction=\"inbound\",source_workload=\"unknown\","
	    "source_workload_namespace=\"unknown\",source_principal="
	    "\"spiffe://cluster.local/ns/a/sa/b\",destination_service="
	    "\"db.shop\",destination_workload=\"web\","
	    "destination_workload_namespace=\"shop\",destination_version="
	    "\"v1\",request_protocol=\"tcp\",connection_security_policy="
	    "\"mutual_tls\"} 1");
	ASSERT_LINE(s,
	    "weft_requests_total{reporter=\"source\",direction=\"outbound\","
	    "source_workload=\"web\",source_workload_namespace=\"shop\","
	    "source_principal=\"" PRINCIPAL "\",destination_service=\"" CART
	    "\",destination_workload=\"unknown\","
	    "destination_workload_namespace=\"unknown\","
	    "destination_version=\"unknown\",request_protocol=\"http\","
	    "connection_security_policy=\"mutual_tls\",response_code=\"200\","
	    "response_flags=\"-\",method=\"GET\",route=\"default\"} 1");
}

static void
test_tcp_series_cap(void **state)
{
	struct metrics_tcp_key k;
	char svc[32];
	const char *s;
	int i;

	for (i = 0; i < METRICS_MAX_SERIES; i++) {
		snprintf(svc, sizeof(svc), "svc-%04d", i);
		k = tcp_key(METRICS_INBOUND, 0, svc);
		metrics_tcp_open(shards[0], &k);
	}
	k = tcp_key(METRICS_INBOUND, 0, "svc-0000");
	metrics_tcp_open(shards[0], &k);
	k = tcp_key(METRICS_INBOUND, 0, "late-a");
	metrics_tcp_open(shards[0], &k);
	metrics_tcp_close(shards[0], &k);
	k = tcp_key(METRICS_INBOUND, 0, "late-b");
	metrics_tcp_open(shards[0], &k);
	metrics_tcp_bytes(shards[0], &k, 10, 20);
	s = render();
	ASSERT_LINE(s, "weft_metrics_overflow_total 4");
	ASSERT_LINE(s,
	    "weft_tcp_connections_opened_total{" IN_LABELS(
		"overflow", "tcp") "} 2");
	ASSERT_LINE(s,
	    "weft_tcp_connections_closed_total{" IN_LABELS(
		"overflow", "tcp") "} 1");
	ASSERT_LINE(s,
	    "weft_tcp_sent_bytes_total{" IN_LABELS("overflow", "tcp") "} 10");
	ASSERT_LINE(s,
	    "weft_tcp_received_bytes_total{" IN_LABELS(
		"overflow", "tcp") "} 20");
	ASSERT_LINE(s,
	    "weft_tcp_connections_opened_total{" IN_LABELS(
		"svc-0000", "tcp") "} 2");
	assert_null(strstr(s, "late-"));
	assert_int_equal(count_prefix(s, "weft_tcp_connections_opened_total{"),
	    METRICS_MAX_SERIES + 1);
}

static int
have_promtool(void)
{
	return system("command -v promtool >/dev/null 2>&1") == 0;
}

/* promtool parses and lints a rendering with every kind of series. */
static void
test_promtool(void **state)
{
	uint64_t l4[METRICS_L4_COUNT] = {9, 4, 2};
	struct metrics_globals g = {
	    7, 2, 1, 1700000000.5, 1800000000.0, 1699999999.25, 3, 4, l4};
	struct metrics_req_key k;
	struct metrics_tcp_key t;
	const char *s;
	FILE *p;
	int rc, i;

	/*
	 * Not skip(): cmocka 1.1 reports a skip as "not ok ... # SKIP",
	 * which automake's TAP driver counts as a failure.
	 */
	if (!have_promtool()) {
		print_message("# promtool not on PATH: exposition format "
			      "not checked\n");
		return;
	}
	for (i = 0; i < METRICS_RF_COUNT; i++) {
		k = req_key(i % 2 ? METRICS_INBOUND : METRICS_OUTBOUND,
		    (enum metrics_method)(i % (METRICS_M_OTHER + 1)),
		    (enum metrics_rflag)i, (uint16_t)(200 + i * 25),
		    i == 3 ? "we\"ird\\svc\nx" : CART, i == 5 ? "" : "default");
		metrics_request(shards[i % NSHARDS], &k, 1000000ULL * i * i,
		    100 * i, 1000 * i);
	}
	t = tcp_key(METRICS_OUTBOUND, 0, "db.shop");
	metrics_tcp_open(shards[0], &t);
	metrics_tcp_bytes(shards[0], &t, 1, 2);
	t = tcp_key(METRICS_INBOUND, 1, "q\"\\\n");
	metrics_tcp_open(shards[1], &t);
	metrics_tcp_close(shards[1], &t);
	metrics_deny(shards[0], METRICS_DENY_MTLS);
	s = render_n(NSHARDS, &g);

	/* promtool's report goes to stderr, out of the TAP stream. */
	assert_non_null(p = popen("promtool check metrics >&2", "w"));
	assert_int_equal(fwrite(s, 1, strlen(s), p), strlen(s));
	rc = pclose(p);
	assert_true(WIFEXITED(rc));
	if (WEXITSTATUS(rc) != 0)
		fail_msg("promtool check metrics: exit %d", WEXITSTATUS(rc));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_method_of),
	    cmocka_unit_test(test_rflag_name),
	    cmocka_unit_test_setup_teardown(
		test_request_labels, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_duration_histogram, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_duration_bounds_inclusive, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_bytes_histograms, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_sums_exact, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_merge_shards, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(test_tcp, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_tcp_peer_names, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_mtls_labels, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_destination_workload, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_stats_collect, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_denied, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_globals, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(test_l4, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_label_escaping, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_series_cap, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_tcp_series_cap, shards_new, shards_free),
	    cmocka_unit_test_setup_teardown(
		test_promtool, shards_new, shards_free),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
