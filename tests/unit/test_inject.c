/*
 * Unit tests for src/lib/inject.c: AdmissionReview v1 documents in the
 * shape kube-apiserver sends them (the files of tests/unit/inject) go through
 * inject_admission; the patch of each answer is decoded, checked op by
 * op, and applied to the pod of the request, and the mutated pod is
 * checked: the native and ordinary sidecar layouts, the identity, the
 * traffic annotations turned into weft-init flags, the opt-outs, the
 * already injected pod, the host network, a bad annotation refused.
 * inject_patch_apply is checked against RFC 6902's own examples.
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

#include "base64.h"
#include "inject.h"

static json_t *
load_review(const char *name)
{
	const char *srcdir;
	json_error_t err;
	json_t *v;
	char path[1024];

	if ((srcdir = getenv("WEFT_SRCDIR")) == NULL)
		srcdir = INJECT_TEST_SRCDIR;
	snprintf(path, sizeof(path), "%s/tests/unit/inject/%s", srcdir, name);
	if ((v = json_load_file(path, 0, &err)) == NULL)
		fail_msg("%s: line %d: %s", path, err.line, err.text);
	return v;
}

/* The answer of the webhook to the review of file name. */
static json_t *
answer(const struct inject_conf *c, json_t *review, const char **note)
{
	json_t *out;
	char *cause = NULL;

	out = inject_admission(c, review, note, &cause);
	if (out == NULL)
		fail_msg("inject_admission: %s", cause);
	assert_string_equal(
	    json_string_value(json_object_get(out, "apiVersion")),
	    "admission.k8s.io/v1");
	assert_string_equal(
	    json_string_value(json_object_get(out, "kind")), "AdmissionReview");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(out, "response"), "uid")),
	    json_string_value(
		json_object_get(json_object_get(review, "request"), "uid")));
	return out;
}

/* The decoded JSON Patch of an answer (NULL when it has none). */
static json_t *
answer_patch(const json_t *out)
{
	const json_t *resp = json_object_get(out, "response");
	const char *b64;
	json_error_t err;
	json_t *patch;
	void *raw;
	size_t len;

	if ((b64 = json_string_value(json_object_get(resp, "patch"))) == NULL) {
		assert_null(json_object_get(resp, "patchType"));
		return NULL;
	}
	assert_string_equal(
	    json_string_value(json_object_get(resp, "patchType")), "JSONPatch");
	raw = base64_decode(b64, &len);
	assert_non_null(raw);
	patch = json_loadb(raw, len, 0, &err);
	free(raw);
	assert_non_null(patch);
	assert_true(json_is_array(patch));
	return patch;
}

/* The pod of the review, patched (a new value). */
static json_t *
patched_pod(const json_t *review, const json_t *patch)
{
	json_t *pod;
	char *cause = NULL;

	pod = json_deep_copy(
	    json_object_get(json_object_get(review, "request"), "object"));
	if (inject_patch_apply(pod, patch, &cause) == -1)
		fail_msg("inject_patch_apply: %s", cause);
	return pod;
}

/*
 * The value at a dotted path ("spec.containers.0.name"); a map key may
 * hold dots itself ("metadata.annotations.weft.io/status").
 */
static json_t *
at(const json_t *v, const char *path)
{
	json_t *cur = (json_t *)v, *next;
	const char *p = path, *dot;
	char key[256], *end;
	long i;

	while (cur != NULL && *p != '\0') {
		dot = strchr(p, '.');
		if (json_is_array(cur)) {
			i = strtol(p, &end, 10);
			cur = json_array_get(cur, (size_t)i);
			p = *end == '.' ? end + 1 : end;
			continue;
		}
		/* The shortest key that is there. */
		for (next = NULL;; dot = strchr(dot + 1, '.')) {
			snprintf(key, sizeof(key), "%.*s",
			    (int)(dot != NULL ? dot - p : (long)strlen(p)), p);
			if ((next = json_object_get(cur, key)) != NULL ||
			    dot == NULL)
				break;
		}
		cur = next;
		p = dot != NULL ? dot + 1 : p + strlen(p);
	}
	return cur;
}

static const char *
str_at(const json_t *v, const char *path)
{
	return json_string_value(at(v, path));
}

