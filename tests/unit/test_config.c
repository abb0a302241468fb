/*
 * Unit tests for the configuration checks (src/lib/config_*.c): good
 * documents of every kind and their normalized form, the exact error
 * lines weftctl prints for bad ones, and the subset references checked
 * across resources.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "config_authorizationpolicy.h"
#include "config_destinationrule.h"
#include "config_doc.h"
#include "config_field.h"
#include "config_peerauthentication.h"
#include "config_ratelimit.h"
#include "config_refs.h"
#include "config_requestauthentication.h"
#include "config_serviceentry.h"
#include "config_virtualservice.h"
#include "config_workloadentry.h"
#include "yaml_doc.h"

#define API "apiVersion: networking.istio.io/v1\n"
#define VS  API "kind: VirtualService\nmetadata: {name: r}\n"
#define DR  API "kind: DestinationRule\nmetadata: {name: d}\n"
#define SE  API "kind: ServiceEntry\nmetadata: {name: s}\n"
#define WE  API "kind: WorkloadEntry\nmetadata: {name: w}\n"
#define SEC "apiVersion: security.istio.io/v1\n"
#define PA  SEC "kind: PeerAuthentication\nmetadata: {name: p}\n"
#define RA  SEC "kind: RequestAuthentication\nmetadata: {name: j}\n"
#define AP  SEC "kind: AuthorizationPolicy\nmetadata: {name: a}\n"
#define RL  "apiVersion: weft.io/v1\nkind: RateLimit\nmetadata: {name: l}\n"
/* A route to host r, for the VirtualService tests. */
#define ROUTE_R "route: [{destination: {host: r}}]"

/*
 * Checks the documents of text (file "t.yaml") as weftctl apply does,
 * with namespace ns (NULL: the documents' own, or default). Returns the
 * error lines joined by newlines ("" when none); resources go to rs.
 */
static char *
check_ns(const char *text, const char *ns, struct config_resources *rs)
{
	struct config_errors errs = {NULL, 0};
	struct yaml_docs docs;
	char *out, *line, *cause = NULL;
	size_t i, len = 0;
	int errdoc;

	out = calloc(1, 1);
	if (yaml_doc_parse(text, strlen(text), &docs, &errdoc, &cause) != 0)
		fail_msg("yaml: %s", cause);
	for (i = 0; i < docs.n; i++) {
		if (docs.v[i].root != NULL)
			config_document(docs.v[i].root, "t.yaml", (int)i + 1,
			    ns, 0, rs, &errs);
	}
	yaml_docs_clear(&docs);
	for (i = 0; i < errs.n; i++) {
		line = config_error_string(&errs.v[i]);
		out = realloc(out, len + strlen(line) + 2);
		if (len > 0)
			out[len++] = '\n';
		strcpy(out + len, line);
		len += strlen(line);
		free(line);
	}
	config_errors_clear(&errs);
	return out;
}

static char *
check(const char *text, struct config_resources *rs)
{
	return check_ns(text, NULL, rs);
}

static void
expect_error(const char *text, const char *want)
{
	struct config_resources rs = {NULL, 0};
	char *got = check(text, &rs);

	assert_string_equal(got, want);
	assert_int_equal(rs.n, 0);
	free(got);
	config_resources_clear(&rs);
}

/* text must hold exactly one good resource, returned in rs. */
static struct config_resource *
expect_ok(const char *text, struct config_resources *rs)
{
	char *got = check(text, rs);

	assert_string_equal(got, "");
	free(got);
	assert_int_equal(rs->n, 1);
	return rs->v[0];
}

