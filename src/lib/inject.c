/*
 * Kubernetes sidecar injection (see inject.h). The mutation is built as
 * a JSON Patch only, and weftctl inject applies that same patch to the
 * template: the webhook and the offline command cannot disagree.
 *
 * What users of Istio expect, under weft's names: opt-out by label or
 * annotation (weft.io/inject, sidecar.istio.io/inject), the
 * traffic.weft.io and traffic.sidecar.istio.io annotations turned into
 * weft-init flags, a status annotation recording the injection, the
 * identity taken from the pod's service account.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "inject.h"
#include "xmalloc.h"

#define INJECT_VOLUMES 4

/* The annotations of a port list, weft's name then Istio's. */
struct inject_ports_ann {
	const char *weft;
	const char *istio;
	const char *flag; /* of weft-init */
	int star;         /* "*" allowed */
	int cidrs;        /* a list of networks, not of ports */
};

static const struct inject_ports_ann inject_traffic[] = {
    {"traffic.weft.io/includeInboundPorts",
	"traffic.sidecar.istio.io/includeInboundPorts",
	"--include-inbound-ports", 1, 0},
    {"traffic.weft.io/excludeInboundPorts",
	"traffic.sidecar.istio.io/excludeInboundPorts",
	"--exclude-inbound-ports", 0, 0},
    {"traffic.weft.io/excludeOutboundPorts",
	"traffic.sidecar.istio.io/excludeOutboundPorts",
	"--exclude-outbound-ports", 0, 0},
    {"traffic.weft.io/excludeOutboundIPRanges",
	"traffic.sidecar.istio.io/excludeOutboundIPRanges",
	"--exclude-outbound-cidrs", 0, 1},
};

/* Istio annotations weft-init has no flag for: refused unless "*". */
static const char *const inject_unsupported[] = {
    "traffic.weft.io/includeOutboundIPRanges",
    "traffic.sidecar.istio.io/includeOutboundIPRanges",
    "traffic.weft.io/includeOutboundPorts",
    "traffic.sidecar.istio.io/includeOutboundPorts",
};

void
inject_conf_init(struct inject_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->init_image = INJECT_DEFAULT_INIT_IMAGE;
	c->proxy_image = INJECT_DEFAULT_PROXY_IMAGE;
	c->mesh_url = INJECT_DEFAULT_MESH_URL;
	c->proxy_uid = INJECT_PROXY_UID;
	c->outbound_port = INJECT_OUTBOUND_PORT;
	c->inbound_port = INJECT_INBOUND_PORT;
	c->metrics_port = INJECT_METRICS_PORT;
	c->native_sidecars = 1;
}

/* metadata.<map>.<key> of pod: 1 with *value, 0 when absent, -1 bad. */
static int
inject_meta(const json_t *pod, const char *map, const char *key,
    const char **value, char **cause)
{
	json_t *m, *v;

	m = json_object_get(json_object_get(pod, "metadata"), map);
	if (m == NULL || json_is_null(m))
		return 0;
	if (!json_is_object(m)) {
		xasprintf(cause, "metadata.%s: expected a map", map);
		return -1;
	}
	if ((v = json_object_get(m, key)) == NULL)
		return 0;
	if (!json_is_string(v)) {
		xasprintf(cause, "metadata.%s.%s: expected a string", map, key);
		return -1;
	}
	*value = json_string_value(v);
	return 1;
}

/* A label or annotation key: 1 with *value (annotation first). */
static int
inject_label_or_annotation(
    const json_t *pod, const char *key, const char **value, char **cause)
{
	int rv;

	if ((rv = inject_meta(pod, "annotations", key, value, cause)) != 0)
		return rv;
	return inject_meta(pod, "labels", key, value, cause);
}

/* Whether the pod opted out of injection (-1: a bad metadata map). */
static int
inject_opted_out(const json_t *pod, char **cause)
{
	const char *v;
	int rv;

	if ((rv = inject_label_or_annotation(
		 pod, "weft.io/inject", &v, cause)) == -1)
		return -1;
	if (rv == 1 && (strcmp(v, "disabled") == 0 || strcmp(v, "false") == 0))
		return 1;
	if ((rv = inject_label_or_annotation(
		 pod, "sidecar.istio.io/inject", &v, cause)) == -1)
		return -1;
	return rv == 1 && strcmp(v, "false") == 0;
}

/* Whether an element (container, volume) of list is named name. */
static int
inject_has_named(const json_t *list, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(list, i, c)
	{
		if (json_is_string(json_object_get(c, "name")) &&
		    strcmp(json_string_value(json_object_get(c, "name")),
			name) == 0)
			return 1;
	}
	return 0;
}

