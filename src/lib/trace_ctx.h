/*
 * Trace context propagation: the W3C Trace Context traceparent header,
 * Zipkin's B3 headers (single "b3" and multi "x-b3-*"), x-request-id
 * UUIDs and the sampling decision. Pure functions over strings and
 * numbers: no I/O, no allocation, no randomness of their own (callers
 * pass random numbers in), so that every rule is unit tested.
 */
#ifndef WEFT_TRACE_CTX_H
#define WEFT_TRACE_CTX_H

#include <stddef.h>
#include <stdint.h>

/* Sampling decisions carried by headers. */
enum trace_sampled {
	TRACE_SAMPLED_UNSET = -1, /* no decision: the receiver decides */
	TRACE_SAMPLED_NO = 0,
	TRACE_SAMPLED_YES = 1,
};

/* The largest sampling rate: parts per million of requests. */
#define TRACE_PPM_ALL 1000000u

/* Room for the header lines trace_write_headers() writes. */
#define TRACE_HEADERS_MAX 512

/*
 * A trace context: either read from a request (the caller's span) or
 * made for a new hop (this proxy's span).
 */
struct trace_ctx {
	uint64_t trace_hi; /* 128-bit trace id; hi is 0 for a 64-bit one */
	uint64_t trace_lo;
	uint64_t span_id;   /* this span (or the caller's, when parsed) */
	uint64_t parent_id; /* 0: a root span */
	int sampled;        /* enum trace_sampled */
	int debug;          /* B3 debug (x-b3-flags: 1, b3 "d") */
	int valid;          /* trace and span ids are set */
};

/* The header values of a request, as pointers into its head (or NULL). */
struct trace_in {
	const char *traceparent;
	size_t traceparent_len;
	const char *b3;
	size_t b3_len;
	const char *x_traceid;
	size_t x_traceid_len;
	const char *x_spanid;
	size_t x_spanid_len;
	const char *x_sampled;
	size_t x_sampled_len;
	const char *x_flags;
	size_t x_flags_len;
};

/*
 * Parses a W3C traceparent value (version-traceid-parentid-flags, lower
 * case hex). Version ff, upper case, all-zero ids and a version 00 value
 * with trailing data are refused; a later version is read by its first
 * four fields, as the specification asks. Returns 0 with ctx filled
 * (span_id = the caller's span), or -1 leaving ctx untouched.
 */
int trace_parse_traceparent(const char *v, size_t len, struct trace_ctx *ctx);

/*
 * Parses a B3 single header: "{trace}-{span}", "{trace}-{span}-{s}",
 * "{trace}-{span}-{s}-{parent}" (s one of 0, 1, d; trace 16 or 32 lower
 * case hex) or a sampling decision alone ("0", "1", "d"). Returns 0 with
 * ctx filled (valid is 0 for a decision alone), or -1 leaving ctx
 * untouched.
 */
int trace_parse_b3(const char *v, size_t len, struct trace_ctx *ctx);

/*
 * Reads the x-b3-* headers of in into ctx: the ids when x-b3-traceid
 * and x-b3-spanid are both well formed, the decision of x-b3-sampled
 * ("1", "0", "true", "false") and x-b3-flags ("1": debug, sampled).
 * Returns 0 when something usable was found, or -1 (ctx untouched).
 */
int trace_parse_b3_multi(const struct trace_in *in, struct trace_ctx *ctx);

/*
 * The caller's context from the headers of a request: traceparent when
 * valid, else the b3 header, else x-b3-*; malformed headers are ignored.
 * ctx->valid is 0 when no trace is to be continued; ctx->sampled may
 * still carry a decision. Returns ctx->valid.
 */
int trace_extract(const struct trace_in *in, struct trace_ctx *ctx);

/*
 * The context of a new span below parent (whose valid may be 0: a new
 * trace then starts with trace id r1:r2). r3 is the new span id (a zero
 * is replaced). The decision is the parent's when it carries one, else
 * sampled when rnd falls under ppm parts per million.
 */
void trace_child(const struct trace_ctx *parent, uint64_t r1, uint64_t r2,
    uint64_t r3, uint64_t rnd, uint32_t ppm, struct trace_ctx *child);

/* 1 when rnd falls under ppm parts per million (TRACE_PPM_ALL: always). */
int trace_sample(uint64_t rnd, uint32_t ppm);

/*
 * Parses a sampling percentage ("1", "0.5", "100", "0.0001") into parts
 * per million. Returns 0, or -1 for anything else (negative, above 100,
 * more precise than 0.0001, junk).
 */
int trace_parse_percent(const char *s, uint32_t *ppm);

/* Writes the 32 hex digits of the trace id of ctx and a NUL to buf. */
void trace_id_hex(const struct trace_ctx *ctx, char buf[33]);

/* Writes the 16 hex digits of id and a NUL to buf. */
void trace_hex64(uint64_t id, char buf[17]);

/* Writes a version 4 UUID made of r1 and r2 (36 characters and a NUL). */
void trace_uuid4(uint64_t r1, uint64_t r2, char buf[37]);

/*
 * Writes the propagation header lines of ctx ("name: value\r\n" each):
 * traceparent, x-b3-traceid, x-b3-spanid, x-b3-parentspanid (when
 * there is a parent), x-b3-sampled, x-b3-flags (debug), b3 when with_b3,
 * and x-request-id when request_id is not NULL. Returns the length
 * written (buf is NUL-terminated), or 0 when size is too small.
 */
size_t trace_write_headers(const struct trace_ctx *ctx, int with_b3,
    const char *request_id, char *buf, size_t size);

/*
 * True when a request header of that name is one trace_write_headers()
 * replaces (traceparent, b3, x-b3-*); x-request-id and tracestate are
 * not: they travel as received.
 */
int trace_header_replaced(const char *name, size_t len);

#endif