static char *
dump(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void
expect_json(const json_t *v, const char *want)
{
	char *s = dump(v);

	assert_string_equal(s, want);
	free(s);
}

/* Good input */

static void
test_vs_bookinfo(void **state)
{
	struct config_resources rs = {NULL, 0};
	struct config_resource *r;
	struct config_vs *vs;

	r = expect_ok(VS "spec:\n"
			 "  hosts: [reviews]\n"
			 "  http:\n"
			 "  - route:\n"
			 "    - destination: {host: reviews, subset: v1}\n"
			 "      weight: 80\n"
			 "    - destination: {host: reviews, subset: v2}\n"
			 "      weight: 20\n",
	    &rs);
	assert_int_equal(r->kind, CONFIG_VIRTUAL_SERVICE);
	assert_string_equal(r->namespace, "default");
	assert_string_equal(r->name, "r");
	assert_string_equal(r->api_version, "networking.istio.io/v1");
	vs = r->u.vs;
	expect_json(vs->hosts, "[\"reviews\"]");
	expect_json(vs->gateways, "[\"mesh\"]");
	assert_int_equal(vs->nroutes, 1);
	assert_string_equal(vs->routes[0].name, "");
	expect_json(vs->routes[0].match, "[]");
	assert_int_equal(vs->routes[0].timeout_ms, -1);
	assert_null(vs->routes[0].retries);
	assert_null(vs->routes[0].mirror);
	assert_int_equal(vs->routes[0].ndests, 2);
	assert_string_equal(vs->routes[0].dests[0].host, "reviews");
	assert_string_equal(vs->routes[0].dests[0].subset, "v1");
	assert_int_equal(vs->routes[0].dests[0].weight, 80);
	assert_int_equal(vs->routes[0].dests[1].weight, 20);
	assert_int_equal(vs->routes[0].dests[1].port, 0);
	config_resources_clear(&rs);
}

static void
test_vs_every_field(void **state)
{
	struct config_resources rs = {NULL, 0};
	struct config_vs_route *rt;
	struct config_vs *vs;

	vs = expect_ok(VS
	    "spec:\n"
	    "  hosts: [reviews, reviews.prod.svc.cluster.local, "
	    "10.0.0.1]\n"
	    "  gateways: [mesh, istio-system/ingress]\n"
	    "  exportTo: ['*']\n"
	    "  http:\n"
	    "  - name: jason\n"
	    "    match:\n"
	    "    - name: m0\n"
	    "      uri: {prefix: /api}\n"
	    "      method: {exact: GET}\n"
	    "      authority: {regex: 'reviews(:[0-9]+)?'}\n"
	    "      headers:\n"
	    "        end-user: {exact: jason}\n"
	    "        x-canary: {}\n"
	    "      withoutHeaders: {x-skip: {prefix: y}}\n"
	    "      queryParams: {debug: {exact: '1'}, v: {}}\n"
	    "      ignoreUriCase: true\n"
	    "      port: 9080\n"
	    "    - uri: {prefix: ''}\n"
	    "    route:\n"
	    "    - destination: {host: reviews, subset: v2, port: "
	    "{number: 9080}}\n"
	    "      headers: {request: {set: {x-v: '2'}}}\n"
	    "    - destination: {host: reviews, subset: v3}\n"
	    "      weight: 1\n"
	    "    rewrite: {uri: /v2, authority: reviews-v2}\n"
	    "    timeout: 1.5s\n"
	    "    retries: {attempts: 3, perTryTimeout: 500ms, "
	    "retryOn: '5xx,gateway-error,connect-failure,"
	    "refused-stream,reset,retriable-status-codes,503'}\n"
	    "    fault:\n"
	    "      delay: {fixedDelay: 7s, percentage: {value: "
	    "0.5}}\n"
	    "      abort: {httpStatus: 503, percentage: {value: "
	    "100}}\n"
	    "    mirror: {host: reviews, subset: v3}\n"
	    "    mirrorPercentage: {value: 25.5}\n"
	    "    headers:\n"
	    "      request: {set: {x-a: b}, add: {x-b: c}, remove: "
	    "[x-c]}\n"
	    "      response: {set: {x-d: e}, remove: [server]}\n"
	    "  - timeout: 1h30m\n"
	    "    fault: {delay: {fixedDelay: 1m, percent: 10}}\n"
	    "    " ROUTE_R "\n",
	    &rs)
		 ->u.vs;
	expect_json(vs->gateways, "[\"mesh\",\"istio-system/ingress\"]");
	assert_int_equal(vs->nroutes, 2);
	rt = &vs->routes[0];
	assert_string_equal(rt->name, "jason");
	assert_int_equal(json_array_size(rt->match), 2);
	assert_int_equal(rt->timeout_ms, 1500);
	expect_json(rt->mirror,
	    "{\"host\":\"reviews\",\"subset\":\"v3\",\"mirrorPercentage\":"
	    "{\"value\":25.5}}");
	expect_json(
	    rt->rewrite, "{\"uri\":\"/v2\",\"authority\":\"reviews-v2\"}");
	assert_non_null(rt->retries);
	assert_non_null(rt->fault);
	assert_non_null(rt->headers);
	/* A destination without weight among several has weight 0. */
	assert_int_equal(rt->dests[0].weight, 0);
	assert_int_equal(rt->dests[0].port, 9080);
	expect_json(
	    rt->dests[0].headers, "{\"request\":{\"set\":{\"x-v\":\"2\"}}}");
	assert_int_equal(rt->dests[1].weight, 1);
	rt = &vs->routes[1];
	assert_int_equal(rt->timeout_ms, 5400000);
	/* A lone destination takes all the traffic. */
	assert_int_equal(rt->ndests, 1);
	assert_int_equal(rt->dests[0].weight, 100);
	assert_null(rt->dests[0].subset);
	config_resources_clear(&rs);
}

static void
test_dr_good(void **state)
{
	struct config_resources rs = {NULL, 0};
	struct config_dr *dr;

	dr = expect_ok(DR
	    "spec:\n"
	    "  host: reviews\n"
	    "  exportTo: [.]\n"
	    "  trafficPolicy:\n"
	    "    loadBalancer:\n"
	    "      consistentHash: {httpHeaderName: x-user}\n"
	    "      localityLbSetting: {enabled: true, failover: "
	    "[{from: r1, to: r2}]}\n"
	    "    connectionPool:\n"
	    "      tcp: {maxConnections: 100, connectTimeout: "
	    "250ms}\n"
	    "      http: {http1MaxPendingRequests: 10, "
	    "http2MaxRequests: 100, maxRequestsPerConnection: 1, "
	    "maxRetries: 3, idleTimeout: 1m}\n"
	    "    outlierDetection: {consecutive5xxErrors: 5, "
	    "consecutiveGatewayErrors: 2, interval: 10s, "
	    "baseEjectionTime: 30s, maxEjectionPercent: 50}\n"
	    "    tls: {mode: ISTIO_MUTUAL, sni: reviews.default}\n"
	    "    portLevelSettings:\n"
	    "    - port: {number: 9080}\n"
	    "      loadBalancer: {simple: LEAST_REQUEST}\n"
	    "  subsets:\n"
	    "  - name: v1\n"
	    "    labels: {version: v1, app.kubernetes.io/name: "
	    "reviews}\n"
	    "  - name: v2\n"
	    "    trafficPolicy: {loadBalancer: {simple: RANDOM}}\n",
	    &rs)
		 ->u.dr;
	assert_string_equal(dr->host, "reviews");
	assert_int_equal(dr->nsubsets, 2);
	assert_string_equal(dr->subsets[0].name, "v1");
	expect_json(dr->subsets[0].labels,
	    "{\"version\":\"v1\",\"app.kubernetes.io/name\":\"reviews\"}");
	expect_json(dr->subsets[0].traffic_policy, "{}");
	expect_json(dr->subsets[1].labels, "{}");
	expect_json(dr->subsets[1].traffic_policy,
	    "{\"loadBalancer\":{\"simple\":\"RANDOM\"}}");
	config_resources_clear(&rs);

	dr = expect_ok(DR "spec: {host: '*.example.com'}\n", &rs)->u.dr;
	expect_json(dr->traffic_policy, "{}");
	assert_int_equal(dr->nsubsets, 0);
	config_resources_clear(&rs);
}

static void
test_se_and_we_good(void **state)
{
	struct config_resources rs = {NULL, 0};
	struct config_workload *w;
	struct config_se *se;

	se = expect_ok(SE
	    "spec:\n"
	    "  hosts: [reviews]\n"
	    "  addresses: [240.240.0.1, 'fd00::/64']\n"
	    "  ports:\n"
	    "  - {number: 9080, name: http, protocol: http, "
	    "targetPort: 8080}\n"
	    "  - {number: 9090, name: raw}\n"
	    "  workloadSelector: {labels: {app: reviews}}\n"
	    "  subjectAltNames: ['spiffe://cluster.local/ns/default/"
	    "sa/reviews']\n",
	    &rs)
		 ->u.se;
	assert_string_equal(se->resolution, "STATIC");
	assert_string_equal(se->location, "MESH_INTERNAL");
	expect_json(se->selector, "{\"app\":\"reviews\"}");
	expect_json(se->addresses, "[\"240.240.0.1\",\"fd00::/64\"]");
	assert_int_equal(se->nports, 2);
	assert_string_equal(se->ports[0].protocol, "HTTP");
	assert_int_equal(se->ports[0].target_port, 8080);
	assert_string_equal(se->ports[1].protocol, "TCP");
	assert_int_equal(se->ports[1].target_port, 0);
	assert_int_equal(se->nendpoints, 0);
	config_resources_clear(&rs);

	se = expect_ok(SE
	    "spec:\n"
	    "  hosts: [api.example.com]\n"
	    "  location: MESH_EXTERNAL\n"
	    "  resolution: DNS\n"
	    "  ports: [{number: 443, name: https, protocol: TLS}]\n"
	    "  endpoints:\n"
	    "  - {address: api.example.com, ports: {https: 8443}}\n"
	    "  - {address: 192.0.2.7, weight: 3, locality: "
	    "r1/z1, labels: {v: '1'}}\n",
	    &rs)
		 ->u.se;
	assert_string_equal(se->resolution, "DNS");
	assert_null(se->selector);
	assert_int_equal(se->nendpoints, 2);
	assert_string_equal(se->endpoints[0].address, "api.example.com");
	expect_json(se->endpoints[0].ports, "{\"https\":8443}");
	assert_int_equal(se->endpoints[0].weight, 1);
	assert_string_equal(se->endpoints[1].locality, "r1/z1");
	assert_int_equal(se->endpoints[1].weight, 3);
	config_resources_clear(&rs);

	w = expect_ok(WE "spec: {address: 198.18.0.5, labels: {app: reviews}, "
			 "ports: {http: 9080}, network: n1}\n",
	    &rs)
		->u.we;
	assert_string_equal(w->address, "198.18.0.5");
	assert_string_equal(w->service_account, "default");
	assert_string_equal(w->locality, "");
	assert_int_equal(w->weight, 1);
	expect_json(w->labels, "{\"app\":\"reviews\"}");
	config_resources_clear(&rs);
}

static void
test_list_and_namespaces(void **state)
{
	struct config_resources rs = {NULL, 0};
	char *got;

	got = check("{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": ["
		    "{\"apiVersion\": \"networking.istio.io/v1beta1\", "
		    "\"kind\": \"WorkloadEntry\", \"metadata\": {\"name\": "
		    "\"a\", \"namespace\": \"shop\"}, \"spec\": {\"address\": "
		    "\"10.1.1.1\"}},"
		    "{\"apiVersion\": \"networking.istio.io/v1alpha3\", "
		    "\"kind\": \"WorkloadEntry\", \"metadata\": {\"name\": "
		    "\"b\"}, \"spec\": {\"address\": \"10.1.1.2\"}}]}",
	    &rs);
	assert_string_equal(got, "");
	free(got);
	assert_int_equal(rs.n, 2);
	assert_string_equal(rs.v[0]->namespace, "shop");
	assert_string_equal(rs.v[0]->root, "items[0]");
	assert_string_equal(rs.v[1]->namespace, "default");
	assert_string_equal(
	    rs.v[1]->api_version, "networking.istio.io/v1alpha3");
	config_resources_clear(&rs);

	got = check_ns(WE "spec: {address: 10.0.0.1}\n", "shop", &rs);
	assert_string_equal(got, "");
	free(got);
	assert_string_equal(rs.v[0]->namespace, "shop");
	config_resources_clear(&rs);
}

/* Bad input: the exact lines weftctl prints */

static void
test_vs_errors(void **state)
{
	expect_error(VS "spec: {hosts: [r], http: [{" ROUTE_R
			", retry: {}}]}\n",
	    "t.yaml:1: VirtualService/r: spec.http[0].retry: unknown field");
	expect_error(VS "spec: {hosts: r, http: [{" ROUTE_R "}]}\n",
	    "t.yaml:1: VirtualService/r: spec.hosts: must be a list, not a "
	    "string");
	expect_error(VS "spec: {hosts: [r], http: [{match: [{uri: {regex: "
			"'(a'}}], " ROUTE_R "}]}\n",
	    "t.yaml:1: VirtualService/r: spec.http[0].match[0].uri.regex: "
	    "invalid regular expression \"(a\": Unmatched ( or \\(");
	expect_error(VS "spec: {hosts: [r], http: [{match: [{headers: {x: "
			"{regex: '\\d+'}}}], " ROUTE_R "}]}\n",
	    "t.yaml:1: VirtualService/r: "
	    "spec.http[0].match[0].headers.x.regex: "
	    "invalid regular expression \"\\d+\": \\d is not a POSIX "
	    "extended regular expression escape");
	expect_error(VS "spec: {hosts: [r], http: [{timeout: 1x, " ROUTE_R
			"}]}\n",
	    "t.yaml:1: VirtualService/r: spec.http[0].timeout: invalid "
	    "duration \"1x\" (use for example 500ms, 1.5s, 1m or 1h)");
	expect_error(VS "spec: {hosts: [r], http: [{timeout: 10, " ROUTE_R
			"}]}\n",
	    "t.yaml:1: VirtualService/r: spec.http[0].timeout: must be a "
	    "string, not an integer");
	expect_error(VS "spec: {hosts: [r], http: [{timeout: 0s, " ROUTE_R
			"}]}\n",
	    "t.yaml:1: VirtualService/r: spec.http[0].timeout: duration "
	    "must be at least 1ms");
	expect_error(VS
	    "spec: {hosts: [r], http: [{route: [{destination: "
	    "{host: r}, weight: -1}, {destination: {host: r}}]}]}\n",
	    "t.yaml:1: VirtualService/r: spec.http[0].route[0].weight: -1 is "
	    "out of range (0 to 2147483647)");
	expect_error(VS
	    "spec: {hosts: [r], http: [{route: [{destination: "
	    "{host: r}}, {destination: {host: r, subset: v1}}]}]}\n",
	    "t.yaml:1: VirtualService/r: spec.http[0].route: the total weight "
	    "of the destinations is 0");
	expect_error(VS
	    "spec: {hosts: [r], http: [{fault: {abort: {httpStatus: "
	    "503, percentage: {value: 101}}}, " ROUTE_R "}]}\n",
	    "t.yaml:1: VirtualService/r: "
	    "spec.http[0].fault.abort.percentage.value: 101 is neither 0 nor "
	    "between 0.0001 and 100");
	expect_error(VS "spec: {hosts: [r], http: [{route: [{destination: "
			"{subset: v1}}]}]}\n",
	    "t.yaml:1: VirtualService/r: "
	    "spec.http[0].route[0].destination.host: required");
	expect_error(VS "spec: {http: [{" ROUTE_R "}]}\n",
	    "t.yaml:1: VirtualService/r: spec.hosts: required");
	expect_error(VS "spec: {hosts: [r], http: [{redirect: {uri: /x}}]}\n",
	    "t.yaml:1: VirtualService/r: spec.http[0].redirect: not "
	    "supported");
	expect_error(VS "spec: {hosts: [r], tcp: [{" ROUTE_R "}]}\n",
	    "t.yaml:1: VirtualService/r: spec.tcp: not supported: weft routes "
	    "HTTP (spec.http)");
	expect_error(VS "spec: {hosts: ['*'], http: [{" ROUTE_R "}]}\n",
	    "t.yaml:1: VirtualService/r: spec.hosts[0]: host \"*\" is not "
	    "allowed for a VirtualService bound to the mesh (no gateways, or "
	    "\"mesh\" among them)");
	expect_error(VS "spec: {hosts: [r], http: [{retries: {perTryTimeout: "
			"1s}, " ROUTE_R "}]}\n",
	    "t.yaml:1: VirtualService/r: spec.http[0].retries: perTryTimeout "
	    "and retryOn need attempts above 0");
	expect_error(VS "spec: {hosts: [r], http: [{retries: {attempts: 2, "
			"retryOn: 'envoy-ratelimited'}, " ROUTE_R "}]}\n",
	    "t.yaml:1: VirtualService/r: spec.http[0].retries.retryOn: retryOn "
	    "policy \"envoy-ratelimited\" is not supported");
	expect_error(VS "spec: {hosts: [r], http: [{match: [{sourceLabels: "
			"{app: a}}], " ROUTE_R "}]}\n",
	    "t.yaml:1: VirtualService/r: spec.http[0].match[0].sourceLabels: "
	    "not supported: weft routes on what the request carries");
	expect_error(VS "spec: {hosts: [r], http: [{mirrorPercentage: {value: "
			"5}, " ROUTE_R "}]}\n",
	    "t.yaml:1: VirtualService/r: spec.http[0].mirrorPercentage: needs "
	    "mirror");
	expect_error(VS "spec: {hosts: [r], http: [{headers: {response: {set: "
			"{Host: x}}}, " ROUTE_R "}]}\n",
	    "t.yaml:1: VirtualService/r: "
	    "spec.http[0].headers.response.set.Host: the Host header cannot "
	    "be changed here");
}

static void
test_other_kind_errors(void **state)
{
	expect_error(API "kind: Gateway\nmetadata: {name: g}\nspec: {}\n",
	    "t.yaml:1: Gateway/g: kind: Gateway (networking.istio.io/v1) is "
	    "not supported");
	expect_error("apiVersion: networking.istio.io/v2\nkind: "
		     "DestinationRule\nmetadata: {name: d}\nspec: {host: r}\n",
	    "t.yaml:1: DestinationRule/d: apiVersion: "
	    "\"networking.istio.io/v2\" is not supported for DestinationRule "
	    "(use networking.istio.io/v1, v1beta1 or v1alpha3)");
	expect_error(API "kind: DestinationRule\nmetadata: {}\nspec: {host: "
			 "r}\n",
	    "t.yaml:1: DestinationRule/?: metadata.name: required");
	expect_error(API "kind: DestinationRule\nmetadata: {name: Bad_Name, "
			 "labels: {a: b}}\nspec: {host: r}\n",
	    "t.yaml:1: DestinationRule/Bad_Name: metadata.name: invalid name "
	    "\"Bad_Name\" (lower case letters, digits, '-' and '.', at most "
	    "253)\n"
	    "t.yaml:1: DestinationRule/Bad_Name: metadata.labels: not "
	    "supported: weft keeps only metadata.name, metadata.namespace "
	    "and metadata.annotations");
	expect_error(DR "spec: {host: r, subsets: [{name: v1}, {name: v1}]}\n",
	    "t.yaml:1: DestinationRule/d: spec.subsets[1].name: duplicate "
	    "subset \"v1\"");
	expect_error(DR
	    "spec: {host: r, trafficPolicy: {loadBalancer: {simple: "
	    "RANDOM, consistentHash: {httpHeaderName: x}}}}\n",
	    "t.yaml:1: DestinationRule/d: spec.trafficPolicy.loadBalancer: "
	    "only one of simple or consistentHash may be set");
	expect_error(DR "spec: {host: r, trafficPolicy: {tls: {mode: "
			"ISTIO_MUTUAL, clientCertificate: /c.pem}}}\n",
	    "t.yaml:1: DestinationRule/d: spec.trafficPolicy.tls: "
	    "clientCertificate cannot be set with mode ISTIO_MUTUAL (the mesh "
	    "certificates are used)");
	expect_error(DR "spec: {host: r, trafficPolicy: {outlierDetection: "
			"{interval: 1.0005s}}}\n",
	    "t.yaml:1: DestinationRule/d: "
	    "spec.trafficPolicy.outlierDetection.interval: duration "
	    "\"1.0005s\" is not in whole milliseconds");
	expect_error(SE
	    "spec: {hosts: [a.example], workloadSelector: "
	    "{labels: {app: a}}, endpoints: [{address: 10.0.0.1}]}\n",
	    "t.yaml:1: ServiceEntry/s: spec: only one of workloadSelector or "
	    "endpoints may be set");
	expect_error(SE "spec: {hosts: [a.example], endpoints: [{address: "
			"a.example}]}\n",
	    "t.yaml:1: ServiceEntry/s: spec.endpoints[0].address: "
	    "\"a.example\" is not an IP address (resolution STATIC)");
	expect_error(SE "spec: {hosts: [a.example], ports: [{number: 80, name: "
			"http}], endpoints: [{address: 10.0.0.1, ports: {web: "
			"8080}}]}\n",
	    "t.yaml:1: ServiceEntry/s: spec.endpoints[0].ports.web: no port "
	    "of the ServiceEntry is named \"web\"");
	expect_error(WE "spec: {labels: {app: a}}\n",
	    "t.yaml:1: WorkloadEntry/w: spec.address: required");
	expect_error(WE "spec: {address: 'unix:///var/run/a.sock'}\n",
	    "t.yaml:1: WorkloadEntry/w: spec.address: unix domain socket "
	    "addresses are not supported");
	expect_error(
	    "- a\n- b\n", "t.yaml:1: a document must be an object, not a list");
	expect_error("{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": "
		     "[{\"apiVersion\": \"networking.istio.io/v1\", \"kind\": "
		     "\"WorkloadEntry\", \"metadata\": {\"name\": \"a\"}, "
		     "\"spec\": {}}, 7]}",
	    "t.yaml:1: WorkloadEntry/a: items[0].spec.address: required\n"
	    "t.yaml:1: List: items[1]: must be an object, not an integer");
}

static void
test_namespace_mismatch(void **state)
{
	struct config_resources rs = {NULL, 0};
	char *got;

	got = check_ns(API "kind: WorkloadEntry\nmetadata: {name: w, "
			   "namespace: a}\nspec: {address: 10.0.0.1}\n",
	    "b", &rs);
	assert_string_equal(got,
	    "t.yaml:1: WorkloadEntry/w: metadata.namespace: namespace \"a\" "
	    "does not match the namespace requested (\"b\")");
	assert_int_equal(rs.n, 0);
	free(got);
}

/* Security kinds and RateLimit */

static void
test_pa_good(void **state)
{
	struct config_resources rs = {NULL, 0};
	struct config_resource *r;
	struct config_pa *pa;

	r = expect_ok("apiVersion: security.istio.io/v1beta1\n"
		      "kind: PeerAuthentication\n"
		      "metadata: {name: orders, namespace: shop}\n"
		      "spec:\n"
		      "  selector: {matchLabels: {app: orders}}\n"
		      "  mtls: {mode: STRICT}\n"
		      "  portLevelMtls:\n"
		      "    8080: {mode: DISABLE}\n"
		      "    9090: {}\n",
	    &rs);
	assert_int_equal(r->kind, CONFIG_PEER_AUTHENTICATION);
	assert_string_equal(r->namespace, "shop");
	pa = r->u.pa;
	expect_json(pa->selector, "{\"app\":\"orders\"}");
	assert_string_equal(pa->mode, "STRICT");
	expect_json(
	    pa->port_modes, "{\"8080\":\"DISABLE\",\"9090\":\"UNSET\"}");
	config_resources_clear(&rs);

	/* Namespace-wide, inheriting. */
	pa = expect_ok(PA "spec: {}\n", &rs)->u.pa;
	assert_null(pa->selector);
	assert_string_equal(pa->mode, "UNSET");
	expect_json(pa->port_modes, "{}");
	config_resources_clear(&rs);
	pa =
	    expect_ok(PA "spec: {selector: {matchLabels: {}}, mtls: {}}\n", &rs)
		->u.pa;
	assert_null(pa->selector);
	assert_string_equal(pa->mode, "UNSET");
	config_resources_clear(&rs);
}

static void
test_pa_errors(void **state)
{
	expect_error(PA "spec: {mtls: {mode: STRICT}, portLevelMtls: {8080: "
			"{mode: DISABLE}}}\n",
	    "t.yaml:1: PeerAuthentication/p: spec.portLevelMtls: needs a "
	    "selector with matchLabels (a namespace or mesh wide "
	    "PeerAuthentication cannot set port modes)");
	expect_error(PA "spec: {mtls: {mode: MUTUAL}}\n",
	    "t.yaml:1: PeerAuthentication/p: spec.mtls.mode: \"MUTUAL\" is "
	    "not one of UNSET, DISABLE, PERMISSIVE, STRICT");
	expect_error(PA "spec: {selector: {matchLabels: {app: a}}, "
			"portLevelMtls: {0: {mode: STRICT}, http: {}}}\n",
	    "t.yaml:1: PeerAuthentication/p: spec.portLevelMtls.0: \"0\" is "
	    "not a port number (1 to 65535)\n"
	    "t.yaml:1: PeerAuthentication/p: spec.portLevelMtls.http: "
	    "\"http\" is not a port number (1 to 65535)");
	expect_error(PA "spec: {selector: {matchLabels: {app: a}}, "
			"portLevelMtls: {}}\n",
	    "t.yaml:1: PeerAuthentication/p: spec.portLevelMtls: must have at "
	    "least one port when given");
	expect_error(PA "spec: {selector: {matchLabels: {app: '*'}}}\n",
	    "t.yaml:1: PeerAuthentication/p: spec.selector.matchLabels.app: "
	    "invalid label value \"*\" (at most 63 letters, digits, '-', '_' "
	    "or '.', starting and ending with a letter or digit)");
	expect_error(PA "spec: {selector: {app: a}}\n",
	    "t.yaml:1: PeerAuthentication/p: spec.selector.app: unknown "
	    "field");
	expect_error(PA "spec: {targetRef: {kind: Gateway, name: g}}\n",
	    "t.yaml:1: PeerAuthentication/p: spec.targetRef: not supported: "
	    "weft selects workloads by spec.selector (no Gateway API "
	    "targets)");
	expect_error("apiVersion: security.istio.io/v1alpha1\n"
		     "kind: PeerAuthentication\nmetadata: {name: p}\n"
		     "spec: {}\n",
	    "t.yaml:1: PeerAuthentication/p: apiVersion: "
	    "\"security.istio.io/v1alpha1\" is not supported for "
	    "PeerAuthentication (use security.istio.io/v1 or v1beta1)");
	expect_error("apiVersion: networking.istio.io/v1\n"
		     "kind: PeerAuthentication\nmetadata: {name: p}\n"
		     "spec: {}\n",
	    "t.yaml:1: PeerAuthentication/p: apiVersion: "
	    "\"networking.istio.io/v1\" is not supported for "
	    "PeerAuthentication (use security.istio.io/v1 or v1beta1)");
}

static void
test_ap_good(void **state)
{
	struct config_resources rs = {NULL, 0};
	struct config_resource *r;
	struct config_ap *ap;
	char *rules;

	r = expect_ok(SEC
	    "kind: AuthorizationPolicy\n"
	    "metadata:\n"
	    "  name: orders\n"
	    "  namespace: shop\n"
	    "  annotations: {istio.io/dry-run: 'true', note: hand made}\n"
	    "spec:\n"
	    "  selector: {matchLabels: {app: orders}}\n"
	    "  action: DENY\n"
	    "  rules:\n"
	    "  - from:\n"
	    "    - source:\n"
	    "        principals: [cluster.local/ns/shop/sa/web, '*-web']\n"
	    "        notPrincipals: ['*']\n"
	    "        requestPrincipals: [https://issuer/*]\n"
	    "        notRequestPrincipals: [x]\n"
	    "        namespaces: [shop, 'prod-*']\n"
	    "        notNamespaces: [test]\n"
	    "        ipBlocks: [10.0.0.0/8, 192.0.2.1, '2001:db8::/32']\n"
	    "        notIpBlocks: [10.1.0.0/16]\n"
	    "        remoteIpBlocks: [198.51.100.0/24]\n"
	    "        notRemoteIpBlocks: ['::1']\n"
	    "        trustDomains: [cluster.local, 'corp-*']\n"
	    "        notTrustDomains: [untrusted]\n"
	    "    - source:\n"
	    "        serviceAccounts: [web, billing/api]\n"
	    "        notServiceAccounts: [shop/batch]\n"
	    "    to:\n"
	    "    - operation:\n"
	    "        hosts: [orders.shop.svc.cluster.local, '*.example']\n"
	    "        notHosts: [admin.example]\n"
	    "        ports: ['8080', '0']\n"
	    "        notPorts: ['65535']\n"
	    "        methods: [POST, GET]\n"
	    "        notMethods: [DELETE]\n"
	    "        paths: [/orders, '/orders/*', '*.css', "
	    "'/api/{*}/items/{**}', '/{**}/x']\n"
	    "        notPaths: [/admin]\n"
	    "    when:\n"
	    "    - {key: 'request.headers[x-tenant]', values: [a]}\n"
	    "    - {key: 'request.headers[:method]', notValues: [GET]}\n"
	    "    - {key: source.ip, values: [10.0.0.1, 10.2.0.0/16]}\n"
	    "    - {key: remote.ip, values: ['::1']}\n"
	    "    - {key: source.namespace, values: [shop]}\n"
	    "    - {key: source.principal, values: ['*']}\n"
	    "    - {key: source.serviceAccount, values: [shop/web]}\n"
	    "    - {key: request.auth.principal, values: [i/s]}\n"
	    "    - {key: request.auth.audiences, values: [aud]}\n"
	    "    - {key: request.auth.presenter, values: [p]}\n"
	    "    - {key: 'request.auth.claims[groups]', values: [dev]}\n"
	    "    - {key: 'request.auth.claims[a][b]', values: [c]}\n"
	    "    - {key: destination.ip, values: [10.0.0.2]}\n"
	    "    - {key: destination.port, values: ['8080']}\n"
	    "    - {key: connection.sni, values: ['*.example']}\n"
	    "  - {}\n",
	    &rs);
	assert_int_equal(r->kind, CONFIG_AUTHORIZATION_POLICY);
	ap = r->u.ap;
	expect_json(ap->selector, "{\"app\":\"orders\"}");
	assert_string_equal(ap->action, "DENY");
	assert_int_equal(ap->dry_run, 1);
	assert_int_equal(json_array_size(ap->rules), 2);
	/* The rules as given. */
	rules = dump(ap->rules);
	assert_non_null(strstr(rules, "\"paths\":[\"/orders\",\"/orders/*\""));
	free(rules);
	expect_json(r->annotations,
	    "{\"istio.io/dry-run\":\"true\",\"note\":\"hand made\"}");
	config_resources_clear(&rs);

	/* Defaults: ALLOW, no rules (allows nothing), not a dry run. */
	ap = expect_ok(AP "spec: {}\n", &rs)->u.ap;
	assert_null(ap->selector);
	assert_string_equal(ap->action, "ALLOW");
	expect_json(ap->rules, "[]");
	assert_int_equal(ap->dry_run, 0);
	config_resources_clear(&rs);

	ap = expect_ok(SEC "kind: AuthorizationPolicy\n"
			   "metadata: {name: a, annotations: "
			   "{istio.io/dry-run: 'False'}}\n"
			   "spec: {action: AUDIT, rules: [{}]}\n",
	    &rs)
		 ->u.ap;
	assert_string_equal(ap->action, "AUDIT");
	assert_int_equal(ap->dry_run, 0);
	config_resources_clear(&rs);
}

static void
test_ap_errors(void **state)
{
	expect_error(AP "spec:\n"
			"  action: CUSTOM\n"
			"  provider: {name: ext}\n"
			"  rules: [{}]\n",
	    "t.yaml:1: AuthorizationPolicy/a: spec.action: CUSTOM is not "
	    "supported (weft has no external authorization; use ALLOW, DENY "
	    "or AUDIT)\n"
	    "t.yaml:1: AuthorizationPolicy/a: spec.provider: not supported: "
	    "weft has no external authorization provider (action CUSTOM)");
	expect_error(AP "spec: {action: allow}\n",
	    "t.yaml:1: AuthorizationPolicy/a: spec.action: \"allow\" is not "
	    "one of ALLOW, DENY, AUDIT");
	expect_error(AP "spec: {action: DENY}\n",
	    "t.yaml:1: AuthorizationPolicy/a: spec.rules: required with "
	    "action DENY (a DENY policy without rules never applies; add an "
	    "empty rule {} to deny every request)");
	expect_error(AP "spec: {targetRefs: [{kind: Service, name: s}]}\n",
	    "t.yaml:1: AuthorizationPolicy/a: spec.targetRefs: not supported: "
	    "weft selects workloads by spec.selector (no Gateway API "
	    "targets)");
	expect_error(AP
	    "spec: {rules: [{from: []}, {to: [{}]}, {from: "
	    "[{source: {}}]}, {to: [{operation: {methods: []}}]}]}\n",
	    "t.yaml:1: AuthorizationPolicy/a: spec.rules[0].from: must not be "
	    "empty\n"
	    "t.yaml:1: AuthorizationPolicy/a: spec.rules[1].to[0].operation: "
	    "required\n"
	    "t.yaml:1: AuthorizationPolicy/a: spec.rules[2].from[0].source: "
	    "must not be empty\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[3].to[0].operation: must not be empty");
	expect_error(AP "spec: {rules: [{from: [{source: {ipBlocks: [1.2.3, "
			"10.0.0.0/33], principals: ['']}}]}]}\n",
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].from[0].source.ipBlocks[0]: \"1.2.3\" is neither "
	    "an IP address nor a CIDR\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].from[0].source.ipBlocks[1]: \"10.0.0.0/33\" is "
	    "neither an IP address nor a CIDR\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].from[0].source.principals[0]: must not be empty");
	expect_error(AP "spec: {rules: [{from: [{source: {serviceAccounts: "
			"[shop/web], namespaces: [shop]}}, {source: "
			"{serviceAccounts: ['web-*', a/b/c, /x, ''], "
			"trustDomain: [x]}}]}]}\n",
	    "t.yaml:1: AuthorizationPolicy/a: spec.rules[0].from[0].source: "
	    "cannot set serviceAccounts with namespaces or principals\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].from[1].source.serviceAccounts[0]: \"web-*\": a "
	    "service account has no wildcard\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].from[1].source.serviceAccounts[1]: \"a/b/c\" is "
	    "neither ACCOUNT nor NAMESPACE/ACCOUNT\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].from[1].source.serviceAccounts[2]: \"/x\" is "
	    "neither ACCOUNT nor NAMESPACE/ACCOUNT\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].from[1].source.serviceAccounts[3]: must not be "
	    "empty\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].from[1].source.trustDomain: unknown field");
	expect_error(AP "spec: {rules: [{to: [{operation: {ports: [80, "
			"'70000', http]}}]}]}\n",
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].to[0].operation.ports[0]: must be a string, not "
	    "an integer\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].to[0].operation.ports[1]: \"70000\" is not a port "
	    "number (0 to 65535)\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].to[0].operation.ports[2]: \"http\" is not a port "
	    "number (0 to 65535)");
	expect_error(AP "spec: {rules: [{to: [{operation: {paths: "
			"['/{**}/a/{*}', '/a{*}', '/{*}/a b', '/a b']}}]}]}\n",
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].to[0].operation.paths[0]: invalid path template "
	    "\"/{**}/a/{*}\": {**} must be the last operator\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].to[0].operation.paths[1]: invalid path template "
	    "\"/a{*}\": '{' or '}' outside of {*} and {**}\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].to[0].operation.paths[2]: invalid path template "
	    "\"/{*}/a b\": segment \"a b\" is not a plain literal");
	expect_error(AP "spec: {rules: [{when: [{key: request.method, "
			"values: [GET]}]}]}\n",
	    "t.yaml:1: AuthorizationPolicy/a: spec.rules[0].when[0].key: "
	    "unknown condition key \"request.method\" "
	    "(request.headers[NAME], source.ip, remote.ip, "
	    "source.namespace, source.principal, source.serviceAccount, "
	    "request.auth.principal, request.auth.audiences, "
	    "request.auth.presenter, "
	    "request.auth.claims[NAME], destination.ip, destination.port or "
	    "connection.sni)");
	expect_error(AP "spec: {rules: [{when: [{key: "
			"'experimental.envoy.filters.a.b[c]', values: [x]}, "
			"{key: 'request.headers[]', values: [x]}, {key: "
			"'request.auth.claims[a]b', values: [x]}, {key: "
			"source.serviceAccount, values: ['a/*']}, {key: "
			"destination.namespace, values: [x]}]}]}\n",
	    "t.yaml:1: AuthorizationPolicy/a: spec.rules[0].when[0].key: "
	    "condition key \"experimental.envoy.filters.a.b[c]\": not "
	    "supported: weft has no Envoy filter metadata\n"
	    "t.yaml:1: AuthorizationPolicy/a: spec.rules[0].when[1].key: "
	    "condition key \"request.headers[]\": a header key is "
	    "request.headers[NAME]\n"
	    "t.yaml:1: AuthorizationPolicy/a: spec.rules[0].when[2].key: "
	    "condition key \"request.auth.claims[a]b\": a claim key is "
	    "request.auth.claims[NAME], or "
	    "request.auth.claims[NAME][NESTED]... for a nested claim\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].when[3].values[0]: \"a/*\": a service account has "
	    "no wildcard\n"
	    "t.yaml:1: AuthorizationPolicy/a: spec.rules[0].when[4].key: "
	    "condition key \"destination.namespace\": replaced by the "
	    "policy's metadata.namespace");
	expect_error(AP "spec: {rules: [{when: [{key: source.ip, values: "
			"[10.0.0.256]}, {key: destination.port, notValues: "
			"['x']}, {key: source.namespace}]}]}\n",
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].when[0].values[0]: \"10.0.0.256\" is neither an IP "
	    "address nor a CIDR\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "spec.rules[0].when[1].notValues[0]: \"x\" is not a port number "
	    "(0 to 65535)\n"
	    "t.yaml:1: AuthorizationPolicy/a: spec.rules[0].when[2]: must set "
	    "values or notValues");
	expect_error(SEC "kind: AuthorizationPolicy\n"
			 "metadata: {name: a, annotations: "
			 "{istio.io/dry-run: maybe, x: 1}}\n"
			 "spec: {}\n",
	    "t.yaml:1: AuthorizationPolicy/a: metadata.annotations.x: must be "
	    "a string, not an integer\n"
	    "t.yaml:1: AuthorizationPolicy/a: "
	    "metadata.annotations[\"istio.io/dry-run\"]: \"maybe\" is not a "
	    "boolean (true or false)");
}

