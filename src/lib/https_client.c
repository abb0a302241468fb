/*
 * The HTTPS client of weft's API: one request per TLS connection, written
 * directly on bufferevent_openssl and read with the HTTP/1 parser of
 * http1.c (evhttp cannot say why a TLS connection failed, and reconnects
 * a TLS bufferevent badly).
 *
 * A request goes through: a deferred start (so that its callback never
 * runs inside https_client_request), name resolution, a non-blocking
 * connect to each address in turn, the TLS handshake and exchange, and
 * one teardown path, https_req_close(). One timer covers all of it.
 *
 * Ownership: the client owns its requests; a request owns its socket,
 * its SSL and its bufferevent. The bufferevent is created without
 * BEV_OPT_CLOSE_ON_FREE, which in libevent 2.1 would free the SSL and
 * close the socket without a close_notify: https_req_close() frees the
 * bufferevent first (its events leave the base), then sends close_notify,
 * frees the SSL and closes the socket.
 *
 * Two limits of the design, both for weft's callers (weftctl,
 * weft-sync's control loop, and weft-proxy's JWKS fetcher, which runs
 * on a thread of its own: none carries a data path):
 * - A host name is resolved with getaddrinfo(3), which blocks the
 *   event_base for the lookup. libevent 2.1's evdns cannot cancel a
 *   lookup without leaking it when the base is freed, and
 *   https_client_free must leave nothing behind. Addresses need no
 *   lookup.
 * - Writes to a peer that has closed raise SIGPIPE: programs ignore it
 *   (every weft daemon does); https_client_fetch blocks it while it runs.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "http1.h"
#include "https_client.h"
#include "log.h"
#include "xmalloc.h"

#define HTTPS_DEFAULT_PORT    "15010"
#define HTTPS_DEFAULT_TIMEOUT 30
#define HTTPS_MAX_HEAD        (64 * 1024)
#define HTTPS_MAX_BODY        ((size_t)64 * 1024 * 1024)
/* Read ahead of the parser at most this much: it drains as it goes. */
#define HTTPS_READ_HIGH  (256 * 1024)
#define HTTPS_METHOD_MAX 16
#define HTTPS_HOST_MAX   253

/* Where the response is: its head, then the body by its framing. */
enum https_state {
	HTTPS_S_HEAD = 0,
	HTTPS_S_LENGTH,
	HTTPS_S_CHUNKED,
	HTTPS_S_EOF,
};

/* Decoding a chunked body that http1_chunked_scan() has accepted. */
enum https_dechunk {
	HTTPS_DC_SIZE = 0, /* hex digits of the chunk size */
	HTTPS_DC_LINE,     /* the rest of the size line, to its LF */
	HTTPS_DC_DATA,
	HTTPS_DC_CRLF, /* after the data of a chunk */
	HTTPS_DC_TRAILER,
};

struct https_req;

struct https_client {
	struct event_base *base;
	SSL_CTX *ctx;
	char *host;      /* a name or an address, without brackets */
	char *authority; /* the Host header */
	char port[6];
	int host_is_ip;
	unsigned char pin[32]; /* SHA-256 of the pinned certificate's DER */
	char *bearer;
	struct timeval timeout;
	size_t max_body;
	/*
	 * The last TLS session, resumed by the next connection: a sync
	 * daemon polls on a new connection each time, and a full handshake
	 * per poll is most of the server's work for a large fleet.
	 */
	SSL_SESSION *session;
	TAILQ_HEAD(, https_req) reqs;
};

struct https_req {
	TAILQ_ENTRY(https_req) entry;
	struct https_client *c;
	char method[HTTPS_METHOD_MAX + 1];
	struct evbuffer *out; /* the request, until the bufferevent takes it */
	https_done_cb done;
	void *arg;

	struct event *start;
	struct event *timer;
	struct addrinfo *ai;
	struct addrinfo *ai_next; /* the next address to try */
	int conn_errno;           /* why the last address failed */
	int fd;
	struct event *connect;
	SSL *ssl;
	struct bufferevent *bev;
	int tls_up;       /* handshake done, no fatal error: close_notify due */
	int pin_mismatch; /* set by the verify callback */

	enum https_state state;
	struct http1_msg msg;
	uint64_t remaining; /* of a Content-Length body */
	struct http1_chunked chunked;
	enum https_dechunk dc;
	uint64_t dc_size;
	int dc_skip;
	struct evbuffer *body;
	struct https_response resp;
};

