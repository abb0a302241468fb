#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"

#define CONN_READ_SIZE 16384

static void conn_read_cb(evutil_socket_t, short, void *);
static void conn_write_cb(evutil_socket_t, short, void *);

int
conn_init(struct conn *c, struct event_base *base, int fd, conn_cb read_cb,
    conn_cb write_cb, conn_cb error_cb, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->read_cb = read_cb;
	c->write_cb = write_cb;
	c->error_cb = error_cb;
	c->arg = arg;
	c->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->ev_write = event_new(base, fd, EV_WRITE, conn_write_cb, c);
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	if (c->ev_read == NULL || c->ev_write == NULL || c->in == NULL ||
	    c->out == NULL) {
		conn_close(c);
		return -1;
	}
	return 0;
}

void
conn_close(struct conn *c)
{
	conn_tls_free(c);
	if (c->ev_read != NULL)
		event_free(c->ev_read);
	if (c->ev_write != NULL)
		event_free(c->ev_write);
	if (c->in != NULL)
		evbuffer_free(c->in);
	if (c->out != NULL)
		evbuffer_free(c->out);
	if (c->fd > 0)
		close(c->fd);
	c->ev_read = c->ev_write = NULL;
	c->in = c->out = NULL;
	c->fd = -1;
}

void
conn_set_cbs(struct conn *c, conn_cb read_cb, conn_cb write_cb,
    conn_cb error_cb, void *arg)
{
	c->read_cb = read_cb;
	c->write_cb = write_cb;
	c->error_cb = error_cb;
	c->arg = arg;
}

void
conn_read_enable(struct conn *c)
{
	if (c->reading || c->eof || c->read_error)
		return;
	if (event_add(c->ev_read, NULL) == 0)
		c->reading = 1;
}

void
conn_read_disable(struct conn *c)
{
	if (!c->reading)
		return;
	event_del(c->ev_read);
	c->reading = 0;
}

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct evbuffer_iovec v;
	ssize_t n;

	if (c->tls != NULL) {
		conn_tls_read_ready(c);
		return;
	}
	if (evbuffer_reserve_space(c->in, CONN_READ_SIZE, &v, 1) != 1) {
		c->read_error = 1;
		c->err = ENOMEM;
		conn_read_disable(c);
		c->read_cb(c, c->arg);
		return;
	}
	n = read(fd, v.iov_base, v.iov_len);
	if (n > 0) {
		v.iov_len = (size_t)n;
		evbuffer_commit_space(c->in, &v, 1);
		c->bytes_in += (uint64_t)n;
	} else if (n == 0) {
		c->eof = 1;
		conn_read_disable(c);
	} else if (errno == EAGAIN || errno == EINTR) {
		return;
	} else {
		c->read_error = 1;
		c->err = errno;
		conn_read_disable(c);
		if (c->connecting) {
			/* A refused connect shows up here before the write event. */
			c->connecting = 0;
			c->write_error = 1;
			event_del(c->ev_write);
			c->error_cb(c, c->arg);
			return;
		}
	}
	c->read_cb(c, c->arg);
}

static void
conn_finish_write(struct conn *c)
{
	if (c->shutdown_after && !c->wr_shut &&
	    evbuffer_get_length(c->out) == 0 && !conn_tls_pending(c)) {
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = 1;
	}
}

int
conn_flush(struct conn *c)
{
	int n;

	if (c->connecting || c->write_error)
		return c->write_error ? -1 : 0;
	if (c->tls != NULL) {
		if (conn_tls_flush(c) == -1)
			return -1;
		conn_finish_write(c);
		return 0;
	}
	while (evbuffer_get_length(c->out) > 0) {
		n = evbuffer_write(c->out, c->fd);
		if (n > 0) {
			c->bytes_out += (uint64_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			event_add(c->ev_write, NULL);
			return 0;
		}
		c->write_error = 1;
		c->err = errno;
		return -1;
	}
	conn_finish_write(c);
	return 0;
}

void
conn_shutdown_write(struct conn *c)
{
	c->shutdown_after = 1;
	if (!c->connecting)
		conn_finish_write(c);
}

void
conn_wait_connect(struct conn *c)
{
	c->connecting = 1;
	event_add(c->ev_write, NULL);
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	if (c->connecting && c->tls != NULL && conn_tls_pending(c)) {
		/* Handshake bytes the socket could not take at once. */
		if (conn_tls_flush(c) == -1)
			c->error_cb(c, c->arg);
		return;
	}
	if (c->connecting) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err == 0 && c->tls != NULL) {
			/* Connected; the TLS handshake completes the connect. */
			conn_tls_connected(c);
			return;
		}
		c->connecting = 0;
		if (err != 0) {
			c->write_error = 1;
			c->err = err;
			c->error_cb(c, c->arg);
			return;
		}
	}
	if (conn_flush(c) == -1) {
		c->error_cb(c, c->arg);
		return;
	}
	if (evbuffer_get_length(c->out) == 0)
		c->write_cb(c, c->arg);
}

void
conn_copy_range(
    struct evbuffer *dst, struct evbuffer *src, size_t off, size_t n)
{
	struct evbuffer_iovec v[16];
	struct evbuffer_ptr pos;
	size_t done = 0, len;
	int k, i;

	while (done < n) {
		if (evbuffer_ptr_set(src, &pos, off + done, EVBUFFER_PTR_SET) ==
		    -1)
			break;
		k = evbuffer_peek(src, (ev_ssize_t)(n - done), &pos, v, 16);
		if (k <= 0)
			break;
		for (i = 0; i < k && i < 16 && done < n; i++) {
			len = v[i].iov_len < n - done ? v[i].iov_len : n - done;
			evbuffer_add(dst, v[i].iov_base, len);
			done += len;
		}
	}
}
