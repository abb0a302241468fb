/*
 * Unit tests for the capture rules of weft-init (src/init/init_rules.c)
 * and the text buffer they are written to (src/init/init_buf.c): what
 * iptables-save output says weft has installed, and the exact
 * iptables-restore input for each set of options, a second run, a
 * change of options and a cleanup.
 */
#include "config.h"

#include <sys/socket.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "init_buf.h"
#include "init_opts.h"
#include "init_rules.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

/* The jumps from built-in chains, in iptables-save's spelling. */
#define JUMP_IN     "-A PREROUTING -p tcp -j WEFT_INBOUND\n"
#define JUMP_OUT    "-A OUTPUT -p tcp -j WEFT_OUTPUT\n"
#define JUMP_L4_IN  "-A PREROUTING -j WEFT_L4_INBOUND\n"
#define JUMP_L4_OUT "-A OUTPUT -j WEFT_L4_OUTPUT\n"

#define DECL_IN ":WEFT_INBOUND - [0:0]\n"
#define DECL_OTHERS                                                            \
	":WEFT_IN_REDIRECT - [0:0]\n"                                          \
	":WEFT_OUTPUT - [0:0]\n"                                               \
	":WEFT_REDIRECT - [0:0]\n"
#define DECL_L4                                                                \
	":WEFT_L4_INBOUND - [0:0]\n"                                           \
	":WEFT_L4_OUTPUT - [0:0]\n"
/* What an install declares (an install before WEFT_L4_QUEUE: DECL_L4). */
#define DECL_L4_Q DECL_L4 ":WEFT_L4_QUEUE - [0:0]\n"
#define MARK_IN                                                                \
	"-A WEFT_L4_INBOUND -m connmark --mark 0x1000/0x1000 -j RETURN\n"
#define MARK_OUT                                                               \
	"-A WEFT_L4_OUTPUT -m connmark --mark 0x1000/0x1000 -j RETURN\n"
#define L4_QUEUE(n)                                                            \
	"-A WEFT_L4_QUEUE -j CONNMARK --set-xmark 0x1000/0x1000\n"             \
	"-A WEFT_L4_QUEUE -j NFQUEUE --queue-num " n "\n"

#define INBOUND_ALL                                                            \
	"-A WEFT_INBOUND -p tcp -m tcp --dport 15000:15099 -j RETURN\n"        \
	"-A WEFT_INBOUND -p tcp -j WEFT_IN_REDIRECT\n"
#define IN_REDIRECT "-A WEFT_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
/* WEFT_OUTPUT up to the exclusions, for the default uid and gid. */
#define OUTPUT_HEAD_V4                                                         \
	"-A WEFT_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"                     \
	"-A WEFT_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner 1337 "    \
	"-j WEFT_IN_REDIRECT\n"                                                \
	"-A WEFT_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN\n"         \
	"-A WEFT_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"                 \
	"-A WEFT_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --gid-owner 1337 "    \
	"-j WEFT_IN_REDIRECT\n"                                                \
	"-A WEFT_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN\n"         \
	"-A WEFT_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"                 \
	"-A WEFT_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
#define OUTPUT_TAIL                                                            \
	"-A WEFT_OUTPUT -j WEFT_REDIRECT\n"                                    \
	"-A WEFT_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"

/* The whole input for the defaults on a namespace without weft rules. */
static const char defaults_v4[] =
    "*nat\n"
    ":WEFT_INBOUND - [0:0]\n"
    ":WEFT_IN_REDIRECT - [0:0]\n"
    ":WEFT_OUTPUT - [0:0]\n"
    ":WEFT_REDIRECT - [0:0]\n"
    "-A WEFT_INBOUND -p tcp -m tcp --dport 15000:15099 -j RETURN\n"
    "-A WEFT_INBOUND -p tcp -j WEFT_IN_REDIRECT\n"
    "-A WEFT_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
    "-A WEFT_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
    "-A WEFT_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner 1337 "
    "-j WEFT_IN_REDIRECT\n"
    "-A WEFT_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN\n"
    "-A WEFT_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
    "-A WEFT_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --gid-owner 1337 "
    "-j WEFT_IN_REDIRECT\n"
    "-A WEFT_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN\n"
    "-A WEFT_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
    "-A WEFT_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
    "-A WEFT_OUTPUT -j WEFT_REDIRECT\n"
    "-A WEFT_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
    "-A PREROUTING -p tcp -j WEFT_INBOUND\n"
    "-A OUTPUT -p tcp -j WEFT_OUTPUT\n"
    "COMMIT\n";

static const char defaults_v6[] =
    "*nat\n"
    ":WEFT_INBOUND - [0:0]\n"
    ":WEFT_IN_REDIRECT - [0:0]\n"
    ":WEFT_OUTPUT - [0:0]\n"
    ":WEFT_REDIRECT - [0:0]\n"
    "-A WEFT_INBOUND -p tcp -m tcp --dport 15000:15099 -j RETURN\n"
    "-A WEFT_INBOUND -p tcp -j WEFT_IN_REDIRECT\n"
    "-A WEFT_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
    "-A WEFT_OUTPUT -s ::6/128 -o lo -j RETURN\n"
    "-A WEFT_OUTPUT ! -d ::1/128 -o lo -m owner --uid-owner 1337 "
    "-j WEFT_IN_REDIRECT\n"
    "-A WEFT_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN\n"
    "-A WEFT_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
    "-A WEFT_OUTPUT ! -d ::1/128 -o lo -m owner --gid-owner 1337 "
    "-j WEFT_IN_REDIRECT\n"
    "-A WEFT_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN\n"
    "-A WEFT_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
    "-A WEFT_OUTPUT -d ::1/128 -j RETURN\n"
    "-A WEFT_OUTPUT -j WEFT_REDIRECT\n"
    "-A WEFT_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
    "-A PREROUTING -p tcp -j WEFT_INBOUND\n"
    "-A OUTPUT -p tcp -j WEFT_OUTPUT\n"
    "COMMIT\n";

