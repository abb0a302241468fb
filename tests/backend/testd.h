/*
 * weft-testd: the backend that the end-to-end tests and benchmarks put
 * behind a sidecar proxy.  It answers HTTP/1.1 and raw TCP and reports
 * exactly what it received (see tests/backend/README).
 */
#ifndef WEFT_TESTD_H
#define WEFT_TESTD_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/evp.h>

/* "[" IPv6 "]:" port, with room to spare. */
#define TESTD_ADDRSTRLEN 80

/* Largest request head (request line and header fields, CRLFs included). */
#define HTTP_HEAD_MAX (64 * 1024)
/* Largest trailer section of a chunked body. */
#define HTTP_TRAILER_MAX (64 * 1024)
/* Largest chunk-size line (extensions included). */
#define HTTP_CHUNK_LINE_MAX 4096
/* Most header fields in one request. */
#define HTTP_FIELDS_MAX 1024

struct http_conn;
struct raw_conn;

/* The state of the whole program: one per process. */
struct testd {
	struct event_base *base;
	const char *name; /* X-Backend */
	int log_fd;       /* request log, -1 without --log */
	int timeout;      /* read/write timeout of sessions, seconds */
	EVP_MD *sha256;   /* fetched once, not per request */
	uint64_t nconns;  /* HTTP connections accepted */
	uint64_t nreqs;   /* HTTP requests received */
	TAILQ_HEAD(, http_conn) http_conns;
	TAILQ_HEAD(, raw_conn) raw_conns;
};

/*
 * An ordered list of header (or trailer) fields.  Names and values are
 * copied into buf and located by offset, so that the buffer may grow.
 */
struct http_field {
	size_t name;
	size_t namelen;
	size_t value;
	size_t valuelen;
};

struct http_fields {
	char *buf;
	size_t len;
	size_t size;
	struct http_field *v;
	size_t n;
	size_t nalloc;
};

enum http_route {
	HTTP_ROUTE_DEFAULT = 0,
	HTTP_ROUTE_STATUS,
	HTTP_ROUTE_BYTES,
	HTTP_ROUTE_SHA256,
	HTTP_ROUTE_ECHO,
	HTTP_ROUTE_DELAY,
	HTTP_ROUTE_CLOSE,
	HTTP_ROUTE_RESET,
	HTTP_ROUTE_WS,
	HTTP_ROUTE_HINTS,
	HTTP_ROUTE_STATS,
	HTTP_ROUTE_HEADERS_BIG,
	HTTP_ROUTE_EXPECT_REJECT,
};

enum http_body {
	HTTP_BODY_NONE = 0,
	HTTP_BODY_LENGTH,
	HTTP_BODY_CHUNK_SIZE,
	HTTP_BODY_CHUNK_DATA,
	HTTP_BODY_CHUNK_CRLF,
	HTTP_BODY_TRAILERS,
	HTTP_BODY_DONE,
};

/* One request: what the parser found, then the state of its answer. */
struct http_req {
	char *line; /* request line; the three below point in it */
	const char *method;
	const char *target;
	const char *version;
	int minor; /* 0 for HTTP/1.0, 1 for HTTP/1.1 and later */
	struct http_fields headers;
	struct http_fields trailers;

	/* Framing and connection semantics, from the header fields. */
	int chunked;
	int has_clen;
	uint64_t clen;
	int conn_close;
	int conn_keepalive;
	int conn_upgrade;
	int upgrade; /* index + 1 of the Upgrade field, or 0 */
	int ws_key;  /* index + 1 of Sec-WebSocket-Key, or 0 */
	int expect_continue;
	int nhost;

	/* Set by the connection while it answers. */
	enum http_route route;
	uint64_t arg;     /* N of /status, /bytes, /sha256, /delay */
	int head_only;    /* HEAD: headers only */
	int resp_chunked; /* the response body is chunked */
	int status;       /* final status sent, for the log */
	enum http_body body;
	uint64_t body_left; /* of the Content-Length or current chunk */
	uint64_t body_bytes;
	size_t trailer_bytes;
	char body_sha256[2 * 32 + 1];
};

/*
 * One accepted HTTP connection.  All of its teardown is http_conn_free();
 * callbacks that may free it return -1 and the caller returns at once.
 */
enum http_state {
	HTTP_STATE_HEAD = 0, /* waiting for a request head */
	HTTP_STATE_BODY,     /* reading a request body */
	HTTP_STATE_RESP,     /* generating a response (delay, bytes) */
	HTTP_STATE_CLOSING,  /* flushing the last response */
	HTTP_STATE_LINGER,   /* write side shut, draining the client */
};

