#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"
#include "snapshot.h"

#define POOL_REAP_SECONDS 2

static void upstream_idle_read_cb(struct conn *, void *);
static void upstream_idle_write_cb(struct conn *, void *);

static uint32_t
upstream_hash(const struct sockaddr_storage *a)
{
	uint32_t h = 2166136261u;
	const unsigned char *p;
	size_t n, i;

	if (a->ss_family == AF_INET) {
		p = (const unsigned char *)&((const struct sockaddr_in *)a)
			->sin_addr;
		n = 4;
	} else {
		p = (const unsigned char *)&((const struct sockaddr_in6 *)a)
			->sin6_addr;
		n = 16;
	}
	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	h ^= ((const struct sockaddr_in *)a)->sin_port;
	return h * 16777619u;
}

static void
pool_remove(struct upstream *up)
{
	struct pool *p = &up->w->pool;

	if (!up->in_pool)
		return;
	TAILQ_REMOVE(&p->buckets[up->hash % POOL_BUCKETS], up, entry);
	up->in_pool = 0;
	p->idle--;
}

void
upstream_free(struct upstream *up)
{
	if (up == NULL)
		return;
	pool_remove(up);
	conn_close(&up->c);
	free(up);
}

struct upstream *
upstream_take(struct worker *w, const struct sockaddr_storage *addr,
    socklen_t len, int tls)
{
	struct upstream_list *b;
	struct upstream *up;
	uint32_t h = upstream_hash(addr);

	b = &w->pool.buckets[h % POOL_BUCKETS];
	/* Most recently used first: its peer is least likely to close it. */
	TAILQ_FOREACH_REVERSE(up, b, upstream_list, entry)
	{
		if (up->hash == h && up->tls == tls &&
		    netaddr_eq(&up->addr, addr)) {
			pool_remove(up);
			return up;
		}
	}
	return NULL;
}

struct upstream *
upstream_connect(
    struct worker *w, const struct sockaddr_storage *addr, socklen_t len)
{
	struct upstream *up;
	int fd, one = 1;

	fd = socket(
	    addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)addr, len) == -1 &&
	    errno != EINPROGRESS) {
		int saved = errno;

		close(fd);
		errno = saved;
		return NULL;
	}
	if ((up = calloc(1, sizeof(*up))) == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	if (conn_init(&up->c, w->base, fd, upstream_idle_read_cb,
		upstream_idle_write_cb, upstream_idle_read_cb, up) == -1) {
		free(up);
		errno = ENOMEM;
		return NULL;
	}
	up->w = w;
	memcpy(&up->addr, addr, len);
	up->addrlen = len;
	up->hash = upstream_hash(addr);
	conn_wait_connect(&up->c);
	conn_read_enable(&up->c);
	return up;
}

/*
 * Whether to speak mesh mTLS to addr, and the SPIFFE ID the peer must
 * then have (into buf; "" when any identity of the mesh will do).
 */
static int
upstream_mtls(struct worker *w, const struct sockaddr_storage *addr,
    const struct snap_endpoint *ep, int tls_mode, const struct tls_certs *certs,
    char *buf, size_t len)
{
	const struct snap_peer *peer = NULL;
	const char *ns = NULL, *sa = NULL;

	buf[0] = '\0';
	if (certs == NULL || tls_mode == SNAP_TLS_DISABLE)
		return 0;
	if (ep != NULL && ep->sidecar) {
		ns = ep->namespace;
		sa = ep->service_account;
	} else if (ep == NULL && w->hold != NULL &&
	    (peer = snapshot_peer(w->hold->snap, addr)) != NULL) {
		ns = peer->namespace;
		sa = peer->service_account;
	} else if (tls_mode != SNAP_TLS_ISTIO_MUTUAL)
		return 0;
	if (ns != NULL)
		snprintf(buf, len, "spiffe://%s/ns/%s/sa/%s",
		    certs->trust_domain, ns, sa);
	return 1;
}

struct upstream *
upstream_get(struct worker *w, const struct sockaddr_storage *addr,
    socklen_t len, const struct snap_endpoint *ep, int tls_mode, int pooled)
{
	struct tls_certs *certs;
	struct upstream *up;
	char expect[320];
	int mtls;

	certs = proxy_certs(w->px);
	mtls =
	    upstream_mtls(w, addr, ep, tls_mode, certs, expect, sizeof(expect));
	if (pooled && (up = upstream_take(w, addr, len, mtls)) != NULL) {
		tls_certs_unref(certs);
		return up;
	}
	up = upstream_connect(w, addr, len);
	if (up != NULL && mtls) {
		if (conn_tls_start(&up->c, certs, 0,
			expect[0] != '\0' ? expect : NULL) == -1) {
			upstream_free(up);
			up = NULL;
			errno = ENOMEM;
		} else
			up->tls = 1;
	}
	tls_certs_unref(certs);
	return up;
}

void
upstream_release(struct upstream *up)
{
	struct pool *p = &up->w->pool;

	up->s = NULL;
	conn_set_cbs(&up->c, upstream_idle_read_cb, upstream_idle_write_cb,
	    upstream_idle_read_cb, up);
	conn_read_enable(&up->c);
	up->idle_since = worker_now(up->w);
	TAILQ_INSERT_TAIL(&p->buckets[up->hash % POOL_BUCKETS], up, entry);
	up->in_pool = 1;
	p->idle++;
}

/* An idle connection that speaks or closes is of no further use. */
static void
upstream_idle_read_cb(struct conn *c, void *arg)
{
	upstream_free(arg);
}

static void
upstream_idle_write_cb(struct conn *c, void *arg)
{
}

static void
pool_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct upstream *up, *next;
	time_t now = worker_now(w);
	int i;

	for (i = 0; i < POOL_BUCKETS; i++) {
		for (up = TAILQ_FIRST(&w->pool.buckets[i]); up != NULL;
		     up = next) {
			next = TAILQ_NEXT(up, entry);
			if ((now - up->idle_since) * 1000 >=
			    w->px->conf.upstream_idle_ms)
				upstream_free(up);
		}
	}
}

void
pool_init(struct worker *w)
{
	struct timeval tv = {POOL_REAP_SECONDS, 0};
	int i;

	for (i = 0; i < POOL_BUCKETS; i++)
		TAILQ_INIT(&w->pool.buckets[i]);
	w->pool.reaper = event_new(w->base, -1, EV_PERSIST, pool_reap_cb, w);
	if (w->pool.reaper == NULL || event_add(w->pool.reaper, &tv) == -1)
		fatalx("cannot start the connection pool reaper");
}

void
pool_clear(struct worker *w)
{
	struct upstream *up;
	int i;

	for (i = 0; i < POOL_BUCKETS; i++) {
		while ((up = TAILQ_FIRST(&w->pool.buckets[i])) != NULL)
			upstream_free(up);
	}
	if (w->pool.reaper != NULL)
		event_free(w->pool.reaper);
	w->pool.reaper = NULL;
}
