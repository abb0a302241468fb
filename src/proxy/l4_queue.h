/*
 * The NFQUEUE binding of the L4 policy (libmnl and libnetfilter_queue:
 * the one file that knows them), and the small process that gives the
 * verdicts.
 *
 * The kernel checks CAP_NET_ADMIN of the sender on every netlink
 * message to nfnetlink, verdicts included, not only when the queue is
 * bound. So that weft-proxy itself keeps no capability, the verdicts
 * come from a companion process forked before the proxy drops its
 * privileges: it runs as the proxy uid with CAP_NET_ADMIN alone, reads
 * the policy DB itself (a snapshot per DB version, as the proxy does),
 * and dies with the proxy. Its counters live in memory shared with
 * the proxy, which renders them in /metrics.
 */
#ifndef WEFT_L4_QUEUE_H
#define WEFT_L4_QUEUE_H

#include <sys/types.h>
#include <stdint.h>

#include "metrics.h"

struct proxy_conf;

/* What the proxy and its verdict process share (an anonymous mapping). */
struct l4_shared {
	uint64_t counters[METRICS_L4_COUNT]; /* written by the child only */
	/* The mesh trust domain from the proxy's certificate, written by
	 * the proxy under a sequence count (odd while writing). */
	uint32_t td_seq;
	char trust_domain[256];
};

struct l4_queue;

/*
 * Opens a netlink socket and binds NFQUEUE num (needs CAP_NET_ADMIN):
 * headers-only copies, GSO packets whole, and, with fail_open, the
 * kernel's NFQA_CFG_F_FAIL_OPEN (accept when the queue is full).
 * Returns the queue, or NULL with *cause set (caller frees).
 */
struct l4_queue *l4_queue_open(int num, int fail_open, char **cause);

/* Closes this process's handle on the queue; l4_queue_free(NULL) is a
 * no-op. The binding lasts while any process holds the socket. */
void l4_queue_free(struct l4_queue *q);

/* A zeroed shared mapping for l4_queue_spawn(); fatal on failure. */
struct l4_shared *l4_shared_new(void);

/* Publishes the trust domain (NULL: "cluster.local") to the child. */
void l4_shared_trust_domain(struct l4_shared *sh, const char *td);

/*
 * Forks the verdict process on q, for the workload of conf, counting in
 * sh. Called while the proxy still holds its privileges: the child
 * keeps CAP_NET_ADMIN only (as conf's uid when started as root), and
 * is killed when the proxy exits. Returns the child's pid once it is
 * ready (privileges dropped, the policy DB read), or -1 with a logged
 * reason.
 */
pid_t l4_queue_spawn(
    struct l4_queue *q, const struct proxy_conf *conf, struct l4_shared *sh);

/*
 * Limits this thread's capabilities to none, or to CAP_NET_ADMIN
 * alone, and checks it. Returns 0, or -1 with errno set.
 */
int l4_queue_caps(int net_admin);

#endif
