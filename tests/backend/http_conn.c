/*
 * HTTP/1.1 sessions: reading requests one at a time (pipelined ones wait
 * in the input buffer), streaming bodies through SHA-256 and answering.
 *
 * Back-pressure: a step stops while the output buffer holds more than
 * HTTP_OUT_MAX; the write callback resumes it once the kernel took the
 * data.  Unread input then fills up to the read high watermark and
 * libevent stops reading the socket, so neither a slow reader nor a fast
 * writer can grow memory without bound.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "log.h"
#include "testd.h"

#define HTTP_IN_MAX     (128 * 1024)      /* read high watermark */
#define HTTP_OUT_MAX    (256 * 1024)      /* stop producing above this */
#define HTTP_OUT_LOW    (64 * 1024)       /* write callback below this */
#define HTTP_PIECE      (64 * 1024)       /* /bytes piece */
#define HTTP_SHA_STEP   (4 * 1024 * 1024) /* /sha256 bytes per loop turn */
#define HTTP_DELAY_MAX  3600000           /* /delay/MS limit */
#define HTTP_LINGER_SEC 2                 /* drain time after the last answer */
#define HTTP_BIG_HEADER (16 * 1024)       /* /headers-big value length */

/* Step results. */
#define HTTP_AGAIN 1  /* progress: run the next step */
#define HTTP_WAIT  0  /* wait for input, output room or the timer */
#define HTTP_GONE  -1 /* the connection was freed */

/* What a response has after its header section. */
enum http_framing {
	HTTP_FRAME_LENGTH,  /* Content-Length */
	HTTP_FRAME_CHUNKED, /* Transfer-Encoding: chunked */
	HTTP_FRAME_NONE,    /* neither: 1xx, 204, 304 */
};

/* /bytes pattern: byte i is 'a' + i % 26; pieces start at any phase. */
static char http_pattern[HTTP_PIECE + 26];
static char http_big[HTTP_BIG_HEADER + 1];

static void http_conn_read_cb(struct bufferevent *, void *);
static void http_conn_write_cb(struct bufferevent *, void *);
static void http_conn_event_cb(struct bufferevent *, short, void *);
static void http_conn_timer_cb(evutil_socket_t, short, void *);
static void http_conn_process(struct http_conn *);
static int http_conn_error(struct http_conn *, int, const char *);

static const char *
http_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 102:
		return "Processing";
	case 103:
		return "Early Hints";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 205:
		return "Reset Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
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
	case 413:
		return "Content Too Large";
	case 417:
		return "Expectation Failed";
	case 421:
		return "Misdirected Request";
	case 426:
		return "Upgrade Required";
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
	}
	return "Status";
}

static void
http_init_static(void)
{
	static int done;
	size_t i;

	if (done)
		return;
	for (i = 0; i < sizeof(http_pattern); i++)
		http_pattern[i] = 'a' + i % 26;
	memset(http_big, 'x', HTTP_BIG_HEADER);
	done = 1;
}

/* Appends to the output; a failure drops the connection later. */
static void http_out(struct http_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
http_out(struct http_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap) == -1)
		c->failed = 1;
	va_end(ap);
}

