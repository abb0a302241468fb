/*
 * weftctl explain: what the mesh does with one described request, decided
 * on the snapshots the proxies themselves build from the policy DB
 * (policy_db_load_conn_as()) and with the functions they call. The
 * source's snapshot gives the outbound side: service, virtual host and
 * route (snapshot_lookup(), route_match_detail()), the destinations and
 * their endpoints. Each destination workload's own snapshot gives its
 * inbound side, in the order of inbound_policy.c: PeerAuthentication,
 * RequestAuthentication, AuthorizationPolicy (authz_eval()), RateLimit.
 * Nothing is sent anywhere; the request is only described.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "authz.h"
#include "base64.h"
#include "config_field.h"
#include "ctl.h"
#include "http1.h"
#include "jwt.h"
#include "jwt_locate.h"
#include "policy_db.h"
#include "ratelimit.h"
#include "replica_db.h"
#include "snapshot.h"
#include "store_db.h"
#include "xmalloc.h"

#define EXPLAIN_TRUST_DOMAIN "cluster.local"
#define EXPLAIN_MAX_HEAD     (256 * 1024)

/* A workload as the workloads table knows it. */
struct explain_wl {
	char *service_account;
	char *address;
	json_t *labels;   /* object */
	char *labels_arg; /* "k=v,...", as policy_db_load_conn_as() takes */
};

/* Who sends the request. */
struct explain_src {
	char *spiffe;          /* spiffe://TD/ns/NS/sa/SA */
	const char *principal; /* the same without spiffe://, as authz wants */
	char *td, *ns, *sa;
	const char *workload; /* NULL when given as a SPIFFE ID */
	struct explain_wl wl;
};

/* The request, as a parsed HTTP/1.1 head: what the proxy would parse. */
struct explain_req {
	const char *method, *path, *jwt;
	const char *dest; /* HOST[:PORT] as given: the Host header */
	char *host;       /* without brackets or port */
	int port;
	int is_ip;
	struct sockaddr_storage ip; /* the VIP, when the host is an IP */
	char **hdr;                 /* "name: value" */
	size_t nhdr;
	char *head;
	size_t head_len;
	struct http1_msg msg;
};

/* One destination workload and port, evaluated once. */
struct explain_in {
	const struct snap_endpoint *ep;
	int port;
	json_t *out;
	int allowed;
};

struct explain {
	struct store_db *db;
	struct sqlite3 *h;
	struct explain_src src;
	struct explain_req req;
	struct snapshot *snap; /* the source's */
	struct explain_in *in;
	size_t nin;
	/* What the destination sees, after any rewrite. */
	char *in_path; /* without the query */
	const char *in_host;
	size_t in_host_len;
	json_t *out;
};

static void
explain_wl_clear(struct explain_wl *w)
{
	free(w->service_account);
	free(w->address);
	json_decref(w->labels);
	free(w->labels_arg);
	memset(w, 0, sizeof(*w));
}

/* "k=v,k2=v2" of a labels object. */
static char *
explain_labels_arg(const json_t *labels)
{
	const char *key;
	json_t *v;
	char *s = xstrdup(""), *t;

	json_object_foreach((json_t *)labels, key, v)
	{
		if (!json_is_string(v))
			continue;
		xasprintf(&t, "%s%s%s=%s", s, *s != '\0' ? "," : "", key,
		    json_string_value(v));
		free(s);
		s = t;
	}
	return s;
}

/* A workload of the DB by namespace and name: 1, 0 if none, -1. */
static int
explain_wl_lookup(struct explain *x, const char *ns, const char *name,
    struct explain_wl *w, char **cause)
{
	char *labels = NULL;
	int rc;

	memset(w, 0, sizeof(*w));
	rc = store_db_workload(
	    x->db, ns, name, &w->service_account, &w->address, &labels, cause);
	if (rc != 1)
		return rc;
	w->labels = json_loads(labels, 0, NULL);
	free(labels);
	if (!json_is_object(w->labels)) {
		json_decref(w->labels);
		w->labels = json_object();
	}
	w->labels_arg = explain_labels_arg(w->labels);
	return 1;
}

/* "spiffe://TD/ns/NS/sa/SA" into its parts; -1 when it is not one. */
static int
explain_spiffe_parse(const char *id, struct explain_src *s)
{
	const char *p, *td_end, *ns, *ns_end, *sa;

	if (strncmp(id, "spiffe://", 9) != 0)
		return -1;
	p = id + 9;
	if ((td_end = strchr(p, '/')) == NULL || td_end == p ||
	    strncmp(td_end, "/ns/", 4) != 0)
		return -1;
	ns = td_end + 4;
	if ((ns_end = strchr(ns, '/')) == NULL || ns_end == ns ||
	    strncmp(ns_end, "/sa/", 4) != 0)
		return -1;
	sa = ns_end + 4;
	if (*sa == '\0' || strchr(sa, '/') != NULL)
		return -1;
	s->td = strndup(p, (size_t)(td_end - p));
	s->ns = strndup(ns, (size_t)(ns_end - ns));
	s->sa = xstrdup(sa);
	if (s->td == NULL || s->ns == NULL)
		abort();
	s->spiffe = xstrdup(id);
	return 0;
}

/*
 * HOST[:PORT] or [IPv6][:PORT]; -1 if malformed (a bare IPv6 address
 * too: it is no Host header).
 */