static void https_req_start_cb(evutil_socket_t, short, void *);
static void https_req_timer_cb(evutil_socket_t, short, void *);
static void https_req_connect_cb(evutil_socket_t, short, void *);
static void https_req_read_cb(struct bufferevent *, void *);
static void https_req_event_cb(struct bufferevent *, short, void *);
static void https_req_error(struct https_req *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void https_req_fail(struct https_req *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void https_cause(char **, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void https_ssl_cause(char **, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
https_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
}

/*
 * Appends OpenSSL's last error, then empties the queue: it is per
 * thread, and a stale entry would make SSL_get_error() blame the next
 * TLS call of this thread.
 */
static void
https_ssl_cause(char **cause, const char *fmt, ...)
{
	char *msg, err[256];
	unsigned long e;
	va_list ap;

	if (cause == NULL) {
		ERR_clear_error();
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	if ((e = ERR_peek_last_error()) != 0) {
		ERR_error_string_n(e, err, sizeof(err));
		xasprintf(cause, "%s: %s", msg, err);
		free(msg);
	} else
		*cause = msg;
	ERR_clear_error();
}

/* strerror(), in lower case as our other messages: "connection refused". */
static void
https_strerror(int error, char *buf, size_t len)
{
	snprintf(buf, len, "%s", strerror(error));
	if (buf[0] != '\0' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
		buf[0] = (char)tolower((unsigned char)buf[0]);
}

void
https_response_clear(struct https_response *r)
{
	if (r == NULL)
		return;
	free(r->body);
	free(r->error);
	free(r->peer_chain_pem);
	memset(r, 0, sizeof(*r));
}

/* Private keys are never encrypted here: never prompt on a terminal. */
static int
https_nopass_cb(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

static BIO *
https_file_open(const char *path, char **cause)
{
	FILE *f;
	BIO *bio;

	if ((f = fopen(path, "r")) == NULL) {
		https_cause(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((bio = BIO_new_fp(f, BIO_CLOSE)) == NULL) {
		fclose(f);
		https_ssl_cause(cause, "%s", path);
	}
	return bio;
}

/* Whether the last OpenSSL error is the end of the PEM input. */
static int
https_pem_at_end(void)
{
	unsigned long e;

	e = ERR_peek_last_error();
	return ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

static int
https_load_ca(SSL_CTX *ctx, const char *path, char **cause)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	X509 *x;
	BIO *bio;
	int n = 0;

	if ((bio = https_file_open(path, cause)) == NULL)
		return -1;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(store, x) != 1) {
			X509_free(x);
			BIO_free(bio);
			https_ssl_cause(cause, "%s", path);
			return -1;
		}
		X509_free(x);
		n++;
	}
	BIO_free(bio);
	if (n == 0 || !https_pem_at_end()) {
		https_ssl_cause(cause, "%s: %s", path,
		    n == 0 ? "no certificate" : "bad certificate");
		return -1;
	}
	ERR_clear_error();
	return 0;
}

/* The client certificate, the chain that follows it, and its key. */
static int
https_load_cert(
    SSL_CTX *ctx, const char *cert_file, const char *key_file, char **cause)
{
	EVP_PKEY *key;
	X509 *x;
	BIO *bio;

	if ((bio = https_file_open(cert_file, cause)) == NULL)
		return -1;
	if ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		BIO_free(bio);
		https_ssl_cause(cause, "%s: no certificate", cert_file);
		return -1;
	}
	if (SSL_CTX_use_certificate(ctx, x) != 1) {
		X509_free(x);
		BIO_free(bio);
		https_ssl_cause(cause, "%s", cert_file);
		return -1;
	}
	X509_free(x);
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			BIO_free(bio);
			https_ssl_cause(cause, "%s", cert_file);
			return -1;
		}
	}
	BIO_free(bio);
	if (!https_pem_at_end()) {
		https_ssl_cause(cause, "%s: bad certificate", cert_file);
		return -1;
	}
	ERR_clear_error();

	if ((bio = https_file_open(key_file, cause)) == NULL)
		return -1;
	key = PEM_read_bio_PrivateKey(bio, NULL, https_nopass_cb, NULL);
	BIO_free(bio);
	if (key == NULL) {
		https_ssl_cause(cause, "%s: no private key", key_file);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		EVP_PKEY_free(key);
		https_ssl_cause(cause, "%s", key_file);
		return -1;
	}
	EVP_PKEY_free(key);
	if (SSL_CTX_check_private_key(ctx) != 1) {
		https_ssl_cause(
		    cause, "%s does not match %s", key_file, cert_file);
		return -1;
	}
	return 0;
}

static int
https_hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int
https_parse_pin(struct https_client *c, const char *pin, char **cause)
{
	int i, hi, lo;

	if (strlen(pin) != 2 * sizeof(c->pin))
		goto bad;
	for (i = 0; i < (int)sizeof(c->pin); i++) {
		hi = https_hexval((unsigned char)pin[2 * i]);
		lo = https_hexval((unsigned char)pin[2 * i + 1]);
		if (hi == -1 || lo == -1)
			goto bad;
		c->pin[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
bad:
	https_cause(cause, "bad pin_sha256: want 64 hex digits");
	return -1;
}

/*
 * The host check, the same for both trust modes. Partial wildcards
 * ("w*.example") match too much to be of use to anyone.
 */
static int
https_param_host(X509_VERIFY_PARAM *param, const struct https_client *c)
{
	X509_VERIFY_PARAM_set_hostflags(
	    param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (c->host_is_ip)
		return X509_VERIFY_PARAM_set1_ip_asc(param, c->host);
	return X509_VERIFY_PARAM_set1_host(param, c->host, 0);
}

/*
 * Verification of a pinned server, replacing OpenSSL's (there is no CA
 * file yet): some certificate of the chain the server sent must have the
 * pinned fingerprint; it is then the one trust anchor the leaf is
 * verified against, with the host check. The pinned certificate may be
 * an intermediate: pinning it is what makes it trusted (partial chain).
 */
static int
https_client_verify_cb(X509_STORE_CTX *xs, void *arg)
{
	struct https_client *c = arg;
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_untrusted(xs);
	X509 *leaf = X509_STORE_CTX_get0_cert(xs), *x, *pinned = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *vxs = NULL;
	X509_VERIFY_PARAM *param;
	struct https_req *req = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	SSL *ssl;
	int i, n, ok = 0;

	ssl = X509_STORE_CTX_get_ex_data(
	    xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl != NULL)
		req = SSL_get_app_data(ssl);

	n = chain != NULL ? sk_X509_num(chain) : 0;
	for (i = -1; i < n && pinned == NULL; i++) {
		x = i == -1 ? leaf : sk_X509_value(chain, i);
		if (x == NULL ||
		    X509_digest(x, EVP_sha256(), md, &mdlen) != 1 ||
		    mdlen != sizeof(c->pin))
			continue;
		if (CRYPTO_memcmp(md, c->pin, sizeof(c->pin)) == 0)
			pinned = x;
	}
	if (pinned == NULL) {
		if (req != NULL)
			req->pin_mismatch = 1;
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_UNTRUSTED);
		return 0;
	}

	if ((store = X509_STORE_new()) == NULL ||
	    X509_STORE_add_cert(store, pinned) != 1 ||
	    (vxs = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(vxs, store, leaf, chain) != 1 ||
	    X509_STORE_CTX_set_default(vxs, "ssl_server") != 1) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_OUT_OF_MEM);
		goto out;
	}
	param = X509_STORE_CTX_get0_param(vxs);
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
	if (https_param_host(param, c) != 1) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_OUT_OF_MEM);
		goto out;
	}
	ok = X509_verify_cert(vxs) == 1;
	X509_STORE_CTX_set_error(
	    xs, ok ? X509_V_OK : X509_STORE_CTX_get_error(vxs));
out:
	X509_STORE_CTX_free(vxs);
	X509_STORE_free(store);
	return ok;
}

static int
https_client_ctx(
    struct https_client *c, const struct https_client_conf *conf, char **cause)
{
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		https_ssl_cause(cause, "SSL_CTX_new");
		return -1;
	}
	if (SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1) {
		https_ssl_cause(cause, "SSL_CTX_set_min_proto_version");
		return -1;
	}
	SSL_CTX_set_options(c->ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_default_passwd_cb(c->ctx, https_nopass_cb);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (conf->ca_file != NULL) {
		if (https_load_ca(c->ctx, conf->ca_file, cause) == -1)
			return -1;
	} else if (conf->pin_sha256 != NULL) {
		if (https_parse_pin(c, conf->pin_sha256, cause) == -1)
			return -1;
		SSL_CTX_set_cert_verify_callback(
		    c->ctx, https_client_verify_cb, c);
	} else if (conf->system_roots) {
		if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
			https_ssl_cause(cause, "the system's trust store");
			return -1;
		}
	} else {
		https_cause(cause, "neither a CA file nor a CA fingerprint");
		return -1;
	}
	if (conf->cert_file != NULL &&
	    https_load_cert(c->ctx, conf->cert_file,
		conf->key_file != NULL ? conf->key_file : conf->cert_file,
		cause) == -1)
		return -1;
	return 0;
}

/* A DNS name as a certificate can hold it; not an address in disguise. */
static int
https_host_name_ok(const char *host)
{
	const char *p;
	int alpha = 0;

	for (p = host; *p != '\0'; p++) {
		if (isalpha((unsigned char)*p) || *p == '-' || *p == '_')
			alpha = 1;
		else if (!isdigit((unsigned char)*p) && *p != '.')
			return 0;
	}
	return alpha && host[0] != '.' && host[0] != '-';
}

static int
https_client_url(struct https_client *c, const char *url, char **cause)
{
	const char *p, *h, *hend, *port = HTTPS_DEFAULT_PORT;
	unsigned char addr[sizeof(struct in6_addr)];
	size_t hlen, plen = strlen(HTTPS_DEFAULT_PORT);
	long n;
	int v6 = 0, r;

	if (strncasecmp(url, "https://", 8) != 0)
		goto bad;
	p = url + 8;
	if (*p == '[') {
		h = ++p;
		if ((hend = strchr(h, ']')) == NULL)
			goto bad;
		p = hend + 1;
		v6 = 1;
	} else {
		h = p;
		p += strcspn(p, ":/");
		hend = p;
	}
	hlen = (size_t)(hend - h);
	if (hlen == 0 || hlen > HTTPS_HOST_MAX)
		goto bad;
	if (*p == ':') {
		port = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		plen = (size_t)(p - port);
		if (plen == 0 || plen > 5)
			goto bad;
		n = strtol(port, NULL, 10);
		if (n < 1 || n > 65535)
			goto bad;
	}
	if (*p == '/')
		p++;
	if (*p != '\0')
		goto bad;

	if ((c->host = strndup(h, hlen)) == NULL) {
		https_cause(cause, "out of memory");
		return -1;
	}
	memcpy(c->port, port, plen);
	c->port[plen] = '\0';
	if (v6)
		c->host_is_ip = inet_pton(AF_INET6, c->host, addr) == 1;
	else
		c->host_is_ip = inet_pton(AF_INET, c->host, addr) == 1;
	if (v6 && !c->host_is_ip)
		goto bad;
	if (!c->host_is_ip && !https_host_name_ok(c->host))
		goto bad;

	if (strcmp(c->port, "443") == 0)
		r = asprintf(&c->authority, v6 ? "[%s]" : "%s", c->host);
	else
		r = asprintf(
		    &c->authority, v6 ? "[%s]:%s" : "%s:%s", c->host, c->port);
	if (r == -1) {
		c->authority = NULL;
		https_cause(cause, "out of memory");
		return -1;
	}
	return 0;
bad:
	https_cause(cause, "bad URL %s: want https://HOST[:PORT]", url);
	return -1;
}

/* Token68 (RFC 9110 11.2): what may follow "Bearer ". */
static int
https_bearer_ok(const char *s)
{
	const char *p;

	if (*s == '\0')
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) &&
		    strchr("-._~+/=", *p) == NULL)
			return 0;
	}
	return 1;
}