static size_t
http_outlen(struct http_conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* The fields every response carries. */
static void
http_out_common(struct http_conn *c, int status)
{
	char date[64];
	struct tm tm;
	time_t now;

	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	http_out(c,
	    "HTTP/1.1 %d %s\r\n"
	    "Date: %s\r\n"
	    "X-Backend: %s\r\n"
	    "X-Conn-Id: %" PRIu64 "\r\n"
	    "X-Conn-Req: %" PRIu64 "\r\n"
	    "X-Peer: %s\r\n"
	    "X-Local: %s\r\n",
	    status, http_reason(status), date, c->env->name, c->id, c->nreq,
	    c->peer, c->local);
}

/* An interim (1xx) response; never sent to HTTP/1.0 clients. */
static void
http_resp_interim(struct http_conn *c, int status, const char *extra)
{
	if (c->req->minor == 0)
		return;
	http_out_common(c, status);
	http_out(c, "%s\r\n", extra != NULL ? extra : "");
}

/*
 * Writes the header section of the final response.  extra is more
 * header lines, each ending with CRLF, or NULL.
 */
static void
http_resp_head(struct http_conn *c, int status, const char *ctype,
    enum http_framing framing, uint64_t clen, const char *extra)
{
	struct http_req *req = c->req;

	if (req != NULL)
		req->status = status;
	if (framing == HTTP_FRAME_CHUNKED && req != NULL && req->minor == 0)
		framing = HTTP_FRAME_LENGTH;
	if (req != NULL)
		req->resp_chunked = framing == HTTP_FRAME_CHUNKED;
	http_out_common(c, status);
	if (ctype != NULL)
		http_out(c, "Content-Type: %s\r\n", ctype);
	switch (framing) {
	case HTTP_FRAME_LENGTH:
		http_out(c, "Content-Length: %" PRIu64 "\r\n", clen);
		break;
	case HTTP_FRAME_CHUNKED:
		http_out(c, "Transfer-Encoding: chunked\r\n");
		break;
	case HTTP_FRAME_NONE:
		break;
	}
	if (!c->keep_alive)
		http_out(c, "Connection: close\r\n");
	else if (req != NULL && req->minor == 0)
		http_out(c, "Connection: keep-alive\r\n");
	if (extra != NULL)
		http_out(c, "%s", extra);
	http_out(c, "\r\n");
}

/* A complete response with body b (taken and freed), or none for HEAD. */
static void
http_resp_buffer(struct http_conn *c, int status, const char *ctype,
    struct evbuffer *b, const char *extra)
{
	http_resp_head(
	    c, status, ctype, HTTP_FRAME_LENGTH, evbuffer_get_length(b), extra);
	if (c->req == NULL || !c->req->head_only) {
		if (evbuffer_add_buffer(bufferevent_get_output(c->bev), b) ==
		    -1)
			c->failed = 1;
	}
	evbuffer_free(b);
}

static void
http_resp_text(struct http_conn *c, int status, const char *text)
{
	struct evbuffer *b;

	if ((b = evbuffer_new()) == NULL) {
		c->failed = 1;
		return;
	}
	if (evbuffer_add_printf(b, "%s\n", text) == -1)
		c->failed = 1;
	http_resp_buffer(c, status, "text/plain", b, NULL);
}

static void
http_resp_json(struct http_conn *c, const char *extra)
{
	struct evbuffer *b;

	if ((b = evbuffer_new()) == NULL) {
		c->failed = 1;
		return;
	}
	json_request(b, c, c->req, -1, NULL);
	http_resp_buffer(c, 200, "application/json", b, extra);
}

static void
http_resp_stats(struct http_conn *c)
{
	struct evbuffer *b;

	if ((b = evbuffer_new()) == NULL) {
		c->failed = 1;
		return;
	}
	evbuffer_add_printf(b,
	    "{\"connections\":%" PRIu64 ",\"requests\":%" PRIu64 "}",
	    c->env->nconns, c->env->nreqs);
	http_resp_buffer(c, 200, "application/json", b, NULL);
}

static void
http_resp_status(struct http_conn *c, int status)
{
	char text[64];

	if (status == 204 || status == 304) {
		http_resp_head(c, status, NULL, HTTP_FRAME_NONE, 0, NULL);
	} else if (status == 205) {
		http_resp_head(c, status, NULL, HTTP_FRAME_LENGTH, 0, NULL);
	} else {
		snprintf(
		    text, sizeof(text), "%d %s", status, http_reason(status));
		http_resp_text(c, status, text);
	}
}

/*
 * Sec-WebSocket-Accept for the key, so that real WebSocket clients get
 * through the handshake (RFC 6455 section 4.2.2).
 */
static int
http_ws_accept(const char *key, size_t keylen, char *out, size_t size)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	EVP_MD_CTX *ctx;
	int ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, key, keylen) == 1 &&
	    EVP_DigestUpdate(ctx, guid, sizeof(guid) - 1) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok || size < 4 * ((mdlen + 2) / 3) + 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
	return 0;
}

/* Answers 101 and hands the socket to the raw echo. */
static int
http_conn_upgrade(struct http_conn *c)
{
	struct http_req *req = c->req;
	struct bufferevent *bev;
	const char *proto, *key;
	size_t plen, klen;
	char accept[64];

	proto = http_field_value(&req->headers, req->upgrade - 1, &plen);
	req->status = 101;
	http_out_common(c, 101);
	http_out(
	    c, "Upgrade: %.*s\r\nConnection: Upgrade\r\n", (int)plen, proto);
	if (req->ws_key != 0) {
		key = http_field_value(&req->headers, req->ws_key - 1, &klen);
		if (http_ws_accept(key, klen, accept, sizeof(accept)) == -1)
			c->failed = 1;
		else
			http_out(c, "Sec-WebSocket-Accept: %s\r\n", accept);
	}
	http_out(c, "\r\n");
	if (c->failed) {
		log_warnx("conn %" PRIu64 ": out of memory", c->id);
		http_conn_free(c);
		return HTTP_GONE;
	}
	json_log(c->env, c, req, 101, NULL);
	log_debug(
	    "conn %" PRIu64 ": upgraded to %.*s", c->id, (int)plen, proto);

	bev = c->bev;
	c->bev = NULL;
	raw_conn_adopt(c->env, bev, c->eof);
	http_conn_free(c);
	return HTTP_GONE;
}

