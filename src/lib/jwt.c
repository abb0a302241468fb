/*
 * JWT validation (see jwt.h). libjwt 1.10 checks a signature with the
 * algorithm the token names and nothing else, so the rest is done here:
 * JWKS keys become OpenSSL keys once, each pinned to the algorithms it
 * may check; the token's header is read here before libjwt sees it; the
 * claims are checked here after it.
 *
 * Two checks bypass libjwt, both by OpenSSL with the same keys: tokens
 * whose typ is not JWT (libjwt refuses "at+jwt" outright, RFC 9068), and
 * an HMAC comparison made before libjwt's for HS* tokens (libjwt before
 * the fix of CVE-2024-25189 compared MACs with strcmp, and configure
 * accepts any 1.10).
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

/* Ours, then libjwt's through #include_next: see the end of jwt.h. */
#define WEFT_JWT_LIBJWT
#include <jwt.h>

#include "log.h"
#include "xmalloc.h"

/* Envoy's default max request headers size is 60 KiB. */
#define JWT_TOKEN_MAX      65536
#define JWT_LEEWAY_DEFAULT 60
#define JWT_RSA_MIN_BITS   2048
/* Bounds what a JWKS can make every verification cost. */
#define JWT_RSA_MAX_BITS 8192
/* OpenSSL refuses larger exponents for large moduli anyway. */
#define JWT_RSA_MAX_E_BITS 64
#define JWT_HMAC_MIN       32
#define JWT_HMAC_MAX       4096
#define JWT_EC_MAX         66

enum jwt_kty {
	JWT_KTY_OCT,
	JWT_KTY_RSA,
	JWT_KTY_EC,
};

struct jwt_algdef {
	const char *name;
	jwt_alg_t lib; /* libjwt's code for it */
	enum jwt_kty kty;
	const EVP_MD *(*md)(void);
	/* HS: the digest size, the least secret size (RFC 7518 3.2);
	 * ES: the size of r and of s */
	size_t size;
	const char *crv;   /* ES: the JWK curve */
	const char *group; /* ES: OpenSSL's name of it */
};

/* Every algorithm libjwt 1.10 can check; nothing else is accepted. */
static const struct jwt_algdef jwt_algs[] = {
    {"HS256", JWT_ALG_HS256, JWT_KTY_OCT, EVP_sha256, 32, NULL, NULL},
    {"HS384", JWT_ALG_HS384, JWT_KTY_OCT, EVP_sha384, 48, NULL, NULL},
    {"HS512", JWT_ALG_HS512, JWT_KTY_OCT, EVP_sha512, 64, NULL, NULL},
    {"RS256", JWT_ALG_RS256, JWT_KTY_RSA, EVP_sha256, 0, NULL, NULL},
    {"RS384", JWT_ALG_RS384, JWT_KTY_RSA, EVP_sha384, 0, NULL, NULL},
    {"RS512", JWT_ALG_RS512, JWT_KTY_RSA, EVP_sha512, 0, NULL, NULL},
    {"ES256", JWT_ALG_ES256, JWT_KTY_EC, EVP_sha256, 32, "P-256", "prime256v1"},
    {"ES384", JWT_ALG_ES384, JWT_KTY_EC, EVP_sha384, 48, "P-384", "secp384r1"},
    {"ES512", JWT_ALG_ES512, JWT_KTY_EC, EVP_sha512, 66, "P-521", "secp521r1"},
};
#define JWT_NALGS  (sizeof jwt_algs / sizeof jwt_algs[0])
#define JWT_BIT(a) (1u << ((a)-jwt_algs))

struct jwt_key {
	char *kid;      /* NULL: none */
	unsigned algs;  /* JWT_BIT of each algorithm it may check */
	EVP_PKEY *pkey; /* RSA and EC */
	/* What libjwt takes: the public key PEM, or the HMAC secret. */
	unsigned char *lib;
	size_t liblen;
};

struct jwt_keys {
	struct jwt_key *v;
	size_t n;
};

static const struct jwt_algdef *
jwt_alg_find(const char *name)
{
	size_t i;

	/* Exact case: libjwt's own lookup ignores it. */
	for (i = 0; i < JWT_NALGS; i++)
		if (strcmp(jwt_algs[i].name, name) == 0)
			return &jwt_algs[i];
	return NULL;
}

