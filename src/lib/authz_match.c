/*
 * Evaluation of a request against a set of compiled policies: pure
 * functions of the set and the request, no allocation, no lock, so any
 * worker thread can run them on the snapshot it holds.
 *
 * The order is Istio's filter chain: AUDIT, then DENY (with its dry-run
 * shadow), then ALLOW (with its own). Within a kind, rules are tried in
 * the set's order, so the first rule that matches is the one reported;
 * the indexes of authz.c only skip rules that cannot match.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "authz.h"
#include "authz_int.h"

/* An address as the CIDR values hold it; family 0: none. */
struct authz_addr {
	uint8_t family;
	uint8_t a[16];
};

/* What the tests look at, worked out once per request. */
struct authz_view {
	const struct authz_request *r;
	int tcp;        /* HTTP-only attributes do not exist */
	const char *pr; /* peer principal, or NULL */
	size_t prlen;
	const char *td; /* its trust domain, or NULL */
	size_t tdlen;
	struct authz_addr src, remote, dst;
	int jwt;               /* iss and sub below were looked up */
	const char *iss, *sub; /* NULL: absent */
	size_t isslen, sublen;
};

static void
addr_set(struct authz_addr *a, const struct sockaddr *sa)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	a->family = 0;
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		a->family = 4;
		memcpy(a->a, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)sa;
		/*
		 * An IPv4 peer on a dual-stack socket: Envoy reads it as
		 * the IPv4 address, and so do the IPv4 blocks here.
		 */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			a->family = 4;
			memcpy(a->a, &sin6->sin6_addr.s6_addr[12], 4);
		} else {
			a->family = 6;
			memcpy(a->a, &sin6->sin6_addr, 16);
		}
	}
}

static void
view_init(struct authz_view *w, const struct authz_request *r)
{
	const char *slash;

	memset(w, 0, sizeof(*w));
	w->r = r;
	w->tcp = !r->http;
	if (r->principal != NULL) {
		w->pr = r->principal;
		w->prlen = strlen(r->principal);
		if ((slash = memchr(w->pr, '/', w->prlen)) != NULL) {
			w->td = w->pr;
			w->tdlen = (size_t)(slash - w->pr);
		}
	}
	addr_set(&w->src, r->source);
	addr_set(&w->remote, r->remote != NULL ? r->remote : r->source);
	addr_set(&w->dst, r->destination);
}

/* The JWT's iss and sub: from the claims, else from "iss/sub". */
static void
view_jwt(struct authz_view *w)
{
	const struct authz_request *r = w->r;
	json_t *c = (json_t *)r->claims, *v;
	const char *slash;

	if (w->jwt)
		return;
	w->jwt = 1;
	if (json_is_object(c)) {
		if ((v = json_object_get(c, "iss")) != NULL &&
		    json_is_string(v)) {
			w->iss = json_string_value(v);
			w->isslen = json_string_length(v);
		}
		if ((v = json_object_get(c, "sub")) != NULL &&
		    json_is_string(v)) {
			w->sub = json_string_value(v);
			w->sublen = json_string_length(v);
		}
	} else if (r->request_principal != NULL) {
		w->iss = r->request_principal;
		if ((slash = strrchr(w->iss, '/')) != NULL) {
			w->isslen = (size_t)(slash - w->iss);
			w->sub = slash + 1;
			w->sublen = strlen(w->sub);
		} else
			w->isslen = strlen(w->iss);
	}
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
bytes_eq(const char *a, const char *b, size_t len, int icase)
{
	size_t i;

	if (!icase)
		return memcmp(a, b, len) == 0;
	for (i = 0; i < len; i++) {
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	}
	return 1;
}

/*
 * '*' any run of bytes, '?' any one byte, '\\' quotes the next: the
 * regexes Istio writes for namespaces and service accounts. Backtracks
 * to the last '*' only, which is enough for globs and keeps this
 * linear in practice.
 */
static int
glob_match(const char *g, size_t glen, const char *s, size_t len)
{
	size_t i = 0, j = 0, star = (size_t)-1, mark = 0;

	while (j < len) {
		if (i + 1 < glen && g[i] == '\\' && g[i + 1] == s[j]) {
			i += 2;
			j++;
		} else if (i < glen && g[i] != '\\' && g[i] != '*' &&
		    (g[i] == '?' || g[i] == s[j])) {
			i++;
			j++;
		} else if (i < glen && g[i] == '*') {
			star = i++;
			mark = j;
		} else if (star != (size_t)-1) {
			i = star + 1;
			j = ++mark;
		} else
			return 0;
	}
	while (i < glen && g[i] == '*')
		i++;
	return i == glen;
}

/* A byte Envoy's uri_template lets a {*} or {**} match. */
static int
tpl_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("-._~%!$&'()+,;:@=", c) != NULL);
}