/* Sends RST instead of FIN: SO_LINGER with a zero timeout. */
static int
http_conn_reset(struct http_conn *c)
{
	struct linger l;

	l.l_onoff = 1;
	l.l_linger = 0;
	if (setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER, &l,
		sizeof(l)) == -1)
		log_warn("conn %" PRIu64 ": SO_LINGER", c->id);
	log_debug("conn %" PRIu64 ": reset on request", c->id);
	http_conn_free(c);
	return HTTP_GONE;
}

/*
 * After the last response: flush it, shut the write side and read until
 * the client closes (or HTTP_LINGER_SEC pass), so that data the client
 * still sends does not make the kernel reset the connection before the
 * client has read the response.
 */
static int
http_conn_closing(struct http_conn *c)
{
	struct timeval tv = {HTTP_LINGER_SEC, 0};

	if (c->state != HTTP_STATE_CLOSING) {
		c->state = HTTP_STATE_CLOSING;
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		bufferevent_enable(c->bev, EV_READ);
		evbuffer_drain(bufferevent_get_input(c->bev),
		    evbuffer_get_length(bufferevent_get_input(c->bev)));
	}
	if (c->failed || http_outlen(c) > 0)
		return HTTP_WAIT;
	if (c->eof) {
		http_conn_free(c);
		return HTTP_GONE;
	}
	if (shutdown(bufferevent_getfd(c->bev), SHUT_WR) == -1) {
		http_conn_free(c);
		return HTTP_GONE;
	}
	c->state = HTTP_STATE_LINGER;
	evtimer_add(c->timer, &tv);
	return HTTP_WAIT;
}

/* The current request was answered: log it and go on to the next. */
static int
http_req_done(struct http_conn *c)
{
	struct http_req *req = c->req;

	json_log(c->env, c, req, req->status, NULL);
	log_debug("conn %" PRIu64 " req %" PRIu64 ": %s %s %d", c->id, c->nreq,
	    req->method, req->target, req->status);
	http_req_free(req);
	c->req = NULL;
	if (!c->keep_alive)
		return http_conn_closing(c);
	c->state = HTTP_STATE_HEAD;
	return HTTP_AGAIN;
}

/*
 * Answers status with a short text body, logs cause and closes: the
 * framing can no longer be trusted.
 */
static int
http_conn_error(struct http_conn *c, int status, const char *cause)
{
	log_warnx("conn %" PRIu64 " req %" PRIu64 " from %s: %d %s", c->id,
	    c->nreq, c->peer, status, cause);
	json_log(c->env, c, c->req, status, cause);
	c->keep_alive = 0;
	http_resp_text(c, status, cause);
	http_req_free(c->req);
	c->req = NULL;
	return http_conn_closing(c);
}

/*
 * Ends a session that cannot go on, without an answer: at once, or after
 * flushing the answers already queued if graceful.
 */
static int
http_conn_abort(struct http_conn *c, const char *cause, int graceful)
{
	if (c->req != NULL) {
		log_warnx("conn %" PRIu64 " req %" PRIu64 " from %s: %s", c->id,
		    c->nreq, c->peer, cause);
		json_log(c->env, c, c->req, c->req->status, cause);
	} else
		log_debug("conn %" PRIu64 ": %s", c->id, cause);
	if (!graceful) {
		http_conn_free(c);
		return HTTP_GONE;
	}
	http_req_free(c->req);
	c->req = NULL;
	return http_conn_closing(c);
}

static int
http_path_is(const char *path, size_t len, const char *name)
{
	return strlen(name) == len && memcmp(path, name, len) == 0;
}

/* Matches "/prefix/N" and parses N. */
static int
http_path_num(const char *path, size_t len, const char *prefix, uint64_t max,
    uint64_t *n, int *bad)
{
	size_t plen = strlen(prefix);

	if (len < plen || memcmp(path, prefix, plen) != 0)
		return 0;
	if (http_parse_uint(path + plen, len - plen, max, n) == -1)
		*bad = 1;
	return 1;
}

static int
http_query_has(const char *query, const char *param)
{
	size_t len = strlen(param), n;

	while (query != NULL && *query != '\0') {
		n = strcspn(query, "&");
		if (n == len && memcmp(query, param, len) == 0)
			return 1;
		query += n;
		if (*query == '&')
			query++;
	}
	return 0;
}

