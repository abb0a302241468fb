/*
 * Unit tests for JWT validation (src/lib/jwt.c).
 *
 * Every token is minted independently of libjwt: by the openssl CLI at
 * run time (tests/unit/jwt/mint.sh, keys made fresh in a temporary
 * directory, so that nothing expires), or taken from RFC 7515's
 * examples and Istio's samples. JWKS documents are written here from
 * the generated keys with OpenSSL's API. The attacks libjwt 1.10 lets
 * through on its own (FACTS.md) each have a test.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "jwt.h"

#define ISS  "https://issuer.example"
#define HOUR 3600

static char tmpdir[] = "/tmp/weft-test-jwt.XXXXXX";
static const char *srcdir;
static int64_t now;
/* rsa2 (RS256), rsa1 (no alg), ec256, ec384, ec521, hs (oct) and enc
 * (use "enc": skipped), in that order. */
static char *jwks_main;
static struct jwt_keys *keys_main;
static unsigned char hs_secret[64];

static const struct jwt_rule rule_default = {ISS, NULL, 0};

static const char *const status_names[] = {"JWT_OK", "JWT_MALFORMED",
    "JWT_BAD_HEADER", "JWT_NO_KEY", "JWT_BAD_SIGNATURE", "JWT_EXPIRED",
    "JWT_NOT_YET_VALID", "JWT_BAD_ISSUER", "JWT_BAD_AUDIENCE"};

#define EXPECT(got, want)                                                      \
	do {                                                                   \
		enum jwt_status got_ = (got), want_ = (want);                  \
		if (got_ != want_)                                             \
			fail_msg("line %d: %s, expected %s", __LINE__,         \
			    status_names[got_], status_names[want_]);          \
	} while (0)

static char *tpath(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
tpath(const char *fmt, ...)
{
	char *rel, *p;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&rel, fmt, ap) != -1);
	va_end(ap);
	assert_true(asprintf(&p, "%s/%s", tmpdir, rel) != -1);
	free(rel);
	return p;
}

static char *xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
xfmt(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) != -1);
	va_end(ap);
	return s;
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *f;

	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
write_tfile(const char *name, const void *data, size_t len)
{
	char *path;

	path = tpath("%s", name);
	write_file(path, data, len);
	free(path);
}

/* A whole file, NUL-terminated, trailing newlines dropped; or NULL. */
static char *
read_file(const char *path)
{
	char *s = NULL;
	size_t len = 0, n;
	char b[4096];
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while ((n = fread(b, 1, sizeof b, f)) > 0) {
		assert_non_null(s = realloc(s, len + n + 1));
		memcpy(s + len, b, n);
		len += n;
	}
	fclose(f);
	if (s == NULL)
		s = calloc(1, 1);
	s[len] = '\0';
	while (len > 0 && s[len - 1] == '\n')
		s[--len] = '\0';
	return s;
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
run(const char *fmt, ...)
{
	va_list ap;
	char *cmd;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) != -1);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("failed: %s", cmd);
	free(cmd);
}

/* base64url without padding: for JWKS members and forged parts. */
static char *
b64url(const void *data, size_t len)
{
	char *s, *p;

	assert_non_null(s = malloc(4 * ((len + 2) / 3) + 1));
	EVP_EncodeBlock((unsigned char *)s, data, (int)len);
	for (p = s; *p != '\0'; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=')
			*p = '\0';
	}
	return s;
}

/*
 * Mints a token with tests/unit/jwt/mint.sh: alg, key (a file of the
 * temporary directory), and the exact header and payload bytes.
 */
static char *
mint(const char *alg, const char *key, const char *hdr, const char *pl)
{
	char *h, *p, *k, *out, *cmd, *tok;

	h = tpath("h.json");
	p = tpath("p.json");
	out = tpath("token");
	k = key[0] == '/' ? strdup(key) : tpath("%s", key);
	write_file(h, hdr, strlen(hdr));
	write_file(p, pl, strlen(pl));
	cmd = xfmt("sh '%s/tests/unit/jwt/mint.sh' %s '%s' '%s' '%s' >'%s'",
	    srcdir, alg, k, h, p, out);
	if (system(cmd) != 0)
		fail_msg("mint failed: %s", cmd);
	assert_non_null(tok = read_file(out));
	free(cmd);
	free(h);
	free(p);
	free(k);
	free(out);
	return tok;
}

/* Claims that pass rule_default, with extra members appended. */
static char *
claims(const char *extra)
{
	return xfmt("{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"iat\":%lld,"
		    "\"exp\":%lld%s%s}",
	    (long long)now - 10, (long long)now + HOUR, extra ? "," : "",
	    extra ? extra : "");
}

/* A header naming alg and, when not NULL, kid, with extra members. */
static char *
header(const char *alg, const char *kid, const char *extra)
{
	return xfmt("{\"alg\":\"%s\"%s%s%s%s%s}", alg, kid ? ",\"kid\":\"" : "",
	    kid ? kid : "", kid ? "\"" : "", extra ? "," : "",
	    extra ? extra : "");
}

/* Mints a token with a standard header and claims. */
static char *
mint_std(const char *alg, const char *key, const char *kid, const char *hx,
    const char *cx)
{
	char *h, *c, *t;

	h = header(alg, kid, hx);
	c = claims(cx);
	t = mint(alg, key, h, c);
	free(h);
	free(c);
	return t;
}

static enum jwt_status
verify_at(const struct jwt_keys *k, const struct jwt_rule *r, const char *t,
    int64_t at)
{
	enum jwt_status st;
	json_t *pl = (json_t *)1;

	st = jwt_verify(k, r, t, strlen(t), at, &pl);
	if (st == JWT_OK) {
		assert_true(json_is_object(pl));
		json_decref(pl);
	} else
		assert_null(pl);
	/* Per thread: a leftover would be blamed on the next TLS call. */
	assert_int_equal(ERR_peek_error(), 0);
	return st;
}

static enum jwt_status
verify(const char *t)
{
	return verify_at(keys_main, &rule_default, t, now);
}

static enum jwt_status
verify_rule(const struct jwt_rule *r, const char *t)
{
	return verify_at(keys_main, r, t, now);
}

/* The token with its header (first part) replaced by hdr's bytes. */
static char *
swap_header(const char *tok, const char *hdr)
{
	char *h, *t;

	h = b64url(hdr, strlen(hdr));
	t = xfmt("%s%s", h, strchr(tok, '.'));
	free(h);
	return t;
}

/* The token with its payload (second part) replaced by pl's bytes. */
static char *
swap_payload(const char *tok, const char *pl)
{
	const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
	char *p, *t;

	p = b64url(pl, strlen(pl));
	t = xfmt("%.*s.%s%s", (int)(d1 - tok), tok, p, d2);
	free(p);
	return t;
}

