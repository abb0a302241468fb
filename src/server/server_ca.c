/*
 * /v1/ca: the mesh CA's roots, and the rotation of its root that an
 * admin drives step by step with POST /v1/ca/rotate (prepare, activate,
 * finish; see ca_rotate.c). A step that would fail handshakes between
 * proxies is refused, naming the proxies that are not ready, unless it
 * is forced: activate waits until every registered workload has the
 * trust bundle of both roots, finish until every one has a certificate
 * of the next root. The server knows what their weft-sync last told it
 * (the hash of its ca.pem, the root of the certificate it presents)
 * since the server started, held in memory.
 *
 * After each step the server presents a new certificate of the signing
 * root with the CA's chain, the admin certificate follows the signing
 * root, and every held sync request is answered at once so that the
 * workloads hear of the change without waiting for their next poll.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "ca.h"
#include "log.h"
#include "server.h"
#include "xmalloc.h"

#define SERVER_CA_ROOTS 2
/*
 * How long a proxy may take to load the files its weft-sync wrote (it
 * looks every 200 ms): what was just reported is not yet in force.
 */
#define SERVER_CA_SETTLE_SEC 2

/* The roots, and which is the next one, for one answer. */
struct server_ca_view {
	struct ca_root_info roots[SERVER_CA_ROOTS];
	size_t nroots;
	const char *next_fp; /* NULL outside a rotation */
};

static void
server_ca_view(struct server *srv, struct server_ca_view *v)
{
	size_t i;

	v->nroots = ca_roots(srv->ca, v->roots, SERVER_CA_ROOTS);
	v->next_fp = NULL;
	for (i = 0; i < v->nroots; i++) {
		if (v->roots[i].next)
			v->next_fp = v->roots[i].fingerprint;
	}
}

/* "current", "next", "other" (a root no longer trusted) or "unknown". */
static const char *
server_ca_root_role(const struct server_ca_view *v, const char *fp)
{
	size_t i;

	if (fp[0] == '\0')
		return "unknown";
	for (i = 0; i < v->nroots; i++) {
		if (strcmp(v->roots[i].fingerprint, fp) == 0)
			return v->roots[i].next ? "next" : "current";
	}
	return "other";
}

/* The step after the phase. */
static const char *
server_ca_next_step(enum ca_phase phase)
{
	switch (phase) {
	case CA_PHASE_PREPARED:
		return "activate";
	case CA_PHASE_ACTIVATED:
		return "finish";
	default:
		return "prepare";
	}
}

/* Why p is not ready for the next step of the rotation, or NULL. */
static const char *
server_ca_blocker(struct server *srv, const struct server_ca_view *v,
    const struct server_proxy *p)
{
	switch (ca_phase(srv->ca)) {
	case CA_PHASE_PREPARED:
		if (p->ca_bundle[0] == '\0' &&
		    p->last_contact >= srv->started_at)
			return "its weft-sync does not report its trust bundle "
			       "(an older version?)";
		if (p->ca_bundle[0] == '\0')
			return "not heard from since the server started";
		if (strcmp(p->ca_bundle, ca_bundle_sha256(srv->ca)) != 0)
			return "does not have the trust bundle of both roots";
		if (server_now() - p->ca_bundle_at < SERVER_CA_SETTLE_SEC)
			return "got the trust bundle just now";
		return NULL;
	case CA_PHASE_ACTIVATED:
		if (p->cert_root[0] == '\0')
			return "its certificate is not known since the server "
			       "started";
		if (v->next_fp == NULL || strcmp(p->cert_root, v->next_fp) != 0)
			return "its certificate is not of the next root";
		if (server_now() - p->cert_root_at < SERVER_CA_SETTLE_SEC)
			return "got its certificate just now";
		return NULL;
	default:
		return NULL;
	}
}

/* The proxies that block the next step: [{proxy, reason}]. */
static json_t *
server_ca_blocking(struct server *srv, const struct server_ca_view *v)
{
	struct server_proxy *p;
	const char *why;
	json_t *list;
	char *name;

	list = json_array();
	TAILQ_FOREACH (p, &srv->proxies, entry) {
		if ((why = server_ca_blocker(srv, v, p)) == NULL)
			continue;
		xasprintf(&name, "%s/%s", p->namespace, p->workload);
		json_array_append_new(list,
		    json_pack("{s:s, s:s}", "proxy", name, "reason", why));
		free(name);
	}
	return list;
}

/* The answer of GET /v1/ca, and of a step. */
static json_t *
server_ca_json(struct server *srv)
{
	struct server_ca_view v;
	struct server_proxy *p;
	json_t *roots, *proxies;
	const char *bundle;
	size_t i;

	server_ca_view(srv, &v);
	roots = json_array();
	for (i = 0; i < v.nroots; i++) {
		json_array_append_new(roots,
		    json_pack("{s:s, s:s, s:I, s:I, s:s, s:b}", "fingerprint",
			v.roots[i].fingerprint, "subject", v.roots[i].subject,
			"notBefore", (json_int_t)v.roots[i].not_before,
			"notAfter", (json_int_t)v.roots[i].not_after, "role",
			v.roots[i].next ? "next" : "current", "signing",
			v.roots[i].signing));
	}
	proxies = json_array();
	TAILQ_FOREACH (p, &srv->proxies, entry) {
		if (p->ca_bundle[0] == '\0')
			bundle = "unknown";
		else if (strcmp(p->ca_bundle, ca_bundle_sha256(srv->ca)) == 0)
			bundle = "current";
		else
			bundle = "other";
		json_array_append_new(proxies,
		    json_pack("{s:s, s:s, s:s, s:s, s:s?}", "namespace",
			p->namespace, "workload", p->workload, "bundle", bundle,
			"certificateRoot",
			server_ca_root_role(&v, p->cert_root), "waitingFor",
			server_ca_blocker(srv, &v, p)));
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "phase",
	    ca_phase_name(ca_phase(srv->ca)), "nextStep",
	    server_ca_next_step(ca_phase(srv->ca)), "signer",
	    ca_fingerprint(srv->ca), "bundleSha256", ca_bundle_sha256(srv->ca),
	    "caBundle", ca_bundle_pem(srv->ca), "roots", roots, "proxies",
	    proxies, "blocking", server_ca_blocking(srv, &v));
}

