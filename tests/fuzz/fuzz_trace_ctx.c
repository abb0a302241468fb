/*
 * libFuzzer harness for the trace context parsers (src/lib/trace_ctx.c):
 * any header value is parsed without reading past it, and a context
 * that parses comes back the same from the headers written for it.
 * The input is one value, or with NUL separators the x-b3-traceid,
 * x-b3-spanid, x-b3-sampled and x-b3-flags values.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace_ctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The value of name in the header lines of buf. */
static const char *
header(const char *buf, const char *name, size_t *len)
{
	const char *p = strstr(buf, name), *e;

	if (p == NULL)
		abort();
	p += strlen(name);
	e = strstr(p, "\r\n");
	*len = (size_t)(e - p);
	return p;
}

static void
round_trip(const struct trace_ctx *c)
{
	char buf[TRACE_HEADERS_MAX];
	struct trace_ctx back;
	const char *v;
	size_t len;

	if (trace_write_headers(c, 1, NULL, buf, sizeof(buf)) == 0)
		abort();
	v = header(buf, "traceparent: ", &len);
	if (trace_parse_traceparent(v, len, &back) != 0 ||
	    back.trace_hi != c->trace_hi || back.trace_lo != c->trace_lo ||
	    back.span_id != c->span_id)
		abort();
	v = header(buf, "\nb3: ", &len);
	if (trace_parse_b3(v, len, &back) != 0 || back.span_id != c->span_id ||
	    back.parent_id != c->parent_id)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct trace_ctx c, child;
	struct trace_in in;
	const char *f[4];
	size_t flen[4], nf = 0, start = 0, i;

	if (trace_parse_traceparent(s, size, &c) == 0) {
		if (!c.valid || c.span_id == 0 ||
		    (c.trace_hi == 0 && c.trace_lo == 0))
			abort();
		trace_child(&c, 1, 2, 3, 4, 5000, &child);
		round_trip(&child);
	}
	if (trace_parse_b3(s, size, &c) == 0 && c.valid) {
		trace_child(&c, 1, 2, 3, 4, 5000, &child);
		round_trip(&child);
	}
	memset(&in, 0, sizeof(in));
	for (i = 0; i <= size && nf < 4; i++) {
		if (i == size || data[i] == 0) {
			f[nf] = s + start;
			flen[nf++] = i - start;
			start = i + 1;
		}
	}
	in.x_traceid = nf > 0 ? f[0] : NULL;
	in.x_traceid_len = nf > 0 ? flen[0] : 0;
	in.x_spanid = nf > 1 ? f[1] : NULL;
	in.x_spanid_len = nf > 1 ? flen[1] : 0;
	in.x_sampled = nf > 2 ? f[2] : NULL;
	in.x_sampled_len = nf > 2 ? flen[2] : 0;
	in.x_flags = nf > 3 ? f[3] : NULL;
	in.x_flags_len = nf > 3 ? flen[3] : 0;
	in.traceparent = s;
	in.traceparent_len = size;
	in.b3 = s;
	in.b3_len = size;
	if (trace_extract(&in, &c)) {
		trace_child(&c, 1, 2, 3, 4, 5000, &child);
		round_trip(&child);
	}
	return 0;
}