static EVP_PKEY *
load_key(const char *name)
{
	EVP_PKEY *k;
	char *path;
	FILE *f;

	path = name[0] == '/' ? strdup(name) : tpath("%s", name);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(k = PEM_read_PrivateKey(f, NULL, NULL, NULL));
	fclose(f);
	free(path);
	return k;
}

static char *
bn_b64url(const BIGNUM *bn, int pad)
{
	unsigned char b[1024];
	int n;

	n = pad ? BN_bn2binpad(bn, b, pad) : BN_bn2bin(bn, b);
	assert_true(n > 0);
	return b64url(b, (size_t)n);
}

/* The JWK of an RSA key file; extra members (",..."-less) appended. */
static char *
jwk_rsa(const char *file, const char *kid, const char *extra)
{
	BIGNUM *n = NULL, *e = NULL;
	char *sn, *se, *j;
	EVP_PKEY *k;

	k = load_key(file);
	assert_int_equal(
	    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n), 1);
	assert_int_equal(
	    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e), 1);
	sn = bn_b64url(n, 0);
	se = bn_b64url(e, 0);
	j = xfmt(
	    "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s%s}",
	    kid, sn, se, extra ? "," : "", extra ? extra : "");
	BN_free(n);
	BN_free(e);
	free(sn);
	free(se);
	EVP_PKEY_free(k);
	return j;
}

static char *
jwk_ec(const char *file, const char *crv, int size, const char *kid,
    const char *extra)
{
	BIGNUM *x = NULL, *y = NULL;
	char *sx, *sy, *j;
	EVP_PKEY *k;

	k = load_key(file);
	assert_int_equal(
	    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x), 1);
	assert_int_equal(
	    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y), 1);
	sx = bn_b64url(x, size);
	sy = bn_b64url(y, size);
	j = xfmt("{\"kty\":\"EC\",\"crv\":\"%s\",\"kid\":\"%s\",\"x\":\"%s\","
		 "\"y\":\"%s\"%s%s}",
	    crv, kid, sx, sy, extra ? "," : "", extra ? extra : "");
	BN_free(x);
	BN_free(y);
	free(sx);
	free(sy);
	EVP_PKEY_free(k);
	return j;
}

static char *
jwk_oct(const void *k, size_t len, const char *kid, const char *extra)
{
	char *sk, *j;

	sk = b64url(k, len);
	j = xfmt("{\"kty\":\"oct\"%s%s%s,\"k\":\"%s\"%s%s}",
	    kid ? ",\"kid\":\"" : "", kid ? kid : "", kid ? "\"" : "", sk,
	    extra ? "," : "", extra ? extra : "");
	free(sk);
	return j;
}

static struct jwt_keys *
keys_ok(const char *jwks, char **skipped)
{
	struct jwt_keys *k;
	char *cause = NULL;

	if ((k = jwt_keys_parse(jwks, strlen(jwks), skipped, &cause)) == NULL)
		fail_msg("jwt_keys_parse: %s", cause);
	return k;
}

/* A JWKS of one JWK (freed). */
static struct jwt_keys *
keys_one(char *jwk)
{
	struct jwt_keys *k;
	char *doc;

	doc = xfmt("{\"keys\":[%s]}", jwk);
	k = keys_ok(doc, NULL);
	free(doc);
	free(jwk);
	return k;
}

