#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "ca_int.h"
#include "log.h"
#include "xmalloc.h"

/* Far enough for any real use, near enough that time_t cannot overflow. */
#define CA_TTL_MAX    ((int64_t)100 * 365 * 86400)
#define CA_FILE_MAX   (1024 * 1024)
#define CA_CN_MAX     64 /* ub_common_name of RFC 5280 */
#define CA_SERIAL_LEN 16
#define CA_SPIFFE     "spiffe://"

void
ca_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
}

/*
 * Appends OpenSSL's last error to the message, then empties the error
 * queue: it is per thread, and a stale entry would be blamed on the next
 * TLS call of this thread (SSL_get_error reads it).
 */
void
ca_ssl_cause(char **cause, const char *fmt, ...)
{
	char *msg, err[256];
	unsigned long e;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	if ((e = ERR_peek_last_error()) != 0) {
		ERR_error_string_n(e, err, sizeof err);
		xasprintf(cause, "%s: %s", msg, err);
		free(msg);
	} else
		*cause = msg;
	ERR_clear_error();
}

/* Keys are kept unencrypted (mode 0600): never prompt on a terminal. */
static int
ca_nopass_cb(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

/* Whether the last OpenSSL error is the end of the PEM input. */
static int
ca_pem_at_end(void)
{
	unsigned long e;

	e = ERR_peek_last_error();
	return ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

static BIO *
ca_bio_pem(const char *pem, char **cause)
{
	BIO *bio;

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		ca_ssl_cause(cause, "BIO_new_mem_buf");
	return bio;
}

/* The contents of a memory BIO as a string (allocated). */
static char *
ca_bio_string(BIO *bio, char **cause)
{
	char *data, *s;
	long len;

	if ((len = BIO_get_mem_data(bio, &data)) <= 0) {
		ca_ssl_cause(cause, "PEM output is empty");
		return NULL;
	}
	if ((s = malloc((size_t)len + 1)) == NULL) {
		ca_cause(cause, "out of memory");
		return NULL;
	}
	memcpy(s, data, (size_t)len);
	s[len] = '\0';
	return s;
}

/* The first certificate of pem; what names the input in errors. */
static X509 *
ca_cert_parse(const char *pem, const char *what, char **cause)
{
	BIO *bio;
	X509 *x;

	if ((bio = ca_bio_pem(pem, cause)) == NULL)
		return NULL;
	if ((x = PEM_read_bio_X509(bio, NULL, ca_nopass_cb, NULL)) == NULL) {
		if (ca_pem_at_end()) {
			ERR_clear_error();
			ca_cause(cause, "%s: no certificate", what);
		} else
			ca_ssl_cause(cause, "%s: bad certificate", what);
	}
	BIO_free(bio);
	return x;
}

/*
 * Every certificate of pem, in order; at least one. (clang-format 14
 * takes STACK_OF() in a return type for an expression.)
 */
/* clang-format off */
STACK_OF(X509) *
ca_certs_parse(const char *pem, const char *what, char **cause)
/* clang-format on */
{
	STACK_OF(X509) *certs = NULL;
	BIO *bio;
	X509 *x;

	if ((bio = ca_bio_pem(pem, cause)) == NULL)
		return NULL;
	if ((certs = sk_X509_new_null()) == NULL) {
		ca_ssl_cause(cause, "%s", what);
		BIO_free(bio);
		return NULL;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, ca_nopass_cb, NULL)) != NULL) {
		if (sk_X509_push(certs, x) == 0) {
			X509_free(x);
			ca_ssl_cause(cause, "%s", what);
			goto fail;
		}
	}
	if (!ca_pem_at_end()) {
		ca_ssl_cause(cause, "%s: bad certificate", what);
		goto fail;
	}
	ERR_clear_error();
	if (sk_X509_num(certs) == 0) {
		ca_cause(cause, "%s: no certificate", what);
		goto fail;
	}
	BIO_free(bio);
	return certs;

fail:
	sk_X509_pop_free(certs, X509_free);
	BIO_free(bio);
	return NULL;
}

static EVP_PKEY *
ca_key_parse(const char *pem, const char *what, char **cause)
{
	EVP_PKEY *key;
	BIO *bio;

	if ((bio = ca_bio_pem(pem, cause)) == NULL)
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, ca_nopass_cb, NULL);
	if (key == NULL)
		ca_ssl_cause(cause, "%s: bad private key", what);
	BIO_free(bio);
	return key;
}

char *
ca_cert_pem(X509 *x, char **cause)
{
	BIO *bio;
	char *s = NULL;

	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		ca_ssl_cause(cause, "BIO_new");
		return NULL;
	}
	if (PEM_write_bio_X509(bio, x) != 1)
		ca_ssl_cause(cause, "cannot write the certificate");
	else
		s = ca_bio_string(bio, cause);
	BIO_free(bio);
	return s;
}