/* iptables-save -t nat, then -t mangle, after a run with --l4-queue 3,
 * next to Docker's rules. */
static const char save_nat_installed[] =
    "# Generated by iptables-save v1.8.9 (nf_tables) on Mon Jan  1 "
    "00:00:00 2024\n"
    "*nat\n"
    ":PREROUTING ACCEPT [0:0]\n"
    ":INPUT ACCEPT [0:0]\n"
    ":OUTPUT ACCEPT [0:0]\n"
    ":POSTROUTING ACCEPT [0:0]\n"
    ":DOCKER - [0:0]\n"
    ":WEFT_INBOUND - [0:0]\n"
    ":WEFT_IN_REDIRECT - [0:0]\n"
    ":WEFT_OUTPUT - [0:0]\n"
    ":WEFT_REDIRECT - [0:0]\n"
    "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n"
    "-A PREROUTING -p tcp -j WEFT_INBOUND\n"
    "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER\n"
    "-A OUTPUT -p tcp -j WEFT_OUTPUT\n"
    "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n"
    "-A DOCKER -i docker0 -j RETURN\n"
    "-A WEFT_INBOUND -p tcp -m tcp --dport 15000:15099 -j RETURN\n"
    "-A WEFT_INBOUND -p tcp -j WEFT_IN_REDIRECT\n"
    "-A WEFT_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
    "-A WEFT_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
    "-A WEFT_OUTPUT -j WEFT_REDIRECT\n"
    "-A WEFT_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
    "COMMIT\n"
    "# Completed on Mon Jan  1 00:00:00 2024\n";

static const char save_mangle_installed[] =
    "# Generated by iptables-save v1.8.9 (nf_tables) on Mon Jan  1 "
    "00:00:00 2024\n"
    "*mangle\n"
    ":PREROUTING ACCEPT [0:0]\n"
    ":INPUT ACCEPT [0:0]\n"
    ":FORWARD ACCEPT [0:0]\n"
    ":OUTPUT ACCEPT [0:0]\n"
    ":POSTROUTING ACCEPT [0:0]\n"
    ":WEFT_L4_INBOUND - [0:0]\n"
    ":WEFT_L4_OUTPUT - [0:0]\n"
    "-A PREROUTING -j WEFT_L4_INBOUND\n"
    "-A OUTPUT -j WEFT_L4_OUTPUT\n"
    "-A WEFT_L4_INBOUND -i lo -j RETURN\n"
    "-A WEFT_L4_INBOUND -p udp -j NFQUEUE --queue-num 3\n"
    "-A WEFT_L4_OUTPUT -o lo -j RETURN\n"
    "-A WEFT_L4_OUTPUT -p udp -j NFQUEUE --queue-num 3\n"
    "COMMIT\n"
    "# Completed on Mon Jan  1 00:00:00 2024\n";

/* The same namespace without weft rules. */
static const char save_clean[] = "*nat\n"
				 ":PREROUTING ACCEPT [0:0]\n"
				 ":INPUT ACCEPT [0:0]\n"
				 ":OUTPUT ACCEPT [0:0]\n"
				 ":POSTROUTING ACCEPT [0:0]\n"
				 ":DOCKER - [0:0]\n"
				 "-A PREROUTING -m addrtype --dst-type LOCAL "
				 "-j DOCKER\n"
				 "-A DOCKER -i docker0 -j RETURN\n"
				 "COMMIT\n"
				 "*mangle\n"
				 ":PREROUTING ACCEPT [0:0]\n"
				 ":OUTPUT ACCEPT [0:0]\n"
				 "COMMIT\n";

/* Returns the state read from the save texts, NULL-terminated. */
static struct init_state *state_from(const char *save, ...)
    __attribute__((sentinel));

static struct init_state *
state_from(const char *save, ...)
{
	struct init_state *st;
	va_list ap;

	st = init_state_new();
	assert_non_null(st);
	va_start(ap, save);
	for (; save != NULL; save = va_arg(ap, const char *))
		init_state_parse(st, save);
	va_end(ap);
	return st;
}

/* Checks the install input for o and family, given the state st. */
static void
install_equal(const struct init_opts *o, int family,
    const struct init_state *st, const char *want)
{
	struct init_buf *b;

	b = init_buf_new();
	init_rules_install(b, o, family, st);
	assert_string_equal(b->data, want);
	assert_int_equal(b->len, strlen(want));
	init_buf_free(b);
}

/* Checks the cleanup input and count, given the state st. */
static void
cleanup_equal(const struct init_state *st, const char *want, size_t changes)
{
	struct init_buf *b;

	b = init_buf_new();
	assert_int_equal(init_rules_cleanup(b, st), changes);
	assert_string_equal(b->data, want);
	assert_int_equal(b->len, strlen(want));
	init_buf_free(b);
}

static void
item_equal(const struct init_item *it, const char *table, const char *text)
{
	assert_string_equal(it->table, table);
	assert_string_equal(it->text, text);
}

static void
opts_ports(struct init_ports *p, const char *s)
{
	char *cause = NULL;

	assert_int_equal(init_opts_ports(s, p, &cause), 0);
	assert_null(cause);
}

