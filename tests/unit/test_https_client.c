/*
 * Unit tests for the HTTPS client (src/lib/https_client.c), against a
 * small TLS server in a thread of the test (blocking OpenSSL on
 * 127.0.0.1, an ephemeral port). The PKI is made here with the OpenSSL
 * API: an EC P-256 CA, a server certificate for IP 127.0.0.1 sent with
 * the CA as its chain, a client certificate, and a second CA that
 * trusts nothing of the above.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "https_client.h"

#define BODY_MAX (64 * 1024 * 1024)

/* The PKI of the whole run, and its files in a temporary directory. */
static struct {
	char dir[64];
	char ca_file[128];
	char other_ca_file[128];
	char client_cert_file[128];
	char client_key_file[128];
	char ca_fp[65];
	char other_fp[65];
	char *ca_pem;
	X509 *ca;
	EVP_PKEY *ca_key;
	X509 *leaf;
	EVP_PKEY *leaf_key;
} pki;

enum srv_mode {
	SRV_LENGTH,  /* a Content-Length response */
	SRV_CHUNKED, /* 100 Continue, then a chunked response */
	SRV_EOF,     /* a body up to close_notify */
	SRV_SHORT,   /* a body shorter than its Content-Length */
	SRV_HUGE,    /* a Content-Length past the client's limit */
	SRV_SILENT,  /* accepts and never says a word */
};

/*
 * The server thread. The test sets the mode and the response before the
 * thread starts, and reads what it saw after it is joined.
 */
struct srv {
	int lfd;
	int port;
	pthread_t thread;
	SSL_CTX *ctx;
	enum srv_mode mode;
	int status;
	const char *body;
	volatile sig_atomic_t stop;

	int nconn;
	int handshake_failed;
	char req[16384];
	size_t req_len;
	char client_cn[128];
	long client_verify;
};

/* What a request's callback got. */
struct result {
	int called;
	int status;
	char *body;
	size_t len;
	char *error;
	char *chain;
};

static unsigned long serial = 1;

static EVP_PKEY *
key_new(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static void
ext_add(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509_EXTENSION *e;
	X509V3_CTX ctx;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for key; self-signed when issuer is NULL. */
static X509 *
cert_new(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
    const char *san, const char *eku)
{
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -300);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"weft test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(
	    name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(
	    x, issuer != NULL ? X509_get_subject_name(issuer) : name);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	ext_add(x, issuer != NULL ? issuer : x, NID_basic_constraints,
	    issuer == NULL ? "critical,CA:TRUE" : "critical,CA:FALSE");
	ext_add(x, issuer != NULL ? issuer : x, NID_key_usage,
	    issuer == NULL ? "critical,keyCertSign,cRLSign"
			   : "critical,digitalSignature");
	ext_add(
	    x, issuer != NULL ? issuer : x, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		ext_add(x, issuer, NID_authority_key_identifier, "keyid");
	if (san != NULL)
		ext_add(x, issuer, NID_subject_alt_name, san);
	if (eku != NULL)
		ext_add(x, issuer, NID_ext_key_usage, eku);
	assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key,
			EVP_sha256()) > 0);
	return x;
}

