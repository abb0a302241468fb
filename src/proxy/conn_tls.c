/*
 * TLS on a conn (see conn.h), over memory BIOs: the conn still owns the
 * socket and does its own reads and writes, and OpenSSL only turns
 * ciphertext into plaintext and back. This keeps one I/O path for plain
 * and TLS connections, and lets the inbound side start TLS on bytes it
 * already read to classify the connection.
 *
 * The plaintext buffers (c->in, c->out) and byte counts mean what they
 * mean for a plain connection; ciphertext waits in raw_out.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ca.h"
#include "conn.h"
#include "log.h"
#include "tls.h"

#define CONN_TLS_READ     16384
#define CONN_TLS_RAW_HIGH (256 * 1024) /* stop encrypting past this */

struct conn_tls {
	SSL *ssl;
	BIO *rbio; /* ciphertext from the peer, owned by ssl */
	BIO *wbio; /* ciphertext to the peer, owned by ssl */
	struct evbuffer *raw_out;
	struct tls_certs *certs;
	int server;
	int handshaking;
	int tcp_up; /* client: the TCP connect completed */
	int closed_notify;
	int deliver;      /* c->in holds plaintext not yet handed over */
	int kick;         /* server: handshake bytes already in rbio */
	char expect[256]; /* the peer SPIFFE ID required, or "" */
	char peer[256];
	char error[600];
};

static void
conn_tls_error(struct conn *c, const char *what)
{
	struct conn_tls *t = c->tls;
	unsigned long e = ERR_get_error();

	snprintf(t->error, sizeof(t->error), "%s%s%s", what, e != 0 ? ": " : "",
	    e != 0 ? ERR_reason_error_string(e) : "");
	ERR_clear_error();
}

/* Moves what OpenSSL produced into raw_out. */
static void
conn_tls_collect(struct conn *c)
{
	struct conn_tls *t = c->tls;
	char buf[16384];
	int n;

	while ((n = BIO_read(t->wbio, buf, sizeof(buf))) > 0)
		evbuffer_add(t->raw_out, buf, (size_t)n);
}

/* Writes raw_out to the socket; -1 on a write error. */
static int
conn_tls_write_raw(struct conn *c)
{
	struct conn_tls *t = c->tls;
	int n;

	while (evbuffer_get_length(t->raw_out) > 0) {
		n = evbuffer_write(t->raw_out, c->fd);
		if (n > 0)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			event_add(c->ev_write, NULL);
			return 0;
		}
		c->write_error = 1;
		c->err = errno != 0 ? errno : EPIPE;
		return -1;
	}
	return 0;
}

int
conn_tls_start(
    struct conn *c, struct tls_certs *certs, int server, const char *expect)
{
	struct conn_tls *t;
	size_t len;
	char *p;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	t->server = server;
	t->handshaking = 1;
	t->certs = certs;
	snprintf(
	    t->expect, sizeof(t->expect), "%s", expect != NULL ? expect : "");
	t->ssl = SSL_new(server ? certs->server : certs->client);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	t->raw_out = evbuffer_new();
	if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL ||
	    t->raw_out == NULL) {
		SSL_free(t->ssl);
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		if (t->raw_out != NULL)
			evbuffer_free(t->raw_out);
		free(t);
		ERR_clear_error();
		return -1;
	}
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
	tls_certs_ref(certs);
	c->tls = t;
	if (server) {
		SSL_set_accept_state(t->ssl);
		/* The bytes read to classify the connection start the TLS. */
		len = evbuffer_get_length(c->in);
		if (len > 0 && (p = (char *)evbuffer_pullup(c->in, -1)) != NULL)
			BIO_write(t->rbio, p, (int)len);
		evbuffer_drain(c->in, len);
		c->bytes_in = 0;
		/* Go on from the event loop, not under the caller. */
		t->kick = 1;
		event_active(c->ev_read, EV_READ, 1);
	} else
		SSL_set_connect_state(t->ssl);
	return 0;
}

