/*
 * The proxy's HTTP endpoints, served by libevent's evhttp on the main
 * thread: Prometheus metrics and health on the metrics port (all
 * addresses), and the same plus configuration and log level on the
 * admin port (loopback only).
 */
#include "config.h"

#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "policy_db.h"
#include "proxy.h"
#include "snapshot.h"

static void
admin_metrics_cb(struct evhttp_request *req, void *arg)
{
	struct proxy *px = arg;
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	uint64_t active = 0;
	int i;

	for (i = 0; i < px->nworkers; i++)
		active += __atomic_load_n(
		    &px->workers[i]->nsessions, __ATOMIC_RELAXED);
	px->globals.connections_active = active;
	if (metrics_render(
		out, px->shards, px->nworkers, &px->id, &px->globals) == -1) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void
admin_ready_cb(struct evhttp_request *req, void *arg)
{
	struct proxy *px = arg;
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	if (px->ready && !px->draining) {
		evbuffer_add_printf(out, "ready\n");
		evhttp_send_reply(req, 200, "OK", NULL);
	} else {
		evbuffer_add_printf(
		    out, "%s\n", px->draining ? "draining" : "starting");
		evhttp_send_reply(req, 503, "Service Unavailable", NULL);
	}
}

static void
admin_live_cb(struct evhttp_request *req, void *arg)
{
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "live\n");
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void
admin_json_str(struct evbuffer *b, const char *key, const char *v, int last)
{
	const char *p;

	evbuffer_add_printf(b, "  \"%s\": ", key);
	if (v == NULL) {
		evbuffer_add_printf(b, "null%s\n", last ? "" : ",");
		return;
	}
	evbuffer_add(b, "\"", 1);
	for (p = v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add_printf(b, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			evbuffer_add_printf(b, "\\u%04x", *p);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add_printf(b, "\"%s\n", last ? "" : ",");
}

static void
admin_config_cb(struct evhttp_request *req, void *arg)
{
	struct proxy *px = arg;
	const struct proxy_conf *c = &px->conf;
	struct evbuffer *b = evhttp_request_get_output_buffer(req);

	evbuffer_add_printf(b, "{\n");
	admin_json_str(b, "workload", c->workload, 0);
	admin_json_str(b, "namespace", c->namespace, 0);
	admin_json_str(b, "service_account", c->service_account, 0);
	admin_json_str(b, "labels", c->labels, 0);
	admin_json_str(b, "locality", c->locality, 0);
	admin_json_str(b, "db", c->db_path, 0);
	admin_json_str(b, "certs", c->certs_dir, 0);
	admin_json_str(b, "access_log", c->access_log, 0);
	admin_json_str(b, "log_level", log_level_name(log_getlevel()), 0);
	if (px->snap != NULL)
		evbuffer_add_printf(b,
		    "  \"policy\": {\"version\": %lld, \"services\": %zu, "
		    "\"virtual_services\": %zu, \"clusters\": %zu, "
		    "\"endpoints\": %zu},\n",
		    (long long)snapshot_version(px->snap),
		    snapshot_nservices(px->snap), snapshot_nvhosts(px->snap),
		    snapshot_nclusters(px->snap),
		    snapshot_nendpoints(px->snap));
	evbuffer_add_printf(b,
	    "  \"config_version\": %lld,\n  \"outbound_port\": %d,\n"
	    "  \"inbound_port\": %d,\n  \"admin_port\": %d,\n"
	    "  \"metrics_port\": %d,\n  \"threads\": %d,\n"
	    "  \"max_connections\": %d,\n  \"uid\": %u\n}\n",
	    (long long)px->globals.config_version, c->outbound_port,
	    c->inbound_port, c->admin_port, c->metrics_port, c->threads,
	    c->max_connections, (unsigned int)c->uid);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", NULL);
}

/* GET /logging shows the level; /logging?level=debug changes it. */
static void
admin_logging_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evhttp_request_get_output_buffer(req);
	struct evkeyvalq q;
	const char *uri = evhttp_request_get_uri(req), *level;
	enum log_level l;

	TAILQ_INIT(&q);
	evhttp_parse_query(uri, &q);
	if ((level = evhttp_find_header(&q, "level")) != NULL) {
		if (log_parse_level(level, &l) == -1) {
			evhttp_clear_headers(&q);
			evbuffer_add_printf(b,
			    "unknown level; use error, warn, info or debug\n");
			evhttp_send_reply(req, 400, "Bad Request", NULL);
			return;
		}
		log_setlevel(l);
		log_info("log level set to %s", log_level_name(l));
	}
	evhttp_clear_headers(&q);
	evbuffer_add_printf(b, "level: %s\n", log_level_name(log_getlevel()));
	evhttp_send_reply(req, 200, "OK", NULL);
}

static struct evhttp *
admin_http_new(struct proxy *px, const char *addr, int port, int full)
{
	struct evhttp *h;

	if ((h = evhttp_new(px->base)) == NULL)
		return NULL;
	evhttp_set_allowed_methods(
	    h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_max_headers_size(h, 16384);
	evhttp_set_max_body_size(h, 16384);
	evhttp_set_timeout(h, 10);
	evhttp_set_cb(h, "/metrics", admin_metrics_cb, px);
	evhttp_set_cb(h, "/stats/prometheus", admin_metrics_cb, px);
	evhttp_set_cb(h, "/ready", admin_ready_cb, px);
	evhttp_set_cb(h, "/healthz/ready", admin_ready_cb, px);
	evhttp_set_cb(h, "/live", admin_live_cb, px);
	if (full) {
		evhttp_set_cb(h, "/config_dump", admin_config_cb, px);
		evhttp_set_cb(h, "/logging", admin_logging_cb, px);
	}
	if (evhttp_bind_socket(h, addr, (ev_uint16_t)port) == -1) {
		log_warn("listen on %s:%d", addr, port);
		evhttp_free(h);
		return NULL;
	}
	return h;
}

int
admin_start(struct proxy *px)
{
	/* "::" takes IPv4 too (v4-mapped); without IPv6, 0.0.0.0 alone. */
	px->metrics_http = admin_http_new(px, "::", px->conf.metrics_port, 0);
	if (px->metrics_http == NULL)
		px->metrics_http =
		    admin_http_new(px, "0.0.0.0", px->conf.metrics_port, 0);
	if (px->metrics_http == NULL)
		return -1;
	px->admin_http =
	    admin_http_new(px, "127.0.0.1", px->conf.admin_port, 1);
	if (px->admin_http == NULL)
		return -1;
	return 0;
}

void
admin_stop(struct proxy *px)
{
	if (px->metrics_http != NULL)
		evhttp_free(px->metrics_http);
	if (px->admin_http != NULL)
		evhttp_free(px->admin_http);
	px->metrics_http = px->admin_http = NULL;
}
