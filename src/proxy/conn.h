/*
 * A non-blocking TCP connection with an input and an output buffer.
 *
 * Unlike a libevent bufferevent, writes are attempted at once (the
 * common case completes without another trip through the event loop)
 * and the write event is armed only when the socket is full. Reads use
 * one read(2) per readiness event, without the FIONREAD probe that
 * evbuffer_read() makes.
 */
#ifndef WEFT_CONN_H
#define WEFT_CONN_H

#include <sys/types.h>
#include <event2/event.h>
#include <event2/buffer.h>

struct conn;
struct conn_tls;
struct tls_certs;

/* Called after new input (or EOF/error, see the flags) arrived. */
typedef void (*conn_cb)(struct conn *, void *);

struct conn {
	int fd;
	struct event *ev_read;
	struct event *ev_write;
	struct evbuffer *in;
	struct evbuffer *out;
	conn_cb read_cb;  /* data, EOF or an error on read */
	conn_cb write_cb; /* the output drained, or a connect completed */
	conn_cb error_cb; /* a write failed */
	void *arg;
	struct conn_tls *tls; /* NULL for plaintext (conn_tls.c) */
	uint64_t bytes_in;
	uint64_t bytes_out;
	unsigned int reading : 1;        /* read event armed */
	unsigned int connecting : 1;     /* a connect is in progress */
	unsigned int eof : 1;            /* the peer closed its side */
	unsigned int read_error : 1;     /* a read failed (errno in err) */
	unsigned int write_error : 1;    /* a write failed */
	unsigned int shutdown_after : 1; /* SHUT_WR once out is empty */
	unsigned int wr_shut : 1;        /* SHUT_WR done */
	int err;
};

/*
 * Initialises c over the connected or connecting socket fd (which it
 * takes ownership of) on base. Returns 0, or -1 on allocation failure
 * (fd is then closed).
 */
int conn_init(struct conn *c, struct event_base *base, int fd, conn_cb read_cb,
    conn_cb write_cb, conn_cb error_cb, void *arg);

/* Releases the events, buffers and socket of c; safe on a zeroed conn. */
void conn_close(struct conn *c);

/* Starts or stops reading; reading is off after conn_init. */
void conn_read_enable(struct conn *c);
void conn_read_disable(struct conn *c);

/*
 * Writes as much of c->out as the socket takes now and arms the write
 * event for the rest. Returns 0, or -1 after a write error (write_error
 * set; the caller tears down).
 */
int conn_flush(struct conn *c);

/* Half-closes the write side once everything queued is written. */
void conn_shutdown_write(struct conn *c);

/* Marks c as connecting; write_cb runs when the connect completes. */
void conn_wait_connect(struct conn *c);

/*
 * Changes the callback argument and callbacks (an upstream moving from
 * the pool to a session).
 */
void conn_set_cbs(struct conn *c, conn_cb read_cb, conn_cb write_cb,
    conn_cb error_cb, void *arg);

/*
 * Appends a copy of the n bytes at offset off of src to dst, leaving src
 * as it is (a request head or body kept for a retry or a mirror).
 */
void conn_copy_range(
    struct evbuffer *dst, struct evbuffer *src, size_t off, size_t n);

/*
 * TLS on c (conn_tls.c): as a server over the bytes already in c->in
 * (the ClientHello read to classify the connection), or as a client on
 * a connecting conn, whose connect then completes (write_cb) only once
 * the handshake has, and fails (error_cb) if it fails. expect, when not
 * NULL, is the SPIFFE ID the peer must present. Returns -1 on
 * allocation failure.
 */
int conn_tls_start(
    struct conn *c, struct tls_certs *certs, int server, const char *expect);
/* The peer's SPIFFE ID once the handshake is done, or NULL. */
const char *conn_tls_peer(const struct conn *c);
/* Why the TLS failed, or NULL. */
const char *conn_tls_failure(const struct conn *c);

/* For conn.c. */
void conn_tls_free(struct conn *c);
void conn_tls_read_ready(struct conn *c);
int conn_tls_connected(struct conn *c);
int conn_tls_flush(struct conn *c);
int conn_tls_pending(const struct conn *c);

#endif