void
conn_tls_free(struct conn *c)
{
	struct conn_tls *t = c->tls;

	if (t == NULL)
		return;
	SSL_free(t->ssl);
	evbuffer_free(t->raw_out);
	tls_certs_unref(t->certs);
	free(t);
	c->tls = NULL;
}

const char *
conn_tls_peer(const struct conn *c)
{
	return c->tls != NULL && !c->tls->handshaking && c->tls->peer[0] != '\0'
	    ? c->tls->peer
	    : NULL;
}

const char *
conn_tls_failure(const struct conn *c)
{
	return c->tls != NULL && c->tls->error[0] != '\0' ? c->tls->error
							  : NULL;
}

/* The handshake is done: check the peer's identity. */
static int
conn_tls_established(struct conn *c)
{
	struct conn_tls *t = c->tls;
	X509 *peer;

	t->handshaking = 0;
	if (SSL_get_verify_result(t->ssl) != X509_V_OK ||
	    (peer = SSL_get0_peer_certificate(t->ssl)) == NULL) {
		snprintf(t->error, sizeof(t->error), "peer certificate: %s",
		    X509_verify_cert_error_string(
			SSL_get_verify_result(t->ssl)));
		return -1;
	}
	if (ca_x509_spiffe(peer, t->peer, sizeof(t->peer)) != 1) {
		snprintf(t->error, sizeof(t->error),
		    "peer certificate has no SPIFFE ID");
		return -1;
	}
	if (t->expect[0] != '\0' && strcmp(t->expect, t->peer) != 0) {
		snprintf(t->error, sizeof(t->error), "peer is %s, expected %s",
		    t->peer, t->expect);
		return -1;
	}
	return 0;
}

/*
 * Runs the handshake as far as the bytes allow. Returns 1 when it
 * completed now, 0 when it needs more, -1 on failure.
 */
