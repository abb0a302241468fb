/*
 * Mesh policy on an outbound HTTP request: which service and route it
 * takes, which endpoint serves it, what faults are injected, and how its
 * head is rewritten. Everything is read from the worker's current
 * snapshot, which the exchange holds until it ends; nothing here queries
 * the DB or allocates per request.
 */
#include "config.h"

#include <arpa/inet.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <strings.h>

#include "lb.h"
#include "proxy.h"
#include "snapshot.h"

static uint64_t route_now_ms(void);

/* xorshift64*: fast, and good enough for weights and percentages. */
uint64_t
worker_rand(struct worker *w)
{
	uint64_t x = w->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	return x * 2685821657736338717ULL;
}

static int
route_name_in(const char *name, size_t len, char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (http1_name_eq(name, len, list[i]))
			return 1;
	}
	return 0;
}

static int
route_name_set(
    const char *name, size_t len, const struct snap_hdr *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (http1_name_eq(name, len, set[i].name))
			return 1;
	}
	return 0;
}

/* True when one of the header operations replaces or removes h. */
static int
route_hdr_dropped(const struct http1_header *h, const struct snap_hdr_ops *a,
    const struct snap_hdr_ops *b)
{
	return route_name_in(h->name, h->name_len, a->remove, a->nremove) ||
	    route_name_set(h->name, h->name_len, a->set, a->nset) ||
	    (b != NULL &&
		(route_name_in(h->name, h->name_len, b->remove, b->nremove) ||
		    route_name_set(h->name, h->name_len, b->set, b->nset)));
}

static void
route_hdr_emit(struct evbuffer *out, const struct snap_hdr_ops *ops)
{
	size_t i;

	if (ops == NULL)
		return;
	for (i = 0; i < ops->nset; i++)
		evbuffer_add_printf(
		    out, "%s: %s\r\n", ops->set[i].name, ops->set[i].value);
	for (i = 0; i < ops->nadd; i++)
		evbuffer_add_printf(
		    out, "%s: %s\r\n", ops->add[i].name, ops->add[i].value);
}

void
http_route_write_fields(struct evbuffer *out, const struct http1_msg *m,
    const struct snap_hdr_ops *a, const struct snap_hdr_ops *b,
    const char *authority, const char *trace)
{
	size_t i;

	for (i = 0; i < m->nheaders; i++) {
		const struct http1_header *h = &m->headers[i];

		if (http1_is_hop_by_hop(m, h))
			continue;
		if (trace != NULL && trace[0] != '\0' &&
		    trace_header_replaced(h->name, h->name_len))
			continue;
		if (a != NULL && route_hdr_dropped(h, a, b))
			continue;
		if (authority != NULL && h == m->host) {
			evbuffer_add_printf(out, "Host: %s\r\n", authority);
			continue;
		}
		evbuffer_add(out, h->name, h->name_len);
		evbuffer_add(out, ": ", 2);
		evbuffer_add(out, h->value, h->value_len);
		evbuffer_add(out, "\r\n", 2);
	}
	route_hdr_emit(out, a);
	route_hdr_emit(out, b);
	if (trace != NULL)
		evbuffer_add(out, trace, strlen(trace));
}

/*
 * The new request target for a uri rewrite: the prefix the route
 * matched (prefix or exact uri match) is replaced; otherwise the whole
 * path, keeping the query.
 */
static void
route_rewrite_target(struct evbuffer *out, const struct snap_route *r,
    const char *target, size_t len)
{
	const char *q = memchr(target, '?', len);
	size_t plen = q != NULL ? (size_t)(q - target) : len, cut = plen, i;

	for (i = 0; i < r->nmatches; i++) {
		const struct snap_match *mt = &r->matches[i];

		if (!mt->has_uri ||
		    (mt->uri.kind != SNAP_STR_PREFIX &&
			mt->uri.kind != SNAP_STR_EXACT))
			continue;
		if (mt->uri.len <= plen &&
		    (mt->uri.ignore_case
			    ? strncasecmp(target, mt->uri.value, mt->uri.len)
			    : strncmp(target, mt->uri.value, mt->uri.len)) ==
			0) {
			cut = mt->uri.len;
			break;
		}
	}
	evbuffer_add(out, r->rewrite_uri, strlen(r->rewrite_uri));
	evbuffer_add(out, target + cut, len - cut);
}

