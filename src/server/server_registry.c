/*
 * The registry of workloads that weft-sync registers: endpoints of the
 * services whose workloadSelector picks their labels, healthy while
 * their sync daemon keeps in contact; their certificates; the status of
 * every proxy; join tokens. What the proxies report is kept in memory
 * and written to the DB once a second, not per request.
 */
#include "config.h"

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "ca.h"
#include "config_field.h"
#include "duration.h"
#include "log.h"
#include "server.h"
#include "server_db.h"
#include "xmalloc.h"

#define SERVER_TOKEN_DEFAULT_TTL_SEC 3600
#define SERVER_TOKEN_MAX_TTL_SEC     (7 * 86400)

static void
server_proxy_free(struct server_proxy *p)
{
	free(p->namespace);
	free(p->workload);
	free(p->service_account);
	free(p->address);
	free(p);
}

struct server_proxy *
server_proxy_find(struct server *srv, const char *ns, const char *workload)
{
	struct server_proxy *p;

	TAILQ_FOREACH (p, &srv->proxies, entry) {
		if (strcmp(p->namespace, ns) == 0 &&
		    strcmp(p->workload, workload) == 0)
			return p;
	}
	return NULL;
}

void
server_proxy_contact(struct server *srv, struct server_proxy *p)
{
	(void)srv;
	p->last_contact = server_now();
	p->dirty = 1;
}

void
server_proxy_ca(
    struct server_proxy *p, const char *bundle_sha, const char *cert_root)
{
	if (bundle_sha != NULL && bundle_sha[0] != '\0' &&
	    strcmp(p->ca_bundle, bundle_sha) != 0) {
		snprintf(p->ca_bundle, sizeof p->ca_bundle, "%s", bundle_sha);
		p->ca_bundle_at = server_now();
	}
	if (cert_root != NULL && cert_root[0] != '\0' &&
	    strcmp(p->cert_root, cert_root) != 0) {
		snprintf(p->cert_root, sizeof p->cert_root, "%s", cert_root);
		p->cert_root_at = server_now();
	}
}

int
server_registry_load(struct server *srv, char **cause)
{
	struct server_proxy_row *rows;
	struct server_proxy *p;
	size_t n, i;

	if (server_db_proxies(srv->db, &rows, &n, cause) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		p = xcalloc(1, sizeof(*p));
		p->namespace = rows[i].namespace;
		p->workload = rows[i].workload;
		p->service_account = rows[i].service_account;
		p->address = rows[i].address;
		rows[i].namespace = rows[i].workload = NULL;
		rows[i].service_account = rows[i].address = NULL;
		p->applied_version = rows[i].applied_version;
		p->proxy_version = rows[i].proxy_version;
		p->last_contact = rows[i].last_contact;
		p->cert_expiry = rows[i].cert_expiry;
		p->healthy = rows[i].healthy;
		TAILQ_INSERT_TAIL(&srv->proxies, p, entry);
	}
	server_proxy_rows_free(rows, n);
	log_info("%zu registered workloads", n);
	return 0;
}

void
server_registry_free(struct server *srv)
{
	struct server_proxy *p;

	while ((p = TAILQ_FIRST(&srv->proxies)) != NULL) {
		TAILQ_REMOVE(&srv->proxies, p, entry);
		server_proxy_free(p);
	}
}

/* Runs fn in a recorded transaction and publishes the new version. */
static int
server_registry_write(struct server *srv,
    int (*fn)(struct server *, void *, char **), void *arg, char **cause)
{
	int64_t version;

	if (server_db_begin(srv->db, cause) == -1)
		return -1;
	if (fn(srv, arg, cause) == -1) {
		server_db_rollback(srv->db);
		return -1;
	}
	if (server_db_commit(srv->db, &version, cause) == -1)
		return -1;
	if (version > 0)
		server_feed_committed(srv, version);
	return 0;
}

static int
server_register_write(struct server *srv, void *arg, char **cause)
{
	return server_db_register(srv->db, arg, server_now(), cause);
}

