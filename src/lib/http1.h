/*
 * Strict HTTP/1.x message parsing (RFC 9112), without I/O or allocation.
 *
 * The parser works on a contiguous head (start line and header fields up
 * to the empty line) and records pointers into that buffer; a parsed
 * message is valid as long as the buffer is. Anything ambiguous that could
 * make two parties see different messages (request smuggling) is an error.
 * Bodies are scanned, not copied, by the chunked decoder below.
 */
#ifndef WEFT_HTTP1_H
#define WEFT_HTTP1_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP1_MAX_HEADERS 128

/* Why a message was refused; http1_error_str() describes each. */
enum http1_error {
	HTTP1_OK = 0,
	HTTP1_E_TOO_LARGE,
	HTTP1_E_TOO_MANY_HEADERS,
	HTTP1_E_BAD_START_LINE,
	HTTP1_E_BAD_VERSION,
	HTTP1_E_BAD_HEADER,
	HTTP1_E_OBS_FOLD,
	HTTP1_E_BARE_CR,
	HTTP1_E_BARE_LF,
	HTTP1_E_CTL,
	HTTP1_E_BAD_CONTENT_LENGTH,
	HTTP1_E_DUP_CONTENT_LENGTH,
	HTTP1_E_CL_AND_TE,
	HTTP1_E_BAD_TRANSFER_ENCODING,
	HTTP1_E_MISSING_HOST,
	HTTP1_E_DUP_HOST,
	HTTP1_E_BAD_HOST,
	HTTP1_E_BAD_CHUNK,
};

enum http1_framing {
	HTTP1_BODY_NONE = 0, /* no body */
	HTTP1_BODY_LENGTH,   /* Content-Length bytes */
	HTTP1_BODY_CHUNKED,  /* chunked transfer coding */
	HTTP1_BODY_EOF,      /* response delimited by the close */
};

#define HTTP1_F_CLOSE         0x01 /* Connection: close, or 1.0 without keep-alive */
#define HTTP1_F_UPGRADE       0x02 /* Connection: upgrade and an Upgrade header */
#define HTTP1_F_EXPECT_100    0x04 /* Expect: 100-continue */
#define HTTP1_F_KEEPALIVE_TOK 0x08 /* Connection: keep-alive */

struct http1_header {
	const char *name;
	size_t name_len;
	const char *value; /* without leading or trailing whitespace */
	size_t value_len;
};

struct http1_msg {
	/* Request line; NULL for a response. */
	const char *method;
	size_t method_len;
	const char *target;
	size_t target_len;
	/* Status line; 0 for a request. */
	int status;
	const char *reason;
	size_t reason_len;

	int version_minor; /* HTTP/1.0 or HTTP/1.1 */
	size_t head_len;   /* bytes of the head, final CRLF included */
	size_t nheaders;
	struct http1_header headers[HTTP1_MAX_HEADERS];

	enum http1_framing framing;
	uint64_t content_length;
	unsigned int flags;
	const struct http1_header *host; /* NULL when absent */
	enum http1_error error;
};

/*
 * Parses a request head from buf[0..len). Returns the head length (> 0)
 * when complete, 0 when more bytes are needed (and fewer than max_head
 * were given), -1 on a malformed or oversized head with m->error set.
 */
ssize_t http1_parse_request(
    const char *buf, size_t len, size_t max_head, struct http1_msg *m);

/*
 * Parses a response head. request_method is the method of the request it
 * answers (HEAD and CONNECT change the framing). Returns as above.
 */
ssize_t http1_parse_response(const char *buf, size_t len, size_t max_head,
    const char *request_method, size_t request_method_len, struct http1_msg *m);

/* Returns a short description of an error, for logs and the 400 body. */
const char *http1_error_str(enum http1_error e);

/* Case-insensitive comparison of a header name with a NUL-terminated name. */
int http1_name_eq(const char *name, size_t len, const char *want);

/* Finds the first header called name, or NULL. */
const struct http1_header *http1_find(
    const struct http1_msg *m, const char *name);

/*
 * True when the header must not be forwarded by a proxy: the hop-by-hop
 * fields of RFC 9110 7.6.1 and every field the Connection header names.
 * Upgrade is kept for an upgrade request; Connection is always dropped,
 * and the caller writes its own Connection header when it needs one.
 */
int http1_is_hop_by_hop(
    const struct http1_msg *m, const struct http1_header *h);

/* True when the method is idempotent and safe to send again (RFC 9110 9.2.2). */
int http1_method_idempotent(const char *method, size_t len);

/* Streaming validator of a chunked body; it never changes the bytes. */
struct http1_chunked {
	int state;
	uint64_t remaining; /* data bytes left in the current chunk */
	unsigned int digits;
	size_t line_len; /* bytes of the current extension or trailer line */
	size_t trailer_len;
};

/* Resets the decoder for a new body. */
void http1_chunked_init(struct http1_chunked *c);

/*
 * Scans buf[0..len). Returns how many bytes belong to the body (all of
 * them unless the body ends inside buf), sets *done when the last chunk
 * and the trailer section are complete, and returns -1 on bad framing.
 */
ssize_t http1_chunked_scan(
    struct http1_chunked *c, const char *buf, size_t len, int *done);

#endif
