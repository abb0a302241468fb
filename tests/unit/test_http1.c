/*
 * Unit tests for the strict HTTP/1.x parser (src/lib/http1.c): the
 * examples of RFC 9112 and RFC 9110, heads that arrive in pieces, and the
 * malformed and ambiguous inputs used for request smuggling.
 *
 * Every parse works on a heap copy exactly as long as the input, so that
 * ASan and valgrind see any read past its end.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http1.h"

#define MAX_HEAD 8192

/* The latest parsed input; messages point into it until the next parse. */
static char *input;

/*
 * A head and what parsing it gives: the error, or (HTTP1_OK) a head as
 * long as the input with these flags and framing.
 */
struct msg_case {
	const char *in;
	size_t len;
	const char *method; /* of the request a response answers */
	enum http1_error err;
	unsigned int flags;
	enum http1_framing framing;
};

#define ERR_CASE(lit, e)                                                       \
	{                                                                      \
		(lit), sizeof(lit) - 1, NULL, (e), 0, HTTP1_BODY_NONE          \
	}
#define OK_CASE(lit, flags, framing)                                           \
	{                                                                      \
		(lit), sizeof(lit) - 1, NULL, HTTP1_OK, (flags), (framing)     \
	}
#define OK_RESP(lit, method, framing)                                          \
	{                                                                      \
		(lit), sizeof(lit) - 1, (method), HTTP1_OK, 0, (framing)       \
	}

/* Request heads up to their first field. */
#define GET_A     "GET / HTTP/1.1\r\nHost: a\r\n"
#define POST_A    "POST / HTTP/1.1\r\nHost: a\r\n"
#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

#define REQ(lit, m) parse_req((lit), sizeof(lit) - 1, MAX_HEAD, (m))
#define RESP(lit, method, m)                                                   \
	parse_resp((lit), sizeof(lit) - 1, MAX_HEAD, (method), (m))
#define SCAN(lit, done)           scan_whole((lit), sizeof(lit) - 1, (done))
#define SCAN_BAD(lit)             scan_bad((lit), sizeof(lit) - 1, __LINE__)
#define ASSERT_SPAN(p, len, want) span_equal((p), (len), (want), __LINE__)
#define ASSERT_HEADER(m, i, name, value)                                       \
	header_equal((m), (i), (name), (value), __LINE__)

static const char *
copy_input(const char *s, size_t len)
{
	free(input);
	input = malloc(len > 0 ? len : 1);
	assert_non_null(input);
	memcpy(input, s, len);
	return input;
}

static ssize_t
parse_req(const char *s, size_t len, size_t max_head, struct http1_msg *m)
{
	return http1_parse_request(copy_input(s, len), len, max_head, m);
}

static ssize_t
parse_resp(const char *s, size_t len, size_t max_head, const char *method,
    struct http1_msg *m)
{
	return http1_parse_response(copy_input(s, len), len, max_head, method,
	    method != NULL ? strlen(method) : 0, m);
}

