/*
 * Unit tests for AuthorizationPolicy evaluation (src/lib/authz*.c): the
 * AuthorizationPolicy inputs of Istio's own builder tests, every field
 * and condition key with its not-form, the decision order, dry runs,
 * the product brief's two examples, and the cost of an evaluation with
 * ten thousand rules.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "authz.h"
#include "yaml_doc.h"

#define NS "default"
#define PP "cluster.local/ns/default/sa/profilepicture"

/* A request as the proxy would describe it, with its storage. */
struct treq {
	struct authz_request r;
	struct sockaddr_storage src, rem, dst;
	const char *hdr[16][2];
	size_t nhdr;
	json_t *claims;
};

static char *
xfmt(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	assert_non_null(s);
	return s;
}

static json_t *
yaml(const char *text)
{
	struct yaml_docs docs;
	char *cause = NULL;
	json_t *root;
	int errdoc;

	if (yaml_doc_parse(text, strlen(text), &docs, &errdoc, &cause) != 0)
		fail_msg("yaml: %s: %s", text, cause);
	assert_int_equal(docs.n, 1);
	root = json_incref(docs.v[0].root);
	yaml_docs_clear(&docs);
	return root;
}

/* Compiles spec (YAML) as policy ns/name, or fails the test. */
static struct authz_policy *
poln(const char *ns, const char *name, const char *spec)
{
	struct authz_policy *p;
	char *cause = NULL;
	json_t *j = yaml(spec);

	p = authz_compile(j, ns, name, &cause);
	json_decref(j);
	if (p == NULL)
		fail_msg("%s: %s", spec, cause);
	return p;
}

static struct authz_policy *
pol(const char *spec)
{
	return poln(NS, "p", spec);
}

static struct authz_policy *
dry(struct authz_policy *p)
{
	authz_policy_set_dry_run(p, 1);
	return p;
}

/* The cause of spec's refusal ("" if it compiled); caller frees. */
static char *
refusal(const char *spec)
{
	struct authz_policy *p;
	char *cause = NULL;
	json_t *j = yaml(spec);

	p = authz_compile(j, NS, "p", &cause);
	json_decref(j);
	if (p != NULL) {
		authz_policy_free(p);
		return strdup("");
	}
	assert_non_null(cause);
	return cause;
}

static void
expect_refused(const char *spec, const char *want)
{
	char *cause = refusal(spec);

	if (strstr(cause, want) == NULL)
		fail_msg("%s: cause \"%s\", want \"%s\"", spec, cause, want);
	assert_true(strncmp(cause, NS "/p: ", strlen(NS "/p: ")) == 0);
	free(cause);
}

/* A set of the policies given, ended by NULL. */
static struct authz_set *
set_of(struct authz_policy *first, ...)
{
	struct authz_policy *v[16];
	struct authz_policy *p;
	size_t n = 0;
	va_list ap;

	va_start(ap, first);
	for (p = first; p != NULL; p = va_arg(ap, struct authz_policy *)) {
		assert_true(n < 16);
		v[n++] = p;
	}
	va_end(ap);
	return authz_set_new(v, n);
}

static void
set_addr(struct sockaddr_storage *ss, const char *ip)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	else
		fail_msg("bad address %s", ip);
}

static const char *
treq_header_cb(void *arg, const char *name, size_t *len)
{
	struct treq *q = arg;
	size_t i;

	for (i = 0; i < q->nhdr; i++) {
		if (strcasecmp(q->hdr[i][0], name) == 0) {
			*len = strlen(q->hdr[i][1]);
			return q->hdr[i][1];
		}
	}
	return NULL;
}

/* An HTTP request to port 8080 of orders from 10.1.2.3. */
static void
treq_http(
    struct treq *q, const char *method, const char *path, const char *principal)
{
	memset(q, 0, sizeof(*q));
	q->r.http = 1;
	q->r.principal = principal;
	set_addr(&q->src, "10.1.2.3");
	q->r.source = (struct sockaddr *)&q->src;
	q->r.port = 8080;
	q->r.method = method;
	q->r.method_len = method != NULL ? strlen(method) : 0;
	q->r.path = path;
	q->r.path_len = path != NULL ? strlen(path) : 0;
	q->r.host = "orders.default.svc.cluster.local";
	q->r.host_len = strlen(q->r.host);
	q->r.header = treq_header_cb;
	q->r.header_arg = q;
}

/* An opaque TCP connection to port from 10.1.2.3. */
static void
treq_tcp(struct treq *q, uint16_t port, const char *principal)
{
	memset(q, 0, sizeof(*q));
	q->r.principal = principal;
	set_addr(&q->src, "10.1.2.3");
	q->r.source = (struct sockaddr *)&q->src;
	q->r.port = port;
}

static void
treq_header(struct treq *q, const char *name, const char *value)
{
	assert_true(q->nhdr < 16);
	q->hdr[q->nhdr][0] = name;
	q->hdr[q->nhdr++][1] = value;
}

/* The payload of a valid JWT; sets the request principal from it. */
static void
treq_jwt(struct treq *q, const char *payload)
{
	static char rp[256];
	json_error_t err;
	const char *iss, *sub;

	json_decref(q->claims);
	q->claims = json_loads(payload, 0, &err);
	if (q->claims == NULL)
		fail_msg("json: %s", err.text);
	q->r.claims = q->claims;
	iss = json_string_value(json_object_get(q->claims, "iss"));
	sub = json_string_value(json_object_get(q->claims, "sub"));
	snprintf(rp, sizeof(rp), "%s/%s", iss != NULL ? iss : "",
	    sub != NULL ? sub : "");
	q->r.request_principal = rp;
}

static void
treq_done(struct treq *q)
{
	json_decref(q->claims);
	q->claims = NULL;
}

static int
allowed(const struct authz_set *s, struct treq *q)
{
	struct authz_decision d;

	authz_eval(s, &q->r, &d);
	return d.allowed;
}

/*
 * Whether an ALLOW policy in namespace default with the one rule given
 * (YAML) lets q through: whether the rule matches q.
 */
static int
rule_matches(const char *rule, struct treq *q)
{
	struct authz_set *s;
	char *spec = xfmt("{rules: [%s]}", rule);
	int r;

	s = set_of(pol(spec), NULL);
	r = allowed(s, q);
	authz_set_free(s);
	free(spec);
	return r;
}

/* The same, for a DENY policy: whether q is denied. */
static int
deny_matches(const char *rule, struct treq *q)
{
	struct authz_set *s;
	char *spec = xfmt("{action: DENY, rules: [%s]}", rule);
	int r;

	s = set_of(pol(spec), NULL);
	r = !allowed(s, q);
	authz_set_free(s);
	free(spec);
	return r;
}

#define FROM(src)  "{from: [{source: {" src "}}]}"
#define TO(op)     "{to: [{operation: {" op "}}]}"
#define WHEN(cond) "{when: [{" cond "}]}"

static void
test_principals(void **state)
{
	struct treq q;

	treq_http(&q, "GET", "/", PP);
	assert_true(rule_matches(FROM("principals: [" PP "]"), &q));
	assert_true(
	    rule_matches(FROM("principals: [cluster.local/ns/default/*]"), &q));
	assert_true(
	    rule_matches(FROM("principals: ['*/sa/profilepicture']"), &q));
	assert_true(rule_matches(FROM("principals: ['*']"), &q));
	assert_false(rule_matches(FROM("principals: [" PP "x]"), &q));
	assert_false(
	    rule_matches(FROM("principals: [cluster.local/ns/d]"), &q));
	assert_false(rule_matches(FROM("notPrincipals: ['*']"), &q));
	assert_false(rule_matches(FROM("notPrincipals: [" PP "]"), &q));
	assert_true(rule_matches(FROM("notPrincipals: [other]"), &q));
	assert_true(rule_matches(FROM("principals: [cluster.local/*], "
				      "notPrincipals: ['*/sa/admin']"),
	    &q));
	assert_true(
	    rule_matches(WHEN("key: source.principal, values: [" PP "]"), &q));
	assert_false(rule_matches(
	    WHEN("key: source.principal, notValues: ['*/profilepicture']"),
	    &q));

	/* Plaintext: a principal matcher fails, so its negation holds. */
	q.r.principal = NULL;
	assert_false(rule_matches(FROM("principals: ['*']"), &q));
	assert_false(rule_matches(FROM("principals: [" PP "]"), &q));
	assert_true(rule_matches(FROM("notPrincipals: ['*']"), &q));
	assert_true(rule_matches(FROM("notPrincipals: [" PP "]"), &q));
	assert_false(
	    rule_matches(WHEN("key: source.principal, values: ['*']"), &q));
	assert_true(
	    rule_matches(WHEN("key: source.principal, notValues: ['*']"), &q));
}

static void
test_namespaces(void **state)
{
	struct treq q;

	treq_http(&q, "GET", "/", "cluster.local/ns/prod-eu/sa/web");
	assert_true(rule_matches(FROM("namespaces: [prod-eu]"), &q));
	assert_true(rule_matches(FROM("namespaces: [prod-*]"), &q));
	assert_true(rule_matches(FROM("namespaces: ['*-eu']"), &q));
	assert_true(rule_matches(FROM("namespaces: ['*']"), &q));
	assert_true(rule_matches(FROM("namespaces: [a, prod-eu]"), &q));
	assert_false(rule_matches(FROM("namespaces: [prod]"), &q));
	assert_false(rule_matches(FROM("namespaces: [web]"), &q));
	assert_false(rule_matches(FROM("namespaces: [dev-*]"), &q));
	assert_false(rule_matches(FROM("notNamespaces: [prod-eu]"), &q));
	assert_true(rule_matches(FROM("notNamespaces: [kube-system]"), &q));
	assert_true(
	    rule_matches(WHEN("key: source.namespace, values: [prod-eu]"), &q));
	assert_false(rule_matches(
	    WHEN("key: source.namespace, notValues: [prod-*]"), &q));
	/* Istio's tests use regex syntax in names: read as written. */
	q.r.principal = "cluster.local/ns/rule[0]-ns?/sa/web";
	assert_true(rule_matches(FROM("namespaces: ['rule[0]-ns?']"), &q));
	assert_false(rule_matches(FROM("namespaces: ['rule0-ns?']"), &q));
	q.r.principal = "cluster.local/ns/rule[0]-nsx/sa/web";
	assert_false(rule_matches(FROM("namespaces: ['rule[0]-ns?']"), &q));
	q.r.principal = NULL;
	assert_false(rule_matches(FROM("namespaces: ['*']"), &q));
	assert_true(rule_matches(FROM("notNamespaces: [kube-system]"), &q));
}

