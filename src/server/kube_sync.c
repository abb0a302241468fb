/*
 * weft-server's Kubernetes discovery on its event loop: keeps the
 * Services and EndpointSlices that the watch threads (kube_client.c)
 * report, and writes the mesh services they map to (kube_discovery.c)
 * into the policy DB. Events are coalesced for KUBE_BATCH_MS and each
 * batch is one transaction, so one changeset for the proxies; a Service
 * whose rows would not change is not written. Nothing is written before
 * both lists arrived once; after a full list of Services, a discovered
 * service that is no longer listed is deleted (also what a previous run
 * left). With the API off, every discovered service is deleted at
 * start. Also the service-account bootstrap: TokenReviews, with their
 * positive answers kept for KUBE_REVIEW_TTL seconds.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "kube_client.h"
#include "kube_discovery.h"
#include "log.h"
#include "server.h"
#include "server_db.h"
#include "xmalloc.h"

#define KUBE_BATCH_MS     100
#define KUBE_RETRY_SEC    1
#define KUBE_PODS_WAIT_MS 10000
#define KUBE_REVIEW_TTL   60
#define KUBE_REVIEW_MAX   1024
#define KUBE_SA_DIR       "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_SA_PREFIX    "system:serviceaccount:"

struct kube_review_cache {
	char key[65]; /* SHA-256 of the token */
	int64_t expires;
	char namespace[64];
	char service_account[254];
	char pod[254];
};

struct kube_sync {
	struct server *srv;
	struct kube_client *client;
	struct event *batch;
	json_t *services; /* "ns/name" -> Service */
	json_t *slices;   /* "ns/name" -> EndpointSlice */
	json_t *written;  /* "ns/name" -> kube_service_text of its rows */
	json_t *dirty;    /* "ns/name" of Services -> true */
	json_t *failed;   /* "ns/name" -> the error logged for it */
	int synced[3];    /* each list arrived once */
	int64_t lists_at; /* ms when services and slices were first listed */
	int holding;      /* the batch timer waits for the pods */
	int reconcile;    /* a list of Services arrived: check the DB */
	char *audience;
	json_t *pods;      /* "ns/name" -> kube_pod_summary */
	char info_sa[254]; /* of the last kube_info_cb */
	char *info_labels;
	struct kube_review_cache cache[KUBE_REVIEW_MAX];
};

static char *
kube_key(json_t *obj)
{
	const char *ns = kube_object_namespace(obj);
	const char *name = kube_object_name(obj);
	char *key;

	if (ns == NULL || name == NULL)
		return NULL;
	xasprintf(&key, "%s/%s", ns, name);
	return key;
}

/* Marks the Service an EndpointSlice belongs to. */
static void
kube_dirty_slice(struct kube_sync *ks, json_t *slice)
{
	const char *ns = kube_object_namespace(slice);
	const char *svc = kube_slice_service(slice);
	char *key;

	if (ns == NULL || svc == NULL)
		return;
	xasprintf(&key, "%s/%s", ns, svc);
	json_object_set_new(ks->dirty, key, json_true());
	free(key);
}

static void
kube_apply_event(struct kube_sync *ks, struct kube_event *e)
{
	json_t *map = e->kind == KUBE_SERVICES ? ks->services : ks->slices;
	json_t *old, *item, *next;
	const char *k;
	void *tmp;
	char *key;
	size_t i;

	if (e->type == KUBE_SYNCED) {
		next = json_object();
		json_array_foreach(e->object, i, item)
		{
			if ((key = kube_key(item)) == NULL)
				continue;
			json_object_set(next, key, item);
			free(key);
		}
		/* What was there and what is: both may have changed. */
		json_object_foreach_safe(map, tmp, k, old)
		{
			if (e->kind == KUBE_SERVICES)
				json_object_set_new(ks->dirty, k, json_true());
			else
				kube_dirty_slice(ks, old);
		}
		json_object_foreach(next, k, item)
		{
			if (e->kind == KUBE_SERVICES)
				json_object_set_new(ks->dirty, k, json_true());
			else
				kube_dirty_slice(ks, item);
		}
		json_object_clear(map);
		json_object_update(map, next);
		json_decref(next);
		ks->synced[e->kind] = 1;
		if (e->kind == KUBE_SERVICES)
			ks->reconcile = 1;
		return;
	}
	if ((key = kube_key(e->object)) == NULL) {
		log_warnx("kubernetes: an event without metadata.namespace "
			  "and name: ignored");
		return;
	}
	if (e->kind == KUBE_SLICES) {
		if ((old = json_object_get(ks->slices, key)) != NULL)
			kube_dirty_slice(ks, old);
		kube_dirty_slice(ks, e->object);
	} else
		json_object_set_new(ks->dirty, key, json_true());
	if (e->type == KUBE_DELETED)
		json_object_del(map, key);
	else
		json_object_set(map, key, e->object);
	free(key);
}