/* Writes the request head for the chosen route and destination. */
static void
route_write_head(struct session *s, const struct http1_msg *m,
    const struct snap_route *r, const struct snap_dest *d)
{
	struct evbuffer *out = s->head_out;

	evbuffer_add(out, m->method, m->method_len);
	evbuffer_add(out, " ", 1);
	if (r != NULL && r->rewrite_uri != NULL)
		route_rewrite_target(out, r, m->target, m->target_len);
	else
		evbuffer_add(out, m->target, m->target_len);
	evbuffer_add_printf(out, " HTTP/1.%d\r\n", m->version_minor);
	http_route_write_fields(out, m, r != NULL ? &r->req_hdrs : NULL,
	    d != NULL ? &d->req_hdrs : NULL,
	    r != NULL ? r->rewrite_authority : NULL, s->hx.trace_hdrs);
	if (s->hx.upgrade)
		evbuffer_add(out, "Connection: upgrade\r\n", 21);
	evbuffer_add(out, "\r\n", 2);
}

/*
 * Sends a copy of the request to the route's mirror cluster, with
 * "-shadow" appended to the host, as Envoy does; the body follows as it
 * streams to the primary (mirror_body()).
 */
static void
route_mirror(
    struct session *s, const struct http1_msg *m, const struct snap_route *r)
{
	struct worker *w = s->w;
	const struct snap_endpoint *ep;
	struct sockaddr_storage addr;
	struct evbuffer *head;
	struct lb_args la;
	char host[METRICS_LABEL_MAX * 2];
	const char *h = "", *colon;
	size_t hlen = 0;

	if (s->hx.upgrade)
		return;
	memset(&la, 0, sizeof(la));
	la.r64 = worker_rand(w);
	la.now_ms = route_now_ms();
	if ((ep = lb_pick(w->hold->lb, r->mirror.cluster, &la)) == NULL)
		return;
	if (m->host != NULL) {
		h = m->host->value;
		hlen = m->host->value_len;
	}
	/* host-shadow:port; an IPv6 literal keeps its brackets. */
	colon = memrchr(h, ':', hlen);
	if (colon != NULL && memchr(colon, ']', hlen - (size_t)(colon - h)))
		colon = NULL;
	if (colon != NULL)
		snprintf(host, sizeof(host), "%.*s-shadow%.*s",
		    (int)(colon - h), h, (int)(hlen - (size_t)(colon - h)),
		    colon);
	else
		snprintf(host, sizeof(host), "%.*s-shadow", (int)hlen, h);
	if ((head = evbuffer_new()) == NULL)
		return;
	evbuffer_add(head, m->method, m->method_len);
	evbuffer_add(head, " ", 1);
	evbuffer_add(head, m->target, m->target_len);
	evbuffer_add(head, " HTTP/1.1\r\n", 11);
	http_route_write_fields(
	    head, m, &r->req_hdrs, NULL, host, s->hx.trace_hdrs);
	evbuffer_add(head, "Connection: close\r\n\r\n", 21);
	memcpy(&addr, &ep->addr, ep->addrlen);
	mirror_send(w, &addr, ep->addrlen, head, &s->hx.mirror);
	evbuffer_free(head);
}

static uint64_t
route_now_ms(void)
{
	return now_ns() / 1000000;
}

/*
 * Envoy's circuit breakers as Istio sets them, for HTTP/1.1 where each
 * request in flight has a connection of its own: http2MaxRequests caps
 * requests in flight; maxConnections caps connections, and requests
 * beyond it may wait (http1MaxPendingRequests, Envoy's default 1024).
 */