static unsigned
jwt_algs_of(enum jwt_kty kty)
{
	unsigned m = 0;
	size_t i;

	for (i = 0; i < JWT_NALGS; i++)
		if (jwt_algs[i].kty == kty)
			m |= JWT_BIT(&jwt_algs[i]);
	return m;
}

static int
jwt_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Decodes unpadded base64url and nothing else: no padding, no other
 * alphabet, no whitespace, no non-zero unused bits. One byte string has
 * then exactly one encoding, and libjwt, which decodes more leniently,
 * is never shown a token this module read differently. out must hold
 * len / 4 * 3 + 3 bytes; a NUL follows the *outlen bytes decoded.
 */
static int
jwt_b64url_decode(const char *s, size_t len, unsigned char *out, size_t *outlen)
{
	unsigned acc = 0, bits = 0;
	size_t i, o = 0;
	int v;

	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		if ((v = jwt_b64_value((unsigned char)s[i])) == -1)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/* The decoded bytes of a base64url string member of a JWK, or NULL. */
static unsigned char *
jwt_jwk_bytes(json_t *jk, const char *name, size_t *outlen)
{
	unsigned char *out;
	const char *s;
	size_t len;

	if (!json_is_string(json_object_get(jk, name)))
		return NULL;
	s = json_string_value(json_object_get(jk, name));
	len = json_string_length(json_object_get(jk, name));
	out = xmalloc(len / 4 * 3 + 3);
	if (len == 0 || jwt_b64url_decode(s, len, out, outlen) == -1) {
		free(out);
		return NULL;
	}
	return out;
}

/*
 * s if it can go into a note as is: a JWKS may come from a URI, and its
 * bytes are kept out of the logs.
 */
static const char *
jwt_printable(const char *s)
{
	const char *p;

	if (strlen(s) > 64)
		return "(too long)";
	for (p = s; *p != '\0'; p++)
		if (*p < 0x20 || *p >= 0x7f || *p == '"')
			return "(unprintable)";
	return s;
}

static void jwt_why(char **, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
jwt_why(char **why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(why, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
}

/* Public keys go to libjwt as the PEM it reads with PEM_read_bio_PUBKEY. */
static int
jwt_key_pem(struct jwt_key *key, char **why)
{
	BIO *b;
	char *p;
	long n;

	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PUBKEY(b, key->pkey) != 1 ||
	    (n = BIO_get_mem_data(b, &p)) <= 0) {
		BIO_free(b);
		jwt_why(why, "cannot write its public key PEM");
		return -1;
	}
	key->lib = xmalloc((size_t)n + 1);
	memcpy(key->lib, p, (size_t)n);
	key->lib[n] = '\0';
	key->liblen = (size_t)n;
	BIO_free(b);
	return 0;
}

static EVP_PKEY *
jwt_pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static int
jwt_key_rsa(json_t *jk, const char *alg, struct jwt_key *key, char **why)
{
	const struct jwt_algdef *a;
	unsigned char *nb = NULL, *eb = NULL;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	size_t nlen, elen;
	int rc = -1;

	if (alg != NULL && strncmp(alg, "PS", 2) == 0) {
		jwt_why(why, "alg %s: libjwt 1.10 has no RSA-PSS",
		    jwt_printable(alg));
		return -1;
	}
	if (alg != NULL) {
		if ((a = jwt_alg_find(alg)) == NULL || a->kty != JWT_KTY_RSA) {
			jwt_why(why, "alg %s does not fit kty RSA",
			    jwt_printable(alg));
			return -1;
		}
		key->algs = JWT_BIT(a);
	} else {
		/* Istio's sample JWKS has no alg: the token's picks one. */
		key->algs = jwt_algs_of(JWT_KTY_RSA);
	}
	if ((nb = jwt_jwk_bytes(jk, "n", &nlen)) == NULL ||
	    (eb = jwt_jwk_bytes(jk, "e", &elen)) == NULL) {
		jwt_why(why, "n or e is missing or not base64url");
		goto out;
	}
	/* One leading zero byte allowed, as some encoders write. */
	if (nlen > JWT_RSA_MAX_BITS / 8 + 1 ||
	    elen > JWT_RSA_MAX_E_BITS / 8 + 1) {
		jwt_why(why, "n or e is too long");
		goto out;
	}
	if ((n = BN_bin2bn(nb, (int)nlen, NULL)) == NULL ||
	    (e = BN_bin2bn(eb, (int)elen, NULL)) == NULL)
		fatalx("BN_bin2bn: out of memory");
	if (BN_num_bits(n) < JWT_RSA_MIN_BITS ||
	    BN_num_bits(n) > JWT_RSA_MAX_BITS || !BN_is_odd(n)) {
		jwt_why(why, "RSA modulus of %d bits (%d to %d wanted)",
		    BN_num_bits(n), JWT_RSA_MIN_BITS, JWT_RSA_MAX_BITS);
		goto out;
	}
	if (!BN_is_odd(e) || BN_is_one(e) ||
	    BN_num_bits(e) > JWT_RSA_MAX_E_BITS) {
		jwt_why(why, "bad RSA exponent");
		goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
		fatalx("OSSL_PARAM_BLD: out of memory");
	if ((key->pkey = jwt_pkey_fromdata("RSA", bld)) == NULL) {
		jwt_why(why, "OpenSSL refuses the RSA key");
		goto out;
	}
	rc = jwt_key_pem(key, why);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	free(nb);
	free(eb);
	return rc;
}

static int
jwt_key_ec(json_t *jk, const char *alg, struct jwt_key *key, char **why)
{
	const struct jwt_algdef *a = NULL;
	unsigned char *x = NULL, *y = NULL, pub[1 + 2 * JWT_EC_MAX];
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	const char *crv;
	size_t i, xlen, ylen;
	int rc = -1;

	if ((crv = json_string_value(json_object_get(jk, "crv"))) == NULL) {
		jwt_why(why, "crv is missing");
		return -1;
	}
	for (i = 0; i < JWT_NALGS; i++)
		if (jwt_algs[i].crv != NULL &&
		    strcmp(jwt_algs[i].crv, crv) == 0)
			a = &jwt_algs[i];
	if (a == NULL) {
		jwt_why(why, "crv %s is not supported", jwt_printable(crv));
		return -1;
	}
	if (alg != NULL && strcmp(alg, a->name) != 0) {
		jwt_why(
		    why, "alg %s does not fit crv %s", jwt_printable(alg), crv);
		return -1;
	}
	key->algs = JWT_BIT(a);
	if ((x = jwt_jwk_bytes(jk, "x", &xlen)) == NULL ||
	    (y = jwt_jwk_bytes(jk, "y", &ylen)) == NULL || xlen != a->size ||
	    ylen != a->size) {
		jwt_why(why,
		    "x or y is missing, not base64url or not of %zu "
		    "bytes",
		    a->size);
		goto out;
	}
	pub[0] = POINT_CONVERSION_UNCOMPRESSED;
	memcpy(pub + 1, x, a->size);
	memcpy(pub + 1 + a->size, y, a->size);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(
		bld, OSSL_PKEY_PARAM_GROUP_NAME, a->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(
		bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * a->size) != 1)
		fatalx("OSSL_PARAM_BLD: out of memory");
	if ((key->pkey = jwt_pkey_fromdata("EC", bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL)) == NULL ||
	    EVP_PKEY_public_check(ctx) != 1) {
		jwt_why(why, "the point is not on curve %s", crv);
		goto out;
	}
	rc = jwt_key_pem(key, why);
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return rc;
}

static int
jwt_key_oct(json_t *jk, const char *alg, struct jwt_key *key, char **why)
{
	const struct jwt_algdef *a;
	unsigned char *k;
	size_t klen, i;

	if ((k = jwt_jwk_bytes(jk, "k", &klen)) == NULL) {
		jwt_why(why, "k is missing, empty or not base64url");
		return -1;
	}
	if (klen > JWT_HMAC_MAX) {
		jwt_why(why, "k is longer than %d bytes", JWT_HMAC_MAX);
		goto fail;
	}
	if (alg != NULL) {
		if ((a = jwt_alg_find(alg)) == NULL || a->kty != JWT_KTY_OCT) {
			jwt_why(why, "alg %s does not fit kty oct",
			    jwt_printable(alg));
			goto fail;
		}
		if (klen < a->size) {
			jwt_why(why, "k has %zu bytes, %s needs %zu", klen, alg,
			    a->size);
			goto fail;
		}
		key->algs = JWT_BIT(a);
	} else {
		for (i = 0; i < JWT_NALGS; i++)
			if (jwt_algs[i].kty == JWT_KTY_OCT &&
			    klen >= jwt_algs[i].size)
				key->algs |= JWT_BIT(&jwt_algs[i]);
		if (key->algs == 0) {
			jwt_why(why, "k has %zu bytes, HS256 needs %d", klen,
			    JWT_HMAC_MIN);
			goto fail;
		}
	}
	key->lib = k;
	key->liblen = klen;
	return 0;
fail:
	OPENSSL_cleanse(k, klen);
	free(k);
	return -1;
}

static void
jwt_key_clear(struct jwt_key *key)
{
	free(key->kid);
	EVP_PKEY_free(key->pkey);
	if (key->lib != NULL)
		OPENSSL_cleanse(key->lib, key->liblen);
	free(key->lib);
	memset(key, 0, sizeof *key);
}

/* Fills key from one JWK, or returns -1 with *why set. */
static int
jwt_key_parse(json_t *jk, struct jwt_key *key, char **why)
{
	const char *kty, *alg = NULL;
	json_t *v, *op;
	size_t i;
	int rc, verify = 0;

	if (!json_is_object(jk)) {
		jwt_why(why, "not an object");
		return -1;
	}
	if ((kty = json_string_value(json_object_get(jk, "kty"))) == NULL) {
		jwt_why(why, "kty is missing");
		return -1;
	}
	if ((v = json_object_get(jk, "use")) != NULL &&
	    (!json_is_string(v) || strcmp(json_string_value(v), "sig") != 0)) {
		jwt_why(why, "use is not \"sig\"");
		return -1;
	}
	if ((v = json_object_get(jk, "key_ops")) != NULL) {
		for (i = 0; i < json_array_size(v); i++) {
			op = json_array_get(v, i);
			if (json_is_string(op) &&
			    strcmp(json_string_value(op), "verify") == 0)
				verify = 1;
		}
		if (!verify) {
			jwt_why(why, "key_ops has no \"verify\"");
			return -1;
		}
	}
	if ((v = json_object_get(jk, "kid")) != NULL && !json_is_string(v)) {
		jwt_why(why, "kid is not a string");
		return -1;
	}
	if ((v = json_object_get(jk, "alg")) != NULL &&
	    (alg = json_string_value(v)) == NULL) {
		jwt_why(why, "alg is not a string");
		return -1;
	}
	if (strcmp(kty, "RSA") == 0) {
		rc = jwt_key_rsa(jk, alg, key, why);
	} else if (strcmp(kty, "EC") == 0) {
		rc = jwt_key_ec(jk, alg, key, why);
	} else if (strcmp(kty, "oct") == 0) {
		rc = jwt_key_oct(jk, alg, key, why);
	} else {
		jwt_why(why, "kty %s is not supported", jwt_printable(kty));
		rc = -1;
	}
	if (rc == -1) {
		jwt_key_clear(key);
		return -1;
	}
	if ((v = json_object_get(jk, "kid")) != NULL)
		key->kid = xstrdup(json_string_value(v));
	return 0;
}

/* Appends "key N (kid K): why" to the notes, one line per key. */
static void
jwt_note(char **notes, size_t i, json_t *jk, const char *why)
{
	const char *kid;
	char *prev = *notes;

	kid = json_string_value(json_object_get(jk, "kid"));
	if (kid != NULL)
		xasprintf(notes, "%s%skey %zu (kid \"%s\"): %s",
		    prev ? prev : "", prev ? "\n" : "", i, jwt_printable(kid),
		    why);
	else
		xasprintf(notes, "%s%skey %zu: %s", prev ? prev : "",
		    prev ? "\n" : "", i, why);
	free(prev);
}

struct jwt_keys *
jwt_keys_parse(const char *jwks, size_t len, char **skipped, char **cause)
{
	struct jwt_keys *k;
	json_t *doc, *keys, *jk;
	json_error_t err;
	char *notes = NULL, *why;
	size_t i;

	if (skipped != NULL)
		*skipped = NULL;
	if ((doc = json_loadb(jwks, len, JSON_REJECT_DUPLICATES, &err)) ==
	    NULL) {
		xasprintf(cause, "JWKS: line %d, column %d: %s", err.line,
		    err.column, err.text);
		return NULL;
	}
	if (!json_is_array(keys = json_object_get(doc, "keys"))) {
		xasprintf(cause, "JWKS: no \"keys\" array");
		json_decref(doc);
		return NULL;
	}
	k = xcalloc(1, sizeof *k);
	k->v = xcalloc(json_array_size(keys) + 1, sizeof *k->v);
	for (i = 0; i < json_array_size(keys); i++) {
		jk = json_array_get(keys, i);
		why = NULL;
		if (jwt_key_parse(jk, &k->v[k->n], &why) == 0)
			k->n++;
		else
			jwt_note(&notes, i, jk, why);
		free(why);
	}
	json_decref(doc);
	/* Per thread: a stale entry would be blamed on the next TLS call. */
	ERR_clear_error();
	if (k->n == 0) {
		xasprintf(cause, "JWKS: no usable key%s%s",
		    notes != NULL ? ": " : "", notes != NULL ? notes : "");
		free(notes);
		jwt_keys_free(k);
		return NULL;
	}
	if (skipped != NULL)
		*skipped = notes;
	else
		free(notes);
	return k;
}

void
jwt_keys_free(struct jwt_keys *k)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < k->n; i++)
		jwt_key_clear(&k->v[i]);
	free(k->v);
	free(k);
}

size_t
jwt_keys_count(const struct jwt_keys *k)
{
	return k->n;
}

const char *
jwt_status_text(enum jwt_status s)
{
	switch (s) {
	case JWT_OK:
		return "OK";
	case JWT_MALFORMED:
		return "Jwt is not in the form of Header.Payload.Signature "
		       "with two dots and 3 sections";
	case JWT_BAD_HEADER:
		/* Envoy's words for alg; crit and embedded keys share them. */
		return "Jwt header [alg] is not supported";
	case JWT_NO_KEY:
		return "Jwks doesn't have key to match kid or alg from Jwt";
	case JWT_BAD_SIGNATURE:
		return "Jwt verification fails";
	case JWT_EXPIRED:
		return "Jwt is expired";
	case JWT_NOT_YET_VALID:
		return "Jwt not yet valid";
	case JWT_BAD_ISSUER:
		return "Jwt issuer is not configured";
	case JWT_BAD_AUDIENCE:
		return "Audiences in Jwt are not allowed";
	}
	return "Jwt verification fails";
}

/*
 * Reads the protected header. *own is set when the signature must be
 * checked by OpenSSL here rather than by libjwt, which refuses any typ
 * but JWT.
 */
static enum jwt_status
jwt_header_check(
    json_t *h, const struct jwt_algdef **alg, const char **kid, int *own)
{
	/*
	 * crit: no extension is understood, so any is refused (RFC 7515
	 * 4.1.11). The others name a key the token brings along: trusting
	 * them would let anyone sign.
	 */
	static const char *const refused[] = {
	    "crit", "jwk", "jku", "x5u", "x5c"};
	const char *typ;
	json_t *v;
	size_t i;

	for (i = 0; i < sizeof refused / sizeof refused[0]; i++)
		if (json_object_get(h, refused[i]) != NULL)
			return JWT_BAD_HEADER;
	/* "none" is not in the table. */
	if ((v = json_object_get(h, "alg")) == NULL || !json_is_string(v) ||
	    (*alg = jwt_alg_find(json_string_value(v))) == NULL)
		return JWT_BAD_HEADER;
	*own = 0;
	if ((v = json_object_get(h, "typ")) != NULL) {
		if ((typ = json_string_value(v)) == NULL)
			return JWT_BAD_HEADER;
		if (strcasecmp(typ, "JWT") != 0) {
			/* RFC 7515 4.1.9: the prefix may be omitted. */
			if (strncasecmp(typ, "application/", 12) == 0)
				typ += 12;
			if (strcasecmp(typ, "JWT") != 0 &&
			    strcasecmp(typ, "at+jwt") != 0)
				return JWT_BAD_HEADER;
			*own = 1;
		}
	}
	*kid = NULL;
	if ((v = json_object_get(h, "kid")) != NULL &&
	    (*kid = json_string_value(v)) == NULL)
		return JWT_BAD_HEADER;
	return JWT_OK;
}

/* Whether sig signs in (inlen bytes) under key and a, by OpenSSL. */
static int
jwt_sig_openssl(const struct jwt_key *key, const struct jwt_algdef *a,
    const unsigned char *in, size_t inlen, const unsigned char *sig,
    size_t siglen)
{
	unsigned char mac[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int maclen;
	ECDSA_SIG *es;
	BIGNUM *r, *s;
	EVP_MD_CTX *ctx;
	int derlen, ok;

	if (a->kty == JWT_KTY_OCT) {
		if (HMAC(a->md(), key->lib, (int)key->liblen, in, inlen, mac,
			&maclen) == NULL)
			return 0;
		return maclen == siglen && CRYPTO_memcmp(mac, sig, siglen) == 0;
	}
	if (a->kty == JWT_KTY_EC) {
		/* JWS carries r || s (RFC 7518 3.4); OpenSSL wants DER. */
		if (siglen != 2 * a->size)
			return 0;
		if ((es = ECDSA_SIG_new()) == NULL)
			return 0;
		r = BN_bin2bn(sig, (int)a->size, NULL);
		s = BN_bin2bn(sig + a->size, (int)a->size, NULL);
		if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
			BN_free(r);
			BN_free(s);
			ECDSA_SIG_free(es);
			return 0;
		}
		derlen = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		if (derlen <= 0)
			return 0;
		sig = der;
		siglen = (size_t)derlen;
	}
	ok = (ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, a->md(), NULL, key->pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, in, inlen) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

/* Whether libjwt finds token signed by key, with the algorithm a. */
static int
jwt_sig_libjwt(
    const struct jwt_key *key, const struct jwt_algdef *a, const char *token)
{
	jwt_t *j = NULL;
	int ok;

	if (jwt_decode(&j, token, key->lib, (int)key->liblen) != 0) {
		jwt_free(j);
		return 0;
	}
	/* The header was read here first; libjwt must have read the same. */
	ok = jwt_get_alg(j) == a->lib;
	jwt_free(j);
	return ok;
}

/* 1: present (in *v), 0: absent, -1: not a number. */
static int
jwt_time_claim(json_t *c, const char *name, double *v)
{
	json_t *t;

	if ((t = json_object_get(c, name)) == NULL)
		return 0;
	if (!json_is_number(t))
		return -1;
	*v = json_number_value(t);
	return 1;
}

static int
jwt_aud_allowed(json_t *aud, const char *const *audiences)
{
	const char *const *a;
	json_t *v;
	size_t i;

	for (a = audiences; *a != NULL; a++) {
		if (json_is_string(aud) &&
		    strcmp(json_string_value(aud), *a) == 0)
			return 1;
		for (i = 0; json_is_array(aud) && i < json_array_size(aud);
		     i++) {
			v = json_array_get(aud, i);
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), *a) == 0)
				return 1;
		}
	}
	return 0;
}

