/*
 * The inbound side's policy, for each request (and each opaque TCP
 * connection) before it reaches the application, in Istio's order:
 * RequestAuthentication (a token present must be valid: 401), then
 * AuthorizationPolicy (403 "RBAC: access denied"; a TCP connection is
 * closed), then RateLimit (429 with retry-after). Everything comes from
 * the snapshot in force; no SQL, no blocking.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "authz.h"
#include "jwks_fetch.h"
#include "jwt.h"
#include "jwt_cache.h"
#include "jwt_locate.h"
#include "proxy.h"
#include "ratelimit.h"
#include "snapshot.h"

struct inbound_req {
	const struct http1_msg *m;
	char principal[256]; /* peer, without spiffe:// */
	char reqp[1100];     /* JWT iss/sub */
	json_t *claims;
	const struct snap_jwt_rule *rule;
	const struct http1_header *token_hdr; /* the field carrying it */
	const char *payload; /* base64url payload of the token */
	size_t payload_len;
};

static const char *
inbound_header_cb(void *arg, const char *name, size_t *len)
{
	const struct http1_msg *m = arg;
	const struct http1_header *h = http1_find(m, name);

	if (h == NULL)
		return NULL;
	*len = h->value_len;
	return h->value;
}

/* The iss claim of a token, unverified, into out: to pick its rule. */
static int
inbound_issuer(const char *tok, size_t len, char *out, size_t outlen)
{
	json_t *j;

	if ((j = jwt_unverified_payload(tok, len)) == NULL)
		return -1;
	snprintf(
	    out, outlen, "%s", json_string_value(json_object_get(j, "iss")));
	json_decref(j);
	return 0;
}

/* 401 in Envoy's words. */
static int
inbound_401(struct session *s, const char *why)
{
	struct http_exchange *hx = &s->hx;

	metrics_deny(s->w->metrics, METRICS_DENY_JWT);
	snprintf(
	    hx->denied, sizeof(hx->denied), "RequestAuthentication: %s", why);
	hx->reply_status = 401;
	hx->reply_body = why;
	hx->rflag = METRICS_RF_UAEX;
	snprintf(hx->reply_headers, sizeof(hx->reply_headers),
	    "www-authenticate: Bearer realm=\"http://%s%s\", "
	    "error=\"invalid_token\"\r\n",
	    hx->authority, hx->path);
	return ROUTE_REPLY;
}

/*
 * RequestAuthentication: a token must be valid for the rule of its
 * issuer; no token at all passes (authorization may then want one).
 * Returns 0, or ROUTE_REPLY with the 401 set.
 */
static int
inbound_jwt(
    struct session *s, const struct snap_security *sec, struct inbound_req *ir)
{
	const struct snap_jwt_rule *r;
	const struct http1_header *hdr;
	const struct jwt_keys *keys;
	struct jwks_keys *held;
	const char *tok, *sub;
	char iss[512];
	struct jwt_rule jr;
	enum jwt_status st;
	int64_t now, version;
	size_t i, len;
	int found = 0;

	for (i = 0; i < sec->njwt; i++) {
		r = &sec->jwt[i];
		if (!jwt_locate(ir->m, r, &tok, &len, &hdr))
			continue;
		if (!found++ &&
		    inbound_issuer(tok, len, iss, sizeof(iss)) == -1)
			return inbound_401(s, jwt_status_text(JWT_MALFORMED));
		if (strcmp(iss, r->issuer) != 0)
			continue;
		now = (int64_t)time(NULL);
		version = snapshot_version(s->w->hold->snap);
		if (jwt_cache_get(s->w->jwt_cache, r, version, tok, len, now,
			&ir->claims)) {
			st = JWT_OK;
			goto verified;
		}
		/* jwksUri keys: a reference for this one verification. */
		held = NULL;
		if ((keys = r->keys) == NULL)
			keys = jwks_entry_keys(r->jwks, &held);
		if (keys == NULL)
			return inbound_401(s, "Jwks remote fetch is failed");
		memset(&jr, 0, sizeof(jr));
		jr.issuer = r->issuer;
		jr.audiences = r->audiences;
		st = jwt_verify(keys, &jr, tok, len, now, &ir->claims);
		jwks_keys_release(held);
		if (st != JWT_OK)
			return inbound_401(s, jwt_status_text(st));
		if (s->w->jwt_cache == NULL)
			s->w->jwt_cache = jwt_cache_new();
		jwt_cache_put(
		    s->w->jwt_cache, r, version, tok, len, now, ir->claims);
	verified:
		sub = json_string_value(json_object_get(ir->claims, "sub"));
		snprintf(ir->reqp, sizeof(ir->reqp), "%s/%.500s", iss,
		    sub != NULL ? sub : "");
		ir->rule = r;
		ir->token_hdr = hdr;
		ir->payload = (const char *)memchr(tok, '.', len) + 1;
		ir->payload_len =
		    (size_t)((const char *)memchr(ir->payload, '.',
				 len - (size_t)(ir->payload - tok)) -
			ir->payload);
		return 0;
	}
	if (found)
		return inbound_401(s, "Jwt issuer is not configured");
	return 0;
}

