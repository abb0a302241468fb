/*
 * Who is calling weft-server: an admin (the admin token, or a client
 * certificate of the admin identity), a workload (a client certificate
 * of the mesh CA, identified by its SPIFFE ID), or a workload joining
 * with a join token. Secrets are compared in constant time; only hashes
 * of join token secrets are stored.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "ca.h"
#include "server.h"
#include "server_db.h"
#include "xmalloc.h"

#define SERVER_TOKEN_PREFIX "weft1."

static void
server_hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
server_sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;

	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	server_hex(md, 32, out);
}

/* Splits spiffe://TD/ns/NS/sa/SA of the mesh's trust domain. */
static int
server_spiffe_split(struct server *srv, const char *id, char *ns, size_t nslen,
    char *sa, size_t salen)
{
	const char *p, *nsp, *sap;
	size_t tdlen = strlen(srv->conf.trust_domain);

	if (strncmp(id, "spiffe://", 9) != 0)
		return -1;
	p = id + 9;
	if (strncmp(p, srv->conf.trust_domain, tdlen) != 0 ||
	    strncmp(p + tdlen, "/ns/", 4) != 0)
		return -1;
	nsp = p + tdlen + 4;
	if ((sap = strstr(nsp, "/sa/")) == NULL || sap == nsp ||
	    (size_t)(sap - nsp) >= nslen || strlen(sap + 4) >= salen ||
	    sap[4] == '\0' || strchr(sap + 4, '/') != NULL)
		return -1;
	memcpy(ns, nsp, (size_t)(sap - nsp));
	ns[sap - nsp] = '\0';
	snprintf(sa, salen, "%s", sap + 4);
	return 0;
}

static void
server_identify_cert(
    struct server *srv, struct evhttp_request *req, struct server_caller *c)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	STACK_OF(X509) *chain = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct bufferevent *bev;
	struct tm tm;
	X509 *cert;
	SSL *ssl;
	long v;

	bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
	ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
	if (ssl == NULL || (cert = SSL_get0_peer_certificate(ssl)) == NULL)
		return;
	if ((v = SSL_get_verify_result(ssl)) != X509_V_OK) {
		xasprintf(&c->error, "client certificate refused: %s",
		    X509_verify_cert_error_string(v));
		return;
	}
	if (ca_x509_spiffe(cert, c->spiffe_id, sizeof(c->spiffe_id)) != 1 ||
	    server_spiffe_split(srv, c->spiffe_id, c->namespace,
		sizeof(c->namespace), c->service_account,
		sizeof(c->service_account)) == -1) {
		xasprintf(&c->error,
		    "client certificate has no SPIFFE ID of "
		    "trust domain %s",
		    srv->conf.trust_domain);
		c->spiffe_id[0] = '\0';
		return;
	}
	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
		c->cert_not_after = (int64_t)timegm(&tm);
	/* Which root: what a rotation of the root waits for. */
	chain = SSL_get0_verified_chain(ssl);
	if (chain != NULL && sk_X509_num(chain) > 0 &&
	    X509_digest(sk_X509_value(chain, sk_X509_num(chain) - 1),
		EVP_sha256(), md, &mdlen) == 1 &&
	    mdlen == 32)
		server_hex(md, 32, c->cert_root);
	c->role = strcmp(c->spiffe_id, srv->admin_spiffe) == 0
	    ? SERVER_ROLE_ADMIN
	    : SERVER_ROLE_WORKLOAD;
}

/* Three base64url parts, the first a JSON object: a JWT, not ours. */
static int
server_token_is_jwt(const char *t)
{
	const char *ok = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789-_";
	size_t a, b, c;

	if (strncmp(t, "eyJ", 3) != 0)
		return 0;
	a = strspn(t, ok);
	if (t[a] != '.')
		return 0;
	b = strspn(t + a + 1, ok);
	if (t[a + 1 + b] != '.')
		return 0;
	c = strspn(t + a + b + 2, ok);
	return t[a + b + 2 + c] == '\0' && c > 0;
}

static void
server_identify_token(
    struct server *srv, const char *token, struct server_caller *c)
{
	struct server_token t;
	char id[64], hash[65], *secret, *dot, *cause = NULL;
	const char *p;
	int rc;

	if (strlen(token) == strlen(srv->admin_token) &&
	    CRYPTO_memcmp(token, srv->admin_token, strlen(token)) == 0) {
		c->role = SERVER_ROLE_ADMIN;
		snprintf(c->spiffe_id, sizeof(c->spiffe_id), "admin token");
		return;
	}
	if (strncmp(token, SERVER_TOKEN_PREFIX, 6) != 0 &&
	    server_token_is_jwt(token)) {
		/* A Kubernetes service-account token: a TokenReview. */
		if (kube_sync_cached(srv, token, c) == 0)
			c->kube_token = xstrdup(token);
		return;
	}
	if (strncmp(token, SERVER_TOKEN_PREFIX, 6) != 0 ||
	    (dot = strchr(token + 6, '.')) == NULL ||
	    (size_t)(dot - (token + 6)) >= sizeof(id)) {
		xasprintf(&c->error, "invalid token");
		return;
	}
	p = token + 6;
	memcpy(id, p, (size_t)(dot - p));
	id[dot - p] = '\0';
	secret = xstrdup(dot + 1);
	if ((dot = strchr(secret, '.')) != NULL)
		*dot =
		    '\0'; /* the CA fingerprint that follows is the client's */
	rc = server_db_token_get(srv->db, id, &t, &cause);
	if (rc == -1) {
		xasprintf(&c->error, "cannot check the token: %s", cause);
		free(cause);
	} else if (rc == 0) {
		xasprintf(&c->error, "invalid token");
	} else {
		server_sha256_hex(secret, hash);
		if (CRYPTO_memcmp(hash, t.secret_sha256, 64) != 0 ||
		    strlen(t.secret_sha256) != 64)
			xasprintf(&c->error, "invalid token");
		else if (t.expires_at < server_now())
			xasprintf(&c->error, "join token %s has expired", id);
		else {
			c->role = SERVER_ROLE_JOIN;
			snprintf(c->namespace, sizeof(c->namespace), "%s",
			    t.namespace);
			snprintf(
			    c->workload, sizeof(c->workload), "%s", t.workload);
			snprintf(c->service_account, sizeof(c->service_account),
			    "%s", t.service_account);
			snprintf(c->spiffe_id, sizeof(c->spiffe_id),
			    "spiffe://%s/ns/%s/sa/%s", srv->conf.trust_domain,
			    t.namespace, t.service_account);
		}
		server_token_clear(&t);
	}
	free(secret);
}

