/*
 * The sidecar's TLS contexts (see tls.h). Only strong protocols and
 * ciphers: TLS 1.2 with ECDHE and AEAD ciphers, or TLS 1.3; no
 * compression, no renegotiation. Both sides require and verify a peer
 * certificate of the mesh CA; the peer's SPIFFE ID is checked by the
 * connection (conn_tls.c), which knows whom it expects.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "ca.h"
#include "log.h"
#include "tls.h"
#include "tls_hello.h"
#include "xmalloc.h"

#define TLS_CIPHERS_12 "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"

static const char *const tls_files[3] = {"cert.pem", "key.pem", "ca.pem"};

/* Server side: choose the mesh protocol, which the client offered. */
static int
tls_alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char mesh[] = TLS_HELLO_MESH_ALPN;
	unsigned int i = 0;

	(void)ssl;
	(void)arg;
	while (i < inlen) {
		if (in[i] == sizeof(mesh) - 1 && i + 1 + in[i] <= inlen &&
		    memcmp(in + i + 1, mesh, in[i]) == 0) {
			*out = in + i + 1;
			*outlen = in[i];
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1u + in[i];
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static SSL_CTX *
tls_ctx_new(int server, X509 *cert, EVP_PKEY *key, STACK_OF(X509_INFO) * bundle,
    char **cause)
{
	static const unsigned char alpn[] = "\011" TLS_HELLO_MESH_ALPN;
	X509_STORE *store;
	X509_INFO *info;
	SSL_CTX *ctx;
	int i;

	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
		SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1 ||
	    SSL_CTX_use_certificate(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1)
		goto fail;
	store = SSL_CTX_get_cert_store(ctx);
	for (i = 0; i < sk_X509_INFO_num(bundle); i++) {
		info = sk_X509_INFO_value(bundle, i);
		if (info->x509 == NULL)
			continue;
		if (X509_STORE_add_cert(store, info->x509) != 1 ||
		    SSL_CTX_add1_chain_cert(ctx, info->x509) != 1)
			goto fail;
	}
	SSL_CTX_set_verify(
	    ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	if (server) {
		SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select_cb, NULL);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
		SSL_CTX_set_session_id_context(
		    ctx, (const unsigned char *)"weft", 4);
	} else if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0)
		goto fail;
	return ctx;
fail:
	xasprintf(cause, "TLS context: %s",
	    ERR_peek_last_error() != 0
		? ERR_reason_error_string(ERR_peek_last_error())
		: "failed");
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls_certs *
tls_certs_load(const char *dir, char **cause)
{
	STACK_OF(X509_INFO) *bundle = NULL;
	struct tls_certs *c = NULL;
	char *pem[3] = {NULL, NULL, NULL}, *path, *end;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	BIO *bio;
	int i;

	for (i = 0; i < 3; i++) {
		xasprintf(&path, "%s/%s", dir, tls_files[i]);
		pem[i] = ca_read_file(path, cause);
		free(path);
		if (pem[i] == NULL)
			goto out;
	}
	if (ca_cert_check(pem[0], pem[1], pem[2], cause) == -1)
		goto out;
	bio = BIO_new_mem_buf(pem[0], -1);
	cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	bio = BIO_new_mem_buf(pem[1], -1);
	key =
	    bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	bio = BIO_new_mem_buf(pem[2], -1);
	bundle =
	    bio != NULL ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (cert == NULL || key == NULL || bundle == NULL) {
		xasprintf(cause, "%s: unreadable certificate files", dir);
		goto out;
	}
	c = xcalloc(1, sizeof(*c));
	c->refs = 1;
	if (ca_x509_spiffe(cert, c->spiffe, sizeof(c->spiffe)) != 1) {
		xasprintf(cause, "%s/cert.pem: no SPIFFE ID", dir);
		goto fail;
	}
	snprintf(c->trust_domain, sizeof(c->trust_domain), "%s", c->spiffe + 9);
	if ((end = strchr(c->trust_domain, '/')) != NULL)
		*end = '\0';
	if (ca_cert_info(pem[0], &c->not_after, NULL, cause) == -1 ||
	    (c->server = tls_ctx_new(1, cert, key, bundle, cause)) == NULL ||
	    (c->client = tls_ctx_new(0, cert, key, bundle, cause)) == NULL)
		goto fail;
	goto out;
fail:
	tls_certs_unref(c);
	c = NULL;
out:
	sk_X509_INFO_pop_free(bundle, X509_INFO_free);
	X509_free(cert);
	EVP_PKEY_free(key);
	for (i = 0; i < 3; i++)
		free(pem[i]);
	ERR_clear_error();
	return c;
}

void
tls_certs_ref(struct tls_certs *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

void
tls_certs_unref(struct tls_certs *c)
{
	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	SSL_CTX_free(c->server);
	SSL_CTX_free(c->client);
	free(c);
}

int
tls_watch_changed(struct tls_watch *w)
{
	struct stat sb;
	char path[4096];
	int i, changed = 0, present;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", w->dir, tls_files[i]);
		present = stat(path, &sb) == 0;
		if (present != w->files[i].present ||
		    (present &&
			(sb.st_ino != w->files[i].ino ||
			    sb.st_size != w->files[i].size ||
			    sb.st_mtim.tv_sec != w->files[i].mtime.tv_sec ||
			    sb.st_mtim.tv_nsec != w->files[i].mtime.tv_nsec)))
			changed = 1;
		w->files[i].present = present;
		if (present) {
			w->files[i].ino = sb.st_ino;
			w->files[i].size = sb.st_size;
			w->files[i].mtime = sb.st_mtim;
		}
	}
	return changed;
}
