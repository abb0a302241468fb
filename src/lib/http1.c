#include "config.h"

#include <string.h>
#include <strings.h>

#include "http1.h"

/* Character classes of RFC 9110 5.6.2 and 5.5. */
#define C_TCHAR 0x01 /* token character */
#define C_VCHAR 0x02 /* field-vchar: VCHAR or obs-text */
#define C_HOST  0x04 /* allowed in a Host value */
#define C_HEX   0x08

static unsigned char http1_class[256];

static void
http1_class_init(void)
{
	const char *tspecial = "!#$%&'*+-.^_`|~";
	const char *hostc = "-._~!$&'()*+,;=:%[]";
	int c;

	if (http1_class['A'] != 0)
		return;
	for (c = 0x21; c <= 0xff; c++) {
		if (c != 0x7f)
			http1_class[c] |= C_VCHAR;
	}
	for (c = 0; c < 256; c++) {
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z')) {
			http1_class[c] |= C_TCHAR | C_HOST;
		}
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F'))
			http1_class[c] |= C_HEX;
	}
	for (; *tspecial != '\0'; tspecial++)
		http1_class[(unsigned char)*tspecial] |= C_TCHAR;
	for (; *hostc != '\0'; hostc++)
		http1_class[(unsigned char)*hostc] |= C_HOST;
}

/*
 * The class table is filled on first use; a constructor keeps that out of
 * the per-message path and makes it safe before any thread starts.
 */
static void http1_init(void) __attribute__((constructor));
static void
http1_init(void)
{
	http1_class_init();
}

static const char *const http1_errors[] = {
    [HTTP1_OK] = "no error",
    [HTTP1_E_TOO_LARGE] = "header section too large",
    [HTTP1_E_TOO_MANY_HEADERS] = "too many header fields",
    [HTTP1_E_BAD_START_LINE] = "malformed start line",
    [HTTP1_E_BAD_VERSION] = "unsupported HTTP version",
    [HTTP1_E_BAD_HEADER] = "malformed header field",
    [HTTP1_E_OBS_FOLD] = "obsolete line folding",
    [HTTP1_E_BARE_CR] = "bare CR",
    [HTTP1_E_BARE_LF] = "bare LF",
    [HTTP1_E_CTL] = "control character in header section",
    [HTTP1_E_BAD_CONTENT_LENGTH] = "invalid Content-Length",
    [HTTP1_E_DUP_CONTENT_LENGTH] = "duplicate Content-Length",
    [HTTP1_E_CL_AND_TE] = "both Content-Length and Transfer-Encoding",
    [HTTP1_E_BAD_TRANSFER_ENCODING] = "unsupported Transfer-Encoding",
    [HTTP1_E_MISSING_HOST] = "missing Host header",
    [HTTP1_E_DUP_HOST] = "duplicate Host header",
    [HTTP1_E_BAD_HOST] = "invalid Host header",
    [HTTP1_E_BAD_CHUNK] = "invalid chunked encoding",
};

const char *
http1_error_str(enum http1_error e)
{
	if ((size_t)e >= sizeof(http1_errors) / sizeof(http1_errors[0]) ||
	    http1_errors[e] == NULL)
		return "error";
	return http1_errors[e];
}

int
http1_name_eq(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

const struct http1_header *
http1_find(const struct http1_msg *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nheaders; i++) {
		if (http1_name_eq(
			m->headers[i].name, m->headers[i].name_len, name))
			return &m->headers[i];
	}
	return NULL;
}

/* Exact comparison of a method token with a NUL-terminated method. */
static int
http1_method_is(const char *method, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(method, want, len) == 0;
}

static int
http1_fail(struct http1_msg *m, enum http1_error e)
{
	m->error = e;
	return -1;
}

/*
 * Classifies the byte that ended a line scan: a CR must be followed by
 * LF; a bare LF, a bare CR or any other control character is an error.
 */
static enum http1_error
http1_bad_byte(const char *buf, size_t len, size_t i)
{
	unsigned char c = (unsigned char)buf[i];

	if (c == '\n')
		return HTTP1_E_BARE_LF;
	if (c == '\r' && i + 1 < len && buf[i + 1] != '\n')
		return HTTP1_E_BARE_CR;
	return HTTP1_E_CTL;
}