/*
 * A port list ("80, 8080") or network list ("10.0.0.0/8,fd00::/8") as
 * weft-init reads it (no blanks), allocated; NULL with *cause.
 */
static char *
inject_list(const char *value, int star, int cidrs, char **cause)
{
	char *copy, *item, *save = NULL, *out, *slash, *end;
	unsigned char addr[16];
	size_t len = 0, n;
	long v;
	int af, max;

	if (star && strcmp(value, "*") == 0)
		return xstrdup("*");
	out = xcalloc(1, strlen(value) + 1);
	copy = xstrdup(value);
	for (item = strtok_r(copy, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		item += strspn(item, " \t");
		n = strlen(item);
		while (n > 0 && (item[n - 1] == ' ' || item[n - 1] == '\t'))
			item[--n] = '\0';
		if (n == 0)
			continue;
		if (cidrs) {
			if ((slash = strchr(item, '/')) != NULL)
				*slash = '\0';
			af = strchr(item, ':') != NULL ? AF_INET6 : AF_INET;
			max = af == AF_INET6 ? 128 : 32;
			v = max;
			if (slash != NULL)
				v = strtol(slash + 1, &end, 10);
			if (inet_pton(af, item, addr) != 1 ||
			    (slash != NULL &&
				(slash[1] == '\0' || *end != '\0' || v < 0 ||
				    v > max))) {
				if (slash != NULL)
					*slash = '/';
				xasprintf(cause,
				    "\"%s\" is not a network "
				    "(ADDRESS[/PREFIX])",
				    item);
				goto fail;
			}
			if (slash != NULL)
				*slash = '/';
		} else {
			v = strtol(item, &end, 10);
			if (*end != '\0' || v < 1 || v > 65535 ||
			    item[0] == '+' || item[0] == '-') {
				xasprintf(cause,
				    "\"%s\" is not a port (1-65535)", item);
				goto fail;
			}
		}
		if (len > 0)
			out[len++] = ',';
		memcpy(out + len, item, strlen(item));
		len += strlen(item);
	}
	free(copy);
	return out;
fail:
	free(copy);
	free(out);
	return NULL;
}

static void
inject_args_add(json_t *args, const char *flag, const char *value)
{
	json_array_append_new(args, json_string(flag));
	json_array_append_new(args, json_string(value));
}

static void
inject_args_int(json_t *args, const char *flag, int value)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%d", value);
	inject_args_add(args, flag, buf);
}

/* weft-init's arguments from the traffic annotations; NULL on error. */
static json_t *
inject_init_args(const struct inject_conf *c, const json_t *pod, char **cause)
{
	const struct inject_ports_ann *a;
	const char *v, *key;
	json_t *args;
	char *list, *why = NULL;
	size_t i;
	int rv;

	args = json_array();
	inject_args_int(args, "--proxy-uid", c->proxy_uid);
	inject_args_int(args, "--proxy-gid", c->proxy_uid);
	inject_args_int(args, "--outbound-port", c->outbound_port);
	inject_args_int(args, "--inbound-port", c->inbound_port);
	for (i = 0; i < sizeof(inject_traffic) / sizeof(inject_traffic[0]);
	     i++) {
		a = &inject_traffic[i];
		key = a->weft;
		if ((rv = inject_meta(pod, "annotations", key, &v, cause)) ==
		    0) {
			key = a->istio;
			rv = inject_meta(pod, "annotations", key, &v, cause);
		}
		if (rv == -1)
			goto fail;
		if (rv == 0)
			continue;
		if ((list = inject_list(v, a->star, a->cidrs, &why)) == NULL) {
			xasprintf(
			    cause, "metadata.annotations.%s: %s", key, why);
			free(why);
			goto fail;
		}
		/* An empty exclusion is none; an empty inclusion captures
		 * no inbound port at all. */
		if (*list != '\0' || a->star)
			inject_args_add(args, a->flag, list);
		free(list);
	}
	for (i = 0;
	     i < sizeof(inject_unsupported) / sizeof(inject_unsupported[0]);
	     i++) {
		key = inject_unsupported[i];
		if ((rv = inject_meta(pod, "annotations", key, &v, cause)) ==
		    -1)
			goto fail;
		if (rv == 1 && strcmp(v, "*") != 0) {
			xasprintf(cause,
			    "metadata.annotations.%s: not supported (weft "
			    "captures every outbound destination but the "
			    "excluded ones)",
			    key);
			goto fail;
		}
	}
	return args;
fail:
	json_decref(args);
	return NULL;
}

