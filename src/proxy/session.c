#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"
#include "snapshot.h"
#include "tls_hello.h"

static void session_client_read_cb(struct conn *, void *);
static void session_client_write_cb(struct conn *, void *);
static void session_client_error_cb(struct conn *, void *);
static void session_timer_cb(evutil_socket_t, short, void *);
static void session_refuse_mtls(struct session *, const char *);
static int session_inbound_tls(struct session *);

/*
 * Whether the PeerAuthentication in force for this inbound connection
 * is STRICT (mesh mTLS only).
 */
static int
session_peer_auth_strict(struct session *s)
{
	return snapshot_peer_auth_strict(
	    s->w->hold != NULL ? s->w->hold->snap : NULL,
	    netaddr_port(&s->target));
}

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
	s->orig = orig;
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

/*
 * Inbound: names what the connection came for (destination_service: the
 * service whose endpoint is its original destination, as Istio's
 * inbound clusters do) and who it came from, by the registry.
 */
static void
session_inbound_names(struct session *s)
{
	const struct snap_service *svc;
	const struct snap_peer *p;
	const struct snapshot *snap;

	if (s->w->hold == NULL)
		return;
	snap = s->w->hold->snap;
	if ((svc = snapshot_service_at(snap, &s->orig)) != NULL)
		snprintf(s->tcpkey.service, sizeof(s->tcpkey.service), "%s",
		    svc->nhosts > 0 ? svc->hosts[0] : svc->name);
	if ((p = snapshot_workload_at(snap, &s->peer)) != NULL) {
		snprintf(
		    s->src_workload, sizeof(s->src_workload), "%s", p->name);
		snprintf(s->src_namespace, sizeof(s->src_namespace), "%s",
		    p->namespace);
		snprintf(s->src_account, sizeof(s->src_account), "%s",
		    p->service_account);
	}
}

const char *
session_source(const struct session *s, const char **ns)
{
	const char *id = s->tcpkey.peer, *p;
	size_t nl;

	if (s->src_workload[0] == '\0')
		return NULL;
	/* With mTLS the certificate decides: ".../ns/NS/sa/SA" or nothing. */
	if (id[0] != '\0') {
		nl = strlen(s->src_namespace);
		if ((p = strstr(id, "/ns/")) == NULL ||
		    strncmp(p + 4, s->src_namespace, nl) != 0 ||
		    strncmp(p + 4 + nl, "/sa/", 4) != 0 ||
		    strcmp(p + 8 + nl, s->src_account) != 0)
			return NULL;
	}
	*ns = s->src_namespace;
	return s->src_workload;
}

void
session_tcpkey_source(struct session *s)
{
	const char *src, *ns;

	if (s->direction != METRICS_INBOUND ||
	    (src = session_source(s, &ns)) == NULL)
		return;
	snprintf(s->tcpkey.peer_workload, sizeof(s->tcpkey.peer_workload), "%s",
	    src);
	snprintf(s->tcpkey.peer_namespace, sizeof(s->tcpkey.peer_namespace),
	    "%s", ns);
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
	if (s->direction == METRICS_INBOUND)
		session_inbound_names(s);
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
	if (s->direction == METRICS_OUTBOUND && tcp_route_opaque(s)) {
		tcp_relay_start(s);
		return;
	}
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
		if (s->direction == METRICS_INBOUND && !s->tls_checked &&
		    s->client.tls == NULL && session_peer_auth_strict(s)) {
			session_refuse_mtls(s,
			    "plaintext, and "
			    "PeerAuthentication is STRICT");
			return;
		}
		if (s->client.tls != NULL &&
		    conn_tls_peer(&s->client) == NULL) {
			/* Still in the TLS handshake after the detect time. */
			session_close(s);
			return;
		}
		if (s->client.tls != NULL && !s->tls_checked)
			session_inbound_tls(s);
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

/* Refuses a connection that PeerAuthentication does not allow. */
static void
session_refuse_mtls(struct session *s, const char *why)
{
	struct worker *w = s->w;
	char p[64];

	metrics_deny(w->metrics, METRICS_DENY_MTLS);
	if (w->last_mtls_log != worker_now(w)) {
		w->last_mtls_log = worker_now(w);
		netaddr_str(&s->peer, p, sizeof(p));
		log_info("inbound connection from %s refused: %s", p, why);
	}
	session_close(s);
}

/*
 * The inbound side's first look: mesh mTLS from a peer sidecar is
 * terminated here (the TLS starts on the bytes read so far); an
 * application's own TLS, and plaintext, are what the PeerAuthentication
 * mode allows. Returns 1 when the session goes on with detection, 0
 * when it must wait or was handed on or closed.
 */
static int
session_inbound_tls(struct session *s)
{
	struct conn *c = &s->client;
	struct tls_certs *certs;
	enum tls_hello h;
	unsigned char *p;
	size_t len;
	int strict;

	if (c->tls != NULL) {
		/* Decrypted bytes: the handshake is done. */
		if (!s->tls_checked) {
			s->tls_checked = 1;
			s->tcpkey.mtls = 1;
			snprintf(s->tcpkey.peer, sizeof(s->tcpkey.peer), "%s",
			    conn_tls_peer(c) != NULL ? conn_tls_peer(c) : "");
		}
		return 1;
	}
	len = evbuffer_get_length(c->in);
	p = evbuffer_pullup(c->in, len < 16384 + 5 ? (ev_ssize_t)len : 16389);
	h = p != NULL ? tls_hello_classify(p, len < 16389 ? len : 16389)
		      : TLS_HELLO_NOT_TLS;
	if (h == TLS_HELLO_MORE && !c->eof)
		return 0;
	strict = session_peer_auth_strict(s);
	/*
	 * Under STRICT any TLS is taken as an mTLS attempt (an app's own
	 * TLS is refused anyway): a client without a mesh certificate then
	 * fails the handshake, as with Istio.
	 */
	if (h == TLS_HELLO_MESH || (h == TLS_HELLO_OTHER && strict)) {
		if ((certs = proxy_certs(s->w->px)) == NULL) {
			session_refuse_mtls(s,
			    "mesh mTLS, but this proxy has "
			    "no certificate");
			return 0;
		}
		if (conn_tls_start(c, certs, 1, NULL) == -1) {
			tls_certs_unref(certs);
			session_close(s);
			return 0;
		}
		tls_certs_unref(certs);
		return 0; /* back here with plaintext once the handshake ends */
	}
	s->tls_checked = 1;
	if (strict) {
		session_refuse_mtls(s,
		    h == TLS_HELLO_NOT_TLS
			? "plaintext, and PeerAuthentication is STRICT"
			: "not mesh mTLS, and PeerAuthentication is STRICT");
		return 0;
	}
	if (h != TLS_HELLO_NOT_TLS) {
		/* The application's own TLS: passed through untouched. */
		tcp_relay_start(s);
		return 0;
	}
	return 1;
}

/* Decides the protocol from the first bytes of the client. */
static void
session_detect(struct session *s)
{
	unsigned char buf[16];
	ev_ssize_t r;
	size_t n, i;

	if (s->direction == METRICS_INBOUND && !s->tls_checked &&
	    evbuffer_get_length(s->client.in) > 0 && !session_inbound_tls(s))
		return;
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