void
server_caller_identify(
    struct server *srv, struct evhttp_request *req, struct server_caller *c)
{
	const char *auth;

	memset(c, 0, sizeof(*c));
	server_identify_cert(srv, req, c);
	if (c->role != SERVER_ROLE_NONE)
		return;
	auth = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	if (auth == NULL)
		return;
	free(c->error);
	c->error = NULL;
	if (strncasecmp(auth, "Bearer ", 7) != 0) {
		xasprintf(&c->error, "unsupported authorization scheme");
		return;
	}
	server_identify_token(srv, auth + 7, c);
}

void
server_whoami_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c)
{
	static const char *const roles[] = {
	    [SERVER_ROLE_NONE] = "none",
	    [SERVER_ROLE_ADMIN] = "admin",
	    [SERVER_ROLE_WORKLOAD] = "workload",
	    [SERVER_ROLE_JOIN] = "join",
	};
	json_t *j;

	(void)srv;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		server_reply_error(req, 405, "use GET");
		return;
	}
	j = json_pack(
	    "{s:s, s:s}", "role", roles[c->role], "spiffeId", c->spiffe_id);
	if (c->role == SERVER_ROLE_WORKLOAD || c->role == SERVER_ROLE_JOIN) {
		json_object_set_new(j, "namespace", json_string(c->namespace));
		json_object_set_new(
		    j, "serviceAccount", json_string(c->service_account));
	}
	if (c->role == SERVER_ROLE_JOIN)
		json_object_set_new(j, "workload", json_string(c->workload));
	server_reply_json(req, 200, j);
}

void
server_caller_clear(struct server_caller *c)
{
	free(c->error);
	c->error = NULL;
	free(c->kube_token);
	c->kube_token = NULL;
}

static int
server_unauthenticated(
    struct evhttp_request *req, const struct server_caller *c)
{
	server_reply_error(req, 401, "%s",
	    c->error != NULL ? c->error
			     : "authentication required (a token or a "
			       "client certificate)");
	return -1;
}

int
server_require_admin(struct evhttp_request *req, const struct server_caller *c)
{
	if (c->role == SERVER_ROLE_ADMIN)
		return 0;
	if (c->role == SERVER_ROLE_NONE)
		return server_unauthenticated(req, c);
	server_reply_error(
	    req, 403, "%s may not do this: admin only", c->spiffe_id);
	return -1;
}

int
server_require_workload(struct evhttp_request *req,
    const struct server_caller *c, const char *ns, const char *workload,
    const char *sa)
{
	switch (c->role) {
	case SERVER_ROLE_ADMIN:
		return 0;
	case SERVER_ROLE_NONE:
		return server_unauthenticated(req, c);
	case SERVER_ROLE_JOIN:
		if (strcmp(c->namespace, ns) == 0 &&
		    strcmp(c->workload, workload) == 0 &&
		    (sa == NULL || strcmp(c->service_account, sa) == 0))
			return 0;
		break;
	case SERVER_ROLE_KUBE:
		/* A token bound to a pod acts for that pod only. */
		if (strcmp(c->namespace, ns) == 0 &&
		    (c->workload[0] == '\0' ||
			strcmp(c->workload, workload) == 0) &&
		    (sa == NULL || strcmp(c->service_account, sa) == 0))
			return 0;
		break;
	case SERVER_ROLE_WORKLOAD:
		if (strcmp(c->namespace, ns) == 0 &&
		    (sa == NULL || strcmp(c->service_account, sa) == 0))
			return 0;
		break;
	}
	server_reply_error(req, 403, "%s may not act for workload %s/%s",
	    c->spiffe_id, ns, workload);
	return -1;
}

int
server_token_create(struct server *srv, const char *ns, const char *workload,
    const char *sa, int64_t ttl_sec, const char *created_by, char **token,
    int64_t *expires_at, char **cause)
{
	struct server_token t;
	unsigned char rnd[8 + 16];
	char id[17], secret[33], hash[65];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		xasprintf(cause, "no random bytes");
		return -1;
	}
	server_hex(rnd, 8, id);
	server_hex(rnd + 8, 16, secret);
	server_sha256_hex(secret, hash);
	memset(&t, 0, sizeof(t));
	t.id = id;
	t.secret_sha256 = hash;
	t.namespace = (char *)(uintptr_t)ns;
	t.workload = (char *)(uintptr_t)workload;
	t.service_account = (char *)(uintptr_t)sa;
	t.expires_at = *expires_at = server_now() + ttl_sec;
	if (server_db_token_add(srv->db, &t, created_by, cause) == -1)
		return -1;
	xasprintf(token, SERVER_TOKEN_PREFIX "%s.%s.%s", id, secret,
	    ca_fingerprint(srv->ca));
	return 0;
}
