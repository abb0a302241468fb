/*
 * The headers of a flow's first packet (see l4_packet.h), read with a
 * bounds check at every step: the packet comes from the network.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "l4_packet.h"

#define L4_IP6_MAX_EXT 8 /* extension headers followed, at most */

/* The ports of a UDP or TCP header at off, into f. */
static int
l4_ports(const uint8_t *pkt, size_t len, size_t off, uint8_t proto,
    struct l4_flow *f, const char **why)
{
	size_t need = proto == IPPROTO_UDP ? 8 : 20;
	uint16_t sport, dport;

	if (proto != IPPROTO_UDP && proto != IPPROTO_TCP) {
		*why = "not UDP or TCP";
		return -1;
	}
	if (off > len || len - off < need) {
		*why = proto == IPPROTO_UDP ? "short UDP header"
					    : "short TCP header";
		return -1;
	}
	sport = (uint16_t)(pkt[off] << 8 | pkt[off + 1]);
	dport = (uint16_t)(pkt[off + 2] << 8 | pkt[off + 3]);
	f->proto = proto;
	if (f->src.ss_family == AF_INET) {
		((struct sockaddr_in *)&f->src)->sin_port = htons(sport);
		((struct sockaddr_in *)&f->dst)->sin_port = htons(dport);
	} else {
		((struct sockaddr_in6 *)&f->src)->sin6_port = htons(sport);
		((struct sockaddr_in6 *)&f->dst)->sin6_port = htons(dport);
	}
	return 0;
}

static int
l4_parse4(const uint8_t *pkt, size_t len, struct l4_flow *f, const char **why)
{
	struct sockaddr_in *s = (struct sockaddr_in *)&f->src;
	struct sockaddr_in *d = (struct sockaddr_in *)&f->dst;
	size_t ihl, total;

	if (len < 20) {
		*why = "short IPv4 header";
		return -1;
	}
	ihl = (size_t)(pkt[0] & 0x0f) * 4;
	total = (size_t)(pkt[2] << 8 | pkt[3]);
	if (ihl < 20 || ihl > len || total < ihl) {
		*why = "bad IPv4 header length";
		return -1;
	}
	/* A later fragment has no ports (conntrack defragments first). */
	if ((pkt[6] & 0x1f) != 0 || pkt[7] != 0) {
		*why = "IPv4 fragment";
		return -1;
	}
	s->sin_family = d->sin_family = AF_INET;
	memcpy(&s->sin_addr, pkt + 12, 4);
	memcpy(&d->sin_addr, pkt + 16, 4);
	return l4_ports(pkt, total < len ? total : len, ihl, pkt[9], f, why);
}

static int
l4_parse6(const uint8_t *pkt, size_t len, struct l4_flow *f, const char **why)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&f->src;
	struct sockaddr_in6 *d = (struct sockaddr_in6 *)&f->dst;
	size_t off = 40, hlen;
	uint8_t next;
	int i;

	if (len < 40) {
		*why = "short IPv6 header";
		return -1;
	}
	s->sin6_family = d->sin6_family = AF_INET6;
	memcpy(&s->sin6_addr, pkt + 8, 16);
	memcpy(&d->sin6_addr, pkt + 24, 16);
	next = pkt[6];
	for (i = 0; i < L4_IP6_MAX_EXT; i++) {
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING &&
		    next != IPPROTO_DSTOPTS && next != IPPROTO_FRAGMENT)
			return l4_ports(pkt, len, off, next, f, why);
		if (off > len || len - off < 8) {
			*why = "short IPv6 extension header";
			return -1;
		}
		if (next == IPPROTO_FRAGMENT) {
			/* Offset bits: a later fragment has no ports. */
			if ((pkt[off + 2] << 8 | (pkt[off + 3] & 0xf8)) != 0) {
				*why = "IPv6 fragment";
				return -1;
			}
			hlen = 8;
		} else
			hlen = ((size_t)pkt[off + 1] + 1) * 8;
		next = pkt[off];
		off += hlen;
	}
	*why = "too many IPv6 extension headers";
	return -1;
}

int
l4_packet_parse(
    const uint8_t *pkt, size_t len, struct l4_flow *f, const char **why)
{
	memset(f, 0, sizeof(*f));
	if (len < 1) {
		*why = "empty packet";
		return -1;
	}
	switch (pkt[0] >> 4) {
	case 4:
		return l4_parse4(pkt, len, f, why);
	case 6:
		return l4_parse6(pkt, len, f, why);
	default:
		*why = "not IPv4 or IPv6";
		return -1;
	}
}
