/*
 * The proxy's HTTP endpoints, on the main thread: Prometheus metrics and
 * health on the metrics port (all addresses), and the same plus the
 * configuration and the log level on the admin port (loopback only).
 * A small server of its own on the proxy's connection layer and strict
 * parser: one request per connection, bounded in size, time and number.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy_db.h"
#include "proxy.h"
#include "trace.h"
#include "snapshot.h"
#include "tap.h"

#define ADMIN_MAX_HEAD      16384
#define ADMIN_TIMEOUT_S     10
#define ADMIN_MAX_CONNS     64
#define ADMIN_MAX_TAPS      8
#define ADMIN_TAP_TICK_MS   100
#define ADMIN_TAP_MAX_QUEUE (256 * 1024) /* unsent bytes per tap client */
/*
 * The kernel's send buffer of a tap stream, fixed so that it does not
 * grow to megabytes behind a client that stopped reading: what a slow
 * client cannot take is dropped and counted here, not hidden there.
 */
#define ADMIN_TAP_SNDBUF (64 * 1024)

struct admin_conn;

struct admin_listener {
	struct admin *a;
	int fd;
	int full; /* the admin port: configuration and log level too */
	struct event *ev;
};

struct admin {
	struct proxy *px;
	struct admin_listener l[2];
	unsigned int nconns;
	LIST_HEAD(, admin_conn) conns;
	LIST_HEAD(, admin_conn) taps;
	unsigned int ntaps;
	uint64_t tap_client_dropped; /* by slow clients, all taps */
	struct event *tap_timer; /* drains the workers' queues while tapped */
};

struct admin_conn {
	struct admin *a;
	struct conn c;
	struct event *timer;
	int full;
	int done; /* response queued: close once written */
	LIST_ENTRY(admin_conn) entry;
	/* A /tap stream: its filter, what it sent and what it lost. */
	struct tap_filter *tap;
	long sent;
	uint64_t dropped;    /* matching events this client was too slow for */
	uint64_t qdrop_base; /* px->tap_dropped when the tap began */
	uint64_t reported;   /* drops already told to the client */
	LIST_ENTRY(admin_conn) tap_entry;
};

static void admin_conn_free(struct admin_conn *);

static int
admin_metrics(struct proxy *px, struct evbuffer *b, const char **ctype)
{
	uint64_t active = 0;
	int i;

	for (i = 0; i < px->nworkers; i++)
		active += __atomic_load_n(
		    &px->workers[i]->nsessions, __ATOMIC_RELAXED);
	px->globals.connections_active = active;
	px->globals.tap_dropped =
	    __atomic_load_n(&px->tap_dropped, __ATOMIC_RELAXED) +
	    (px->admin != NULL ? px->admin->tap_client_dropped : 0);
	if (metrics_render(
		b, px->shards, px->nworkers, &px->id, &px->globals) == -1)
		return 500;
	trace_exporter_render(px->tracer, b);
	*ctype = "text/plain; version=0.0.4; charset=utf-8";
	return 200;
}

static int
admin_ready(struct proxy *px, struct evbuffer *b, const char **ctype)
{
	struct tls_certs *c;
	int64_t expiry = 0;

	if ((c = proxy_certs(px)) != NULL) {
		expiry = c->not_after;
		tls_certs_unref(c);
	}
	if (expiry != 0 && expiry < (int64_t)time(NULL) && !px->draining) {
		evbuffer_add_printf(b,
		    "certificate expired (%s/cert.pem, not after %lld)\n",
		    px->conf.certs_dir, (long long)expiry);
		return 503;
	}
	if (px->ready && !px->draining) {
		evbuffer_add_printf(b, "ready\n");
		return 200;
	}
	evbuffer_add_printf(b, "%s\n", px->draining ? "draining" : "starting");
	return 503;
}

static int
admin_live(struct proxy *px, struct evbuffer *b, const char **ctype)
{
	evbuffer_add_printf(b, "live\n");
	return 200;
}