/* The names of the elements of a list, joined by ",". */
static void
names(const json_t *list, char *buf, size_t len)
{
	json_t *e;
	size_t i, n = 0;

	buf[0] = '\0';
	json_array_foreach(list, i, e)
	{
		n +=
		    (size_t)snprintf(buf + n, len - n, "%s%s", i > 0 ? "," : "",
			json_string_value(json_object_get(e, "name")));
		assert_true(n < len);
	}
}

/* The value after flag in the args of a container, or NULL. */
static const char *
arg(const json_t *ctr, const char *flag)
{
	json_t *args = json_object_get(ctr, "args"), *a;
	size_t i;

	json_array_foreach(args, i, a)
	{
		if (strcmp(json_string_value(a), flag) == 0)
			return json_string_value(json_array_get(args, i + 1));
	}
	return NULL;
}

static json_t *
container(const json_t *pod, const char *list, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(
	    json_object_get(json_object_get(pod, "spec"), list), i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "name")),
			name) == 0)
			return c;
	}
	return NULL;
}

/*
 * A Deployment's pod: native sidecars first among the init containers,
 * the app's own init container after them, the app untouched, the
 * volumes appended, identity and ports from the pod, the annotations'
 * exclusions given to weft-init.
 */
static void
test_native(void **state)
{
	struct inject_conf c;
	json_t *review, *out, *patch, *pod, *orig, *ctr, *op;
	const char *note;
	char buf[512];
	size_t i;

	(void)state;
	inject_conf_init(&c);
	review = load_review("review_deployment_pod.json");
	out = answer(&c, review, &note);
	assert_string_equal(note, "injected");
	assert_true(json_is_true(at(out, "response.allowed")));
	patch = answer_patch(out);
	assert_non_null(patch);
	/* Existing lists and maps are added to, never replaced. */
	json_array_foreach(patch, i, op)
	{
		assert_string_equal(str_at(op, "op"), "add");
		assert_true(
		    strcmp(str_at(op, "path"), "/spec/initContainers") &&
		    strcmp(str_at(op, "path"), "/spec/volumes") &&
		    strcmp(str_at(op, "path"), "/metadata/annotations"));
	}
	assert_int_equal(json_array_size(patch), 8);
	assert_string_equal(
	    str_at(patch, "0.path"), "/metadata/annotations/weft.io~1status");
	assert_string_equal(str_at(patch, "1.path"), "/spec/initContainers/0");
	assert_string_equal(str_at(patch, "2.path"), "/spec/initContainers/1");
	assert_string_equal(str_at(patch, "3.path"), "/spec/initContainers/2");
	assert_string_equal(str_at(patch, "4.path"), "/spec/volumes/-");

	pod = patched_pod(review, patch);
	orig = at(review, "request.object");
	names(at(pod, "spec.initContainers"), buf, sizeof(buf));
	assert_string_equal(buf, "weft-init,weft-proxy,weft-sync,migrate");
	assert_true(json_equal(at(pod, "spec.initContainers.3"),
	    at(orig, "spec.initContainers.0")));
	assert_true(json_equal(
	    at(pod, "spec.containers"), at(orig, "spec.containers")));
	names(at(pod, "spec.volumes"), buf, sizeof(buf));
	assert_string_equal(buf,
	    "kube-api-access-9xk2p,weft-data,weft-certs,weft-token,weft-ca");
	assert_non_null(str_at(pod, "metadata.annotations.weft.io/status"));

	ctr = container(pod, "initContainers", "weft-init");
	assert_string_equal(str_at(ctr, "image"), INJECT_DEFAULT_INIT_IMAGE);
	assert_string_equal(arg(ctr, "--proxy-uid"), "1337");
	assert_string_equal(arg(ctr, "--exclude-inbound-ports"), "9090,9091");
	assert_string_equal(
	    arg(ctr, "--exclude-outbound-cidrs"), "10.96.0.0/12,fd00::/108");
	assert_null(arg(ctr, "--include-inbound-ports"));
	assert_string_equal(
	    str_at(ctr, "securityContext.capabilities.add.0"), "NET_ADMIN");
	assert_string_equal(
	    str_at(ctr, "securityContext.capabilities.add.1"), "NET_RAW");
	assert_string_equal(
	    str_at(ctr, "securityContext.capabilities.drop.0"), "ALL");
	assert_int_equal(
	    json_integer_value(at(ctr, "securityContext.runAsUser")), 0);
	assert_true(json_is_false(at(ctr, "securityContext.runAsNonRoot")));
	assert_null(json_object_get(ctr, "restartPolicy"));

	ctr = container(pod, "initContainers", "weft-proxy");
	assert_string_equal(str_at(ctr, "restartPolicy"), "Always");
	assert_string_equal(str_at(ctr, "startupProbe.httpGet.path"), "/ready");
	assert_int_equal(
	    json_integer_value(at(ctr, "readinessProbe.httpGet.port")), 15020);
	assert_string_equal(
	    str_at(ctr, "readinessProbe.httpGet.path"), "/ready");
	assert_non_null(at(ctr, "lifecycle.preStop.exec.command"));
	assert_null(at(ctr, "lifecycle.postStart"));
	assert_int_equal(
	    json_integer_value(at(ctr, "securityContext.runAsUser")), 1337);
	assert_true(json_is_true(at(ctr, "securityContext.runAsNonRoot")));
	assert_true(
	    json_is_true(at(ctr, "securityContext.readOnlyRootFilesystem")));
	assert_string_equal(
	    str_at(ctr, "securityContext.capabilities.drop.0"), "ALL");
	assert_true(
	    json_is_false(at(ctr, "securityContext.allowPrivilegeEscalation")));
	assert_string_equal(str_at(ctr, "securityContext.seccompProfile.type"),
	    "RuntimeDefault");
	assert_string_equal(str_at(ctr, "ports.0.name"), "http-metrics");
	assert_string_equal(arg(ctr, "--workload"), "$(POD_NAME)");
	assert_string_equal(arg(ctr, "--namespace"), "$(POD_NAMESPACE)");
	assert_string_equal(arg(ctr, "--service-account"), "orders");
	assert_string_equal(arg(ctr, "--labels"),
	    "app=orders,pod-template-hash=7d9c6b5f4,"
	    "version=v1");
	names(json_object_get(ctr, "env"), buf, sizeof(buf));
	assert_string_equal(buf,
	    "POD_NAME,POD_NAMESPACE,POD_IP,"
	    "SERVICE_ACCOUNT");
	assert_string_equal(
	    str_at(ctr, "env.2.valueFrom.fieldRef.fieldPath"), "status.podIP");

	ctr = container(pod, "initContainers", "weft-sync");
	assert_string_equal(str_at(ctr, "restartPolicy"), "Always");
	assert_string_equal(str_at(ctr, "image"), INJECT_DEFAULT_PROXY_IMAGE);
	assert_string_equal(arg(ctr, "--server"), INJECT_DEFAULT_MESH_URL);
	assert_string_equal(
	    arg(ctr, "--kube-token-file"), "/var/run/secrets/weft.io/token");
	assert_string_equal(arg(ctr, "--ca"), "/etc/weft/ca.pem");
	assert_string_equal(arg(ctr, "--service-account"), "orders");
	assert_string_equal(arg(ctr, "--address"), "$(POD_IP)");
	/* UDP ports are not the mesh's. */
	assert_string_equal(arg(ctr, "--ports"), "http=8080,metrics=9090");
	assert_int_equal(
	    json_integer_value(at(ctr, "securityContext.runAsUser")), 1337);

	/* The token and CA volumes, as weft-sync's flags expect them. */
	assert_string_equal(str_at(pod,
				"spec.volumes.3.projected.sources.0."
				"serviceAccountToken.audience"),
	    "weft");
	assert_int_equal(json_integer_value(at(pod,
			     "spec.volumes.3.projected.sources.0."
			     "serviceAccountToken.expirationSeconds")),
	    3600);
	assert_string_equal(
	    str_at(pod, "spec.volumes.4.configMap.name"), "weft-ca");
	assert_string_equal(
	    str_at(pod, "spec.volumes.2.emptyDir.medium"), "Memory");

	json_decref(pod);
	json_decref(patch);
	json_decref(out);
	json_decref(review);
}

