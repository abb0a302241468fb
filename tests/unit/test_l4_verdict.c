/*
 * The L4 policy's packet parser and verdict (src/proxy/l4_verdict.c):
 * raw IPv4 and IPv6 packets, well formed and not (every truncation of
 * a good packet, in a buffer of exactly that size), and decisions of
 * snapshots built from in-memory policy DBs.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "l4_verdict.h"
#include "policy_db.h"
#include "policy_fixture.h"
#include "snapshot.h"

/* An IPv4 header of ihl words, protocol proto, then l4len bytes. */
static size_t
pkt4(uint8_t *p, int ihl, uint8_t proto, const char *src, const char *dst,
    uint16_t sport, uint16_t dport, size_t l4len)
{
	size_t hl = (size_t)ihl * 4, total = hl + l4len;

	memset(p, 0, total);
	p[0] = (uint8_t)(0x40 | ihl);
	p[2] = (uint8_t)(total >> 8);
	p[3] = (uint8_t)total;
	p[8] = 64;
	p[9] = proto;
	assert_int_equal(inet_pton(AF_INET, src, p + 12), 1);
	assert_int_equal(inet_pton(AF_INET, dst, p + 16), 1);
	p[hl] = (uint8_t)(sport >> 8);
	p[hl + 1] = (uint8_t)sport;
	p[hl + 2] = (uint8_t)(dport >> 8);
	p[hl + 3] = (uint8_t)dport;
	return total;
}

/* An IPv6 header, next header nh; the caller writes what follows. */
static void
pkt6(uint8_t *p, uint8_t nh, const char *src, const char *dst)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	p[6] = nh;
	p[7] = 64;
	assert_int_equal(inet_pton(AF_INET6, src, p + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, p + 24), 1);
}

static uint16_t
port_of(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)a)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
}

static void
assert_ip(const struct sockaddr_storage *a, const char *want)
{
	char buf[INET6_ADDRSTRLEN];
	const void *ip = a->ss_family == AF_INET
	    ? (const void *)&((const struct sockaddr_in *)a)->sin_addr
	    : (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr;

	assert_non_null(inet_ntop(a->ss_family, ip, buf, sizeof(buf)));
	assert_string_equal(buf, want);
}

/* Parses len bytes copied into a buffer of exactly that size (ASan). */
static int
parse_exact(const uint8_t *p, size_t len, struct l4_flow *f, const char **why)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, p, len);
	rc = l4_packet_parse(copy, len, f, why);
	free(copy);
	return rc;
}

static void
test_parse_ipv4(void **state)
{
	uint8_t p[128];
	struct l4_flow f;
	const char *why = NULL;
	size_t n;

	n = pkt4(p, 5, IPPROTO_UDP, "10.0.0.3", "10.0.0.2", 40000, 5353, 12);
	assert_int_equal(parse_exact(p, n, &f, &why), 0);
	assert_int_equal(f.proto, IPPROTO_UDP);
	assert_ip(&f.src, "10.0.0.3");
	assert_ip(&f.dst, "10.0.0.2");
	assert_int_equal(port_of(&f.src), 40000);
	assert_int_equal(port_of(&f.dst), 5353);

	/* IP options (ihl 6), a TCP SYN: the ports after the options. */
	n = pkt4(p, 6, IPPROTO_TCP, "10.0.0.4", "10.0.0.2", 1234, 5432, 20);
	assert_int_equal(parse_exact(p, n, &f, &why), 0);
	assert_int_equal(f.proto, IPPROTO_TCP);
	assert_int_equal(port_of(&f.src), 1234);
	assert_int_equal(port_of(&f.dst), 5432);

	/* A copy range shorter than the packet: headers are enough. */
	n = pkt4(p, 5, IPPROTO_UDP, "10.0.0.3", "10.0.0.2", 1, 2, 100);
	assert_int_equal(parse_exact(p, 28, &f, &why), 0);
	assert_int_equal(port_of(&f.dst), 2);
}

