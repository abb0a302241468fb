/*
 * The settings of weft-init and the parsing of their values: ports,
 * port lists with ranges, user and group ids, CIDR lists.
 */
#ifndef WEFT_INIT_OPTS_H
#define WEFT_INIT_OPTS_H

#include <stddef.h>
#include <stdint.h>

#define INIT_PROXY_UID     1337
#define INIT_OUTBOUND_PORT 15001
#define INIT_INBOUND_PORT  15006
/* The proxy's own ports, never captured inbound. */
#define INIT_OWN_PORT_LO 15000
#define INIT_OWN_PORT_HI 15099
/* The connection mark bit of flows the L4 queue has judged. */
#define INIT_L4_MARK 0x1000

struct init_portrange {
	uint16_t lo;
	uint16_t hi; /* equal to lo for a single port */
};

struct init_ports {
	struct init_portrange *v;
	size_t n;
};

struct init_cidr {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* host bits cleared */
	unsigned int plen;
};

struct init_cidrs {
	struct init_cidr *v;
	size_t n;
};

struct init_opts {
	uint32_t proxy_uid;
	uint32_t proxy_gid;
	uint16_t outbound_port;
	uint16_t inbound_port;
	int inbound_all; /* --include-inbound-ports '*' */
	struct init_ports include_inbound;
	struct init_ports exclude_inbound;
	struct init_ports exclude_outbound;
	struct init_cidrs exclude_cidrs;
	int l4_queue;     /* NFQUEUE number, or -1 for none */
	int l4_fail_open; /* --queue-bypass: pass when nobody reads */
};

/* Fills o with the defaults (proxy uid and gid 1337, ports 15001 and
 * 15006, all inbound ports captured, no exclusions, no L4 queue). */
void init_opts_defaults(struct init_opts *o);
/* Frees the lists held by o (not o itself). */
void init_opts_clear(struct init_opts *o);

/*
 * Each parser returns 0 and stores the value, or returns -1 and sets
 * *cause to an allocated message naming the bad text (the caller frees
 * it and prefixes the option name). Lists replace what *out held.
 */
int init_opts_port(const char *s, uint16_t *out, char **cause);
int init_opts_id(const char *s, uint32_t *out, char **cause);
int init_opts_queue(const char *s, int *out, char **cause);
/* Comma-separated ports and ranges "A-B"; "" is the empty list. */
int init_opts_ports(const char *s, struct init_ports *out, char **cause);
/* Comma-separated IPv4 and IPv6 CIDRs (a bare address is a host). */
int init_opts_cidrs(const char *s, struct init_cidrs *out, char **cause);
/* Writes "A" or "A:B" (iptables syntax) for r into buf. */
void init_opts_range_str(const struct init_portrange *r, char *buf, size_t len);
/* Writes "ADDR/PLEN" for c into buf (at least 64 bytes). */
void init_opts_cidr_str(const struct init_cidr *c, char *buf, size_t len);

#endif
