/*
 * A Service of the Kubernetes API as a mesh service, as Istio's
 * Kubernetes registry maps it: one host NAME.NAMESPACE.svc.cluster.local
 * (a client's short names, NAME and NAME.NAMESPACE, resolve to it in the
 * proxy as for any service of the mesh), the cluster IPs as virtual IPs,
 * the TCP ports with the protocol of their appProtocol or name prefix;
 * the endpoints of its EndpointSlices, a not-ready one unhealthy, a
 * terminating one too (Istio does not send new requests to either).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "kube_discovery.h"
#include "log.h"
#include "xmalloc.h"

const char *
kube_object_namespace(json_t *obj)
{
	return json_string_value(
	    json_object_get(json_object_get(obj, "metadata"), "namespace"));
}

const char *
kube_object_name(json_t *obj)
{
	return json_string_value(
	    json_object_get(json_object_get(obj, "metadata"), "name"));
}

const char *
kube_slice_service(json_t *slice)
{
	return json_string_value(json_object_get(
	    json_object_get(json_object_get(slice, "metadata"), "labels"),
	    "kubernetes.io/service-name"));
}

/* Istio's protocol selection: appProtocol, then the name's prefix. */
static const char *
kube_protocol(const char *app, const char *name)
{
	static const struct {
		const char *prefix, *protocol;
	} names[] = {{"http2", "HTTP2"}, {"http", "HTTP"},
	    {"grpc-web", "GRPC-WEB"}, {"grpc", "GRPC"}, {"https", "HTTPS"},
	    {"tls", "TLS"}, {"tcp", "TCP"}, {"mongo", "MONGO"},
	    {"mysql", "MYSQL"}, {"redis", "REDIS"}};
	size_t i, n;

	if (app != NULL) {
		if (strcmp(app, "kubernetes.io/h2c") == 0)
			return "HTTP2";
		if (strcmp(app, "kubernetes.io/ws") == 0 ||
		    strcmp(app, "kubernetes.io/wss") == 0)
			return "HTTP";
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcasecmp(app, names[i].prefix) == 0)
				return names[i].protocol;
	}
	for (i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
		n = strlen(names[i].prefix);
		if (strncasecmp(name, names[i].prefix, n) == 0 &&
		    (name[n] == '\0' || name[n] == '-'))
			return names[i].protocol;
	}
	return "TCP";
}

/* Is this TCP (the default) or another transport the mesh does not carry? */
static int
kube_port_tcp(json_t *p)
{
	const char *proto = json_string_value(json_object_get(p, "protocol"));

	return proto == NULL || strcmp(proto, "TCP") == 0;
}

void
kube_service_free(struct kube_service *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->naddresses; i++)
		free(ks->addresses[i]);
	free(ks->addresses);
	for (i = 0; i < ks->nports; i++) {
		free(ks->ports[i].name);
		free(ks->ports[i].protocol);
	}
	free(ks->ports);
	for (i = 0; i < ks->nendpoints; i++) {
		free(ks->endpoints[i].name);
		free(ks->endpoints[i].address);
		free(ks->endpoints[i].ports);
		free(ks->endpoints[i].labels);
		free(ks->endpoints[i].service_account);
		free(ks->endpoints[i].locality);
	}
	free(ks->endpoints);
	free(ks->namespace);
	free(ks->name);
	free(ks->host);
	free(ks);
}