static void
fingerprint(X509 *x, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len, i;

	assert_int_equal(X509_digest(x, EVP_sha256(), md, &len), 1);
	assert_int_equal(len, 32);
	for (i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static char *
cert_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	n = BIO_get_mem_data(bio, &data);
	s = strndup(data, (size_t)n);
	assert_non_null(s);
	BIO_free(bio);
	return s;
}

static void
write_pem(const char *path, X509 *x, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	if (x != NULL)
		assert_int_equal(PEM_write_X509(f, x), 1);
	if (key != NULL)
		assert_int_equal(
		    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);
}

static int
pki_setup(void **state)
{
	EVP_PKEY *other_key, *client_key;
	X509 *other, *client;

	snprintf(pki.dir, sizeof(pki.dir), "/tmp/test_https_client.XXXXXX");
	assert_non_null(mkdtemp(pki.dir));
	snprintf(pki.ca_file, sizeof(pki.ca_file), "%s/ca.pem", pki.dir);
	snprintf(pki.other_ca_file, sizeof(pki.other_ca_file), "%s/other.pem",
	    pki.dir);
	snprintf(pki.client_cert_file, sizeof(pki.client_cert_file),
	    "%s/client.pem", pki.dir);
	snprintf(pki.client_key_file, sizeof(pki.client_key_file),
	    "%s/client-key.pem", pki.dir);

	pki.ca_key = key_new();
	pki.ca = cert_new("test CA", pki.ca_key, NULL, NULL, NULL, NULL);
	pki.leaf_key = key_new();
	pki.leaf = cert_new("server", pki.leaf_key, pki.ca, pki.ca_key,
	    "IP:127.0.0.1", "serverAuth");
	client_key = key_new();
	client = cert_new(
	    "weft client", client_key, pki.ca, pki.ca_key, NULL, "clientAuth");
	other_key = key_new();
	other = cert_new("other CA", other_key, NULL, NULL, NULL, NULL);

	write_pem(pki.ca_file, pki.ca, NULL);
	write_pem(pki.other_ca_file, other, NULL);
	write_pem(pki.client_cert_file, client, NULL);
	write_pem(pki.client_key_file, NULL, client_key);
	fingerprint(pki.ca, pki.ca_fp);
	fingerprint(other, pki.other_fp);
	pki.ca_pem = cert_pem(pki.ca);

	X509_free(other);
	EVP_PKEY_free(other_key);
	X509_free(client);
	EVP_PKEY_free(client_key);
	return 0;
}

static int
pki_teardown(void **state)
{
	unlink(pki.ca_file);
	unlink(pki.other_ca_file);
	unlink(pki.client_cert_file);
	unlink(pki.client_key_file);
	assert_int_equal(rmdir(pki.dir), 0);
	free(pki.ca_pem);
	X509_free(pki.ca);
	EVP_PKEY_free(pki.ca_key);
	X509_free(pki.leaf);
	EVP_PKEY_free(pki.leaf_key);
	return 0;
}

/* Any client certificate is welcome; the test reads the verdict. */
static int
srv_verify_cb(int ok, X509_STORE_CTX *xs)
{
	return 1;
}

static int
ssl_write_all(SSL *ssl, const char *s, size_t len)
{
	size_t off = 0;
	int n;

	while (off < len) {
		if ((n = SSL_write(ssl, s + off, (int)(len - off))) <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static int ssl_printf(SSL *ssl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
ssl_printf(SSL *ssl, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return ssl_write_all(ssl, buf, (size_t)n);
}

/* Reads the request head and its Content-Length body into s->req. */
static int
srv_read_request(struct srv *s, SSL *ssl)
{
	char *end, *cl;
	size_t want = 0;
	int n;

	for (;;) {
		if (s->req_len == sizeof(s->req) - 1)
			return -1;
		n = SSL_read(ssl, s->req + s->req_len,
		    (int)(sizeof(s->req) - 1 - s->req_len));
		if (n <= 0)
			return -1;
		s->req_len += (size_t)n;
		s->req[s->req_len] = '\0';
		if ((end = strstr(s->req, "\r\n\r\n")) == NULL)
			continue;
		if (want == 0) {
			want = (size_t)(end + 4 - s->req);
			if ((cl = strcasestr(s->req, "\r\nContent-Length: ")) !=
			    NULL)
				want += strtoul(cl + 18, NULL, 10);
		}
		if (s->req_len >= want)
			return 0;
	}
}

static void
srv_respond(struct srv *s, SSL *ssl)
{
	const char *b = s->body;
	size_t len = strlen(b), off, n;

	switch (s->mode) {
	case SRV_LENGTH:
		ssl_printf(ssl,
		    "HTTP/1.1 %d Fine\r\nContent-Type: text/plain\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		    s->status, len);
		ssl_write_all(ssl, b, len);
		break;
	case SRV_CHUNKED:
		ssl_printf(ssl, "HTTP/1.1 100 Continue\r\n\r\n");
		ssl_printf(ssl,
		    "HTTP/1.1 %d Fine\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n",
		    s->status);
		/* Small chunks, one with an extension, then a trailer. */
		for (off = 0; off < len; off += n) {
			n = len - off < 3 ? len - off : 3;
			ssl_printf(
			    ssl, off == 0 ? "%zx;x=y\r\n" : "%zx\r\n", n);
			ssl_write_all(ssl, b + off, n);
			ssl_printf(ssl, "\r\n");
		}
		ssl_printf(ssl, "0\r\nX-Trailer: 1\r\n\r\n");
		break;
	case SRV_EOF:
		ssl_printf(ssl, "HTTP/1.1 %d Fine\r\nConnection: close\r\n\r\n",
		    s->status);
		ssl_write_all(ssl, b, len);
		break;
	case SRV_SHORT:
		ssl_printf(ssl,
		    "HTTP/1.1 %d Fine\r\nContent-Length: %zu\r\n\r\n",
		    s->status, len + 100);
		ssl_write_all(ssl, b, len);
		break;
	case SRV_HUGE:
		ssl_printf(ssl,
		    "HTTP/1.1 %d Fine\r\nContent-Length: %d\r\n\r\n", s->status,
		    BODY_MAX + 1);
		break;
	case SRV_SILENT:
		break;
	}
}

static void
srv_conn(struct srv *s, int fd)
{
	struct timeval tv = {10, 0};
	X509 *peer;
	SSL *ssl;
	char c;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (s->mode == SRV_SILENT) {
		/* Until the client gives up. */
		while (recv(fd, &c, 1, 0) > 0)
			;
		return;
	}
	if ((ssl = SSL_new(s->ctx)) == NULL)
		return;
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1) {
		s->handshake_failed++;
		SSL_free(ssl);
		ERR_clear_error();
		return;
	}
	if ((peer = SSL_get1_peer_certificate(ssl)) != NULL) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
		    NID_commonName, s->client_cn, sizeof(s->client_cn));
		s->client_verify = SSL_get_verify_result(ssl);
		X509_free(peer);
	}
	if (srv_read_request(s, ssl) == 0)
		srv_respond(s, ssl);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	ERR_clear_error();
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	struct pollfd pfd;
	int fd;

	while (!s->stop) {
		pfd.fd = s->lfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		if ((fd = accept(s->lfd, NULL, NULL)) == -1)
			continue;
		s->nconn++;
		srv_conn(s, fd);
		close(fd);
	}
	ERR_clear_error();
	OPENSSL_thread_stop();
	return NULL;
}

static int
listen_local(int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd != -1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static struct srv *
srv_start(enum srv_mode mode, int status, const char *body)
{
	struct srv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->mode = mode;
	s->status = status;
	s->body = body;
	s->lfd = listen_local(&s->port);
	assert_int_equal(listen(s->lfd, 8), 0);

	s->ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(s->ctx);
	assert_int_equal(SSL_CTX_use_certificate(s->ctx, pki.leaf), 1);
	assert_int_equal(SSL_CTX_add1_chain_cert(s->ctx, pki.ca), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, pki.leaf_key), 1);
	assert_int_equal(
	    X509_STORE_add_cert(SSL_CTX_get_cert_store(s->ctx), pki.ca), 1);
	SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, srv_verify_cb);
	/* No tickets: nothing is left unread when the server closes. */
	SSL_CTX_set_num_tickets(s->ctx, 0);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
	return s;
}

/* Stops the server; what it saw stays readable until srv_free(). */
static void
srv_stop(struct srv *s)
{
	s->stop = 1;
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
}

static void
result_clear(struct result *res)
{
	free(res->body);
	free(res->error);
	free(res->chain);
	memset(res, 0, sizeof(*res));
}

static void
done_cb(struct https_response *r, void *arg)
{
	struct result *res = arg;

	res->called++;
	res->status = r->status;
	res->len = r->len;
	/* Taken over, as a caller may: the client frees what is left. */
	res->body = r->body;
	r->body = NULL;
	res->error = r->error != NULL ? strdup(r->error) : NULL;
	res->chain =
	    r->peer_chain_pem != NULL ? strdup(r->peer_chain_pem) : NULL;
}

static void
conf_ca(struct https_client_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->ca_file = pki.ca_file;
	conf->timeout_sec = 10;
}

/* One request on a base of its own, run until nothing is left on it. */
static void
run(const char *url, const struct https_client_conf *conf, const char *method,
    const char *target, const char *ctype, const char *body, struct result *res)
{
	struct event_base *base = event_base_new();
	struct https_client *c;
	char *cause = NULL;

	assert_non_null(base);
	memset(res, 0, sizeof(*res));
	c = https_client_new(base, url, conf, &cause);
	if (c == NULL)
		fail_msg("https_client_new: %s", cause);
	assert_int_equal(
	    https_client_request(c, method, target, ctype, body,
		body != NULL ? strlen(body) : 0, done_cb, res, &cause),
	    0);
	/* Never from inside the call. */
	assert_int_equal(res->called, 0);
	assert_int_equal(event_base_dispatch(base), 1);
	assert_int_equal(res->called, 1);
	https_client_free(c);
	event_base_free(base);
}

static char *
url_of(int port, const char *host)
{
	char *url;

	assert_true(asprintf(&url, "https://%s:%d", host, port) != -1);
	return url;
}

static void
test_get(void **state)
{
	struct https_client_conf conf;
	struct result res;
	struct srv *s = srv_start(SRV_LENGTH, 200, "hello world");
	char *url = url_of(s->port, "127.0.0.1"), want[64];

	conf_ca(&conf);
	conf.bearer = "tok-123.abc";
	run(url, &conf, "GET", "/v1/sync?since=3", NULL, NULL, &res);
	srv_stop(s);

	assert_null(res.error);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.len, 11);
	assert_string_equal(res.body, "hello world");
	assert_non_null(res.chain);
	assert_non_null(strstr(s->req, "GET /v1/sync?since=3 HTTP/1.1\r\n"));
	assert_non_null(
	    strstr(s->req, "\r\nAuthorization: Bearer tok-123.abc\r\n"));
	snprintf(want, sizeof(want), "\r\nHost: 127.0.0.1:%d\r\n", s->port);
	assert_non_null(strstr(s->req, want));
	assert_null(strstr(s->req, "Content-Length"));
	assert_string_equal(s->client_cn, "");
	result_clear(&res);
	free(url);
	free(s);
}

static void
test_post_chunked(void **state)
{
	struct https_client_conf conf;
	struct result res;
	const char *body = "{\"name\":\"web\",\"port\":8080}";
	const char *answer = "created: a body in small chunks";
	struct srv *s = srv_start(SRV_CHUNKED, 201, answer);
	char *url = url_of(s->port, "127.0.0.1");

	conf_ca(&conf);
	run(url, &conf, "POST", "/v1/apply", "application/json", body, &res);
	srv_stop(s);

	assert_null(res.error);
	assert_int_equal(res.status, 201);
	assert_int_equal(res.len, strlen(answer));
	assert_string_equal(res.body, answer);
	assert_non_null(strstr(s->req, "POST /v1/apply HTTP/1.1\r\n"));
	assert_non_null(
	    strstr(s->req, "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strstr(s->req, "\r\nContent-Length: 26\r\n"));
	assert_null(strstr(s->req, "Authorization"));
	assert_string_equal(s->req + s->req_len - strlen(body), body);
	result_clear(&res);
	free(url);
	free(s);
}

static void
test_eof_body(void **state)
{
	struct https_client_conf conf;
	struct result res;
	struct srv *s = srv_start(SRV_EOF, 200, "until the close");
	char *url = url_of(s->port, "127.0.0.1");

	conf_ca(&conf);
	run(url, &conf, "DELETE", "/v1/x", NULL, NULL, &res);
	srv_stop(s);
	assert_null(res.error);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "until the close");
	result_clear(&res);
	free(url);
	free(s);
}

static void
test_short_body(void **state)
{
	struct https_client_conf conf;
	struct result res;
	struct srv *s = srv_start(SRV_SHORT, 200, "cut short");
	char *url = url_of(s->port, "127.0.0.1");

	conf_ca(&conf);
	run(url, &conf, "GET", "/", NULL, NULL, &res);
	srv_stop(s);
	assert_int_equal(res.status, 0);
	assert_null(res.body);
	assert_non_null(res.error);
	assert_non_null(strstr(res.error, "before the end of the response"));
	result_clear(&res);
	free(url);
	free(s);
}

static void
test_too_large(void **state)
{
	struct https_client_conf conf;
	struct result res;
	struct srv *s = srv_start(SRV_HUGE, 200, "");
	char *url = url_of(s->port, "127.0.0.1");

	conf_ca(&conf);
	run(url, &conf, "GET", "/", NULL, NULL, &res);
	srv_stop(s);
	assert_int_equal(res.status, 0);
	assert_non_null(res.error);
	assert_non_null(strstr(res.error, "too large"));
	result_clear(&res);
	free(url);
	free(s);
}

static void
test_wrong_ca(void **state)
{
	struct https_client_conf conf;
	struct result res;
	struct srv *s = srv_start(SRV_LENGTH, 200, "secret");
	char *url = url_of(s->port, "127.0.0.1");

	conf_ca(&conf);
	conf.ca_file = pki.other_ca_file;
	run(url, &conf, "GET", "/", NULL, NULL, &res);
	srv_stop(s);
	assert_int_equal(res.status, 0);
	assert_null(res.body);
	assert_non_null(res.error);
	/* The chain ends in a root the client does not know. */
	assert_string_equal(res.error,
	    "certificate verify failed: "
	    "self-signed certificate in certificate chain");
	assert_int_equal(s->handshake_failed, 1);
	assert_int_equal(s->req_len, 0);
	result_clear(&res);
	free(url);
	free(s);
}

/* The system's roots do not know the test CA; a CA file still rules. */
static void
test_system_roots(void **state)
{
	struct https_client_conf conf;
	struct result res;
	struct srv *s = srv_start(SRV_LENGTH, 200, "secret");
	char *url = url_of(s->port, "127.0.0.1");

	memset(&conf, 0, sizeof(conf));
	conf.system_roots = 1;
	conf.timeout_sec = 10;
	run(url, &conf, "GET", "/", NULL, NULL, &res);
	assert_int_equal(res.status, 0);
	assert_null(res.body);
	assert_non_null(res.error);
	if (strstr(res.error, "certificate verify failed") == NULL)
		fail_msg("unexpected error: %s", res.error);
	result_clear(&res);

	conf.ca_file = pki.ca_file;
	run(url, &conf, "GET", "/", NULL, NULL, &res);
	srv_stop(s);
	assert_null(res.error);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "secret");
	assert_int_equal(s->handshake_failed, 1);
	result_clear(&res);
	free(url);
	free(s);
}

/* max_body, at the limit and past it, in each framing. */
static void
test_max_body(void **state)
{
	static const enum srv_mode modes[] = {SRV_LENGTH, SRV_CHUNKED, SRV_EOF};
	const char *body = "0123456789abcdef";
	struct https_client_conf conf;
	struct result res;
	struct srv *s;
	char *url;
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		s = srv_start(modes[i], 200, body);
		url = url_of(s->port, "127.0.0.1");
		conf_ca(&conf);
		conf.max_body = strlen(body);
		run(url, &conf, "GET", "/", NULL, NULL, &res);
		assert_null(res.error);
		assert_int_equal(res.status, 200);
		assert_string_equal(res.body, body);
		result_clear(&res);

		conf.max_body = strlen(body) - 1;
		run(url, &conf, "GET", "/", NULL, NULL, &res);
		srv_stop(s);
		assert_int_equal(res.status, 0);
		assert_null(res.body);
		assert_non_null(res.error);
		if (strstr(res.error, "too large") == NULL)
			fail_msg("mode %d: %s", (int)modes[i], res.error);
		result_clear(&res);
		free(url);
		free(s);
	}
}