struct https_client *
https_client_new(struct event_base *base, const char *base_url,
    const struct https_client_conf *conf, char **cause)
{
	struct https_client *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		https_cause(cause, "out of memory");
		return NULL;
	}
	TAILQ_INIT(&c->reqs);
	c->base = base;
	if (https_client_url(c, base_url, cause) == -1)
		goto fail;
	if (conf->timeout_sec < 0) {
		https_cause(cause, "bad timeout %d", conf->timeout_sec);
		goto fail;
	}
	c->timeout.tv_sec =
	    conf->timeout_sec > 0 ? conf->timeout_sec : HTTPS_DEFAULT_TIMEOUT;
	c->max_body = conf->max_body > 0 ? conf->max_body : HTTPS_MAX_BODY;
	if (conf->bearer != NULL) {
		if (!https_bearer_ok(conf->bearer)) {
			https_cause(cause, "bad bearer token");
			goto fail;
		}
		if ((c->bearer = strdup(conf->bearer)) == NULL) {
			https_cause(cause, "out of memory");
			goto fail;
		}
	}
	if (https_client_ctx(c, conf, cause) == -1)
		goto fail;
	return c;
fail:
	https_client_free(c);
	return NULL;
}

/*
 * The teardown of the connection, in the order that keeps libevent and
 * OpenSSL off freed things: the bufferevent leaves the base before the
 * SSL it drives is freed and before its socket number can be reused.
 */