static void
opts_cidrs(struct init_cidrs *cs, const char *s)
{
	char *cause = NULL;

	assert_int_equal(init_opts_cidrs(s, cs, &cause), 0);
	assert_null(cause);
}

/* Returns a copy of text without its jumps from built-in chains. */
static char *
strip_jumps(const char *text)
{
	const char *line, *next;
	char *out;
	size_t len = 0;

	out = malloc(strlen(text) + 1);
	assert_non_null(out);
	for (line = text; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		next = next != NULL ? next + 1 : line + strlen(line);
		if (strncmp(line, "-A PREROUTING ", 14) == 0 ||
		    strncmp(line, "-A OUTPUT ", 10) == 0)
			continue;
		memcpy(out + len, line, (size_t)(next - line));
		len += (size_t)(next - line);
	}
	out[len] = '\0';
	return out;
}

static void
test_buf_new(void **state)
{
	struct init_buf *b;

	b = init_buf_new();
	assert_non_null(b);
	assert_non_null(b->data);
	assert_string_equal(b->data, "");
	assert_int_equal(b->len, 0);
	assert_true(b->size > 0);
	init_buf_free(b);
	init_buf_free(NULL);
}

static void
test_buf_add(void **state)
{
	struct init_buf *b;
	char big[1000];
	size_t i;

	b = init_buf_new();
	init_buf_add(b, "abc", 3);
	init_buf_add(b, "", 0);
	init_buf_add(b, "defgh", 2);
	assert_string_equal(b->data, "abcde");
	assert_int_equal(b->len, 5);

	/* Growth keeps what was there, and the NUL. */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	init_buf_add(b, big, sizeof(big));
	assert_int_equal(b->len, 5 + sizeof(big));
	assert_memory_equal(b->data, "abcde", 5);
	assert_memory_equal(b->data + 5, big, sizeof(big));
	assert_int_equal(b->data[b->len], '\0');
	assert_true(b->size > b->len);
	init_buf_free(b);
}

static void
test_buf_printf(void **state)
{
	static const size_t lens[] = {0, 1, 254, 255, 256, 257, 511, 512, 4096};
	struct init_buf *b;
	char *s;
	size_t i, k;

	b = init_buf_new();
	init_buf_printf(b, "%s=%u;", "port", 15001U);
	init_buf_printf(b, "%d", -1);
	assert_string_equal(b->data, "port=15001;-1");
	assert_int_equal(b->len, 13);
	init_buf_free(b);

	/* Around the first sizes, from empty and from a few bytes in. */
	for (i = 0; i < NCASES(lens); i++) {
		s = malloc(lens[i] + 1);
		assert_non_null(s);
		for (k = 0; k < lens[i]; k++)
			s[k] = (char)('A' + k % 26);
		s[lens[i]] = '\0';
		for (k = 0; k < 3; k++) {
			b = init_buf_new();
			init_buf_add(b, "xyz", k);
			init_buf_printf(b, "%s|", s);
			assert_int_equal(b->len, k + lens[i] + 1);
			assert_memory_equal(b->data, "xyz", k);
			assert_memory_equal(b->data + k, s, lens[i]);
			assert_string_equal(b->data + k + lens[i], "|");
			assert_true(b->size > b->len);
			init_buf_free(b);
		}
		free(s);
	}
}

static void
test_state_parse(void **state)
{
	struct init_state *st;

	st = state_from(save_nat_installed, save_mangle_installed, NULL);
	assert_int_equal(st->nchains, 6);
	item_equal(&st->chains[0], "nat", "WEFT_INBOUND");
	item_equal(&st->chains[1], "nat", "WEFT_IN_REDIRECT");
	item_equal(&st->chains[2], "nat", "WEFT_OUTPUT");
	item_equal(&st->chains[3], "nat", "WEFT_REDIRECT");
	item_equal(&st->chains[4], "mangle", "WEFT_L4_INBOUND");
	item_equal(&st->chains[5], "mangle", "WEFT_L4_OUTPUT");
	assert_int_equal(st->njumps, 4);
	item_equal(
	    &st->jumps[0], "nat", "-A PREROUTING -p tcp -j WEFT_INBOUND");
	item_equal(&st->jumps[1], "nat", "-A OUTPUT -p tcp -j WEFT_OUTPUT");
	item_equal(&st->jumps[2], "mangle", "-A PREROUTING -j WEFT_L4_INBOUND");
	item_equal(&st->jumps[3], "mangle", "-A OUTPUT -j WEFT_L4_OUTPUT");
	assert_int_equal(init_state_count(st), 10);
	init_state_free(st);
	init_state_free(NULL);
}

static void
test_state_parse_edges(void **state)
{
	static const char save[] = "*filter\r\n"
				   ":INPUT ACCEPT [0:0]\r\n"
				   ":WEFTX - [0:0]\r\n"
				   ":WEFT_F\r\n"
				   "-A INPUT -g WEFT_F\r\n"
				   "-A INPUT -j WEFTX\r\n"
				   "-A INPUT -j DOCKER_WEFT_F\r\n"
				   "-A WEFTX -j WEFT_F\r\n"
				   "-A PREROUTINGX -j WEFT_F\r\n"
				   "-A FORWARD\r\n"
				   "# -A INPUT -j WEFT_F\r\n"
				   "\r\n"
				   "\n"
				   "COMMIT\r\n"
				   "*nat\n"
				   "-A POSTROUTING -o eth0 -j WEFT_X\n"
				   "-A OUTPUT -p tcp -j WEFT_OUTPUT";
	struct init_state *st;

	st = state_from("", NULL);
	assert_int_equal(init_state_count(st), 0);
	init_state_free(st);

	st = state_from(save, NULL);
	assert_int_equal(st->nchains, 1);
	item_equal(&st->chains[0], "filter", "WEFT_F");
	assert_int_equal(st->njumps, 3);
	item_equal(&st->jumps[0], "filter", "-A INPUT -g WEFT_F");
	item_equal(&st->jumps[1], "nat", "-A POSTROUTING -o eth0 -j WEFT_X");
	/* The last line needs no newline. */
	item_equal(&st->jumps[2], "nat", "-A OUTPUT -p tcp -j WEFT_OUTPUT");
	assert_int_equal(init_state_count(st), 4);
	init_state_free(st);
}

