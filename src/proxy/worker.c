#include "config.h"

#include <sys/eventfd.h>
#include <sys/random.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb.h"
#include "proxy.h"
#include "jwt_cache.h"
#include "ratelimit.h"
#include "snapshot.h"
#include "xmalloc.h"

#define ALOG_FLUSH_MS 200

enum { WORKER_CMD_DRAIN = 1, WORKER_CMD_STOP = 2, WORKER_CMD_SNAPSHOT = 4 };

time_t
worker_now(struct worker *w)
{
	struct timeval tv;

	event_base_gettimeofday_cached(w->base, &tv);
	return tv.tv_sec;
}

void
worker_alog_flush(struct worker *w)
{
	int fd = w->px->alog_fd;

	while (fd != -1 && evbuffer_get_length(w->alog) > 0) {
		if (evbuffer_write(w->alog, fd) == -1) {
			if (errno == EINTR)
				continue;
			/* A full disk must not grow the buffer forever. */
			log_warn("access log write; %zu bytes dropped",
			    evbuffer_get_length(w->alog));
			evbuffer_drain(w->alog, evbuffer_get_length(w->alog));
			return;
		}
	}
}

static void
worker_alog_cb(evutil_socket_t fd, short what, void *arg)
{
	worker_alog_flush(arg);
}

static void
worker_begin_drain(struct worker *w)
{
	struct session *s, *next;
	int i;

	if (w->draining)
		return;
	w->draining = 1;
	for (i = 0; i < w->nlisteners; i++)
		listener_close(&w->listeners[i]);
	for (s = TAILQ_FIRST(&w->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		session_drain(s);
	}
}

static void
worker_hold_free(struct snap_hold *h)
{
	lb_state_free(h->lb);
	snapshot_unref(h->snap);
	free(h);
}

/*
 * Makes px->snap this worker's current policy. The load-balancer state
 * inherits the outlier ejections of the previous one, so a reload does
 * not readmit a failing endpoint.
 */
static void
worker_adopt(struct worker *w)
{
	struct proxy *px = w->px;
	struct snapshot *snap;
	struct snap_hold *h, *old = w->hold;

	pthread_mutex_lock(&px->snap_mtx);
	snap = px->snap;
	if (snap != NULL)
		snapshot_ref(snap);
	pthread_mutex_unlock(&px->snap_mtx);
	if (snap == NULL || (old != NULL && old->snap == snap)) {
		snapshot_unref(snap);
		return;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->lb = lb_state_new(snap)) == NULL) {
		/* Keep serving on the old policy rather than none. */
		log_warnx("worker %d: out of memory adopting policy version "
			  "%lld",
		    w->id, (long long)snapshot_version(snap));
		free(h);
		snapshot_unref(snap);
		return;
	}
	h->snap = snap;
	h->refs = 1;
	if (old != NULL) {
		lb_state_inherit(h->lb, old->lb);
		if (--old->refs == 0)
			worker_hold_free(old);
		else
			LIST_INSERT_HEAD(&w->retired, old, entry);
	}
	w->hold = h;
}

struct snap_hold *
worker_hold(struct worker *w)
{
	if (w->hold == NULL)
		return NULL;
	w->hold->refs++;
	return w->hold;
}

void
worker_release(struct worker *w, struct snap_hold *h)
{
	if (h == NULL || --h->refs > 0)
		return;
	if (h != w->hold)
		LIST_REMOVE(h, entry);
	worker_hold_free(h);
}

static void
worker_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return;
	if (v & WORKER_CMD_SNAPSHOT)
		worker_adopt(w);
	if (v & WORKER_CMD_DRAIN)
		worker_begin_drain(w);
	if ((v & WORKER_CMD_STOP) && w->own_thread)
		event_base_loopbreak(w->base);
}

