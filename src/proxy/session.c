#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"

static void session_client_read_cb(struct conn *, void *);
static void session_client_write_cb(struct conn *, void *);
static void session_client_error_cb(struct conn *, void *);
static void session_timer_cb(evutil_socket_t, short, void *);

/*
 * Where an accepted connection goes: the original destination for the
 * outbound side; the same port on loopback for the inbound side, where
 * the application listens.
 */
static int
session_target(struct session *s, int fd, int family)
{
	struct sockaddr_storage orig;
	socklen_t len;

	if (origdst_get(fd, family, &orig, &len) == -1)
		return -1;
	netaddr_str(&orig, s->tcpkey.service, sizeof(s->tcpkey.service));
	if (s->direction == METRICS_OUTBOUND) {
		s->target = orig;
		s->target_len = len;
		return 0;
	}
	memset(&s->target, 0, sizeof(s->target));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&s->target;

		sin->sin_family = AF_INET;
		sin->sin_port = ((struct sockaddr_in *)&orig)->sin_port;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s->target_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&s->target;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = ((struct sockaddr_in6 *)&orig)->sin6_port;
		sin6->sin6_addr = in6addr_loopback;
		s->target_len = sizeof(*sin6);
	}
	return 0;
}

void
session_accept(struct listener *l, int fd, struct sockaddr_storage *peer)
{
	struct worker *w = l->w;
	struct session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warnx("out of memory: connection dropped");
		close(fd);
		return;
	}
	s->w = w;
	s->direction = l->direction;
	s->peer = *peer;
	s->tcpkey.direction = (uint8_t)l->direction;
	if (session_target(s, fd, peer->ss_family) == -1) {
		char p[64];

		/* At most one line a second: a peer must not flood the log. */
		if (w->last_unredirected_log != worker_now(w)) {
			w->last_unredirected_log = worker_now(w);
			netaddr_str(peer, p, sizeof(p));
			log_warnx("connection from %s to port %d was not "
				  "redirected by weft-init; closed",
			    p, l->port);
		}
		close(fd);
		free(s);
		return;
	}
	if (conn_init(&s->client, w->base, fd, session_client_read_cb,
		session_client_write_cb, session_client_error_cb, s) == -1 ||
	    (s->timer = evtimer_new(w->base, session_timer_cb, s)) == NULL) {
		log_warnx("out of memory: connection dropped");
		conn_close(&s->client);
		free(s);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	TAILQ_INSERT_TAIL(&w->sessions, s, entry);
	w->nsessions++;
	s->mode = SESSION_DETECT;
	conn_read_enable(&s->client);
	session_timer(s, SESSION_T_DETECT, w->px->conf.detect_timeout_ms);
}

void
session_report_bytes(struct session *s)
{
	uint64_t in = s->client.bytes_in, out = s->client.bytes_out;

	if (in == s->reported_in && out == s->reported_out)
		return;
	metrics_tcp_bytes(s->w->metrics, &s->tcpkey, out - s->reported_out,
	    in - s->reported_in);
	s->reported_in = in;
	s->reported_out = out;
}

void
session_close(struct session *s)
{
	struct worker *w = s->w;
	int i;

	if (s->counted) {
		session_report_bytes(s);
		metrics_tcp_close(w->metrics, &s->tcpkey);
		if (!s->tcpkey.http)
			access_log_tcp(s,
			    now_ns() -
				((uint64_t)s->start.tv_sec * 1000000000ULL +
				    (uint64_t)s->start.tv_nsec));
	}
	if (s->up != NULL)
		upstream_free(s->up);
	http_route_end(s);
	if (s->route_timer != NULL)
		event_free(s->route_timer);
	http_exchange_free(&s->hx);
	if (s->head_out != NULL)
		evbuffer_free(s->head_out);
	event_free(s->timer);
	conn_close(&s->client);
	TAILQ_REMOVE(&w->sessions, s, entry);
	w->nsessions--;
	free(s);
	for (i = 0; i < w->nlisteners; i++)
		listener_resume(&w->listeners[i]);
}