/* Without native sidecars: weft-proxy and weft-sync start first among
 * the containers, the app waits for the proxy's /ready; a pod with no
 * service account, no init containers, no volumes, no annotations. */
static void
test_ordinary(void **state)
{
	struct inject_conf c;
	json_t *review, *out, *patch, *pod, *ctr;
	const char *note;
	char buf[512];

	(void)state;
	inject_conf_init(&c);
	c.native_sidecars = 0;
	c.init_image = "registry.example/weft/init:1.2";
	c.mesh_url = "https://mesh.example:15010";
	c.log_level = "debug";
	review = load_review("review_plain_pod.json");
	out = answer(&c, review, &note);
	assert_string_equal(note, "injected");
	patch = answer_patch(out);
	assert_string_equal(str_at(patch, "0.path"), "/metadata/annotations");
	assert_string_equal(str_at(patch, "1.path"), "/spec/initContainers");
	assert_string_equal(str_at(patch, "2.path"), "/spec/containers/0");
	assert_string_equal(str_at(patch, "3.path"), "/spec/containers/1");
	assert_string_equal(str_at(patch, "4.path"), "/spec/volumes");
	assert_int_equal(json_array_size(patch), 5);
	pod = patched_pod(review, patch);
	names(at(pod, "spec.initContainers"), buf, sizeof(buf));
	assert_string_equal(buf, "weft-init");
	names(at(pod, "spec.containers"), buf, sizeof(buf));
	assert_string_equal(buf, "weft-proxy,weft-sync,curl");
	assert_string_equal(str_at(pod, "spec.initContainers.0.image"),
	    "registry.example/weft/init:1.2");
	ctr = container(pod, "containers", "weft-proxy");
	assert_null(json_object_get(ctr, "restartPolicy"));
	assert_null(json_object_get(ctr, "startupProbe"));
	assert_non_null(
	    strstr(str_at(ctr, "lifecycle.postStart.exec.command.2"),
		"http://127.0.0.1:15020/ready"));
	assert_string_equal(arg(ctr, "--service-account"), "default");
	assert_string_equal(arg(ctr, "--labels"), "run=curl");
	assert_string_equal(arg(ctr, "--log-level"), "debug");
	ctr = container(pod, "containers", "weft-sync");
	assert_string_equal(arg(ctr, "--server"), "https://mesh.example:15010");
	assert_null(arg(ctr, "--ports"));
	assert_non_null(
	    strstr(str_at(pod, "metadata.annotations.weft.io/status"),
		"\"nativeSidecars\":false"));
	json_decref(pod);
	json_decref(patch);
	json_decref(out);
	json_decref(review);
}

