/*
 * Kubernetes Services and EndpointSlices, as kube-apiserver sends them
 * (tests/e2e/kube/), mapped onto mesh services: hosts, virtual IPs,
 * ports and protocols, named target ports, endpoint readiness, zones,
 * pods, sidecars.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kube_discovery.h"

static json_t *services, *slices;

static json_t *
load(const char *name)
{
	const char *src = getenv("WEFT_SRCDIR");
	char path[4096];
	json_error_t err;
	json_t *j;

	snprintf(path, sizeof(path), "%s/tests/e2e/kube/%s",
	    src != NULL ? src : KUBE_TEST_SRCDIR, name);
	if ((j = json_load_file(path, 0, &err)) == NULL)
		fail_msg("%s: %s", path, err.text);
	return j;
}

static int
setup(void **state)
{
	(void)state;
	services = load("services.json");
	slices = load("endpointslices.json");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	json_decref(services);
	json_decref(slices);
	return 0;
}

static json_t *
item(json_t *list, const char *ns, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(list, "items"), i, v)
	{
		if (strcmp(kube_object_namespace(v), ns) == 0 &&
		    strcmp(kube_object_name(v), name) == 0)
			return v;
	}
	fail_msg("no %s/%s", ns, name);
	return NULL;
}

/* The slices of a Service, by their label, as kube_sync.c picks them. */
static size_t
slices_of(const char *ns, const char *svc, json_t **out, size_t max)
{
	json_t *v;
	size_t i, n = 0;

	json_array_foreach(json_object_get(slices, "items"), i, v)
	{
		const char *s = kube_slice_service(v);

		if (s != NULL && strcmp(s, svc) == 0 &&
		    strcmp(kube_object_namespace(v), ns) == 0 && n < max)
			out[n++] = v;
	}
	return n;
}

/*
 * 198.18.77.3 is a registered workload (a sidecar, account orders);
 * the pod orders-db-0 is known from the pods watch, not injected.
 */
static void
info(const char *ns, const char *address, const char *pod,
    struct kube_endpoint_info *i, void *arg)
{
	(*(int *)arg)++;
	if (strcmp(ns, "shop") == 0 && strcmp(address, "198.18.77.3") == 0) {
		i->sidecar = 1;
		i->service_account = "orders";
		i->labels = "{\"app\":\"orders\",\"version\":\"v2\"}";
	} else if (pod != NULL && strcmp(pod, "orders-db-0") == 0) {
		i->service_account = "db";
		i->labels = "{\"app\":\"orders-db\","
			    "\"security.istio.io/tlsMode\":\"istio\"}";
	}
}

static struct kube_service *
map(const char *ns, const char *name, int want)
{
	struct kube_service *ks = NULL;
	json_t *v[8];
	size_t n = slices_of(ns, name, v, 8);
	char *cause = NULL;
	int calls = 0;

	assert_int_equal(kube_service_map(item(services, ns, name), v, n, info,
			     &calls, &ks, &cause),
	    want);
	if (want != 1) {
		assert_null(ks);
		assert_non_null(cause);
		free(cause);
	} else
		assert_null(cause);
	return ks;
}

static const struct kube_endpoint *
endpoint(const struct kube_service *ks, const char *name)
{
	size_t i;

	for (i = 0; i < ks->nendpoints; i++)
		if (strcmp(ks->endpoints[i].name, name) == 0)
			return &ks->endpoints[i];
	fail_msg("no endpoint %s", name);
	return NULL;
}

/* ClusterIP, a named targetPort resolved per endpoint from the slice. */
static void
test_cluster_ip_named_port(void **state)
{
	struct kube_service *ks = map("shop", "orders", 1);
	const struct kube_endpoint *e;

	(void)state;
	assert_string_equal(ks->host, "orders.shop.svc.cluster.local");
	assert_int_equal(ks->naddresses, 1);
	assert_string_equal(ks->addresses[0], "240.240.77.10");
	assert_int_equal(ks->nports, 1);
	assert_int_equal(ks->ports[0].number, 80);
	assert_string_equal(ks->ports[0].name, "http");
	assert_string_equal(ks->ports[0].protocol, "HTTP");
	assert_int_equal(ks->ports[0].target_port, 0); /* named: per pod */
	assert_int_equal(ks->nendpoints, 2);
	e = endpoint(ks, "orders/orders-5d8f7b9c4-abcde");
	assert_string_equal(e->address, "198.18.77.2");
	assert_string_equal(e->ports, "{\"http\":9080}");
	assert_int_equal(e->ready, 1);
	assert_string_equal(e->locality, "/zone-a");
	assert_string_equal(e->labels, "{}");
	assert_string_equal(e->service_account, "default");
	e = endpoint(ks, "orders/orders-5d8f7b9c4-fghij");
	assert_string_equal(e->address, "198.18.77.3");
	assert_int_equal(e->ready, 0);
	assert_string_equal(e->locality, "/zone-b");
	/* A registered weft workload: a sidecar, its identity, its labels. */
	assert_string_equal(e->labels,
	    "{\"app\":\"orders\",\"security.istio.io/tlsMode\":\"istio\","
	    "\"version\":\"v2\"}");
	assert_string_equal(e->service_account, "orders");
	kube_service_free(ks);
}