static void
test_install_defaults_v4(void **state)
{
	struct init_opts o;
	struct init_state *st;

	init_opts_defaults(&o);
	st = init_state_new();
	install_equal(&o, AF_INET, st, defaults_v4);
	init_state_free(st);

	/* Foreign rules change nothing. */
	st = state_from(save_clean, NULL);
	assert_int_equal(init_state_count(st), 0);
	install_equal(&o, AF_INET, st, defaults_v4);
	init_state_free(st);
}

static void
test_install_defaults_v6(void **state)
{
	struct init_opts o;
	struct init_state *st;

	init_opts_defaults(&o);
	st = init_state_new();
	install_equal(&o, AF_INET6, st, defaults_v6);
	init_state_free(st);
}

static void
test_install_custom(void **state)
{
	struct init_opts o;
	struct init_state *st;

	init_opts_defaults(&o);
	o.proxy_uid = 1000;
	o.proxy_gid = 2000;
	o.outbound_port = 16001;
	o.inbound_port = 8443;
	st = init_state_new();
	install_equal(&o, AF_INET, st,
	    "*nat\n" DECL_IN DECL_OTHERS INBOUND_ALL
	    "-A WEFT_IN_REDIRECT -p tcp -j REDIRECT --to-ports 8443\n"
	    "-A WEFT_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n"
	    "-A WEFT_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner 1000 "
	    "-j WEFT_IN_REDIRECT\n"
	    "-A WEFT_OUTPUT -o lo -m owner ! --uid-owner 1000 -j RETURN\n"
	    "-A WEFT_OUTPUT -m owner --uid-owner 1000 -j RETURN\n"
	    "-A WEFT_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --gid-owner 2000 "
	    "-j WEFT_IN_REDIRECT\n"
	    "-A WEFT_OUTPUT -o lo -m owner ! --gid-owner 2000 -j RETURN\n"
	    "-A WEFT_OUTPUT -m owner --gid-owner 2000 -j RETURN\n"
	    "-A WEFT_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
	    "-A WEFT_OUTPUT -j WEFT_REDIRECT\n"
	    "-A WEFT_REDIRECT -p tcp -j REDIRECT --to-ports 16001\n" JUMP_IN
		JUMP_OUT "COMMIT\n");

	/* Ids up to the largest one print in full, unsigned. */
	o.proxy_uid = 4294967294U;
	o.proxy_gid = 0;
	install_equal(&o, AF_INET6, st,
	    "*nat\n" DECL_IN DECL_OTHERS INBOUND_ALL
	    "-A WEFT_IN_REDIRECT -p tcp -j REDIRECT --to-ports 8443\n"
	    "-A WEFT_OUTPUT -s ::6/128 -o lo -j RETURN\n"
	    "-A WEFT_OUTPUT ! -d ::1/128 -o lo -m owner --uid-owner "
	    "4294967294 -j WEFT_IN_REDIRECT\n"
	    "-A WEFT_OUTPUT -o lo -m owner ! --uid-owner 4294967294 "
	    "-j RETURN\n"
	    "-A WEFT_OUTPUT -m owner --uid-owner 4294967294 -j RETURN\n"
	    "-A WEFT_OUTPUT ! -d ::1/128 -o lo -m owner --gid-owner 0 "
	    "-j WEFT_IN_REDIRECT\n"
	    "-A WEFT_OUTPUT -o lo -m owner ! --gid-owner 0 -j RETURN\n"
	    "-A WEFT_OUTPUT -m owner --gid-owner 0 -j RETURN\n"
	    "-A WEFT_OUTPUT -d ::1/128 -j RETURN\n"
	    "-A WEFT_OUTPUT -j WEFT_REDIRECT\n"
	    "-A WEFT_REDIRECT -p tcp -j REDIRECT --to-ports 16001\n" JUMP_IN
		JUMP_OUT "COMMIT\n");
	init_state_free(st);
}

/* Exclusions for the tests below. */
static void
opts_exclusions(struct init_opts *o)
{
	init_opts_defaults(o);
	opts_ports(&o->exclude_inbound, "22,8000-8010");
	opts_ports(&o->exclude_outbound, "3306,5432-5433");
	opts_cidrs(&o->exclude_cidrs, "10.0.0.0/8,fd00::/8,192.168.1.1");
}

#define INBOUND_EXCL                                                           \
	"-A WEFT_INBOUND -p tcp -m tcp --dport 15000:15099 -j RETURN\n"        \
	"-A WEFT_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"                 \
	"-A WEFT_INBOUND -p tcp -m tcp --dport 8000:8010 -j RETURN\n"          \
	"-A WEFT_INBOUND -p tcp -j WEFT_IN_REDIRECT\n"