/* The per-pod annotation beats the server's setting, both ways. */
static void
test_native_annotation(void **state)
{
	struct inject_conf c;
	json_t *review, *out, *patch, *pod, *ann;
	const char *note;
	char buf[512];

	(void)state;
	inject_conf_init(&c);
	review = load_review("review_deployment_pod.json");
	ann = at(review, "request.object.metadata.annotations");
	json_object_set_new(
	    ann, "weft.io/native-sidecar", json_string("false"));
	out = answer(&c, review, &note);
	patch = answer_patch(out);
	pod = patched_pod(review, patch);
	names(at(pod, "spec.initContainers"), buf, sizeof(buf));
	assert_string_equal(buf, "weft-init,migrate");
	names(at(pod, "spec.containers"), buf, sizeof(buf));
	assert_string_equal(buf, "weft-proxy,weft-sync,orders");
	json_decref(pod);
	json_decref(patch);
	json_decref(out);

	c.native_sidecars = 0;
	json_object_del(ann, "weft.io/native-sidecar");
	json_object_set_new(
	    ann, "sidecar.istio.io/nativeSidecar", json_string("true"));
	out = answer(&c, review, &note);
	patch = answer_patch(out);
	pod = patched_pod(review, patch);
	names(at(pod, "spec.initContainers"), buf, sizeof(buf));
	assert_string_equal(buf, "weft-init,weft-proxy,weft-sync,migrate");
	json_decref(pod);
	json_decref(patch);
	json_decref(out);

	json_object_set_new(
	    ann, "sidecar.istio.io/nativeSidecar", json_string("yes"));
	out = answer(&c, review, &note);
	assert_true(json_is_false(at(out, "response.allowed")));
	assert_non_null(strstr(str_at(out, "response.status.message"),
	    "sidecar.istio.io/nativeSidecar"));
	json_decref(out);
	json_decref(review);
}