struct http_conn {
	TAILQ_ENTRY(http_conn) entry;
	struct testd *env;
	struct bufferevent *bev;
	struct event *timer; /* /delay, /sha256 steps and lingering */
	EVP_MD_CTX *md;
	uint64_t id;   /* X-Conn-Id */
	uint64_t nreq; /* X-Conn-Req of the current request */
	char peer[TESTD_ADDRSTRLEN];
	char local[TESTD_ADDRSTRLEN];
	enum http_state state;
	int eof;        /* the client has shut its write side */
	int failed;     /* an allocation failed: drop the connection */
	int keep_alive; /* of the current request */
	int delay_fired;
	size_t search_off; /* where to resume looking for the head end */
	struct http_req *req;
	uint64_t resp_left; /* /bytes and /sha256: bytes still to go */
	uint64_t resp_off;
};

/* testd_addr.c */

/*
 * Parses "ADDR:PORT" where ADDR is an IPv4 address, a host name or an
 * IPv6 address in brackets; an empty ADDR means any address.  If rest is
 * not NULL, text after the port is allowed when it follows a ':', and
 * *rest points past that ':' (NULL when there is none).  Returns 0 or -1
 * with *cause set to a static string.
 */
int addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len,
    const char **rest, const char **cause);
/* Formats sa as "1.2.3.4:80" or "[::1]:80" into buf (TESTD_ADDRSTRLEN). */
void addr_format(
    const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* http_parse.c */

/* Returns a zeroed request, or NULL when memory is short. */
struct http_req *http_req_new(void);
/* Frees req and all it owns; NULL is a no-op. */
void http_req_free(struct http_req *req);
/*
 * Parses the request head p[0..len), which ends with CRLF CRLF, into req.
 * Returns 0, or the status to answer (400, 431, 501, 505) with *cause
 * set to a static string; -1 if memory ran short.
 */
int http_parse_head(
    struct http_req *req, const char *p, size_t len, const char **cause);
/*
 * Parses one field line (without its CRLF) and appends it to list.
 * Returns 0, or -1 with *cause set (a NULL *cause means memory ran short).
 */
int http_parse_field(
    struct http_fields *list, const char *p, size_t len, const char **cause);
/*
 * Parses a chunk-size line (without its CRLF), extensions allowed.
 * Returns 0 with *size set, or -1 with *cause set.
 */
int http_parse_chunk_size(
    const char *p, size_t len, uint64_t *size, const char **cause);
/* Parses len decimal digits into *v, at most max.  Returns 0 or -1. */
int http_parse_uint(const char *p, size_t len, uint64_t max, uint64_t *v);
/* Frees what list owns and empties it. */
void http_fields_clear(struct http_fields *list);
/* Name and value of field i of list, not NUL-terminated. */
const char *http_field_name(
    const struct http_fields *list, size_t i, size_t *len);
const char *http_field_value(
    const struct http_fields *list, size_t i, size_t *len);

/* http_json.c */

/* Appends s[0..len) to b as a JSON string, quotes included. */
void json_string(struct evbuffer *b, const char *s, size_t len);
/*
 * Appends to b the JSON object describing the current request of c
 * (which may be NULL when the head did not parse).  status < 0 leaves
 * out "status"; error NULL leaves out "error".
 */
void json_request(struct evbuffer *b, const struct http_conn *c,
    const struct http_req *req, int status, const char *error);
/*
 * Appends one line for req to the request log of env, if any, and
 * flushes it.  Arguments as for json_request().
 */
void json_log(struct testd *env, const struct http_conn *c,
    const struct http_req *req, int status, const char *error);

/* http_conn.c */

/*
 * Takes ownership of the accepted socket fd and serves HTTP on it;
 * closes fd if the session cannot be set up.
 */
void http_conn_accept(struct testd *env, evutil_socket_t fd);
/* Ends the session at once, whatever its state. */
void http_conn_free(struct http_conn *c);

/* raw_conn.c */

/*
 * Takes ownership of the accepted socket fd and echoes what it receives;
 * sends banner and CRLF first if banner is not NULL.  Closes fd if the
 * session cannot be set up.
 */
void raw_conn_accept(struct testd *env, evutil_socket_t fd, const char *banner);
/*
 * Takes ownership of bev (an HTTP connection after 101 Switching
 * Protocols) and echoes from then on; eof says the client already shut
 * its write side.  Frees bev if the session cannot be set up.  Returns
 * 0 or -1.
 */
int raw_conn_adopt(struct testd *env, struct bufferevent *bev, int eof);
/* Ends the session at once. */
void raw_conn_free(struct raw_conn *r);

#endif
