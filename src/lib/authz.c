/*
 * AuthorizationPolicy specs compiled into the flat form of authz_int.h.
 * Sets of policies are built in authz_set.c, evaluated in
 * authz_match.c.
 *
 * The compiler reads a spec as Istio's pilot does (its validation, and
 * the RBAC config its builder generates for Envoy); every matcher Envoy
 * would run becomes a value here. What weft cannot evaluate exactly is
 * refused, never approximated.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "authz.h"
#include "authz_int.h"
#include "xmalloc.h"

#define AUTHZ_FIELD_MAX 256
/* Istio's limit on serviceAccounts entries per field. */
#define AUTHZ_SA_MAX 16

/* How the strings of a field are read. */
enum authz_sem {
	AUTHZ_S_STRING,    /* Istio's StringMatcher: "*" is ".+" */
	AUTHZ_S_HEADER,    /* its HeaderMatcher: "*" is presence */
	AUTHZ_S_HOST,      /* its HostMatcher: presence, no case */
	AUTHZ_S_PATH,      /* StringMatcher, or a path template */
	AUTHZ_S_NAMESPACE, /* a regex on the principal, "NS" in "/ns/NS/" */
	AUTHZ_S_SA,        /* "spiffe://.+/ns/NS/(.+/|)sa/SA(/.+)?" */
	AUTHZ_S_CIDR,
	AUTHZ_S_PORT,
	AUTHZ_S_RP, /* request principal: iss and sub matchers */
};

/* A field of a source or an operation. */
struct authz_field {
	const char *name;
	uint8_t attr;
	uint8_t neg;
	uint8_t sem;
};

static const struct authz_field authz_source_fields[] = {
    {"principals", AUTHZ_A_PRINCIPAL, 0, AUTHZ_S_STRING},
    {"notPrincipals", AUTHZ_A_PRINCIPAL, 1, AUTHZ_S_STRING},
    {"requestPrincipals", AUTHZ_A_REQUEST_PRINCIPAL, 0, AUTHZ_S_RP},
    {"notRequestPrincipals", AUTHZ_A_REQUEST_PRINCIPAL, 1, AUTHZ_S_RP},
    {"namespaces", AUTHZ_A_NAMESPACE, 0, AUTHZ_S_NAMESPACE},
    {"notNamespaces", AUTHZ_A_NAMESPACE, 1, AUTHZ_S_NAMESPACE},
    {"serviceAccounts", AUTHZ_A_SERVICE_ACCOUNT, 0, AUTHZ_S_SA},
    {"notServiceAccounts", AUTHZ_A_SERVICE_ACCOUNT, 1, AUTHZ_S_SA},
    {"trustDomains", AUTHZ_A_TRUST_DOMAIN, 0, AUTHZ_S_STRING},
    {"notTrustDomains", AUTHZ_A_TRUST_DOMAIN, 1, AUTHZ_S_STRING},
    {"ipBlocks", AUTHZ_A_SOURCE_IP, 0, AUTHZ_S_CIDR},
    {"notIpBlocks", AUTHZ_A_SOURCE_IP, 1, AUTHZ_S_CIDR},
    {"remoteIpBlocks", AUTHZ_A_REMOTE_IP, 0, AUTHZ_S_CIDR},
    {"notRemoteIpBlocks", AUTHZ_A_REMOTE_IP, 1, AUTHZ_S_CIDR},
    {NULL, 0, 0, 0},
};

static const struct authz_field authz_operation_fields[] = {
    {"hosts", AUTHZ_A_HOST, 0, AUTHZ_S_HOST},
    {"notHosts", AUTHZ_A_HOST, 1, AUTHZ_S_HOST},
    {"ports", AUTHZ_A_PORT, 0, AUTHZ_S_PORT},
    {"notPorts", AUTHZ_A_PORT, 1, AUTHZ_S_PORT},
    {"methods", AUTHZ_A_METHOD, 0, AUTHZ_S_HEADER},
    {"notMethods", AUTHZ_A_METHOD, 1, AUTHZ_S_HEADER},
    {"paths", AUTHZ_A_PATH, 0, AUTHZ_S_PATH},
    {"notPaths", AUTHZ_A_PATH, 1, AUTHZ_S_PATH},
    {NULL, 0, 0, 0},
};

/* Condition keys with a fixed name. */
static const struct {
	const char *key;
	uint8_t attr;
	uint8_t sem;
	const char *claim; /* the JWT claim it reads, if any */
} authz_keys[] = {
    {"source.ip", AUTHZ_A_SOURCE_IP, AUTHZ_S_CIDR, NULL},
    {"remote.ip", AUTHZ_A_REMOTE_IP, AUTHZ_S_CIDR, NULL},
    {"destination.ip", AUTHZ_A_DEST_IP, AUTHZ_S_CIDR, NULL},
    {"destination.port", AUTHZ_A_PORT, AUTHZ_S_PORT, NULL},
    {"source.namespace", AUTHZ_A_NAMESPACE, AUTHZ_S_NAMESPACE, NULL},
    {"source.principal", AUTHZ_A_PRINCIPAL, AUTHZ_S_STRING, NULL},
    {"source.serviceAccount", AUTHZ_A_SERVICE_ACCOUNT, AUTHZ_S_SA, NULL},
    {"connection.sni", AUTHZ_A_SNI, AUTHZ_S_STRING, NULL},
    {"request.auth.principal", AUTHZ_A_REQUEST_PRINCIPAL, AUTHZ_S_RP, NULL},
    {"request.auth.audiences", AUTHZ_A_CLAIM, AUTHZ_S_STRING, "aud"},
    {"request.auth.presenter", AUTHZ_A_CLAIM, AUTHZ_S_STRING, "azp"},
    {NULL, 0, 0, NULL},
};

