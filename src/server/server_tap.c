/*
 * The tap relay: weftctl tap --server. A proxy's /tap stream is served on
 * its loopback admin port only, so the server does not connect to it:
 * it records the tap (id, filter, deadline), and the next /v1/sync
 * answer of every registered workload carries it (held sync requests
 * are answered at once). Each weft-sync then reads its own proxy's
 * /tap with the filter and POSTs the events in batches to /v1/tap/ID
 * (authenticated by its workload certificate) until the server answers
 * that the tap ended. weftctl long-polls /v1/tap/ID for what came in.
 *
 *   GET    /v1/tap?FILTER   (admin) starts a tap: {"id": ...}
 *   GET    /v1/tap/ID       (admin) waits up to 5 s for events:
 *                           {"events": [...], "dropped": N, "ended": B}
 *   DELETE /v1/tap/ID       (admin) ends it
 *   POST   /v1/tap/ID?namespace=NS&workload=W  (that workload) events,
 *                           NDJSON: {"ended": B}, 410 once it ended
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "duration.h"
#include "log.h"
#include "server.h"
#include "tap.h"
#include "xmalloc.h"

#define SERVER_TAP_MAX       8    /* at once */
#define SERVER_TAP_BUFFER    2000 /* events waiting for weftctl */
#define SERVER_TAP_POLL_SEC  5    /* a poll is held this long at most */
#define SERVER_TAP_IDLE_SEC  15   /* no poll for this long: ended */
#define SERVER_TAP_DEFAULT_S 600  /* without a duration */
#define SERVER_TAP_MAX_SEC   3600

struct server_tap {
	TAILQ_ENTRY(server_tap) entry;
	struct server *srv;
	char id[33];
	char query[1024]; /* the filter, as the proxies get it */
	long max;         /* events before it ends; 0: no limit */
	long accepted;
	uint64_t dropped;
	json_t *events; /* not yet polled */
	int64_t deadline;
	int64_t last_poll;
	int64_t poll_since;
	int ended;
	struct evhttp_request *poll; /* a held GET /v1/tap/ID */
	struct event *timer;         /* once a second */
	char **told;                 /* "ns/workload" of the proxies told */
	size_t ntold;
};

static void server_tap_free(struct server_tap *t);

static struct server_tap *
server_tap_find(struct server *srv, const char *id)
{
	struct server_tap *t;

	TAILQ_FOREACH (t, &srv->taps, entry) {
		if (strcmp(t->id, id) == 0)
			return t;
	}
	return NULL;
}

static int
server_tap_was_told(const struct server_tap *t, const struct server_proxy *p)
{
	size_t i, nl = strlen(p->namespace);

	for (i = 0; i < t->ntold; i++) {
		if (strncmp(t->told[i], p->namespace, nl) == 0 &&
		    t->told[i][nl] == '/' &&
		    strcmp(t->told[i] + nl + 1, p->workload) == 0)
			return 1;
	}
	return 0;
}

int
server_tap_untold(struct server *srv, const struct server_proxy *p)
{
	struct server_tap *t;

	TAILQ_FOREACH (t, &srv->taps, entry) {
		if (!t->ended && !server_tap_was_told(t, p))
			return 1;
	}
	return 0;
}

json_t *
server_tap_attach(struct server *srv, struct server_proxy *p, json_t *j)
{
	struct server_tap *t;
	json_t *list = NULL, *copy;
	int64_t now = server_now();

	if (j == NULL || p == NULL)
		return j;
	TAILQ_FOREACH (t, &srv->taps, entry) {
		if (t->ended || server_tap_was_told(t, p))
			continue;
		if (list == NULL)
			list = json_array();
		json_array_append_new(list,
		    json_pack("{s:s,s:s,s:I}", "id", t->id, "query", t->query,
			"seconds", (json_int_t)(t->deadline - now)));
		t->told =
		    xreallocarray(t->told, t->ntold + 1, sizeof(*t->told));
		xasprintf(
		    &t->told[t->ntold++], "%s/%s", p->namespace, p->workload);
	}
	if (list == NULL)
		return j;
	/* j may be shared by the waiters at one version. */
	copy = json_copy(j);
	json_decref(j);
	if (copy == NULL) {
		json_decref(list);
		return NULL;
	}
	json_object_set_new(copy, "taps", list);
	return copy;
}