/* Checks the registration body; fills w (pointing into body). */
static int
server_register_parse(struct evhttp_request *req, json_t *body,
    const struct server_caller *c, struct server_workload *w, char **labels,
    char **ports)
{
	unsigned char addr[16];
	const char *key;
	json_t *v, *l, *p;

	memset(w, 0, sizeof(*w));
	w->namespace = json_string_value(json_object_get(body, "namespace"));
	w->name = json_string_value(json_object_get(body, "workload"));
	w->address = json_string_value(json_object_get(body, "address"));
	w->service_account =
	    json_string_value(json_object_get(body, "serviceAccount"));
	w->locality = json_string_value(json_object_get(body, "locality"));
	if (w->namespace == NULL || !config_dns_label(w->namespace) ||
	    w->name == NULL || !config_dns_subdomain(w->name)) {
		server_reply_error(
		    req, 400, "namespace and workload: expected DNS names");
		return -1;
	}
	if (w->address == NULL ||
	    (inet_pton(AF_INET, w->address, addr) != 1 &&
		inet_pton(AF_INET6, w->address, addr) != 1)) {
		server_reply_error(req, 400, "address: expected an IP address");
		return -1;
	}
	if (w->service_account == NULL)
		w->service_account = c->role == SERVER_ROLE_ADMIN ||
			c->service_account[0] == '\0'
		    ? "default"
		    : c->service_account;
	if (!config_dns_subdomain(w->service_account)) {
		server_reply_error(req, 400,
		    "serviceAccount: expected a DNS "
		    "name");
		return -1;
	}
	if (w->locality == NULL)
		w->locality = "";
	l = json_object_get(body, "labels");
	p = json_object_get(body, "ports");
	if ((l != NULL && !json_is_object(l)) ||
	    (p != NULL && !json_is_object(p))) {
		server_reply_error(req, 400, "labels and ports: expected maps");
		return -1;
	}
	json_object_foreach(l, key, v)
	{
		if (!json_is_string(v)) {
			server_reply_error(
			    req, 400, "labels.%s: expected a string", key);
			return -1;
		}
	}
	json_object_foreach(p, key, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 65535) {
			server_reply_error(
			    req, 400, "ports.%s: expected a port number", key);
			return -1;
		}
	}
	*labels = l != NULL ? json_dumps(l, JSON_COMPACT | JSON_SORT_KEYS)
			    : xstrdup("{}");
	*ports = p != NULL ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS)
			   : xstrdup("{}");
	w->labels = *labels;
	w->ports = *ports;
	return 0;
}

static void
server_register(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c)
{
	struct server_workload w;
	struct server_proxy *p;
	char *labels = NULL, *ports = NULL, *cause = NULL;
	json_t *body;

	if ((body = server_body_json(req)) == NULL)
		return;
	if (server_register_parse(req, body, c, &w, &labels, &ports) == -1)
		goto out;
	if (server_require_workload(
		req, c, w.namespace, w.name, w.service_account) == -1)
		goto out;
	if (strcmp(w.namespace, SERVER_ADMIN_NAMESPACE) == 0 &&
	    strcmp(w.service_account, SERVER_ADMIN_SA) == 0) {
		server_reply_error(req, 403,
		    "%s/%s is the admin identity, "
		    "not a workload's",
		    SERVER_ADMIN_NAMESPACE, SERVER_ADMIN_SA);
		goto out;
	}
	if (server_registry_write(srv, server_register_write, &w, &cause) ==
	    -1) {
		log_warnx("register %s/%s: %s", w.namespace, w.name, cause);
		server_reply_error(req, 500, "%s", cause);
		free(cause);
		goto out;
	}
	if ((p = server_proxy_find(srv, w.namespace, w.name)) == NULL) {
		p = xcalloc(1, sizeof(*p));
		p->namespace = xstrdup(w.namespace);
		p->workload = xstrdup(w.name);
		p->proxy_version = -1;
		TAILQ_INSERT_TAIL(&srv->proxies, p, entry);
		log_info("workload %s/%s registered at %s", w.namespace, w.name,
		    w.address);
	}
	free(p->service_account);
	free(p->address);
	p->service_account = xstrdup(w.service_account);
	p->address = xstrdup(w.address);
	p->healthy = 1;
	if (c->cert_not_after > 0)
		p->cert_expiry = c->cert_not_after;
	if (c->role == SERVER_ROLE_WORKLOAD)
		server_proxy_ca(p, NULL, c->cert_root);
	server_proxy_contact(srv, p);
	/* Its address may be an endpoint of a Kubernetes Service. */
	kube_sync_refresh(srv, w.namespace);
	server_reply_json(req, 200,
	    json_pack("{s:s, s:I, s:s+++++, s:s, s:I, s:I}", "history",
		server_db_history(srv->db), "version", (json_int_t)srv->version,
		"spiffeId", "spiffe://", srv->conf.trust_domain, "/ns/",
		w.namespace, "/sa/", w.service_account, "trustDomain",
		srv->conf.trust_domain, "heartbeatSeconds",
		(json_int_t)(srv->conf.heartbeat_timeout_sec / 3),
		"certTtlSeconds", (json_int_t)srv->conf.cert_ttl_sec));
out:
	free(labels);
	free(ports);
	json_decref(body);
}

