/*
 * Raw TCP echo: --tcp-echo, --banner and HTTP connections after an
 * upgrade.  When the client shuts its write side, what it sent is still
 * echoed in full before this side shuts its own (the half-close test).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "testd.h"

#define RAW_IN_MAX  (64 * 1024)  /* read high watermark */
#define RAW_OUT_MAX (256 * 1024) /* stop moving input above this */
#define RAW_OUT_LOW (64 * 1024)  /* write callback below this */

struct raw_conn {
	TAILQ_ENTRY(raw_conn) entry;
	struct testd *env;
	struct bufferevent *bev;
	int eof;
};

static void
raw_conn_pump(struct raw_conn *r)
{
	struct evbuffer *in = bufferevent_get_input(r->bev);
	struct evbuffer *out = bufferevent_get_output(r->bev);

	if (evbuffer_get_length(in) > 0 &&
	    evbuffer_get_length(out) < RAW_OUT_MAX) {
		if (evbuffer_add_buffer(out, in) == -1) {
			log_warnx("raw echo: out of memory");
			raw_conn_free(r);
			return;
		}
	}
	if (!r->eof || evbuffer_get_length(in) > 0 ||
	    evbuffer_get_length(out) > 0)
		return;
	/* Everything was echoed: pass the client's FIN on and close. */
	if (shutdown(bufferevent_getfd(r->bev), SHUT_WR) == -1)
		log_debug("raw echo: shutdown: %s", strerror(errno));
	raw_conn_free(r);
}

static void
raw_conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct raw_conn *r = arg;

	raw_conn_pump(r);
}

static void
raw_conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct raw_conn *r = arg;

	raw_conn_pump(r);
}

static void
raw_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct raw_conn *r = arg;

	if (what & BEV_EVENT_EOF) {
		r->eof = 1;
		/* From now on the write callback must see an empty buffer. */
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		raw_conn_pump(r);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		/* Still echoing to a slow reader: not idle. */
		bufferevent_enable(bev, EV_READ);
		return;
	}
	log_debug(
	    "raw echo: %s", (what & BEV_EVENT_TIMEOUT) ? "timeout" : "error");
	raw_conn_free(r);
}

static int
raw_conn_start(
    struct testd *env, struct bufferevent *bev, int eof, const char *banner)
{
	struct raw_conn *r;
	struct timeval tv;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_warnx("raw echo: out of memory");
		bufferevent_free(bev);
		return -1;
	}
	r->env = env;
	r->bev = bev;
	r->eof = eof;
	TAILQ_INSERT_TAIL(&env->raw_conns, r, entry);

	bufferevent_setcb(
	    bev, raw_conn_read_cb, raw_conn_write_cb, raw_conn_event_cb, r);
	bufferevent_setwatermark(bev, EV_READ, 0, RAW_IN_MAX);
	bufferevent_setwatermark(bev, EV_WRITE, eof ? 0 : RAW_OUT_LOW, 0);
	tv.tv_sec = env->timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(bev, &tv, &tv);
	if (banner != NULL &&
	    evbuffer_add_printf(
		bufferevent_get_output(bev), "%s\r\n", banner) == -1) {
		log_warnx("raw echo: out of memory");
		raw_conn_free(r);
		return -1;
	}
	if (bufferevent_enable(bev, eof ? EV_WRITE : EV_READ | EV_WRITE) ==
	    -1) {
		log_warnx("raw echo: cannot enable events");
		raw_conn_free(r);
		return -1;
	}
	/* Data may already wait in the input (after an upgrade). */
	raw_conn_pump(r);
	return 0;
}

void
raw_conn_accept(struct testd *env, evutil_socket_t fd, const char *banner)
{
	struct bufferevent *bev;
	int on = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		log_warn("raw echo: TCP_NODELAY");
	if ((bev = bufferevent_socket_new(
		 env->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("raw echo: cannot set up the session");
		close(fd);
		return;
	}
	raw_conn_start(env, bev, 0, banner);
}

int
raw_conn_adopt(struct testd *env, struct bufferevent *bev, int eof)
{
	return raw_conn_start(env, bev, eof, NULL);
}

void
raw_conn_free(struct raw_conn *r)
{
	if (r == NULL)
		return;
	TAILQ_REMOVE(&r->env->raw_conns, r, entry);
	bufferevent_free(r->bev);
	free(r);
}
