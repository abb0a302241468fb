/*
 * GET /v1/stats?window=DURATION (admin): the golden metrics of every
 * healthy registered workload, asked in parallel from its proxy's
 * metrics port (ADDRESS:15020/stats) with a short timeout. The answer
 * lists each workload with its /stats document, or why there is none;
 * weftctl stat --server merges them.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "duration.h"
#include "log.h"
#include "server.h"
#include "xmalloc.h"

#define SERVER_STATS_PORT      15020
#define SERVER_STATS_TIMEOUT_S 2
#define SERVER_STATS_MAX_BODY  (4 * 1024 * 1024)

struct server_stats_fanout {
	struct server *srv;
	struct evhttp_request *req; /* weftctl's, answered when all are in */
	json_t *proxies;
	int pending;
	struct evhttp_connection **conns; /* freed after the answer */
	int nconns;
};

struct server_stats_call {
	struct server_stats_fanout *f;
	json_t *entry; /* borrowed from f->proxies */
};

/* Connections cannot be freed in their own callbacks: later. */
static void
server_stats_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server_stats_fanout *f = arg;
	int i;

	for (i = 0; i < f->nconns; i++) {
		if (f->conns[i] != NULL)
			evhttp_connection_free(f->conns[i]);
	}
	free(f->conns);
	free(f);
}

static void
server_stats_finish(struct server_stats_fanout *f)
{
	server_reply_json(f->req, 200,
	    json_pack("{s:I,s:o}", "now", (json_int_t)server_now(), "proxies",
		f->proxies));
	if (event_base_once(f->srv->base, -1, EV_TIMEOUT, server_stats_free_cb,
		f, NULL) == -1)
		log_warnx("stats: cannot schedule a cleanup");
}

static void
server_stats_done_cb(struct evhttp_request *r, void *arg)
{
	struct server_stats_call *call = arg;
	struct server_stats_fanout *f = call->f;
	struct evbuffer *b;
	json_error_t jerr;
	json_t *doc = NULL;
	char err[160];
	size_t len;
	int code;

	code = r != NULL ? evhttp_request_get_response_code(r) : 0;
	if (r == NULL || code == 0)
		snprintf(err, sizeof(err), "no answer within %d s",
		    SERVER_STATS_TIMEOUT_S);
	else if (code != 200)
		snprintf(err, sizeof(err), "HTTP %d", code);
	else {
		b = evhttp_request_get_input_buffer(r);
		len = evbuffer_get_length(b);
		doc = json_loadb(
		    (const char *)evbuffer_pullup(b, -1), len, 0, &jerr);
		if (doc == NULL || !json_is_object(doc))
			snprintf(err, sizeof(err), "not a /stats answer");
	}
	if (doc != NULL && json_is_object(doc))
		json_object_set_new(call->entry, "stats", doc);
	else {
		json_decref(doc);
		json_object_set_new(call->entry, "error", json_string(err));
	}
	free(call);
	if (--f->pending == 0)
		server_stats_finish(f);
}

void
server_stats_cb(struct server *srv, struct evhttp_request *req,
    const struct server_caller *c)
{
	struct server_stats_fanout *f;
	struct server_stats_call *call;
	struct server_proxy *p;
	struct evhttp_connection *conn;
	struct evhttp_request *out;
	char target[64], *window;
	int64_t ms = 60000;
	json_t *entry;
	int n = 0;

	if (server_require_admin(req, c) == -1)
		return;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		server_reply_error(req, 405, "use GET");
		return;
	}
	if ((window = server_query(req, "window")) != NULL &&
	    (duration_parse(window, &ms) == -1 || ms < 1000 || ms > 300000)) {
		server_reply_error(req, 400,
		    "window \"%s\": a duration from 1s to 5m", window);
		free(window);
		return;
	}
	free(window);
	snprintf(target, sizeof(target), "/stats?window=%lldms", (long long)ms);
	f = xcalloc(1, sizeof(*f));
	f->srv = srv;
	f->req = req;
	f->proxies = json_array();
	TAILQ_FOREACH (p, &srv->proxies, entry)
		n++;
	f->conns = xcalloc((size_t)n + 1, sizeof(*f->conns));
	/* One more pending than calls, so that none finishes early. */
	f->pending = 1;
	TAILQ_FOREACH (p, &srv->proxies, entry) {
		entry = json_pack("{s:s,s:s,s:s}", "namespace", p->namespace,
		    "workload", p->workload, "address", p->address);
		json_array_append_new(f->proxies, entry);
		if (!p->healthy) {
			json_object_set_new(
			    entry, "error", json_string("unhealthy"));
			continue;
		}
		conn = evhttp_connection_base_new(
		    srv->base, NULL, p->address, SERVER_STATS_PORT);
		if (conn == NULL) {
			json_object_set_new(
			    entry, "error", json_string("cannot connect"));
			continue;
		}
		f->conns[f->nconns++] = conn;
		evhttp_connection_set_timeout(conn, SERVER_STATS_TIMEOUT_S);
		evhttp_connection_set_retries(conn, 0);
		evhttp_connection_set_max_body_size(
		    conn, SERVER_STATS_MAX_BODY);
		call = xcalloc(1, sizeof(*call));
		call->f = f;
		call->entry = entry;
		if ((out = evhttp_request_new(server_stats_done_cb, call)) ==
		    NULL) {
			free(call);
			json_object_set_new(
			    entry, "error", json_string("out of memory"));
			continue;
		}
		evhttp_add_header(
		    evhttp_request_get_output_headers(out), "Host", p->address);
		f->pending++;
		/* On failure libevent has freed out and called nobody. */
		if (evhttp_make_request(conn, out, EVHTTP_REQ_GET, target) ==
		    -1) {
			f->pending--;
			free(call);
			json_object_set_new(entry, "error",
			    json_string("cannot send the request"));
		}
	}
	if (--f->pending == 0)
		server_stats_finish(f);
}