/* Compilation of one policy: where in the spec it is, the first error. */
struct authz_cc {
	struct authz_policy *p;
	char path[AUTHZ_FIELD_MAX];
	size_t len;
	char *cause;
	int rule;             /* index in p->rules being compiled */
	const char *when_key; /* the key of the condition being compiled */
};

static int cc_error(struct authz_cc *cc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
cc_error(struct authz_cc *cc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (cc->cause != NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	xasprintf(
	    &cc->cause, "%s/%s: %s: %s", cc->p->ns, cc->p->name, cc->path, msg);
	return -1;
}

static size_t
cc_enter(struct authz_cc *cc, const char *key)
{
	size_t mark = cc->len;
	int n;

	n = snprintf(cc->path + cc->len, sizeof(cc->path) - cc->len, "%s%s",
	    cc->len > 0 ? "." : "", key);
	if (n > 0)
		cc->len += (size_t)n;
	if (cc->len >= sizeof(cc->path))
		cc->len = sizeof(cc->path) - 1;
	return mark;
}

static size_t
cc_enter_index(struct authz_cc *cc, size_t i)
{
	size_t mark = cc->len;
	int n;

	n = snprintf(
	    cc->path + cc->len, sizeof(cc->path) - cc->len, "[%zu]", i);
	if (n > 0)
		cc->len += (size_t)n;
	if (cc->len >= sizeof(cc->path))
		cc->len = sizeof(cc->path) - 1;
	return mark;
}

static void
cc_leave(struct authz_cc *cc, size_t mark)
{
	cc->len = mark;
	cc->path[mark] = '\0';
}

static uint32_t
pool_add(struct authz_policy *p, const char *s, size_t len)
{
	size_t off = p->poollen;

	while (p->poollen + len + 1 > p->poolcap) {
		p->poolcap = p->poolcap == 0 ? 256 : p->poolcap * 2;
		p->pool = xreallocarray(p->pool, p->poolcap, 1);
	}
	memcpy(p->pool + off, s, len);
	p->pool[off + len] = '\0';
	p->poollen += len + 1;
	return (uint32_t)off;
}

static struct authz_val *
val_new(struct authz_policy *p, enum authz_kind kind)
{
	struct authz_val *v;

	AUTHZ_GROW(p->vals, p->nvals, p->capvals);
	v = &p->vals[p->nvals++];
	memset(v, 0, sizeof(*v));
	v->kind = (uint8_t)kind;
	return v;
}

static void
val_str(struct authz_policy *p, enum authz_kind kind, const char *s, size_t len,
    int icase)
{
	struct authz_val *v = val_new(p, kind);

	v->icase = (uint8_t)icase;
	v->len = (uint32_t)len;
	v->off = pool_add(p, s, len);
}

/*
 * Istio's reading of a string pattern: "*" alone (star: any non-empty
 * value, or presence for header matchers), "*abc" a suffix, "abc*" a
 * prefix, anything else exact. A '*' elsewhere is literal, as there.
 */
static void
val_istio(struct authz_policy *p, const char *s, size_t len,
    enum authz_kind star, int icase)
{
	if (len == 1 && s[0] == '*')
		val_str(p, star, "", 0, 0);
	else if (len > 0 && s[0] == '*')
		val_str(p, AUTHZ_K_SUFFIX, s + 1, len - 1, icase);
	else if (len > 0 && s[len - 1] == '*')
		val_str(p, AUTHZ_K_PREFIX, s, len - 1, icase);
	else
		val_str(p, AUTHZ_K_EXACT, s, len, icase);
}

/*
 * Appends s to a glob (g has room for twice its length), where Istio
 * put it into a regular expression unquoted: its '.' matches any byte,
 * a '*' (a namespace's, made ".*") any run. Other bytes are literal,
 * '?' and '\\' escaped: a name with other regex syntax ("ns[0]", as in
 * Istio's own tests) is read as the name it looks like.
 */
static size_t
glob_put(char *g, size_t n, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '?' || *s == '\\')
			g[n++] = '\\';
		g[n++] = *s == '.' ? '?' : *s;
	}
	return n;
}

/* Appends the glob syntax s as it is. */
static size_t
glob_raw(char *g, size_t n, const char *s)
{
	size_t len = strlen(s);

	memcpy(g + n, s, len);
	return n + len;
}

/*
 * namespaces: Istio matches a regex on the principal, any run, then
 * "/ns/NS/", then any run: a glob here.
 */