struct worker *
worker_new(struct proxy *px, int id, struct event_base *base)
{
	struct timeval tv = {0, ALOG_FLUSH_MS * 1000};
	struct worker *w = xcalloc(1, sizeof(*w));

	w->px = px;
	w->id = id;
	/* Seeds the request-path generator; no secret depends on it. */
	if (getrandom(&w->rng, sizeof(w->rng), 0) != sizeof(w->rng) ||
	    w->rng == 0)
		w->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)id;
	w->own_thread = base == NULL;
	if (base == NULL && (base = event_base_new()) == NULL)
		fatalx("cannot create an event base");
	w->base = base;
	TAILQ_INIT(&w->sessions);
	LIST_INIT(&w->retired);
	LIST_INIT(&w->mirrors);
	w->max_sessions =
	    (unsigned int)(px->conf.max_connections / px->conf.threads);
	if (w->max_sessions == 0)
		w->max_sessions = 1;
	w->metrics = px->shards[id];
	if ((w->alog = evbuffer_new()) == NULL)
		fatalx("out of memory");
	w->alog_timer = event_new(base, -1, EV_PERSIST, worker_alog_cb, w);
	if (w->alog_timer == NULL || event_add(w->alog_timer, &tv) == -1)
		fatalx("cannot start the access log timer");
	if ((w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("eventfd");
	w->notify_ev = event_new(
	    base, w->notify_fd, EV_READ | EV_PERSIST, worker_notify_cb, w);
	if (w->notify_ev == NULL || event_add(w->notify_ev, NULL) == -1)
		fatalx("cannot watch the worker notification");
	pool_init(w);
	return w;
}

int
worker_listen(struct worker *w)
{
	const struct proxy_conf *c = &w->px->conf;
	int ports[2] = {c->outbound_port, c->inbound_port};
	int dirs[2] = {METRICS_OUTBOUND, METRICS_INBOUND};
	int reuse = c->threads > 1, i;

	for (i = 0; i < 2; i++) {
		if (listener_open(&w->listeners[w->nlisteners], w, AF_INET,
			ports[i], dirs[i], reuse) == -1) {
			log_warn("listen on 0.0.0.0:%d", ports[i]);
			return -1;
		}
		w->nlisteners++;
		/* IPv6 may be disabled in the pod: then IPv4 alone. */
		if (listener_open(&w->listeners[w->nlisteners], w, AF_INET6,
			ports[i], dirs[i], reuse) == 0)
			w->nlisteners++;
		else
			log_debug("no IPv6 listener on port %d", ports[i]);
	}
	return 0;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_loop(w->base, 0);
	return NULL;
}

int
worker_start(struct worker *w)
{
	int r;

	if (!w->own_thread)
		return 0;
	if ((r = pthread_create(&w->thread, NULL, worker_main, w)) != 0) {
		errno = r;
		log_warn("worker thread");
		return -1;
	}
	return 0;
}

static void
worker_send(struct worker *w, uint64_t cmd)
{
	if (write(w->notify_fd, &cmd, sizeof(cmd)) != sizeof(cmd))
		log_warn("worker %d notification", w->id);
}

void
worker_drain(struct worker *w)
{
	worker_send(w, WORKER_CMD_DRAIN);
}

void
worker_snapshot_changed(struct worker *w)
{
	if (w->own_thread)
		worker_send(w, WORKER_CMD_SNAPSHOT);
	else
		worker_adopt(w);
}

void
worker_join(struct worker *w)
{
	if (!w->own_thread)
		return;
	worker_send(w, WORKER_CMD_STOP);
	pthread_join(w->thread, NULL);
}

void
worker_free(struct worker *w)
{
	struct session *s;
	int i;

	if (w == NULL)
		return;
	while ((s = TAILQ_FIRST(&w->sessions)) != NULL)
		session_close(s);
	for (i = 0; i < w->nlisteners; i++)
		listener_close(&w->listeners[i]);
	mirror_free_all(w);
	ratelimit_table_free(w->ratelimits);
	jwt_cache_free(w->jwt_cache);
	pool_clear(w);
	if (w->hold != NULL)
		worker_release(w, w->hold);
	worker_alog_flush(w);
	evbuffer_free(w->alog);
	event_free(w->alog_timer);
	event_free(w->notify_ev);
	close(w->notify_fd);
	if (w->own_thread)
		event_base_free(w->base);
	free(w);
}