/* Whether two pod summaries differ in what the mapping uses. */
static int
kube_pod_same(json_t *a, json_t *b)
{
	return a != NULL && b != NULL &&
	    json_equal(
		json_object_get(json_object_get(a, "metadata"), "labels"),
		json_object_get(json_object_get(b, "metadata"), "labels")) &&
	    json_equal(json_object_get(a, "serviceAccount"),
		json_object_get(b, "serviceAccount")) &&
	    json_equal(
		json_object_get(a, "injected"), json_object_get(b, "injected"));
}

/* A pod of ns changed: every Service of ns is mapped again. */
static void
kube_dirty_namespace(struct kube_sync *ks, const char *ns)
{
	size_t n = strlen(ns);
	const char *k;
	json_t *v;

	json_object_foreach(ks->services, k, v)
	{
		if (strncmp(k, ns, n) == 0 && k[n] == '/')
			json_object_set_new(ks->dirty, k, json_true());
	}
}

static int64_t
kube_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
kube_apply_pod_event(struct kube_sync *ks, struct kube_event *e)
{
	json_t *item, *old;
	const char *k;
	char *key;
	size_t i;

	if (e->type == KUBE_SYNCED) {
		json_object_clear(ks->pods);
		json_array_foreach(e->object, i, item)
		{
			if ((key = kube_key(item)) == NULL)
				continue;
			json_object_set(ks->pods, key, item);
			free(key);
		}
		json_object_foreach(ks->services, k, item)
		    json_object_set_new(ks->dirty, k, json_true());
		ks->synced[KUBE_PODS] = 1;
		return;
	}
	if ((key = kube_key(e->object)) == NULL)
		return;
	old = json_object_get(ks->pods, key);
	if (e->type == KUBE_DELETED) {
		if (old != NULL)
			kube_dirty_namespace(
			    ks, kube_object_namespace(e->object));
		json_object_del(ks->pods, key);
	} else {
		if (!kube_pod_same(old, e->object))
			kube_dirty_namespace(
			    ks, kube_object_namespace(e->object));
		json_object_set(ks->pods, key, e->object);
	}
	free(key);
}

/*
 * What is known of an endpoint: a workload registered at its address
 * has a sidecar, with that workload's identity and labels; else its
 * pod, from the pods watch: its labels and service account, and a
 * sidecar when it was injected.
 */
static void
kube_info_cb(const char *ns, const char *address, const char *pod,
    struct kube_endpoint_info *info, void *arg)
{
	struct kube_sync *ks = arg;
	json_t *p;
	char *key;

	free(ks->info_labels);
	ks->info_labels = NULL;
	if (server_db_kube_sidecar(ks->srv->db, ns, address, ks->info_sa,
		sizeof(ks->info_sa), &ks->info_labels) == 1) {
		info->sidecar = 1;
		info->service_account = ks->info_sa;
		info->labels = ks->info_labels;
		return;
	}
	if (pod == NULL)
		return;
	xasprintf(&key, "%s/%s", ns, pod);
	p = json_object_get(ks->pods, key);
	free(key);
	if (p == NULL)
		return;
	snprintf(ks->info_sa, sizeof(ks->info_sa), "%s",
	    json_string_value(json_object_get(p, "serviceAccount")));
	ks->info_labels = json_dumps(
	    json_object_get(json_object_get(p, "metadata"), "labels"),
	    JSON_COMPACT | JSON_SORT_KEYS);
	info->sidecar = json_is_true(json_object_get(p, "injected"));
	info->service_account = ks->info_sa;
	info->labels = ks->info_labels;
}