/* Native sidecars for this pod: 1 or 0, -1 on a bad annotation. */
static int
inject_native(const struct inject_conf *c, const json_t *pod, char **cause)
{
	static const char *const keys[] = {
	    "weft.io/native-sidecar", "sidecar.istio.io/nativeSidecar"};
	const char *v;
	size_t i;
	int rv;

	for (i = 0; i < 2; i++) {
		if ((rv = inject_meta(
			 pod, "annotations", keys[i], &v, cause)) == -1)
			return -1;
		if (rv == 0)
			continue;
		if (strcmp(v, "true") == 0)
			return 1;
		if (strcmp(v, "false") == 0)
			return 0;
		xasprintf(cause,
		    "metadata.annotations.%s: expected \"true\" or \"false\"",
		    keys[i]);
		return -1;
	}
	return c->native_sidecars;
}

/*
 * "k=v,..." of the pod's labels ("" when none), allocated; NULL with
 * *cause when one could not be a Kubernetes label.
 */
static char *
inject_labels(const json_t *pod, char **cause)
{
	json_t *labels, *v;
	const char *k, *value;
	char *out = xstrdup(""), *s;

	labels = json_object_get(json_object_get(pod, "metadata"), "labels");
	json_object_foreach(labels, k, v)
	{
		value = json_string_value(v);
		if (value == NULL || *k == '\0' || strpbrk(k, ",= ") != NULL ||
		    strpbrk(value, ",= ") != NULL) {
			xasprintf(cause,
			    "metadata.labels.%s: expected a label (a string "
			    "without \",\", \"=\" or blanks)",
			    k);
			free(out);
			return NULL;
		}
		xasprintf(
		    &s, "%s%s%s=%s", out, *out != '\0' ? "," : "", k, value);
		free(out);
		out = s;
	}
	return out;
}

/*
 * "name=port,port,..." of the TCP ports of the pod's containers ("" when
 * none), allocated; NULL with *cause when a port is malformed.
 */
static char *
inject_ports(const json_t *spec, char **cause)
{
	json_t *ctr, *ports, *p, *name, *proto;
	json_int_t port;
	size_t i, j;
	char *out = xstrdup(""), *s, num[16];

	json_array_foreach(json_object_get(spec, "containers"), i, ctr)
	{
		ports = json_object_get(ctr, "ports");
		if (ports != NULL && !json_is_array(ports)) {
			xasprintf(cause,
			    "spec.containers[%zu].ports: expected a list", i);
			goto fail;
		}
		json_array_foreach(ports, j, p)
		{
			port = json_integer_value(
			    json_object_get(p, "containerPort"));
			if (!json_is_integer(
				json_object_get(p, "containerPort")) ||
			    port < 1 || port > 65535) {
				xasprintf(cause,
				    "spec.containers[%zu].ports[%zu]."
				    "containerPort: expected a port (1-65535)",
				    i, j);
				goto fail;
			}
			proto = json_object_get(p, "protocol");
			if (json_is_string(proto) &&
			    strcmp(json_string_value(proto), "TCP") != 0)
				continue;
			name = json_object_get(p, "name");
			snprintf(num, sizeof(num), "%lld", (long long)port);
			xasprintf(&s, "%s%s%s%s%s", out,
			    *out != '\0' ? "," : "",
			    json_is_string(name) ? json_string_value(name) : "",
			    json_is_string(name) ? "=" : "", num);
			free(out);
			out = s;
		}
	}
	return out;
fail:
	free(out);
	return NULL;
}

/* The downward API variables both sidecars have. */
static json_t *
inject_env(void)
{
	static const char *const vars[][2] = {
	    {"POD_NAME", "metadata.name"},
	    {"POD_NAMESPACE", "metadata.namespace"},
	    {"POD_IP", "status.podIP"},
	    {"SERVICE_ACCOUNT", "spec.serviceAccountName"},
	};
	json_t *env = json_array();
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		json_array_append_new(env,
		    json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", vars[i][0],
			"valueFrom", "fieldRef", "apiVersion", "v1",
			"fieldPath", vars[i][1]));
	return env;
}

