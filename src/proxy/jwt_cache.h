/*
 * Tokens already verified, per worker: a JWT signature check costs a few
 * hundred microseconds (libjwt re-reads the key each time), and clients
 * send the same token with every request. A direct-mapped table: an
 * entry is good for one rule of one policy version, until the token's
 * exp or a minute, whichever comes first; only valid tokens are kept.
 */
#ifndef WEFT_JWT_CACHE_H
#define WEFT_JWT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct jwt_cache;

struct jwt_cache *jwt_cache_new(void);
void jwt_cache_free(struct jwt_cache *c);

/*
 * The claims of tok if it was verified for rule at policy version
 * version and is still good at now (a new reference in *claims): 1;
 * else 0.
 */
int jwt_cache_get(struct jwt_cache *c, const void *rule, int64_t version,
    const char *tok, size_t len, int64_t now, json_t **claims);

/* Remembers a verified token (claims referenced, not stolen). */
void jwt_cache_put(struct jwt_cache *c, const void *rule, int64_t version,
    const char *tok, size_t len, int64_t now, json_t *claims);

#endif