/* The EndpointSlices of each Service: "ns/name" -> array, once a batch. */
static json_t *
kube_slices_by_service(struct kube_sync *ks)
{
	json_t *by = json_object(), *slice, *a;
	const char *k, *ns, *svc;
	char *key;

	json_object_foreach(ks->slices, k, slice)
	{
		if ((ns = kube_object_namespace(slice)) == NULL ||
		    (svc = kube_slice_service(slice)) == NULL)
			continue;
		xasprintf(&key, "%s/%s", ns, svc);
		if ((a = json_object_get(by, key)) == NULL) {
			a = json_array();
			json_object_set_new(by, key, a);
		}
		json_array_append(a, slice);
		free(key);
	}
	return by;
}

/*
 * Writes one Service's rows (or removes them), its slices from by_svc;
 * 0, or -1 with *cause.
 */
static int
kube_write_one(
    struct kube_sync *ks, const char *key, json_t *by_svc, char **cause)
{
	struct kube_service *m = NULL;
	json_t *svc, **v = NULL;
	const char *old;
	char *text, *why = NULL;
	size_t n = 0, i;
	int rc;

	svc = json_object_get(ks->services, key);
	if (svc != NULL) {
		json_t *mine = json_object_get(by_svc, key);

		n = json_array_size(mine);
		v = xcalloc(n + 1, sizeof(*v));
		for (i = 0; i < n; i++)
			v[i] = json_array_get(mine, i);
		rc = kube_service_map(svc, v, n, kube_info_cb, ks, &m, &why);
		free(v);
		if (rc == -1) {
			/* Once per error, and the rows it had are kept. */
			old =
			    json_string_value(json_object_get(ks->failed, key));
			if (old == NULL || strcmp(old, why) != 0)
				log_warnx("kubernetes: %s", why);
			json_object_set_new(ks->failed, key, json_string(why));
			free(why);
			return 0;
		}
		json_object_del(ks->failed, key);
		if (rc == 0) {
			log_debug("kubernetes: %s", why);
			free(why);
		}
	}
	if (m == NULL) {
		const char *slash = strchr(key, '/');
		char *nsbuf;

		if (slash == NULL)
			return 0;
		nsbuf = xstrdup(key);
		nsbuf[slash - key] = '\0';
		rc =
		    server_db_kube_delete(ks->srv->db, nsbuf, slash + 1, cause);
		if (rc == 1)
			log_info("kubernetes: service %s removed", key);
		free(nsbuf);
		json_object_del(ks->written, key);
		return rc == -1 ? -1 : 0;
	}
	text = kube_service_text(m);
	old = json_string_value(json_object_get(ks->written, key));
	if (old == NULL || strcmp(old, text) != 0) {
		if (server_db_kube_put(ks->srv->db, m, cause) == -1) {
			free(text);
			kube_service_free(m);
			return -1;
		}
		log_debug("kubernetes: service %s: %zu endpoints", key,
		    m->nendpoints);
		json_object_set_new(ks->written, key, json_string(text));
	}
	free(text);
	kube_service_free(m);
	return 0;
}

/* The discovered services in the DB that are not listed any more. */
static int
kube_reconcile(struct kube_sync *ks, char **cause)
{
	char **names, *key;
	size_t i, n;

	if (server_db_kube_list(ks->srv->db, &names, &n, cause) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		xasprintf(&key, "%s/%s", names[2 * i], names[2 * i + 1]);
		if (json_object_get(ks->services, key) == NULL) {
			json_object_set_new(ks->dirty, key, json_true());
			/* Not known as written: kube_write_one deletes. */
		}
		free(key);
		free(names[2 * i]);
		free(names[2 * i + 1]);
	}
	free(names);
	return 0;
}