static void
test_parse_ipv6(void **state)
{
	uint8_t p[128];
	struct l4_flow f;
	const char *why = NULL;

	pkt6(p, IPPROTO_UDP, "2001:2::3", "2001:2::2");
	memset(p + 40, 0, 8);
	p[40] = 0x9c; /* 40000 */
	p[41] = 0x40;
	p[42] = 0x14; /* 5353 */
	p[43] = 0xe9;
	assert_int_equal(parse_exact(p, 48, &f, &why), 0);
	assert_int_equal(f.proto, IPPROTO_UDP);
	assert_ip(&f.src, "2001:2::3");
	assert_ip(&f.dst, "2001:2::2");
	assert_int_equal(port_of(&f.src), 40000);
	assert_int_equal(port_of(&f.dst), 5353);

	/* Hop-by-hop (16 bytes), then a first fragment, then TCP. */
	pkt6(p, IPPROTO_HOPOPTS, "2001:2::4", "2001:2::2");
	memset(p + 40, 0, 64);
	p[40] = IPPROTO_FRAGMENT;
	p[41] = 1; /* (1 + 1) * 8 bytes */
	p[56] = IPPROTO_TCP;
	p[59] = 1; /* offset 0, more fragments */
	p[64] = 0x04;
	p[65] = 0xd2; /* 1234 */
	p[66] = 0x15;
	p[67] = 0x38; /* 5432 */
	assert_int_equal(parse_exact(p, 84, &f, &why), 0);
	assert_int_equal(f.proto, IPPROTO_TCP);
	assert_int_equal(port_of(&f.src), 1234);
	assert_int_equal(port_of(&f.dst), 5432);
}

static void
expect_bad(const uint8_t *p, size_t len, const char *reason)
{
	struct l4_flow f;
	const char *why = NULL;

	assert_int_equal(parse_exact(p, len, &f, &why), -1);
	assert_non_null(why);
	assert_string_equal(why, reason);
}

static void
test_parse_malformed(void **state)
{
	uint8_t p[256];
	size_t n;
	int i;

	memset(p, 0, sizeof(p));
	expect_bad(p, 0, "empty packet");
	p[0] = 0x50;
	expect_bad(p, 40, "not IPv4 or IPv6");
	n = pkt4(p, 5, IPPROTO_UDP, "10.0.0.3", "10.0.0.2", 1, 2, 8);
	expect_bad(p, 19, "short IPv4 header");
	p[0] = 0x44; /* ihl 4 */
	expect_bad(p, n, "bad IPv4 header length");
	p[0] = 0x4f; /* ihl 15: past the bytes */
	expect_bad(p, n, "bad IPv4 header length");
	n = pkt4(p, 5, IPPROTO_UDP, "10.0.0.3", "10.0.0.2", 1, 2, 8);
	p[2] = 0;
	p[3] = 16; /* total length below the header's */
	expect_bad(p, n, "bad IPv4 header length");
	n = pkt4(p, 5, IPPROTO_UDP, "10.0.0.3", "10.0.0.2", 1, 2, 8);
	p[7] = 1; /* fragment offset 8 */
	expect_bad(p, n, "IPv4 fragment");
	n = pkt4(p, 5, IPPROTO_ICMP, "10.0.0.3", "10.0.0.2", 1, 2, 8);
	expect_bad(p, n, "not UDP or TCP");
	n = pkt4(p, 5, IPPROTO_UDP, "10.0.0.3", "10.0.0.2", 1, 2, 8);
	expect_bad(p, n - 1, "short UDP header");
	/* The total length says the UDP header is cut, whatever follows. */
	p[3] = 27;
	expect_bad(p, n, "short UDP header");
	n = pkt4(p, 5, IPPROTO_TCP, "10.0.0.3", "10.0.0.2", 1, 2, 20);
	expect_bad(p, n - 1, "short TCP header");

	pkt6(p, IPPROTO_UDP, "2001:2::3", "2001:2::2");
	expect_bad(p, 39, "short IPv6 header");
	expect_bad(p, 47, "short UDP header");
	pkt6(p, IPPROTO_FRAGMENT, "2001:2::3", "2001:2::2");
	memset(p + 40, 0, 16);
	p[40] = IPPROTO_UDP;
	p[42] = 0x01; /* offset 32: a later fragment */
	expect_bad(p, 56, "IPv6 fragment");
	pkt6(p, IPPROTO_DSTOPTS, "2001:2::3", "2001:2::2");
	expect_bad(p, 44, "short IPv6 extension header");
	/* A length that jumps past the bytes. */
	memset(p + 40, 0, 8);
	p[40] = IPPROTO_UDP;
	p[41] = 200;
	expect_bad(p, 48, "short UDP header");
	/* A chain of extension headers longer than the parser follows. */
	pkt6(p, IPPROTO_DSTOPTS, "2001:2::3", "2001:2::2");
	for (i = 0; i < 12; i++) {
		p[40 + i * 8] = IPPROTO_DSTOPTS;
		p[41 + i * 8] = 0;
	}
	expect_bad(p, 40 + 12 * 8, "too many IPv6 extension headers");
}