static json_t *
inject_sidecar_security(const struct inject_conf *c)
{
	/* What the "restricted" Pod Security Standard asks for. */
	return json_pack("{s:i, s:i, s:b, s:b, s:b, s:b, s:{s:[s]}, s:{s:s}}",
	    "runAsUser", c->proxy_uid, "runAsGroup", c->proxy_uid,
	    "runAsNonRoot", 1, "readOnlyRootFilesystem", 1,
	    "allowPrivilegeEscalation", 0, "privileged", 0, "capabilities",
	    "drop", "ALL", "seccompProfile", "type", "RuntimeDefault");
}

static json_t *
inject_probe(
    const struct inject_conf *c, const char *path, int period, int failures)
{
	return json_pack("{s:{s:s, s:i}, s:i, s:i, s:i}", "httpGet", "path",
	    path, "port", c->metrics_port, "periodSeconds", period,
	    "timeoutSeconds", 3, "failureThreshold", failures);
}

static json_t *
inject_init_container(const struct inject_conf *c, json_t *args)
{
	return json_pack("{s:s, s:s, s:[s], s:o, s:{s:i, s:i, s:b, s:b, s:b, "
			 "s:{s:[s, s], s:[s]}}}",
	    "name", "weft-init", "image", c->init_image, "command", "weft-init",
	    "args", args, "securityContext", "runAsUser", 0, "runAsGroup", 0,
	    "runAsNonRoot", 0, "privileged", 0, "allowPrivilegeEscalation", 0,
	    "capabilities", "add", "NET_ADMIN", "NET_RAW", "drop", "ALL");
}

static json_t *
inject_proxy_container(
    const struct inject_conf *c, int native, const char *sa, const char *labels)
{
	json_t *ctr, *args, *lifecycle;
	char *wait;

	args = json_pack("[s, s, s, s, s, s]", "--workload", "$(POD_NAME)",
	    "--namespace", "$(POD_NAMESPACE)", "--service-account", sa);
	if (*labels != '\0')
		inject_args_add(args, "--labels", labels);
	if (c->outbound_port != INJECT_OUTBOUND_PORT)
		inject_args_int(args, "--outbound-port", c->outbound_port);
	if (c->inbound_port != INJECT_INBOUND_PORT)
		inject_args_int(args, "--inbound-port", c->inbound_port);
	if (c->metrics_port != INJECT_METRICS_PORT)
		inject_args_int(args, "--metrics-port", c->metrics_port);
	if (c->log_level != NULL)
		inject_args_add(args, "--log-level", c->log_level);
	/*
	 * weft-proxy drains on SIGTERM; the preStop pause first lets the
	 * endpoints of the pod be withdrawn while it still serves.
	 */
	lifecycle = json_pack("{s:{s:{s:[s, s]}}}", "preStop", "exec",
	    "command", "sleep", INJECT_PRESTOP_SEC);
	if (!native) {
		/* Containers start in order: the app waits for this hook. */
		xasprintf(&wait,
		    "for i in $(seq 1 600); do "
		    "curl -fs -o /dev/null http://127.0.0.1:%d/ready && "
		    "exit 0; sleep 0.1; done; exit 1",
		    c->metrics_port);
		json_object_set_new(lifecycle, "postStart",
		    json_pack("{s:{s:[s, s, s]}}", "exec", "command", "sh",
			"-c", wait));
		free(wait);
	}
	ctr = json_pack("{s:s, s:s, s:[s], s:o, s:o, s:[{s:s, s:i, s:s}]}",
	    "name", "weft-proxy", "image", c->proxy_image, "command",
	    "weft-proxy", "args", args, "env", inject_env(), "ports", "name",
	    "http-metrics", "containerPort", c->metrics_port, "protocol",
	    "TCP");
	if (native) {
		json_object_set_new(
		    ctr, "restartPolicy", json_string("Always"));
		json_object_set_new(
		    ctr, "startupProbe", inject_probe(c, "/ready", 1, 600));
	}
	json_object_set_new(
	    ctr, "readinessProbe", inject_probe(c, "/ready", 2, 30));
	json_object_set_new(
	    ctr, "livenessProbe", inject_probe(c, "/live", 10, 6));
	json_object_set_new(ctr, "lifecycle", lifecycle);
	json_object_set_new(ctr, "securityContext", inject_sidecar_security(c));
	json_object_set_new(ctr, "volumeMounts",
	    json_pack("[{s:s, s:s}, {s:s, s:s}]", "name", "weft-data",
		"mountPath", INJECT_DATA_DIR, "name", "weft-certs", "mountPath",
		INJECT_CERTS_DIR));
	return ctr;
}

