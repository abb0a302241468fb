/*
 * weft-server's HTTPS API: evhttp over OpenSSL bufferevents, TLS 1.2 or
 * later, JSON in and out. Client certificates are asked for but not
 * required (an admin token or a join token may stand instead); a
 * certificate that does not verify is not refused in the handshake, so
 * that the API can say why in a 401 rather than a TLS alert.
 */
#include "config.h"

#include <sys/socket.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "log.h"
#include "ca.h"
#include "server.h"
#include "xmalloc.h"

#define SERVER_LISTEN_BACKLOG 4096

/* Long enough for a long-polled sync request. */
#define SERVER_HTTP_TIMEOUT_SEC 120

void
server_reply_json(struct evhttp_request *req, int code, json_t *body)
{
	struct evbuffer *out;
	char *text;

	out = evbuffer_new();
	text = json_dumps(body, JSON_COMPACT);
	if (out == NULL || text == NULL) {
		free(text);
		if (out != NULL)
			evbuffer_free(out);
		evhttp_send_error(req, 500, "out of memory");
		json_decref(body);
		return;
	}
	evbuffer_add(out, text, strlen(text));
	evbuffer_add(out, "\n", 1);
	free(text);
	json_decref(body);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, code, NULL, out);
	evbuffer_free(out);
}

void
server_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	if (code == 401)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"weft\"");
	server_reply_json(req, code,
	    json_pack("{s:s}", "error", msg != NULL ? msg : "error"));
	free(msg);
}

char *
server_body(struct evhttp_request *req, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	char *buf;

	*len = evbuffer_get_length(in);
	buf = malloc(*len + 1);
	if (buf == NULL)
		return NULL;
	evbuffer_copyout(in, buf, *len);
	buf[*len] = '\0';
	return buf;
}

json_t *
server_body_json(struct evhttp_request *req)
{
	json_error_t err;
	json_t *v;
	size_t len;
	char *buf;

	if ((buf = server_body(req, &len)) == NULL) {
		server_reply_error(req, 500, "out of memory");
		return NULL;
	}
	v = json_loadb(buf, len, 0, &err);
	free(buf);
	if (v == NULL || !json_is_object(v)) {
		server_reply_error(req, 400,
		    "the body is not a JSON object%s%s", v == NULL ? ": " : "",
		    v == NULL ? err.text : "");
		json_decref(v);
		return NULL;
	}
	return v;
}

char *
server_query(struct evhttp_request *req, const char *name)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evkeyvalq q;
	const char *query, *v;
	char *out = NULL;

	query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	if (query == NULL)
		return NULL;
	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(query, &q) == 0 &&
	    (v = evhttp_find_header(&q, name)) != NULL)
		out = xstrdup(v);
	evhttp_clear_headers(&q);
	return out;
}

static void
server_dispatch(
    struct server *srv, struct evhttp_request *req, struct server_caller *c)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = evhttp_uri_get_path(uri);

	log_debug("%s %s from %s",
	    evhttp_request_get_command(req) == EVHTTP_REQ_GET ? "GET"
							      : "request",
	    path, c->role == SERVER_ROLE_ADMIN ? "admin" : c->spiffe_id);
	/* Every API needs a credential: 401 before reading the request. */
	if (c->role == SERVER_ROLE_NONE)
		server_require_admin(req, c);
	else if (strcmp(path, "/v1/resources") == 0)
		server_resources_cb(srv, req, c, "");
	else if (strncmp(path, "/v1/resources/", 14) == 0)
		server_resources_cb(srv, req, c, path + 14);
	else if (strcmp(path, "/v1/sync") == 0)
		server_sync_cb(srv, req, c);
	else if (strcmp(path, "/v1/snapshot") == 0)
		server_snapshot_cb(srv, req, c);
	else if (strcmp(path, "/v1/register") == 0)
		server_register_cb(srv, req, c);
	else if (strcmp(path, "/v1/certificates") == 0)
		server_certificates_cb(srv, req, c);
	else if (strcmp(path, "/v1/status") == 0)
		server_status_cb(srv, req, c);
	else if (strcmp(path, "/v1/tokens") == 0)
		server_tokens_cb(srv, req, c);
	else if (strcmp(path, "/v1/tap") == 0)
		server_tap_cb(srv, req, c, "");
	else if (strncmp(path, "/v1/tap/", 8) == 0 && path[8] != '\0')
		server_tap_cb(srv, req, c, path + 8);
	else if (strcmp(path, "/v1/stats") == 0)
		server_stats_cb(srv, req, c);
	else if (strcmp(path, "/v1/ca") == 0)
		server_ca_cb(srv, req, c);
	else if (strcmp(path, "/v1/whoami") == 0)
		server_whoami_cb(srv, req, c);
	else if (strcmp(path, "/v1/ca/rotate") == 0)
		server_ca_rotate_cb(srv, req, c);
	else
		server_reply_error(req, 404, "no such API: %s", path);
}

