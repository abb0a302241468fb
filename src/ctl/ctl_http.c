/*
 * Plain HTTP/1.1 GETs to the proxies' admin and metrics ports, for
 * weftctl stat and tap --proxy: one request per connection, bounded in
 * time, with a chunked body decoded as it streams.
 */
#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_http.h"

#define CTL_HTTP_MAX_HEAD 16384
#define CTL_HTTP_MAX_BODY (16 * 1024 * 1024)

static int64_t
ctl_http_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Splits HOST:PORT ([V6]:PORT); -1 when there is no port. */
static int
ctl_http_split(const char *hp, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon;

	if (hp[0] == '[') {
		const char *end = strchr(hp, ']');

		if (end == NULL || end[1] != ':')
			return -1;
		snprintf(host, hlen, "%.*s", (int)(end - hp - 1), hp + 1);
		colon = end + 1;
	} else {
		if ((colon = strrchr(hp, ':')) == NULL)
			return -1;
		snprintf(host, hlen, "%.*s", (int)(colon - hp), hp);
	}
	snprintf(port, plen, "%s", colon + 1);
	return host[0] != '\0' && port[0] != '\0' ? 0 : -1;
}

int
ctl_http_open(struct ctl_http *h, const char *hostport, const char *target,
    int timeout_ms)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256], port[16], req[2048];
	struct pollfd pfd;
	socklen_t sl;
	int fd = -1, err = 0, r;
	size_t len;

	memset(h, 0, sizeof(*h));
	h->fd = -1;
	snprintf(h->peer, sizeof(h->peer), "%s", hostport);
	if (ctl_http_split(hostport, host, sizeof(host), port, sizeof(port)) ==
	    -1) {
		snprintf(h->err, sizeof(h->err), "%s: not HOST:PORT", hostport);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(h->err, sizeof(h->err), "%s: %s", hostport,
		    gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			sl = sizeof(err);
			if (poll(&pfd, 1, timeout_ms) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) ==
				0 &&
			    err == 0)
				break;
			if (err == 0)
				err = ETIMEDOUT;
		} else
			err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		snprintf(h->err, sizeof(h->err), "%s: %s", hostport,
		    strerror(err != 0 ? err : ECONNREFUSED));
		return -1;
	}
	len = (size_t)snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weftctl\r\n"
	    "Connection: close\r\n\r\n",
	    target, hostport);
	/* A fresh socket takes a small request at once. */
	if (len >= sizeof(req) || write(fd, req, len) != (ssize_t)len) {
		snprintf(h->err, sizeof(h->err), "%s: cannot send the request",
		    hostport);
		close(fd);
		return -1;
	}
	h->fd = fd;
	return 0;
}

void
ctl_http_close(struct ctl_http *h)
{
	if (h->fd != -1)
		close(h->fd);
	h->fd = -1;
	free(h->buf);
	h->buf = NULL;
	free(h->body);
	h->body = NULL;
	h->len = h->cap = h->blen = h->bcap = 0;
}