static int
count(const char *s, const char *what)
{
	int n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += strlen(what);
	}
	return n;
}

static void
test_pin(void **state)
{
	struct https_client_conf conf = {0};
	struct result res;
	struct srv *s = srv_start(SRV_LENGTH, 200, "joined");
	char *url = url_of(s->port, "127.0.0.1");

	conf.pin_sha256 = pki.ca_fp;
	conf.bearer = "join-token";
	conf.timeout_sec = 10;
	run(url, &conf, "POST", "/v1/join", "application/json", "{}", &res);
	srv_stop(s);
	assert_null(res.error);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "joined");
	/* The chain as sent: the leaf, then the CA the client pinned. */
	assert_non_null(res.chain);
	assert_int_equal(count(res.chain, "-----BEGIN CERTIFICATE-----"), 2);
	assert_non_null(strstr(res.chain, pki.ca_pem));
	assert_true(strstr(res.chain, pki.ca_pem) != res.chain);
	result_clear(&res);
	free(url);
	free(s);
}

static void
test_pin_upper_case(void **state)
{
	struct https_client_conf conf = {0};
	struct result res;
	struct srv *s = srv_start(SRV_LENGTH, 204, "");
	char *url = url_of(s->port, "127.0.0.1"), pin[65];
	int i;

	for (i = 0; i < 65; i++)
		pin[i] = (char)toupper((unsigned char)pki.ca_fp[i]);
	conf.pin_sha256 = pin;
	run(url, &conf, "GET", "/", NULL, NULL, &res);
	srv_stop(s);
	assert_null(res.error);
	assert_int_equal(res.status, 204);
	assert_string_equal(res.body, "");
	result_clear(&res);
	free(url);
	free(s);
}