/* Prints an input with its control bytes escaped, for failure messages. */
static const char *
escape(const char *s, size_t len)
{
	static char out[512];
	size_t i, o = 0;
	unsigned char c;

	for (i = 0; i < len && o + 5 < sizeof(out); i++) {
		c = (unsigned char)s[i];
		if (c == '\r' || c == '\n') {
			out[o++] = '\\';
			out[o++] = c == '\r' ? 'r' : 'n';
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(
			    out + o, sizeof(out) - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return out;
}

static void
span_equal(const char *p, size_t len, const char *want, int line)
{
	char got[256];

	_assert_true(p != NULL, "pointer", __FILE__, line);
	_assert_true(len < sizeof(got), "length", __FILE__, line);
	memcpy(got, p, len);
	got[len] = '\0';
	_assert_string_equal(got, want, __FILE__, line);
}

static void
header_equal(const struct http1_msg *m, size_t i, const char *name,
    const char *value, int line)
{
	_assert_true(i < m->nheaders, "header index", __FILE__, line);
	span_equal(m->headers[i].name, m->headers[i].name_len, name, line);
	span_equal(m->headers[i].value, m->headers[i].value_len, value, line);
}

static void
check_cases(const struct msg_case *c, size_t n, int is_request)
{
	struct http1_msg m;
	ssize_t r;
	size_t i;

	for (i = 0; i < n; i++) {
		if (is_request)
			r = parse_req(c[i].in, c[i].len, MAX_HEAD, &m);
		else
			r = parse_resp(
			    c[i].in, c[i].len, MAX_HEAD, c[i].method, &m);
		if (c[i].err != HTTP1_OK && r == -1 && m.error == c[i].err)
			continue;
		if (c[i].err == HTTP1_OK && r == (ssize_t)c[i].len &&
		    m.flags == c[i].flags && m.framing == c[i].framing)
			continue;
		print_error("case %zu \"%s\": got %zd (%s), flags %#x, "
			    "framing %d\n",
		    i, escape(c[i].in, c[i].len), r, http1_error_str(m.error),
		    m.flags, m.framing);
		fail();
	}
}

/*
 * Parses a request with one more field, name: value, for each value: it
 * fails with err, or (HTTP1_OK) has that value and framing.
 */
static void
check_field(const char *name, const char *const *values, size_t n,
    enum http1_error err, enum http1_framing framing)
{
	const struct http1_header *h;
	struct http1_msg m;
	char buf[512];
	ssize_t r;
	size_t i;
	int len;

	for (i = 0; i < n; i++) {
		len = snprintf(buf, sizeof(buf),
		    "POST / HTTP/1.1\r\n%s%s: %s\r\n\r\n",
		    http1_name_eq(name, strlen(name), "host") ? ""
							      : "Host: a\r\n",
		    name, values[i]);
		assert_true(len > 0 && (size_t)len < sizeof(buf));
		r = parse_req(buf, (size_t)len, MAX_HEAD, &m);
		if (err != HTTP1_OK && r == -1 && m.error == err)
			continue;
		if (err == HTTP1_OK && r == len && m.framing == framing &&
		    (h = http1_find(&m, name)) != NULL &&
		    h->value_len == strlen(values[i]) &&
		    memcmp(h->value, values[i], h->value_len) == 0)
			continue;
		print_error("%s: \"%s\": got %zd (%s), framing %d\n", name,
		    escape(values[i], strlen(values[i])), r,
		    http1_error_str(m.error), m.framing);
		fail();
	}
}

/* Checks that a valid head gives 0 at each shorter length, then parses. */
static void
check_prefixes(const char *s, size_t len, int is_request)
{
	struct http1_msg m;
	ssize_t r;
	size_t k;

	for (k = 0; k < len; k++) {
		if (is_request)
			r = parse_req(s, k, MAX_HEAD, &m);
		else
			r = parse_resp(s, k, MAX_HEAD, "GET", &m);
		if (r != 0 || m.error != HTTP1_OK) {
			print_error("prefix %zu of \"%s\": got %zd (%s)\n", k,
			    escape(s, len), r, http1_error_str(m.error));
			fail();
		}
	}
	if (is_request)
		r = parse_req(s, len, MAX_HEAD, &m);
	else
		r = parse_resp(s, len, MAX_HEAD, "GET", &m);
	assert_int_equal(r, (ssize_t)len);
}

static ssize_t
scan_whole(const char *s, size_t len, int *done)
{
	struct http1_chunked c;

	http1_chunked_init(&c);
	return http1_chunked_scan(&c, copy_input(s, len), len, done);
}

/* A bad body fails at once and when fed one byte at a time. */
static void
scan_bad(const char *s, size_t len, int line)
{
	struct http1_chunked c;
	const char *p = copy_input(s, len);
	ssize_t r = 0;
	size_t i;
	int done;

	http1_chunked_init(&c);
	_assert_int_equal(
	    http1_chunked_scan(&c, p, len, &done), -1, __FILE__, line);
	http1_chunked_init(&c);
	for (i = 0; i < len; i++) {
		if ((r = http1_chunked_scan(&c, p + i, 1, &done)) != 1)
			break;
	}
	_assert_int_equal(r, -1, __FILE__, line);
}

/*
 * Requests
 */

static void
test_request_get(void **state)
{
	static const char in[] = "GET /hello.txt HTTP/1.1\r\n"
				 "User-Agent: curl/7.64.1\r\n"
				 "Host: www.example.com\r\n"
				 "Accept-Language: en, mi\r\n"
				 "\r\n";
	struct http1_msg m;

	assert_int_equal(REQ(in, &m), 100);
	assert_int_equal(m.head_len, 100);
	ASSERT_SPAN(m.method, m.method_len, "GET");
	ASSERT_SPAN(m.target, m.target_len, "/hello.txt");
	assert_int_equal(m.version_minor, 1);
	assert_int_equal(m.status, 0);
	assert_null(m.reason);
	assert_int_equal(m.nheaders, 3);
	ASSERT_HEADER(&m, 0, "User-Agent", "curl/7.64.1");
	ASSERT_HEADER(&m, 1, "Host", "www.example.com");
	ASSERT_HEADER(&m, 2, "Accept-Language", "en, mi");
	assert_ptr_equal(m.host, &m.headers[1]);
	assert_int_equal(m.framing, HTTP1_BODY_NONE);
	assert_int_equal(m.content_length, 0);
	assert_int_equal(m.flags, 0);
	assert_int_equal(m.error, HTTP1_OK);
	assert_ptr_equal(m.method, input);
}

static void
test_request_http10_close(void **state)
{
	struct http1_msg m;

	/* HTTP/1.0 needs no Host and closes unless asked not to. */
	assert_int_equal(REQ("GET / HTTP/1.0\r\n\r\n", &m), 18);
	assert_int_equal(m.version_minor, 0);
	assert_int_equal(m.nheaders, 0);
	assert_null(m.host);
	assert_int_equal(m.framing, HTTP1_BODY_NONE);
	assert_int_equal(m.flags, HTTP1_F_CLOSE);

	assert_int_equal(
	    REQ("GET / HTTP/1.0\r\nConnection: close\r\n\r\n", &m), 37);
	assert_int_equal(m.flags, HTTP1_F_CLOSE);
}

static void
test_request_http10_keepalive(void **state)
{
	struct http1_msg m;

	assert_int_equal(
	    REQ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &m), 42);
	assert_int_equal(m.version_minor, 0);
	assert_int_equal(m.flags, HTTP1_F_KEEPALIVE_TOK);
	ASSERT_HEADER(&m, 0, "Connection", "Keep-Alive");
}

static void
test_request_post_content_length(void **state)
{
	static const char in[] = "POST /submit HTTP/1.1\r\n"
				 "Host: example.com\r\n"
				 "Content-Type: application/json\r\n"
				 "Content-Length: 13\r\n"
				 "\r\n"
				 "{\"a\": \"bcd\"}\n"
				 "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http1_msg m;

	assert_int_equal(REQ(in, &m), 96);
	ASSERT_SPAN(m.method, m.method_len, "POST");
	ASSERT_SPAN(m.target, m.target_len, "/submit");
	assert_int_equal(m.nheaders, 3);
	ASSERT_HEADER(&m, 2, "Content-Length", "13");
	assert_int_equal(m.framing, HTTP1_BODY_LENGTH);
	assert_int_equal(m.content_length, 13);
	assert_int_equal(m.flags, 0);
	/* The next request starts right after the 13 body bytes. */
	assert_int_equal(http1_parse_request(input + 96 + 13,
			     sizeof(in) - 1 - 96 - 13, MAX_HEAD, &m),
	    31);
	ASSERT_SPAN(m.target, m.target_len, "/next");
}

static void
test_request_content_length_values(void **state)
{
	struct http1_msg m;

	assert_true(
	    REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &m) >
	    0);
	assert_int_equal(m.framing, HTTP1_BODY_NONE);
	assert_int_equal(m.content_length, 0);

	assert_true(
	    REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n",
		&m) > 0);
	assert_int_equal(m.framing, HTTP1_BODY_LENGTH);
	assert_int_equal(m.content_length, 7);

	/* 18 digits is the longest accepted, and cannot overflow. */
	assert_true(REQ("POST / HTTP/1.1\r\nHost: a\r\n"
			"Content-Length: 999999999999999999\r\n\r\n",
			&m) > 0);
	assert_int_equal(m.framing, HTTP1_BODY_LENGTH);
	assert_int_equal(m.content_length, 999999999999999999ULL);
}

static void
test_request_pipelined(void **state)
{
	static const char in[] = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
				 "GET /b HTTP/1.1\r\nHost: b\r\n\r\n";
	struct http1_msg m;
	const char *p;

	assert_int_equal(REQ(in, &m), 28);
	ASSERT_SPAN(m.target, m.target_len, "/a");
	p = input;
	assert_int_equal(http1_parse_request(p + 28, 28, MAX_HEAD, &m), 28);
	ASSERT_SPAN(m.target, m.target_len, "/b");
	ASSERT_SPAN(m.host->value, m.host->value_len, "b");
	assert_ptr_equal(m.method, p + 28);
}

static void
test_request_incomplete_prefixes(void **state)
{
	static const char *const heads[] = {
	    ("GET /hello.txt HTTP/1.1\r\nHost: www.example.com\r\n"
	     "User-Agent: x\r\n\r\n"),
	    "GET / HTTP/1.0\r\n\r\n",
	    ("POST /p?q=1 HTTP/1.1\r\nHost: [::1]:8080\r\nContent-Length: 3\r\n"
	     "X-Empty:\r\nX-Ws:  \t a b \t\r\n\r\n"),
	    ("PUT /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, "
	     "chunked\r\n"
	     "Expect: 100-continue\r\n\r\n"),
	    ("GET /chat HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
	     "Upgrade: websocket\r\nX-Obs: caf\xc3\xa9\r\n\r\n"),
	};
	size_t i;

	for (i = 0; i < NCASES(heads); i++)
		check_prefixes(heads[i], strlen(heads[i]), 1);
}

static void
test_request_whitespace_trim(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\n"
				 "Host:example.com\r\n"
				 "X-A: \t value with  inner\tspace \t \r\n"
				 "X-Empty:\r\n"
				 "X-Blank:   \t \r\n"
				 "X-Tab:\tv\r\n"
				 "\r\n";
	struct http1_msg m;

	assert_int_equal(REQ(in, &m), (ssize_t)sizeof(in) - 1);
	assert_int_equal(m.nheaders, 5);
	ASSERT_HEADER(&m, 0, "Host", "example.com");
	ASSERT_HEADER(&m, 1, "X-A", "value with  inner\tspace");
	ASSERT_HEADER(&m, 2, "X-Empty", "");
	ASSERT_HEADER(&m, 3, "X-Blank", "");
	ASSERT_HEADER(&m, 4, "X-Tab", "v");
}