static int
setup(void **state)
{
	char *j[7];
	size_t i;

	if ((srcdir = getenv("WEFT_SRCDIR")) == NULL)
		srcdir = JWT_TEST_SRCDIR;
	if (system("command -v openssl >/dev/null 2>&1") != 0) {
		fprintf(stderr, "openssl CLI not found\n");
		return -1;
	}
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	now = (int64_t)time(NULL);
	run("cd '%s' && for k in rsa1 rsa2 enc rogue; do "
	    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
	    "-out $k.pem 2>/dev/null || exit 1; done && "
	    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 "
	    "-out small.pem 2>/dev/null && "
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
	    "-out ec256.pem && "
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
	    "-out ecrogue.pem && "
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 "
	    "-out ec384.pem && "
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 "
	    "-out ec521.pem && "
	    "openssl pkey -in rsa1.pem -pubout -out rsa1.pub && "
	    "openssl rsa -in rsa1.pem -RSAPublicKey_out -out rsa1.pkcs1 "
	    "2>/dev/null",
	    tmpdir);
	for (i = 0; i < sizeof hs_secret; i++)
		hs_secret[i] = (unsigned char)(i * 7 + 3);
	write_tfile("hs.key", hs_secret, sizeof hs_secret);
	write_tfile("hs-bad.key", "0123456789abcdef0123456789abcdefX", 33);
	j[0] = jwk_rsa("rsa2.pem", "rsa2", "\"alg\":\"RS256\",\"use\":\"sig\"");
	j[1] = jwk_rsa("rsa1.pem", "rsa1", NULL);
	j[2] = jwk_ec("ec256.pem", "P-256", 32, "ec256", NULL);
	j[3] = jwk_ec("ec384.pem", "P-384", 48, "ec384", "\"alg\":\"ES384\"");
	j[4] = jwk_ec("ec521.pem", "P-521", 66, "ec521", NULL);
	j[5] = jwk_oct(hs_secret, sizeof hs_secret, "hs", NULL);
	j[6] = jwk_rsa("enc.pem", "enc", "\"use\":\"enc\"");
	jwks_main = xfmt("{\"keys\":[%s,%s,%s,%s,%s,%s,%s]}", j[0], j[1], j[2],
	    j[3], j[4], j[5], j[6]);
	for (i = 0; i < 7; i++)
		free(j[i]);
	keys_main = keys_ok(jwks_main, NULL);
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
teardown(void **state)
{
	jwt_keys_free(keys_main);
	free(jwks_main);
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- JWKS ---- */

static void
test_jwks_kinds(void **state)
{
	struct jwt_keys *k;
	char *skipped = NULL;

	k = keys_ok(jwks_main, &skipped);
	assert_int_equal(jwt_keys_count(k), 6);
	assert_non_null(skipped);
	assert_non_null(strstr(skipped, "key 6 (kid \"enc\"): use is not"));
	assert_null(strchr(skipped, '\n'));
	free(skipped);
	jwt_keys_free(k);
	jwt_keys_free(NULL);
}

/* Every kind of key that must be skipped, each with a note. */
static void
test_jwks_skips(void **state)
{
	unsigned char junk[32], b16[16], b48[48];
	struct jwt_keys *k;
	char *v[20], *doc, *skipped = NULL, *p;
	size_t i, n = 0, lines;

	memset(junk, 0x11, sizeof junk);
	memset(b16, 0x22, sizeof b16);
	memset(b48, 0x33, sizeof b48);
	v[n++] = jwk_rsa("rsa1.pem", "good", NULL);
	v[n++] = jwk_rsa("rsa1.pem", "ps", "\"alg\":\"PS256\"");
	v[n++] = jwk_rsa("rsa1.pem", "rs-es", "\"alg\":\"ES256\"");
	v[n++] = jwk_rsa("rsa1.pem", "rs-hs", "\"alg\":\"HS256\"");
	v[n++] = jwk_rsa("small.pem", "small", NULL);
	v[n++] = jwk_rsa("rsa1.pem", "enc", "\"use\":\"enc\"");
	v[n++] = jwk_rsa("rsa1.pem", "ops", "\"key_ops\":[\"encrypt\"]");
	v[n++] =
	    jwk_ec("ec384.pem", "P-384", 48, "es-crv", "\"alg\":\"ES256\"");
	v[n++] = jwk_ec("ec256.pem", "P-256", 32, "ec-rs", "\"alg\":\"RS256\"");
	v[n++] = jwk_ec("ec256.pem", "P-256", 33, "ec-long", NULL);
	v[n++] = jwk_oct(b16, sizeof b16, "short", NULL);
	v[n++] = jwk_oct(b48, sizeof b48, "hs512", "\"alg\":\"HS512\"");
	v[n++] = jwk_oct(b48, sizeof b48, "oct-rs", "\"alg\":\"RS256\"");
	p = b64url(junk, sizeof junk);
	v[n++] = xfmt("{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"off\","
		      "\"x\":\"%s\",\"y\":\"%s\"}",
	    p, p);
	free(p);
	v[n++] = xfmt("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"okp\","
		      "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}");
	v[n++] = xfmt("{\"kty\":\"RSA\",\"kid\":\"b64\",\"n\":\"a+b/\","
		      "\"e\":\"AQAB\"}");
	v[n++] = xfmt("{\"kty\":\"RSA\",\"kid\":7}");
	v[n++] = xfmt("42");
	v[n++] = xfmt("{\"kid\":\"nokty\"}");
	p = xfmt("[%s", v[0]);
	for (i = 1; i < n; i++) {
		doc = xfmt("%s,%s", p, v[i]);
		free(p);
		p = doc;
	}
	doc = xfmt("{\"keys\":%s]}", p);
	free(p);
	k = keys_ok(doc, &skipped);
	assert_int_equal(jwt_keys_count(k), 1);
	assert_non_null(skipped);
	for (lines = 1, p = skipped; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, n - 1);
	assert_non_null(strstr(skipped, "(kid \"ps\"): alg PS256: libjwt"));
	assert_non_null(strstr(skipped, "(kid \"rs-es\"): alg ES256 does not"));
	assert_non_null(
	    strstr(skipped, "(kid \"small\"): RSA modulus of 1024"));
	assert_non_null(strstr(skipped,
	    "(kid \"es-crv\"): alg ES256 does not "
	    "fit crv P-384"));
	assert_non_null(strstr(skipped, "(kid \"short\"): k has 16 bytes"));
	assert_non_null(strstr(skipped,
	    "(kid \"hs512\"): k has 48 bytes, "
	    "HS512 needs 64"));
	assert_non_null(strstr(skipped, "(kid \"off\"): the point is not on"));
	assert_non_null(strstr(skipped, "(kid \"okp\"): kty OKP is not"));
	assert_non_null(strstr(skipped, "key 16: kid is not a string"));
	assert_non_null(strstr(skipped, "key 17: not an object"));
	free(skipped);
	jwt_keys_free(k);
	for (i = 0; i < n; i++)
		free(v[i]);
	free(doc);
}

static void
test_jwks_errors(void **state)
{
	const char *bad[] = {"", "not json", "[]", "{\"keys\":{}}",
	    "{\"keys\":[]}", "{\"keys\":[{\"kty\":\"oct\",\"k\":\"\"}]}",
	    "{\"keys\":[],\"keys\":[]}",
	    "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\","
	    "\"e\":\"AQAB\"}]}"};
	char *cause, *skipped;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		skipped = (char *)1;
		assert_null(
		    jwt_keys_parse(bad[i], strlen(bad[i]), &skipped, &cause));
		assert_non_null(cause);
		assert_null(skipped);
		free(cause);
	}
	cause = NULL;
	assert_null(jwt_keys_parse(bad[7], strlen(bad[7]), NULL, &cause));
	assert_non_null(strstr(cause, "no usable key: key 0: use is not"));
	free(cause);
}

/* ---- Tokens that must pass ---- */

static void
test_valid_rsa(void **state)
{
	const char *algs[] = {"RS256", "RS384", "RS512"};
	json_t *pl = NULL;
	char *t;
	size_t i;

	/* rsa1 has no alg: the token's picks one of RS256/384/512. */
	for (i = 0; i < 3; i++) {
		t = mint_std(algs[i], "rsa1.pem", "rsa1", NULL, NULL);
		EXPECT(verify(t), JWT_OK);
		free(t);
	}
	t = mint_std("RS256", "rsa2.pem", "rsa2", "\"typ\":\"JWT\"", NULL);
	EXPECT(jwt_verify(keys_main, &rule_default, t, strlen(t), now, &pl),
	    JWT_OK);
	assert_string_equal(
	    json_string_value(json_object_get(pl, "sub")), "alice");
	json_decref(pl);
	/* No payload wanted. */
	EXPECT(jwt_verify(keys_main, &rule_default, t, strlen(t), now, NULL),
	    JWT_OK);
	free(t);
}

static void
test_valid_ec(void **state)
{
	char *t;

	t = mint_std("ES256", "ec256.pem", "ec256", NULL, NULL);
	EXPECT(verify(t), JWT_OK);
	free(t);
	t = mint_std("ES384", "ec384.pem", "ec384", NULL, NULL);
	EXPECT(verify(t), JWT_OK);
	free(t);
	t = mint_std("ES512", "ec521.pem", "ec521", NULL, NULL);
	EXPECT(verify(t), JWT_OK);
	free(t);
	/* Without a kid, the one key of the curve. */
	t = mint_std("ES512", "ec521.pem", NULL, NULL, NULL);
	EXPECT(verify(t), JWT_OK);
	free(t);
}

static void
test_valid_hmac(void **state)
{
	const char *algs[] = {"HS256", "HS384", "HS512"};
	struct jwt_keys *k;
	char *t;
	size_t i;

	for (i = 0; i < 3; i++) {
		t = mint_std(algs[i], "hs.key", "hs", NULL, NULL);
		EXPECT(verify(t), JWT_OK);
		free(t);
		t = mint_std(algs[i], "hs.key", NULL, NULL, NULL);
		EXPECT(verify(t), JWT_OK);
		free(t);
	}
	/* A wrong secret. */
	t = mint_std("HS256", "hs-bad.key", "hs", NULL, NULL);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	/* An oct key pinned to HS256 checks nothing else. */
	k = keys_one(
	    jwk_oct(hs_secret, sizeof hs_secret, "hs", "\"alg\":\"HS256\""));
	t = mint_std("HS384", "hs.key", "hs", NULL, NULL);
	EXPECT(verify_at(k, &rule_default, t, now), JWT_NO_KEY);
	free(t);
	t = mint_std("HS256", "hs.key", "hs", NULL, NULL);
	EXPECT(verify_at(k, &rule_default, t, now), JWT_OK);
	free(t);
	jwt_keys_free(k);
}

/* Istio's samples/jwt-server data: jwks.json has no alg, no use. */
static void
test_istio_samples(void **state)
{
	const struct jwt_rule r = {"testing@secure.istio.io", NULL, 0};
	char *dir, *jwks, *demo, *groups, *key, *h, *c, *t;
	struct jwt_keys *k;
	json_t *pl = NULL;

	dir = xfmt("%s/../shared/testdata/istio/jwt", srcdir);
	jwks = read_file(h = xfmt("%s/jwks.json", dir));
	free(h);
	demo = read_file(h = xfmt("%s/demo.jwt", dir));
	free(h);
	groups = read_file(h = xfmt("%s/groups-scope.jwt", dir));
	free(h);
	key = xfmt("%s/key.pem", dir);
	if (jwks == NULL || demo == NULL || groups == NULL ||
	    access(key, R_OK) == -1) {
		print_message("# Istio samples not in %s: not checked\n", dir);
		goto out;
	}
	k = keys_ok(jwks, NULL);
	assert_int_equal(jwt_keys_count(k), 1);
	/* demo.jwt: exp 4685989700 (2118), iat 1532389700. */
	EXPECT(jwt_verify(k, &r, demo, strlen(demo), now, &pl), JWT_OK);
	assert_string_equal(
	    json_string_value(json_object_get(pl, "foo")), "bar");
	json_decref(pl);
	EXPECT(verify_at(k, &r, demo, 4685989700LL + 61), JWT_EXPIRED);
	EXPECT(verify_at(k, &r, demo, 1532389700LL - 61), JWT_NOT_YET_VALID);
	EXPECT(verify_at(k, &rule_default, demo, now), JWT_BAD_ISSUER);
	/* groups-scope.jwt: exp 3537391104 (2082). */
	EXPECT(jwt_verify(k, &r, groups, strlen(groups), now, &pl), JWT_OK);
	assert_int_equal(json_array_size(json_object_get(pl, "groups")), 2);
	json_decref(pl);
	/* A new token from the sample's private key. */
	h = header("RS256", "DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ",
	    "\"typ\":\"JWT\"");
	c = xfmt("{\"iss\":\"testing@secure.istio.io\",\"exp\":%lld}",
	    (long long)now + 60);
	t = mint("RS256", key, h, c);
	EXPECT(verify_at(k, &r, t, now), JWT_OK);
	free(t);
	free(h);
	/* Algorithm confusion against the sample key. */
	run("openssl pkey -in '%s' -pubout -out '%s/istio.pub'", key, tmpdir);
	h = header(
	    "HS256", "DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ", NULL);
	t = mint("HS256", "istio.pub", h, c);
	EXPECT(verify_at(k, &r, t, now), JWT_NO_KEY);
	free(t);
	free(h);
	free(c);
	jwt_keys_free(k);
out:
	free(dir);
	free(jwks);
	free(demo);
	free(groups);
	free(key);
}

/* RFC 7515 A.1: HS256, with typ "JWT" and CRLFs in the JSON. */
static void
test_rfc7515_a1(void **state)
{
	const char *tok =
	    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
	    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
	    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	const char *jwks = "{\"keys\":[{\"kty\":\"oct\",\"k\":"
			   "\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-"
			   "1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}]}";
	const struct jwt_rule r = {"joe", NULL, 0};
	struct jwt_keys *k;
	json_t *pl = NULL;

	k = keys_ok(jwks, NULL);
	EXPECT(jwt_verify(k, &r, tok, strlen(tok), 1300819380 - HOUR, &pl),
	    JWT_OK);
	assert_true(
	    json_is_true(json_object_get(pl, "http://example.com/is_root")));
	json_decref(pl);
	/* exp 1300819380, leeway 60: */
	EXPECT(verify_at(k, &r, tok, 1300819380 + 59), JWT_OK);
	EXPECT(verify_at(k, &r, tok, 1300819380 + 60), JWT_EXPIRED);
	EXPECT(verify_at(k, &r, tok, now), JWT_EXPIRED);
	jwt_keys_free(k);
}

/* RFC 7515 A.3: ES256. */
static void
test_rfc7515_a3(void **state)
{
	const char *tok =
	    "eyJhbGciOiJFUzI1NiJ9"
	    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
	    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
	    "pmWQxfKTUJqPP3-Kg6NU1Q";
	const char *jwks =
	    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
	    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";
	const struct jwt_rule r = {"joe", NULL, 0}, r2 = {"joe", NULL, 86400};
	struct jwt_keys *k;
	char *t;

	k = keys_ok(jwks, NULL);
	EXPECT(verify_at(k, &r, tok, 1300819380 - HOUR), JWT_OK);
	EXPECT(verify_at(k, &r, tok, now), JWT_EXPIRED);
	EXPECT(verify_at(k, &r2, tok, 1300819380 + 86399), JWT_OK);
	/* The same, relabelled HS256: the EC key checks ES256 only. */
	t = swap_header(tok, "{\"alg\":\"HS256\"}");
	EXPECT(verify_at(k, &r, t, 1300819380 - HOUR), JWT_NO_KEY);
	free(t);
	jwt_keys_free(k);
}

/* at+jwt (RFC 9068), which libjwt refuses: checked by OpenSSL here. */
static void
test_typ(void **state)
{
	const char *ok[] = {"\"typ\":\"at+jwt\"", "\"typ\":\"AT+JWT\"",
	    "\"typ\":\"application/at+jwt\"", "\"typ\":\"jwt\"",
	    "\"typ\":\"application/jwt\""};
	const char *bad[] = {"\"typ\":\"JOSE\"", "\"typ\":\"application/jose\"",
	    "\"typ\":\"JWT \"", "\"typ\":1", "\"typ\":null", "\"typ\":\"\""};
	char *t, *u;
	size_t i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		t = mint_std("RS256", "rsa1.pem", "rsa1", ok[i], NULL);
		EXPECT(verify(t), JWT_OK);
		u = swap_payload(t, "{\"iss\":\"" ISS "\",\"admin\":true}");
		EXPECT(verify(u), JWT_BAD_SIGNATURE);
		free(u);
		free(t);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		t = mint_std("RS256", "rsa1.pem", "rsa1", bad[i], NULL);
		EXPECT(verify(t), JWT_BAD_HEADER);
		free(t);
	}
	t = mint_std("ES256", "ec256.pem", NULL, ok[0], NULL);
	EXPECT(verify(t), JWT_OK);
	free(t);
	t = mint_std("ES512", "ec521.pem", "ec521", ok[0], NULL);
	EXPECT(verify(t), JWT_OK);
	free(t);
	t = mint_std("ES256", "ecrogue.pem", NULL, ok[0], NULL);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	t = mint_std("HS384", "hs.key", "hs", ok[0], NULL);
	EXPECT(verify(t), JWT_OK);
	free(t);
	t = mint_std("HS256", "hs-bad.key", "hs", ok[0], NULL);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	t = mint_std("RS256", "rogue.pem", NULL, ok[0], NULL);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	/* The confusion attack takes the OpenSSL path too. */
	t = mint_std("HS256", "rsa1.pub", "rsa1", ok[0], NULL);
	EXPECT(verify(t), JWT_NO_KEY);
	free(t);
}

