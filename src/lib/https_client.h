/*
 * An HTTPS client for weft's own API (weftctl, weft-sync) and for the
 * JWKS of RequestAuthentication jwksUri's (weft-proxy): one request per
 * TLS connection, on a caller's event_base, or blocking. TLS 1.2 or
 * later; the server is checked against a CA file, or, on a join token's
 * first contact, against a pinned CA fingerprint, or, when the caller
 * asks for it, against the system's trust store; optional client
 * certificate and bearer token.
 */
#ifndef WEFT_HTTPS_CLIENT_H
#define WEFT_HTTPS_CLIENT_H

#include <stddef.h>

struct event_base;

struct https_client_conf {
	/*
	 * Trust: the server's chain must verify against ca_file (PEM), and
	 * its certificate must match the URL's host (DNS name or IP
	 * address). When ca_file is NULL and pin_sha256 (64 hex digits) is
	 * set, the chain the server sends must include a certificate with
	 * that SHA-256 fingerprint, the leaf must verify against that
	 * certificate, and match the host. When both are NULL and
	 * system_roots is set, the chain must verify against OpenSSL's
	 * default trust store (SSL_CTX_set_default_verify_paths(): the
	 * distribution's CA bundle, or SSL_CERT_FILE and SSL_CERT_DIR), and
	 * match the host. With none of the three, https_client_new() fails:
	 * the public roots are trusted only on request, never by default
	 * for weft's own API, whose CA is the mesh's.
	 */
	const char *ca_file;
	const char *pin_sha256;
	int system_roots;
	const char *cert_file; /* client certificate (PEM), or NULL */
	const char *key_file;  /* its key, when cert_file is set */
	const char *bearer;    /* "Authorization: Bearer ..." or NULL */
	int timeout_sec;       /* connect + whole exchange; 0 means 30 */
	/*
	 * The largest response body accepted, checked as it arrives (a
	 * larger one fails the request with "response body too large");
	 * 0 means 64 MiB.
	 */
	size_t max_body;
};

struct https_response {
	int status; /* HTTP status, or 0 when there was none */
	char *body; /* allocated, NUL-terminated; may be NULL */
	size_t len;
	char *error;          /* when status is 0: why (allocated) */
	char *peer_chain_pem; /* the server's chain as sent (allocated) */
};

void https_response_clear(struct https_response *r);

/* Called once per request, on the event_base; r is freed after it. */
typedef void (*https_done_cb)(struct https_response *r, void *arg);

struct https_client;

/*
 * A client for base_url ("https://HOST[:PORT]", HOST a name, an IPv4
 * address or a bracketed IPv6 address; port 15010 by default). Loads
 * the files of conf now (conf's strings are copied). Returns NULL with
 * *cause set ("ca.pem: No such file or directory", "bad URL ...").
 */
struct https_client *https_client_new(struct event_base *base,
    const char *base_url, const struct https_client_conf *conf, char **cause);

/*
 * Frees the client; requests in flight are cancelled without their
 * callbacks running.
 */
void https_client_free(struct https_client *c);

/*
 * Starts a request: method ("GET", "POST", "DELETE"), target (path and
 * query, "/v1/sync?since=3"), an optional body with its content type.
 * The body is copied. done runs once, later, on the event_base (never
 * from inside this call). Returns 0, or -1 with *cause set.
 */
int https_client_request(struct https_client *c, const char *method,
    const char *target, const char *content_type, const void *body, size_t len,
    https_done_cb done, void *arg, char **cause);

/* The same, blocking, on a private event_base. Fills *r. */
int https_client_fetch(const char *base_url,
    const struct https_client_conf *conf, const char *method,
    const char *target, const char *content_type, const void *body, size_t len,
    struct https_response *r, char **cause);

#endif