void
session_timer(struct session *s, int kind, int ms)
{
	struct timeval tv;

	s->timer_kind = kind;
	if (kind == SESSION_T_NONE || ms <= 0) {
		evtimer_del(s->timer);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(s->timer, &tv);
}

static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	int idle = s->w->px->conf.idle_timeout_ms;
	time_t quiet;

	switch (s->timer_kind) {
	case SESSION_T_LINGER:
		session_close(s);
		return;
	case SESSION_T_DETECT:
		/* The client says nothing: a server-first protocol. */
		tcp_relay_start(s);
		return;
	case SESSION_T_CONNECT:
		if (s->mode == SESSION_TCP) {
			log_debug("tcp: upstream connect timed out");
			session_close(s);
			return;
		}
		http_timeout(s, s->timer_kind);
		return;
	case SESSION_T_IDLE:
		if (s->mode == SESSION_TCP || s->mode == SESSION_TUNNEL) {
			/* Active relays re-arm rather than touch the timer per read. */
			quiet = worker_now(s->w) - s->last_active;
			if (quiet * 1000 < idle) {
				session_timer(s, SESSION_T_IDLE,
				    idle - (int)(quiet * 1000));
				return;
			}
		}
		session_close(s);
		return;
	default:
		http_timeout(s, s->timer_kind);
		return;
	}
}

/* Decides the protocol from the first bytes of the client. */
static void
session_detect(struct session *s)
{
	unsigned char buf[16];
	ev_ssize_t r;
	size_t n, i;

	r = evbuffer_copyout(s->client.in, buf, sizeof(buf));
	n = r > 0 ? (size_t)r : 0;
	if (n == 0) {
		if (s->client.eof || s->client.read_error)
			session_close(s);
		return;
	}
	/* An HTTP/1 request starts with an upper-case method and a space. */
	for (i = 0; i < n; i++) {
		if (buf[i] == ' ' && i > 0) {
			if (i == 3 && memcmp(buf, "PRI", 3) == 0)
				break; /* the HTTP/2 preface: opaque for now */
			http_start(s);
			return;
		}
		if (buf[i] < 'A' || buf[i] > 'Z')
			break;
	}
	if (i == n && n < sizeof(buf) && !s->client.eof) {
		return; /* still a possible method: wait for more */
	}
	tcp_relay_start(s);
}

static void
session_client_read_cb(struct conn *c, void *arg)
{
	struct session *s = arg;

	switch (s->mode) {
	case SESSION_DETECT:
		session_detect(s);
		break;
	case SESSION_HTTP:
		http_client_read(s);
		break;
	case SESSION_LINGER:
		evbuffer_drain(c->in, evbuffer_get_length(c->in));
		if (c->eof || c->read_error)
			session_close(s);
		break;
	default:
		/* The relay installs its own callbacks. */
		break;
	}
}

static void
session_client_write_cb(struct conn *c, void *arg)
{
	struct session *s = arg;

	if (s->mode == SESSION_HTTP)
		http_client_drained(s);
	else if (s->closing)
		session_close(s);
}

static void
session_client_error_cb(struct conn *c, void *arg)
{
	session_close(arg);
}

#define SESSION_LINGER_MS 2000

void
session_linger(struct session *s)
{
	struct conn *c = &s->client;

	if (c->eof || c->read_error || c->write_error) {
		session_close(s);
		return;
	}
	s->mode = SESSION_LINGER;
	if (!c->wr_shut && shutdown(c->fd, SHUT_WR) == 0)
		c->wr_shut = 1;
	conn_set_cbs(c, session_client_read_cb, session_client_write_cb,
	    session_client_error_cb, s);
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	conn_read_enable(c);
	session_timer(s, SESSION_T_LINGER, SESSION_LINGER_MS);
}

void
session_drain(struct session *s)
{
	if (s->mode == SESSION_DETECT) {
		session_close(s);
		return;
	}
	if (s->mode == SESSION_HTTP)
		http_drain(s);
}