/* ---- Attacks ---- */

static void
test_alg_none(void **state)
{
	const char *algs[] = {"none", "None", "NONE"};
	char *h, *c, *t, *rs, *u;
	size_t i;

	c = claims(NULL);
	rs = mint_std("RS256", "rsa1.pem", "rsa1", NULL, NULL);
	for (i = 0; i < 3; i++) {
		/* Unsigned: "h.p." */
		h = header(algs[i], "rsa1", NULL);
		t = mint("none", "hs.key", h, c);
		assert_int_equal(t[strlen(t) - 1], '.');
		EXPECT(verify(t), JWT_BAD_HEADER);
		/* With a signature that is valid for RS256. */
		u = xfmt("%s%s", t, strrchr(rs, '.') + 1);
		EXPECT(verify(u), JWT_BAD_HEADER);
		free(u);
		free(t);
		free(h);
		/* Without a kid. */
		h = header(algs[i], NULL, NULL);
		t = mint("none", "hs.key", h, c);
		EXPECT(verify(t), JWT_BAD_HEADER);
		free(t);
		free(h);
	}
	/* The signed token, relabelled none. */
	t = swap_header(rs, "{\"alg\":\"none\",\"kid\":\"rsa1\"}");
	EXPECT(verify(t), JWT_BAD_HEADER);
	free(t);
	free(rs);
	free(c);
}