/* Sets req->route and req->arg; returns -1 for a bad number. */
static int
http_route(struct http_req *req)
{
	const char *path = req->target, *query;
	size_t len;
	int bad = 0;

	query = strchr(path, '?');
	len = query != NULL ? (size_t)(query - path) : strlen(path);
	if (query != NULL)
		query++;

	if (http_path_num(path, len, "/status/", 599, &req->arg, &bad)) {
		if (bad || req->arg < 100)
			return -1;
		req->route = HTTP_ROUTE_STATUS;
	} else if (http_path_num(
		       path, len, "/bytes/", INT64_MAX, &req->arg, &bad)) {
		req->route = HTTP_ROUTE_BYTES;
		req->resp_chunked = http_query_has(query, "chunked=1");
	} else if (http_path_num(
		       path, len, "/sha256/", INT64_MAX, &req->arg, &bad))
		req->route = HTTP_ROUTE_SHA256;
	else if (http_path_num(
		     path, len, "/delay/", HTTP_DELAY_MAX, &req->arg, &bad))
		req->route = HTTP_ROUTE_DELAY;
	else if (http_path_is(path, len, "/echo"))
		req->route = HTTP_ROUTE_ECHO;
	else if (http_path_is(path, len, "/close"))
		req->route = HTTP_ROUTE_CLOSE;
	else if (http_path_is(path, len, "/reset"))
		req->route = HTTP_ROUTE_RESET;
	else if (http_path_is(path, len, "/ws"))
		req->route = HTTP_ROUTE_WS;
	else if (http_path_is(path, len, "/hints"))
		req->route = HTTP_ROUTE_HINTS;
	else if (http_path_is(path, len, "/stats"))
		req->route = HTTP_ROUTE_STATS;
	else if (http_path_is(path, len, "/headers-big"))
		req->route = HTTP_ROUTE_HEADERS_BIG;
	else if (http_path_is(path, len, "/expect-reject"))
		req->route = HTTP_ROUTE_EXPECT_REJECT;
	return bad ? -1 : 0;
}

/* A request head was parsed: decide what to do with it. */
static int
http_req_begin(struct http_conn *c)
{
	struct http_req *req = c->req;
	int has_body, badarg;

	if (req->minor == 1)
		c->keep_alive = !req->conn_close;
	else
		c->keep_alive = req->conn_keepalive && !req->conn_close;
	req->head_only = strcmp(req->method, "HEAD") == 0;
	has_body = req->chunked || req->clen > 0;
	badarg = http_route(req) == -1;

	if (req->route == HTTP_ROUTE_RESET) {
		json_log(c->env, c, req, 0, "reset");
		return http_conn_reset(c);
	}
	if (req->route == HTTP_ROUTE_EXPECT_REJECT && req->expect_continue) {
		c->keep_alive = 0;
		http_resp_text(c, 417, "expectation rejected");
		return http_req_done(c);
	}
	if (req->route == HTTP_ROUTE_WS && req->upgrade != 0 &&
	    req->conn_upgrade && req->minor == 1 && !has_body)
		return http_conn_upgrade(c);
	if (req->route == HTTP_ROUTE_WS)
		req->route = HTTP_ROUTE_DEFAULT;
	if (badarg) {
		/* Framing is fine: answer once the body is read. */
		req->route = HTTP_ROUTE_STATUS;
		req->arg = 0;
	}

	if (req->expect_continue && has_body && req->minor == 1)
		http_out(c, "HTTP/1.1 100 Continue\r\n\r\n");
	if (req->route == HTTP_ROUTE_ECHO)
		http_resp_head(c, 200, "application/octet-stream",
		    req->chunked ? HTTP_FRAME_CHUNKED : HTTP_FRAME_LENGTH,
		    req->clen, NULL);

	if (EVP_DigestInit_ex(c->md, c->env->sha256, NULL) != 1) {
		c->failed = 1;
		return HTTP_AGAIN;
	}
	if (req->chunked)
		req->body = HTTP_BODY_CHUNK_SIZE;
	else if (req->clen > 0) {
		req->body = HTTP_BODY_LENGTH;
		req->body_left = req->clen;
	} else
		req->body = HTTP_BODY_DONE;
	c->state = HTTP_STATE_BODY;
	return HTTP_AGAIN;
}

