/*
 * Matching a request against a virtual host's routes, and the random
 * choices a route makes (weighted destination, fault percentages). Pure
 * functions of the snapshot and the request: no allocation, no lock.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "http1.h"
#include "snapshot.h"

/* A header sent several times is matched on its values joined by ",". */
#define RM_JOIN_MAX 8192

/* The parts of a request the conditions look at, found once. */
struct rm_req {
	const struct http_req_view *req;
	const char *path; /* without query or fragment */
	size_t pathlen;
	const char *query; /* after '?', without fragment; NULL: none */
	size_t querylen;
	const char *host; /* authority without port */
	size_t hostlen;
};

static void
rm_req_init(struct rm_req *q, const struct http_req_view *req)
{
	const char *p = req->path, *end, *e;
	size_t len = req->path_len;

	memset(q, 0, sizeof(*q));
	q->req = req;
	if (p == NULL)
		p = "";
	/* absolute-form "http://host/path": the path starts after host */
	if ((len > 7 && strncasecmp(p, "http://", 7) == 0) ||
	    (len > 8 && strncasecmp(p, "https://", 8) == 0)) {
		e = (const char *)memchr(p, ':', len) + 3;
		end = p + len;
		while (e < end && *e != '/' && *e != '?')
			e++;
		len = (size_t)(end - e);
		p = e;
	}
	end = p + len;
	if ((e = memchr(p, '#', len)) != NULL)
		end = e;
	q->path = p;
	if ((e = memchr(p, '?', (size_t)(end - p))) != NULL) {
		q->pathlen = (size_t)(e - p);
		q->query = e + 1;
		q->querylen = (size_t)(end - e - 1);
	} else
		q->pathlen = (size_t)(end - p);
	if (req->authority == NULL ||
	    snap_authority_host(req->authority, req->authority_len, &q->host,
		&q->hostlen) == -1) {
		q->host = "";
		q->hostlen = 0;
	}
}

static int
rm_str(const struct snap_strmatch *m, const char *s, size_t len)
{
	regmatch_t pm[1];

	switch (m->kind) {
	case SNAP_STR_EXACT:
		if (len != m->len)
			return 0;
		return m->ignore_case ? strncasecmp(s, m->value, len) == 0
				      : memcmp(s, m->value, len) == 0;
	case SNAP_STR_PREFIX:
		if (len < m->len)
			return 0;
		return m->ignore_case ? strncasecmp(s, m->value, m->len) == 0
				      : memcmp(s, m->value, m->len) == 0;
	case SNAP_STR_REGEX:
		/* REG_STARTEND: the value need not be NUL-terminated. */
		pm[0].rm_so = 0;
		pm[0].rm_eo = (regoff_t)len;
		return regexec(&m->re, len > 0 ? s : "", 1, pm, REG_STARTEND) ==
		    0;
	case SNAP_STR_PRESENT:
		return 1;
	}
	return 0;
}

static int
rm_header(const struct snap_fieldmatch *f, const struct http_req_view *req)
{
	const struct http1_header *h, *first = NULL;
	char buf[RM_JOIN_MAX];
	size_t i, n = 0, len = 0;
	int r;

	for (i = 0; i < req->nfields; i++) {
		h = &req->fields[i];
		if (!http1_name_eq(h->name, h->name_len, f->name))
			continue;
		if (n++ == 0)
			first = h;
	}
	if (n == 0) {
		/*
		 * Absent: no match; withoutHeaders reads it as "" (Envoy's
		 * treat_missing_header_as_empty, as Istio sets it), except
		 * for a presence test.
		 */
		r = f->invert && f->m.kind != SNAP_STR_PRESENT
		    ? rm_str(&f->m, "", 0)
		    : 0;
	} else if (n == 1)
		r = rm_str(&f->m, first->value, first->value_len);
	else {
		r = -1;
		for (i = 0; i < req->nfields; i++) {
			h = &req->fields[i];
			if (!http1_name_eq(h->name, h->name_len, f->name))
				continue;
			if (len + (len > 0) + h->value_len > sizeof(buf)) {
				r = 0; /* too long to join: no match */
				break;
			}
			if (len > 0)
				buf[len++] = ',';
			memcpy(buf + len, h->value, h->value_len);
			len += h->value_len;
		}
		if (r == -1)
			r = rm_str(&f->m, buf, len);
	}
	return f->invert ? !r : r;
}

