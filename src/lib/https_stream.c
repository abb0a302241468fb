/*
 * A blocking HTTPS/1.1 client over an OpenSSL connection of its own:
 * one request per connection (Connection: close), the body framed by
 * chunks, Content-Length or the end of the connection, and handed out
 * as it arrives. Timeouts are the socket's (SO_RCVTIMEO), so a read
 * never waits longer than the request's timeout.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "https_stream.h"
#include "xmalloc.h"

#define HS_BUF       16384
#define HS_MAX_HEAD  65536
#define HS_DEFAULT_T 30

enum hs_framing {
	HS_CLOSE,   /* until the peer closes */
	HS_LENGTH,  /* Content-Length */
	HS_CHUNKED, /* Transfer-Encoding: chunked */
};

struct https_stream {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	int status;
	enum hs_framing framing;
	size_t left;      /* of the body (HS_LENGTH) or of this chunk */
	int done;         /* the body ended */
	int crlf;         /* a chunk's data ended: its CRLF comes next */
	char buf[HS_BUF]; /* raw bytes read ahead */
	size_t off, n;
	char *line; /* body bytes not yet given out as lines */
	size_t linelen, linecap;
};

static int
hs_fail_ssl(const char *what, char **cause)
{
	unsigned long e = ERR_get_error();

	xasprintf(cause, "%s: %s", what,
	    e != 0 ? ERR_reason_error_string(e) : "connection closed");
	ERR_clear_error();
	return -1;
}

/* More raw bytes: 1, 0 at the end of the connection, -1 on error. */
static int
hs_fill(struct https_stream *s, char **cause)
{
	int r, err;

	if (s->off > 0 && s->off == s->n)
		s->off = s->n = 0;
	if (s->n == sizeof(s->buf)) {
		memmove(s->buf, s->buf + s->off, s->n - s->off);
		s->n -= s->off;
		s->off = 0;
	}
	r = SSL_read(s->ssl, s->buf + s->n, (int)(sizeof(s->buf) - s->n));
	if (r > 0) {
		s->n += (size_t)r;
		return 1;
	}
	err = SSL_get_error(s->ssl, r);
	if (err == SSL_ERROR_ZERO_RETURN)
		return 0;
	if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			xasprintf(cause, "read timed out");
			return -1;
		}
		/* A peer that closes without close_notify: an end too. */
		if (r == 0 || errno == 0 || errno == ECONNRESET)
			return 0;
		xasprintf(cause, "read: %s", strerror(errno));
		return -1;
	}
	ERR_clear_error();
	if (err == SSL_ERROR_SSL)
		return hs_fail_ssl("read", cause);
	return 0;
}

/* A raw line (headers, chunk sizes) into out, without CRLF. */
static int
hs_raw_line(struct https_stream *s, char *out, size_t outlen, char **cause)
{
	char *nl;
	size_t n;
	int r;

	for (;;) {
		nl = memchr(s->buf + s->off, '\n', s->n - s->off);
		if (nl != NULL)
			break;
		if (s->n - s->off >= outlen) {
			xasprintf(cause, "response header line too long");
			return -1;
		}
		if ((r = hs_fill(s, cause)) <= 0) {
			if (r == 0)
				xasprintf(cause,
				    "connection closed in the "
				    "response header");
			return -1;
		}
	}
	n = (size_t)(nl - (s->buf + s->off));
	if (n >= outlen) {
		xasprintf(cause, "response header line too long");
		return -1;
	}
	memcpy(out, s->buf + s->off, n);
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	s->off = (size_t)(nl - s->buf) + 1;
	return 0;
}

/* Body bytes: *p and *n point into the buffer; 0 at the end, -1. */
static int
hs_body_bytes(struct https_stream *s, const char **p, size_t *n, char **cause)
{
	char line[128], *end;
	unsigned long long v;
	int r;

	if (s->done)
		return 0;
	if (s->framing == HS_CHUNKED && s->left == 0) {
		/* The CRLF after the last chunk's data, read only now: the
		 * bytes handed out before still point into the buffer. */
		if (s->crlf) {
			if (hs_raw_line(s, line, sizeof(line), cause) == -1)
				return -1;
			if (line[0] != '\0') {
				xasprintf(cause, "no CRLF after a chunk");
				return -1;
			}
			s->crlf = 0;
		}
		if (hs_raw_line(s, line, sizeof(line), cause) == -1)
			return -1;
		errno = 0;
		v = strtoull(line, &end, 16);
		if (end == line || errno != 0 ||
		    (*end != '\0' && *end != ';' && *end != ' ')) {
			xasprintf(cause, "bad chunk size");
			return -1;
		}
		if (v == 0) {
			s->done = 1;
			return 0;
		}
		s->left = (size_t)v;
	}
	if (s->framing == HS_LENGTH && s->left == 0) {
		s->done = 1;
		return 0;
	}
	if (s->off == s->n) {
		if ((r = hs_fill(s, cause)) == -1)
			return -1;
		if (r == 0) {
			if (s->framing != HS_CLOSE) {
				xasprintf(cause,
				    "connection closed in the "
				    "response body");
				return -1;
			}
			s->done = 1;
			return 0;
		}
	}
	*p = s->buf + s->off;
	*n = s->n - s->off;
	if (s->framing != HS_CLOSE && *n > s->left)
		*n = s->left;
	s->off += *n;
	if (s->framing != HS_CLOSE)
		s->left -= *n;
	if (s->framing == HS_CHUNKED && s->left == 0)
		s->crlf = 1;
	return 1;
}