static int
ctl_http_append(
    char **buf, size_t *len, size_t *cap, const char *p, size_t n, size_t max)
{
	char *nb;
	size_t nc;

	if (*len + n + 1 > *cap) {
		if (*len + n + 1 > max)
			return -1;
		nc = *cap == 0 ? 4096 : *cap;
		while (nc < *len + n + 1)
			nc *= 2;
		if ((nb = realloc(*buf, nc)) == NULL)
			return -1;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

/* Parses the response head in h->buf once complete; 1 done, 0 more. */
static int
ctl_http_head(struct ctl_http *h)
{
	char *end, *p, *line;
	size_t hl;

	if ((end = strstr(h->buf, "\r\n\r\n")) == NULL) {
		if (h->len > CTL_HTTP_MAX_HEAD)
			return -1;
		return 0;
	}
	hl = (size_t)(end - h->buf) + 4;
	*end = '\0';
	if (sscanf(h->buf, "HTTP/1.%*d %d", &h->status) != 1)
		return -1;
	for (line = strstr(h->buf, "\r\n"); line != NULL;
	     line = strstr(line + 2, "\r\n")) {
		p = line + 2;
		if (strncasecmp(p, "transfer-encoding:", 18) == 0 &&
		    strstr(p, "chunked") != NULL)
			h->chunked = 1;
	}
	h->head_done = 1;
	memmove(h->buf, h->buf + hl, h->len - hl);
	h->len -= hl;
	return 1;
}

/* Moves decoded body bytes from h->buf to h->body; -1 on bad framing. */
static int
ctl_http_decode(struct ctl_http *h)
{
	size_t used = 0, n;
	char *eol, *endp;
	unsigned long sz;

	if (!h->chunked) {
		if (ctl_http_append(&h->body, &h->blen, &h->bcap, h->buf,
			h->len, CTL_HTTP_MAX_BODY) == -1)
			return -1;
		h->len = 0;
		return 0;
	}
	while (!h->finished) {
		if (h->chunk_left > 0) {
			n = h->len - used;
			if (n > h->chunk_left)
				n = h->chunk_left;
			if (n == 0)
				break;
			if (ctl_http_append(&h->body, &h->blen, &h->bcap,
				h->buf + used, n, CTL_HTTP_MAX_BODY) == -1)
				return -1;
			used += n;
			h->chunk_left -= n;
			if (h->chunk_left == 0)
				h->chunk_crlf = 1;
			continue;
		}
		if (h->chunk_crlf) {
			if (h->len - used < 2)
				break;
			used += 2;
			h->chunk_crlf = 0;
			continue;
		}
		eol = memchr(h->buf + used, '\n', h->len - used);
		if (eol == NULL)
			break;
		sz = strtoul(h->buf + used, &endp, 16);
		if (endp == h->buf + used)
			return -1;
		used = (size_t)(eol - h->buf) + 1;
		if (sz == 0)
			h->finished = 1;
		h->chunk_left = sz;
	}
	memmove(h->buf, h->buf + used, h->len - used);
	h->len -= used;
	return 0;
}

int
ctl_http_read(struct ctl_http *h)
{
	char tmp[16384];
	ssize_t n;

	n = read(h->fd, tmp, sizeof(tmp));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (n <= 0) {
		if (n == -1)
			snprintf(h->err, sizeof(h->err), "%s: %s", h->peer,
			    strerror(errno));
		else if (!h->head_done)
			snprintf(h->err, sizeof(h->err),
			    "%s: connection closed before an answer", h->peer);
		return n == 0 && h->head_done ? 0 : -1;
	}
	if (ctl_http_append(&h->buf, &h->len, &h->cap, tmp, (size_t)n,
		CTL_HTTP_MAX_BODY) == -1) {
		snprintf(
		    h->err, sizeof(h->err), "%s: answer too large", h->peer);
		return -1;
	}
	if (!h->head_done) {
		switch (ctl_http_head(h)) {
		case -1:
			snprintf(h->err, sizeof(h->err),
			    "%s: not an HTTP answer", h->peer);
			return -1;
		case 0:
			return 1;
		}
	}
	if (ctl_http_decode(h) == -1) {
		snprintf(
		    h->err, sizeof(h->err), "%s: bad chunked body", h->peer);
		return -1;
	}
	return h->finished ? 0 : 1;
}

int
ctl_http_get(const char *hostport, const char *target, int timeout_ms,
    struct ctl_http *h)
{
	int64_t deadline = ctl_http_ms() + timeout_ms, left;
	struct pollfd pfd;
	int r;

	if (ctl_http_open(h, hostport, target, timeout_ms) == -1)
		return -1;
	for (;;) {
		left = deadline - ctl_http_ms();
		pfd.fd = h->fd;
		pfd.events = POLLIN;
		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			snprintf(h->err, sizeof(h->err),
			    "%s: no answer within %d ms", hostport, timeout_ms);
			return -1;
		}
		if ((r = ctl_http_read(h)) <= 0)
			return r;
	}
}