/* The raw value of the first query parameter called name. */
static int
rm_query_find(
    const struct rm_req *q, const char *name, const char **val, size_t *vlen)
{
	const char *p = q->query, *end = q->query + q->querylen, *amp, *eq;
	size_t nlen = strlen(name);

	if (p == NULL)
		return 0;
	while (p <= end) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if ((size_t)((eq != NULL ? eq : amp) - p) == nlen &&
		    memcmp(p, name, nlen) == 0) {
			*val = eq != NULL ? eq + 1 : amp;
			*vlen = eq != NULL ? (size_t)(amp - eq - 1) : 0;
			return 1;
		}
		p = amp + 1;
	}
	return 0;
}

static int
rm_match(const struct snap_match *m, const struct rm_req *q)
{
	const struct http_req_view *req = q->req;
	const char *v;
	size_t i, vlen;

	if (m->port != 0 && m->port != req->port)
		return 0;
	if (m->has_uri && !rm_str(&m->uri, q->path, q->pathlen))
		return 0;
	if (m->has_method &&
	    !rm_str(&m->method, req->method != NULL ? req->method : "",
		req->method != NULL ? req->method_len : 0))
		return 0;
	if (m->has_authority && !rm_str(&m->authority, q->host, q->hostlen))
		return 0;
	for (i = 0; i < m->nheaders; i++) {
		if (!rm_header(&m->headers[i], req))
			return 0;
	}
	for (i = 0; i < m->nquery; i++) {
		if (!rm_query_find(q, m->query[i].name, &v, &vlen) ||
		    !rm_str(&m->query[i].m, v, vlen))
			return 0;
	}
	return 1;
}

int
route_match_one(const struct snap_match *m, const struct http_req_view *req)
{
	struct rm_req q;

	rm_req_init(&q, req);
	return rm_match(m, &q);
}

const struct snap_route *
route_match_detail(const struct snap_vhost *vh, const struct http_req_view *req,
    const struct snap_match **match)
{
	const struct snap_route *r;
	struct rm_req q;
	size_t i, j;

	*match = NULL;
	if (vh == NULL)
		return NULL;
	rm_req_init(&q, req);
	for (i = 0; i < vh->nroutes; i++) {
		r = &vh->routes[i];
		if (r->nmatches == 0)
			return r;
		for (j = 0; j < r->nmatches; j++) {
			if (rm_match(&r->matches[j], &q)) {
				*match = &r->matches[j];
				return r;
			}
		}
	}
	return NULL;
}

const struct snap_route *
route_match(const struct snap_vhost *vh, const struct http_req_view *req)
{
	const struct snap_match *m;

	return route_match_detail(vh, req, &m);
}

const struct snap_dest *
route_pick(const struct snap_route *r, uint64_t r64)
{
	uint64_t x;
	size_t i;

	if (r->ndests == 0)
		return NULL;
	if (r->ndests == 1)
		return &r->dests[0];
	if (r->total_weight == 0)
		return NULL;
	x = r64 % r->total_weight;
	for (i = 0; i < r->ndests; i++) {
		if (x < r->dests[i].weight)
			return &r->dests[i];
		x -= r->dests[i].weight;
	}
	return NULL; /* not reached: the weights sum to total_weight */
}

int
snap_chance(uint32_t ppm, uint64_t r64)
{
	if (ppm == 0)
		return 0;
	if (ppm >= SNAP_PPM)
		return 1;
	return r64 % SNAP_PPM < ppm;
}
