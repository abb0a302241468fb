/*
 * The flow of a packet queued for an L4 verdict: addresses and ports
 * from its IPv4 or IPv6 and UDP or TCP headers, nothing else (no
 * dependency, so that it can be fuzzed alone).
 */
#ifndef WEFT_L4_PACKET_H
#define WEFT_L4_PACKET_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

/* One flow, from the headers of its first packet. */
struct l4_flow {
	uint8_t proto;                    /* IPPROTO_UDP or IPPROTO_TCP */
	struct sockaddr_storage src, dst; /* addresses and ports */
};

/*
 * Reads the flow of an IPv4 or IPv6 packet (as far as the UDP or TCP
 * ports; IPv6 extension headers are skipped) of len bytes, which may be
 * a prefix of the packet. Returns 0, or -1 with *why set to a static
 * reason when the bytes are not a whole enough UDP or TCP packet
 * (short, bad version or header length, another protocol, a later
 * fragment). Never reads past len.
 */
int l4_packet_parse(
    const uint8_t *pkt, size_t len, struct l4_flow *f, const char **why);

#endif
