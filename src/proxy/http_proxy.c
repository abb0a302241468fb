/*
 * HTTP/1.1 proxying of one downstream connection: requests are parsed
 * strictly, forwarded with their hop-by-hop fields removed and their
 * bodies streamed as they arrive; responses come back the same way.
 * One exchange is in flight per connection; pipelined requests wait in
 * the client's input buffer (bounded) until the previous one is done.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "proxy.h"
#include "snapshot.h"
#include "tap.h"

static void http_up_read_cb(struct conn *, void *);
static void http_up_write_cb(struct conn *, void *);
static void http_up_error_cb(struct conn *, void *);
static int http_pump(struct session *);
static int http_resp_pump(struct session *);
static int http_dispatch(struct session *);
static int http_retry(struct session *);
static void http_copy_buffer(struct evbuffer *, struct evbuffer *);
static void http_capture_body(
    struct http_exchange *, struct evbuffer *, size_t, size_t);

/* The largest request body kept for a route retry. */
#define HTTP_RETRY_BODY_MAX (64 * 1024)
static void http_route_timeout_cb(evutil_socket_t, short, void *);

static const char *
http_reason(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 418:
		return "I'm a teapot";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

void
http_exchange_free(struct http_exchange *hx)
{
	if (hx->retry_head != NULL)
		evbuffer_free(hx->retry_head);
	if (hx->retry_body != NULL)
		evbuffer_free(hx->retry_body);
	hx->retry_head = NULL;
	hx->retry_body = NULL;
}

static void
http_exchange_reset(struct http_exchange *hx)
{
	http_exchange_free(hx);
	memset(hx, 0, sizeof(*hx));
}

/* Closes the session once everything queued for the client is written. */
static int
http_close_when_drained(struct session *s)
{
	s->closing = 1;
	conn_read_disable(&s->client);
	if (s->up != NULL) {
		upstream_free(s->up);
		s->up = NULL;
	}
	if (s->client.write_error) {
		session_close(s);
		return -1;
	}
	if (evbuffer_get_length(s->client.out) == 0) {
		session_linger(s);
		return -1;
	}
	session_timer(s, SESSION_T_STREAM, s->w->px->conf.idle_timeout_ms);
	return -1;
}

/* Counts a finished exchange in the metrics and the access log. */
static void
http_account(struct session *s)
{
	struct http_exchange *hx = &s->hx;
	struct metrics_req_key key;
	const char *src, *src_ns;
	uint64_t dur;

	dur = now_ns() -
	    ((uint64_t)hx->t0.tv_sec * 1000000000ULL +
		(uint64_t)hx->t0.tv_nsec);
	memset(&key, 0, sizeof(key));
	key.direction = (uint8_t)s->direction;
	key.method = (uint8_t)hx->method;
	key.code = (uint16_t)hx->status;
	key.rflag = (uint8_t)hx->rflag;
	if (s->direction == METRICS_OUTBOUND)
		key.mtls = hx->mtls;
	else {
		key.mtls = s->tcpkey.mtls;
		memcpy(key.peer, s->tcpkey.peer, sizeof(key.peer));
	}
	memcpy(key.service,
	    hx->service[0] != '\0' ? hx->service : s->tcpkey.service,
	    sizeof(key.service));
	strcpy(key.route, hx->route[0] != '\0' ? hx->route : "default");
	if (s->direction == METRICS_OUTBOUND && hx->endpoint != NULL) {
		tap_copy(key.peer_workload, sizeof(key.peer_workload),
		    hx->endpoint->workload, SIZE_MAX);
		tap_copy(key.peer_namespace, sizeof(key.peer_namespace),
		    hx->endpoint->namespace, SIZE_MAX);
		tap_copy(key.peer_version, sizeof(key.peer_version),
		    hx->endpoint->version, SIZE_MAX);
	} else if (s->direction == METRICS_INBOUND &&
	    (src = session_source(s, &src_ns)) != NULL) {
		tap_copy(key.peer_workload, sizeof(key.peer_workload), src,
		    SIZE_MAX);
		tap_copy(key.peer_namespace, sizeof(key.peer_namespace), src_ns,
		    SIZE_MAX);
	}
	if (__atomic_load_n(&s->w->px->tap_active, __ATOMIC_RELAXED))
		tap_publish(s, dur);
	metrics_request(
	    s->w->metrics, &key, dur, hx->req_bytes, hx->resp_bytes);
	trace_request_end(s, dur);
	access_log_request(s, dur);
	session_report_bytes(s);
}

/*
 * The client vanished with an exchange in flight: counted as Envoy does,
 * response code 0 and flag DC, then the session ends.
 */
static void
http_client_gone(struct session *s)
{
	struct http_exchange *hx = &s->hx;

	if (hx->req_state != REQ_IDLE && hx->resp_state != RESP_DONE) {
		if (!hx->resp_started)
			hx->status = 0;
		hx->rflag = METRICS_RF_DC;
		http_account(s);
	}
	session_close(s);
}

/* Accounts for a finished exchange and readies the connection for the next. */
static int
http_exchange_end(struct session *s)
{
	struct http_exchange *hx = &s->hx;
	struct upstream *up = s->up;

	http_account(s);
	if (up != NULL) {
		s->up = NULL;
		if (!hx->upstream_close && hx->req_state == REQ_DONE &&
		    evbuffer_get_length(up->c.in) == 0 &&
		    evbuffer_get_length(up->c.out) == 0 && !up->c.eof &&
		    !up->c.read_error && !s->w->draining)
			upstream_release(up);
		else
			upstream_free(up);
	}
	if (hx->req_state != REQ_DONE || s->w->draining)
		hx->client_close = 1;
	evtimer_del(s->route_timer);
	http_route_end(s);
	if (hx->client_close)
		return http_close_when_drained(s);
	evbuffer_drain(s->head_out, evbuffer_get_length(s->head_out));
	http_exchange_reset(hx);
	session_timer(s, SESSION_T_IDLE, s->w->px->conf.idle_timeout_ms);
	if (s->client_paused) {
		s->client_paused = 0;
		conn_read_enable(&s->client);
	}
	return http_pump(s);
}

/*
 * Answers the client from the proxy itself, in Envoy's words, and ends
 * the exchange. Returns -1 when the session is closing or closed.
 */
static int
http_local_reply(
    struct session *s, int status, const char *body, int rflag, int close_after)
{
	struct http_exchange *hx = &s->hx;
	const char *extra = hx->reply_headers;
	size_t blen = strlen(body);
	int n;

	if (hx->resp_started) {
		/* Part of a response went out: only a close can signal failure. */
		session_close(s);
		return -1;
	}
	if (hx->t0.tv_sec == 0)
		clock_gettime(CLOCK_MONOTONIC, &hx->t0);
	if (hx->req_state != REQ_DONE)
		close_after = 1;
	n = evbuffer_add_printf(s->client.out,
	    "HTTP/1.1 %d %s\r\ncontent-length: %zu\r\n"
	    "content-type: text/plain\r\nserver: weft\r\n%s%s\r\n%s",
	    status, http_reason(status), blen, extra,
	    close_after ? "connection: close\r\n" : "", body);
	hx->reply_headers[0] = '\0';
	hx->resp_bytes += n > 0 ? (uint64_t)n : 0;
	hx->status = status;
	hx->rflag = rflag;
	hx->resp_started = 1;
	hx->resp_state = RESP_DONE;
	hx->upstream_close = 1;
	if (close_after)
		hx->client_close = 1;
	if (conn_flush(&s->client) == -1) {
		session_close(s);
		return -1;
	}
	return http_exchange_end(s);
}

/*
 * Moves body bytes from src to dst as the framing allows. Returns the
 * number of bytes moved, or -1 on bad chunked framing; *done is set when
 * the body is complete (never for a close-delimited body).
 */
static ssize_t
http_move_body(struct evbuffer *src, struct evbuffer *dst, enum http1_framing f,
    uint64_t *remaining, struct http1_chunked *ch, int *done,
    struct mirror *mirror)
{
	size_t avail = evbuffer_get_length(src), n = 0;
	struct evbuffer_iovec v[16];
	struct evbuffer_ptr pos;
	ssize_t r;
	int k, i;

	*done = 0;
	switch (f) {
	case HTTP1_BODY_NONE:
		*done = 1;
		return 0;
	case HTTP1_BODY_LENGTH:
		n = avail < *remaining ? avail : (size_t)*remaining;
		*remaining -= n;
		*done = *remaining == 0;
		break;
	case HTTP1_BODY_EOF:
		n = avail;
		break;
	case HTTP1_BODY_CHUNKED:
		while (n < avail && !*done) {
			if (evbuffer_ptr_set(src, &pos, n, EVBUFFER_PTR_SET) ==
			    -1)
				break;
			k = evbuffer_peek(src, -1, &pos, v, 16);
			if (k <= 0)
				break;
			if (k > 16)
				k = 16;
			for (i = 0; i < k && !*done; i++) {
				r = http1_chunked_scan(
				    ch, v[i].iov_base, v[i].iov_len, done);
				if (r == -1)
					return -1;
				n += (size_t)r;
			}
		}
		break;
	}
	if (n > 0 && mirror != NULL)
		mirror_body(mirror, src, n);
	if (n > 0 && evbuffer_remove_buffer(src, dst, n) != (int)n)
		return -1;
	return (ssize_t)n;
}

static int
http_needs_rewrite(const struct http1_msg *m)
{
	size_t i;

	for (i = 0; i < m->nheaders; i++) {
		if (http1_is_hop_by_hop(m, &m->headers[i]))
			return 1;
	}
	return 0;
}

/*
 * Writes the head in buf to out without its hop-by-hop fields, adding
 * the Connection field given (or none).
 */
void
http_write_head(struct evbuffer *out, const char *buf,
    const struct http1_msg *m, const char *connection,
    const struct snap_hdr_ops *a, const struct snap_hdr_ops *b,
    const char *trace)
{
	size_t start_len;

	start_len = m->nheaders > 0 ? (size_t)(m->headers[0].name - buf)
				    : m->head_len - 2;
	if (m->status != 0 && m->version_minor == 0) {
		/* RFC 9110 2.5: we speak HTTP/1.1 to the client ourselves. */
		evbuffer_add(out, "HTTP/1.1", 8);
		evbuffer_add(out, buf + 8, start_len - 8);
	} else {
		evbuffer_add(out, buf, start_len);
	}
	http_route_write_fields(out, m, a, b, NULL, trace);
	if (connection != NULL)
		evbuffer_add_printf(out, "Connection: %s\r\n", connection);
	evbuffer_add(out, "\r\n", 2);
}

void
http_copy_field(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static int
http_up_failed(struct session *s, int rflag)
{
	struct http_exchange *hx = &s->hx;
	struct upstream *up = s->up;
	char dst[64];
	int fail;

	if (hx->resp_state != RESP_HEAD || hx->resp_bytes > 0) {
		session_close(s);
		return -1;
	}
	/*
	 * A pooled connection the server closed just as we reused it: the
	 * request never reached the application, send it once more.
	 */
	if (up != NULL && up->requests > 1 && hx->retry_head != NULL &&
	    !hx->retried && evbuffer_get_length(up->c.in) == 0) {
		hx->retried = 1;
		upstream_free(up);
		s->up = upstream_get(s->w, &hx->target, hx->target_len,
		    hx->endpoint,
		    hx->cluster != NULL ? (int)hx->cluster->policy.tls_mode
					: SNAP_TLS_AUTO,
		    0);
		if (s->up != NULL) {
			s->up->s = s;
			s->up->requests = 1;
			hx->mtls = s->up->tls;
			conn_set_cbs(&s->up->c, http_up_read_cb,
			    http_up_write_cb, http_up_error_cb, s->up);
			http_copy_buffer(s->up->c.out, hx->retry_head);
			session_timer(s, SESSION_T_CONNECT,
			    s->w->px->conf.connect_timeout_ms);
			return 0;
		}
	}
	fail = rflag == METRICS_RF_UF ? LB_FAIL_CONNECT : LB_FAIL_RESET;
	http_route_report(s, fail);
	switch (http_route_should_retry(s, fail)) {
	case 1:
		return http_retry(s);
	case 2:
		rflag = METRICS_RF_URX;
		break;
	}
	up = s->up;
	netaddr_str(&hx->target, dst, sizeof(dst));
	if (up != NULL && conn_tls_failure(&up->c) != NULL)
		log_info(
		    "upstream %s: mTLS: %s", dst, conn_tls_failure(&up->c));
	else
		log_debug("upstream %s: %s", dst,
		    rflag == METRICS_RF_UF ? "connection failure"
					   : "connection termination");
	if (up != NULL) {
		upstream_free(up);
		s->up = NULL;
	}
	return http_local_reply(s, 503,
	    fail == LB_FAIL_CONNECT
		? "upstream connect error or disconnect/reset before headers. "
		  "reset reason: connection failure"
		: "upstream connect error or disconnect/reset before headers. "
		  "reset reason: connection termination",
	    rflag, 0);
}

/* Moves request body bytes to the upstream. */
static int
http_req_body(struct session *s)
{
	struct http_exchange *hx = &s->hx;
	ssize_t n;
	int done;

	if (hx->body_capture) {
		/* Copy what is about to move before it moves. */
		size_t before = evbuffer_get_length(s->up->c.out);

		n = http_move_body(s->client.in, s->up->c.out, hx->req_framing,
		    &hx->req_remaining, &hx->req_chunk, &done, hx->mirror);
		if (n > 0)
			http_capture_body(hx, s->up->c.out, before, (size_t)n);
	} else {
		n = http_move_body(s->client.in, s->up->c.out, hx->req_framing,
		    &hx->req_remaining, &hx->req_chunk, &done, hx->mirror);
	}
	if (n == -1) {
		metrics_deny(s->w->metrics, METRICS_DENY_BAD_REQUEST);
		log_debug(
		    "request body: %s", http1_error_str(HTTP1_E_BAD_CHUNK));
		return http_local_reply(s, 400,
		    "Bad Request: invalid chunked "
		    "encoding",
		    METRICS_RF_DPE, 1);
	}
	hx->req_bytes += (uint64_t)n;
	if (done)
		hx->req_state = REQ_DONE;
	if (conn_flush(&s->up->c) == -1)
		return http_up_failed(s, METRICS_RF_UC);
	if (!done && (s->client.eof || s->client.read_error)) {
		/* The client went away in the middle of its request. */
		http_client_gone(s);
		return -1;
	}
	if (evbuffer_get_length(s->up->c.out) > PROXY_HIGH_WATER) {
		conn_read_disable(&s->client);
		s->client_paused = 1;
	}
	return 0;
}

/*
 * True when bytes from..len of an incomplete head already break the line
 * rules (bare LF, bare CR, NUL): such a head can never end in CRLFCRLF
 * validly, so it is refused at once instead of at the header timeout.
 */
static int
http_head_hopeless(const unsigned char *b, size_t from, size_t len)
{
	size_t i;

	for (i = from; i < len; i++) {
		if (b[i] == 0)
			return 1;
		if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r'))
			return 1;
		if (b[i] == '\r' && i + 1 < len && b[i + 1] != '\n')
			return 1;
	}
	return 0;
}

/* Parses a request head and starts forwarding it. */
static int
http_request_head(struct session *s)
{
	struct worker *w = s->w;
	struct http_exchange *hx = &s->hx;
	struct evbuffer *in = s->client.in;
	struct http1_msg *m = &w->msg;
	struct evbuffer_ptr p;
	const struct http1_header *ua;
	size_t len = evbuffer_get_length(in), head_len,
	       max = w->px->conf.max_head;
	unsigned char crlf[2];
	const char *buf;
	ssize_t r;

	/* RFC 9112 2.2: empty lines before a request line are ignored. */
	while (hx->head_scan == 0 && len >= 2 &&
	    evbuffer_copyout(in, crlf, 2) == 2 && crlf[0] == '\r' &&
	    crlf[1] == '\n') {
		evbuffer_drain(in, 2);
		len -= 2;
	}
	if (len == 0) {
		if (s->client.eof || s->client.read_error)
			return http_close_when_drained(s);
		return -1;
	}
	if (evbuffer_ptr_set(in, &p, hx->head_scan > 3 ? hx->head_scan - 3 : 0,
		EVBUFFER_PTR_SET) == -1)
		return -1;
	p = evbuffer_search(in, "\r\n\r\n", 4, &p);
	if (p.pos == -1) {
		if (len >= max) {
			metrics_deny(w->metrics, METRICS_DENY_BAD_REQUEST);
			return http_local_reply(s, 400,
			    "Bad Request: header section too large",
			    METRICS_RF_DPE, 1);
		}
		buf = (const char *)evbuffer_pullup(in, -1);
		if (buf != NULL &&
		    http_head_hopeless((const unsigned char *)buf,
			hx->head_scan > 0 ? hx->head_scan - 1 : 0, len)) {
			metrics_deny(w->metrics, METRICS_DENY_BAD_REQUEST);
			http1_parse_request(buf, len, max, m);
			log_debug(
			    "request refused: %s", http1_error_str(m->error));
			return http_local_reply(
			    s, 400, "Bad Request", METRICS_RF_DPE, 1);
		}
		if (s->client.eof || s->client.read_error)
			return http_close_when_drained(s);
		if (hx->head_scan == 0)
			session_timer(
			    s, SESSION_T_HEADER, w->px->conf.header_timeout_ms);
		hx->head_scan = len;
		return -1;
	}
	head_len = (size_t)p.pos + 4;
	clock_gettime(CLOCK_MONOTONIC, &hx->t0);
	buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)head_len);
	r = buf == NULL ? -1 : http1_parse_request(buf, head_len, max, m);
	if (r <= 0) {
		metrics_deny(w->metrics, METRICS_DENY_BAD_REQUEST);
		log_debug("request refused: %s", http1_error_str(m->error));
		hx->method = METRICS_M_OTHER;
		return http_local_reply(s,
		    m->error == HTTP1_E_BAD_VERSION ? 505 : 400,
		    m->error == HTTP1_E_BAD_VERSION
			? "HTTP Version Not Supported"
			: "Bad Request",
		    METRICS_RF_DPE, 1);
	}
	http_copy_field(
	    hx->method_str, sizeof(hx->method_str), m->method, m->method_len);
	http_copy_field(hx->path, sizeof(hx->path), m->target, m->target_len);
	if (m->host != NULL)
		http_copy_field(hx->authority, sizeof(hx->authority),
		    m->host->value, m->host->value_len);
	if ((ua = http1_find(m, "user-agent")) != NULL)
		http_copy_field(hx->user_agent, sizeof(hx->user_agent),
		    ua->value, ua->value_len);
	hx->method = metrics_method_of(m->method, m->method_len);
	hx->req_minor = m->version_minor;
	hx->head_req = hx->method == METRICS_M_HEAD;
	hx->upgrade = (m->flags & HTTP1_F_UPGRADE) != 0;
	hx->req_framing = m->framing;
	hx->req_remaining = m->content_length;
	http1_chunked_init(&hx->req_chunk);
	hx->client_close = (m->flags & HTTP1_F_CLOSE) != 0;
	hx->req_bytes = head_len;
	hx->req_state = REQ_BODY;
	hx->resp_state = RESP_HEAD;

	if (hx->method == METRICS_M_CONNECT) {
		evbuffer_drain(in, head_len);
		return http_local_reply(
		    s, 405, "CONNECT is not supported", METRICS_RF_NR, 1);
	}

	trace_request_start(s, m);
	hx->target = s->target;
	hx->target_len = s->target_len;

	/* m points into the head: read all of it before the head moves. */
	hx->bodyless = m->framing == HTTP1_BODY_NONE && !hx->upgrade;
	hx->idempotent = http1_method_idempotent(m->method, m->method_len);
	hx->retryable = hx->bodyless && hx->idempotent;
	switch (s->direction == METRICS_INBOUND ? inbound_http(s, m, buf)
						: http_route(s, m)) {
	case ROUTE_REPLY:
		evbuffer_drain(in, head_len);
		if (hx->req_framing == HTTP1_BODY_NONE)
			hx->req_state = REQ_DONE;
		return http_local_reply(
		    s, hx->reply_status, hx->reply_body, hx->rflag, 0);
	case ROUTE_FORWARD:
		evbuffer_drain(in, head_len);
		break;
	default:
		if (http_needs_rewrite(m) || hx->trace_hdrs[0] != '\0') {
			http_write_head(s->head_out, buf, m,
			    hx->upgrade ? "upgrade" : NULL, NULL, NULL,
			    hx->trace_hdrs);
			evbuffer_drain(in, head_len);
		} else {
			evbuffer_remove_buffer(in, s->head_out, head_len);
		}
		break;
	}
	/*
	 * A small body of an idempotent request the route may retry is
	 * kept as it streams, so that a retry can send it again.
	 */
	if (!hx->bodyless && hx->idempotent && !hx->upgrade &&
	    hx->route_p != NULL && hx->route_p->retries.attempts > 0 &&
	    (hx->req_framing == HTTP1_BODY_CHUNKED ||
		hx->req_remaining <= HTTP_RETRY_BODY_MAX) &&
	    (hx->retry_body = evbuffer_new()) != NULL)
		hx->body_capture = 1;
	if (hx->timeout_ms > 0) {
		struct timeval tv = {
		    hx->timeout_ms / 1000, (hx->timeout_ms % 1000) * 1000};

		evtimer_add(s->route_timer, &tv);
	}
	if (hx->delay_ms > 0) {
		/* Fault injection: the request waits, then goes on as usual. */
		hx->req_state = REQ_HELD;
		session_timer(s, SESSION_T_DELAY, hx->delay_ms);
		return -1;
	}
	return http_dispatch(s);
}

