/*
 * The Kubernetes API client. One thread per watched resource runs the
 * list-then-watch loop of client-go's reflector: list (pages of 500),
 * hand the whole list over, watch from its resourceVersion with
 * bookmarks; a 410 Gone (an expired resourceVersion) relists at once,
 * a connection error relists after a backoff (1 s doubling to 30 s),
 * and every resync period the list is made anew so that what was
 * deleted while nobody watched is noticed. Events reach the event loop
 * through a queue and a pipe.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "ca.h"
#include "https_client.h"
#include "https_stream.h"
#include "kube_client.h"
#include "kube_discovery.h"
#include "log.h"
#include "xmalloc.h"

#define KUBE_PAGE         500
#define KUBE_MAX_LIST     (256 * 1024 * 1024)
#define KUBE_MAX_EVENT    (16 * 1024 * 1024)
#define KUBE_BACKOFF_MAX  30
#define KUBE_READ_TIMEOUT 60 /* seconds of silence in an answer */

struct kube_client;

struct kube_watch {
	struct kube_client *kc;
	enum kube_kind kind;
	const char *what; /* for logs */
	const char *path;
	pthread_t thread;
	int failing; /* logged the failure already */
};

struct kube_client {
	struct event_base *base;
	char *api, *token_file, *ca_file;
	int64_t resync_sec;
	void (*ready)(void *);
	void *arg;
	pthread_mutex_t lock;
	struct kube_events queue;
	int pipe[2];
	struct event *ev;
	struct kube_watch watches[3];
};

void
kube_events_free(struct kube_events *events)
{
	struct kube_event *e;

	while ((e = TAILQ_FIRST(events)) != NULL) {
		TAILQ_REMOVE(events, e, entry);
		json_decref(e->object);
		free(e);
	}
}

void
kube_client_take(struct kube_client *kc, struct kube_events *out)
{
	struct kube_event *e;

	pthread_mutex_lock(&kc->lock);
	while ((e = TAILQ_FIRST(&kc->queue)) != NULL) {
		TAILQ_REMOVE(&kc->queue, e, entry);
		TAILQ_INSERT_TAIL(out, e, entry);
	}
	pthread_mutex_unlock(&kc->lock);
}

/* From a watch thread: queues an event (taking object) and wakes the loop. */
static void
kube_push(struct kube_client *kc, enum kube_kind kind, enum kube_type type,
    json_t *object)
{
	struct kube_event *e;
	json_t *sum;
	char c = 'k';

	/* Of a pod, only what discovery uses is kept (kube_list did so
	 * for the lists). */
	if (kind == KUBE_PODS && type != KUBE_SYNCED) {
		sum = kube_pod_summary(object);
		json_decref(object);
		if ((object = sum) == NULL)
			return;
	}
	e = xcalloc(1, sizeof(*e));

	e->kind = kind;
	e->type = type;
	e->object = object;
	pthread_mutex_lock(&kc->lock);
	TAILQ_INSERT_TAIL(&kc->queue, e, entry);
	pthread_mutex_unlock(&kc->lock);
	/* A full pipe already wakes the loop. */
	if (write(kc->pipe[1], &c, 1) == -1 && errno != EAGAIN)
		log_warn("kubernetes: wake-up pipe");
}

static void
kube_pipe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kube_client *kc = arg;
	char buf[256];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	kc->ready(kc->arg);
}

static struct https_stream *
kube_open(struct kube_watch *w, const char *method, const char *target,
    int read_timeout, char **cause)
{
	struct https_stream_req req;
	struct https_stream *s;
	char *token;

	/* Re-read every time: the kubelet rotates projected tokens. */
	if ((token = ca_read_token(w->kc->token_file, cause)) == NULL)
		return NULL;
	memset(&req, 0, sizeof(req));
	req.base_url = w->kc->api;
	req.ca_file = w->kc->ca_file;
	req.bearer = token;
	req.method = method;
	req.target = target;
	req.timeout_sec = KUBE_READ_TIMEOUT;
	req.read_timeout_sec = read_timeout;
	s = https_stream_open(&req, cause);
	free(token);
	return s;
}

/* The message of a failed call: the Status's, or the status code. */
static void
kube_status_error(int status, const char *body, char **cause)
{
	json_t *j = json_loads(body != NULL ? body : "", 0, NULL);
	const char *msg = json_string_value(json_object_get(j, "message"));

	if (msg != NULL)
		xasprintf(cause, "HTTP %d: %s", status, msg);
	else
		xasprintf(cause, "HTTP %d", status);
	json_decref(j);
}

/*
 * Lists every item, page by page: the array in *items and the list's
 * resourceVersion in *rv (allocated). Returns 0, -1 with *cause set.
 */
