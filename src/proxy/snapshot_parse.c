/*
 * The JSON columns of the policy DB (Istio field names) into snapshot
 * parts: string matches and their regexes, HTTPMatchRequest, header
 * operations, retries, faults, rewrites and traffic policies. Every
 * error names the field; the build then fails as a whole.
 */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "duration.h"
#include "snapshot_build.h"
#include "xmalloc.h"

int
sp_fail(struct snap_parse *c, const char *fmt, ...)
{
	char *msg;
	va_list ap;

	if (c->cause != NULL)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	if (c->what_kind != NULL)
		xasprintf(&c->cause, "%s %s/%s: %s", c->what_kind, c->what_ns,
		    c->what_name, msg != NULL ? msg : "out of memory");
	else
		xasprintf(&c->cause, "%s", msg != NULL ? msg : "out of memory");
	free(msg);
	return -1;
}

void
sp_what(
    struct snap_parse *c, const char *kind, const char *ns, const char *name)
{
	c->what_kind = kind;
	c->what_ns = ns;
	c->what_name = name;
}

void
sp_release(struct snap_parse *c)
{
	size_t i;

	for (i = 0; i < c->njson; i++)
		json_decref(c->json[i]);
	free(c->json);
	c->json = NULL;
	c->njson = c->capjson = 0;
}

/* Parses a JSON column; type 0 takes any. Kept until the build ends. */
json_t *
sp_json(
    struct snap_parse *c, const char *text, json_type type, const char *what)
{
	json_error_t err;
	json_t *j;

	if ((j = json_loads(text, JSON_DECODE_ANY, &err)) == NULL) {
		sp_fail(c, "%s: invalid JSON: %s", what, err.text);
		return NULL;
	}
	SNAP_PUSH(c->json, c->njson, c->capjson);
	c->json[c->njson++] = j;
	if (json_typeof(j) != type) {
		sp_fail(c, "%s: not a JSON %s", what,
		    type == JSON_OBJECT ? "object" : "array");
		return NULL;
	}
	return j;
}

/*
 * An integer field: a number, a numeric string, or a protobuf wrapper
 * {"value": N}. Returns 0 with *out set, 1 when absent, -1 when invalid.
 */
int
sp_int(struct snap_parse *c, json_t *obj, const char *key, int64_t *out,
    const char *what)
{
	json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;
	char *end;

	if (v == NULL || json_is_null(v))
		return 1;
	if (json_is_object(v))
		v = json_object_get(v, "value");
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_real(v) && json_real_value(v) >= (double)INT64_MIN &&
	    json_real_value(v) <= (double)INT64_MAX) {
		*out = (int64_t)json_real_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		*out = strtoll(json_string_value(v), &end, 10);
		if (end != json_string_value(v) && *end == '\0')
			return 0;
	}
	return sp_fail(c, "%s.%s: not an integer", what, key);
}

/* A duration field ("1.5s", "500ms"; a number is seconds). */
int
sp_duration(struct snap_parse *c, json_t *obj, const char *key, int64_t *ms,
    const char *what)
{
	json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;

	if (v == NULL || json_is_null(v))
		return 1;
	if (json_is_number(v) && json_number_value(v) >= 0 &&
	    json_number_value(v) < 9e12) {
		*ms = (int64_t)llround(json_number_value(v) * 1000);
		return 0;
	}
	if (json_is_string(v) &&
	    duration_parse(json_string_value(v), ms) == 0 && *ms <= INT_MAX)
		return 0;
	return sp_fail(c, "%s.%s: not a duration", what, key);
}

/* An Istio Percent ({"value": 12.5}, or a number) in parts per million. */
int
sp_percent(struct snap_parse *c, json_t *v, uint32_t *ppm, const char *what)
{
	double d;

	if (json_is_object(v))
		v = json_object_get(v, "value");
	if (v == NULL || json_is_null(v)) {
		*ppm = 0;
		return 0;
	}
	if (!json_is_number(v))
		return sp_fail(c, "%s: not a percentage", what);
	d = json_number_value(v);
	if (!(d >= 0 && d <= 100))
		return sp_fail(c, "%s: %g is not between 0 and 100", what, d);
	*ppm = (uint32_t)llround(d * (SNAP_PPM / 100));
	return 0;
}

