/*
 * A blocking HTTPS client that reads a response as it arrives: line by
 * line (a Kubernetes watch: one JSON event per line of a chunked
 * response held open) or whole. For a thread of its own, never for an
 * event loop. TLS 1.2 or later, the server checked against a CA file
 * and the URL's host.
 */
#ifndef WEFT_HTTPS_STREAM_H
#define WEFT_HTTPS_STREAM_H

#include <stddef.h>

struct https_stream;

struct https_stream_req {
	const char *base_url; /* https://HOST[:PORT], port 443 by default */
	const char *ca_file;  /* PEM */
	const char *bearer;   /* Authorization: Bearer, or NULL */
	const char *method;   /* GET, POST */
	const char *target;   /* path and query */
	const char *content_type;
	const void *body; /* or NULL */
	size_t len;
	int timeout_sec;      /* connect, and each read; 0 means 30 */
	int read_timeout_sec; /* each read of the answer, if longer */
};

/*
 * Connects, sends the request and reads the status line and headers.
 * Returns the stream (https_stream_close), or NULL with *cause set.
 */
struct https_stream *https_stream_open(
    const struct https_stream_req *req, char **cause);
void https_stream_close(struct https_stream *s);

/* The response's HTTP status. */
int https_stream_status(const struct https_stream *s);

/*
 * The next line of the body, without its end of line, NUL-terminated
 * (allocated in *line): returns 1, 0 at the end of the body, or -1 with
 * *cause set (a read error, a timeout, a line longer than max).
 */
int https_stream_line(
    struct https_stream *s, size_t max, char **line, char **cause);

/* The rest of the body (allocated, NUL-terminated), at most max bytes. */
int https_stream_body(
    struct https_stream *s, size_t max, char **body, size_t *len, char **cause);

#endif