static enum jwt_status
jwt_claims_check(json_t *c, const struct jwt_rule *r, int64_t now)
{
	double t = (double)now, leeway, exp, nbf, iat;
	int has_exp, has_nbf, has_iat;
	const char *iss;

	if (r->leeway_sec == 0)
		leeway = JWT_LEEWAY_DEFAULT;
	else
		leeway = r->leeway_sec < 0 ? 0 : (double)r->leeway_sec;
	/* NumericDate may have a fraction (RFC 7519 2): doubles. */
	if ((has_exp = jwt_time_claim(c, "exp", &exp)) == -1 ||
	    (has_nbf = jwt_time_claim(c, "nbf", &nbf)) == -1 ||
	    (has_iat = jwt_time_claim(c, "iat", &iat)) == -1)
		return JWT_MALFORMED;
	if (has_nbf && t + leeway < nbf)
		return JWT_NOT_YET_VALID;
	/* Issued in the future: a clock off, or a token made to outlive. */
	if (has_iat && iat > t + leeway)
		return JWT_NOT_YET_VALID;
	/* RFC 7519 4.1.4: now must be before exp. */
	if (has_exp && t >= exp + leeway)
		return JWT_EXPIRED;
	iss = json_string_value(json_object_get(c, "iss"));
	if (r->issuer == NULL || iss == NULL || strcmp(iss, r->issuer) != 0)
		return JWT_BAD_ISSUER;
	if (r->audiences != NULL && r->audiences[0] != NULL &&
	    !jwt_aud_allowed(json_object_get(c, "aud"), r->audiences))
		return JWT_BAD_AUDIENCE;
	return JWT_OK;
}