static void
kube_flush(struct kube_sync *ks)
{
	struct kube_events events = TAILQ_HEAD_INITIALIZER(events);
	struct kube_event *e;
	struct timeval tv;
	const char *k;
	json_t *v, *by_svc;
	void *tmp;
	char *cause = NULL;
	int64_t version;

	kube_client_take(ks->client, &events);
	TAILQ_FOREACH (e, &events, entry) {
		if (e->kind == KUBE_PODS)
			kube_apply_pod_event(ks, e);
		else
			kube_apply_event(ks, e);
	}
	kube_events_free(&events);
	if (!ks->synced[KUBE_SERVICES] || !ks->synced[KUBE_SLICES] ||
	    json_object_size(ks->dirty) == 0)
		return;
	/*
	 * The first write waits a little for the pods (a large list comes
	 * later), so as not to write every endpoint twice; not for ever:
	 * the pods may not be ours to list.
	 */
	if (!ks->synced[KUBE_PODS]) {
		int64_t now = kube_now_ms();

		if (ks->lists_at == 0)
			ks->lists_at = now;
		if (now - ks->lists_at < KUBE_PODS_WAIT_MS) {
			tv.tv_sec =
			    (KUBE_PODS_WAIT_MS - (now - ks->lists_at)) / 1000;
			tv.tv_usec =
			    (KUBE_PODS_WAIT_MS - (now - ks->lists_at)) % 1000 *
			    1000;
			evtimer_add(ks->batch, &tv);
			ks->holding = 1;
			return;
		}
	}
	if (server_db_begin(ks->srv->db, &cause) == -1)
		goto fail;
	if (ks->reconcile && kube_reconcile(ks, &cause) == -1) {
		server_db_rollback(ks->srv->db);
		goto fail;
	}
	by_svc = kube_slices_by_service(ks);
	json_object_foreach_safe(ks->dirty, tmp, k, v)
	{
		if (kube_write_one(ks, k, by_svc, &cause) == -1) {
			json_decref(by_svc);
			server_db_rollback(ks->srv->db);
			/* What was written is not: write it all again. */
			json_object_clear(ks->written);
			goto fail;
		}
	}
	json_decref(by_svc);
	if (server_db_commit(ks->srv->db, &version, &cause) == -1) {
		json_object_clear(ks->written);
		goto fail;
	}
	ks->reconcile = 0;
	json_object_clear(ks->dirty);
	if (version > 0) {
		log_debug(
		    "kubernetes: policy version %lld", (long long)version);
		server_feed_committed(ks->srv, version);
	}
	return;
fail:
	log_warnx("kubernetes: cannot write the discovered services: %s "
		  "(trying again in %d s)",
	    cause, KUBE_RETRY_SEC);
	free(cause);
	/* The dirty set stays, for the next batch or the retry. */
	tv.tv_sec = KUBE_RETRY_SEC;
	tv.tv_usec = 0;
	evtimer_add(ks->batch, &tv);
}

static void
kube_batch_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	kube_flush(arg);
}

static void
kube_schedule(struct kube_sync *ks)
{
	struct timeval tv = {0, KUBE_BATCH_MS * 1000};

	/* Soon, unless a batch is due already; a wait for the pods ends. */
	if (!evtimer_pending(ks->batch, NULL) || ks->holding) {
		ks->holding = 0;
		evtimer_add(ks->batch, &tv);
	}
}

static void
kube_ready_cb(void *arg)
{
	kube_schedule(arg);
}

void
kube_sync_refresh(struct server *srv, const char *ns)
{
	struct kube_sync *ks = srv->kube;

	if (ks == NULL)
		return;
	kube_dirty_namespace(ks, ns);
	kube_schedule(ks);
}

/* With the API off: what an earlier run discovered goes. */
static int
kube_forget_all(struct server *srv, char **cause)
{
	char **names;
	size_t i, n;
	int64_t version;
	int rc = 0;

	if (server_db_kube_list(srv->db, &names, &n, cause) == -1)
		return -1;
	if (n > 0 && server_db_begin(srv->db, cause) == -1)
		rc = -1;
	for (i = 0; i < n; i++) {
		if (rc == 0 &&
		    server_db_kube_delete(
			srv->db, names[2 * i], names[2 * i + 1], cause) == -1) {
			server_db_rollback(srv->db);
			rc = -1;
		}
		free(names[2 * i]);
		free(names[2 * i + 1]);
	}
	free(names);
	if (rc == 0 && n > 0) {
		if (server_db_commit(srv->db, &version, cause) == -1)
			return -1;
		if (version > 0)
			srv->version = version;
		log_info("kubernetes: discovery is off: %zu discovered "
			 "services removed",
		    n);
	}
	return rc;
}