static void
admin_json_str(struct evbuffer *b, const char *key, const char *v, int last)
{
	const char *p;

	evbuffer_add_printf(b, "  \"%s\": ", key);
	if (v == NULL) {
		evbuffer_add_printf(b, "null%s\n", last ? "" : ",");
		return;
	}
	evbuffer_add(b, "\"", 1);
	for (p = v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add_printf(b, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			evbuffer_add_printf(b, "\\u%04x", *p);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add_printf(b, "\"%s\n", last ? "" : ",");
}

static int
admin_config(struct proxy *px, struct evbuffer *b, const char **ctype)
{
	const struct proxy_conf *c = &px->conf;

	evbuffer_add_printf(b, "{\n");
	admin_json_str(b, "workload", c->workload, 0);
	admin_json_str(b, "namespace", c->namespace, 0);
	admin_json_str(b, "service_account", c->service_account, 0);
	admin_json_str(b, "labels", c->labels, 0);
	admin_json_str(b, "locality", c->locality, 0);
	admin_json_str(b, "db", c->db_path, 0);
	admin_json_str(b, "certs", c->certs_dir, 0);
	admin_json_str(b, "access_log", c->access_log, 0);
	admin_json_str(b, "log_level", log_level_name(log_getlevel()), 0);
	admin_json_str(b, "trace_collector", c->trace_collector, 0);
	admin_json_str(b, "trace_format",
	    c->trace_format == TRACE_FORMAT_OTLP ? "otlp" : "zipkin", 0);
	evbuffer_add_printf(b, "  \"trace_sampling_percent\": %.4f,\n",
	    (double)c->trace_ppm / 10000.0);
	if (px->snap != NULL)
		evbuffer_add_printf(b,
		    "  \"policy\": {\"version\": %lld, \"services\": %zu, "
		    "\"virtual_services\": %zu, \"clusters\": %zu, "
		    "\"endpoints\": %zu},\n",
		    (long long)snapshot_version(px->snap),
		    snapshot_nservices(px->snap), snapshot_nvhosts(px->snap),
		    snapshot_nclusters(px->snap),
		    snapshot_nendpoints(px->snap));
	evbuffer_add_printf(b,
	    "  \"config_version\": %lld,\n  \"outbound_port\": %d,\n"
	    "  \"inbound_port\": %d,\n  \"admin_port\": %d,\n"
	    "  \"metrics_port\": %d,\n  \"threads\": %d,\n"
	    "  \"max_connections\": %d,\n  \"uid\": %u\n}\n",
	    (long long)px->globals.config_version, c->outbound_port,
	    c->inbound_port, c->admin_port, c->metrics_port, c->threads,
	    c->max_connections, (unsigned int)c->uid);
	*ctype = "application/json";
	return 200;
}

/* /logging shows the level; /logging?level=debug changes it. */
static int
admin_logging(struct proxy *px, struct evbuffer *b, const char *query)
{
	enum log_level l;
	const char *p;
	char level[16];
	size_t n;

	if (query != NULL && (p = strstr(query, "level=")) != NULL &&
	    (p == query || p[-1] == '&')) {
		p += 6;
		n = strcspn(p, "&");
		snprintf(level, sizeof(level), "%.*s", (int)n, p);
		if (log_parse_level(level, &l) == -1) {
			evbuffer_add_printf(b,
			    "unknown level; use error, warn, info or debug\n");
			return 400;
		}
		log_setlevel(l);
		log_info("log level set to %s", log_level_name(l));
	}
	evbuffer_add_printf(b, "level: %s\n", log_level_name(log_getlevel()));
	return 200;
}

static const char *
admin_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

static void
admin_conn_free(struct admin_conn *ac)
{
	struct admin *a = ac->a;

	if (ac->tap != NULL) {
		LIST_REMOVE(ac, tap_entry);
		free(ac->tap);
		if (--a->ntaps == 0) {
			__atomic_store_n(
			    &a->px->tap_active, 0, __ATOMIC_RELAXED);
			evtimer_del(a->tap_timer);
		}
	}
	LIST_REMOVE(ac, entry);
	ac->a->nconns--;
	conn_close(&ac->c);
	event_free(ac->timer);
	free(ac);
}

static void
admin_tap_chunk(struct admin_conn *ac, struct evbuffer *line)
{
	evbuffer_add_printf(ac->c.out, "%zx\r\n", evbuffer_get_length(line));
	evbuffer_add_buffer(ac->c.out, line);
	evbuffer_add(ac->c.out, "\r\n", 2);
}

/* The end of a stream: the last chunk, then close once written. */
static void
admin_tap_end(struct admin_conn *ac)
{
	evbuffer_add(ac->c.out, "0\r\n\r\n", 5);
	ac->done = 1;
}

static void
admin_tap_event_cb(const struct tap_event *ev, void *arg)
{
	struct admin *a = arg;
	struct admin_conn *ac;
	struct evbuffer *line;

	LIST_FOREACH (ac, &a->taps, tap_entry) {
		if (ac->done || !tap_match(ac->tap, ev))
			continue;
		if (evbuffer_get_length(ac->c.out) > ADMIN_TAP_MAX_QUEUE ||
		    (line = evbuffer_new()) == NULL) {
			ac->dropped++;
			a->tap_client_dropped++;
			continue;
		}
		tap_event_json(line, ev);
		admin_tap_chunk(ac, line);
		evbuffer_free(line);
		if (ac->tap->max > 0 && ++ac->sent >= ac->tap->max)
			admin_tap_end(ac);
	}
}

static void
admin_tap_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admin *a = arg;
	struct admin_conn *ac, *next;
	struct evbuffer *line;
	uint64_t lost, qd;

	tap_queue_drain(a->px, admin_tap_event_cb, a);
	qd = __atomic_load_n(&a->px->tap_dropped, __ATOMIC_RELAXED);
	for (ac = LIST_FIRST(&a->taps); ac != NULL; ac = next) {
		next = LIST_NEXT(ac, tap_entry);
		/* Queue drops are not filtered: an upper bound for this tap. */
		lost = ac->dropped + (qd - ac->qdrop_base);
		if (lost != ac->reported && !ac->done &&
		    (line = evbuffer_new()) != NULL) {
			evbuffer_add_printf(line, "{\"dropped\":%llu}\n",
			    (unsigned long long)lost);
			admin_tap_chunk(ac, line);
			evbuffer_free(line);
			ac->reported = lost;
		}
		if (evbuffer_get_length(ac->c.out) == 0)
			continue;
		if (conn_flush(&ac->c) == -1 ||
		    (ac->done && evbuffer_get_length(ac->c.out) == 0))
			admin_conn_free(ac);
	}
}

/*
 * Starts a /tap stream on ac: chunked NDJSON, one object per finished
 * request that matches the filter, until max events or the client
 * leaves. Returns 0, or an HTTP status with its reason in body.
 */
static int
admin_tap(struct admin_conn *ac, const char *query, struct evbuffer *body)
{
	struct admin *a = ac->a;
	struct timeval tv = {0, ADMIN_TAP_TICK_MS * 1000};
	struct tap_filter *f;
	char cause[160];
	int sndbuf;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return 500;
	if (tap_filter_parse(
		f, query != NULL ? query : "", cause, sizeof(cause)) == -1) {
		evbuffer_add_printf(body, "%s\n", cause);
		free(f);
		return 400;
	}
	if (a->ntaps >= ADMIN_MAX_TAPS) {
		evbuffer_add_printf(
		    body, "too many taps (at most %d)\n", ADMIN_MAX_TAPS);
		free(f);
		return 503;
	}
	if (tap_queue_alloc(a->px) == -1 ||
	    (a->tap_timer == NULL &&
		(a->tap_timer = event_new(a->px->base, -1, EV_PERSIST,
		     admin_tap_timer_cb, a)) == NULL)) {
		free(f);
		return 500;
	}
	if (a->ntaps == 0) {
		/* Leftovers of an earlier tap are not this one's. */
		tap_queue_drain(a->px, admin_tap_event_cb, a);
		evtimer_add(a->tap_timer, &tv);
		__atomic_store_n(&a->px->tap_active, 1, __ATOMIC_RELAXED);
	}
	ac->tap = f;
	ac->qdrop_base = __atomic_load_n(&a->px->tap_dropped, __ATOMIC_RELAXED);
	sndbuf = ADMIN_TAP_SNDBUF;
	if (setsockopt(
		ac->c.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) == -1)
		log_warn("tap: SO_SNDBUF");
	LIST_INSERT_HEAD(&a->taps, ac, tap_entry);
	a->ntaps++;
	evtimer_del(ac->timer);
	evbuffer_add_printf(ac->c.out,
	    "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
	    "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"
	    "Connection: close\r\n\r\n");
	evbuffer_drain(ac->c.in, evbuffer_get_length(ac->c.in));
	if (conn_flush(&ac->c) == -1)
		admin_conn_free(ac);
	return 0;
}

/* Routes one request and queues its response. */
static void
admin_serve(struct admin_conn *ac, const struct http1_msg *m, int bad)
{
	struct proxy *px = ac->a->px;
	const char *ctype = "text/plain; charset=utf-8", *query = NULL;
	char path[256], qbuf[1024];
	const char *qmark;
	struct evbuffer *body;
	size_t plen;
	int status, head = 0;

	if ((body = evbuffer_new()) == NULL) {
		admin_conn_free(ac);
		return;
	}
	if (bad) {
		evbuffer_add_printf(body, "bad request\n");
		status = 400;
	} else if (!http1_name_eq(m->method, m->method_len, "GET") &&
	    !(head = http1_name_eq(m->method, m->method_len, "HEAD")) &&
	    !http1_name_eq(m->method, m->method_len, "POST")) {
		evbuffer_add_printf(body, "method not allowed\n");
		status = 405;
	} else {
		/* The target is not NUL-terminated: memchr, not strcspn. */
		qmark = memchr(m->target, '?', m->target_len);
		plen =
		    qmark != NULL ? (size_t)(qmark - m->target) : m->target_len;
		snprintf(path, sizeof(path), "%.*s", (int)plen, m->target);
		if (plen < m->target_len) {
			snprintf(qbuf, sizeof(qbuf), "%.*s",
			    (int)(m->target_len - plen - 1),
			    m->target + plen + 1);
			query = qbuf;
		}
		if (strcmp(path, "/metrics") == 0 ||
		    strcmp(path, "/stats/prometheus") == 0)
			status = admin_metrics(px, body, &ctype);
		else if (strcmp(path, "/ready") == 0 ||
		    strcmp(path, "/healthz/ready") == 0)
			status = admin_ready(px, body, &ctype);
		else if (strcmp(path, "/live") == 0)
			status = admin_live(px, body, &ctype);
		else if (ac->full && strcmp(path, "/config_dump") == 0)
			status = admin_config(px, body, &ctype);
		else if (ac->full && strcmp(path, "/logging") == 0)
			status = admin_logging(px, body, query);
		else if (strcmp(path, "/stats") == 0) {
			status = admin_stats(px, body, query);
			if (status == 200)
				ctype = "application/json";
		} else if (ac->full && strcmp(path, "/tap") == 0 && !head) {
			if ((status = admin_tap(ac, query, body)) == 0) {
				evbuffer_free(body);
				return;
			}
		} else {
			evbuffer_add_printf(body, "not found\n");
			status = 404;
		}
	}
	evbuffer_add_printf(ac->c.out,
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n",
	    status, admin_reason(status), ctype, evbuffer_get_length(body));
	if (!head)
		evbuffer_add_buffer(ac->c.out, body);
	evbuffer_free(body);
	ac->done = 1;
	conn_read_disable(&ac->c);
	if (conn_flush(&ac->c) == -1 || evbuffer_get_length(ac->c.out) == 0)
		admin_conn_free(ac);
}

static void
admin_read_cb(struct conn *c, void *arg)
{
	struct admin_conn *ac = arg;
	struct http1_msg m;
	struct evbuffer_ptr p;
	size_t len = evbuffer_get_length(c->in);
	const char *buf;

	if (ac->tap != NULL) {
		/* A tap stream reads only to notice the client leaving. */
		evbuffer_drain(c->in, len);
		if (c->read_error || c->eof)
			admin_conn_free(ac);
		return;
	}
	if (c->read_error || ac->done) {
		if (c->read_error)
			admin_conn_free(ac);
		return;
	}
	p = evbuffer_search(c->in, "\r\n\r\n", 4, NULL);
	if (p.pos == -1) {
		if (len >= ADMIN_MAX_HEAD)
			admin_serve(ac, NULL, 1);
		else if (c->eof)
			admin_conn_free(ac);
		return;
	}
	buf = (const char *)evbuffer_pullup(c->in, p.pos + 4);
	if (buf == NULL ||
	    http1_parse_request(buf, (size_t)p.pos + 4, ADMIN_MAX_HEAD, &m) <=
		0)
		admin_serve(ac, NULL, 1);
	else
		admin_serve(ac, &m, 0);
}

static void
admin_write_cb(struct conn *c, void *arg)
{
	struct admin_conn *ac = arg;

	if (ac->done && evbuffer_get_length(c->out) == 0)
		admin_conn_free(ac);
}

static void
admin_error_cb(struct conn *c, void *arg)
{
	admin_conn_free(arg);
}

static void
admin_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	admin_conn_free(arg);
}

