/*
 * Unit tests for the span exporter (src/proxy/trace_export.c): the
 * Zipkin v2 and OTLP/HTTP JSON encoders against expected documents,
 * collector URL checks, a ring that fills up and drops, and the thread
 * posting to an HTTP server on loopback (a free port picked at run
 * time), failing against a closed port or running into its deadline
 * against one that never answers.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "trace.h"

static const struct trace_service svc = {"cli", "e2e", "v1"};

static void
span_fill(struct trace_span *sp, int kind, int status)
{
	memset(sp, 0, sizeof(*sp));
	sp->trace_hi = 0x4bf92f3577b34da6ULL;
	sp->trace_lo = 0xa3ce929d0e0e4736ULL;
	sp->span_id = 0x00f067aa0ba902b7ULL;
	sp->parent_id = kind == TRACE_KIND_SERVER ? 0x1111111111111111ULL : 0;
	sp->start_us = 1700000000000000ULL;
	sp->duration_us = 1500;
	sp->req_bytes = 80;
	sp->resp_bytes = 120;
	sp->kind = kind;
	sp->status = status;
	sp->peer_port = 8080;
	snprintf(sp->peer_ip, sizeof(sp->peer_ip), "198.18.9.2");
	snprintf(sp->name, sizeof(sp->name), "app:8080/*");
	snprintf(sp->method, sizeof(sp->method), "GET");
	snprintf(sp->url, sizeof(sp->url), "http://app:8080/x");
	snprintf(sp->protocol, sizeof(sp->protocol), "HTTP/1.1");
	snprintf(sp->response_flags, sizeof(sp->response_flags), "-");
	snprintf(sp->route, sizeof(sp->route), "default");
	snprintf(sp->request_id, sizeof(sp->request_id), "rid-1");
}

static void
assert_json_eq(const char *got, const char *want)
{
	json_error_t e;
	json_t *g, *w;

	assert_non_null(got);
	g = json_loads(got, 0, &e);
	assert_non_null(g);
	w = json_loads(want, 0, &e);
	if (w == NULL)
		fail_msg("bad expected JSON: %s", e.text);
	if (!json_equal(g, w))
		fail_msg("got %s\nwant %s", got, want);
	json_decref(g);
	json_decref(w);
}

#define TAGS_COMMON                                                            \
	"\"component\":\"proxy\",\"node_id\":\"cli.e2e\","                     \
	"\"istio.canonical_service\":\"cli\","                                 \
	"\"istio.canonical_revision\":\"v1\",\"istio.namespace\":\"e2e\","     \
	"\"http.method\":\"GET\",\"http.url\":\"http://app:8080/x\","          \
	"\"http.protocol\":\"HTTP/1.1\",\"response_flags\":\"-\","             \
	"\"request_size\":\"80\",\"response_size\":\"120\","                   \
	"\"route_name\":\"default\",\"guid:x-request-id\":\"rid-1\""

static void
test_zipkin(void **state)
{
	struct trace_span sp[2];
	char *out;

	(void)state;
	span_fill(&sp[0], TRACE_KIND_CLIENT, 200);
	span_fill(&sp[1], TRACE_KIND_SERVER, 503);
	out = trace_encode_zipkin(sp, 2, &svc);
	assert_json_eq(out,
	    "[{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
	    "\"id\":\"00f067aa0ba902b7\",\"name\":\"app:8080/*\","
	    "\"kind\":\"CLIENT\",\"timestamp\":1700000000000000,"
	    "\"duration\":1500,\"localEndpoint\":{\"serviceName\":\"cli.e2e\"},"
	    "\"remoteEndpoint\":{\"ipv4\":\"198.18.9.2\",\"port\":8080},"
	    "\"tags\":{" TAGS_COMMON ",\"http.status_code\":\"200\"}},"
	    "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
	    "\"id\":\"00f067aa0ba902b7\",\"parentId\":\"1111111111111111\","
	    "\"name\":\"app:8080/*\",\"kind\":\"SERVER\","
	    "\"timestamp\":1700000000000000,\"duration\":1500,"
	    "\"localEndpoint\":{\"serviceName\":\"cli.e2e\"},"
	    "\"remoteEndpoint\":{\"ipv4\":\"198.18.9.2\",\"port\":8080},"
	    "\"tags\":{" TAGS_COMMON
	    ",\"http.status_code\":\"503\",\"error\":\"true\"}}]");
	free(out);
	/* IPv6 peers, no peer, an empty batch. */
	snprintf(sp[0].peer_ip, sizeof(sp[0].peer_ip), "2001:2::1");
	sp[1].peer_ip[0] = '\0';
	out = trace_encode_zipkin(sp, 2, &svc);
	assert_non_null(strstr(out, "\"ipv6\":\"2001:2::1\""));
	assert_null(strstr(strstr(out, "SERVER"), "remoteEndpoint"));
	free(out);
	out = trace_encode_zipkin(sp, 0, &svc);
	assert_string_equal(out, "[]");
	free(out);
}

