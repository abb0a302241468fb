/*
 * weftctl apply: checks every document of the input, then writes them
 * all in one transaction, or nothing. A resource that is stored with
 * the same apiVersion and spec is "unchanged" and left as it is; the
 * policy version is bumped only when something changed.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_field.h"
#include "config_refs.h"
#include "ctl.h"
#include "ctl_db.h"
#include "xmalloc.h"

enum ctl_apply_result {
	CTL_APPLY_CREATED,
	CTL_APPLY_CONFIGURED,
	CTL_APPLY_UNCHANGED,
};

static const char *const ctl_apply_words[] = {
    "created", "configured", "unchanged"};

int
ctl_snapshot(struct ctl_db *db, struct ctl_db_rows *rows,
    struct config_stored **out, char **cause)
{
	size_t i;

	if (ctl_db_list(db,
		CTL_DB_KIND(CONFIG_DESTINATION_RULE) |
		    CTL_DB_KIND(CONFIG_VIRTUAL_SERVICE),
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

int
ctl_check_refs(struct ctl_db *db, const struct ctl_db_rows *before,
    const struct config_stored *bs, const struct config_change *changes,
    size_t nchanges, struct config_errors *errs, char **cause)
{
	struct ctl_db_rows after = {NULL, 0};
	struct config_stored *as = NULL;

	if (ctl_snapshot(db, &after, &as, cause) == -1) {
		ctl_db_rows_clear(&after);
		return -1;
	}
	config_refs_check(bs, before->n, as, after.n, changes, nchanges, errs);
	free(as);
	ctl_db_rows_clear(&after);
	return 0;
}

/* Writes rs; fills results; returns 0, or -1 with *cause set. */
static int
ctl_apply_write(struct ctl_db *db, struct config_resources *rs,
    enum ctl_apply_result *results, struct config_errors *errs, char **cause)
{
	struct ctl_db_rows before = {NULL, 0};
	struct config_stored *bs = NULL;
	struct config_change *changes;
	struct config_resource *r;
	size_t i, nchanges = 0;
	char *api, *spec, *by;
	int64_t version;
	int rc = -1, found;

	changes = xcalloc(rs->n + 1, sizeof(*changes));
	by = ctl_applied_by();
	if (ctl_snapshot(db, &before, &bs, cause) == -1)
		goto out;
	for (i = 0; i < rs->n; i++) {
		r = rs->v[i];
		found = ctl_db_get(
		    db, r->kind, r->namespace, r->name, &api, &spec, cause);
		if (found == -1)
			goto out;
		if (found == 1) {
			results[i] = strcmp(api, r->api_version) == 0 &&
				config_spec_equal(spec, r->spec)
			    ? CTL_APPLY_UNCHANGED
			    : CTL_APPLY_CONFIGURED;
			free(api);
			free(spec);
		} else
			results[i] = CTL_APPLY_CREATED;
		if (results[i] == CTL_APPLY_UNCHANGED)
			continue;
		if (ctl_db_bump(db, &version, cause) == -1 ||
		    ctl_db_put(db, r, by, version, cause) == -1)
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
	    ctl_check_refs(db, &before, bs, changes, nchanges, errs, cause) ==
		-1)
		goto out;
	rc = 0;
out:
	free(bs);
	ctl_db_rows_clear(&before);
	free(changes);
	free(by);
	return rc;
}

int
ctl_apply(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"filename", required_argument, NULL, 'f'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"dry-run", no_argument, NULL, CTL_OPT_DRY_RUN},
	    {"db", required_argument, NULL, CTL_OPT_DB},
	    {"server", required_argument, NULL, CTL_OPT_SERVER},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct config_resources rs = {NULL, 0};
	struct config_errors errs = {NULL, 0};
	enum ctl_apply_result *results = NULL;
	struct ctl_db *db = NULL;
	const char *ns = NULL;
	char **files, *cause = NULL;
	size_t nfiles = 0, i;
	int ch, dry_run = 0, stdin_seen = 0, rc = CTL_EXIT_FAIL;

	files = xcalloc((size_t)argc + 1, sizeof(*files));
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":f:n:h", longopts, NULL)) != -1) {
		if (ctl_common_option(ctl, ch, optarg))
			continue;
		switch (ch) {
		case 'f':
			if (strcmp(optarg, "-") == 0 && stdin_seen++)
				ctl_usage_error("apply: -f - given twice");
			files[nfiles++] = optarg;
			break;
		case 'n':
			if (!config_dns_label(optarg))
				ctl_usage_error(
				    "apply: invalid namespace \"%s\"", optarg);
			ns = optarg;
			break;
		case CTL_OPT_DRY_RUN:
			dry_run = 1;
			break;
		case 'h':
			ctl_usage(stdout);
			exit(CTL_EXIT_OK);
		case ':':
			ctl_usage_error(
			    "apply: %s needs a value", argv[optind - 1]);
		default:
			ctl_usage_error(
			    "apply: unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		ctl_usage_error(
		    "apply: unexpected argument \"%s\"", argv[optind]);
	if (nfiles == 0)
		ctl_usage_error("apply: -f FILE is required");

	if (ctl_input_load(files, nfiles, ns, 0, &rs, &errs) > 0) {
		ctl_print_errors(&errs);
		goto out;
	}
	if (rs.n == 0) {
		ctl_warnx("apply: no resources in the input");
		goto out;
	}
	if ((db = ctl_open(ctl, 1)) == NULL)
		goto out;
	results = xcalloc(rs.n, sizeof(*results));
	if (ctl_db_begin(db, &cause) == -1)
		goto fail;
	if (ctl_apply_write(db, &rs, results, &errs, &cause) == -1) {
		ctl_db_rollback(db);
		goto fail;
	}
	if (errs.n > 0) {
		ctl_db_rollback(db);
		ctl_print_errors(&errs);
		goto out;
	}
	if (dry_run)
		ctl_db_rollback(db);
	else if (ctl_db_commit(db, &cause) == -1) {
		ctl_db_rollback(db);
		goto fail;
	}
	for (i = 0; i < rs.n; i++)
		printf("%s/%s %s%s\n", ctl_kind_resource(rs.v[i]->kind),
		    rs.v[i]->name, ctl_apply_words[results[i]],
		    dry_run ? " (dry run)" : "");
	rc = CTL_EXIT_OK;
	goto out;
fail:
	ctl_warnx("%s", cause);
	free(cause);
out:
	ctl_db_close(db);
	free(results);
	config_resources_clear(&rs);
	config_errors_clear(&errs);
	free(files);
	return rc;
}