#define OUTPUT_EXCL_PORTS                                                      \
	"-A WEFT_OUTPUT -p tcp -m tcp --dport 3306 -j RETURN\n"                \
	"-A WEFT_OUTPUT -p tcp -m tcp --dport 5432:5433 -j RETURN\n"
#define NAT_EXCL_V4                                                            \
	"*nat\n" DECL_IN DECL_OTHERS INBOUND_EXCL IN_REDIRECT OUTPUT_HEAD_V4   \
	    OUTPUT_EXCL_PORTS "-A WEFT_OUTPUT -d 10.0.0.0/8 -j RETURN\n"       \
	"-A WEFT_OUTPUT -d 192.168.1.1/32 -j RETURN\n" OUTPUT_TAIL JUMP_IN     \
	    JUMP_OUT "COMMIT\n"

static void
test_install_exclusions(void **state)
{
	struct init_opts o;
	struct init_state *st;

	opts_exclusions(&o);
	st = init_state_new();
	install_equal(&o, AF_INET, st, NAT_EXCL_V4);
	/* Each family gets its own networks only. */
	install_equal(&o, AF_INET6, st,
	    "*nat\n" DECL_IN DECL_OTHERS INBOUND_EXCL IN_REDIRECT
	    "-A WEFT_OUTPUT -s ::6/128 -o lo -j RETURN\n"
	    "-A WEFT_OUTPUT ! -d ::1/128 -o lo -m owner --uid-owner 1337 "
	    "-j WEFT_IN_REDIRECT\n"
	    "-A WEFT_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN\n"
	    "-A WEFT_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
	    "-A WEFT_OUTPUT ! -d ::1/128 -o lo -m owner --gid-owner 1337 "
	    "-j WEFT_IN_REDIRECT\n"
	    "-A WEFT_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN\n"
	    "-A WEFT_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
	    "-A WEFT_OUTPUT -d ::1/128 -j RETURN\n" OUTPUT_EXCL_PORTS
	    "-A WEFT_OUTPUT -d fd00::/8 -j RETURN\n" OUTPUT_TAIL JUMP_IN
		JUMP_OUT "COMMIT\n");

	/* With IPv4 networks only, IPv6 gets none. */
	opts_cidrs(&o.exclude_cidrs, "10.0.0.0/8");
	install_equal(&o, AF_INET6, st,
	    "*nat\n" DECL_IN DECL_OTHERS INBOUND_EXCL IN_REDIRECT
	    "-A WEFT_OUTPUT -s ::6/128 -o lo -j RETURN\n"
	    "-A WEFT_OUTPUT ! -d ::1/128 -o lo -m owner --uid-owner 1337 "
	    "-j WEFT_IN_REDIRECT\n"
	    "-A WEFT_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN\n"
	    "-A WEFT_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
	    "-A WEFT_OUTPUT ! -d ::1/128 -o lo -m owner --gid-owner 1337 "
	    "-j WEFT_IN_REDIRECT\n"
	    "-A WEFT_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN\n"
	    "-A WEFT_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
	    "-A WEFT_OUTPUT -d ::1/128 -j RETURN\n" OUTPUT_EXCL_PORTS
		OUTPUT_TAIL JUMP_IN JUMP_OUT "COMMIT\n");
	init_state_free(st);
	init_opts_clear(&o);
}

static void
test_install_include(void **state)
{
	struct init_opts o;
	struct init_state *st;

	init_opts_defaults(&o);
	o.inbound_all = 0;
	opts_ports(&o.include_inbound, "8080,9000-9010,15001");
	opts_ports(&o.exclude_inbound, "9005");
	st = init_state_new();
	install_equal(&o, AF_INET, st,
	    "*nat\n" DECL_IN DECL_OTHERS
	    "-A WEFT_INBOUND -p tcp -m tcp --dport 15000:15099 -j RETURN\n"
	    "-A WEFT_INBOUND -p tcp -m tcp --dport 9005 -j RETURN\n"
	    "-A WEFT_INBOUND -p tcp -m tcp --dport 8080 -j WEFT_IN_REDIRECT\n"
	    "-A WEFT_INBOUND -p tcp -m tcp --dport 9000:9010 "
	    "-j WEFT_IN_REDIRECT\n"
	    "-A WEFT_INBOUND -p tcp -m tcp --dport 15001 "
	    "-j WEFT_IN_REDIRECT\n" IN_REDIRECT OUTPUT_HEAD_V4 OUTPUT_TAIL
		JUMP_IN JUMP_OUT "COMMIT\n");
	init_state_free(st);
	init_opts_clear(&o);
}

#define NAT_NO_INBOUND_V4                                                      \
	"*nat\n" DECL_OTHERS IN_REDIRECT OUTPUT_HEAD_V4 OUTPUT_TAIL JUMP_OUT   \
	"COMMIT\n"

static void
test_install_include_empty(void **state)
{
	struct init_opts o;
	struct init_state *st;

	/* --include-inbound-ports '': no inbound capture at all, but the
	 * proxy calling its own pod still takes the inbound redirect. */
	init_opts_defaults(&o);
	o.inbound_all = 0;
	opts_ports(&o.include_inbound, "");
	opts_ports(&o.exclude_inbound, "22");
	st = init_state_new();
	install_equal(&o, AF_INET, st, NAT_NO_INBOUND_V4);
	init_state_free(st);
	init_opts_clear(&o);
}