/* Every prefix of good packets, and random bytes: no read past len. */
static void
test_parse_truncations(void **state)
{
	uint8_t p[128];
	struct l4_flow f;
	const char *why;
	uint64_t rng = 7;
	size_t n, len, i;

	n = pkt4(p, 6, IPPROTO_TCP, "10.0.0.4", "10.0.0.2", 1234, 5432, 20);
	for (len = 0; len < n; len++)
		assert_int_equal(parse_exact(p, len, &f, &why), -1);
	assert_int_equal(parse_exact(p, n, &f, &why), 0);
	pkt6(p, IPPROTO_HOPOPTS, "2001:2::4", "2001:2::2");
	memset(p + 40, 0, 16);
	p[40] = IPPROTO_UDP;
	for (len = 0; len < 56; len++)
		assert_int_equal(parse_exact(p, len, &f, &why), -1);
	assert_int_equal(parse_exact(p, 56, &f, &why), 0);
	for (i = 0; i < 20000; i++) {
		len = fx_rand(&rng) % sizeof(p);
		for (n = 0; n < len; n++)
			p[n] = (uint8_t)fx_rand(&rng);
		if (len > 0)
			p[0] = (uint8_t)((p[0] & 0x0f) | (i % 2 ? 0x40 : 0x60));
		why = NULL;
		if (parse_exact(p, len, &f, &why) == -1)
			assert_non_null(why);
	}
}

/* A DB with pod a (client-a) known at 10.0.0.3 and policies. */
static struct snapshot *
snap_with(const char *policies)
{
	struct snapshot *s;
	sqlite3 *db = fx_db_new();
	char *cause = NULL;

	fx_exec(db,
	    "INSERT INTO workloads (namespace, name, source, address,"
	    " labels, service_account) VALUES ('e2e', 'client-a',"
	    " 'WorkloadEntry', '10.0.0.3', '{\"app\":\"client-a\"}',"
	    " 'client-a');"
	    "INSERT INTO workloads (namespace, name, source, address,"
	    " labels, service_account) VALUES ('other', 'client-c',"
	    " 'registered', '2001:2::5', '{}', 'c');");
	if (policies != NULL)
		fx_exec(db, policies);
	s = policy_db_load_conn_as(db, "e2e", "app=srv", &cause);
	if (s == NULL)
		fail_msg("load: %s", cause);
	sqlite3_close(db);
	return s;
}

static void
flow(struct l4_flow *f, uint8_t proto, const char *src, const char *dst,
    uint16_t dport)
{
	uint8_t p[128];
	const char *why;
	size_t n;

	if (strchr(src, ':') == NULL) {
		n = pkt4(p, 5, proto, src, dst, 40000, dport, 20);
	} else {
		pkt6(p, proto, src, dst);
		memset(p + 40, 0, 20);
		p[40] = 0x9c;
		p[41] = 0x40;
		p[42] = (uint8_t)(dport >> 8);
		p[43] = (uint8_t)dport;
		n = 60;
	}
	assert_int_equal(l4_packet_parse(p, n, f, &why), 0);
}