static int
explain_dest_parse(struct explain_req *r)
{
	const char *d = r->dest, *end, *colon;
	char *ep;
	long port = 80;

	if (d[0] == '[') {
		if ((end = strchr(d, ']')) == NULL || end == d + 1)
			return -1;
		r->host = strndup(d + 1, (size_t)(end - d - 1));
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
	} else if ((colon = strchr(d, ':')) != NULL &&
	    strchr(colon + 1, ':') != NULL)
		return -1;
	else
		r->host = colon != NULL ? strndup(d, (size_t)(colon - d))
					: xstrdup(d);
	if (r->host == NULL)
		abort();
	if (*r->host == '\0')
		return -1;
	if (colon != NULL) {
		errno = 0;
		port = strtol(colon + 1, &ep, 10);
		if (colon[1] == '\0' || *ep != '\0' || errno != 0 || port < 1 ||
		    port > 65535)
			return -1;
	}
	r->port = (int)port;
	memset(&r->ip, 0, sizeof(r->ip));
	if (inet_pton(AF_INET, r->host,
		&((struct sockaddr_in *)&r->ip)->sin_addr) == 1) {
		((struct sockaddr_in *)&r->ip)->sin_family = AF_INET;
		((struct sockaddr_in *)&r->ip)->sin_port =
		    htons((uint16_t)port);
		r->is_ip = 1;
	} else if (inet_pton(AF_INET6, r->host,
		       &((struct sockaddr_in6 *)&r->ip)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&r->ip)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&r->ip)->sin6_port =
		    htons((uint16_t)port);
		r->is_ip = 1;
	}
	return 0;
}

/*
 * The request head the source's application would send, parsed by the
 * proxy's own parser: what it refuses, explain refuses.
 */
static void
explain_req_build(struct explain_req *r)
{
	FILE *f;
	size_t i;
	ssize_t n;

	if ((f = open_memstream(&r->head, &r->head_len)) == NULL)
		abort();
	fprintf(
	    f, "%s %s HTTP/1.1\r\nHost: %s\r\n", r->method, r->path, r->dest);
	for (i = 0; i < r->nhdr; i++)
		fprintf(f, "%s\r\n", r->hdr[i]);
	if (r->jwt != NULL)
		fprintf(f, "Authorization: Bearer %s\r\n", r->jwt);
	fprintf(f, "\r\n");
	if (fclose(f) != 0)
		abort();
	n = http1_parse_request(
	    r->head, r->head_len, EXPLAIN_MAX_HEAD, &r->msg);
	if (n <= 0)
		ctl_usage_error("explain: not a valid request: %s",
		    http1_error_str(
			n < 0 ? r->msg.error : HTTP1_E_BAD_START_LINE));
}

static const char *
explain_header_cb(void *arg, const char *name, size_t *len)
{
	const struct http1_header *h = http1_find(arg, name);

	if (h == NULL)
		return NULL;
	*len = h->value_len;
	return h->value;
}

static int
explain_ep_port(const struct snap_endpoint *ep)
{
	if (ep->addr.ss_family == AF_INET6)
		return ntohs(
		    ((const struct sockaddr_in6 *)&ep->addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&ep->addr)->sin_port);
}

/* "198.18.0.12:9080" or "[2001:2::1]:9080". */
static void
explain_addr_str(const struct sockaddr_storage *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->ss_family == AF_INET6) {
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)a)->sin6_addr, ip,
		    sizeof(ip));
		snprintf(buf, len, "[%s]:%d", ip,
		    ntohs(((const struct sockaddr_in6 *)a)->sin6_port));
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr,
		    ip, sizeof(ip));
		snprintf(buf, len, "%s:%d", ip,
		    ntohs(((const struct sockaddr_in *)a)->sin_port));
	}
}

static double
explain_ppm_pct(uint32_t ppm)
{
	return (double)ppm * 100 / SNAP_PPM;
}

/* retryOn, as Istio writes it. */
static char *
explain_retry_on(const struct snap_route *r)
{
	static const struct {
		unsigned int bit;
		const char *name;
	} names[] = {
	    {SNAP_RETRY_5XX, "5xx"},
	    {SNAP_RETRY_GATEWAY_ERROR, "gateway-error"},
	    {SNAP_RETRY_CONNECT_FAILURE, "connect-failure"},
	    {SNAP_RETRY_REFUSED_STREAM, "refused-stream"},
	    {SNAP_RETRY_RESET, "reset"},
	    {SNAP_RETRY_RESET_BEFORE_REQUEST, "reset-before-request"},
	    {SNAP_RETRY_RETRIABLE_4XX, "retriable-4xx"},
	    {SNAP_RETRY_RETRIABLE_CODES, "retriable-status-codes"},
	};
	char *s = xstrdup(""), *t;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((r->retries.retry_on & names[i].bit) == 0)
			continue;
		xasprintf(
		    &t, "%s%s%s", s, *s != '\0' ? "," : "", names[i].name);
		free(s);
		s = t;
	}
	for (i = 0; i < r->retries.ncodes; i++) {
		xasprintf(&t, "%s%s%u", s, *s != '\0' ? "," : "",
		    (unsigned int)r->retries.codes[i]);
		free(s);
		s = t;
	}
	return s;
}