static void
test_pin_wrong(void **state)
{
	struct https_client_conf conf = {0};
	struct result res;
	struct srv *s = srv_start(SRV_LENGTH, 200, "secret");
	char *url = url_of(s->port, "127.0.0.1");

	conf.pin_sha256 = pki.other_fp;
	run(url, &conf, "GET", "/", NULL, NULL, &res);
	srv_stop(s);
	assert_int_equal(res.status, 0);
	assert_null(res.body);
	assert_string_equal(res.error,
	    "server certificate does not match the pinned CA fingerprint");
	assert_int_equal(s->handshake_failed, 1);
	result_clear(&res);
	free(url);
	free(s);
}

/* The certificate names 127.0.0.1 only, not "localhost". */
static void
test_host_mismatch(void **state)
{
	struct https_client_conf conf;
	struct result res;
	struct srv *s = srv_start(SRV_LENGTH, 200, "secret");
	char *url = url_of(s->port, "localhost");

	conf_ca(&conf);
	run(url, &conf, "GET", "/", NULL, NULL, &res);
	assert_int_equal(res.status, 0);
	assert_string_equal(
	    res.error, "certificate verify failed: hostname mismatch");
	result_clear(&res);

	/* The same with a pin: the pin is no excuse for a wrong name. */
	memset(&conf, 0, sizeof(conf));
	conf.pin_sha256 = pki.ca_fp;
	run(url, &conf, "GET", "/", NULL, NULL, &res);
	srv_stop(s);
	assert_int_equal(res.status, 0);
	assert_string_equal(
	    res.error, "certificate verify failed: hostname mismatch");
	assert_int_equal(s->handshake_failed, 2);
	result_clear(&res);
	free(url);
	free(s);
}

