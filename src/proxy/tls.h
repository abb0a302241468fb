/*
 * Mesh mTLS for the sidecar: the workload's certificate files (cert.pem,
 * key.pem, ca.pem in --certs), loaded into two OpenSSL contexts (server
 * for the inbound side, client for the outbound side), reloaded when the
 * files change, shared by reference: a connection keeps the contexts it
 * started with, and new connections take the newest.
 */
#ifndef WEFT_TLS_H
#define WEFT_TLS_H

#include <sys/types.h>

#include <stdint.h>
#include <time.h>

struct ssl_ctx_st;

struct tls_certs {
	int refs; /* atomic */
	struct ssl_ctx_st *server;
	struct ssl_ctx_st *client;
	char spiffe[256]; /* our identity: spiffe://TD/ns/NS/sa/SA */
	char trust_domain[128];
	int64_t not_after; /* Unix seconds */
};

/*
 * Loads dir's cert.pem, key.pem and ca.pem: the key must match the
 * certificate and the certificate chain to the bundle; the certificate
 * must carry a SPIFFE ID. Returns NULL with *cause set.
 */
struct tls_certs *tls_certs_load(const char *dir, char **cause);
void tls_certs_ref(struct tls_certs *c);
void tls_certs_unref(struct tls_certs *c);

/* What the certs directory looked like when last loaded. */
struct tls_watch {
	const char *dir;
	struct {
		ino_t ino;
		off_t size;
		struct timespec mtime;
		int present;
	} files[3];
	int failed_logged;
	int expired_logged;
};

/*
 * Whether the files of w->dir changed since the last call (1), are the
 * same (0). A pair in the middle of being replaced is tried again on
 * the next call.
 */
int tls_watch_changed(struct tls_watch *w);

#endif