/* PKCS#8, unencrypted: what OpenSSL, Go and rustls all read. */
char *
ca_key_pem(EVP_PKEY *key, char **cause)
{
	BIO *bio;
	char *s = NULL;

	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		ca_ssl_cause(cause, "BIO_new");
		return NULL;
	}
	if (PEM_write_bio_PKCS8PrivateKey(
		bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		ca_ssl_cause(cause, "cannot write the private key");
	else
		s = ca_bio_string(bio, cause);
	BIO_free(bio);
	return s;
}

static EVP_PKEY *
ca_pkey_generate(char **cause)
{
	EVP_PKEY *key;

	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		ca_ssl_cause(cause, "cannot generate an EC P-256 key");
	return key;
}

int
ca_fingerprint_x509(X509 *x, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len, i;

	if (X509_digest(x, EVP_sha256(), md, &len) != 1 || len != 32) {
		ERR_clear_error();
		return -1;
	}
	for (i = 0; i < len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * len] = '\0';
	return 0;
}

int
ca_time_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1) {
		ERR_clear_error();
		return -1;
	}
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* SPIFFE trust domains: lower case letters, digits, '.', '-' and '_'. */
static int
ca_trust_domain_check(const char *td, char **cause)
{
	if (td == NULL || *td == '\0' ||
	    strspn(td, "abcdefghijklmnopqrstuvwxyz0123456789.-_") !=
		strlen(td)) {
		ca_cause(
		    cause, "invalid trust domain \"%s\"", td == NULL ? "" : td);
		return -1;
	}
	return 0;
}

/*
 * A SPIFFE ID with a trust domain and a path. The rest of its syntax is
 * the caller's to decide; what is checked here is what an IA5String URI
 * SAN and a common name can carry (printable ASCII, no space).
 */
static int
ca_spiffe_check(const char *id, char **cause)
{
	const char *p;

	if (id == NULL || strncmp(id, CA_SPIFFE, strlen(CA_SPIFFE)) != 0) {
		ca_cause(
		    cause, "not a SPIFFE ID: \"%s\"", id == NULL ? "" : id);
		return -1;
	}
	for (p = id; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f) {
			ca_cause(cause, "invalid character in SPIFFE ID");
			return -1;
		}
	}
	p = id + strlen(CA_SPIFFE);
	if (*p == '/' || (p = strchr(p, '/')) == NULL || p[1] == '\0') {
		ca_cause(cause,
		    "SPIFFE ID needs a trust domain and a path: \"%s\"", id);
		return -1;
	}
	return 0;
}

/* The path of a checked SPIFFE ID: what its certificate's CN shows. */
static const char *
ca_spiffe_path(const char *id)
{
	return strchr(id + strlen(CA_SPIFFE), '/');
}

/* Host names and wildcards ("*.example.com"), as a DNS SAN holds them. */
static int
ca_dns_check(const char *name, char **cause)
{
	const char *p = name;

	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	if (*p == '\0' || strlen(name) > 253 ||
	    strspn(p,
		"abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != strlen(p)) {
		ca_cause(cause, "invalid DNS name \"%s\"", name);
		return -1;
	}
	return 0;
}

static int
ca_ttl_check(int64_t ttl_sec, char **cause)
{
	if (ttl_sec <= 0 || ttl_sec > CA_TTL_MAX) {
		ca_cause(cause, "certificate lifetime out of range: %lld s",
		    (long long)ttl_sec);
		return -1;
	}
	return 0;
}

/*
 * O=weft, OU=ou (when not NULL), CN=cn. A longer CN is cut to the 64
 * characters X.509 allows: it is only informational, the SANs are what
 * peers check.
 */
static X509_NAME *
ca_name_new(const char *cn, const char *ou, char **cause)
{
	X509_NAME *name;
	size_t len;

	if ((len = strlen(cn)) > CA_CN_MAX)
		len = CA_CN_MAX;
	if ((name = X509_NAME_new()) == NULL ||
	    X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_ASC,
		(const unsigned char *)"weft", -1, -1, 0) != 1 ||
	    (ou != NULL &&
		X509_NAME_add_entry_by_NID(name, NID_organizationalUnitName,
		    MBSTRING_ASC, (const unsigned char *)ou, -1, -1, 0) != 1) ||
	    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
		(const unsigned char *)cn, (int)len, -1, 0) != 1) {
		ca_ssl_cause(cause, "cannot build the name CN=%s", cn);
		X509_NAME_free(name);
		return NULL;
	}
	return name;
}

static int
ca_san_push(GENERAL_NAMES *names, int type, void *value, char **cause)
{
	GENERAL_NAME *gen;

	if ((gen = GENERAL_NAME_new()) == NULL) {
		ca_ssl_cause(cause, "GENERAL_NAME_new");
		return -1;
	}
	GENERAL_NAME_set0_value(gen, type, value);
	if (sk_GENERAL_NAME_push(names, gen) == 0) {
		GENERAL_NAME_free(gen); /* and value with it */
		ca_ssl_cause(cause, "sk_GENERAL_NAME_push");
		return -1;
	}
	return 0;
}

/* A DNS or URI name (type GEN_DNS or GEN_URI). */
static int
ca_san_add_string(GENERAL_NAMES *names, int type, const char *s, char **cause)
{
	ASN1_IA5STRING *ia5;

	if ((ia5 = ASN1_IA5STRING_new()) == NULL ||
	    ASN1_STRING_set(ia5, s, -1) != 1) {
		ASN1_IA5STRING_free(ia5);
		ca_ssl_cause(cause, "cannot build the name %s", s);
		return -1;
	}
	return ca_san_push(names, type, ia5, cause);
}