/* The body was read: answer. */
static int
http_req_body_done(struct http_conn *c)
{
	static const char hex[] = "0123456789abcdef";
	struct http_req *req = c->req;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen, i;

	if (EVP_DigestFinal_ex(c->md, md, &mdlen) != 1 || mdlen != 32) {
		c->failed = 1;
		return HTTP_AGAIN;
	}
	for (i = 0; i < mdlen; i++) {
		req->body_sha256[2 * i] = hex[md[i] >> 4];
		req->body_sha256[2 * i + 1] = hex[md[i] & 0xf];
	}
	req->body_sha256[2 * mdlen] = '\0';

	switch (req->route) {
	case HTTP_ROUTE_ECHO:
		req->status = 200;
		if (req->resp_chunked && !req->head_only)
			http_out(c, "0\r\n\r\n");
		break;
	case HTTP_ROUTE_DELAY:
	case HTTP_ROUTE_SHA256:
		c->state = HTTP_STATE_RESP;
		c->delay_fired = 0;
		c->resp_left = req->arg;
		c->resp_off = 0;
		if (req->route == HTTP_ROUTE_SHA256 &&
		    EVP_DigestInit_ex(c->md, c->env->sha256, NULL) != 1)
			c->failed = 1;
		if (req->route == HTTP_ROUTE_DELAY) {
			struct timeval tv;

			tv.tv_sec = req->arg / 1000;
			tv.tv_usec = (req->arg % 1000) * 1000;
			evtimer_add(c->timer, &tv);
		}
		return HTTP_AGAIN;
	case HTTP_ROUTE_BYTES:
		http_resp_head(c, 200, "application/octet-stream",
		    req->resp_chunked ? HTTP_FRAME_CHUNKED : HTTP_FRAME_LENGTH,
		    req->arg, NULL);
		c->state = HTTP_STATE_RESP;
		c->resp_left = req->head_only ? 0 : req->arg;
		c->resp_off = 0;
		return HTTP_AGAIN;
	case HTTP_ROUTE_STATUS:
		if (req->arg == 0) {
			http_resp_text(c, 400, "bad number in path");
			break;
		}
		if (req->arg == 101) {
			http_resp_text(c, 400, "use /ws for 101");
			break;
		}
		if (req->arg < 200) {
			http_resp_interim(c, (int)req->arg, NULL);
			http_resp_json(c, NULL);
			break;
		}
		http_resp_status(c, (int)req->arg);
		break;
	case HTTP_ROUTE_STATS:
		http_resp_stats(c);
		break;
	case HTTP_ROUTE_HINTS:
		http_resp_interim(
		    c, 103, "Link: </style.css>; rel=preload; as=style\r\n");
		http_resp_json(c, NULL);
		break;
	case HTTP_ROUTE_HEADERS_BIG: {
		char *extra;

		if (asprintf(&extra, "X-Big: %s\r\n", http_big) == -1) {
			c->failed = 1;
			return HTTP_AGAIN;
		}
		http_resp_json(c, extra);
		free(extra);
		break;
	}
	case HTTP_ROUTE_CLOSE:
		c->keep_alive = 0;
		http_resp_json(c, NULL);
		break;
	default:
		http_resp_json(c, NULL);
		break;
	}
	return http_req_done(c);
}

/* Skips the empty lines a client may send before a request line. */
static void
http_skip_crlf(struct evbuffer *in)
{
	unsigned char *p;

	while (evbuffer_get_length(in) >= 2) {
		p = evbuffer_pullup(in, 2);
		if (p == NULL || p[0] != '\r' || p[1] != '\n')
			break;
		evbuffer_drain(in, 2);
	}
}

static int
http_step_head(struct http_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr pos, lf;
	const char *cause;
	unsigned char *p;
	size_t len, headlen;
	int rv;

	http_skip_crlf(in);
	len = evbuffer_get_length(in);
	if (len == 0 && c->eof) {
		log_debug("conn %" PRIu64 ": closed by peer", c->id);
		return http_conn_closing(c);
	}
	if (len < 4) {
		if (c->eof)
			return http_conn_abort(c, "incomplete request head", 1);
		return HTTP_WAIT;
	}

	/*
	 * A head that ends with bare LFs never shows CRLF CRLF: look for
	 * LF LF too, but only before the end of the head, not to scan
	 * the pipelined requests behind it again for each request.
	 */
	evbuffer_ptr_set(in, &pos, c->search_off, EVBUFFER_PTR_SET);
	pos = evbuffer_search(in, "\r\n\r\n", 4, &pos);
	evbuffer_ptr_set(in, &lf, c->search_off, EVBUFFER_PTR_SET);
	lf = evbuffer_search_range(
	    in, "\n\n", 2, &lf, pos.pos == -1 ? NULL : &pos);
	if (lf.pos != -1) {
		c->nreq++;
		c->env->nreqs++;
		return http_conn_error(c, 400, "bare LF in request head");
	}
	if (pos.pos == -1) {
		if (len >= HTTP_HEAD_MAX) {
			c->nreq++;
			c->env->nreqs++;
			return http_conn_error(
			    c, 431, "request head too large");
		}
		if (c->eof)
			return http_conn_abort(c, "incomplete request head", 1);
		c->search_off = len - 3;
		return HTTP_WAIT;
	}
	headlen = (size_t)pos.pos + 4;
	c->search_off = 0;
	c->nreq++;
	c->env->nreqs++;
	if (headlen > HTTP_HEAD_MAX)
		return http_conn_error(c, 431, "request head too large");
	if ((c->req = http_req_new()) == NULL ||
	    (p = evbuffer_pullup(in, headlen)) == NULL) {
		c->failed = 1;
		return HTTP_AGAIN;
	}
	rv = http_parse_head(c->req, (const char *)p, headlen, &cause);
	evbuffer_drain(in, headlen);
	if (rv == -1) {
		c->failed = 1;
		return HTTP_AGAIN;
	}
	if (rv != 0)
		return http_conn_error(c, rv, cause);
	return http_req_begin(c);
}