/* Answers the held poll of t, if any, with what came in. */
static void
server_tap_answer(struct server_tap *t)
{
	struct evhttp_request *req = t->poll;

	if (req == NULL)
		return;
	t->poll = NULL;
	if (evhttp_request_get_connection(req) != NULL)
		evhttp_connection_set_closecb(
		    evhttp_request_get_connection(req), NULL, NULL);
	server_reply_json(req, 200,
	    json_pack("{s:o,s:I,s:b}", "events", t->events, "dropped",
		(json_int_t)t->dropped, "ended", t->ended));
	t->events = json_array();
}

static void
server_tap_end(struct server_tap *t, const char *why)
{
	if (t->ended)
		return;
	t->ended = 1;
	log_info("tap %s ended: %s", t->id, why);
}

static void
server_tap_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server_tap *t = arg;
	int64_t now = server_now();

	(void)fd;
	(void)what;
	if (!t->ended && now >= t->deadline)
		server_tap_end(t, "its duration is over");
	if (t->poll == NULL && now - t->last_poll > SERVER_TAP_IDLE_SEC) {
		server_tap_end(t, "weftctl went away");
		server_tap_free(t);
		return;
	}
	if (t->poll != NULL &&
	    (t->ended || json_array_size(t->events) > 0 ||
		now - t->poll_since >= SERVER_TAP_POLL_SEC))
		server_tap_answer(t);
}

static void
server_tap_free(struct server_tap *t)
{
	size_t i;

	if (t->poll != NULL) {
		t->ended = 1;
		server_tap_answer(t);
	}
	TAILQ_REMOVE(&t->srv->taps, t, entry);
	event_free(t->timer);
	json_decref(t->events);
	for (i = 0; i < t->ntold; i++)
		free(t->told[i]);
	free(t->told);
	free(t);
}

static void
server_tap_poll_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct server_tap *t = arg;

	(void)evcon;
	/* libevent frees the request with its connection. */
	t->poll = NULL;
}

static void
server_tap_start(struct server *srv, struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	struct timeval second = {1, 0};
	struct tap_filter f;
	struct server_tap *t;
	unsigned char rnd[16];
	char cause[200], *dur;
	int64_t ms = (int64_t)SERVER_TAP_DEFAULT_S * 1000;
	int n = 0, i;

	TAILQ_FOREACH (t, &srv->taps, entry)
		n += !t->ended;
	if (n >= SERVER_TAP_MAX) {
		server_reply_error(
		    req, 503, "too many taps (at most %d)", SERVER_TAP_MAX);
		return;
	}
	/* duration is the server's; the rest is the proxies' filter. */
	if ((dur = server_query(req, "duration")) != NULL &&
	    (duration_parse(dur, &ms) == -1 || ms < 1000 ||
		ms > (int64_t)SERVER_TAP_MAX_SEC * 1000)) {
		server_reply_error(req, 400, "duration \"%s\": from 1s to %ds",
		    dur, SERVER_TAP_MAX_SEC);
		free(dur);
		return;
	}
	free(dur);
	t = xcalloc(1, sizeof(*t));
	if (query != NULL) {
		/* Without its duration=... */
		const char *p = query, *amp;
		char *o = t->query;
		size_t len;

		while (*p != '\0') {
			amp = strchr(p, '&');
			len = amp != NULL ? (size_t)(amp - p) : strlen(p);
			if (strncmp(p, "duration=", 9) != 0 &&
			    (size_t)(o - t->query) + len + 2 <
				sizeof(t->query)) {
				if (o != t->query)
					*o++ = '&';
				memcpy(o, p, len);
				o += len;
				*o = '\0';
			}
			p += len + (amp != NULL);
		}
	}
	if (tap_filter_parse(&f, t->query, cause, sizeof(cause)) == -1) {
		server_reply_error(req, 400, "%s", cause);
		free(t);
		return;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		server_reply_error(req, 500, "no randomness");
		free(t);
		return;
	}
	for (i = 0; i < 16; i++)
		snprintf(t->id + 2 * i, 3, "%02x", rnd[i]);
	t->srv = srv;
	t->max = f.max;
	t->events = json_array();
	t->deadline = server_now() + (ms + 999) / 1000;
	t->last_poll = server_now();
	t->timer = event_new(srv->base, -1, EV_PERSIST, server_tap_timer_cb, t);
	if (t->timer == NULL || event_add(t->timer, &second) == -1) {
		if (t->timer != NULL)
			event_free(t->timer);
		json_decref(t->events);
		free(t);
		server_reply_error(req, 500, "out of memory");
		return;
	}
	TAILQ_INSERT_TAIL(&srv->taps, t, entry);
	log_info("tap %s started: \"%s\" for %llds", t->id, t->query,
	    (long long)(t->deadline - server_now()));
	server_reply_json(req, 200,
	    json_pack("{s:s,s:I}", "id", t->id, "seconds",
		(json_int_t)(t->deadline - server_now())));
	/* Held sync requests carry the tap now. */
	server_feed_wake_taps(srv);
}