/*
 * Appends a copy of src to dst, leaving src as it is. (A request head is
 * small; evbuffer_add_buffer_reference() cannot reference a reference,
 * which a second retry would need.)
 */
static void
http_copy_buffer(struct evbuffer *dst, struct evbuffer *src)
{
	size_t len = evbuffer_get_length(src);
	const unsigned char *p = evbuffer_pullup(src, -1);

	if (p != NULL && len > 0)
		evbuffer_add(dst, p, len);
}

/*
 * Keeps a copy of the n body bytes at offset off of buf (just moved there)
 * for a retry; past HTTP_RETRY_BODY_MAX the request is no longer retried.
 */
static void
http_capture_body(
    struct http_exchange *hx, struct evbuffer *buf, size_t off, size_t n)
{
	if (evbuffer_get_length(hx->retry_body) + n > HTTP_RETRY_BODY_MAX) {
		evbuffer_free(hx->retry_body);
		hx->retry_body = NULL;
		hx->body_capture = 0;
		return;
	}
	conn_copy_range(hx->retry_body, buf, off, n);
}

/* The timer of an attempt once connected: perTryTimeout, or idleness. */
static void
http_attempt_timer(struct session *s)
{
	const struct snap_route *r = s->hx.route_p;

	if (r != NULL && r->retries.per_try_ms > 0)
		session_timer(s, SESSION_T_PERTRY, r->retries.per_try_ms);
	else
		session_timer(
		    s, SESSION_T_STREAM, s->w->px->conf.idle_timeout_ms);
}

