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
#include "ctl.h"
#include "store_apply.h"
#include "store_db.h"
#include "xmalloc.h"

#define CTL_APPLY_TYPE "application/vnd.weft.apply+json"

/* apply --server: the server checks and writes, and says what it did. */
static int
ctl_apply_remote(
    struct ctl *ctl, json_t *files, const char *ns, int dry_run, const char *by)
{
	json_t *req, *resp = NULL, *results, *r;
	char *body;
	size_t i;
	int status;

	req = json_pack("{s:O, s:b, s:s}", "files", files, "dryRun", dry_run,
	    "appliedBy", by);
	if (ns != NULL)
		json_object_set_new(req, "namespace", json_string(ns));
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	status = ctl_remote_call(
	    ctl, "POST", "/v1/resources", CTL_APPLY_TYPE, body, &resp);
	free(body);
	if (status != 200) {
		json_decref(resp);
		return CTL_EXIT_FAIL;
	}
	results = json_object_get(resp, "results");
	json_array_foreach(results, i, r)
	{
		printf("%s/%s %s%s\n",
		    json_string_value(json_object_get(r, "resource")),
		    json_string_value(json_object_get(r, "name")),
		    json_string_value(json_object_get(r, "result")),
		    dry_run ? " (dry run)" : "");
	}
	json_decref(resp);
	return CTL_EXIT_OK;
}

int
ctl_apply(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"filename", required_argument, NULL, 'f'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"dry-run", no_argument, NULL, CTL_OPT_DRY_RUN},
	    CTL_COMMON_LONGOPTS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct config_resources rs = {NULL, 0};
	struct config_errors errs = {NULL, 0};
	enum store_apply_result *results = NULL;
	struct store_db *db = NULL;
	const char *ns = NULL;
	char **files, *cause = NULL, *by = NULL;
	json_t *raw = NULL;
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
		default:
			ctl_option_error("apply", ch, argv);
		}
	}
	if (optind < argc)
		ctl_usage_error(
		    "apply: unexpected argument \"%s\"", argv[optind]);
	if (nfiles == 0)
		ctl_usage_error("apply: -f FILE is required");

	if (ctl->server != NULL)
		raw = json_array();
	if (ctl_input_load(files, nfiles, ns, 0, &rs, &errs, raw) > 0) {
		ctl_print_errors(&errs);
		goto out;
	}
	if (rs.n == 0) {
		ctl_warnx("apply: no resources in the input");
		goto out;
	}
	if (ctl->server != NULL) {
		by = ctl_applied_by();
		rc = ctl_apply_remote(ctl, raw, ns, dry_run, by);
		goto out;
	}
	if ((db = ctl_open(ctl, 1)) == NULL)
		goto out;
	results = xcalloc(rs.n, sizeof(*results));
	by = ctl_applied_by();
	if (store_db_begin(db, &cause) == -1)
		goto fail;
	if (store_apply(db, &rs, by, results, &errs, &cause) == -1) {
		store_db_rollback(db);
		goto fail;
	}
	if (errs.n > 0) {
		store_db_rollback(db);
		ctl_print_errors(&errs);
		goto out;
	}
	if (dry_run)
		store_db_rollback(db);
	else if (store_db_commit(db, &cause) == -1) {
		store_db_rollback(db);
		goto fail;
	}
	for (i = 0; i < rs.n; i++)
		printf("%s/%s %s%s\n", store_kind_resource(rs.v[i]->kind),
		    rs.v[i]->name, store_apply_word(results[i]),
		    dry_run ? " (dry run)" : "");
	rc = CTL_EXIT_OK;
	goto out;
fail:
	ctl_warnx("%s", cause);
	free(cause);
out:
	store_db_close(db);
	json_decref(raw);
	free(by);
	free(results);
	config_resources_clear(&rs);
	config_errors_clear(&errs);
	free(files);
	return rc;
}