/*
 * HS256 with the RSA public key PEM as the HMAC secret: libjwt 1.10
 * accepts it when handed the PEM. Each form of the public key the
 * attacker may guess, with and without the kid.
 */
static void
test_alg_confusion(void **state)
{
	const char *pems[] = {"rsa1.pub", "rsa1.pkcs1", "rsa1.pub.nonl"};
	struct jwt_keys *k;
	char *pem, *t, *jwk, *path;
	size_t i;

	path = tpath("rsa1.pub");
	pem = read_file(path);
	free(path);
	write_tfile("rsa1.pub.nonl", pem, strlen(pem));
	for (i = 0; i < 3; i++) {
		t = mint_std("HS256", pems[i], "rsa1", NULL, NULL);
		EXPECT(verify(t), JWT_NO_KEY);
		free(t);
		t = mint_std("HS256", pems[i], "rsa2", NULL, NULL);
		EXPECT(verify(t), JWT_NO_KEY);
		free(t);
		/* Without a kid, only the oct key is tried. */
		t = mint_std("HS256", pems[i], NULL, NULL, NULL);
		EXPECT(verify(t), JWT_BAD_SIGNATURE);
		free(t);
	}
	/* An RSA-only JWKS has no key for HS256 at all. */
	k = keys_one(jwk_rsa("rsa1.pem", "rsa1", NULL));
	t = mint_std("HS256", "rsa1.pub", NULL, NULL, NULL);
	EXPECT(verify_at(k, &rule_default, t, now), JWT_NO_KEY);
	jwt_keys_free(k);
	/* The same token is a good HMAC with that secret: only the pin
	 * refused it above. */
	pem = realloc(pem, strlen(pem) + 2);
	strcat(pem, "\n");
	jwk = jwk_oct(pem, strlen(pem), NULL, NULL);
	k = keys_one(jwk);
	EXPECT(verify_at(k, &rule_default, t, now), JWT_OK);
	jwt_keys_free(k);
	free(t);
	free(pem);
}

/* A signed token's alg swapped: RS256 -> HS256, HS256 -> RS256, ... */
static void
test_alg_swap(void **state)
{
	char *rs, *es, *hs, *t;

	rs = mint_std("RS256", "rsa1.pem", "rsa1", NULL, NULL);
	es = mint_std("ES384", "ec384.pem", "ec384", NULL, NULL);
	hs = mint_std("HS256", "hs.key", "hs", NULL, NULL);
	t = swap_header(rs, "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}");
	EXPECT(verify(t), JWT_NO_KEY);
	free(t);
	t = swap_header(rs, "{\"alg\":\"HS256\"}");
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	t = swap_header(rs, "{\"alg\":\"RS512\",\"kid\":\"rsa2\"}");
	EXPECT(verify(t), JWT_NO_KEY);
	free(t);
	t = swap_header(rs, "{\"alg\":\"RS512\",\"kid\":\"rsa1\"}");
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	t = swap_header(rs, "{\"alg\":\"rs256\",\"kid\":\"rsa1\"}");
	EXPECT(verify(t), JWT_BAD_HEADER);
	free(t);
	t = swap_header(rs, "{\"alg\":\"PS256\",\"kid\":\"rsa1\"}");
	EXPECT(verify(t), JWT_BAD_HEADER);
	free(t);
	t = swap_header(rs, "{\"alg\":\"EdDSA\",\"kid\":\"rsa1\"}");
	EXPECT(verify(t), JWT_BAD_HEADER);
	free(t);
	t = swap_header(rs, "{\"kid\":\"rsa1\"}");
	EXPECT(verify(t), JWT_BAD_HEADER);
	free(t);
	t = swap_header(rs, "{\"alg\":256,\"kid\":\"rsa1\"}");
	EXPECT(verify(t), JWT_BAD_HEADER);
	free(t);
	t = swap_header(es, "{\"alg\":\"ES256\",\"kid\":\"ec384\"}");
	EXPECT(verify(t), JWT_NO_KEY);
	free(t);
	t = swap_header(es, "{\"alg\":\"ES256\"}");
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	t = swap_header(es, "{\"alg\":\"HS384\",\"kid\":\"ec384\"}");
	EXPECT(verify(t), JWT_NO_KEY);
	free(t);
	t = swap_header(hs, "{\"alg\":\"RS256\",\"kid\":\"hs\"}");
	EXPECT(verify(t), JWT_NO_KEY);
	free(t);
	t = swap_header(hs, "{\"alg\":\"ES256\",\"kid\":\"hs\"}");
	EXPECT(verify(t), JWT_NO_KEY);
	free(t);
	free(rs);
	free(es);
	free(hs);
}

