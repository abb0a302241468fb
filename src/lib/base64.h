/*
 * Base64 (RFC 4648, with padding) for the binary parts of weft's API:
 * changesets and snapshots in the JSON of the change feed.
 */
#ifndef WEFT_BASE64_H
#define WEFT_BASE64_H

#include <stddef.h>

/* The encoding of len bytes (malloc'd, NUL-terminated), or NULL. */
char *base64_encode(const void *p, size_t len);

/* The bytes of a base64 text (malloc'd) and their count; NULL when the
 * text is not base64 or memory runs out. */
void *base64_decode(const char *in, size_t *len);

#endif