static json_t *
inject_sync_container(const struct inject_conf *c, int native, const char *sa,
    const char *labels, const char *ports)
{
	json_t *ctr, *args;

	args = json_pack("[s, s, s, s, s, s, s, s, s, s, s, s, s, s]",
	    "--server", c->mesh_url, "--kube-token-file", INJECT_TOKEN_FILE,
	    "--ca", INJECT_CA_FILE, "--workload", "$(POD_NAME)", "--namespace",
	    "$(POD_NAMESPACE)", "--service-account", sa, "--address",
	    "$(POD_IP)");
	if (*labels != '\0')
		inject_args_add(args, "--labels", labels);
	if (*ports != '\0')
		inject_args_add(args, "--ports", ports);
	if (c->log_level != NULL)
		inject_args_add(args, "--log-level", c->log_level);
	ctr = json_pack("{s:s, s:s, s:[s], s:o, s:o}", "name", "weft-sync",
	    "image", c->proxy_image, "command", "weft-sync", "args", args,
	    "env", inject_env());
	if (native)
		json_object_set_new(
		    ctr, "restartPolicy", json_string("Always"));
	json_object_set_new(ctr, "securityContext", inject_sidecar_security(c));
	json_object_set_new(ctr, "volumeMounts",
	    json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s, s:b}, "
		      "{s:s, s:s, s:b}]",
		"name", "weft-data", "mountPath", INJECT_DATA_DIR, "name",
		"weft-certs", "mountPath", INJECT_CERTS_DIR, "name",
		"weft-token", "mountPath", INJECT_TOKEN_DIR, "readOnly", 1,
		"name", "weft-ca", "mountPath", INJECT_CA_DIR, "readOnly", 1));
	return ctr;
}

static json_t *
inject_volumes(void)
{
	return json_pack("[{s:s, s:{}}, {s:s, s:{s:s}}, "
			 "{s:s, s:{s:[{s:{s:s, s:i, s:s}}]}}, "
			 "{s:s, s:{s:s, s:[{s:s, s:s}]}}]",
	    "name", "weft-data", "emptyDir", "name", "weft-certs", "emptyDir",
	    "medium", "Memory", "name", "weft-token", "projected", "sources",
	    "serviceAccountToken", "audience", "weft", "expirationSeconds",
	    3600, "path", "token", "name", "weft-ca", "configMap", "name",
	    "weft-ca", "items", "key", "ca.pem", "path", "ca.pem");
}

static void
inject_op(json_t *patch, const char *path, json_t *value)
{
	json_array_append_new(patch,
	    json_pack(
		"{s:s, s:s, s:o}", "op", "add", "path", path, "value", value));
}

/* Adds each of items (stolen) to the array at path (absent: made). */
static void
inject_op_prepend(json_t *patch, const json_t *spec, const char *field,
    json_t *items, int append)
{
	json_t *v;
	size_t i;
	char path[64];

	if (!json_is_array(json_object_get(spec, field)) ||
	    json_array_size(json_object_get(spec, field)) == 0) {
		snprintf(path, sizeof(path), "/spec/%s", field);
		inject_op(patch, path, items);
		return;
	}
	json_array_foreach(items, i, v)
	{
		if (append)
			snprintf(path, sizeof(path), "/spec/%s/-", field);
		else
			snprintf(path, sizeof(path), "/spec/%s/%zu", field, i);
		inject_op(patch, path, json_incref(v));
	}
	json_decref(items);
}

/* Checks the parts of spec the patch builds on. */
static int
inject_check_spec(const json_t *spec, char **cause)
{
	static const char *const names[INJECT_VOLUMES] = {
	    "weft-data", "weft-certs", "weft-token", "weft-ca"};
	json_t *v;
	size_t i;

	if (!json_is_object(spec)) {
		xasprintf(cause, "spec: expected a map");
		return -1;
	}
	if (!json_is_array(json_object_get(spec, "containers")) ||
	    json_array_size(json_object_get(spec, "containers")) == 0) {
		xasprintf(cause,
		    "spec.containers: expected a list of "
		    "containers");
		return -1;
	}
	v = json_object_get(spec, "initContainers");
	if (v != NULL && !json_is_null(v) && !json_is_array(v)) {
		xasprintf(cause, "spec.initContainers: expected a list");
		return -1;
	}
	v = json_object_get(spec, "volumes");
	if (v != NULL && !json_is_null(v) && !json_is_array(v)) {
		xasprintf(cause, "spec.volumes: expected a list");
		return -1;
	}
	for (i = 0; i < INJECT_VOLUMES; i++) {
		if (inject_has_named(v, names[i])) {
			xasprintf(cause,
			    "spec.volumes: a volume is already named %s",
			    names[i]);
			return -1;
		}
	}
	return 0;
}

