/*
 * Unit tests for the option values of weft-init (src/init/init_opts.c):
 * the defaults, ports, ids, queue numbers, port lists with ranges and
 * CIDR lists, and the inputs that must be refused with a message naming
 * them, without touching what the caller held.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "init_opts.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

/* What a refused input must leave in place. */
#define UNTOUCHED16 ((uint16_t)4242)
#define UNTOUCHED32 ((uint32_t)424242)
#define UNTOUCHEDQ  (-4242)

struct bad_case {
	const char *in;
	const char *cause;
};

/* Checks that cause holds exactly want, then frees it. */
static void
cause_equal(char *cause, const char *want)
{
	assert_non_null(cause);
	assert_string_equal(cause, want);
	free(cause);
}

static void
range_equal(const struct init_portrange *r, uint16_t lo, uint16_t hi)
{
	assert_int_equal(r->lo, lo);
	assert_int_equal(r->hi, hi);
}

/* Checks c against the text form want, its family and prefix length. */
static void
cidr_equal(
    const struct init_cidr *c, int family, const char *addr, unsigned int plen)
{
	unsigned char want[16];

	memset(want, 0, sizeof(want));
	assert_int_equal(c->family, family);
	assert_int_equal(inet_pton(family, addr, want), 1);
	assert_memory_equal(c->addr, want, sizeof(want));
	assert_int_equal(c->plen, plen);
}

static void
test_defaults(void **state)
{
	struct init_opts o;

	memset(&o, 0xa5, sizeof(o));
	init_opts_defaults(&o);
	assert_int_equal(o.proxy_uid, 1337);
	assert_int_equal(o.proxy_gid, 1337);
	assert_int_equal(o.outbound_port, 15001);
	assert_int_equal(o.inbound_port, 15006);
	assert_int_equal(o.inbound_all, 1);
	assert_null(o.include_inbound.v);
	assert_int_equal(o.include_inbound.n, 0);
	assert_null(o.exclude_inbound.v);
	assert_int_equal(o.exclude_inbound.n, 0);
	assert_null(o.exclude_outbound.v);
	assert_int_equal(o.exclude_outbound.n, 0);
	assert_null(o.exclude_cidrs.v);
	assert_int_equal(o.exclude_cidrs.n, 0);
	assert_int_equal(o.l4_queue, -1);
	assert_int_equal(INIT_OWN_PORT_LO, 15000);
	assert_int_equal(INIT_OWN_PORT_HI, 15099);
	/* Nothing to free in the defaults. */
	init_opts_clear(&o);
	assert_int_equal(o.proxy_uid, 1337);
}

static void
test_clear(void **state)
{
	struct init_opts o;
	char *cause = NULL;

	init_opts_defaults(&o);
	assert_int_equal(init_opts_ports("80", &o.include_inbound, &cause), 0);
	assert_int_equal(init_opts_ports("22", &o.exclude_inbound, &cause), 0);
	assert_int_equal(
	    init_opts_ports("3306", &o.exclude_outbound, &cause), 0);
	assert_int_equal(
	    init_opts_cidrs("10.0.0.0/8", &o.exclude_cidrs, &cause), 0);
	assert_null(cause);
	init_opts_clear(&o);
	assert_null(o.include_inbound.v);
	assert_int_equal(o.include_inbound.n, 0);
	assert_null(o.exclude_inbound.v);
	assert_int_equal(o.exclude_inbound.n, 0);
	assert_null(o.exclude_outbound.v);
	assert_int_equal(o.exclude_outbound.n, 0);
	assert_null(o.exclude_cidrs.v);
	assert_int_equal(o.exclude_cidrs.n, 0);
	/* The scalar settings stay; a second clear is harmless. */
	assert_int_equal(o.outbound_port, 15001);
	init_opts_clear(&o);
}

static void
test_port(void **state)
{
	static const struct {
		const char *in;
		uint16_t port;
	} ok[] = {
	    {"1", 1},
	    {"80", 80},
	    {"15001", 15001},
	    {"65535", 65535},
	};
	uint16_t port;
	char *cause;
	size_t i;

	for (i = 0; i < NCASES(ok); i++) {
		port = UNTOUCHED16;
		cause = NULL;
		assert_int_equal(init_opts_port(ok[i].in, &port, &cause), 0);
		assert_int_equal(port, ok[i].port);
		assert_null(cause);
	}
}