/*
 * Calls fn on each element of a comma-separated list value, with its
 * surrounding whitespace removed, and its parameters (after ';') too when
 * strip_params is set. Stops and returns -1 when fn does.
 */
static int
http1_list_each(const char *v, size_t len, int strip_params,
    int (*fn)(const char *, size_t, void *), void *arg)
{
	size_t i = 0, start, end;

	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < len && v[i] != ',')
			i++;
		end = i;
		for (size_t j = start; strip_params && j < end; j++) {
			if (v[j] == ';') {
				end = j;
				break;
			}
		}
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end > start && fn(v + start, end - start, arg) == -1)
			return -1;
	}
	return 0;
}

struct http1_te_state {
	int chunked_seen; /* "chunked" appeared */
	int last_chunked; /* the last coding so far is "chunked" */
	int bad;
};

static int
http1_te_elem(const char *s, size_t len, void *arg)
{
	struct http1_te_state *st = arg;
	size_t n, i;

	for (n = 0; n < len && (http1_class[(unsigned char)s[n]] & C_TCHAR);
	     n++)
		;
	/* chunked must be the final coding, applied once. */
	if (n == 0 || st->chunked_seen)
		goto bad;
	st->last_chunked = http1_name_eq(s, n, "chunked");
	st->chunked_seen = st->last_chunked;
	if (n < len) {
		/*
		 * Only parameters may follow the name. chunked defines none:
		 * a peer that does not strip them would not see chunked.
		 */
		for (i = n; i < len && (s[i] == ' ' || s[i] == '\t'); i++)
			;
		if (i == len || s[i] != ';' || st->last_chunked)
			goto bad;
	}
	return 0;
bad:
	st->bad = 1;
	return -1;
}

static int
http1_conn_elem(const char *s, size_t len, void *arg)
{
	unsigned int *flags = arg;

	if (http1_name_eq(s, len, "close"))
		*flags |= HTTP1_F_CLOSE;
	else if (http1_name_eq(s, len, "keep-alive"))
		*flags |= HTTP1_F_KEEPALIVE_TOK;
	else if (http1_name_eq(s, len, "upgrade"))
		*flags |= HTTP1_F_UPGRADE;
	return 0;
}

static int
http1_parse_length(const char *v, size_t len, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (len == 0 || len > 18)
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*out = n;
	return 0;
}

/*
 * Parses the header fields starting at pos up to the empty line. Returns
 * the head length, 0 if incomplete, -1 on error.
 */
static ssize_t
http1_parse_fields(const char *buf, size_t len, size_t pos, struct http1_msg *m)
{
	size_t i, name_end, vstart, vend;
	const unsigned char *p = (const unsigned char *)buf;

	for (;;) {
		if (pos >= len)
			return 0;
		if (p[pos] == '\r') {
			if (pos + 1 >= len)
				return 0;
			if (p[pos + 1] != '\n')
				return http1_fail(m, HTTP1_E_BARE_CR);
			m->head_len = pos + 2;
			return (ssize_t)m->head_len;
		}
		if (p[pos] == ' ' || p[pos] == '\t')
			return http1_fail(m, HTTP1_E_OBS_FOLD);
		for (i = pos; i < len && (http1_class[p[i]] & C_TCHAR); i++)
			;
		if (i >= len)
			return 0;
		if (i == pos || p[i] != ':') {
			/* A CRLF here ends a line without a colon. */
			if (p[i] == '\n' ||
			    (p[i] == '\r' && i + 1 < len && p[i + 1] != '\n'))
				return http1_fail(
				    m, http1_bad_byte(buf, len, i));
			return http1_fail(m, HTTP1_E_BAD_HEADER);
		}
		name_end = i++;
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		vstart = i;
		while (i < len &&
		    ((http1_class[p[i]] & C_VCHAR) || p[i] == ' ' ||
			p[i] == '\t'))
			i++;
		if (i >= len)
			return 0;
		if (p[i] != '\r')
			return http1_fail(m, http1_bad_byte(buf, len, i));
		if (i + 1 >= len)
			return 0;
		if (p[i + 1] != '\n')
			return http1_fail(m, HTTP1_E_BARE_CR);
		vend = i;
		while (vend > vstart &&
		    (p[vend - 1] == ' ' || p[vend - 1] == '\t'))
			vend--;
		if (m->nheaders == HTTP1_MAX_HEADERS)
			return http1_fail(m, HTTP1_E_TOO_MANY_HEADERS);
		m->headers[m->nheaders].name = buf + pos;
		m->headers[m->nheaders].name_len = name_end - pos;
		m->headers[m->nheaders].value = buf + vstart;
		m->headers[m->nheaders].value_len = vend - vstart;
		m->nheaders++;
		pos = i + 2;
	}
}

