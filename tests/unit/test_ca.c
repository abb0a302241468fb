/*
 * Unit tests for the mesh CA (src/lib/ca.c): creating and reopening a
 * root, issuing from CSRs that ask for more than they get, the
 * certificates ca_cert_check must refuse, an intermediate CA, the
 * atomic file writes keys go through, and the rotation of the root
 * (src/lib/ca_rotate.c): its three steps, their files, what each phase
 * hands out and signs, a restart in each phase and a crash in finish.
 *
 * Certificates the CA would never issue (expired, from a foreign
 * intermediate) are built here with OpenSSL directly.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
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
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"

#define TD       "example.org"
#define WORKLOAD "spiffe://example.org/ns/shop/sa/cart"
#define HOUR     3600

/* A temporary directory with two CAs, a/ and b/, for the whole run. */
static char tmpdir[] = "/tmp/weft-test-ca.XXXXXX";
static struct ca *ca_a, *ca_b;

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

static struct ca *
open_ok(const char *rel)
{
	char *dir, *cause = NULL;
	struct ca *ca;

	dir = tpath("%s", rel);
	if (mkdir(dir, 0700) == -1)
		fail_msg("mkdir %s", dir);
	if ((ca = ca_open(dir, TD, &cause)) == NULL)
		fail_msg("ca_open %s: %s", dir, cause);
	free(dir);
	return ca;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	ca_a = open_ok("a");
	ca_b = open_ok("b");
	return 0;
}

static int
teardown(void **state)
{
	ca_free(ca_a);
	ca_free(ca_b);
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Entries of a directory, "." and ".." aside. */
static int
count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

static void
assert_mode(const char *path, mode_t mode)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, mode);
}

static void
write_ok(const char *path, const char *s)
{
	char *cause = NULL;

	if (ca_write_file(path, s, strlen(s), 0600, &cause) == -1)
		fail_msg("%s", cause);
}

static X509 *
x509_parse(const char *pem)
{
	BIO *bio;
	X509 *x;

	assert_non_null(bio = BIO_new_mem_buf(pem, -1));
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *
key_parse(const char *pem)
{
	EVP_PKEY *key;
	BIO *bio;

	assert_non_null(bio = BIO_new_mem_buf(pem, -1));
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(key);
	return key;
}

static char *
x509_pem(X509 *x)
{
	char *data, *s;
	long len;
	BIO *bio;

	assert_non_null(bio = BIO_new(BIO_s_mem()));
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	len = BIO_get_mem_data(bio, &data);
	assert_non_null(s = strndup(data, (size_t)len));
	BIO_free(bio);
	return s;
}

static char *
key_pem(EVP_PKEY *key)
{
	char *data, *s;
	long len;
	BIO *bio;

	assert_non_null(bio = BIO_new(BIO_s_mem()));
	assert_int_equal(
	    PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL),
	    1);
	len = BIO_get_mem_data(bio, &data);
	assert_non_null(s = strndup(data, (size_t)len));
	BIO_free(bio);
	return s;
}

static char *
ca_key_of(const char *rel)
{
	char *path, *cause = NULL, *pem;

	path = tpath("%s/ca-key.pem", rel);
	if ((pem = ca_read_file(path, &cause)) == NULL)
		fail_msg("%s", cause);
	free(path);
	return pem;
}

static int
ext_critical(X509 *x, int nid)
{
	int i;

	assert_true((i = X509_get_ext_by_NID(x, nid, -1)) >= 0);
	return X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static void
assert_cn(X509 *x, const char *cn)
{
	char buf[256];

	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
			NID_commonName, buf, sizeof buf) > 0);
	assert_string_equal(buf, cn);
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
			NID_organizationName, buf, sizeof buf) > 0);
	assert_string_equal(buf, "weft");
}

/*
 * A certificate built by hand: a CA (is_ca) or a leaf, signed by
 * issuer_key (self-signed when issuer is NULL).
 */
static X509 *
cert_new(const char *cn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *issuer_key,
    int is_ca, time_t not_before, time_t not_after)
{
	static long serial = 1000;
	X509_EXTENSION *ext;
	X509_NAME *name;
	X509V3_CTX ctx;
	X509 *x;
	size_t i;
	const char *exts[][2] = {
	    {"basicConstraints",
		is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
	    {"keyUsage",
		is_ca ? "critical,keyCertSign,cRLSign"
		      : "critical,digitalSignature"},
	    {"subjectKeyIdentifier", "hash"},
	    {"authorityKeyIdentifier", "keyid:always"},
	};

	assert_non_null(x = X509_new());
	assert_non_null(name = X509_NAME_new());
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
			     (const unsigned char *)cn, -1, -1, 0),
	    1);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(
	    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
	assert_int_equal(X509_set_subject_name(x, name), 1);
	assert_int_equal(
	    X509_set_issuer_name(
		x, issuer != NULL ? X509_get_subject_name(issuer) : name),
	    1);
	X509_NAME_free(name);
	assert_int_equal(X509_set_pubkey(x, pub), 1);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), not_before));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), not_after));
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		if (issuer == NULL && i == 3)
			break;
		ext = X509V3_EXT_conf(NULL, &ctx, exts[i][0], exts[i][1]);
		assert_non_null(ext);
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	return x;
}

/*
 * A CSR for pub signed by signer: with signer not pub's own key, its
 * signature does not verify. Ed25519 signs without a separate digest.
 */
static char *
csr_new(EVP_PKEY *pub, EVP_PKEY *signer)
{
	X509_REQ *req;
	char *data, *s;
	long len;
	BIO *bio;

	assert_non_null(req = X509_REQ_new());
	assert_int_equal(X509_REQ_set_pubkey(req, pub), 1);
	assert_true(
	    X509_REQ_sign(req, signer,
		EVP_PKEY_is_a(signer, "ED25519") ? NULL : EVP_sha256()) > 0);
	assert_non_null(bio = BIO_new(BIO_s_mem()));
	assert_int_equal(PEM_write_bio_X509_REQ(bio, req), 1);
	len = BIO_get_mem_data(bio, &data);
	assert_non_null(s = strndup(data, (size_t)len));
	BIO_free(bio);
	X509_REQ_free(req);
	return s;
}