/*
 * Starts the next attempt of a request the route retries: another
 * endpoint, the same head, after a jittered backoff.
 */
static int
http_retry(struct session *s)
{
	struct http_exchange *hx = &s->hx;
	int ms;

	if (s->up != NULL) {
		upstream_free(s->up);
		s->up = NULL;
	}
	hx->attempt++;
	if (http_route_repick(s) == -1)
		return http_local_reply(
		    s, 503, "no healthy upstream", METRICS_RF_UH, 0);
	if (log_getlevel() >= LOG_LEVEL_DEBUG) {
		char dst[64];

		netaddr_str(&hx->target, dst, sizeof(dst));
		log_debug("retry %d of %s %s to %s", hx->attempt,
		    hx->method_str, hx->path, dst);
	}
	evbuffer_drain(s->head_out, evbuffer_get_length(s->head_out));
	http_copy_buffer(s->head_out, hx->retry_head);
	if (hx->body_capture)
		http_copy_buffer(s->head_out, hx->retry_body);
	hx->resp_head_scan = 0;
	hx->resp_bytes = 0;
	hx->status = 0;
	if ((ms = http_route_backoff_ms(s)) > 0) {
		session_timer(s, SESSION_T_BACKOFF, ms);
		return -1;
	}
	return http_dispatch(s);
}