#define ATTR_S(k, v) "{\"key\":\"" k "\",\"value\":{\"stringValue\":\"" v "\"}}"
#define ATTR_I(k, v) "{\"key\":\"" k "\",\"value\":{\"intValue\":\"" v "\"}}"

static void
test_otlp(void **state)
{
	struct trace_span sp[2];
	char *out;

	(void)state;
	span_fill(&sp[0], TRACE_KIND_CLIENT, 200);
	span_fill(&sp[1], TRACE_KIND_SERVER, 0);
	sp[1].route[0] = '\0';
	out = trace_encode_otlp(sp, 2, &svc);
	assert_json_eq(out,
	    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[" ATTR_S(
		"service.name", "cli.e2e") "," ATTR_S("service.namespace",
		"e2e") "," ATTR_S("service.instance.id",
		"cli") "]},"
		       "\"scopeSpans\":[{\"scope\":{\"name\":\"weft-proxy\","
		       "\"version\":\"" PACKAGE_VERSION "\"},\"spans\":["
		       "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
		       "\"spanId\":\"00f067aa0ba902b7\",\"name\":\"app:8080/"
		       "*\","
		       "\"kind\":3,\"startTimeUnixNano\":"
		       "\"1700000000000000000\","
		       "\"endTimeUnixNano\":\"1700000000001500000\","
		       "\"attributes\":[" ATTR_S(
			   "component", "proxy") "," ATTR_S("node_id",
			   "cli.e2e") "," ATTR_S("istio.canonical_service",
			   "cli") "," ATTR_S("istio.canonical_revision",
			   "v1") "," ATTR_S("istio.namespace",
			   "e2e") "," ATTR_S("http.method",
			   "GET") "," ATTR_S("http.url",
			   "http://app:8080/x") "," ATTR_S("http.protocol",
			   "HTTP/1.1") "," ATTR_I("http.status_code",
			   "200") "," ATTR_S("response_flags",
			   "-") "," ATTR_I("request_size",
			   "80") "," ATTR_I("response_size",
			   "120") "," ATTR_S("route_name",
			   "default") "," ATTR_S("guid:x-request-id",
			   "rid-1") "," ATTR_S("net.peer.ip",
			   "198.18.9.2") "," ATTR_I("net.peer.port",
			   "8080") "]},"
				   "{\"traceId\":"
				   "\"4bf92f3577b34da6a3ce929d0e0e4736\","
				   "\"spanId\":\"00f067aa0ba902b7\","
				   "\"parentSpanId\":\"1111111111111111\","
				   "\"name\":\"app:8080/*\","
				   "\"kind\":2,\"startTimeUnixNano\":"
				   "\"1700000000000000000\","
				   "\"endTimeUnixNano\":"
				   "\"1700000000001500000\",\"attributes\":"
				   "[" ATTR_S("component", "proxy") "," ATTR_S(
				       "node_id",
				       "cli.e2e") "," ATTR_S("istio.canonical_"
							     "service",
				       "cli") "," ATTR_S("istio.canonical_"
							 "revision",
				       "v1") "," ATTR_S("istio.namespace",
				       "e2e") "," ATTR_S("http.method",
				       "GET") "," ATTR_S("http.url",
				       "http://app:8080/x") "," ATTR_S("http."
								       "protoco"
								       "l",
				       "HTTP/1.1") "," ATTR_I("http.status_"
							      "code",
				       "0") "," ATTR_S("response_flags",
				       "-") "," ATTR_I("request_size",
				       "80") "," ATTR_I("response_size",
				       "120") "," ATTR_S("guid:x-request-id",
				       "rid-1") "," ATTR_S("error",
				       "true") "," ATTR_S("net.peer.ip",
				       "198.18.9.2") "," ATTR_I("net.peer.port",
				       "8080") "],"
					       "\"status\":{\"code\":2}}]}]}]"
					       "}");
	free(out);
}

static void
test_not_utf8(void **state)
{
	struct trace_span sp;
	char *out;

	(void)state;
	span_fill(&sp, TRACE_KIND_CLIENT, 200);
	snprintf(sp.url, sizeof(sp.url), "http://app/\xff\xfe");
	out = trace_encode_zipkin(&sp, 1, &svc);
	assert_non_null(out);
	assert_non_null(strstr(out, "\"http.url\":\"?\""));
	free(out);
	out = trace_encode_otlp(&sp, 1, &svc);
	assert_non_null(out);
	free(out);
}