/* The route's resiliency settings and rewrites, into out. */
static void
explain_route_extras(const struct snap_route *r, json_t *out)
{
	json_t *o;
	char *on;

	if (r->timeout_ms > 0)
		json_object_set_new(
		    out, "timeoutMs", json_integer(r->timeout_ms));
	if (r->retries.attempts > 0) {
		on = explain_retry_on(r);
		o = json_pack("{s:i, s:s}", "attempts", r->retries.attempts,
		    "retryOn", on);
		free(on);
		if (r->retries.per_try_ms > 0)
			json_object_set_new(o, "perTryTimeoutMs",
			    json_integer(r->retries.per_try_ms));
		json_object_set_new(out, "retries", o);
	}
	if ((r->fault.abort_status != 0 && r->fault.abort_ppm > 0) ||
	    (r->fault.delay_ms > 0 && r->fault.delay_ppm > 0)) {
		o = json_object();
		if (r->fault.abort_status != 0 && r->fault.abort_ppm > 0) {
			json_object_set_new(o, "abortStatus",
			    json_integer(r->fault.abort_status));
			json_object_set_new(o, "abortPercent",
			    json_real(explain_ppm_pct(r->fault.abort_ppm)));
		}
		if (r->fault.delay_ms > 0 && r->fault.delay_ppm > 0) {
			json_object_set_new(
			    o, "delayMs", json_integer(r->fault.delay_ms));
			json_object_set_new(o, "delayPercent",
			    json_real(explain_ppm_pct(r->fault.delay_ppm)));
		}
		json_object_set_new(out, "fault", o);
	}
	if (r->mirror.cluster != NULL)
		json_object_set_new(out, "mirror",
		    json_pack("{s:s, s:f}", "cluster", r->mirror.cluster->name,
			"percent", explain_ppm_pct(r->mirror.ppm)));
	if (r->rewrite_uri != NULL || r->rewrite_authority != NULL) {
		o = json_object();
		if (r->rewrite_uri != NULL)
			json_object_set_new(
			    o, "uri", json_string(r->rewrite_uri));
		if (r->rewrite_authority != NULL)
			json_object_set_new(
			    o, "authority", json_string(r->rewrite_authority));
		json_object_set_new(out, "rewrite", o);
	}
}

/*
 * What the destination sees: a uri rewrite replaces the prefix the
 * route matched (or the whole path, keeping the query), as the proxy's
 * route_rewrite_target() does; an authority rewrite replaces the Host.
 */
static void
explain_rewrite(
    struct explain *x, const struct snap_route *r, const struct snap_match *mt)
{
	const char *path = x->req.path, *q = strchr(path, '?');
	size_t plen = q != NULL ? (size_t)(q - path) : strlen(path), cut;
	char *full;

	x->in_host = x->req.msg.host->value;
	x->in_host_len = x->req.msg.host->value_len;
	if (r != NULL && r->rewrite_authority != NULL) {
		x->in_host = r->rewrite_authority;
		x->in_host_len = strlen(r->rewrite_authority);
	}
	if (r == NULL || r->rewrite_uri == NULL) {
		x->in_path = strndup(path, plen);
		if (x->in_path == NULL)
			abort();
		return;
	}
	cut = plen;
	if (mt != NULL && mt->has_uri &&
	    (mt->uri.kind == SNAP_STR_PREFIX ||
		mt->uri.kind == SNAP_STR_EXACT) &&
	    mt->uri.len <= plen)
		cut = mt->uri.len;
	xasprintf(&full, "%s%s", r->rewrite_uri, path + cut);
	q = strchr(full, '?');
	x->in_path =
	    q != NULL ? strndup(full, (size_t)(q - full)) : xstrdup(full);
	if (x->in_path == NULL)
		abort();
	free(full);
}

/*
 * RequestAuthentication as inbound_jwt() decides it: a token must be
 * valid for the rule of its issuer; no token passes. Fills jo; returns
 * 0 (with *claims and reqp set for a valid token) or 401. The keys of a
 * jwksUri are the proxy's to fetch: such a token's claims are taken
 * unverified, and said to be.
 */
static int
explain_jwt(const struct snap_security *sec, const struct http1_msg *m,
    json_t *jo, json_t **claims, char *reqp, size_t reqplen)
{
	const struct snap_jwt_rule *r;
	const struct http1_header *hdr;
	const char *tok, *sub, *why = NULL;
	char iss[512];
	struct jwt_rule jr;
	enum jwt_status st;
	json_t *payload;
	size_t i, len;
	int found = 0;

	for (i = 0; i < sec->njwt; i++) {
		r = &sec->jwt[i];
		if (!jwt_locate(m, r, &tok, &len, &hdr))
			continue;
		if (!found++) {
			if ((payload = jwt_unverified_payload(tok, len)) ==
			    NULL) {
				why = jwt_status_text(JWT_MALFORMED);
				break;
			}
			snprintf(iss, sizeof(iss), "%s",
			    json_string_value(json_object_get(payload, "iss")));
			json_decref(payload);
		}
		if (strcmp(iss, r->issuer) != 0)
			continue;
		json_object_set_new(jo, "issuer", json_string(r->issuer));
		if (r->keys == NULL && r->jwks_uri != NULL) {
			*claims = jwt_unverified_payload(tok, len);
			json_object_set_new(
			    jo, "status", json_string("unverified"));
			json_object_set_new(
			    jo, "jwksUri", json_string(r->jwks_uri));
		} else if (r->keys == NULL) {
			why = "Jwks remote fetch is failed";
			break;
		} else {
			memset(&jr, 0, sizeof(jr));
			jr.issuer = r->issuer;
			jr.audiences = r->audiences;
			st = jwt_verify(r->keys, &jr, tok, len,
			    (int64_t)time(NULL), claims);
			if (st != JWT_OK) {
				why = jwt_status_text(st);
				break;
			}
			json_object_set_new(jo, "status", json_string("valid"));
		}
		sub = json_string_value(json_object_get(*claims, "sub"));
		snprintf(
		    reqp, reqplen, "%s/%.500s", iss, sub != NULL ? sub : "");
		json_object_set_new(jo, "requestPrincipal", json_string(reqp));
		json_object_set_new(jo, "claims", json_incref(*claims));
		return 0;
	}
	if (found && why == NULL)
		why = "Jwt issuer is not configured";
	if (why == NULL) {
		json_object_set_new(jo, "status", json_string("none"));
		return 0;
	}
	json_object_set_new(jo, "status", json_string("invalid"));
	json_object_set_new(jo, "reason", json_string(why));
	return 401;
}

