/*
 * The change feed, /v1/sync: a workload at policy version V gets the
 * changesets after V, in order; a request at the current version is
 * held (long poll) until a transaction commits or its wait ends; a
 * workload of another history, ahead of the server, or behind the
 * changesets kept gets the whole policy as a snapshot instead. Each
 * sync request is also the workload's heartbeat and report, including
 * the hash of its trust bundle: every answer names the current bundle
 * and signing root, and brings the bundle to a workload whose copy
 * differs (at once: such a request is not held, and held requests are
 * answered when the CA's roots change).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "ca.h"
#include "base64.h"
#include "log.h"
#include "schema_db.h"
#include "server.h"
#include "server_db.h"
#include "xmalloc.h"

/* The longest a sync request is held, whatever the client asks. */
#define SERVER_FEED_MAX_WAIT_SEC 60

/*
 * Every answer says which trust bundle is current and which root signs:
 * a workload whose copy differs fetches the bundle (it comes with the
 * answer, see server_feed_bundle) or renews its certificate.
 */
static json_t *
server_feed_head(struct server *srv, int64_t version)
{
	return json_pack("{s:s, s:I, s:i, s:s, s:s, s:s}", "history",
	    server_db_history(srv->db), "version", (json_int_t)version,
	    "schema", SCHEMA_VERSION, "caBundleSha256",
	    ca_bundle_sha256(srv->ca), "caSigner", ca_fingerprint(srv->ca),
	    "caPhase", ca_phase_name(ca_phase(srv->ca)));
}

/* Whether a client that has the bundle of hash sha needs ours. */
static int
server_feed_stale(struct server *srv, const char *sha)
{
	return sha[0] != '\0' && strcmp(sha, ca_bundle_sha256(srv->ca)) != 0;
}

/* Adds the trust bundle to j for a client that has the bundle sha. */
static json_t *
server_feed_bundle(struct server *srv, json_t *j, const char *sha)
{
	json_t *copy;

	if (!server_feed_stale(srv, sha))
		return j;
	/* j may be shared by the waiters at one version. */
	copy = json_copy(j);
	json_decref(j);
	if (copy != NULL)
		json_object_set_new(
		    copy, "caBundle", json_string(ca_bundle_pem(srv->ca)));
	return copy;
}

/* The snapshot answer (built once per policy version). */
static json_t *
server_feed_snapshot(struct server *srv, char **cause)
{
	json_t *j;
	void *blob = NULL;
	size_t len = 0;
	int64_t version;

	if (srv->snapshot_b64 == NULL ||
	    srv->snapshot_version != srv->version) {
		if (server_db_snapshot(srv->db, &blob, &len, &version, cause) ==
		    -1)
			return NULL;
		free(srv->snapshot_b64);
		srv->snapshot_b64 =
		    base64_encode(blob != NULL ? blob : "", len);
		free(blob);
		if (srv->snapshot_b64 == NULL) {
			xasprintf(cause, "out of memory");
			return NULL;
		}
		srv->snapshot_version = version;
		log_debug("snapshot of policy version %lld: %zu bytes",
		    (long long)version, len);
	}
	j = server_feed_head(srv, srv->snapshot_version);
	/* A marker: server_feed_reply() writes the cached text in. */
	json_object_set_new(j, "snapshot", json_true());
	return j;
}

/*
 * Sends a feed answer. A snapshot (megabytes of base64 for a large
 * mesh) is spliced in from the cache rather than copied into the JSON
 * tree and serialized again for every workload that needs it.
 */
static void
server_feed_reply(struct server *srv, struct evhttp_request *req, json_t *j)
{
	struct evbuffer *out;
	char *text;
	size_t len;

	if (!json_is_true(json_object_get(j, "snapshot")) ||
	    srv->snapshot_b64 == NULL) {
		server_reply_json(req, 200, j);
		return;
	}
	json_object_del(j, "snapshot");
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL || (len = strlen(text)) < 2 ||
	    (out = evbuffer_new()) == NULL) {
		free(text);
		server_reply_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(out, text, len - 1); /* without the closing brace */
	evbuffer_add_printf(out, "%s\"snapshot\":\"", len > 2 ? "," : "");
	evbuffer_add(out, srv->snapshot_b64, strlen(srv->snapshot_b64));
	evbuffer_add(out, "\"}\n", 3);
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, 200, NULL, out);
	evbuffer_free(out);
}

/*
 * The answer for a workload at version since of this history: NULL with
 * *cause on DB errors.
 */
static json_t *
server_feed_answer(
    struct server *srv, int64_t since, int same_history, char **cause)
{
	struct server_changeset *v = NULL;
	json_t *j, *list;
	int64_t oldest;
	size_t n = 0, i;
	char *b;