/*
 * Envoy's uri_template: {*} is "[pchar]+" (one segment), {**} is
 * "[pchar/]*" (any run of segments); Istio allows only literal
 * segments after {**}, so the rest of the template is a suffix.
 */
static int
tpl_match(const char *t, size_t tlen, const char *s, size_t len)
{
	size_t i = 0, j = 0, k, rest;

	while (i < tlen) {
		if (t[i] == AUTHZ_TPL_ONE) {
			for (k = j; k < len && tpl_byte((unsigned char)s[k]);
			     k++)
				;
			if (k == j)
				return 0;
			j = k;
			i++;
		} else if (t[i] == AUTHZ_TPL_ANY) {
			rest = tlen - i - 1;
			if (len - j < rest ||
			    memcmp(t + i + 1, s + len - rest, rest) != 0)
				return 0;
			for (k = j; k < len - rest; k++) {
				if (s[k] != '/' &&
				    !tpl_byte((unsigned char)s[k]))
					return 0;
			}
			return 1;
		} else {
			if (j >= len || s[j] != t[i])
				return 0;
			i++;
			j++;
		}
	}
	return j == len;
}

static int
str_match(const struct authz_val *v, const char *s, size_t len)
{
	switch (v->kind) {
	case AUTHZ_K_EXACT:
		return len == v->len && bytes_eq(s, v->s, len, v->icase);
	case AUTHZ_K_PREFIX:
		return len >= v->len && bytes_eq(s, v->s, v->len, v->icase);
	case AUTHZ_K_SUFFIX:
		return len >= v->len &&
		    bytes_eq(s + len - v->len, v->s, v->len, v->icase);
	case AUTHZ_K_NONEMPTY:
		return len > 0;
	case AUTHZ_K_PRESENT:
		return 1;
	case AUTHZ_K_GLOB:
		return glob_match(v->s, v->len, s, len);
	case AUTHZ_K_TEMPLATE:
		return tpl_match(v->s, v->len, s, len);
	}
	return 0;
}

static int
str_any(const struct authz_policy *p, const struct authz_test *t, const char *s,
    size_t len)
{
	uint32_t i;

	for (i = 0; i < t->n; i++) {
		if (str_match(&p->vals[t->first + i], s, len))
			return 1;
	}
	return 0;
}

static int
cidr_match(const struct authz_val *v, const struct authz_addr *a)
{
	size_t full = v->plen / 8;
	unsigned int rem = v->plen % 8;
	uint8_t mask;

	if (a->family != v->family)
		return 0;
	if (memcmp(a->a, v->addr, full) != 0)
		return 0;
	if (rem == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rem));
	return (a->a[full] & mask) == v->addr[full];
}

static int
cidr_any(const struct authz_policy *p, const struct authz_test *t,
    const struct authz_addr *a)
{
	uint32_t i;

	if (a->family == 0)
		return 0;
	for (i = 0; i < t->n; i++) {
		if (cidr_match(&p->vals[t->first + i], a))
			return 1;
	}
	return 0;
}

static int
port_any(
    const struct authz_policy *p, const struct authz_test *t, uint16_t port)
{
	uint32_t i;

	for (i = 0; i < t->n; i++) {
		if (p->vals[t->first + i].port == port)
			return 1;
	}
	return 0;
}

/*
 * A claim (a path of names into the JWT payload) matches when it is a
 * string that matches, or a list holding one (Envoy's list one_of);
 * other JSON types never match.
 */
static int
claim_any(const struct authz_policy *p, const struct authz_test *t,
    const struct authz_view *w)
{
	json_t *v = (json_t *)w->r->claims, *e;
	uint32_t i;
	size_t k;

	for (i = 0; i < t->narg; i++) {
		if (!json_is_object(v))
			return 0;
		if ((v = json_object_get(v, p->names[t->arg + i])) == NULL)
			return 0;
	}
	if (json_is_string(v))
		return str_any(
		    p, t, json_string_value(v), json_string_length(v));
	if (json_is_array(v)) {
		json_array_foreach(v, k, e)
		{
			if (json_is_string(e) &&
			    str_any(p, t, json_string_value(e),
				json_string_length(e)))
				return 1;
		}
	}
	return 0;
}

