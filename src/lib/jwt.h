/*
 * JWT validation for RequestAuthentication, with Debian's libjwt 1.10
 * behind this one module. libjwt checks only a signature, and takes the
 * algorithm from the token; weft therefore pins the algorithm per key
 * (from the JWKS key's kty, crv and alg), never lets an HMAC token be
 * checked against a public key, refuses alg "none", unknown "crit"
 * headers and embedded "jwk"/"jku"/"x5u"/"x5c" headers, and checks the
 * claims itself: exp, nbf and iat with a leeway, iss against the rule,
 * aud as a string or an array.
 */
#ifndef WEFT_JWT_H
#define WEFT_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The keys of a JWKS document, converted to OpenSSL keys once. */
struct jwt_keys;

/*
 * Parses a JWKS ({"keys": [...]}) with RSA (n, e), EC (crv P-256,
 * P-384, P-521; x, y) and oct (k, for HS256/384/512) keys. A key whose
 * "use" is not "sig", whose "key_ops" lacks "verify", or of an
 * unsupported kind, is skipped (with a note in *skipped when not NULL:
 * one line per key, or NULL when none was skipped; the caller frees
 * it); no usable key at all is an error.
 * Each key is pinned to the algorithms it may check: its "alg", which
 * must fit its kty and crv (PS* keys are skipped: libjwt 1.10 has no
 * RSA-PSS), else RS256/384/512 for RSA, the curve's ES* for EC, and
 * the HS* whose digest is no longer than the secret for oct. RSA keys
 * need 2048 to 8192 bits and oct secrets at least 32 bytes (RFC 7518).
 * Returns NULL with *cause set. Exits when out of memory (it runs when
 * a policy snapshot is built, not per request).
 */
struct jwt_keys *jwt_keys_parse(
    const char *jwks, size_t len, char **skipped, char **cause);
/* Frees the keys; NULL is a no-op. */
void jwt_keys_free(struct jwt_keys *k);
/* The number of usable keys (at least 1). */
size_t jwt_keys_count(const struct jwt_keys *k);

struct jwt_rule {
	const char *issuer; /* required */
	/* NULL-terminated; NULL or empty: any audience */
	const char *const *audiences;
	/* for exp, nbf and iat; 0: the default, 60; negative: none */
	int64_t leeway_sec;
};

enum jwt_status {
	JWT_OK,
	/* not a JWS compact serialization of a JSON header and claims,
	 * a claim of the wrong type (exp, nbf, iat), or over 64 KiB */
	JWT_MALFORMED,
	JWT_BAD_HEADER, /* alg none/unknown, typ, crit, jwk/jku/x5u/x5c */
	JWT_NO_KEY,     /* no key of the JWKS can check it (kid, alg) */
	JWT_BAD_SIGNATURE,
	JWT_EXPIRED,
	JWT_NOT_YET_VALID, /* nbf or iat in the future */
	JWT_BAD_ISSUER,
	JWT_BAD_AUDIENCE,
};

/* "Jwt is expired", as Envoy says, for the 401 body and the logs. */
const char *jwt_status_text(enum jwt_status s);

/*
 * Validates token (len bytes, without any "Bearer " prefix) against the
 * keys and rule at time now (Unix seconds). With a kid, only the keys
 * of that kid are tried; without one, every key whose pinned algorithm
 * is the token's. A typ header, when present, must be JWT or at+jwt
 * (RFC 9068; an "application/" prefix is allowed). On JWT_OK, *payload
 * (when not NULL) gets the decoded claims (caller decrefs); otherwise
 * it is set to NULL. Never blocks; everything it allocates (libjwt's
 * allocations included) is freed before it returns, except the payload.
 * Tokens longer than 64 KiB are JWT_MALFORMED; running out of memory
 * is JWT_BAD_SIGNATURE (the token is refused either way).
 */
enum jwt_status jwt_verify(const struct jwt_keys *k, const struct jwt_rule *r,
    const char *token, size_t len, int64_t now, json_t **payload);

/*
 * libjwt's header is also named <jwt.h>. jwt.c, the one file that uses
 * libjwt, defines WEFT_JWT_LIBJWT and includes this file as <jwt.h>
 * (found through the include path), so that #include_next carries on
 * along the path to libjwt's own header. Nothing else sees libjwt.
 */
#ifdef WEFT_JWT_LIBJWT
#include_next <jwt.h>
#endif

#endif