static int
route_overflow(struct worker *w, const struct snap_cluster *c)
{
	const struct snap_policy *p = &c->policy;
	unsigned int n = lb_cluster_inflight(w->hold->lb, c);

	if (p->max_requests > 0 && n >= (unsigned int)p->max_requests)
		return 1;
	if (p->max_connections > 0 &&
	    n >= (unsigned int)p->max_connections +
		    (unsigned int)(p->max_pending > 0 ? p->max_pending : 1024))
		return 1;
	return 0;
}

/*
 * An outbound request to no service of the mesh: to its original
 * destination, or refused as Envoy's BlackHoleCluster refuses it under
 * Istio's REGISTRY_ONLY.
 */
static int
route_unknown(struct session *s)
{
	struct http_exchange *hx = &s->hx;

	if (!s->w->px->conf.registry_only)
		return ROUTE_PASS;
	snprintf(hx->service, sizeof(hx->service), "%s", ROUTE_BLACKHOLE);
	hx->reply_status = 502;
	hx->reply_body = "no such service in the mesh (outbound traffic "
			 "policy REGISTRY_ONLY)";
	hx->rflag = METRICS_RF_NR;
	return ROUTE_REPLY;
}

int
http_route(struct session *s, const struct http1_msg *m)
{
	struct worker *w = s->w;
	struct http_exchange *hx = &s->hx;
	const struct snap_service *svc = NULL;
	const struct snap_vhost *vh;
	const struct snap_route *r = NULL;
	const struct snap_dest *d = NULL;
	struct snap_cluster *c;
	const struct snap_endpoint *ep;
	struct http_req_view view;
	struct lb_args la;
	uint64_t hash;
	int port;

	if (s->direction != METRICS_OUTBOUND)
		return ROUTE_PASS;
	if (w->hold == NULL)
		return route_unknown(s);
	memset(&view, 0, sizeof(view));
	view.method = m->method;
	view.method_len = m->method_len;
	view.path = m->target;
	view.path_len = m->target_len;
	if (m->host != NULL) {
		view.authority = m->host->value;
		view.authority_len = m->host->value_len;
	}
	view.port = port = netaddr_port(&s->target);
	view.fields = m->headers;
	view.nfields = m->nheaders;

	vh = snapshot_lookup(w->hold->snap, view.authority, view.authority_len,
	    &s->target, &svc);
	if (vh == NULL && svc == NULL)
		return route_unknown(s);
	hx->hold = worker_hold(w);
	if (vh != NULL) {
		if ((r = route_match(vh, &view)) == NULL) {
			hx->reply_status = 404;
			hx->reply_body = "route not found";
			hx->rflag = METRICS_RF_NR;
			return ROUTE_REPLY;
		}
		snprintf(hx->route, sizeof(hx->route), "%s", r->name);
		d = route_pick(r, worker_rand(w));
		c = d != NULL ? d->cluster : NULL;
	} else {
		c = snapshot_default_cluster(w->hold->snap, svc, port);
		if (c == NULL) {
			/* A port the service does not declare: as if unknown. */
			worker_release(w, hx->hold);
			hx->hold = NULL;
			return route_unknown(s);
		}
	}
	if (c == NULL) {
		hx->reply_status = 503;
		hx->reply_body = "no healthy upstream";
		hx->rflag = METRICS_RF_NR;
		return ROUTE_REPLY;
	}
	snprintf(hx->service, sizeof(hx->service), "%s",
	    c->service->nhosts > 0 ? c->service->hosts[0] : c->service->name);
	hx->route_p = r;
	hx->dest_p = d;
	hx->cluster = c;

	if (r != NULL && r->fault.abort_status != 0 &&
	    snap_chance(r->fault.abort_ppm, worker_rand(w))) {
		hx->reply_status = r->fault.abort_status;
		hx->reply_body = "fault filter abort";
		hx->rflag = METRICS_RF_FI;
		return ROUTE_REPLY;
	}

	/*
	 * Circuit breaking (connectionPool): at the limit of requests in
	 * flight the request is refused at once, as Envoy's overflow. The
	 * limit holds per worker thread.
	 */
	if (route_overflow(w, c)) {
		hx->reply_status = 503;
		hx->reply_body = "upstream connect error or disconnect/reset "
				 "before headers. reset reason: overflow";
		hx->rflag = METRICS_RF_UO;
		return ROUTE_REPLY;
	}

	memset(&la, 0, sizeof(la));
	la.r64 = worker_rand(w);
	la.locality =
	    *w->px->conf.locality != '\0' ? w->px->conf.locality : NULL;
	la.now_ms = route_now_ms();
	if (c->policy.lb == SNAP_LB_HASH_HEADER && c->policy.hash_header) {
		const struct http1_header *h =
		    http1_find(m, c->policy.hash_header);

		if (h != NULL) {
			hash = lb_hash(h->value, h->value_len);
			la.hash = &hash;
		}
	}
	if ((ep = lb_pick(w->hold->lb, c, &la)) == NULL) {
		hx->reply_status = 503;
		hx->reply_body = "no healthy upstream";
		hx->rflag = METRICS_RF_UH;
		return ROUTE_REPLY;
	}
	hx->endpoint = ep;
	memcpy(&hx->target, &ep->addr, ep->addrlen);
	hx->target_len = ep->addrlen;
	if (netaddr_port(&hx->target) == 0)
		netaddr_set_port(&hx->target, c->port);
	lb_start(w->hold->lb, c, ep);
	hx->lb_started = 1;

	route_write_head(s, m, r, d);
	if (r != NULL && r->mirror.cluster != NULL &&
	    snap_chance(r->mirror.ppm, worker_rand(w)))
		route_mirror(s, m, r);
	if (r != NULL && r->fault.delay_ms > 0 &&
	    snap_chance(r->fault.delay_ppm, worker_rand(w))) {
		hx->delay_ms = r->fault.delay_ms;
		hx->rflag = METRICS_RF_DI;
	}
	if (r != NULL && r->timeout_ms > 0)
		hx->timeout_ms = r->timeout_ms;
	return ROUTE_FORWARD;
}