/* Allowed, with no patch at all. */
static void
expect_no_patch(const char *file, const char *want_note)
{
	struct inject_conf c;
	json_t *review, *out;
	const char *note;

	inject_conf_init(&c);
	review = load_review(file);
	out = answer(&c, review, &note);
	assert_true(json_is_true(at(out, "response.allowed")));
	assert_null(answer_patch(out));
	assert_null(at(out, "response.status"));
	assert_string_equal(note, want_note);
	json_decref(out);
	json_decref(review);
}

static void
test_skips(void **state)
{
	(void)state;
	expect_no_patch("review_optout_label.json", "opted out");
	expect_no_patch("review_istio_optout.json", "opted out");
	expect_no_patch("review_hostnetwork.json", "host network");
	expect_no_patch("review_injected.json", "already injected");
	expect_no_patch("review_deployment.json", "not a pod creation");
	expect_no_patch("review_update.json", "not a pod creation");
}

/* Opt-out by annotation "false", as by label "disabled". */
static void
test_optout_annotation(void **state)
{
	struct inject_conf c;
	json_t *review, *out;
	const char *note;

	(void)state;
	inject_conf_init(&c);
	review = load_review("review_plain_pod.json");
	json_object_set_new(at(review, "request.object.metadata"),
	    "annotations", json_pack("{s:s}", "weft.io/inject", "false"));
	out = answer(&c, review, &note);
	assert_string_equal(note, "opted out");
	assert_null(answer_patch(out));
	json_decref(out);
	json_decref(review);
}

/* A bad annotation refuses the pod, naming the annotation. */
static void
test_bad_annotation(void **state)
{
	static const char *const bad[][2] = {
	    {"traffic.weft.io/excludeOutboundIPRanges", "10.0.0.0/33"},
	    {"traffic.sidecar.istio.io/excludeOutboundPorts", "0"},
	    {"traffic.weft.io/includeInboundPorts", "80-90"},
	    {"traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/8"},
	};
	struct inject_conf c;
	json_t *review, *out, *ann;
	const char *note, *msg;
	size_t i;

	(void)state;
	inject_conf_init(&c);
	review = load_review("review_bad_ports.json");
	out = answer(&c, review, &note);
	assert_string_equal(note, "refused");
	assert_true(json_is_false(at(out, "response.allowed")));
	assert_null(answer_patch(out));
	assert_int_equal(
	    json_integer_value(at(out, "response.status.code")), 400);
	msg = str_at(out, "response.status.message");
	assert_non_null(strstr(msg,
	    "metadata.annotations."
	    "traffic.weft.io/excludeInboundPorts"));
	assert_non_null(strstr(msg, "\"http\" is not a port"));
	json_decref(out);

	ann = at(review, "request.object.metadata.annotations");
	json_object_del(ann, "traffic.weft.io/excludeInboundPorts");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object_set_new(ann, bad[i][0], json_string(bad[i][1]));
		out = answer(&c, review, &note);
		assert_true(json_is_false(at(out, "response.allowed")));
		assert_non_null(
		    strstr(str_at(out, "response.status.message"), bad[i][0]));
		json_decref(out);
		json_object_del(ann, bad[i][0]);
	}
	json_decref(review);
}

/* Inclusions: "*", a list, and "" (no inbound capture at all). */
static void
test_include_inbound(void **state)
{
	static const char *const cases[][2] = {
	    {"*", "*"}, {" 8080 ,9090", "8080,9090"}, {"", ""}};
	struct inject_conf c;
	json_t *review, *out, *patch, *pod, *ann;
	const char *note;
	size_t i;

	(void)state;
	inject_conf_init(&c);
	review = load_review("review_deployment_pod.json");
	ann = at(review, "request.object.metadata.annotations");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_object_set_new(ann,
		    "traffic.sidecar.istio.io/includeInboundPorts",
		    json_string(cases[i][0]));
		out = answer(&c, review, &note);
		patch = answer_patch(out);
		pod = patched_pod(review, patch);
		assert_string_equal(
		    arg(container(pod, "initContainers", "weft-init"),
			"--include-inbound-ports"),
		    cases[i][1]);
		json_decref(pod);
		json_decref(patch);
		json_decref(out);
	}
	json_decref(review);
}