static void
test_client_cert(void **state)
{
	struct https_client_conf conf;
	struct result res;
	struct srv *s = srv_start(SRV_LENGTH, 200, "hello client");
	char *url = url_of(s->port, "127.0.0.1");

	conf_ca(&conf);
	conf.cert_file = pki.client_cert_file;
	conf.key_file = pki.client_key_file;
	run(url, &conf, "GET", "/v1/whoami", NULL, NULL, &res);
	srv_stop(s);
	assert_null(res.error);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "hello client");
	assert_string_equal(s->client_cn, "weft client");
	assert_int_equal(s->client_verify, X509_V_OK);
	result_clear(&res);
	free(url);
	free(s);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_timeout(void **state)
{
	struct https_client_conf conf;
	struct result res;
	struct srv *s = srv_start(SRV_SILENT, 0, NULL);
	char *url = url_of(s->port, "127.0.0.1");
	double t0, t;

	conf_ca(&conf);
	conf.timeout_sec = 1;
	t0 = now();
	run(url, &conf, "GET", "/", NULL, NULL, &res);
	t = now() - t0;
	srv_stop(s);
	assert_int_equal(res.status, 0);
	assert_non_null(res.error);
	assert_non_null(strstr(res.error, "timed out"));
	assert_true(t > 0.9 && t < 5);
	assert_int_equal(s->nconn, 1);
	result_clear(&res);
	free(url);
	free(s);
}