/* The two dots of a JWS compact serialization, or -1. */
static int
jwt_split(const char *token, size_t len, size_t *dot1, size_t *dot2)
{
	const char *p, *q;

	if ((p = memchr(token, '.', len)) == NULL ||
	    (q = memchr(p + 1, '.', len - (size_t)(p + 1 - token))) == NULL ||
	    memchr(q + 1, '.', len - (size_t)(q + 1 - token)) != NULL)
		return -1;
	*dot1 = (size_t)(p - token);
	*dot2 = (size_t)(q - token);
	/* An empty signature is left to the signature check. */
	if (*dot1 == 0 || *dot2 == *dot1 + 1)
		return -1;
	return 0;
}

enum jwt_status
jwt_verify(const struct jwt_keys *k, const struct jwt_rule *r,
    const char *token, size_t len, int64_t now, json_t **payload)
{
	const struct jwt_algdef *a = NULL;
	const struct jwt_key *key;
	unsigned char *hb, *pb, *sb;
	size_t dot1, dot2, hlen, plen, slen, i, tried = 0;
	json_t *hdr = NULL, *claims = NULL;
	const char *kid = NULL;
	enum jwt_status st;
	char *buf = NULL;
	int own = 0, ok = 0;

	if (payload != NULL)
		*payload = NULL;
	if (token == NULL || len == 0 || len > JWT_TOKEN_MAX ||
	    jwt_split(token, len, &dot1, &dot2) == -1)
		return JWT_MALFORMED;
	/* One allocation: the token for libjwt (NUL-terminated), then
	 * room for its three decoded parts. */
	if ((buf = malloc(2 * len + 16)) == NULL)
		return JWT_BAD_SIGNATURE;
	memcpy(buf, token, len);
	buf[len] = '\0';
	hb = (unsigned char *)buf + len + 1;
	pb = hb + dot1 / 4 * 3 + 3;
	sb = pb + (dot2 - dot1 - 1) / 4 * 3 + 3;

	st = JWT_MALFORMED;
	if (jwt_b64url_decode(token, dot1, hb, &hlen) == -1 ||
	    jwt_b64url_decode(token + dot1 + 1, dot2 - dot1 - 1, pb, &plen) ==
		-1 ||
	    jwt_b64url_decode(token + dot2 + 1, len - dot2 - 1, sb, &slen) ==
		-1)
		goto done;
	/* Duplicates refused: libjwt must not read another alg or kid. */
	if ((hdr = json_loadb(
		 (char *)hb, hlen, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(hdr))
		goto done;
	if ((st = jwt_header_check(hdr, &a, &kid, &own)) != JWT_OK)
		goto done;
	st = JWT_MALFORMED;
	if ((claims = json_loadb(
		 (char *)pb, plen, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(claims))
		goto done;

	for (i = 0; i < k->n && !ok; i++) {
		key = &k->v[i];
		if (kid != NULL &&
		    (key->kid == NULL || strcmp(key->kid, kid) != 0))
			continue;
		/* The pin: an HS* token never meets an RSA or EC key. */
		if ((key->algs & JWT_BIT(a)) == 0)
			continue;
		tried++;
		if (slen == 0)
			continue;
		if (own)
			ok = jwt_sig_openssl(
			    key, a, (unsigned char *)buf, dot2, sb, slen);
		else
			ok = (a->kty != JWT_KTY_OCT ||
				 jwt_sig_openssl(key, a, (unsigned char *)buf,
				     dot2, sb, slen)) &&
			    jwt_sig_libjwt(key, a, buf);
	}
	if (tried == 0)
		st = JWT_NO_KEY;
	else if (!ok)
		st = JWT_BAD_SIGNATURE;
	else if ((st = jwt_claims_check(claims, r, now)) == JWT_OK &&
	    payload != NULL) {
		*payload = claims;
		claims = NULL;
	}
done:
	json_decref(hdr);
	json_decref(claims);
	free(buf);
	/* Per thread: a stale entry would be blamed on the next TLS call. */
	ERR_clear_error();
	return st;
}