/* What is not an AdmissionReview v1 is refused with a reason. */
static void
test_malformed(void **state)
{
	static const char *const docs[][2] = {
	    {"[]", "admission.k8s.io/v1"},
	    {"{\"apiVersion\":\"admission.k8s.io/v1beta1\","
	     "\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"x\"}}",
		"admission.k8s.io/v1"},
	    {"{\"apiVersion\":\"admission.k8s.io/v1\","
	     "\"kind\":\"AdmissionReview\",\"request\":{}}",
		"request.uid"},
	    {"{\"apiVersion\":\"admission.k8s.io/v1\","
	     "\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"x\","
	     "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
	     "\"operation\":\"CREATE\",\"object\":7}}",
		"request.object"},
	    {"{\"apiVersion\":\"admission.k8s.io/v1\","
	     "\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"x\","
	     "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"}}}",
		"request.operation"},
	};
	struct inject_conf c;
	const char *note;
	json_t *v, *out;
	char *cause;
	size_t i;

	(void)state;
	inject_conf_init(&c);
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		v = json_loads(docs[i][0], 0, NULL);
		assert_non_null(v);
		cause = NULL;
		out = inject_admission(&c, v, &note, &cause);
		assert_null(out);
		assert_non_null(cause);
		assert_non_null(strstr(cause, docs[i][1]));
		free(cause);
		json_decref(v);
	}
}

/* A pod without containers, or with a weft volume name taken. */
static void
test_bad_pod(void **state)
{
	struct inject_conf c;
	const char *why;
	json_t *pod, *patch;
	char *cause = NULL;

	(void)state;
	inject_conf_init(&c);
	pod = json_loads(
	    "{\"metadata\":{},\"spec\":{\"containers\":[]}}", 0, NULL);
	assert_int_equal(
	    inject_pod(&c, pod, &patch, &why, &cause), INJECT_ERROR);
	assert_non_null(strstr(cause, "spec.containers"));
	free(cause);
	json_decref(pod);
	pod = json_loads("{\"spec\":{\"containers\":[{\"name\":\"a\"}],"
			 "\"volumes\":[{\"name\":\"weft-ca\"}]}}",
	    0, NULL);
	assert_int_equal(
	    inject_pod(&c, pod, &patch, &why, &cause), INJECT_ERROR);
	assert_non_null(strstr(cause, "weft-ca"));
	free(cause);
	json_decref(pod);
	/* A label YAML typed as a number, as kubectl would refuse it. */
	pod = json_loads("{\"metadata\":{\"labels\":{\"version\":1}},"
			 "\"spec\":{\"containers\":[{\"name\":\"a\"}]}}",
	    0, NULL);
	assert_int_equal(
	    inject_pod(&c, pod, &patch, &why, &cause), INJECT_ERROR);
	assert_non_null(strstr(cause, "metadata.labels.version"));
	free(cause);
	json_decref(pod);
	/* No metadata at all: the patch makes it. */
	pod = json_loads(
	    "{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}", 0, NULL);
	assert_int_equal(
	    inject_pod(&c, pod, &patch, &why, &cause), INJECT_INJECTED);
	assert_int_equal(inject_patch_apply(pod, patch, &cause), 0);
	assert_non_null(str_at(pod, "metadata.annotations.weft.io/status"));
	json_decref(patch);
	json_decref(pod);
}