/*
 * Interprets the fields that decide framing and connection handling;
 * shared by requests and responses.
 */
static int
http1_semantics(struct http1_msg *m, int is_request)
{
	struct http1_te_state te = {0, 0, 0};
	int ncl = 0, nte = 0, nhost = 0, upgrade_hdr = 0;
	unsigned int conn = 0;
	const unsigned char *hv;
	size_t i, j;

	for (i = 0; i < m->nheaders; i++) {
		const struct http1_header *h = &m->headers[i];

		switch (h->name_len) {
		case 4:
			if (http1_name_eq(h->name, 4, "host")) {
				nhost++;
				m->host = h;
			}
			break;
		case 6:
			/* An HTTP/1.0 expectation is ignored (RFC 9110 10.1.1). */
			if (http1_name_eq(h->name, 6, "expect") &&
			    m->version_minor == 1 &&
			    http1_name_eq(
				h->value, h->value_len, "100-continue"))
				m->flags |= HTTP1_F_EXPECT_100;
			break;
		case 7:
			if (http1_name_eq(h->name, 7, "upgrade"))
				upgrade_hdr = 1;
			break;
		case 10:
			if (http1_name_eq(h->name, 10, "connection"))
				http1_list_each(h->value, h->value_len, 1,
				    http1_conn_elem, &conn);
			break;
		case 14:
			if (http1_name_eq(h->name, 14, "content-length")) {
				if (++ncl > 1)
					return http1_fail(
					    m, HTTP1_E_DUP_CONTENT_LENGTH);
				if (http1_parse_length(h->value, h->value_len,
					&m->content_length) == -1)
					return http1_fail(
					    m, HTTP1_E_BAD_CONTENT_LENGTH);
			}
			break;
		case 17:
			if (http1_name_eq(h->name, 17, "transfer-encoding")) {
				nte++;
				if (http1_list_each(h->value, h->value_len, 0,
					http1_te_elem, &te) == -1 ||
				    te.bad)
					return http1_fail(
					    m, HTTP1_E_BAD_TRANSFER_ENCODING);
			}
			break;
		}
	}

	m->flags |= conn & (HTTP1_F_CLOSE | HTTP1_F_KEEPALIVE_TOK);
	if (m->version_minor == 0 && !(conn & HTTP1_F_KEEPALIVE_TOK))
		m->flags |= HTTP1_F_CLOSE;
	/* Upgrade in an HTTP/1.0 request is ignored (RFC 9110 7.8). */
	if ((conn & HTTP1_F_UPGRADE) && upgrade_hdr &&
	    (m->version_minor == 1 || !is_request))
		m->flags |= HTTP1_F_UPGRADE;

	if (nte > 0 && ncl > 0)
		return http1_fail(m, HTTP1_E_CL_AND_TE);
	if (is_request) {
		if (nhost > 1)
			return http1_fail(m, HTTP1_E_DUP_HOST);
		if (nhost == 0 && m->version_minor == 1)
			return http1_fail(m, HTTP1_E_MISSING_HOST);
		if (m->host != NULL) {
			hv = (const unsigned char *)m->host->value;
			for (j = 0; j < m->host->value_len; j++) {
				if (!(http1_class[hv[j]] & C_HOST))
					return http1_fail(m, HTTP1_E_BAD_HOST);
			}
		}
		/* A request can only be framed by a final chunked coding. */
		if (nte > 0 &&
		    (nte > 1 || !te.last_chunked || m->version_minor == 0))
			return http1_fail(m, HTTP1_E_BAD_TRANSFER_ENCODING);
		if (nte > 0)
			m->framing = HTTP1_BODY_CHUNKED;
		else if (ncl > 0 && m->content_length > 0)
			m->framing = HTTP1_BODY_LENGTH;
		else
			m->framing = HTTP1_BODY_NONE;
	} else {
		/* HTTP/1.0 with Transfer-Encoding is faulty (RFC 9112 6.1). */
		if (nte > 1 || (nte > 0 && m->version_minor == 0))
			return http1_fail(m, HTTP1_E_BAD_TRANSFER_ENCODING);
		if (nte > 0)
			m->framing = te.last_chunked ? HTTP1_BODY_CHUNKED
						     : HTTP1_BODY_EOF;
		else if (ncl > 0)
			m->framing = m->content_length > 0 ? HTTP1_BODY_LENGTH
							   : HTTP1_BODY_NONE;
		else
			m->framing = HTTP1_BODY_EOF;
	}
	return 0;
}