static void
test_url_check(void **state)
{
	static const char *good[] = {"http://198.18.0.9:9411/api/v2/spans",
	    "http://collector:4318/v1/traces", "https://zipkin.example/",
	    "http://[::1]:9411/api/v2/spans", "HTTP://h", "https://h:443"};
	static const char *bad[] = {"", "ftp://h/", "http://", "http:///x",
	    "http://h:0/", "http://h:65536/", "http://h:x/", "http://h:/",
	    "http://user@h/", "http://[::1/", "http://h/a b", "h:9411"};
	char *cause;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cause = NULL;
		if (trace_url_check(good[i], &cause) != 0)
			fail_msg("refused %s: %s", good[i], cause);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cause = NULL;
		if (trace_url_check(bad[i], &cause) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(cause);
		free(cause);
	}
}

/* The value of a metric line in the exporter's rendering. */
static unsigned long long
render_value(struct trace_exporter *te, const char *series)
{
	struct evbuffer *b = evbuffer_new();
	unsigned long long v = 0;
	const char *p;
	char *s;
	size_t len;

	trace_exporter_render(te, b);
	len = evbuffer_get_length(b);
	s = calloc(1, len + 1);
	evbuffer_remove(b, s, len);
	evbuffer_free(b);
	/* The sample line, not the HELP line that names the series too. */
	for (p = s; (p = strstr(p, series)) != NULL; p++) {
		if (p > s && p[-1] == '\n') {
			v = strtoull(p + strlen(series), NULL, 10);
			break;
		}
	}
	free(s);
	return v;
}

static void
test_ring_full(void **state)
{
	struct trace_exporter_conf c;
	struct trace_exporter *te;
	struct trace_span *sp;
	char *cause = NULL;
	int i;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.url = "http://127.0.0.1:9/x";
	c.service = svc;
	c.nrings = 2;
	c.ring_size = 5; /* rounded up to 8 */
	te = trace_exporter_new(&c, &cause);
	assert_non_null(te);
	/* No thread: nothing drains, the ninth span is dropped. */
	for (i = 0; i < 8; i++) {
		sp = trace_ring_reserve(te, 1);
		assert_non_null(sp);
		span_fill(sp, TRACE_KIND_CLIENT, 200);
		trace_ring_commit(te, 1);
	}
	assert_null(trace_ring_reserve(te, 1));
	assert_null(trace_ring_reserve(te, 1));
	/* The other worker's ring is its own. */
	assert_non_null(trace_ring_reserve(te, 0));
	assert_int_equal(render_value(te,
			     "weft_trace_spans_dropped_total{reason="
			     "\"queue_full\"} "),
	    2);
	trace_exporter_free(te);
	trace_exporter_free(NULL);
	assert_null(trace_exporter_new(
	    &(struct trace_exporter_conf){.url = "gopher://x"}, &cause));
	free(cause);
}

struct collector {
	int fd;
	int port;
	char body[65536];
	size_t len;
	char head[4096];
};

/* Accepts one connection, reads a POST, answers 202. */
static void *
collector_main(void *arg)
{
	struct collector *col = arg;
	char buf[70000], *end;
	size_t got = 0, want = 0;
	ssize_t n;
	int fd;

	if ((fd = accept(col->fd, NULL, NULL)) == -1)
		return NULL;
	while (got < sizeof(buf) - 1) {
		n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(buf, "content-length:");

			want = (size_t)(end + 4 - buf) +
			    (cl != NULL ? strtoul(cl + 15, NULL, 10) : 0);
			if (got >= want)
				break;
		}
	}
	if ((end = strstr(buf, "\r\n\r\n")) != NULL) {
		snprintf(col->head, sizeof(col->head), "%.*s", (int)(end - buf),
		    buf);
		col->len = got - (size_t)(end + 4 - buf);
		memcpy(col->body, end + 4, col->len);
		col->body[col->len] = '\0';
	}
	n = write(fd, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", 45);
	(void)n;
	close(fd);
	return NULL;
}