/*
 * inet_pton rather than a2i_IPADDRESS: it takes "10.0.0.1junk" for
 * 10.0.0.1, and a SAN must say exactly what was asked for.
 */
static int
ca_san_add_ip(GENERAL_NAMES *names, const char *ip, char **cause)
{
	unsigned char addr[16];
	ASN1_OCTET_STRING *os;
	int len;

	if (inet_pton(AF_INET, ip, addr) == 1)
		len = 4;
	else if (inet_pton(AF_INET6, ip, addr) == 1)
		len = 16;
	else {
		ca_cause(cause, "invalid IP address \"%s\"", ip);
		return -1;
	}
	if ((os = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(os, addr, len) != 1) {
		ASN1_OCTET_STRING_free(os);
		ca_ssl_cause(cause, "cannot build the address %s", ip);
		return -1;
	}
	return ca_san_push(names, GEN_IPADD, os, cause);
}

/* The SANs of a certificate; dns and ips may be NULL. */
static GENERAL_NAMES *
ca_sans_new(const char *const *dns, const char *const *ips, const char *uri,
    char **cause)
{
	GENERAL_NAMES *names;
	size_t i;

	if ((names = GENERAL_NAMES_new()) == NULL) {
		ca_ssl_cause(cause, "GENERAL_NAMES_new");
		return NULL;
	}
	for (i = 0; dns != NULL && dns[i] != NULL; i++) {
		if (ca_dns_check(dns[i], cause) == -1 ||
		    ca_san_add_string(names, GEN_DNS, dns[i], cause) == -1)
			goto fail;
	}
	for (i = 0; ips != NULL && ips[i] != NULL; i++) {
		if (ca_san_add_ip(names, ips[i], cause) == -1)
			goto fail;
	}
	if (uri != NULL && ca_san_add_string(names, GEN_URI, uri, cause) == -1)
		goto fail;
	return names;

fail:
	GENERAL_NAMES_free(names);
	return NULL;
}

/* A random 128-bit serial (RFC 5280: positive, not zero). */
int
ca_serial_set(X509 *x, char **cause)
{
	unsigned char buf[CA_SERIAL_LEN];
	ASN1_INTEGER *serial = NULL;
	BIGNUM *bn = NULL;
	int rv = -1;

	if (RAND_bytes(buf, sizeof buf) != 1) {
		ca_ssl_cause(cause, "RAND_bytes");
		return -1;
	}
	if ((bn = BN_bin2bn(buf, sizeof buf, NULL)) == NULL)
		goto out;
	if (BN_is_zero(bn) && BN_one(bn) != 1)
		goto out;
	if ((serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    X509_set_serialNumber(x, serial) != 1)
		goto out;
	rv = 0;
out:
	if (rv == -1)
		ca_ssl_cause(cause, "cannot set the serial number");
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return rv;
}

int
ca_validity_set(X509 *x, int64_t not_before, int64_t not_after, char **cause)
{
	if (ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) == NULL) {
		ca_ssl_cause(cause, "cannot set the validity");
		return -1;
	}
	return 0;
}

/* Extensions in openssl.cnf syntax ("critical,CA:FALSE"), in order. */
int
ca_exts_add(
    X509 *x, X509V3_CTX *ctx, const struct ca_ext *exts, size_t n, char **cause)
{
	X509_EXTENSION *ext;
	size_t i;
	int rv;

	for (i = 0; i < n; i++) {
		ext =
		    X509V3_EXT_conf_nid(NULL, ctx, exts[i].nid, exts[i].value);
		if (ext == NULL) {
			ca_ssl_cause(cause, "cannot build %s=%s",
			    OBJ_nid2sn(exts[i].nid), exts[i].value);
			return -1;
		}
		rv = X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		if (rv != 1) {
			ca_ssl_cause(
			    cause, "cannot add %s", OBJ_nid2sn(exts[i].nid));
			return -1;
		}
	}
	return 0;
}

/*
 * What every certificate has: version 3, a random serial, the issuer's
 * subject, O=weft, OU=ou (when not NULL) and CN=cn, a validity from
 * skew ago to not_after.
 */
static X509 *
ca_x509_new(X509_NAME *issuer, const char *cn, const char *ou, EVP_PKEY *pub,
    int64_t now, int64_t not_after, char **cause)
{
	X509_NAME *subject;
	X509 *x;

	if ((x = X509_new()) == NULL) {
		ca_ssl_cause(cause, "X509_new");
		return NULL;
	}
	if ((subject = ca_name_new(cn, ou, cause)) == NULL)
		goto fail;
	if (issuer == NULL)
		issuer = subject;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, issuer) != 1 ||
	    X509_set_pubkey(x, pub) != 1) {
		ca_ssl_cause(cause, "cannot build the certificate");
		X509_NAME_free(subject);
		goto fail;
	}
	X509_NAME_free(subject);
	if (ca_serial_set(x, cause) == -1 ||
	    ca_validity_set(x, now - CA_SKEW_SEC, not_after, cause) == -1)
		goto fail;
	return x;

fail:
	X509_free(x);
	return NULL;
}

/*
 * An end-entity certificate for pub signed by the CA, with the SANs
 * names, key usage ku and extended key usage eku.
 */