	if (!same_history || since < 0 || since > srv->version)
		return server_feed_snapshot(srv, cause);
	if (since == srv->version) {
		j = server_feed_head(srv, since);
		json_object_set_new(j, "changesets", json_array());
		return j;
	}
	if (server_db_changesets(srv->db, since, SERVER_MAX_CHANGESETS, &v, &n,
		&oldest, cause) == -1)
		return NULL;
	if (n == 0 || v[0].version != since + 1) {
		server_changesets_free(v, n);
		return server_feed_snapshot(srv, cause);
	}
	list = json_array();
	for (i = 0; i < n; i++) {
		if ((b = base64_encode(v[i].data, v[i].len)) == NULL) {
			json_decref(list);
			server_changesets_free(v, n);
			xasprintf(cause, "out of memory");
			return NULL;
		}
		json_array_append_new(list,
		    json_pack("{s:I, s:s}", "version", (json_int_t)v[i].version,
			"data", b));
		free(b);
	}
	j = server_feed_head(srv, v[n - 1].version);
	json_object_set_new(j, "changesets", list);
	server_changesets_free(v, n);
	(void)oldest;
	return j;
}

static void
server_waiter_free(struct server_waiter *w)
{
	TAILQ_REMOVE(&w->srv->waiters, w, entry);
	event_free(w->timer);
	free(w);
}

/* The connection of a held request closed: forget the request. */
static void
server_waiter_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct server_waiter *w = arg;

	(void)evcon;
	server_waiter_free(w);
}

/* Answers a held request with body, and frees the waiter. */
static void
server_waiter_answer(struct server_waiter *w, json_t *body)
{
	struct evhttp_connection *evcon;

	evcon = evhttp_request_get_connection(w->req);
	if (evcon != NULL)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	if (w->proxy != NULL)
		server_proxy_contact(w->srv, w->proxy);
	body = server_tap_attach(w->srv, w->proxy, body);
	if (body != NULL)
		body = server_feed_bundle(w->srv, body, w->ca_bundle);
	if (body == NULL)
		server_reply_error(w->req, 500, "out of memory");
	else
		server_feed_reply(w->srv, w->req, body);
	server_waiter_free(w);
}

static void
server_waiter_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server_waiter *w = arg;
	struct server *srv = w->srv;
	json_t *j;

	(void)fd;
	(void)what;
	j = server_feed_head(srv, w->since);
	json_object_set_new(j, "changesets", json_array());
	server_waiter_answer(w, j);
}