static int
kube_list(struct kube_watch *w, json_t **items, char **rv, char **cause)
{
	struct https_stream *s;
	char *target, *body = NULL, *cont = NULL, *esc;
	json_t *j, *item, *sum;
	json_error_t jerr;
	const char *c, *v;
	size_t len, i;
	int status;

	*items = json_array();
	*rv = NULL;
	do {
		if (cont != NULL) {
			esc = evhttp_encode_uri(cont);
			xasprintf(&target, "%s?limit=%d&continue=%s", w->path,
			    KUBE_PAGE, esc);
			free(esc);
		} else
			xasprintf(&target, "%s?limit=%d", w->path, KUBE_PAGE);
		s = kube_open(w, "GET", target, KUBE_READ_TIMEOUT, cause);
		free(target);
		if (s == NULL)
			goto fail;
		status = https_stream_status(s);
		if (https_stream_body(s, KUBE_MAX_LIST, &body, &len, cause) ==
		    -1) {
			https_stream_close(s);
			goto fail;
		}
		https_stream_close(s);
		if (status != 200) {
			kube_status_error(status, body, cause);
			goto fail;
		}
		if ((j = json_loadb(body, len, 0, &jerr)) == NULL ||
		    !json_is_array(json_object_get(j, "items"))) {
			xasprintf(cause, "list is not JSON with items: %s",
			    j == NULL ? jerr.text : "no items");
			json_decref(j);
			goto fail;
		}
		free(body);
		body = NULL;
		json_array_foreach(json_object_get(j, "items"), i, item)
		{
			if (w->kind != KUBE_PODS)
				json_array_append(*items, item);
			else if ((sum = kube_pod_summary(item)) != NULL)
				json_array_append_new(*items, sum);
		}
		v = json_string_value(json_object_get(
		    json_object_get(j, "metadata"), "resourceVersion"));
		c = json_string_value(json_object_get(
		    json_object_get(j, "metadata"), "continue"));
		free(*rv);
		*rv = v != NULL ? xstrdup(v) : NULL;
		free(cont);
		cont = c != NULL && c[0] != '\0' ? xstrdup(c) : NULL;
		json_decref(j);
	} while (cont != NULL);
	if (*rv == NULL) {
		xasprintf(cause, "list without metadata.resourceVersion");
		goto fail;
	}
	return 0;
fail:
	free(body);
	free(cont);
	free(*rv);
	*rv = NULL;
	json_decref(*items);
	*items = NULL;
	return -1;
}

enum kube_watch_end {
	KUBE_WATCH_DONE,  /* the server closed it: watch again from rv */
	KUBE_WATCH_GONE,  /* 410: relist */
	KUBE_WATCH_ERROR, /* backoff, relist */
};

/* One watch request, until the server ends it; *rv follows the events. */
static enum kube_watch_end
kube_watch_once(struct kube_watch *w, char **rv, int64_t seconds, char **cause)
{
	struct https_stream *s;
	json_t *ev, *obj;
	json_error_t jerr;
	const char *type, *v;
	char *target, *line = NULL;
	enum kube_watch_end end = KUBE_WATCH_DONE;
	enum kube_type t;
	int r, status;

	xasprintf(&target,
	    "%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true&"
	    "timeoutSeconds=%lld",
	    w->path, *rv, (long long)seconds);
	/* The API server ends the watch after seconds; bookmarks may be
	 * rarer than the read timeout of a list. */
	s = kube_open(
	    w, "GET", target, (int)seconds + KUBE_READ_TIMEOUT, cause);
	free(target);
	if (s == NULL)
		return KUBE_WATCH_ERROR;
	if ((status = https_stream_status(s)) != 200) {
		char *body = NULL;
		size_t len;

		if (https_stream_body(s, 65536, &body, &len, cause) == 0)
			kube_status_error(status, body, cause);
		free(body);
		https_stream_close(s);
		return status == 410 ? KUBE_WATCH_GONE : KUBE_WATCH_ERROR;
	}
	while ((r = https_stream_line(s, KUBE_MAX_EVENT, &line, cause)) == 1) {
		if (line[0] == '\0') {
			free(line);
			continue;
		}
		ev = json_loads(line, 0, &jerr);
		free(line);
		type = json_string_value(json_object_get(ev, "type"));
		obj = json_object_get(ev, "object");
		if (type == NULL || !json_is_object(obj)) {
			xasprintf(cause, "bad watch event: %s",
			    ev == NULL ? jerr.text : "no type or object");
			json_decref(ev);
			end = KUBE_WATCH_ERROR;
			break;
		}
		if (strcmp(type, "ERROR") == 0) {
			json_int_t code =
			    json_integer_value(json_object_get(obj, "code"));
			const char *msg =
			    json_string_value(json_object_get(obj, "message"));

			xasprintf(cause, "watch error %lld: %s",
			    (long long)code, msg != NULL ? msg : "no message");
			json_decref(ev);
			end = code == 410 ? KUBE_WATCH_GONE : KUBE_WATCH_ERROR;
			break;
		}
		v = json_string_value(json_object_get(
		    json_object_get(obj, "metadata"), "resourceVersion"));
		if (v != NULL) {
			free(*rv);
			*rv = xstrdup(v);
		}
		if (strcmp(type, "ADDED") == 0)
			t = KUBE_ADDED;
		else if (strcmp(type, "MODIFIED") == 0)
			t = KUBE_MODIFIED;
		else if (strcmp(type, "DELETED") == 0)
			t = KUBE_DELETED;
		else
			t = KUBE_SYNCED; /* BOOKMARK: only its resourceVersion */
		if (t != KUBE_SYNCED) {
			/* The object leaves this thread whole: nothing here
			 * holds a reference to it once it is queued. */
			json_incref(obj);
			json_object_del(ev, "object");
			kube_push(w->kc, w->kind, t, obj);
		}
		json_decref(ev);
	}
	if (r == -1)
		end = KUBE_WATCH_ERROR;
	https_stream_close(s);
	return end;
}