void
server_ca_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c)
{
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		server_reply_error(req, 405, "use GET");
		return;
	}
	if (server_require_admin(req, c) == -1)
		return;
	server_reply_json(req, 200, server_ca_json(srv));
}

/* After a step: what the server presents, and what workloads hear. */
static void
server_ca_changed(struct server *srv)
{
	char *cause = NULL;

	if (server_http_tls(srv, &cause) == -1) {
		log_warnx("the server's certificate of the root %s: %s; "
			  "keeping the one in use",
		    ca_fingerprint(srv->ca), cause);
		free(cause);
		cause = NULL;
	}
	if (server_admin_cert(srv, &cause) == -1) {
		log_warnx("admin certificate: %s", cause);
		free(cause);
	}
	server_feed_ca_changed(srv);
}

/*
 * Refuses a step with 409 when proxies are not ready for it, unless
 * forced (then says so in the log). Returns -1 when it refused.
 */
static int
server_ca_ready(
    struct server *srv, struct evhttp_request *req, const char *step, int force)
{
	struct server_ca_view v;
	json_t *list, *e;
	char *names = NULL, *tmp;
	size_t i;

	server_ca_view(srv, &v);
	list = server_ca_blocking(srv, &v);
	if (json_array_size(list) == 0) {
		json_decref(list);
		return 0;
	}
	json_array_foreach(list, i, e)
	{
		xasprintf(&tmp, "%s%s%s (%s)", names != NULL ? names : "",
		    names != NULL ? ", " : "",
		    json_string_value(json_object_get(e, "proxy")),
		    json_string_value(json_object_get(e, "reason")));
		free(names);
		names = tmp;
	}
	if (force) {
		log_warnx("%s forced with %zu proxies not ready: %s", step,
		    json_array_size(list), names);
		json_decref(list);
		free(names);
		return 0;
	}
	xasprintf(&tmp,
	    "cannot %s: %zu %s not ready: %s (wait for them, deregister "
	    "them, or force)",
	    step, json_array_size(list),
	    json_array_size(list) == 1 ? "proxy is" : "proxies are", names);
	server_reply_json(
	    req, 409, json_pack("{s:s, s:o}", "error", tmp, "blocking", list));
	free(tmp);
	free(names);
	return -1;
}

void
server_ca_rotate_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c)
{
	enum ca_phase phase = ca_phase(srv->ca);
	const char *step, *refused = NULL;
	int (*fn)(struct ca *, char **) = NULL;
	char *cause = NULL;
	json_t *body, *answer;
	int force;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		server_reply_error(req, 405, "use POST");
		return;
	}
	if (server_require_admin(req, c) == -1 ||
	    (body = server_body_json(req)) == NULL)
		return;
	step = json_string_value(json_object_get(body, "step"));
	force = json_is_true(json_object_get(body, "force"));
	if (step == NULL) {
		server_reply_error(
		    req, 400, "step: expected prepare, activate or finish");
		goto out;
	}
	/* Asking again for the step that was done last changes nothing. */
	if (strcmp(step, "prepare") == 0) {
		if (phase == CA_PHASE_ACTIVATED)
			refused = "the next root already signs: finish the "
				  "rotation first";
		else if (phase == CA_PHASE_NONE)
			fn = ca_rotate_prepare;
	} else if (strcmp(step, "activate") == 0) {
		if (phase == CA_PHASE_NONE)
			refused = "no rotation in progress: prepare first";
		else if (phase == CA_PHASE_PREPARED)
			fn = ca_rotate_activate;
	} else if (strcmp(step, "finish") == 0) {
		if (phase == CA_PHASE_NONE)
			refused = "no rotation in progress: prepare first";
		else if (phase == CA_PHASE_PREPARED)
			refused = "the next root does not sign yet: activate "
				  "first";
		else
			fn = ca_rotate_finish;
	} else {
		server_reply_error(req, 400,
		    "step \"%s\": expected prepare, activate or finish", step);
		goto out;
	}
	if (refused != NULL) {
		server_reply_error(req, 409, "%s", refused);
		goto out;
	}
	if (fn != NULL) {
		if (fn != ca_rotate_prepare &&
		    server_ca_ready(srv, req, step, force) == -1)
			goto out;
		if (fn(srv->ca, &cause) == -1) {
			log_warnx("CA rotation, %s: %s", step, cause);
			server_reply_error(req, 500, "%s: %s", step, cause);
			free(cause);
			goto out;
		}
		log_info("CA rotation: %s by %s; the root %s signs, phase %s",
		    step, c->spiffe_id, ca_fingerprint(srv->ca),
		    ca_phase_name(ca_phase(srv->ca)));
		server_ca_changed(srv);
	}
	answer = server_ca_json(srv);
	json_object_set_new(answer, "changed", json_boolean(fn != NULL));
	server_reply_json(req, 200, answer);
out:
	json_decref(body);
}
