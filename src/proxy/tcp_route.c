/*
 * Where an outbound opaque TCP connection goes. A connection to a
 * service's virtual IP and port is sent to one of its endpoints, picked
 * by the cluster's load balancer (mesh mTLS when the endpoint has a
 * sidecar), as Envoy's TCP proxy does for an Istio ServiceEntry; any
 * other destination passes through unchanged, or, under the outbound
 * traffic policy REGISTRY_ONLY, is refused.
 */
#include "config.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "lb.h"
#include "proxy.h"
#include "snapshot.h"

static const void *
tcp_route_ip(const struct sockaddr_storage *a, size_t *len)
{
	if (a->ss_family == AF_INET6) {
		*len = sizeof(struct in6_addr);
		return &((const struct sockaddr_in6 *)a)->sin6_addr;
	}
	*len = sizeof(struct in_addr);
	return &((const struct sockaddr_in *)a)->sin_addr;
}

/*
 * The service port that the outbound connection of s was for (its
 * original destination is a service's VIP and port), with the service,
 * or NULL.
 */
static const struct snap_port *
tcp_route_port(const struct session *s, const struct snap_service **svc)
{
	int port = netaddr_port(&s->orig);
	size_t i;

	*svc = NULL;
	if (s->w->hold == NULL)
		return NULL;
	(void)snapshot_lookup(s->w->hold->snap, NULL, 0, &s->orig, svc);
	for (i = 0; *svc != NULL && i < (*svc)->nports; i++) {
		if ((*svc)->ports[i] == port)
			return &(*svc)->portdefs[i];
	}
	return NULL;
}

/*
 * True when the original destination of s is a service port declared
 * opaque (TCP, TLS, HTTPS, MONGO...): the proxy then relays at once
 * instead of waiting to see whether the client speaks HTTP first, so a
 * server-first protocol does not wait out the detection timeout.
 */
int
tcp_route_opaque(struct session *s)
{
	const struct snap_service *svc;
	const struct snap_port *p = tcp_route_port(s, &svc);

	if (p == NULL || p->protocol == NULL || *p->protocol == '\0')
		return 0;
	return strcmp(p->protocol, "HTTP") != 0 &&
	    strcmp(p->protocol, "HTTP2") != 0 &&
	    strcmp(p->protocol, "GRPC") != 0 &&
	    strcmp(p->protocol, "GRPC-WEB") != 0;
}

int
tcp_route(struct session *s)
{
	struct worker *w = s->w;
	struct http_exchange *hx = &s->hx;
	const struct snap_service *svc;
	const struct snap_port *p = tcp_route_port(s, &svc);
	const struct snap_endpoint *ep;
	struct snap_cluster *c = p != NULL ? p->cluster : NULL;
	struct lb_args la;
	uint64_t hash;
	const void *ip;
	size_t iplen;

	if (c == NULL) {
		if (!w->px->conf.registry_only)
			return TCP_ROUTE_PASS;
		snprintf(s->tcpkey.service, sizeof(s->tcpkey.service), "%s",
		    ROUTE_BLACKHOLE);
		return TCP_ROUTE_REFUSE;
	}
	snprintf(s->tcpkey.service, sizeof(s->tcpkey.service), "%s",
	    svc->nhosts > 0 ? svc->hosts[0] : svc->name);
	/* resolution NONE, or no endpoints known: where the app asked. */
	if (svc->resolution == SNAP_RES_NONE || c->nendpoints == 0)
		return TCP_ROUTE_PASS;

	memset(&la, 0, sizeof(la));
	la.r64 = worker_rand(w);
	la.locality =
	    *w->px->conf.locality != '\0' ? w->px->conf.locality : NULL;
	la.now_ms = now_ns() / 1000000;
	if (c->policy.lb == SNAP_LB_HASH_SOURCE_IP) {
		ip = tcp_route_ip(&s->peer, &iplen);
		hash = lb_hash(ip, iplen);
		la.hash = &hash;
	}
	if ((ep = lb_pick(w->hold->lb, c, &la)) == NULL)
		return TCP_ROUTE_REFUSE; /* no healthy endpoint */

	/* Held for the connection's life: ep and c live in the snapshot. */
	hx->hold = worker_hold(w);
	hx->cluster = c;
	hx->endpoint = ep;
	snprintf(s->tcpkey.peer_workload, sizeof(s->tcpkey.peer_workload), "%s",
	    ep->workload);
	snprintf(s->tcpkey.peer_namespace, sizeof(s->tcpkey.peer_namespace),
	    "%s", ep->namespace);
	memcpy(&s->target, &ep->addr, ep->addrlen);
	s->target_len = ep->addrlen;
	if (netaddr_port(&s->target) == 0)
		netaddr_set_port(&s->target, c->port);
	lb_start(w->hold->lb, c, ep);
	hx->lb_started = 1;
	return TCP_ROUTE_ENDPOINT;
}