/*
 * Sends the request head built in s->head_out to hx->target, on a pooled
 * connection when there is one, and starts streaming the body.
 */
static int
http_dispatch(struct session *s)
{
	struct worker *w = s->w;
	struct http_exchange *hx = &s->hx;
	struct upstream *up;

	up = upstream_get(w, &hx->target, hx->target_len, hx->endpoint,
	    hx->cluster != NULL ? (int)hx->cluster->policy.tls_mode
				: SNAP_TLS_AUTO,
	    1);
	if (up == NULL) {
		evbuffer_drain(s->head_out, evbuffer_get_length(s->head_out));
		if (hx->req_framing == HTTP1_BODY_NONE)
			hx->req_state = REQ_DONE;
		return http_up_failed(s, METRICS_RF_UF);
	}
	up->s = s;
	up->requests++;
	s->up = up;
	hx->mtls = up->tls;
	conn_set_cbs(
	    &up->c, http_up_read_cb, http_up_write_cb, http_up_error_cb, up);
	/*
	 * Kept for another try: should a reused connection turn out closed,
	 * or the route retry the request.
	 */
	if (hx->retry_head == NULL &&
	    ((hx->retryable && up->requests > 1) ||
		((hx->bodyless || hx->body_capture) && hx->route_p != NULL &&
		    hx->route_p->retries.attempts > 0)) &&
	    (hx->retry_head = evbuffer_new()) != NULL)
		http_copy_buffer(hx->retry_head, s->head_out);
	evbuffer_add_buffer(up->c.out, s->head_out);
	hx->up_sent_ns = now_ns();
	hx->up_first_ns = 0;

	if (up->c.connecting)
		session_timer(
		    s, SESSION_T_CONNECT, w->px->conf.connect_timeout_ms);
	else
		http_attempt_timer(s);
	s->last_active = worker_now(w);
	return http_req_body(s);
}

