/* weftctl's plain HTTP client for the proxies' ports (ctl_http.c). */
#ifndef WEFT_CTL_HTTP_H
#define WEFT_CTL_HTTP_H

#include <stddef.h>

struct ctl_http {
	int fd;
	char peer[256];
	char err[320]; /* why it failed, one line */
	char *buf;     /* received, not yet decoded */
	size_t len, cap;
	char *body; /* decoded body so far (NUL-terminated) */
	size_t blen, bcap;
	int status;
	int head_done;
	int chunked;
	int chunk_crlf;
	int finished; /* the last chunk came */
	size_t chunk_left;
};

/*
 * Connects to HOST:PORT within timeout_ms and sends GET target. Returns
 * 0, or -1 with h->err set. h is closed with ctl_http_close either way.
 */
int ctl_http_open(struct ctl_http *h, const char *hostport, const char *target,
    int timeout_ms);

/*
 * Reads what the socket has (call when it polls readable) and decodes
 * it into h->body. Returns 1 for more to come, 0 at the end of the
 * answer, -1 with h->err set.
 */
int ctl_http_read(struct ctl_http *h);

/* A whole GET within timeout_ms: 0 with status and body, or -1. */
int ctl_http_get(const char *hostport, const char *target, int timeout_ms,
    struct ctl_http *h);

void ctl_http_close(struct ctl_http *h);

#endif