static int
val_namespace(struct authz_cc *cc, const char *s)
{
	char *g;
	size_t n;

	g = xmalloc(2 * strlen(s) + 8);
	n = glob_raw(g, 0, "*/ns/");
	n = glob_put(g, n, s);
	n = glob_raw(g, n, "/*");
	val_str(cc->p, AUTHZ_K_GLOB, g, n, 0);
	free(g);
	return 0;
}

/*
 * serviceAccounts: "SA" (in the policy's namespace) or "NS/SA", which
 * Istio matches with "spiffe://.+/ns/NS/(.+/|)sa/SA(/.+)?": four globs
 * on the principal.
 */
static int
val_sa(struct authz_cc *cc, const char *s)
{
	static const char *const forms[4][2] = {
	    {"sa/", ""},
	    {"sa/", "/?*"},
	    {"?*/sa/", ""},
	    {"?*/sa/", "/?*"},
	};
	const char *slash, *sa;
	char *ns, *g;
	size_t n, i;

	if (strchr(s, '*') != NULL)
		return cc_error(cc, "wildcard not allowed in \"%s\"", s);
	if (strlen(s) > 320)
		return cc_error(cc, "\"%s\" is longer than 320 characters", s);
	if ((slash = strchr(s, '/')) != NULL) {
		ns = xmalloc((size_t)(slash - s) + 1);
		memcpy(ns, s, (size_t)(slash - s));
		ns[slash - s] = '\0';
		sa = slash + 1;
	} else {
		ns = xstrdup(cc->p->ns);
		sa = s;
	}
	if (*ns == '\0' || *sa == '\0' || strchr(sa, '/') != NULL) {
		free(ns);
		return cc_error(cc,
		    "expected 'serviceAccount' or "
		    "'namespace/serviceAccount', found \"%s\"",
		    s);
	}
	g = xmalloc(2 * (strlen(ns) + strlen(sa)) + 32);
	for (i = 0; i < 4; i++) {
		n = glob_raw(g, 0, "?*/ns/");
		n = glob_put(g, n, ns);
		n = glob_raw(g, n, "/");
		n = glob_raw(g, n, forms[i][0]);
		n = glob_put(g, n, sa);
		n = glob_raw(g, n, forms[i][1]);
		val_str(cc->p, AUTHZ_K_GLOB, g, n, 0);
	}
	free(g);
	free(ns);
	return 0;
}

