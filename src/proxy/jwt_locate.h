/*
 * Where a request carries a JWT, and whose it claims to be: shared by
 * the proxy's inbound side and weftctl explain, so that both pick the
 * same token and the same jwtRule for it.
 */
#ifndef WEFT_JWT_LOCATE_H
#define WEFT_JWT_LOCATE_H

#include <stddef.h>

#include <jansson.h>

#include "http1.h"

struct snap_jwt_rule;

/*
 * The token rule r finds in the request (its fromHeaders with their
 * prefixes, then its fromParams): 1 with *tok, *len (pointing into m)
 * and *hdr (the header field it came in, or NULL for a query
 * parameter), else 0.
 */
int jwt_locate(const struct http1_msg *m, const struct snap_jwt_rule *r,
    const char **tok, size_t *len, const struct http1_header **hdr);

/*
 * The payload of a token, decoded but NOT verified (at most 4 KiB): to
 * pick the rule of its issuer. NULL when it cannot be read or has no
 * string iss. The caller decrefs.
 */
json_t *jwt_unverified_payload(const char *tok, size_t len);

#endif
