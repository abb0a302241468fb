/*
 * The Kubernetes API client of weft-server: lists and watches Services
 * and EndpointSlices on two threads of its own (blocking HTTPS, never on
 * the server's event loop) and hands the events to the loop; asks
 * TokenReviews on the loop, asynchronously.
 */
#ifndef WEFT_KUBE_CLIENT_H
#define WEFT_KUBE_CLIENT_H

#include <sys/queue.h>

#include <stdint.h>

#include <jansson.h>

struct event_base;

enum kube_kind {
	KUBE_SERVICES,
	KUBE_SLICES,
	KUBE_PODS, /* objects are kube_pod_summary's */
};

enum kube_type {
	KUBE_ADDED,
	KUBE_MODIFIED,
	KUBE_DELETED,
	KUBE_SYNCED, /* a full list: object is the array of every item */
};

struct kube_event {
	TAILQ_ENTRY(kube_event) entry;
	enum kube_kind kind;
	enum kube_type type;
	json_t *object;
};
TAILQ_HEAD(kube_events, kube_event);

struct kube_client_conf {
	const char *api;        /* https://HOST[:PORT] */
	const char *token_file; /* the server's bearer token, re-read */
	const char *ca_file;    /* the API server's CA */
	int64_t resync_sec;     /* a full list this often */
};

struct kube_client;

/*
 * Starts the watch threads. ready runs on base (with arg) whenever
 * events wait for kube_client_take. Returns NULL with *cause set.
 */
struct kube_client *kube_client_start(struct event_base *base,
    const struct kube_client_conf *conf, void (*ready)(void *), void *arg,
    char **cause);

/* Moves the waiting events to the end of *out (the caller frees them). */
void kube_client_take(struct kube_client *kc, struct kube_events *out);
void kube_events_free(struct kube_events *events);

/*
 * The outcome of a TokenReview: authenticated with username (such as
 * system:serviceaccount:NS:SA) and pod (the pod the token is bound to,
 * or NULL), or error set (why not).
 */
struct kube_review {
	int authenticated;
	const char *username;
	const char *pod;
	const char *error;
};
typedef void (*kube_review_cb)(const struct kube_review *r, void *arg);

/*
 * POSTs a TokenReview of token for audience, on base; cb runs once,
 * later, on base. Returns 0, or -1 with *cause set (cb does not run).
 */
int kube_client_review(struct kube_client *kc, const char *token,
    const char *audience, kube_review_cb cb, void *arg, char **cause);

#endif
