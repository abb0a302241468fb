/*
 * weftctl --server: the same commands through weft-server's HTTPS API.
 * The server runs the same checks as weftctl --db (the src/lib code),
 * so its answers print exactly as local ones do.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "ca.h"
#include "ctl.h"
#include "https_client.h"
#include "replica_db.h"
#include "store_db.h"
#include "xmalloc.h"

static char *
ctl_remote_token(struct ctl *ctl)
{
	char *path = NULL, *text, *cause = NULL;

	if (ctl->token_file == NULL)
		xasprintf(&path, "%s/admin.token", CTL_SERVER_DIR);
	if ((text = ca_read_file(
		 ctl->token_file != NULL ? ctl->token_file : path, &cause)) ==
	    NULL) {
		ctl_warnx(
		    "token: %s (give --token-file or WEFT_TOKEN_FILE)", cause);
		free(cause);
	} else
		text[strcspn(text, "\r\n")] = '\0';
	free(path);
	return text;
}

/* Prints the errors of a refused call, as weftctl --db would. */
static void
ctl_remote_errors(const json_t *resp)
{
	const json_t *list, *e;
	const char *msg;
	size_t i;

	list = json_object_get(resp, "errors");
	if (json_is_array(list)) {
		json_array_foreach(list, i, e)
		{
			msg = json_string_value(json_object_get(e, "message"));
			if (json_is_true(json_object_get(e, "located")))
				fprintf(
				    stderr, "%s\n", msg != NULL ? msg : "?");
			else
				ctl_warnx("%s", msg != NULL ? msg : "?");
		}
		return;
	}
	msg = json_string_value(json_object_get(resp, "error"));
	ctl_warnx("%s", msg != NULL ? msg : "the server failed");
}

int
ctl_remote_call(struct ctl *ctl, const char *method, const char *target,
    const char *ctype, const char *body, json_t **out)
{
	struct https_client_conf conf;
	struct https_response r;
	char *ca = NULL, *token, *cause = NULL;
	json_error_t err;
	int status = -1;

	*out = NULL;
	memset(&conf, 0, sizeof(conf));
	if (ctl->cert_file != NULL) {
		/* An admin client certificate stands for the token. */
		token = NULL;
		conf.cert_file = ctl->cert_file;
		conf.key_file = ctl->key_file;
	} else if ((token = ctl_remote_token(ctl)) == NULL)
		return -1;
	if (ctl->ca_file == NULL)
		xasprintf(&ca, "%s/ca.pem", CTL_SERVER_DIR);
	conf.ca_file = ctl->ca_file != NULL ? ctl->ca_file : ca;
	conf.bearer = token;
	conf.timeout_sec = 60;
	memset(&r, 0, sizeof(r));
	if (https_client_fetch(ctl->server, &conf, method, target, ctype, body,
		body != NULL ? strlen(body) : 0, &r, &cause) == -1) {
		ctl_warnx("%s: %s", ctl->server, cause);
		free(cause);
		goto out;
	}
	if (r.status == 0) {
		ctl_warnx("%s: %s", ctl->server,
		    r.error != NULL ? r.error : "no answer");
		goto out;
	}
	if (r.body != NULL && r.len > 0 &&
	    (*out = json_loadb(r.body, r.len, 0, &err)) == NULL) {
		ctl_warnx("%s: HTTP %d, not JSON: %s", ctl->server, r.status,
		    err.text);
		goto out;
	}
	status = r.status;
	if (status != 200)
		ctl_remote_errors(*out);
out:
	https_response_clear(&r);
	free(token);
	free(ca);
	return status;
}

static char *
ctl_remote_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return xstrdup(s != NULL ? s : "");
}

int
ctl_remote_list(struct ctl *ctl, const char *kind, const char *ns,
    const char *name, struct store_db_rows *rows)
{
	json_t *resp = NULL, *items, *it;
	struct store_db_row *r;
	enum config_kind k;
	char *target;
	size_t i;
	int status;

	xasprintf(&target, "/v1/resources?kind=%s%s%s%s%s", kind,
	    ns != NULL ? "&namespace=" : "", ns != NULL ? ns : "",
	    name != NULL ? "&name=" : "", name != NULL ? name : "");
	status = ctl_remote_call(ctl, "GET", target, NULL, NULL, &resp);
	free(target);
	if (status != 200) {
		json_decref(resp);
		return -1;
	}
	items = json_object_get(resp, "items");
	rows->v = xcalloc(json_array_size(items) + 1, sizeof(*rows->v));
	json_array_foreach(items, i, it)
	{
		if (config_kind_lookup(
			json_string_value(json_object_get(it, "kind")), &k) ==
		    -1)
			continue;
		r = &rows->v[rows->n++];
		r->kind = k;
		r->namespace = ctl_remote_str(it, "namespace");
		r->name = ctl_remote_str(it, "name");
		r->api_version = ctl_remote_str(it, "apiVersion");
		r->spec = json_incref(json_object_get(it, "spec"));
		/* Only from a server that keeps them. */
		if (json_object_size(json_object_get(it, "annotations")) > 0)
			r->annotations =
			    json_incref(json_object_get(it, "annotations"));
		r->spec_text = json_dumps(r->spec, JSON_COMPACT);
		r->applied_by = ctl_remote_str(it, "appliedBy");
		r->applied_at = ctl_remote_str(it, "appliedAt");
		r->version = json_integer_value(json_object_get(it, "version"));
	}
	json_decref(resp);
	return 0;
}

void
ctl_remote_copy_remove(const char *dir)
{
	static const char *const names[] = {
	    "policy.db", "policy.db-wal", "policy.db-shm"};
	char path[128];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

struct store_db *
ctl_remote_copy(struct ctl *ctl, char *dir)
{
	struct store_db *db = NULL;
	const char *b64;
	void *blob = NULL;
	json_t *resp = NULL;
	char path[128], *cause = NULL;
	size_t n = 0;
	int status;

	status = ctl_remote_call(ctl, "GET", "/v1/snapshot", NULL, NULL, &resp);
	if (status != 200)
		goto out;
	b64 = json_string_value(json_object_get(resp, "snapshot"));
	if (b64 == NULL || (blob = base64_decode(b64, &n)) == NULL) {
		ctl_warnx("%s: the snapshot is not base64", ctl->server);
		goto out;
	}
	snprintf(dir, 64, "%s/weftctl.XXXXXX",
	    getenv("TMPDIR") != NULL && strlen(getenv("TMPDIR")) < 32
		? getenv("TMPDIR")
		: "/tmp");
	if (mkdtemp(dir) == NULL) {
		ctl_warnx("%s: %s", dir, strerror(errno));
		dir[0] = '\0';
		goto out;
	}
	snprintf(path, sizeof(path), "%s/policy.db", dir);
	if ((db = store_db_open(path, 1, &cause)) == NULL ||
	    replica_load(store_db_handle(db), blob, n, &cause) == -1) {
		ctl_warnx("%s", cause);
		free(cause);
		store_db_close(db);
		db = NULL;
	}
out:
	free(blob);
	json_decref(resp);
	return db;
}