static void
test_request_connection_tokens(void **state)
{
	static const struct msg_case c[] = {
	    OK_CASE("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		HTTP1_F_CLOSE, HTTP1_BODY_NONE),
	    OK_CASE("GET / HTTP/1.1\r\nHost: a\r\n"
		    "Connection: Keep-Alive , CLOSE,,x-foo\r\n\r\n",
		HTTP1_F_CLOSE | HTTP1_F_KEEPALIVE_TOK, HTTP1_BODY_NONE),
	    /* Tokens are whole list elements, over every Connection line. */
	    OK_CASE("GET / HTTP/1.1\r\nHost: a\r\n"
		    "Connection: closed, keep-alive-x\r\n"
		    "Connection: keep-alive\r\n\r\n",
		HTTP1_F_KEEPALIVE_TOK, HTTP1_BODY_NONE),
	    OK_CASE("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
		    "Upgrade: h2c\r\n\r\n",
		HTTP1_F_UPGRADE, HTTP1_BODY_NONE),
	    OK_CASE("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n",
		0, HTTP1_BODY_NONE),
	};

	check_cases(c, NCASES(c), 1);
}

static void
test_request_expect_continue(void **state)
{
	static const struct msg_case c[] = {
	    OK_CASE("PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n"
		    "Expect: 100-continue\r\n\r\n",
		HTTP1_F_EXPECT_100, HTTP1_BODY_LENGTH),
	    OK_CASE(
		"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n",
		HTTP1_F_EXPECT_100, HTTP1_BODY_NONE),
	    OK_CASE(
		"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue-x\r\n\r\n",
		0, HTTP1_BODY_NONE),
	    /* An HTTP/1.0 server never sends 100 (RFC 9110 10.1.1). */
	    OK_CASE("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
		HTTP1_F_CLOSE, HTTP1_BODY_NONE),
	};

	check_cases(c, NCASES(c), 1);
}

static void
test_request_upgrade_flag(void **state)
{
	static const struct msg_case c[] = {
	    OK_CASE("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\n\r\n",
		HTTP1_F_UPGRADE, HTTP1_BODY_NONE),
	    OK_CASE(
		"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
		0, HTTP1_BODY_NONE),
	    OK_CASE(
		"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n",
		0, HTTP1_BODY_NONE),
	    /* Upgrade is ignored in an HTTP/1.0 request (RFC 9110 7.8). */
	    OK_CASE("GET /chat HTTP/1.0\r\nUpgrade: websocket\r\n"
		    "Connection: keep-alive, upgrade\r\n\r\n",
		HTTP1_F_KEEPALIVE_TOK, HTTP1_BODY_NONE),
	};

	check_cases(c, NCASES(c), 1);
}

static void
test_request_chunked(void **state)
{
	static const char in[] = "POST /upload HTTP/1.1\r\n"
				 "Host: example.com\r\n"
				 "Transfer-Encoding: chunked\r\n"
				 "\r\n"
				 "4\r\nWiki\r\n"
				 "6;ext=\"quoted; value\";x\r\npedia \r\n"
				 "E\r\nin \r\n\r\nchunks.\r\n"
				 "0;last\r\n"
				 "Expires: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
				 "X-Checksum: abc\r\n"
				 "\r\n"
				 "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
	const size_t head = 72, body = 128, next = 31;
	struct http1_chunked c;
	struct http1_msg m;
	const char *p;
	ssize_t r;
	size_t i, used, cut;
	int done;

	assert_int_equal(sizeof(in) - 1, head + body + next);
	assert_int_equal(REQ(in, &m), head);
	assert_int_equal(m.framing, HTTP1_BODY_CHUNKED);
	assert_int_equal(m.content_length, 0);
	ASSERT_HEADER(&m, 1, "Transfer-Encoding", "chunked");
	p = input + head;

	/* All at once: the body ends before the next request. */
	http1_chunked_init(&c);
	assert_int_equal(http1_chunked_scan(&c, p, body + next, &done), body);
	assert_int_equal(done, 1);
	/* Once done, nothing more belongs to the body. */
	assert_int_equal(http1_chunked_scan(&c, p + body, next, &done), 0);
	assert_int_equal(done, 1);
	assert_int_equal(
	    http1_parse_request(p + body, next, MAX_HEAD, &m), next);

	/* Byte by byte: done only with the final LF. */
	http1_chunked_init(&c);
	for (i = 0; i < body; i++) {
		assert_int_equal(http1_chunked_scan(&c, p + i, 1, &done), 1);
		assert_int_equal(done, i == body - 1);
	}

	/* In two pieces, cut everywhere; the second holds the next request. */
	for (cut = 0; cut <= body; cut++) {
		http1_chunked_init(&c);
		r = http1_chunked_scan(&c, p, cut, &done);
		assert_int_equal(r, cut);
		assert_int_equal(done, cut == body);
		used = (size_t)r;
		if (!done) {
			r = http1_chunked_scan(
			    &c, p + cut, body + next - cut, &done);
			assert_int_equal(r, body - cut);
			assert_int_equal(done, 1);
			used += (size_t)r;
		}
		assert_int_equal(used, body);
	}

	/* In pieces of 3 with the next request behind. */
	http1_chunked_init(&c);
	for (used = 0, done = 0; !done;) {
		size_t n = body + next - used < 3 ? body + next - used : 3;

		r = http1_chunked_scan(&c, p + used, n, &done);
		assert_true(r >= 0);
		used += (size_t)r;
	}
	assert_int_equal(used, body);
}

static void
test_request_transfer_encoding_ok(void **state)
{
	static const char *const ok[] = {"chunked", "Chunked", "gzip, chunked",
	    "GZIP ,\tCHUNKED", ", chunked", "gzip;level=1, chunked",
	    "deflate,gzip,chunked"};

	check_field(
	    "Transfer-Encoding", ok, NCASES(ok), HTTP1_OK, HTTP1_BODY_CHUNKED);
}

static void
test_request_host_values(void **state)
{
	static const char *const ok[] = {"example.com", "example.com:8080",
	    "[2001:db8::1]:443", "192.0.2.1", "xn--bcher-kva.example",
	    "a-b_c~d!$&'()*+,;=%20", ""};

	check_field("Host", ok, NCASES(ok), HTTP1_OK, HTTP1_BODY_NONE);
}

static void
test_request_max_head(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\nXYZ";
	static const char req_line[] = "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	const size_t head = 27;
	struct http1_msg m;

	/* The limit counts the head only, not what follows it. */
	assert_int_equal(parse_req(in, sizeof(in) - 1, head, &m), head);
	assert_int_equal(parse_req(in, sizeof(in) - 1, head - 1, &m), -1);
	assert_int_equal(m.error, HTTP1_E_TOO_LARGE);
	assert_int_equal(parse_req(in, head, head - 1, &m), -1);
	assert_int_equal(m.error, HTTP1_E_TOO_LARGE);

	/* Incomplete: fails as soon as max_head bytes are in. */
	assert_int_equal(parse_req(in, head - 1, head, &m), 0);
	assert_int_equal(m.error, HTTP1_OK);
	assert_int_equal(parse_req(in, head - 1, head - 1, &m), -1);
	assert_int_equal(m.error, HTTP1_E_TOO_LARGE);
	assert_int_equal(parse_req(in, head - 2, head - 1, &m), 0);

	/* Also within the request line. */
	assert_int_equal(parse_req(req_line, 20, 21, &m), 0);
	assert_int_equal(parse_req(req_line, 21, 21, &m), -1);
	assert_int_equal(m.error, HTTP1_E_TOO_LARGE);
	assert_int_equal(parse_req(req_line, 3, 3, &m), -1);
	assert_int_equal(m.error, HTTP1_E_TOO_LARGE);
}

static void
test_request_too_many_headers(void **state)
{
	struct http1_msg m;
	char buf[4096];
	size_t len;
	int i;

	len =
	    (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 1; i < HTTP1_MAX_HEADERS; i++)
		len += (size_t)snprintf(
		    buf + len, sizeof(buf) - len, "X-%d: %d\r\n", i, i);
	memcpy(buf + len, "\r\n", 2);
	assert_int_equal(parse_req(buf, len + 2, MAX_HEAD, &m), len + 2);
	assert_int_equal(m.nheaders, HTTP1_MAX_HEADERS);
	ASSERT_HEADER(&m, HTTP1_MAX_HEADERS - 1, "X-127", "127");

	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "X-128: x\r\n");
	memcpy(buf + len, "\r\n", 2);
	assert_int_equal(parse_req(buf, len + 2, MAX_HEAD, &m), -1);
	assert_int_equal(m.error, HTTP1_E_TOO_MANY_HEADERS);
	/* The 129th header fails even before the head is complete. */
	assert_int_equal(parse_req(buf, len, MAX_HEAD, &m), -1);
	assert_int_equal(m.error, HTTP1_E_TOO_MANY_HEADERS);
}