static void
test_port_bad(void **state)
{
	static const struct bad_case bad[] = {
	    {"0", "\"0\" is not a port number (1-65535)"},
	    {"65536", "\"65536\" is not a port number (1-65535)"},
	    {"99999999999999999999999",
		"\"99999999999999999999999\" is not a port number (1-65535)"},
	    {"", "\"\" is not a port number (1-65535)"},
	    {"-1", "\"-1\" is not a port number (1-65535)"},
	    {"+80", "\"+80\" is not a port number (1-65535)"},
	    {" 80", "\" 80\" is not a port number (1-65535)"},
	    {"80 ", "\"80 \" is not a port number (1-65535)"},
	    {"0x50", "\"0x50\" is not a port number (1-65535)"},
	    {"80a", "\"80a\" is not a port number (1-65535)"},
	    {"http", "\"http\" is not a port number (1-65535)"},
	    {"8000-8010", "\"8000-8010\" is not a port number (1-65535)"},
	};
	uint16_t port;
	char *cause;
	size_t i;

	for (i = 0; i < NCASES(bad); i++) {
		port = UNTOUCHED16;
		cause = NULL;
		assert_int_equal(init_opts_port(bad[i].in, &port, &cause), -1);
		assert_int_equal(port, UNTOUCHED16);
		cause_equal(cause, bad[i].cause);
	}
}

static void
test_id(void **state)
{
	static const struct {
		const char *in;
		uint32_t id;
	} ok[] = {
	    {"0", 0},
	    {"1337", 1337},
	    {"65534", 65534},
	    {"4294967294", 4294967294U},
	};
	static const struct bad_case bad[] = {
	    /* (uid_t)-1 means "no change" to setresuid(2). */
	    {"4294967295", "\"4294967295\" is not a numeric id"},
	    {"4294967296", "\"4294967296\" is not a numeric id"},
	    {"18446744073709551616",
		"\"18446744073709551616\" is not a numeric id"},
	    {"-1", "\"-1\" is not a numeric id"},
	    {"", "\"\" is not a numeric id"},
	    {"1e3", "\"1e3\" is not a numeric id"},
	    {"root", "\"root\" is not a numeric id"},
	    {" 1337", "\" 1337\" is not a numeric id"},
	};
	uint32_t id;
	char *cause;
	size_t i;

	for (i = 0; i < NCASES(ok); i++) {
		id = UNTOUCHED32;
		cause = NULL;
		assert_int_equal(init_opts_id(ok[i].in, &id, &cause), 0);
		assert_int_equal(id, ok[i].id);
		assert_null(cause);
	}
	for (i = 0; i < NCASES(bad); i++) {
		id = UNTOUCHED32;
		cause = NULL;
		assert_int_equal(init_opts_id(bad[i].in, &id, &cause), -1);
		assert_int_equal(id, UNTOUCHED32);
		cause_equal(cause, bad[i].cause);
	}
}

static void
test_queue(void **state)
{
	static const struct {
		const char *in;
		int queue;
	} ok[] = {
	    {"0", 0},
	    {"3", 3},
	    {"65535", 65535},
	};
	static const struct bad_case bad[] = {
	    {"65536", "\"65536\" is not a queue number (0-65535)"},
	    {"-1", "\"-1\" is not a queue number (0-65535)"},
	    {"", "\"\" is not a queue number (0-65535)"},
	    {"q1", "\"q1\" is not a queue number (0-65535)"},
	};
	int queue;
	char *cause;
	size_t i;

	for (i = 0; i < NCASES(ok); i++) {
		queue = UNTOUCHEDQ;
		cause = NULL;
		assert_int_equal(init_opts_queue(ok[i].in, &queue, &cause), 0);
		assert_int_equal(queue, ok[i].queue);
		assert_null(cause);
	}
	for (i = 0; i < NCASES(bad); i++) {
		queue = UNTOUCHEDQ;
		cause = NULL;
		assert_int_equal(
		    init_opts_queue(bad[i].in, &queue, &cause), -1);
		assert_int_equal(queue, UNTOUCHEDQ);
		cause_equal(cause, bad[i].cause);
	}
}