static void
test_refused(void **state)
{
	struct https_client_conf conf;
	struct result res;
	int port, fd = listen_local(&port);
	char *url;

	/* Bound, never listening: nobody answers on that port. */
	url = url_of(port, "127.0.0.1");
	conf_ca(&conf);
	run(url, &conf, "GET", "/", NULL, NULL, &res);
	close(fd);
	assert_int_equal(res.status, 0);
	assert_non_null(res.error);
	assert_non_null(strstr(res.error, "connection refused"));
	result_clear(&res);
	free(url);
}

static void
never_cb(struct https_response *r, void *arg)
{
	fail_msg("a cancelled request's callback ran");
}

static void
test_free_in_flight(void **state)
{
	struct https_client_conf conf;
	struct event_base *base = event_base_new();
	struct https_client *c;
	struct srv *s = srv_start(SRV_SILENT, 0, NULL);
	struct timeval tv = {0, 300000};
	char *url = url_of(s->port, "127.0.0.1"), *cause = NULL;
	int i;

	conf_ca(&conf);
	c = https_client_new(base, url, &conf, &cause);
	assert_non_null(c);
	/* Connected and in the handshake (the server never answers)... */
	assert_int_equal(https_client_request(c, "POST", "/v1/x", "text/plain",
			     "body", 4, never_cb, NULL, &cause),
	    0);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	/* ...and not even started. */
	for (i = 0; i < 3; i++)
		assert_int_equal(https_client_request(c, "GET", "/", NULL, NULL,
				     0, never_cb, NULL, &cause),
		    0);
	https_client_free(c);
	/* Nothing of theirs is left to run. */
	assert_int_equal(event_base_dispatch(base), 1);
	event_base_free(base);
	srv_stop(s);
	assert_int_equal(s->nconn, 1);
	free(url);
	free(s);
}