/* Advances the request side as far as the buffered input allows. */
static int
http_pump(struct session *s)
{
	struct http_exchange *hx = &s->hx;

	if (s->closing)
		return -1;
	switch (hx->req_state) {
	case REQ_IDLE:
		return http_request_head(s);
	case REQ_BODY:
		return http_req_body(s);
	case REQ_HELD:
	case REQ_DONE:
		if (evbuffer_get_length(s->client.in) > PROXY_PIPELINE_MAX) {
			conn_read_disable(&s->client);
			s->client_paused = 1;
		}
		return 0;
	}
	return 0;
}

void
http_start(struct session *s)
{
	if (s->route_timer == NULL)
		s->route_timer =
		    evtimer_new(s->w->base, http_route_timeout_cb, s);
	if (s->route_timer == NULL ||
	    (s->head_out == NULL && (s->head_out = evbuffer_new()) == NULL)) {
		log_warnx("out of memory: connection dropped");
		session_close(s);
		return;
	}
	s->mode = SESSION_HTTP;
	s->tcpkey.http = 1;
	s->counted = 1;
	session_tcpkey_source(s);
	metrics_tcp_open(s->w->metrics, &s->tcpkey);
	http_exchange_reset(&s->hx);
	session_timer(s, SESSION_T_IDLE, s->w->px->conf.idle_timeout_ms);
	http_pump(s);
}