/* A string field or NULL; -1 when present but not a string. */
int
sp_str(struct snap_parse *c, json_t *obj, const char *key, const char **out,
    const char *what)
{
	json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return sp_fail(c, "%s.%s: not a string", what, key);
	*out = json_string_value(v);
	return 0;
}

char *
sp_lower(struct snapshot *s, const char *str)
{
	char *p = snap_strdup(s, str);
	size_t i;

	for (i = 0; p[i] != '\0'; i++)
		p[i] = (char)tolower((unsigned char)p[i]);
	return p;
}

char *
sp_upper(struct snapshot *s, const char *str)
{
	char *p = snap_strdup(s, str);
	size_t i;

	for (i = 0; p[i] != '\0'; i++)
		p[i] = (char)toupper((unsigned char)p[i]);
	return p;
}

/*
 * Compiles expr into m->re, anchored: "(?i)" at the start means
 * case-insensitive, and \d \D (RE2) become bracket expressions.
 */
static int
sp_regex(struct snap_parse *c, struct snap_strmatch *m, const char *expr,
    int icase, const char *what)
{
	size_t len, i, o = 0, n;
	int inbr = 0, first = 0, rc;
	char *buf, err[256];
	const char *cls, *e;

	if (strncmp(expr, "(?i)", 4) == 0) {
		icase = 1;
		expr += 4;
	}
	len = strlen(expr);
	buf = xmalloc(len * 6 + 8);
	buf[o++] = '^';
	buf[o++] = '(';
	for (i = 0; i < len; i++) {
		if (inbr) {
			if (expr[i] == '[' && i + 1 < len &&
			    strchr(":.=", expr[i + 1]) != NULL) {
				/* [:alpha:], [.x.], [=x=]: copied whole */
				char term[3] = {expr[i + 1], ']', '\0'};

				if ((e = strstr(expr + i + 2, term)) != NULL) {
					n = (size_t)(e + 2 - (expr + i));
					memcpy(buf + o, expr + i, n);
					o += n;
					i += n - 1;
					first = 0;
					continue;
				}
			}
			/* A ']' first in the brackets is literal. */
			if (expr[i] == ']' && !first)
				inbr = 0;
			first = 0;
			buf[o++] = expr[i];
			continue;
		}
		if (expr[i] == '\\' && i + 1 < len) {
			if (expr[i + 1] == 'd' || expr[i + 1] == 'D') {
				cls = expr[i + 1] == 'd' ? "[0-9]" : "[^0-9]";
				memcpy(buf + o, cls, strlen(cls));
				o += strlen(cls);
			} else {
				buf[o++] = expr[i];
				buf[o++] = expr[i + 1];
			}
			i++;
			continue;
		}
		buf[o++] = expr[i];
		if (expr[i] == '[') {
			inbr = first = 1;
			if (i + 1 < len && expr[i + 1] == '^')
				buf[o++] = expr[++i];
		}
	}
	buf[o++] = ')';
	buf[o++] = '$';
	buf[o] = '\0';
	rc = regcomp(
	    &m->re, buf, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
	free(buf);
	if (rc != 0) {
		regerror(rc, &m->re, err, sizeof(err));
		return sp_fail(c, "%s: bad regex \"%s\": %s", what, expr, err);
	}
	snap_keep_regex(c->s, &m->re);
	m->kind = SNAP_STR_REGEX;
	m->ignore_case = icase;
	return 0;
}

/* An Istio StringMatch: exact, prefix, regex, or {} (present). */
int
sp_strmatch(struct snap_parse *c, json_t *v, struct snap_strmatch *m, int icase,
    const char *what)
{
	const char *key;
	json_t *val;

	memset(m, 0, sizeof(*m));
	m->ignore_case = icase;
	if (v == NULL || json_is_null(v) ||
	    (json_is_object(v) && json_object_size(v) == 0)) {
		m->kind = SNAP_STR_PRESENT;
		return 0;
	}
	if (!json_is_object(v))
		return sp_fail(c, "%s: not a string match", what);
	if (json_object_size(v) != 1)
		return sp_fail(
		    c, "%s: more than one of exact, prefix, regex", what);
	json_object_foreach(v, key, val)
	{
		if (!json_is_string(val))
			return sp_fail(c, "%s.%s: not a string", what, key);
		if (strcmp(key, "exact") == 0 || strcmp(key, "prefix") == 0) {
			m->kind =
			    key[0] == 'e' ? SNAP_STR_EXACT : SNAP_STR_PREFIX;
			m->value = snap_strdup(c->s, json_string_value(val));
			m->len = strlen(m->value);
		} else if (strcmp(key, "regex") == 0) {
			/* Istio reads the regex "*" as presence. */
			if (strcmp(json_string_value(val), "*") == 0) {
				m->kind = SNAP_STR_PRESENT;
				return 0;
			}
			return sp_regex(
			    c, m, json_string_value(val), icase, what);
		} else
			return sp_fail(c, "%s: unknown field %s", what, key);
	}
	return 0;
}

static int
sp_fieldmatches(struct snap_parse *c, json_t *obj, int lower, int invert,
    struct snap_fieldmatch *out, size_t *n, const char *what)
{
	const char *key;
	json_t *val;
	char *w;
	int rc;

	if (!json_is_object(obj))
		return sp_fail(c, "%s: not an object", what);
	json_object_foreach(obj, key, val)
	{
		struct snap_fieldmatch *f = &out[(*n)++];

		f->name = lower ? sp_lower(c->s, key) : snap_strdup(c->s, key);
		f->invert = invert;
		xasprintf(&w, "%s.%s", what, key);
		rc = sp_strmatch(c, val, &f->m, 0, w);
		free(w);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* Whether a JSON array of gateway names binds to the sidecars. */
int
sp_mesh_gateway(json_t *gw)
{
	size_t i;
	json_t *v;

	if (gw == NULL || !json_is_array(gw) || json_array_size(gw) == 0)
		return 1;
	json_array_foreach(gw, i, v)
	{
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), "mesh") == 0)
			return 1;
	}
	return 0;
}