/* Headless: no virtual IP; UDP ports are not the mesh's. */
static void
test_headless(void **state)
{
	struct kube_service *ks = map("shop", "orders-db", 1);

	(void)state;
	assert_int_equal(ks->naddresses, 0);
	assert_int_equal(ks->nports, 1);
	assert_int_equal(ks->ports[0].number, 5432);
	assert_string_equal(ks->ports[0].protocol, "TCP");
	assert_int_equal(ks->ports[0].target_port, 5432);
	assert_int_equal(ks->nendpoints, 1);
	assert_string_equal(ks->endpoints[0].name, "orders-db/orders-db-0");
	assert_string_equal(ks->endpoints[0].ports, "{\"tcp-postgres\":5432}");
	/* Known from its pod, not injected: its labels, no tlsMode. */
	assert_string_equal(ks->endpoints[0].labels, "{\"app\":\"orders-db\"}");
	assert_string_equal(ks->endpoints[0].service_account, "db");
	kube_service_free(ks);
}

/* An endpoint without a pod (the API server's own) is named by address. */
static void
test_no_pod(void **state)
{
	struct kube_service *ks = map("default", "kubernetes", 1);

	(void)state;
	assert_string_equal(ks->ports[0].protocol, "HTTPS");
	assert_int_equal(ks->ports[0].target_port, 6443);
	assert_string_equal(ks->endpoints[0].name, "kubernetes/198.18.77.250");
	assert_string_equal(ks->endpoints[0].locality, "");
	kube_service_free(ks);
}

static void
test_external_name(void **state)
{
	(void)state;
	map("shop", "legacy-billing", 0);
}

/* The watch's MODIFIED slice: terminating is not ready, nor a nil-ready. */
static void
test_watch_modified(void **state)
{
	struct kube_service *ks = NULL;
	json_t *line, *obj;
	char path[4096], *cause = NULL;
	const char *src = getenv("WEFT_SRCDIR");
	json_error_t err;
	FILE *f;
	char buf[65536];

	(void)state;
	snprintf(path, sizeof(path),
	    "%s/tests/e2e/kube/watch-endpointslices-1.jsonl",
	    src != NULL ? src : KUBE_TEST_SRCDIR);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_non_null(line = json_loads(buf, 0, &err));
	assert_string_equal(
	    json_string_value(json_object_get(line, "type")), "MODIFIED");
	obj = json_object_get(line, "object");
	assert_int_equal(kube_service_map(item(services, "shop", "orders"),
			     &obj, 1, NULL, NULL, &ks, &cause),
	    1);
	assert_int_equal(
	    endpoint(ks, "orders/orders-5d8f7b9c4-abcde")->ready, 0);
	assert_int_equal(
	    endpoint(ks, "orders/orders-5d8f7b9c4-fghij")->ready, 1);
	/* Without the sidecar callback: plaintext, default account. */
	assert_string_equal(
	    endpoint(ks, "orders/orders-5d8f7b9c4-fghij")->labels, "{}");
	kube_service_free(ks);
	json_decref(line);
}

/* Protocols by appProtocol, then by the port name's prefix. */
static void
test_protocols(void **state)
{
	struct kube_service *ks = NULL;
	char *cause = NULL;
	json_t *svc;

	(void)state;
	svc = json_loads("{\"metadata\":{\"namespace\":\"a\",\"name\":\"b\"},"
			 "\"spec\":{\"clusterIP\":\"240.240.1.1\",\"ports\":["
			 "{\"port\":1,\"name\":\"grpc-x\"},"
			 "{\"port\":2,\"name\":\"x\",\"appProtocol\":"
			 "\"kubernetes.io/h2c\"},"
			 "{\"port\":3,\"name\":\"http2\"},"
			 "{\"port\":4,\"name\":\"httpx\"},"
			 "{\"port\":5}]}}",
	    0, NULL);
	assert_int_equal(
	    kube_service_map(svc, NULL, 0, NULL, NULL, &ks, &cause), 1);
	assert_int_equal(ks->nports, 5);
	assert_string_equal(ks->ports[0].protocol, "GRPC");
	assert_string_equal(ks->ports[1].protocol, "HTTP2");
	assert_string_equal(ks->ports[2].protocol, "HTTP2");
	assert_string_equal(ks->ports[3].protocol, "TCP");
	assert_string_equal(ks->ports[4].protocol, "TCP");
	assert_int_equal(ks->ports[4].target_port, 5); /* absent: = port */
	assert_string_equal(ks->addresses[0], "240.240.1.1");
	kube_service_free(ks);
	json_decref(svc);
}

