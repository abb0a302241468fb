/*
 * Unit tests for the streaming HTTPS client (src/lib/https_stream.c),
 * against a TLS server in a thread of the test (blocking OpenSSL on
 * 127.0.0.1, an ephemeral port) that sends a canned answer in small
 * pieces, so that chunks, lines and reads split anywhere. The
 * certificate, made here, is its own CA, for IP 127.0.0.1.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "https_stream.h"

static char dir[64], ca_file[128];
static X509 *cert;
static EVP_PKEY *key;

struct srv {
	int lfd, port;
	pthread_t thread;
	SSL_CTX *ctx;
	const char *answer; /* sent in pieces of piece bytes */
	size_t piece;
	char req[4096];
};

static void
ext_add(X509 *x, int nid, const char *value)
{
	X509_EXTENSION *e;
	X509V3_CTX ctx;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	assert_non_null(e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value));
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static int
setup(void **state)
{
	X509_NAME *name;
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_https_stream.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", dir);
	assert_non_null(key = EVP_EC_gen("P-256"));
	assert_non_null(cert = X509_new());
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), -300);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
	name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"kube-apiserver", -1, -1, 0);
	X509_set_issuer_name(cert, name);
	X509_set_pubkey(cert, key);
	ext_add(cert, NID_basic_constraints, "critical,CA:TRUE");
	ext_add(cert, NID_subject_alt_name, "IP:127.0.0.1");
	assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
	assert_non_null(f = fopen(ca_file, "w"));
	assert_int_equal(PEM_write_X509(f, cert), 1);
	assert_int_equal(fclose(f), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(ca_file);
	rmdir(dir);
	X509_free(cert);
	EVP_PKEY_free(key);
	return 0;
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	size_t off = 0, len = strlen(s->answer), n, got = 0;
	SSL *ssl;
	int fd, r;

	if ((fd = accept(s->lfd, NULL, NULL)) == -1)
		return NULL;
	ssl = SSL_new(s->ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		/* The request, up to its blank line. */
		while (got < sizeof(s->req) - 1 &&
		    strstr(s->req, "\r\n\r\n") == NULL &&
		    (r = SSL_read(ssl, s->req + got,
			 (int)(sizeof(s->req) - 1 - got))) > 0)
			got += (size_t)r;
		while (off < len) {
			n = len - off < s->piece ? len - off : s->piece;
			if (SSL_write(ssl, s->answer + off, (int)n) <= 0)
				break;
			off += n;
		}
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	close(fd);
	return NULL;
}

static void
srv_start(struct srv *s, const char *answer, size_t piece)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->answer = answer;
	s->piece = piece;
	assert_non_null(s->ctx = SSL_CTX_new(TLS_server_method()));
	assert_int_equal(SSL_CTX_use_certificate(s->ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, key), 1);
	assert_int_not_equal(s->lfd = socket(AF_INET, SOCK_STREAM, 0), -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &sl), 0);
	s->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

static void
srv_stop(struct srv *s)
{
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
}

static struct https_stream *
open_stream(struct srv *s, char **cause)
{
	struct https_stream_req req;
	char url[64];

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", s->port);
	memset(&req, 0, sizeof(req));
	req.base_url = url;
	req.ca_file = ca_file;
	req.bearer = "tok";
	req.method = "GET";
	req.target = "/api/v1/services?watch=1";
	req.timeout_sec = 5;
	return https_stream_open(&req, cause);
}

/* A chunked watch: lines split across chunks and reads, CRLF or LF,
 * a chunk extension, a last line without its newline. */
static void
test_chunked_lines(void **state)
{
	static const char answer[] =
	    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "7\r\n{\"a\":1}\r\n"
	    "3;ext=1\r\n\n{\"\r\n"
	    "6\r\nb\":2}\r\r\n"
	    "1\r\n\n\r\n"
	    "4\r\nlast\r\n"
	    "0\r\n\r\n";
	struct https_stream *st;
	struct srv s;
	char *line = NULL, *cause = NULL;
	size_t piece;

	(void)state;
	for (piece = 1; piece <= 64; piece *= 4) {
		srv_start(&s, answer, piece);
		assert_non_null(st = open_stream(&s, &cause));
		assert_int_equal(https_stream_status(st), 200);
		assert_int_equal(https_stream_line(st, 100, &line, &cause), 1);
		assert_string_equal(line, "{\"a\":1}");
		free(line);
		assert_int_equal(https_stream_line(st, 100, &line, &cause), 1);
		assert_string_equal(line, "{\"b\":2}");
		free(line);
		assert_int_equal(https_stream_line(st, 100, &line, &cause), 1);
		assert_string_equal(line, "last");
		free(line);
		assert_int_equal(https_stream_line(st, 100, &line, &cause), 0);
		https_stream_close(st);
		srv_stop(&s);
		assert_non_null(strstr(s.req, "Authorization: Bearer tok\r\n"));
		assert_non_null(strstr(s.req, "GET /api/v1/services?watch=1 "));
	}
}

/* Content-Length, and a body to the end of the connection. */
static void
test_length_and_close(void **state)
{
	struct https_stream *st;
	struct srv s;
	char *body = NULL, *cause = NULL;
	size_t len;

	(void)state;
	srv_start(&s,
	    "HTTP/1.1 410 Gone\r\nContent-Length: 5\r\n\r\nhello, not this", 3);
	assert_non_null(st = open_stream(&s, &cause));
	assert_int_equal(https_stream_status(st), 410);
	assert_int_equal(https_stream_body(st, 100, &body, &len, &cause), 0);
	assert_int_equal(len, 5);
	assert_string_equal(body, "hello");
	free(body);
	https_stream_close(st);
	srv_stop(&s);

	srv_start(&s, "HTTP/1.0 200 OK\r\n\r\n{\"items\":[]}", 5);
	assert_non_null(st = open_stream(&s, &cause));
	assert_int_equal(https_stream_body(st, 100, &body, &len, &cause), 0);
	assert_string_equal(body, "{\"items\":[]}");
	free(body);
	https_stream_close(st);
	srv_stop(&s);
}

/* Bad framing and limits: one clear error each. */
static void
test_errors(void **state)
{
	struct https_stream *st;
	struct srv s;
	char *line = NULL, *body = NULL, *cause = NULL;
	size_t len;

	(void)state;
	srv_start(&s,
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx", 64);
	assert_non_null(st = open_stream(&s, &cause));
	assert_int_equal(https_stream_line(st, 100, &line, &cause), -1);
	assert_string_equal(cause, "bad chunk size");
	free(cause);
	cause = NULL;
	https_stream_close(st);
	srv_stop(&s);

	srv_start(&s,
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n",
	    64);
	assert_non_null(st = open_stream(&s, &cause));
	assert_int_equal(https_stream_line(st, 10, &line, &cause), -1);
	assert_string_equal(cause, "line longer than 10 bytes");
	free(cause);
	cause = NULL;
	https_stream_close(st);
	srv_stop(&s);

	srv_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 64);
	assert_non_null(st = open_stream(&s, &cause));
	assert_int_equal(https_stream_body(st, 100, &body, &len, &cause), -1);
	assert_string_equal(cause, "connection closed in the response body");
	free(cause);
	cause = NULL;
	https_stream_close(st);
	srv_stop(&s);

	srv_start(&s, "SSH-2.0-OpenSSH\r\n\r\n", 64);
	assert_null(open_stream(&s, &cause));
	assert_string_equal(cause, "not an HTTP response");
	free(cause);
	srv_stop(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chunked_lines),
	    cmocka_unit_test(test_length_and_close),
	    cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests_name(
	    "https_stream", tests, setup, teardown);
}