void
http_route_report(struct session *s, int status)
{
	struct http_exchange *hx = &s->hx;

	if (hx->endpoint == NULL || hx->hold == NULL)
		return;
	lb_report(
	    hx->hold->lb, hx->cluster, hx->endpoint, status, route_now_ms());
}

/* Envoy's default retry budget: 20% of active requests, at least 3. */
static int
route_budget_ok(struct worker *w)
{
	unsigned int cap = w->nsessions / 5;

	return w->retries_active < (cap > 3 ? cap : 3);
}

int
http_route_should_retry(struct session *s, int status)
{
	struct http_exchange *hx = &s->hx;
	const struct snap_route *r = hx->route_p;
	unsigned int on;
	size_t i;
	int match = 0;

	/* Resent as is: no body, or a small one kept whole. */
	if (r == NULL || r->retries.attempts <= 0 ||
	    !(hx->bodyless || (hx->body_capture && hx->req_state == REQ_DONE)))
		return 0;
	on = r->retries.retry_on;
	switch (status) {
	case LB_FAIL_CONNECT:
		match = (on &
			    (SNAP_RETRY_CONNECT_FAILURE | SNAP_RETRY_5XX |
				SNAP_RETRY_GATEWAY_ERROR |
				SNAP_RETRY_REFUSED_STREAM)) != 0;
		break;
	case LB_FAIL_RESET:
		match = (on & (SNAP_RETRY_RESET | SNAP_RETRY_5XX)) != 0;
		break;
	case LB_FAIL_TIMEOUT:
		match = (on &
			    (SNAP_RETRY_5XX | SNAP_RETRY_GATEWAY_ERROR |
				SNAP_RETRY_RESET)) != 0;
		break;
	default:
		if ((on & SNAP_RETRY_5XX) && status >= 500)
			match = 1;
		if ((on & SNAP_RETRY_GATEWAY_ERROR) && status >= 502 &&
		    status <= 504)
			match = 1;
		for (i = 0; i < r->retries.ncodes; i++) {
			if (r->retries.codes[i] == status)
				match = 1;
		}
		break;
	}
	if (!match)
		return 0;
	/*
	 * A request that reached the application is sent again only when
	 * its method is idempotent; a failed connect never reached it.
	 */
	if (!hx->idempotent && status != LB_FAIL_CONNECT)
		return 0;
	if (hx->attempt >= r->retries.attempts ||
	    (!hx->retrying && !route_budget_ok(s->w)))
		return 2;
	return 1;
}