static void
test_ports_list(void **state)
{
	struct init_ports p = {NULL, 0};
	char *cause = NULL;

	assert_int_equal(init_opts_ports("80", &p, &cause), 0);
	assert_int_equal(p.n, 1);
	range_equal(&p.v[0], 80, 80);

	/* A second list replaces the first (and frees it). */
	assert_int_equal(
	    init_opts_ports("80,443,8000-8010,1-65535,5-5", &p, &cause), 0);
	assert_int_equal(p.n, 5);
	range_equal(&p.v[0], 80, 80);
	range_equal(&p.v[1], 443, 443);
	range_equal(&p.v[2], 8000, 8010);
	range_equal(&p.v[3], 1, 65535);
	range_equal(&p.v[4], 5, 5);

	/* Blanks around the items are ignored. */
	assert_int_equal(init_opts_ports("  22 ,\t9000-9001\n", &p, &cause), 0);
	assert_int_equal(p.n, 2);
	range_equal(&p.v[0], 22, 22);
	range_equal(&p.v[1], 9000, 9001);
	assert_null(cause);
	free(p.v);
}

static void
test_ports_empty(void **state)
{
	struct init_ports p = {NULL, 0};
	char *cause = NULL;

	assert_int_equal(init_opts_ports("", &p, &cause), 0);
	assert_null(p.v);
	assert_int_equal(p.n, 0);

	assert_int_equal(init_opts_ports("8080,9090", &p, &cause), 0);
	assert_int_equal(p.n, 2);
	/* Blanks only are the empty list too, and replace what was held. */
	assert_int_equal(init_opts_ports(" \t ", &p, &cause), 0);
	assert_null(p.v);
	assert_int_equal(p.n, 0);
	assert_null(cause);
}

static void
test_ports_bad(void **state)
{
	static const struct bad_case bad[] = {
	    {"0", "\"0\" is not a port number (1-65535)"},
	    {"65536", "\"65536\" is not a port number (1-65535)"},
	    {"80,0", "\"0\" is not a port number (1-65535)"},
	    {"*", "\"*\" is not a port number (1-65535)"},
	    {"http", "\"http\" is not a port number (1-65535)"},
	    {"90-80", "\"90-80\" is not a port range: 90 is above 80"},
	    {"80,65535-1", "\"65535-1\" is not a port range: 65535 is above 1"},
	    {"0-10", "\"0-10\" is not a port or a port range (A-B)"},
	    {"1-65536", "\"1-65536\" is not a port or a port range (A-B)"},
	    {"80-", "\"80-\" is not a port or a port range (A-B)"},
	    {"-80", "\"-80\" is not a port or a port range (A-B)"},
	    {"-", "\"-\" is not a port or a port range (A-B)"},
	    {"80-90-100", "\"80-90-100\" is not a port or a port range (A-B)"},
	    {"80 - 90", "\"80 - 90\" is not a port or a port range (A-B)"},
	    {"a-b", "\"a-b\" is not a port or a port range (A-B)"},
	    {"80:90", "\"80:90\" is not a port number (1-65535)"},
	    {"80,", "empty item in list \"80,\""},
	    {",80", "empty item in list \",80\""},
	    {"80,,90", "empty item in list \"80,,90\""},
	    {"80, ,90", "empty item in list \"80, ,90\""},
	    {",", "empty item in list \",\""},
	};
	struct init_ports p = {NULL, 0};
	char *cause;
	size_t i;

	cause = NULL;
	assert_int_equal(init_opts_ports("22,8000-8010", &p, &cause), 0);
	for (i = 0; i < NCASES(bad); i++) {
		cause = NULL;
		assert_int_equal(init_opts_ports(bad[i].in, &p, &cause), -1);
		cause_equal(cause, bad[i].cause);
		/* What was held before stays. */
		assert_int_equal(p.n, 2);
		range_equal(&p.v[0], 22, 22);
		range_equal(&p.v[1], 8000, 8010);
	}
	free(p.v);
}

