/*
 * Trace context headers: W3C traceparent (https://www.w3.org/TR/trace-context/),
 * B3 single and multi (https://github.com/openzipkin/b3-propagation),
 * x-request-id, sampling. See trace_ctx.h.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "trace_ctx.h"

static const char trace_digits[] = "0123456789abcdef";

/* Lower case hex only: W3C refuses upper case, B3 specifies lower-hex. */
static int
trace_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Reads n (at most 16) hex digits; -1 on a bad digit. */
static int
trace_hex_read(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;
	int d;

	for (i = 0; i < n; i++) {
		if ((d = trace_hexval(p[i])) == -1)
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

/* A trace id of 16 or 32 hex digits, not all zero. */
static int
trace_id_read(const char *p, size_t n, uint64_t *hi, uint64_t *lo)
{
	uint64_t h = 0, l;

	if (n == 32) {
		if (trace_hex_read(p, 16, &h) == -1 ||
		    trace_hex_read(p + 16, 16, &l) == -1)
			return -1;
	} else if (n == 16) {
		if (trace_hex_read(p, 16, &l) == -1)
			return -1;
	} else
		return -1;
	if (h == 0 && l == 0)
		return -1;
	*hi = h;
	*lo = l;
	return 0;
}

/* A span id: 16 hex digits, not all zero. */
static int
trace_span_read(const char *p, size_t n, uint64_t *id)
{
	if (n != 16 || trace_hex_read(p, 16, id) == -1 || *id == 0)
		return -1;
	return 0;
}

int
trace_parse_traceparent(const char *v, size_t len, struct trace_ctx *ctx)
{
	uint64_t version, hi, lo, span, flags;

	/* 00-{32}-{16}-{2}: 55 characters. */
	if (v == NULL || len < 55)
		return -1;
	if (trace_hex_read(v, 2, &version) == -1 || version == 0xff)
		return -1;
	if (version == 0 && len != 55)
		return -1;
	if (len > 55 && v[55] != '-')
		return -1;
	if (v[2] != '-' || v[35] != '-' || v[52] != '-')
		return -1;
	if (trace_hex_read(v + 3, 16, &hi) == -1 ||
	    trace_hex_read(v + 19, 16, &lo) == -1 || (hi == 0 && lo == 0))
		return -1;
	if (trace_span_read(v + 36, 16, &span) == -1)
		return -1;
	if (trace_hex_read(v + 53, 2, &flags) == -1)
		return -1;
	memset(ctx, 0, sizeof(*ctx));
	ctx->trace_hi = hi;
	ctx->trace_lo = lo;
	ctx->span_id = span;
	ctx->sampled = (flags & 1) ? TRACE_SAMPLED_YES : TRACE_SAMPLED_NO;
	ctx->valid = 1;
	return 0;
}

static int
trace_b3_state(const char *p, size_t n, int *sampled, int *debug)
{
	if (n != 1)
		return -1;
	switch (p[0]) {
	case '0':
		*sampled = TRACE_SAMPLED_NO;
		*debug = 0;
		return 0;
	case '1':
		*sampled = TRACE_SAMPLED_YES;
		*debug = 0;
		return 0;
	case 'd':
		*sampled = TRACE_SAMPLED_YES;
		*debug = 1;
		return 0;
	}
	return -1;
}

int
trace_parse_b3(const char *v, size_t len, struct trace_ctx *ctx)
{
	struct trace_ctx c;
	const char *f[5];
	size_t flen[5], nf = 0, i, start = 0;

	if (v == NULL || len == 0)
		return -1;
	memset(&c, 0, sizeof(c));
	c.sampled = TRACE_SAMPLED_UNSET;
	for (i = 0; i <= len; i++) {
		if (i == len || v[i] == '-') {
			if (nf == 4)
				return -1;
			f[nf] = v + start;
			flen[nf++] = i - start;
			start = i + 1;
		}
	}
	if (nf == 1) {
		if (trace_b3_state(f[0], flen[0], &c.sampled, &c.debug) == -1)
			return -1;
		*ctx = c;
		return 0;
	}
	/* "{trace}-{span}-{parent}" without a state is not a B3 form. */
	if (nf == 3 && flen[2] != 1)
		return -1;
	if (trace_id_read(f[0], flen[0], &c.trace_hi, &c.trace_lo) == -1 ||
	    trace_span_read(f[1], flen[1], &c.span_id) == -1)
		return -1;
	if (nf >= 3 &&
	    trace_b3_state(f[2], flen[2], &c.sampled, &c.debug) == -1)
		return -1;
	if (nf == 4 && trace_span_read(f[3], flen[3], &c.parent_id) == -1)
		return -1;
	c.valid = 1;
	*ctx = c;
	return 0;
}

static int
trace_token_is(const char *v, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(v, word, len) == 0;
}

int
trace_parse_b3_multi(const struct trace_in *in, struct trace_ctx *ctx)
{
	struct trace_ctx c;
	int found = 0;

	memset(&c, 0, sizeof(c));
	c.sampled = TRACE_SAMPLED_UNSET;
	if (in->x_traceid != NULL && in->x_spanid != NULL &&
	    trace_id_read(in->x_traceid, in->x_traceid_len, &c.trace_hi,
		&c.trace_lo) == 0 &&
	    trace_span_read(in->x_spanid, in->x_spanid_len, &c.span_id) == 0) {
		c.valid = 1;
		found = 1;
	}
	if (in->x_sampled != NULL) {
		if (trace_token_is(in->x_sampled, in->x_sampled_len, "1") ||
		    trace_token_is(in->x_sampled, in->x_sampled_len, "true")) {
			c.sampled = TRACE_SAMPLED_YES;
			found = 1;
		} else if (trace_token_is(
			       in->x_sampled, in->x_sampled_len, "0") ||
		    trace_token_is(in->x_sampled, in->x_sampled_len, "false")) {
			c.sampled = TRACE_SAMPLED_NO;
			found = 1;
		}
	}
	if (in->x_flags != NULL &&
	    trace_token_is(in->x_flags, in->x_flags_len, "1")) {
		/* Debug implies an accept decision. */
		c.debug = 1;
		c.sampled = TRACE_SAMPLED_YES;
		found = 1;
	}
	if (!found)
		return -1;
	if (!c.valid) {
		c.trace_hi = c.trace_lo = c.span_id = 0;
	}
	*ctx = c;
	return 0;
}

int
trace_extract(const struct trace_in *in, struct trace_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->sampled = TRACE_SAMPLED_UNSET;
	if (trace_parse_traceparent(
		in->traceparent, in->traceparent_len, ctx) == 0)
		return 1;
	if (trace_parse_b3(in->b3, in->b3_len, ctx) == 0)
		return ctx->valid;
	if (trace_parse_b3_multi(in, ctx) == 0)
		return ctx->valid;
	return 0;
}

int
trace_sample(uint64_t rnd, uint32_t ppm)
{
	if (ppm >= TRACE_PPM_ALL)
		return 1;
	return rnd % TRACE_PPM_ALL < ppm;
}

void
trace_child(const struct trace_ctx *parent, uint64_t r1, uint64_t r2,
    uint64_t r3, uint64_t rnd, uint32_t ppm, struct trace_ctx *child)
{
	memset(child, 0, sizeof(*child));
	if (parent->valid) {
		child->trace_hi = parent->trace_hi;
		child->trace_lo = parent->trace_lo;
		child->parent_id = parent->span_id;
	} else {
		child->trace_hi = r1;
		child->trace_lo = r2 != 0 ? r2 : 1;
	}
	child->span_id = r3 != 0 ? r3 : 1;
	child->debug = parent->debug;
	if (parent->sampled != TRACE_SAMPLED_UNSET)
		child->sampled = parent->sampled;
	else
		child->sampled = trace_sample(rnd, ppm) ? TRACE_SAMPLED_YES
							: TRACE_SAMPLED_NO;
	child->valid = 1;
}

int
trace_parse_percent(const char *s, uint32_t *ppm)
{
	uint64_t whole = 0, frac = 0;
	const char *p = s;
	int nwhole = 0, nfrac = 0;

	if (s == NULL)
		return -1;
	for (; *p >= '0' && *p <= '9'; p++, nwhole++) {
		if (nwhole >= 3)
			return -1;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, nfrac++) {
			if (nfrac >= 4)
				return -1;
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
		if (nfrac == 0)
			return -1;
	}
	if (*p != '\0' || nwhole == 0)
		return -1;
	while (nfrac++ < 4)
		frac *= 10;
	/* 1 percent is 10,000 ppm; 0.0001 percent is 1 ppm. */
	whole = whole * 10000 + frac;
	if (whole > TRACE_PPM_ALL)
		return -1;
	*ppm = (uint32_t)whole;
	return 0;
}

void
trace_hex64(uint64_t id, char buf[17])
{
	int i;

	for (i = 15; i >= 0; i--) {
		buf[i] = trace_digits[id & 0xf];
		id >>= 4;
	}
	buf[16] = '\0';
}

void
trace_id_hex(const struct trace_ctx *ctx, char buf[33])
{
	trace_hex64(ctx->trace_hi, buf);
	trace_hex64(ctx->trace_lo, buf + 16);
}

void
trace_uuid4(uint64_t r1, uint64_t r2, char buf[37])
{
	unsigned char b[16];
	int i, o = 0;

	for (i = 0; i < 8; i++) {
		b[i] = (unsigned char)(r1 >> (56 - 8 * i));
		b[8 + i] = (unsigned char)(r2 >> (56 - 8 * i));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[o++] = '-';
		buf[o++] = trace_digits[b[i] >> 4];
		buf[o++] = trace_digits[b[i] & 0xf];
	}
	buf[o] = '\0';
}

size_t
trace_write_headers(const struct trace_ctx *ctx, int with_b3,
    const char *request_id, char *buf, size_t size)
{
	char tid[33], sid[17], pid[17];
	int n, k;
	const char *s = ctx->sampled == TRACE_SAMPLED_YES ? "1" : "0";

	trace_id_hex(ctx, tid);
	trace_hex64(ctx->span_id, sid);
	trace_hex64(ctx->parent_id, pid);
	n = snprintf(buf, size,
	    "traceparent: 00-%s-%s-0%s\r\n"
	    "x-b3-traceid: %s\r\nx-b3-spanid: %s\r\nx-b3-sampled: %s\r\n",
	    tid, sid, s, tid, sid, s);
	if (n < 0 || (size_t)n >= size)
		goto small;
	if (ctx->parent_id != 0) {
		k = snprintf(buf + n, size - (size_t)n,
		    "x-b3-parentspanid: %s\r\n", pid);
		if (k < 0 || (size_t)k >= size - (size_t)n)
			goto small;
		n += k;
	}
	if (ctx->debug) {
		k = snprintf(buf + n, size - (size_t)n, "x-b3-flags: 1\r\n");
		if (k < 0 || (size_t)k >= size - (size_t)n)
			goto small;
		n += k;
	}
	if (with_b3) {
		k = snprintf(buf + n, size - (size_t)n, "b3: %s-%s-%s%s%s\r\n",
		    tid, sid, ctx->debug ? "d" : s,
		    ctx->parent_id != 0 ? "-" : "",
		    ctx->parent_id != 0 ? pid : "");
		if (k < 0 || (size_t)k >= size - (size_t)n)
			goto small;
		n += k;
	}
	if (request_id != NULL) {
		k = snprintf(buf + n, size - (size_t)n, "x-request-id: %s\r\n",
		    request_id);
		if (k < 0 || (size_t)k >= size - (size_t)n)
			goto small;
		n += k;
	}
	return (size_t)n;
small:
	if (size > 0)
		buf[0] = '\0';
	return 0;
}

int
trace_header_replaced(const char *name, size_t len)
{
	static const char *const names[] = {"traceparent", "b3", "x-b3-traceid",
	    "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == len &&
		    strncasecmp(name, names[i], len) == 0)
			return 1;
	}
	return 0;
}