/*
 * The AuthorizationPolicies that select a workload (namespace ns, labels
 * labels), as snapshot_security.c picks them: its namespace's, and the
 * root namespaces' mesh-wide ones; a selector must match every label.
 * Only to name them: the decision is authz_eval()'s.
 */
static json_t *
explain_policies(struct explain *x, const char *ns, const json_t *labels)
{
	struct store_db_rows rows = {NULL, 0};
	const struct store_db_row *row;
	json_t *out = json_array(), *sel, *v;
	const char *key, *action, *dry;
	char *cause = NULL, *name;
	size_t i;
	int ok, root;

	if (store_db_list(x->db, STORE_DB_KIND(CONFIG_AUTHORIZATION_POLICY),
		NULL, NULL, &rows, &cause) == -1) {
		free(cause);
		return out;
	}
	for (i = 0; i < rows.n; i++) {
		row = &rows.v[i];
		root = strcmp(row->namespace, "istio-system") == 0 ||
		    strcmp(row->namespace, "weft-system") == 0;
		if (strcmp(row->namespace, ns) != 0 && !root)
			continue;
		sel = json_object_get(
		    json_object_get(row->spec, "selector"), "matchLabels");
		ok = 1;
		json_object_foreach(sel, key, v)
		{
			if (!json_is_string(v) ||
			    !json_is_string(json_object_get(labels, key)) ||
			    strcmp(json_string_value(v),
				json_string_value(
				    json_object_get(labels, key))) != 0)
				ok = 0;
		}
		if (!ok)
			continue;
		action =
		    json_string_value(json_object_get(row->spec, "action"));
		dry = json_string_value(
		    json_object_get(row->annotations, "istio.io/dry-run"));
		xasprintf(&name, "%s/%s", row->namespace, row->name);
		json_array_append_new(out,
		    json_pack("{s:s, s:s, s:b}", "name", name, "action",
			action != NULL ? action : "ALLOW", "dryRun",
			dry != NULL && config_bool_word(dry) == 1));
		free(name);
	}
	store_db_rows_clear(&rows);
	return out;
}

static const char *
explain_action(enum authz_action a)
{
	switch (a) {
	case AUTHZ_ALLOW:
		return "ALLOW";
	case AUTHZ_DENY:
		return "DENY";
	case AUTHZ_AUDIT:
		return "AUDIT";
	}
	return "ALLOW";
}

/* The rate limits of sec that the request would take a token from. */
static json_t *
explain_limits(struct explain *x, const struct snap_security *sec)
{
	const struct ratelimit_rule *rl;
	json_t *out = json_array(), *o;
	char *per;
	size_t i;

	for (i = 0; i < sec->nlimits; i++) {
		rl = &sec->limits[i];
		if (!ratelimit_match(rl, x->req.method, strlen(x->req.method),
			x->in_path, strlen(x->in_path)))
			continue;
		o = json_pack("{s:s, s:f, s:f}", "id", rl->id,
		    "requestsPerSecond", rl->rate, "burst", rl->burst);
		if (rl->per == RATELIMIT_PER_SOURCE)
			json_object_set_new(o, "per", json_string("source"));
		else if (rl->per == RATELIMIT_PER_HEADER) {
			xasprintf(&per, "header %s",
			    rl->header != NULL ? rl->header : "");
			json_object_set_new(o, "per", json_string(per));
			free(per);
		}
		json_array_append_new(out, o);
	}
	return out;
}

/*
 * The ALLOW rule nearest to matching a denied request, and the first
 * condition it failed (authz_explain_nearest()).
 */
static json_t *
explain_nearest(const struct authz_decision *d)
{
	json_t *o;
	char *name;

	xasprintf(&name, "%s/%s", authz_policy_namespace(d->nearest),
	    authz_policy_name(d->nearest));
	o = json_pack("{s:s, s:i, s:s}", "policy", name, "rule",
	    d->nearest_rule, "failed", d->nearest_why);
	free(name);
	return o;
}

/*
 * The inbound side of one destination workload on one port, decided on
 * its own snapshot in inbound_policy.c's order. mtls: whether the
 * source's sidecar connects with mesh mTLS (else the source has no
 * principal there). Returns the JSON of the decision, or NULL after
 * printing why it cannot be made.
 */
