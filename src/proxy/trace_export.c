/*
 * The span rings of the workers and the exporter thread (see trace.h).
 *
 * A ring has one producer (its worker) and one consumer (the exporter):
 * head is written by the worker only, tail by the exporter only, each
 * published with release and read with acquire, so a slot is never read
 * while it is being filled nor filled while it is being read. The
 * exporter wakes every TE_POLL_MS, moves what the rings hold into its
 * batch and POSTs the batch when it is full or its oldest span has
 * waited interval_ms. The POST is blocking, on this thread only, with a
 * deadline; while it runs the rings absorb the workers' spans, and drop
 * (and count) what does not fit.
 */
#include "config.h"

#include <sys/types.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "https_client.h"
#include "log.h"
#include "trace.h"
#include "trace_ctx.h"
#include "xmalloc.h"

#define TE_POLL_MS     200
#define TE_LOG_EVERY_S 60

struct te_ring {
	struct trace_span *slots;
	unsigned int mask;
	unsigned int head; /* next slot the worker fills */
	unsigned int tail; /* next slot the exporter reads */
	uint64_t dropped;  /* spans refused because the ring was full */
};

struct te_url {
	int tls;
	char host[256];
	char port[8];
	char path[512];
	char base[300]; /* https://host:port, for the HTTPS client */
};

struct trace_exporter {
	struct trace_exporter_conf conf;
	struct te_url url;
	char *url_str;
	struct te_ring *rings;
	struct event_base *base; /* the exporter thread's, for HTTP */
	struct trace_span *batch;
	size_t nbatch;
	uint64_t batch_since_ms; /* when the oldest span of the batch came */
	pthread_t thread;
	int started;
	pthread_mutex_t mtx; /* guards stop, for the condition */
	pthread_cond_t cond;
	int stop;
	/* Counters, read by the metrics endpoint (atomics). */
	uint64_t exported;
	uint64_t failed_spans;
	uint64_t failures;
	time_t last_log;
};

static uint64_t
te_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
te_url_parse(const char *url, struct te_url *u, char **cause)
{
	const char *p, *host, *hend, *slash;
	size_t hlen;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, "http://", 7) == 0) {
		p = url + 7;
		snprintf(u->port, sizeof(u->port), "80");
	} else if (strncasecmp(url, "https://", 8) == 0) {
		p = url + 8;
		u->tls = 1;
		snprintf(u->port, sizeof(u->port), "443");
	} else {
		xasprintf(
		    cause, "\"%s\" is not an http:// or https:// URL", url);
		return -1;
	}
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = p + strlen(p);
	host = p;
	if (*host == '[') {
		hend = memchr(host, ']', (size_t)(slash - host));
		if (hend == NULL)
			goto bad;
		host++;
		hlen = (size_t)(hend - host);
		p = hend + 1;
	} else {
		hend = memchr(host, ':', (size_t)(slash - host));
		if (hend == NULL)
			hend = slash;
		hlen = (size_t)(hend - host);
		p = hend;
	}
	if (hlen == 0 || hlen >= sizeof(u->host) ||
	    memchr(host, '@', hlen) != NULL)
		goto bad;
	memcpy(u->host, host, hlen);
	if (*p == ':') {
		size_t plen = (size_t)(slash - p - 1);
		char *end;
		long port;

		if (plen == 0 || plen >= sizeof(u->port))
			goto bad;
		memcpy(u->port, p + 1, plen);
		u->port[plen] = '\0';
		port = strtol(u->port, &end, 10);
		if (*end != '\0' || port < 1 || port > 65535)
			goto bad;
	} else if (p != slash)
		goto bad;
	if (strlen(*slash == '\0' ? "/" : slash) >= sizeof(u->path))
		goto bad;
	snprintf(u->path, sizeof(u->path), "%s", *slash == '\0' ? "/" : slash);
	if (strpbrk(u->path, " \r\n\t") != NULL)
		goto bad;
	snprintf(u->base, sizeof(u->base),
	    strchr(u->host, ':') != NULL ? "https://[%s]:%s" : "https://%s:%s",
	    u->host, u->port);
	return 0;