/*
 * One HTTPMatchRequest into m. Returns 0, 1 when the match is for
 * gateways only (skipped), -1 on error.
 */
int
sp_match(
    struct snap_parse *c, json_t *j, struct snap_match *m, const char *what)
{
	json_t *val, *v;
	const char *key;
	int icase = 0;
	int64_t port;
	char *w;
	int rc = 0;

	if (!json_is_object(j))
		return sp_fail(c, "%s: not an object", what);
	json_object_foreach(j, key, val)
	{
		if (strcmp(key, "uri") == 0 || strcmp(key, "method") == 0 ||
		    strcmp(key, "authority") == 0 ||
		    strcmp(key, "headers") == 0 ||
		    strcmp(key, "withoutHeaders") == 0 ||
		    strcmp(key, "queryParams") == 0 ||
		    strcmp(key, "ignoreUriCase") == 0 ||
		    strcmp(key, "port") == 0 || strcmp(key, "name") == 0 ||
		    strcmp(key, "statPrefix") == 0 ||
		    strcmp(key, "gateways") == 0)
			continue;
		/*
		 * Anything else would narrow the match; ignoring it would
		 * route requests the user meant to keep out.
		 */
		return sp_fail(c, "%s: unsupported field %s", what, key);
	}
	if ((v = json_object_get(j, "gateways")) != NULL && !sp_mesh_gateway(v))
		return 1;
	if ((v = json_object_get(j, "ignoreUriCase")) != NULL) {
		if (!json_is_boolean(v))
			return sp_fail(
			    c, "%s.ignoreUriCase: not a boolean", what);
		icase = json_is_true(v);
	}
	if ((v = json_object_get(j, "uri")) != NULL) {
		xasprintf(&w, "%s.uri", what);
		rc = sp_strmatch(c, v, &m->uri, icase, w);
		free(w);
		if (rc == -1)
			return -1;
		m->has_uri = 1;
	}
	if ((v = json_object_get(j, "method")) != NULL) {
		xasprintf(&w, "%s.method", what);
		rc = sp_strmatch(c, v, &m->method, 0, w);
		free(w);
		if (rc == -1)
			return -1;
		m->has_method = 1;
	}
	if ((v = json_object_get(j, "authority")) != NULL) {
		xasprintf(&w, "%s.authority", what);
		rc = sp_strmatch(c, v, &m->authority, 0, w);
		free(w);
		if (rc == -1)
			return -1;
		m->has_authority = 1;
	}
	m->nheaders = json_object_size(json_object_get(j, "headers")) +
	    json_object_size(json_object_get(j, "withoutHeaders"));
	if (m->nheaders > 0) {
		m->headers =
		    snap_alloc(c->s, m->nheaders * sizeof(*m->headers));
		m->nheaders = 0;
	}
	if ((v = json_object_get(j, "headers")) != NULL) {
		xasprintf(&w, "%s.headers", what);
		rc = sp_fieldmatches(c, v, 1, 0, m->headers, &m->nheaders, w);
		free(w);
		if (rc == -1)
			return -1;
	}
	if ((v = json_object_get(j, "withoutHeaders")) != NULL) {
		xasprintf(&w, "%s.withoutHeaders", what);
		rc = sp_fieldmatches(c, v, 1, 1, m->headers, &m->nheaders, w);
		free(w);
		if (rc == -1)
			return -1;
	}
	if ((v = json_object_get(j, "queryParams")) != NULL) {
		m->query = snap_alloc(
		    c->s, (json_object_size(v) + 1) * sizeof(*m->query));
		xasprintf(&w, "%s.queryParams", what);
		rc = sp_fieldmatches(c, v, 0, 0, m->query, &m->nquery, w);
		free(w);
		if (rc == -1)
			return -1;
	}
	if ((rc = sp_int(c, j, "port", &port, what)) == -1)
		return -1;
	if (rc == 0) {
		if (port < 0 || port > 65535)
			return sp_fail(c, "%s.port: out of range", what);
		m->port = (int)port;
	}
	return 0;
}