static X509 *
ca_leaf_new(struct ca *ca, EVP_PKEY *pub, const char *cn, GENERAL_NAMES *names,
    const char *ku, const char *eku, int64_t ttl_sec, int64_t *not_after,
    char **cause)
{
	const struct ca_ext exts[] = {
	    {NID_basic_constraints, "critical,CA:FALSE"},
	    {NID_key_usage, ku},
	    {NID_ext_key_usage, eku},
	    {NID_subject_key_identifier, "hash"},
	    {NID_authority_key_identifier, "keyid:always"},
	};
	const struct ca_root *signer = ca_signer(ca);
	X509V3_CTX ctx;
	int64_t now, end;
	X509 *x;

	now = (int64_t)time(NULL);
	end = now + ttl_sec;
	x = ca_x509_new(X509_get_subject_name(signer->cert), cn, NULL, pub, now,
	    end, cause);
	if (x == NULL)
		return NULL;
	X509V3_set_ctx(&ctx, signer->cert, x, NULL, NULL, 0);
	if (ca_exts_add(x, &ctx, exts, sizeof exts / sizeof exts[0], cause) ==
	    -1)
		goto fail;
	if (X509_add1_ext_i2d(
		x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) != 1) {
		ca_ssl_cause(cause, "cannot add the subject alternative names");
		goto fail;
	}
	if (X509_sign(x, signer->key, EVP_sha256()) <= 0) {
		ca_ssl_cause(cause, "cannot sign the certificate");
		goto fail;
	}
	*not_after = end;
	return x;

fail:
	X509_free(x);
	return NULL;
}

int
ca_root_new(const char *trust_domain, const char *ou, X509 **cert,
    EVP_PKEY **key, char **cause)
{
	/* No authorityKeyIdentifier: a root is its own authority. */
	static const struct ca_ext exts[] = {
	    {NID_basic_constraints, "critical,CA:TRUE"},
	    {NID_key_usage, "critical,keyCertSign,cRLSign"},
	    {NID_subject_key_identifier, "hash"},
	};
	X509V3_CTX ctx;
	EVP_PKEY *k;
	int64_t now;
	char *cn;
	X509 *x;

	if ((k = ca_pkey_generate(cause)) == NULL)
		return -1;
	now = (int64_t)time(NULL);
	xasprintf(&cn, "weft root CA %s", trust_domain);
	x = ca_x509_new(NULL, cn, ou, k, now, now + CA_ROOT_SEC, cause);
	free(cn);
	if (x == NULL)
		goto fail;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (ca_exts_add(x, &ctx, exts, sizeof exts / sizeof exts[0], cause) ==
	    -1)
		goto fail;
	if (X509_sign(x, k, EVP_sha256()) <= 0) {
		ca_ssl_cause(cause, "cannot sign the root certificate");
		goto fail;
	}
	*cert = x;
	*key = k;
	return 0;

fail:
	X509_free(x);
	EVP_PKEY_free(k);
	return -1;
}