#define JWKS                                                                   \
	"'{\"keys\": [{\"kty\": \"RSA\", \"e\": \"AQAB\", \"n\": \"xyz\"}]}'"

static void
test_ra_good(void **state)
{
	struct config_resources rs = {NULL, 0};
	struct config_ra *ra;

	ra = expect_ok(RA
	    "spec:\n"
	    "  selector: {matchLabels: {app: orders}}\n"
	    "  jwtRules:\n"
	    "  - issuer: testing@secure.istio.io\n"
	    "    jwks: " JWKS "\n"
	    "    audiences: [orders]\n"
	    "    fromHeaders: [{name: x-jwt, prefix: 'Bearer '}, {name: "
	    "authorization}]\n"
	    "    fromParams: [token]\n"
	    "    forwardOriginalToken: true\n"
	    "    outputPayloadToHeader: x-jwt-payload\n"
	    "    outputClaimToHeaders: [{header: x-sub, claim: sub}]\n"
	    "    timeout: 5s\n"
	    "  - issuer: https://accounts.example\n"
	    "    jwksUri: https://accounts.example:8443/keys?x=1\n",
	    &rs)
		 ->u.ra;
	expect_json(ra->selector, "{\"app\":\"orders\"}");
	assert_int_equal(json_array_size(ra->jwt_rules), 2);
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(ra->jwt_rules, 1), "jwksUri")),
	    "https://accounts.example:8443/keys?x=1");
	config_resources_clear(&rs);

	ra = expect_ok(RA "spec: {}\n", &rs)->u.ra;
	assert_null(ra->selector);
	expect_json(ra->jwt_rules, "[]");
	config_resources_clear(&rs);
}