static void
test_request_reset_between_parses(void **state)
{
	struct http1_msg m;

	assert_true(REQ("POST / HTTP/1.0\r\nContent-Length: 5\r\n"
			"Expect: 100-continue\r\n\r\n",
			&m) > 0);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &m), 27);
	assert_int_equal(m.version_minor, 1);
	assert_int_equal(m.nheaders, 1);
	assert_int_equal(m.framing, HTTP1_BODY_NONE);
	assert_int_equal(m.content_length, 0);
	assert_int_equal(m.flags, 0);

	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", &m), -1);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &m), 27);
	assert_int_equal(m.error, HTTP1_OK);
}

/*
 * Smuggling and malformed requests
 */

static void
test_smuggle_cl_and_te(void **state)
{
	static const struct msg_case c[] = {
	    ERR_CASE(POST_A "Content-Length: 4\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n",
		HTTP1_E_CL_AND_TE),
	    ERR_CASE(POST_A "Transfer-Encoding: chunked\r\n"
			    "Content-Length: 4\r\n\r\n",
		HTTP1_E_CL_AND_TE),
	    ERR_CASE(POST_A "content-length: 0\r\n"
			    "TRANSFER-ENCODING: chunked\r\n\r\n",
		HTTP1_E_CL_AND_TE),
	    ERR_CASE(POST_A "Content-Length: 4\r\n"
			    "Transfer-Encoding: identity\r\n\r\n",
		HTTP1_E_CL_AND_TE),
	};

	check_cases(c, NCASES(c), 1);
}

static void
test_smuggle_content_length(void **state)
{
	static const char *const bad[] = {"4, 4", "+4", "-4", "4 4", "0x4",
	    "4.0", "", " \t ", "1234567890123456789", "18446744073709551620",
	    "\xd9\xa4"};
	static const struct msg_case c[] = {
	    ERR_CASE(POST_A "Content-Length: 4\r\n"
			    "Content-Length: 5\r\n\r\n",
		HTTP1_E_DUP_CONTENT_LENGTH),
	    ERR_CASE(POST_A "Content-Length: 4\r\n"
			    "Content-Length: 4\r\n\r\n",
		HTTP1_E_DUP_CONTENT_LENGTH),
	};

	check_field(
	    "Content-Length", bad, NCASES(bad), HTTP1_E_BAD_CONTENT_LENGTH, 0);
	check_cases(c, NCASES(c), 1);
}

