/*
 * A small and strict HTTP/1.1 request parser (RFC 9110, RFC 9112).
 *
 * The backend must show what a proxy really sent, so it accepts nothing
 * that a lenient parser would have to guess about: bare LF or CR,
 * obs-fold, whitespace before the colon, duplicate or malformed
 * Content-Length, Transfer-Encoding with Content-Length or in HTTP/1.0,
 * and a chunked coding that is not the last one are all rejected.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "testd.h"

static int
http_is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return 1;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* Field value characters: VCHAR, obs-text, SP and HTAB. */
static int
http_is_vchar(unsigned char ch)
{
	return (ch >= 0x21 && ch != 0x7f) || ch == ' ' || ch == '\t';
}

static int
http_is_ows(unsigned char ch)
{
	return ch == ' ' || ch == '\t';
}

static int
http_eq(const char *p, size_t len, const char *s)
{
	return strlen(s) == len && strncasecmp(p, s, len) == 0;
}

struct http_req *
http_req_new(void)
{
	return calloc(1, sizeof(struct http_req));
}

void
http_req_free(struct http_req *req)
{
	if (req == NULL)
		return;
	free(req->line);
	http_fields_clear(&req->headers);
	http_fields_clear(&req->trailers);
	free(req);
}

void
http_fields_clear(struct http_fields *list)
{
	free(list->buf);
	free(list->v);
	memset(list, 0, sizeof(*list));
}

const char *
http_field_name(const struct http_fields *list, size_t i, size_t *len)
{
	*len = list->v[i].namelen;
	return list->buf + list->v[i].name;
}

const char *
http_field_value(const struct http_fields *list, size_t i, size_t *len)
{
	*len = list->v[i].valuelen;
	return list->buf + list->v[i].value;
}

static int
http_fields_add(struct http_fields *list, const char *name, size_t namelen,
    const char *value, size_t valuelen)
{
	struct http_field *f, *nv;
	size_t need, nsize, nalloc;
	char *nbuf;

	need = namelen + valuelen;
	if (list->size - list->len < need) {
		nsize = list->size == 0 ? 1024 : list->size;
		while (nsize - list->len < need)
			nsize *= 2;
		if ((nbuf = realloc(list->buf, nsize)) == NULL)
			return -1;
		list->buf = nbuf;
		list->size = nsize;
	}
	if (list->n == list->nalloc) {
		nalloc = list->nalloc == 0 ? 16 : list->nalloc * 2;
		if ((nv = reallocarray(list->v, nalloc, sizeof(*nv))) == NULL)
			return -1;
		list->v = nv;
		list->nalloc = nalloc;
	}
	f = &list->v[list->n++];
	f->name = list->len;
	f->namelen = namelen;
	memcpy(list->buf + list->len, name, namelen);
	list->len += namelen;
	f->value = list->len;
	f->valuelen = valuelen;
	memcpy(list->buf + list->len, value, valuelen);
	list->len += valuelen;
	return 0;
}

int
http_parse_field(
    struct http_fields *list, const char *p, size_t len, const char **cause)
{
	const char *end = p + len, *colon, *v, *vend;
	size_t i;

	for (colon = p; colon < end && http_is_tchar(*colon); colon++)
		;
	if (colon == end || *colon != ':') {
		*cause = "bad field name";
		return -1;
	}
	if (colon == p) {
		*cause = "empty field name";
		return -1;
	}
	for (v = colon + 1; v < end && http_is_ows(*v); v++)
		;
	for (vend = end; vend > v && http_is_ows(vend[-1]); vend--)
		;
	for (i = 0; i < (size_t)(vend - v); i++) {
		if (!http_is_vchar(v[i])) {
			*cause = "bad character in field value";
			return -1;
		}
	}
	if (list->n >= HTTP_FIELDS_MAX) {
		*cause = "too many fields";
		return -1;
	}
	if (http_fields_add(list, p, colon - p, v, vend - v) == -1) {
		*cause = NULL;
		return -1;
	}
	return 0;
}