int
kube_sync_start(struct server *srv, char **cause)
{
	const struct server_conf *c = &srv->conf;
	struct kube_client_conf kconf;
	struct kube_sync *ks;
	const char *host, *port;
	char *api = NULL, *fixed = NULL;
	const char *token_file = c->kube_token_file;
	const char *ca_file = c->kube_ca;

	if (c->kube_api != NULL && strcmp(c->kube_api, "off") == 0)
		return kube_forget_all(srv, cause);
	if (c->kube_api == NULL) {
		/* In a pod: the API server and the pod's service account. */
		host = getenv("KUBERNETES_SERVICE_HOST");
		port = getenv("KUBERNETES_SERVICE_PORT");
		if (host == NULL || port == NULL ||
		    access(KUBE_SA_DIR "/token", R_OK) == -1 ||
		    access(KUBE_SA_DIR "/ca.crt", R_OK) == -1)
			return kube_forget_all(srv, cause);
		xasprintf(&api, "https://%s%s%s:%s",
		    strchr(host, ':') != NULL ? "[" : "", host,
		    strchr(host, ':') != NULL ? "]" : "", port);
		if (token_file == NULL)
			token_file = KUBE_SA_DIR "/token";
		if (ca_file == NULL)
			ca_file = KUBE_SA_DIR "/ca.crt";
	} else {
		const char *p = c->kube_api, *end;

		if (strncmp(p, "https://", 8) != 0) {
			xasprintf(cause,
			    "--kube-api %s: expected https://"
			    "HOST[:PORT] or off",
			    p);
			return -1;
		}
		/* https_client's default port is weft's: say 443. */
		end = p + 8 + strcspn(p + 8, "/");
		if (memchr(p + 8, ':', (size_t)(end - p - 8)) == NULL ||
		    (p[8] == '[' && end[-1] == ']'))
			xasprintf(&fixed, "%.*s:443", (int)(end - p), p);
		else
			xasprintf(&fixed, "%.*s", (int)(end - p), p);
		api = fixed;
		if (token_file == NULL)
			token_file = KUBE_SA_DIR "/token";
		if (ca_file == NULL)
			ca_file = KUBE_SA_DIR "/ca.crt";
	}
	if (access(token_file, R_OK) == -1 || access(ca_file, R_OK) == -1) {
		const char *f =
		    access(token_file, R_OK) == -1 ? token_file : ca_file;

		xasprintf(cause, "kubernetes API %s: %s %s: %s", api,
		    f == token_file ? "token file" : "CA file", f,
		    strerror(errno));
		free(api);
		return -1;
	}
	ks = xcalloc(1, sizeof(*ks));
	ks->srv = srv;
	ks->services = json_object();
	ks->slices = json_object();
	ks->written = json_object();
	ks->dirty = json_object();
	ks->failed = json_object();
	ks->pods = json_object();
	ks->audience =
	    xstrdup(c->kube_audience != NULL ? c->kube_audience : "weft");
	if ((ks->batch = evtimer_new(srv->base, kube_batch_cb, ks)) == NULL)
		fatalx("cannot set up the kubernetes events");
	memset(&kconf, 0, sizeof(kconf));
	kconf.api = api;
	kconf.token_file = token_file;
	kconf.ca_file = ca_file;
	kconf.resync_sec = c->kube_resync_sec;
	srv->kube = ks;
	if ((ks->client = kube_client_start(
		 srv->base, &kconf, kube_ready_cb, ks, cause)) == NULL) {
		free(api);
		return -1;
	}
	log_info("kubernetes: discovery from %s, resync every %llds", api,
	    (long long)kconf.resync_sec);
	free(api);
	return 0;
}

/* -- service-account tokens -- */

static void
kube_token_key(const char *token, char key[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int n = 0, i;

	EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++) {
		key[2 * i] = digits[md[i] >> 4];
		key[2 * i + 1] = digits[md[i] & 15];
	}
	key[64] = '\0';
}

static void
kube_caller_fill(struct server *srv, struct server_caller *c,
    const struct kube_review_cache *e)
{
	c->role = SERVER_ROLE_KUBE;
	snprintf(c->namespace, sizeof(c->namespace), "%s", e->namespace);
	snprintf(c->service_account, sizeof(c->service_account), "%s",
	    e->service_account);
	snprintf(c->workload, sizeof(c->workload), "%s", e->pod);
	snprintf(c->spiffe_id, sizeof(c->spiffe_id), "spiffe://%s/ns/%s/sa/%s",
	    srv->conf.trust_domain, e->namespace, e->service_account);
}