static void
https_req_close(struct https_req *req)
{
	if (req->connect != NULL) {
		event_free(req->connect);
		req->connect = NULL;
	}
	if (req->bev != NULL) {
		/*
		 * Out of the event loop now: a deferred callback may keep the
		 * bufferevent alive past its free, and the socket is closed
		 * below (its number may be reused at once).
		 */
		bufferevent_disable(req->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(req->bev, NULL, NULL, NULL, NULL);
		bufferevent_free(req->bev);
		req->bev = NULL;
	}
	if (req->ssl != NULL) {
		/*
		 * One close_notify, without waiting for the peer's: nothing
		 * more is read. Never after a fatal error (OpenSSL forbids
		 * it), and the outcome does not matter.
		 */
		if (req->tls_up)
			(void)SSL_shutdown(req->ssl);
		SSL_free(req->ssl);
		ERR_clear_error();
		req->ssl = NULL;
	}
	if (req->fd != -1) {
		close(req->fd);
		req->fd = -1;
	}
	req->tls_up = 0;
}

static void
https_req_free(struct https_req *req)
{
	https_req_close(req);
	if (req->start != NULL)
		event_free(req->start);
	if (req->timer != NULL)
		event_free(req->timer);
	if (req->ai != NULL)
		freeaddrinfo(req->ai);
	if (req->out != NULL)
		evbuffer_free(req->out);
	if (req->body != NULL)
		evbuffer_free(req->body);
	https_response_clear(&req->resp);
	free(req);
}

void
https_client_free(struct https_client *c)
{
	struct https_req *req;

	if (c == NULL)
		return;
	while ((req = TAILQ_FIRST(&c->reqs)) != NULL) {
		TAILQ_REMOVE(&c->reqs, req, entry);
		https_req_free(req);
	}
	SSL_SESSION_free(c->session);
	SSL_CTX_free(c->ctx);
	free(c->host);
	free(c->authority);
	free(c->bearer);
	free(c);
}

/*
 * The end of a request, good or bad: the connection goes first, so that
 * the callback may free the client or start other requests.
 */
static void
https_req_finish(struct https_req *req)
{
	SSL_SESSION *sess;

	if (req->ssl != NULL && req->tls_up && req->resp.error == NULL &&
	    (sess = SSL_get1_session(req->ssl)) != NULL) {
		if (SSL_SESSION_is_resumable(sess)) {
			SSL_SESSION_free(req->c->session);
			req->c->session = sess;
		} else
			SSL_SESSION_free(sess);
	}
	TAILQ_REMOVE(&req->c->reqs, req, entry);
	req->c = NULL;
	https_req_close(req);
	if (req->resp.error != NULL) {
		req->resp.status = 0;
		free(req->resp.body);
		req->resp.body = NULL;
		req->resp.len = 0;
	}
	req->done(&req->resp, req->arg);
	https_req_free(req);
}

/* Records why the request failed; the first reason is the one kept. */
static void
https_req_verror(struct https_req *req, const char *fmt, va_list ap)
{
	if (req->resp.error == NULL &&
	    vasprintf(&req->resp.error, fmt, ap) == -1)
		fatal("vasprintf");
}

static void
https_req_error(struct https_req *req, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	https_req_verror(req, fmt, ap);
	va_end(ap);
}

static void
https_req_fail(struct https_req *req, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	https_req_verror(req, fmt, ap);
	va_end(ap);
	https_req_finish(req);
}

static void
https_req_succeed(struct https_req *req)
{
	size_t len = evbuffer_get_length(req->body);

	if ((req->resp.body = malloc(len + 1)) == NULL) {
		https_req_fail(req, "out of memory for a %zu byte body", len);
		return;
	}
	if (evbuffer_remove(req->body, req->resp.body, len) != (int)len) {
		https_req_fail(req, "cannot copy the response body");
		return;
	}
	req->resp.body[len] = '\0';
	req->resp.len = len;
	req->resp.status = req->msg.status;
	https_req_finish(req);
}

static int
https_method_ok(const char *m)
{
	size_t i, n = strlen(m);

	if (n == 0 || n > HTTPS_METHOD_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (!isupper((unsigned char)m[i]))
			return 0;
	}
	return 1;
}

/* Visible ASCII only: the target goes on the request line as is. */
static int
https_target_ok(const char *t)
{
	const unsigned char *p = (const unsigned char *)t;

	if (*p != '/')
		return 0;
	for (; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f)
			return 0;
	}
	return 1;
}

