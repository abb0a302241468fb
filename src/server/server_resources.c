/*
 * /v1/resources: apply, list, get and delete configuration through
 * weft-server, with the checks and messages of weftctl --db (the same
 * src/lib code), one transaction per request. A committed change
 * becomes one changeset of the feed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "config_field.h"
#include "config_input.h"
#include "log.h"
#include "server.h"
#include "server_db.h"
#include "store_apply.h"
#include "store_db.h"
#include "xmalloc.h"

#define SERVER_APPLY_TYPE "application/vnd.weft.apply+json"

/* 422 with every error, as weftctl prints them. */
static void
server_reply_config_errors(
    struct evhttp_request *req, const struct config_errors *errs)
{
	json_t *list = json_array();
	size_t i;
	char *s;

	for (i = 0; i < errs->n; i++) {
		s = config_error_string(&errs->v[i]);
		json_array_append_new(list,
		    json_pack("{s:s, s:b}", "message", s, "located",
			errs->v[i].file != NULL));
		free(s);
	}
	server_reply_json(req, 422, json_pack("{s:o}", "errors", list));
}

static json_t *
server_row_json(const struct store_db_row *r)
{
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s, s:s, s:I}", "kind",
	    config_kind_info(r->kind)->kind, "apiVersion", r->api_version,
	    "namespace", r->namespace, "name", r->name, "spec", r->spec,
	    "appliedBy", r->applied_by, "appliedAt", r->applied_at, "version",
	    (json_int_t)r->version);
	/* istio.io/dry-run and the like: a get must show what applies. */
	if (o != NULL && r->annotations != NULL)
		json_object_set(o, "annotations", r->annotations);
	return o;
}

/* Reads the apply input: weftctl's files, or a plain YAML/JSON body. */
static int
server_apply_input(struct evhttp_request *req, struct config_resources *rs,
    struct config_errors *errs, int *dry_run, char **applied_by)
{
	const char *ctype, *ns = NULL, *name, *content;
	json_t *body, *files, *f;
	char *buf, *q_ns, *q_dry;
	size_t len, i;

	ctype = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Content-Type");
	if (ctype != NULL &&
	    strncmp(ctype, SERVER_APPLY_TYPE, strlen(SERVER_APPLY_TYPE)) == 0) {
		if ((body = server_body_json(req)) == NULL)
			return -1;
		ns = json_string_value(json_object_get(body, "namespace"));
		*dry_run = json_is_true(json_object_get(body, "dryRun"));
		if ((name = json_string_value(
			 json_object_get(body, "appliedBy"))) != NULL)
			*applied_by = xstrdup(name);
		files = json_object_get(body, "files");
		if (!json_is_array(files)) {
			json_decref(body);
			server_reply_error(req, 400, "files: expected a list");
			return -1;
		}
		json_array_foreach(files, i, f)
		{
			name = json_string_value(json_object_get(f, "name"));
			content =
			    json_string_value(json_object_get(f, "content"));
			if (name == NULL || content == NULL) {
				json_decref(body);
				server_reply_error(req, 400,
				    "files[%zu]: expected name and content", i);
				return -1;
			}
			config_input_buffer(content,
			    json_string_length(json_object_get(f, "content")),
			    name, ns, 0, rs, errs);
		}
		json_decref(body);
		return 0;
	}
	q_ns = server_query(req, "namespace");
	q_dry = server_query(req, "dryRun");
	*dry_run = q_dry != NULL && strcmp(q_dry, "true") == 0;
	if ((buf = server_body(req, &len)) == NULL) {
		free(q_ns);
		free(q_dry);
		server_reply_error(req, 500, "out of memory");
		return -1;
	}
	config_input_buffer(buf, len, "<request>", q_ns, 0, rs, errs);
	free(buf);
	free(q_ns);
	free(q_dry);
	return 0;
}

