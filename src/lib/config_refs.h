/*
 * The references between resources that must hold after every change
 * to the policy: a VirtualService route destination or mirror that
 * names a subset needs a DestinationRule for that host defining it.
 * Checked on the whole policy before and after a change, so that one
 * apply (or delete) may add both sides, or remove both.
 */
#ifndef WEFT_CONFIG_REFS_H
#define WEFT_CONFIG_REFS_H

#include <stddef.h>

#include <jansson.h>

#include "config_doc.h"

/* A resource of the policy, as stored (its spec already checked). */
struct config_stored {
	enum config_kind kind;
	const char *namespace;
	const char *name;
	json_t *spec;
};

/* A resource a change wrote or deleted, and where it came from. */
struct config_change {
	enum config_kind kind;
	const char *namespace;
	const char *name;
	const char *file; /* NULL: named on the command line */
	int doc;
	const char *root; /* field path prefix in its document, or "" */
};

/*
 * Appends to errs an error for each subset reference that the policy
 * after the change breaks: the references of the VirtualServices the
 * change wrote must all hold after it, blamed on them; a reference of
 * another VirtualService that held before and no longer does is blamed
 * on the DestinationRule change that removed its subset. References
 * that were already broken before are left alone. before and after
 * hold the DestinationRules and VirtualServices (other kinds ignored).
 */
void config_refs_check(const struct config_stored *before, size_t nbefore,
    const struct config_stored *after, size_t nafter,
    const struct config_change *changes, size_t nchanges,
    struct config_errors *errs);

#endif