/* RFC 6902 appendix A's examples that use add, remove and replace. */
static void
test_patch_apply(void **state)
{
	static const char *const cases[][3] = {
	    {"{\"foo\":\"bar\"}",
		"[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
		"{\"baz\":\"qux\",\"foo\":\"bar\"}"},
	    {"{\"foo\":[\"bar\",\"baz\"]}",
		"[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
		"{\"foo\":[\"bar\",\"qux\",\"baz\"]}"},
	    {"{\"baz\":\"qux\",\"foo\":\"bar\"}",
		"[{\"op\":\"remove\",\"path\":\"/baz\"}]", "{\"foo\":\"bar\"}"},
	    {"{\"foo\":[\"bar\",\"qux\",\"baz\"]}",
		"[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
		"{\"foo\":[\"bar\",\"baz\"]}"},
	    {"{\"baz\":\"qux\",\"foo\":\"bar\"}",
		"[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
		"{\"baz\":\"boo\",\"foo\":\"bar\"}"},
	    {"{\"foo\":\"bar\"}",
		"[{\"op\":\"add\",\"path\":\"/child\",\"value\":"
		"{\"grandchild\":{}}}]",
		"{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}"},
	    {"{\"foo\":[\"bar\"]}",
		"[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\","
		"\"def\"]}]",
		"{\"foo\":[\"bar\",[\"abc\",\"def\"]]}"},
	    {"{\"a/b\":{\"m~n\":1}}",
		"[{\"op\":\"replace\",\"path\":\"/a~1b/m~0n\",\"value\":2}]",
		"{\"a/b\":{\"m~n\":2}}"},
	};
	static const char *const fails[][2] = {
	    {"{\"foo\":\"bar\"}",
		"[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]"},
	    {"{\"foo\":[\"bar\"]}",
		"[{\"op\":\"add\",\"path\":\"/foo/2\",\"value\":1}]"},
	    {"{\"foo\":[\"bar\"]}",
		"[{\"op\":\"remove\",\"path\":\"/foo/-\"}]"},
	    {"{\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]"},
	    {"{\"foo\":\"bar\"}",
		"[{\"op\":\"move\",\"from\":\"/foo\",\"path\":\"/x\"}]"},
	    {"{}", "[{\"op\":\"add\",\"path\":\"x\",\"value\":1}]"},
	};
	json_t *doc, *patch, *want;
	char *cause;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		doc = json_loads(cases[i][0], 0, NULL);
		patch = json_loads(cases[i][1], 0, NULL);
		want = json_loads(cases[i][2], 0, NULL);
		cause = NULL;
		if (inject_patch_apply(doc, patch, &cause) == -1)
			fail_msg("case %zu: %s", i, cause);
		assert_true(json_equal(doc, want));
		json_decref(doc);
		json_decref(patch);
		json_decref(want);
	}
	for (i = 0; i < sizeof(fails) / sizeof(fails[0]); i++) {
		doc = json_loads(fails[i][0], 0, NULL);
		patch = json_loads(fails[i][1], 0, NULL);
		cause = NULL;
		assert_int_equal(inject_patch_apply(doc, patch, &cause), -1);
		assert_non_null(cause);
		free(cause);
		json_decref(doc);
		json_decref(patch);
	}
}

/* Where the pod template of each workload kind is. */
static void
test_template(void **state)
{
	static const char *const kinds[][2] = {
	    {"Deployment", "spec.template"},
	    {"StatefulSet", "spec.template"},
	    {"DaemonSet", "spec.template"},
	    {"ReplicaSet", "spec.template"},
	    {"Job", "spec.template"},
	};
	json_t *doc, *t;
	const char *path;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		doc = json_pack("{s:s, s:{s:{s:{}}}}", "kind", kinds[i][0],
		    "spec", "template", "spec");
		assert_int_equal(inject_template(doc, &t, &path), 1);
		assert_string_equal(path, kinds[i][1]);
		assert_ptr_equal(t, at(doc, "spec.template"));
		json_decref(doc);
	}
	doc = json_pack("{s:s, s:{s:{s:{s:{}}}}}", "kind", "CronJob", "spec",
	    "jobTemplate", "spec", "template");
	assert_int_equal(inject_template(doc, &t, &path), 1);
	assert_string_equal(path, "spec.jobTemplate.spec.template");
	json_decref(doc);
	doc = json_pack("{s:s}", "kind", "Pod");
	assert_int_equal(inject_template(doc, &t, &path), 1);
	assert_ptr_equal(t, doc);
	assert_string_equal(path, "");
	json_decref(doc);
	doc = json_pack("{s:s, s:{}}", "kind", "Deployment", "spec");
	assert_int_equal(inject_template(doc, &t, &path), -1);
	assert_string_equal(path, "spec.template");
	json_decref(doc);
	doc = json_pack("{s:s}", "kind", "Service");
	assert_int_equal(inject_template(doc, &t, &path), 0);
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_native),
	    cmocka_unit_test(test_ordinary),
	    cmocka_unit_test(test_native_annotation),
	    cmocka_unit_test(test_skips),
	    cmocka_unit_test(test_optout_annotation),
	    cmocka_unit_test(test_bad_annotation),
	    cmocka_unit_test(test_include_inbound),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_bad_pod),
	    cmocka_unit_test(test_patch_apply),
	    cmocka_unit_test(test_template),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