void
http_client_read(struct session *s)
{
	if (s->client.read_error) {
		http_client_gone(s);
		return;
	}
	s->last_active = worker_now(s->w);
	http_pump(s);
}

/* The client took everything: resume the upstream, or finish closing. */
void
http_client_drained(struct session *s)
{
	if (s->closing) {
		session_linger(s);
		return;
	}
	if (s->up_paused && s->up != NULL) {
		s->up_paused = 0;
		conn_read_enable(&s->up->c);
		http_resp_pump(s);
	}
}

void
http_drain(struct session *s)
{
	struct http_exchange *hx = &s->hx;

	if (hx->req_state == REQ_IDLE && hx->head_scan == 0 &&
	    evbuffer_get_length(s->client.in) == 0)
		http_close_when_drained(s);
}

void
http_timeout(struct session *s, int kind)
{
	struct http_exchange *hx = &s->hx;
	int idle = s->w->px->conf.idle_timeout_ms;
	time_t quiet;

	switch (kind) {
	case SESSION_T_HEADER:
		metrics_deny(s->w->metrics, METRICS_DENY_BAD_REQUEST);
		hx->method = METRICS_M_OTHER;
		http_local_reply(
		    s, 408, "request header timeout", METRICS_RF_DPE, 1);
		return;
	case SESSION_T_CONNECT:
		http_up_failed(s, METRICS_RF_UF);
		return;
	case SESSION_T_DELAY:
		hx->req_state = REQ_BODY;
		http_dispatch(s);
		return;
	case SESSION_T_BACKOFF:
		http_dispatch(s);
		return;
	case SESSION_T_PERTRY:
		http_route_report(s, LB_FAIL_TIMEOUT);
		switch (http_route_should_retry(s, LB_FAIL_TIMEOUT)) {
		case 1:
			http_retry(s);
			return;
		case 2:
			hx->rflag = METRICS_RF_URX;
			break;
		default:
			hx->rflag = METRICS_RF_UT;
			break;
		}
		if (s->up != NULL) {
			upstream_free(s->up);
			s->up = NULL;
		}
		hx->upstream_close = 1;
		http_local_reply(s, 504, "upstream request timeout", hx->rflag,
		    hx->req_state != REQ_DONE);
		return;
	case SESSION_T_STREAM:
		quiet = worker_now(s->w) - s->last_active;
		if (quiet * 1000 < idle && !s->closing) {
			session_timer(
			    s, SESSION_T_STREAM, idle - (int)(quiet * 1000));
			return;
		}
		if (s->closing || hx->resp_started) {
			session_close(s);
			return;
		}
		hx->upstream_close = 1;
		http_local_reply(s, 504, "stream timeout", METRICS_RF_UT, 1);
		return;
	}
}