int
ca_exists(const char *path, char **cause)
{
	struct stat sb;

	if (stat(path, &sb) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	ca_cause(cause, "%s: %s", path, strerror(errno));
	return -1;
}

/*
 * Creates the root CA's files: the key first, so that a ca.pem never
 * exists without its key. If the certificate cannot be written, the key
 * goes too, and the next start begins from scratch rather than failing
 * on a lone key.
 */
static int
ca_create(const char *cert_path, const char *key_path, const char *trust_domain,
    char **cause)
{
	char *cert_pem = NULL, *key_pem = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int rv = -1;

	if (ca_trust_domain_check(trust_domain, cause) == -1 ||
	    ca_root_new(trust_domain, NULL, &cert, &key, cause) == -1)
		return -1;
	if ((cert_pem = ca_cert_pem(cert, cause)) == NULL ||
	    (key_pem = ca_key_pem(key, cause)) == NULL)
		goto out;
	if (ca_write_file(key_path, key_pem, strlen(key_pem), 0600, cause) ==
	    -1)
		goto out;
	if (ca_write_file(cert_path, cert_pem, strlen(cert_pem), 0644, cause) ==
	    -1) {
		unlink(key_path);
		goto out;
	}
	log_info("created a root CA for %s in %s", trust_domain, cert_path);
	rv = 0;
out:
	if (key_pem != NULL) {
		OPENSSL_cleanse(key_pem, strlen(key_pem));
		free(key_pem);
	}
	free(cert_pem);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rv;
}

int
ca_root_load(struct ca_root *r, const char *cert_path, char *cert_pem,
    const char *key_path, const char *key_pem, char **cause)
{
	STACK_OF(X509) *certs = NULL;
	X509 *first, *root;
	int rv = -1;

	memset(r, 0, sizeof *r);
	r->pem = cert_pem;
	if ((certs = ca_certs_parse(cert_pem, cert_path, cause)) == NULL)
		goto out;
	if ((r->key = ca_key_parse(key_pem, key_path, cause)) == NULL)
		goto out;
	first = sk_X509_value(certs, 0);
	root = sk_X509_value(certs, sk_X509_num(certs) - 1);
	if (X509_check_private_key(first, r->key) != 1) {
		ca_ssl_cause(cause, "%s does not match the certificate of %s",
		    key_path, cert_path);
		goto out;
	}
	if (X509_check_ca(first) == 0) {
		ca_cause(
		    cause, "%s: the first certificate is not a CA", cert_path);
		goto out;
	}
	if (ca_fingerprint_x509(root, r->fingerprint) == -1) {
		ca_cause(
		    cause, "%s: cannot compute the fingerprint", cert_path);
		goto out;
	}
	if (X509_up_ref(first) != 1) {
		ca_ssl_cause(cause, "X509_up_ref");
		goto out;
	}
	r->cert = first;
	r->self_signed = sk_X509_num(certs) == 1 &&
	    (X509_get_extension_flags(first) & EXFLAG_SS) != 0;
	rv = 0;
out:
	sk_X509_pop_free(certs, X509_free);
	if (rv == -1)
		ca_root_clear(r);
	return rv;
}

void
ca_root_clear(struct ca_root *r)
{
	X509_free(r->cert);
	EVP_PKEY_free(r->key);
	free(r->pem);
	memset(r, 0, sizeof *r);
}

/* The text of a private key does not outlive its use. */
static void
ca_key_text_free(char *key_pem)
{
	if (key_pem != NULL) {
		OPENSSL_cleanse(key_pem, strlen(key_pem));
		free(key_pem);
	}
}

struct ca *
ca_open(const char *dir, const char *trust_domain, char **cause)
{
	char *cert_path, *key_path, *cert_pem = NULL, *key_pem = NULL;
	int have_cert, have_key;
	struct ca *ca = NULL;

	xasprintf(&cert_path, "%s/%s", dir, CA_CERT_FILE);
	xasprintf(&key_path, "%s/%s", dir, CA_KEY_FILE);
	if (ca_rotation_recover(dir, cause) == -1 ||
	    (have_cert = ca_exists(cert_path, cause)) == -1 ||
	    (have_key = ca_exists(key_path, cause)) == -1)
		goto out;
	if (!have_cert && !have_key) {
		if (ca_create(cert_path, key_path, trust_domain, cause) == -1)
			goto out;
	} else if (!have_cert || !have_key) {
		ca_cause(cause, "%s exists but %s does not",
		    have_cert ? cert_path : key_path,
		    have_cert ? key_path : cert_path);
		goto out;
	}

	/* Read back even when just created: one way in, checked once. */
	ca = xcalloc(1, sizeof *ca);
	ca->dir = xstrdup(dir);
	ca->trust_domain = xstrdup(trust_domain);
	if ((cert_pem = ca_read_file(cert_path, cause)) == NULL ||
	    (key_pem = ca_read_file(key_path, cause)) == NULL) {
		free(cert_pem);
		goto fail;
	}
	if (ca_root_load(&ca->cur, cert_path, cert_pem, key_path, key_pem,
		cause) == -1 ||
	    ca_rotation_load(ca, cause) == -1)
		goto fail;
	goto out;
fail:
	ca_free(ca);
	ca = NULL;
out:
	ca_key_text_free(key_pem);
	free(key_path);
	free(cert_path);
	return ca;
}

void
ca_free(struct ca *ca)
{
	if (ca == NULL)
		return;
	ca_root_clear(&ca->cur);
	ca_root_clear(&ca->next);
	free(ca->cross_pem);
	free(ca->bundle);
	free(ca->chain);
	free(ca->trust_domain);
	free(ca->dir);
	free(ca);
}

const char *
ca_bundle_pem(const struct ca *ca)
{
	return ca->bundle;
}

const char *
ca_bundle_sha256(const struct ca *ca)
{
	return ca->bundle_sha;
}

const char *
ca_chain_pem(const struct ca *ca)
{
	return ca->chain;
}

const char *
ca_fingerprint(const struct ca *ca)
{
	return ca_signer(ca)->fingerprint;
}

/*
 * Other key types are refused: a workload must be able to use what the
 * CA signs with the TLS stacks of the mesh (OpenSSL, Go, rustls).
 */
static int
ca_csr_key_check(EVP_PKEY *key, char **cause)
{
	char group[64];
	size_t len;
	int nid;

	if (EVP_PKEY_is_a(key, "EC")) {
		if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) !=
		    1) {
			ca_ssl_cause(
			    cause, "CSR: EC key without a named curve");
			return -1;
		}
		nid = OBJ_txt2nid(group);
		if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1 &&
		    nid != NID_secp521r1) {
			ERR_clear_error();
			ca_cause(cause, "CSR: unsupported EC curve %s", group);
			return -1;
		}
		return 0;
	}
	if (EVP_PKEY_is_a(key, "RSA")) {
		if (EVP_PKEY_get_bits(key) < 2048) {
			ca_cause(cause,
			    "CSR: RSA key of %d bits (2048 at least)",
			    EVP_PKEY_get_bits(key));
			return -1;
		}
		return 0;
	}
	ca_cause(cause, "CSR: unsupported key type %s",
	    EVP_PKEY_get0_type_name(key) != NULL ? EVP_PKEY_get0_type_name(key)
						 : "unknown");
	return -1;
}