static int
decide(const struct snapshot *s, uint8_t proto, const char *src, uint16_t dport,
    enum l4_dir dir, char *principal)
{
	struct authz_decision d;
	struct l4_flow f;
	char buf[320];

	flow(
	    &f, proto, src, strchr(src, ':') ? "2001:2::2" : "10.0.0.2", dport);
	return l4_decide(s, &f, dir, NULL, &d,
	    principal != NULL ? principal : buf, sizeof(buf));
}

#define ALLOW_A                                                                \
	"INSERT INTO authorization_policies (namespace, name, selector,"       \
	" action, rules) VALUES ('e2e', 'srv-l4', '{\"app\":\"srv\"}',"        \
	" 'ALLOW', '[{\"from\":[{\"source\":{\"principals\":"                  \
	"[\"cluster.local/ns/e2e/sa/client-a\"]}}],\"to\":[{\"operation\":"    \
	"{\"ports\":[\"5353\",\"5432\"]}}]}]');"

static void
test_decide_principal(void **state)
{
	struct snapshot *s = snap_with(ALLOW_A);
	struct authz_decision d;
	struct l4_flow f;
	char principal[320], line[768];

	assert_int_equal(
	    decide(s, IPPROTO_UDP, "10.0.0.3", 5353, L4_INBOUND, principal), 1);
	assert_string_equal(principal, "cluster.local/ns/e2e/sa/client-a");
	assert_int_equal(
	    decide(s, IPPROTO_TCP, "10.0.0.3", 5432, L4_INBOUND, NULL), 1);
	/* Another port: the rule's to does not match. */
	assert_int_equal(
	    decide(s, IPPROTO_UDP, "10.0.0.3", 53, L4_INBOUND, NULL), 0);
	/* Unknown sources have no principal. */
	assert_int_equal(
	    decide(s, IPPROTO_UDP, "10.0.0.4", 5353, L4_INBOUND, principal), 0);
	assert_string_equal(principal, "");
	/* Known, but of another namespace and service account. */
	assert_int_equal(
	    decide(s, IPPROTO_UDP, "2001:2::5", 5353, L4_INBOUND, principal),
	    0);
	assert_string_equal(principal, "cluster.local/ns/other/sa/c");

	/* The denial, explained with the rule that came nearest. */
	flow(&f, IPPROTO_UDP, "10.0.0.4", "10.0.0.2", 5353);
	assert_int_equal(l4_decide(s, &f, L4_INBOUND, NULL, &d, principal,
			     sizeof(principal)),
	    0);
	l4_deny_text(s, &f, principal, &d, line, sizeof(line));
	assert_non_null(strstr(line,
	    "udp 10.0.0.4:40000 -> 10.0.0.2:5353 "
	    "(unknown source): no ALLOW policy "
	    "matched; nearest: e2e/srv-l4 rule 0"));

	/* Another trust domain: the principal is not the policy's. */
	flow(&f, IPPROTO_UDP, "10.0.0.3", "10.0.0.2", 5353);
	assert_int_equal(l4_decide(s, &f, L4_INBOUND, "example.org", &d,
			     principal, sizeof(principal)),
	    0);
	assert_string_equal(principal, "example.org/ns/e2e/sa/client-a");
	snapshot_unref(s);
}

