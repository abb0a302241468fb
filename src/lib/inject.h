/*
 * Kubernetes sidecar injection: the one implementation of the mutation
 * of a pod (a Pod, or the pod template of a workload), used by
 * weft-server's admission webhook and by weftctl inject. It adds the
 * weft-init init container and the weft-proxy and weft-sync sidecars
 * (native sidecars, or ordinary containers started first), their
 * volumes and the weft.io/status annotation, as an RFC 6902 JSON Patch
 * against the pod as given; inject_patch_apply applies such a patch.
 */
#ifndef WEFT_INJECT_H
#define WEFT_INJECT_H

#include <jansson.h>

#define INJECT_DEFAULT_INIT_IMAGE  "weft/init:latest"
#define INJECT_DEFAULT_PROXY_IMAGE "weft/sidecar:latest"
#define INJECT_DEFAULT_MESH_URL    "https://weft-server.weft-system.svc:15010"
#define INJECT_PROXY_UID           1337
#define INJECT_OUTBOUND_PORT       15001
#define INJECT_INBOUND_PORT        15006
#define INJECT_METRICS_PORT        15020
/* Seconds the proxy keeps serving after the pod is told to stop. */
#define INJECT_PRESTOP_SEC "5"

/* Paths inside the sidecars (weft-sync's agreed command line). */
#define INJECT_TOKEN_DIR  "/var/run/secrets/weft.io"
#define INJECT_TOKEN_FILE INJECT_TOKEN_DIR "/token"
#define INJECT_CA_DIR     "/etc/weft"
#define INJECT_CA_FILE    INJECT_CA_DIR "/ca.pem"
#define INJECT_DATA_DIR   "/var/lib/weft"
#define INJECT_CERTS_DIR  INJECT_DATA_DIR "/certs"

#define INJECT_STATUS_ANNOTATION "weft.io/status"

struct inject_conf {
	const char *init_image;  /* runs weft-init */
	const char *proxy_image; /* runs weft-proxy and weft-sync */
	const char *mesh_url;    /* weft-server, for weft-sync */
	const char *log_level;   /* of both sidecars, or NULL: theirs */
	int proxy_uid;           /* and gid */
	int outbound_port;
	int inbound_port;
	int metrics_port;
	int native_sidecars; /* 1: restartPolicy Always init containers */
};

/* Fills c with the defaults above (native sidecars on). */
void inject_conf_init(struct inject_conf *c);

enum inject_result {
	INJECT_ERROR = -1,
	INJECT_SKIPPED = 0,
	INJECT_INJECTED = 1,
};

/*
 * Works out the injection of pod, an object with "metadata" and "spec"
 * as a Pod or a pod template has them; pod is not changed.
 * INJECT_INJECTED: *patch is a new JSON array of RFC 6902 operations
 * (paths relative to pod) that the caller decrefs.
 * INJECT_SKIPPED: *why says why in a few words (static): opted out,
 * host network, already injected.
 * INJECT_ERROR: *cause (allocated) names the field at fault, such as
 * "metadata.annotations.traffic.weft.io/excludeInboundPorts: ...".
 */
enum inject_result inject_pod(const struct inject_conf *c, const json_t *pod,
    json_t **patch, const char **why, char **cause);

/*
 * Applies the RFC 6902 operations of patch ("add", "remove", "replace")
 * to doc in place, in order. Returns 0, or -1 with *cause (allocated)
 * naming the operation at fault; doc may then be partly patched.
 */
int inject_patch_apply(json_t *doc, const json_t *patch, char **cause);

/*
 * The pod template of a workload document, by kind: the document itself
 * for a Pod, spec.template for Deployment, StatefulSet, DaemonSet,
 * ReplicaSet, ReplicationController and Job, spec.jobTemplate.spec.
 * template for CronJob. Returns 1 with *tmpl (borrowed) and *path (its
 * field path, static: "" for a Pod); 0 for another kind; -1 when a
 * workload has no template object, *path naming the field expected.
 */
int inject_template(json_t *doc, json_t **tmpl, const char **path);

/*
 * The answer to an admission.k8s.io/v1 AdmissionReview (request.uid,
 * kind, namespace, operation, object): a new AdmissionReview whose
 * response allows the request, with a base64 JSONPatch when a Pod is
 * created that inject_pod injects, with none otherwise (other kinds and
 * operations, skipped pods), or refuses it (allowed false, status code
 * 400) when the pod's injection annotations are wrong. *note (static,
 * may be NULL) says what was done, for the log. Returns NULL with
 * *cause (allocated) when review is not an AdmissionReview v1.
 */
json_t *inject_admission(const struct inject_conf *c, const json_t *review,
    const char **note, char **cause);

#endif