static void
test_range_str(void **state)
{
	static const struct {
		struct init_portrange r;
		const char *want;
	} cases[] = {
	    {{80, 80}, "80"},
	    {{8000, 8010}, "8000:8010"},
	    {{1, 65535}, "1:65535"},
	    {{15000, 15099}, "15000:15099"},
	};
	char buf[16];
	size_t i;

	for (i = 0; i < NCASES(cases); i++) {
		init_opts_range_str(&cases[i].r, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
	/* A short buffer gets a truncated, terminated string. */
	init_opts_range_str(&cases[1].r, buf, 5);
	assert_string_equal(buf, "8000");
}

static void
test_cidrs_v4(void **state)
{
	struct init_cidrs cs = {NULL, 0};
	char *cause = NULL;

	assert_int_equal(init_opts_cidrs("10.0.0.0/8,10.1.2.3/8,192.168.1.1,"
					 "10.1.2.255/25,10.1.2.255/31,"
					 "255.255.255.255/0,172.16.5.4/12",
			     &cs, &cause),
	    0);
	assert_null(cause);
	assert_int_equal(cs.n, 7);
	cidr_equal(&cs.v[0], AF_INET, "10.0.0.0", 8);
	/* Host bits are cleared, as iptables would. */
	cidr_equal(&cs.v[1], AF_INET, "10.0.0.0", 8);
	/* A bare address is one host. */
	cidr_equal(&cs.v[2], AF_INET, "192.168.1.1", 32);
	cidr_equal(&cs.v[3], AF_INET, "10.1.2.128", 25);
	cidr_equal(&cs.v[4], AF_INET, "10.1.2.254", 31);
	cidr_equal(&cs.v[5], AF_INET, "0.0.0.0", 0);
	cidr_equal(&cs.v[6], AF_INET, "172.16.0.0", 12);
	free(cs.v);
}

static void
test_cidrs_v6(void **state)
{
	struct init_cidrs cs = {NULL, 0};
	char *cause = NULL;

	assert_int_equal(
	    init_opts_cidrs("fd00::/8,fd12:3456::1/20,::1,2001:db8::ff/32,"
			    "::/0,2001:db8::ffff/127,::ffff:10.1.2.3/104",
		&cs, &cause),
	    0);
	assert_null(cause);
	assert_int_equal(cs.n, 7);
	cidr_equal(&cs.v[0], AF_INET6, "fd00::", 8);
	cidr_equal(&cs.v[1], AF_INET6, "fd12:3000::", 20);
	cidr_equal(&cs.v[2], AF_INET6, "::1", 128);
	cidr_equal(&cs.v[3], AF_INET6, "2001:db8::", 32);
	cidr_equal(&cs.v[4], AF_INET6, "::", 0);
	cidr_equal(&cs.v[5], AF_INET6, "2001:db8::fffe", 127);
	/* An IPv4-mapped address is IPv6. */
	cidr_equal(&cs.v[6], AF_INET6, "::ffff:10.0.0.0", 104);
	free(cs.v);
}

static void
test_cidrs_mixed(void **state)
{
	struct init_cidrs cs = {NULL, 0};
	char *cause = NULL;

	assert_int_equal(
	    init_opts_cidrs(
		" 10.0.0.0/8 , fd00::/8,\t192.168.0.1 ", &cs, &cause),
	    0);
	assert_null(cause);
	assert_int_equal(cs.n, 3);
	cidr_equal(&cs.v[0], AF_INET, "10.0.0.0", 8);
	cidr_equal(&cs.v[1], AF_INET6, "fd00::", 8);
	cidr_equal(&cs.v[2], AF_INET, "192.168.0.1", 32);

	/* The empty list replaces what was held. */
	assert_int_equal(init_opts_cidrs("", &cs, &cause), 0);
	assert_null(cs.v);
	assert_int_equal(cs.n, 0);
	assert_int_equal(init_opts_cidrs("  ", &cs, &cause), 0);
	assert_null(cs.v);
	assert_int_equal(cs.n, 0);
	assert_null(cause);
}

static void
test_cidrs_bad(void **state)
{
	static const struct bad_case bad[] = {
	    {"10.0.0.0/33",
		"\"10.0.0.0/33\" is not a CIDR: bad prefix length "
		"(0-32)"},
	    {"fd00::/129",
		"\"fd00::/129\" is not a CIDR: bad prefix length "
		"(0-128)"},
	    {"10.0.0.0/",
		"\"10.0.0.0/\" is not a CIDR: bad prefix length "
		"(0-32)"},
	    {"10.0.0.0/-1",
		"\"10.0.0.0/-1\" is not a CIDR: bad prefix length "
		"(0-32)"},
	    {"10.0.0.0/ 8",
		"\"10.0.0.0/ 8\" is not a CIDR: bad prefix length "
		"(0-32)"},
	    {"10.0.0.0/8/8",
		"\"10.0.0.0/8/8\" is not a CIDR: bad prefix "
		"length (0-32)"},
	    {"10.0.0.0/x",
		"\"10.0.0.0/x\" is not a CIDR: bad prefix length "
		"(0-32)"},
	    {"10.0.0/8", "\"10.0.0/8\" is not an IPv4 or IPv6 CIDR"},
	    {"300.0.0.0/8", "\"300.0.0.0/8\" is not an IPv4 or IPv6 CIDR"},
	    {"fd00:::/8", "\"fd00:::/8\" is not an IPv4 or IPv6 CIDR"},
	    {"host.example", "\"host.example\" is not an IPv4 or IPv6 CIDR"},
	    {"/8", "\"/8\" is not an IPv4 or IPv6 CIDR"},
	    {"10.0.0.0 /8", "\"10.0.0.0 /8\" is not an IPv4 or IPv6 CIDR"},
	    {"10.0.0.0/8,bad", "\"bad\" is not an IPv4 or IPv6 CIDR"},
	    {"10.0.0.0/8,", "empty item in list \"10.0.0.0/8,\""},
	    {",fd00::/8", "empty item in list \",fd00::/8\""},
	};
	struct init_cidrs cs = {NULL, 0};
	char *cause;
	size_t i;

	cause = NULL;
	assert_int_equal(init_opts_cidrs("192.168.0.0/16", &cs, &cause), 0);
	for (i = 0; i < NCASES(bad); i++) {
		cause = NULL;
		assert_int_equal(init_opts_cidrs(bad[i].in, &cs, &cause), -1);
		cause_equal(cause, bad[i].cause);
		assert_int_equal(cs.n, 1);
		cidr_equal(&cs.v[0], AF_INET, "192.168.0.0", 16);
	}
	free(cs.v);
}

static void
test_cidr_str(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
	    {"10.0.0.0/8", "10.0.0.0/8"},
	    {"10.1.2.3/8", "10.0.0.0/8"},
	    {"192.168.1.1", "192.168.1.1/32"},
	    {"0.0.0.0/0", "0.0.0.0/0"},
	    {"fd00::1/8", "fd00::/8"},
	    {"2001:0db8:0000::0001", "2001:db8::1/128"},
	    {"::/0", "::/0"},
	    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
	};
	struct init_cidrs cs = {NULL, 0};
	char *cause = NULL, buf[64];
	size_t i;

	for (i = 0; i < NCASES(cases); i++) {
		assert_int_equal(init_opts_cidrs(cases[i].in, &cs, &cause), 0);
		assert_int_equal(cs.n, 1);
		init_opts_cidr_str(&cs.v[0], buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
	assert_null(cause);
	free(cs.v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_clear),
	    cmocka_unit_test(test_port),
	    cmocka_unit_test(test_port_bad),
	    cmocka_unit_test(test_id),
	    cmocka_unit_test(test_queue),
	    cmocka_unit_test(test_ports_list),
	    cmocka_unit_test(test_ports_empty),
	    cmocka_unit_test(test_ports_bad),
	    cmocka_unit_test(test_range_str),
	    cmocka_unit_test(test_cidrs_v4),
	    cmocka_unit_test(test_cidrs_v6),
	    cmocka_unit_test(test_cidrs_mixed),
	    cmocka_unit_test(test_cidrs_bad),
	    cmocka_unit_test(test_cidr_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