/*
 * The route timeout: Envoy's 504 when no response has started, a reset
 * of the client connection when one has.
 */
static void
http_route_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct http_exchange *hx = &s->hx;

	http_route_report(s, LB_FAIL_TIMEOUT);
	if (hx->resp_started) {
		session_close(s);
		return;
	}
	if (s->up != NULL) {
		upstream_free(s->up);
		s->up = NULL;
	}
	hx->upstream_close = 1;
	http_local_reply(s, 504, "upstream request timeout", METRICS_RF_UT,
	    hx->req_state != REQ_DONE);
}

/* Parses a response head from the upstream and forwards it. */
static int
http_response_head(struct session *s)
{
	struct worker *w = s->w;
	struct http_exchange *hx = &s->hx;
	struct evbuffer *in = s->up->c.in;
	struct http1_msg *m = &w->msg;
	struct evbuffer_ptr p;
	size_t len = evbuffer_get_length(in), head_len,
	       max = w->px->conf.max_head;
	const char *buf, *conn_hdr = NULL;
	const struct snap_hdr_ops *resp_a = NULL, *resp_b = NULL;
	ssize_t r;

	if (len == 0) {
		if (s->up->c.eof || s->up->c.read_error)
			return http_up_failed(s, METRICS_RF_UC);
		return -1;
	}
	if (evbuffer_ptr_set(in, &p,
		hx->resp_head_scan > 3 ? hx->resp_head_scan - 3 : 0,
		EVBUFFER_PTR_SET) == -1)
		return -1;
	p = evbuffer_search(in, "\r\n\r\n", 4, &p);
	if (p.pos == -1) {
		if (len >= max || s->up->c.eof || s->up->c.read_error) {
			hx->upstream_close = 1;
			return http_local_reply(s, 502,
			    "upstream sent an incomplete or oversized response "
			    "head",
			    METRICS_RF_UPE, 0);
		}
		hx->resp_head_scan = len;
		return -1;
	}
	head_len = (size_t)p.pos + 4;
	buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)head_len);
	r = buf == NULL ? -1
			: http1_parse_response(buf, head_len, max,
			      hx->method_str, strlen(hx->method_str), m);
	if (r <= 0) {
		char dst[64];

		netaddr_str(&hx->target, dst, sizeof(dst));
		log_warnx("upstream %s: bad response: %s", dst,
		    http1_error_str(m->error));
		hx->upstream_close = 1;
		return http_local_reply(s, 502,
		    "upstream sent a malformed response", METRICS_RF_UPE, 0);
	}
	hx->resp_head_scan = 0;
	hx->status = m->status;
	hx->resp_bytes += head_len;

	if (m->status == 101) {
		if (!hx->upgrade) {
			hx->upstream_close = 1;
			return http_local_reply(s, 502,
			    "upstream switched protocols unasked",
			    METRICS_RF_UPE, 0);
		}
		http_write_head(
		    s->client.out, buf, m, "upgrade", NULL, NULL, NULL);
		evbuffer_drain(in, head_len);
		hx->resp_started = 1;
		hx->req_state = REQ_DONE;
		hx->resp_state = RESP_DONE;
		/* The exchange is counted now; the tunnel follows as TCP. */
		http_account(s);
		tcp_relay_tunnel(s);
		return -1;
	}
	if (m->status < 200) {
		/* Interim responses go to the client as they come. */
		http_write_head(s->client.out, buf, m, NULL, NULL, NULL, NULL);
		evbuffer_drain(in, head_len);
		hx->resp_started = 1;
		if (conn_flush(&s->client) == -1) {
			session_close(s);
			return -1;
		}
		return 0;
	}

	hx->up_first_ns = now_ns();
	hx->resp_minor = m->version_minor;
	hx->resp_framing = m->framing;
	hx->resp_remaining = m->content_length;
	http1_chunked_init(&hx->resp_chunk);
	if ((m->flags & HTTP1_F_CLOSE) || m->framing == HTTP1_BODY_EOF)
		hx->upstream_close = 1;
	if (m->framing == HTTP1_BODY_EOF || w->draining ||
	    hx->req_state != REQ_DONE)
		hx->client_close = 1;
	if (hx->client_close)
		conn_hdr = "close";
	else if (hx->req_minor == 0)
		conn_hdr = "keep-alive";
	http_route_report(s, m->status);
	switch (http_route_should_retry(s, m->status)) {
	case 1:
		/* Nothing of this response reached the client: try again. */
		return http_retry(s);
	case 2:
		hx->rflag = METRICS_RF_URX;
		break;
	}
	if (s->timer_kind == SESSION_T_PERTRY)
		session_timer(s, SESSION_T_STREAM, w->px->conf.idle_timeout_ms);
	if (hx->route_p != NULL || hx->dest_p != NULL) {
		resp_a = hx->route_p != NULL ? &hx->route_p->resp_hdrs : NULL;
		resp_b = hx->dest_p != NULL ? &hx->dest_p->resp_hdrs : NULL;
	}
	if (conn_hdr != NULL || m->version_minor == 0 || resp_a != NULL ||
	    resp_b != NULL || http_needs_rewrite(m)) {
		http_write_head(
		    s->client.out, buf, m, conn_hdr, resp_a, resp_b, NULL);
		evbuffer_drain(in, head_len);
	} else {
		evbuffer_remove_buffer(in, s->client.out, head_len);
	}
	hx->resp_started = 1;
	hx->resp_state = RESP_BODY;
	return 0;
}