/* The service account of the pod (borrowed); NULL when malformed. */
static const char *
inject_service_account(const json_t *spec, char **cause)
{
	static const char *const keys[] = {
	    "serviceAccountName", "serviceAccount"};
	json_t *v;
	size_t i;

	for (i = 0; i < 2; i++) {
		v = json_object_get(spec, keys[i]);
		if (v == NULL || json_is_null(v))
			continue;
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > 253) {
			xasprintf(cause, "spec.%s: expected a name", keys[i]);
			return NULL;
		}
		return json_string_value(v);
	}
	return "default";
}

/* The value of the weft.io/status annotation. */
static char *
inject_status(int native)
{
	json_t *st;
	char *s;

	st = json_pack("{s:s, s:[s], s:[s, s], s:[s, s, s, s], s:b}", "version",
	    PACKAGE_VERSION, "initContainers", "weft-init", "containers",
	    "weft-proxy", "weft-sync", "volumes", "weft-data", "weft-certs",
	    "weft-token", "weft-ca", "nativeSidecars", native);
	s = json_dumps(st, JSON_COMPACT);
	json_decref(st);
	return s;
}

enum inject_result
inject_pod(const struct inject_conf *c, const json_t *pod, json_t **patch,
    const char **why, char **cause)
{
	const json_t *spec, *meta;
	json_t *p, *init_args, *inits, *ctrs, *v;
	const char *sa, *status;
	char *labels = NULL, *ports = NULL, *st;
	int native, rv;

	*patch = NULL;
	*why = NULL;
	*cause = NULL;
	if (!json_is_object(pod)) {
		xasprintf(cause, "expected a map");
		return INJECT_ERROR;
	}
	meta = json_object_get(pod, "metadata");
	if (meta != NULL && !json_is_null(meta) && !json_is_object(meta)) {
		xasprintf(cause, "metadata: expected a map");
		return INJECT_ERROR;
	}
	spec = json_object_get(pod, "spec");
	if ((rv = inject_opted_out(pod, cause)) == -1)
		return INJECT_ERROR;
	if (rv == 1) {
		*why = "opted out";
		return INJECT_SKIPPED;
	}
	if (json_is_true(json_object_get(spec, "hostNetwork"))) {
		*why = "host network";
		return INJECT_SKIPPED;
	}
	if ((rv = inject_meta(pod, "annotations", INJECT_STATUS_ANNOTATION,
		 &status, cause)) == -1)
		return INJECT_ERROR;
	if (rv == 1 ||
	    inject_has_named(
		json_object_get(spec, "containers"), "weft-proxy") ||
	    inject_has_named(
		json_object_get(spec, "initContainers"), "weft-proxy")) {
		*why = "already injected";
		return INJECT_SKIPPED;
	}
	if (inject_check_spec(spec, cause) == -1 ||
	    (sa = inject_service_account(spec, cause)) == NULL ||
	    (native = inject_native(c, pod, cause)) == -1 ||
	    (ports = inject_ports(spec, cause)) == NULL ||
	    (labels = inject_labels(pod, cause)) == NULL ||
	    (init_args = inject_init_args(c, pod, cause)) == NULL) {
		free(ports);
		free(labels);
		return INJECT_ERROR;
	}

	p = json_array();
	st = inject_status(native);
	if (!json_is_object(meta))
		inject_op(p, "/metadata",
		    json_pack("{s:{s:s}}", "annotations",
			INJECT_STATUS_ANNOTATION, st));
	else if (!json_is_object(v = json_object_get(meta, "annotations")))
		inject_op(p, "/metadata/annotations",
		    json_pack("{s:s}", INJECT_STATUS_ANNOTATION, st));
	else
		inject_op(p, "/metadata/annotations/weft.io~1status",
		    json_string(st));
	free(st);

	/*
	 * weft-init first, so that the app's own init containers already
	 * run captured; native sidecars next, so that those find a proxy.
	 */
	inits = json_pack("[o]", inject_init_container(c, init_args));
	ctrs =
	    json_pack("[o, o]", inject_proxy_container(c, native, sa, labels),
		inject_sync_container(c, native, sa, labels, ports));
	if (native) {
		json_array_extend(inits, ctrs);
		json_decref(ctrs);
		inject_op_prepend(p, spec, "initContainers", inits, 0);
	} else {
		inject_op_prepend(p, spec, "initContainers", inits, 0);
		inject_op_prepend(p, spec, "containers", ctrs, 0);
	}
	inject_op_prepend(p, spec, "volumes", inject_volumes(), 1);
	free(labels);
	free(ports);
	*patch = p;
	return INJECT_INJECTED;
}

