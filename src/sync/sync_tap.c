/*
 * weft-sync's part of weftctl tap --server: a sync answer may name taps
 * ({"id", "query", "seconds"}); for each, weft-sync reads its proxy's
 * /tap stream (the admin port, on loopback) with that filter and POSTs
 * the events, in batches of whole lines, to weft-server's /v1/tap/ID,
 * authenticated by the workload certificate, until the server answers
 * that the tap ended, the proxy's stream ends, or the time is up.
 * Lines that cannot be held while a POST is in flight are dropped and
 * counted: a tap never slows the sync or the proxy.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "https_client.h"
#include "log.h"
#include "sync.h"
#include "xmalloc.h"

#define SYNC_TAP_MAX         8
#define SYNC_TAP_FLUSH_MS    200
#define SYNC_TAP_MAX_PENDING (256 * 1024)
#define SYNC_TAP_ASK_MS      2000 /* with nothing to send, ask if it ended */

struct sync_tap {
	struct sync_tap *next;
	struct sync *s;
	char id[33];
	struct evhttp_connection *evcon; /* to the proxy's admin port */
	struct evhttp_request *req;      /* its /tap stream, while open */
	struct evbuffer *pending;        /* lines not yet posted */
	struct https_client *client;     /* posts to the server */
	struct event *timer;
	int64_t deadline;  /* monotonic ms */
	int64_t last_post; /* monotonic ms */
	uint64_t dropped;
	int posting;
	int stream_done;
	int ended;
};

static int64_t
sync_tap_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sync_tap_free(struct sync_tap *t)
{
	struct sync_tap **pp;

	for (pp = &t->s->taps; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	if (t->req != NULL)
		evhttp_cancel_request(t->req);
	if (t->evcon != NULL)
		evhttp_connection_free(t->evcon);
	https_client_free(t->client);
	if (t->timer != NULL)
		event_free(t->timer);
	if (t->pending != NULL)
		evbuffer_free(t->pending);
	log_info("tap %s: done%s", t->id,
	    t->dropped > 0 ? " (some events dropped)" : "");
	free(t);
}

static void
sync_tap_chunk_cb(struct evhttp_request *req, void *arg)
{
	struct sync_tap *t = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);

	if (evbuffer_get_length(t->pending) + len > SYNC_TAP_MAX_PENDING) {
		t->dropped++;
		evbuffer_drain(in, len);
		return;
	}
	evbuffer_add_buffer(t->pending, in);
}

static void
sync_tap_stream_done_cb(struct evhttp_request *req, void *arg)
{
	struct sync_tap *t = arg;

	(void)req;
	/* libevent frees the request after this. */
	t->req = NULL;
	t->stream_done = 1;
}

static void
sync_tap_posted_cb(struct https_response *r, void *arg)
{
	struct sync_tap *t = arg;
	json_t *j;

	t->posting = 0;
	if (r->status == 410)
		t->ended = 1;
	else if (r->status != 200) {
		log_warnx("tap %s: the server answered %d%s%s", t->id,
		    r->status, r->error != NULL ? ": " : "",
		    r->error != NULL ? r->error : "");
		t->ended = 1;
	} else if ((j = json_loads(r->body != NULL ? r->body : "", 0, NULL)) !=
	    NULL) {
		if (json_is_true(json_object_get(j, "ended")))
			t->ended = 1;
		json_decref(j);
	}
}

/* Posts the whole lines held, one batch at a time. */
static void
sync_tap_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sync_tap *t = arg;
	struct sync *s = t->s;
	char *target, *cause = NULL, *body;
	size_t len, n;

	(void)fd;
	(void)what;
	if (t->posting)
		return;
	len = evbuffer_get_length(t->pending);
	body = len > 0 ? (char *)evbuffer_pullup(t->pending, -1) : NULL;
	for (n = len; n > 0 && body[n - 1] != '\n'; n--)
		;
	if (t->ended || sync_tap_ms() >= t->deadline ||
	    (t->stream_done && n == 0)) {
		sync_tap_free(t);
		return;
	}
	/* An empty batch now and then learns that the tap ended. */
	if (n == 0 && sync_tap_ms() - t->last_post < SYNC_TAP_ASK_MS)
		return;
	t->last_post = sync_tap_ms();
	xasprintf(&target, "/v1/tap/%s?namespace=%s&workload=%s", t->id,
	    s->conf.namespace, s->conf.workload);
	if (https_client_request(t->client, "POST", target,
		"application/x-ndjson", n > 0 ? body : "", n,
		sync_tap_posted_cb, t, &cause) == -1) {
		log_warnx("tap %s: %s", t->id, cause);
		free(cause);
		t->ended = 1;
	} else
		t->posting = 1;
	free(target);
	evbuffer_drain(t->pending, n);
}