int
http_parse_uint(const char *p, size_t len, uint64_t max, uint64_t *v)
{
	uint64_t n = 0;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (n > (max - (uint64_t)(p[i] - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(p[i] - '0');
	}
	*v = n;
	return 0;
}

int
http_parse_chunk_size(
    const char *p, size_t len, uint64_t *size, const char **cause)
{
	uint64_t n = 0;
	size_t i = 0;
	int digit;
	unsigned char ch;

	for (; i < len; i++) {
		ch = p[i];
		if (ch >= '0' && ch <= '9')
			digit = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			digit = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			digit = ch - 'A' + 10;
		else
			break;
		if (n > (UINT64_MAX >> 4)) {
			*cause = "chunk size too large";
			return -1;
		}
		n = (n << 4) | (uint64_t)digit;
	}
	if (i == 0) {
		*cause = "bad chunk size";
		return -1;
	}
	/* chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) */
	while (i < len && http_is_ows(p[i]))
		i++;
	if (i < len) {
		if (p[i] != ';') {
			*cause = "bad chunk size";
			return -1;
		}
		for (; i < len; i++) {
			if (!http_is_vchar(p[i])) {
				*cause = "bad chunk extension";
				return -1;
			}
		}
	}
	*size = n;
	return 0;
}

/* Returns the length of the line at p (up to CRLF), or -1 if bare. */
static ssize_t
http_line(const char *p, const char *end)
{
	const char *nl;

	if ((nl = memchr(p, '\n', end - p)) == NULL || nl == p ||
	    nl[-1] != '\r')
		return -1;
	return nl - 1 - p;
}

static int
http_parse_request_line(
    struct http_req *req, const char *p, size_t len, const char **cause)
{
	char *line, *sp1, *sp2, *v;
	size_t i;

	if ((line = malloc(len + 1)) == NULL)
		return -1;
	memcpy(line, p, len);
	line[len] = '\0';
	req->line = line;

	for (i = 0; i < len && http_is_tchar(line[i]); i++)
		;
	if (i == 0 || i == len || line[i] != ' ') {
		*cause = "bad method";
		return 400;
	}
	sp1 = line + i;
	for (i++; i < len && line[i] >= 0x21 && line[i] <= 0x7e; i++)
		;
	if (line + i == sp1 + 1 || i == len || line[i] != ' ') {
		*cause = "bad request target";
		return 400;
	}
	sp2 = line + i;
	*sp1 = *sp2 = '\0';
	req->method = line;
	req->target = sp1 + 1;
	req->version = v = sp2 + 1;

	if (strlen(v) != 8 || strncmp(v, "HTTP/", 5) != 0 || v[5] < '0' ||
	    v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9') {
		*cause = "bad HTTP version";
		return 400;
	}
	if (v[5] != '1') {
		*cause = "unsupported HTTP version";
		return 505;
	}
	req->minor = v[7] == '0' ? 0 : 1;
	return 0;
}

/*
 * Looks at the comma-separated tokens of a list field value; empty
 * elements are ignored as RFC 9110 section 5.6.1 asks.  fn returns -1 to
 * reject the whole value.
 */
static int
http_list_each(const char *p, size_t len,
    int (*fn)(struct http_req *, const char *, size_t), struct http_req *req)
{
	const char *end = p + len, *e, *t;

	while (p < end) {
		if ((e = memchr(p, ',', end - p)) == NULL)
			e = end;
		for (t = e; t > p && http_is_ows(t[-1]); t--)
			;
		while (p < t && http_is_ows(*p))
			p++;
		if (p < t && fn(req, p, t - p) == -1)
			return -1;
		if (e == end)
			break;
		p = e + 1;
	}
	return 0;
}

static int
http_connection_token(struct http_req *req, const char *p, size_t len)
{
	if (http_eq(p, len, "close"))
		req->conn_close = 1;
	else if (http_eq(p, len, "keep-alive"))
		req->conn_keepalive = 1;
	else if (http_eq(p, len, "upgrade"))
		req->conn_upgrade = 1;
	return 0;
}

/*
 * Transfer codings, in order over all Transfer-Encoding fields: chunked
 * must come once and last.  Any other coding is counted in the high bits
 * of req->chunked so that the caller can answer 501.
 */
static int
http_te_token(struct http_req *req, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!http_is_tchar(p[i]))
			return -1;
	}
	if ((req->chunked & 1) != 0)
		return -1; /* chunked is not the final coding */
	if (http_eq(p, len, "chunked"))
		req->chunked |= 1;
	else
		req->chunked |= 2;
	return 0;
}