/* Malformed objects: one clear error, nothing mapped. */
static void
test_malformed(void **state)
{
	struct kube_service *ks = NULL;
	char *cause = NULL;
	json_t *svc;

	(void)state;
	svc = json_loads("{\"metadata\":{\"namespace\":\"a\",\"name\":\"b\"},"
			 "\"spec\":{\"ports\":[{\"port\":70000}]}}",
	    0, NULL);
	assert_int_equal(
	    kube_service_map(svc, NULL, 0, NULL, NULL, &ks, &cause), -1);
	assert_null(ks);
	assert_string_equal(
	    cause, "Service a/b: spec.ports[0].port: not a port");
	free(cause);
	json_decref(svc);
	cause = NULL;
	svc = json_loads("{\"spec\":{}}", 0, NULL);
	assert_int_equal(
	    kube_service_map(svc, NULL, 0, NULL, NULL, &ks, &cause), -1);
	free(cause);
	json_decref(svc);
}

/* Equal rows, equal texts; a change in readiness changes the text. */
static void
test_text(void **state)
{
	struct kube_service *a = map("shop", "orders", 1);
	struct kube_service *b = map("shop", "orders", 1);
	char *ta = kube_service_text(a), *tb;

	(void)state;
	tb = kube_service_text(b);
	assert_string_equal(ta, tb);
	free(tb);
	b->endpoints[1].ready = !b->endpoints[1].ready;
	tb = kube_service_text(b);
	assert_string_not_equal(ta, tb);
	free(ta);
	free(tb);
	kube_service_free(a);
	kube_service_free(b);
}

/* A pod reduced to what discovery uses; injected by annotation or
 * by a container named weft-proxy. */
static void
test_pod_summary(void **state)
{
	json_t *pod, *sum, *want;

	(void)state;
	pod = json_loads(
	    "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"p\","
	    "\"resourceVersion\":\"9\",\"labels\":{\"app\":\"x\"},"
	    "\"annotations\":{\"a\":\"b\"},\"managedFields\":[{}]},"
	    "\"spec\":{\"serviceAccountName\":\"sa1\",\"containers\":["
	    "{\"name\":\"app\"},{\"name\":\"weft-proxy\"}]},"
	    "\"status\":{\"phase\":\"Running\"}}",
	    0, NULL);
	want =
	    json_loads("{\"metadata\":{\"namespace\":\"shop\",\"name\":\"p\","
		       "\"resourceVersion\":\"9\",\"labels\":{\"app\":\"x\"}},"
		       "\"serviceAccount\":\"sa1\",\"injected\":true}",
		0, NULL);
	assert_non_null(sum = kube_pod_summary(pod));
	assert_true(json_equal(sum, want));
	json_decref(want);
	json_decref(sum);
	json_decref(pod);
	pod = json_loads("{\"metadata\":{\"namespace\":\"shop\",\"name\":"
			 "\"q\",\"annotations\":{\"weft.io/status\":\"{}\"}}}",
	    0, NULL);
	assert_non_null(sum = kube_pod_summary(pod));
	assert_true(json_is_true(json_object_get(sum, "injected")));
	assert_string_equal(
	    json_string_value(json_object_get(sum, "serviceAccount")),
	    "default");
	json_decref(sum);
	json_decref(pod);
	pod = json_loads("{\"metadata\":{\"name\":\"q\"}}", 0, NULL);
	assert_null(kube_pod_summary(pod));
	json_decref(pod);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cluster_ip_named_port),
	    cmocka_unit_test(test_headless),
	    cmocka_unit_test(test_no_pod),
	    cmocka_unit_test(test_external_name),
	    cmocka_unit_test(test_watch_modified),
	    cmocka_unit_test(test_protocols),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_pod_summary),
	};

	return cmocka_run_group_tests_name(
	    "kube_discovery", tests, setup, teardown);
}