char *
ca_issue(struct ca *ca, const char *csr_pem, const char *spiffe_id,
    int64_t ttl_sec, int64_t *not_after, char **cause)
{
	GENERAL_NAMES *names = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *pub;
	X509 *x = NULL;
	char *pem = NULL;
	BIO *bio;
	int64_t end;

	if (ca_spiffe_check(spiffe_id, cause) == -1 ||
	    ca_ttl_check(ttl_sec, cause) == -1)
		return NULL;
	if ((bio = ca_bio_pem(csr_pem, cause)) == NULL)
		return NULL;
	req = PEM_read_bio_X509_REQ(bio, NULL, ca_nopass_cb, NULL);
	BIO_free(bio);
	if (req == NULL) {
		ca_ssl_cause(cause, "CSR: cannot parse");
		return NULL;
	}
	if ((pub = X509_REQ_get0_pubkey(req)) == NULL) {
		ca_ssl_cause(cause, "CSR: bad public key");
		goto out;
	}
	/* Proof that the requester holds the private key. */
	if (X509_REQ_verify(req, pub) != 1) {
		ca_ssl_cause(cause, "CSR: bad signature");
		goto out;
	}
	if (ca_csr_key_check(pub, cause) == -1)
		goto out;
	/* The CSR's own subject and extensions are never looked at. */
	if ((names = ca_sans_new(NULL, NULL, spiffe_id, cause)) == NULL)
		goto out;
	x = ca_leaf_new(ca, pub, ca_spiffe_path(spiffe_id), names,
	    "critical,digitalSignature,keyEncipherment",
	    "serverAuth,clientAuth", ttl_sec, &end, cause);
	if (x == NULL)
		goto out;
	if ((pem = ca_cert_pem(x, cause)) != NULL)
		*not_after = end;
out:
	X509_free(x);
	GENERAL_NAMES_free(names);
	X509_REQ_free(req);
	return pem;
}

int
ca_issue_server(struct ca *ca, const char *const *dns, const char *const *ips,
    const char *spiffe_id, int64_t ttl_sec, char **cert_pem, char **key_pem,
    char **cause)
{
	GENERAL_NAMES *names = NULL;
	char *cpem = NULL, *kpem = NULL;
	EVP_PKEY *key = NULL;
	const char *cn;
	int64_t end;
	X509 *x = NULL;
	int rv = -1;

	if (ca_ttl_check(ttl_sec, cause) == -1 ||
	    (spiffe_id != NULL && ca_spiffe_check(spiffe_id, cause) == -1))
		return -1;
	if ((dns == NULL || dns[0] == NULL) &&
	    (ips == NULL || ips[0] == NULL) && spiffe_id == NULL) {
		ca_cause(cause, "a server certificate needs a name");
		return -1;
	}
	/* A CN cut to 64 characters would name another host: keep it short. */
	if (dns != NULL && dns[0] != NULL && strlen(dns[0]) <= CA_CN_MAX)
		cn = dns[0];
	else
		cn = "weft-server";
	if ((names = ca_sans_new(dns, ips, spiffe_id, cause)) == NULL)
		return -1;
	if ((key = ca_pkey_generate(cause)) == NULL)
		goto out;
	/* An ECDSA key signs and never encrypts: no keyEncipherment. */
	x = ca_leaf_new(ca, key, cn, names, "critical,digitalSignature",
	    "serverAuth", ttl_sec, &end, cause);
	if (x == NULL)
		goto out;
	if ((cpem = ca_cert_pem(x, cause)) == NULL ||
	    (kpem = ca_key_pem(key, cause)) == NULL) {
		free(cpem);
		goto out;
	}
	*cert_pem = cpem;
	*key_pem = kpem;
	rv = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	GENERAL_NAMES_free(names);
	return rv;
}

char *
ca_key_generate(char **cause)
{
	EVP_PKEY *key;
	char *pem;

	if ((key = ca_pkey_generate(cause)) == NULL)
		return NULL;
	pem = ca_key_pem(key, cause);
	EVP_PKEY_free(key);
	return pem;
}

char *
ca_csr_make(const char *key_pem, const char *spiffe_id, char **cause)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *names = NULL;
	X509_EXTENSION *ext;
	X509_NAME *subject = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *key;
	char *pem = NULL;
	BIO *bio = NULL;

	if (ca_spiffe_check(spiffe_id, cause) == -1 ||
	    (key = ca_key_parse(key_pem, "key", cause)) == NULL)
		return NULL;
	if ((names = ca_sans_new(NULL, NULL, spiffe_id, cause)) == NULL ||
	    (subject = ca_name_new(ca_spiffe_path(spiffe_id), NULL, cause)) ==
		NULL)
		goto out;
	if ((req = X509_REQ_new()) == NULL ||
	    (exts = sk_X509_EXTENSION_new_null()) == NULL ||
	    X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(req, subject) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1) {
		ca_ssl_cause(cause, "cannot build the CSR");
		goto out;
	}
	if ((ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names)) == NULL ||
	    sk_X509_EXTENSION_push(exts, ext) == 0) {
		X509_EXTENSION_free(ext);
		ca_ssl_cause(cause, "cannot build the CSR's extensions");
		goto out;
	}
	if (X509_REQ_add_extensions(req, exts) != 1) {
		ca_ssl_cause(cause, "cannot add the CSR's extensions");
		goto out;
	}
	if (X509_REQ_sign(req, key, EVP_sha256()) <= 0) {
		ca_ssl_cause(cause, "cannot sign the CSR");
		goto out;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509_REQ(bio, req) != 1) {
		ca_ssl_cause(cause, "cannot write the CSR");
		goto out;
	}
	pem = ca_bio_string(bio, cause);
