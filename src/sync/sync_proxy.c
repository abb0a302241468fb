/*
 * Asks the proxy beside us which policy version it runs (its admin
 * port, on loopback), so that weft-server's status shows what is in
 * force and not only what was written to the DB.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "sync.h"
#include "xmalloc.h"

#define SYNC_PROXY_TIMEOUT_SEC 2

struct sync_probe {
	struct evhttp_connection *evcon;
	sync_proxy_cb cb;
	void *arg;
};

static void
sync_probe_free_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evhttp_connection_free(arg);
}

static void
sync_probe_done_cb(struct evhttp_request *req, void *arg)
{
	struct sync_probe *p = arg;
	struct evbuffer *in;
	json_t *j, *v;
	int64_t version = -1;
	char *body;
	size_t len;

	if (req != NULL && evhttp_request_get_response_code(req) == 200) {
		in = evhttp_request_get_input_buffer(req);
		len = evbuffer_get_length(in);
		if ((body = malloc(len + 1)) != NULL) {
			evbuffer_copyout(in, body, len);
			j = json_loadb(body, len, 0, NULL);
			v = json_object_get(j, "config_version");
			if (json_is_integer(v))
				version = json_integer_value(v);
			json_decref(j);
			free(body);
		}
	}
	/* The connection may not be freed inside its own callback. */
	event_base_once(evhttp_connection_get_base(p->evcon), -1, EV_TIMEOUT,
	    sync_probe_free_cb, p->evcon, NULL);
	p->cb(version, p->arg);
	free(p);
}

int
sync_proxy_admin_addr(const char *addr, char *host, size_t len, int *port)
{
	const char *colon = strrchr(addr, ':');

	*port = colon != NULL ? atoi(colon + 1) : 0;
	if (colon == NULL || colon == addr || *port <= 0 || *port > 65535 ||
	    (size_t)(colon - addr) >= len)
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	return 0;
}

void
sync_proxy_version(struct sync *s, sync_proxy_cb cb, void *arg)
{
	struct evhttp_request *req;
	struct sync_probe *p;
	char host[64];
	int port;

	if (sync_proxy_admin_addr(
		s->conf.proxy_admin, host, sizeof(host), &port) == -1) {
		cb(-1, arg);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->cb = cb;
	p->arg = arg;
	p->evcon = evhttp_connection_base_new(
	    s->base, NULL, host, (unsigned short)port);
	req =
	    p->evcon != NULL ? evhttp_request_new(sync_probe_done_cb, p) : NULL;
	if (req == NULL) {
		if (p->evcon != NULL)
			evhttp_connection_free(p->evcon);
		free(p);
		cb(-1, arg);
		return;
	}
	evhttp_connection_set_timeout(p->evcon, SYNC_PROXY_TIMEOUT_SEC);
	evhttp_connection_set_retries(p->evcon, 0);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host);
	if (evhttp_make_request(
		p->evcon, req, EVHTTP_REQ_GET, "/config_dump") == -1) {
		/* evhttp_make_request frees req on failure. */
		evhttp_connection_free(p->evcon);
		free(p);
		cb(-1, arg);
	}
}