static int
http_parse_semantics(struct http_req *req, const char **cause)
{
	const char *name, *value;
	size_t i, nlen, vlen;
	int te = 0;

	for (i = 0; i < req->headers.n; i++) {
		name = http_field_name(&req->headers, i, &nlen);
		value = http_field_value(&req->headers, i, &vlen);
		if (http_eq(name, nlen, "content-length")) {
			if (req->has_clen) {
				*cause = "more than one Content-Length";
				return 400;
			}
			if (http_parse_uint(
				value, vlen, INT64_MAX, &req->clen) == -1) {
				*cause = "bad Content-Length";
				return 400;
			}
			req->has_clen = 1;
		} else if (http_eq(name, nlen, "transfer-encoding")) {
			te = 1;
			if (http_list_each(value, vlen, http_te_token, req) ==
			    -1) {
				*cause = "bad Transfer-Encoding";
				return 400;
			}
		} else if (http_eq(name, nlen, "host")) {
			req->nhost++;
		} else if (http_eq(name, nlen, "connection")) {
			if (http_list_each(
				value, vlen, http_connection_token, req) == -1)
				return 400;
		} else if (http_eq(name, nlen, "upgrade")) {
			if (vlen > 0 && req->upgrade == 0)
				req->upgrade = (int)i + 1;
		} else if (http_eq(name, nlen, "sec-websocket-key")) {
			if (req->ws_key == 0)
				req->ws_key = (int)i + 1;
		} else if (http_eq(name, nlen, "expect")) {
			if (http_eq(value, vlen, "100-continue"))
				req->expect_continue = 1;
		}
	}
	if (te) {
		if (req->minor == 0) {
			*cause = "Transfer-Encoding in HTTP/1.0";
			return 400;
		}
		if (req->has_clen) {
			*cause = "both Content-Length and Transfer-Encoding";
			return 400;
		}
		if ((req->chunked & 1) == 0) {
			*cause = "chunked is not the final transfer coding";
			return 400;
		}
		if ((req->chunked & 2) != 0) {
			*cause = "unsupported transfer coding";
			return 501;
		}
		req->chunked = 1;
	}
	if (req->minor == 1 && req->nhost != 1) {
		*cause = req->nhost == 0 ? "no Host" : "more than one Host";
		return 400;
	}
	return 0;
}

int
http_parse_head(
    struct http_req *req, const char *p, size_t len, const char **cause)
{
	const char *end = p + len;
	ssize_t n;
	int rv;

	if ((n = http_line(p, end)) == -1) {
		*cause = "bare CR or LF in request line";
		return 400;
	}
	if ((rv = http_parse_request_line(req, p, n, cause)) != 0)
		return rv;
	p += n + 2;
	for (;;) {
		if ((n = http_line(p, end)) == -1) {
			*cause = "bare CR or LF in header section";
			return 400;
		}
		if (n == 0)
			break;
		if (http_is_ows(*p)) {
			*cause = "obsolete line folding";
			return 400;
		}
		if (req->headers.n >= HTTP_FIELDS_MAX) {
			*cause = "too many header fields";
			return 431;
		}
		if (http_parse_field(&req->headers, p, n, cause) == -1)
			return *cause == NULL ? -1 : 400;
		p += n + 2;
	}
	if (p + 2 != end) {
		*cause = "data after the header section";
		return 400;
	}
	return http_parse_semantics(req, cause);
}
