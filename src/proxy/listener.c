#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"

#define LISTENER_ACCEPT_BATCH 32
#define LISTENER_EMFILE_MS    100

static void listener_accept_cb(evutil_socket_t, short, void *);
static void listener_retry_cb(evutil_socket_t, short, void *);

int
listener_open(struct listener *l, struct worker *w, int family, int port,
    int direction, int reuseport)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sin6->sin6_addr = in6addr_any;
		len = sizeof(*sin6);
	}
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	if (family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, 1024) == -1)
		goto fail;
	l->w = w;
	l->fd = fd;
	l->port = port;
	l->direction = direction;
	l->ev =
	    event_new(w->base, fd, EV_READ | EV_PERSIST, listener_accept_cb, l);
	l->retry = evtimer_new(w->base, listener_retry_cb, l);
	if (l->ev == NULL || l->retry == NULL || event_add(l->ev, NULL) == -1) {
		listener_close(l);
		errno = ENOMEM;
		return -1;
	}
	return 0;
fail:
	close(fd);
	return -1;
}

void
listener_close(struct listener *l)
{
	if (l->ev != NULL)
		event_free(l->ev);
	if (l->retry != NULL)
		event_free(l->retry);
	if (l->fd != -1)
		close(l->fd);
	l->ev = l->retry = NULL;
	l->fd = -1;
}

static void
listener_pause(struct listener *l, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (!l->paused) {
		event_del(l->ev);
		l->paused = 1;
	}
	if (ms > 0)
		evtimer_add(l->retry, &tv);
}

void
listener_resume(struct listener *l)
{
	if (!l->paused || l->ev == NULL || l->w->draining)
		return;
	l->paused = 0;
	event_add(l->ev, NULL);
}

static void
listener_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	listener_resume(arg);
}

static void
listener_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct listener *l = arg;
	struct sockaddr_storage peer;
	socklen_t plen;
	int i, fd, one = 1;

	for (i = 0; i < LISTENER_ACCEPT_BATCH; i++) {
		if (l->w->nsessions >= l->w->max_sessions) {
			/* Resumed by session_close() once a slot frees up. */
			listener_pause(l, 0);
			return;
		}
		plen = sizeof(peer);
		fd = accept4(lfd, (struct sockaddr *)&peer, &plen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept on port %d, pausing", l->port);
				listener_pause(l, LISTENER_EMFILE_MS);
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED) {
				log_warn("accept on port %d", l->port);
			}
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		session_accept(l, fd, &peer);
	}
}
