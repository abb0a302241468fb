/*
 * What ca.c (the CA, issuance, reading certificates) and ca_rotate.c
 * (rotating the root) share, and nothing else includes.
 */
#ifndef WEFT_CA_INT_H
#define WEFT_CA_INT_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"

#define CA_CERT_FILE "ca.pem"
#define CA_KEY_FILE  "ca-key.pem"
#define CA_ROOT_SEC  ((int64_t)3652 * 86400) /* 10 years, leap days too */
#define CA_SKEW_SEC  300

/* One certificate file of the CA and its key. */
struct ca_root {
	X509 *cert;           /* the issuing certificate: the first of pem */
	EVP_PKEY *key;        /* its private key */
	char *pem;            /* the file as read */
	char fingerprint[65]; /* of the root: the last certificate of pem */
	int self_signed;      /* pem is one self-signed root */
};

struct ca {
	char *dir;
	char *trust_domain;  /* for the name of a next root */
	enum ca_phase phase; /* CA_PHASE_NONE: next is empty */
	struct ca_root cur;  /* ca.pem, ca-key.pem */
	struct ca_root next; /* ca-next.pem, ca-next-key.pem */
	char *cross_pem;     /* next's root certified by cur's, in a rotation */
	char *bundle;        /* the trust bundle: cur.pem, then next.pem */
	char *chain;         /* what a server sends after its certificate */
	char bundle_sha[65]; /* of the text of bundle */
};

struct ca_ext {
	int nid;
	const char *value;
};

void ca_cause(char **cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ca_ssl_cause(char **cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* clang-format off */
STACK_OF(X509) *ca_certs_parse(const char *pem, const char *what,
    char **cause);
/* clang-format on */
char *ca_cert_pem(X509 *x, char **cause);
char *ca_key_pem(EVP_PKEY *key, char **cause);
int ca_fingerprint_x509(X509 *x, char out[65]);
int ca_time_unix(const ASN1_TIME *t, int64_t *out);
int ca_serial_set(X509 *x, char **cause);
int ca_validity_set(
    X509 *x, int64_t not_before, int64_t not_after, char **cause);
int ca_exts_add(X509 *x, X509V3_CTX *ctx, const struct ca_ext *exts, size_t n,
    char **cause);
/* 1 when path exists, 0 when it does not, -1 (with *cause) on error. */
int ca_exists(const char *path, char **cause);

/*
 * A new self-signed root for trust_domain: subject O=weft, OU=ou (when
 * not NULL), CN=weft root CA trust_domain.
 */
int ca_root_new(const char *trust_domain, const char *ou, X509 **cert,
    EVP_PKEY **key, char **cause);
/*
 * Fills r from the contents of a certificate file and its key file;
 * takes cert_pem (allocated) in any case. On error r is cleared.
 */
int ca_root_load(struct ca_root *r, const char *cert_path, char *cert_pem,
    const char *key_path, const char *key_pem, char **cause);
void ca_root_clear(struct ca_root *r);

/* ca_rotate.c */
/* The root that signs what the CA issues now. */
const struct ca_root *ca_signer(const struct ca *ca);
/*
 * Completes a finish of dir that a crash interrupted (before ca.pem is
 * read). Returns 0, or -1 with *cause set.
 */
int ca_rotation_recover(const char *dir, char **cause);
/*
 * Reads the rotation in progress of ca->dir (ca-rotation and the next
 * root) and builds the trust bundle and chain. Returns 0, or -1 with *cause set.
 */
int ca_rotation_load(struct ca *ca, char **cause);

#endif