static void
test_service_accounts(void **state)
{
	struct treq q;
	struct authz_set *s;

	treq_http(&q, "GET", "/", "cluster.local/ns/default/sa/web");
	assert_true(rule_matches(FROM("serviceAccounts: [default/web]"), &q));
	/* Without a namespace: the policy's. */
	assert_true(rule_matches(FROM("serviceAccounts: [web]"), &q));
	s = set_of(
	    poln("other", "p", "{rules: [" FROM("serviceAccounts: [web]") "]}"),
	    NULL);
	assert_false(allowed(s, &q));
	authz_set_free(s);
	assert_false(rule_matches(FROM("serviceAccounts: [default/we]"), &q));
	assert_false(rule_matches(FROM("serviceAccounts: [other/web]"), &q));
	assert_false(rule_matches(FROM("notServiceAccounts: [web]"), &q));
	assert_true(rule_matches(FROM("notServiceAccounts: [db]"), &q));
	assert_true(rule_matches(
	    WHEN("key: source.serviceAccount, values: [default/web]"), &q));
	q.r.principal = "cluster.local/ns/default/sa/webx";
	assert_false(rule_matches(FROM("serviceAccounts: [web]"), &q));
	/* Istio's regex allows more key/value pairs around sa. */
	q.r.principal = "cluster.local/ns/default/sa/web/extra";
	assert_true(rule_matches(FROM("serviceAccounts: [web]"), &q));
	q.r.principal = "cluster.local/ns/default/k/v/sa/web";
	assert_true(rule_matches(FROM("serviceAccounts: [web]"), &q));
	q.r.principal = NULL;
	assert_false(rule_matches(FROM("serviceAccounts: [web]"), &q));
	assert_true(rule_matches(FROM("notServiceAccounts: [web]"), &q));
}

static void
test_trust_domains(void **state)
{
	struct treq q;

	treq_http(&q, "GET", "/", "cluster.local/ns/default/sa/web");
	assert_true(rule_matches(FROM("trustDomains: [cluster.local]"), &q));
	assert_true(rule_matches(FROM("trustDomains: [cluster.*]"), &q));
	assert_true(rule_matches(FROM("trustDomains: ['*.local']"), &q));
	assert_false(rule_matches(FROM("trustDomains: [cluster]"), &q));
	assert_false(rule_matches(FROM("notTrustDomains: ['*']"), &q));
	assert_true(
	    rule_matches(FROM("notTrustDomains: [bad*, untrusted]"), &q));
	q.r.principal = "badland/ns/default/sa/web";
	assert_false(
	    rule_matches(FROM("notTrustDomains: [bad*, untrusted]"), &q));
	q.r.principal = NULL;
	assert_false(rule_matches(FROM("trustDomains: ['*']"), &q));
	assert_true(rule_matches(FROM("notTrustDomains: [untrusted]"), &q));
}

static void
test_ip_blocks(void **state)
{
	struct treq q;

	treq_http(&q, "GET", "/", NULL);
	set_addr(&q.src, "10.2.3.4");
	assert_true(rule_matches(FROM("ipBlocks: [10.0.0.0/8]"), &q));
	assert_true(rule_matches(FROM("ipBlocks: [1.1.1.1, 10.2.3.4]"), &q));
	assert_true(rule_matches(FROM("ipBlocks: [0.0.0.0/0]"), &q));
	assert_false(rule_matches(FROM("ipBlocks: [10.2.3.5]"), &q));
	assert_false(rule_matches(FROM("ipBlocks: [11.0.0.0/8]"), &q));
	assert_false(rule_matches(FROM("ipBlocks: ['::/0']"), &q));
	assert_false(rule_matches(FROM("notIpBlocks: [10.0.0.0/8]"), &q));
	assert_true(rule_matches(FROM("notIpBlocks: [192.168.0.0/16]"), &q));
	/* Host bits of a block are ignored, as Envoy's CidrRange does. */
	assert_true(rule_matches(FROM("ipBlocks: [10.2.9.9/20]"), &q));
	assert_false(rule_matches(FROM("ipBlocks: [10.2.16.1/20]"), &q));
	/* An IPv4 peer seen on an IPv6 socket. */
	set_addr(&q.src, "::ffff:10.2.3.4");
	assert_true(rule_matches(FROM("ipBlocks: [10.2.0.0/16]"), &q));
	set_addr(&q.src, "2001:db8:1::7");
	assert_true(rule_matches(FROM("ipBlocks: ['2001:db8::/32']"), &q));
	assert_true(rule_matches(FROM("ipBlocks: ['2001:db8:1::7']"), &q));
	assert_true(rule_matches(FROM("ipBlocks: ['2001:db8:1::/49']"), &q));
	assert_false(rule_matches(FROM("ipBlocks: ['2001:db9::/32']"), &q));
	assert_false(rule_matches(FROM("ipBlocks: [0.0.0.0/0]"), &q));
	assert_false(rule_matches(FROM("notIpBlocks: ['2001:db8::/32']"), &q));
	assert_true(rule_matches(
	    WHEN("key: source.ip, values: ['2001:db8::/32']"), &q));
	assert_false(rule_matches(
	    WHEN("key: source.ip, notValues: ['2001:db8::/32']"), &q));

	/* remote: the source unless the request was forwarded. */
	set_addr(&q.src, "10.2.3.4");
	assert_true(rule_matches(FROM("remoteIpBlocks: [10.2.3.4]"), &q));
	set_addr(&q.rem, "203.0.113.9");
	q.r.remote = (struct sockaddr *)&q.rem;
	assert_false(rule_matches(FROM("remoteIpBlocks: [10.2.3.4]"), &q));
	assert_true(rule_matches(FROM("remoteIpBlocks: [203.0.113.0/24]"), &q));
	assert_false(
	    rule_matches(FROM("notRemoteIpBlocks: [203.0.113.0/24]"), &q));
	assert_true(rule_matches(FROM("ipBlocks: [10.2.3.4], "
				      "remoteIpBlocks: [203.0.113.9]"),
	    &q));
	assert_true(
	    rule_matches(WHEN("key: remote.ip, values: [203.0.113.9]"), &q));
	assert_false(rule_matches(
	    WHEN("key: remote.ip, notValues: [203.0.0.0/16]"), &q));

	/* destination.ip: unknown unless the proxy gives it. */
	assert_false(rule_matches(
	    WHEN("key: destination.ip, values: [10.9.0.0/16]"), &q));
	assert_true(rule_matches(
	    WHEN("key: destination.ip, notValues: [10.9.0.0/16]"), &q));
	set_addr(&q.dst, "10.9.8.7");
	q.r.destination = (struct sockaddr *)&q.dst;
	assert_true(rule_matches(
	    WHEN("key: destination.ip, values: [10.9.0.0/16]"), &q));
	assert_false(rule_matches(
	    WHEN("key: destination.ip, notValues: [10.9.8.7]"), &q));
}

static void
test_ports(void **state)
{
	struct treq q;

	treq_http(&q, "GET", "/", NULL);
	assert_true(rule_matches(TO("ports: ['8080']"), &q));
	assert_true(rule_matches(TO("ports: [80, 8080]"), &q));
	assert_false(rule_matches(TO("ports: ['80']"), &q));
	assert_false(rule_matches(TO("notPorts: ['8080']"), &q));
	assert_true(rule_matches(TO("notPorts: ['80']"), &q));
	assert_true(
	    rule_matches(WHEN("key: destination.port, values: ['8080']"), &q));
	assert_false(rule_matches(
	    WHEN("key: destination.port, notValues: ['8080']"), &q));
	treq_tcp(&q, 5432, NULL);
	assert_true(rule_matches(TO("ports: ['5432']"), &q));
	assert_false(rule_matches(TO("ports: ['8080']"), &q));
}

static void
test_hosts(void **state)
{
	struct treq q;

	treq_http(&q, "GET", "/", NULL);
	q.r.host = "Api.Example.COM";
	q.r.host_len = strlen(q.r.host);
	assert_true(rule_matches(TO("hosts: [api.example.com]"), &q));
	assert_true(rule_matches(TO("hosts: ['*.example.com']"), &q));
	assert_true(rule_matches(TO("hosts: [API.*]"), &q));
	assert_true(rule_matches(TO("hosts: ['*']"), &q));
	assert_false(rule_matches(TO("hosts: [example.com]"), &q));
	assert_false(rule_matches(TO("hosts: ['*.example.org']"), &q));
	assert_false(rule_matches(TO("notHosts: ['*.EXAMPLE.com']"), &q));
	assert_true(rule_matches(TO("notHosts: [admin.example.com]"), &q));
	/* request.headers[:authority] is a header matcher: case counts. */
	assert_false(rule_matches(WHEN("key: 'request.headers[:authority]', "
				       "values: [api.example.com]"),
	    &q));
	q.r.host = NULL;
	q.r.host_len = 0;
	assert_false(rule_matches(TO("hosts: ['*']"), &q));
	assert_true(rule_matches(TO("notHosts: ['*']"), &q));
}