/* A certificate of ca for a new key; fills *key_out when not NULL. */
static char *
issue_ok(struct ca *ca, const char *spiffe_id, char **key_out)
{
	char *key, *csr, *cert, *cause = NULL;
	int64_t na;

	if ((key = ca_key_generate(&cause)) == NULL)
		fail_msg("ca_key_generate: %s", cause);
	if ((csr = ca_csr_make(key, spiffe_id, &cause)) == NULL)
		fail_msg("ca_csr_make: %s", cause);
	if ((cert = ca_issue(ca, csr, spiffe_id, HOUR, &na, &cause)) == NULL)
		fail_msg("ca_issue: %s", cause);
	free(csr);
	if (key_out != NULL)
		*key_out = key;
	else
		free(key);
	return cert;
}

/* ca_cert_check fails with a cause containing want. */
static void
check_fails(
    const char *cert, const char *key, const char *bundle, const char *want)
{
	char *cause = NULL;

	assert_int_equal(ca_cert_check(cert, key, bundle, &cause), -1);
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("cause \"%s\", wanted \"%s\"", cause, want);
	free(cause);
}

static void
issue_fails(
    const char *csr, const char *spiffe_id, int64_t ttl, const char *want)
{
	char *cause = NULL;
	int64_t na = 42;

	assert_null(ca_issue(ca_a, csr, spiffe_id, ttl, &na, &cause));
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("cause \"%s\", wanted \"%s\"", cause, want);
	assert_int_equal(na, 42);
	free(cause);
	assert_int_equal(ERR_peek_error(), 0);
}

static void
open_fails(const char *dir, const char *td, const char *want)
{
	char *cause = NULL;

	assert_null(ca_open(dir, td, &cause));
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("cause \"%s\", wanted \"%s\"", cause, want);
	free(cause);
}

/* The root a new CA makes, its files, and the same CA when reopened. */
static void
test_open_create(void **state)
{
	char *dir, *cert_path, *key_path, *file, fp[65], *cause = NULL;
	struct ca *ca;
	X509 *root;
	EVP_PKEY *pub;

	dir = tpath("a");
	cert_path = tpath("a/ca.pem");
	key_path = tpath("a/ca-key.pem");
	assert_mode(cert_path, 0644);
	assert_mode(key_path, 0600);
	assert_int_equal(count_entries(dir), 2);

	assert_int_equal(strlen(ca_fingerprint(ca_a)), 64);
	assert_int_equal(strspn(ca_fingerprint(ca_a), "0123456789abcdef"), 64);
	assert_int_equal(ca_fingerprint_pem(ca_bundle_pem(ca_a), fp), 0);
	assert_string_equal(fp, ca_fingerprint(ca_a));
	assert_string_not_equal(ca_fingerprint(ca_a), ca_fingerprint(ca_b));
	assert_non_null(file = ca_read_file(cert_path, &cause));
	assert_string_equal(file, ca_bundle_pem(ca_a));
	free(file);

	root = x509_parse(ca_bundle_pem(ca_a));
	assert_cn(root, "weft root CA " TD);
	assert_int_equal(X509_check_ca(root), 1);
	assert_int_equal(ext_critical(root, NID_basic_constraints), 1);
	assert_int_equal(ext_critical(root, NID_key_usage), 1);
	assert_int_equal(
	    X509_get_key_usage(root), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_non_null(X509_get0_subject_key_id(root));
	assert_int_equal(X509_get_signature_nid(root), NID_ecdsa_with_SHA256);
	assert_non_null(pub = X509_get0_pubkey(root));
	assert_int_equal(X509_verify(root, pub), 1);
	assert_true(EVP_PKEY_is_a(pub, "EC"));
	/* Ten years, give or take the leap days. */
	assert_true(ASN1_TIME_cmp_time_t(X509_get0_notAfter(root),
			time(NULL) + (int64_t)3650 * 86400) > 0);
	X509_free(root);

	/* The trust domain only matters for a new CA. */
	if ((ca = ca_open(dir, "other.example", &cause)) == NULL)
		fail_msg("%s", cause);
	assert_string_equal(ca_fingerprint(ca), ca_fingerprint(ca_a));
	assert_string_equal(ca_bundle_pem(ca), ca_bundle_pem(ca_a));
	ca_free(ca);
	assert_int_equal(count_entries(dir), 2);
	ca_free(NULL);

	free(dir);
	free(cert_path);
	free(key_path);
}

static void
test_open_errors(void **state)
{
	char *dir, *cert_path, *key_path, *key, *cause = NULL;

	dir = tpath("half");
	cert_path = tpath("half/ca.pem");
	key_path = tpath("half/ca-key.pem");
	assert_int_equal(mkdir(dir, 0700), 0);

	/* One file without the other. */
	write_ok(key_path, "x");
	open_fails(dir, TD, "ca-key.pem exists but");
	assert_int_equal(unlink(key_path), 0);
	write_ok(cert_path, ca_bundle_pem(ca_a));
	open_fails(dir, TD, "ca.pem exists but");

	/* Both, but not a pair. */
	assert_non_null(key = ca_key_generate(&cause));
	write_ok(key_path, key);
	free(key);
	open_fails(dir, TD, "does not match");
	key = ca_key_of("a");
	write_ok(cert_path, "not a certificate\n");
	write_ok(key_path, key);
	open_fails(dir, TD, "no certificate");
	write_ok(cert_path, ca_bundle_pem(ca_a));
	write_ok(key_path,
	    "-----BEGIN PRIVATE KEY-----\nAAAA\n"
	    "-----END PRIVATE KEY-----\n");
	open_fails(dir, TD, "bad private key");
	/* The right pair again opens. */
	write_ok(key_path, key);
	free(key);
	ca_free(ca_open(dir, TD, &cause));
	assert_null(cause);
	assert_int_equal(unlink(cert_path), 0);
	assert_int_equal(unlink(key_path), 0);

	/* A bad trust domain creates nothing. */
	open_fails(dir, "Bad Domain", "invalid trust domain");
	assert_int_equal(count_entries(dir), 0);
	/* A directory that is not there. */
	free(dir);
	dir = tpath("missing/dir");
	open_fails(dir, TD, "missing/dir/ca-key.pem: mkostemp");

	free(dir);
	free(cert_path);
	free(key_path);
	assert_int_equal(ERR_peek_error(), 0);
}

/* The CSR asks for another identity and gets the one the CA decided. */
static void
test_issue_decides_san(void **state)
{
	char *key, *csr, *cert, *cert2, *id = NULL, *cause = NULL;
	const ASN1_OCTET_STRING *akid, *skid;
	GENERAL_NAMES *names;
	const GENERAL_NAME *gen;
	int64_t na, info_na;
	time_t now;
	X509 *x, *x2, *root;
	BIGNUM *serial;

	assert_non_null(key = ca_key_generate(&cause));
	assert_non_null(strstr(key, "-----BEGIN PRIVATE KEY-----"));
	csr = ca_csr_make(
	    key, "spiffe://evil.example/ns/kube-system/sa/admin", &cause);
	assert_non_null(csr);
	assert_non_null(strstr(csr, "CERTIFICATE REQUEST"));
	now = time(NULL);
	cert = ca_issue(ca_a, csr, WORKLOAD, HOUR, &na, &cause);
	if (cert == NULL)
		fail_msg("%s", cause);
	assert_true(na >= now + HOUR && na <= time(NULL) + HOUR);

	assert_int_equal(ca_cert_info(cert, &info_na, &id, &cause), 0);
	assert_string_equal(id, WORKLOAD);
	assert_int_equal(info_na, na);
	free(id);

	x = x509_parse(cert);
	names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_non_null(names);
	assert_int_equal(sk_GENERAL_NAME_num(names), 1);
	gen = sk_GENERAL_NAME_value(names, 0);
	assert_int_equal(gen->type, GEN_URI);
	GENERAL_NAMES_free(names);
	assert_cn(x, "/ns/shop/sa/cart");

	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(ext_critical(x, NID_basic_constraints), 1);
	assert_int_equal(ext_critical(x, NID_key_usage), 1);
	assert_int_equal(
	    X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	assert_int_equal(
	    X509_get_extended_key_usage(x), XKU_SSL_SERVER | XKU_SSL_CLIENT);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	assert_non_null(skid = X509_get0_subject_key_id(x));
	root = x509_parse(ca_bundle_pem(ca_a));
	assert_non_null(akid = X509_get0_authority_key_id(x));
	assert_int_equal(
	    ASN1_OCTET_STRING_cmp(akid, X509_get0_subject_key_id(root)), 0);
	assert_int_equal(
	    X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(root)),
	    0);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(root)), 1);
	/* Five minutes of clock skew allowed for. */
	assert_true(
	    ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), now - 290) < 0);
	assert_true(
	    ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), now - 310) > 0);
	X509_free(root);

	/* 128 random bits: two serials differ, and one is rarely short. */
	assert_non_null(
	    serial = ASN1_INTEGER_to_BN(X509_get_serialNumber(x), NULL));
	assert_false(BN_is_negative(serial));
	assert_true(BN_num_bits(serial) > 64 && BN_num_bits(serial) <= 128);
	BN_free(serial);
	assert_non_null(
	    cert2 = ca_issue(ca_a, csr, WORKLOAD, HOUR, &na, &cause));
	x2 = x509_parse(cert2);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get_serialNumber(x),
				 X509_get_serialNumber(x2)),
	    0);
	X509_free(x2);
	free(cert2);
	X509_free(x);

	assert_int_equal(
	    ca_cert_check(cert, key, ca_bundle_pem(ca_a), &cause), 0);
	assert_null(cause);
	assert_int_equal(ERR_peek_error(), 0);

	free(cert);
	free(csr);
	free(key);
}

