/*
 * The security part of a policy snapshot: of the PeerAuthentications,
 * AuthorizationPolicies, RequestAuthentications and RateLimits in the
 * DB, those that select this workload, compiled once for the inbound
 * side (see snapshot.h). A policy that cannot be compiled fails the
 * whole build, so that the proxy keeps the policy in force rather than
 * enforce one it misread.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "authz.h"
#include "config_field.h"
#include "duration.h"
#include "jwks_fetch.h"
#include "jwt.h"
#include "log.h"
#include "ratelimit.h"
#include "snapshot.h"
#include "snapshot_build.h"
#include "xmalloc.h"

/* Set by weft-proxy's jwks_fetch_init(); see jwks_fetch.h. */
struct jwks_entry *(*jwks_registry)(const char *uri, int timeout_ms);

/* Namespaces whose policies without a selector are mesh-wide. */
static int
sec_root_namespace(const char *ns)
{
	return strcmp(ns, "istio-system") == 0 ||
	    strcmp(ns, "weft-system") == 0;
}

static int
sec_selects(json_t *sel, json_t *labels)
{
	const char *key;
	json_t *val, *have;

	json_object_foreach(sel, key, val)
	{
		have = json_object_get(labels, key);
		if (!json_is_string(val) || !json_is_string(have) ||
		    strcmp(json_string_value(val), json_string_value(have)) !=
			0)
			return 0;
	}
	return 1;
}

enum sec_level {
	SEC_NONE = 0,
	SEC_MESH,      /* root namespace, no selector */
	SEC_NAMESPACE, /* this namespace, no selector */
	SEC_WORKLOAD,  /* a selector that picks this workload */
};

/* How a row applies to this workload, or SEC_NONE. */
static enum sec_level
sec_applies(
    const struct sb_sec *r, const char *ns, json_t *labels, char **cause)
{
	json_t *sel;
	int root = sec_root_namespace(r->namespace), match;

	if (strcmp(r->namespace, ns) != 0 && !root)
		return SEC_NONE;
	if (r->selector == NULL)
		return strcmp(r->namespace, ns) == 0 ? SEC_NAMESPACE : SEC_MESH;
	if ((sel = json_loads(r->selector, 0, NULL)) == NULL ||
	    !json_is_object(sel)) {
		json_decref(sel);
		xasprintf(cause, "%s/%s: bad selector", r->namespace, r->name);
		return (enum sec_level) - 1;
	}
	match = sec_selects(sel, labels);
	json_decref(sel);
	return match ? SEC_WORKLOAD : SEC_NONE;
}

static enum snap_mtls_mode
sec_mode(const char *m)
{
	if (m == NULL)
		return SNAP_MTLS_UNSET;
	if (strcmp(m, "STRICT") == 0)
		return SNAP_MTLS_STRICT;
	if (strcmp(m, "PERMISSIVE") == 0)
		return SNAP_MTLS_PERMISSIVE;
	if (strcmp(m, "DISABLE") == 0)
		return SNAP_MTLS_DISABLE;
	return SNAP_MTLS_UNSET;
}

/* PeerAuthentication: workload, then namespace, then mesh. */
static int
sec_peer_auth(struct snapshot *s, const struct sb_sec *best[4], char **cause)
{
	const struct sb_sec *w = best[SEC_WORKLOAD];
	enum snap_mtls_mode m = SNAP_MTLS_UNSET;
	const char *key;
	json_t *ports, *v;
	size_t n = 0;
	int lv;

	for (lv = SEC_WORKLOAD; lv >= SEC_MESH && m == SNAP_MTLS_UNSET; lv--)
		if (best[lv] != NULL)
			m = sec_mode(best[lv]->a);
	s->mtls_mode = m == SNAP_MTLS_UNSET ? SNAP_MTLS_PERMISSIVE : m;
	if (w == NULL || w->b == NULL)
		return 0;
	if ((ports = json_loads(w->b, 0, NULL)) == NULL ||
	    !json_is_object(ports)) {
		json_decref(ports);
		xasprintf(cause, "PeerAuthentication %s/%s: bad port modes",
		    w->namespace, w->name);
		return -1;
	}
	s->mtls_ports = snap_alloc(
	    s, (json_object_size(ports) + 1) * sizeof(*s->mtls_ports));
	json_object_foreach(ports, key, v)
	{
		s->mtls_ports[n].port = atoi(key);
		s->mtls_ports[n].mode = sec_mode(
		    json_string_value(json_object_get(v, "mode") != NULL
			    ? json_object_get(v, "mode")
			    : v));
		if (s->mtls_ports[n].mode == SNAP_MTLS_UNSET)
			s->mtls_ports[n].mode = s->mtls_mode;
		n++;
	}
	s->nmtls_ports = n;
	json_decref(ports);
	return 0;
}