static int
sp_hdr_map(struct snap_parse *c, json_t *obj, struct snap_hdr **out, size_t *n,
    const char *what)
{
	const char *key;
	json_t *val;
	size_t i = 0;

	if (obj == NULL)
		return 0;
	if (!json_is_object(obj))
		return sp_fail(c, "%s: not an object", what);
	*out = snap_alloc(c->s, (json_object_size(obj) + 1) * sizeof(**out));
	json_object_foreach(obj, key, val)
	{
		if (!json_is_string(val))
			return sp_fail(c, "%s.%s: not a string", what, key);
		(*out)[i].name = snap_strdup(c->s, key);
		(*out)[i].value = snap_strdup(c->s, json_string_value(val));
		i++;
	}
	*n = i;
	return 0;
}

static int
sp_hdr_side(struct snap_parse *c, json_t *side, struct snap_hdr_ops *ops,
    const char *what)
{
	json_t *rm, *v;
	char *w;
	size_t i;
	int rc;

	if (side == NULL)
		return 0;
	if (!json_is_object(side))
		return sp_fail(c, "%s: not an object", what);
	xasprintf(&w, "%s.set", what);
	rc = sp_hdr_map(
	    c, json_object_get(side, "set"), &ops->set, &ops->nset, w);
	free(w);
	if (rc == -1)
		return -1;
	xasprintf(&w, "%s.add", what);
	rc = sp_hdr_map(
	    c, json_object_get(side, "add"), &ops->add, &ops->nadd, w);
	free(w);
	if (rc == -1)
		return -1;
	if ((rm = json_object_get(side, "remove")) != NULL) {
		if (!json_is_array(rm))
			return sp_fail(c, "%s.remove: not an array", what);
		ops->remove = snap_alloc(
		    c->s, (json_array_size(rm) + 1) * sizeof(char *));
		json_array_foreach(rm, i, v)
		{
			if (!json_is_string(v))
				return sp_fail(
				    c, "%s.remove: not a string", what);
			ops->remove[ops->nremove++] =
			    snap_strdup(c->s, json_string_value(v));
		}
	}
	return 0;
}