/* The callback may free the client and start over on the same base. */
struct chain_state {
	struct event_base *base;
	struct https_client *c;
	const char *url;
	int n;
	struct result res;
};

static void
chain_done_cb(struct https_response *r, void *arg)
{
	struct chain_state *cs = arg;
	struct https_client_conf conf;
	char *cause = NULL;

	assert_int_equal(r->status, 200);
	https_client_free(cs->c);
	cs->c = NULL;
	if (++cs->n == 2)
		return;
	conf_ca(&conf);
	cs->c = https_client_new(cs->base, cs->url, &conf, &cause);
	assert_non_null(cs->c);
	assert_int_equal(https_client_request(cs->c, "GET", "/again", NULL,
			     NULL, 0, chain_done_cb, cs, &cause),
	    0);
}

static void
test_free_in_callback(void **state)
{
	struct https_client_conf conf;
	struct chain_state cs;
	struct srv *s = srv_start(SRV_LENGTH, 200, "ok");
	char *url = url_of(s->port, "127.0.0.1"), *cause = NULL;

	memset(&cs, 0, sizeof(cs));
	cs.base = event_base_new();
	cs.url = url;
	conf_ca(&conf);
	cs.c = https_client_new(cs.base, url, &conf, &cause);
	assert_non_null(cs.c);
	assert_int_equal(https_client_request(cs.c, "GET", "/", NULL, NULL, 0,
			     chain_done_cb, &cs, &cause),
	    0);
	assert_int_equal(event_base_dispatch(cs.base), 1);
	assert_int_equal(cs.n, 2);
	assert_null(cs.c);
	event_base_free(cs.base);
	srv_stop(s);
	assert_int_equal(s->nconn, 2);
	free(url);
	free(s);
}

static void
test_fetch(void **state)
{
	struct https_client_conf conf;
	struct https_response r;
	struct srv *s = srv_start(SRV_LENGTH, 404, "no such thing");
	char *url = url_of(s->port, "127.0.0.1"), *cause = NULL;
	int port, fd;

	conf_ca(&conf);
	assert_int_equal(https_client_fetch(url, &conf, "GET", "/v1/nothing",
			     NULL, NULL, 0, &r, &cause),
	    0);
	srv_stop(s);
	assert_null(cause);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body, "no such thing");
	assert_int_equal(r.len, 13);
	assert_null(r.error);
	https_response_clear(&r);
	https_response_clear(&r);
	free(url);
	free(s);

	fd = listen_local(&port);
	url = url_of(port, "127.0.0.1");
	assert_int_equal(https_client_fetch(
			     url, &conf, "GET", "/", NULL, NULL, 0, &r, &cause),
	    -1);
	close(fd);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "connection refused"));
	assert_int_equal(r.status, 0);
	assert_non_null(r.error);
	https_response_clear(&r);
	free(cause);
	free(url);
}