static int
https_field_ok(const char *v)
{
	const unsigned char *p = (const unsigned char *)v;

	for (; *p != '\0'; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return 0;
	}
	return 1;
}

int
https_client_request(struct https_client *c, const char *method,
    const char *target, const char *content_type, const void *body, size_t len,
    https_done_cb done, void *arg, char **cause)
{
	struct https_req *req;
	int r, with_length;

	if (!https_method_ok(method)) {
		https_cause(cause, "bad method \"%s\"", method);
		return -1;
	}
	if (!https_target_ok(target)) {
		https_cause(cause, "bad request target \"%s\"", target);
		return -1;
	}
	if (content_type != NULL && !https_field_ok(content_type)) {
		https_cause(cause, "bad content type");
		return -1;
	}
	if (len > 0 && body == NULL) {
		https_cause(cause, "a body length without a body");
		return -1;
	}
	if (done == NULL) {
		https_cause(cause, "no callback");
		return -1;
	}
	if ((req = calloc(1, sizeof(*req))) == NULL) {
		https_cause(cause, "out of memory");
		return -1;
	}
	req->fd = -1;
	req->done = done;
	req->arg = arg;
	memcpy(req->method, method, strlen(method) + 1); /* checked above */
	if ((req->out = evbuffer_new()) == NULL ||
	    (req->body = evbuffer_new()) == NULL)
		goto nomem;

	/* Servers want a length on a POST or PUT, even an empty one. */
	with_length = body != NULL || strcmp(method, "POST") == 0 ||
	    strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
	r = evbuffer_add_printf(req->out,
	    "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weft/%s\r\n"
	    "Accept: */*\r\nConnection: close\r\n",
	    method, target, c->authority, PACKAGE_VERSION);
	if (r != -1 && c->bearer != NULL)
		r = evbuffer_add_printf(
		    req->out, "Authorization: Bearer %s\r\n", c->bearer);
	if (r != -1 && content_type != NULL)
		r = evbuffer_add_printf(
		    req->out, "Content-Type: %s\r\n", content_type);
	if (r != -1 && with_length)
		r = evbuffer_add_printf(
		    req->out, "Content-Length: %zu\r\n", len);
	if (r != -1)
		r = evbuffer_add(req->out, "\r\n", 2);
	if (r != -1 && len > 0)
		r = evbuffer_add(req->out, body, len);
	if (r == -1)
		goto nomem;

	/* Started from the loop, so that done never runs inside this call. */
	req->start = event_new(c->base, -1, 0, https_req_start_cb, req);
	req->timer = evtimer_new(c->base, https_req_timer_cb, req);
	if (req->start == NULL || req->timer == NULL ||
	    evtimer_add(req->timer, &c->timeout) == -1)
		goto nomem;
	event_active(req->start, EV_TIMEOUT, 1);
	req->c = c;
	TAILQ_INSERT_TAIL(&c->reqs, req, entry);
	return 0;
nomem:
	https_req_free(req);
	https_cause(cause, "out of memory");
	return -1;
}