static void
inbound_authz_req(
    struct session *s, struct inbound_req *ir, struct authz_request *ar)
{
	const struct http1_msg *m = ir->m;
	const char *q, *host;
	size_t hostlen;

	memset(ar, 0, sizeof(*ar));
	ar->principal = ir->principal[0] != '\0' ? ir->principal : NULL;
	ar->source = (const struct sockaddr *)&s->peer;
	ar->remote = (const struct sockaddr *)&s->peer;
	ar->destination = (const struct sockaddr *)&s->orig;
	ar->port = (uint16_t)netaddr_port(&s->orig);
	if (m == NULL)
		return;
	ar->http = 1;
	ar->method = m->method;
	ar->method_len = m->method_len;
	ar->path = m->target;
	q = memchr(m->target, '?', m->target_len);
	ar->path_len = q != NULL ? (size_t)(q - m->target) : m->target_len;
	if (m->host != NULL &&
	    snap_authority_host(
		m->host->value, m->host->value_len, &host, &hostlen) == 0) {
		ar->host = host;
		ar->host_len = hostlen;
	}
	ar->header = inbound_header_cb;
	ar->header_arg = (void *)(uintptr_t)m;
	ar->request_principal = ir->reqp[0] != '\0' ? ir->reqp : NULL;
	ar->claims = ir->claims;
}

/*
 * An authorization denial: explained (with the nearest ALLOW rule when
 * none matched: only now, so that allowed requests never pay for it)
 * into the exchange's denied field, which the access log writes for
 * every one of them; and logged at most once a second per worker.
 */
static void
inbound_log_deny(struct session *s, const struct authz_set *set,
    const struct authz_request *ar, struct authz_decision *d)
{
	struct worker *w = s->w;
	char p[64];

	authz_explain_nearest(set, ar, d);
	authz_decision_text(d, s->hx.denied, sizeof(s->hx.denied));
	if (w->last_mtls_log == worker_now(w))
		return;
	w->last_mtls_log = worker_now(w);
	netaddr_str(&s->peer, p, sizeof(p));
	log_info("inbound from %s (%s) denied: %s", p,
	    s->tcpkey.peer[0] != '\0' ? s->tcpkey.peer : "no identity",
	    s->hx.denied);
}

static void
inbound_principal(struct session *s, struct inbound_req *ir)
{
	const char *p = s->tcpkey.peer;

	ir->principal[0] = '\0';
	if (strncmp(p, "spiffe://", 9) == 0)
		snprintf(ir->principal, sizeof(ir->principal), "%s", p + 9);
}

/* The rate limits; 0 to go on, or ROUTE_REPLY with the 429 set. */
static int
inbound_rate_limit(
    struct session *s, const struct snap_security *sec, struct inbound_req *ir)
{
	struct http_exchange *hx = &s->hx;
	const struct ratelimit_rule *rl;
	const struct http1_header *h;
	const struct http1_msg *m = ir->m;
	const char *q, *key = NULL;
	char addr[64];
	uint64_t retry_ms;
	size_t i, plen, klen = 0;

	if (s->w->ratelimits == NULL &&
	    (s->w->ratelimits = ratelimit_table_new(0)) == NULL)
		return 0;
	q = memchr(m->target, '?', m->target_len);
	plen = q != NULL ? (size_t)(q - m->target) : m->target_len;
	for (i = 0; i < sec->nlimits; i++) {
		rl = &sec->limits[i];
		if (!ratelimit_match(
			rl, m->method, m->method_len, m->target, plen))
			continue;
		key = NULL;
		klen = 0;
		if (rl->per == RATELIMIT_PER_SOURCE) {
			if (ir->principal[0] != '\0') {
				key = ir->principal;
			} else {
				netaddr_str(&s->peer, addr, sizeof(addr));
				*strrchr(addr, ':') = '\0';
				key = addr;
			}
			klen = strlen(key);
		} else if (rl->per == RATELIMIT_PER_HEADER &&
		    rl->header != NULL &&
		    (h = http1_find(m, rl->header)) != NULL) {
			key = h->value;
			klen = h->value_len;
		}
		if (ratelimit_take(
			s->w->ratelimits, rl, key, klen, now_ns(), &retry_ms))
			continue;
		metrics_deny(s->w->metrics, METRICS_DENY_RATE_LIMIT);
		snprintf(
		    hx->denied, sizeof(hx->denied), "RateLimit %s", rl->id);
		hx->reply_status = 429;
		hx->reply_body = "local_rate_limited";
		hx->rflag = METRICS_RF_RL;
		snprintf(hx->reply_headers, sizeof(hx->reply_headers),
		    "retry-after: %llu\r\nx-weft-ratelimit: %s\r\n",
		    (unsigned long long)((retry_ms + 999) / 1000), rl->id);
		return ROUTE_REPLY;
	}
	return 0;
}