static int
http_resp_body(struct session *s)
{
	struct http_exchange *hx = &s->hx;
	struct conn *u = &s->up->c;
	ssize_t n;
	int done;

	n = http_move_body(u->in, s->client.out, hx->resp_framing,
	    &hx->resp_remaining, &hx->resp_chunk, &done, NULL);
	if (n == -1) {
		char dst[64];

		netaddr_str(&hx->target, dst, sizeof(dst));
		log_warnx("upstream %s: bad chunked response body", dst);
		session_close(s);
		return -1;
	}
	hx->resp_bytes += (uint64_t)n;
	if (conn_flush(&s->client) == -1) {
		session_close(s);
		return -1;
	}
	if (hx->resp_framing == HTTP1_BODY_EOF && (u->eof || u->read_error))
		done = 1;
	if (done) {
		hx->resp_state = RESP_DONE;
		hx->up_last_ns = now_ns();
		if (hx->req_state != REQ_DONE)
			hx->upstream_close = 1;
		return http_exchange_end(s);
	}
	if (u->eof || u->read_error) {
		/* The upstream ended the response early. */
		session_close(s);
		return -1;
	}
	if (evbuffer_get_length(s->client.out) > PROXY_HIGH_WATER) {
		conn_read_disable(u);
		s->up_paused = 1;
	}
	return 0;
}

static int
http_resp_pump(struct session *s)
{
	struct http_exchange *hx = &s->hx;

	while (s->up != NULL) {
		if (hx->resp_state == RESP_HEAD) {
			if (http_response_head(s) == -1)
				return -1;
			if (hx->resp_state == RESP_HEAD &&
			    evbuffer_get_length(s->up->c.in) == 0)
				return 0;
			continue;
		}
		if (hx->resp_state == RESP_BODY)
			return http_resp_body(s);
		/* Bytes after a complete response: the upstream is broken. */
		return 0;
	}
	return 0;
}

static void
http_up_read_cb(struct conn *c, void *arg)
{
	struct session *s = ((struct upstream *)arg)->s;

	s->last_active = worker_now(s->w);
	http_resp_pump(s);
}

/* The upstream connected or took all we had queued. */
static void
http_up_write_cb(struct conn *c, void *arg)
{
	struct session *s = ((struct upstream *)arg)->s;

	if (s->timer_kind == SESSION_T_CONNECT)
		http_attempt_timer(s);
	if (s->client_paused && s->hx.req_state == REQ_BODY) {
		s->client_paused = 0;
		conn_read_enable(&s->client);
		http_pump(s);
	}
}

static void
http_up_error_cb(struct conn *c, void *arg)
{
	struct upstream *up = arg;

	http_up_failed(
	    up->s, c->bytes_out == 0 ? METRICS_RF_UF : METRICS_RF_UC);
}