/*
 * The parent of an RFC 6901 pointer and its last token (unescaped,
 * allocated in *last); NULL with *cause when a step is missing.
 */
static json_t *
inject_pointer_parent(json_t *doc, const char *ptr, char **last, char **cause)
{
	char *copy, *tok, *next, *r, *w, *end;
	json_t *cur = doc;
	long idx;

	*last = NULL;
	if (ptr[0] != '/') {
		xasprintf(cause, "path \"%s\": expected /...", ptr);
		return NULL;
	}
	copy = xstrdup(ptr + 1);
	for (tok = copy;; tok = next + 1) {
		next = strchr(tok, '/');
		if (next != NULL)
			*next = '\0';
		for (r = w = tok; *r != '\0'; r++, w++) {
			if (r[0] == '~' && r[1] == '1')
				*w = '/', r++;
			else if (r[0] == '~' && r[1] == '0')
				*w = '~', r++;
			else
				*w = *r;
		}
		*w = '\0';
		if (next == NULL)
			break;
		if (json_is_object(cur))
			cur = json_object_get(cur, tok);
		else if (json_is_array(cur)) {
			idx = strtol(tok, &end, 10);
			cur = *tok != '\0' && *end == '\0' && idx >= 0
			    ? json_array_get(cur, (size_t)idx)
			    : NULL;
		} else
			cur = NULL;
		if (cur == NULL) {
			xasprintf(cause, "path \"%s\": no \"%s\"", ptr, tok);
			free(copy);
			return NULL;
		}
	}
	*last = xstrdup(tok);
	free(copy);
	return cur;
}

/* The index token of an array: 0..size (size only when end is allowed). */
static int
inject_index(const char *tok, size_t size, int end_ok, size_t *idx)
{
	char *end;
	long v;

	if (end_ok && strcmp(tok, "-") == 0) {
		*idx = size;
		return 0;
	}
	v = strtol(tok, &end, 10);
	if (*tok == '\0' || *end != '\0' || v < 0 ||
	    (tok[0] == '0' && tok[1] != '\0'))
		return -1;
	if ((size_t)v > size || (!end_ok && (size_t)v == size))
		return -1;
	*idx = (size_t)v;
	return 0;
}

int
inject_patch_apply(json_t *doc, const json_t *patch, char **cause)
{
	json_t *op, *parent, *value;
	const char *kind, *path;
	char *last = NULL;
	size_t i, idx;
	int add, rc;

	if (!json_is_array(patch)) {
		xasprintf(cause, "a patch is a list of operations");
		return -1;
	}
	json_array_foreach(patch, i, op)
	{
		kind = json_string_value(json_object_get(op, "op"));
		path = json_string_value(json_object_get(op, "path"));
		value = json_object_get(op, "value");
		if (kind == NULL || path == NULL) {
			xasprintf(cause, "operation %zu: no op or path", i);
			return -1;
		}
		add = strcmp(kind, "add") == 0;
		if ((add || strcmp(kind, "replace") == 0) && value == NULL) {
			xasprintf(cause, "operation %zu: no value", i);
			return -1;
		}
		if (!add && strcmp(kind, "replace") != 0 &&
		    strcmp(kind, "remove") != 0) {
			xasprintf(cause,
			    "operation %zu: op \"%s\" is not "
			    "supported",
			    i, kind);
			return -1;
		}
		if ((parent = inject_pointer_parent(doc, path, &last, cause)) ==
		    NULL)
			return -1;
		rc = -1;
		if (json_is_object(parent)) {
			if (add)
				rc = json_object_set(parent, last, value);
			else if (json_object_get(parent, last) != NULL)
				rc = strcmp(kind, "remove") == 0
				    ? json_object_del(parent, last)
				    : json_object_set(parent, last, value);
		} else if (json_is_array(parent) &&
		    inject_index(last, json_array_size(parent), add, &idx) ==
			0) {
			if (add)
				rc = json_array_insert(parent, idx, value);
			else if (strcmp(kind, "remove") == 0)
				rc = json_array_remove(parent, idx);
			else
				rc = json_array_set(parent, idx, value);
		}
		free(last);
		if (rc == -1) {
			xasprintf(cause, "operation %zu (%s %s): no such place",
			    i, kind, path);
			return -1;
		}
	}
	return 0;
}

