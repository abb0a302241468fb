#include "config.h"

#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init_rules.h"
#include "log.h"
#include "xmalloc.h"

#define INIT_MAX_CHAINS 4
#define INIT_MAX_JUMPS  2

/* What one table should hold. */
struct init_table {
	const char *name;
	const char *chains[INIT_MAX_CHAINS];
	size_t nchains;
	const char *jumps[INIT_MAX_JUMPS]; /* in iptables-save's spelling */
	size_t njumps;
	struct init_buf *rules; /* the "-A WEFT_..." lines */
};

static const char *const init_builtin_chains[] = {
    "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};

struct init_state *
init_state_new(void)
{
	return xcalloc(1, sizeof(struct init_state));
}

static void
init_items_free(struct init_item *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].table);
		free(v[i].text);
	}
	free(v);
}

void
init_state_free(struct init_state *st)
{
	if (st == NULL)
		return;
	init_items_free(st->chains, st->nchains);
	init_items_free(st->jumps, st->njumps);
	free(st);
}

static void
init_items_add(struct init_item **v, size_t *n, const char *table,
    const char *text, size_t len)
{
	struct init_item *nv;

	nv = reallocarray(*v, *n + 1, sizeof(**v));
	if (nv == NULL)
		fatal("reallocarray");
	*v = nv;
	nv[*n].table = xstrdup(table);
	nv[*n].text = xmalloc(len + 1);
	memcpy(nv[*n].text, text, len);
	nv[*n].text[len] = '\0';
	(*n)++;
}

static int
init_is_builtin(const char *chain, size_t len)
{
	size_t i;

	for (i = 0;
	     i < sizeof(init_builtin_chains) / sizeof(init_builtin_chains[0]);
	     i++) {
		if (strlen(init_builtin_chains[i]) == len &&
		    strncmp(chain, init_builtin_chains[i], len) == 0)
			return 1;
	}
	return 0;
}

/* Is line a rule whose target (-j or -g) is a WEFT_ chain? */
static int
init_jumps_to_weft(const char *line, size_t len)
{
	static const char *const targets[] = {
	    " -j " INIT_CHAIN_PREFIX, " -g " INIT_CHAIN_PREFIX};
	size_t i, tlen;
	const char *p, *end = line + len;

	for (i = 0; i < 2; i++) {
		tlen = strlen(targets[i]);
		for (p = line; p + tlen <= end; p++) {
			if (memcmp(p, targets[i], tlen) == 0)
				return 1;
		}
	}
	return 0;
}

void
init_state_parse(struct init_state *st, const char *save)
{
	const char *line, *next, *sp;
	char table[32] = "";
	size_t len, plen = strlen(INIT_CHAIN_PREFIX);

	for (line = save; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next == NULL)
			next = line + strlen(line);
		len = (size_t)(next - line);
		if (*next == '\n')
			next++;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (line[0] == '*') {
			snprintf(table, sizeof(table), "%.*s", (int)(len - 1),
			    line + 1);
		} else if (line[0] == ':' && len > plen &&
		    strncmp(line + 1, INIT_CHAIN_PREFIX, plen) == 0) {
			sp = memchr(line, ' ', len);
			init_items_add(&st->chains, &st->nchains, table,
			    line + 1,
			    (sp != NULL ? (size_t)(sp - line) : len) - 1);
		} else if (strncmp(line, "-A ", 3) == 0) {
			sp = memchr(line + 3, ' ', len - 3);
			if (sp == NULL ||
			    !init_is_builtin(line + 3, (size_t)(sp - line) - 3))
				continue;
			if (init_jumps_to_weft(line, len))
				init_items_add(
				    &st->jumps, &st->njumps, table, line, len);
		}
	}
}

size_t
init_state_count(const struct init_state *st)
{
	return st->nchains + st->njumps;
}

static int
init_table_wants_chain(const struct init_table *t, const char *chain)
{
	size_t i;

	for (i = 0; i < t->nchains; i++) {
		if (strcmp(t->chains[i], chain) == 0)
			return 1;
	}
	return 0;
}

/*
 * Appends the part of the restore input for table t. Declaring a user
 * chain in a --noflush restore flushes it, so the WEFT_ chains are
 * rebuilt from scratch; the jumps from built-in chains are not flushed
 * by anything, so they are compared with what is installed. Returns the
 * number of changes to what st holds for this table.
 */
static size_t
init_table_emit(
    struct init_buf *b, const struct init_table *t, const struct init_state *st)
{
	int have[INIT_MAX_JUMPS] = {0};
	size_t i, k, changes = 0, present = 0;

	for (i = 0; i < st->nchains; i++)
		present += strcmp(st->chains[i].table, t->name) == 0;
	for (i = 0; i < st->njumps; i++)
		present += strcmp(st->jumps[i].table, t->name) == 0;
	if (t->nchains == 0 && present == 0)
		return 0;