static int
sec_authz(
    const struct sb_sec *r, struct authz_policy ***v, size_t *n, char **cause)
{
	struct authz_policy *p;
	json_t *spec, *rules;
	char *c = NULL;

	rules = r->b != NULL ? json_loads(r->b, 0, NULL) : json_array();
	if (rules == NULL) {
		xasprintf(cause, "AuthorizationPolicy %s/%s: bad rules",
		    r->namespace, r->name);
		return -1;
	}
	spec = json_pack("{s:s, s:o}", "action", r->a != NULL ? r->a : "ALLOW",
	    "rules", rules);
	/* A policy with no rules matches nothing, as spec: {} does. */
	if (json_array_size(rules) == 0)
		json_object_del(spec, "rules");
	p = authz_compile(spec, r->namespace, r->name, &c);
	json_decref(spec);
	if (p == NULL) {
		xasprintf(cause, "AuthorizationPolicy %s/%s: %s", r->namespace,
		    r->name, c);
		free(c);
		return -1;
	}
	authz_policy_set_dry_run(p, r->flag);
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = p;
	return 0;
}

static const char *
sec_str(struct snapshot *s, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? snap_strdup(s, v) : NULL;
}

static char *
sec_lower(struct snapshot *s, const char *v)
{
	char *p = snap_strdup(s, v), *q;

	for (q = p; *q != '\0'; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	return p;
}

/* One jwtRule of a RequestAuthentication. */
static int
sec_jwt_rule(struct snapshot *s, const struct sb_sec *r, json_t *j,
    struct snap_jwt_rule *out, char **cause)
{
	json_t *list, *v;
	const char *jwks, **aud, *timeout;
	int64_t ms;
	char *skipped = NULL, *c = NULL;
	size_t i, n;

	memset(out, 0, sizeof(*out));
	out->issuer = sec_str(s, j, "issuer");
	list = json_object_get(j, "audiences");
	n = json_array_size(list);
	aud = snap_alloc(s, (n + 1) * sizeof(*aud));
	json_array_foreach(list, i, v) aud[i] = snap_strdup(
	    s, json_string_value(v) != NULL ? json_string_value(v) : "");
	out->audiences = aud;
	out->jwks_uri = sec_str(s, j, "jwksUri");
	out->forward = json_is_true(json_object_get(j, "forwardOriginalToken"));
	out->payload_header = json_string_value(json_object_get(
				  j, "outputPayloadToHeader")) != NULL
	    ? sec_lower(s,
		  json_string_value(
		      json_object_get(j, "outputPayloadToHeader")))
	    : NULL;
	list = json_object_get(j, "fromHeaders");
	n = json_array_size(list);
	if (n == 0 && json_array_size(json_object_get(j, "fromParams")) == 0) {
		/* Istio's defaults: a bearer token, or ?access_token=. */
		out->from_headers = snap_alloc(s, sizeof(*out->from_headers));
		out->from_headers[0].name = "authorization";
		out->from_headers[0].prefix = "Bearer ";
		out->nfrom_headers = 1;
		out->from_params = snap_alloc(s, sizeof(*out->from_params));
		out->from_params[0].name = "access_token";
		out->from_params[0].prefix = "";
		out->nfrom_params = 1;
	} else {
		out->from_headers =
		    snap_alloc(s, (n + 1) * sizeof(*out->from_headers));
		json_array_foreach(list, i, v)
		{
			out->from_headers[i].name = sec_lower(s,
			    json_string_value(json_object_get(v, "name")) !=
				    NULL
				? json_string_value(json_object_get(v, "name"))
				: "");
			out->from_headers[i].prefix =
			    sec_str(s, v, "prefix") != NULL
			    ? sec_str(s, v, "prefix")
			    : "";
		}
		out->nfrom_headers = n;
		list = json_object_get(j, "fromParams");
		n = json_array_size(list);
		out->from_params =
		    snap_alloc(s, (n + 1) * sizeof(*out->from_params));
		json_array_foreach(list, i, v)
		{
			out->from_params[i].name = snap_strdup(s,
			    json_string_value(v) != NULL ? json_string_value(v)
							 : "");
			out->from_params[i].prefix = "";
		}
		out->nfrom_params = n;
	}
	list = json_object_get(j, "outputClaimToHeaders");
	n = json_array_size(list);
	out->claim_headers =
	    snap_alloc(s, (n + 1) * sizeof(*out->claim_headers));
	json_array_foreach(list, i, v)
	{
		out->claim_headers[i].header = sec_lower(s,
		    json_string_value(json_object_get(v, "header")) != NULL
			? json_string_value(json_object_get(v, "header"))
			: "");
		out->claim_headers[i].claim = sec_str(s, v, "claim");
	}
	out->nclaim_headers = n;
	if (out->issuer == NULL) {
		xasprintf(cause,
		    "RequestAuthentication %s/%s: a jwtRule "
		    "without issuer",
		    r->namespace, r->name);
		return -1;
	}
	if ((jwks = json_string_value(json_object_get(j, "jwks"))) != NULL) {
		out->keys = jwt_keys_parse(jwks, strlen(jwks), &skipped, &c);
		if (out->keys == NULL) {
			/* Tokens of this issuer are then refused (401). */
			log_warnx("RequestAuthentication %s/%s: issuer %s: "
				  "jwks: %s",
			    r->namespace, r->name, out->issuer, c);
			free(c);
		}
		if (skipped != NULL)
			log_info("RequestAuthentication %s/%s: %s",
			    r->namespace, r->name, skipped);
		free(skipped);
	} else if (out->jwks_uri != NULL && jwks_registry != NULL) {
		/* Shared by every snapshot naming the URI, never rebuilt. */
		timeout = json_string_value(json_object_get(j, "timeout"));
		if (timeout == NULL || duration_parse(timeout, &ms) == -1 ||
		    ms > INT_MAX)
			ms = 0;
		out->jwks = jwks_registry(out->jwks_uri, (int)ms);
	}
	return 0;
}

static int
sec_request_auth(struct snapshot *s, const struct sb_sec *r, char **cause)
{
	json_t *rules, *j;
	size_t i;
	int rc = 0;

	if ((rules = json_loads(r->a != NULL ? r->a : "[]", 0, NULL)) == NULL ||
	    !json_is_array(rules)) {
		json_decref(rules);
		xasprintf(cause, "RequestAuthentication %s/%s: bad jwtRules",
		    r->namespace, r->name);
		return -1;
	}
	json_array_foreach(rules, i, j)
	{
		s->sec.jwt = xreallocarray(
		    s->sec.jwt, s->sec.njwt + 1, sizeof(*s->sec.jwt));
		if (sec_jwt_rule(s, r, j, &s->sec.jwt[s->sec.njwt], cause) ==
		    -1) {
			rc = -1;
			break;
		}
		s->sec.njwt++;
	}
	json_decref(rules);
	return rc;
}

/* A NULL-terminated copy of a JSON list of strings. */
static const char *const *
sec_strings(struct snapshot *s, json_t *list)
{
	const char **v;
	json_t *e;
	size_t i, n = 0;

	if (json_array_size(list) == 0)
		return NULL;
	v = snap_alloc(s, (json_array_size(list) + 1) * sizeof(*v));
	json_array_foreach(list, i, e) if (json_is_string(e)) v[n++] =
	    snap_strdup(s, json_string_value(e));
	return v;
}

static int
sec_rate_limit(struct snapshot *s, const struct sb_sec *r, char **cause)
{
	struct ratelimit_rule *rl;
	json_t *limits, *l, *m;
	const char *per;
	char *id;
	size_t i;

	if ((limits = json_loads(r->a != NULL ? r->a : "[]", 0, NULL)) ==
		NULL ||
	    !json_is_array(limits)) {
		json_decref(limits);
		xasprintf(cause, "RateLimit %s/%s: bad limits", r->namespace,
		    r->name);
		return -1;
	}
	json_array_foreach(limits, i, l)
	{
		s->sec.limits = xreallocarray(
		    s->sec.limits, s->sec.nlimits + 1, sizeof(*s->sec.limits));
		rl = &s->sec.limits[s->sec.nlimits++];
		memset(rl, 0, sizeof(*rl));
		xasprintf(&id, "%s/%s#%zu", r->namespace, r->name, i);
		rl->id = snap_strdup(s, id);
		free(id);
		rl->rate =
		    json_number_value(json_object_get(l, "requestsPerSecond"));
		rl->burst = json_number_value(json_object_get(l, "burst"));
		if (rl->burst < 1)
			rl->burst = rl->rate < 1 ? 1 : rl->rate;
		m = json_object_get(l, "match");
		rl->methods = sec_strings(s, json_object_get(m, "methods"));
		rl->paths = sec_strings(s, json_object_get(m, "paths"));
		per = json_string_value(json_object_get(l, "per"));
		if (per != NULL && strcmp(per, "source") == 0)
			rl->per = RATELIMIT_PER_SOURCE;
		else if (per != NULL && strcmp(per, "header") == 0) {
			rl->per = RATELIMIT_PER_HEADER;
			rl->header = sec_str(s, l, "header");
		}
		if (rl->rate <= 0) {
			json_decref(limits);
			xasprintf(cause,
			    "RateLimit %s/%s: limits[%zu]: no rate",
			    r->namespace, r->name, i);
			return -1;
		}
	}
	json_decref(limits);
	return 0;
}

int
sb_security(struct snapshot *s, const char *ns, const char *labels,
    const struct sb_sec *rows, size_t n, char **cause)
{
	const struct sb_sec *best[4] = {NULL, NULL, NULL, NULL};
	struct authz_policy **pols = NULL;
	enum sec_level lv;
	json_t *own;
	size_t i, npols = 0;
	int rc = -1;

	s->mtls_mode = SNAP_MTLS_PERMISSIVE;
	if (ns == NULL)
		return 0; /* no identity (unit tests of routing) */
	/* weft-proxy checked --labels at startup. */
	if ((own = config_labels_arg(labels, cause)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		lv = sec_applies(&rows[i], ns, own, cause);
		if ((int)lv == -1)
			goto out;
		if (lv == SEC_NONE)
			continue;
		switch (rows[i].kind) {
		case SB_PEER_AUTH:
			/* Rows come sorted by name: the first at a level wins. */
			if (best[lv] == NULL)
				best[lv] = &rows[i];
			break;
		case SB_AUTHZ:
			if (sec_authz(&rows[i], &pols, &npols, cause) == -1)
				goto out;
			break;
		case SB_REQUEST_AUTH:
			if (sec_request_auth(s, &rows[i], cause) == -1)
				goto out;
			break;
		case SB_RATE_LIMIT:
			if (sec_rate_limit(s, &rows[i], cause) == -1)
				goto out;
			break;
		}
	}
	if (sec_peer_auth(s, best, cause) == -1)
		goto out;
	if (npols > 0) {
		s->sec.authz = authz_set_new(pols, npols);
		npols = 0;
	}
	rc = 0;
out:
	for (i = 0; i < npols; i++)
		authz_policy_free(pols[i]);
	free(pols);
	json_decref(own);
	return rc;
}

void
snap_security_free(struct snapshot *s)
{
	size_t i;

	authz_set_free(s->sec.authz);
	for (i = 0; i < s->sec.njwt; i++)
		jwt_keys_free(s->sec.jwt[i].keys);
	free(s->sec.jwt);
	free(s->sec.limits);
	memset(&s->sec, 0, sizeof(s->sec));
}

const struct snap_security *
snapshot_security(const struct snapshot *s)
{
	return s != NULL ? &s->sec : NULL;
}
