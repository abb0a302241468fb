/*
 * libFuzzer harness for the HTTP/1.x parser (src/lib/http1.c).
 *
 * Each input is parsed as a request head, then whatever follows a
 * chunked request as its body, then as a response head, and on its own as
 * a chunked body. Besides the sanitizers, it checks what the contract in
 * http1.h promises: results stay inside the buffer, a parse does not
 * depend on how the bytes were split or on max_head other than through
 * HTTP1_E_TOO_LARGE, and a message rebuilt from its parts parses the same.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

#define FUZZ_MAX_HEAD   8192
#define FUZZ_SMALL_HEAD 64
/* Every prefix is reparsed for heads up to this size, a sample above. */
#define FUZZ_ALL_PREFIXES 256
/* Room for a rebuilt head: ": " and a reason space may add bytes. */
#define FUZZ_REBUILD_MAX (FUZZ_MAX_HEAD + 2 * HTTP1_MAX_HEADERS + 16)

#define FUZZ_CHECK(c)                                                          \
	do {                                                                   \
		if (!(c))                                                      \
			fuzz_fail(__LINE__, #c);                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fuzz_fail(int, const char *) __attribute__((noreturn));

static const char *const fuzz_methods[] = {
    "GET", "HEAD", "CONNECT", "head", "POST"};

static struct http1_msg fuzz_msg, fuzz_msg2;
static char fuzz_rebuilt[FUZZ_REBUILD_MAX];

static void
fuzz_fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_http1.c:%d: invariant failed: %s\n", line, what);
	abort();
}

static int
fuzz_inside(const char *buf, size_t len, const char *p, size_t plen)
{
	return p >= buf && plen <= len && (size_t)(p - buf) <= len - plen;
}

static int
fuzz_is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static ssize_t
fuzz_request(const char *buf, size_t len, size_t max, struct http1_msg *m)
{
	ssize_t r = http1_parse_request(buf, len, max, m);

	FUZZ_CHECK(r >= -1);
	FUZZ_CHECK((r == -1) == (m->error != HTTP1_OK));
	return r;
}

static ssize_t
fuzz_response(const char *buf, size_t len, size_t max, const char *method,
    struct http1_msg *m)
{
	ssize_t r = http1_parse_response(
	    buf, len, max, method, method != NULL ? strlen(method) : 0, m);

	FUZZ_CHECK(r >= -1);
	FUZZ_CHECK((r == -1) == (m->error != HTTP1_OK));
	return r;
}

/* What every complete head satisfies, request or response. */
static void
fuzz_check_head(const char *buf, size_t len, ssize_t r,
    const struct http1_msg *m, int is_request)
{
	size_t h = (size_t)r, i, j;

	FUZZ_CHECK(h <= len && h <= FUZZ_MAX_HEAD && h == m->head_len);
	FUZZ_CHECK(h >= 4 && memcmp(buf + h - 4, "\r\n\r\n", 4) == 0);
	FUZZ_CHECK(m->version_minor == 0 || m->version_minor == 1);
	FUZZ_CHECK(m->nheaders <= HTTP1_MAX_HEADERS);
	for (i = 0; i < m->nheaders; i++) {
		const struct http1_header *hd = &m->headers[i];
		const unsigned char *v = (const unsigned char *)hd->value;

		FUZZ_CHECK(hd->name_len > 0);
		FUZZ_CHECK(fuzz_inside(buf, h, hd->name, hd->name_len));
		FUZZ_CHECK(fuzz_inside(buf, h, hd->value, hd->value_len));
		for (j = 0; j < hd->name_len; j++)
			FUZZ_CHECK(fuzz_is_tchar((unsigned char)hd->name[j]));
		for (j = 0; j < hd->value_len; j++)
			FUZZ_CHECK(
			    (v[j] >= 0x20 && v[j] != 0x7f) || v[j] == '\t');
		if (hd->value_len > 0) {
			FUZZ_CHECK(v[0] != ' ' && v[0] != '\t');
			FUZZ_CHECK(v[hd->value_len - 1] != ' ' &&
			    v[hd->value_len - 1] != '\t');
		}
	}
	FUZZ_CHECK(m->framing != HTTP1_BODY_LENGTH || m->content_length > 0);
	if (m->framing == HTTP1_BODY_CHUNKED || m->framing == HTTP1_BODY_LENGTH)
		FUZZ_CHECK((http1_find(m, "content-length") == NULL) ==
		    (m->framing == HTTP1_BODY_CHUNKED));
	if (m->framing == HTTP1_BODY_CHUNKED)
		FUZZ_CHECK(m->version_minor == 1);
	if (is_request) {
		FUZZ_CHECK(m->method != NULL && m->method == buf);
		FUZZ_CHECK(m->method_len > 0 && m->target_len > 0);
		FUZZ_CHECK(fuzz_inside(buf, h, m->target, m->target_len));
		FUZZ_CHECK(m->status == 0 && m->reason == NULL);
		FUZZ_CHECK(m->framing != HTTP1_BODY_EOF);
		FUZZ_CHECK(m->host == http1_find(m, "host"));
		FUZZ_CHECK(m->host != NULL || m->version_minor == 0);
	} else {
		FUZZ_CHECK(m->method == NULL && m->target == NULL);
		FUZZ_CHECK(m->status >= 100 && m->status <= 599);
		FUZZ_CHECK(fuzz_inside(buf, h, m->reason, m->reason_len));
	}
	if (m->flags & HTTP1_F_UPGRADE)
		FUZZ_CHECK(http1_find(m, "upgrade") != NULL);
}

/* The same message, rebuilt from its parts, gives the same result. */
static void
fuzz_check_rebuilt(const struct http1_msg *m, int is_request)
{
	struct http1_msg *m2 = &fuzz_msg2;
	size_t n = 0, i;
	ssize_t r;

#define FUZZ_PUT(p, l)                                                         \
	do {                                                                   \
		FUZZ_CHECK(n + (l) <= sizeof(fuzz_rebuilt));                   \
		memcpy(fuzz_rebuilt + n, (p), (l));                            \
		n += (l);                                                      \
	} while (0)

	if (is_request) {
		FUZZ_PUT(m->method, m->method_len);
		FUZZ_PUT(" ", 1);
		FUZZ_PUT(m->target, m->target_len);
		FUZZ_PUT(
		    m->version_minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
	} else {
		char status[6];

		snprintf(status, sizeof(status), " %03d ", m->status);
		FUZZ_PUT(m->version_minor ? "HTTP/1.1" : "HTTP/1.0", 8);
		FUZZ_PUT(status, 5);
		FUZZ_PUT(m->reason, m->reason_len);
		FUZZ_PUT("\r\n", 2);
	}
	for (i = 0; i < m->nheaders; i++) {
		FUZZ_PUT(m->headers[i].name, m->headers[i].name_len);
		FUZZ_PUT(": ", 2);
		FUZZ_PUT(m->headers[i].value, m->headers[i].value_len);
		FUZZ_PUT("\r\n", 2);
	}
	FUZZ_PUT("\r\n", 2);
#undef FUZZ_PUT

	if (is_request)
		r = fuzz_request(fuzz_rebuilt, n, sizeof(fuzz_rebuilt), m2);
	else
		r = fuzz_response(
		    fuzz_rebuilt, n, sizeof(fuzz_rebuilt), "GET", m2);
	FUZZ_CHECK(r == (ssize_t)n);
	FUZZ_CHECK(m2->method_len == m->method_len &&
	    (m->method_len == 0 ||
		memcmp(m2->method, m->method, m->method_len) == 0));
	FUZZ_CHECK(m2->target_len == m->target_len &&
	    (m->target_len == 0 ||
		memcmp(m2->target, m->target, m->target_len) == 0));
	FUZZ_CHECK(m2->status == m->status);
	FUZZ_CHECK(m2->reason_len == m->reason_len);
	FUZZ_CHECK(m2->version_minor == m->version_minor);
	FUZZ_CHECK(m2->nheaders == m->nheaders);
	for (i = 0; i < m->nheaders; i++) {
		const struct http1_header *a = &m->headers[i];
		const struct http1_header *b = &m2->headers[i];

		FUZZ_CHECK(a->name_len == b->name_len &&
		    memcmp(a->name, b->name, a->name_len) == 0);
		FUZZ_CHECK(a->value_len == b->value_len &&
		    memcmp(a->value, b->value, a->value_len) == 0);
	}
	FUZZ_CHECK(m2->framing == m->framing);
	FUZZ_CHECK(m2->content_length == m->content_length);
	FUZZ_CHECK(m2->flags == m->flags);
	FUZZ_CHECK((m2->host == NULL) == (m->host == NULL));
}

/*
 * A head is decided by its bytes alone: a shorter prefix of a complete
 * head is incomplete, a prefix that is complete or wrong stays so, and a
 * smaller max_head only adds HTTP1_E_TOO_LARGE.
 */
static void
fuzz_check_prefixes(
    const char *buf, size_t len, ssize_t r, int is_request, const char *method)
{
	struct http1_msg *m2 = &fuzz_msg2;
	size_t k, step;
	ssize_t rk;

#define FUZZ_PARSE(l, max)                                                     \
	(is_request ? fuzz_request(buf, (l), (max), m2)                        \
		    : fuzz_response(buf, (l), (max), method, m2))

	if (len > 0) {
		rk = FUZZ_PARSE(len - 1, FUZZ_MAX_HEAD);
		if (rk > 0)
			FUZZ_CHECK(r == rk);
		if (rk == -1)
			FUZZ_CHECK(r == -1);
	}
	if (r > 0) {
		step = (size_t)r <= FUZZ_ALL_PREFIXES ? 1 : (size_t)r / 64;
		for (k = 0; k < (size_t)r; k += step)
			FUZZ_CHECK(FUZZ_PARSE(k, FUZZ_MAX_HEAD) == 0);
		FUZZ_CHECK(FUZZ_PARSE((size_t)r - 1, FUZZ_MAX_HEAD) == 0);
		FUZZ_CHECK(FUZZ_PARSE((size_t)r, FUZZ_MAX_HEAD) == r);
	}

	rk = FUZZ_PARSE(len, FUZZ_SMALL_HEAD);
	if (r > 0 && r <= FUZZ_SMALL_HEAD)
		FUZZ_CHECK(rk == r);
	else if (r > 0)
		FUZZ_CHECK(rk == -1 && m2->error == HTTP1_E_TOO_LARGE);
	else if (r == -1)
		FUZZ_CHECK(rk == -1);
	else if (len >= FUZZ_SMALL_HEAD)
		FUZZ_CHECK(rk == -1 && m2->error == HTTP1_E_TOO_LARGE);
	else
		FUZZ_CHECK(rk == 0);
#undef FUZZ_PARSE
}

/*
 * Scans a chunked body at once, byte by byte, and split at a point
 * chosen from the data: all three must agree.
 */
static void
fuzz_chunked(const char *buf, size_t len)
{
	struct http1_chunked c;
	ssize_t whole, r;
	size_t used, i, cut;
	int done, wdone, failed;

	http1_chunked_init(&c);
	whole = http1_chunked_scan(&c, buf, len, &wdone);
	FUZZ_CHECK(whole >= -1 && (whole == -1 || (size_t)whole <= len));
	if (whole >= 0 && !wdone)
		FUZZ_CHECK((size_t)whole == len);
	if (wdone) {
		r = http1_chunked_scan(&c, buf, len, &done);
		FUZZ_CHECK(r == 0 && done);
	}

	http1_chunked_init(&c);
	used = 0;
	failed = done = 0;
	for (i = 0; i < len && !done && !failed; i++) {
		r = http1_chunked_scan(&c, buf + i, 1, &done);
		FUZZ_CHECK(r >= -1 && r <= 1);
		if (r == -1)
			failed = 1;
		else
			used += (size_t)r;
		FUZZ_CHECK(failed || r == 1);
	}
	FUZZ_CHECK(failed == (whole == -1));
	if (!failed)
		FUZZ_CHECK(used == (size_t)whole && done == wdone);

	if (len < 2)
		return;
	cut = (unsigned char)buf[0] % len;
	http1_chunked_init(&c);
	r = http1_chunked_scan(&c, buf, cut, &done);
	if (r == -1) {
		FUZZ_CHECK(whole == -1);
		return;
	}
	if (done) {
		FUZZ_CHECK(wdone && r == whole);
		return;
	}
	FUZZ_CHECK((size_t)r == cut);
	r = http1_chunked_scan(&c, buf + cut, len - cut, &done);
	FUZZ_CHECK((r == -1) == (whole == -1));
	if (r >= 0)
		FUZZ_CHECK(cut + (size_t)r == (size_t)whole && done == wdone);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct http1_msg *m = &fuzz_msg;
	const char *method;
	enum http1_framing framing;
	ssize_t r;
	size_t i;
	int status;

	r = fuzz_request(buf, size, FUZZ_MAX_HEAD, m);
	if (r == 0)
		FUZZ_CHECK(size < FUZZ_MAX_HEAD);
	if (r > 0) {
		fuzz_check_head(buf, size, r, m, 1);
		fuzz_check_rebuilt(m, 1);
		if (m->framing == HTTP1_BODY_CHUNKED)
			fuzz_chunked(buf + r, size - (size_t)r);
	}
	fuzz_check_prefixes(buf, size, r, 1, NULL);

	r = fuzz_response(buf, size, FUZZ_MAX_HEAD, "GET", m);
	if (r > 0) {
		fuzz_check_head(buf, size, r, m, 0);
		fuzz_check_rebuilt(m, 0);
		if (m->framing == HTTP1_BODY_CHUNKED)
			fuzz_chunked(buf + r, size - (size_t)r);
	}
	fuzz_check_prefixes(buf, size, r, 0, "GET");

	/* The request method only changes the framing. */
	framing = m->framing;
	status = m->status;
	for (i = 0; r > 0 && i < sizeof(fuzz_methods) / sizeof(*fuzz_methods);
	     i++) {
		method = fuzz_methods[i];
		FUZZ_CHECK(
		    fuzz_response(buf, size, FUZZ_MAX_HEAD, method, m) == r);
		if (strcmp(method, "HEAD") == 0 ||
		    (strcmp(method, "CONNECT") == 0 && status / 100 == 2))
			FUZZ_CHECK(m->framing == HTTP1_BODY_NONE);
		else
			FUZZ_CHECK(m->framing == framing);
	}

	fuzz_chunked(buf, size);
	return 0;
}