int
kube_sync_cached(struct server *srv, const char *token, struct server_caller *c)
{
	struct kube_sync *ks = srv->kube;
	char key[65];
	int64_t now = server_now();
	size_t i;

	if (ks == NULL)
		return 0;
	kube_token_key(token, key);
	for (i = 0; i < KUBE_REVIEW_MAX; i++)
		if (ks->cache[i].expires > now &&
		    strcmp(ks->cache[i].key, key) == 0) {
			kube_caller_fill(srv, c, &ks->cache[i]);
			return 1;
		}
	return 0;
}

struct kube_auth {
	struct server *srv;
	struct evhttp_request *req; /* NULL once its connection closed */
	struct evhttp_connection *evcon;
	char key[65];
	void (*done)(
	    struct server *, struct evhttp_request *, struct server_caller *);
};

static void
kube_auth_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct kube_auth *a = arg;

	(void)evcon;
	a->req = NULL;
}

/* username system:serviceaccount:NS:SA into e; -1 when it is not one. */
static int
kube_split_username(const char *u, struct kube_review_cache *e)
{
	const char *ns, *colon;

	if (u == NULL ||
	    strncmp(u, KUBE_SA_PREFIX, strlen(KUBE_SA_PREFIX)) != 0)
		return -1;
	ns = u + strlen(KUBE_SA_PREFIX);
	if ((colon = strchr(ns, ':')) == NULL || colon == ns ||
	    (size_t)(colon - ns) >= sizeof(e->namespace) || colon[1] == '\0' ||
	    strlen(colon + 1) >= sizeof(e->service_account))
		return -1;
	memcpy(e->namespace, ns, (size_t)(colon - ns));
	e->namespace[colon - ns] = '\0';
	snprintf(
	    e->service_account, sizeof(e->service_account), "%s", colon + 1);
	return 0;
}

static void
kube_auth_review_cb(const struct kube_review *r, void *arg)
{
	struct kube_auth *a = arg;
	struct kube_sync *ks = a->srv->kube;
	struct kube_review_cache e, *slot;
	struct server_caller c;
	int64_t now = server_now();
	size_t i;

	memset(&c, 0, sizeof(c));
	memset(&e, 0, sizeof(e));
	if (r->error != NULL)
		xasprintf(&c.error, "%s", r->error);
	else if (kube_split_username(r->username, &e) == -1)
		xasprintf(&c.error,
		    "token of %s, not of a service account (expected "
		    "system:serviceaccount:NAMESPACE:NAME)",
		    r->username != NULL ? r->username : "nobody");
	else {
		snprintf(e.key, sizeof(e.key), "%s", a->key);
		snprintf(
		    e.pod, sizeof(e.pod), "%s", r->pod != NULL ? r->pod : "");
		e.expires = now + KUBE_REVIEW_TTL;
		/* The slot of an expired entry, or the soonest to expire. */
		slot = &ks->cache[0];
		for (i = 0; i < KUBE_REVIEW_MAX; i++)
			if (ks->cache[i].expires < slot->expires)
				slot = &ks->cache[i];
		*slot = e;
		kube_caller_fill(a->srv, &c, &e);
		log_info("kubernetes: token of %s%s%s accepted", c.spiffe_id,
		    e.pod[0] != '\0' ? " for pod " : "", e.pod);
	}
	if (c.error != NULL)
		log_warnx("kubernetes: %s", c.error);
	if (a->req != NULL) {
		evhttp_connection_set_closecb(a->evcon, NULL, NULL);
		a->done(a->srv, a->req, &c);
	}
	server_caller_clear(&c);
	free(a);
}

int
kube_sync_authenticate(struct server *srv, struct evhttp_request *req,
    const char *token,
    void (*done)(
	struct server *, struct evhttp_request *, struct server_caller *),
    char **cause)
{
	struct kube_auth *a;

	if (srv->kube == NULL) {
		xasprintf(cause,
		    "a Kubernetes service account token, but "
		    "weft-server has no Kubernetes API "
		    "(--kube-api)");
		return -1;
	}
	a = xcalloc(1, sizeof(*a));
	a->srv = srv;
	a->req = req;
	a->evcon = evhttp_request_get_connection(req);
	a->done = done;
	kube_token_key(token, a->key);
	if (kube_client_review(srv->kube->client, token, srv->kube->audience,
		kube_auth_review_cb, a, cause) == -1) {
		free(a);
		return -1;
	}
	if (a->evcon != NULL)
		evhttp_connection_set_closecb(a->evcon, kube_auth_close_cb, a);
	return 0;
}