static void
test_crit(void **state)
{
	const char *crit[] = {"\"crit\":[\"exp\"],\"exp\":1",
	    "\"crit\":[\"b64\"],\"b64\":false", "\"crit\":[]", "\"crit\":null"};
	char *t;
	size_t i;

	for (i = 0; i < sizeof crit / sizeof crit[0]; i++) {
		t = mint_std("RS256", "rsa1.pem", "rsa1", crit[i], NULL);
		EXPECT(verify(t), JWT_BAD_HEADER);
		free(t);
	}
}

/* Keys the token brings along, signed by the attacker's own key. */
static void
test_embedded_keys(void **state)
{
	char *jwk, *x, *t, *pub;

	jwk = jwk_rsa("rogue.pem", "rsa1", NULL);
	x = xfmt("\"jwk\":%s", jwk);
	t = mint_std("RS256", "rogue.pem", "rsa1", x, NULL);
	EXPECT(verify(t), JWT_BAD_HEADER);
	free(t);
	/* Refused even when the signature is good. */
	t = mint_std("RS256", "rsa1.pem", "rsa1", x, NULL);
	EXPECT(verify(t), JWT_BAD_HEADER);
	free(t);
	free(x);
	free(jwk);
	t = mint_std("RS256", "rogue.pem", "rsa1",
	    "\"jku\":\"https://evil.example/jwks.json\"", NULL);
	EXPECT(verify(t), JWT_BAD_HEADER);
	free(t);
	t = mint_std("RS256", "rogue.pem", "rsa1",
	    "\"x5u\":\"https://evil.example/cert.pem\"", NULL);
	EXPECT(verify(t), JWT_BAD_HEADER);
	free(t);
	run("openssl req -x509 -key '%s/rogue.pem' -subj /CN=rogue -days 1 "
	    "-outform DER -out '%s/rogue.der' 2>/dev/null",
	    tmpdir, tmpdir);
	run("openssl base64 -A -in '%s/rogue.der' -out '%s/rogue.b64'", tmpdir,
	    tmpdir);
	x = tpath("rogue.b64");
	pub = read_file(x);
	free(x);
	x = xfmt("\"x5c\":[\"%s\"]", pub);
	t = mint_std("RS256", "rogue.pem", NULL, x, NULL);
	EXPECT(verify(t), JWT_BAD_HEADER);
	free(t);
	free(x);
	free(pub);
	/* Without a kid the rogue key is simply not in the JWKS. */
	t = mint_std("RS256", "rogue.pem", NULL, NULL, NULL);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
}

static void
test_kid(void **state)
{
	struct jwt_keys *k;
	char *t;

	t = mint_std("RS256", "rsa1.pem", "nope", NULL, NULL);
	EXPECT(verify(t), JWT_NO_KEY);
	free(t);
	/* A kid of the "enc" key: skipped, so not there. */
	t = mint_std("RS256", "enc.pem", "enc", NULL, NULL);
	EXPECT(verify(t), JWT_NO_KEY);
	free(t);
	t = mint_std("RS256", "enc.pem", NULL, NULL, NULL);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	/* A right key under another key's kid. */
	t = mint_std("RS256", "rsa1.pem", "rsa2", NULL, NULL);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	t = mint_std("RS256", "rsa1.pem", NULL, "\"kid\":7", NULL);
	EXPECT(verify(t), JWT_BAD_HEADER);
	free(t);
	/* A key without a kid is not tried for a token with one (jwt.h). */
	k = keys_one(jwk_oct(hs_secret, sizeof hs_secret, NULL, NULL));
	t = mint_std("HS256", "hs.key", NULL, NULL, NULL);
	EXPECT(verify_at(k, &rule_default, t, now), JWT_OK);
	free(t);
	t = mint_std("HS256", "hs.key", "some", NULL, NULL);
	EXPECT(verify_at(k, &rule_default, t, now), JWT_NO_KEY);
	free(t);
	jwt_keys_free(k);
}

/* No kid and several keys: each that fits the alg is tried. */
static void
test_no_kid_several_keys(void **state)
{
	char *t;

	/* rsa2 comes first in the JWKS and fails; rsa1 checks it. */
	t = mint_std("RS256", "rsa1.pem", NULL, NULL, NULL);
	EXPECT(verify(t), JWT_OK);
	free(t);
	t = mint_std("RS256", "rsa2.pem", NULL, NULL, NULL);
	EXPECT(verify(t), JWT_OK);
	free(t);
	/* RS384: rsa2 is pinned to RS256, so rsa1 only. */
	t = mint_std("RS384", "rsa1.pem", NULL, NULL, NULL);
	EXPECT(verify(t), JWT_OK);
	free(t);
	t = mint_std("RS384", "rsa2.pem", NULL, NULL, NULL);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	t = mint_std("ES384", "ec384.pem", NULL, NULL, NULL);
	EXPECT(verify(t), JWT_OK);
	free(t);
}

static void
test_issuer(void **state)
{
	const struct jwt_rule r = {"https://ISSUER.example", NULL, 0};
	const struct jwt_rule rnull = {NULL, NULL, 0};
	char *t, *c;

	t = mint_std("RS256", "rsa1.pem", "rsa1", NULL, NULL);
	EXPECT(verify_rule(&r, t), JWT_BAD_ISSUER);
	EXPECT(verify_rule(&rnull, t), JWT_BAD_ISSUER);
	free(t);
	c = xfmt("{\"iss\":\"https://evil.example\",\"exp\":%lld}",
	    (long long)now + HOUR);
	t = mint("ES256", "ec256.pem", "{\"alg\":\"ES256\"}", c);
	EXPECT(verify(t), JWT_BAD_ISSUER);
	free(t);
	free(c);
	t = mint(
	    "ES256", "ec256.pem", "{\"alg\":\"ES256\"}", "{\"sub\":\"x\"}");
	EXPECT(verify(t), JWT_BAD_ISSUER);
	free(t);
	t = mint("ES256", "ec256.pem", "{\"alg\":\"ES256\"}",
	    "{\"iss\":[\"" ISS "\"]}");
	EXPECT(verify(t), JWT_BAD_ISSUER);
	free(t);
	t = mint("ES256", "ec256.pem", "{\"alg\":\"ES256\"}",
	    "{\"iss\":\"" ISS "\"}");
	EXPECT(verify(t), JWT_OK);
	free(t);
}

