/*
 * weft-server's Kubernetes mutating admission webhook: POST /inject on
 * its own HTTPS port (15017), with the API's certificate. The API
 * server calls it for each pod to create; the answer only computes a
 * patch (src/lib/inject.c), so no credential is asked for, and nothing
 * is stored.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>

#include "inject.h"
#include "log.h"
#include "server.h"
#include "xmalloc.h"

/* "namespace/name" of the pod of an AdmissionReview, for the log. */
static void
server_webhook_pod(const json_t *review, char *buf, size_t len)
{
	const json_t *req = json_object_get(review, "request"), *meta;
	const char *ns, *name;

	meta = json_object_get(json_object_get(req, "object"), "metadata");
	ns = json_string_value(json_object_get(req, "namespace"));
	name = json_string_value(json_object_get(meta, "name"));
	if (name == NULL || *name == '\0')
		name = json_string_value(json_object_get(meta, "generateName"));
	snprintf(buf, len, "%s/%s", ns != NULL ? ns : "-",
	    name != NULL ? name : "-");
}

static void
server_webhook_request_cb(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path, *note, *msg;
	json_error_t err;
	json_t *review, *answer, *resp;
	char *body, *cause = NULL, pod[512];
	size_t len;

	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL || strcmp(path, "/inject") != 0) {
		server_reply_error(req, 404,
		    "no such API: %s (the webhook is "
		    "POST /inject)",
		    path != NULL ? path : "?");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		server_reply_error(req, 405, "/inject takes POST");
		return;
	}
	if ((body = server_body(req, &len)) == NULL) {
		server_reply_error(req, 500, "out of memory");
		return;
	}
	review = json_loadb(body, len, 0, &err);
	free(body);
	if (review == NULL) {
		log_warnx("webhook: a request that is not JSON: line %d: %s",
		    err.line, err.text);
		server_reply_error(req, 400,
		    "the body is not JSON: line %d: %s", err.line, err.text);
		return;
	}
	if ((answer = inject_admission(
		 &srv->conf.inject, review, &note, &cause)) == NULL) {
		log_warnx("webhook: a bad AdmissionReview: %s", cause);
		server_reply_error(req, 400, "%s", cause);
		free(cause);
		json_decref(review);
		return;
	}
	server_webhook_pod(review, pod, sizeof(pod));
	resp = json_object_get(answer, "response");
	if (json_is_false(json_object_get(resp, "allowed"))) {
		msg = json_string_value(json_object_get(
		    json_object_get(resp, "status"), "message"));
		log_warnx("webhook: pod %s refused: %s", pod,
		    msg != NULL ? msg : "?");
	} else if (strcmp(note, "injected") == 0)
		log_info("webhook: pod %s injected%s", pod,
		    json_is_true(json_object_get(
			json_object_get(review, "request"), "dryRun"))
			? " (dry run)"
			: "");
	else
		log_debug("webhook: pod %s not injected: %s", pod, note);
	json_decref(review);
	server_reply_json(req, 200, answer);
}

int
server_webhook_start(struct server *srv, char **cause)
{
	char *why = NULL;

	if (srv->conf.webhook_listen == NULL)
		return 0;
	if ((srv->webhook = server_http_new(srv, srv->conf.webhook_listen,
		 SERVER_WEBHOOK_PORT, server_webhook_request_cb,
		 SERVER_WEBHOOK_MAX_BODY, &why)) == NULL) {
		xasprintf(cause, "--webhook-listen %s", why);
		free(why);
		return -1;
	}
	log_info("admission webhook on %s (HTTPS, POST /inject), native "
		 "sidecars %s",
	    srv->conf.webhook_listen,
	    srv->conf.inject.native_sidecars ? "on" : "off");
	return 0;
}

void
server_webhook_stop(struct server *srv)
{
	if (srv->webhook != NULL)
		evhttp_free(srv->webhook);
	srv->webhook = NULL;
}