static int
rp_any(const struct authz_policy *p, const struct authz_test *t,
    struct authz_view *w)
{
	const struct authz_val *v;
	uint32_t i;

	view_jwt(w);
	if (w->iss == NULL || w->sub == NULL)
		return 0;
	for (i = 0; i < t->n; i++) {
		v = &p->vals[t->first + 2 * i];
		if (str_match(v, w->iss, w->isslen) &&
		    str_match(v + 1, w->sub, w->sublen))
			return 1;
	}
	return 0;
}

/* The string attribute t looks at; 0 when the request has none. */
static int
view_str(const struct authz_view *w, const struct authz_test *t, const char **s,
    size_t *len)
{
	const struct authz_request *r = w->r;

	switch (t->attr) {
	case AUTHZ_A_PRINCIPAL:
	case AUTHZ_A_NAMESPACE:
	case AUTHZ_A_SERVICE_ACCOUNT:
		*s = w->pr;
		*len = w->prlen;
		break;
	case AUTHZ_A_TRUST_DOMAIN:
		*s = w->td;
		*len = w->tdlen;
		break;
	case AUTHZ_A_SNI:
		*s = r->sni;
		*len = r->sni_len;
		break;
	case AUTHZ_A_HOST:
		*s = r->host;
		*len = r->host_len;
		break;
	case AUTHZ_A_METHOD:
		*s = r->method;
		*len = r->method_len;
		break;
	case AUTHZ_A_PATH:
		*s = r->path;
		*len = r->path_len;
		break;
	case AUTHZ_A_HEADER:
		*len = 0;
		*s = r->header != NULL ? r->header(r->header_arg, t->name, len)
				       : NULL;
		break;
	default:
		*s = NULL;
		break;
	}
	return *s != NULL;
}

static int
test_match(const struct authz_policy *p, const struct authz_test *t,
    struct authz_view *w)
{
	const char *s;
	size_t len;
	int m;

	switch (t->attr) {
	case AUTHZ_A_SOURCE_IP:
		m = cidr_any(p, t, &w->src);
		break;
	case AUTHZ_A_REMOTE_IP:
		m = cidr_any(p, t, &w->remote);
		break;
	case AUTHZ_A_DEST_IP:
		m = cidr_any(p, t, &w->dst);
		break;
	case AUTHZ_A_PORT:
		m = port_any(p, t, w->r->port);
		break;
	case AUTHZ_A_CLAIM:
		m = claim_any(p, t, w);
		break;
	case AUTHZ_A_REQUEST_PRINCIPAL:
		m = rp_any(p, t, w);
		break;
	default:
		m = view_str(w, t, &s, &len) && str_any(p, t, s, len);
		break;
	}
	return m != t->neg;
}

/*
 * All tests pass. For opaque TCP, a DENY or AUDIT rule drops the tests
 * of HTTP-only attributes, as Istio's builder drops those matchers
 * (ALLOW rules using them never get here).
 */
static int
tests_match(const struct authz_policy *p, uint32_t first, uint32_t n,
    struct authz_view *w)
{
	const struct authz_test *t;
	uint32_t i;

	for (i = 0; i < n; i++) {
		t = &p->tests[first + i];
		if (w->tcp && t->attr >= AUTHZ_A_HTTP)
			continue;
		if (!test_match(p, t, w))
			return 0;
	}
	return 1;
}

static int
groups_match(const struct authz_policy *p, uint32_t first, uint32_t n,
    struct authz_view *w)
{
	const struct authz_group *g;
	uint32_t i;

	if (n == 0)
		return 1;
	for (i = 0; i < n; i++) {
		g = &p->groups[first + i];
		if (tests_match(p, g->first, g->n, w))
			return 1;
	}
	return 0;
}

static int
rule_match(const struct authz_policy *p, const struct authz_rule *r,
    struct authz_view *w)
{
	return tests_match(p, r->when_first, r->nwhen, w) &&
	    groups_match(p, r->from_first, r->nfrom, w) &&
	    groups_match(p, r->to_first, r->nto, w);
}

/* A run of rules in set order. */
struct authz_run {
	const struct authz_ref *v;
	size_t n;
};

static void
index_find(const struct authz_index *ix, const char *s, size_t len,
    struct authz_run *run)
{
	const struct authz_slot *sl;
	size_t mask = ix->nslots - 1, i;
	uint64_t h;

