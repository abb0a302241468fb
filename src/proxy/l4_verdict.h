/*
 * L4 policy: the verdict on one new flow that the L7 proxy does not
 * see (UDP, and TCP to ports excluded from capture), queued by
 * weft-init's NFQUEUE rules. This file knows packets and policy only;
 * the netlink side is l4_queue.c.
 *
 * Inbound flows (queued at PREROUTING) are decided by the
 * AuthorizationPolicies that select this workload, as Istio decides a
 * plain TCP connection (authz.h): DENY first, then ALLOW if any ALLOW
 * policy applies, allowed when none does; only L3/L4 attributes are
 * known: source address (ipBlocks, remoteIpBlocks), destination
 * address and port, and the source's principal and namespace when its
 * address is a workload of the registry (WorkloadEntry or registered).
 * HTTP-only fields never match in an ALLOW rule and are ignored in a
 * DENY rule. Outbound flows (queued at OUTPUT) are accepted: as in
 * Istio, authorization is the destination's business.
 */
#ifndef WEFT_L4_VERDICT_H
#define WEFT_L4_VERDICT_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "authz.h"
#include "l4_packet.h"

struct snapshot;

enum l4_dir {
	L4_INBOUND,
	L4_OUTBOUND,
};

/*
 * Decides flow f in direction dir against snapshot s (NULL: no
 * policy, allowed), for a mesh of trust domain td ("cluster.local"
 * when NULL). Fills d as authz_eval() does (its pointers live as long
 * as s) and principal (of size len, "" when the source is not a known
 * workload) with the source's principal as Istio writes it. Returns 1
 * to accept, 0 to drop. No allocation, no lock, no SQL.
 */
int l4_decide(const struct snapshot *s, const struct l4_flow *f,
    enum l4_dir dir, const char *td, struct authz_decision *d, char *principal,
    size_t len);

/*
 * Writes into buf (of size len) one line for a denied flow: protocol,
 * source, destination, the source's principal, and the explanation of
 * d (the nearest ALLOW rule is looked up: for the denial path only).
 */
void l4_deny_text(const struct snapshot *s, const struct l4_flow *f,
    const char *principal, struct authz_decision *d, char *buf, size_t len);

#endif
