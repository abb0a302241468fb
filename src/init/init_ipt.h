/*
 * The iptables tools of one address family: reading what is installed
 * with *-save, installing with one *-restore --noflush run, and
 * detecting rules left in the other backend (legacy or nf_tables).
 */
#ifndef WEFT_INIT_IPT_H
#define WEFT_INIT_IPT_H

#include "init_buf.h"
#include "init_rules.h"

struct init_ipt {
	int family;         /* AF_INET or AF_INET6 */
	char *restore;      /* path of the restore program weft-init uses */
	char *save;         /* the save program of the same backend */
	char *other_save;   /* the save program of the other backend */
	char *restore_name; /* "iptables-restore", for messages */
	int legacy;         /* restore is the legacy (not nf_tables) variant */
};

/*
 * Finds the tools of family (AF_INET or AF_INET6) next to the
 * configured restore program and asks it for its backend. Returns 0, or
 * -1 with *cause set (allocated) when it is missing or does not run.
 * Release with init_ipt_close.
 */
int init_ipt_open(struct init_ipt *ipt, int family, char **cause);
/* Frees what init_ipt_open allocated. */
void init_ipt_close(struct init_ipt *ipt);
/* Adds what weft owns in the nat and mangle tables to st. Returns 0,
 * or -1 with *cause set (allocated). */
int init_ipt_state(
    const struct init_ipt *ipt, struct init_state *st, char **cause);
/*
 * Counts the rules of the nat table in the other backend (without
 * loading any kernel module). Returns 0 when it holds none or is not
 * installed, or -1 with *cause set (allocated) explaining the mismatch.
 * When weft_only is set, only WEFT_ chains count.
 */
int init_ipt_mismatch(const struct init_ipt *ipt, int weft_only, char **cause);
/* Runs restore --noflush with input on its stdin. Returns 0, or -1 with
 * *cause set (allocated) quoting its error and the input line it names. */
int init_ipt_restore(
    const struct init_ipt *ipt, const struct init_buf *input, char **cause);

#endif