static json_t *
explain_inbound(struct explain *x, const struct snap_endpoint *ep, int port,
    int mtls, int *allowed)
{
	struct explain_wl wl;
	struct snapshot *s;
	const struct snap_security *sec;
	struct authz_request ar;
	struct authz_decision d;
	json_t *o, *jo, *claims = NULL, *az;
	char *cause = NULL, *name, reqp[1100], why[512], text[512];
	int found, strict, status = 200;

	if ((found = explain_wl_lookup(
		 x, ep->namespace, ep->workload, &wl, &cause)) == -1) {
		ctl_warnx("%s", cause);
		free(cause);
		return NULL;
	}
	if (!found) {
		wl.labels = json_object();
		wl.labels_arg = xstrdup("");
	}
	s = policy_db_load_conn_as(x->h, ep->namespace, wl.labels_arg, &cause);
	if (s == NULL) {
		ctl_warnx("%s", cause);
		free(cause);
		explain_wl_clear(&wl);
		return NULL;
	}
	sec = snapshot_security(s);
	strict = snapshot_peer_auth_strict(s, port);
	xasprintf(&name, "%s/%s", ep->namespace, ep->workload);
	o = json_pack("{s:s, s:s, s:s, s:i, s:O, s:s, s:s}", "workload", name,
	    "namespace", ep->namespace, "name", ep->workload, "port", port,
	    "labels", wl.labels, "peerAuthentication",
	    strict ? "STRICT" : "PERMISSIVE", "transport",
	    mtls ? "mTLS" : "plaintext");
	free(name);
	json_object_set_new(
	    o, "principal", mtls ? json_string(x->src.principal) : json_null());
	*allowed = 0;
	if (strict && !mtls) {
		snprintf(why, sizeof(why),
		    "PeerAuthentication STRICT on port %d refuses plaintext: "
		    "the connection is closed",
		    port);
		status = 0;
		goto done;
	}

	jo = json_object();
	json_object_set_new(o, "jwt", jo);
	if (sec->njwt == 0)
		json_object_set_new(jo, "status",
		    json_string(x->req.jwt != NULL ? "not validated" : "none"));
	else if ((status = explain_jwt(sec, &x->req.msg, jo, &claims, reqp,
		      sizeof(reqp))) != 0) {
		snprintf(why, sizeof(why), "401 %s",
		    json_string_value(json_object_get(jo, "reason")));
		goto done;
	}
	status = 200;

	if (sec->authz == NULL) {
		json_object_set_new(o, "authorization", json_null());
	} else {
		memset(&ar, 0, sizeof(ar));
		ar.http = 1;
		ar.principal = mtls ? x->src.principal : NULL;
		ar.destination = (const struct sockaddr *)&ep->addr;
		ar.port = (uint16_t)port;
		ar.method = x->req.method;
		ar.method_len = strlen(x->req.method);
		ar.path = x->in_path;
		ar.path_len = strlen(x->in_path);
		if (snap_authority_host(x->in_host, x->in_host_len, &ar.host,
			&ar.host_len) == -1) {
			ar.host = NULL;
			ar.host_len = 0;
		}
		ar.header = explain_header_cb;
		ar.header_arg = &x->req.msg;
		ar.request_principal = claims != NULL ? reqp : NULL;
		ar.claims = claims;
		authz_eval(sec->authz, &ar, &d);
		az = json_pack("{s:b, s:s, s:o}", "allowed", d.allowed,
		    "reason", d.reason != NULL ? d.reason : "", "policies",
		    explain_policies(x, ep->namespace, wl.labels));
		if (d.policy != NULL) {
			xasprintf(&name, "%s/%s",
			    authz_policy_namespace(d.policy),
			    authz_policy_name(d.policy));
			json_object_set_new(az, "policy", json_string(name));
			free(name);
			json_object_set_new(az, "action",
			    json_string(
				explain_action(authz_policy_action(d.policy))));
			json_object_set_new(az, "rule", json_integer(d.rule));
		}
		if (!d.allowed && d.policy == NULL) {
			/* The proxy explains its 403s the same way. */
			authz_explain_nearest(sec->authz, &ar, &d);
			if (d.nearest != NULL)
				json_object_set_new(
				    az, "nearest", explain_nearest(&d));
		}
		if (!d.allowed) {
			authz_decision_text(&d, text, sizeof(text));
			json_object_set_new(
			    az, "explanation", json_string(text));
		}
		if (d.dry_run_denied)
			json_object_set_new(az, "dryRunDenied", json_true());
		if (d.audit != NULL) {
			xasprintf(&name, "%s/%s",
			    authz_policy_namespace(d.audit),
			    authz_policy_name(d.audit));
			json_object_set_new(az, "audit", json_string(name));
			free(name);
		}
		json_object_set_new(o, "authorization", az);
		if (!d.allowed) {
			status = 403;
			snprintf(why, sizeof(why),
			    "403 RBAC: access denied (%s)",
			    d.reason != NULL ? d.reason : "denied");
			goto done;
		}
	}
	*allowed = 1;
	snprintf(why, sizeof(why), "allowed");
done:
	/* Only a request that got past authorization takes a token. */
	json_object_set_new(
	    o, "rateLimits", *allowed ? explain_limits(x, sec) : json_array());
	json_object_set_new(o, "allowed", json_boolean(*allowed));
	json_object_set_new(o, "status", json_integer(status));
	json_object_set_new(o, "reason", json_string(why));
	json_decref(claims);
	snapshot_unref(s);
	explain_wl_clear(&wl);
	return o;
}

/*
 * Whether the source's sidecar speaks mesh mTLS to ep (upstream_mtls()
 * with certificates present): to an endpoint with a sidecar unless the
 * DestinationRule disables TLS, and to any with ISTIO_MUTUAL.
 */
static int
explain_mtls(const struct snap_cluster *c, const struct snap_endpoint *ep)
{
	if (c->policy.tls_mode == SNAP_TLS_DISABLE)
		return 0;
	return ep->sidecar || c->policy.tls_mode == SNAP_TLS_ISTIO_MUTUAL;
}

/* The inbound decision for an endpoint, made once per workload and port. */
static struct explain_in *
explain_in_get(struct explain *x, const struct snap_endpoint *ep, int mtls)
{
	struct explain_in *in;
	size_t i;
	int port = explain_ep_port(ep);

	for (i = 0; i < x->nin; i++) {
		in = &x->in[i];
		if (in->port == port &&
		    strcmp(in->ep->namespace, ep->namespace) == 0 &&
		    strcmp(in->ep->workload, ep->workload) == 0)
			return in;
	}
	x->in = xreallocarray(x->in, x->nin + 1, sizeof(*x->in));
	in = &x->in[x->nin];
	memset(in, 0, sizeof(*in));
	in->ep = ep;
	in->port = port;
	if ((in->out = explain_inbound(x, ep, port, mtls, &in->allowed)) ==
	    NULL)
		return NULL;
	x->nin++;
	return in;
}

