/* Verified tokens, per worker (see jwt_cache.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "jwt_cache.h"

#define JWT_CACHE_SLOTS   512 /* a power of two */
#define JWT_CACHE_TTL_SEC 60
#define JWT_CACHE_MAX_TOK 8192 /* longer tokens are not kept */

struct jwt_cache_slot {
	uint64_t hash;
	const void *rule;
	int64_t version;
	int64_t until;
	char *tok;
	size_t len;
	json_t *claims;
};

struct jwt_cache {
	struct jwt_cache_slot slots[JWT_CACHE_SLOTS];
};

static uint64_t
jwt_cache_hash(const void *rule, const char *tok, size_t len)
{
	uint64_t h = 14695981039346656037ULL ^ (uint64_t)(uintptr_t)rule;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)tok[i]) * 1099511628211ULL;
	return h;
}

struct jwt_cache *
jwt_cache_new(void)
{
	return calloc(1, sizeof(struct jwt_cache));
}

static void
jwt_cache_slot_clear(struct jwt_cache_slot *s)
{
	free(s->tok);
	json_decref(s->claims);
	memset(s, 0, sizeof(*s));
}

void
jwt_cache_free(struct jwt_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < JWT_CACHE_SLOTS; i++)
		jwt_cache_slot_clear(&c->slots[i]);
	free(c);
}

int
jwt_cache_get(struct jwt_cache *c, const void *rule, int64_t version,
    const char *tok, size_t len, int64_t now, json_t **claims)
{
	struct jwt_cache_slot *s;
	uint64_t h;

	if (c == NULL || len > JWT_CACHE_MAX_TOK)
		return 0;
	h = jwt_cache_hash(rule, tok, len);
	s = &c->slots[h & (JWT_CACHE_SLOTS - 1)];
	if (s->tok == NULL || s->hash != h || s->rule != rule ||
	    s->version != version || s->len != len ||
	    memcmp(s->tok, tok, len) != 0)
		return 0;
	if (now >= s->until) {
		jwt_cache_slot_clear(s);
		return 0;
	}
	*claims = json_incref(s->claims);
	return 1;
}

void
jwt_cache_put(struct jwt_cache *c, const void *rule, int64_t version,
    const char *tok, size_t len, int64_t now, json_t *claims)
{
	struct jwt_cache_slot *s;
	json_t *exp;
	uint64_t h;
	char *copy;

	if (c == NULL || len > JWT_CACHE_MAX_TOK ||
	    (copy = malloc(len)) == NULL)
		return;
	memcpy(copy, tok, len);
	h = jwt_cache_hash(rule, tok, len);
	s = &c->slots[h & (JWT_CACHE_SLOTS - 1)];
	jwt_cache_slot_clear(s);
	s->hash = h;
	s->rule = rule;
	s->version = version;
	s->tok = copy;
	s->len = len;
	s->claims = json_incref(claims);
	s->until = now + JWT_CACHE_TTL_SEC;
	exp = json_object_get(claims, "exp");
	if (json_is_number(exp) && (int64_t)json_number_value(exp) < s->until)
		s->until = (int64_t)json_number_value(exp);
}