static void
test_ra_errors(void **state)
{
	expect_error(RA "spec: {jwtRules: [{jwks: " JWKS "}]}\n",
	    "t.yaml:1: RequestAuthentication/j: spec.jwtRules[0].issuer: "
	    "required");
	expect_error(RA "spec: {jwtRules: [{issuer: i}]}\n",
	    "t.yaml:1: RequestAuthentication/j: spec.jwtRules[0]: must set "
	    "jwks or jwksUri (weft does not discover the keys of an "
	    "issuer)");
	expect_error(RA "spec: {jwtRules: [{issuer: i, jwks: '{\"keys\": "
			"'}, {issuer: i, jwks: '{\"k\": []}'}, {issuer: i, "
			"jwks: '{\"keys\": [{}]}'}]}\n",
	    "t.yaml:1: RequestAuthentication/j: spec.jwtRules[0].jwks: "
	    "invalid JWKS: unexpected token near end of file (line 1)\n"
	    "t.yaml:1: RequestAuthentication/j: spec.jwtRules[1].jwks: "
	    "invalid JWKS: no \"keys\" list\n"
	    "t.yaml:1: RequestAuthentication/j: spec.jwtRules[2].jwks: "
	    "invalid JWKS: key 0 has no \"kty\"");
	expect_error(RA "spec: {jwtRules: [{issuer: i, jwksUri: "
			"'ftp://x/keys'}, {issuer: i, jwksUri: "
			"'https:///keys'}, {issuer: i, jwksUri: "
			"'https://a:99999/'}]}\n",
	    "t.yaml:1: RequestAuthentication/j: spec.jwtRules[0].jwksUri: "
	    "\"ftp://x/keys\" is not an http:// or https:// URL\n"
	    "t.yaml:1: RequestAuthentication/j: spec.jwtRules[1].jwksUri: "
	    "\"https:///keys\" is not an http:// or https:// URL\n"
	    "t.yaml:1: RequestAuthentication/j: spec.jwtRules[2].jwksUri: "
	    "\"https://a:99999/\" is not an http:// or https:// URL");
	expect_error(RA "spec: {jwtRules: [{issuer: i, jwks: " JWKS
			", fromCookies: [session], fromHeaders: [{prefix: "
			"x}], outputClaimToHeaders: [{header: 'a b', claim: "
			"c}], audiences: [''], timeout: 1x}]}\n",
	    "t.yaml:1: RequestAuthentication/j: "
	    "spec.jwtRules[0].fromCookies: not supported: weft reads tokens "
	    "from headers (fromHeaders) and query parameters (fromParams)\n"
	    "t.yaml:1: RequestAuthentication/j: "
	    "spec.jwtRules[0].fromHeaders[0].name: required\n"
	    "t.yaml:1: RequestAuthentication/j: "
	    "spec.jwtRules[0].outputClaimToHeaders[0].header: invalid header "
	    "name \"a b\"\n"
	    "t.yaml:1: RequestAuthentication/j: "
	    "spec.jwtRules[0].audiences[0]: must not be empty\n"
	    "t.yaml:1: RequestAuthentication/j: spec.jwtRules[0].timeout: "
	    "invalid duration \"1x\" (use for example 500ms, 1.5s, 1m or "
	    "1h)");
}