static int
http1_parse_version(const char *s, size_t len, struct http1_msg *m)
{
	if (len != 8 || memcmp(s, "HTTP/1.", 7) != 0) {
		if (len >= 5 && memcmp(s, "HTTP/", 5) == 0)
			return http1_fail(m, HTTP1_E_BAD_VERSION);
		return http1_fail(m, HTTP1_E_BAD_START_LINE);
	}
	if (s[7] == '1')
		m->version_minor = 1;
	else if (s[7] == '0')
		m->version_minor = 0;
	else
		return http1_fail(m, HTTP1_E_BAD_VERSION);
	return 0;
}

static void
http1_msg_reset(struct http1_msg *m)
{
	m->method = m->target = m->reason = NULL;
	m->method_len = m->target_len = m->reason_len = 0;
	m->status = 0;
	m->version_minor = 1;
	m->head_len = 0;
	m->nheaders = 0;
	m->framing = HTTP1_BODY_NONE;
	m->content_length = 0;
	m->flags = 0;
	m->host = NULL;
	m->error = HTTP1_OK;
}

/* Wraps a parse so that a head that cannot end within max_head fails. */
static ssize_t
http1_limit(ssize_t r, size_t len, size_t max_head, struct http1_msg *m)
{
	if (r > 0 && (size_t)r > max_head)
		return http1_fail(m, HTTP1_E_TOO_LARGE);
	if (r == 0 && len >= max_head)
		return http1_fail(m, HTTP1_E_TOO_LARGE);
	return r;
}

ssize_t
http1_parse_request(
    const char *buf, size_t len, size_t max_head, struct http1_msg *m)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0, vstart;
	ssize_t r;

	http1_msg_reset(m);
	while (i < len && (http1_class[p[i]] & C_TCHAR))
		i++;
	if (i >= len)
		return http1_limit(0, len, max_head, m);
	if (i == 0 || p[i] != ' ')
		return http1_fail(m, HTTP1_E_BAD_START_LINE);
	m->method = buf;
	m->method_len = i++;
	m->target = buf + i;
	while (i < len && p[i] > 0x20 && p[i] < 0x7f)
		i++;
	if (i >= len)
		return http1_limit(0, len, max_head, m);
	if (p[i] != ' ' || buf + i == m->target)
		return http1_fail(m, HTTP1_E_BAD_START_LINE);
	m->target_len = (size_t)(buf + i - m->target);
	vstart = ++i;
	while (i < len && p[i] != '\r' && p[i] != '\n' && i - vstart <= 8)
		i++;
	if (i >= len)
		return http1_limit(0, len, max_head, m);
	if (p[i] != '\r')
		return http1_fail(
		    m, p[i] == '\n' ? HTTP1_E_BARE_LF : HTTP1_E_BAD_START_LINE);
	if (http1_parse_version(buf + vstart, i - vstart, m) == -1)
		return -1;
	if (i + 1 >= len)
		return http1_limit(0, len, max_head, m);
	if (p[i + 1] != '\n')
		return http1_fail(m, HTTP1_E_BARE_CR);
	r = http1_parse_fields(buf, len, i + 2, m);
	if ((r = http1_limit(r, len, max_head, m)) <= 0)
		return r;
	if (http1_semantics(m, 1) == -1)
		return -1;
	return r;
}