out:
	BIO_free(bio);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	X509_NAME_free(subject);
	GENERAL_NAMES_free(names);
	EVP_PKEY_free(key);
	return pem;
}

int
ca_x509_spiffe(X509 *x, char *out, size_t outlen)
{
	GENERAL_NAMES *names;
	const GENERAL_NAME *gen;
	const unsigned char *data;
	int i, crit, len, rc = 0;

	out[0] = '\0';
	names = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (names == NULL) {
		ERR_clear_error();
		return crit == -1 ? 0 : -1; /* no SAN at all, or a bad one */
	}
	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		gen = sk_GENERAL_NAME_value(names, i);
		if (gen->type != GEN_URI)
			continue;
		data = ASN1_STRING_get0_data(gen->d.uniformResourceIdentifier);
		len = ASN1_STRING_length(gen->d.uniformResourceIdentifier);
		/* An embedded NUL would hide the rest from a C string. */
		if ((size_t)len < strlen(CA_SPIFFE) || (size_t)len >= outlen ||
		    memchr(data, '\0', (size_t)len) != NULL ||
		    memcmp(data, CA_SPIFFE, strlen(CA_SPIFFE)) != 0)
			continue;
		memcpy(out, data, (size_t)len);
		out[len] = '\0';
		rc = 1;
		break;
	}
	GENERAL_NAMES_free(names);
	return rc;
}

/* The first URI SAN of x that is a SPIFFE ID, or NULL (allocated). */
static int
ca_cert_spiffe(X509 *x, char **spiffe_id, char **cause)
{
	char buf[2048];
	int rc;

	*spiffe_id = NULL;
	if ((rc = ca_x509_spiffe(x, buf, sizeof(buf))) == -1) {
		xasprintf(cause, "certificate: bad subject alternative names");
		return -1;
	}
	if (rc == 1)
		*spiffe_id = xstrdup(buf);
	return 0;
}

int
ca_cert_info(
    const char *cert_pem, int64_t *not_after, char **spiffe_id, char **cause)
{
	int64_t end;
	X509 *x;
	int rv = -1;

	if ((x = ca_cert_parse(cert_pem, "certificate", cause)) == NULL)
		return -1;
	if (ca_time_unix(X509_get0_notAfter(x), &end) == -1) {
		ca_cause(cause, "certificate: bad expiry time");
		goto out;
	}
	if (spiffe_id != NULL && ca_cert_spiffe(x, spiffe_id, cause) == -1)
		goto out;
	if (not_after != NULL)
		*not_after = end;
	rv = 0;
out:
	X509_free(x);
	return rv;
}

/*
 * The root above x among the certificates of bundle: a chain that
 * stops at a trusted intermediate (a partial chain) belongs to the root
 * of the bundle that issued it, which is what ca_fingerprint names.
 */
static X509 *
ca_bundle_root(STACK_OF(X509) * bundle, X509 *x)
{
	X509 *issuer;
	int depth, i;

	for (depth = 0; depth < 8; depth++) {
		if ((X509_get_extension_flags(x) & EXFLAG_SS) != 0)
			break;
		issuer = NULL;
		for (i = 0; i < sk_X509_num(bundle) && issuer == NULL; i++) {
			if (X509_check_issued(sk_X509_value(bundle, i), x) ==
			    X509_V_OK)
				issuer = sk_X509_value(bundle, i);
		}
		if (issuer == NULL)
			break;
		x = issuer;
	}
	return x;
}

/*
 * Verifies cert_pem (leaf first) against the certificates of bundle_pem
 * and, when key_pem is not NULL, that it is the leaf's key; fills
 * anchor (when not NULL) with the fingerprint of the top of the chain.
 */