void
server_feed_committed(struct server *srv, int64_t version)
{
	struct server_waiter *w, *next;
	json_t *answer = NULL;
	int64_t answered = -1;
	char *cause = NULL;

	srv->version = version;
	/* Most waiters are at the same version: build each answer once. */
	for (w = TAILQ_FIRST(&srv->waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (answer == NULL || answered != w->since) {
			json_decref(answer);
			answer = server_feed_answer(srv, w->since, 1, &cause);
			answered = w->since;
			if (answer == NULL) {
				log_warnx("change feed: %s", cause);
				free(cause);
				cause = NULL;
				evhttp_connection_set_closecb(
				    evhttp_request_get_connection(w->req), NULL,
				    NULL);
				server_reply_error(
				    w->req, 500, "cannot read the change feed");
				server_waiter_free(w);
				continue;
			}
		}
		server_waiter_answer(w, json_incref(answer));
	}
	json_decref(answer);
}

void
server_feed_ca_changed(struct server *srv)
{
	struct server_waiter *w;
	json_t *j;

	while ((w = TAILQ_FIRST(&srv->waiters)) != NULL) {
		j = server_feed_head(srv, w->since);
		json_object_set_new(j, "changesets", json_array());
		server_waiter_answer(w, j);
	}
}

void
server_feed_wake_taps(struct server *srv)
{
	struct server_waiter *w, *next;
	json_t *j;

	for (w = TAILQ_FIRST(&srv->waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->proxy == NULL || !server_tap_untold(srv, w->proxy))
			continue;
		j = server_feed_head(srv, w->since);
		json_object_set_new(j, "changesets", json_array());
		server_waiter_answer(w, j);
	}
}

void
server_feed_forget_proxy(struct server *srv, struct server_proxy *p)
{
	struct server_waiter *w;

	TAILQ_FOREACH (w, &srv->waiters, entry) {
		if (w->proxy == p)
			w->proxy = NULL;
	}
}

void
server_feed_stop(struct server *srv)
{
	struct server_waiter *w;

	while ((w = TAILQ_FIRST(&srv->waiters)) != NULL) {
		evhttp_connection_set_closecb(
		    evhttp_request_get_connection(w->req), NULL, NULL);
		server_reply_error(w->req, 503, "weft-server is stopping");
		server_waiter_free(w);
	}
	free(srv->snapshot_b64);
	srv->snapshot_b64 = NULL;
}

static int64_t
server_query_int(
    struct evhttp_request *req, const char *name, int64_t dflt, int *bad)
{
	char *v, *end;
	long long n;

	if ((v = server_query(req, name)) == NULL)
		return dflt;
	n = strtoll(v, &end, 10);
	if (*v == '\0' || *end != '\0')
		*bad = 1;
	free(v);
	return n;
}

void
server_sync_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c)
{
	struct server_waiter *w;
	struct server_proxy *p;
	struct timeval tv;
	char *ns, *wl, *history, *bundle, *cause = NULL, sha[65];
	int64_t since, wait, applied, proxy_version;
	int bad = 0, same;
	json_t *j;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		server_reply_error(req, 405, "use GET");
		return;
	}
	ns = server_query(req, "namespace");
	wl = server_query(req, "workload");
	history = server_query(req, "history");
	since = server_query_int(req, "since", -1, &bad);
	wait = server_query_int(req, "wait", 0, &bad);
	applied = server_query_int(req, "applied", since, &bad);
	proxy_version = server_query_int(req, "proxyVersion", -1, &bad);
	/* The hash of the client's ca.pem; anything else is no answer. */
	bundle = server_query(req, "caBundle");
	sha[0] = '\0';
	if (bundle != NULL && strlen(bundle) == 64 &&
	    strspn(bundle, "0123456789abcdef") == 64)
		memcpy(sha, bundle, sizeof sha);
	free(bundle);
	if (ns == NULL || wl == NULL || bad) {
		server_reply_error(req, 400,
		    "expected namespace, workload and a numeric since");
		goto out;
	}
	if ((p = server_proxy_find(srv, ns, wl)) == NULL) {
		if (server_require_workload(req, c, ns, wl, NULL) == 0)
			server_reply_error(req, 404,
			    "workload %s/%s is not registered", ns, wl);
		goto out;
	}
	if (server_require_workload(req, c, ns, wl, p->service_account) == -1)
		goto out;
	same =
	    history != NULL && strcmp(history, server_db_history(srv->db)) == 0;
	p->applied_version = same ? applied : 0;
	p->proxy_version = same ? proxy_version : -1;
	p->dirty = 1;
	server_proxy_ca(
	    p, sha, c->role == SERVER_ROLE_WORKLOAD ? c->cert_root : NULL);
	server_proxy_contact(srv, p);
	/* A client with another trust bundle gets ours at once. */
	if (same && since == srv->version && wait > 0 &&
	    !server_feed_stale(srv, sha) && !server_tap_untold(srv, p)) {
		if (wait > SERVER_FEED_MAX_WAIT_SEC)
			wait = SERVER_FEED_MAX_WAIT_SEC;
		if (wait > srv->conf.heartbeat_timeout_sec / 3)
			wait = srv->conf.heartbeat_timeout_sec / 3;
		if (wait < 1)
			wait = 1;
		w = xcalloc(1, sizeof(*w));
		w->srv = srv;
		w->req = req;
		w->proxy = p;
		w->since = since;
		memcpy(w->ca_bundle, sha, sizeof w->ca_bundle);
		w->timer = evtimer_new(srv->base, server_waiter_timeout_cb, w);
		tv.tv_sec = wait;
		tv.tv_usec = 0;
		evtimer_add(w->timer, &tv);
		TAILQ_INSERT_TAIL(&srv->waiters, w, entry);
		evhttp_connection_set_closecb(
		    evhttp_request_get_connection(req), server_waiter_close_cb,
		    w);
		goto out;
	}
	if ((j = server_feed_answer(srv, since, same, &cause)) == NULL) {
		log_warnx("change feed: %s", cause);
		server_reply_error(req, 500, "cannot read the change feed");
		free(cause);
		goto out;
	}
	if ((j = server_tap_attach(srv, p, j)) == NULL ||
	    (j = server_feed_bundle(srv, j, sha)) == NULL) {
		server_reply_error(req, 500, "out of memory");
		goto out;
	}
	server_feed_reply(srv, req, j);
out:
	free(ns);
	free(wl);
	free(history);
}

void
server_snapshot_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c)
{
	char *cause = NULL;
	json_t *j;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		server_reply_error(req, 405, "use GET");
		return;
	}
	if (server_require_admin(req, c) == -1)
		return;
	if ((j = server_feed_snapshot(srv, &cause)) == NULL) {
		log_warnx("snapshot: %s", cause);
		server_reply_error(req, 500, "cannot build the snapshot");
		free(cause);
		return;
	}
	server_feed_reply(srv, req, j);
}