/* Sets the overall answer (the first reason that denies wins). */
static void
explain_verdict(json_t *out, int allowed, int status, const char *reason)
{
	if (json_object_get(out, "allowed") != NULL &&
	    (allowed || !json_is_true(json_object_get(out, "allowed"))))
		return;
	json_object_set_new(out, "allowed", json_boolean(allowed));
	json_object_set_new(out, "status", json_integer(status));
	json_object_set_new(out, "reason", json_string(reason));
}

/*
 * One destination of the route (d NULL: the service's default cluster
 * c): its endpoints, and the inbound decision of each healthy one.
 * Returns -1 when a decision could not be made.
 */
static int
explain_dest(struct explain *x, const struct snap_route *r,
    const struct snap_dest *d, const struct snap_cluster *c, json_t *list)
{
	const struct snap_endpoint *ep;
	struct explain_in *in;
	json_t *o, *eps;
	char addr[64], *why;
	double pct = 100;
	size_t i, nhealthy = 0;
	int mtls;

	if (d != NULL && r->ndests > 1)
		pct = r->total_weight > 0
		    ? (double)d->weight * 100 / (double)r->total_weight
		    : 0;
	o = json_pack("{s:s, s:o, s:i, s:f, s:o}", "host",
	    d != NULL ? d->host
		      : (c->service->nhosts > 0 ? c->service->hosts[0]
						: c->service->name),
	    "subset",
	    d != NULL && d->subset != NULL ? json_string(d->subset)
					   : json_null(),
	    "weight", d != NULL ? (int)d->weight : 100, "percent", pct,
	    "cluster", c != NULL ? json_string(c->name) : json_null());
	json_array_append_new(list, o);
	eps = json_array();
	json_object_set_new(o, "endpoints", eps);
	if (c == NULL) {
		if (pct > 0)
			explain_verdict(x->out, 0, 503,
			    "a destination is no known service (503)");
		return 0;
	}
	for (i = 0; i < c->nendpoints; i++) {
		ep = c->endpoints[i];
		mtls = explain_mtls(c, ep);
		explain_addr_str(&ep->addr, addr, sizeof(addr));
		json_array_append_new(eps,
		    json_pack("{s:s, s:s, s:s, s:b, s:b, s:s}", "address", addr,
			"workload", ep->workload, "namespace", ep->namespace,
			"healthy", ep->healthy, "mtls", mtls, "locality",
			ep->locality));
		if (!ep->healthy || pct <= 0)
			continue;
		nhealthy++;
		if ((in = explain_in_get(x, ep, mtls)) == NULL)
			return -1;
		if (!in->allowed) {
			xasprintf(&why, "%s: %s",
			    json_string_value(
				json_object_get(in->out, "workload")),
			    json_string_value(
				json_object_get(in->out, "reason")));
			explain_verdict(x->out, 0,
			    (int)json_integer_value(
				json_object_get(in->out, "status")),
			    why);
			free(why);
		}
	}
	if (nhealthy == 0 && pct > 0)
		explain_verdict(x->out, 0, 503,
		    "a destination has no healthy endpoint "
		    "(503 no healthy upstream)");
	return 0;
}

/* The outbound side, on the source's snapshot; -1 on failure. */
static int
explain_outbound(struct explain *x)
{
	const struct snap_service *svc = NULL;
	const struct snap_vhost *vh;
	const struct snap_route *r = NULL;
	const struct snap_match *mt = NULL;
	const struct snap_cluster *c;
	struct http_req_view view;
	json_t *out = x->out, *dests, *ro;
	char *name, *ports, *t;
	size_t i, j;

	memset(&view, 0, sizeof(view));
	view.method = x->req.msg.method;
	view.method_len = x->req.msg.method_len;
	view.path = x->req.msg.target;
	view.path_len = x->req.msg.target_len;
	view.authority = x->req.msg.host->value;
	view.authority_len = x->req.msg.host->value_len;
	view.port = x->req.port;
	view.fields = x->req.msg.headers;
	view.nfields = x->req.msg.nheaders;

	vh = snapshot_lookup(x->snap, view.authority, view.authority_len,
	    x->req.is_ip ? &x->req.ip : NULL, &svc);
	if (svc != NULL) {
		xasprintf(&name, "%s/%s", svc->namespace, svc->name);
		json_object_set_new(out, "service", json_string(name));
		free(name);
	} else
		json_object_set_new(out, "service", json_null());
	if (vh != NULL) {
		xasprintf(&name, "%s/%s", vh->namespace, vh->name);
		json_object_set_new(out, "virtualService", json_string(name));
		free(name);
	} else
		json_object_set_new(out, "virtualService", json_null());
	json_object_set_new(out, "route", json_null());
	dests = json_array();
	json_object_set_new(out, "destinations", dests);
	json_object_set_new(out, "inbound", json_array());

	if (vh == NULL && svc == NULL) {
		explain_rewrite(x, NULL, NULL);
		explain_verdict(out, 1, 0,
		    "no service of the mesh: the request passes through to "
		    "its original destination");
		return 0;
	}
	if (vh == NULL) {
		explain_rewrite(x, NULL, NULL);
		if ((c = snapshot_default_cluster(x->snap, svc, x->req.port)) ==
		    NULL) {
			ports = xstrdup("");
			for (i = 0; i < svc->nports; i++) {
				xasprintf(&t, "%s%s%d", ports,
				    i > 0 ? ", " : "", svc->ports[i]);
				free(ports);
				ports = t;
			}
			xasprintf(&t,
			    "service %s/%s has no port %d (ports: %s): the "
			    "request passes through to its original "
			    "destination",
			    svc->namespace, svc->name, x->req.port, ports);
			explain_verdict(out, 1, 0, t);
			free(t);
			free(ports);
			return 0;
		}
		if (explain_dest(x, NULL, NULL, c, dests) == -1)
			return -1;
		goto done;
	}

	if ((r = route_match_detail(vh, &view, &mt)) == NULL) {
		explain_rewrite(x, NULL, NULL);
		explain_verdict(out, 0, 404,
		    "no route of the VirtualService matches (404 route not "
		    "found)");
		return 0;
	}
	ro = json_pack(
	    "{s:i, s:s}", "index", (int)(r - vh->routes), "name", r->name);
	json_object_set_new(ro, "match", json_null());
	for (j = 0; j < r->nmatches; j++) {
		if (mt == &r->matches[j])
			json_object_set_new(ro, "match", json_integer((int)j));
	}
	json_object_set_new(out, "route", ro);
	explain_route_extras(r, out);
	explain_rewrite(x, r, mt);
	if (r->fault.abort_status != 0 && r->fault.abort_ppm >= SNAP_PPM) {
		xasprintf(&t, "fault injection aborts every request with %d",
		    r->fault.abort_status);
		explain_verdict(out, 0, r->fault.abort_status, t);
		free(t);
	}
	if (r->ndests == 0 || (r->ndests > 1 && r->total_weight == 0))
		explain_verdict(out, 0, 503,
		    "the route has no destination "
		    "(503 no healthy upstream)");
	for (i = 0; i < r->ndests; i++) {
		if (explain_dest(
			x, r, &r->dests[i], r->dests[i].cluster, dests) == -1)
			return -1;
	}
done:
	for (i = 0; i < x->nin; i++)
		json_array_append(
		    json_object_get(out, "inbound"), x->in[i].out);
	explain_verdict(out, 1, 200, "allowed");
	return 0;
}