static int
ca_verify(const char *cert_pem, const char *key_pem, const char *bundle_pem,
    char *anchor, char **cause)
{
	STACK_OF(X509) *chain = NULL, *trusted = NULL, *verified;
	X509_STORE_CTX *ctx = NULL;
	X509_STORE *store = NULL;
	EVP_PKEY *key = NULL;
	X509 *leaf, *top;
	int i, rv = -1;

	if ((chain = ca_certs_parse(cert_pem, "certificate", cause)) == NULL ||
	    (key_pem != NULL &&
		(key = ca_key_parse(key_pem, "key", cause)) == NULL) ||
	    (trusted = ca_certs_parse(bundle_pem, "trust bundle", cause)) ==
		NULL)
		goto out;
	leaf = sk_X509_value(chain, 0);
	if (key != NULL && X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		ca_cause(cause, "key does not match the certificate");
		goto out;
	}
	if ((store = X509_STORE_new()) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL) {
		ca_ssl_cause(cause, "cannot build the trust store");
		goto out;
	}
	for (i = 0; i < sk_X509_num(trusted); i++) {
		if (X509_STORE_add_cert(store, sk_X509_value(trusted, i)) !=
		    1) {
			ca_ssl_cause(cause, "cannot build the trust store");
			goto out;
		}
	}
	/*
	 * Any certificate of the bundle is an anchor, the way a TLS peer
	 * given the same bundle sees it, even an intermediate without its
	 * root; the rest of cert_pem are untrusted intermediates.
	 */
	if (X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN) != 1 ||
	    X509_STORE_CTX_init(ctx, store, leaf, chain) != 1) {
		ca_ssl_cause(cause, "cannot build the trust store");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		ERR_clear_error();
		ca_cause(cause, "%s",
		    X509_verify_cert_error_string(
			X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	if (anchor != NULL) {
		verified = X509_STORE_CTX_get0_chain(ctx);
		top = verified != NULL && sk_X509_num(verified) > 0
		    ? sk_X509_value(verified, sk_X509_num(verified) - 1)
		    : NULL;
		if (top == NULL ||
		    ca_fingerprint_x509(ca_bundle_root(trusted, top), anchor) ==
			-1) {
			ca_cause(cause, "cannot read the verified chain");
			goto out;
		}
	}
	rv = 0;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(trusted, X509_free);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	return rv;
}

int
ca_cert_check(const char *cert_pem, const char *key_pem, const char *bundle_pem,
    char **cause)
{
	return ca_verify(cert_pem, key_pem, bundle_pem, NULL, cause);
}

int
ca_cert_anchor(
    const char *cert_pem, const char *bundle_pem, char out[65], char **cause)
{
	return ca_verify(cert_pem, NULL, bundle_pem, out, cause);
}

void
ca_sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		fatalx("SHA-256 is not available");
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * mdlen] = '\0';
}

int
ca_fingerprint_pem(const char *pem, char out[65])
{
	char *cause = NULL;
	X509 *x;
	int rv;

	if ((x = ca_cert_parse(pem, "certificate", &cause)) == NULL) {
		free(cause);
		return -1;
	}
	rv = ca_fingerprint_x509(x, out);
	X509_free(x);
	return rv;
}

/* Makes a rename in the directory of path survive a crash; best effort. */
static void
ca_dir_sync(const char *path)
{
	char *dir, *slash;
	int fd;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) == NULL) {
		free(dir);
		dir = xstrdup(".");
	} else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

int
ca_write_file(
    const char *path, const void *data, size_t len, mode_t mode, char **cause)
{
	const char *p = data, *what;
	char *tmp;
	ssize_t n;
	int fd, saved;

	xasprintf(&tmp, "%s.XXXXXX", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		ca_cause(cause, "%s: mkostemp: %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	/* Exactly mode: the umask must not widen or narrow a key's. */
	what = "fchmod";
	if (fchmod(fd, mode) == -1)
		goto fail;
	what = "write";
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	what = "fsync";
	if (fsync(fd) == -1)
		goto fail;
	what = "close";
	n = close(fd);
	fd = -1;
	if (n == -1)
		goto fail;
	what = "rename";
	if (rename(tmp, path) == -1)
		goto fail;
	ca_dir_sync(path);
	free(tmp);
	return 0;

fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	ca_cause(cause, "%s: %s: %s", path, what, strerror(saved));
	free(tmp);
	return -1;
}

char *
ca_read_file(const char *path, char **cause)
{
	size_t len = 0, size;
	struct stat sb;
	char *buf = NULL, *nbuf;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		ca_cause(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == -1) {
		ca_cause(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		ca_cause(cause, "%s: not a regular file", path);
		goto fail;
	}
	if (sb.st_size >= CA_FILE_MAX) {
		ca_cause(cause, "%s: larger than %d bytes", path, CA_FILE_MAX);
		goto fail;
	}
	/*
	 * st_size is a hint (the file may change while it is read); one
	 * byte more than it says lets the read that sees the end fit.
	 */
	size = (size_t)sb.st_size + 2;
	if ((buf = malloc(size)) == NULL) {
		ca_cause(cause, "%s: out of memory", path);
		goto fail;
	}
	for (;;) {
		if (len == size - 1) {
			if (len >= CA_FILE_MAX) {
				ca_cause(cause, "%s: larger than %d bytes",
				    path, CA_FILE_MAX);
				goto fail;
			}
			size = size * 2 > CA_FILE_MAX + 1 ? CA_FILE_MAX + 1
							  : size * 2;
			if ((nbuf = realloc(buf, size)) == NULL) {
				ca_cause(cause, "%s: out of memory", path);
				goto fail;
			}
			buf = nbuf;
		}
		if ((n = read(fd, buf + len, size - len - 1)) == -1) {
			if (errno == EINTR)
				continue;
			ca_cause(cause, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		ca_cause(cause, "%s: not a text file", path);
		free(buf);
		return NULL;
	}
	return buf;

fail:
	close(fd);
	free(buf);
	return NULL;
}

char *
ca_read_token(const char *path, char **cause)
{
	char *text;
	size_t n;

	if ((text = ca_read_file(path, cause)) == NULL)
		return NULL;
	n = strlen(text);
	while (n > 0 &&
	    (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		text[--n] = '\0';
	if (n == 0) {
		ca_cause(cause, "%s: empty token", path);
		free(text);
		return NULL;
	}
	return text;
}