#define MANGLE_L4_V4                                                           \
	"*mangle\n" DECL_L4_Q "-A WEFT_L4_INBOUND -i lo -j RETURN\n"           \
	"-A WEFT_L4_INBOUND -m conntrack ! --ctstate NEW -j RETURN\n" MARK_IN  \
	"-A WEFT_L4_INBOUND -p udp -j WEFT_L4_QUEUE\n"                         \
	"-A WEFT_L4_INBOUND -p tcp -m tcp --dport 22 -j WEFT_L4_QUEUE\n"       \
	"-A WEFT_L4_INBOUND -p tcp -m tcp --dport 8000:8010 -j "               \
	"WEFT_L4_QUEUE\n"                                                      \
	"-A WEFT_L4_OUTPUT -o lo -j RETURN\n"                                  \
	"-A WEFT_L4_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"              \
	"-A WEFT_L4_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"              \
	"-A WEFT_L4_OUTPUT -m conntrack ! --ctstate NEW -j RETURN\n" MARK_OUT  \
	"-A WEFT_L4_OUTPUT -p udp -j WEFT_L4_QUEUE\n"                          \
	"-A WEFT_L4_OUTPUT -p tcp -m tcp --dport 3306 -j WEFT_L4_QUEUE\n"      \
	"-A WEFT_L4_OUTPUT -p tcp -m tcp --dport 5432:5433 -j WEFT_L4_QUEUE\n" \
	"-A WEFT_L4_OUTPUT -d 10.0.0.0/8 -p tcp -j WEFT_L4_QUEUE\n"            \
	"-A WEFT_L4_OUTPUT -d 192.168.1.1/32 -p tcp -j "                       \
	"WEFT_L4_QUEUE\n" L4_QUEUE("3") JUMP_L4_IN JUMP_L4_OUT "COMMIT\n"

static void
test_install_l4_queue(void **state)
{
	struct init_opts o;
	struct init_state *st;

	opts_exclusions(&o);
	o.l4_queue = 3;
	st = init_state_new();
	install_equal(&o, AF_INET, st, NAT_EXCL_V4 MANGLE_L4_V4);

	/* The defaults queue UDP only; queue 0 is a queue; IPv6 addresses. */
	init_opts_clear(&o);
	init_opts_defaults(&o);
	o.l4_queue = 0;
	o.proxy_uid = 1000;
	o.proxy_gid = 2000;
	opts_cidrs(&o.exclude_cidrs, "10.0.0.0/8,fd00::/8");
	install_equal(&o, AF_INET6, st,
	    "*nat\n" DECL_IN DECL_OTHERS INBOUND_ALL IN_REDIRECT
	    "-A WEFT_OUTPUT -s ::6/128 -o lo -j RETURN\n"
	    "-A WEFT_OUTPUT ! -d ::1/128 -o lo -m owner --uid-owner 1000 "
	    "-j WEFT_IN_REDIRECT\n"
	    "-A WEFT_OUTPUT -o lo -m owner ! --uid-owner 1000 -j RETURN\n"
	    "-A WEFT_OUTPUT -m owner --uid-owner 1000 -j RETURN\n"
	    "-A WEFT_OUTPUT ! -d ::1/128 -o lo -m owner --gid-owner 2000 "
	    "-j WEFT_IN_REDIRECT\n"
	    "-A WEFT_OUTPUT -o lo -m owner ! --gid-owner 2000 -j RETURN\n"
	    "-A WEFT_OUTPUT -m owner --gid-owner 2000 -j RETURN\n"
	    "-A WEFT_OUTPUT -d ::1/128 -j RETURN\n"
	    "-A WEFT_OUTPUT -d fd00::/8 -j RETURN\n" OUTPUT_TAIL JUMP_IN
		JUMP_OUT "COMMIT\n"
	    "*mangle\n" DECL_L4_Q "-A WEFT_L4_INBOUND -i lo -j RETURN\n"
	    "-A WEFT_L4_INBOUND -m conntrack ! --ctstate NEW -j "
	    "RETURN\n" MARK_IN "-A WEFT_L4_INBOUND -p udp -j WEFT_L4_QUEUE\n"
	    "-A WEFT_L4_OUTPUT -o lo -j RETURN\n"
	    "-A WEFT_L4_OUTPUT -m owner --uid-owner 1000 -j RETURN\n"
	    "-A WEFT_L4_OUTPUT -m owner --gid-owner 2000 -j RETURN\n"
	    "-A WEFT_L4_OUTPUT -m conntrack ! --ctstate NEW -j "
	    "RETURN\n" MARK_OUT "-A WEFT_L4_OUTPUT -p udp -j WEFT_L4_QUEUE\n"
	    "-A WEFT_L4_OUTPUT -d fd00::/8 -p tcp -j WEFT_L4_QUEUE\n" L4_QUEUE(
		"0") JUMP_L4_IN JUMP_L4_OUT "COMMIT\n");
	init_state_free(st);
	init_opts_clear(&o);
}

