/*
 * The request as routing and policy see it, whatever framing carried it:
 * HTTP/1.1 fills it from its parsed head, HTTP/2 (later) from a stream's
 * pseudo-headers and fields. Everything points into memory the caller
 * keeps valid for the duration of the call it is passed to.
 */
#ifndef WEFT_HTTP_REQ_H
#define WEFT_HTTP_REQ_H

#include <stddef.h>

#include "http1.h"

struct http_req_view {
	const char *method;
	size_t method_len;
	const char *path; /* request target: path and query */
	size_t path_len;
	const char *authority; /* Host or :authority, with any port */
	size_t authority_len;
	int port; /* the destination port the request was sent to */
	const struct http1_header *fields;
	size_t nfields;
};

#endif