static void
collector_listen(struct collector *col)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(col, 0, sizeof(*col));
	col->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(col->fd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(
	    bind(col->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(col->fd, 4), 0);
	assert_int_equal(
	    getsockname(col->fd, (struct sockaddr *)&sin, &len), 0);
	col->port = ntohs(sin.sin_port);
}

static void
test_export_posts(void **state)
{
	struct trace_exporter_conf c;
	struct trace_exporter *te;
	struct trace_span *sp;
	struct collector col;
	pthread_t th;
	char url[128], *cause = NULL;
	json_error_t e;
	json_t *doc;
	int i;

	(void)state;
	collector_listen(&col);
	assert_int_equal(pthread_create(&th, NULL, collector_main, &col), 0);
	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d/api/v2/spans", col.port);
	memset(&c, 0, sizeof(c));
	c.url = url;
	c.service = svc;
	c.nrings = 1;
	c.ring_size = 16;
	c.interval_ms = 100;
	te = trace_exporter_new(&c, &cause);
	assert_non_null(te);
	assert_int_equal(trace_exporter_start(te), 0);
	for (i = 0; i < 3; i++) {
		sp = trace_ring_reserve(te, 0);
		assert_non_null(sp);
		span_fill(sp, TRACE_KIND_CLIENT, 200);
		sp->span_id = (uint64_t)i + 1;
		trace_ring_commit(te, 0);
	}
	/* Bounded: at most 10 s for the batch to go out. */
	for (i = 0; i < 1000 &&
	     render_value(te, "weft_trace_spans_exported_total ") < 3;
	     i++)
		usleep(10000);
	assert_int_equal(
	    render_value(te, "weft_trace_spans_exported_total "), 3);
	trace_exporter_free(te);
	pthread_join(th, NULL);
	close(col.fd);
	assert_non_null(strstr(col.head, "POST /api/v2/spans HTTP/1.1"));
	assert_non_null(strcasestr(col.head, "content-type: application/json"));
	doc = json_loads(col.body, 0, &e);
	assert_non_null(doc);
	assert_int_equal(json_array_size(doc), 3);
	json_decref(doc);
}

static void
test_export_fails(void **state)
{
	struct trace_exporter_conf c;
	struct trace_exporter *te;
	struct collector col;
	char url[128], *cause = NULL;
	int i;

	(void)state;
	/* A port that was free a moment ago: connections are refused. */
	collector_listen(&col);
	close(col.fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces", col.port);
	memset(&c, 0, sizeof(c));
	c.url = url;
	c.format = TRACE_FORMAT_OTLP;
	c.service = svc;
	c.nrings = 1;
	c.ring_size = 16;
	c.interval_ms = 100;
	te = trace_exporter_new(&c, &cause);
	assert_non_null(te);
	assert_int_equal(trace_exporter_start(te), 0);
	for (i = 0; i < 2; i++) {
		span_fill(trace_ring_reserve(te, 0), TRACE_KIND_SERVER, 200);
		trace_ring_commit(te, 0);
	}
	for (i = 0; i < 1000 &&
	     render_value(te, "weft_trace_export_failures_total ") < 1;
	     i++)
		usleep(10000);
	assert_int_equal(render_value(te,
			     "weft_trace_spans_dropped_total{reason="
			     "\"export_failed\"} "),
	    2);
	assert_int_equal(
	    render_value(te, "weft_trace_spans_exported_total "), 0);
	trace_exporter_free(te);
}

static void
test_export_timeout(void **state)
{
	struct trace_exporter_conf c;
	struct trace_exporter *te;
	struct collector col;
	char url[128], *cause = NULL;
	int i;

	(void)state;
	/* Listening, never answering: the POST runs into its deadline. */
	collector_listen(&col);
	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d/api/v2/spans", col.port);
	memset(&c, 0, sizeof(c));
	c.url = url;
	c.service = svc;
	c.nrings = 1;
	c.ring_size = 16;
	c.interval_ms = 50;
	c.timeout_ms = 300;
	te = trace_exporter_new(&c, &cause);
	assert_non_null(te);
	assert_int_equal(trace_exporter_start(te), 0);
	span_fill(trace_ring_reserve(te, 0), TRACE_KIND_CLIENT, 200);
	trace_ring_commit(te, 0);
	for (i = 0; i < 1000 &&
	     render_value(te, "weft_trace_export_failures_total ") < 1;
	     i++)
		usleep(10000);
	assert_int_equal(render_value(te,
			     "weft_trace_spans_dropped_total{reason="
			     "\"export_failed\"} "),
	    1);
	trace_exporter_free(te);
	close(col.fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zipkin),
	    cmocka_unit_test(test_otlp),
	    cmocka_unit_test(test_not_utf8),
	    cmocka_unit_test(test_url_check),
	    cmocka_unit_test(test_ring_full),
	    cmocka_unit_test(test_export_posts),
	    cmocka_unit_test(test_export_fails),
	    cmocka_unit_test(test_export_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