static void
test_audience(void **state)
{
	const char *const auds[] = {"svc-a", "svc-b", NULL};
	const char *const none[] = {NULL};
	const struct jwt_rule r = {ISS, auds, 0}, rany = {ISS, none, 0};
	const char *ok[] = {"\"aud\":\"svc-b\"", "\"aud\":[\"x\",\"svc-a\"]",
	    "\"aud\":[1,\"svc-b\"]"};
	const char *bad[] = {"\"aud\":\"x\"", "\"aud\":[\"x\",\"y\"]",
	    "\"aud\":[]", "\"aud\":\"svc-a svc-b\"", "\"aud\":\"svc\"",
	    "\"aud\":\"[\\\"svc-a\\\"]\"", "\"aud\":{\"svc-a\":1}",
	    "\"aud\":[[\"svc-a\"]]", "\"aud\":null", "\"aud\":\"SVC-A\"", NULL};
	char *t;
	size_t i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		t = mint_std("HS256", "hs.key", "hs", NULL, ok[i]);
		EXPECT(verify_rule(&r, t), JWT_OK);
		free(t);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		t = mint_std("HS256", "hs.key", "hs", NULL, bad[i]);
		EXPECT(verify_rule(&r, t), JWT_BAD_AUDIENCE);
		/* Any audience when the rule names none. */
		EXPECT(verify_rule(&rany, t), JWT_OK);
		EXPECT(verify(t), JWT_OK);
		free(t);
	}
}

static void
test_time(void **state)
{
	const struct jwt_rule strict = {ISS, NULL, -1}, wide = {ISS, NULL, 300};
	struct {
		const char *pre;
		long long off;
		const char *post;
		const struct jwt_rule *r;
		enum jwt_status want;
	} c[] = {
	    {"\"exp\":", -61, "", &rule_default, JWT_EXPIRED},
	    {"\"exp\":", -30, "", &rule_default, JWT_OK},
	    {"\"exp\":", -1, "", &strict, JWT_EXPIRED},
	    {"\"exp\":", 0, "", &strict, JWT_EXPIRED},
	    {"\"exp\":", 1, "", &strict, JWT_OK},
	    {"\"exp\":", 0, ".5", &strict, JWT_OK},
	    {"\"exp\":", -200, "", &wide, JWT_OK},
	    {"\"exp\":", -HOUR, "", &wide, JWT_EXPIRED},
	    {"\"nbf\":", 120, "", &rule_default, JWT_NOT_YET_VALID},
	    {"\"nbf\":", 30, "", &rule_default, JWT_OK},
	    {"\"nbf\":", 1, "", &strict, JWT_NOT_YET_VALID},
	    {"\"nbf\":", 0, "", &strict, JWT_OK},
	    {"\"iat\":", 120, "", &rule_default, JWT_NOT_YET_VALID},
	    {"\"iat\":", 30, "", &rule_default, JWT_OK},
	    {"\"iat\":", 1, "", &strict, JWT_NOT_YET_VALID},
	    {"\"exp\":\"", HOUR, "\"", &rule_default, JWT_MALFORMED},
	    {"\"nbf\":\"", 0, "\"", &rule_default, JWT_MALFORMED},
	    {"\"iat\":[", 0, "]", &rule_default, JWT_MALFORMED},
	    {"\"exp\":null,\"x\":", 0, "", &rule_default, JWT_MALFORMED},
	};
	char *x, *p, *t;
	size_t i;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		x = xfmt(
		    "%s%lld%s", c[i].pre, (long long)now + c[i].off, c[i].post);
		p = xfmt("{\"iss\":\"" ISS "\",%s}", x);
		t = mint("ES256", "ec256.pem", "{\"alg\":\"ES256\"}", p);
		if (verify_rule(c[i].r, t) != c[i].want)
			fail_msg("%s: %s, expected %s", p,
			    status_names[verify_rule(c[i].r, t)],
			    status_names[c[i].want]);
		free(t);
		free(p);
		free(x);
	}
	/* No exp at all: accepted, as by Envoy. */
	t = mint("ES256", "ec256.pem", "{\"alg\":\"ES256\"}",
	    "{\"iss\":\"" ISS "\"}");
	EXPECT(verify(t), JWT_OK);
	free(t);
}

static void
test_tampered(void **state)
{
	char *rs, *es, *t, *c;
	size_t n;

	rs = mint_std("RS256", "rsa1.pem", "rsa1", NULL, NULL);
	es = mint_std("ES256", "ec256.pem", "ec256", NULL, NULL);
	c = claims("\"admin\":true");
	t = swap_payload(rs, c);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	t = swap_payload(es, c);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	free(c);
	/* The header changed, to one still acceptable. */
	t = swap_header(rs, "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"x\":1}");
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	/* One signature bit flipped. */
	t = strdup(rs);
	n = strlen(t);
	t[n - 10] = t[n - 10] == 'A' ? 'B' : 'A';
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	/* A good signature, but of another token. */
	c = mint_std("RS256", "rsa1.pem", "rsa1", NULL, "\"n\":1");
	t = xfmt("%.*s%s", (int)(strrchr(rs, '.') - rs), rs, strrchr(c, '.'));
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	free(c);
	free(rs);
	free(es);
}

/*
 * The token with its signature cut to a multiple of 4 characters, so
 * that what is left still decodes (no unused bits).
 */
static char *
truncate_sig(const char *tok)
{
	size_t sig = strlen(strrchr(tok, '.') + 1);

	return strndup(tok, strlen(tok) - sig + (sig / 4 - 1) * 4);
}

static void
test_truncated_signature(void **state)
{
	char *rs, *es, *hs, *t;

	rs = mint_std("RS256", "rsa1.pem", "rsa1", NULL, NULL);
	es = mint_std("ES256", "ec256.pem", "ec256", NULL, NULL);
	hs = mint_std("HS256", "hs.key", "hs", NULL, NULL);
	t = truncate_sig(rs);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	t = truncate_sig(es);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	t = truncate_sig(hs);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	/* 342 characters less one: a length no base64url string has. */
	t = strndup(rs, strlen(rs) - 1);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	/* Signature stripped: "h.p." */
	t = strndup(rs, (size_t)(strrchr(rs, '.') - rs) + 1);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	t = strndup(hs, (size_t)(strrchr(hs, '.') - hs) + 1);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	free(rs);
	free(es);
	free(hs);
}

/* ECDSA as OpenSSL writes it (DER), not JOSE's r || s. */
static void
test_es_der(void **state)
{
	char *h, *c, *t;

	h = header("ES256", "ec256", NULL);
	c = claims(NULL);
	t = mint("ES256-DER", "ec256.pem", h, c);
	EXPECT(verify(t), JWT_BAD_SIGNATURE);
	free(t);
	free(h);
	free(c);
}