static int
val_cidr(struct authz_cc *cc, const char *s)
{
	char buf[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/'), *q;
	struct authz_val *v;
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	uint8_t addr[16];
	unsigned int plen, max, i;
	int family;

	if (alen == 0 || alen >= sizeof(buf))
		goto bad;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(addr, 0, sizeof(addr));
	if (inet_pton(AF_INET, buf, addr) == 1) {
		family = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		family = 6;
		max = 128;
	} else
		goto bad;
	plen = max;
	if (slash != NULL) {
		q = slash + 1;
		if (*q == '\0' || strlen(q) > 3)
			goto bad;
		for (plen = 0; *q != '\0'; q++) {
			if (*q < '0' || *q > '9')
				goto bad;
			plen = plen * 10 + (unsigned int)(*q - '0');
		}
		if (plen > max)
			goto bad;
	}
	/* Envoy's CidrRange keeps only the prefix bits. */
	for (i = 0; i < 16; i++) {
		if (i * 8 >= plen)
			addr[i] = 0;
		else if (i * 8 + 8 > plen)
			addr[i] &= (uint8_t)(0xff << (8 - (plen - i * 8)));
	}
	v = val_new(cc->p, AUTHZ_K_CIDR);
	v->family = (uint8_t)family;
	v->plen = (uint8_t)plen;
	memcpy(v->addr, addr, sizeof(addr));
	return 0;
bad:
	return cc_error(cc, "bad IP address or CIDR range \"%s\"", s);
}

static int
val_port(struct authz_cc *cc, json_t *j)
{
	const char *s;
	json_int_t n = -1;

	if (json_is_integer(j))
		n = json_integer_value(j);
	else if ((s = json_string_value(j)) != NULL && *s != '\0' &&
	    strlen(s) <= 5) {
		for (n = 0; *s != '\0'; s++) {
			if (*s < '0' || *s > '9') {
				n = -1;
				break;
			}
			n = n * 10 + (*s - '0');
		}
	}
	if (n < 0 || n > 65535) {
		s = json_string_value(j);
		return cc_error(cc, "bad port \"%s\"", s != NULL ? s : "?");
	}
	val_new(cc->p, AUTHZ_K_PORT)->port = (uint16_t)n;
	return 0;
}

/* Envoy's uri_template literal: a pchar (RFC 3986) other than '*'. */
static int
tpl_literal_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (strchr("-._~%!$&'()+,;:@=", s[i]) == NULL &&
		    !(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9'))
			return 0;
	}
	return 1;
}

/*
 * A path with {*} or {**}, checked as Istio does (each segment an
 * operator or a literal; nothing after {**} but literals) and stored
 * with the operators as single bytes.
 */
static int
val_template(struct authz_cc *cc, const char *s)
{
	const char *seg = s, *end;
	char *t;
	size_t n = 0, len;
	int any = 0;

	if (s[0] != '/')
		return cc_error(
		    cc, "path template \"%s\" must start with '/'", s);
	t = xmalloc(strlen(s) + 1);
	while (*seg == '/')
		seg++;
	for (; *seg != '\0'; seg = *end == '\0' ? end : end + 1) {
		end = strchr(seg, '/');
		if (end == NULL)
			end = seg + strlen(seg);
		len = (size_t)(end - seg);
		if (len == 0 && *end == '\0')
			break; /* trailing '/' */
		if ((len == 3 && memcmp(seg, "{*}", 3) == 0) ||
		    (len == 4 && memcmp(seg, "{**}", 4) == 0)) {
			if (any) {
				free(t);
				return cc_error(cc,
				    "path \"%s\": {**} is not "
				    "the last operator",
				    s);
			}
			any = len == 4;
		} else if (!tpl_literal_ok(seg, len)) {
			free(t);
			return cc_error(cc,
			    "path \"%s\": segment \"%.*s\" is "
			    "not a valid path template literal",
			    s, (int)len, seg);
		}
	}
	for (seg = s; *seg != '\0';) {
		if (strncmp(seg, "{**}", 4) == 0) {
			t[n++] = AUTHZ_TPL_ANY;
			seg += 4;
		} else if (strncmp(seg, "{*}", 3) == 0) {
			t[n++] = AUTHZ_TPL_ONE;
			seg += 3;
		} else
			t[n++] = *seg++;
	}
	val_str(cc->p, AUTHZ_K_TEMPLATE, t, n, 0);
	free(t);
	return 0;
}

static int
val_path(struct authz_cc *cc, const char *s)
{
	if (strstr(s, "{*}") != NULL || strstr(s, "{**}") != NULL)
		return val_template(cc, s);
	if (strchr(s, '{') != NULL || strchr(s, '}') != NULL)
		return cc_error(cc,
		    "path \"%s\" has '{' or '}' outside a "
		    "path template ({*} or {**})",
		    s);
	val_istio(cc->p, s, strlen(s), AUTHZ_K_NONEMPTY, 0);
	return 0;
}

/*
 * A request principal "ISS/SUB" (split at the last '/', as issuers are
 * URLs) becomes a matcher of the iss claim and one of the sub claim,
 * the way Istio's builder reads the wildcards.
 */
static void
val_rp(struct authz_policy *p, const char *s)
{
	const char *slash = strrchr(s, '/');
	size_t len = strlen(s), ilen, slen;
	const char *sub;

	ilen = slash != NULL ? (size_t)(slash - s) : len;
	sub = slash != NULL ? slash + 1 : "";
	slen = strlen(sub);
	if (strcmp(s, "*") == 0) {
		val_str(p, AUTHZ_K_NONEMPTY, "", 0, 0);
		val_str(p, AUTHZ_K_NONEMPTY, "", 0, 0);
	} else if (s[0] == '*' && slash != NULL) {
		if (ilen == 1)
			val_str(p, AUTHZ_K_NONEMPTY, "", 0, 0);
		else
			val_str(p, AUTHZ_K_SUFFIX, s + 1, ilen - 1, 0);
		val_str(p, AUTHZ_K_EXACT, sub, slen, 0);
	} else if (s[0] == '*') {
		val_str(p, AUTHZ_K_NONEMPTY, "", 0, 0);
		val_str(p, AUTHZ_K_SUFFIX, s + 1, len - 1, 0);
	} else if (s[len - 1] == '*' && slash != NULL) {
		val_str(p, AUTHZ_K_EXACT, s, ilen, 0);
		if (slen == 1)
			val_str(p, AUTHZ_K_NONEMPTY, "", 0, 0);
		else
			val_str(p, AUTHZ_K_PREFIX, sub, slen - 1, 0);
	} else if (s[len - 1] == '*') {
		val_str(p, AUTHZ_K_PREFIX, s, len - 1, 0);
		val_str(p, AUTHZ_K_NONEMPTY, "", 0, 0);
	} else {
		val_str(p, AUTHZ_K_EXACT, s, ilen, 0);
		val_str(p, AUTHZ_K_EXACT, sub, slen, 0);
	}
}

static int
val_add(struct authz_cc *cc, enum authz_sem sem, json_t *j)
{
	const char *s = json_string_value(j);

	if (sem == AUTHZ_S_PORT)
		return val_port(cc, j);
	if (s == NULL)
		return cc_error(cc, "must be a string");
	if (*s == '\0')
		return cc_error(cc, "empty value not allowed");
	switch (sem) {
	case AUTHZ_S_STRING:
		val_istio(cc->p, s, strlen(s), AUTHZ_K_NONEMPTY, 0);
		break;
	case AUTHZ_S_HEADER:
		val_istio(cc->p, s, strlen(s), AUTHZ_K_PRESENT, 0);
		break;
	case AUTHZ_S_HOST:
		val_istio(cc->p, s, strlen(s), AUTHZ_K_PRESENT, 1);
		break;
	case AUTHZ_S_PATH:
		return val_path(cc, s);
	case AUTHZ_S_NAMESPACE:
		return val_namespace(cc, s);
	case AUTHZ_S_SA:
		return val_sa(cc, s);
	case AUTHZ_S_CIDR:
		return val_cidr(cc, s);
	case AUTHZ_S_RP:
		val_rp(cc->p, s);
		break;
	case AUTHZ_S_PORT:
		break;
	}
	return 0;
}

/* Whether list (a field's value) holds anything; -1 if not a list. */
static int
list_count(json_t *list)
{
	if (list == NULL || json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return -1;
	return (int)json_array_size(list);
}

/*
 * Names the test just added, for explanations: its place in the rule
 * ("from[0].source.principals", or "when[1] KEY" for a condition), and
 * its values as written, joined by ", " (cut after about 200 bytes).
 */
static void
label_add(struct authz_cc *cc, json_t *list)
{
	struct authz_policy *p = cc->p;
	struct authz_label *l;
	const char *rest = cc->path, *q;
	char name[AUTHZ_FIELD_MAX + 128], vals[256];
	size_t i, n = 0, restlen;
	json_t *v;
	int k;

	if (strncmp(rest, "spec.rules[", 11) == 0 &&
	    (q = strstr(rest, "].")) != NULL)
		rest = q + 2;
	restlen = strlen(rest);
	if (cc->when_key != NULL && (q = strrchr(rest, '.')) != NULL)
		restlen = (size_t)(q - rest);
	snprintf(name, sizeof(name), "%.*s%s%s", (int)restlen, rest,
	    cc->when_key != NULL ? " " : "",
	    cc->when_key != NULL ? cc->when_key : "");
	vals[0] = '\0';
	json_array_foreach(list, i, v)
	{
		if (n > 200) {
			snprintf(vals + n, sizeof(vals) - n, ", ...");
			break;
		}
		if (json_is_integer(v))
			k = snprintf(vals + n, sizeof(vals) - n, "%s%lld",
			    i > 0 ? ", " : "",
			    (long long)json_integer_value(v));
		else
			k = snprintf(vals + n, sizeof(vals) - n, "%s%s",
			    i > 0 ? ", " : "",
			    json_is_string(v) ? json_string_value(v) : "?");
		if (k < 0 || (size_t)k >= sizeof(vals) - n) {
			n = sizeof(vals) - 1;
			break;
		}
		n += (size_t)k;
	}
	AUTHZ_GROW(p->labels, p->nlabels, p->caplabels);
	l = &p->labels[p->nlabels++];
	memset(l, 0, sizeof(*l));
	l->nameoff = pool_add(p, name, strlen(name));
	l->valsoff = pool_add(p, vals, strlen(vals));
}

/*
 * Adds the test of one field (or condition) whose values are list:
 * nothing if the list is empty, as Istio skips empty fields.
 */
static int
test_add(struct authz_cc *cc, uint8_t attr, uint8_t neg, enum authz_sem sem,
    json_t *list, uint32_t arg, uint32_t narg)
{
	struct authz_policy *p = cc->p;
	struct authz_test *t;
	size_t i, first = p->nvals, mark;
	int n;

	if ((n = list_count(list)) == -1)
		return cc_error(cc, "must be a list");
	if (n == 0)
		return 0;
	if (sem == AUTHZ_S_SA && n > AUTHZ_SA_MAX)
		return cc_error(
		    cc, "may not have more than %d values", AUTHZ_SA_MAX);
	for (i = 0; i < (size_t)n; i++) {
		mark = cc_enter_index(cc, i);
		if (val_add(cc, sem, json_array_get(list, i)) == -1)
			return -1;
		cc_leave(cc, mark);
	}
	AUTHZ_GROW(p->tests, p->ntests, p->captests);
	t = &p->tests[p->ntests++];
	memset(t, 0, sizeof(*t));
	t->attr = attr;
	t->neg = neg;
	t->first = (uint32_t)first;
	t->n = (uint32_t)(p->nvals - first);
	if (sem == AUTHZ_S_RP)
		t->n /= 2;
	t->arg = arg;
	t->narg = narg;
	if (attr >= AUTHZ_A_HTTP)
		p->rules[cc->rule].http_only = 1;
	label_add(cc, list);
	return 0;
}

/* Checks that object o has only the keys of names (NULL-terminated). */
static int
object_keys(
    struct authz_cc *cc, json_t *o, const char *const *names, const char *what)
{
	const char *key;
	json_t *v;
	size_t i, mark;

	if (!json_is_object(o))
		return cc_error(cc, "must be an object");
	json_object_foreach(o, key, v)
	{
		for (i = 0; names[i] != NULL; i++) {
			if (strcmp(names[i], key) == 0)
				break;
		}
		if (names[i] == NULL) {
			mark = cc_enter(cc, key);
			cc_error(cc, "unknown field of %s", what);
			cc_leave(cc, mark);
			return -1;
		}
	}
	return 0;
}

/* A source or an operation: the tests of one group. */
static int
cc_fields(struct authz_cc *cc, json_t *o, const struct authz_field *fields,
    const char *what, struct authz_group *g)
{
	const char *key;
	json_t *v;
	size_t i, mark;
	int n, any = 0, ids = 0, sas = 0;

	if (!json_is_object(o))
		return cc_error(cc, "must be an object");
	json_object_foreach(o, key, v)
	{
		for (i = 0; fields[i].name != NULL; i++) {
			if (strcmp(fields[i].name, key) == 0)
				break;
		}
		mark = cc_enter(cc, key);
		if (fields[i].name == NULL) {
			cc_error(cc, "unknown field of %s", what);
			return -1;
		}
		if ((n = list_count(v)) == -1)
			return cc_error(cc, "must be a list");
		cc_leave(cc, mark);
		any += n;
		if (fields[i].attr == AUTHZ_A_PRINCIPAL ||
		    fields[i].attr == AUTHZ_A_NAMESPACE)
			ids += n;
		if (fields[i].attr == AUTHZ_A_SERVICE_ACCOUNT)
			sas += n;
	}
	if (any == 0)
		return cc_error(cc, "must not be empty");
	if (ids > 0 && sas > 0)
		return cc_error(cc,
		    "cannot set serviceAccounts with "
		    "namespaces or principals");
	g->first = (uint32_t)cc->p->ntests;
	for (i = 0; fields[i].name != NULL; i++) {
		mark = cc_enter(cc, fields[i].name);
		if (test_add(cc, fields[i].attr, fields[i].neg, fields[i].sem,
			json_object_get(o, fields[i].name), 0, 0) == -1)
			return -1;
		cc_leave(cc, mark);
	}
	g->n = (uint32_t)(cc->p->ntests - g->first);
	return 0;
}

/* from or to: a list of {source: ...} or {operation: ...}. */
static int
cc_groups(struct authz_cc *cc, json_t *list, const char *what,
    const char *wrapper, const struct authz_field *fields, uint32_t *first,
    uint32_t *count)
{
	struct authz_policy *p = cc->p;
	struct authz_group g;
	const char *const keys[] = {wrapper, NULL};
	json_t *item, *inner;
	size_t i, mark, mark2;
	int n;

	*first = (uint32_t)p->ngroups;
	*count = 0;
	if (list == NULL || json_is_null(list))
		return 0;
	if ((n = list_count(list)) == -1)
		return cc_error(cc, "must be a list");
	if (n == 0)
		return cc_error(cc, "must not be empty");
	for (i = 0; i < (size_t)n; i++) {
		AUTHZ_GROW(p->groups, p->ngroups, p->capgroups);
		p->ngroups++;
	}
	for (i = 0; i < (size_t)n; i++) {
		mark = cc_enter_index(cc, i);
		item = json_array_get(list, i);
		if (object_keys(cc, item, keys, what) == -1)
			return -1;
		inner = json_object_get(item, wrapper);
		mark2 = cc_enter(cc, wrapper);
		if (inner == NULL || json_is_null(inner))
			return cc_error(cc, "must not be nil");
		if (cc_fields(cc, inner, fields, wrapper, &g) == -1)
			return -1;
		p->groups[*first + i] = g;
		cc_leave(cc, mark2);
		cc_leave(cc, mark);
	}
	*count = (uint32_t)n;
	return 0;
}

/*
 * "[a][b]" -> a, b (Istio's extractNameInNestedBrackets: a malformed
 * list is one name, the text between the outer brackets).
 */
static int
claim_path(struct authz_cc *cc, const char *s, uint32_t *first, uint32_t *n)
{
	struct authz_policy *p = cc->p;
	const char *q = s, *end;
	size_t len = strlen(s);

	*first = (uint32_t)p->nnames;
	*n = 0;
	while (*q == '[') {
		for (end = q + 1; *end != '\0' && *end != '[' && *end != ']';
		     end++)
			;
		if (*end != ']' || end == q + 1)
			break;
		AUTHZ_GROW(p->nameoffs, p->nnames, p->capnames);
		p->nameoffs[p->nnames++] =
		    pool_add(p, q + 1, (size_t)(end - q - 1));
		(*n)++;
		q = end + 1;
	}
	if (*q == '\0' && *n > 0)
		return 0;
	p->nnames = *first;
	*n = 0;
	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return cc_error(cc, "bad key: should have the form a[b]");
	AUTHZ_GROW(p->nameoffs, p->nnames, p->capnames);
	p->nameoffs[p->nnames++] = pool_add(p, s + 1, len - 2);
	*n = 1;
	return 0;
}

static int
cc_condition(struct authz_cc *cc, json_t *w)
{
	static const char *const keys[] = {"key", "values", "notValues", NULL};
	struct authz_policy *p = cc->p;
	const char *key, *name;
	json_t *values, *notv;
	uint32_t arg = 0, narg = 0;
	uint8_t attr = 0, sem = 0;
	size_t i, len, mark;
	char *lower;
	int nv, nn;

	if (object_keys(cc, w, keys, "when") == -1)
		return -1;
	mark = cc_enter(cc, "key");
	key = json_string_value(json_object_get(w, "key"));
	if (key == NULL || *key == '\0')
		return cc_error(cc, "must be a non-empty string");
	cc_leave(cc, mark);
	values = json_object_get(w, "values");
	notv = json_object_get(w, "notValues");
	if ((nv = list_count(values)) == -1 || (nn = list_count(notv)) == -1)
		return cc_error(cc, "values and notValues must be lists");
	if (nv == 0 && nn == 0)
		return cc_error(cc,
		    "at least one of values or notValues must "
		    "be set for key %s",
		    key);
	for (i = 0; authz_keys[i].key != NULL; i++) {
		if (strcmp(authz_keys[i].key, key) == 0)
			break;
	}
	if (authz_keys[i].key != NULL) {
		attr = authz_keys[i].attr;
		sem = authz_keys[i].sem;
		if (authz_keys[i].claim != NULL) {
			arg = (uint32_t)p->nnames;
			narg = 1;
			AUTHZ_GROW(p->nameoffs, p->nnames, p->capnames);
			p->nameoffs[p->nnames++] = pool_add(p,
			    authz_keys[i].claim, strlen(authz_keys[i].claim));
		}
	} else if (strncmp(key, "request.headers[", 16) == 0 &&
	    (len = strlen(key)) > 17 && key[len - 1] == ']') {
		name = key + 16;
		len -= 17;
		sem = AUTHZ_S_HEADER;
		/* Envoy's pseudo-headers are the request's own fields. */
		if (len == 7 && strncmp(name, ":method", 7) == 0)
			attr = AUTHZ_A_METHOD;
		else if (len == 5 && strncmp(name, ":path", 5) == 0)
			attr = AUTHZ_A_PATH;
		else if (len == 10 && strncmp(name, ":authority", 10) == 0)
			attr = AUTHZ_A_HOST;
		else {
			attr = AUTHZ_A_HEADER;
			lower = xmalloc(len + 1);
			for (i = 0; i < len; i++)
				lower[i] = name[i] >= 'A' && name[i] <= 'Z'
				    ? (char)(name[i] - 'A' + 'a')
				    : name[i];
			arg = pool_add(p, lower, len);
			free(lower);
		}
	} else if (strncmp(key, "request.auth.claims", 19) == 0) {
		attr = AUTHZ_A_CLAIM;
		sem = AUTHZ_S_STRING;
		mark = cc_enter(cc, "key");
		if (claim_path(cc, key + 19, &arg, &narg) == -1)
			return -1;
		cc_leave(cc, mark);
	} else if (strncmp(key, "experimental.envoy.filters.", 27) == 0) {
		mark = cc_enter(cc, "key");
		return cc_error(cc,
		    "%s is not supported: weft runs no Envoy "
		    "filter that could set its metadata",
		    key);
	} else {
		mark = cc_enter(cc, "key");
		return cc_error(cc, "unknown or unsupported attribute %s", key);
	}
	cc->when_key = key;
	mark = cc_enter(cc, "values");
	if (test_add(cc, attr, 0, sem, values, arg, narg) == -1)
		return -1;
	cc_leave(cc, mark);
	mark = cc_enter(cc, "notValues");
	if (test_add(cc, attr, 1, sem, notv, arg, narg) == -1)
		return -1;
	cc_leave(cc, mark);
	cc->when_key = NULL;
	return 0;
}

static int
cc_rule(struct authz_cc *cc, json_t *j, int index)
{
	static const char *const keys[] = {"from", "to", "when", NULL};
	static const char *const verbs[] = {"allowed", "denied", "audited"};
	static const char *const names[] = {"ALLOW", "DENY", "AUDIT"};
	struct authz_policy *p = cc->p;
	struct authz_rule *r;
	json_t *when, *w;
	size_t i, mark, m;
	uint32_t first, count;
	int n;

	if (j == NULL || json_is_null(j))
		return cc_error(cc, "rule must not be nil");
	if (object_keys(cc, j, keys, "rule") == -1)
		return -1;
	AUTHZ_GROW(p->rules, p->nrules, p->caprules);
	cc->rule = (int)p->nrules;
	r = &p->rules[p->nrules++];
	memset(r, 0, sizeof(*r));
	r->index = index;
	xasprintf(&r->reason, "%s by %s policy %s/%s rule %d", verbs[p->action],
	    names[p->action], p->ns, p->name, index);

	/* when first: its tests are contiguous, before the groups' */
	mark = cc_enter(cc, "when");
	when = json_object_get(j, "when");
	if ((n = list_count(when)) == -1)
		return cc_error(cc, "must be a list");
	first = (uint32_t)p->ntests;
	for (i = 0; i < (size_t)n; i++) {
		w = json_array_get(when, i);
		m = cc_enter_index(cc, i);
		if (cc_condition(cc, w) == -1)
			return -1;
		cc_leave(cc, m);
	}
	p->rules[cc->rule].when_first = first;
	p->rules[cc->rule].nwhen = (uint32_t)(p->ntests - first);
	cc_leave(cc, mark);

	mark = cc_enter(cc, "from");
	if (cc_groups(cc, json_object_get(j, "from"), "from", "source",
		authz_source_fields, &first, &count) == -1)
		return -1;
	p->rules[cc->rule].from_first = first;
	p->rules[cc->rule].nfrom = count;
	cc_leave(cc, mark);

	mark = cc_enter(cc, "to");
	if (cc_groups(cc, json_object_get(j, "to"), "to", "operation",
		authz_operation_fields, &first, &count) == -1)
		return -1;
	p->rules[cc->rule].to_first = first;
	p->rules[cc->rule].nto = count;
	cc_leave(cc, mark);
	return 0;
}

/* Pool offsets become pointers once the pool no longer moves. */
static void
policy_finish(struct authz_policy *p)
{
	size_t i;

	for (i = 0; i < p->nvals; i++)
		p->vals[i].s = p->pool != NULL ? p->pool + p->vals[i].off : "";
	for (i = 0; i < p->ntests; i++) {
		if (p->tests[i].attr == AUTHZ_A_HEADER)
			p->tests[i].name = p->pool + p->tests[i].arg;
	}
	for (i = 0; i < p->nlabels; i++) {
		p->labels[i].name = p->pool + p->labels[i].nameoff;
		p->labels[i].vals = p->pool + p->labels[i].valsoff;
	}
	if (p->nnames > 0) {
		p->names = xcalloc(p->nnames, sizeof(*p->names));
		for (i = 0; i < p->nnames; i++)
			p->names[i] = p->pool + p->nameoffs[i];
	}
}

struct authz_policy *
authz_compile(
    const json_t *cspec, const char *ns, const char *name, char **cause)
{
	static const char *const keys[] = {"action", "rules", "selector",
	    "targetRef", "targetRefs", "provider", NULL};
	json_t *spec = (json_t *)cspec, *action, *rules, *provider;
	struct authz_policy *p;
	struct authz_cc cc;
	const char *a;
	size_t i, mark, m;
	int n;

	p = xcalloc(1, sizeof(*p));
	p->ns = xstrdup(ns != NULL ? ns : "");
	p->name = xstrdup(name != NULL ? name : "");
	p->action = AUTHZ_ALLOW;
	memset(&cc, 0, sizeof(cc));
	cc.p = p;
	cc_enter(&cc, "spec");
	/* No spec is Istio's empty spec: ALLOW nothing. */
	if (spec == NULL || json_is_null(spec)) {
		policy_finish(p);
		return p;
	}
	if (!json_is_object(spec)) {
		cc_error(&cc, "must be an object");
		goto fail;
	}
	action = json_object_get(spec, "action");
	provider = json_object_get(spec, "provider");
	mark = cc_enter(&cc, "action");
	a = json_string_value(action);
	if (action != NULL && !json_is_null(action) && a == NULL) {
		cc_error(&cc, "must be a string");
		goto fail;
	}
	if (a == NULL || strcmp(a, "ALLOW") == 0)
		p->action = AUTHZ_ALLOW;
	else if (strcmp(a, "DENY") == 0)
		p->action = AUTHZ_DENY;
	else if (strcmp(a, "AUDIT") == 0)
		p->action = AUTHZ_AUDIT;
	else if (strcmp(a, "CUSTOM") == 0) {
		cc_error(&cc, "CUSTOM action is not supported");
		goto fail;
	} else {
		cc_error(&cc, "unknown action \"%s\"", a);
		goto fail;
	}
	cc_leave(&cc, mark);
	if (provider != NULL && !json_is_null(provider)) {
		mark = cc_enter(&cc, "provider");
		cc_error(&cc, "CUSTOM action is not supported");
		goto fail;
	}
	if (object_keys(&cc, spec, keys, "an AuthorizationPolicy spec") == -1)
		goto fail;
	rules = json_object_get(spec, "rules");
	mark = cc_enter(&cc, "rules");
	if ((n = list_count(rules)) == -1) {
		cc_error(&cc, "must be a list");
		goto fail;
	}
	for (i = 0; i < (size_t)n; i++) {
		m = cc_enter_index(&cc, i);
		if (cc_rule(&cc, json_array_get(rules, i), (int)i) == -1)
			goto fail;
		cc_leave(&cc, m);
	}
	cc_leave(&cc, mark);
	policy_finish(p);
	return p;
fail:
	if (cause != NULL)
		*cause = cc.cause;
	else
		free(cc.cause);
	authz_policy_free(p);
	return NULL;
}

void
authz_policy_free(struct authz_policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nrules; i++)
		free(p->rules[i].reason);
	free(p->rules);
	free(p->groups);
	free(p->tests);
	free(p->labels);
	free(p->vals);
	free(p->nameoffs);
	free(p->names);
	free(p->pool);
	free(p->ns);
	free(p->name);
	free(p);
}

enum authz_action
authz_policy_action(const struct authz_policy *p)
{
	return p->action;
}

const char *
authz_policy_namespace(const struct authz_policy *p)
{
	return p->ns;
}

const char *
authz_policy_name(const struct authz_policy *p)
{
	return p->name;
}

void
authz_policy_set_dry_run(struct authz_policy *p, int dry_run)
{
	p->dry_run = dry_run != 0;
}