static void
test_rl_good(void **state)
{
	struct config_resources rs = {NULL, 0};
	struct config_rl *rl;

	rl = expect_ok("apiVersion: weft.io/v1\n"
		       "kind: RateLimit\n"
		       "metadata: {name: orders, namespace: default}\n"
		       "spec:\n"
		       "  selector: {matchLabels: {app: orders}}\n"
		       "  limits:\n"
		       "  - requestsPerSecond: 10\n"
		       "    burst: 10\n"
		       "    match: {methods: [GET], paths: [\"/count\"]}\n"
		       "    per: source\n"
		       "  - requestsPerSecond: 2.5\n"
		       "    match: {paths: ['/api/*', '*.css', '*']}\n"
		       "  - requestsPerSecond: 0.5\n"
		       "    per: header\n"
		       "    header: X-User\n"
		       "    match: {}\n",
	    &rs)
		 ->u.rl;
	expect_json(rl->selector, "{\"app\":\"orders\"}");
	expect_json(rl->limits,
	    "[{\"requestsPerSecond\":10,\"burst\":10,\"match\":{\"methods\":"
	    "[\"GET\"],\"paths\":[\"/count\"]},\"per\":\"source\"},"
	    "{\"requestsPerSecond\":2.5,\"burst\":3,\"match\":{\"paths\":"
	    "[\"/api/*\",\"*.css\",\"*\"]}},"
	    "{\"requestsPerSecond\":0.5,\"burst\":1,\"per\":\"header\","
	    "\"header\":\"x-user\"}]");
	config_resources_clear(&rs);
}