/* Istio Headers: {"request": {...}, "response": {...}}. */
int
sp_headers(struct snap_parse *c, const char *text, struct snap_hdr_ops *req,
    struct snap_hdr_ops *resp, const char *what)
{
	json_t *j;
	char *w;
	int rc;

	if (text == NULL)
		return 0;
	if ((j = sp_json(c, text, JSON_OBJECT, what)) == NULL)
		return -1;
	xasprintf(&w, "%s.request", what);
	rc = sp_hdr_side(c, json_object_get(j, "request"), req, w);
	free(w);
	if (rc == -1)
		return -1;
	xasprintf(&w, "%s.response", what);
	rc = sp_hdr_side(c, json_object_get(j, "response"), resp, w);
	free(w);
	return rc;
}

/*
 * Applies a TrafficPolicy on top of comps (the components it sets), then
 * its portLevelSettings entry for port, which replaces all four.
 */
int
sp_policy_apply(struct snap_parse *c, json_t *tp, int port,
    struct snap_comps *comps, const char *what)
{
	json_t *v, *pls, *e;
	int64_t num;
	size_t i;

	if (tp == NULL)
		return 0;
	if ((v = json_object_get(tp, "loadBalancer")) != NULL)
		comps->lb = v;
	if ((v = json_object_get(tp, "connectionPool")) != NULL)
		comps->cp = v;
	if ((v = json_object_get(tp, "outlierDetection")) != NULL)
		comps->od = v;
	if ((v = json_object_get(tp, "tls")) != NULL)
		comps->tls = v;
	if ((pls = json_object_get(tp, "portLevelSettings")) == NULL)
		return 0;
	if (!json_is_array(pls))
		return sp_fail(c, "%s.portLevelSettings: not an array", what);
	json_array_foreach(pls, i, e)
	{
		if (sp_int(c, json_object_get(e, "port"), "number", &num,
			what) != 0)
			continue;
		if (num != port)
			continue;
		comps->lb = json_object_get(e, "loadBalancer");
		comps->cp = json_object_get(e, "connectionPool");
		comps->od = json_object_get(e, "outlierDetection");
		comps->tls = json_object_get(e, "tls");
		break;
	}
	return c->cause != NULL ? -1 : 0;
}

static int
sp_policy_int(struct snap_parse *c, json_t *obj, const char *key, int *out,
    const char *what)
{
	int64_t v;
	int rc;

	if ((rc = sp_int(c, obj, key, &v, what)) != 0)
		return rc;
	if (v < 0 || v > INT_MAX)
		return sp_fail(c, "%s.%s: out of range", what, key);
	*out = (int)v;
	return 0;
}

static int
sp_policy_ms(struct snap_parse *c, json_t *obj, const char *key, int *out,
    const char *what)
{
	int64_t ms;
	int rc;

	if ((rc = sp_duration(c, obj, key, &ms, what)) != 0)
		return rc;
	*out = (int)ms;
	return 0;
}

/* The effective components into p; *ring gets the minimum ring size. */
int
sp_policy_parse(struct snap_parse *c, const struct snap_comps *k,
    struct snap_policy *p, size_t *ring, const char *what)
{
	json_t *v, *ch, *loc, *tcp, *http;
	const char *str;
	char *w = NULL;
	int64_t n;
	int rc = -1;