static int
conn_tls_handshake(struct conn *c)
{
	struct conn_tls *t = c->tls;
	int rc, err;

	rc = SSL_do_handshake(t->ssl);
	conn_tls_collect(c);
	if (conn_tls_write_raw(c) == -1)
		return -1;
	if (rc == 1)
		return conn_tls_established(c) == -1 ? -1 : 1;
	err = SSL_get_error(t->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return 0;
	conn_tls_error(c, "TLS handshake");
	return -1;
}

/* A failed handshake: a client reports it as a failed connect. */
static void
conn_tls_fail(struct conn *c)
{
	if (!c->tls->server && c->connecting) {
		c->connecting = 0;
		c->write_error = 1;
		c->err = ECONNABORTED;
		conn_read_disable(c);
		event_del(c->ev_write);
		c->error_cb(c, c->arg);
		return;
	}
	c->read_error = 1;
	c->err = ECONNABORTED;
	conn_read_disable(c);
	c->read_cb(c, c->arg);
}

/* Decrypts what the peer sent into c->in. Returns -1 on a TLS error. */
static int
conn_tls_decrypt(struct conn *c)
{
	struct conn_tls *t = c->tls;
	struct evbuffer_iovec v;
	int n, err;

	for (;;) {
		if (evbuffer_reserve_space(c->in, CONN_TLS_READ, &v, 1) != 1)
			return -1;
		n = SSL_read(t->ssl, v.iov_base, (int)v.iov_len);
		if (n > 0) {
			v.iov_len = (size_t)n;
			evbuffer_commit_space(c->in, &v, 1);
			c->bytes_in += (uint64_t)n;
			continue;
		}
		v.iov_len = 0;
		evbuffer_commit_space(c->in, &v, 1);
		err = SSL_get_error(t->ssl, n);
		if (err == SSL_ERROR_WANT_READ)
			break;
		if (err == SSL_ERROR_ZERO_RETURN) {
			c->eof = 1;
			conn_read_disable(c);
			break;
		}
		conn_tls_error(c, "TLS");
		return -1;
	}
	/* Reading may answer the peer (key updates, tickets). */
	conn_tls_collect(c);
	return conn_tls_write_raw(c);
}

void
conn_tls_read_ready(struct conn *c)
{
	struct conn_tls *t = c->tls;
	char buf[CONN_TLS_READ];
	ssize_t n;
	int done, connected = 0;

	n = read(c->fd, buf, sizeof(buf));
	if (n > 0)
		BIO_write(t->rbio, buf, (int)n);
	else if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		/* The bytes read before the TLS started. */
		if (t->kick) {
			t->kick = 0;
			goto process;
		}
		/* Plaintext decrypted with the handshake's last bytes. */
		if (t->deliver && evbuffer_get_length(c->in) > 0) {
			t->deliver = 0;
			c->read_cb(c, c->arg);
		}
		return;
	} else if (n == -1 || t->handshaking) {
		if (n == 0)
			snprintf(t->error, sizeof(t->error),
			    "the peer closed during the TLS handshake");
		else
			snprintf(
			    t->error, sizeof(t->error), "%s", strerror(errno));
		conn_tls_fail(c);
		return;
	} else {
		/* EOF without close_notify: HTTP framing finds truncation. */
		c->eof = 1;
		conn_read_disable(c);
		c->read_cb(c, c->arg);
		return;
	}
process:
	if (t->handshaking) {
		if ((done = conn_tls_handshake(c)) == -1) {
			conn_tls_fail(c);
			return;
		}
		if (done == 0)
			return;
		connected = !t->server;
	}
	if (conn_tls_decrypt(c) == -1) {
		c->read_error = 1;
		c->err = EPROTO;
		conn_read_disable(c);
	}
	if (connected) {
		/*
		 * The connect completed, for the conn's user, which may
		 * close c in its callback: anything decrypted already is
		 * handed over from the event loop, not from here.
		 */
		c->connecting = 0;
		if (evbuffer_get_length(c->in) > 0 || c->eof || c->read_error) {
			t->deliver = 1;
			event_active(c->ev_read, EV_READ, 1);
		}
		if (conn_flush(c) == -1) {
			c->error_cb(c, c->arg);
			return;
		}
		if (evbuffer_get_length(c->out) == 0)
			c->write_cb(c, c->arg);
		return;
	}
	if (evbuffer_get_length(c->in) > 0 || c->eof || c->read_error)
		c->read_cb(c, c->arg);
}

int
conn_tls_connected(struct conn *c)
{
	c->tls->tcp_up = 1;
	if (conn_tls_handshake(c) == -1) {
		conn_tls_fail(c);
		return -1;
	}
	return 0;
}

int
conn_tls_flush(struct conn *c)
{
	struct conn_tls *t = c->tls;
	struct evbuffer_iovec v;
	int n;

	if (!t->handshaking) {
		while (evbuffer_get_length(c->out) > 0 &&
		    evbuffer_get_length(t->raw_out) < CONN_TLS_RAW_HIGH) {
			if (evbuffer_peek(c->out, -1, NULL, &v, 1) < 1)
				break;
			if (v.iov_len > CONN_TLS_READ)
				v.iov_len = CONN_TLS_READ;
			n = SSL_write(t->ssl, v.iov_base, (int)v.iov_len);
			if (n <= 0) {
				conn_tls_error(c, "TLS write");
				c->write_error = 1;
				c->err = EPROTO;
				return -1;
			}
			evbuffer_drain(c->out, (size_t)n);
			c->bytes_out += (uint64_t)n;
			conn_tls_collect(c);
		}
		if (c->shutdown_after && !t->closed_notify &&
		    evbuffer_get_length(c->out) == 0) {
			SSL_shutdown(t->ssl);
			t->closed_notify = 1;
			conn_tls_collect(c);
		}
	}
	if (conn_tls_write_raw(c) == -1)
		return -1;
	/* More plaintext than raw_out may hold: go on once it drains. */
	if (evbuffer_get_length(c->out) > 0)
		event_add(c->ev_write, NULL);
	return 0;
}

int
conn_tls_pending(const struct conn *c)
{
	return c->tls != NULL && evbuffer_get_length(c->tls->raw_out) > 0;
}