static void
test_rl_errors(void **state)
{
	expect_error(
	    RL "spec: {}\n", "t.yaml:1: RateLimit/l: spec.limits: required");
	expect_error(RL "spec: {limits: []}\n",
	    "t.yaml:1: RateLimit/l: spec.limits: must not be empty");
	expect_error(RL "spec: {limits: [{requestsPerSecond: 0}, "
			"{requestsPerSecond: '10'}, {burst: 0, "
			"requestsPerSecond: 1}, {requestsPerSecond: 1e10}]}\n",
	    "t.yaml:1: RateLimit/l: spec.limits[0].requestsPerSecond: 0 is out "
	    "of range (above 0, at most 1000000000)\n"
	    "t.yaml:1: RateLimit/l: spec.limits[1].requestsPerSecond: must be "
	    "a number, not a string\n"
	    "t.yaml:1: RateLimit/l: spec.limits[2].burst: 0 is out of range "
	    "(1 to 1000000000)\n"
	    "t.yaml:1: RateLimit/l: spec.limits[3].requestsPerSecond: 1e+10 "
	    "is out of range (above 0, at most 1000000000)");
	expect_error(RL "spec: {limits: [{requestsPerSecond: 1, per: "
			"header}, {requestsPerSecond: 1, header: x}, "
			"{requestsPerSecond: 1, per: ip}]}\n",
	    "t.yaml:1: RateLimit/l: spec.limits[0].header: required with per: "
	    "header\n"
	    "t.yaml:1: RateLimit/l: spec.limits[1].header: only with per: "
	    "header\n"
	    "t.yaml:1: RateLimit/l: spec.limits[2].per: \"ip\" is not one of "
	    "source, header");
	expect_error(RL "spec: {limits: [{requestsPerSecond: 1, match: "
			"{paths: [count, '/a*b', '*a*', /x, /x], methods: [], "
			"hosts: [a]}}]}\n",
	    "t.yaml:1: RateLimit/l: spec.limits[0].match.paths[0]: invalid "
	    "path \"count\" (an exact path \"/a\", a prefix \"/a*\", a suffix "
	    "\"*.css\" or \"*\")\n"
	    "t.yaml:1: RateLimit/l: spec.limits[0].match.paths[1]: invalid "
	    "path \"/a*b\" (an exact path \"/a\", a prefix \"/a*\", a suffix "
	    "\"*.css\" or \"*\")\n"
	    "t.yaml:1: RateLimit/l: spec.limits[0].match.paths[2]: invalid "
	    "path \"*a*\" (an exact path \"/a\", a prefix \"/a*\", a suffix "
	    "\"*.css\" or \"*\")\n"
	    "t.yaml:1: RateLimit/l: spec.limits[0].match.methods: must not be "
	    "empty\n"
	    "t.yaml:1: RateLimit/l: spec.limits[0].match.hosts: unknown "
	    "field");
	expect_error("apiVersion: weft.io/v1beta1\nkind: RateLimit\n"
		     "metadata: {name: l}\nspec: {limits: [{requestsPerSecond: "
		     "1}]}\n",
	    "t.yaml:1: RateLimit/l: apiVersion: \"weft.io/v1beta1\" is not "
	    "supported for RateLimit (use weft.io/v1)");
}