static void
sync_tap_start(
    struct sync *s, const char *id, const char *query, int64_t seconds)
{
	struct timeval tv = {0, SYNC_TAP_FLUSH_MS * 1000};
	struct https_client_conf c;
	struct sync_tap *t;
	char host[64], *ca, *cert, *key, *cause = NULL, *target;
	int port;

	if (sync_proxy_admin_addr(
		s->conf.proxy_admin, host, sizeof(host), &port) == -1) {
		log_warnx("tap %s: bad proxy admin address %s", id,
		    s->conf.proxy_admin);
		return;
	}
	t = xcalloc(1, sizeof(*t));
	t->s = s;
	snprintf(t->id, sizeof(t->id), "%s", id);
	t->deadline = sync_tap_ms() + seconds * 1000;
	t->last_post = sync_tap_ms();
	memset(&c, 0, sizeof(c));
	xasprintf(&ca, "%s/ca.pem", s->conf.certs_dir);
	xasprintf(&cert, "%s/cert.pem", s->conf.certs_dir);
	xasprintf(&key, "%s/key.pem", s->conf.certs_dir);
	c.ca_file = ca;
	c.cert_file = cert;
	c.key_file = key;
	c.timeout_sec = 10;
	t->client = https_client_new(s->base, s->conf.server, &c, &cause);
	free(ca);
	free(cert);
	free(key);
	t->next = s->taps;
	s->taps = t;
	if (t->client == NULL) {
		log_warnx("tap %s: %s", id, cause);
		free(cause);
		sync_tap_free(t);
		return;
	}
	t->pending = evbuffer_new();
	t->timer = event_new(s->base, -1, EV_PERSIST, sync_tap_timer_cb, t);
	t->evcon = evhttp_connection_base_new(
	    s->base, NULL, host, (unsigned short)port);
	if (t->pending == NULL || t->timer == NULL || t->evcon == NULL ||
	    event_add(t->timer, &tv) == -1 ||
	    (t->req = evhttp_request_new(sync_tap_stream_done_cb, t)) == NULL) {
		log_warnx("tap %s: out of memory", id);
		sync_tap_free(t);
		return;
	}
	evhttp_connection_set_timeout(t->evcon, (int)seconds + 5);
	evhttp_connection_set_retries(t->evcon, 0);
	evhttp_request_set_chunked_cb(t->req, sync_tap_chunk_cb);
	evhttp_add_header(
	    evhttp_request_get_output_headers(t->req), "Host", host);
	xasprintf(&target, "/tap%s%s", query[0] != '\0' ? "?" : "", query);
	if (evhttp_make_request(t->evcon, t->req, EVHTTP_REQ_GET, target) ==
	    -1) {
		/* evhttp_make_request frees the request on failure. */
		t->req = NULL;
		log_warnx("tap %s: cannot ask the proxy", id);
		sync_tap_free(t);
	} else
		log_info("tap %s: relaying \"%s\" for %llds", id, query,
		    (long long)seconds);
	free(target);
}

void
sync_tap_instructions(struct sync *s, const json_t *answer)
{
	const json_t *list = json_object_get(answer, "taps"), *e;
	const char *id, *query;
	struct sync_tap *t;
	json_int_t seconds;
	size_t i;
	int n;

	json_array_foreach(list, i, e)
	{
		id = json_string_value(json_object_get(e, "id"));
		query = json_string_value(json_object_get(e, "query"));
		seconds = json_integer_value(json_object_get(e, "seconds"));
		if (id == NULL || query == NULL || strlen(id) >= 33 ||
		    seconds <= 0)
			continue;
		for (n = 0, t = s->taps; t != NULL; t = t->next, n++) {
			if (strcmp(t->id, id) == 0)
				break;
		}
		if (t != NULL)
			continue;
		if (n >= SYNC_TAP_MAX) {
			log_warnx("tap %s: %d taps already run here", id, n);
			continue;
		}
		if (!s->by_cert) {
			log_warnx("tap %s: no workload certificate yet", id);
			continue;
		}
		sync_tap_start(s, id, query, seconds > 3600 ? 3600 : seconds);
	}
}

void
sync_tap_stop(struct sync *s)
{
	while (s->taps != NULL)
		sync_tap_free(s->taps);
}