/* --l4-fail-open: the NFQUEUE rule gets --queue-bypass, nothing else. */
static void
test_install_l4_fail_open(void **state)
{
	struct init_opts o;
	struct init_state *st;
	struct init_buf *b;
	const char *mangle;

	init_opts_defaults(&o);
	o.l4_queue = 9;
	o.l4_fail_open = 1;
	opts_ports(&o.exclude_inbound, "5432");
	st = init_state_new();
	b = init_buf_new();
	init_rules_install(b, &o, AF_INET, st);
	assert_non_null(mangle = strstr(b->data, "*mangle\n"));
	assert_string_equal(mangle,
	    "*mangle\n" DECL_L4_Q "-A WEFT_L4_INBOUND -i lo -j RETURN\n"
	    "-A WEFT_L4_INBOUND -m conntrack ! --ctstate NEW -j "
	    "RETURN\n" MARK_IN "-A WEFT_L4_INBOUND -p udp -j WEFT_L4_QUEUE\n"
	    "-A WEFT_L4_INBOUND -p tcp -m tcp --dport 5432 -j WEFT_L4_QUEUE\n"
	    "-A WEFT_L4_OUTPUT -o lo -j RETURN\n"
	    "-A WEFT_L4_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
	    "-A WEFT_L4_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
	    "-A WEFT_L4_OUTPUT -m conntrack ! --ctstate NEW -j "
	    "RETURN\n" MARK_OUT
	    "-A WEFT_L4_OUTPUT -p udp -j WEFT_L4_QUEUE\n" L4_QUEUE(
		"9 --queue-bypass") JUMP_L4_IN JUMP_L4_OUT "COMMIT\n");
	/* The nat table is the same as without the flag. */
	assert_null(strstr(b->data, "NFQUEUE --queue-num 9\n"));
	init_buf_free(b);
	init_state_free(st);
	init_opts_clear(&o);
}

static void
test_install_again(void **state)
{
	struct init_opts o;
	struct init_state *st;
	char *want;

	/* What a run installed: chains refilled, no jump added twice. */
	init_opts_defaults(&o);
	st = state_from(save_nat_installed, save_clean, NULL);
	want = strip_jumps(defaults_v4);
	install_equal(&o, AF_INET, st, want);
	free(want);
	init_state_free(st);

	opts_exclusions(&o);
	o.l4_queue = 3;
	st = state_from(save_nat_installed, save_mangle_installed, NULL);
	want = strip_jumps(NAT_EXCL_V4 MANGLE_L4_V4);
	install_equal(&o, AF_INET, st, want);
	free(want);
	init_state_free(st);
	init_opts_clear(&o);
}

/* The input of a first run, read back as iptables-save output, makes a
 * second run that adds no jump, and a third run the same as the second. */
static void
install_twice(const struct init_opts *o, int family, size_t count)
{
	struct init_state *st;
	struct init_buf *b1, *b2;
	char *want;

	st = init_state_new();
	b1 = init_buf_new();
	init_rules_install(b1, o, family, st);
	init_state_free(st);

	st = state_from(b1->data, NULL);
	assert_int_equal(init_state_count(st), count);
	b2 = init_buf_new();
	init_rules_install(b2, o, family, st);
	want = strip_jumps(b1->data);
	assert_string_equal(b2->data, want);
	install_equal(o, family, st, want);
	free(want);
	init_state_free(st);
	init_buf_free(b1);
	init_buf_free(b2);
}

static void
test_install_idempotent(void **state)
{
	struct init_opts o;

	init_opts_defaults(&o);
	install_twice(&o, AF_INET, 6);
	install_twice(&o, AF_INET6, 6);
	o.inbound_all = 0;
	install_twice(&o, AF_INET, 4);
	opts_exclusions(&o);
	o.l4_queue = 7;
	install_twice(&o, AF_INET, 11);
	install_twice(&o, AF_INET6, 11);
	init_opts_clear(&o);
}

static void
test_install_duplicate_jumps(void **state)
{
	static const char save[] =
	    "*nat\n" DECL_IN DECL_OTHERS JUMP_IN JUMP_IN JUMP_OUT JUMP_OUT
		JUMP_IN "COMMIT\n"
	    "*mangle\n" DECL_L4 JUMP_L4_IN JUMP_L4_OUT JUMP_L4_OUT "COMMIT\n";
	struct init_opts o;
	struct init_state *st;

	init_opts_defaults(&o);
	o.l4_queue = 3;
	st = state_from(save, NULL);
	assert_int_equal(init_state_count(st), 14);
	/* One copy of each stays; the others are removed, none added. */
	install_equal(&o, AF_INET, st,
	    "*nat\n" DECL_IN DECL_OTHERS
	    "-D PREROUTING -p tcp -j WEFT_INBOUND\n"
	    "-D OUTPUT -p tcp -j WEFT_OUTPUT\n"
	    "-D PREROUTING -p tcp -j WEFT_INBOUND\n" INBOUND_ALL IN_REDIRECT
		OUTPUT_HEAD_V4 OUTPUT_TAIL "COMMIT\n"
	    "*mangle\n" DECL_L4_Q "-D OUTPUT -j WEFT_L4_OUTPUT\n"
	    "-A WEFT_L4_INBOUND -i lo -j RETURN\n"
	    "-A WEFT_L4_INBOUND -m conntrack ! --ctstate NEW -j "
	    "RETURN\n" MARK_IN "-A WEFT_L4_INBOUND -p udp -j WEFT_L4_QUEUE\n"
	    "-A WEFT_L4_OUTPUT -o lo -j RETURN\n"
	    "-A WEFT_L4_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
	    "-A WEFT_L4_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
	    "-A WEFT_L4_OUTPUT -m conntrack ! --ctstate NEW -j "
	    "RETURN\n" MARK_OUT
	    "-A WEFT_L4_OUTPUT -p udp -j WEFT_L4_QUEUE\n" L4_QUEUE(
		"3") "COMMIT\n");
	init_state_free(st);
}