static void
test_format(void **state)
{
	const char *bad[] = {"", ".", "..", "...", "a", "a.b", "a..c", ".b.c",
	    "a.b.c.d", "a.b.c.d.e", "eyJhbGciOiJSUzI1NiJ9.e30.e30.",
	    "eyJhbGciOiJSUzI1NiJ9..sig"};
	char *rs, *t;
	size_t i, n;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		EXPECT(verify(bad[i]), JWT_MALFORMED);
	EXPECT(jwt_verify(keys_main, &rule_default, NULL, 0, now, NULL),
	    JWT_MALFORMED);
	rs = mint_std("RS256", "rsa1.pem", "rsa1", NULL, NULL);
	/* Extra dots, anywhere. */
	t = xfmt("%s.", rs);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	t = xfmt(".%s", rs);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	t = xfmt("%s.%s", rs, strrchr(rs, '.') + 1);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	/* Padding, whitespace, the other alphabet, a Bearer prefix. */
	t = xfmt("%s==", rs);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	t = xfmt("%s ", rs);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	t = xfmt("Bearer %s", rs);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	t = strdup(rs);
	*strchr(t, 'e') = '+';
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	/* Non-zero unused bits in the last character: 256 bytes of RSA
	 * signature leave 4 of them. */
	t = strdup(rs);
	n = strlen(t);
	assert_int_equal((n - (size_t)(strrchr(t, '.') - t) - 1) % 4, 2);
	t[n - 1] = t[n - 1] == 'A' ? 'B' : (char)(t[n - 1] + 1);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	/* Only len bytes are read: what follows does not count. */
	t = xfmt("%s.garbage", rs);
	EXPECT(verify_at(keys_main, &rule_default, t, now), JWT_MALFORMED);
	EXPECT(jwt_verify(keys_main, &rule_default, t, strlen(rs), now, NULL),
	    JWT_OK);
	free(t);
	free(rs);
}

static void
test_bad_json(void **state)
{
	char *t, *c;

	c = claims(NULL);
	t = mint("RS256", "rsa1.pem", "not json", c);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	t = mint("RS256", "rsa1.pem", "[\"RS256\"]", c);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	/* Duplicate members: libjwt must not read another alg than ours. */
	t = mint("RS256", "rsa1.pem",
	    "{\"alg\":\"RS256\",\"alg\":\"HS256\",\"kid\":\"rsa1\"}", c);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	t = mint("RS256", "rsa1.pem", "{\"alg\":\"RS256\"} x", c);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	t = mint(
	    "RS256", "rsa1.pem", "{\"alg\":\"RS256\",\"kid\":\"a\\u0000\"}", c);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	free(c);
	t = mint("RS256", "rsa1.pem", "{\"alg\":\"RS256\"}", "[1]");
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	t = mint("RS256", "rsa1.pem", "{\"alg\":\"RS256\"}", "\"str\"");
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	t = mint("RS256", "rsa1.pem", "{\"alg\":\"RS256\"}",
	    "{\"iss\":\"" ISS "\",\"iss\":\"other\"}");
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	t = mint(
	    "RS256", "rsa1.pem", "{\"alg\":\"RS256\"}", "{\"iss\":\"" ISS "\"");
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
}

/* A token of claims bytes of claims, from rsa1. */
static char *
mint_sized(size_t bytes)
{
	char *big, *x, *t;

	assert_non_null(big = malloc(bytes + 1));
	memset(big, 'g', bytes);
	big[bytes] = '\0';
	x = xfmt("\"groups\":[\"%s\"]", big);
	t = mint_std("RS256", "rsa1.pem", "rsa1", NULL, x);
	free(x);
	free(big);
	return t;
}

static void
test_sizes(void **state)
{
	size_t n = 1 << 20;
	char *big, *t;

	/* Huge: refused before anything is decoded. */
	assert_non_null(big = malloc(n + 1));
	memset(big, 'A', n);
	big[10] = '.';
	big[n / 2] = '.';
	big[n] = '\0';
	EXPECT(verify(big), JWT_MALFORMED);
	free(big);
	/* A good signature does not make a 90 KiB token acceptable. */
	t = mint_sized(70000);
	assert_true(strlen(t) > 65536);
	EXPECT(verify(t), JWT_MALFORMED);
	free(t);
	/* Large but within bounds (40 KiB of claims). */
	t = mint_sized(40000);
	assert_true(strlen(t) > 50000 && strlen(t) <= 65536);
	EXPECT(verify(t), JWT_OK);
	free(t);
}

static void
test_status_text(void **state)
{
	assert_string_equal(jwt_status_text(JWT_EXPIRED), "Jwt is expired");
	assert_string_equal(
	    jwt_status_text(JWT_NOT_YET_VALID), "Jwt not yet valid");
	assert_string_equal(
	    jwt_status_text(JWT_BAD_ISSUER), "Jwt issuer is not configured");
	assert_string_equal(jwt_status_text(JWT_BAD_AUDIENCE),
	    "Audiences in Jwt are not allowed");
	assert_string_equal(
	    jwt_status_text(JWT_BAD_SIGNATURE), "Jwt verification fails");
	assert_string_equal(jwt_status_text(JWT_MALFORMED),
	    "Jwt is not in the form of Header.Payload.Signature with two "
	    "dots and 3 sections");
	assert_string_equal(jwt_status_text(JWT_NO_KEY),
	    "Jwks doesn't have key to match kid or alg from Jwt");
	assert_string_equal(jwt_status_text(JWT_BAD_HEADER),
	    "Jwt header [alg] is not supported");
	assert_string_equal(jwt_status_text(JWT_OK), "OK");
	assert_string_equal(
	    jwt_status_text((enum jwt_status)99), "Jwt verification fails");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jwks_kinds),
	    cmocka_unit_test(test_jwks_skips),
	    cmocka_unit_test(test_jwks_errors),
	    cmocka_unit_test(test_valid_rsa),
	    cmocka_unit_test(test_valid_ec),
	    cmocka_unit_test(test_valid_hmac),
	    cmocka_unit_test(test_istio_samples),
	    cmocka_unit_test(test_rfc7515_a1),
	    cmocka_unit_test(test_rfc7515_a3),
	    cmocka_unit_test(test_typ),
	    cmocka_unit_test(test_alg_none),
	    cmocka_unit_test(test_alg_confusion),
	    cmocka_unit_test(test_alg_swap),
	    cmocka_unit_test(test_crit),
	    cmocka_unit_test(test_embedded_keys),
	    cmocka_unit_test(test_kid),
	    cmocka_unit_test(test_no_kid_several_keys),
	    cmocka_unit_test(test_issuer),
	    cmocka_unit_test(test_audience),
	    cmocka_unit_test(test_time),
	    cmocka_unit_test(test_tampered),
	    cmocka_unit_test(test_truncated_signature),
	    cmocka_unit_test(test_es_der),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_bad_json),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_status_text),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
