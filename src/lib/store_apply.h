/*
 * Applying and deleting resources in a policy DB, as one caller's
 * transaction: the logic that weftctl --db and weft-server share, so
 * that both accept, refuse and report exactly alike.
 */
#ifndef WEFT_STORE_APPLY_H
#define WEFT_STORE_APPLY_H

#include <stddef.h>

#include "config_doc.h"
#include "config_refs.h"

struct store_db;
struct store_db_rows;

enum store_apply_result {
	STORE_APPLY_CREATED,
	STORE_APPLY_CONFIGURED,
	STORE_APPLY_UNCHANGED,
};

/* "created", "configured", "unchanged". */
const char *store_apply_word(enum store_apply_result r);

/* "virtualservice.networking.istio.io", into a static buffer. */
const char *store_kind_resource(enum config_kind kind);

/*
 * Writes the checked resources rs in the open transaction of db: a
 * resource stored with the same apiVersion and spec is left unchanged;
 * the policy version is bumped once when anything changed. Fills
 * results (rs->n entries). Broken subset references go to errs (the
 * caller then rolls back). Returns 0, or -1 with *cause on DB errors.
 */
int store_apply(struct store_db *db, const struct config_resources *rs,
    const char *applied_by, enum store_apply_result *results,
    struct config_errors *errs, char **cause);

/*
 * Deletes targets (n of them) in the open transaction of db; done[i]
 * says whether target i was there. A missing one is an error in errs
 * unless ignore_missing. Returns 0, or -1 with *cause on DB errors.
 */
int store_delete(struct store_db *db, const struct config_change *targets,
    size_t n, int ignore_missing, int *done, struct config_errors *errs,
    char **cause);

/*
 * The stored DestinationRules and VirtualServices, as rows and as the
 * array config_refs_check reads (pointing into rows; free(*out)).
 */
int store_snapshot(struct store_db *db, struct store_db_rows *rows,
    struct config_stored **out, char **cause);

#endif
