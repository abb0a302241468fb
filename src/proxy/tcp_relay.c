#include "config.h"

#include <errno.h>
#include <string.h>

#include "proxy.h"
#include "snapshot.h"

static void relay_client_read_cb(struct conn *, void *);
static void relay_client_write_cb(struct conn *, void *);
static void relay_up_read_cb(struct conn *, void *);
static void relay_up_write_cb(struct conn *, void *);
static void relay_client_error_cb(struct conn *, void *);
static void relay_up_error_cb(struct conn *, void *);

/*
 * Moves what src received to dst, half-closing dst once src has ended.
 * Stops reading src while dst holds too much unsent data. Returns -1 when
 * the session was closed.
 */
static int
relay_move(
    struct session *s, struct conn *src, struct conn *dst, int src_is_client)
{
	if (src->read_error) {
		session_close(s);
		return -1;
	}
	if (evbuffer_get_length(src->in) > 0) {
		evbuffer_add_buffer(dst->out, src->in);
		if (conn_flush(dst) == -1) {
			session_close(s);
			return -1;
		}
		if (evbuffer_get_length(dst->out) > PROXY_HIGH_WATER) {
			conn_read_disable(src);
			if (src_is_client)
				s->client_paused = 1;
			else
				s->up_paused = 1;
		}
	}
	if (src->eof && !dst->shutdown_after)
		conn_shutdown_write(dst);
	return 0;
}

/* Both directions ended and everything was written: the relay is over. */
static int
relay_finished(struct session *s)
{
	struct conn *c = &s->client, *u = &s->up->c;

	if (c->eof && u->eof && evbuffer_get_length(c->out) == 0 &&
	    evbuffer_get_length(u->out) == 0) {
		session_close(s);
		return 1;
	}
	return 0;
}

static void
relay_client_read_cb(struct conn *c, void *arg)
{
	struct session *s = arg;

	s->last_active = worker_now(s->w);
	if (relay_move(s, &s->client, &s->up->c, 1) == -1)
		return;
	relay_finished(s);
}

static void
relay_up_read_cb(struct conn *c, void *arg)
{
	struct session *s = ((struct upstream *)arg)->s;

	s->last_active = worker_now(s->w);
	if (relay_move(s, &s->up->c, &s->client, 0) == -1)
		return;
	relay_finished(s);
}

/* The client took all we had: read the upstream again. */
static void
relay_client_write_cb(struct conn *c, void *arg)
{
	struct session *s = arg;

	if (s->up_paused) {
		s->up_paused = 0;
		conn_read_enable(&s->up->c);
	}
	relay_finished(s);
}

static void
relay_up_write_cb(struct conn *c, void *arg)
{
	struct session *s = ((struct upstream *)arg)->s;

	if (s->timer_kind == SESSION_T_CONNECT)
		session_timer(
		    s, SESSION_T_IDLE, s->w->px->conf.idle_timeout_ms);
	if (s->client_paused) {
		s->client_paused = 0;
		conn_read_enable(&s->client);
	}
	relay_finished(s);
}

static void
relay_client_error_cb(struct conn *c, void *arg)
{
	session_close(arg);
}

static void
relay_up_error_cb(struct conn *c, void *arg)
{
	struct session *s = ((struct upstream *)arg)->s;
	char dst[64];

	netaddr_str(&s->target, dst, sizeof(dst));
	log_debug("tcp: upstream %s: %s", dst, strerror(c->err));
	session_close(s);
}

static void
relay_install(struct session *s)
{
	conn_set_cbs(&s->client, relay_client_read_cb, relay_client_write_cb,
	    relay_client_error_cb, s);
	conn_set_cbs(&s->up->c, relay_up_read_cb, relay_up_write_cb,
	    relay_up_error_cb, s->up);
	s->last_active = worker_now(s->w);
	session_timer(s, SESSION_T_IDLE, s->w->px->conf.idle_timeout_ms);
}

void
tcp_relay_start(struct session *s)
{
	s->mode = SESSION_TCP;
	s->tcpkey.http = 0;
	session_tcpkey_source(s);
	if (s->direction == METRICS_INBOUND && inbound_tcp(s) == -1) {
		/* Denied by authorization: counted, logged, closed. */
		s->counted = 1;
		metrics_tcp_open(s->w->metrics, &s->tcpkey);
		session_close(s);
		return;
	}
	if (s->direction == METRICS_OUTBOUND &&
	    tcp_route(s) == TCP_ROUTE_REFUSE) {
		char dst[64];

		netaddr_str(&s->orig, dst, sizeof(dst));
		log_debug("tcp: %s refused: %s", dst,
		    s->w->px->conf.registry_only && s->hx.cluster == NULL
			? "no such service (REGISTRY_ONLY)"
			: "no healthy endpoint");
		s->counted = 1;
		metrics_tcp_open(s->w->metrics, &s->tcpkey);
		session_close(s);
		return;
	}
	/* Outbound to a sidecar: mesh mTLS; inbound: the app, plaintext. */
	s->up = s->direction == METRICS_OUTBOUND
	    ? upstream_get(s->w, &s->target, s->target_len, s->hx.endpoint,
		  s->hx.cluster != NULL ? (int)s->hx.cluster->policy.tls_mode
					: SNAP_TLS_AUTO,
		  0)
	    : upstream_connect(s->w, &s->target, s->target_len);
	if (s->up == NULL) {
		char dst[64];

		netaddr_str(&s->target, dst, sizeof(dst));
		log_warn("tcp: connect to %s", dst);
		session_close(s);
		return;
	}
	if (s->direction == METRICS_OUTBOUND)
		s->tcpkey.mtls = (uint8_t)s->up->tls;
	s->counted = 1;
	metrics_tcp_open(s->w->metrics, &s->tcpkey);
	s->up->s = s;
	relay_install(s);
	session_timer(s, SESSION_T_CONNECT, s->w->px->conf.connect_timeout_ms);
	conn_read_enable(&s->client);
	if (relay_move(s, &s->client, &s->up->c, 1) == -1)
		return;
}

void
tcp_relay_tunnel(struct session *s)
{
	s->mode = SESSION_TUNNEL;
	relay_install(s);
	conn_read_enable(&s->client);
	conn_read_enable(&s->up->c);
	if (conn_flush(&s->client) == -1) {
		session_close(s);
		return;
	}
	if (relay_move(s, &s->client, &s->up->c, 1) == -1 ||
	    relay_move(s, &s->up->c, &s->client, 0) == -1)
		return;
	relay_finished(s);
}