	memset(p, 0, sizeof(*p));
	p->lb = SNAP_LB_LEAST_REQUEST;
	p->outlier_interval_ms = 10000;
	p->outlier_base_ejection_ms = 30000;
	p->outlier_max_ejection_pct = 10;
	*ring = SNAP_MIN_RING;
	if (k->lb != NULL) {
		xasprintf(&w, "%s.loadBalancer", what);
		if (sp_str(c, k->lb, "simple", &str, w) == -1)
			goto out;
		if (str == NULL || strcmp(str, "UNSPECIFIED") == 0 ||
		    strcmp(str, "LEAST_REQUEST") == 0 ||
		    strcmp(str, "LEAST_CONN") == 0)
			p->lb = SNAP_LB_LEAST_REQUEST;
		else if (strcmp(str, "ROUND_ROBIN") == 0 ||
		    strcmp(str, "PASSTHROUGH") == 0)
			p->lb = SNAP_LB_ROUND_ROBIN;
		else if (strcmp(str, "RANDOM") == 0)
			p->lb = SNAP_LB_RANDOM;
		else {
			sp_fail(c, "%s.simple: unknown %s", w, str);
			goto out;
		}
		if ((ch = json_object_get(k->lb, "consistentHash")) != NULL) {
			if (sp_str(c, ch, "httpHeaderName", &str, w) == -1)
				goto out;
			if (str != NULL) {
				p->lb = SNAP_LB_HASH_HEADER;
				p->hash_header = sp_lower(c->s, str);
			} else if (json_is_true(
				       json_object_get(ch, "useSourceIp")))
				p->lb = SNAP_LB_HASH_SOURCE_IP;
			if (sp_int(c, ch, "minimumRingSize", &n, w) == 0 ||
			    sp_int(c, json_object_get(ch, "ringHash"),
				"minimumRingSize", &n, w) == 0 ||
			    sp_int(c, json_object_get(ch, "maglev"),
				"tableSize", &n, w) == 0)
				*ring = n < 1           ? 1
				    : n > SNAP_MAX_RING ? SNAP_MAX_RING
							: (size_t)n;
			if (c->cause != NULL)
				goto out;
		}
		free(w);
		w = NULL;
	}
	if (k->cp != NULL) {
		tcp = json_object_get(k->cp, "tcp");
		http = json_object_get(k->cp, "http");
		xasprintf(&w, "%s.connectionPool.tcp", what);
		if (sp_policy_int(c, tcp, "maxConnections", &p->max_connections,
			w) == -1 ||
		    sp_policy_ms(c, tcp, "connectTimeout",
			&p->connect_timeout_ms, w) == -1)
			goto out;
		free(w);
		xasprintf(&w, "%s.connectionPool.http", what);
		if (sp_policy_int(c, http, "http1MaxPendingRequests",
			&p->max_pending, w) == -1 ||
		    sp_policy_int(c, http, "http2MaxRequests", &p->max_requests,
			w) == -1 ||
		    sp_policy_int(c, http, "maxRequestsPerConnection",
			&p->max_requests_per_connection, w) == -1 ||
		    sp_policy_int(c, http, "maxRetries", &p->max_retries, w) ==
			-1 ||
		    sp_policy_ms(
			c, http, "idleTimeout", &p->idle_timeout_ms, w) == -1)
			goto out;
		free(w);
		w = NULL;
	}
	if (k->od != NULL) {
		int legacy = 0;

		xasprintf(&w, "%s.outlierDetection", what);
		p->outlier_consecutive_5xx = 5;
		if (sp_policy_int(c, k->od, "consecutiveErrors", &legacy, w) ==
		    -1)
			goto out;
		if (legacy > 0) {
			/* Istio's old field: gateway errors only. */
			p->outlier_consecutive_gateway = legacy;
			p->outlier_consecutive_5xx = 0;
		}
		if (sp_policy_int(c, k->od, "consecutive5xxErrors",
			&p->outlier_consecutive_5xx, w) == -1 ||
		    sp_policy_int(c, k->od, "consecutiveGatewayErrors",
			&p->outlier_consecutive_gateway, w) == -1 ||
		    sp_policy_ms(c, k->od, "interval", &p->outlier_interval_ms,
			w) == -1 ||
		    sp_policy_ms(c, k->od, "baseEjectionTime",
			&p->outlier_base_ejection_ms, w) == -1 ||
		    sp_policy_int(c, k->od, "maxEjectionPercent",
			&p->outlier_max_ejection_pct, w) == -1)
			goto out;
		if (p->outlier_max_ejection_pct > 100)
			p->outlier_max_ejection_pct = 100;
		if (p->outlier_interval_ms == 0)
			p->outlier_interval_ms = 10000;
		/* Istio fails over between localities only with this. */
		p->locality_lb = 1;
		loc = k->lb != NULL
		    ? json_object_get(k->lb, "localityLbSetting")
		    : NULL;
		if (loc != NULL &&
		    (v = json_object_get(loc, "enabled")) != NULL &&
		    json_is_false(v))
			p->locality_lb = 0;
		free(w);
		w = NULL;
	}
	if (k->tls != NULL) {
		xasprintf(&w, "%s.tls", what);
		if (sp_str(c, k->tls, "mode", &str, w) == -1)
			goto out;
		if (str == NULL)
			p->tls_mode = SNAP_TLS_AUTO;
		else if (strcmp(str, "DISABLE") == 0)
			p->tls_mode = SNAP_TLS_DISABLE;
		else if (strcmp(str, "ISTIO_MUTUAL") == 0)
			p->tls_mode = SNAP_TLS_ISTIO_MUTUAL;
		else if (strcmp(str, "SIMPLE") == 0)
			p->tls_mode = SNAP_TLS_SIMPLE;
		else if (strcmp(str, "MUTUAL") == 0)
			p->tls_mode = SNAP_TLS_MUTUAL;
		else {
			sp_fail(c, "%s.mode: unknown %s", w, str);
			goto out;
		}
		if (sp_str(c, k->tls, "sni", &str, w) == -1)
			goto out;
		p->sni = snap_strdup(c->s, str);
	}
	rc = 0;
out:
	free(w);
	return rc;
}