static void
https_req_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct https_req *req = arg;

	https_req_fail(
	    req, "timed out after %ld s", (long)req->c->timeout.tv_sec);
}

/* Connects to the next address, or fails with the last address's error. */
static void
https_req_connect_next(struct https_req *req)
{
	struct https_client *c = req->c;
	struct addrinfo *ai;
	char err[128];
	int fd, one = 1;

	while ((ai = req->ai_next) != NULL) {
		req->ai_next = ai->ai_next;
		fd = socket(ai->ai_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			req->conn_errno = errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno != EINPROGRESS) {
			req->conn_errno = errno;
			close(fd);
			continue;
		}
		req->fd = fd;
		req->connect =
		    event_new(c->base, fd, EV_WRITE, https_req_connect_cb, req);
		if (req->connect == NULL ||
		    event_add(req->connect, NULL) == -1) {
			https_req_fail(req, "cannot wait for the connection");
			return;
		}
		return;
	}
	https_strerror(req->conn_errno, err, sizeof(err));
	https_req_fail(req, "connect to %s port %s: %s", c->host, c->port, err);
}

static void
https_req_start_cb(evutil_socket_t fd, short what, void *arg)
{
	struct https_req *req = arg;
	struct https_client *c = req->c;
	struct addrinfo hints;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (c->host_is_ip ? AI_NUMERICHOST : 0);
	r = getaddrinfo(c->host, c->port, &hints, &req->ai);
	if (r != 0) {
		req->ai = NULL;
		https_req_fail(req, "%s: %s", c->host,
		    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return;
	}
	req->ai_next = req->ai;
	req->conn_errno = ECONNREFUSED;
	https_req_connect_next(req);
}

static void
https_req_tls(struct https_req *req)
{
	struct https_client *c = req->c;

	if ((req->ssl = SSL_new(c->ctx)) == NULL) {
		ERR_clear_error();
		https_req_fail(req, "out of memory for TLS");
		return;
	}
	SSL_set_app_data(req->ssl, req);
	if (c->session != NULL)
		SSL_set_session(req->ssl, c->session);
	/* SNI carries names only (RFC 6066 3). */
	if ((!c->host_is_ip &&
		SSL_set_tlsext_host_name(req->ssl, c->host) != 1) ||
	    https_param_host(SSL_get0_param(req->ssl), c) != 1) {
		ERR_clear_error();
		https_req_fail(req, "cannot set the TLS host name");
		return;
	}
	req->bev = bufferevent_openssl_socket_new(c->base, req->fd, req->ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_DEFER_CALLBACKS);
	if (req->bev == NULL) {
		ERR_clear_error();
		https_req_fail(req, "cannot start TLS");
		return;
	}
	bufferevent_setcb(
	    req->bev, https_req_read_cb, NULL, https_req_event_cb, req);
	bufferevent_setwatermark(req->bev, EV_READ, 0, HTTPS_READ_HIGH);
	bufferevent_set_timeouts(req->bev, &c->timeout, &c->timeout);
	/* Kept until the handshake is done, then written. */
	if (bufferevent_write_buffer(req->bev, req->out) == -1 ||
	    bufferevent_enable(req->bev, EV_READ | EV_WRITE) == -1) {
		https_req_fail(req, "cannot queue the request");
		return;
	}
}

static void
https_req_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct https_req *req = arg;
	socklen_t len = sizeof(int);
	int error = 0;

	event_free(req->connect);
	req->connect = NULL;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == -1)
		error = errno;
	if (error != 0) {
		req->conn_errno = error;
		close(req->fd);
		req->fd = -1;
		https_req_connect_next(req);
		return;
	}
	https_req_tls(req);
}

/* The server's chain as it sent it, leaf first. */
static void
https_req_save_chain(struct https_req *req)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(req->ssl);
	BIO *bio;
	char *data;
	long n;
	int i;

	if (chain == NULL || (bio = BIO_new(BIO_s_mem())) == NULL)
		return;
	for (i = 0; i < sk_X509_num(chain); i++) {
		if (PEM_write_bio_X509(bio, sk_X509_value(chain, i)) != 1)
			goto out;
	}
	n = BIO_get_mem_data(bio, &data);
	if (n > 0 &&
	    (req->resp.peer_chain_pem = malloc((size_t)n + 1)) != NULL) {
		memcpy(req->resp.peer_chain_pem, data, (size_t)n);
		req->resp.peer_chain_pem[n] = '\0';
	}
out:
	BIO_free(bio);
	ERR_clear_error();
}

/*
 * The head of the response: 2 when it is the whole response, 1 when a
 * head was read, 0 for more bytes, -1 on error.
 */
