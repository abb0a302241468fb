/*
 * ClientHello peeking (RFC 8446 4.1.2, RFC 7301): only far enough to
 * find the ALPN extension. Every length is checked against what is
 * left; nothing is copied.
 */
#include "config.h"

#include <string.h>

#include "tls_hello.h"

#define TLS_RECORD_HANDSHAKE 22
#define TLS_CLIENT_HELLO     1
#define TLS_EXT_ALPN         16

struct tls_hello_rd {
	const unsigned char *p;
	size_t left;
};

static int
tls_hello_skip(struct tls_hello_rd *r, size_t n)
{
	if (r->left < n)
		return -1;
	r->p += n;
	r->left -= n;
	return 0;
}

static int
tls_hello_u8(struct tls_hello_rd *r, size_t *v)
{
	if (r->left < 1)
		return -1;
	*v = r->p[0];
	return tls_hello_skip(r, 1);
}

static int
tls_hello_u16(struct tls_hello_rd *r, size_t *v)
{
	if (r->left < 2)
		return -1;
	*v = (size_t)r->p[0] << 8 | r->p[1];
	return tls_hello_skip(r, 2);
}

/* Whether an ALPN extension body lists the mesh protocol. */
static int
tls_hello_alpn_mesh(const unsigned char *p, size_t len)
{
	static const char mesh[] = TLS_HELLO_MESH_ALPN;
	struct tls_hello_rd r = {p, len};
	size_t list, n;

	if (tls_hello_u16(&r, &list) == -1 || list > r.left)
		return 0;
	r.left = list;
	while (r.left > 0) {
		if (tls_hello_u8(&r, &n) == -1 || n > r.left)
			return 0;
		if (n == sizeof(mesh) - 1 && memcmp(r.p, mesh, n) == 0)
			return 1;
		tls_hello_skip(&r, n);
	}
	return 0;
}

enum tls_hello
tls_hello_classify(const unsigned char *buf, size_t len)
{
	struct tls_hello_rd r;
	size_t rec, hs, n, ext, type, elen;

	if (len < 1)
		return TLS_HELLO_MORE;
	if (buf[0] != TLS_RECORD_HANDSHAKE)
		return TLS_HELLO_NOT_TLS;
	if (len < 5)
		return TLS_HELLO_MORE;
	/* Legacy record version 3.x. */
	if (buf[1] != 3)
		return TLS_HELLO_NOT_TLS;
	rec = (size_t)buf[3] << 8 | buf[4];
	if (rec < 4)
		return TLS_HELLO_OTHER;
	if (len < 5 + rec)
		return TLS_HELLO_MORE;
	r.p = buf + 5;
	r.left = rec;
	if (tls_hello_u8(&r, &n) == -1 || n != TLS_CLIENT_HELLO || r.left < 3)
		return TLS_HELLO_OTHER;
	hs = (size_t)r.p[0] << 16 | (size_t)r.p[1] << 8 | r.p[2];
	tls_hello_skip(&r, 3);
	if (hs > r.left)
		return TLS_HELLO_OTHER; /* a ClientHello over two records */
	r.left = hs;
	/* version, random, session id, cipher suites, compression */
	if (tls_hello_skip(&r, 2 + 32) == -1 || tls_hello_u8(&r, &n) == -1 ||
	    tls_hello_skip(&r, n) == -1 || tls_hello_u16(&r, &n) == -1 ||
	    tls_hello_skip(&r, n) == -1 || tls_hello_u8(&r, &n) == -1 ||
	    tls_hello_skip(&r, n) == -1)
		return TLS_HELLO_OTHER;
	if (r.left == 0)
		return TLS_HELLO_OTHER; /* no extensions at all */
	if (tls_hello_u16(&r, &ext) == -1 || ext > r.left)
		return TLS_HELLO_OTHER;
	r.left = ext;
	while (r.left > 0) {
		if (tls_hello_u16(&r, &type) == -1 ||
		    tls_hello_u16(&r, &elen) == -1 || elen > r.left)
			return TLS_HELLO_OTHER;
		if (type == TLS_EXT_ALPN)
			return tls_hello_alpn_mesh(r.p, elen) ? TLS_HELLO_MESH
							      : TLS_HELLO_OTHER;
		tls_hello_skip(&r, elen);
	}
	return TLS_HELLO_OTHER;
}