struct server_deregister_arg {
	const char *ns;
	const char *name;
};

static int
server_deregister_write(struct server *srv, void *arg, char **cause)
{
	struct server_deregister_arg *a = arg;

	return server_db_deregister(srv->db, a->ns, a->name, cause) == -1 ? -1
									  : 0;
}

static void
server_deregister(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c)
{
	struct server_deregister_arg a;
	struct server_proxy *p;
	char *ns, *wl, *cause = NULL;

	ns = server_query(req, "namespace");
	wl = server_query(req, "workload");
	if (ns == NULL || wl == NULL) {
		server_reply_error(req, 400, "expected namespace and workload");
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
	a.ns = ns;
	a.name = wl;
	if (server_registry_write(srv, server_deregister_write, &a, &cause) ==
	    -1) {
		server_reply_error(req, 500, "%s", cause);
		free(cause);
		goto out;
	}
	log_info("workload %s/%s deregistered", ns, wl);
	kube_sync_refresh(srv, ns);
	server_feed_forget_proxy(srv, p);
	TAILQ_REMOVE(&srv->proxies, p, entry);
	server_proxy_free(p);
	server_reply_json(req, 200, json_pack("{s:b}", "deregistered", 1));
out:
	free(ns);
	free(wl);
}

void
server_register_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_POST:
		server_register(srv, req, c);
		break;
	case EVHTTP_REQ_DELETE:
		server_deregister(srv, req, c);
		break;
	default:
		server_reply_error(req, 405, "use POST or DELETE");
	}
}