int
sp_retries(struct snap_parse *c, struct snap_route *r, const char *text)
{
	json_t *j;
	const char *on, *p, *e;
	int64_t n;
	char tok[32];
	size_t len;
	int rc;

	/* Istio's default policy. */
	r->retries.attempts = 2;
	r->retries.per_try_ms = -1;
	r->retries.retry_on = SNAP_RETRY_CONNECT_FAILURE |
	    SNAP_RETRY_REFUSED_STREAM | SNAP_RETRY_RETRIABLE_CODES;
	r->retries.codes[0] = 503;
	r->retries.ncodes = 1;
	if (text == NULL)
		return 0;
	if ((j = sp_json(c, text, JSON_OBJECT, "retries")) == NULL)
		return -1;
	if ((rc = sp_int(c, j, "attempts", &n, "retries")) == -1)
		return -1;
	if (rc == 1 || n <= 0) {
		r->retries.attempts = 0;
		return 0;
	}
	r->retries.attempts = n > 100 ? 100 : (int)n;
	if (sp_duration(c, j, "perTryTimeout", &n, "retries") == 0 && n > 0)
		r->retries.per_try_ms = (int)n;
	if (sp_duration(c, j, "backoff", &n, "retries") == 0)
		r->retries.backoff_ms = (int)n;
	if (c->cause != NULL)
		return -1;
	if (sp_str(c, j, "retryOn", &on, "retries") == -1)
		return -1;
	if (on == NULL || *on == '\0')
		return 0;
	r->retries.retry_on = 0;
	r->retries.ncodes = 0;
	for (p = on; *p != '\0'; p = *e == ',' ? e + 1 : e) {
		while (*p == ' ')
			p++;
		e = p + strcspn(p, ",");
		len = (size_t)(e - p);
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == 0 || len >= sizeof(tok))
			continue;
		memcpy(tok, p, len);
		tok[len] = '\0';
		if (strcmp(tok, "5xx") == 0)
			r->retries.retry_on |= SNAP_RETRY_5XX;
		else if (strcmp(tok, "gateway-error") == 0)
			r->retries.retry_on |= SNAP_RETRY_GATEWAY_ERROR;
		else if (strcmp(tok, "connect-failure") == 0)
			r->retries.retry_on |= SNAP_RETRY_CONNECT_FAILURE;
		else if (strcmp(tok, "refused-stream") == 0)
			r->retries.retry_on |= SNAP_RETRY_REFUSED_STREAM;
		else if (strcmp(tok, "reset") == 0)
			r->retries.retry_on |= SNAP_RETRY_RESET;
		else if (strcmp(tok, "reset-before-request") == 0)
			r->retries.retry_on |= SNAP_RETRY_RESET_BEFORE_REQUEST;
		else if (strcmp(tok, "retriable-status-codes") == 0)
			r->retries.retry_on |= SNAP_RETRY_RETRIABLE_CODES;
		else if (strcmp(tok, "retriable-4xx") == 0)
			r->retries.retry_on |= SNAP_RETRY_RETRIABLE_4XX;
		else if (strspn(tok, "0123456789") == len && len == 3) {
			if (r->retries.ncodes < 16)
				r->retries.codes[r->retries.ncodes++] =
				    (uint16_t)atoi(tok);
			r->retries.retry_on |= SNAP_RETRY_RETRIABLE_CODES;
		}
		/* gRPC conditions and the like: nothing to retry on yet. */
	}
	return 0;
}