int
inject_template(json_t *doc, json_t **tmpl, const char **path)
{
	static const char *const workloads[] = {"Deployment", "StatefulSet",
	    "DaemonSet", "ReplicaSet", "ReplicationController", "Job"};
	const char *kind;
	json_t *t;
	size_t i;

	*tmpl = NULL;
	*path = NULL;
	kind = json_string_value(json_object_get(doc, "kind"));
	if (kind == NULL)
		return 0;
	if (strcmp(kind, "Pod") == 0) {
		*tmpl = doc;
		*path = "";
		return 1;
	}
	if (strcmp(kind, "CronJob") == 0) {
		*path = "spec.jobTemplate.spec.template";
		t = json_object_get(
		    json_object_get(
			json_object_get(
			    json_object_get(doc, "spec"), "jobTemplate"),
			"spec"),
		    "template");
	} else {
		for (i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
			if (strcmp(kind, workloads[i]) == 0)
				break;
		if (i == sizeof(workloads) / sizeof(workloads[0]))
			return 0;
		*path = "spec.template";
		t = json_object_get(json_object_get(doc, "spec"), "template");
	}
	if (!json_is_object(t))
		return -1;
	*tmpl = t;
	return 1;
}

/* Whether request.kind is a core v1 Pod. */
static int
inject_is_pod(const json_t *kind)
{
	const char *g, *v, *k;

	g = json_string_value(json_object_get(kind, "group"));
	v = json_string_value(json_object_get(kind, "version"));
	k = json_string_value(json_object_get(kind, "kind"));
	return g != NULL && *g == '\0' && v != NULL && strcmp(v, "v1") == 0 &&
	    k != NULL && strcmp(k, "Pod") == 0;
}

json_t *
inject_admission(const struct inject_conf *c, const json_t *review,
    const char **note, char **cause)
{
	const char *av, *kind, *uid, *op, *why = NULL;
	json_t *req, *out, *resp, *patch = NULL, *obj;
	enum inject_result r;
	char *text, *b64, *err = NULL;

	*note = NULL;
	*cause = NULL;
	av = json_string_value(json_object_get(review, "apiVersion"));
	kind = json_string_value(json_object_get(review, "kind"));
	req = json_object_get(review, "request");
	if (!json_is_object(review) || av == NULL || kind == NULL ||
	    strcmp(av, "admission.k8s.io/v1") != 0 ||
	    strcmp(kind, "AdmissionReview") != 0) {
		xasprintf(cause,
		    "expected an AdmissionReview of apiVersion "
		    "admission.k8s.io/v1");
		return NULL;
	}
	uid = json_string_value(json_object_get(req, "uid"));
	if (!json_is_object(req) || uid == NULL || *uid == '\0') {
		xasprintf(cause, "request.uid: missing");
		return NULL;
	}
	if (!json_is_object(json_object_get(req, "kind"))) {
		xasprintf(cause, "request.kind: expected a map");
		return NULL;
	}
	op = json_string_value(json_object_get(req, "operation"));
	if (op == NULL) {
		xasprintf(cause, "request.operation: missing");
		return NULL;
	}
	resp = json_pack("{s:s, s:b}", "uid", uid, "allowed", 1);
	out = json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1",
	    "kind", "AdmissionReview", "response", resp);
	obj = json_object_get(req, "object");
	if (!inject_is_pod(json_object_get(req, "kind")) ||
	    strcmp(op, "CREATE") != 0) {
		*note = "not a pod creation";
		return out;
	}
	if (!json_is_object(obj)) {
		json_decref(out);
		xasprintf(cause, "request.object: expected a Pod");
		return NULL;
	}
	r = inject_pod(c, obj, &patch, &why, &err);
	if (r == INJECT_SKIPPED) {
		*note = why;
		return out;
	}
	if (r == INJECT_ERROR) {
		json_object_set_new(resp, "allowed", json_false());
		xasprintf(&text, "weft injection: %s", err);
		json_object_set_new(resp, "status",
		    json_pack("{s:i, s:s}", "code", 400, "message", text));
		free(text);
		free(err);
		*note = "refused";
		return out;
	}
	text = json_dumps(patch, JSON_COMPACT);
	json_decref(patch);
	if (text == NULL || (b64 = base64_encode(text, strlen(text))) == NULL) {
		free(text);
		json_decref(out);
		xasprintf(cause, "out of memory");
		return NULL;
	}
	free(text);
	json_object_set_new(resp, "patchType", json_string("JSONPatch"));
	json_object_set_new(resp, "patch", json_string(b64));
	free(b64);
	*note = "injected";
	return out;
}