bad:
	xasprintf(cause, "\"%s\" is not a usable collector URL", url);
	return -1;
}

int
trace_url_check(const char *url, char **cause)
{
	struct te_url u;

	return te_url_parse(url, &u, cause);
}

/*
 * The tags of a span, for both encodings: add() is called with a
 * string value, or with v NULL and an integer iv.
 */
typedef void (*te_tag_fn)(
    json_t *acc, const char *key, const char *v, long long iv);

static void
te_tags(const struct trace_span *sp, const struct trace_service *svc,
    te_tag_fn add, json_t *acc)
{
	char node[160];

	snprintf(node, sizeof(node), "%s.%s", svc->workload, svc->namespace);
	add(acc, "component", "proxy", 0);
	add(acc, "node_id", node, 0);
	add(acc, "istio.canonical_service", svc->workload, 0);
	add(acc, "istio.canonical_revision", svc->version, 0);
	add(acc, "istio.namespace", svc->namespace, 0);
	add(acc, "http.method", sp->method, 0);
	add(acc, "http.url", sp->url, 0);
	add(acc, "http.protocol", sp->protocol, 0);
	add(acc, "http.status_code", NULL, sp->status);
	add(acc, "response_flags", sp->response_flags, 0);
	add(acc, "request_size", NULL, (long long)sp->req_bytes);
	add(acc, "response_size", NULL, (long long)sp->resp_bytes);
	if (sp->route[0] != '\0')
		add(acc, "route_name", sp->route, 0);
	if (sp->cluster[0] != '\0')
		add(acc, "upstream_cluster", sp->cluster, 0);
	if (sp->upstream[0] != '\0')
		add(acc, "upstream_address", sp->upstream, 0);
	if (sp->downstream[0] != '\0')
		add(acc, "peer.address", sp->downstream, 0);
	if (sp->peer_workload[0] != '\0')
		add(acc, "peer.service", sp->peer_workload, 0);
	if (sp->request_id[0] != '\0')
		add(acc, "guid:x-request-id", sp->request_id, 0);
	if (sp->status == 0 || sp->status >= 500)
		add(acc, "error", "true", 0);
}

static int
te_set_str(json_t *o, const char *key, const char *v)
{
	/* Bytes that are not UTF-8 would make jansson refuse the string. */
	json_t *s = json_string(v);

	if (s == NULL)
		s = json_string("?");
	return json_object_set_new(o, key, s);
}

static void
te_zipkin_tag(json_t *acc, const char *key, const char *v, long long iv)
{
	char num[24];

	/* Zipkin's tags are strings, numbers included. */
	if (v == NULL) {
		snprintf(num, sizeof(num), "%lld", iv);
		v = num;
	}
	te_set_str(acc, key, v);
}

/*
 * A new span object with its trace, span and parent ids in hex, under
 * the names of the format (Zipkin's id/parentId, OTLP's
 * spanId/parentSpanId); the parent only when there is one.
 */
static json_t *
te_span_ids(
    const struct trace_span *sp, const char *id_key, const char *parent_key)
{
	char tid[33], sid[17], pid[17];
	struct trace_ctx c;
	json_t *o;

	memset(&c, 0, sizeof(c));
	c.trace_hi = sp->trace_hi;
	c.trace_lo = sp->trace_lo;
	trace_id_hex(&c, tid);
	trace_hex64(sp->span_id, sid);
	o = json_object();
	json_object_set_new(o, "traceId", json_string(tid));
	json_object_set_new(o, id_key, json_string(sid));
	if (sp->parent_id != 0) {
		trace_hex64(sp->parent_id, pid);
		json_object_set_new(o, parent_key, json_string(pid));
	}
	return o;
}