static void
test_methods(void **state)
{
	struct treq q;

	treq_http(&q, "GET", "/", NULL);
	assert_true(rule_matches(TO("methods: [GET]"), &q));
	assert_true(rule_matches(TO("methods: [POST, GET]"), &q));
	assert_true(rule_matches(TO("methods: ['*']"), &q));
	assert_false(rule_matches(TO("methods: [get]"), &q));
	assert_false(rule_matches(TO("methods: [POST]"), &q));
	assert_false(rule_matches(TO("notMethods: [GET]"), &q));
	assert_true(rule_matches(TO("notMethods: [DELETE]"), &q));
	assert_true(rule_matches(
	    WHEN("key: 'request.headers[:method]', values: [GET]"), &q));
	assert_false(rule_matches(
	    WHEN("key: 'request.headers[:method]', notValues: [G*]"), &q));
}

static void
test_paths(void **state)
{
	static const struct {
		const char *pattern, *path;
		int want;
	} c[] = {
	    {"/exact", "/exact", 1}, {"/exact", "/exact/", 0},
	    {"/exact", "/Exact", 0}, {"/api/*", "/api/", 1},
	    {"/api/*", "/api/v1/x", 1}, {"/api/*", "/ap", 0},
	    {"*.png", "/a/b.png", 1}, {"*.png", "/a/b.jpg", 0}, {"*", "/", 1},
	    {"/users/{*}/orders", "/users/42/orders", 1},
	    {"/users/{*}/orders", "/users/4%202/orders", 1},
	    {"/users/{*}/orders", "/users//orders", 0},
	    {"/users/{*}/orders", "/users/4/2/orders", 0},
	    {"/users/{*}/orders", "/users/42/orders/1", 0},
	    {"/users/{*}", "/users/42", 1}, {"/users/{*}", "/users/", 0},
	    {"/static/{**}", "/static/", 1},
	    {"/static/{**}", "/static/css/a.css", 1},
	    {"/static/{**}", "/static", 0}, {"/static/{**}", "/other/css", 0},
	    {"/{**}/edit", "/a/b/edit", 1}, {"/{**}/edit", "/edit", 0},
	    {"/{**}/edit", "/a/b/edit2", 0}, {"/{*}/v1/{**}", "/svc/v1/a/b", 1},
	    {"/{*}/v1/{**}", "/svc/v2/a/b", 0},
	    {"/a/{**}", "/a/b*c", 0}, /* '*' is no pchar */
	};
	struct treq q;
	char *rule;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		treq_http(&q, "GET", c[i].path, NULL);
		rule = xfmt(TO("paths: ['%s']"), c[i].pattern);
		if (rule_matches(rule, &q) != c[i].want)
			fail_msg("paths %s, path %s: want %d", c[i].pattern,
			    c[i].path, c[i].want);
		free(rule);
		rule = xfmt(TO("notPaths: ['%s']"), c[i].pattern);
		if (rule_matches(rule, &q) == c[i].want)
			fail_msg("notPaths %s, path %s: want %d", c[i].pattern,
			    c[i].path, !c[i].want);
		free(rule);
	}
	treq_http(&q, "GET", "/x", NULL);
	assert_true(rule_matches(
	    WHEN("key: 'request.headers[:path]', values: [/x]"), &q));
}

static void
test_request_principals(void **state)
{
	struct treq q;

	treq_http(&q, "GET", "/", NULL);
	treq_jwt(&q,
	    "{\"iss\": \"https://idp.example.com\", "
	    "\"sub\": \"alice\"}");
	assert_true(rule_matches(
	    FROM("requestPrincipals: ['https://idp.example.com/alice']"), &q));
	assert_true(rule_matches(
	    FROM("requestPrincipals: ['https://idp.example.com/*']"), &q));
	assert_true(rule_matches(FROM("requestPrincipals: ['*/alice']"), &q));
	assert_true(
	    rule_matches(FROM("requestPrincipals: ['*.com/alice']"), &q));
	assert_true(rule_matches(FROM("requestPrincipals: ['*']"), &q));
	/* "https://idp*" splits into iss "https:/" and sub prefix "idp". */
	assert_false(
	    rule_matches(FROM("requestPrincipals: ['https://idp*']"), &q));
	assert_true(rule_matches(FROM("requestPrincipals: ['*lice']"), &q));
	assert_false(rule_matches(
	    FROM("requestPrincipals: ['https://idp.example.com/bob']"), &q));
	assert_false(rule_matches(
	    FROM("requestPrincipals: ['https://other.example.com/*']"), &q));
	assert_false(rule_matches(FROM("notRequestPrincipals: ['*']"), &q));
	assert_true(rule_matches(FROM("notRequestPrincipals: ['*/bob']"), &q));
	assert_true(
	    rule_matches(WHEN("key: request.auth.principal, "
			      "values: ['https://idp.example.com/alice']"),
		&q));
	assert_false(rule_matches(
	    WHEN("key: request.auth.principal, notValues: ['*']"), &q));

	/*
	 * Istio matches iss and sub apart, splitting at the last '/':
	 * a pattern "https://idp.example.com/..." wants that very issuer.
	 */
	treq_jwt(&q,
	    "{\"iss\": \"https://idp.example.com/realms/a\", "
	    "\"sub\": \"alice\"}");
	assert_false(rule_matches(
	    FROM("requestPrincipals: ['https://idp.example.com/*']"), &q));
	assert_true(rule_matches(
	    FROM("requestPrincipals: ['https://idp.example.com/realms/a/*']"),
	    &q));

	/* No claims given: the "iss/sub" form alone. */
	treq_done(&q);
	q.r.claims = NULL;
	q.r.request_principal = "https://idp.example.com/alice";
	assert_true(rule_matches(
	    FROM("requestPrincipals: ['https://idp.example.com/*']"), &q));

	/* Without a token. */
	q.r.request_principal = NULL;
	assert_false(rule_matches(FROM("requestPrincipals: ['*']"), &q));
	assert_true(rule_matches(FROM("notRequestPrincipals: ['*']"), &q));
	assert_false(rule_matches(
	    WHEN("key: request.auth.principal, values: ['*']"), &q));
}

static void
test_claims(void **state)
{
	static const char *gold =
	    WHEN("key: 'request.auth.claims[groups]', values: [gold_member]");
	struct treq q;

	treq_http(&q, "GET", "/", NULL);
	assert_false(rule_matches(gold, &q));
	treq_jwt(&q,
	    "{\"iss\": \"i\", \"sub\": \"s\", "
	    "\"groups\": [\"silver\", 7, \"gold_member\"]}");
	assert_true(rule_matches(gold, &q));
	treq_jwt(
	    &q, "{\"iss\": \"i\", \"sub\": \"s\", \"groups\": [\"silver\"]}");
	assert_false(rule_matches(gold, &q));
	treq_jwt(&q,
	    "{\"iss\": \"i\", \"sub\": \"s\", \"groups\": \"gold_member\"}");
	assert_true(rule_matches(gold, &q));
	treq_jwt(&q, "{\"iss\": \"i\", \"sub\": \"s\", \"groups\": 1}");
	assert_false(rule_matches(gold, &q));
	treq_jwt(&q,
	    "{\"iss\": \"i\", \"sub\": \"s\", "
	    "\"groups\": [\"gold_member\", \"banned\"]}");
	assert_true(rule_matches(
	    WHEN("key: 'request.auth.claims[groups]', values: [gold_*]"), &q));
	assert_true(rule_matches(
	    WHEN("key: 'request.auth.claims[groups]', values: ['*ned']"), &q));
	assert_false(rule_matches(
	    WHEN("key: 'request.auth.claims[groups]', notValues: [banned]"),
	    &q));
	assert_true(rule_matches(
	    WHEN("key: 'request.auth.claims[groups]', notValues: [admin]"),
	    &q));

	/* Nested claims, and iss through claims. */
	treq_jwt(&q,
	    "{\"iss\": \"https://idp\", \"sub\": \"s\", "
	    "\"realm\": {\"roles\": [\"ops\"], \"level\": \"3\"}}");
	assert_true(rule_matches(
	    WHEN("key: 'request.auth.claims[realm][roles]', values: [ops]"),
	    &q));
	assert_true(rule_matches(
	    WHEN("key: 'request.auth.claims[realm][level]', values: ['3']"),
	    &q));
	assert_false(rule_matches(
	    WHEN("key: 'request.auth.claims[realm][roles][x]', values: [ops]"),
	    &q));
	assert_false(rule_matches(
	    WHEN("key: 'request.auth.claims[roles]', values: [ops]"), &q));
	assert_true(rule_matches(
	    WHEN("key: 'request.auth.claims[iss]', values: ['https://*']"),
	    &q));

	/* audiences (aud) and presenter (azp): a string or a list. */
	treq_jwt(&q,
	    "{\"iss\": \"i\", \"sub\": \"s\", \"aud\": \"orders\", "
	    "\"azp\": \"web-app\"}");
	assert_true(rule_matches(
	    WHEN("key: request.auth.audiences, values: [orders]"), &q));
	assert_true(rule_matches(
	    WHEN("key: request.auth.presenter, values: [web-*]"), &q));
	assert_false(rule_matches(
	    WHEN("key: request.auth.presenter, notValues: ['*']"), &q));
	treq_jwt(&q,
	    "{\"iss\": \"i\", \"sub\": \"s\", "
	    "\"aud\": [\"billing\", \"orders\"]}");
	assert_true(rule_matches(
	    WHEN("key: request.auth.audiences, values: [orders]"), &q));
	assert_false(rule_matches(
	    WHEN("key: request.auth.audiences, notValues: [billing]"), &q));
	assert_false(rule_matches(
	    WHEN("key: request.auth.presenter, values: ['*']"), &q));
	treq_done(&q);
}

