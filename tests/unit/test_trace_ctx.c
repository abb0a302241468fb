/*
 * Unit tests for trace context propagation (src/lib/trace_ctx.c):
 * traceparent per W3C Trace Context, B3 single and multi headers, the
 * precedence between them, new spans and sampling, UUIDs, the header
 * lines written for the upstream.
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

#include "trace_ctx.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

#define TP_OK "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static int
tp(const char *v, struct trace_ctx *c)
{
	return trace_parse_traceparent(v, strlen(v), c);
}

static void
test_traceparent_valid(void **state)
{
	struct trace_ctx c;

	(void)state;
	assert_int_equal(tp(TP_OK, &c), 0);
	assert_true(c.valid);
	assert_true(c.trace_hi == 0x0af7651916cd43ddULL);
	assert_true(c.trace_lo == 0x8448eb211c80319cULL);
	assert_true(c.span_id == 0xb7ad6b7169203331ULL);
	assert_int_equal(c.sampled, TRACE_SAMPLED_YES);
	assert_int_equal(
	    tp("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", &c),
	    0);
	assert_int_equal(c.sampled, TRACE_SAMPLED_NO);
	/* Other flag bits are ignored; bit 0 is sampled. */
	assert_int_equal(
	    tp("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03", &c),
	    0);
	assert_int_equal(c.sampled, TRACE_SAMPLED_YES);
	assert_int_equal(
	    tp("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02", &c),
	    0);
	assert_int_equal(c.sampled, TRACE_SAMPLED_NO);
}

