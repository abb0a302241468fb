/*
 * A look at the first bytes of a TLS connection, before deciding what
 * to do with it: is it a ClientHello, and does it offer the ALPN
 * protocol that weft's sidecars use between themselves? The inbound
 * side terminates only that (mesh mTLS) and passes any other TLS
 * (an application's own) through untouched.
 */
#ifndef WEFT_TLS_HELLO_H
#define WEFT_TLS_HELLO_H

#include <stddef.h>

/* The ALPN protocol of mesh mTLS between weft sidecars. */
#define TLS_HELLO_MESH_ALPN "weft-mtls"

enum tls_hello {
	TLS_HELLO_MORE = 0, /* too few bytes yet to tell */
	TLS_HELLO_NOT_TLS,  /* not a TLS handshake record */
	TLS_HELLO_OTHER,    /* a ClientHello without the mesh ALPN */
	TLS_HELLO_MESH,     /* a ClientHello offering the mesh ALPN */
};

/*
 * Classifies the first len bytes of a connection. The ClientHello may
 * span several records only as far as its first record goes (clients
 * send it in one); anything malformed is TLS_HELLO_OTHER if it started
 * like a handshake record, so it is passed through rather than parsed
 * further.
 */
enum tls_hello tls_hello_classify(const unsigned char *buf, size_t len);

#endif
