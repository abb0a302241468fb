/*
 * Kubernetes service discovery: how a Service and its EndpointSlices of
 * the Kubernetes API become a mesh service and its endpoints. Pure
 * functions over the API's JSON (jansson); the watch is kube_client.c,
 * the writes server_db.c.
 */
#ifndef WEFT_KUBE_DISCOVERY_H
#define WEFT_KUBE_DISCOVERY_H

#include <stddef.h>

#include <jansson.h>

#define KUBE_SERVICE_PREFIX "kubernetes/" /* services.name of a Service */
#define KUBE_CLUSTER_DOMAIN "cluster.local"

struct kube_port {
	int number;
	char *name;      /* "" when the Service port has none */
	char *protocol;  /* HTTP, HTTP2, GRPC, HTTPS, TLS or TCP */
	int target_port; /* 0: per endpoint, by name, from the slices */
};

struct kube_endpoint {
	char *name;    /* SERVICE/POD, or SERVICE/ADDRESS without a pod */
	char *address; /* the endpoint's first address */
	char *ports;   /* JSON object: Service port name -> port */
	char *labels;  /* JSON object */
	char *service_account;
	char *locality; /* "/ZONE", or "" */
	int ready;
};

struct kube_service {
	char *namespace;
	char *name;       /* the Service's name */
	char *host;       /* NAME.NAMESPACE.svc.cluster.local */
	char **addresses; /* spec.clusterIPs; none for a headless Service */
	size_t naddresses;
	struct kube_port *ports;
	size_t nports;
	struct kube_endpoint *endpoints;
	size_t nendpoints;
};

/* What the mesh knows of an endpoint beyond its EndpointSlice. */
struct kube_endpoint_info {
	int sidecar;                 /* 1: mTLS to it */
	const char *service_account; /* or NULL: "default" */
	const char *labels;          /* JSON object text, or NULL */
};

/*
 * Fills *info for the endpoint at address of namespace ns, backed by pod
 * (NULL without a pod): from the workload registered at that address
 * (weft-sync), or from the pod. The strings stay valid until the next
 * call. info is zeroed before the call.
 */
typedef void (*kube_info_fn)(const char *ns, const char *address,
    const char *pod, struct kube_endpoint_info *info, void *arg);

/*
 * The parts of a Pod that discovery uses (allocated): {"metadata":
 * {"namespace", "name", "resourceVersion", "labels"}, "serviceAccount",
 * "injected"}, injected when it has the annotation weft.io/status or a
 * container (or init container) named weft-proxy. NULL when pod has no
 * namespace or name.
 */
json_t *kube_pod_summary(json_t *pod);

/*
 * Maps a Service object and the EndpointSlices labelled with its name
 * (kubernetes.io/service-name) onto *out (allocated, kube_service_free).
 * info may be NULL (nothing known beyond the slices). Returns 1, 0 when the Service has no mesh
 * counterpart (ExternalName, no TCP port: *cause says why), or -1 with
 * *cause when the object is malformed.
 */
int kube_service_map(json_t *svc, json_t *const *slices, size_t nslices,
    kube_info_fn info, void *arg, struct kube_service **out, char **cause);
void kube_service_free(struct kube_service *ks);

/*
 * A canonical JSON text of ks (allocated): equal texts mean equal rows,
 * so that a Service whose mapping did not change is not written again.
 */
char *kube_service_text(const struct kube_service *ks);

/* metadata.namespace and metadata.name of an object, or NULL. */
const char *kube_object_namespace(json_t *obj);
const char *kube_object_name(json_t *obj);
/* The Service an EndpointSlice belongs to (its label), or NULL. */
const char *kube_slice_service(json_t *slice);

#endif