/* Who the source is, and its snapshot; -1 after printing why not. */
static int
explain_source(
    struct explain *x, const char *source, const char *ns, const char *td)
{
	struct explain_src *s = &x->src;
	json_t *o;
	char *cause = NULL;
	int rc;

	if (strncmp(source, "spiffe://", 9) != 0) {
		s->workload = source;
		if ((rc = explain_wl_lookup(x, ns, source, &s->wl, &cause)) ==
		    -1) {
			ctl_warnx("%s", cause);
			free(cause);
			return -1;
		}
		if (rc == 0) {
			ctl_warnx("workload \"%s\" not found in namespace %s",
			    source, ns);
			return -1;
		}
		s->td = xstrdup(td);
		s->ns = xstrdup(ns);
		s->sa = xstrdup(s->wl.service_account);
		xasprintf(
		    &s->spiffe, "spiffe://%s/ns/%s/sa/%s", s->td, s->ns, s->sa);
	}
	s->principal = s->spiffe + strlen("spiffe://");
	x->snap = policy_db_load_conn_as(x->h, s->ns,
	    s->wl.labels_arg != NULL ? s->wl.labels_arg : "", &cause);
	if (x->snap == NULL) {
		ctl_warnx("%s", cause);
		free(cause);
		return -1;
	}
	o = json_pack("{s:s, s:s, s:s, s:s}", "principal", s->spiffe,
	    "trustDomain", s->td, "namespace", s->ns, "serviceAccount", s->sa);
	if (s->workload != NULL) {
		json_object_set_new(o, "workload", json_string(s->workload));
		json_object_set_new(o, "address", json_string(s->wl.address));
		json_object_set_new(o, "labels", json_incref(s->wl.labels));
	}
	json_object_set_new(x->out, "source", o);
	json_object_set_new(
	    x->out, "policyVersion", json_integer(snapshot_version(x->snap)));
	return 0;
}

static void
explain_request_json(struct explain *x)
{
	json_t *o, *h;
	size_t i;

	h = json_object();
	for (i = 0; i < x->req.msg.nheaders; i++) {
		const struct http1_header *f = &x->req.msg.headers[i];
		char *k = strndup(f->name, f->name_len);

		if (k == NULL)
			abort();
		if (strcasecmp(k, "host") != 0 &&
		    strcasecmp(k, "authorization") != 0)
			json_object_set_new(
			    h, k, json_stringn(f->value, f->value_len));
		free(k);
	}
	o = json_pack("{s:s, s:s, s:s, s:i, s:o, s:b}", "method", x->req.method,
	    "path", x->req.path, "authority", x->req.dest, "port", x->req.port,
	    "headers", h, "jwt", x->req.jwt != NULL);
	json_object_set_new(x->out, "request", o);
}

static void
explain_clear(struct explain *x)
{
	size_t i;

	for (i = 0; i < x->nin; i++)
		json_decref(x->in[i].out);
	free(x->in);
	for (i = 0; i < x->req.nhdr; i++)
		free(x->req.hdr[i]);
	free(x->req.hdr);
	free(x->req.head);
	free(x->req.host);
	free(x->in_path);
	free(x->src.spiffe);
	free(x->src.td);
	free(x->src.ns);
	free(x->src.sa);
	explain_wl_clear(&x->src.wl);
	if (x->snap != NULL)
		snapshot_unref(x->snap);
	json_decref(x->out);
	store_db_close(x->db);
}