/* A P-384 CSR is fine too; the CSR's subject never reaches the cert. */
static void
test_issue_p384(void **state)
{
	char *csr, *cert, *cause = NULL;
	EVP_PKEY *k;
	int64_t na;
	X509 *x;

	assert_non_null(k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"));
	csr = csr_new(k, k);
	cert = ca_issue(ca_a, csr, WORKLOAD, 60, &na, &cause);
	if (cert == NULL)
		fail_msg("%s", cause);
	x = x509_parse(cert);
	assert_cn(x, "/ns/shop/sa/cart");
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);
	X509_free(x);
	free(cert);
	free(csr);
	EVP_PKEY_free(k);
}

/*
 * Changes one base64 character of the last line of a PEM: inside the
 * signature, far enough from the end that padding bits cannot absorb it.
 */
static void
flip_signature(char *pem)
{
	char *p;
	int seen = 0;

	assert_non_null(p = strstr(pem, "\n-----END"));
	while (p > pem && seen < 4) {
		p--;
		if (*p != '\n' && *p != '=')
			seen++;
	}
	*p = *p == 'A' ? 'B' : 'A';
}

static void
test_issue_rejects(void **state)
{
	char *key, *csr, *bad, *cause = NULL;
	EVP_PKEY *k1, *k2;
	size_t len;

	assert_non_null(key = ca_key_generate(&cause));
	assert_non_null(csr = ca_csr_make(key, WORKLOAD, &cause));

	issue_fails("garbage", WORKLOAD, HOUR, "CSR: cannot parse");
	issue_fails("", WORKLOAD, HOUR, "CSR: cannot parse");
	/* Cut in the middle, then one character of its base64 changed. */
	assert_non_null(bad = strdup(csr));
	len = strlen(bad);
	strcpy(bad + len / 2, "\n-----END CERTIFICATE REQUEST-----\n");
	issue_fails(bad, WORKLOAD, HOUR, "CSR");
	strcpy(bad, csr);
	flip_signature(bad);
	issue_fails(bad, WORKLOAD, HOUR, "CSR: bad signature");
	free(bad);

	issue_fails(csr, WORKLOAD, 0, "lifetime");
	issue_fails(csr, WORKLOAD, -HOUR, "lifetime");
	issue_fails(csr, "https://example.org/x", HOUR, "not a SPIFFE ID");
	issue_fails(csr, "spiffe://example.org", HOUR, "path");
	issue_fails(csr, "spiffe://example.org/", HOUR, "path");
	issue_fails(csr, "spiffe:///path", HOUR, "trust domain");
	issue_fails(csr, "spiffe://example.org/a b", HOUR, "character");
	free(csr);

	/* Signed by another key than the one it carries. */
	assert_non_null(k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	assert_non_null(k2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	csr = csr_new(k1, k2);
	issue_fails(csr, WORKLOAD, HOUR, "CSR: bad signature");
	free(csr);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);

	assert_non_null(
	    k1 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024));
	csr = csr_new(k1, k1);
	issue_fails(csr, WORKLOAD, HOUR, "RSA key of 1024 bits");
	free(csr);
	EVP_PKEY_free(k1);

	assert_non_null(k1 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
	csr = csr_new(k1, k1);
	issue_fails(csr, WORKLOAD, HOUR, "unsupported key type");
	free(csr);
	EVP_PKEY_free(k1);

	assert_non_null(k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"));
	csr = csr_new(k1, k1);
	issue_fails(csr, WORKLOAD, HOUR, "unsupported EC curve");
	free(csr);
	EVP_PKEY_free(k1);

	/* ca_csr_make checks its inputs too. */
	assert_null(ca_csr_make("junk", WORKLOAD, &cause));
	assert_non_null(strstr(cause, "bad private key"));
	free(cause);
	cause = NULL;
	assert_null(ca_csr_make(key, "urn:x", &cause));
	assert_non_null(strstr(cause, "not a SPIFFE ID"));
	free(cause);
	free(key);
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_check(void **state)
{
	char *cert, *key, *other_key, *cert_b, *key_b, *ca_key, *expired;
	char *two, *cause = NULL;
	EVP_PKEY *cakey, *leafkey;
	X509 *root, *x;
	time_t now;

	cert = issue_ok(ca_a, WORKLOAD, &key);
	cert_b = issue_ok(ca_b, WORKLOAD, &key_b);
	assert_int_equal(
	    ca_cert_check(cert, key, ca_bundle_pem(ca_a), &cause), 0);
	assert_int_equal(
	    ca_cert_check(cert_b, key_b, ca_bundle_pem(ca_b), &cause), 0);

	/* A bundle of both roots trusts both. */
	assert_true(asprintf(&two, "%s%s", ca_bundle_pem(ca_b),
			ca_bundle_pem(ca_a)) != -1);
	assert_int_equal(ca_cert_check(cert, key, two, &cause), 0);
	assert_int_equal(ca_cert_check(cert_b, key_b, two, &cause), 0);
	free(two);

	assert_non_null(other_key = ca_key_generate(&cause));
	check_fails(cert, other_key, ca_bundle_pem(ca_a),
	    "key does not match the certificate");
	check_fails(cert, key_b, ca_bundle_pem(ca_a),
	    "key does not match the certificate");
	free(other_key);

	check_fails(cert_b, key_b, ca_bundle_pem(ca_a),
	    "unable to get local issuer certificate");
	check_fails(cert, key, "", "trust bundle: no certificate");
	check_fails(
	    "junk", key, ca_bundle_pem(ca_a), "certificate: no certificate");
	check_fails(cert, "junk", ca_bundle_pem(ca_a), "key: bad private key");

	/* Expired an hour ago: the CA would not issue it, so built here. */
	ca_key = ca_key_of("a");
	cakey = key_parse(ca_key);
	leafkey = key_parse(key);
	root = x509_parse(ca_bundle_pem(ca_a));
	now = time(NULL);
	x = cert_new(
	    "expired", leafkey, root, cakey, 0, now - 2 * HOUR, now - HOUR);
	expired = x509_pem(x);
	check_fails(
	    expired, key, ca_bundle_pem(ca_a), "certificate has expired");
	X509_free(x);
	free(expired);
	/* Not valid yet either. */
	x = cert_new(
	    "future", leafkey, root, cakey, 0, now + HOUR, now + 2 * HOUR);
	expired = x509_pem(x);
	check_fails(expired, key, ca_bundle_pem(ca_a), "not yet valid");
	X509_free(x);
	free(expired);

	X509_free(root);
	EVP_PKEY_free(leafkey);
	EVP_PKEY_free(cakey);
	free(ca_key);
	free(cert);
	free(key);
	free(cert_b);
	free(key_b);
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_issue_server(void **state)
{
	const char *dns[] = {"weft-server.weft.svc", "localhost", NULL};
	const char *ips[] = {"127.0.0.1", "::1", "fd00::5", NULL};
	const char *none[] = {NULL};
	const char *bad_ip[] = {"10.0.0.1junk", NULL};
	const char *bad_dns[] = {"a b", NULL};
	char *cert, *key, *id = NULL, *cause = NULL;
	int64_t na;
	X509 *x;

	if (ca_issue_server(ca_a, dns, ips, "spiffe://example.org/weft/server",
		86400, &cert, &key, &cause) == -1)
		fail_msg("%s", cause);
	assert_non_null(strstr(key, "-----BEGIN PRIVATE KEY-----"));
	x = x509_parse(cert);
	assert_int_equal(
	    X509_check_host(x, "weft-server.weft.svc", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "other.example", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "fd00:0:0::5", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "10.0.0.1", 0), 0);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_check_ca(x), 0);
	assert_cn(x, "weft-server.weft.svc");
	X509_free(x);
	assert_int_equal(ca_cert_info(cert, &na, &id, &cause), 0);
	assert_string_equal(id, "spiffe://example.org/weft/server");
	assert_true(na > time(NULL) + 86000);
	free(id);
	assert_int_equal(
	    ca_cert_check(cert, key, ca_bundle_pem(ca_a), &cause), 0);
	free(cert);
	free(key);

	/* IPs alone, no SPIFFE ID: ca_cert_info finds none. */
	if (ca_issue_server(ca_a, none, ips, NULL, HOUR, &cert, &key, &cause) ==
	    -1)
		fail_msg("%s", cause);
	x = x509_parse(cert);
	assert_int_equal(X509_check_ip_asc(x, "fd00::5", 0), 1);
	assert_cn(x, "weft-server");
	X509_free(x);
	id = (char *)"unset";
	assert_int_equal(ca_cert_info(cert, NULL, &id, &cause), 0);
	assert_null(id);
	free(cert);
	free(key);

	cert = key = NULL;
	assert_int_equal(ca_issue_server(ca_a, none, bad_ip, NULL, HOUR, &cert,
			     &key, &cause),
	    -1);
	assert_non_null(strstr(cause, "invalid IP address"));
	free(cause);
	assert_int_equal(ca_issue_server(ca_a, bad_dns, NULL, NULL, HOUR, &cert,
			     &key, &cause),
	    -1);
	assert_non_null(strstr(cause, "invalid DNS name"));
	free(cause);
	assert_int_equal(
	    ca_issue_server(ca_a, none, none, NULL, HOUR, &cert, &key, &cause),
	    -1);
	assert_non_null(strstr(cause, "needs a name"));
	free(cause);
	assert_int_equal(
	    ca_issue_server(ca_a, dns, ips, NULL, 0, &cert, &key, &cause), -1);
	free(cause);
	assert_null(cert);
	assert_null(key);
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_cert_info(void **state)
{
	char *id = NULL, *cause = NULL, fp[65];
	int64_t na;

	assert_int_equal(ca_cert_info("junk", &na, &id, &cause), -1);
	assert_non_null(strstr(cause, "no certificate"));
	free(cause);
	cause = NULL;
	/* The root has no SAN at all. */
	assert_int_equal(
	    ca_cert_info(ca_bundle_pem(ca_a), &na, &id, &cause), 0);
	assert_null(id);
	assert_true(na > time(NULL) + (int64_t)3650 * 86400);
	assert_int_equal(ca_fingerprint_pem("junk", fp), -1);
	assert_int_equal(ERR_peek_error(), 0);
}

/*
 * ca.pem with an intermediate and its root: issued certificates come
 * from the intermediate, the fingerprint is the root's, and the bundle
 * (both) is what makes the chain whole.
 */
static void
test_intermediate(void **state)
{
	char *dir, *path, *bundle, *root_pem, *inter_pem, *kpem, *cert, *key;
	char fp[65], *cause = NULL;
	EVP_PKEY *root_key, *inter_key;
	X509 *root, *inter, *x;
	struct ca *ca;
	time_t now = time(NULL);

	assert_non_null(
	    root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	assert_non_null(
	    inter_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	root = cert_new("test root", root_key, NULL, root_key, 1, now - HOUR,
	    now + 24 * HOUR);
	inter = cert_new("test intermediate", inter_key, root, root_key, 1,
	    now - HOUR, now + 24 * HOUR);
	root_pem = x509_pem(root);
	inter_pem = x509_pem(inter);
	assert_true(asprintf(&bundle, "%s%s", inter_pem, root_pem) != -1);

	dir = tpath("inter");
	assert_int_equal(mkdir(dir, 0700), 0);
	path = tpath("inter/ca.pem");
	write_ok(path, bundle);
	free(path);
	path = tpath("inter/ca-key.pem");
	kpem = key_pem(inter_key);
	write_ok(path, kpem);
	free(path);
	free(kpem);

	if ((ca = ca_open(dir, TD, &cause)) == NULL)
		fail_msg("%s", cause);
	assert_string_equal(ca_bundle_pem(ca), bundle);
	assert_int_equal(ca_fingerprint_pem(root_pem, fp), 0);
	assert_string_equal(ca_fingerprint(ca), fp);
	assert_int_equal(ca_fingerprint_pem(ca_bundle_pem(ca), fp), 0);
	assert_string_not_equal(ca_fingerprint(ca), fp);

	cert = issue_ok(ca, WORKLOAD, &key);
	x = x509_parse(cert);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x),
			     X509_get_subject_name(inter)),
	    0);
	assert_int_equal(X509_verify(x, inter_key), 1);
	X509_free(x);
	assert_int_equal(
	    ca_cert_check(cert, key, ca_bundle_pem(ca), &cause), 0);
	/* The root alone cannot link the leaf to it. */
	check_fails(cert, key, root_pem, "unable to get local issuer");
	/* The anchor is the root, what ca_fingerprint names. */
	assert_int_equal(
	    ca_cert_anchor(cert, ca_bundle_pem(ca), fp, &cause), 0);
	assert_string_equal(fp, ca_fingerprint(ca));
	/* An intermediate is rotated by the PKI that issued it. */
	assert_int_equal(ca_rotate_prepare(ca, &cause), -1);
	assert_non_null(strstr(cause, "not one self-signed root"));
	free(cause);
	cause = NULL;
	assert_int_equal(ca_phase(ca), CA_PHASE_NONE);

	/* The intermediate's key with the root's certificate first: no pair. */
	ca_free(ca);
	free(bundle);
	assert_true(asprintf(&bundle, "%s%s", root_pem, inter_pem) != -1);
	path = tpath("inter/ca.pem");
	write_ok(path, bundle);
	free(path);
	open_fails(dir, TD, "does not match");

	free(cert);
	free(key);
	free(bundle);
	free(dir);
	free(root_pem);
	free(inter_pem);
	X509_free(root);
	X509_free(inter);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(inter_key);
}

static void
test_write_read_file(void **state)
{
	char *dir, *path, *sub, *s, *cause = NULL;

	dir = tpath("files");
	assert_int_equal(mkdir(dir, 0700), 0);
	path = tpath("files/f");

	assert_int_equal(ca_write_file(path, "hello\n", 6, 0640, &cause), 0);
	assert_mode(path, 0640);
	assert_non_null(s = ca_read_file(path, &cause));
	assert_string_equal(s, "hello\n");
	free(s);
	/* Replaced whole, with the new mode. */
	assert_int_equal(ca_write_file(path, "bye", 3, 0600, &cause), 0);
	assert_mode(path, 0600);
	assert_non_null(s = ca_read_file(path, &cause));
	assert_string_equal(s, "bye");
	free(s);
	assert_int_equal(ca_write_file(path, "", 0, 0600, &cause), 0);
	assert_non_null(s = ca_read_file(path, &cause));
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(count_entries(dir), 1);

	/* The rename fails (a directory is in the way): no temporary left. */
	sub = tpath("files/sub");
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(ca_write_file(sub, "x", 1, 0600, &cause), -1);
	assert_non_null(strstr(cause, "rename"));
	free(cause);
	cause = NULL;
	assert_int_equal(count_entries(dir), 2);
	assert_int_equal(count_entries(sub), 0);

	assert_null(ca_read_file(sub, &cause));
	assert_non_null(strstr(cause, "not a regular file"));
	free(cause);
	free(sub);
	sub = tpath("files/missing/f");
	assert_int_equal(ca_write_file(sub, "x", 1, 0600, &cause), -1);
	free(cause);
	assert_null(ca_read_file(sub, &cause));
	assert_non_null(strstr(cause, "No such file"));
	free(cause);
	free(sub);

	assert_int_equal(ca_write_file(path, "a\0b", 3, 0600, &cause), 0);
	assert_null(ca_read_file(path, &cause));
	assert_non_null(strstr(cause, "not a text file"));
	free(cause);

	free(path);
	free(dir);
}

/* The real openssl(1) agrees: strict RFC 5280 checks and the pin. */
static void
test_openssl_cli(void **state)
{
	char *cert, *srv, *srv_key, *leaf_path, *srv_path, *ca_path, *cmd;
	char line[256], *cause = NULL;
	const char *dns[] = {"localhost", NULL};
	size_t i, j;
	FILE *p;

	if (system("command -v openssl >/dev/null 2>&1") != 0)
		skip();
	cert = issue_ok(ca_a, WORKLOAD, NULL);
	if (ca_issue_server(
		ca_a, dns, NULL, NULL, HOUR, &srv, &srv_key, &cause) == -1)
		fail_msg("%s", cause);
	leaf_path = tpath("leaf.pem");
	srv_path = tpath("server.pem");
	ca_path = tpath("a/ca.pem");
	write_ok(leaf_path, cert);
	write_ok(srv_path, srv);

	assert_true(asprintf(&cmd,
			"openssl verify -x509_strict -purpose sslclient "
			"-CAfile %s %s >/dev/null && "
			"openssl verify -x509_strict -purpose sslserver "
			"-CAfile %s %s >/dev/null && "
			"openssl verify -x509_strict -purpose sslserver "
			"-CAfile %s %s >/dev/null",
			ca_path, leaf_path, ca_path, leaf_path, ca_path,
			srv_path) != -1);
	assert_int_equal(system(cmd), 0);
	free(cmd);

	assert_true(
	    asprintf(&cmd, "openssl x509 -noout -fingerprint -sha256 -in %s",
		ca_path) != -1);
	assert_non_null(p = popen(cmd, "r"));
	assert_non_null(fgets(line, sizeof line, p));
	assert_int_equal(pclose(p), 0);
	free(cmd);
	/* "sha256 Fingerprint=AB:CD:..." */
	assert_non_null(strchr(line, '='));
	for (i = 0, j = strchr(line, '=') - line + 1;
	     line[j] != '\0' && line[j] != '\n'; j++) {
		if (line[j] != ':')
			line[i++] = (char)(line[j] >= 'A' && line[j] <= 'F'
				? line[j] - 'A' + 'a'
				: line[j]);
	}
	line[i] = '\0';
	assert_string_equal(line, ca_fingerprint(ca_a));

	free(leaf_path);
	free(srv_path);
	free(ca_path);
	free(cert);
	free(srv);
	free(srv_key);
}

/* The first certificate of a PEM chain (allocated). */
static char *
first_pem(const char *pem)
{
	const char *end = strstr(pem, "-----END CERTIFICATE-----\n");
	char *s;

	assert_non_null(end);
	end += strlen("-----END CERTIFICATE-----\n");
	assert_non_null(s = strndup(pem, (size_t)(end - pem)));
	return s;
}

static char *
read_ok(const char *path)
{
	char *s, *cause = NULL;

	if ((s = ca_read_file(path, &cause)) == NULL)
		fail_msg("%s", cause);
	return s;
}

static void
anchor_is(const char *cert, const char *bundle, const char *fp)
{
	char got[65], *cause = NULL;

	if (ca_cert_anchor(cert, bundle, got, &cause) == -1)
		fail_msg("ca_cert_anchor: %s", cause);
	assert_string_equal(got, fp);
}

static void
step_fails(int (*step)(struct ca *, char **), struct ca *ca, const char *want)
{
	char *cause = NULL;

	assert_int_equal(step(ca, &cause), -1);
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("cause \"%s\", wanted \"%s\"", cause, want);
	free(cause);
}

static struct ca *
reopen_ok(const char *rel)
{
	char *dir, *cause = NULL;
	struct ca *ca;

	dir = tpath("%s", rel);
	if ((ca = ca_open(dir, TD, &cause)) == NULL)
		fail_msg("ca_open %s: %s", dir, cause);
	free(dir);
	return ca;
}

/* The roots as ca_roots() tells them, and their count. */
static size_t
roots_of(struct ca *ca, struct ca_root_info *r)
{
	size_t n;

	n = ca_roots(ca, r, 2);
	assert_true(n >= 1 && n <= 2);
	return n;
}

/*
 * The three steps: what is trusted, what signs, the files, a restart in
 * each phase, the cross certificate that lets a client of the old root
 * reach a leaf of the new one, and the steps refused out of order.
 */
static void
test_rotate(void **state)
{
	char *dir, *old_root, *new_root, *old_leaf, *old_key, *new_leaf;
	char *new_key, *cross, *chained, *path, *s, *cause = NULL;
	char old_fp[65], new_fp[65], sha[65];
	struct ca_root_info r[2];
	struct ca *ca, *again;

	ca = open_ok("rot");
	dir = tpath("rot");
	old_root = strdup(ca_bundle_pem(ca));
	snprintf(old_fp, sizeof old_fp, "%s", ca_fingerprint(ca));
	assert_int_equal(ca_phase(ca), CA_PHASE_NONE);
	assert_string_equal(ca_phase_name(CA_PHASE_NONE), "none");
	assert_string_equal(ca_chain_pem(ca), ca_bundle_pem(ca));
	ca_sha256_hex(old_root, strlen(old_root), sha);
	assert_string_equal(ca_bundle_sha256(ca), sha);
	assert_int_equal(roots_of(ca, r), 1);
	assert_string_equal(r[0].fingerprint, old_fp);
	assert_true(r[0].signing && !r[0].next);
	assert_non_null(strstr(r[0].subject, "CN=weft root CA " TD));
	step_fails(ca_rotate_activate, ca, "prepare first");
	step_fails(ca_rotate_finish, ca, "prepare first");
	old_leaf = issue_ok(ca, WORKLOAD, &old_key);

	/* prepare: both roots trusted, the old one signs. */
	if (ca_rotate_prepare(ca, &cause) == -1)
		fail_msg("prepare: %s", cause);
	assert_int_equal(ca_phase(ca), CA_PHASE_PREPARED);
	assert_string_equal(ca_phase_name(ca_phase(ca)), "prepared");
	path = tpath("rot/ca-next-key.pem");
	assert_mode(path, 0600);
	free(path);
	path = tpath("rot/ca-next.pem");
	assert_mode(path, 0644);
	new_root = read_ok(path);
	free(path);
	path = tpath("rot/ca-rotation");
	s = read_ok(path);
	assert_string_equal(s, "prepared\n");
	free(s);
	free(path);
	assert_int_equal(count_entries(dir), 5);
	assert_int_equal(ca_fingerprint_pem(new_root, new_fp), 0);
	assert_string_not_equal(new_fp, old_fp);
	assert_string_equal(ca_fingerprint(ca), old_fp);
	assert_true(asprintf(&s, "%s%s", old_root, new_root) != -1);
	assert_string_equal(ca_bundle_pem(ca), s);
	assert_string_equal(ca_chain_pem(ca), s);
	ca_sha256_hex(s, strlen(s), sha);
	assert_string_equal(ca_bundle_sha256(ca), sha);
	free(s);
	assert_int_equal(roots_of(ca, r), 2);
	assert_string_equal(r[0].fingerprint, old_fp);
	assert_true(r[0].signing && !r[0].next);
	assert_string_equal(r[1].fingerprint, new_fp);
	assert_true(!r[1].signing && r[1].next);
	/* Two names: chains never mistake one root for the other. */
	assert_string_not_equal(r[0].subject, r[1].subject);
	assert_non_null(strstr(r[1].subject, "OU="));
	s = issue_ok(ca, WORKLOAD, NULL);
	anchor_is(s, ca_bundle_pem(ca), old_fp);
	free(s);
	anchor_is(old_leaf, ca_bundle_pem(ca), old_fp);
	step_fails(ca_rotate_prepare, ca, "already in progress (prepared)");
	step_fails(ca_rotate_finish, ca, "activate first");
	/* A restart keeps the phase and both roots. */
	again = reopen_ok("rot");
	assert_int_equal(ca_phase(again), CA_PHASE_PREPARED);
	assert_string_equal(ca_bundle_pem(again), ca_bundle_pem(ca));
	assert_string_equal(ca_fingerprint(again), old_fp);
	ca_free(again);

	/* activate: the new root signs; the cross certificate links. */
	if (ca_rotate_activate(ca, &cause) == -1)
		fail_msg("activate: %s", cause);
	assert_int_equal(ca_phase(ca), CA_PHASE_ACTIVATED);
	assert_string_equal(ca_fingerprint(ca), new_fp);
	assert_int_equal(roots_of(ca, r), 2);
	assert_true(!r[0].signing && r[1].signing);
	new_leaf = issue_ok(ca, WORKLOAD, &new_key);
	anchor_is(new_leaf, ca_bundle_pem(ca), new_fp);
	anchor_is(new_leaf, new_root, new_fp);
	/* Leaves of the old root are still trusted. */
	assert_int_equal(
	    ca_cert_check(old_leaf, old_key, ca_bundle_pem(ca), &cause), 0);
	cross = first_pem(ca_chain_pem(ca));
	assert_true(strlen(ca_chain_pem(ca)) ==
	    strlen(cross) + strlen(ca_bundle_pem(ca)));
	assert_string_equal(
	    ca_chain_pem(ca) + strlen(cross), ca_bundle_pem(ca));
	/* Through the cross certificate, the old root alone will do. */
	check_fails(new_leaf, new_key, old_root, "unable to get local issuer");
	assert_true(asprintf(&chained, "%s%s", new_leaf, cross) != -1);
	assert_int_equal(ca_cert_check(chained, new_key, old_root, &cause), 0);
	anchor_is(chained, old_root, old_fp);
	step_fails(ca_rotate_activate, ca, "already signs");
	step_fails(ca_rotate_prepare, ca, "already in progress (activated)");
	path = tpath("rot/ca-rotation");
	s = read_ok(path);
	assert_string_equal(s, "activated\n");
	free(s);
	free(path);
	again = reopen_ok("rot");
	assert_int_equal(ca_phase(again), CA_PHASE_ACTIVATED);
	assert_string_equal(ca_fingerprint(again), new_fp);
	assert_string_equal(ca_bundle_pem(again), ca_bundle_pem(ca));
	s = issue_ok(again, WORKLOAD, NULL);
	anchor_is(s, ca_bundle_pem(again), new_fp);
	free(s);
	ca_free(again);

	/* finish: the new root alone; the old one's files are kept. */
	if (ca_rotate_finish(ca, &cause) == -1)
		fail_msg("finish: %s", cause);
	assert_int_equal(ca_phase(ca), CA_PHASE_NONE);
	assert_string_equal(ca_fingerprint(ca), new_fp);
	assert_string_equal(ca_bundle_pem(ca), new_root);
	assert_string_equal(ca_chain_pem(ca), new_root);
	assert_int_equal(roots_of(ca, r), 1);
	assert_string_equal(r[0].fingerprint, new_fp);
	assert_true(r[0].signing && !r[0].next);
	path = tpath("rot/ca.pem");
	s = read_ok(path);
	assert_string_equal(s, new_root);
	free(s);
	assert_mode(path, 0644);
	free(path);
	path = tpath("rot/ca-key.pem");
	assert_mode(path, 0600);
	free(path);
	path = tpath("rot/ca-old.pem");
	s = read_ok(path);
	assert_string_equal(s, old_root);
	free(s);
	free(path);
	path = tpath("rot/ca-old-key.pem");
	assert_mode(path, 0600);
	free(path);
	/* ca.pem, ca-key.pem, ca-old.pem, ca-old-key.pem: nothing else. */
	assert_int_equal(count_entries(dir), 4);
	check_fails(
	    old_leaf, old_key, ca_bundle_pem(ca), "unable to get local issuer");
	assert_int_equal(
	    ca_cert_check(new_leaf, new_key, ca_bundle_pem(ca), &cause), 0);
	step_fails(ca_rotate_finish, ca, "prepare first");
	again = reopen_ok("rot");
	assert_int_equal(ca_phase(again), CA_PHASE_NONE);
	assert_string_equal(ca_fingerprint(again), new_fp);
	assert_string_equal(ca_bundle_pem(again), new_root);
	ca_free(again);

	/* And again: a root made by a rotation rotates too. */
	if (ca_rotate_prepare(ca, &cause) == -1)
		fail_msg("second prepare: %s", cause);
	assert_int_equal(roots_of(ca, r), 2);
	assert_string_equal(r[0].fingerprint, new_fp);
	assert_string_not_equal(r[0].subject, r[1].subject);

	ca_free(ca);
	free(dir);
	free(old_root);
	free(new_root);
	free(old_leaf);
	free(old_key);
	free(new_leaf);
	free(new_key);
	free(cross);
	free(chained);
	assert_int_equal(ERR_peek_error(), 0);
}

/*
 * A crash in the middle of finish (ca-key.pem already the new key,
 * ca.pem still the old root) is completed by the next ca_open; the
 * files of a prepare that did not complete are ignored; a phase file
 * that makes no sense is an error.
 */
static void
test_rotate_recover(void **state)
{
	char *dir, *path, *next_key, *next_root, *s, *cause = NULL;
	char new_fp[65];
	struct ca *ca;

	ca = open_ok("crash");
	dir = tpath("crash");
	if (ca_rotate_prepare(ca, &cause) == -1 ||
	    ca_rotate_activate(ca, &cause) == -1)
		fail_msg("%s", cause);
	snprintf(new_fp, sizeof new_fp, "%s", ca_fingerprint(ca));
	ca_free(ca);

	path = tpath("crash/ca-next-key.pem");
	next_key = read_ok(path);
	free(path);
	path = tpath("crash/ca-next.pem");
	next_root = read_ok(path);
	free(path);
	path = tpath("crash/ca-key.pem");
	write_ok(path, next_key);
	free(path);
	path = tpath("crash/ca-rotation");
	write_ok(path, "finishing\n");
	free(path);
	/* As it stands, ca.pem and ca-key.pem are no pair. */
	ca = reopen_ok("crash");
	assert_int_equal(ca_phase(ca), CA_PHASE_NONE);
	assert_string_equal(ca_fingerprint(ca), new_fp);
	assert_string_equal(ca_bundle_pem(ca), next_root);
	ca_free(ca);
	/* ca.pem, ca-key.pem: the old root was not kept before the crash. */
	assert_int_equal(count_entries(dir), 2);

	/* Files of a prepare that did not write its phase: ignored. */
	path = tpath("crash/ca-next.pem");
	write_ok(path, ca_bundle_pem(ca_a));
	free(path);
	ca = reopen_ok("crash");
	assert_int_equal(ca_phase(ca), CA_PHASE_NONE);
	assert_string_equal(ca_bundle_pem(ca), next_root);
	/* ... and replaced by the next one. */
	if (ca_rotate_prepare(ca, &cause) == -1)
		fail_msg("%s", cause);
	path = tpath("crash/ca-next.pem");
	s = read_ok(path);
	assert_string_not_equal(s, ca_bundle_pem(ca_a));
	free(s);
	free(path);
	ca_free(ca);

	path = tpath("crash/ca-rotation");
	write_ok(path, "sideways\n");
	open_fails(dir, TD, "unknown phase \"sideways\"");
	write_ok(path, "prepared\n");
	free(path);
	path = tpath("crash/ca-next.pem");
	assert_int_equal(unlink(path), 0);
	free(path);
	open_fails(dir, TD, "ca-next.pem: No such file");

	free(dir);
	free(next_key);
	free(next_root);
	assert_int_equal(ERR_peek_error(), 0);
}

/* openssl(1) agrees: the cross certificate is a strict RFC 5280 CA. */
static void
test_rotate_openssl_cli(void **state)
{
	char *old_path, *next_path, *cross_path, *leaf_path, *cmd, *cross;
	char *old_root, *leaf, *cause = NULL;
	struct ca *ca;

	if (system("command -v openssl >/dev/null 2>&1") != 0)
		skip();
	ca = open_ok("rotcli");
	old_root = strdup(ca_bundle_pem(ca));
	if (ca_rotate_prepare(ca, &cause) == -1 ||
	    ca_rotate_activate(ca, &cause) == -1)
		fail_msg("%s", cause);
	leaf = issue_ok(ca, WORKLOAD, NULL);
	cross = first_pem(ca_chain_pem(ca));
	old_path = tpath("rotcli/old.pem");
	next_path = tpath("rotcli/ca-next.pem");
	cross_path = tpath("rotcli/cross.pem");
	leaf_path = tpath("rotcli/leaf.pem");
	write_ok(old_path, old_root);
	write_ok(cross_path, cross);
	write_ok(leaf_path, leaf);
	assert_true(asprintf(&cmd,
			"openssl verify -x509_strict -purpose sslclient "
			"-CAfile %s %s >/dev/null && "
			"openssl verify -x509_strict -purpose sslclient "
			"-CAfile %s -untrusted %s %s >/dev/null && "
			"! openssl verify -CAfile %s %s >/dev/null 2>&1",
			next_path, leaf_path, old_path, cross_path, leaf_path,
			old_path, leaf_path) != -1);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	ca_free(ca);
	free(old_path);
	free(next_path);
	free(cross_path);
	free(leaf_path);
	free(cross);
	free(old_root);
	free(leaf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_create),
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test(test_issue_decides_san),
	    cmocka_unit_test(test_issue_p384),
	    cmocka_unit_test(test_issue_rejects),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_issue_server),
	    cmocka_unit_test(test_cert_info),
	    cmocka_unit_test(test_intermediate),
	    cmocka_unit_test(test_write_read_file),
	    cmocka_unit_test(test_openssl_cli),
	    cmocka_unit_test(test_rotate),
	    cmocka_unit_test(test_rotate_recover),
	    cmocka_unit_test(test_rotate_openssl_cli),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