static void
server_request_cb(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct server_caller c;
	const char *path;
	char *cause = NULL;

	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL) {
		server_reply_error(req, 400, "bad request target");
		return;
	}
	server_caller_identify(srv, req, &c);
	/*
	 * A service-account token is good for joining only (registration
	 * and the first certificate): the API server reviews it first.
	 */
	if (c.kube_token != NULL) {
		if (strcmp(path, "/v1/register") != 0 &&
		    strcmp(path, "/v1/certificates") != 0)
			xasprintf(&c.error,
			    "a service-account token is "
			    "accepted by /v1/register and "
			    "/v1/certificates only");
		else if (kube_sync_authenticate(srv, req, c.kube_token,
			     server_dispatch, &cause) == 0) {
			server_caller_clear(&c);
			return;
		} else {
			xasprintf(&c.error, "%s", cause);
			free(cause);
		}
	}
	server_dispatch(srv, req, &c);
	server_caller_clear(&c);
}

static struct bufferevent *
server_bev_cb(struct event_base *base, void *arg)
{
	struct server *srv = arg;
	SSL *ssl;

	if ((ssl = SSL_new(srv->ssl_ctx)) == NULL)
		return NULL;
	/*
	 * evhttp owns and frees this bufferevent; BEV_OPT_CLOSE_ON_FREE is
	 * how the SSL object and the socket are freed with it.
	 */
	return bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

/* Accept any client certificate here; server_auth.c decides. */
static int
server_verify_cb(int ok, X509_STORE_CTX *ctx)
{
	(void)ok;
	(void)ctx;
	return 1;
}

static int
server_ssl_fail(const char *what, char **cause)
{
	unsigned long e = ERR_get_error();

	xasprintf(cause, "%s: %s", what,
	    e != 0 ? ERR_reason_error_string(e) : "failed");
	ERR_clear_error();
	return -1;
}

/*
 * The certificates of pem, in order (NULL when there is none).
 * (clang-format 14 takes STACK_OF() in a return type for an expression.)
 */
/* clang-format off */
static STACK_OF(X509_INFO) *
server_pem_infos(const char *pem)
/* clang-format on */
{
	STACK_OF(X509_INFO) *infos = NULL;
	BIO *bio;

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		return NULL;
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return infos;
}

/*
 * A TLS context for cert_pem and key_pem: the CA's chain follows the
 * certificate (a joining client pins a root, and a client that trusts
 * only the current root needs the cross certificate during a rotation);
 * client certificates are checked against the roots of the bundle.
 */
static SSL_CTX *
server_tls_ctx(
    struct server *srv, const char *cert_pem, const char *key_pem, char **cause)
{
	STACK_OF(X509_INFO) *chain = NULL, *roots = NULL;
	X509_INFO *info;
	X509_STORE *store;
	SSL_CTX *ctx;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	BIO *bio;
	int i, ok = 0;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		server_ssl_fail("TLS", cause);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
		SSL_OP_NO_COMPRESSION);
	if (SSL_CTX_set_cipher_list(ctx,
		"ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!RC4:!3DES") !=
	    1) {
		server_ssl_fail("TLS ciphers", cause);
		goto out;
	}
	bio = BIO_new_mem_buf(cert_pem, -1);
	cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	bio = BIO_new_mem_buf(key_pem, -1);
	key =
	    bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (cert == NULL || key == NULL ||
	    SSL_CTX_use_certificate(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		server_ssl_fail("server certificate", cause);
		goto out;
	}
	if ((chain = server_pem_infos(ca_chain_pem(srv->ca))) == NULL ||
	    (roots = server_pem_infos(ca_bundle_pem(srv->ca))) == NULL) {
		server_ssl_fail("CA bundle", cause);
		goto out;
	}
	for (i = 0; i < sk_X509_INFO_num(chain); i++) {
		info = sk_X509_INFO_value(chain, i);
		if (info->x509 != NULL &&
		    SSL_CTX_add1_chain_cert(ctx, info->x509) != 1) {
			server_ssl_fail("CA chain", cause);
			goto out;
		}
	}
	store = SSL_CTX_get_cert_store(ctx);
	for (i = 0; i < sk_X509_INFO_num(roots); i++) {
		info = sk_X509_INFO_value(roots, i);
		if (info->x509 == NULL)
			continue;
		if (X509_STORE_add_cert(store, info->x509) != 1 ||
		    SSL_CTX_add_client_CA(ctx, info->x509) != 1) {
			server_ssl_fail("CA bundle", cause);
			goto out;
		}
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, server_verify_cb);
	/*
	 * Sync daemons resume their TLS session on each poll; OpenSSL
	 * resumes sessions of a context that asks for client certificates
	 * only with a session id context.
	 */
	SSL_CTX_set_session_id_context(
	    ctx, (const unsigned char *)"weft-server", 11);
	ok = 1;
out:
	sk_X509_INFO_pop_free(chain, X509_INFO_free);
	sk_X509_INFO_pop_free(roots, X509_INFO_free);
	X509_free(cert);
	EVP_PKEY_free(key);
	if (!ok) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

int
server_http_tls(struct server *srv, char **cause)
{
	char *cert = NULL, *key = NULL;
	SSL_CTX *ctx;

	if (server_tls_cert(srv, &cert, &key, cause) == -1)
		return -1;
	ctx = server_tls_ctx(srv, cert, key, cause);
	OPENSSL_cleanse(key, strlen(key));
	free(key);
	free(cert);
	if (ctx == NULL)
		return -1;
	/* Each SSL holds a reference to its context: old ones finish. */
	SSL_CTX_free(srv->ssl_ctx);
	srv->ssl_ctx = ctx;
	return 0;
}

/* "ADDR:PORT", "[V6ADDR]:PORT", "ADDR" or ":PORT". */
static int
server_split_listen(
    const char *s, int default_port, char *host, size_t hostlen, int *port)
{
	const char *colon, *end;
	char *ep;
	long p;

	*port = default_port;
	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return -1;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (colon != NULL && strchr(s, ':') != colon)
			colon = NULL; /* a bare IPv6 address */
		end = colon != NULL ? colon : s + strlen(s);
	}
	if ((size_t)(end - s) >= hostlen)
		return -1;
	memcpy(host, s, (size_t)(end - s));
	host[end - s] = '\0';
	if (host[0] == '\0')
		snprintf(host, hostlen, "::");
	if (colon != NULL) {
		p = strtol(colon + 1, &ep, 10);
		if (colon[1] == '\0' || *ep != '\0' || p < 1 || p > 65535)
			return -1;
		*port = (int)p;
	}
	return 0;
}

/*
 * Binds the API's socket with a deep accept queue: every answered long
 * poll is a new connection, and after a change a whole fleet of sync
 * daemons reconnects at once (evhttp_bind_socket() listens with 128,
 * and the dropped SYNs then wait seconds for their retransmission).
 */
static int
server_listen(
    struct server *srv, struct evhttp *http, const char *host, int port)
{
	struct evconnlistener *l;
	struct addrinfo hints, *ai;
	char service[8];
	int one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%d", port);
	if (getaddrinfo(host, service, &hints, &ai) != 0)
		return -1;
	l = evconnlistener_new_bind(srv->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    SERVER_LISTEN_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (l == NULL)
		return -1;
	/*
	 * Accepted sockets inherit it: a TLS answer leaves in several
	 * records, and Nagle would hold the last one for the client's
	 * delayed ACK (40 ms per request).
	 */
	if (setsockopt(evconnlistener_get_fd(l), IPPROTO_TCP, TCP_NODELAY, &one,
		sizeof(one)) == -1)
		log_warn("TCP_NODELAY");
	if (evhttp_bind_listener(http, l) == NULL) {
		evconnlistener_free(l);
		return -1;
	}
	return 0;
}

struct evhttp *
server_http_new(struct server *srv, const char *listen, int default_port,
    void (*cb)(struct evhttp_request *, void *), size_t max_body, char **cause)
{
	struct evhttp *http;
	char host[256];
	int port;

	if (server_split_listen(
		listen, default_port, host, sizeof(host), &port) == -1) {
		xasprintf(cause, "%s: expected ADDR:PORT", listen);
		return NULL;
	}
	if ((http = evhttp_new(srv->base)) == NULL) {
		xasprintf(cause, "cannot make the HTTP server");
		return NULL;
	}
	evhttp_set_bevcb(http, server_bev_cb, srv);
	evhttp_set_gencb(http, cb, srv);
	evhttp_set_timeout(http, SERVER_HTTP_TIMEOUT_SEC);
	evhttp_set_max_body_size(http, max_body);
	evhttp_set_max_headers_size(http, 64 * 1024);
	evhttp_set_allowed_methods(
	    http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE);
	/* "::" is both families, unless this host has no IPv6. */
	if (server_listen(srv, http, host, port) == -1 &&
	    (strcmp(host, "::") != 0 ||
		server_listen(srv, http, "0.0.0.0", port) == -1)) {
		xasprintf(cause, "cannot listen on %s: %m", listen);
		evhttp_free(http);
		return NULL;
	}
	return http;
}

int
server_http_start(struct server *srv, char **cause)
{
	char *why = NULL;

	if (server_http_tls(srv, cause) == -1)
		return -1;
	if ((srv->http =
		    server_http_new(srv, srv->conf.listen, SERVER_DEFAULT_PORT,
			server_request_cb, SERVER_MAX_BODY, &why)) == NULL) {
		xasprintf(cause, "--listen %s", why);
		free(why);
		return -1;
	}
	log_info("listening on %s (HTTPS)", srv->conf.listen);
	return 0;
}

void
server_http_stop(struct server *srv)
{
	if (srv->http != NULL)
		evhttp_free(srv->http);
	srv->http = NULL;
	SSL_CTX_free(srv->ssl_ctx);
	srv->ssl_ctx = NULL;
}