static int
https_req_head(struct https_req *req, struct evbuffer *in)
{
	struct http1_msg *m = &req->msg;
	size_t len = evbuffer_get_length(in);
	const char *buf;
	ssize_t r;

	if (len > HTTPS_MAX_HEAD)
		len = HTTPS_MAX_HEAD;
	if ((buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)len)) ==
	    NULL) {
		https_req_error(req, "out of memory for the response head");
		return -1;
	}
	r = http1_parse_response(
	    buf, len, HTTPS_MAX_HEAD, req->method, strlen(req->method), m);
	if (r == 0)
		return 0;
	if (r < 0) {
		https_req_error(
		    req, "bad response: %s", http1_error_str(m->error));
		return -1;
	}
	evbuffer_drain(in, (size_t)r);
	if (m->status == 101) {
		https_req_error(req, "unexpected 101 Switching Protocols");
		return -1;
	}
	/* An interim response (100 Continue): the real one follows. */
	if (m->status < 200)
		return 1;
	switch (m->framing) {
	case HTTP1_BODY_NONE:
		return 2;
	case HTTP1_BODY_LENGTH:
		if (m->content_length > req->c->max_body) {
			https_req_error(req,
			    "response body too large (%llu bytes, limit %zu)",
			    (unsigned long long)m->content_length,
			    req->c->max_body);
			return -1;
		}
		req->remaining = m->content_length;
		req->state = HTTPS_S_LENGTH;
		break;
	case HTTP1_BODY_CHUNKED:
		http1_chunked_init(&req->chunked);
		req->dc = HTTPS_DC_SIZE;
		req->dc_size = 0;
		req->state = HTTPS_S_CHUNKED;
		break;
	case HTTP1_BODY_EOF:
		req->state = HTTPS_S_EOF;
		break;
	}
	return 1;
}

/*
 * Copies the data of chunked bytes that http1_chunked_scan() accepted,
 * so this needs no checks of its own beyond the size limit.
 */
static int
https_req_dechunk(struct https_req *req, const char *p, size_t len)
{
	size_t n;

	while (len > 0) {
		switch (req->dc) {
		case HTTPS_DC_SIZE:
			if (https_hexval((unsigned char)*p) != -1)
				req->dc_size = req->dc_size * 16 +
				    (uint64_t)https_hexval((unsigned char)*p);
			else
				req->dc = HTTPS_DC_LINE;
			p++;
			len--;
			break;
		case HTTPS_DC_LINE:
			if (*p == '\n') {
				if (req->dc_size == 0)
					req->dc = HTTPS_DC_TRAILER;
				else if (req->dc_size > req->c->max_body -
					evbuffer_get_length(req->body)) {
					https_req_error(req,
					    "response body too large "
					    "(limit %zu bytes)",
					    req->c->max_body);
					return -1;
				} else
					req->dc = HTTPS_DC_DATA;
			}
			p++;
			len--;
			break;
		case HTTPS_DC_DATA:
			n = len < req->dc_size ? len : (size_t)req->dc_size;
			if (evbuffer_add(req->body, p, n) == -1) {
				https_req_error(req, "out of memory");
				return -1;
			}
			p += n;
			len -= n;
			if ((req->dc_size -= n) == 0) {
				req->dc = HTTPS_DC_CRLF;
				req->dc_skip = 2;
			}
			break;
		case HTTPS_DC_CRLF:
			p++;
			len--;
			if (--req->dc_skip == 0)
				req->dc = HTTPS_DC_SIZE;
			break;
		case HTTPS_DC_TRAILER:
			return 0;
		}
	}
	return 0;
}

/* A chunked body; 1 when complete, 0 for more bytes, -1 on error. */
static int
https_req_chunked(struct https_req *req, struct evbuffer *in)
{
	struct evbuffer_iovec v;
	ssize_t used;
	int done = 0;

	while (
	    !done && evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
		used = http1_chunked_scan(
		    &req->chunked, v.iov_base, v.iov_len, &done);
		if (used == -1) {
			https_req_error(
			    req, "bad response: invalid chunked body");
			return -1;
		}
		if (https_req_dechunk(req, v.iov_base, (size_t)used) == -1)
			return -1;
		evbuffer_drain(in, (size_t)used);
	}
	return done;
}

/*
 * Runs the parser over what arrived, and finishes the request when it
 * can. Returns 1 when the request is over (and freed), 0 otherwise.
 */
static int
https_req_parse(struct https_req *req)
{
	struct evbuffer *in = bufferevent_get_input(req->bev);
	size_t n;
	int r;

	while (evbuffer_get_length(in) > 0) {
		switch (req->state) {
		case HTTPS_S_HEAD:
			if ((r = https_req_head(req, in)) == -1) {
				https_req_finish(req);
				return 1;
			}
			if (r == 0)
				return 0;
			if (r == 2) {
				https_req_succeed(req);
				return 1;
			}
			break;
		case HTTPS_S_LENGTH:
			n = evbuffer_get_length(in);
			if (n > req->remaining)
				n = (size_t)req->remaining;
			if (evbuffer_remove_buffer(in, req->body, n) !=
			    (int)n) {
				https_req_fail(req, "out of memory");
				return 1;
			}
			req->remaining -= n;
			break;
		case HTTPS_S_CHUNKED:
			if ((r = https_req_chunked(req, in)) == -1) {
				https_req_finish(req);
				return 1;
			}
			if (r == 1) {
				https_req_succeed(req);
				return 1;
			}
			break;
		case HTTPS_S_EOF:
			n = evbuffer_get_length(in);
			if (n >
			    req->c->max_body - evbuffer_get_length(req->body)) {
				https_req_fail(req,
				    "response body too large (limit %zu bytes)",
				    req->c->max_body);
				return 1;
			}
			if (evbuffer_add_buffer(req->body, in) == -1) {
				https_req_fail(req, "out of memory");
				return 1;
			}
			break;
		}
		/* Also a zero Content-Length, right after the head. */
		if (req->state == HTTPS_S_LENGTH && req->remaining == 0) {
			https_req_succeed(req);
			return 1;
		}
	}
	return 0;
}