static void
server_apply(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c)
{
	struct config_resources rs = {NULL, 0};
	struct config_errors errs = {NULL, 0};
	enum store_apply_result *results = NULL;
	char *by = NULL, *cause = NULL;
	json_t *list;
	int64_t version;
	size_t i;
	int dry_run = 0;

	if (server_apply_input(req, &rs, &errs, &dry_run, &by) == -1)
		goto out;
	if (errs.n > 0) {
		server_reply_config_errors(req, &errs);
		goto out;
	}
	if (rs.n == 0) {
		server_reply_error(req, 422, "no resources in the input");
		goto out;
	}
	if (by == NULL)
		by = xstrdup(c->spiffe_id);
	results = xcalloc(rs.n, sizeof(*results));
	if (server_db_begin(srv->db, &cause) == -1)
		goto fail;
	if (store_apply(server_db_store(srv->db), &rs, by, results, &errs,
		&cause) == -1) {
		server_db_rollback(srv->db);
		goto fail;
	}
	if (errs.n > 0 || dry_run) {
		server_db_rollback(srv->db);
		if (errs.n > 0) {
			server_reply_config_errors(req, &errs);
			goto out;
		}
	} else if (server_db_commit(srv->db, &version, &cause) == -1)
		goto fail;
	else if (version > 0) {
		log_info("applied %zu resources: policy version %lld (by %s)",
		    rs.n, (long long)version, by);
		server_feed_committed(srv, version);
	}
	list = json_array();
	for (i = 0; i < rs.n; i++)
		json_array_append_new(list,
		    json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind",
			config_kind_info(rs.v[i]->kind)->kind, "resource",
			store_kind_resource(rs.v[i]->kind), "namespace",
			rs.v[i]->namespace, "name", rs.v[i]->name, "result",
			store_apply_word(results[i])));
	server_reply_json(req, 200,
	    json_pack("{s:I, s:b, s:o}", "version", (json_int_t)srv->version,
		"dryRun", dry_run, "results", list));
	goto out;
fail:
	log_warnx("apply: %s", cause);
	server_reply_error(req, 500, "%s", cause);
	free(cause);
out:
	free(results);
	free(by);
	config_resources_clear(&rs);
	config_errors_clear(&errs);
}

static void
server_list(struct server *srv, struct evhttp_request *req)
{
	struct store_db_rows rows = {NULL, 0};
	enum config_kind kind;
	unsigned int mask = STORE_DB_ALL_KINDS;
	char *qkind, *qns, *qname, *cause = NULL;
	json_t *items;
	size_t i;

	qkind = server_query(req, "kind");
	qns = server_query(req, "namespace");
	qname = server_query(req, "name");
	if (qkind != NULL && strcmp(qkind, "all") != 0) {
		if (config_kind_parse(qkind, &kind) == -1) {
			server_reply_error(
			    req, 400, "unknown kind \"%s\"", qkind);
			goto out;
		}
		mask = STORE_DB_KIND(kind);
	}
	if (store_db_list(server_db_store(srv->db), mask, qns, qname, &rows,
		&cause) == -1) {
		server_reply_error(req, 500, "%s", cause);
		free(cause);
		goto out;
	}
	items = json_array();
	for (i = 0; i < rows.n; i++)
		json_array_append_new(items, server_row_json(&rows.v[i]));
	server_reply_json(req, 200,
	    json_pack("{s:I, s:o}", "version", (json_int_t)srv->version,
		"items", items));
out:
	store_db_rows_clear(&rows);
	free(qkind);
	free(qns);
	free(qname);
}

/* Deletes targets in one transaction; replies. */
static void
server_delete(struct server *srv, struct evhttp_request *req,
    const struct config_change *targets, size_t n, int ignore_missing)
{
	struct config_errors errs = {NULL, 0};
	char *cause = NULL;
	json_t *list;
	int64_t version;
	size_t i;
	int *done, missing = 0;

	done = xcalloc(n + 1, sizeof(*done));
	if (server_db_begin(srv->db, &cause) == -1)
		goto fail;
	if (store_delete(server_db_store(srv->db), targets, n, ignore_missing,
		done, &errs, &cause) == -1) {
		server_db_rollback(srv->db);
		goto fail;
	}
	if (errs.n > 0) {
		server_db_rollback(srv->db);
		for (i = 0; i < n; i++)
			missing += !done[i];
		if (n == 1 && missing == 1) {
			char *s = config_error_string(&errs.v[0]);

			server_reply_error(req, 404, "%s", s);
			free(s);
		} else
			server_reply_config_errors(req, &errs);
		goto out;
	}
	if (server_db_commit(srv->db, &version, &cause) == -1)
		goto fail;
	if (version > 0)
		server_feed_committed(srv, version);
	list = json_array();
	for (i = 0; i < n; i++)
		if (done[i])
			json_array_append_new(list,
			    json_pack("{s:s, s:s, s:s, s:s}", "kind",
				config_kind_info(targets[i].kind)->kind,
				"resource",
				store_kind_resource(targets[i].kind),
				"namespace", targets[i].namespace, "name",
				targets[i].name));
	server_reply_json(req, 200,
	    json_pack("{s:I, s:o}", "version", (json_int_t)srv->version,
		"deleted", list));
	goto out;
fail:
	log_warnx("delete: %s", cause);
	server_reply_error(req, 500, "%s", cause);
	free(cause);
out:
	config_errors_clear(&errs);
	free(done);
}