char *
trace_encode_zipkin(
    const struct trace_span *spans, size_t n, const struct trace_service *svc)
{
	char service[160];
	json_t *arr, *o, *ep, *tags;
	char *out;
	size_t i;

	snprintf(
	    service, sizeof(service), "%s.%s", svc->workload, svc->namespace);
	if ((arr = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		const struct trace_span *sp = &spans[i];

		o = te_span_ids(sp, "id", "parentId");
		te_set_str(o, "name", sp->name);
		json_object_set_new(o, "kind",
		    json_string(
			sp->kind == TRACE_KIND_CLIENT ? "CLIENT" : "SERVER"));
		json_object_set_new(
		    o, "timestamp", json_integer((json_int_t)sp->start_us));
		json_object_set_new(o, "duration",
		    json_integer(
			(json_int_t)(sp->duration_us > 0 ? sp->duration_us
							 : 1)));
		ep = json_object();
		te_set_str(ep, "serviceName", service);
		json_object_set_new(o, "localEndpoint", ep);
		if (sp->peer_ip[0] != '\0') {
			ep = json_object();
			te_set_str(ep,
			    strchr(sp->peer_ip, ':') != NULL ? "ipv6" : "ipv4",
			    sp->peer_ip);
			if (sp->peer_port > 0)
				json_object_set_new(
				    ep, "port", json_integer(sp->peer_port));
			json_object_set_new(o, "remoteEndpoint", ep);
		}
		tags = json_object();
		te_tags(sp, svc, te_zipkin_tag, tags);
		json_object_set_new(o, "tags", tags);
		json_array_append_new(arr, o);
	}
	out = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return out;
}

static void
te_otlp_attr(json_t *acc, const char *key, const char *v, long long iv)
{
	char num[24];
	json_t *a = json_object(), *val = json_object();

	json_object_set_new(a, "key", json_string(key));
	if (v != NULL) {
		te_set_str(val, "stringValue", v);
	} else {
		/* proto3 JSON: 64-bit integers are strings. */
		snprintf(num, sizeof(num), "%lld", iv);
		json_object_set_new(val, "intValue", json_string(num));
	}
	json_object_set_new(a, "value", val);
	json_array_append_new(acc, a);
}

static json_t *
te_nanos(uint64_t us)
{
	char num[32];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)us * 1000ULL);
	return json_string(num);
}

char *
trace_encode_otlp(
    const struct trace_span *spans, size_t n, const struct trace_service *svc)
{
	char service[160];
	json_t *root, *rs, *res, *attrs, *ss, *scope, *arr, *o, *st;
	char *out;
	size_t i;

	snprintf(
	    service, sizeof(service), "%s.%s", svc->workload, svc->namespace);
	if ((root = json_object()) == NULL)
		return NULL;
	attrs = json_array();
	te_otlp_attr(attrs, "service.name", service, 0);
	te_otlp_attr(attrs, "service.namespace", svc->namespace, 0);
	te_otlp_attr(attrs, "service.instance.id", svc->workload, 0);
	res = json_object();
	json_object_set_new(res, "attributes", attrs);
	scope = json_object();
	json_object_set_new(scope, "name", json_string("weft-proxy"));
	json_object_set_new(scope, "version", json_string(PACKAGE_VERSION));
	arr = json_array();
	for (i = 0; i < n; i++) {
		const struct trace_span *sp = &spans[i];

		o = te_span_ids(sp, "spanId", "parentSpanId");
		te_set_str(o, "name", sp->name);
		json_object_set_new(o, "kind", json_integer(sp->kind));
		json_object_set_new(
		    o, "startTimeUnixNano", te_nanos(sp->start_us));
		json_object_set_new(o, "endTimeUnixNano",
		    te_nanos(sp->start_us + sp->duration_us));
		attrs = json_array();
		te_tags(sp, svc, te_otlp_attr, attrs);
		if (sp->peer_ip[0] != '\0') {
			te_otlp_attr(attrs, "net.peer.ip", sp->peer_ip, 0);
			te_otlp_attr(
			    attrs, "net.peer.port", NULL, sp->peer_port);
		}
		json_object_set_new(o, "attributes", attrs);
		if (sp->status == 0 || sp->status >= 500) {
			/* STATUS_CODE_ERROR; unset otherwise. */
			st = json_object();
			json_object_set_new(st, "code", json_integer(2));
			json_object_set_new(o, "status", st);
		}
		json_array_append_new(arr, o);
	}
	ss = json_object();
	json_object_set_new(ss, "scope", scope);
	json_object_set_new(ss, "spans", arr);
	rs = json_object();
	json_object_set_new(rs, "resource", res);
	json_object_set_new(rs, "scopeSpans", json_pack("[o]", ss));
	json_object_set_new(root, "resourceSpans", json_pack("[o]", rs));
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}