/* Annotations are kept as given, for every kind. */
static void
test_annotations(void **state)
{
	struct config_resources rs = {NULL, 0};
	struct config_resource *r;

	r = expect_ok(API "kind: DestinationRule\n"
			  "metadata:\n"
			  "  name: d\n"
			  "  annotations: {example.com/owner: team-a}\n"
			  "spec: {host: r}\n",
	    &rs);
	expect_json(r->annotations, "{\"example.com/owner\":\"team-a\"}");
	config_resources_clear(&rs);
	r = expect_ok(DR "spec: {host: r}\n", &rs);
	assert_null(r->annotations);
	config_resources_clear(&rs);
	r = expect_ok(API "kind: DestinationRule\n"
			  "metadata: {name: d, annotations: {}}\n"
			  "spec: {host: r}\n",
	    &rs);
	assert_null(r->annotations);
	config_resources_clear(&rs);
	expect_error(API "kind: DestinationRule\n"
			 "metadata: {name: d, annotations: {'-bad': x}}\n"
			 "spec: {host: r}\n",
	    "t.yaml:1: DestinationRule/d: metadata.annotations.-bad: "
	    "invalid annotation key (an optional DNS prefix and '/', then at "
	    "most 63 letters, digits, '-', '_' or '.', starting and ending "
	    "with a letter or digit)");
}

/* References */

static void
stored_of(struct config_resources *rs, struct config_stored *out)
{
	size_t i;

	for (i = 0; i < rs->n; i++) {
		out[i].kind = rs->v[i]->kind;
		out[i].namespace = rs->v[i]->namespace;
		out[i].name = rs->v[i]->name;
		out[i].spec = rs->v[i]->spec;
	}
}

static void
change_of(const struct config_resource *r, struct config_change *c)
{
	c->kind = r->kind;
	c->namespace = r->namespace;
	c->name = r->name;
	c->file = r->file;
	c->doc = r->doc;
	c->root = r->root;
}

/* The errors of config_refs_check, joined by newlines. */
static char *
refs(struct config_resources *before, struct config_resources *after,
    struct config_resources *changed)
{
	struct config_stored b[8], a[8];
	struct config_change c[8];
	struct config_errors errs = {NULL, 0};
	char *out, *line;
	size_t i, len = 0;

	assert_true(before->n <= 8 && after->n <= 8 && changed->n <= 8);
	stored_of(before, b);
	stored_of(after, a);
	for (i = 0; i < changed->n; i++)
		change_of(changed->v[i], &c[i]);
	config_refs_check(b, before->n, a, after->n, c, changed->n, &errs);
	out = calloc(1, 1);
	for (i = 0; i < errs.n; i++) {
		line = config_error_string(&errs.v[i]);
		out = realloc(out, len + strlen(line) + 2);
		if (len > 0)
			out[len++] = '\n';
		strcpy(out + len, line);
		len += strlen(line);
		free(line);
	}
	config_errors_clear(&errs);
	return out;
}

#define DR_V1 DR "spec: {host: reviews, subsets: [{name: v1}]}\n"
#define DR_V1_V2                                                               \
	DR "spec: {host: reviews.default.svc.cluster.local, subsets: "         \
	   "[{name: v1}, {name: v2}]}\n"