static int
kube_map_ports(struct kube_service *ks, json_t *ports, char **cause)
{
	json_t *p, *tp;
	size_t i;
	int number;

	ks->ports = xcalloc(json_array_size(ports) + 1, sizeof(*ks->ports));
	json_array_foreach(ports, i, p)
	{
		struct kube_port *kp;
		const char *name;

		number = (int)json_integer_value(json_object_get(p, "port"));
		if (number < 1 || number > 65535) {
			xasprintf(cause, "spec.ports[%zu].port: not a port", i);
			return -1;
		}
		if (!kube_port_tcp(p))
			continue;
		name = json_string_value(json_object_get(p, "name"));
		kp = &ks->ports[ks->nports++];
		kp->number = number;
		kp->name = xstrdup(name != NULL ? name : "");
		kp->protocol = xstrdup(kube_protocol(
		    json_string_value(json_object_get(p, "appProtocol")),
		    name));
		/* Absent: the same as port; a name: per endpoint. */
		tp = json_object_get(p, "targetPort");
		if (tp == NULL)
			kp->target_port = number;
		else if (json_is_integer(tp)) {
			kp->target_port = (int)json_integer_value(tp);
			if (kp->target_port < 1 || kp->target_port > 65535) {
				xasprintf(cause,
				    "spec.ports[%zu].targetPort: not a port",
				    i);
				return -1;
			}
		}
	}
	return 0;
}

/* The slice's port that serves Service port kp, or 0. */
static int
kube_slice_port(json_t *slice, const struct kube_port *kp)
{
	json_t *p;
	const char *name;
	size_t i;

	json_array_foreach(json_object_get(slice, "ports"), i, p)
	{
		name = json_string_value(json_object_get(p, "name"));
		if (!kube_port_tcp(p))
			continue;
		if (strcmp(name != NULL ? name : "", kp->name) == 0)
			return (int)json_integer_value(
			    json_object_get(p, "port"));
	}
	return 0;
}