struct te_reply {
	int done;
	int status;
	int error; /* an evhttp_request_error, or -1 */
};

static void
te_http_error_cb(enum evhttp_request_error error, void *arg)
{
	struct te_reply *r = arg;

	r->error = (int)error;
}

static void
te_http_done_cb(struct evhttp_request *req, void *arg)
{
	struct te_reply *r = arg;

	r->done = 1;
	if (req != NULL)
		r->status = evhttp_request_get_response_code(req);
}

/*
 * One POST over plain HTTP, with libevent's HTTP client on the
 * exporter's own event base, waited for here: this thread has nothing
 * else to do meanwhile. Without an evdns base a host name is resolved
 * with a blocking getaddrinfo(3), on this thread too.
 */
static int
te_post_plain(struct trace_exporter *te, const char *body, size_t len,
    int *status, char **cause)
{
	const struct te_url *u = &te->url;
	struct evhttp_connection *conn;
	struct evhttp_request *req;
	struct te_reply r = {0, 0, -1};
	struct evkeyvalq *h;
	struct timeval tv;
	char host[300];
	int i;

	*status = 0;
	conn = evhttp_connection_base_new(
	    te->base, NULL, u->host, (unsigned short)atoi(u->port));
	if (conn == NULL ||
	    (req = evhttp_request_new(te_http_done_cb, &r)) == NULL) {
		if (conn != NULL)
			evhttp_connection_free(conn);
		xasprintf(cause, "cannot start an HTTP request");
		return -1;
	}
	tv.tv_sec = te->conf.timeout_ms / 1000;
	tv.tv_usec = (suseconds_t)(te->conf.timeout_ms % 1000) * 1000;
	evhttp_connection_set_timeout_tv(conn, &tv);
	evhttp_connection_set_max_body_size(conn, 64 * 1024);
	evhttp_connection_set_max_headers_size(conn, 64 * 1024);
	evhttp_request_set_error_cb(req, te_http_error_cb);
	snprintf(host, sizeof(host),
	    strchr(u->host, ':') != NULL ? "[%s]:%s" : "%s:%s", u->host,
	    u->port);
	h = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(h, "Host", host) == -1 ||
	    evhttp_add_header(h, "Content-Type", "application/json") == -1 ||
	    evhttp_add_header(h, "User-Agent", "weft-proxy/" PACKAGE_VERSION) ==
		-1 ||
	    evhttp_add_header(h, "Connection", "close") == -1 ||
	    evbuffer_add(evhttp_request_get_output_buffer(req), body, len) ==
		-1) {
		evhttp_request_free(req);
		evhttp_connection_free(conn);
		xasprintf(cause, "cannot start an HTTP request");
		return -1;
	}
	/* On failure, evhttp has freed the request. */
	if (evhttp_make_request(conn, req, EVHTTP_REQ_POST, u->path) == -1 &&
	    !r.done) {
		evhttp_connection_free(conn);
		xasprintf(cause, "cannot send to %s", host);
		return -1;
	}
	/* Bounded by the connection's timeout; the count is a backstop. */
	for (i = 0; !r.done && i < 100000; i++)
		if (event_base_loop(te->base, EVLOOP_ONCE) == -1)
			break;
	evhttp_connection_free(conn);
	if (r.status == 0) {
		switch (r.error) {
		case EVREQ_HTTP_TIMEOUT:
			xasprintf(cause, "%s: timed out after %d ms", host,
			    te->conf.timeout_ms);
			break;
		case EVREQ_HTTP_EOF:
			xasprintf(cause, "%s: connection closed early", host);
			break;
		case EVREQ_HTTP_INVALID_HEADER:
			xasprintf(cause, "%s: bad response", host);
			break;
		default:
			/* evhttp says no more of a refused connection. */
			xasprintf(cause, "%s: connection failed", host);
			break;
		}
		return -1;
	}
	*status = r.status;
	return 0;
}