static void
test_smuggle_transfer_encoding(void **state)
{
	/* chunked is last and once, without parameters nobody agrees on. */
	static const char *const bad[] = {"chunked, chunked", "chunked, gzip",
	    "chunked, identity", "gzip", "identity", "xchunked", "chunked-x",
	    "\"chunked\"", "chunked\xc2\xa0", "chun ked", "chunked;q=1",
	    "chunked ;", "", ",", ";x, chunked"};
	static const struct msg_case c[] = {
	    /* HTTP/1.0 has no transfer codings (RFC 9112 6.1). */
	    ERR_CASE("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		HTTP1_E_BAD_TRANSFER_ENCODING),
	    /* Two lines, even when each one would do. */
	    ERR_CASE(POST_A "Transfer-Encoding: chunked\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n",
		HTTP1_E_BAD_TRANSFER_ENCODING),
	    ERR_CASE(POST_A "Transfer-Encoding: gzip\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n",
		HTTP1_E_BAD_TRANSFER_ENCODING),
	    ERR_CASE(POST_A
		"Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n",
		HTTP1_E_BAD_TRANSFER_ENCODING),
	};

	check_field("Transfer-Encoding", bad, NCASES(bad),
	    HTTP1_E_BAD_TRANSFER_ENCODING, 0);
	check_cases(c, NCASES(c), 1);
}

static void
test_smuggle_header_syntax(void **state)
{
	static const struct msg_case c[] = {
	    ERR_CASE(POST_A "Transfer-Encoding : chunked\r\n"
			    "\r\n",
		HTTP1_E_BAD_HEADER),
	    ERR_CASE(POST_A "Content-Length\t: 4\r\n\r\n", HTTP1_E_BAD_HEADER),
	    ERR_CASE(GET_A ": empty-name\r\n\r\n", HTTP1_E_BAD_HEADER),
	    ERR_CASE(GET_A "X A: b\r\n\r\n", HTTP1_E_BAD_HEADER),
	    ERR_CASE(GET_A "X(A): b\r\n\r\n", HTTP1_E_BAD_HEADER),
	    ERR_CASE(GET_A "X-\xc3\xa9: b\r\n\r\n", HTTP1_E_BAD_HEADER),
	    ERR_CASE(GET_A "X\0A: b\r\n\r\n", HTTP1_E_BAD_HEADER),
	    /* A line without a colon. */
	    ERR_CASE(GET_A "X-Alone\r\n\r\n", HTTP1_E_BAD_HEADER),
	    ERR_CASE(GET_A "X-Alone\r\n", HTTP1_E_BAD_HEADER),
	};

	check_cases(c, NCASES(c), 1);
}

static void
test_smuggle_obs_fold(void **state)
{
	static const struct msg_case c[] = {
	    ERR_CASE(GET_A "X-A: b\r\n c\r\n\r\n", HTTP1_E_OBS_FOLD),
	    ERR_CASE(GET_A "X-A: b\r\n\tc\r\n\r\n", HTTP1_E_OBS_FOLD),
	    ERR_CASE(POST_A "Transfer-Encoding: gzip\r\n"
			    " chunked\r\n\r\n",
		HTTP1_E_OBS_FOLD),
	    /* Whitespace before the first field (RFC 9112 2.2). */
	    ERR_CASE("GET / HTTP/1.1\r\n Host: a\r\n\r\n", HTTP1_E_OBS_FOLD),
	    ERR_CASE(GET_A " \r\n\r\n", HTTP1_E_OBS_FOLD),
	};

	check_cases(c, NCASES(c), 1);
}

static void
test_smuggle_bare_cr_lf(void **state)
{
	static const struct msg_case c[] = {
	    ERR_CASE("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", HTTP1_E_BARE_CR),
	    ERR_CASE("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", HTTP1_E_BARE_CR),
	    ERR_CASE("GET / HTTP/1.1\rHost: a\r\n\r\n", HTTP1_E_BARE_CR),
	    ERR_CASE(GET_A "\rX", HTTP1_E_BARE_CR),
	    ERR_CASE(GET_A "X-A\rB: c\r\n\r\n", HTTP1_E_BARE_CR),
	    ERR_CASE("GET / HTTP/1.1\nHost: a\n\n", HTTP1_E_BARE_LF),
	    ERR_CASE("GET / HTTP/1.1\r\nHost: a\n\r\n", HTTP1_E_BARE_LF),
	    ERR_CASE(GET_A "\n", HTTP1_E_BARE_LF),
	    ERR_CASE(GET_A "X-A\nB: c\r\n\r\n", HTTP1_E_BARE_LF),
	    ERR_CASE(GET_A "X-A: b\nc\r\n\r\n", HTTP1_E_BARE_LF),
	};

	check_cases(c, NCASES(c), 1);
}

static void
test_smuggle_control_chars(void **state)
{
	static const struct msg_case c[] = {
	    ERR_CASE(GET_A "X-A: b\0c\r\n\r\n", HTTP1_E_CTL),
	    ERR_CASE(GET_A "X-A: \0\r\n\r\n", HTTP1_E_CTL),
	    ERR_CASE(GET_A "X-A: b\x7f\r\n\r\n", HTTP1_E_CTL),
	    ERR_CASE(GET_A "X-A: \x01\r\n\r\n", HTTP1_E_CTL),
	    ERR_CASE(GET_A "X-A: \x1b[0m\r\n\r\n", HTTP1_E_CTL),
	    ERR_CASE(GET_A "X-A: \x0b\r\n\r\n", HTTP1_E_CTL),
	};

	check_cases(c, NCASES(c), 1);
}

static void
test_smuggle_host(void **state)
{
	static const char *const bad[] = {"a b", "user@example.com", "a/b",
	    "a\tb", "\"a\"", "caf\xc3\xa9", "a?b", "a#b"};
	static const struct msg_case c[] = {
	    ERR_CASE("GET / HTTP/1.1\r\n\r\n", HTTP1_E_MISSING_HOST),
	    ERR_CASE(
		"GET / HTTP/1.1\r\nHostname: a\r\n\r\n", HTTP1_E_MISSING_HOST),
	    ERR_CASE(GET_A "Host: b\r\n\r\n", HTTP1_E_DUP_HOST),
	    ERR_CASE(GET_A "host: a\r\n\r\n", HTTP1_E_DUP_HOST),
	    ERR_CASE("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
		HTTP1_E_DUP_HOST),
	    ERR_CASE("GET / HTTP/1.0\r\nHost: a b\r\n\r\n", HTTP1_E_BAD_HOST),
	};

	check_field("Host", bad, NCASES(bad), HTTP1_E_BAD_HOST, 0);
	check_cases(c, NCASES(c), 1);
}

static void
test_bad_version(void **state)
{
	static const struct msg_case c[] = {
	    ERR_CASE("GET / HTTP/1.2\r\n\r\n", HTTP1_E_BAD_VERSION),
	    ERR_CASE("GET / HTTP/2.0\r\n\r\n", HTTP1_E_BAD_VERSION),
	    ERR_CASE("GET / HTTP/1.10\r\n\r\n", HTTP1_E_BAD_VERSION),
	    ERR_CASE("GET / HTTP/1\r\n\r\n", HTTP1_E_BAD_VERSION),
	    ERR_CASE("GET / HTTP/0.9\r\n\r\n", HTTP1_E_BAD_VERSION),
	    ERR_CASE("GET / HTTP/1.1 \r\n\r\n", HTTP1_E_BAD_VERSION),
	    ERR_CASE("GET / http/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("GET / HTTX/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("GET / HTTP/1.1xyz\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("GET / \r\n\r\n", HTTP1_E_BAD_START_LINE),
	};

	check_cases(c, NCASES(c), 1);
}

static void
test_bad_request_line(void **state)
{
	static const struct msg_case c[] = {
	    ERR_CASE("GE(T / HTTP/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("G\xc3\x89T / HTTP/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("GET:/ HTTP/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE(" / HTTP/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("GET  / HTTP/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("GET /  HTTP/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("GET  HTTP/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("GET\t/ HTTP/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("GET /\t HTTP/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE(
		"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("GET /\x7f HTTP/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("GET /\0 HTTP/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("GET /\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("\r\nGET / HTTP/1.1\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("GET / HTTP/1.1\n\n", HTTP1_E_BARE_LF),
	    ERR_CASE("GET / HTTP/1.1\rX", HTTP1_E_BARE_CR),
	};

	check_cases(c, NCASES(c), 1);
}

/*
 * Responses
 */

static void
test_response_200(void **state)
{
	static const char in[] = "HTTP/1.1 200 OK\r\n"
				 "Content-Type: text/plain\r\n"
				 "Content-Length: 5\r\n"
				 "\r\n"
				 "hello";
	struct http1_msg m;

	assert_int_equal(RESP(in, "GET", &m), 64);
	assert_int_equal(m.head_len, 64);
	assert_null(m.method);
	assert_null(m.target);
	assert_int_equal(m.status, 200);
	ASSERT_SPAN(m.reason, m.reason_len, "OK");
	assert_int_equal(m.version_minor, 1);
	assert_int_equal(m.nheaders, 2);
	ASSERT_HEADER(&m, 0, "Content-Type", "text/plain");
	ASSERT_HEADER(&m, 1, "Content-Length", "5");
	assert_int_equal(m.framing, HTTP1_BODY_LENGTH);
	assert_int_equal(m.content_length, 5);
	assert_int_equal(m.flags, 0);
	assert_null(m.host);
	assert_int_equal(m.error, HTTP1_OK);
}

static void
test_response_no_body_status(void **state)
{
	static const struct msg_case c[] = {
	    OK_RESP("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
		"DELETE", HTTP1_BODY_NONE),
	    /* 304 describes the selected representation, without it. */
	    OK_RESP("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n"
		    "Content-Length: 1234\r\n\r\n",
		"GET", HTTP1_BODY_NONE),
	    OK_RESP("HTTP/1.1 304 Not Modified\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n",
		"GET", HTTP1_BODY_NONE),
	    OK_RESP("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET",
		HTTP1_BODY_NONE),
	};
	struct http1_msg m;

	check_cases(c, NCASES(c), 0);
	assert_true(RESP("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n"
			 "\r\n",
			"GET", &m) > 0);
	assert_int_equal(m.status, 304);
	assert_int_equal(m.content_length, 1234);
}

static void
test_response_1xx(void **state)
{
	struct http1_msg m;

	assert_int_equal(RESP("HTTP/1.1 100 Continue\r\n\r\n", "PUT", &m), 25);
	assert_int_equal(m.status, 100);
	ASSERT_SPAN(m.reason, m.reason_len, "Continue");
	assert_int_equal(m.nheaders, 0);
	assert_int_equal(m.framing, HTTP1_BODY_NONE);

	assert_int_equal(
	    RESP("HTTP/1.1 103 Early Hints\r\n"
		 "Link: </style.css>; rel=preload; as=style\r\n\r\n",
		"GET", &m),
	    71);
	assert_int_equal(m.status, 103);
	assert_int_equal(m.framing, HTTP1_BODY_NONE);
	ASSERT_HEADER(&m, 0, "Link", "</style.css>; rel=preload; as=style");
}

static void
test_response_101(void **state)
{
	struct http1_msg m;

	assert_int_equal(
	    RESP("HTTP/1.1 101 Switching Protocols\r\n"
		 "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"GET", &m),
	    77);
	assert_int_equal(m.status, 101);
	assert_int_equal(m.framing, HTTP1_BODY_NONE);
	assert_int_equal(m.flags, HTTP1_F_UPGRADE);

	/* A 101 must say what it switches to (RFC 9110 15.2.2). */
	assert_int_equal(RESP("HTTP/1.1 101 Switching Protocols\r\n"
			      "Connection: upgrade\r\n\r\n",
			     "GET", &m),
	    57);
	assert_int_equal(m.flags, 0);
}

static void
test_response_head(void **state)
{
#define CL "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
#define TE "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	static const struct msg_case c[] = {
	    OK_RESP(CL, "HEAD", HTTP1_BODY_NONE),
	    OK_RESP(CL, "GET", HTTP1_BODY_LENGTH),
	    /* Methods are case-sensitive: "head" is some other method. */
	    OK_RESP(CL, "head", HTTP1_BODY_LENGTH),
	    OK_RESP(CL, "HEADX", HTTP1_BODY_LENGTH),
	    OK_RESP(TE, "HEAD", HTTP1_BODY_NONE),
	    OK_RESP(TE, "GET", HTTP1_BODY_CHUNKED),
	};
#undef CL
#undef TE

	check_cases(c, NCASES(c), 0);
}

static void
test_response_connect(void **state)
{
	static const struct msg_case c[] = {
	    /* A 2xx to CONNECT turns the connection into a tunnel. */
	    OK_RESP("HTTP/1.1 200 Connection Established\r\n\r\n", "CONNECT",
		HTTP1_BODY_NONE),
	    OK_RESP("HTTP/1.1 200 Connection Established\r\n\r\n", "GET",
		HTTP1_BODY_EOF),
	    OK_RESP("HTTP/1.1 407 Proxy Authentication Required\r\n"
		    "Content-Length: 5\r\n\r\n",
		"CONNECT", HTTP1_BODY_LENGTH),
	};

	check_cases(c, NCASES(c), 0);
}

static void
test_response_eof(void **state)
{
	static const struct msg_case c[] = {
	    OK_RESP("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", "GET",
		HTTP1_BODY_EOF),
	    /* Only a final chunked delimits the body; otherwise the close. */
	    OK_RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET",
		HTTP1_BODY_EOF),
	    OK_RESP(
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"GET", HTTP1_BODY_CHUNKED),
	};
	struct http1_msg m;

	check_cases(c, NCASES(c), 0);
	assert_int_equal(RESP("HTTP/1.0 200 OK\r\n\r\n<html>", "GET", &m), 19);
	assert_int_equal(m.version_minor, 0);
	assert_int_equal(m.framing, HTTP1_BODY_EOF);
	assert_int_equal(m.flags, HTTP1_F_CLOSE);

	assert_int_equal(RESP("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
			      "Content-Length: 3\r\n\r\n",
			     "GET", &m),
	    62);
	assert_int_equal(m.framing, HTTP1_BODY_LENGTH);
	assert_int_equal(m.content_length, 3);
	assert_int_equal(m.flags, HTTP1_F_KEEPALIVE_TOK);
}

static void
test_response_reason(void **state)
{
	struct http1_msg m;

	assert_int_equal(RESP("HTTP/1.1 200\r\n\r\n", "GET", &m), 16);
	assert_int_equal(m.status, 200);
	assert_int_equal(m.reason_len, 0);
	assert_int_equal(RESP("HTTP/1.1 599 \r\n\r\n", "GET", &m), 17);
	assert_int_equal(m.status, 599);
	assert_int_equal(m.reason_len, 0);
	assert_int_equal(
	    RESP("HTTP/1.1 404 Not\tFound \xc3\xa9\r\n\r\n", "GET", &m), 29);
	ASSERT_SPAN(m.reason, m.reason_len, "Not\tFound \xc3\xa9");
}

static void
test_response_incomplete_prefixes(void **state)
{
	static const char *const heads[] = {
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\n",
	    "HTTP/1.1 204\r\n\r\n",
	    ("HTTP/1.0 101 Switching Protocols\r\nUpgrade: h2c\r\n"
	     "Connection: upgrade\r\n\r\n"),
	};
	size_t i;

	for (i = 0; i < NCASES(heads); i++)
		check_prefixes(heads[i], strlen(heads[i]), 0);
}

static void
test_response_max_head(void **state)
{
	static const char in[] =
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab";
	const size_t head = 38;
	struct http1_msg m;

	assert_int_equal(parse_resp(in, sizeof(in) - 1, head, "GET", &m), head);
	assert_int_equal(
	    parse_resp(in, sizeof(in) - 1, head - 1, "GET", &m), -1);
	assert_int_equal(m.error, HTTP1_E_TOO_LARGE);
	assert_int_equal(parse_resp(in, head - 1, head - 1, "GET", &m), -1);
	assert_int_equal(m.error, HTTP1_E_TOO_LARGE);
	assert_int_equal(parse_resp(in, head - 2, head - 1, "GET", &m), 0);
	/* Even shorter than a status line. */
	assert_int_equal(parse_resp(in, 8, 8, "GET", &m), -1);
	assert_int_equal(m.error, HTTP1_E_TOO_LARGE);
}

static void
test_response_malformed(void **state)
{
	static const struct msg_case c[] = {
	    ERR_CASE("HTTP/1.2 200 OK\r\n\r\n", HTTP1_E_BAD_VERSION),
	    ERR_CASE("HTTP/2 200 OK\r\n\r\n", HTTP1_E_BAD_VERSION),
	    ERR_CASE("http/1.1 200 OK\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("HTTP/1.1 20 OK\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("HTTP/1.1 600 X\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("HTTP/1.1 099 X\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("HTTP/1.1 2OO OK\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("HTTP/1.1 200OK\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("HTTP/1.1  200 OK\r\n\r\n", HTTP1_E_BAD_START_LINE),
	    ERR_CASE("HTTP/1.1 200 OK\n\r\n", HTTP1_E_BARE_LF),
	    ERR_CASE("HTTP/1.1 200 OK\rX\r\n", HTTP1_E_BARE_CR),
	    ERR_CASE("HTTP/1.1 200 O\x01K\r\n\r\n", HTTP1_E_CTL),
	    ERR_CASE("HTTP/1.1 200 OK\r\n X: y\r\n\r\n", HTTP1_E_OBS_FOLD),
	    ERR_CASE("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
		     "Content-Length: 1\r\n\r\n",
		HTTP1_E_DUP_CONTENT_LENGTH),
	    ERR_CASE("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		HTTP1_E_BAD_CONTENT_LENGTH),
	    ERR_CASE("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n",
		HTTP1_E_CL_AND_TE),
	    ERR_CASE(
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
		HTTP1_E_BAD_TRANSFER_ENCODING),
	    ERR_CASE("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n",
		HTTP1_E_BAD_TRANSFER_ENCODING),
	    /* HTTP/1.0 framing with Transfer-Encoding is faulty. */
	    ERR_CASE("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		HTTP1_E_BAD_TRANSFER_ENCODING),
	};

	check_cases(c, NCASES(c), 0);
}

/*
 * Chunked bodies
 */

static void
test_chunked_extensions_and_trailers(void **state)
{
	static const char ok[] = "5 ;a=b\r\nhello\r\n"
				 "3\t; q=\"x;y\" ;z\r\nabc\r\n"
				 "A\r\n0123456789\r\n"
				 "0\r\nX-A: 1\r\nX-B:\r\n\r\n";
	static const char max[] = "fffffffffffffff\r\nabc";
	int done;

	assert_int_equal(SCAN(ok, &done), sizeof(ok) - 1);
	assert_int_equal(done, 1);
	assert_int_equal(SCAN("0\r\n\r\n", &done), 5);
	assert_int_equal(done, 1);
	/* Fifteen hex digits are accepted: the data is still to come. */
	assert_int_equal(SCAN(max, &done), sizeof(max) - 1);
	assert_int_equal(done, 0);
	assert_int_equal(SCAN("", &done), 0);
	assert_int_equal(done, 0);
}

static void
test_chunked_bad_size(void **state)
{
	SCAN_BAD("0x5\r\nhello\r\n0\r\n\r\n");
	SCAN_BAD("-1\r\n");
	SCAN_BAD("+5\r\nhello\r\n0\r\n\r\n");
	SCAN_BAD(" 5\r\nhello\r\n0\r\n\r\n");
	SCAN_BAD("5 5\r\nhello\r\n0\r\n\r\n");
	SCAN_BAD("\r\n");
	SCAN_BAD(";a\r\n");
	SCAN_BAD("g\r\n");
	/* Sixteen hex digits, and leading zeros count. */
	SCAN_BAD("1000000000000000\r\n");
	SCAN_BAD("0000000000000005\r\nhello\r\n0\r\n\r\n");
}

static void
test_chunked_bad_line_ends(void **state)
{
	SCAN_BAD("5\r\nhelloX\r\n0\r\n\r\n");
	SCAN_BAD("5\r\nhello\n0\r\n\r\n");
	SCAN_BAD("5\r\nhello\r0\r\n\r\n");
	SCAN_BAD("5\nhello\r\n0\r\n\r\n");
	SCAN_BAD("5\rhello\r\n0\r\n\r\n");
	SCAN_BAD("5;a\nhello\r\n0\r\n\r\n");
	SCAN_BAD("0\n\r\n");
	SCAN_BAD("0\r\n\n");
	SCAN_BAD("0\r\n\r\r");
	SCAN_BAD("0\r\nX-A: 1\n\r\n");
	SCAN_BAD("0\r\nX-A: 1\rX\r\n\r\n");
}

static void
test_chunked_bad_extension(void **state)
{
	static const char tail[] = "\r\nA\r\n0\r\n\r\n";
	char buf[8192];
	size_t n;
	int done;

	SCAN_BAD("5;a\x01"
		 "b\r\nhello\r\n0\r\n\r\n");
	SCAN_BAD("5;a\x7f\r\nhello\r\n0\r\n\r\n");
	SCAN_BAD("5;a\0\r\nhello\r\n0\r\n\r\n");
	SCAN_BAD("0;\x1b\r\n\r\n");

	/* Extensions are bounded: 4096 bytes after the ';'. */
	memcpy(buf, "1;", 2);
	memset(buf + 2, 'x', 4096);
	memcpy(buf + 2 + 4096, tail, sizeof(tail) - 1);
	n = 2 + 4096 + sizeof(tail) - 1;
	assert_int_equal(scan_whole(buf, n, &done), n);
	assert_int_equal(done, 1);
	memset(buf + 2, 'x', 4097);
	memcpy(buf + 2 + 4097, tail, sizeof(tail) - 1);
	assert_int_equal(scan_whole(buf, n + 1, &done), -1);
}

static void
test_chunked_bad_trailer(void **state)
{
	static char buf[16400];
	int done;

	SCAN_BAD("0\r\nX-A: 1\r\n b\r\n\r\n");
	SCAN_BAD("0\r\nX-A: 1\r\n\tb\r\n\r\n");
	SCAN_BAD("0\r\n X-A: 1\r\n\r\n");
	SCAN_BAD("0\r\n: 1\r\n\r\n");
	SCAN_BAD("0\r\nX-A: \0\r\n\r\n");
	SCAN_BAD("0\r\nX-A: \x7f\r\n\r\n");

	/*
	 * The trailer section is bounded: 16384 bytes, counting the CR but
	 * not the LF of each line.
	 */
	memcpy(buf, "0\r\n", 3);
	memset(buf + 3, 'a', 16382);
	memcpy(buf + 3 + 16382, "\r\n\r\n", 4);
	assert_int_equal(scan_whole(buf, 16389, &done), 16389);
	assert_int_equal(done, 1);
	memset(buf + 3, 'a', 16383);
	memcpy(buf + 3 + 16383, "\r\n\r\n", 4);
	assert_int_equal(scan_whole(buf, 16390, &done), -1);
}

/*
 * Helpers
 */

static void
test_hop_by_hop(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\n"
				 "Host: a\r\n"
				 "Connection: close, X-Foo\r\n"
				 "Keep-Alive: timeout=5\r\n"
				 "TE: trailers\r\n"
				 "Proxy-Connection: keep-alive\r\n"
				 "Upgrade: h2c\r\n"
				 "X-Foo: 1\r\n"
				 "x-foo: 2\r\n"
				 "X-Foobar: 3\r\n"
				 "Close: 4\r\n"
				 "Connection: X-Two\r\n"
				 "X-Two: 5\r\n"
				 "Accept: */*\r\n"
				 "\r\n";
	static const int want[] = {0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0};
	struct http1_msg m;
	size_t i;

	assert_int_equal(REQ(in, &m), (ssize_t)sizeof(in) - 1);
	assert_int_equal(m.nheaders, NCASES(want));
	for (i = 0; i < m.nheaders; i++) {
		if (http1_is_hop_by_hop(&m, &m.headers[i]) != want[i]) {
			print_error("header %zu (%s)\n", i,
			    escape(m.headers[i].name, m.headers[i].name_len));
			fail();
		}
	}
}

static void
test_hop_by_hop_upgrade(void **state)
{
	struct http1_msg m;

	assert_true(
	    REQ("GET /chat HTTP/1.1\r\nHost: a\r\n"
		"Connection: Upgrade, X-Private\r\nUpgrade: websocket\r\n"
		"X-Private: 1\r\nSec-WebSocket-Key: k\r\n\r\n",
		&m) > 0);
	assert_int_equal(m.flags, HTTP1_F_UPGRADE);
	assert_true(http1_is_hop_by_hop(&m, &m.headers[1]));  /* Connection */
	assert_false(http1_is_hop_by_hop(&m, &m.headers[2])); /* Upgrade */
	assert_true(http1_is_hop_by_hop(&m, &m.headers[3]));  /* X-Private */
	assert_false(http1_is_hop_by_hop(&m, &m.headers[4]));

	/* Not an upgrade in HTTP/1.0: Upgrade goes. */
	assert_true(REQ("GET /chat HTTP/1.0\r\nConnection: Upgrade\r\n"
			"Upgrade: websocket\r\n\r\n",
			&m) > 0);
	assert_true(http1_is_hop_by_hop(&m, &m.headers[1]));

	assert_true(RESP("HTTP/1.1 101 Switching Protocols\r\n"
			 "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
			"GET", &m) > 0);
	assert_false(http1_is_hop_by_hop(&m, &m.headers[0]));
	assert_true(http1_is_hop_by_hop(&m, &m.headers[1]));
}

static void
test_hop_by_hop_protected(void **state)
{
	struct http1_msg m;

	/* Naming framing or routing fields in Connection does not drop them. */
	assert_true(
	    REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
		"Date: x\r\nConnection: Content-Length, HOST, date\r\n\r\n",
		&m) > 0);
	assert_false(http1_is_hop_by_hop(&m, &m.headers[0]));
	assert_false(http1_is_hop_by_hop(&m, &m.headers[1]));
	assert_true(http1_is_hop_by_hop(&m, &m.headers[2]));

	assert_true(
	    REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		"Connection: transfer-encoding, keep-alive\r\n"
		"Keep-Alive: 1\r\n\r\n",
		&m) > 0);
	assert_false(http1_is_hop_by_hop(&m, &m.headers[1]));
	assert_true(http1_is_hop_by_hop(&m, &m.headers[3]));
}

static void
test_method_idempotent(void **state)
{
	static const char *const yes[] = {
	    "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
	static const char *const no[] = {
	    "POST", "PATCH", "CONNECT", "get", "Put", "", "GETS", "PROPFIND"};
	size_t i;

	for (i = 0; i < NCASES(yes); i++)
		assert_true(http1_method_idempotent(yes[i], strlen(yes[i])));
	for (i = 0; i < NCASES(no); i++)
		assert_false(http1_method_idempotent(no[i], strlen(no[i])));
	/* The length bounds the method, not a NUL. */
	assert_true(http1_method_idempotent("GETX", 3));
	assert_false(http1_method_idempotent("GET", 2));
	assert_false(http1_method_idempotent("DELETED", 7));
}

static void
test_find(void **state)
{
	struct http1_msg m;

	assert_true(REQ("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n"
			"X-Abc: 3\r\n\r\n",
			&m) > 0);
	assert_ptr_equal(http1_find(&m, "x-a"), &m.headers[1]);
	assert_ptr_equal(http1_find(&m, "X-A"), &m.headers[1]);
	assert_ptr_equal(http1_find(&m, "x-abc"), &m.headers[3]);
	assert_ptr_equal(http1_find(&m, "HOST"), &m.headers[0]);
	assert_null(http1_find(&m, "X-Ab"));
	assert_null(http1_find(&m, "X"));
	assert_null(http1_find(&m, ""));

	assert_true(REQ("GET / HTTP/1.0\r\n\r\n", &m) > 0);
	assert_null(http1_find(&m, "Host"));
}

static void
test_name_eq(void **state)
{
	assert_true(http1_name_eq("Host", 4, "host"));
	assert_true(http1_name_eq("CONTENT-length", 14, "Content-Length"));
	assert_true(http1_name_eq("Hostname", 4, "host"));
	assert_true(http1_name_eq("", 0, ""));
	assert_false(http1_name_eq("Hos", 3, "host"));
	assert_false(http1_name_eq("Hostname", 8, "host"));
	assert_false(http1_name_eq("Hosu", 4, "host"));
	assert_false(http1_name_eq("Host", 4, ""));
}

static void
test_error_str(void **state)
{
	enum http1_error e, f;

	assert_string_equal(http1_error_str(HTTP1_OK), "no error");
	for (e = HTTP1_E_TOO_LARGE; e <= HTTP1_E_BAD_CHUNK; e++) {
		assert_string_not_equal(http1_error_str(e), "error");
		for (f = HTTP1_OK; f < e; f++)
			assert_string_not_equal(
			    http1_error_str(e), http1_error_str(f));
	}
	assert_string_equal(http1_error_str((enum http1_error)1000), "error");
}

static int
free_input(void **state)
{
	free(input);
	input = NULL;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_get),
	    cmocka_unit_test(test_request_http10_close),
	    cmocka_unit_test(test_request_http10_keepalive),
	    cmocka_unit_test(test_request_post_content_length),
	    cmocka_unit_test(test_request_content_length_values),
	    cmocka_unit_test(test_request_pipelined),
	    cmocka_unit_test(test_request_incomplete_prefixes),
	    cmocka_unit_test(test_request_whitespace_trim),
	    cmocka_unit_test(test_request_connection_tokens),
	    cmocka_unit_test(test_request_expect_continue),
	    cmocka_unit_test(test_request_upgrade_flag),
	    cmocka_unit_test(test_request_chunked),
	    cmocka_unit_test(test_request_transfer_encoding_ok),
	    cmocka_unit_test(test_request_host_values),
	    cmocka_unit_test(test_request_max_head),
	    cmocka_unit_test(test_request_too_many_headers),
	    cmocka_unit_test(test_request_reset_between_parses),
	    cmocka_unit_test(test_smuggle_cl_and_te),
	    cmocka_unit_test(test_smuggle_content_length),
	    cmocka_unit_test(test_smuggle_transfer_encoding),
	    cmocka_unit_test(test_smuggle_header_syntax),
	    cmocka_unit_test(test_smuggle_obs_fold),
	    cmocka_unit_test(test_smuggle_bare_cr_lf),
	    cmocka_unit_test(test_smuggle_control_chars),
	    cmocka_unit_test(test_smuggle_host),
	    cmocka_unit_test(test_bad_version),
	    cmocka_unit_test(test_bad_request_line),
	    cmocka_unit_test(test_response_200),
	    cmocka_unit_test(test_response_no_body_status),
	    cmocka_unit_test(test_response_1xx),
	    cmocka_unit_test(test_response_101),
	    cmocka_unit_test(test_response_head),
	    cmocka_unit_test(test_response_connect),
	    cmocka_unit_test(test_response_eof),
	    cmocka_unit_test(test_response_reason),
	    cmocka_unit_test(test_response_incomplete_prefixes),
	    cmocka_unit_test(test_response_max_head),
	    cmocka_unit_test(test_response_malformed),
	    cmocka_unit_test(test_chunked_extensions_and_trailers),
	    cmocka_unit_test(test_chunked_bad_size),
	    cmocka_unit_test(test_chunked_bad_line_ends),
	    cmocka_unit_test(test_chunked_bad_extension),
	    cmocka_unit_test(test_chunked_bad_trailer),
	    cmocka_unit_test(test_hop_by_hop),
	    cmocka_unit_test(test_hop_by_hop_upgrade),
	    cmocka_unit_test(test_hop_by_hop_protected),
	    cmocka_unit_test(test_method_idempotent),
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_name_eq),
	    cmocka_unit_test(test_error_str),
	};

	return cmocka_run_group_tests_name("http1", tests, NULL, free_input);
}