	init_buf_printf(b, "*%s\n", t->name);
	for (i = 0; i < t->nchains; i++)
		init_buf_printf(b, ":%s - [0:0]\n", t->chains[i]);
	for (i = 0; i < st->nchains; i++) {
		if (strcmp(st->chains[i].table, t->name) == 0 &&
		    !init_table_wants_chain(t, st->chains[i].text))
			init_buf_printf(b, ":%s - [0:0]\n", st->chains[i].text);
	}
	for (i = 0; i < st->njumps; i++) {
		if (strcmp(st->jumps[i].table, t->name) != 0)
			continue;
		for (k = 0; k < t->njumps; k++) {
			if (!have[k] &&
			    strcmp(t->jumps[k], st->jumps[i].text) == 0)
				break;
		}
		if (k < t->njumps) {
			have[k] = 1;
			continue;
		}
		/* A duplicate, or a jump these options do not want. */
		init_buf_printf(b, "-D%s\n", st->jumps[i].text + 2);
		changes++;
	}
	for (i = 0; i < st->nchains; i++) {
		if (strcmp(st->chains[i].table, t->name) == 0 &&
		    !init_table_wants_chain(t, st->chains[i].text)) {
			init_buf_printf(b, "-X %s\n", st->chains[i].text);
			changes++;
		}
	}
	if (t->rules != NULL)
		init_buf_add(b, t->rules->data, t->rules->len);
	for (k = 0; k < t->njumps; k++) {
		if (!have[k]) {
			init_buf_printf(b, "%s\n", t->jumps[k]);
			changes++;
		}
	}
	init_buf_printf(b, "COMMIT\n");
	return changes;
}

static void
init_rules_ports(struct init_buf *b, const char *chain,
    const struct init_ports *p, const char *target)
{
	char range[16];
	size_t i;

	for (i = 0; i < p->n; i++) {
		init_opts_range_str(&p->v[i], range, sizeof(range));
		init_buf_printf(b, "-A %s -p tcp -m tcp --dport %s -j %s\n",
		    chain, range, target);
	}
}

/* The nat table: the TCP capture, as Istio's istio-iptables does it. */
static void
init_rules_nat(struct init_table *t, const struct init_opts *o, int family)
{
	const char *lo = family == AF_INET ? "127.0.0.1/32" : "::1/128";
	const char *src = family == AF_INET ? "127.0.0.6/32" : "::6/128";
	struct init_portrange own = {INIT_OWN_PORT_LO, INIT_OWN_PORT_HI};
	struct init_ports own_ports = {&own, 1};
	const char *kind[] = {"uid", "gid"};
	unsigned long id[2];
	struct init_buf *b = t->rules;
	char cidr[64];
	size_t i;

	t->name = "nat";
	t->nchains = 0;
	t->njumps = 0;
	if (o->inbound_all || o->include_inbound.n > 0) {
		t->chains[t->nchains++] = "WEFT_INBOUND";
		t->jumps[t->njumps++] = "-A PREROUTING -p tcp -j WEFT_INBOUND";
		init_rules_ports(b, "WEFT_INBOUND", &own_ports, "RETURN");
		init_rules_ports(
		    b, "WEFT_INBOUND", &o->exclude_inbound, "RETURN");
		if (o->inbound_all)
			init_buf_printf(
			    b, "-A WEFT_INBOUND -p tcp -j WEFT_IN_REDIRECT\n");
		else
			init_rules_ports(b, "WEFT_INBOUND", &o->include_inbound,
			    "WEFT_IN_REDIRECT");
	}
	t->chains[t->nchains++] = "WEFT_IN_REDIRECT";
	t->chains[t->nchains++] = "WEFT_OUTPUT";
	t->chains[t->nchains++] = "WEFT_REDIRECT";
	t->jumps[t->njumps++] = "-A OUTPUT -p tcp -j WEFT_OUTPUT";
	init_buf_printf(b,
	    "-A WEFT_IN_REDIRECT -p tcp -j REDIRECT --to-ports %u\n",
	    o->inbound_port);

	/* The proxy's connections to the app come from this address. */
	init_buf_printf(b, "-A WEFT_OUTPUT -s %s -o lo -j RETURN\n", src);
	id[0] = o->proxy_uid;
	id[1] = o->proxy_gid;
	for (i = 0; i < 2; i++) {
		/* The proxy calling its own pod address: inbound side. */
		init_buf_printf(b,
		    "-A WEFT_OUTPUT ! -d %s -o lo -m owner --%s-owner %lu "
		    "-j WEFT_IN_REDIRECT\n",
		    lo, kind[i], id[i]);
		init_buf_printf(b,
		    "-A WEFT_OUTPUT -o lo -m owner ! --%s-owner %lu "
		    "-j RETURN\n",
		    kind[i], id[i]);
		init_buf_printf(b,
		    "-A WEFT_OUTPUT -m owner --%s-owner %lu -j RETURN\n",
		    kind[i], id[i]);
	}
	init_buf_printf(b, "-A WEFT_OUTPUT -d %s -j RETURN\n", lo);
	init_rules_ports(b, "WEFT_OUTPUT", &o->exclude_outbound, "RETURN");
	for (i = 0; i < o->exclude_cidrs.n; i++) {
		if (o->exclude_cidrs.v[i].family != family)
			continue;
		init_opts_cidr_str(&o->exclude_cidrs.v[i], cidr, sizeof(cidr));
		init_buf_printf(b, "-A WEFT_OUTPUT -d %s -j RETURN\n", cidr);
	}
	init_buf_printf(b, "-A WEFT_OUTPUT -j WEFT_REDIRECT\n");
	init_buf_printf(b,
	    "-A WEFT_REDIRECT -p tcp -j REDIRECT --to-ports %u\n",
	    o->outbound_port);
}