static void
admin_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct admin_listener *l = arg;
	struct admin *a = l->a;
	struct timeval tv = {ADMIN_TIMEOUT_S, 0};
	struct admin_conn *ac;
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) !=
	    -1) {
		if (a->nconns >= ADMIN_MAX_CONNS ||
		    (ac = calloc(1, sizeof(*ac))) == NULL) {
			close(fd);
			continue;
		}
		if (conn_init(&ac->c, a->px->base, fd, admin_read_cb,
			admin_write_cb, admin_error_cb, ac) == -1 ||
		    (ac->timer = evtimer_new(
			 a->px->base, admin_timer_cb, ac)) == NULL) {
			conn_close(&ac->c);
			free(ac);
			continue;
		}
		ac->a = a;
		ac->full = l->full;
		LIST_INSERT_HEAD(&a->conns, ac, entry);
		a->nconns++;
		evtimer_add(ac->timer, &tv);
		conn_read_enable(&ac->c);
	}
}

/*
 * Listens on addr:port; "::" takes IPv4 too (v4-mapped). Returns 0 or
 * -1 with errno set.
 */
static int
admin_listen(struct admin *a, struct admin_listener *l, const char *addr,
    int port, int full)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, zero = 0;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &s4->sin_addr);
		len = sizeof(*s4);
	}
	fd =
	    socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, 64) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	l->a = a;
	l->fd = fd;
	l->full = full;
	l->ev = event_new(
	    a->px->base, fd, EV_READ | EV_PERSIST, admin_accept_cb, l);
	if (l->ev == NULL || event_add(l->ev, NULL) == -1) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int