static void
test_traceparent_future_version(void **state)
{
	struct trace_ctx c;

	(void)state;
	/* A later version is read by its first fields, extra data or not. */
	assert_int_equal(
	    tp("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &c),
	    0);
	assert_true(c.span_id == 0xb7ad6b7169203331ULL);
	assert_int_equal(
	    tp("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-"
	       "the-future-will-be",
		&c),
	    0);
	assert_int_equal(c.sampled, TRACE_SAMPLED_YES);
	/* ... but the fifth field must be dash-separated. */
	assert_int_equal(
	    tp("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x", &c),
	    -1);
}

static void
test_traceparent_invalid(void **state)
{
	static const char *bad[] = {
	    "",
	    "00",
	    /* version ff is invalid */
	    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	    /* upper case hex */
	    "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",
	    "0A-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0A",
	    /* all-zero trace id, all-zero parent id */
	    "00-00000000000000000000000000000000-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
	    /* version 00 with trailing data */
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
	    /* short fields, wrong separators, junk */
	    "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
	    "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331_01",
	    "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
	    " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 ",
	    "zz-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	};
	struct trace_ctx c;
	size_t i;

	(void)state;
	for (i = 0; i < NCASES(bad); i++) {
		memset(&c, 0x5a, sizeof(c));
		if (tp(bad[i], &c) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		/* Refused input leaves the context as it was. */
		assert_int_equal(c.valid, 0x5a5a5a5a);
	}
	assert_int_equal(trace_parse_traceparent(NULL, 0, &c), -1);
}

static int
b3(const char *v, struct trace_ctx *c)
{
	return trace_parse_b3(v, strlen(v), c);
}

static void
test_b3_single(void **state)
{
	struct trace_ctx c;

	(void)state;
	assert_int_equal(
	    b3("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1", &c), 0);
	assert_true(c.valid);
	assert_true(c.trace_hi == 0x80f198ee56343ba8ULL);
	assert_true(c.trace_lo == 0x64fe8b2a57d3eff7ULL);
	assert_true(c.span_id == 0xe457b5a2e4d86bd1ULL);
	assert_int_equal(c.sampled, TRACE_SAMPLED_UNSET);
	assert_int_equal(
	    b3("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1", &c), 0);
	assert_int_equal(c.sampled, TRACE_SAMPLED_YES);
	assert_int_equal(c.parent_id, 0);
	assert_int_equal(
	    b3("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0-"
	       "05e3ac9a4f6e3b90",
		&c),
	    0);
	assert_int_equal(c.sampled, TRACE_SAMPLED_NO);
	assert_true(c.parent_id == 0x05e3ac9a4f6e3b90ULL);
	assert_int_equal(
	    b3("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d", &c), 0);
	assert_int_equal(c.sampled, TRACE_SAMPLED_YES);
	assert_true(c.debug);
	/* A 64-bit trace id. */
	assert_int_equal(b3("64fe8b2a57d3eff7-e457b5a2e4d86bd1-1", &c), 0);
	assert_int_equal(c.trace_hi, 0);
	assert_true(c.trace_lo == 0x64fe8b2a57d3eff7ULL);
}

static void
test_b3_single_decision_only(void **state)
{
	struct trace_ctx c;

	(void)state;
	assert_int_equal(b3("0", &c), 0);
	assert_false(c.valid);
	assert_int_equal(c.sampled, TRACE_SAMPLED_NO);
	assert_int_equal(b3("1", &c), 0);
	assert_false(c.valid);
	assert_int_equal(c.sampled, TRACE_SAMPLED_YES);
	assert_int_equal(b3("d", &c), 0);
	assert_false(c.valid);
	assert_true(c.debug);
	assert_int_equal(c.sampled, TRACE_SAMPLED_YES);
}

static void
test_b3_single_invalid(void **state)
{
	static const char *bad[] = {
	    "",
	    "2",
	    "true",
	    "D",
	    "-",
	    "80f198ee56343ba864fe8b2a57d3eff7",
	    "80f198ee56343ba864fe8b2a57d3eff7-",
	    "80F198EE56343BA864FE8B2A57D3EFF7-e457b5a2e4d86bd1",
	    "80f198ee56343ba864fe8b2a57d3eff7-E457B5A2E4D86BD1",
	    "00000000000000000000000000000000-e457b5a2e4d86bd1",
	    "80f198ee56343ba864fe8b2a57d3eff7-0000000000000000",
	    "80f198ee56343ba864fe8b2a57d3eff-e457b5a2e4d86bd1",
	    "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd",
	    "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-2",
	    "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-",
	    /* trace-span-parent without a decision is not a B3 form */
	    "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-"
	    "05e3ac9a4f6e3b90",
	    "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-"
	    "0000000000000000",
	    "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-"
	    "05e3ac9a4f6e3b9",
	    "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-"
	    "05e3ac9a4f6e3b90-"
	    "x",
	    "123456789012345678901234-e457b5a2e4d86bd1",
	};
	struct trace_ctx c;
	size_t i;

	(void)state;
	for (i = 0; i < NCASES(bad); i++) {
		memset(&c, 0x5a, sizeof(c));
		if (b3(bad[i], &c) != -1)
			fail_msg("accepted b3 \"%s\"", bad[i]);
		assert_int_equal(c.valid, 0x5a5a5a5a);
	}
}

#define S(x) x, sizeof(x) - 1

static void
test_b3_multi(void **state)
{
	struct trace_in in;
	struct trace_ctx c;

	(void)state;
	memset(&in, 0, sizeof(in));
	assert_int_equal(trace_parse_b3_multi(&in, &c), -1);
	in.x_traceid = "463ac35c9f6413ad48485a3953bb6124";
	in.x_traceid_len = 32;
	in.x_spanid = "a2fb4a1d1a96d312";
	in.x_spanid_len = 16;
	assert_int_equal(trace_parse_b3_multi(&in, &c), 0);
	assert_true(c.valid);
	assert_int_equal(c.sampled, TRACE_SAMPLED_UNSET);
	assert_true(c.span_id == 0xa2fb4a1d1a96d312ULL);
	in.x_sampled = "1";
	in.x_sampled_len = 1;
	assert_int_equal(trace_parse_b3_multi(&in, &c), 0);
	assert_int_equal(c.sampled, TRACE_SAMPLED_YES);
	in.x_sampled = "false";
	in.x_sampled_len = 5;
	assert_int_equal(trace_parse_b3_multi(&in, &c), 0);
	assert_int_equal(c.sampled, TRACE_SAMPLED_NO);
	/* x-b3-flags: 1 forces sampling. */
	in.x_flags = "1";
	in.x_flags_len = 1;
	assert_int_equal(trace_parse_b3_multi(&in, &c), 0);
	assert_int_equal(c.sampled, TRACE_SAMPLED_YES);
	assert_true(c.debug);
	/* A bad span id: no context, but the decision stays. */
	in.x_spanid = "A2FB4A1D1A96D312";
	assert_int_equal(trace_parse_b3_multi(&in, &c), 0);
	assert_false(c.valid);
	assert_int_equal(c.sampled, TRACE_SAMPLED_YES);
	/* Nothing usable at all. */
	in.x_flags = NULL;
	in.x_sampled = "maybe";
	in.x_sampled_len = 5;
	memset(&c, 0x5a, sizeof(c));
	assert_int_equal(trace_parse_b3_multi(&in, &c), -1);
	assert_int_equal(c.valid, 0x5a5a5a5a);
}

static void
test_extract_precedence(void **state)
{
	struct trace_in in;
	struct trace_ctx c;

	(void)state;
	memset(&in, 0, sizeof(in));
	assert_int_equal(trace_extract(&in, &c), 0);
	assert_int_equal(c.sampled, TRACE_SAMPLED_UNSET);

	in.x_traceid = "463ac35c9f6413ad48485a3953bb6124";
	in.x_traceid_len = 32;
	in.x_spanid = "a2fb4a1d1a96d312";
	in.x_spanid_len = 16;
	assert_int_equal(trace_extract(&in, &c), 1);
	assert_true(c.trace_hi == 0x463ac35c9f6413adULL);

	in.b3 = "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0";
	in.b3_len = strlen(in.b3);
	assert_int_equal(trace_extract(&in, &c), 1);
	assert_true(c.trace_hi == 0x80f198ee56343ba8ULL);
	assert_int_equal(c.sampled, TRACE_SAMPLED_NO);

	in.traceparent = TP_OK;
	in.traceparent_len = strlen(TP_OK);
	assert_int_equal(trace_extract(&in, &c), 1);
	assert_true(c.trace_hi == 0x0af7651916cd43ddULL);

	/* A malformed traceparent is ignored: b3 is next. */
	in.traceparent = "00-garbage";
	in.traceparent_len = 10;
	assert_int_equal(trace_extract(&in, &c), 1);
	assert_true(c.trace_hi == 0x80f198ee56343ba8ULL);

	/* A malformed b3 too: x-b3-* then. */
	in.b3 = "nonsense";
	in.b3_len = 8;
	assert_int_equal(trace_extract(&in, &c), 1);
	assert_true(c.trace_hi == 0x463ac35c9f6413adULL);

	/* Everything malformed: a new trace. */
	in.x_spanid = "short";
	in.x_spanid_len = 5;
	assert_int_equal(trace_extract(&in, &c), 0);
	assert_false(c.valid);
}

static void
test_child(void **state)
{
	struct trace_ctx p, c;

	(void)state;
	/* A new trace: ids from the random numbers, local decision. */
	memset(&p, 0, sizeof(p));
	p.sampled = TRACE_SAMPLED_UNSET;
	trace_child(&p, 1, 2, 3, 0, 10000, &c);
	assert_true(c.valid);
	assert_int_equal(c.trace_hi, 1);
	assert_int_equal(c.trace_lo, 2);
	assert_int_equal(c.span_id, 3);
	assert_int_equal(c.parent_id, 0);
	assert_int_equal(c.sampled, TRACE_SAMPLED_YES); /* 0 < 10000 */
	trace_child(&p, 1, 2, 3, 10000, 10000, &c);
	assert_int_equal(c.sampled, TRACE_SAMPLED_NO);
	/* Zero ids never come out. */
	trace_child(&p, 0, 0, 0, 0, 0, &c);
	assert_true(c.trace_lo != 0);
	assert_true(c.span_id != 0);
	assert_int_equal(c.sampled, TRACE_SAMPLED_NO);

	/* A continued trace: same trace id, parent = the caller's span. */
	assert_int_equal(tp(TP_OK, &p), 0);
	trace_child(&p, 9, 9, 0x1234, 999999, 0, &c);
	assert_true(c.trace_hi == p.trace_hi && c.trace_lo == p.trace_lo);
	assert_true(c.parent_id == 0xb7ad6b7169203331ULL);
	assert_int_equal(c.span_id, 0x1234);
	/* The caller's decision wins over the rate (0 here). */
	assert_int_equal(c.sampled, TRACE_SAMPLED_YES);
	p.sampled = TRACE_SAMPLED_NO;
	trace_child(&p, 9, 9, 0x1234, 0, TRACE_PPM_ALL, &c);
	assert_int_equal(c.sampled, TRACE_SAMPLED_NO);
	/* A decision alone (b3: 1) starts a sampled trace. */
	assert_int_equal(b3("1", &p), 0);
	trace_child(&p, 5, 6, 7, 999999, 0, &c);
	assert_int_equal(c.sampled, TRACE_SAMPLED_YES);
	assert_int_equal(c.parent_id, 0);
	assert_int_equal(c.trace_lo, 6);
}

static void
test_sampling(void **state)
{
	uint64_t r;
	unsigned int n = 0;

	(void)state;
	assert_true(trace_sample(UINT64_MAX, TRACE_PPM_ALL));
	assert_false(trace_sample(0, 0));
	assert_false(trace_sample(UINT64_MAX, 0));
	for (r = 0; r < 1000000; r += 7)
		n += (unsigned int)trace_sample(r * 2654435761ULL, 10000);
	/* About 1 percent of 142,858 draws. */
	assert_true(n > 1200 && n < 1650);
}

static void
test_percent(void **state)
{
	static const struct {
		const char *in;
		uint32_t ppm;
	} ok[] = {
	    {"0", 0},
	    {"1", 10000},
	    {"100", 1000000},
	    {"0.5", 5000},
	    {"0.0001", 1},
	    {"12.25", 122500},
	    {"100.0", 1000000},
	    {"050", 500000},
	};
	static const char *bad[] = {"", "-1", "100.01", "101", "1000",
	    "0.00001", "1.", ".5", "abc", "1e2", "5%", " 1", "1 "};
	uint32_t ppm;
	size_t i;

	(void)state;
	for (i = 0; i < NCASES(ok); i++) {
		ppm = 4242;
		if (trace_parse_percent(ok[i].in, &ppm) != 0)
			fail_msg("refused \"%s\"", ok[i].in);
		assert_int_equal(ppm, ok[i].ppm);
	}
	for (i = 0; i < NCASES(bad); i++) {
		ppm = 4242;
		if (trace_parse_percent(bad[i], &ppm) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(ppm, 4242);
	}
	assert_int_equal(trace_parse_percent(NULL, &ppm), -1);
}

static void
test_uuid(void **state)
{
	char u[37];

	(void)state;
	trace_uuid4(0, 0, u);
	assert_string_equal(u, "00000000-0000-4000-8000-000000000000");
	trace_uuid4(UINT64_MAX, UINT64_MAX, u);
	assert_string_equal(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
	trace_uuid4(0x0123456789abcdefULL, 0xfedcba9876543210ULL, u);
	assert_string_equal(u, "01234567-89ab-4def-bedc-ba9876543210");
}

static void
test_write_headers(void **state)
{
	struct trace_ctx c;
	char buf[TRACE_HEADERS_MAX], small[40];
	size_t n;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.trace_hi = 0x0af7651916cd43ddULL;
	c.trace_lo = 0x8448eb211c80319cULL;
	c.span_id = 0x00f067aa0ba902b7ULL;
	c.sampled = TRACE_SAMPLED_YES;
	c.valid = 1;
	n = trace_write_headers(&c, 0, NULL, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf,
	    "traceparent: 00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-"
	    "01\r\n"
	    "x-b3-traceid: 0af7651916cd43dd8448eb211c80319c\r\n"
	    "x-b3-spanid: 00f067aa0ba902b7\r\n"
	    "x-b3-sampled: 1\r\n");
	c.parent_id = 0xb7ad6b7169203331ULL;
	c.sampled = TRACE_SAMPLED_NO;
	c.debug = 1;
	n = trace_write_headers(
	    &c, 1, "01234567-89ab-4def-bedc-ba9876543210", buf, sizeof(buf));
	assert_true(n > 0);
	assert_string_equal(buf,
	    "traceparent: 00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-"
	    "00\r\n"
	    "x-b3-traceid: 0af7651916cd43dd8448eb211c80319c\r\n"
	    "x-b3-spanid: 00f067aa0ba902b7\r\n"
	    "x-b3-sampled: 0\r\n"
	    "x-b3-parentspanid: b7ad6b7169203331\r\n"
	    "x-b3-flags: 1\r\n"
	    "b3: 0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-d-"
	    "b7ad6b7169203331\r\n"
	    "x-request-id: 01234567-89ab-4def-bedc-ba9876543210\r\n");
	/* A buffer too small gets nothing, not a cut header. */
	assert_int_equal(
	    trace_write_headers(&c, 0, NULL, small, sizeof(small)), 0);
	assert_string_equal(small, "");
}

static void
test_round_trip(void **state)
{
	struct trace_ctx c, back;
	char buf[TRACE_HEADERS_MAX], *v, *e;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.trace_hi = 42;
	c.trace_lo = 43;
	c.span_id = 44;
	c.sampled = TRACE_SAMPLED_YES;
	c.valid = 1;
	trace_write_headers(&c, 1, NULL, buf, sizeof(buf));
	v = strstr(buf, "traceparent: ") + 13;
	e = strstr(v, "\r\n");
	assert_int_equal(trace_parse_traceparent(v, (size_t)(e - v), &back), 0);
	assert_true(back.trace_hi == 42 && back.trace_lo == 43 &&
	    back.span_id == 44 && back.sampled == TRACE_SAMPLED_YES);
	v = strstr(buf, "b3: ") + 4;
	e = strstr(v, "\r\n");
	assert_int_equal(trace_parse_b3(v, (size_t)(e - v), &back), 0);
	assert_true(back.trace_lo == 43 && back.span_id == 44);
}

static void
test_header_replaced(void **state)
{
	(void)state;
	assert_true(trace_header_replaced(S("traceparent")));
	assert_true(trace_header_replaced(S("TraceParent")));
	assert_true(trace_header_replaced(S("b3")));
	assert_true(trace_header_replaced(S("X-B3-TraceId")));
	assert_true(trace_header_replaced(S("x-b3-spanid")));
	assert_true(trace_header_replaced(S("x-b3-parentspanid")));
	assert_true(trace_header_replaced(S("x-b3-sampled")));
	assert_true(trace_header_replaced(S("x-b3-flags")));
	assert_false(trace_header_replaced(S("tracestate")));
	assert_false(trace_header_replaced(S("x-request-id")));
	assert_false(trace_header_replaced(S("b")));
	assert_false(trace_header_replaced(S("b3x")));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_traceparent_valid),
	    cmocka_unit_test(test_traceparent_future_version),
	    cmocka_unit_test(test_traceparent_invalid),
	    cmocka_unit_test(test_b3_single),
	    cmocka_unit_test(test_b3_single_decision_only),
	    cmocka_unit_test(test_b3_single_invalid),
	    cmocka_unit_test(test_b3_multi),
	    cmocka_unit_test(test_extract_precedence),
	    cmocka_unit_test(test_child),
	    cmocka_unit_test(test_sampling),
	    cmocka_unit_test(test_percent),
	    cmocka_unit_test(test_uuid),
	    cmocka_unit_test(test_write_headers),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_header_replaced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