static void
test_headers(void **state)
{
	static const char *acme =
	    WHEN("key: 'request.headers[X-Tenant]', values: [acme]");
	struct treq q;

	treq_http(&q, "GET", "/", NULL);
	assert_false(rule_matches(acme, &q));
	assert_true(rule_matches(
	    WHEN("key: 'request.headers[X-Tenant]', notValues: [acme]"), &q));
	assert_false(rule_matches(
	    WHEN("key: 'request.headers[X-Tenant]', values: ['*']"), &q));
	treq_header(&q, "x-tenant", "acme");
	assert_true(rule_matches(acme, &q));
	assert_true(rule_matches(
	    WHEN("key: 'request.headers[x-tenant]', values: [ac*]"), &q));
	assert_true(rule_matches(
	    WHEN("key: 'request.headers[x-tenant]', values: ['*me']"), &q));
	assert_false(rule_matches(
	    WHEN("key: 'request.headers[x-tenant]', values: [ACME]"), &q));
	assert_false(rule_matches(
	    WHEN("key: 'request.headers[X-Tenant]', notValues: [acme]"), &q));
	assert_true(rule_matches(
	    WHEN("key: 'request.headers[X-Tenant]', values: [a, acme], "
		 "notValues: [evil]"),
	    &q));
	/* "*" is a presence test: an empty value is present. */
	treq_header(&q, "x-empty", "");
	assert_true(rule_matches(
	    WHEN("key: 'request.headers[X-Empty]', values: ['*']"), &q));
	assert_false(rule_matches(
	    WHEN("key: 'request.headers[X-Empty]', values: [a*]"), &q));
	/* All conditions of when must hold. */
	assert_false(rule_matches("{when: [{key: 'request.headers[x-tenant]', "
				  "values: [acme]}, {key: "
				  "'request.headers[x-tenant]', values: [b]}]}",
	    &q));
}

static void
test_sni(void **state)
{
	struct treq q;

	treq_tcp(&q, 443, NULL);
	assert_false(rule_matches(
	    WHEN("key: connection.sni, values: ['*.example.com']"), &q));
	assert_true(rule_matches(
	    WHEN("key: connection.sni, notValues: ['*.example.com']"), &q));
	q.r.sni = "api.example.com";
	q.r.sni_len = strlen(q.r.sni);
	assert_true(rule_matches(
	    WHEN("key: connection.sni, values: ['*.example.com']"), &q));
	assert_false(rule_matches(
	    WHEN("key: connection.sni, values: [example.com]"), &q));
	assert_false(rule_matches(
	    WHEN("key: connection.sni, notValues: [api.example.com]"), &q));
}

/* A rule: any source, operation and condition must match; all parts. */
static void
test_rule_structure(void **state)
{
	struct treq q;
	const char *r = "{from: [{source: {namespaces: [a]}}, "
			"{source: {ipBlocks: [10.0.0.0/8]}}], "
			"to: [{operation: {methods: [GET], paths: [/x]}}, "
			"{operation: {methods: [POST], paths: [/y]}}]}";

	treq_http(&q, "GET", "/x", NULL);
	assert_true(rule_matches(r, &q)); /* second source, first operation */
	treq_http(&q, "POST", "/y", "cluster.local/ns/a/sa/s");
	set_addr(&q.src, "192.168.0.1");
	assert_true(rule_matches(r, &q)); /* first source, second one */
	treq_http(&q, "POST", "/x", NULL);
	assert_false(rule_matches(r, &q)); /* no operation has both */
	treq_http(&q, "GET", "/x", "cluster.local/ns/b/sa/s");
	set_addr(&q.src, "192.168.0.1");
	assert_false(rule_matches(r, &q)); /* no source */
	/* Fields of one source are ANDed. */
	treq_http(&q, "GET", "/x", "cluster.local/ns/a/sa/s");
	assert_true(
	    rule_matches(FROM("namespaces: [a], ipBlocks: [10.1.2.3]"), &q));
	assert_false(
	    rule_matches(FROM("namespaces: [a], ipBlocks: [10.1.2.4]"), &q));
}

static void
test_tcp(void **state)
{
	struct treq q;

	treq_tcp(&q, 9000, "cluster.local/ns/ns-1/sa/s");
	/* ALLOW: a rule with an HTTP-only field never matches TCP. */
	assert_true(rule_matches(TO("ports: ['9000']"), &q));
	assert_true(rule_matches(FROM("namespaces: [ns-1]"), &q));
	assert_true(rule_matches("{}", &q));
	assert_false(rule_matches(TO("methods: [GET]"), &q));
	assert_false(rule_matches(TO("notMethods: [GET]"), &q));
	assert_false(rule_matches(TO("ports: ['9000'], paths: ['*']"), &q));
	assert_false(rule_matches(TO("notHosts: [x]"), &q));
	assert_false(rule_matches(FROM("namespaces: [ns-1], "
				       "requestPrincipals: ['*']"),
	    &q));
	assert_false(rule_matches(FROM("notRequestPrincipals: ['*']"), &q));
	assert_false(rule_matches(
	    WHEN("key: 'request.headers[x]', notValues: [y]"), &q));
	assert_false(rule_matches(
	    WHEN("key: 'request.auth.claims[groups]', notValues: [y]"), &q));
	/* ...even when another source or operation would. */
	assert_false(rule_matches("{to: [{operation: {ports: ['9000']}}, "
				  "{operation: {methods: [GET]}}]}",
	    &q));

	/* DENY: those fields are dropped, the rest decides. */
	assert_true(deny_matches(TO("methods: [GET]"), &q));
	assert_true(deny_matches(FROM("requestPrincipals: [id-1]"), &q));
	assert_true(deny_matches(
	    FROM("namespaces: [ns-1], requestPrincipals: [id-1]"), &q));
	assert_false(deny_matches(
	    FROM("namespaces: [ns-2], requestPrincipals: [id-1]"), &q));
	assert_true(deny_matches("{from: [{source: {namespaces: [ns-1]}}], "
				 "to: [{operation: {methods: [GET]}}]}",
	    &q));
	assert_false(deny_matches("{to: [{operation: {ports: ['80'], "
				  "methods: [GET]}}]}",
	    &q));
	assert_true(deny_matches(
	    WHEN("key: 'request.headers[:method]', values: [GET]"), &q));
	assert_true(deny_matches(
	    WHEN("key: 'request.auth.claims[iss]', values: [x]"), &q));

	/* The same rules for HTTP. */
	treq_http(&q, "POST", "/", "cluster.local/ns/ns-1/sa/s");
	q.r.port = 9000;
	assert_false(deny_matches(TO("methods: [GET]"), &q));
	assert_false(deny_matches(FROM("requestPrincipals: [id-1]"), &q));
	assert_true(rule_matches(TO("methods: [POST]"), &q));
}