#define VS_V2                                                                  \
	VS "spec: {hosts: [reviews], http: [{route: [{destination: "           \
	   "{host: reviews, subset: v2}}]}]}\n"

static void
test_refs(void **state)
{
	struct config_resources none = {NULL, 0}, dr1 = {NULL, 0},
				dr12 = {NULL, 0}, vs = {NULL, 0},
				both = {NULL, 0}, after = {NULL, 0};
	char *got;

	free(check(DR_V1, &dr1));
	free(check(DR_V1_V2, &dr12));
	free(check(VS_V2, &vs));
	free(check(DR_V1_V2 "---\n" VS_V2, &both));

	/* A VirtualService naming a subset nobody defines. */
	free(check(DR_V1 "---\n" VS_V2, &after));
	got = refs(&none, &after, &vs);
	assert_string_equal(got,
	    "t.yaml:1: VirtualService/r: "
	    "spec.http[0].route[0].destination.subset: subset \"v2\" of host "
	    "\"reviews\" is not defined by any DestinationRule");
	free(got);
	config_resources_clear(&after);

	/* Defined by a rule of the same change (a short and a long name). */
	got = refs(&none, &both, &both);
	assert_string_equal(got, "");
	free(got);

	/* A rule that drops a subset still in use is blamed. */
	free(check(DR_V1 "---\n" VS_V2, &after));
	got = refs(&both, &after, &dr1);
	assert_string_equal(got,
	    "t.yaml:1: DestinationRule/d: spec.subsets: subset \"v2\" of host "
	    "\"reviews\" is still used by VirtualService default/r "
	    "(spec.http[0].route[0].destination.subset)");
	free(got);
	config_resources_clear(&after);

	/* What was broken before is not this change's doing. */
	free(check(DR_V1 "---\n" VS_V2, &after));
	got = refs(&after, &after, &dr1);
	assert_string_equal(got, "");
	free(got);
	config_resources_clear(&after);

	config_resources_clear(&dr1);
	config_resources_clear(&dr12);
	config_resources_clear(&vs);
	config_resources_clear(&both);
}

/* Pieces */

static void
test_durations(void **state)
{
	static const struct {
		const char *s;
		int rc;
		int64_t ms;
	} cases[] = {
	    {"1s", 0, 1000},
	    {"500ms", 0, 500},
	    {"1.5s", 0, 1500},
	    {"1m", 0, 60000},
	    {"1h", 0, 3600000},
	    {"1h30m", 0, 5400000},
	    {"2000us", 0, 2},
	    {"3000000ns", 0, 3},
	    {"0.001s", 0, 1},
	    {"0", 0, 0},
	    {"1", -1, 0},
	    {"", -1, 0},
	    {"s", -1, 0},
	    {"-1s", -1, 0},
	    {"1d", -1, 0},
	    {"1 s", -1, 0},
	    {"1.s", 0, 1000},
	    {"1.0005s", -2, 0},
	    {"1500us", -2, 0},
	};
	int64_t ms;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ms = -42;
		if (config_duration_parse(cases[i].s, &ms) != cases[i].rc)
			fail_msg("\"%s\": want rc %d", cases[i].s, cases[i].rc);
		if (cases[i].rc == 0 && ms != cases[i].ms)
			fail_msg("\"%s\": %lld ms, want %lld", cases[i].s,
			    (long long)ms, (long long)cases[i].ms);
	}
}

static void
test_kinds_and_hosts(void **state)
{
	enum config_kind k;

	assert_int_equal(config_kind_parse("vs", &k), 0);
	assert_int_equal(k, CONFIG_VIRTUAL_SERVICE);
	assert_int_equal(config_kind_parse("VirtualServices", &k), 0);
	assert_int_equal(config_kind_parse("destinationrule", &k), 0);
	assert_int_equal(k, CONFIG_DESTINATION_RULE);
	assert_int_equal(
	    config_kind_parse("serviceentries.networking.istio.io", &k), 0);
	assert_int_equal(k, CONFIG_SERVICE_ENTRY);
	assert_int_equal(config_kind_parse("we", &k), 0);
	assert_int_equal(k, CONFIG_WORKLOAD_ENTRY);
	assert_int_equal(config_kind_parse("pa", &k), 0);
	assert_int_equal(k, CONFIG_PEER_AUTHENTICATION);
	assert_int_equal(config_kind_parse("PeerAuthentications", &k), 0);
	assert_int_equal(config_kind_parse("ra", &k), 0);
	assert_int_equal(k, CONFIG_REQUEST_AUTHENTICATION);
	assert_int_equal(
	    config_kind_parse("authorizationpolicies.security.istio.io", &k),
	    0);
	assert_int_equal(k, CONFIG_AUTHORIZATION_POLICY);
	assert_int_equal(config_kind_parse("ap", &k), 0);
	assert_int_equal(config_kind_parse("ratelimits.weft.io", &k), 0);
	assert_int_equal(k, CONFIG_RATE_LIMIT);
	assert_int_equal(config_kind_parse("rl", &k), 0);
	assert_int_equal(
	    config_kind_parse("authorizationpolicy.networking.istio.io", &k),
	    -1);
	assert_int_equal(config_kind_parse("gateway", &k), -1);
	assert_int_equal(config_kind_parse("vs.security.istio.io", &k), -1);

	assert_true(config_host_valid("reviews", 0));
	assert_true(config_host_valid("reviews.default.svc.cluster.local.", 0));
	assert_false(config_host_valid("Reviews", 0));
	assert_false(config_host_valid("-a.b", 0));
	assert_false(config_host_valid("*.example.com", 0));
	assert_true(config_host_valid("*.example.com", CONFIG_HOST_WILDCARD));
	assert_false(config_host_valid("*", CONFIG_HOST_WILDCARD));
	assert_false(config_host_valid("10.0.0.1", 0));
	assert_true(config_host_valid("10.0.0.1", CONFIG_HOST_IP));
	assert_true(config_cidr_valid("10.0.0.0/8"));
	assert_true(config_cidr_valid("::1"));
	assert_false(config_cidr_valid("10.0.0.0/"));
	assert_false(config_cidr_valid("10.0.0.0/33"));

	assert_true(config_host_covers("*.example.com", "a.example.com"));
	assert_false(config_host_covers("*.example.com", "example.com"));
	assert_true(config_host_covers("*", "x"));
}

static void
test_spec_equal(void **state)
{
	json_t *spec = json_pack("{s:s, s:f}", "b", "x", "a", 0.1);
	char *s = config_spec_dump(spec);

	assert_string_equal(s, "{\"b\":\"x\",\"a\":0.1}");
	assert_true(config_spec_equal(s, spec));
	assert_true(config_spec_equal("{\"a\": 0.1, \"b\": \"x\"}", spec));
	assert_false(config_spec_equal("{\"a\": 0.2, \"b\": \"x\"}", spec));
	assert_false(config_spec_equal("not json", spec));
	free(s);
	json_decref(spec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vs_bookinfo),
	    cmocka_unit_test(test_vs_every_field),
	    cmocka_unit_test(test_dr_good),
	    cmocka_unit_test(test_se_and_we_good),
	    cmocka_unit_test(test_list_and_namespaces),
	    cmocka_unit_test(test_vs_errors),
	    cmocka_unit_test(test_other_kind_errors),
	    cmocka_unit_test(test_namespace_mismatch),
	    cmocka_unit_test(test_pa_good),
	    cmocka_unit_test(test_pa_errors),
	    cmocka_unit_test(test_ap_good),
	    cmocka_unit_test(test_ap_errors),
	    cmocka_unit_test(test_ra_good),
	    cmocka_unit_test(test_ra_errors),
	    cmocka_unit_test(test_rl_good),
	    cmocka_unit_test(test_rl_errors),
	    cmocka_unit_test(test_annotations),
	    cmocka_unit_test(test_refs),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_kinds_and_hosts),
	    cmocka_unit_test(test_spec_equal),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