/* Writes the request head with the JWT's header operations. */
static void
inbound_jwt_headers(struct session *s, struct inbound_req *ir, const char *buf)
{
	const struct snap_jwt_rule *r = ir->rule;
	struct snap_hdr set[17];
	struct snap_hdr_ops ops;
	char *remove[1], *vals[17], name[128];
	const char *c;
	json_t *v;
	size_t i, n = 0;

	memset(&ops, 0, sizeof(ops));
	memset(vals, 0, sizeof(vals));
	if (!r->forward && ir->token_hdr != NULL) {
		snprintf(name, sizeof(name), "%.*s",
		    (int)ir->token_hdr->name_len, ir->token_hdr->name);
		remove[0] = name;
		ops.remove = remove;
		ops.nremove = 1;
	}
	if (r->payload_header != NULL) {
		vals[n] = strndup(ir->payload, ir->payload_len);
		set[n].name = (char *)(uintptr_t)r->payload_header;
		set[n].value = vals[n];
		n++;
	}
	for (i = 0; i < r->nclaim_headers && n < 17; i++) {
		v = json_object_get(ir->claims, r->claim_headers[i].claim);
		if (json_is_string(v))
			vals[n] = strdup(json_string_value(v));
		else if ((c = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)) !=
		    NULL)
			vals[n] = (char *)(uintptr_t)c;
		else
			continue;
		set[n].name = (char *)(uintptr_t)r->claim_headers[i].header;
		set[n].value = vals[n];
		n++;
	}
	ops.set = set;
	ops.nset = n;
	for (i = 0; i < n; i++)
		if (set[i].value == NULL)
			set[i].value = (char *)"";
	http_write_head(s->head_out, buf, ir->m,
	    s->hx.upgrade ? "upgrade" : NULL, &ops, NULL, s->hx.trace_hdrs);
	for (i = 0; i < n; i++)
		free(vals[i]);
}

int
inbound_http(struct session *s, const struct http1_msg *m, const char *buf)
{
	const struct snap_security *sec;
	struct authz_request ar;
	struct authz_decision d;
	struct inbound_req ir;
	int rc = ROUTE_PASS;

	if (s->w->hold == NULL ||
	    (sec = snapshot_security(s->w->hold->snap)) == NULL ||
	    (sec->authz == NULL && sec->njwt == 0 && sec->nlimits == 0))
		return ROUTE_PASS;
	memset(&ir, 0, sizeof(ir));
	ir.m = m;
	inbound_principal(s, &ir);
	if (sec->njwt > 0 && (rc = inbound_jwt(s, sec, &ir)) != 0)
		goto out;
	if (sec->authz != NULL) {
		inbound_authz_req(s, &ir, &ar);
		authz_eval(sec->authz, &ar, &d);
		if (!d.allowed) {
			inbound_log_deny(s, sec->authz, &ar, &d);
			metrics_deny(s->w->metrics, METRICS_DENY_AUTHZ);
			s->hx.reply_status = 403;
			s->hx.reply_body = "RBAC: access denied";
			s->hx.rflag = METRICS_RF_RBAC;
			rc = ROUTE_REPLY;
			goto out;
		}
	}
	if (sec->nlimits > 0 && (rc = inbound_rate_limit(s, sec, &ir)) != 0)
		goto out;
	rc = ROUTE_PASS;
	if (ir.rule != NULL &&
	    (!ir.rule->forward || ir.rule->payload_header != NULL ||
		ir.rule->nclaim_headers > 0)) {
		inbound_jwt_headers(s, &ir, buf);
		rc = ROUTE_FORWARD;
	}
out:
	json_decref(ir.claims);
	return rc;
}

int
inbound_tcp(struct session *s)
{
	const struct snap_security *sec;
	struct authz_request ar;
	struct authz_decision d;
	struct inbound_req ir;

	if (s->w->hold == NULL ||
	    (sec = snapshot_security(s->w->hold->snap)) == NULL ||
	    sec->authz == NULL)
		return 0;
	memset(&ir, 0, sizeof(ir));
	inbound_principal(s, &ir);
	inbound_authz_req(s, &ir, &ar);
	authz_eval(sec->authz, &ar, &d);
	if (d.allowed)
		return 0;
	inbound_log_deny(s, sec->authz, &ar, &d);
	metrics_deny(s->w->metrics, METRICS_DENY_AUTHZ);
	return -1;
}