static void
test_decision(void **state)
{
	struct authz_policy *deny, *allow, *allow2;
	struct authz_decision d;
	struct authz_set *s;
	struct treq q;

	/* No set, an empty set: allowed, no ALLOW policy applies. */
	treq_http(&q, "GET", "/", PP);
	authz_eval(NULL, &q.r, &d);
	assert_true(d.allowed);
	assert_string_equal(d.reason, "no ALLOW policy applies");
	s = authz_set_new(NULL, 0);
	assert_int_equal(authz_set_size(s), 0);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_null(d.policy);
	assert_int_equal(d.rule, -1);
	assert_string_equal(d.reason, "no ALLOW policy applies");
	authz_set_free(s);

	/* DENY first, then ALLOW. */
	deny = poln(NS, "deny",
	    "{action: DENY, rules: [" FROM("principals: ['*/sa/bad']") "]}");
	allow = poln(NS, "allow", "{rules: [" FROM("namespaces: [x]") ", {}]}");
	assert_int_equal(authz_policy_action(deny), AUTHZ_DENY);
	assert_int_equal(authz_policy_action(allow), AUTHZ_ALLOW);
	assert_string_equal(authz_policy_namespace(deny), NS);
	assert_string_equal(authz_policy_name(deny), "deny");
	s = set_of(allow, deny, NULL);
	assert_int_equal(authz_set_size(s), 2);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_ptr_equal(d.policy, allow);
	assert_int_equal(d.rule, 1);
	assert_string_equal(d.reason,
	    "allowed by ALLOW policy default/allow "
	    "rule 1");
	q.r.principal = "cluster.local/ns/default/sa/bad";
	authz_eval(s, &q.r, &d);
	assert_false(d.allowed);
	assert_ptr_equal(d.policy, deny);
	assert_int_equal(d.rule, 0);
	assert_string_equal(d.reason,
	    "denied by DENY policy default/deny "
	    "rule 0");
	authz_set_free(s);

	/* spec {}: an ALLOW policy that matches nothing denies all. */
	s = set_of(pol("{}"), NULL);
	authz_eval(s, &q.r, &d);
	assert_false(d.allowed);
	assert_null(d.policy);
	assert_int_equal(d.rule, -1);
	assert_string_equal(d.reason, "no ALLOW policy matched");
	authz_set_free(s);
	/* ...as does a policy without a spec at all. */
	s = set_of(authz_compile(NULL, NS, "nospec", NULL), NULL);
	assert_false(allowed(s, &q));
	authz_set_free(s);
	/* ...also with selector only, or rules: [] */
	s = set_of(
	    pol("{selector: {matchLabels: {app: orders}}, rules: []}"), NULL);
	assert_false(allowed(s, &q));
	authz_set_free(s);
	/* A DENY policy without rules denies nothing. */
	s = set_of(pol("{action: DENY}"), NULL);
	assert_true(allowed(s, &q));
	authz_set_free(s);
	/* rules: [{}] allows all; as a DENY policy, denies all. */
	s = set_of(pol("{rules: [{}]}"), NULL);
	assert_true(allowed(s, &q));
	authz_set_free(s);
	s = set_of(
	    pol("{action: DENY, rules: [{}]}"), pol("{rules: [{}]}"), NULL);
	assert_false(allowed(s, &q));
	authz_set_free(s);

	/* Several ALLOW policies: any may allow; the first is reported. */
	allow = poln(NS, "a1", "{rules: [" TO("paths: [/a]") "]}");
	allow2 = poln(NS, "a2",
	    "{rules: [" TO("paths: [/b]") ", " TO("paths: ['/*']") "]}");
	s = set_of(allow, allow2, NULL);
	treq_http(&q, "GET", "/b", NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_ptr_equal(d.policy, allow2);
	assert_int_equal(d.rule, 0);
	treq_http(&q, "GET", "/a", NULL);
	authz_eval(s, &q.r, &d);
	assert_ptr_equal(d.policy, allow);
	treq_http(&q, "GET", "/c", NULL);
	authz_eval(s, &q.r, &d);
	assert_ptr_equal(d.policy, allow2);
	assert_int_equal(d.rule, 1);
	authz_set_free(s);
}

/*
 * The indexes (path, principal, port) only skip rules: the rule
 * reported is still the first that matches, in the set's order.
 */
static void
test_index_order(void **state)
{
	struct authz_policy *a, *b, *c;
	struct authz_decision d;
	struct authz_set *s;
	struct treq q;

	a = poln(NS, "a",
	    "{rules: [" TO("ports: ['9090']") ", " TO(
		"ports: ['8080', '8081']") ", {}]}");
	b = poln(NS, "b", "{rules: [" TO("paths: [/x, /y]") "]}");
	c = poln(NS, "c", "{rules: [" FROM("principals: [" PP "]") "]}");
	s = set_of(b, c, a, NULL);
	treq_http(&q, "GET", "/x", PP);
	authz_eval(s, &q.r, &d);
	assert_ptr_equal(d.policy, b);
	treq_http(&q, "GET", "/z", PP);
	authz_eval(s, &q.r, &d);
	assert_ptr_equal(d.policy, c);
	treq_http(&q, "GET", "/z", NULL);
	authz_eval(s, &q.r, &d);
	assert_ptr_equal(d.policy, a);
	assert_int_equal(d.rule, 1);
	q.r.port = 9090;
	authz_eval(s, &q.r, &d);
	assert_int_equal(d.rule, 0);
	q.r.port = 7070;
	authz_eval(s, &q.r, &d);
	assert_int_equal(d.rule, 2);
	authz_set_free(s);

	/* Only port-bound policies: other ports are denied. */
	s = set_of(pol("{rules: [" TO("ports: ['8080']") "]}"),
	    pol("{rules: [" WHEN(
		"key: destination.port, values: ['9090']") "]}"),
	    NULL);
	treq_tcp(&q, 8080, NULL);
	assert_true(allowed(s, &q));
	q.r.port = 9090;
	assert_true(allowed(s, &q));
	q.r.port = 7070;
	assert_false(allowed(s, &q));
	authz_set_free(s);

	/* A path-bound DENY rule still applies to TCP, without its path. */
	s = set_of(
	    pol("{action: DENY, rules: [" TO("paths: [/admin]") "]}"), NULL);
	treq_http(&q, "GET", "/admin", NULL);
	assert_false(allowed(s, &q));
	q.r.path = "/other";
	q.r.path_len = strlen(q.r.path);
	assert_true(allowed(s, &q));
	treq_tcp(&q, 8080, NULL);
	assert_false(allowed(s, &q));
	authz_set_free(s);
}

static void
test_audit(void **state)
{
	struct authz_policy *audit;
	struct authz_decision d;
	struct authz_set *s;
	struct treq q;

	audit = poln(NS, "audit",
	    "{action: AUDIT, rules: [" TO("paths: [/admin*]") "]}");
	assert_int_equal(authz_policy_action(audit), AUTHZ_AUDIT);
	s = set_of(audit,
	    pol("{action: DENY, rules: [" TO("paths: [/admin/secret]") "]}"),
	    NULL);
	treq_http(&q, "GET", "/admin", NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_ptr_equal(d.audit, audit);
	assert_string_equal(d.reason, "no ALLOW policy applies");
	treq_http(&q, "GET", "/admin/secret", NULL);
	authz_eval(s, &q.r, &d);
	assert_false(d.allowed);
	assert_ptr_equal(d.audit, audit);
	treq_http(&q, "GET", "/public", NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_null(d.audit);
	/* TCP: AUDIT drops HTTP-only fields like DENY. */
	treq_tcp(&q, 8080, NULL);
	authz_eval(s, &q.r, &d);
	assert_ptr_equal(d.audit, audit);
	authz_set_free(s);

	/* AUDIT alone never denies, even spec {}. */
	s = set_of(pol("{action: AUDIT}"), NULL);
	treq_http(&q, "GET", "/", NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_null(d.audit);
	authz_set_free(s);
}

static void
test_dry_run(void **state)
{
	struct authz_policy *p;
	struct authz_decision d;
	struct authz_set *s;
	struct treq q;

	/* A dry-run DENY only reports. */
	s = set_of(
	    dry(pol("{action: DENY, rules: [" TO("paths: [/x]") "]}")), NULL);
	treq_http(&q, "GET", "/x", NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_true(d.dry_run_denied);
	assert_null(d.policy);
	treq_http(&q, "GET", "/y", NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_false(d.dry_run_denied);
	authz_set_free(s);

	/* A dry-run ALLOW alone: nothing enforced, so allowed. */
	s = set_of(dry(pol("{rules: [" TO("paths: [/x]") "]}")), NULL);
	treq_http(&q, "GET", "/x", NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_false(d.dry_run_denied);
	assert_string_equal(d.reason, "no ALLOW policy applies");
	treq_http(&q, "GET", "/y", NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_true(d.dry_run_denied);
	authz_set_free(s);

	/* Mixed: the dry-run ALLOW set is judged on its own. */
	s = set_of(dry(pol("{rules: [" TO("paths: [/allow]") "]}")),
	    pol("{rules: [" TO("paths: [/another]") "]}"), NULL);
	treq_http(&q, "GET", "/another", NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_true(d.dry_run_denied);
	treq_http(&q, "GET", "/allow", NULL);
	authz_eval(s, &q.r, &d);
	assert_false(d.allowed);
	assert_false(d.dry_run_denied);
	authz_set_free(s);

	/* A dry-run spec {} ALLOW would deny everything. */
	s = set_of(dry(pol("{}")), NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_true(d.dry_run_denied);
	authz_set_free(s);

	/* Enforced and dry-run DENY both match: denied, and reported. */
	s = set_of(dry(pol("{action: DENY, rules: [{}]}")),
	    pol("{action: DENY, rules: [{}]}"), NULL);
	authz_eval(s, &q.r, &d);
	assert_false(d.allowed);
	assert_true(d.dry_run_denied);
	authz_set_free(s);

	/* Back to enforcing. */
	p = dry(pol("{action: DENY, rules: [{}]}"));
	authz_policy_set_dry_run(p, 0);
	s = set_of(p, NULL);
	authz_eval(s, &q.r, &d);
	assert_false(d.allowed);
	assert_false(d.dry_run_denied);
	authz_set_free(s);
}

/* "profilepicture may GET orders' /count and nothing else" */
static void
test_brief_profilepicture(void **state)
{
	struct authz_set *s;
	struct treq q;

	s = set_of(poln(NS, "orders-count",
		       "selector: {matchLabels: {app: orders}}\n"
		       "action: ALLOW\n"
		       "rules:\n"
		       "- from:\n"
		       "  - source:\n"
		       "      principals: [cluster.local/ns/default/sa/"
		       "profilepicture]\n"
		       "  to:\n"
		       "  - operation:\n"
		       "      methods: [GET]\n"
		       "      paths: [/count]\n"),
	    NULL);
	treq_http(&q, "GET", "/count", PP);
	assert_true(allowed(s, &q));
	treq_http(&q, "POST", "/count", PP);
	assert_false(allowed(s, &q));
	treq_http(&q, "GET", "/other", PP);
	assert_false(allowed(s, &q));
	treq_http(&q, "GET", "/count", "cluster.local/ns/default/sa/cart");
	assert_false(allowed(s, &q));
	treq_http(&q, "GET", "/count", NULL);
	assert_false(allowed(s, &q));
	treq_tcp(&q, 8080, PP);
	assert_false(allowed(s, &q));
	authz_set_free(s);
}

/* "only members of gold_member may call orders' /discounts" */
static void
test_brief_gold_member(void **state)
{
	struct authz_decision d;
	struct authz_set *s;
	struct treq q;

	s = set_of(poln(NS, "orders-discounts",
		       "rules:\n"
		       "- to:\n"
		       "  - operation: {paths: [/discounts]}\n"
		       "  when:\n"
		       "  - key: request.auth.claims[groups]\n"
		       "    values: [gold_member]\n"
		       "- to:\n"
		       "  - operation: {notPaths: [/discounts]}\n"),
	    NULL);
	treq_http(&q, "GET", "/discounts", NULL);
	treq_jwt(&q,
	    "{\"iss\": \"testing@secure.istio.io\", \"sub\": \"u1\", "
	    "\"groups\": [\"group1\", \"gold_member\"]}");
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_int_equal(d.rule, 0);
	treq_jwt(&q,
	    "{\"iss\": \"testing@secure.istio.io\", \"sub\": \"u2\", "
	    "\"groups\": [\"group1\", \"group2\"]}");
	assert_false(allowed(s, &q));
	treq_done(&q);
	q.r.claims = NULL;
	q.r.request_principal = NULL;
	assert_false(allowed(s, &q));
	/* The rest of orders is open. */
	treq_http(&q, "POST", "/orders", NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_int_equal(d.rule, 1);
	authz_set_free(s);
}

/* The nearest ALLOW rule of a denial, and what it failed on. */
static struct authz_decision *
nearest(const struct authz_set *s, struct treq *q)
{
	static struct authz_decision d;

	authz_eval(s, &q->r, &d);
	assert_false(d.allowed);
	assert_null(d.nearest);
	assert_int_equal(d.nearest_rule, -1);
	assert_string_equal(d.nearest_why, "");
	authz_explain_nearest(s, &q->r, &d);
	return &d;
}

static void
test_explain_nearest(void **state)
{
	struct authz_decision *d, a;
	struct authz_set *s;
	struct treq q;
	char text[512];

	s = set_of(poln(NS, "audit", "{action: AUDIT, rules: [{}]}"),
	    poln(NS, "orders-allow",
		"rules:\n"
		"- from:\n"
		"  - source: {principals: [" PP "]}\n"
		"  to:\n"
		"  - operation: {methods: [GET], paths: [/count]}\n"
		"- to:\n"
		"  - operation: {paths: [/discounts]}\n"
		"  when:\n"
		"  - key: request.auth.claims[groups]\n"
		"    values: [gold_member]\n"),
	    poln(NS, "net",
		"rules:\n"
		"- from:\n"
		"  - source: {ipBlocks: [192.168.0.0/16]}\n"
		"  - source: {notPrincipals: [" PP "], namespaces: [prod]}\n"
		"  to:\n"
		"  - operation: {ports: [\"9090\"]}\n"),
	    NULL);

	/* The brief's example: the method is what is wrong. */
	treq_http(&q, "POST", "/count", PP);
	d = nearest(s, &q);
	assert_non_null(d->nearest);
	assert_string_equal(authz_policy_name(d->nearest), "orders-allow");
	assert_int_equal(d->nearest_rule, 0);
	assert_string_equal(
	    d->nearest_why, "to[0].operation.methods: POST not in [GET]");
	authz_decision_text(d, text, sizeof(text));
	assert_string_equal(text,
	    "no ALLOW policy matched; nearest: default/orders-allow rule 0, "
	    "failed to[0].operation.methods: POST not in [GET]");

	/* The identity is. */
	treq_http(&q, "GET", "/count", "cluster.local/ns/default/sa/other");
	d = nearest(s, &q);
	assert_int_equal(d->nearest_rule, 0);
	assert_string_equal(d->nearest_why,
	    "from[0].source.principals: "
	    "\"cluster.local/ns/default/sa/other\" not in [" PP "]");
	treq_http(&q, "GET", "/count", NULL);
	d = nearest(s, &q);
	assert_string_equal(d->nearest_why,
	    "from[0].source.principals: absent, not in [" PP "]");

	/* A claim: the rule of /discounts is nearer. */
	treq_http(&q, "GET", "/discounts", NULL);
	treq_jwt(&q,
	    "{\"iss\": \"testing@secure.istio.io\", \"sub\": \"u\", "
	    "\"groups\": [\"silver\"]}");
	d = nearest(s, &q);
	assert_string_equal(authz_policy_name(d->nearest), "orders-allow");
	assert_int_equal(d->nearest_rule, 1);
	assert_string_equal(d->nearest_why,
	    "when[0] request.auth.claims[groups]: [silver] has none of "
	    "[gold_member]");
	treq_done(&q);

	/*
	 * Port 9090 of policy net without a peer identity: its second
	 * source, whose notPrincipals passes, is nearer than its first.
	 */
	treq_http(&q, "POST", "/x", NULL);
	q.r.port = 9090;
	d = nearest(s, &q);
	assert_string_equal(authz_policy_name(d->nearest), "net");
	assert_int_equal(d->nearest_rule, 0);
	assert_string_equal(
	    d->nearest_why, "from[1].source.namespaces: absent, not in [prod]");
	q.r.principal = PP;
	q.r.port = 8080;
	d = nearest(s, &q);
	assert_string_equal(authz_policy_name(d->nearest), "orders-allow");
	assert_string_equal(
	    d->nearest_why, "to[0].operation.methods: POST not in [GET]");

	/* Opaque TCP: HTTP-only rules never match it. */
	treq_tcp(&q, 8080, PP);
	d = nearest(s, &q);
	assert_string_equal(authz_policy_name(d->nearest), "orders-allow");
	assert_int_equal(d->nearest_rule, 0);
	assert_string_equal(d->nearest_why,
	    "to[0].operation.methods: HTTP-only, the connection is opaque "
	    "TCP");

	/* Allowed, or denied by a DENY rule: nothing to add. */
	treq_http(&q, "GET", "/count", PP);
	authz_eval(s, &q.r, &a);
	assert_true(a.allowed);
	authz_explain_nearest(s, &q.r, &a);
	assert_null(a.nearest);
	assert_string_equal(a.nearest_why, "");
	authz_set_free(s);

	s = set_of(poln(NS, "deny",
		       "action: DENY\n"
		       "rules:\n"
		       "- to: [{operation: {methods: [DELETE]}}]\n"),
	    poln(NS, "allow", "rules: [{to: [{operation: {paths: [/a]}}]}]"),
	    NULL);
	treq_http(&q, "DELETE", "/a", PP);
	authz_eval(s, &q.r, &a);
	assert_false(a.allowed);
	authz_explain_nearest(s, &q.r, &a);
	assert_null(a.nearest);
	authz_decision_text(&a, text, sizeof(text));
	assert_string_equal(text, "denied by DENY policy default/deny rule 0");

	/* A notValues condition; a header. */
	authz_set_free(s);
	s = set_of(poln(NS, "h",
		       "rules:\n"
		       "- when:\n"
		       "  - key: request.headers[x-env]\n"
		       "    values: [prod]\n"
		       "  - key: request.headers[x-env]\n"
		       "    notValues: [test, dev]\n"),
	    NULL);
	treq_http(&q, "GET", "/", PP);
	treq_header(&q, "x-env", "dev");
	d = nearest(s, &q);
	assert_string_equal(d->nearest_why,
	    "when[0] request.headers[x-env]: \"dev\" not in [prod]");
	authz_set_free(s);

	/* An ALLOW policy without rules allows nothing. */
	s = set_of(poln(NS, "empty", "{action: ALLOW}"), NULL);
	treq_http(&q, "GET", "/", PP);
	d = nearest(s, &q);
	assert_string_equal(authz_policy_name(d->nearest), "empty");
	assert_int_equal(d->nearest_rule, -1);
	authz_decision_text(d, text, sizeof(text));
	assert_string_equal(text,
	    "no ALLOW policy matched; nearest: default/empty: the policy has "
	    "no rules: it allows nothing");
	authz_set_free(s);
}

static void
test_refused(void **state)
{
	static const struct {
		const char *spec, *cause;
	} c[] = {
	    {"{action: CUSTOM, provider: {name: x}, rules: [{}]}",
		"spec.action: CUSTOM action is not supported"},
	    {"{provider: {name: x}, rules: [{}]}",
		"spec.provider: CUSTOM action is not supported"},
	    {"{action: MAYBE}", "spec.action: unknown action \"MAYBE\""},
	    {"{action: 1}", "spec.action: must be a string"},
	    {"[1]", "spec: must be an object"},
	    {"{bogus: 1}", "spec.bogus: unknown field"},
	    {"{rules: {}}", "spec.rules: must be a list"},
	    {"{rules: [null]}", "spec.rules[0]: rule must not be nil"},
	    {"{rules: [{foo: 1}]}", "spec.rules[0].foo: unknown field"},
	    {"{rules: [{from: []}]}", "spec.rules[0].from: must not be empty"},
	    {"{rules: [{to: []}]}", "spec.rules[0].to: must not be empty"},
	    {"{rules: [{from: [{}]}]}",
		"spec.rules[0].from[0].source: must not be nil"},
	    {"{rules: [{from: [{source: {}}]}]}",
		"spec.rules[0].from[0].source: must not be empty"},
	    {"{rules: [{to: [{operation: {}}]}]}",
		"spec.rules[0].to[0].operation: must not be empty"},
	    {"{rules: [{from: [{source: {principal: [x]}}]}]}",
		"spec.rules[0].from[0].source.principal: unknown field"},
	    {"{rules: [{from: [{source: {principals: x}}]}]}",
		"source.principals: must be a list"},
	    {"{rules: [{from: [{source: {principals: ['']}}]}]}",
		"source.principals[0]: empty value not allowed"},
	    {"{rules: [{from: [{source: {principals: [1]}}]}]}",
		"source.principals[0]: must be a string"},
	    {"{rules: [{to: [{operation: {ports: ['99999']}}]}]}",
		"ports[0]: bad port \"99999\""},
	    {"{rules: [{to: [{operation: {ports: [http]}}]}]}", "bad port"},
	    {"{rules: [{from: [{source: {ipBlocks: [10.0.0.0/33]}}]}]}",
		"ipBlocks[0]: bad IP address or CIDR range"},
	    {"{rules: [{from: [{source: {ipBlocks: [10.0.0]}}]}]}",
		"bad IP address"},
	    {"{rules: [{from: [{source: {notIpBlocks: ['::1/129']}}]}]}",
		"notIpBlocks[0]: bad IP"},
	    {"{rules: [{from: [{source: {remoteIpBlocks: ['1.2.3.4/']}}]}]}",
		"bad IP"},
	    {"{rules: [{to: [{operation: {paths: ['/a/{id}']}}]}]}",
		"'{' or '}' outside a path template"},
	    {"{rules: [{to: [{operation: {paths: ['/a/{**}/{*}']}}]}]}",
		"{**} is not the last operator"},
	    {"{rules: [{to: [{operation: {paths: ['/a{*}']}}]}]}",
		"not a valid path template literal"},
	    {"{rules: [{to: [{operation: {paths: ['{*}/a']}}]}]}",
		"must start with '/'"},
	    {"{rules: [{from: [{source: {serviceAccounts: ['a/*']}}]}]}",
		"wildcard not allowed"},
	    {"{rules: [{from: [{source: {serviceAccounts: [a/b/c]}}]}]}",
		"expected 'serviceAccount' or 'namespace/serviceAccount'"},
	    {"{rules: [{from: [{source: {serviceAccounts: [a], "
	     "principals: [b]}}]}]}",
		"cannot set serviceAccounts with namespaces or principals"},
	    {"{rules: [{when: [{key: 'request.headers[x]'}]}]}",
		"at least one of values or notValues must be set"},
	    {"{rules: [{when: [{values: [x]}]}]}",
		"when[0].key: must be a non-empty string"},
	    {"{rules: [{when: [{key: a.b, values: [x]}]}]}",
		"when[0].key: unknown or unsupported attribute a.b"},
	    {"{rules: [{when: [{key: 'destination.labels[app]', "
	     "values: [x]}]}]}",
		"unknown or unsupported attribute"},
	    {"{rules: [{when: [{key: 'request.headers[]', values: [x]}]}]}",
		"unknown or unsupported attribute"},
	    {"{rules: [{when: [{key: 'request.auth.claims[]', "
	     "values: [x]}]}]}",
		"bad key"},
	    {"{rules: [{when: [{key: 'experimental.envoy.filters.a.b[c]', "
	     "values: [x]}]}]}",
		"experimental.envoy.filters.a.b[c] is not supported"},
	    {"{rules: [{when: [{key: source.ip, values: [x]}]}]}",
		"when[0].values[0]: bad IP"},
	    {"{rules: [{when: [{key: destination.port, notValues: ['-1']}]}]}",
		"when[0].notValues[0]: bad port"},
	    {"{rules: [{when: [{key: source.ip, values: [1.1.1.1], "
	     "other: 1}]}]}",
		"when[0].other: unknown field"},
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		expect_refused(c[i].spec, c[i].cause);
	/* The selection fields are the caller's: accepted, unread. */
	authz_policy_free(pol("{selector: {matchLabels: {a: b}}, "
			      "targetRef: {kind: Service, name: x}}"));
	authz_policy_free(pol("{action: null, rules: null}"));
	authz_policy_free(NULL);
	authz_set_free(NULL);
}

/* Istio's builder test inputs, in ../shared/testdata/istio. */
static char *
testdata_dir(void)
{
	const char *src = getenv("WEFT_SRCDIR");

	return xfmt("%s/../shared/testdata/istio/authz-policies",
	    src != NULL ? src : ".");
}

static char *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* Removes the conditions on Envoy filter metadata from spec. */
static void
strip_experimental(json_t *spec)
{
	json_t *rule, *when, *w;
	size_t i, j;
	const char *key;

	json_array_foreach(json_object_get(spec, "rules"), i, rule)
	{
		when = json_object_get(rule, "when");
		for (j = 0; j < json_array_size(when);) {
			w = json_array_get(when, j);
			key = json_string_value(json_object_get(w, "key"));
			if (key != NULL &&
			    strncmp(key, "experimental.envoy.filters.", 27) ==
				0)
				json_array_remove(when, j);
			else
				j++;
		}
	}
}

static int
uses_experimental(json_t *spec)
{
	json_t *rule, *when, *w;
	size_t i, j;
	const char *key;

	json_array_foreach(json_object_get(spec, "rules"), i, rule)
	{
		when = json_object_get(rule, "when");
		json_array_foreach(when, j, w)
		{
			key = json_string_value(json_object_get(w, "key"));
			if (key != NULL &&
			    strncmp(key, "experimental.envoy.filters.", 27) ==
				0)
				return 1;
		}
	}
	return 0;
}

/* What became of Istio's inputs. */
struct tally {
	size_t ok;           /* compiled */
	size_t custom;       /* refused: CUSTOM */
	size_t experimental; /* refused: Envoy filter metadata */
};

/*
 * Compiles the AuthorizationPolicy documents of file (in the testdata
 * directory) into a set, checking each is refused or compiled as it
 * should be. A policy refused for its conditions on Envoy filter
 * metadata must compile without them, and joins the set so. NULL if
 * the file is absent.
 */
static struct authz_set *
testdata_set(const char *file, struct tally *t)
{
	struct authz_policy *v[32];
	struct yaml_docs docs;
	json_t *root, *spec, *meta;
	char *dir, *path, *buf, *cause = NULL;
	const char *action, *dryrun, *kind;
	size_t len, i, n = 0;
	int errdoc, custom;

	dir = testdata_dir();
	path = xfmt("%s/%s", dir, file);
	free(dir);
	buf = read_all(path, &len);
	if (buf == NULL) {
		free(path);
		return NULL;
	}
	if (yaml_doc_parse(buf, len, &docs, &errdoc, &cause) != 0)
		fail_msg("%s: %s", path, cause);
	for (i = 0; i < docs.n; i++) {
		root = docs.v[i].root;
		kind = json_string_value(json_object_get(root, "kind"));
		if (kind == NULL || strcmp(kind, "AuthorizationPolicy") != 0)
			continue;
		spec = json_object_get(root, "spec");
		meta = json_object_get(root, "metadata");
		action = json_string_value(json_object_get(spec, "action"));
		custom = (action != NULL && strcmp(action, "CUSTOM") == 0) ||
		    json_object_get(spec, "provider") != NULL;
		cause = NULL;
		v[n] = authz_compile(spec,
		    json_string_value(json_object_get(meta, "namespace")),
		    json_string_value(json_object_get(meta, "name")), &cause);
		if (custom || uses_experimental(spec)) {
			if (v[n] != NULL)
				fail_msg("%s doc %zu: compiled", path, i + 1);
			if (strstr(cause,
				custom ? "CUSTOM action is not "
					 "supported"
				       : "experimental.envoy.filters.") == NULL)
				fail_msg("%s doc %zu: %s", path, i + 1, cause);
			free(cause);
			if (custom) {
				t->custom++;
				continue;
			}
			t->experimental++;
			/* All the rest of such a policy is understood. */
			spec = json_deep_copy(spec);
			strip_experimental(spec);
			v[n] = authz_compile(spec,
			    json_string_value(
				json_object_get(meta, "namespace")),
			    json_string_value(json_object_get(meta, "name")),
			    &cause);
			json_decref(spec);
		}
		if (v[n] == NULL)
			fail_msg("%s doc %zu: %s", path, i + 1, cause);
		dryrun = json_string_value(json_object_get(
		    json_object_get(meta, "annotations"), "istio.io/dry-run"));
		if (dryrun != NULL && strcmp(dryrun, "true") == 0)
			authz_policy_set_dry_run(v[n], 1);
		t->ok++;
		assert_true(++n < 32);
	}
	yaml_docs_clear(&docs);
	free(buf);
	free(path);
	return authz_set_new(v, n);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_istio_testdata(void **state)
{
	struct authz_decision d;
	struct authz_set *s;
	struct dirent *e;
	struct treq q;
	struct tally t = {0, 0, 0};
	char *dir, *names[128];
	size_t n = 0, i;
	DIR *dp;

	dir = testdata_dir();
	if ((dp = opendir(dir)) == NULL) {
		print_message("# Istio policies not in %s: not checked\n", dir);
		free(dir);
		return;
	}
	while ((e = readdir(dp)) != NULL) {
		if (strlen(e->d_name) > 5 &&
		    strcmp(e->d_name + strlen(e->d_name) - 5, ".yaml") == 0) {
			assert_true(n < 128);
			names[n++] = strdup(e->d_name);
		}
	}
	closedir(dp);
	qsort(names, n, sizeof(names[0]), cmp_str);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		s = testdata_set(names[i], &t);
		assert_non_null(s);
		/* Whatever they say, every request gets an answer. */
		treq_http(&q, "GET", "/exact", "cluster.local/ns/ns/sa/sa");
		treq_header(&q, "x-header", "header");
		treq_jwt(&q,
		    "{\"iss\": \"iss\", \"sub\": \"s\", \"aud\": "
		    "[\"audiences\"], \"nested1\": "
		    "{\"nested2\": \"nested\"}}");
		authz_eval(s, &q.r, &d);
		assert_non_null(d.reason);
		treq_done(&q);
		treq_tcp(&q, 80, NULL);
		authz_eval(s, &q.r, &d);
		assert_non_null(d.reason);
		authz_set_free(s);
		free(names[i]);
	}
	print_message("# %zu Istio policy files: %zu policies compiled, %zu "
		      "refused as CUSTOM, %zu refused for Envoy filter "
		      "metadata (and compiled without it)\n",
	    n, t.ok - t.experimental, t.custom, t.experimental);
	free(dir);
}

/* What some of Istio's inputs decide, in weft. */
static void
test_istio_semantics(void **state)
{
	struct authz_decision d;
	struct authz_set *s;
	struct treq q;
	struct tally t = {0, 0, 0};

	if ((s = testdata_set("http-deny-and-allow-in.yaml", &t)) == NULL) {
		print_message("# Istio policies absent: not checked\n");
		return;
	}
	treq_http(&q, "GET", "/", "deny");
	assert_false(allowed(s, &q));
	q.r.principal = "allow";
	assert_true(allowed(s, &q));
	q.r.principal = "other";
	assert_false(allowed(s, &q));
	authz_set_free(s);

	s = testdata_set("http-allow-nil-rule-in.yaml", &t);
	assert_false(allowed(s, &q));
	authz_set_free(s);
	s = testdata_set("http-allow-empty-rule-in.yaml", &t);
	assert_true(allowed(s, &q));
	authz_set_free(s);
	s = testdata_set("http-deny-empty-rule-in.yaml", &t);
	assert_false(allowed(s, &q));
	authz_set_free(s);
	s = testdata_set("http-audit-full-rule-in.yaml", &t);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_non_null(d.audit);
	authz_set_free(s);

	/* Principals with wildcards, and several sources. */
	s = testdata_set(
	    "http-simple-policy-principal-with-wildcard-in.yaml", &t);
	q.r.principal = NULL;
	assert_false(allowed(s, &q));
	q.r.principal = "x";
	assert_true(allowed(s, &q));
	authz_set_free(s);

	/* Several ALLOW policies: any of them. */
	s = testdata_set("http-multiple-policies-in.yaml", &t);
	treq_http(&q, "PUT", "/v2", NULL);
	assert_true(allowed(s, &q));
	treq_http(&q, "PUT", "/v3", NULL);
	q.r.port = 90;
	assert_true(allowed(s, &q));
	q.r.port = 91;
	assert_false(allowed(s, &q));
	treq_header(&q, "X-abc", "abc2");
	assert_true(allowed(s, &q));
	authz_set_free(s);

	/* TCP: ALLOW rules with HTTP fields do not exist. */
	s = testdata_set("tcp-allow-only-http-in.yaml", &t);
	treq_tcp(&q, 80, "cluster.local/ns/ns-1/sa/s");
	assert_false(allowed(s, &q));
	treq_http(&q, "GET", "/", "cluster.local/ns/ns-1/sa/s");
	q.r.host = "example.com";
	q.r.host_len = strlen(q.r.host);
	assert_true(allowed(s, &q));
	authz_set_free(s);
	s = testdata_set("tcp-allow-both-http-tcp-in.yaml", &t);
	treq_tcp(&q, 80, "cluster.local/ns/ns-1/sa/s");
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_int_equal(d.rule, 3);
	q.r.port = 8080;
	assert_false(allowed(s, &q));
	treq_http(&q, "GET", "/", "cluster.local/ns/ns-1/sa/s");
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_int_equal(d.rule, 1);
	authz_set_free(s);

	/* Dry runs. */
	s = testdata_set("tcp-dry-run-mix-in.yaml", &t);
	treq_tcp(&q, 9000, NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_true(d.dry_run_denied);
	q.r.port = 80;
	authz_eval(s, &q.r, &d);
	assert_false(d.allowed);
	assert_false(d.dry_run_denied);
	authz_set_free(s);
	s = testdata_set("http-dry-run-allow-and-deny-in.yaml", &t);
	treq_http(&q, "GET", "/allow", NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_false(d.dry_run_denied);
	treq_http(&q, "GET", "/deny", NULL);
	authz_eval(s, &q.r, &d);
	assert_true(d.allowed);
	assert_true(d.dry_run_denied);
	authz_set_free(s);
}

/*
 * The DENY rules of Istio's tcp/deny-both-http-tcp input, without its
 * last rule (which needs Envoy filter metadata): on TCP the HTTP-only
 * fields drop out, so rule 0 (requestPrincipals + methods) denies all.
 */
static void
test_istio_tcp_deny(void **state)
{
	struct authz_policy *p;
	struct authz_decision d;
	struct authz_set *s;
	struct yaml_docs docs;
	struct treq q;
	json_t *spec;
	char *dir, *path, *buf, *cause = NULL;
	size_t len;
	int errdoc;

	dir = testdata_dir();
	path = xfmt("%s/tcp-deny-both-http-tcp-in.yaml", dir);
	free(dir);
	if ((buf = read_all(path, &len)) == NULL) {
		free(path);
		return;
	}
	assert_int_equal(yaml_doc_parse(buf, len, &docs, &errdoc, &cause), 0);
	spec = json_object_get(docs.v[0].root, "spec");
	assert_int_equal(json_array_size(json_object_get(spec, "rules")), 11);
	json_array_remove(json_object_get(spec, "rules"), 10);
	p = authz_compile(spec, "foo", "httpbin-deny", &cause);
	if (p == NULL)
		fail_msg("%s", cause);
	s = set_of(p, NULL);
	treq_tcp(&q, 9000, NULL);
	authz_eval(s, &q.r, &d);
	assert_false(d.allowed);
	assert_string_equal(d.reason,
	    "denied by DENY policy foo/httpbin-deny "
	    "rule 0");
	/* HTTP: GET is denied (rule 1), POST without a JWT is not. */
	treq_http(&q, "GET", "/", "cluster.local/ns/ns-3/sa/s");
	q.r.port = 9000;
	authz_eval(s, &q.r, &d);
	assert_false(d.allowed);
	assert_int_equal(d.rule, 1);
	q.r.method = "POST";
	q.r.method_len = 4;
	assert_true(allowed(s, &q));
	/* ...but on port 80 rule 9 (destination.port) denies. */
	q.r.port = 80;
	authz_eval(s, &q.r, &d);
	assert_false(d.allowed);
	assert_int_equal(d.rule, 9);
	authz_set_free(s);
	yaml_docs_clear(&docs);
	free(buf);
	free(path);
}

/* Mean time of one evaluation of r, over 0.2 s or more. */
static double
ns_per_eval(const struct authz_set *s, const struct authz_request *r)
{
	struct authz_decision d;
	struct timespec a, b;
	double el;
	size_t n = 0, i;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		for (i = 0; i < 64; i++)
			authz_eval(s, r, &d);
		n += 64;
		clock_gettime(CLOCK_MONOTONIC, &b);
		el = (double)(b.tv_sec - a.tv_sec) * 1e9 +
		    (double)(b.tv_nsec - a.tv_nsec);
	} while (el < 2e8 && n < 50000000);
	return el / (double)n;
}

enum perf_form {
	PERF_EXACT,     /* exact principals and paths: by path */
	PERF_PRINCIPAL, /* exact principals, prefix paths: by principal */
	PERF_PORTS,     /* prefixes, one port per policy: by port */
	PERF_PREFIX,    /* prefix principals and paths: a scan */
};

/* 1,000 ALLOW policies of 10 rules each, all distinct. */
static struct authz_set *
perf_set(enum perf_form form)
{
	struct authz_policy **v;
	struct authz_set *s;
	json_t *spec, *rules, *rule, *op;
	char name[32], pr[96], path[64], port[8], *cause = NULL;
	int i, j;

	v = calloc(1000, sizeof(*v));
	assert_non_null(v);
	for (i = 0; i < 1000; i++) {
		rules = json_array();
		for (j = 0; j < 10; j++) {
			snprintf(pr, sizeof(pr),
			    "cluster.local/ns/ns-%d/sa/sa-%d%s", i, j,
			    form >= PERF_PORTS ? "*" : "");
			snprintf(path, sizeof(path), "/api/v1/p%d/r%d%s", i, j,
			    form == PERF_EXACT ? "" : "/*");
			op = json_pack(
			    "{s:[s], s:[s]}", "methods", "GET", "paths", path);
			if (form == PERF_PORTS) {
				snprintf(port, sizeof(port), "%d", 10000 + i);
				json_object_set_new(
				    op, "ports", json_pack("[s]", port));
			}
			rule = json_pack("{s:[{s:{s:[s]}}], s:[{s:o}]}", "from",
			    "source", "principals", pr, "to", "operation", op);
			json_array_append_new(rules, rule);
		}
		spec =
		    json_pack("{s:s, s:o}", "action", "ALLOW", "rules", rules);
		snprintf(name, sizeof(name), "p%d", i);
		v[i] = authz_compile(spec, NS, name, &cause);
		if (v[i] == NULL)
			fail_msg("%s", cause);
		json_decref(spec);
	}
	s = authz_set_new(v, 1000);
	free(v);
	return s;
}

static void
test_many_rules(void **state)
{
	static const char *forms[] = {"exact principals and paths",
	    "exact principals, prefix paths",
	    "prefix principals and paths, a port per policy",
	    "prefix principals and paths (no index: a scan)"};
	struct authz_decision d;
	struct authz_set *s;
	struct treq q;
	double hit, miss;
	int f;

	for (f = PERF_EXACT; f <= PERF_PREFIX; f++) {
		s = perf_set((enum perf_form)f);
		assert_int_equal(authz_set_size(s), 1000);
		/* the last rule of the last policy */
		treq_http(&q, "GET",
		    f == PERF_EXACT ? "/api/v1/p999/r9" : "/api/v1/p999/r9/x",
		    "cluster.local/ns/ns-999/sa/sa-9");
		q.r.port = f == PERF_PORTS ? 10999 : 8080;
		authz_eval(s, &q.r, &d);
		assert_true(d.allowed);
		assert_string_equal(
		    d.reason, "allowed by ALLOW policy default/p999 rule 9");
		hit = ns_per_eval(s, &q.r);
		q.r.path = "/api/v1/p999/r10/x";
		q.r.path_len = strlen(q.r.path);
		authz_eval(s, &q.r, &d);
		assert_false(d.allowed);
		miss = ns_per_eval(s, &q.r);
		print_message("# 10000 ALLOW rules, %s: %.0f ns/eval allowed "
			      "by the last rule, %.0f ns/eval denied\n",
		    forms[f], hit, miss);
		authz_set_free(s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_principals),
	    cmocka_unit_test(test_namespaces),
	    cmocka_unit_test(test_service_accounts),
	    cmocka_unit_test(test_trust_domains),
	    cmocka_unit_test(test_ip_blocks),
	    cmocka_unit_test(test_ports),
	    cmocka_unit_test(test_hosts),
	    cmocka_unit_test(test_methods),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_request_principals),
	    cmocka_unit_test(test_claims),
	    cmocka_unit_test(test_headers),
	    cmocka_unit_test(test_sni),
	    cmocka_unit_test(test_rule_structure),
	    cmocka_unit_test(test_tcp),
	    cmocka_unit_test(test_decision),
	    cmocka_unit_test(test_index_order),
	    cmocka_unit_test(test_audit),
	    cmocka_unit_test(test_dry_run),
	    cmocka_unit_test(test_brief_profilepicture),
	    cmocka_unit_test(test_brief_gold_member),
	    cmocka_unit_test(test_explain_nearest),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_istio_testdata),
	    cmocka_unit_test(test_istio_semantics),
	    cmocka_unit_test(test_istio_tcp_deny),
	    cmocka_unit_test(test_many_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