static void
test_decide_ip_blocks(void **state)
{
	struct snapshot *s = snap_with(
	    "INSERT INTO authorization_policies (namespace, name, selector,"
	    " action, rules) VALUES ('e2e', 'by-ip', '{\"app\":\"srv\"}',"
	    " 'ALLOW', '[{\"from\":[{\"source\":{\"ipBlocks\":"
	    "[\"10.0.0.0/24\",\"2001:2::/64\"],\"notIpBlocks\":"
	    "[\"10.0.0.9\"]}}]}]');"
	    "INSERT INTO authorization_policies (namespace, name, selector,"
	    " action, rules) VALUES ('e2e', 'deny-remote', NULL, 'DENY',"
	    " '[{\"from\":[{\"source\":{\"remoteIpBlocks\":"
	    "[\"10.0.0.7/32\"]}}]}]');");

	assert_int_equal(
	    decide(s, IPPROTO_UDP, "10.0.0.4", 9999, L4_INBOUND, NULL), 1);
	assert_int_equal(
	    decide(s, IPPROTO_TCP, "2001:2::5", 1, L4_INBOUND, NULL), 1);
	assert_int_equal(
	    decide(s, IPPROTO_UDP, "10.0.1.4", 9999, L4_INBOUND, NULL), 0);
	assert_int_equal(
	    decide(s, IPPROTO_UDP, "10.0.0.9", 9999, L4_INBOUND, NULL), 0);
	/* DENY first. */
	assert_int_equal(
	    decide(s, IPPROTO_UDP, "10.0.0.7", 9999, L4_INBOUND, NULL), 0);
	snapshot_unref(s);
}

/* Istio on plain TCP: HTTP-only fields never match in ALLOW, and are
 * ignored in DENY (the rule denies more). */
static void
test_decide_http_fields(void **state)
{
	struct snapshot *s = snap_with(
	    "INSERT INTO authorization_policies (namespace, name, selector,"
	    " action, rules) VALUES ('e2e', 'get-only', '{\"app\":\"srv\"}',"
	    " 'ALLOW', '[{\"to\":[{\"operation\":{\"methods\":[\"GET\"]}}]},"
	    " {\"from\":[{\"source\":{\"namespaces\":[\"other\"]}}]}]');"
	    "INSERT INTO authorization_policies (namespace, name, selector,"
	    " action, rules) VALUES ('e2e', 'no-post', NULL, 'DENY',"
	    " '[{\"from\":[{\"source\":{\"ipBlocks\":[\"10.0.0.8\"]}}],"
	    " \"to\":[{\"operation\":{\"methods\":[\"POST\"]}}]}]');");

	/* The GET rule cannot match a flow: only the namespace rule. */
	assert_int_equal(
	    decide(s, IPPROTO_TCP, "10.0.0.4", 5432, L4_INBOUND, NULL), 0);
	assert_int_equal(
	    decide(s, IPPROTO_TCP, "10.0.0.3", 5432, L4_INBOUND, NULL), 0);
	assert_int_equal(
	    decide(s, IPPROTO_TCP, "2001:2::5", 5432, L4_INBOUND, NULL), 1);
	snapshot_unref(s);

	s = snap_with(
	    "INSERT INTO authorization_policies (namespace, name, selector,"
	    " action, rules) VALUES ('e2e', 'no-post', NULL, 'DENY',"
	    " '[{\"from\":[{\"source\":{\"ipBlocks\":[\"10.0.0.8\"]}}],"
	    " \"to\":[{\"operation\":{\"methods\":[\"POST\"]}}]}]');");
	/* DENY with methods: the method is ignored, the source denied. */
	assert_int_equal(
	    decide(s, IPPROTO_UDP, "10.0.0.8", 53, L4_INBOUND, NULL), 0);
	/* No ALLOW policy: everything else is allowed. */
	assert_int_equal(
	    decide(s, IPPROTO_UDP, "10.0.0.4", 53, L4_INBOUND, NULL), 1);
	snapshot_unref(s);
}