/* conditions.X, where a missing condition counts as dflt. */
static int
kube_condition(json_t *ep, const char *which, int dflt)
{
	json_t *v = json_object_get(json_object_get(ep, "conditions"), which);

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static void
kube_map_endpoint(struct kube_service *ks, json_t *slice, json_t *ep,
    kube_info_fn info, void *arg, size_t *cap)
{
	struct kube_endpoint_info what;
	struct kube_endpoint *ke = NULL;
	json_t *ref, *ports, *labels;
	const char *address, *pod, *zone, *kind;
	char *name;
	size_t i;
	int port;

	address = json_string_value(
	    json_array_get(json_object_get(ep, "addresses"), 0));
	if (address == NULL)
		return;
	ref = json_object_get(ep, "targetRef");
	pod = json_string_value(json_object_get(ref, "name"));
	if (pod == NULL || json_object_get(ref, "kind") == NULL ||
	    strcmp(json_string_value(json_object_get(ref, "kind")) != NULL
		    ? json_string_value(json_object_get(ref, "kind"))
		    : "",
		"Pod") != 0)
		pod = address;
	xasprintf(&name, "%s/%s", ks->name, pod);
	/* An endpoint in two slices (while they change): the ready one. */
	for (i = 0; i < ks->nendpoints; i++)
		if (strcmp(ks->endpoints[i].name, name) == 0)
			break;
	if (i < ks->nendpoints) {
		if (ks->endpoints[i].ready || !kube_condition(ep, "ready", 1)) {
			free(name);
			return;
		}
		ke = &ks->endpoints[i];
		free(ke->name);
		free(ke->address);
		free(ke->ports);
		free(ke->labels);
		free(ke->service_account);
		free(ke->locality);
	} else {
		if (ks->nendpoints == *cap) {
			*cap = *cap == 0 ? 8 : *cap * 2;
			ks->endpoints = xreallocarray(
			    ks->endpoints, *cap, sizeof(*ks->endpoints));
		}
		ke = &ks->endpoints[ks->nendpoints++];
	}
	memset(ke, 0, sizeof(*ke));
	ke->name = name;
	ke->address = xstrdup(address);
	/* A nil ready condition means ready; terminating is not. */
	ke->ready = kube_condition(ep, "ready", 1) &&
	    !kube_condition(ep, "terminating", 0);
	ports = json_object();
	for (i = 0; i < ks->nports; i++) {
		port = kube_slice_port(slice, &ks->ports[i]);
		if (port > 0 && port <= 65535 && ks->ports[i].name[0] != '\0')
			json_object_set_new(
			    ports, ks->ports[i].name, json_integer(port));
	}
	ke->ports = json_dumps(ports, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(ports);
	memset(&what, 0, sizeof(what));
	kind = json_string_value(json_object_get(ref, "kind"));
	if (info != NULL)
		info(ks->namespace, address,
		    kind != NULL && strcmp(kind, "Pod") == 0 ? pod : NULL,
		    &what, arg);
	/* Its pod's labels, or its registered workload's: subsets. */
	labels = what.labels != NULL ? json_loads(what.labels, 0, NULL) : NULL;
	if (!json_is_object(labels)) {
		json_decref(labels);
		labels = json_object();
	}
	if (what.sidecar)
		json_object_set_new(
		    labels, "security.istio.io/tlsMode", json_string("istio"));
	else
		json_object_del(labels, "security.istio.io/tlsMode");
	ke->labels = json_dumps(labels, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(labels);
	ke->service_account = xstrdup(
	    what.service_account != NULL && what.service_account[0] != '\0'
		? what.service_account
		: "default");
	zone = json_string_value(json_object_get(ep, "zone"));
	if (zone == NULL)
		zone = json_string_value(json_object_get(
		    json_array_get(json_object_get(json_object_get(ep, "hints"),
				       "forZones"),
			0),
		    "name"));
	if (zone != NULL)
		xasprintf(&ke->locality, "/%s", zone);
	else
		ke->locality = xstrdup("");
}

json_t *
kube_pod_summary(json_t *pod)
{
	json_t *meta = json_object_get(pod, "metadata"), *spec, *c, *labels;
	const char *ns, *name, *rv, *sa;
	const char *lists[] = {"containers", "initContainers"};
	const char *cname;
	size_t i, j;
	int injected;

	ns = json_string_value(json_object_get(meta, "namespace"));
	name = json_string_value(json_object_get(meta, "name"));
	if (ns == NULL || name == NULL)
		return NULL;
	rv = json_string_value(json_object_get(meta, "resourceVersion"));
	spec = json_object_get(pod, "spec");
	sa = json_string_value(json_object_get(spec, "serviceAccountName"));
	injected = json_object_get(json_object_get(meta, "annotations"),
		       "weft.io/status") != NULL;
	for (i = 0; i < 2 && !injected; i++)
		json_array_foreach(json_object_get(spec, lists[i]), j, c)
		{
			cname = json_string_value(json_object_get(c, "name"));
			if (cname != NULL && strcmp(cname, "weft-proxy") == 0)
				injected = 1;
		}
	labels = json_object_get(meta, "labels");
	return json_pack("{s:{s:s, s:s, s:s?, s:o}, s:s, s:b}", "metadata",
	    "namespace", ns, "name", name, "resourceVersion", rv, "labels",
	    json_is_object(labels) ? json_deep_copy(labels) : json_object(),
	    "serviceAccount", sa != NULL ? sa : "default", "injected",
	    injected);
}

static int
kube_endpoint_cmp(const void *a, const void *b)
{
	const struct kube_endpoint *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int
kube_service_map(json_t *svc, json_t *const *slices, size_t nslices,
    kube_info_fn info, void *arg, struct kube_service **out, char **cause)
{
	struct kube_service *ks;
	json_t *spec, *ips, *ep;
	const char *ns, *name, *type, *ip, *fam;
	size_t i, j, cap = 0;

	*out = NULL;
	ns = kube_object_namespace(svc);
	name = kube_object_name(svc);
	spec = json_object_get(svc, "spec");
	if (ns == NULL || name == NULL || !json_is_object(spec)) {
		xasprintf(cause,
		    "Service without metadata.namespace, "
		    "metadata.name or spec");
		return -1;
	}
	type = json_string_value(json_object_get(spec, "type"));
	if (type != NULL && strcmp(type, "ExternalName") == 0) {
		xasprintf(cause, "Service %s/%s: ExternalName is not mapped",
		    ns, name);
		return 0;
	}
	ks = xcalloc(1, sizeof(*ks));
	ks->namespace = xstrdup(ns);
	ks->name = xstrdup(name);
	xasprintf(&ks->host, "%s.%s.svc." KUBE_CLUSTER_DOMAIN, name, ns);
	if (kube_map_ports(ks, json_object_get(spec, "ports"), cause) == -1) {
		char *c = *cause;

		xasprintf(cause, "Service %s/%s: %s", ns, name, c);
		free(c);
		kube_service_free(ks);
		return -1;
	}
	if (ks->nports == 0) {
		xasprintf(cause, "Service %s/%s: no TCP port", ns, name);
		kube_service_free(ks);
		return 0;
	}
	/* clusterIPs (dual stack) or the older clusterIP; "None": headless. */
	ips = json_object_get(spec, "clusterIPs");
	if (!json_is_array(ips) || json_array_size(ips) == 0) {
		ips = json_array();
		if (json_is_string(json_object_get(spec, "clusterIP")))
			json_array_append(
			    ips, json_object_get(spec, "clusterIP"));
	} else
		json_incref(ips);
	ks->addresses = xcalloc(json_array_size(ips) + 1, sizeof(char *));
	for (i = 0; i < json_array_size(ips); i++) {
		ip = json_string_value(json_array_get(ips, i));
		if (ip != NULL && ip[0] != '\0' && strcmp(ip, "None") != 0)
			ks->addresses[ks->naddresses++] = xstrdup(ip);
	}
	json_decref(ips);
	for (i = 0; i < nslices; i++) {
		fam = json_string_value(
		    json_object_get(slices[i], "addressType"));
		if (fam != NULL && strcmp(fam, "FQDN") == 0)
			continue;
		/* A named targetPort of an unnamed port: from the slice. */
		for (j = 0; j < ks->nports; j++)
			if (ks->ports[j].target_port == 0 &&
			    ks->ports[j].name[0] == '\0')
				ks->ports[j].target_port =
				    kube_slice_port(slices[i], &ks->ports[j]);
		json_array_foreach(json_object_get(slices[i], "endpoints"), j,
		    ep) kube_map_endpoint(ks, slices[i], ep, info, arg, &cap);
	}
	if (ks->nendpoints > 1)
		qsort(ks->endpoints, ks->nendpoints, sizeof(*ks->endpoints),
		    kube_endpoint_cmp);
	*out = ks;
	return 1;
}

char *
kube_service_text(const struct kube_service *ks)
{
	json_t *o, *a, *x;
	char *s;
	size_t i;

	o = json_pack("{s:s, s:s, s:s}", "namespace", ks->namespace, "name",
	    ks->name, "host", ks->host);
	a = json_array();
	for (i = 0; i < ks->naddresses; i++)
		json_array_append_new(a, json_string(ks->addresses[i]));
	json_object_set_new(o, "addresses", a);
	a = json_array();
	for (i = 0; i < ks->nports; i++)
		json_array_append_new(a,
		    json_pack("{s:i, s:s, s:s, s:i}", "number",
			ks->ports[i].number, "name", ks->ports[i].name,
			"protocol", ks->ports[i].protocol, "targetPort",
			ks->ports[i].target_port));
	json_object_set_new(o, "ports", a);
	a = json_array();
	for (i = 0; i < ks->nendpoints; i++) {
		const struct kube_endpoint *e = &ks->endpoints[i];

		x = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "name",
		    e->name, "address", e->address, "ports", e->ports, "labels",
		    e->labels, "serviceAccount", e->service_account, "locality",
		    e->locality, "ready", e->ready);
		json_array_append_new(a, x);
	}
	json_object_set_new(o, "endpoints", a);
	s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		fatalx("kube_service_text: out of memory");
	return s;
}