static int
hs_connect(const char *host, const char *port, int timeout, char **cause)
{
	struct addrinfo hints, *res, *ai;
	struct timeval tv;
	int fd = -1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		xasprintf(cause, "%s: %s", host, gai_strerror(rc));
		return -1;
	}
	tv.tv_sec = timeout;
	tv.tv_usec = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		/* Linux bounds connect() by SO_SNDTIMEO too. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ==
			-1 ||
		    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ==
			-1 ||
		    connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			rc = errno;
			close(fd);
			fd = -1;
			errno = rc;
			continue;
		}
		break;
	}
	freeaddrinfo(res);
	if (fd == -1)
		xasprintf(cause, "connect to %s port %s: %s", host, port,
		    strerror(errno));
	return fd;
}

static int
hs_split_url(const char *url, char *host, size_t hostlen, char *port,
    size_t portlen, char **cause)
{
	const char *p, *end, *colon;
	size_t n;

	if (strncasecmp(url, "https://", 8) != 0)
		goto bad;
	p = url + 8;
	end = p + strcspn(p, "/");
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (rb == NULL)
			goto bad;
		n = (size_t)(rb - p - 1);
		if (n == 0 || n >= hostlen)
			goto bad;
		memcpy(host, p + 1, n);
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		n = (size_t)((colon != NULL ? colon : end) - p);
		if (n == 0 || n >= hostlen)
			goto bad;
		memcpy(host, p, n);
	}
	host[n] = '\0';
	if (colon != NULL) {
		n = (size_t)(end - colon - 1);
		if (n == 0 || n >= portlen ||
		    strspn(colon + 1, "0123456789") < n)
			goto bad;
		memcpy(port, colon + 1, n);
		port[n] = '\0';
	} else
		snprintf(port, portlen, "443");
	if (*end != '\0' && strcmp(end, "/") != 0)
		goto bad;
	return 0;
bad:
	xasprintf(cause, "bad URL %s (https://HOST[:PORT])", url);
	return -1;
}

static int
hs_headers(struct https_stream *s, char **cause)
{
	char line[8192], *v;
	size_t total = 0;
	int chunked = 0, length = 0;

	if (hs_raw_line(s, line, sizeof(line), cause) == -1)
		return -1;
	if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12 ||
	    !isdigit((unsigned char)line[9])) {
		xasprintf(cause, "not an HTTP response");
		return -1;
	}
	s->status = atoi(line + 9);
	for (;;) {
		if (hs_raw_line(s, line, sizeof(line), cause) == -1)
			return -1;
		if (line[0] == '\0')
			break;
		if ((total += strlen(line)) > HS_MAX_HEAD) {
			xasprintf(cause, "response header too large");
			return -1;
		}
		if ((v = strchr(line, ':')) == NULL)
			continue;
		*v++ = '\0';
		v += strspn(v, " \t");
		if (strcasecmp(line, "Transfer-Encoding") == 0 &&
		    strcasestr(v, "chunked") != NULL)
			chunked = 1;
		else if (strcasecmp(line, "Content-Length") == 0) {
			length = 1;
			s->left = (size_t)strtoull(v, NULL, 10);
		}
	}
	if (chunked) {
		s->framing = HS_CHUNKED;
		s->left = 0;
	} else
		s->framing = length ? HS_LENGTH : HS_CLOSE;
	return 0;
}

struct https_stream *
https_stream_open(const struct https_stream_req *req, char **cause)
{
	struct https_stream *s;
	struct in6_addr a6;
	char host[256], port[8], *head = NULL;
	int timeout = req->timeout_sec > 0 ? req->timeout_sec : HS_DEFAULT_T;
	int n, is_ip, v6;

	if (hs_split_url(req->base_url, host, sizeof(host), port, sizeof(port),
		cause) == -1)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->fd = -1;
	if ((s->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		hs_fail_ssl("TLS context", cause);
		goto fail;
	}
	SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(s->ctx, req->ca_file, NULL) != 1) {
		ERR_clear_error();
		xasprintf(
		    cause, "%s: cannot load the CA certificates", req->ca_file);
		goto fail;
	}
	if ((s->fd = hs_connect(host, port, timeout, cause)) == -1)
		goto fail;
	if ((s->ssl = SSL_new(s->ctx)) == NULL ||
	    SSL_set_fd(s->ssl, s->fd) != 1) {
		hs_fail_ssl("TLS", cause);
		goto fail;
	}
	is_ip = inet_pton(AF_INET, host, &a6) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1;
	if (is_ip)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), host);
	else {
		SSL_set_tlsext_host_name(s->ssl, host);
		SSL_set1_host(s->ssl, host);
	}
	if (SSL_connect(s->ssl) != 1) {
		long v = SSL_get_verify_result(s->ssl);

		if (v != X509_V_OK) {
			ERR_clear_error();
			xasprintf(cause, "TLS handshake with %s: %s", host,
			    X509_verify_cert_error_string(v));
		} else
			hs_fail_ssl("TLS handshake", cause);
		goto fail;
	}
	v6 = is_ip && strchr(host, ':') != NULL;
	n = xasprintf(&head,
	    "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
	    "Accept: application/json\r\nUser-Agent: weft-server\r\n"
	    "Connection: close\r\n%s%s%s",
	    req->method, req->target, v6 ? "[" : "", host, v6 ? "]" : "", port,
	    req->bearer != NULL ? "Authorization: Bearer " : "",
	    req->bearer != NULL ? req->bearer : "",
	    req->bearer != NULL ? "\r\n" : "");
	if (req->body != NULL) {
		char *h2;

		n = xasprintf(&h2,
		    "%sContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", head,
		    req->content_type != NULL ? req->content_type
					      : "application/json",
		    req->len);
		free(head);
		head = h2;
	} else {
		char *h2;

		n = xasprintf(&h2, "%s\r\n", head);
		free(head);
		head = h2;
	}
	if (SSL_write(s->ssl, head, n) != n ||
	    (req->body != NULL && req->len > 0 &&
		SSL_write(s->ssl, req->body, (int)req->len) != (int)req->len)) {
		hs_fail_ssl("write", cause);
		goto fail;
	}
	free(head);
	head = NULL;
	if (req->read_timeout_sec > timeout) {
		struct timeval tv = {req->read_timeout_sec, 0};

		if (setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
			sizeof(tv)) == -1) {
			xasprintf(cause, "setsockopt: %s", strerror(errno));
			goto fail;
		}
	}
	if (hs_headers(s, cause) == -1)
		goto fail;
	return s;
fail:
	free(head);
	https_stream_close(s);
	return NULL;
}

void
https_stream_close(struct https_stream *s)
{
	if (s == NULL)
		return;
	if (s->ssl != NULL)
		SSL_free(s->ssl);
	SSL_CTX_free(s->ctx);
	if (s->fd != -1)
		close(s->fd);
	free(s->line);
	free(s);
}

int
https_stream_status(const struct https_stream *s)
{
	return s->status;
}

int
https_stream_line(struct https_stream *s, size_t max, char **line, char **cause)
{
	const char *p, *nl;
	size_t n, i;
	int r;

	*line = NULL;
	for (;;) {
		nl = s->linelen > 0 ? memchr(s->line, '\n', s->linelen) : NULL;
		if (nl != NULL) {
			n = (size_t)(nl - s->line);
			*line = xmalloc(n + 1);
			memcpy(*line, s->line, n);
			if (n > 0 && (*line)[n - 1] == '\r')
				n--;
			(*line)[n] = '\0';
			i = (size_t)(nl - s->line) + 1;
			memmove(s->line, s->line + i, s->linelen - i);
			s->linelen -= i;
			return 1;
		}
		if (s->linelen > max) {
			xasprintf(cause, "line longer than %zu bytes", max);
			return -1;
		}
		if ((r = hs_body_bytes(s, &p, &n, cause)) == -1)
			return -1;
		if (r == 0) {
			if (s->linelen == 0)
				return 0;
			*line = xmalloc(s->linelen + 1);
			memcpy(*line, s->line, s->linelen);
			(*line)[s->linelen] = '\0';
			s->linelen = 0;
			return 1;
		}
		if (s->linelen + n > s->linecap) {
			s->linecap = (s->linelen + n) * 2;
			s->line = xreallocarray(s->line, s->linecap, 1);
		}
		memcpy(s->line + s->linelen, p, n);
		s->linelen += n;
	}
}

int
https_stream_body(
    struct https_stream *s, size_t max, char **body, size_t *len, char **cause)
{
	const char *p;
	char *b;
	size_t n, cap, blen;
	int r;

	blen = s->linelen;
	cap = blen + HS_BUF;
	b = xmalloc(cap + 1);
	if (blen > 0)
		memcpy(b, s->line, blen);
	s->linelen = 0;
	while ((r = hs_body_bytes(s, &p, &n, cause)) == 1) {
		if (blen + n > max) {
			xasprintf(
			    cause, "response body larger than %zu bytes", max);
			free(b);
			return -1;
		}
		if (blen + n > cap) {
			cap = (blen + n) * 2;
			b = xreallocarray(b, cap + 1, 1);
		}
		memcpy(b + blen, p, n);
		blen += n;
	}
	if (r == -1) {
		free(b);
		return -1;
	}
	b[blen] = '\0';
	*body = b;
	*len = blen;
	return 0;
}