/* POSTs one batch; returns 0 when the collector took it. */
static int
te_post(struct trace_exporter *te, const char *body, char **cause)
{
	struct https_client_conf hc;
	struct https_response r;
	int status;

	if (!te->url.tls) {
		if (te_post_plain(te, body, strlen(body), &status, cause) == -1)
			return -1;
	} else {
		memset(&hc, 0, sizeof(hc));
		hc.system_roots = 1;
		hc.timeout_sec = (te->conf.timeout_ms + 999) / 1000;
		hc.max_body = 64 * 1024;
		memset(&r, 0, sizeof(r));
		if (https_client_fetch(te->url.base, &hc, "POST", te->url.path,
			"application/json", body, strlen(body), &r,
			cause) == -1) {
			https_response_clear(&r);
			return -1;
		}
		status = r.status;
		if (status == 0)
			xasprintf(cause, "%s",
			    r.error != NULL ? r.error : "no response");
		https_response_clear(&r);
		if (status == 0)
			return -1;
	}
	if (status < 200 || status > 299) {
		xasprintf(cause, "the collector answered %d", status);
		return -1;
	}
	return 0;
}

static void
te_send_batch(struct trace_exporter *te)
{
	char *body, *cause = NULL;
	size_t n = te->nbatch;
	time_t now;

	if (n == 0)
		return;
	te->nbatch = 0;
	body = te->conf.format == TRACE_FORMAT_OTLP
	    ? trace_encode_otlp(te->batch, n, &te->conf.service)
	    : trace_encode_zipkin(te->batch, n, &te->conf.service);
	if (body == NULL) {
		cause = xstrdup("out of memory");
	} else if (te_post(te, body, &cause) == 0) {
		__atomic_add_fetch(&te->exported, n, __ATOMIC_RELAXED);
		free(body);
		return;
	}
	free(body);
	__atomic_add_fetch(&te->failures, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&te->failed_spans, n, __ATOMIC_RELAXED);
	now = time(NULL);
	if (now - te->last_log >= TE_LOG_EVERY_S) {
		te->last_log = now;
		log_warnx("trace export to %s: %s; %zu spans dropped (said "
			  "at most once a minute)",
		    te->url_str, cause != NULL ? cause : "failed", n);
	}
	free(cause);
}

/* Moves spans from the rings into the batch, sending full batches. */
static void
te_drain(struct trace_exporter *te)
{
	unsigned int h, t;
	int i;

	for (i = 0; i < te->conf.nrings; i++) {
		struct te_ring *r = &te->rings[i];

		t = r->tail;
		h = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		while (t != h) {
			if (te->nbatch == 0)
				te->batch_since_ms = te_now_ms();
			te->batch[te->nbatch++] = r->slots[t & r->mask];
			t++;
			if (te->nbatch == te->conf.batch_max) {
				__atomic_store_n(&r->tail, t, __ATOMIC_RELEASE);
				te_send_batch(te);
			}
		}
		__atomic_store_n(&r->tail, t, __ATOMIC_RELEASE);
	}
}

static void *
te_main(void *arg)
{
	struct trace_exporter *te = arg;
	struct timespec ts;
	int stop = 0;

	while (!stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += TE_POLL_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&te->mtx);
		if (!te->stop)
			pthread_cond_timedwait(&te->cond, &te->mtx, &ts);
		stop = te->stop;
		pthread_mutex_unlock(&te->mtx);
		te_drain(te);
		if (te->nbatch > 0 &&
		    (stop ||
			te_now_ms() - te->batch_since_ms >=
			    (uint64_t)te->conf.interval_ms))
			te_send_batch(te);
	}
	return NULL;
}

