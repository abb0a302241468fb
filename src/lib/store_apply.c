/*
 * Apply and delete in a policy DB (see store_apply.h). Every document
 * was checked before; what remains to check here is what depends on
 * the stored policy: subset references between DestinationRules and
 * VirtualServices, before and after the transaction's changes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_field.h"
#include "store_apply.h"
#include "store_db.h"
#include "xmalloc.h"

static const char *const store_apply_words[] = {
    "created", "configured", "unchanged"};

const char *
store_apply_word(enum store_apply_result r)
{
	return store_apply_words[r];
}

const char *
store_kind_resource(enum config_kind kind)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s.%s", config_kind_info(kind)->singular,
	    config_kind_info(kind)->group);
	return buf;
}

int
store_snapshot(struct store_db *db, struct store_db_rows *rows,
    struct config_stored **out, char **cause)
{
	size_t i;

	if (store_db_list(db,
		STORE_DB_KIND(CONFIG_DESTINATION_RULE) |
		    STORE_DB_KIND(CONFIG_VIRTUAL_SERVICE),
		NULL, NULL, rows, cause) == -1)
		return -1;
	*out = xcalloc(rows->n + 1, sizeof(**out));
	for (i = 0; i < rows->n; i++) {
		(*out)[i].kind = rows->v[i].kind;
		(*out)[i].namespace = rows->v[i].namespace;
		(*out)[i].name = rows->v[i].name;
		(*out)[i].spec = rows->v[i].spec;
	}
	return 0;
}

/*
 * Checks the subset references of the policy as the open transaction
 * left it against before (a store_snapshot taken at its start), for
 * the changes made.
 */
static int
store_check_refs(struct store_db *db, const struct store_db_rows *before,
    const struct config_stored *bs, const struct config_change *changes,
    size_t nchanges, struct config_errors *errs, char **cause)
{
	struct store_db_rows after = {NULL, 0};
	struct config_stored *as = NULL;

	if (store_snapshot(db, &after, &as, cause) == -1) {
		store_db_rows_clear(&after);
		return -1;
	}
	config_refs_check(bs, before->n, as, after.n, changes, nchanges, errs);
	free(as);
	store_db_rows_clear(&after);
	return 0;
}

int
store_apply(struct store_db *db, const struct config_resources *rs,
    const char *applied_by, enum store_apply_result *results,
    struct config_errors *errs, char **cause)
{
	struct store_db_rows before = {NULL, 0};
	struct config_stored *bs = NULL;
	struct config_change *changes;
	struct config_resource *r;
	size_t i, nchanges = 0;
	char *api, *spec, *annotations;
	int64_t version;
	int rc = -1, found;

	changes = xcalloc(rs->n + 1, sizeof(*changes));
	if (store_snapshot(db, &before, &bs, cause) == -1)
		goto out;
	for (i = 0; i < rs->n; i++) {
		r = rs->v[i];
		found = store_db_get(db, r->kind, r->namespace, r->name, &api,
		    &spec, &annotations, cause);
		if (found == -1)
			goto out;
		if (found == 1) {
			results[i] = strcmp(api, r->api_version) == 0 &&
				config_spec_equal(spec, r->spec) &&
				(annotations == NULL ? r->annotations == NULL
						     : r->annotations != NULL &&
					    config_spec_equal(
						annotations, r->annotations))
			    ? STORE_APPLY_UNCHANGED
			    : STORE_APPLY_CONFIGURED;
			free(api);
			free(spec);
			free(annotations);
		} else
			results[i] = STORE_APPLY_CREATED;
		if (results[i] == STORE_APPLY_UNCHANGED)
			continue;
		if (store_db_bump(db, &version, cause) == -1 ||
		    store_db_put(db, r, applied_by, version, cause) == -1)
			goto out;
		changes[nchanges].kind = r->kind;
		changes[nchanges].namespace = r->namespace;
		changes[nchanges].name = r->name;
		changes[nchanges].file = r->file;
		changes[nchanges].doc = r->doc;
		changes[nchanges].root = r->root;
		nchanges++;
	}
	if (nchanges > 0 &&
	    store_check_refs(db, &before, bs, changes, nchanges, errs, cause) ==
		-1)
		goto out;
	rc = 0;
out:
	free(bs);
	store_db_rows_clear(&before);
	free(changes);
	return rc;
}

int
store_delete(struct store_db *db, const struct config_change *targets, size_t n,
    int ignore_missing, int *done, struct config_errors *errs, char **cause)
{
	struct store_db_rows before = {NULL, 0};
	struct config_stored *bs = NULL;
	struct config_change *changes;
	size_t i, nchanges = 0;
	int64_t version;
	int rc = -1, r;

	changes = xcalloc(n + 1, sizeof(*changes));
	if (store_snapshot(db, &before, &bs, cause) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		r = store_db_delete(db, targets[i].kind, targets[i].namespace,
		    targets[i].name, cause);
		if (r == -1)
			goto out;
		done[i] = r;
		if (r == 0) {
			if (!ignore_missing)
				config_errors_add(errs, targets[i].file,
				    targets[i].doc, NULL, NULL,
				    "%s \"%s\" not found in namespace %s",
				    store_kind_resource(targets[i].kind),
				    targets[i].name, targets[i].namespace);
			continue;
		}
		if (store_db_bump(db, &version, cause) == -1)
			goto out;
		changes[nchanges++] = targets[i];
	}
	if (nchanges > 0 && errs->n == 0 &&
	    store_check_refs(db, &before, bs, changes, nchanges, errs, cause) ==
		-1)
		goto out;
	rc = 0;
out:
	free(bs);
	store_db_rows_clear(&before);
	free(changes);
	return rc;
}