/*
 * Takes up to len body bytes from the input: hashes them and, for
 * /echo, moves them to the output.  Returns the number taken.
 */
static size_t
http_body_data(struct http_conn *c, size_t len)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct http_req *req = c->req;
	struct evbuffer_iovec v[8];
	size_t n = 0;
	int i, nv;

	nv = evbuffer_peek(in, len, NULL, v, 8);
	for (i = 0; i < nv && i < 8 && n < len; i++) {
		if (v[i].iov_len > len - n)
			v[i].iov_len = len - n;
		if (EVP_DigestUpdate(c->md, v[i].iov_base, v[i].iov_len) != 1)
			c->failed = 1;
		n += v[i].iov_len;
	}
	if (req->route == HTTP_ROUTE_ECHO && !req->head_only) {
		if (req->resp_chunked)
			http_out(c, "%zx\r\n", n);
		if (evbuffer_remove_buffer(in, out, n) != (int)n)
			c->failed = 1;
		if (req->resp_chunked)
			http_out(c, "\r\n");
	} else
		evbuffer_drain(in, n);
	req->body_bytes += n;
	return n;
}

/*
 * Finds a line of the chunked framing in the input.  Returns its length
 * (CRLF excluded, still in the buffer), -2 to wait, -1 on a framing
 * error with *cause set.
 */
static ssize_t
http_chunk_line(struct http_conn *c, size_t max, const char **cause)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr pos;
	unsigned char *p;
	size_t eol;

	pos = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_LF);
	if (pos.pos == -1) {
		if (evbuffer_get_length(in) > max) {
			*cause = "chunk framing line too long";
			return -1;
		}
		return -2;
	}
	if ((size_t)pos.pos > max) {
		*cause = "chunk framing line too long";
		return -1;
	}
	if ((p = evbuffer_pullup(in, pos.pos + 1)) == NULL) {
		c->failed = 1;
		return -2;
	}
	if (pos.pos == 0 || p[pos.pos - 1] != '\r') {
		*cause = "bare LF in chunked body";
		return -1;
	}
	return pos.pos - 1;
}