static void
kube_sleep(int64_t sec)
{
	struct timespec ts = {(time_t)sec, 0};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int64_t
kube_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static void *
kube_watch_main(void *arg)
{
	struct kube_watch *w = arg;
	json_t *items;
	char *rv = NULL, *cause = NULL;
	int64_t backoff = 1, deadline, now;
	enum kube_watch_end end;

	for (;;) {
		if (kube_list(w, &items, &rv, &cause) == -1) {
			if (!w->failing)
				log_warnx("kubernetes: cannot list %s: %s "
					  "(retrying every %llds at most)",
				    w->what, cause,
				    (long long)KUBE_BACKOFF_MAX);
			w->failing = 1;
			free(cause);
			cause = NULL;
			kube_sleep(backoff);
			backoff = backoff * 2 > KUBE_BACKOFF_MAX
			    ? KUBE_BACKOFF_MAX
			    : backoff * 2;
			continue;
		}
		log_info("kubernetes: %zu %s at resourceVersion %s",
		    json_array_size(items), w->what, rv);
		w->failing = 0;
		backoff = 1;
		kube_push(w->kc, w->kind, KUBE_SYNCED, items);
		deadline = kube_monotonic() + w->kc->resync_sec;
		end = KUBE_WATCH_DONE;
		while (end == KUBE_WATCH_DONE &&
		    (now = kube_monotonic()) < deadline)
			end = kube_watch_once(w, &rv, deadline - now, &cause);
		if (end == KUBE_WATCH_GONE)
			log_info("kubernetes: %s: %s: listing again", w->what,
			    cause);
		else if (end == KUBE_WATCH_ERROR) {
			log_warnx(
			    "kubernetes: watching %s: %s", w->what, cause);
			kube_sleep(backoff);
		}
		free(cause);
		cause = NULL;
		free(rv);
		rv = NULL;
	}
	return NULL;
}

struct kube_client *
kube_client_start(struct event_base *base, const struct kube_client_conf *conf,
    void (*ready)(void *), void *arg, char **cause)
{
	struct kube_client *kc;
	size_t i;
	int rc;

	kc = xcalloc(1, sizeof(*kc));
	kc->base = base;
	kc->api = xstrdup(conf->api);
	kc->token_file = xstrdup(conf->token_file);
	kc->ca_file = xstrdup(conf->ca_file);
	kc->resync_sec = conf->resync_sec > 0 ? conf->resync_sec : 300;
	kc->ready = ready;
	kc->arg = arg;
	TAILQ_INIT(&kc->queue);
	pthread_mutex_init(&kc->lock, NULL);
	if (pipe2(kc->pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe");
	kc->ev = event_new(
	    base, kc->pipe[0], EV_READ | EV_PERSIST, kube_pipe_cb, kc);
	if (kc->ev == NULL || event_add(kc->ev, NULL) == -1)
		fatalx("cannot set up the kubernetes events");
	kc->watches[0].kind = KUBE_SERVICES;
	kc->watches[0].what = "services";
	kc->watches[0].path = "/api/v1/services";
	kc->watches[1].kind = KUBE_SLICES;
	kc->watches[1].what = "endpointslices";
	kc->watches[1].path = "/apis/discovery.k8s.io/v1/endpointslices";
	kc->watches[2].kind = KUBE_PODS;
	kc->watches[2].what = "pods";
	kc->watches[2].path = "/api/v1/pods";
	for (i = 0; i < 3; i++) {
		kc->watches[i].kc = kc;
		/* Detached: they end with the process. */
		if ((rc = pthread_create(&kc->watches[i].thread, NULL,
			 kube_watch_main, &kc->watches[i])) != 0 ||
		    (rc = pthread_detach(kc->watches[i].thread)) != 0) {
			xasprintf(
			    cause, "cannot start a thread: %s", strerror(rc));
			return NULL;
		}
	}
	return kc;
}

/* -- TokenReview -- */

struct kube_review_req {
	struct kube_client *kc;
	struct https_client *client;
	char *audience;
	kube_review_cb cb;
	void *arg;
};

/* Whether the review's status.audiences holds ours. */
static int
kube_review_audience(json_t *status, const char *audience)
{
	json_t *a;
	size_t i;

	json_array_foreach(json_object_get(status, "audiences"), i, a)
	{
		if (json_is_string(a) &&
		    strcmp(json_string_value(a), audience) == 0)
			return 1;
	}
	return 0;
}

static void
kube_review_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct https_client *client = arg;

	(void)fd;
	(void)what;
	https_client_free(client);
}

static void
kube_review_done_cb(struct https_response *resp, void *arg)
{
	struct kube_review_req *rr = arg;
	struct kube_review r;
	json_t *j = NULL, *status, *user;
	char *error = NULL;

	memset(&r, 0, sizeof(r));
	if (resp->status == 0)
		xasprintf(&error, "TokenReview failed: %s",
		    resp->error != NULL ? resp->error : "no answer");
	else if (resp->status != 201 && resp->status != 200) {
		char *c = NULL;

		kube_status_error(resp->status, resp->body, &c);
		xasprintf(&error, "TokenReview failed: %s", c);
		free(c);
	} else if ((j = json_loads(resp->body != NULL ? resp->body : "", 0,
			NULL)) == NULL ||
	    !json_is_object(status = json_object_get(j, "status")))
		xasprintf(&error, "TokenReview answer without status");
	else if (!json_is_true(json_object_get(status, "authenticated"))) {
		const char *e =
		    json_string_value(json_object_get(status, "error"));

		xasprintf(&error, "service account token refused%s%s",
		    e != NULL ? ": " : "", e != NULL ? e : "");
	} else if (!kube_review_audience(status, rr->audience)) {
		/* An API server that ignores audiences, or a token for
		 * another audience: not one minted for the mesh. */
		xasprintf(&error,
		    "service account token refused: not for audience %s",
		    rr->audience);
	} else {
		user = json_object_get(status, "user");
		r.authenticated = 1;
		r.username =
		    json_string_value(json_object_get(user, "username"));
		r.pod = json_string_value(json_array_get(
		    json_object_get(json_object_get(user, "extra"),
			"authentication.kubernetes.io/pod-name"),
		    0));
	}
	r.error = error;
	rr->cb(&r, rr->arg);
	free(error);
	json_decref(j);
	event_base_once(rr->kc->base, -1, EV_TIMEOUT, kube_review_free_cb,
	    rr->client, NULL);
	free(rr->audience);
	free(rr);
}

int
kube_client_review(struct kube_client *kc, const char *token,
    const char *audience, kube_review_cb cb, void *arg, char **cause)
{
	struct https_client_conf conf;
	struct kube_review_req *rr;
	char *bearer, *body;
	json_t *j;
	int rc;

	if ((bearer = ca_read_token(kc->token_file, cause)) == NULL)
		return -1;
	memset(&conf, 0, sizeof(conf));
	conf.ca_file = kc->ca_file;
	conf.bearer = bearer;
	conf.timeout_sec = 10;
	conf.max_body = 1024 * 1024;
	rr = xcalloc(1, sizeof(*rr));
	rr->kc = kc;
	rr->audience = xstrdup(audience);
	rr->cb = cb;
	rr->arg = arg;
	rr->client = https_client_new(kc->base, kc->api, &conf, cause);
	free(bearer);
	if (rr->client == NULL) {
		free(rr->audience);
		free(rr);
		return -1;
	}
	j = json_pack("{s:s, s:s, s:{s:s, s:[s]}}", "apiVersion",
	    "authentication.k8s.io/v1", "kind", "TokenReview", "spec", "token",
	    token, "audiences", audience);
	body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	rc = https_client_request(rr->client, "POST",
	    "/apis/authentication.k8s.io/v1/tokenreviews", "application/json",
	    body, strlen(body), kube_review_done_cb, rr, cause);
	free(body);
	if (rc == -1) {
		https_client_free(rr->client);
		free(rr->audience);
		free(rr);
		return -1;
	}
	return 0;
}
