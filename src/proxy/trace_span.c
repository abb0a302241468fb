/*
 * Tracing of one HTTP exchange: the caller's trace context is read from
 * the request head, this hop gets its own span (CLIENT outbound, SERVER
 * inbound) and request id, both travel upstream in the rewritten head,
 * and a sampled span is written, when the exchange ends, into the
 * worker's ring for the exporter thread (trace_export.c). Nothing here
 * allocates or blocks.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proxy.h"
#include "snapshot.h"
#include "trace.h"

void
trace_request_start(struct session *s, const struct http1_msg *m)
{
	struct http_exchange *hx = &s->hx;
	struct worker *w = s->w;
	const struct http1_header *h;
	struct trace_ctx parent;
	struct trace_in in;
	struct timespec now;
	const char *made = NULL;
	uint64_t r1, r2, r3, r4;

	clock_gettime(CLOCK_REALTIME, &now);
	hx->start_us =
	    (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;
	memset(&in, 0, sizeof(in));
#define TRACE_IN(field, name)                                                  \
	do {                                                                   \
		if ((h = http1_find(m, name)) != NULL) {                       \
			in.field = h->value;                                   \
			in.field##_len = h->value_len;                         \
		}                                                              \
	} while (0)
	TRACE_IN(traceparent, "traceparent");
	TRACE_IN(b3, "b3");
	TRACE_IN(x_traceid, "x-b3-traceid");
	TRACE_IN(x_spanid, "x-b3-spanid");
	TRACE_IN(x_sampled, "x-b3-sampled");
	TRACE_IN(x_flags, "x-b3-flags");
#undef TRACE_IN
	trace_extract(&in, &parent);
	r1 = worker_rand(w);
	r2 = worker_rand(w);
	r3 = worker_rand(w);
	r4 = worker_rand(w);
	trace_child(
	    &parent, r1, r2, r3, r4 >> 11, w->px->conf.trace_ppm, &hx->trace);
	if ((h = http1_find(m, "x-request-id")) != NULL && h->value_len > 0)
		http_copy_field(hx->request_id, sizeof(hx->request_id),
		    h->value, h->value_len);
	else {
		trace_uuid4(worker_rand(w), worker_rand(w), hx->request_id);
		made = hx->request_id;
	}
	trace_write_headers(&hx->trace, in.b3 != NULL, made, hx->trace_hdrs,
	    sizeof(hx->trace_hdrs));
}

/* The address of a and its port, for remoteEndpoint. */
static void
trace_peer(const struct sockaddr_storage *a, char *ip, size_t len, int *port)
{
	ip[0] = '\0';
	*port = 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;

		inet_ntop(AF_INET, &v4->sin_addr, ip, (socklen_t)len);
		*port = ntohs(v4->sin_port);
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;

		inet_ntop(AF_INET6, &v6->sin6_addr, ip, (socklen_t)len);
		*port = ntohs(v6->sin6_port);
	}
}

void
trace_request_end(struct session *s, uint64_t duration_ns)
{
	struct http_exchange *hx = &s->hx;
	struct trace_exporter *te = s->w->px->tracer;
	const char *service, *host, *colon, *peer, *peer_ns;
	struct trace_span *sp;
	int port;

	if (te == NULL || !hx->trace.valid ||
	    hx->trace.sampled != TRACE_SAMPLED_YES)
		return;
	if ((sp = trace_ring_reserve(te, s->w->id)) == NULL)
		return;
	sp->trace_hi = hx->trace.trace_hi;
	sp->trace_lo = hx->trace.trace_lo;
	sp->span_id = hx->trace.span_id;
	sp->parent_id = hx->trace.parent_id;
	sp->start_us = hx->start_us;
	sp->duration_us = duration_ns / 1000;
	sp->req_bytes = hx->req_bytes;
	sp->resp_bytes = hx->resp_bytes;
	sp->kind = s->direction == METRICS_OUTBOUND ? TRACE_KIND_CLIENT
						    : TRACE_KIND_SERVER;
	sp->status = hx->status;
	snprintf(sp->method, sizeof(sp->method), "%s", hx->method_str);
	service = hx->service[0] != '\0' ? hx->service : s->tcpkey.service;
	host = hx->authority[0] != '\0' ? hx->authority : service;
	snprintf(sp->url, sizeof(sp->url), "http://%s%s", host, hx->path);
	/* Istio's span name: host:port, a slash and a star. */
	colon = strrchr(host, ':');
	if (colon != NULL && strchr(colon, ']') == NULL)
		snprintf(sp->name, sizeof(sp->name), "%s/*", host);
	else
		snprintf(sp->name, sizeof(sp->name), "%s:%d/*", host,
		    netaddr_port(&s->orig));
	snprintf(sp->protocol, sizeof(sp->protocol), "%s",
	    hx->req_minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
	snprintf(sp->response_flags, sizeof(sp->response_flags), "%s",
	    metrics_rflag_name(hx->rflag));
	snprintf(sp->route, sizeof(sp->route), "%s",
	    hx->route[0] != '\0' ? hx->route : "default");
	if (hx->cluster != NULL)
		snprintf(
		    sp->cluster, sizeof(sp->cluster), "%s", hx->cluster->name);
	else
		snprintf(sp->cluster, sizeof(sp->cluster), "%s|%d||%s",
		    s->direction == METRICS_OUTBOUND ? "outbound" : "inbound",
		    netaddr_port(&hx->target),
		    s->direction == METRICS_OUTBOUND ? service : "");
	snprintf(sp->request_id, sizeof(sp->request_id), "%s", hx->request_id);
	netaddr_str(&s->peer, sp->downstream, sizeof(sp->downstream));
	if (hx->up_sent_ns != 0)
		netaddr_str(&hx->target, sp->upstream, sizeof(sp->upstream));
	else
		sp->upstream[0] = '\0';
	/* The other side of the hop: the upstream outbound, the caller inbound. */
	trace_peer(s->direction == METRICS_OUTBOUND ? &hx->target : &s->peer,
	    sp->peer_ip, sizeof(sp->peer_ip), &port);
	sp->peer_port = port;
	sp->peer_workload[0] = '\0';
	if (s->direction == METRICS_OUTBOUND && hx->endpoint != NULL)
		snprintf(sp->peer_workload, sizeof(sp->peer_workload), "%s",
		    hx->endpoint->workload);
	else if (s->direction == METRICS_INBOUND &&
	    (peer = session_source(s, &peer_ns)) != NULL)
		snprintf(
		    sp->peer_workload, sizeof(sp->peer_workload), "%s", peer);
	trace_ring_commit(te, s->w->id);
}
