#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_destinationrule.h"
#include "config_field.h"
#include "config_refs.h"
#include "config_virtualservice.h"
#include "xmalloc.h"

struct config_refs_state {
	const struct config_stored *before, *after;
	size_t nbefore, nafter;
	const struct config_change *changes;
	size_t nchanges;
	const struct config_stored *vs;   /* the VirtualService walked */
	const struct config_change *from; /* its change, or NULL */
	struct config_errors *errs;
};

static int
config_refs_defined(const struct config_stored *set, size_t n, const char *fqdn,
    const char *subset)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (set[i].kind == CONFIG_DESTINATION_RULE &&
		    config_dr_defines(
			set[i].spec, set[i].namespace, fqdn, subset))
			return 1;
	}
	return 0;
}

static const struct config_stored *
config_refs_find(const struct config_stored *set, size_t n,
    enum config_kind kind, const char *ns, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (set[i].kind == kind && strcmp(set[i].namespace, ns) == 0 &&
		    strcmp(set[i].name, name) == 0)
			return &set[i];
	}
	return NULL;
}

/* The last DestinationRule change that took subset of fqdn away. */
static const struct config_change *
config_refs_blame(
    struct config_refs_state *st, const char *fqdn, const char *subset)
{
	const struct config_stored *old;
	const struct config_change *c;
	size_t i;

	for (i = st->nchanges; i > 0; i--) {
		c = &st->changes[i - 1];
		if (c->kind != CONFIG_DESTINATION_RULE)
			continue;
		old = config_refs_find(st->before, st->nbefore,
		    CONFIG_DESTINATION_RULE, c->namespace, c->name);
		if (old != NULL &&
		    config_dr_defines(old->spec, old->namespace, fqdn, subset))
			return c;
	}
	return NULL;
}

static void
config_refs_one(
    const char *field, const char *host, const char *subset, void *arg)
{
	struct config_refs_state *st = arg;
	const struct config_change *c;
	char *fqdn, *what, path[256];

	fqdn = config_host_fqdn(host, st->vs->namespace);
	if (config_refs_defined(st->after, st->nafter, fqdn, subset))
		goto out;
	if (st->from != NULL) {
		what =
		    config_resource_what(CONFIG_VIRTUAL_SERVICE, st->vs->name);
		snprintf(path, sizeof(path), "%s%s%s", st->from->root,
		    *st->from->root != '\0' ? "." : "", field);
		config_errors_add(st->errs, st->from->file, st->from->doc, what,
		    path,
		    "subset \"%s\" of host \"%s\" is not defined by any "
		    "DestinationRule",
		    subset, host);
		free(what);
		goto out;
	}
	if (!config_refs_defined(st->before, st->nbefore, fqdn, subset))
		goto out; /* broken before this change: not its doing */
	c = config_refs_blame(st, fqdn, subset);
	if (c == NULL)
		goto out;
	what = config_resource_what(CONFIG_DESTINATION_RULE, c->name);
	snprintf(path, sizeof(path), "%s%sspec.subsets", c->root,
	    *c->root != '\0' ? "." : "");
	config_errors_add(st->errs, c->file, c->doc, what,
	    c->file != NULL ? path : NULL,
	    "subset \"%s\" of host \"%s\" is still used by VirtualService "
	    "%s/%s (%s)",
	    subset, host, st->vs->namespace, st->vs->name, field);
	free(what);
out:
	free(fqdn);
}

void
config_refs_check(const struct config_stored *before, size_t nbefore,
    const struct config_stored *after, size_t nafter,
    const struct config_change *changes, size_t nchanges,
    struct config_errors *errs)
{
	struct config_refs_state st;
	const struct config_change *c;
	size_t i, j;

	memset(&st, 0, sizeof(st));
	st.before = before;
	st.nbefore = nbefore;
	st.after = after;
	st.nafter = nafter;
	st.changes = changes;
	st.nchanges = nchanges;
	st.errs = errs;
	for (i = 0; i < nafter; i++) {
		if (after[i].kind != CONFIG_VIRTUAL_SERVICE)
			continue;
		st.vs = &after[i];
		st.from = NULL;
		for (j = nchanges; j > 0; j--) {
			c = &changes[j - 1];
			if (c->kind == CONFIG_VIRTUAL_SERVICE &&
			    strcmp(c->namespace, after[i].namespace) == 0 &&
			    strcmp(c->name, after[i].name) == 0) {
				st.from = c;
				break;
			}
		}
		config_vs_refs(after[i].spec, config_refs_one, &st);
	}
}