/* POST /v1/resources/delete {"targets": [...], "ignoreNotFound": b} */
static void
server_delete_batch(struct server *srv, struct evhttp_request *req)
{
	struct config_change *targets;
	json_t *body, *list, *t;
	const char *k;
	size_t i, n;

	if ((body = server_body_json(req)) == NULL)
		return;
	list = json_object_get(body, "targets");
	n = json_array_size(list);
	if (!json_is_array(list) || n == 0) {
		server_reply_error(req, 400, "targets: expected a list");
		json_decref(body);
		return;
	}
	targets = xcalloc(n, sizeof(*targets));
	json_array_foreach(list, i, t)
	{
		k = json_string_value(json_object_get(t, "kind"));
		targets[i].namespace =
		    json_string_value(json_object_get(t, "namespace"));
		targets[i].name = json_string_value(json_object_get(t, "name"));
		targets[i].file = json_string_value(json_object_get(t, "file"));
		targets[i].doc =
		    (int)json_integer_value(json_object_get(t, "doc"));
		targets[i].root = "";
		if (k == NULL || config_kind_parse(k, &targets[i].kind) == -1 ||
		    targets[i].namespace == NULL || targets[i].name == NULL) {
			server_reply_error(req, 400,
			    "targets[%zu]: expected kind, namespace and name",
			    i);
			goto out;
		}
	}
	server_delete(srv, req, targets, n,
	    json_is_true(json_object_get(body, "ignoreNotFound")));
out:
	free(targets);
	json_decref(body);
}

void
server_resources_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c, const char *rest)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct store_db_rows rows = {NULL, 0};
	struct config_change t;
	char kind_s[64], ns[256], name[256], *cause = NULL;

	if (server_require_admin(req, c) == -1)
		return;
	if (*rest == '\0') {
		if (cmd == EVHTTP_REQ_POST)
			server_apply(srv, req, c);
		else if (cmd == EVHTTP_REQ_GET)
			server_list(srv, req);
		else
			server_reply_error(req, 405, "use GET or POST");
		return;
	}
	if (strcmp(rest, "delete") == 0 && cmd == EVHTTP_REQ_POST) {
		server_delete_batch(srv, req);
		return;
	}
	memset(&t, 0, sizeof(t));
	if (sscanf(rest, "%63[^/]/%255[^/]/%255[^/]", kind_s, ns, name) != 3 ||
	    config_kind_parse(kind_s, &t.kind) == -1) {
		server_reply_error(
		    req, 404, "expected /v1/resources/KIND/NAMESPACE/NAME");
		return;
	}
	t.namespace = ns;
	t.name = name;
	t.root = "";
	if (cmd == EVHTTP_REQ_DELETE) {
		server_delete(srv, req, &t, 1, 0);
		return;
	}
	if (cmd != EVHTTP_REQ_GET) {
		server_reply_error(req, 405, "use GET or DELETE");
		return;
	}
	if (store_db_list(server_db_store(srv->db), STORE_DB_KIND(t.kind), ns,
		name, &rows, &cause) == -1) {
		server_reply_error(req, 500, "%s", cause);
		free(cause);
	} else if (rows.n == 0)
		server_reply_error(req, 404,
		    "%s \"%s\" not found in namespace %s",
		    store_kind_resource(t.kind), name, ns);
	else
		server_reply_json(req, 200, server_row_json(&rows.v[0]));
	store_db_rows_clear(&rows);
}