static void
test_install_changed(void **state)
{
	static const char save_old[] =
	    "*nat\n" DECL_IN DECL_OTHERS ":WEFT_OLD - [0:0]\n"
	    "-A PREROUTING -j WEFT_INBOUND\n" JUMP_OUT "-A INPUT -j WEFT_OLD\n"
	    "-A WEFT_OLD -j RETURN\n"
	    "COMMIT\n";
	struct init_opts o;
	struct init_state *st;

	/* From --l4-queue 3 and every inbound port to no inbound capture
	 * and no queue: the chains and jumps no longer wanted go. */
	init_opts_defaults(&o);
	o.inbound_all = 0;
	st = state_from(save_nat_installed, save_mangle_installed, NULL);
	install_equal(&o, AF_INET, st,
	    "*nat\n" DECL_OTHERS DECL_IN
	    "-D PREROUTING -p tcp -j WEFT_INBOUND\n"
	    "-X WEFT_INBOUND\n" IN_REDIRECT OUTPUT_HEAD_V4 OUTPUT_TAIL
	    "COMMIT\n"
	    "*mangle\n" DECL_L4 "-D PREROUTING -j WEFT_L4_INBOUND\n"
	    "-D OUTPUT -j WEFT_L4_OUTPUT\n"
	    "-X WEFT_L4_INBOUND\n"
	    "-X WEFT_L4_OUTPUT\n"
	    "COMMIT\n");
	init_state_free(st);

	/* Back: WEFT_INBOUND and its jump return. */
	st = state_from(NAT_NO_INBOUND_V4, NULL);
	init_opts_defaults(&o);
	install_equal(&o, AF_INET, st,
	    "*nat\n" DECL_IN DECL_OTHERS INBOUND_ALL IN_REDIRECT OUTPUT_HEAD_V4
		OUTPUT_TAIL JUMP_IN "COMMIT\n");
	init_state_free(st);

	/* A jump of another spelling (an older version) and a chain this
	 * version does not know are replaced. */
	st = state_from(save_old, NULL);
	install_equal(&o, AF_INET, st,
	    "*nat\n" DECL_IN DECL_OTHERS ":WEFT_OLD - [0:0]\n"
	    "-D PREROUTING -j WEFT_INBOUND\n"
	    "-D INPUT -j WEFT_OLD\n"
	    "-X WEFT_OLD\n" INBOUND_ALL IN_REDIRECT OUTPUT_HEAD_V4 OUTPUT_TAIL
		JUMP_IN "COMMIT\n");
	init_state_free(st);
}

static void
test_cleanup_installed(void **state)
{
	static const char want[] =
	    "*nat\n" DECL_IN DECL_OTHERS
	    "-D PREROUTING -p tcp -j WEFT_INBOUND\n"
	    "-D OUTPUT -p tcp -j WEFT_OUTPUT\n"
	    "-X WEFT_INBOUND\n"
	    "-X WEFT_IN_REDIRECT\n"
	    "-X WEFT_OUTPUT\n"
	    "-X WEFT_REDIRECT\n"
	    "COMMIT\n"
	    "*mangle\n" DECL_L4 "-D PREROUTING -j WEFT_L4_INBOUND\n"
	    "-D OUTPUT -j WEFT_L4_OUTPUT\n"
	    "-X WEFT_L4_INBOUND\n"
	    "-X WEFT_L4_OUTPUT\n"
	    "COMMIT\n";
	struct init_state *st;

	st = state_from(save_nat_installed, save_mangle_installed, NULL);
	cleanup_equal(st, want, 10);
	init_state_free(st);

	/* The mangle table only, with a duplicate jump: each one goes. */
	st = state_from(save_clean,
	    "*mangle\n" DECL_L4 JUMP_L4_IN JUMP_L4_IN JUMP_L4_OUT "COMMIT\n",
	    NULL);
	cleanup_equal(st,
	    "*mangle\n" DECL_L4 "-D PREROUTING -j WEFT_L4_INBOUND\n"
	    "-D PREROUTING -j WEFT_L4_INBOUND\n"
	    "-D OUTPUT -j WEFT_L4_OUTPUT\n"
	    "-X WEFT_L4_INBOUND\n"
	    "-X WEFT_L4_OUTPUT\n"
	    "COMMIT\n",
	    5);
	init_state_free(st);

	/* A jump is removed even when its chain was not read. */
	st = state_from("*mangle\n" JUMP_L4_OUT "COMMIT\n", NULL);
	cleanup_equal(st, "*mangle\n-D OUTPUT -j WEFT_L4_OUTPUT\nCOMMIT\n", 1);
	init_state_free(st);
}

static void
test_cleanup_clean(void **state)
{
	struct init_state *st;

	st = init_state_new();
	cleanup_equal(st, "", 0);
	init_state_free(st);

	st = state_from(save_clean, NULL);
	cleanup_equal(st, "", 0);
	init_state_free(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf_new),
	    cmocka_unit_test(test_buf_add),
	    cmocka_unit_test(test_buf_printf),
	    cmocka_unit_test(test_state_parse),
	    cmocka_unit_test(test_state_parse_edges),
	    cmocka_unit_test(test_install_defaults_v4),
	    cmocka_unit_test(test_install_defaults_v6),
	    cmocka_unit_test(test_install_custom),
	    cmocka_unit_test(test_install_exclusions),
	    cmocka_unit_test(test_install_include),
	    cmocka_unit_test(test_install_include_empty),
	    cmocka_unit_test(test_install_l4_queue),
	    cmocka_unit_test(test_install_again),
	    cmocka_unit_test(test_install_l4_fail_open),
	    cmocka_unit_test(test_install_idempotent),
	    cmocka_unit_test(test_install_duplicate_jumps),
	    cmocka_unit_test(test_install_changed),
	    cmocka_unit_test(test_cleanup_installed),
	    cmocka_unit_test(test_cleanup_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
