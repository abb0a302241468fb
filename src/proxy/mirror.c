/*
 * Traffic mirroring: a copy of a request goes to another cluster, fire
 * and forget. The copy asks the peer to close after its response, which
 * is read and discarded; a mirror never delays, changes or fails the
 * request it copies, and each copy is bounded in time.
 */
#include "config.h"

#include <stdlib.h>

#include "proxy.h"

#define MIRROR_TIMEOUT_MS 10000

#define MIRROR_MAX_PENDING (1024 * 1024) /* unsent bytes before giving up */

struct mirror {
	struct worker *w;
	struct upstream *up;
	struct event *timer;
	struct mirror **owner; /* the exchange's pointer, cleared on free */
	LIST_ENTRY(mirror) entry;
};

static void
mirror_free(struct mirror *mr)
{
	if (mr->owner != NULL)
		*mr->owner = NULL;
	LIST_REMOVE(mr, entry);
	upstream_free(mr->up);
	event_free(mr->timer);
	free(mr);
}

static void
mirror_read_cb(struct conn *c, void *arg)
{
	struct mirror *mr = arg;

	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	if (c->eof || c->read_error)
		mirror_free(mr);
}

static void
mirror_write_cb(struct conn *c, void *arg)
{
}

static void
mirror_error_cb(struct conn *c, void *arg)
{
	mirror_free(arg);
}

static void
mirror_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	mirror_free(arg);
}

void
mirror_send(struct worker *w, const struct sockaddr_storage *addr,
    socklen_t len, struct evbuffer *head, struct mirror **owner)
{
	struct timeval tv = {MIRROR_TIMEOUT_MS / 1000, 0};
	struct mirror *mr;

	*owner = NULL;
	if ((mr = calloc(1, sizeof(*mr))) == NULL)
		return;
	if ((mr->up = upstream_get(w, addr, len, NULL, 0, 0)) == NULL ||
	    (mr->timer = evtimer_new(w->base, mirror_timer_cb, mr)) == NULL) {
		upstream_free(mr->up);
		free(mr);
		return;
	}
	mr->w = w;
	LIST_INSERT_HEAD(&w->mirrors, mr, entry);
	conn_set_cbs(
	    &mr->up->c, mirror_read_cb, mirror_write_cb, mirror_error_cb, mr);
	evbuffer_add_buffer(mr->up->c.out, head);
	evtimer_add(mr->timer, &tv);
	mr->owner = owner;
	*owner = mr;
}

void
mirror_body(struct mirror *mr, struct evbuffer *src, size_t n)
{
	conn_copy_range(mr->up->c.out, src, 0, n);
	/* A mirror that cannot keep up is dropped, never waited for. */
	if (conn_flush(&mr->up->c) == -1 ||
	    evbuffer_get_length(mr->up->c.out) > MIRROR_MAX_PENDING)
		mirror_free(mr);
}

void
mirror_detach(struct mirror *mr)
{
	if (mr != NULL)
		mr->owner = NULL;
}

void
mirror_free_all(struct worker *w)
{
	while (!LIST_EMPTY(&w->mirrors))
		mirror_free(LIST_FIRST(&w->mirrors));
}