	run->n = 0;
	if (ix->nslots == 0 || s == NULL)
		return;
	h = authz_hash(s, len);
	for (i = h & mask; (sl = &ix->slots[i])->key != NULL;
	     i = (i + 1) & mask) {
		if (sl->hash == h && sl->len == len &&
		    memcmp(sl->key, s, len) == 0) {
			run->v = ix->refs + sl->first;
			run->n = sl->n;
			return;
		}
	}
}

static void
port_find(const struct authz_list *l, uint16_t port, struct authz_run *run)
{
	size_t lo = 0, hi = l->nport, mid, end;

	run->n = 0;
	if (l->nport == 0)
		return;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (l->ports[mid] < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < l->nport && l->ports[end] == port; end++)
		;
	run->v = l->byport + lo;
	run->n = end - lo;
}

/*
 * The first rule of l that the request matches, in set order. allow:
 * the list is of ALLOW rules, which never match opaque TCP when they
 * use an HTTP-only attribute.
 */
static const struct authz_ref *
list_first(const struct authz_list *l, struct authz_view *w, int allow)
{
	struct authz_run run[4];
	const struct authz_ref *ref;
	size_t nrun = 0, i, best;

	if (l->npolicies == 0)
		return NULL;
	run[nrun].v = l->any;
	run[nrun++].n = l->nany;
	port_find(l, w->r->port, &run[nrun++]);
	index_find(&l->principal, w->pr, w->prlen, &run[nrun++]);
	if (!w->tcp)
		index_find(&l->path, w->r->path != NULL ? w->r->path : "",
		    w->r->path != NULL ? w->r->path_len : 0, &run[nrun++]);
	else if (!allow) {
		/* paths do not exist for TCP: these rules need no path */
		run[nrun].v = l->path.all;
		run[nrun++].n = l->path.nall;
	}
	for (;;) {
		best = nrun;
		for (i = 0; i < nrun; i++) {
			if (run[i].n > 0 &&
			    (best == nrun || run[i].v->seq < run[best].v->seq))
				best = i;
		}
		if (best == nrun)
			return NULL;
		ref = run[best].v++;
		run[best].n--;
		if (allow && w->tcp && ref->r->http_only)
			continue;
		if (rule_match(ref->p, ref->r, w))
			return ref;
	}
}

void
authz_eval(const struct authz_set *s, const struct authz_request *r,
    struct authz_decision *d)
{
	const struct authz_ref *ref;
	struct authz_view w;

	/* Field by field: nearest_why is left alone, but for its first
	 * byte, to keep this path as cheap as it was. */
	d->allowed = 0;
	d->policy = NULL;
	d->rule = -1;
	d->reason = NULL;
	d->dry_run_denied = 0;
	d->audit = NULL;
	d->nearest = NULL;
	d->nearest_rule = -1;
	d->nearest_why[0] = '\0';
	if (s == NULL) {
		d->allowed = 1;
		d->reason = "no ALLOW policy applies";
		return;
	}
	view_init(&w, r);
	if ((ref = list_first(&s->lists[AUTHZ_C_AUDIT], &w, 0)) != NULL)
		d->audit = ref->p;
	if (list_first(&s->lists[AUTHZ_C_DRY_DENY], &w, 0) != NULL)
		d->dry_run_denied = 1;
	if ((ref = list_first(&s->lists[AUTHZ_C_DENY], &w, 0)) != NULL) {
		d->policy = ref->p;
		d->rule = ref->r->index;
		d->reason = ref->r->reason;
		return;
	}
	/*
	 * The dry-run ALLOW policies are a shadow engine of their own:
	 * it denies when none of them matches, whatever the enforced ones
	 * say (as Envoy's shadow_rules).
	 */
	if (s->lists[AUTHZ_C_DRY_ALLOW].npolicies > 0 &&
	    list_first(&s->lists[AUTHZ_C_DRY_ALLOW], &w, 1) == NULL)
		d->dry_run_denied = 1;
	if (s->lists[AUTHZ_C_ALLOW].npolicies == 0) {
		d->allowed = 1;
		d->reason = "no ALLOW policy applies";
		return;
	}
	if ((ref = list_first(&s->lists[AUTHZ_C_ALLOW], &w, 1)) == NULL) {
		d->reason = "no ALLOW policy matched";
		return;
	}
	d->allowed = 1;
	d->policy = ref->p;
	d->rule = ref->r->index;
	d->reason = ref->r->reason;
}

/*
 * The nearest ALLOW rule, for explanations only (the denial path): how
 * far each rule got, and what stopped it.
 */
