/*
 * L4 policy verdicts (see l4_verdict.h): the decision of the snapshot's
 * authorization set on what the first packet of a flow tells
 * (l4_packet.c).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "l4_verdict.h"
#include "proxy.h"
#include "snapshot.h"

static void
l4_request(
    const struct l4_flow *f, const char *principal, struct authz_request *r)
{
	memset(r, 0, sizeof(*r));
	r->http = 0;
	r->principal = principal[0] != '\0' ? principal : NULL;
	r->source = (const struct sockaddr *)&f->src;
	r->remote = (const struct sockaddr *)&f->src;
	r->destination = (const struct sockaddr *)&f->dst;
	r->port = (uint16_t)netaddr_port(&f->dst);
}

int
l4_decide(const struct snapshot *s, const struct l4_flow *f, enum l4_dir dir,
    const char *td, struct authz_decision *d, char *principal, size_t len)
{
	const struct snap_security *sec;
	const struct snap_peer *peer;
	struct authz_request r;

	principal[0] = '\0';
	if (dir == L4_OUTBOUND) {
		/* authz_eval() of no policy: allowed, "no ALLOW policy ...". */
		authz_eval(NULL, NULL, d);
		return 1;
	}
	if ((peer = snapshot_workload_at(s, &f->src)) != NULL)
		snprintf(principal, len, "%s/ns/%s/sa/%s",
		    td != NULL ? td : "cluster.local", peer->namespace,
		    peer->service_account);
	l4_request(f, principal, &r);
	sec = snapshot_security(s);
	authz_eval(sec != NULL ? sec->authz : NULL, &r, d);
	return d->allowed;
}

void
l4_deny_text(const struct snapshot *s, const struct l4_flow *f,
    const char *principal, struct authz_decision *d, char *buf, size_t len)
{
	const struct snap_security *sec = snapshot_security(s);
	struct authz_request r;
	char src[64], dst[64], why[384];

	l4_request(f, principal, &r);
	if (sec != NULL)
		authz_explain_nearest(sec->authz, &r, d);
	authz_decision_text(d, why, sizeof(why));
	netaddr_str(&f->src, src, sizeof(src));
	netaddr_str(&f->dst, dst, sizeof(dst));
	snprintf(buf, len, "%s %s -> %s (%s): %s",
	    f->proto == IPPROTO_UDP ? "udp" : "tcp", src, dst,
	    principal[0] != '\0' ? principal : "unknown source", why);
}
