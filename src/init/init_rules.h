/*
 * The capture rules as iptables-restore input. Pure text work: what is
 * installed comes in as iptables-save output, what to install as
 * struct init_opts, and out comes the input for one
 * "iptables-restore --noflush" run that moves the first to the second.
 */
#ifndef WEFT_INIT_RULES_H
#define WEFT_INIT_RULES_H

#include <stddef.h>

#include "init_buf.h"
#include "init_opts.h"

/* Every chain weft creates starts with this; the prefix is weft's. */
#define INIT_CHAIN_PREFIX "WEFT_"

struct init_item {
	char *table;
	char *text; /* a chain name, or the "-A CHAIN ..." line of a jump */
};

/* What weft owns in the tables of one address family. */
struct init_state {
	struct init_item *chains; /* the WEFT_ chains */
	size_t nchains;
	struct init_item *jumps; /* built-in chain rules jumping to them */
	size_t njumps;
};

/* Returns an empty state; exits on allocation failure. */
struct init_state *init_state_new(void);
/* Frees st and what it holds; NULL is a no-op. */
void init_state_free(struct init_state *st);
/* Adds to st the WEFT_ chains and the jumps to them from built-in
 * chains found in save, the output of iptables-save (any tables). */
void init_state_parse(struct init_state *st, const char *save);
/* Returns the number of chains and jumps st holds. */
size_t init_state_count(const struct init_state *st);

/*
 * Appends to b the restore input that leaves exactly the rules of o for
 * family (AF_INET or AF_INET6) installed, given st, what is installed
 * now: the WEFT_ chains are declared (which flushes them) and refilled,
 * chains no longer wanted are removed, and a jump from a built-in chain
 * is added only when it is missing, so that running it twice changes
 * nothing.
 */
void init_rules_install(struct init_buf *b, const struct init_opts *o,
    int family, const struct init_state *st);
/*
 * Appends to b the restore input that removes everything st holds: the
 * jumps from built-in chains, then the WEFT_ chains. Returns the number
 * of chains and jumps removed; when 0, nothing was appended.
 */
size_t init_rules_cleanup(struct init_buf *b, const struct init_state *st);

#endif