ssize_t
http1_parse_response(const char *buf, size_t len, size_t max_head,
    const char *request_method, size_t request_method_len, struct http1_msg *m)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i;
	ssize_t r;

	http1_msg_reset(m);
	if (len < 13)
		return http1_limit(0, len, max_head, m);
	if (http1_parse_version(buf, 8, m) == -1)
		return -1;
	if (p[8] != ' ' || p[9] < '1' || p[9] > '5' || p[10] < '0' ||
	    p[10] > '9' || p[11] < '0' || p[11] > '9')
		return http1_fail(m, HTTP1_E_BAD_START_LINE);
	m->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	i = 12;
	if (p[i] == ' ')
		i++;
	else if (p[i] != '\r')
		return http1_fail(m, HTTP1_E_BAD_START_LINE);
	m->reason = buf + i;
	while (i < len &&
	    ((http1_class[p[i]] & C_VCHAR) || p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i >= len)
		return http1_limit(0, len, max_head, m);
	if (p[i] != '\r')
		return http1_fail(m, http1_bad_byte(buf, len, i));
	m->reason_len = (size_t)(buf + i - m->reason);
	if (i + 1 >= len)
		return http1_limit(0, len, max_head, m);
	if (p[i + 1] != '\n')
		return http1_fail(m, HTTP1_E_BARE_CR);
	r = http1_parse_fields(buf, len, i + 2, m);
	if ((r = http1_limit(r, len, max_head, m)) <= 0)
		return r;
	if (http1_semantics(m, 0) == -1)
		return -1;
	/*
	 * Methods are case-sensitive: "head" is not HEAD, and its response
	 * may have a body. A 2xx to CONNECT starts a tunnel after the head.
	 */
	if ((m->status >= 100 && m->status < 200) || m->status == 204 ||
	    m->status == 304 ||
	    http1_method_is(request_method, request_method_len, "HEAD") ||
	    (m->status >= 200 && m->status < 300 &&
		http1_method_is(request_method, request_method_len, "CONNECT")))
		m->framing = HTTP1_BODY_NONE;
	return r;
}

struct http1_tok_match {
	const char *name;
	size_t len;
	int found;
};

static int
http1_tok_match_elem(const char *s, size_t len, void *arg)
{
	struct http1_tok_match *tm = arg;

	if (len == tm->len && strncasecmp(s, tm->name, len) == 0) {
		tm->found = 1;
		return -1;
	}
	return 0;
}

int
http1_is_hop_by_hop(const struct http1_msg *m, const struct http1_header *h)
{
	struct http1_tok_match tm = {h->name, h->name_len, 0};
	size_t i;

	if (http1_name_eq(h->name, h->name_len, "connection") ||
	    http1_name_eq(h->name, h->name_len, "keep-alive") ||
	    http1_name_eq(h->name, h->name_len, "proxy-connection") ||
	    http1_name_eq(h->name, h->name_len, "te"))
		return 1;
	if (http1_name_eq(h->name, h->name_len, "upgrade"))
		return !(m->flags & HTTP1_F_UPGRADE);
	/* Framing and routing fields are never dropped on a peer's say-so. */
	if (http1_name_eq(h->name, h->name_len, "content-length") ||
	    http1_name_eq(h->name, h->name_len, "transfer-encoding") ||
	    http1_name_eq(h->name, h->name_len, "host"))
		return 0;
	for (i = 0; i < m->nheaders && !tm.found; i++) {
		const struct http1_header *c = &m->headers[i];

		if (http1_name_eq(c->name, c->name_len, "connection"))
			http1_list_each(c->value, c->value_len, 1,
			    http1_tok_match_elem, &tm);
	}
	return tm.found;
}