int
sp_fault(struct snap_parse *c, struct snap_route *r, const char *text)
{
	json_t *j, *d, *a, *v;
	int64_t n;
	int rc;

	if (text == NULL)
		return 0;
	if ((j = sp_json(c, text, JSON_OBJECT, "fault")) == NULL)
		return -1;
	if ((d = json_object_get(j, "delay")) != NULL) {
		if ((rc = sp_duration(c, d, "fixedDelay", &n, "fault.delay")) ==
		    -1)
			return -1;
		if (rc == 1)
			return sp_fail(
			    c, "fault.delay: only fixedDelay is supported");
		r->fault.delay_ms = (int)n;
		if ((v = json_object_get(d, "percentage")) != NULL) {
			if (sp_percent(c, v, &r->fault.delay_ppm,
				"fault.delay.percentage") == -1)
				return -1;
		} else if ((rc = sp_int(c, d, "percent", &n, "fault.delay")) ==
		    0) {
			if (n < 0 || n > 100)
				return sp_fail(c,
				    "fault.delay.percent: out "
				    "of range");
			r->fault.delay_ppm = (uint32_t)n * (SNAP_PPM / 100);
		} else if (rc == -1)
			return -1;
	}
	if ((a = json_object_get(j, "abort")) != NULL) {
		if ((rc = sp_int(c, a, "httpStatus", &n, "fault.abort")) == -1)
			return -1;
		if (rc == 1)
			return sp_fail(
			    c, "fault.abort: only httpStatus is supported");
		if (n < 200 || n > 599)
			return sp_fail(c,
			    "fault.abort.httpStatus: %lld is not "
			    "an HTTP status",
			    (long long)n);
		r->fault.abort_status = (int)n;
		if ((v = json_object_get(a, "percentage")) != NULL) {
			if (sp_percent(c, v, &r->fault.abort_ppm,
				"fault.abort.percentage") == -1)
				return -1;
		} else if ((rc = sp_int(c, a, "percent", &n, "fault.abort")) ==
		    0) {
			if (n < 0 || n > 100)
				return sp_fail(c,
				    "fault.abort.percent: out "
				    "of range");
			r->fault.abort_ppm = (uint32_t)n * (SNAP_PPM / 100);
		} else if (rc == -1)
			return -1;
	}
	return 0;
}

int
sp_rewrite(struct snap_parse *c, struct snap_route *r, const char *text)
{
	const char *uri, *auth;
	json_t *j;

	if (text == NULL)
		return 0;
	if ((j = sp_json(c, text, JSON_OBJECT, "rewrite")) == NULL)
		return -1;
	if (json_object_get(j, "uriRegexRewrite") != NULL)
		return sp_fail(c, "rewrite.uriRegexRewrite: not supported");
	if (sp_str(c, j, "uri", &uri, "rewrite") == -1 ||
	    sp_str(c, j, "authority", &auth, "rewrite") == -1)
		return -1;
	if (uri != NULL && *uri != '\0')
		r->rewrite_uri = snap_strdup(c->s, uri);
	if (auth != NULL && *auth != '\0')
		r->rewrite_authority = snap_strdup(c->s, auth);
	return 0;
}