void
server_certificates_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c)
{
	struct server_proxy *p;
	const char *csr, *ns, *wl, *sa;
	char *cert = NULL, *spiffe = NULL, *cause = NULL, fp[65];
	int64_t not_after;
	json_t *body;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		server_reply_error(req, 405, "use POST");
		return;
	}
	if ((body = server_body_json(req)) == NULL)
		return;
	csr = json_string_value(json_object_get(body, "csr"));
	ns = json_string_value(json_object_get(body, "namespace"));
	wl = json_string_value(json_object_get(body, "workload"));
	if (csr == NULL || ns == NULL || wl == NULL) {
		server_reply_error(
		    req, 400, "expected csr, namespace and workload");
		goto out;
	}
	/* The identity is the credential's, never what the CSR asks. */
	p = server_proxy_find(srv, ns, wl);
	if (p == NULL) {
		if (server_require_workload(req, c, ns, wl, NULL) == 0)
			server_reply_error(req, 404,
			    "workload %s/%s is not registered", ns, wl);
		goto out;
	}
	if (server_require_workload(req, c, ns, wl, p->service_account) == -1)
		goto out;
	sa = p->service_account;
	if (strcmp(ns, SERVER_ADMIN_NAMESPACE) == 0 &&
	    strcmp(sa, SERVER_ADMIN_SA) == 0) {
		server_reply_error(req, 403,
		    "no workload certificates for the "
		    "admin identity");
		goto out;
	}
	xasprintf(
	    &spiffe, "spiffe://%s/ns/%s/sa/%s", srv->conf.trust_domain, ns, sa);
	cert = ca_issue(
	    srv->ca, csr, spiffe, srv->conf.cert_ttl_sec, &not_after, &cause);
	if (cert == NULL) {
		server_reply_error(req, 400, "%s", cause);
		free(cause);
		goto out;
	}
	if (ca_fingerprint_pem(cert, fp) == -1 ||
	    server_db_cert_add(
		srv->db, fp, spiffe, ns, wl, not_after, &cause) == -1) {
		log_warnx("certificate of %s: %s", spiffe,
		    cause != NULL ? cause : "no fingerprint");
		server_reply_error(req, 500, "cannot record the certificate");
		free(cause);
		goto out;
	}
	p->cert_expiry = not_after;
	p->dirty = 1;
	/* Until its next request says otherwise (it could not save it). */
	server_proxy_ca(p, NULL, ca_fingerprint(srv->ca));
	log_info(
	    "issued a certificate for %s (%s/%s), expires %lld, root %.16s",
	    spiffe, ns, wl, (long long)not_after, ca_fingerprint(srv->ca));
	server_reply_json(req, 200,
	    json_pack("{s:s, s:s, s:I, s:s}", "certificate", cert, "caBundle",
		ca_bundle_pem(srv->ca), "notAfter", (json_int_t)not_after,
		"spiffeId", spiffe));
out:
	free(cert);
	free(spiffe);
	json_decref(body);
}

/*
 * Whether p was heard from within the heartbeat timeout. A restarted
 * server gives every proxy a full timeout to come back.
 */
static int
server_proxy_alive(struct server *srv, const struct server_proxy *p)
{
	int64_t seen = p->last_contact > srv->started_at ? p->last_contact
							 : srv->started_at;

	return server_now() - seen <= srv->conf.heartbeat_timeout_sec;
}

static const char *
server_proxy_state(struct server *srv, const struct server_proxy *p)
{
	int64_t running;

	if (!server_proxy_alive(srv, p))
		return "offline";
	running = p->proxy_version >= 0 ? p->proxy_version : p->applied_version;
	return running == srv->version ? "in sync" : "stale";
}

void
server_status_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c)
{
	struct server_proxy *p;
	json_t *list;

	if (server_require_admin(req, c) == -1)
		return;
	list = json_array();
	TAILQ_FOREACH (p, &srv->proxies, entry) {
		json_array_append_new(list,
		    json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b, "
			      "s:s}",
			"namespace", p->namespace, "workload", p->workload,
			"serviceAccount", p->service_account, "address",
			p->address, "appliedVersion",
			(json_int_t)p->applied_version, "proxyVersion",
			(json_int_t)p->proxy_version, "lastContact",
			(json_int_t)p->last_contact, "certExpiry",
			(json_int_t)p->cert_expiry, "healthy", p->healthy,
			"state", server_proxy_state(srv, p)));
	}
	server_reply_json(req, 200,
	    json_pack("{s:I, s:s, s:I, s:o}", "version",
		(json_int_t)srv->version, "history", server_db_history(srv->db),
		"now", (json_int_t)server_now(), "proxies", list));
}