int
ctl_explain(struct ctl *ctl, int argc, char **argv)
{
	char tmpdir[64] = "";
	enum {
		OPT_SOURCE = CTL_OPT_IGNORE_NOT_FOUND + 100,
		OPT_DESTINATION,
		OPT_METHOD,
		OPT_PATH,
		OPT_HEADER,
		OPT_JWT,
		OPT_TRUST_DOMAIN,
	};
	static const struct option longopts[] = {
	    {"source", required_argument, NULL, OPT_SOURCE},
	    {"destination", required_argument, NULL, OPT_DESTINATION},
	    {"method", required_argument, NULL, OPT_METHOD},
	    {"path", required_argument, NULL, OPT_PATH},
	    {"header", required_argument, NULL, OPT_HEADER},
	    {"jwt", required_argument, NULL, OPT_JWT},
	    {"trust-domain", required_argument, NULL, OPT_TRUST_DOMAIN},
	    {"namespace", required_argument, NULL, 'n'},
	    {"output", required_argument, NULL, 'o'},
	    CTL_COMMON_LONGOPTS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct explain x;
	const char *source = NULL, *ns = CONFIG_DEFAULT_NAMESPACE;
	const char *td = EXPLAIN_TRUST_DOMAIN, *eq;
	char *s;
	int ch, json = 0, rc = CTL_EXIT_FAIL;

	memset(&x, 0, sizeof(x));
	x.req.method = "GET";
	x.req.path = "/";
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":n:o:h", longopts, NULL)) != -1) {
		if (ctl_common_option(ctl, ch, optarg))
			continue;
		switch (ch) {
		case OPT_SOURCE:
			source = optarg;
			break;
		case OPT_DESTINATION:
			x.req.dest = optarg;
			break;
		case OPT_METHOD:
			x.req.method = optarg;
			break;
		case OPT_PATH:
			if (optarg[0] != '/')
				ctl_usage_error(
				    "explain: --path must start with /");
			x.req.path = optarg;
			break;
		case OPT_HEADER:
			if ((eq = strchr(optarg, '=')) == NULL || eq == optarg)
				ctl_usage_error("explain: --header %s: want "
						"NAME=VALUE",
				    optarg);
			if ((eq - optarg == 4 &&
				strncasecmp(optarg, "host", 4) == 0))
				ctl_usage_error("explain: --header host: the "
						"Host is the --destination");
			xasprintf(
			    &s, "%.*s: %s", (int)(eq - optarg), optarg, eq + 1);
			x.req.hdr = xreallocarray(
			    x.req.hdr, x.req.nhdr + 1, sizeof(*x.req.hdr));
			x.req.hdr[x.req.nhdr++] = s;
			break;
		case OPT_JWT:
			x.req.jwt = optarg;
			break;
		case OPT_TRUST_DOMAIN:
			if (*optarg == '\0' || strchr(optarg, '/') != NULL)
				ctl_usage_error(
				    "explain: invalid trust domain \"%s\"",
				    optarg);
			td = optarg;
			break;
		case 'n':
			if (!config_dns_label(optarg))
				ctl_usage_error(
				    "explain: invalid namespace \"%s\"",
				    optarg);
			ns = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				json = 1;
			else if (strcmp(optarg, "text") == 0)
				json = 0;
			else
				ctl_usage_error("explain: unknown output "
						"format \"%s\" (text or json)",
				    optarg);
			break;
		case 'h':
			ctl_usage(stdout);
			exit(CTL_EXIT_OK);
		default:
			ctl_option_error("explain", ch, argv);
		}
	}
	if (optind < argc)
		ctl_usage_error(
		    "explain: unexpected argument \"%s\"", argv[optind]);
	if (source == NULL)
		ctl_usage_error("explain: --source SPIFFE-ID|WORKLOAD is "
				"required");
	if (x.req.dest == NULL)
		ctl_usage_error("explain: --destination HOST[:PORT] is "
				"required");
	if (strncmp(source, "spiffe://", 9) == 0 &&
	    explain_spiffe_parse(source, &x.src) == -1)
		ctl_usage_error("explain: --source %s: want "
				"spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/ACCOUNT",
		    source);
	if (explain_dest_parse(&x.req) == -1)
		ctl_usage_error("explain: --destination %s: want HOST[:PORT] "
				"(an IPv6 address in brackets)",
		    x.req.dest);
	explain_req_build(&x.req);
	if (x.req.jwt != NULL) {
		/* The token is sent once: as Authorization: Bearer. */
		size_t i, n = 0;

		for (i = 0; i < x.req.msg.nheaders; i++)
			n += http1_name_eq(x.req.msg.headers[i].name,
			    x.req.msg.headers[i].name_len, "authorization");
		if (n > 1)
			ctl_usage_error("explain: --jwt with an authorization "
					"header");
	}

	if (ctl->server != NULL) {
		if ((x.db = ctl_remote_copy(ctl, tmpdir)) == NULL)
			goto out;
	} else if ((x.db = ctl_open(ctl, 0)) == NULL)
		goto out;
	x.h = store_db_handle(x.db);
	x.out = json_object();
	if (explain_source(&x, source, ns, td) == -1)
		goto out;
	explain_request_json(&x);
	if (explain_outbound(&x) == -1)
		goto out;
	if (json) {
		if ((s = json_dumps(x.out,
			 JSON_INDENT(2) | JSON_PRESERVE_ORDER |
			     JSON_REAL_PRECISION(6))) == NULL)
			goto out;
		printf("%s\n", s);
		free(s);
	} else
		ctl_explain_print_text(x.out);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_warnx("stdout: %s", strerror(errno));
		goto out;
	}
	rc = json_is_true(json_object_get(x.out, "allowed")) ? CTL_EXIT_OK
							     : CTL_EXIT_FAIL;
out:
	explain_clear(&x);
	if (tmpdir[0] != '\0')
		ctl_remote_copy_remove(tmpdir);
	return rc;
}