/*
 * The mangle table: the first packet of every flow the proxy does not
 * see (UDP, and TCP to excluded ports) goes to the proxy's NFQUEUE for
 * an L4 verdict. Conntrack calls a flow NEW until it sees a reply, so a
 * one-way UDP stream would be NEW packet after packet: WEFT_L4_QUEUE
 * marks the connection (INIT_L4_MARK) before it queues the packet. A
 * dropped packet takes its unconfirmed connection, mark included, with
 * it, so the next packet is judged again; once one is accepted, the
 * mark lets the rest of the flow through. Without --l4-fail-open there
 * is no --queue-bypass: with no proxy reading the queue, the packets
 * are dropped (fail closed); with it, they pass.
 */
/* What both L4 chains end with: flows judged already, then UDP. */
static void
init_rules_l4_common(struct init_buf *b, const char *chain)
{
	init_buf_printf(
	    b, "-A %s -m conntrack ! --ctstate NEW -j RETURN\n", chain);
	init_buf_printf(b, "-A %s -m connmark --mark 0x%x/0x%x -j RETURN\n",
	    chain, INIT_L4_MARK, INIT_L4_MARK);
	init_buf_printf(b, "-A %s -p udp -j WEFT_L4_QUEUE\n", chain);
}

static void
init_rules_mangle(struct init_table *t, const struct init_opts *o, int family)
{
	struct init_buf *b = t->rules;
	char cidr[64];
	size_t i;

	t->name = "mangle";
	t->nchains = 0;
	t->njumps = 0;
	if (o->l4_queue < 0)
		return;
	t->chains[t->nchains++] = "WEFT_L4_INBOUND";
	t->chains[t->nchains++] = "WEFT_L4_OUTPUT";
	t->chains[t->nchains++] = "WEFT_L4_QUEUE";
	t->jumps[t->njumps++] = "-A PREROUTING -j WEFT_L4_INBOUND";
	t->jumps[t->njumps++] = "-A OUTPUT -j WEFT_L4_OUTPUT";

	init_buf_printf(b, "-A WEFT_L4_INBOUND -i lo -j RETURN\n");
	init_rules_l4_common(b, "WEFT_L4_INBOUND");
	init_rules_ports(
	    b, "WEFT_L4_INBOUND", &o->exclude_inbound, "WEFT_L4_QUEUE");

	init_buf_printf(b, "-A WEFT_L4_OUTPUT -o lo -j RETURN\n");
	init_buf_printf(b,
	    "-A WEFT_L4_OUTPUT -m owner --uid-owner %lu -j RETURN\n",
	    (unsigned long)o->proxy_uid);
	init_buf_printf(b,
	    "-A WEFT_L4_OUTPUT -m owner --gid-owner %lu -j RETURN\n",
	    (unsigned long)o->proxy_gid);
	init_rules_l4_common(b, "WEFT_L4_OUTPUT");
	init_rules_ports(
	    b, "WEFT_L4_OUTPUT", &o->exclude_outbound, "WEFT_L4_QUEUE");
	for (i = 0; i < o->exclude_cidrs.n; i++) {
		if (o->exclude_cidrs.v[i].family != family)
			continue;
		init_opts_cidr_str(&o->exclude_cidrs.v[i], cidr, sizeof(cidr));
		init_buf_printf(b,
		    "-A WEFT_L4_OUTPUT -d %s -p tcp -j WEFT_L4_QUEUE\n", cidr);
	}

	init_buf_printf(b,
	    "-A WEFT_L4_QUEUE -j CONNMARK --set-xmark 0x%x/0x%x\n",
	    INIT_L4_MARK, INIT_L4_MARK);
	init_buf_printf(b, "-A WEFT_L4_QUEUE -j NFQUEUE --queue-num %d%s\n",
	    o->l4_queue, o->l4_fail_open ? " --queue-bypass" : "");
}

void
init_rules_install(struct init_buf *b, const struct init_opts *o, int family,
    const struct init_state *st)
{
	struct init_table t;

	memset(&t, 0, sizeof(t));
	t.rules = init_buf_new();
	init_rules_nat(&t, o, family);
	init_table_emit(b, &t, st);
	init_buf_free(t.rules);

	memset(&t, 0, sizeof(t));
	t.rules = init_buf_new();
	init_rules_mangle(&t, o, family);
	init_table_emit(b, &t, st);
	init_buf_free(t.rules);
}

size_t
init_rules_cleanup(struct init_buf *b, const struct init_state *st)
{
	static const char *const tables[] = {"nat", "mangle"};
	struct init_table t;
	size_t i, changes = 0;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		memset(&t, 0, sizeof(t));
		t.name = tables[i];
		changes += init_table_emit(b, &t, st);
	}
	return changes;
}