int
http_route_repick(struct session *s)
{
	struct worker *w = s->w;
	struct http_exchange *hx = &s->hx;
	const struct snap_endpoint *ep;
	struct lb_args la;
	size_t i, k;

	if (hx->cluster == NULL)
		return -1;
	if (!hx->retrying) {
		hx->retrying = 1;
		w->retries_active++;
	}
	if (hx->lb_started)
		lb_done(hx->hold->lb, hx->cluster, hx->endpoint);
	hx->lb_started = 0;
	memset(&la, 0, sizeof(la));
	la.r64 = worker_rand(w);
	if (*w->px->conf.locality != '\0')
		la.locality = w->px->conf.locality;
	la.avoid = hx->endpoint;
	la.now_ms = route_now_ms();
	if (hx->ntried < sizeof(hx->tried) / sizeof(hx->tried[0]))
		hx->tried[hx->ntried++] = hx->endpoint;
	/*
	 * Envoy's previous_hosts predicate, as Istio sets it: up to five
	 * picks to find an endpoint no attempt has used yet.
	 */
	for (i = 0; i < 5; i++) {
		if ((ep = lb_pick(hx->hold->lb, hx->cluster, &la)) == NULL)
			return -1;
		for (k = 0; k < hx->ntried && hx->tried[k] != ep; k++)
			;
		if (k == hx->ntried)
			break;
		la.r64 = worker_rand(w);
	}
	hx->endpoint = ep;
	memcpy(&hx->target, &ep->addr, ep->addrlen);
	hx->target_len = ep->addrlen;
	lb_start(hx->hold->lb, hx->cluster, ep);
	hx->lb_started = 1;
	return 0;
}

int
http_route_backoff_ms(struct session *s)
{
	const struct snap_route *r = s->hx.route_p;
	int base = 25, shift = s->hx.attempt < 4 ? s->hx.attempt : 4;
	uint64_t cap;

	if (r != NULL && r->retries.backoff_ms > 0)
		base = r->retries.backoff_ms;
	cap = (uint64_t)base << shift;
	if (cap > (uint64_t)base * 10)
		cap = (uint64_t)base * 10;
	/* Full jitter: anywhere up to the exponential interval. */
	return (int)(worker_rand(s->w) % (cap + 1));
}

void
http_route_end(struct session *s)
{
	struct http_exchange *hx = &s->hx;

	mirror_detach(hx->mirror);
	hx->mirror = NULL;

	if (hx->retrying) {
		s->w->retries_active--;
		hx->retrying = 0;
	}

	if (hx->lb_started)
		lb_done(hx->hold->lb, hx->cluster, hx->endpoint);
	hx->lb_started = 0;
	worker_release(s->w, hx->hold);
	hx->hold = NULL;
	hx->endpoint = NULL;
	hx->cluster = NULL;
	hx->route_p = NULL;
	hx->dest_p = NULL;
}