static void
expect_new_error(
    const char *url, const struct https_client_conf *conf, const char *want)
{
	struct event_base *base = event_base_new();
	char *cause = NULL;

	assert_null(https_client_new(base, url, conf, &cause));
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("%s: got \"%s\", want \"%s\"", url, cause, want);
	free(cause);
	event_base_free(base);
}

static void
test_bad_setup(void **state)
{
	static const char *const bad_urls[] = {"http://127.0.0.1", "https://",
	    "https://:80", "https://[::1", "https://[nope]:1", "https://host:0",
	    "https://host:65536", "https://host:12x", "https://host/path",
	    "https://ho st", "https://1.2.3", "https://host:"};
	struct https_client_conf conf;
	struct event_base *base = event_base_new();
	struct https_client *c;
	char *cause = NULL, path[256];
	size_t i;

	conf_ca(&conf);
	for (i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++)
		expect_new_error(bad_urls[i], &conf, "bad URL");

	snprintf(path, sizeof(path), "%s/missing.pem", pki.dir);
	conf.ca_file = path;
	expect_new_error("https://127.0.0.1", &conf,
	    "missing.pem: No such file or directory");
	conf.ca_file = pki.client_key_file;
	expect_new_error("https://127.0.0.1", &conf, "no certificate");

	conf_ca(&conf);
	conf.cert_file = pki.client_cert_file;
	conf.key_file = path;
	expect_new_error(
	    "https://127.0.0.1", &conf, "No such file or directory");

	/* No trust at all: refused, never the system's by default. */
	memset(&conf, 0, sizeof(conf));
	expect_new_error("https://127.0.0.1", &conf, "CA");
	conf.pin_sha256 = "abcd";
	expect_new_error("https://127.0.0.1", &conf, "64 hex digits");
	conf_ca(&conf);
	conf.bearer = "two\r\nlines";
	expect_new_error("https://127.0.0.1", &conf, "bearer");

	/* Good ones, and bad requests on them. */
	conf_ca(&conf);
	c = https_client_new(base, "https://[::1]:8443/", &conf, &cause);
	assert_non_null(c);
	https_client_free(c);
	c = https_client_new(
	    base, "HTTPS://weft-server.example", &conf, &cause);
	assert_non_null(c);
	assert_int_equal(https_client_request(c, "get", "/", NULL, NULL, 0,
			     never_cb, NULL, &cause),
	    -1);
	free(cause);
	cause = NULL;
	assert_int_equal(https_client_request(c, "GET", "/a b", NULL, NULL, 0,
			     never_cb, NULL, &cause),
	    -1);
	free(cause);
	cause = NULL;
	assert_int_equal(https_client_request(c, "GET", "nope", NULL, NULL, 0,
			     never_cb, NULL, &cause),
	    -1);
	free(cause);
	cause = NULL;
	assert_int_equal(https_client_request(c, "POST", "/", "a\r\nb", "x", 1,
			     never_cb, NULL, &cause),
	    -1);
	free(cause);
	https_client_free(c);
	https_client_free(NULL);
	https_response_clear(NULL);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get),
	    cmocka_unit_test(test_post_chunked),
	    cmocka_unit_test(test_eof_body),
	    cmocka_unit_test(test_short_body),
	    cmocka_unit_test(test_too_large),
	    cmocka_unit_test(test_wrong_ca),
	    cmocka_unit_test(test_system_roots),
	    cmocka_unit_test(test_max_body),
	    cmocka_unit_test(test_pin),
	    cmocka_unit_test(test_pin_upper_case),
	    cmocka_unit_test(test_pin_wrong),
	    cmocka_unit_test(test_host_mismatch),
	    cmocka_unit_test(test_client_cert),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_free_in_flight),
	    cmocka_unit_test(test_free_in_callback),
	    cmocka_unit_test(test_fetch),
	    cmocka_unit_test(test_bad_setup),
	};

	/* The server writes to clients that may have gone. */
	signal(SIGPIPE, SIG_IGN);
	/* A hung event loop fails the run instead of stalling it. */
	alarm(120);
	return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