admin_start(struct proxy *px)
{
	struct admin *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -1;
	a->px = px;
	LIST_INIT(&a->conns);
	LIST_INIT(&a->taps);
	a->l[0].fd = a->l[1].fd = -1;
	px->admin = a;
	/* Without IPv6 in the pod, 0.0.0.0 alone. */
	if (admin_listen(a, &a->l[0], "::", px->conf.metrics_port, 0) == -1 &&
	    admin_listen(a, &a->l[0], "0.0.0.0", px->conf.metrics_port, 0) ==
		-1) {
		log_warn("listen on 0.0.0.0:%d", px->conf.metrics_port);
		return -1;
	}
	if (admin_listen(a, &a->l[1], "127.0.0.1", px->conf.admin_port, 1) ==
	    -1) {
		log_warn("listen on 127.0.0.1:%d", px->conf.admin_port);
		return -1;
	}
	return 0;
}

void
admin_stop(struct proxy *px)
{
	struct admin *a = px->admin;
	int i;

	if (a == NULL)
		return;
	while (!LIST_EMPTY(&a->conns))
		admin_conn_free(LIST_FIRST(&a->conns));
	if (a->tap_timer != NULL)
		event_free(a->tap_timer);
	for (i = 0; i < 2; i++) {
		if (a->l[i].ev != NULL)
			event_free(a->l[i].ev);
		if (a->l[i].fd != -1)
			close(a->l[i].fd);
	}
	free(a);
	px->admin = NULL;
}