int
http1_method_idempotent(const char *method, size_t len)
{
	static const char *const idem[] = {
	    "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
	size_t i;

	for (i = 0; i < sizeof(idem) / sizeof(idem[0]); i++) {
		if (len == strlen(idem[i]) && memcmp(method, idem[i], len) == 0)
			return 1;
	}
	return 0;
}

enum {
	CH_SIZE_START = 0,
	CH_SIZE,
	CH_SIZE_BWS,
	CH_EXT,
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START,
	CH_TRAILER,
	CH_TRAILER_LF,
	CH_END_LF,
	CH_DONE,
};

#define CH_MAX_DIGITS  15
#define CH_MAX_EXT     4096
#define CH_MAX_TRAILER 16384

void
http1_chunked_init(struct http1_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE_START;
}

static int
http1_hexval(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return ch - 'A' + 10;
}

ssize_t
http1_chunked_scan(
    struct http1_chunked *c, const char *buf, size_t len, int *done)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0, n;

	*done = 0;
	while (i < len) {
		unsigned char ch = p[i];

		switch (c->state) {
		case CH_SIZE_START:
		case CH_SIZE:
			if (http1_class[ch] & C_HEX) {
				if (++c->digits > CH_MAX_DIGITS)
					return -1;
				c->remaining = c->remaining * 16 +
				    (uint64_t)http1_hexval(ch);
				c->state = CH_SIZE;
			} else if (c->state == CH_SIZE_START) {
				return -1;
			} else if (ch == ' ' || ch == '\t') {
				c->state = CH_SIZE_BWS;
			} else if (ch == ';') {
				c->state = CH_EXT;
				c->line_len = 0;
			} else if (ch == '\r') {
				c->state = CH_SIZE_LF;
			} else {
				return -1;
			}
			i++;
			break;
		case CH_SIZE_BWS:
			if (ch == ';') {
				c->state = CH_EXT;
				c->line_len = 0;
			} else if (ch == '\r') {
				c->state = CH_SIZE_LF;
			} else if (ch != ' ' && ch != '\t') {
				return -1;
			}
			i++;
			break;
		case CH_EXT:
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if ((ch < 0x20 && ch != '\t') || ch == 0x7f ||
			    ++c->line_len > CH_MAX_EXT)
				return -1;
			i++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return -1;
			i++;
			c->digits = 0;
			if (c->remaining == 0) {
				c->state = CH_TRAILER_START;
				c->trailer_len = 0;
			} else {
				c->state = CH_DATA;
			}
			break;
		case CH_DATA:
			n = len - i;
			if ((uint64_t)n > c->remaining)
				n = (size_t)c->remaining;
			c->remaining -= n;
			i += n;
			if (c->remaining == 0)
				c->state = CH_DATA_CR;
			break;
		case CH_DATA_CR:
			if (ch != '\r')
				return -1;
			c->state = CH_DATA_LF;
			i++;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return -1;
			c->state = CH_SIZE_START;
			i++;
			break;
		case CH_TRAILER_START:
			if (ch == '\r')
				c->state = CH_END_LF;
			else if (ch == ' ' || ch == '\t' || ch == '\n' ||
			    !(http1_class[ch] & C_TCHAR))
				return -1;
			else
				c->state = CH_TRAILER;
			if (++c->trailer_len > CH_MAX_TRAILER)
				return -1;
			i++;
			break;
		case CH_TRAILER:
			if (ch == '\r')
				c->state = CH_TRAILER_LF;
			else if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
				return -1;
			if (++c->trailer_len > CH_MAX_TRAILER)
				return -1;
			i++;
			break;
		case CH_TRAILER_LF:
			if (ch != '\n')
				return -1;
			c->state = CH_TRAILER_START;
			i++;
			break;
		case CH_END_LF:
			if (ch != '\n')
				return -1;
			c->state = CH_DONE;
			*done = 1;
			return (ssize_t)(i + 1);
		default:
			*done = 1;
			return (ssize_t)i;
		}
	}
	return (ssize_t)i;
}