struct authz_near {
	int score;                  /* parts and fields matched */
	const struct authz_test *t; /* the first test failed, or NULL */
	int tcp_http;               /* it failed as HTTP-only on TCP */
};

/* Whether test t passes, as an ALLOW rule sees it. */
static int
near_test(const struct authz_policy *p, const struct authz_test *t,
    struct authz_view *w, struct authz_near *n)
{
	if (w->tcp && t->attr >= AUTHZ_A_HTTP) {
		if (n->t == NULL) {
			n->t = t;
			n->tcp_http = 1;
		}
		return 0;
	}
	if (test_match(p, t, w))
		return 1;
	if (n->t == NULL) {
		n->t = t;
		n->tcp_http = 0;
	}
	return 0;
}

/* Tests of a group or of when: counts those that pass. */
static int
near_tests(const struct authz_policy *p, uint32_t first, uint32_t count,
    struct authz_view *w, struct authz_near *n)
{
	uint32_t i;
	int pass = 0;

	for (i = 0; i < count; i++)
		pass += near_test(p, &p->tests[first + i], w, n);
	return pass;
}

/*
 * A from or a to part: its best source or operation (the most fields
 * passed, the first on a tie), and 1 more when one passes whole.
 */
static void
near_groups(const struct authz_policy *p, uint32_t first, uint32_t count,
    struct authz_view *w, struct authz_near *n)
{
	const struct authz_group *g;
	struct authz_near best, one;
	uint32_t i;
	int pass;

	if (count == 0)
		return;
	memset(&best, 0, sizeof(best));
	best.score = -1;
	for (i = 0; i < count; i++) {
		g = &p->groups[first + i];
		memset(&one, 0, sizeof(one));
		pass = near_tests(p, g->first, g->n, w, &one);
		if (one.t == NULL) {
			n->score += pass + 1;
			return;
		}
		if (pass > best.score) {
			best = one;
			best.score = pass;
		}
	}
	n->score += best.score;
	if (n->t == NULL) {
		n->t = best.t;
		n->tcp_http = best.tcp_http;
	}
}

/* How far rule r gets with the request: in the spec's order. */
static void
near_rule(const struct authz_policy *p, const struct authz_rule *r,
    struct authz_view *w, struct authz_near *n)
{
	struct authz_near when;
	int pass;

	memset(n, 0, sizeof(*n));
	near_groups(p, r->from_first, r->nfrom, w, n);
	near_groups(p, r->to_first, r->nto, w, n);
	if (r->nwhen == 0)
		return;
	memset(&when, 0, sizeof(when));
	pass = near_tests(p, r->when_first, r->nwhen, w, &when);
	n->score += pass + (when.t == NULL ? 1 : 0);
	if (n->t == NULL) {
		n->t = when.t;
		n->tcp_http = when.tcp_http;
	}
}

/* Appends to buf (len, used *off) as snprintf would, never past it. */
static void near_put(char *buf, size_t len, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
near_put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*off >= len - 1)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	*off += (size_t)k;
	if (*off >= len)
		*off = len - 1;
}

static void
near_addr(const struct authz_addr *a, char *buf, size_t len)
{
	if (a->family == 0 ||
	    inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->a, buf,
		(socklen_t)len) == NULL)
		snprintf(buf, len, "absent");
}

/*
 * What the request holds for test t, as text: a quoted string, a
 * method, an address or a port, a claim's list as [a, b], or "absent"
 * (returns 0 then). *list: the value is a list.
 */
static int
near_value(const struct authz_policy *p, const struct authz_test *t,
    struct authz_view *w, char *buf, size_t len, int *list)
{
	const char *s;
	json_t *v, *e;
	size_t slen, off = 0, k;
	uint32_t i;