static void
test_decide_defaults(void **state)
{
	struct snapshot *s;

	/* No policy (and no snapshot yet): allowed. */
	assert_int_equal(
	    decide(NULL, IPPROTO_UDP, "10.0.0.4", 53, L4_INBOUND, NULL), 1);
	s = snap_with(NULL);
	assert_int_equal(
	    decide(s, IPPROTO_UDP, "10.0.0.4", 53, L4_INBOUND, NULL), 1);
	snapshot_unref(s);

	/* An ALLOW policy without rules denies every inbound flow, and
	 * outbound flows are the destination's business. */
	s = snap_with("INSERT INTO authorization_policies (namespace, name,"
		      " selector) VALUES ('e2e', 'nothing', NULL);");
	assert_int_equal(
	    decide(s, IPPROTO_UDP, "10.0.0.3", 53, L4_INBOUND, NULL), 0);
	assert_int_equal(
	    decide(s, IPPROTO_UDP, "10.0.0.3", 53, L4_OUTBOUND, NULL), 1);
	assert_int_equal(
	    decide(s, IPPROTO_TCP, "10.0.0.3", 5432, L4_OUTBOUND, NULL), 1);
	snapshot_unref(s);

	/* A policy selecting another workload does not apply. */
	s = snap_with("INSERT INTO authorization_policies (namespace, name,"
		      " selector) VALUES ('e2e', 'other', '{\"app\":\"x\"}');");
	assert_int_equal(
	    decide(s, IPPROTO_UDP, "10.0.0.4", 53, L4_INBOUND, NULL), 1);
	snapshot_unref(s);
}

/*
 * The cost of a verdict with 1,000 ALLOW policies selecting the
 * workload and 1,000 known workloads: parse and decide, per flow
 * (printed, not asserted: the host is shared).
 */
static void
test_decide_timing(void **state)
{
	struct snapshot *s;
	struct authz_decision d;
	struct l4_flow f[2];
	struct timespec a, b;
	sqlite3 *db = fx_db_new();
	char *cause = NULL, principal[320];
	uint8_t p[2][64];
	const char *why;
	size_t n[2];
	int i, allowed = 0;
	double ns;

	fx_exec(db, "BEGIN");
	for (i = 0; i < 1000; i++) {
		fx_execf(db,
		    "INSERT INTO workloads (namespace, name, source, address,"
		    " service_account) VALUES ('e2e', 'w%d', 'WorkloadEntry',"
		    " '10.1.%d.%d', 'sa%d');"
		    "INSERT INTO authorization_policies (namespace, name,"
		    " selector, action, rules) VALUES ('e2e', 'p%d', NULL,"
		    " 'ALLOW', '[{\"from\":[{\"source\":{\"principals\":"
		    "[\"cluster.local/ns/e2e/sa/sa%d\"]}}],\"to\":"
		    "[{\"operation\":{\"ports\":[\"%d\"]}}]}]');",
		    i, i / 250, i % 250, i, i, i, 1000 + i);
	}
	fx_exec(db, "COMMIT");
	s = policy_db_load_conn_as(db, "e2e", "app=srv", &cause);
	if (s == NULL)
		fail_msg("load: %s", cause);
	sqlite3_close(db);
	n[0] = pkt4(p[0], 5, IPPROTO_UDP, "10.1.3.249", "10.0.0.2", 40000, 1999,
	    8); /* sa999 to port 1999: the last policy */
	n[1] = pkt4(p[1], 5, IPPROTO_TCP, "10.9.9.9", "10.0.0.2", 40000, 5432,
	    20); /* unknown: denied */
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < 200000; i++) {
		assert_int_equal(
		    l4_packet_parse(p[i % 2], n[i % 2], &f[i % 2], &why), 0);
		allowed += l4_decide(s, &f[i % 2], L4_INBOUND, NULL, &d,
		    principal, sizeof(principal));
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_int_equal(allowed, 100000);
	ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 +
		 (double)(b.tv_nsec - a.tv_nsec)) /
	    200000;
	print_message("# L4 verdict, 1000 ALLOW policies, 1000 workloads: "
		      "%.0f ns per flow (parse and decide, allowed and "
		      "denied alternately)\n",
	    ns);
	snapshot_unref(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ipv4),
	    cmocka_unit_test(test_parse_ipv6),
	    cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_parse_truncations),
	    cmocka_unit_test(test_decide_principal),
	    cmocka_unit_test(test_decide_ip_blocks),
	    cmocka_unit_test(test_decide_http_fields),
	    cmocka_unit_test(test_decide_defaults),
	    cmocka_unit_test(test_decide_timing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