struct trace_exporter *
trace_exporter_new(const struct trace_exporter_conf *conf, char **cause)
{
	struct trace_exporter *te;
	pthread_condattr_t ca;
	unsigned int size = 1;
	int i;

	te = xcalloc(1, sizeof(*te));
	if (te_url_parse(conf->url, &te->url, cause) == -1) {
		free(te);
		return NULL;
	}
	te->conf = *conf;
	te->url_str = xstrdup(conf->url);
	if (te->conf.batch_max == 0)
		te->conf.batch_max = 256;
	if (te->conf.interval_ms <= 0)
		te->conf.interval_ms = 1000;
	if (te->conf.timeout_ms <= 0)
		te->conf.timeout_ms = 2000;
	while (size < conf->ring_size)
		size <<= 1;
	te->rings = xcalloc((size_t)conf->nrings, sizeof(*te->rings));
	for (i = 0; i < conf->nrings; i++) {
		te->rings[i].slots = xcalloc(size, sizeof(struct trace_span));
		te->rings[i].mask = size - 1;
	}
	te->batch = xcalloc(te->conf.batch_max, sizeof(*te->batch));
	if ((te->base = event_base_new()) == NULL)
		fatalx("cannot create the trace exporter's event base");
	pthread_mutex_init(&te->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&te->cond, &ca);
	pthread_condattr_destroy(&ca);
	return te;
}

int
trace_exporter_start(struct trace_exporter *te)
{
	sigset_t all, old;
	int r;

	/* Signals are the main thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&te->thread, NULL, te_main, te);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		log_warnx("trace exporter: %s", strerror(r));
		return -1;
	}
	te->started = 1;
	return 0;
}

void
trace_exporter_free(struct trace_exporter *te)
{
	int i;

	if (te == NULL)
		return;
	if (te->started) {
		pthread_mutex_lock(&te->mtx);
		te->stop = 1;
		pthread_cond_signal(&te->cond);
		pthread_mutex_unlock(&te->mtx);
		pthread_join(te->thread, NULL);
	}
	for (i = 0; i < te->conf.nrings; i++)
		free(te->rings[i].slots);
	free(te->rings);
	free(te->batch);
	free(te->url_str);
	event_base_free(te->base);
	pthread_mutex_destroy(&te->mtx);
	pthread_cond_destroy(&te->cond);
	free(te);
}

struct trace_span *
trace_ring_reserve(struct trace_exporter *te, int ring)
{
	struct te_ring *r = &te->rings[ring];
	unsigned int t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);

	if (r->head - t > r->mask) {
		__atomic_add_fetch(&r->dropped, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	return &r->slots[r->head & r->mask];
}

void
trace_ring_commit(struct trace_exporter *te, int ring)
{
	struct te_ring *r = &te->rings[ring];

	__atomic_store_n(&r->head, r->head + 1, __ATOMIC_RELEASE);
}

void
trace_exporter_render(struct trace_exporter *te, struct evbuffer *out)
{
	uint64_t full = 0;
	int i;

	if (te == NULL)
		return;
	for (i = 0; i < te->conf.nrings; i++)
		full +=
		    __atomic_load_n(&te->rings[i].dropped, __ATOMIC_RELAXED);
	evbuffer_add_printf(out,
	    "# HELP weft_trace_spans_exported_total Spans the trace collector "
	    "accepted.\n"
	    "# TYPE weft_trace_spans_exported_total counter\n"
	    "weft_trace_spans_exported_total %llu\n"
	    "# HELP weft_trace_spans_dropped_total Spans lost, by reason: "
	    "queue_full (the exporter fell behind), export_failed (the "
	    "collector failed or was unreachable).\n"
	    "# TYPE weft_trace_spans_dropped_total counter\n"
	    "weft_trace_spans_dropped_total{reason=\"queue_full\"} %llu\n"
	    "weft_trace_spans_dropped_total{reason=\"export_failed\"} %llu\n"
	    "# HELP weft_trace_export_failures_total Batches the trace "
	    "collector did not accept.\n"
	    "# TYPE weft_trace_export_failures_total counter\n"
	    "weft_trace_export_failures_total %llu\n",
	    (unsigned long long)__atomic_load_n(
		&te->exported, __ATOMIC_RELAXED),
	    (unsigned long long)full,
	    (unsigned long long)__atomic_load_n(
		&te->failed_spans, __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(
		&te->failures, __ATOMIC_RELAXED));
}