static int
http_step_body(struct http_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct http_req *req = c->req;
	const char *cause;
	unsigned char *p;
	size_t avail;
	ssize_t n;
	uint64_t size;

	avail = evbuffer_get_length(in);
	switch (req->body) {
	case HTTP_BODY_NONE:
	case HTTP_BODY_DONE:
		return http_req_body_done(c);
	case HTTP_BODY_LENGTH:
	case HTTP_BODY_CHUNK_DATA:
		if (avail == 0)
			break;
		req->body_left -= http_body_data(
		    c, avail < req->body_left ? avail : req->body_left);
		if (req->body_left == 0)
			req->body = req->body == HTTP_BODY_LENGTH
			    ? HTTP_BODY_DONE
			    : HTTP_BODY_CHUNK_CRLF;
		return HTTP_AGAIN;
	case HTTP_BODY_CHUNK_SIZE:
		if ((n = http_chunk_line(c, HTTP_CHUNK_LINE_MAX, &cause)) == -2)
			break;
		if (n == -1)
			return http_conn_error(c, 400, cause);
		p = evbuffer_pullup(in, n);
		if (http_parse_chunk_size((const char *)p, n, &size, &cause) ==
		    -1)
			return http_conn_error(c, 400, cause);
		evbuffer_drain(in, n + 2);
		req->body_left = size;
		req->body =
		    size == 0 ? HTTP_BODY_TRAILERS : HTTP_BODY_CHUNK_DATA;
		return HTTP_AGAIN;
	case HTTP_BODY_CHUNK_CRLF:
		if (avail == 0)
			break;
		p = evbuffer_pullup(in, avail < 2 ? 1 : 2);
		if (p[0] != '\r' || (avail >= 2 && p[1] != '\n'))
			return http_conn_error(c, 400, "no CRLF after chunk");
		if (avail < 2)
			break;
		evbuffer_drain(in, 2);
		req->body = HTTP_BODY_CHUNK_SIZE;
		return HTTP_AGAIN;
	case HTTP_BODY_TRAILERS:
		n = http_chunk_line(
		    c, HTTP_TRAILER_MAX - req->trailer_bytes, &cause);
		if (n == -2)
			break;
		if (n == -1)
			return http_conn_error(c, 400, cause);
		if (n == 0) {
			evbuffer_drain(in, 2);
			req->body = HTTP_BODY_DONE;
			return HTTP_AGAIN;
		}
		p = evbuffer_pullup(in, n);
		if (http_parse_field(
			&req->trailers, (const char *)p, n, &cause) == -1) {
			if (cause == NULL) {
				c->failed = 1;
				return HTTP_AGAIN;
			}
			return http_conn_error(c, 400, cause);
		}
		req->trailer_bytes += n + 2;
		evbuffer_drain(in, n + 2);
		return HTTP_AGAIN;
	}
	if (c->eof)
		return http_conn_abort(c, "incomplete request body", 1);
	return HTTP_WAIT;
}

/* Answers /sha256/N once the pattern was hashed. */
static int
http_resp_sha256(struct http_conn *c)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen, i;
	struct evbuffer *b;
	char out[2];

	if (EVP_DigestFinal_ex(c->md, md, &mdlen) != 1 ||
	    (b = evbuffer_new()) == NULL) {
		c->failed = 1;
		return HTTP_AGAIN;
	}
	for (i = 0; i < mdlen; i++) {
		out[0] = hex[md[i] >> 4];
		out[1] = hex[md[i] & 0xf];
		evbuffer_add(b, out, 2);
	}
	http_resp_buffer(c, 200, "text/plain", b, NULL);
	return http_req_done(c);
}

/* Produces the next part of a response generated over several turns. */
static int
http_step_resp(struct http_conn *c)
{
	struct http_req *req = c->req;
	struct timeval tv = {0, 0};
	uint64_t done;
	size_t n, phase;

	switch (req->route) {
	case HTTP_ROUTE_DELAY:
		if (!c->delay_fired)
			return HTTP_WAIT;
		http_resp_json(c, NULL);
		return http_req_done(c);
	case HTTP_ROUTE_BYTES:
		if (c->resp_left == 0) {
			if (req->resp_chunked && !req->head_only)
				http_out(c, "0\r\n\r\n");
			return http_req_done(c);
		}
		phase = c->resp_off % 26;
		n = c->resp_left < HTTP_PIECE ? c->resp_left : HTTP_PIECE;
		if (req->resp_chunked)
			http_out(c, "%zx\r\n", n);
		/* The pattern is static: no copy. */
		if (evbuffer_add_reference(bufferevent_get_output(c->bev),
			http_pattern + phase, n, NULL, NULL) == -1)
			c->failed = 1;
		if (req->resp_chunked)
			http_out(c, "\r\n");
		c->resp_left -= n;
		c->resp_off += n;
		return HTTP_AGAIN;
	case HTTP_ROUTE_SHA256:
		/* Hash in steps, not to hold up other sessions. */
		for (done = 0; c->resp_left > 0 && done < HTTP_SHA_STEP;
		     done += n) {
			phase = c->resp_off % 26;
			n = c->resp_left < HTTP_PIECE ? c->resp_left
						      : HTTP_PIECE;
			if (EVP_DigestUpdate(c->md, http_pattern + phase, n) !=
			    1) {
				c->failed = 1;
				return HTTP_AGAIN;
			}
			c->resp_left -= n;
			c->resp_off += n;
		}
		if (c->resp_left > 0) {
			evtimer_add(c->timer, &tv);
			return HTTP_WAIT;
		}
		return http_resp_sha256(c);
	default:
		break;
	}
	fatalx("%s: route %d", __func__, req->route);
}