static void
https_req_read_cb(struct bufferevent *bev, void *arg)
{
	https_req_parse(arg);
}

/* Why the handshake failed, as precisely as OpenSSL says. */
static void
https_req_handshake_error(struct https_req *req)
{
	unsigned long e;
	long vr;
	const char *reason;

	if (req->pin_mismatch) {
		https_req_error(req,
		    "server certificate does not match the "
		    "pinned CA fingerprint");
		return;
	}
	if ((vr = SSL_get_verify_result(req->ssl)) != X509_V_OK) {
		https_req_error(req, "certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
		return;
	}
	if ((e = bufferevent_get_openssl_error(req->bev)) != 0 &&
	    (reason = ERR_reason_error_string(e)) != NULL) {
		https_req_error(req, "TLS handshake failed: %s", reason);
		return;
	}
	https_req_error(req, "TLS handshake failed: connection closed");
}

static void
https_req_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct https_req *req = arg;
	unsigned long e;
	const char *reason;

	if (what & BEV_EVENT_CONNECTED) {
		req->tls_up = 1;
		https_req_save_chain(req);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		https_req_fail(
		    req, "timed out after %ld s", (long)req->c->timeout.tv_sec);
		return;
	}
	/* Bytes that came with the close are the last of the response. */
	if (https_req_parse(req))
		return;
	/*
	 * A body delimited by the close needs the server's close_notify (an
	 * EOF event): a bare TCP close (an error) could be a truncation.
	 */
	if (what & BEV_EVENT_EOF) {
		if (req->state == HTTPS_S_EOF) {
			https_req_succeed(req);
			return;
		}
		https_req_fail(req, "connection closed before %s",
		    req->state == HTTPS_S_HEAD ? "a response"
					       : "the end of the response");
		return;
	}
	if (!req->tls_up) {
		https_req_handshake_error(req);
		https_req_finish(req);
		return;
	}
	req->tls_up = 0;
	if ((e = bufferevent_get_openssl_error(bev)) != 0 &&
	    (reason = ERR_reason_error_string(e)) != NULL)
		https_req_fail(req, "connection lost: %s", reason);
	else
		https_req_fail(req, "connection lost before %s",
		    req->state == HTTPS_S_HEAD ? "a response"
					       : "the end of the response");
}

struct https_fetch {
	struct https_response *r;
	int done;
};

static void
https_fetch_done_cb(struct https_response *r, void *arg)
{
	struct https_fetch *f = arg;

	/* Taken over: the caller's clear then finds nothing to free. */
	*f->r = *r;
	memset(r, 0, sizeof(*r));
	f->done = 1;
}

/*
 * Returns 0 when a response arrived (any status), -1 with *cause set
 * otherwise; then r->error says the same, and r->peer_chain_pem may
 * be set.
 */
int
https_client_fetch(const char *base_url, const struct https_client_conf *conf,
    const char *method, const char *target, const char *content_type,
    const void *body, size_t len, struct https_response *r, char **cause)
{
	struct https_fetch f = {r, 0};
	struct event_base *base;
	struct https_client *c = NULL;
	struct timespec zero = {0, 0};
	sigset_t sigpipe, old, pending;
	int rv = -1;

	memset(r, 0, sizeof(*r));
	if ((base = event_base_new()) == NULL) {
		https_cause(cause, "cannot create an event base");
		return -1;
	}
	if ((c = https_client_new(base, base_url, conf, cause)) == NULL)
		goto out;
	if (https_client_request(c, method, target, content_type, body, len,
		https_fetch_done_cb, &f, cause) == -1)
		goto out;

	/*
	 * A write to a closed connection must fail with EPIPE rather than
	 * kill a command line tool: SIGPIPE is held, and the one this
	 * thread raised is taken before the old mask comes back.
	 */
	sigemptyset(&sigpipe);
	sigaddset(&sigpipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &sigpipe, &old);
	event_base_dispatch(base);
	if (!sigismember(&old, SIGPIPE)) {
		if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE))
			(void)sigtimedwait(&sigpipe, NULL, &zero);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}

	if (!f.done)
		https_cause(cause, "the event loop ended before the response");
	else if (r->status == 0)
		https_cause(
		    cause, "%s", r->error != NULL ? r->error : "no response");
	else
		rv = 0;
out:
	https_client_free(c);
	event_base_free(base);
	return rv;
}