static void
server_tap_poll(struct server_tap *t, struct evhttp_request *req)
{
	if (t->poll != NULL) {
		server_reply_error(req, 409, "this tap is already being read");
		return;
	}
	t->last_poll = t->poll_since = server_now();
	t->poll = req;
	evhttp_connection_set_closecb(
	    evhttp_request_get_connection(req), server_tap_poll_close_cb, t);
	if (t->ended || json_array_size(t->events) > 0)
		server_tap_answer(t);
	if (t->ended)
		server_tap_free(t);
}

/* Events from a workload's weft-sync: NDJSON, a line each. */
static void
server_tap_events(struct server *srv, struct server_tap *t,
    struct evhttp_request *req, const struct server_caller *c)
{
	struct server_proxy *p;
	char *ns = server_query(req, "namespace");
	char *wl = server_query(req, "workload");
	char *body, *line, *nl;
	json_t *ev, *d;
	size_t len;

	p = ns != NULL && wl != NULL ? server_proxy_find(srv, ns, wl) : NULL;
	if (p == NULL) {
		server_reply_error(req, 400,
		    "expected a registered namespace "
		    "and workload");
		goto out;
	}
	if (server_require_workload(req, c, ns, wl, p->service_account) == -1)
		goto out;
	if (t == NULL || t->ended || !server_tap_was_told(t, p)) {
		server_reply_json(req, 410, json_pack("{s:b}", "ended", 1));
		goto out;
	}
	body = server_body(req, &len);
	for (line = body; line != NULL && *line != '\0'; line = nl) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		if ((ev = json_loads(line, 0, NULL)) == NULL ||
		    !json_is_object(ev)) {
			json_decref(ev);
			continue;
		}
		if ((d = json_object_get(ev, "dropped")) != NULL) {
			/* A proxy's count so far, for its own stream. */
			json_decref(ev);
			continue;
		}
		if (t->max > 0 && t->accepted >= t->max) {
			json_decref(ev);
			break;
		}
		if (json_array_size(t->events) >= SERVER_TAP_BUFFER) {
			t->dropped++;
			json_decref(ev);
			continue;
		}
		json_array_append_new(t->events, ev);
		t->accepted++;
	}
	free(body);
	if (t->max > 0 && t->accepted >= t->max)
		server_tap_end(t, "it has all its events");
	if (t->poll != NULL)
		server_tap_answer(t);
	server_reply_json(
	    req, t->ended ? 410 : 200, json_pack("{s:b}", "ended", t->ended));
out:
	free(ns);
	free(wl);
}

void
server_tap_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c, const char *rest)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct server_tap *t;

	if (rest[0] == '\0') {
		if (server_require_admin(req, c) == -1)
			return;
		if (cmd != EVHTTP_REQ_GET)
			server_reply_error(req, 405, "use GET");
		else
			server_tap_start(srv, req);
		return;
	}
	t = server_tap_find(srv, rest);
	if (cmd == EVHTTP_REQ_POST) {
		server_tap_events(srv, t, req, c);
		return;
	}
	if (server_require_admin(req, c) == -1)
		return;
	if (t == NULL) {
		server_reply_error(req, 404, "no tap %s", rest);
		return;
	}
	if (cmd == EVHTTP_REQ_DELETE) {
		server_tap_end(t, "weftctl ended it");
		server_reply_json(req, 200, json_pack("{s:b}", "ended", 1));
		server_tap_free(t);
	} else if (cmd == EVHTTP_REQ_GET)
		server_tap_poll(t, req);
	else
		server_reply_error(req, 405, "use GET, POST or DELETE");
}

void
server_tap_stop(struct server *srv)
{
	while (!TAILQ_EMPTY(&srv->taps))
		server_tap_free(TAILQ_FIRST(&srv->taps));
}