	*list = 0;
	switch (t->attr) {
	case AUTHZ_A_SOURCE_IP:
		near_addr(&w->src, buf, len);
		return w->src.family != 0;
	case AUTHZ_A_REMOTE_IP:
		near_addr(&w->remote, buf, len);
		return w->remote.family != 0;
	case AUTHZ_A_DEST_IP:
		near_addr(&w->dst, buf, len);
		return w->dst.family != 0;
	case AUTHZ_A_PORT:
		snprintf(buf, len, "%u", (unsigned int)w->r->port);
		return 1;
	case AUTHZ_A_REQUEST_PRINCIPAL:
		view_jwt(w);
		if (w->iss == NULL || w->sub == NULL)
			break;
		snprintf(buf, len, "\"%.*s/%.*s\"", (int)w->isslen, w->iss,
		    (int)w->sublen, w->sub);
		return 1;
	case AUTHZ_A_CLAIM:
		v = (json_t *)w->r->claims;
		for (i = 0; i < t->narg && v != NULL; i++)
			v = json_is_object(v)
			    ? json_object_get(v, p->names[t->arg + i])
			    : NULL;
		if (json_is_string(v)) {
			snprintf(buf, len, "\"%s\"", json_string_value(v));
			return 1;
		}
		if (!json_is_array(v)) {
			snprintf(buf, len, "%s",
			    v == NULL ? "absent" : "not a string");
			return v != NULL;
		}
		*list = 1;
		near_put(buf, len, &off, "[");
		json_array_foreach(v, k, e)
		{
			near_put(buf, len, &off, "%s%s", k > 0 ? ", " : "",
			    json_is_string(e) ? json_string_value(e) : "?");
		}
		near_put(buf, len, &off, "]");
		return 1;
	case AUTHZ_A_METHOD:
		if (view_str(w, t, &s, &slen)) {
			snprintf(buf, len, "%.*s", (int)slen, s);
			return 1;
		}
		break;
	default:
		if (view_str(w, t, &s, &slen)) {
			snprintf(buf, len, "\"%.*s\"", (int)slen, s);
			return 1;
		}
		break;
	}
	snprintf(buf, len, "absent");
	return 0;
}

/* The text of test t that the request failed. */
static void
near_why(const struct authz_policy *p, const struct authz_near *n,
    struct authz_view *w, char *buf, size_t len)
{
	const struct authz_test *t = n->t;
	const struct authz_label *l = &p->labels[t - p->tests];
	char val[160];
	int list, cond = strncmp(l->name, "when[", 5) == 0;

	if (n->tcp_http) {
		snprintf(buf, len,
		    "%s: HTTP-only, the connection is opaque TCP", l->name);
		return;
	}
	if (!near_value(p, t, w, val, sizeof(val), &list))
		snprintf(buf, len, "%s: absent, not in [%s]", l->name, l->vals);
	else if (!t->neg)
		snprintf(buf, len, "%s: %s %s [%s]", l->name, val,
		    list ? "has none of" : "not in", l->vals);
	else
		snprintf(buf, len, "%s: %s %s%s [%s]", l->name, val,
		    list ? "has one of" : "in", cond ? " notValues" : "",
		    l->vals);
}

void
authz_explain_nearest(const struct authz_set *s, const struct authz_request *r,
    struct authz_decision *d)
{
	const struct authz_policy *p, *bestp = NULL, *empty = NULL;
	const struct authz_rule *bestr = NULL;
	struct authz_near n, best;
	struct authz_view w;
	size_t i, j;

	if (s == NULL || d->allowed || d->policy != NULL)
		return;
	view_init(&w, r);
	memset(&best, 0, sizeof(best));
	for (i = 0; i < s->n; i++) {
		p = s->v[i];
		if (p->action != AUTHZ_ALLOW || p->dry_run)
			continue;
		if (p->nrules == 0 && empty == NULL)
			empty = p;
		for (j = 0; j < p->nrules; j++) {
			near_rule(p, &p->rules[j], &w, &n);
			if (bestr == NULL || n.score > best.score) {
				bestp = p;
				bestr = &p->rules[j];
				best = n;
			}
		}
	}
	if (bestr != NULL) {
		d->nearest = bestp;
		d->nearest_rule = bestr->index;
		if (best.t != NULL)
			near_why(bestp, &best, &w, d->nearest_why,
			    sizeof(d->nearest_why));
		else
			snprintf(d->nearest_why, sizeof(d->nearest_why),
			    "no condition failed");
	} else if (empty != NULL) {
		d->nearest = empty;
		d->nearest_rule = -1;
		snprintf(d->nearest_why, sizeof(d->nearest_why),
		    "the policy has no rules: it allows nothing");
	}
}

void
authz_decision_text(const struct authz_decision *d, char *buf, size_t len)
{
	const char *reason = d->reason != NULL ? d->reason : "denied";

	if (d->nearest == NULL)
		snprintf(buf, len, "%s", reason);
	else if (d->nearest_rule < 0)
		snprintf(buf, len, "%s; nearest: %s/%s: %s", reason,
		    d->nearest->ns, d->nearest->name, d->nearest_why);
	else
		snprintf(buf, len, "%s; nearest: %s/%s rule %d, failed %s",
		    reason, d->nearest->ns, d->nearest->name, d->nearest_rule,
		    d->nearest_why);
}
