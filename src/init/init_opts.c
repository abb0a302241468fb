#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init_opts.h"
#include "log.h"
#include "xmalloc.h"

void
init_opts_defaults(struct init_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->proxy_uid = INIT_PROXY_UID;
	o->proxy_gid = INIT_PROXY_UID;
	o->outbound_port = INIT_OUTBOUND_PORT;
	o->inbound_port = INIT_INBOUND_PORT;
	o->inbound_all = 1;
	o->l4_queue = -1;
}

void
init_opts_clear(struct init_opts *o)
{
	free(o->include_inbound.v);
	free(o->exclude_inbound.v);
	free(o->exclude_outbound.v);
	free(o->exclude_cidrs.v);
	o->include_inbound.v = o->exclude_inbound.v = NULL;
	o->exclude_outbound.v = NULL;
	o->exclude_cidrs.v = NULL;
	o->include_inbound.n = o->exclude_inbound.n = 0;
	o->exclude_outbound.n = o->exclude_cidrs.n = 0;
}

/*
 * Decimal digits only: strtoul alone would take signs, spaces and
 * hexadecimal, which have no place in a port or an id.
 */
static int
init_opts_number(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

int
init_opts_port(const char *s, uint16_t *out, char **cause)
{
	unsigned long v;

	if (init_opts_number(s, 65535, &v) == -1 || v == 0) {
		xasprintf(cause, "\"%s\" is not a port number (1-65535)", s);
		return -1;
	}
	*out = (uint16_t)v;
	return 0;
}

int
init_opts_id(const char *s, uint32_t *out, char **cause)
{
	unsigned long v;

	/* (uid_t)-1 means "no change" to the kernel: not an id. */
	if (init_opts_number(s, 4294967294UL, &v) == -1) {
		xasprintf(cause, "\"%s\" is not a numeric id", s);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int
init_opts_queue(const char *s, int *out, char **cause)
{
	unsigned long v;

	if (init_opts_number(s, 65535, &v) == -1) {
		xasprintf(cause, "\"%s\" is not a queue number (0-65535)", s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/*
 * Splits s at commas, trimming blanks around each item, and calls fn
 * for each. An empty s is an empty list; an empty item is an error.
 */
static int
init_opts_split(const char *s, int (*fn)(const char *, void *, char **),
    void *arg, char **cause)
{
	char *copy, *item, *next, *end;
	int rc = 0;

	copy = xstrdup(s);
	item = copy;
	while (isspace((unsigned char)*item))
		item++;
	if (*item == '\0') {
		free(copy);
		return 0;
	}
	for (; item != NULL; item = next) {
		next = strchr(item, ',');
		if (next != NULL)
			*next++ = '\0';
		while (isspace((unsigned char)*item))
			item++;
		end = item + strlen(item);
		while (end > item && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*item == '\0') {
			xasprintf(cause, "empty item in list \"%s\"", s);
			rc = -1;
			break;
		}
		if (fn(item, arg, cause) == -1) {
			rc = -1;
			break;
		}
	}
	free(copy);
	return rc;
}

static int
init_opts_range_cb(const char *item, void *arg, char **cause)
{
	struct init_ports *p = arg;
	struct init_portrange r;
	char *dash, *lo;
	uint16_t a, b;
	int rc = -1;

	lo = xstrdup(item);
	dash = strchr(lo, '-');
	if (dash == NULL) {
		if (init_opts_port(lo, &a, cause) == -1)
			goto out;
		b = a;
	} else {
		*dash = '\0';
		if (init_opts_port(lo, &a, cause) == -1 ||
		    init_opts_port(dash + 1, &b, cause) == -1) {
			free(*cause);
			xasprintf(cause,
			    "\"%s\" is not a port or a port range (A-B)", item);
			goto out;
		}
		if (a > b) {
			xasprintf(cause,
			    "\"%s\" is not a port range: %u is above %u", item,
			    a, b);
			goto out;
		}
	}
	r.lo = a;
	r.hi = b;
	p->v = reallocarray(p->v, p->n + 1, sizeof(*p->v));
	if (p->v == NULL)
		fatal("reallocarray");
	p->v[p->n++] = r;
	rc = 0;
out:
	free(lo);
	return rc;
}

int
init_opts_ports(const char *s, struct init_ports *out, char **cause)
{
	struct init_ports p = {NULL, 0};

	if (init_opts_split(s, init_opts_range_cb, &p, cause) == -1) {
		free(p.v);
		return -1;
	}
	free(out->v);
	*out = p;
	return 0;
}

static int
init_opts_cidr_cb(const char *item, void *arg, char **cause)
{
	struct init_cidrs *cs = arg;
	struct init_cidr c;
	char *addr, *slash;
	unsigned long plen;
	unsigned int i, max;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	addr = xstrdup(item);
	slash = strchr(addr, '/');
	if (slash != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, addr, c.addr) == 1) {
		c.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, c.addr) == 1) {
		c.family = AF_INET6;
		max = 128;
	} else {
		xasprintf(cause, "\"%s\" is not an IPv4 or IPv6 CIDR", item);
		goto out;
	}
	plen = max;
	if (slash != NULL && (init_opts_number(slash + 1, max, &plen) == -1)) {
		xasprintf(cause,
		    "\"%s\" is not a CIDR: bad prefix length (0-%u)", item,
		    max);
		goto out;
	}
	c.plen = (unsigned int)plen;
	/* Clear the host bits, as iptables would. */
	for (i = 0; i < max / 8; i++) {
		if (i * 8 >= c.plen)
			c.addr[i] = 0;
		else if (i * 8 + 8 > c.plen)
			c.addr[i] &=
			    (unsigned char)(0xff << (8 - (c.plen % 8)));
	}
	cs->v = reallocarray(cs->v, cs->n + 1, sizeof(*cs->v));
	if (cs->v == NULL)
		fatal("reallocarray");
	cs->v[cs->n++] = c;
	rc = 0;
out:
	free(addr);
	return rc;
}

int
init_opts_cidrs(const char *s, struct init_cidrs *out, char **cause)
{
	struct init_cidrs cs = {NULL, 0};

	if (init_opts_split(s, init_opts_cidr_cb, &cs, cause) == -1) {
		free(cs.v);
		return -1;
	}
	free(out->v);
	*out = cs;
	return 0;
}

void
init_opts_range_str(const struct init_portrange *r, char *buf, size_t len)
{
	if (r->lo == r->hi)
		snprintf(buf, len, "%u", r->lo);
	else
		snprintf(buf, len, "%u:%u", r->lo, r->hi);
}

void
init_opts_cidr_str(const struct init_cidr *c, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	if (inet_ntop(c->family, c->addr, addr, sizeof(addr)) == NULL)
		snprintf(addr, sizeof(addr), "?");
	snprintf(buf, len, "%s/%u", addr, c->plen);
}