void
server_tokens_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c)
{
	const char *ns, *wl, *sa, *ttl_s;
	char *token = NULL, *cause = NULL;
	int64_t ttl_ms = SERVER_TOKEN_DEFAULT_TTL_SEC * 1000, expires;
	json_t *body;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		server_reply_error(req, 405, "use POST");
		return;
	}
	if (server_require_admin(req, c) == -1 ||
	    (body = server_body_json(req)) == NULL)
		return;
	ns = json_string_value(json_object_get(body, "namespace"));
	wl = json_string_value(json_object_get(body, "workload"));
	sa = json_string_value(json_object_get(body, "serviceAccount"));
	ttl_s = json_string_value(json_object_get(body, "ttl"));
	if (sa == NULL)
		sa = "default";
	if (ns != NULL && strcmp(ns, SERVER_ADMIN_NAMESPACE) == 0 &&
	    strcmp(sa, SERVER_ADMIN_SA) == 0) {
		server_reply_error(req, 400,
		    "%s/%s is the admin identity: use the admin token or "
		    "admin.pem, not a join token",
		    SERVER_ADMIN_NAMESPACE, SERVER_ADMIN_SA);
		goto out;
	}
	if (ns == NULL || !config_dns_label(ns) || wl == NULL ||
	    !config_dns_subdomain(wl) || !config_dns_subdomain(sa)) {
		server_reply_error(req, 400,
		    "namespace, workload and "
		    "serviceAccount: expected DNS "
		    "names");
		goto out;
	}
	if (ttl_s != NULL &&
	    (duration_parse(ttl_s, &ttl_ms) == -1 || ttl_ms < 1000 ||
		ttl_ms > SERVER_TOKEN_MAX_TTL_SEC * 1000)) {
		server_reply_error(
		    req, 400, "ttl: expected a duration from 1s to 7d");
		goto out;
	}
	if (server_token_create(srv, ns, wl, sa, ttl_ms / 1000, c->spiffe_id,
		&token, &expires, &cause) == -1) {
		server_reply_error(req, 500, "%s", cause);
		free(cause);
		goto out;
	}
	log_info("join token for %s/%s (service account %s) until %lld", ns, wl,
	    sa, (long long)expires);
	server_reply_json(req, 200,
	    json_pack("{s:s, s:I}", "token", token, "expiresAt",
		(json_int_t)expires));
	free(token);
out:
	json_decref(body);
}

struct server_health_change {
	struct server_proxy **v;
	size_t n;
};

static int
server_health_write(struct server *srv, void *arg, char **cause)
{
	struct server_health_change *h = arg;
	size_t i;

	for (i = 0; i < h->n; i++) {
		if (server_db_set_healthy(srv->db, h->v[i]->namespace,
			h->v[i]->workload, !h->v[i]->healthy, cause) == -1)
			return -1;
	}
	return 0;
}

void
server_registry_tick(struct server *srv)
{
	struct server_health_change h = {NULL, 0};
	struct server_proxy_row *rows = NULL;
	struct server_proxy *p;
	size_t n = 0, i;
	int64_t now = server_now();
	char *cause = NULL;
	int alive;

	TAILQ_FOREACH (p, &srv->proxies, entry) {
		alive =
		    now - p->last_contact <= srv->conf.heartbeat_timeout_sec;
		if (alive != p->healthy) {
			h.v = xreallocarray(h.v, h.n + 1, sizeof(*h.v));
			h.v[h.n++] = p;
		}
		if (p->dirty) {
			rows = xreallocarray(rows, n + 1, sizeof(*rows));
			memset(&rows[n], 0, sizeof(rows[n]));
			rows[n].namespace = p->namespace;
			rows[n].workload = p->workload;
			rows[n].applied_version = p->applied_version;
			rows[n].proxy_version = p->proxy_version;
			rows[n].last_contact = p->last_contact;
			rows[n].cert_expiry = p->cert_expiry;
			n++;
		}
	}
	if (h.n > 0) {
		if (server_registry_write(
			srv, server_health_write, &h, &cause) == -1) {
			log_warnx("health: %s", cause);
			free(cause);
			cause = NULL;
		} else {
			for (i = 0; i < h.n; i++) {
				h.v[i]->healthy = !h.v[i]->healthy;
				log_info("workload %s/%s is %s",
				    h.v[i]->namespace, h.v[i]->workload,
				    h.v[i]->healthy ? "back in contact: "
						      "healthy"
						    : "out of contact: "
						      "unhealthy");
			}
		}
	}
	if (n > 0) {
		if (server_db_proxies_update(srv->db, rows, n, &cause) == -1) {
			log_warnx("proxy status: %s", cause);
			free(cause);
		} else {
			TAILQ_FOREACH (p, &srv->proxies, entry)
				p->dirty = 0;
		}
	}
	free(rows);
	free(h.v);
}