static void
http_conn_process(struct http_conn *c)
{
	int rv = HTTP_AGAIN;

	while (rv == HTTP_AGAIN) {
		if (c->failed) {
			log_warnx("conn %" PRIu64 ": out of memory", c->id);
			http_conn_free(c);
			return;
		}
		if (http_outlen(c) > HTTP_OUT_MAX)
			return;
		switch (c->state) {
		case HTTP_STATE_HEAD:
			rv = http_step_head(c);
			break;
		case HTTP_STATE_BODY:
			rv = http_step_body(c);
			break;
		case HTTP_STATE_RESP:
			rv = http_step_resp(c);
			break;
		case HTTP_STATE_CLOSING:
			rv = http_conn_closing(c);
			break;
		case HTTP_STATE_LINGER:
			return;
		}
	}
	if (rv == HTTP_WAIT && c->failed) {
		log_warnx("conn %" PRIu64 ": out of memory", c->id);
		http_conn_free(c);
	}
}

static void
http_conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->state == HTTP_STATE_CLOSING || c->state == HTTP_STATE_LINGER) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	http_conn_process(c);
}

static void
http_conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;

	if (c->state == HTTP_STATE_LINGER)
		return;
	http_conn_process(c);
}

static void
http_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn *c = arg;

	if (what & BEV_EVENT_EOF) {
		c->eof = 1;
		if (c->state == HTTP_STATE_LINGER) {
			http_conn_free(c);
			return;
		}
		http_conn_process(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		/*
		 * A read timeout while this side is busy answering (a long
		 * /delay, a slow reader of /bytes) is no reason to close.
		 */
		if ((what & BEV_EVENT_READING) &&
		    (c->state == HTTP_STATE_RESP ||
			(c->state == HTTP_STATE_HEAD && http_outlen(c) > 0))) {
			bufferevent_enable(bev, EV_READ);
			return;
		}
		if (c->state == HTTP_STATE_HEAD &&
		    evbuffer_get_length(bufferevent_get_input(bev)) == 0) {
			log_debug("conn %" PRIu64 ": idle timeout", c->id);
			http_conn_free(c);
		} else if (c->state == HTTP_STATE_CLOSING ||
		    c->state == HTTP_STATE_LINGER)
			http_conn_free(c);
		else
			http_conn_abort(c,
			    (what & BEV_EVENT_READING) ? "read timeout"
						       : "write timeout",
			    0);
		return;
	}
	/* The request reached this side: the log must show it. */
	if (c->req != NULL)
		json_log(c->env, c, c->req, c->req->status, "connection lost");
	log_debug("conn %" PRIu64 ": connection lost", c->id);
	http_conn_free(c);
}

static void
http_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	if (c->state == HTTP_STATE_LINGER) {
		http_conn_free(c);
		return;
	}
	if (c->state == HTTP_STATE_RESP && c->req != NULL &&
	    c->req->route == HTTP_ROUTE_DELAY)
		c->delay_fired = 1;
	http_conn_process(c);
}

void
http_conn_accept(struct testd *env, evutil_socket_t fd)
{
	struct http_conn *c;
	struct sockaddr_storage ss;
	socklen_t len;
	struct timeval tv;
	int on = 1;

	http_init_static();
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("%s: out of memory", __func__);
		close(fd);
		return;
	}
	c->env = env;
	c->id = ++env->nconns;
	TAILQ_INSERT_TAIL(&env->http_conns, c, entry);

	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		snprintf(c->peer, sizeof(c->peer), "unknown");
	else
		addr_format(
		    (struct sockaddr *)&ss, len, c->peer, sizeof(c->peer));
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		snprintf(c->local, sizeof(c->local), "unknown");
	else
		addr_format(
		    (struct sockaddr *)&ss, len, c->local, sizeof(c->local));
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		log_warn("conn %" PRIu64 ": TCP_NODELAY", c->id);

	c->bev = bufferevent_socket_new(env->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		goto fail;
	}
	if ((c->timer = evtimer_new(env->base, http_conn_timer_cb, c)) ==
		NULL ||
	    (c->md = EVP_MD_CTX_new()) == NULL)
		goto fail;
	bufferevent_setcb(c->bev, http_conn_read_cb, http_conn_write_cb,
	    http_conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, HTTP_IN_MAX);
	bufferevent_setwatermark(c->bev, EV_WRITE, HTTP_OUT_LOW, 0);
	tv.tv_sec = env->timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) == -1)
		goto fail;
	log_debug("conn %" PRIu64 ": accepted from %s on %s", c->id, c->peer,
	    c->local);
	return;

fail:
	log_warnx("conn %" PRIu64 ": cannot set up the session", c->id);
	http_conn_free(c);
}

void
http_conn_free(struct http_conn *c)
{
	if (c == NULL)
		return;
	TAILQ_REMOVE(&c->env->http_conns, c, entry);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	EVP_MD_CTX_free(c->md);
	http_req_free(c->req);
	free(c);
}
