/*
 * weftctl delete: removes resources named on the command line or in
 * files, in one transaction; refused when a VirtualService still uses a
 * subset that the deletion would take away.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_field.h"
#include "config_refs.h"
#include "ctl.h"
#include "store_apply.h"
#include "store_db.h"
#include "xmalloc.h"

static int
ctl_delete_seen(
    const struct config_change *v, size_t n, const struct config_change *c)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (v[i].kind == c->kind &&
		    strcmp(v[i].namespace, c->namespace) == 0 &&
		    strcmp(v[i].name, c->name) == 0)
			return 1;
	}
	return 0;
}

/* delete --server: one transaction on the server, as locally. */
static int
ctl_delete_remote(
    struct ctl *ctl, const struct config_change *targets, size_t n, int ignore)
{
	json_t *list, *req, *resp = NULL, *d;
	char *body;
	size_t i;
	int status;

	list = json_array();
	for (i = 0; i < n; i++) {
		req = json_pack("{s:s, s:s, s:s}", "kind",
		    config_kind_info(targets[i].kind)->kind, "namespace",
		    targets[i].namespace, "name", targets[i].name);
		if (targets[i].file != NULL) {
			json_object_set_new(
			    req, "file", json_string(targets[i].file));
			json_object_set_new(
			    req, "doc", json_integer(targets[i].doc));
		}
		json_array_append_new(list, req);
	}
	req =
	    json_pack("{s:o, s:b}", "targets", list, "ignoreNotFound", ignore);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	status = ctl_remote_call(ctl, "POST", "/v1/resources/delete",
	    "application/json", body, &resp);
	free(body);
	if (status != 200) {
		json_decref(resp);
		return CTL_EXIT_FAIL;
	}
	json_array_foreach(json_object_get(resp, "deleted"), i, d)
	{
		printf("%s \"%s\" deleted\n",
		    json_string_value(json_object_get(d, "resource")),
		    json_string_value(json_object_get(d, "name")));
	}
	json_decref(resp);
	return CTL_EXIT_OK;
}

int
ctl_delete(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"filename", required_argument, NULL, 'f'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"ignore-not-found", no_argument, NULL, CTL_OPT_IGNORE_NOT_FOUND},
	    CTL_COMMON_LONGOPTS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct config_resources rs = {NULL, 0};
	struct config_errors errs = {NULL, 0};
	struct config_change *targets = NULL, t;
	enum config_kind kind;
	struct store_db *db = NULL;
	const char *ns = NULL;
	char **files, *cause = NULL;
	size_t nfiles = 0, ntargets = 0, i;
	int ch, ignore = 0, stdin_seen = 0, rc = CTL_EXIT_FAIL, *done = NULL;

	files = xcalloc((size_t)argc + 1, sizeof(*files));
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":f:n:h", longopts, NULL)) != -1) {
		if (ctl_common_option(ctl, ch, optarg))
			continue;
		switch (ch) {
		case 'f':
			if (strcmp(optarg, "-") == 0 && stdin_seen++)
				ctl_usage_error("delete: -f - given twice");
			files[nfiles++] = optarg;
			break;
		case 'n':
			if (!config_dns_label(optarg))
				ctl_usage_error(
				    "delete: invalid namespace \"%s\"", optarg);
			ns = optarg;
			break;
		case CTL_OPT_IGNORE_NOT_FOUND:
			ignore = 1;
			break;
		case 'h':
			ctl_usage(stdout);
			exit(CTL_EXIT_OK);
		default:
			ctl_option_error("delete", ch, argv);
		}
	}
	targets = xcalloc((size_t)argc + 1, sizeof(*targets));
	if (nfiles > 0) {
		if (optind < argc)
			ctl_usage_error("delete: give -f FILE or KIND NAME, "
					"not both");
		if (ctl_input_load(files, nfiles, ns, CONFIG_ENVELOPE_ONLY, &rs,
			&errs, NULL) > 0) {
			ctl_print_errors(&errs);
			goto out;
		}
		free(targets);
		targets = xcalloc(rs.n + 1, sizeof(*targets));
		for (i = 0; i < rs.n; i++) {
			t.kind = rs.v[i]->kind;
			t.namespace = rs.v[i]->namespace;
			t.name = rs.v[i]->name;
			t.file = rs.v[i]->file;
			t.doc = rs.v[i]->doc;
			t.root = rs.v[i]->root;
			if (!ctl_delete_seen(targets, ntargets, &t))
				targets[ntargets++] = t;
		}
	} else {
		if (optind >= argc)
			ctl_usage_error("delete: KIND NAME... or -f FILE is "
					"required");
		if (strcmp(argv[optind], "all") == 0 ||
		    config_kind_parse(argv[optind], &kind) == -1)
			ctl_usage_error(
			    "delete: unknown kind \"%s\" (" CTL_KINDS ")",
			    argv[optind]);
		if (optind + 1 >= argc)
			ctl_usage_error("delete: NAME is required");
		for (i = (size_t)optind + 1; i < (size_t)argc; i++) {
			if (!config_dns_subdomain(argv[i]))
				ctl_usage_error(
				    "delete: invalid name \"%s\"", argv[i]);
			memset(&t, 0, sizeof(t));
			t.kind = kind;
			t.namespace =
			    ns != NULL ? ns : CONFIG_DEFAULT_NAMESPACE;
			t.name = argv[i];
			t.root = "";
			if (!ctl_delete_seen(targets, ntargets, &t))
				targets[ntargets++] = t;
		}
	}
	if (ntargets == 0) {
		ctl_warnx("delete: no resources in the input");
		goto out;
	}
	if (ctl->server != NULL) {
		rc = ctl_delete_remote(ctl, targets, ntargets, ignore);
		goto out;
	}
	if ((db = ctl_open(ctl, 1)) == NULL)
		goto out;
	done = xcalloc(ntargets, sizeof(*done));
	if (store_db_begin(db, &cause) == -1)
		goto fail;
	if (store_delete(db, targets, ntargets, ignore, done, &errs, &cause) ==
	    -1) {
		store_db_rollback(db);
		goto fail;
	}
	if (errs.n > 0) {
		store_db_rollback(db);
		ctl_print_errors(&errs);
		goto out;
	}
	if (store_db_commit(db, &cause) == -1) {
		store_db_rollback(db);
		goto fail;
	}
	for (i = 0; i < ntargets; i++) {
		if (done[i])
			printf("%s \"%s\" deleted\n",
			    store_kind_resource(targets[i].kind),
			    targets[i].name);
	}
	rc = CTL_EXIT_OK;
	goto out;
fail:
	ctl_warnx("%s", cause);
	free(cause);
out:
	store_db_close(db);
	free(done);
	free(targets);
	config_resources_clear(&rs);
	config_errors_clear(&errs);
	free(files);
	return rc;
}
