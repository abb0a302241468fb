/*
 * The mesh certificate authority (weft-server) and the certificate work
 * of a workload (weft-sync, weftctl): keys, CSRs, issuance, and reading
 * what a certificate says. OpenSSL 3 only, behind this one header.
 *
 * Keys are EC P-256. Workload certificates carry exactly one URI SAN,
 * the SPIFFE ID the CA decided (never what the CSR asked for).
 */
#ifndef WEFT_CA_H
#define WEFT_CA_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

struct ca;

/*
 * Loads the CA of dir: ca.pem (the root certificate, or an intermediate
 * followed by the chain up to its root) and ca-key.pem. When neither
 * exists, creates a self-signed root for trust_domain (10 years;
 * subject O=weft, CN=weft root CA <trust_domain>), writing ca-key.pem
 * with mode 0600 and ca.pem with 0644, each atomically. One of the two
 * missing, a key that does not match, or unreadable files are errors.
 * Returns NULL with *cause set.
 */
struct ca *ca_open(const char *dir, const char *trust_domain, char **cause);
void ca_free(struct ca *ca);

/* The trust bundle to hand out (the contents of ca.pem). */
const char *ca_bundle_pem(const struct ca *ca);

/*
 * The SHA-256 fingerprint of the root certificate's DER, as 64 lower
 * case hex digits: what a join token pins.
 */
const char *ca_fingerprint(const struct ca *ca);

/*
 * Issues a workload certificate for the CSR csr_pem, after checking the
 * CSR's own signature: subject O=weft, CN=spiffe_id's path, one URI SAN
 * spiffe_id, key usage digitalSignature+keyEncipherment, extended key
 * usage serverAuth+clientAuth, not before 5 minutes ago (clock skew),
 * not after now + ttl_sec, a random 128-bit serial. Returns the
 * certificate PEM (allocated) and its expiry in *not_after (Unix
 * seconds), or NULL with *cause set.
 */
char *ca_issue(struct ca *ca, const char *csr_pem, const char *spiffe_id,
    int64_t ttl_sec, int64_t *not_after, char **cause);

/*
 * Issues weft-server's own TLS certificate and key: DNS SANs from dns,
 * IP SANs from ips (each NULL-terminated, either may be empty), and the
 * URI SAN spiffe_id when not NULL; serverAuth. Fills *cert_pem and
 * *key_pem (allocated). Returns 0, or -1 with *cause set.
 */
int ca_issue_server(struct ca *ca, const char *const *dns,
    const char *const *ips, const char *spiffe_id, int64_t ttl_sec,
    char **cert_pem, char **key_pem, char **cause);

/* A new EC P-256 private key, as PKCS#8 PEM (allocated); NULL on error. */
char *ca_key_generate(char **cause);

/*
 * A CSR signed by key_pem, asking for the URI SAN spiffe_id (which the
 * CA decides anyway). Returns the PEM (allocated) or NULL.
 */
char *ca_csr_make(const char *key_pem, const char *spiffe_id, char **cause);

/*
 * Reads the first certificate of cert_pem: its expiry (Unix seconds)
 * and, when spiffe_id is not NULL, its first URI SAN that starts with
 * "spiffe://" (allocated, or NULL when there is none). Returns 0, or -1
 * with *cause set.
 */
int ca_cert_info(
    const char *cert_pem, int64_t *not_after, char **spiffe_id, char **cause);

/*
 * Checks that cert_pem (leaf first) chains to one of the certificates
 * of bundle_pem and that key_pem is its private key. Returns 0, or -1
 * with *cause set ("certificate has expired", "key does not match the
 * certificate", ...).
 */
int ca_cert_check(const char *cert_pem, const char *key_pem,
    const char *bundle_pem, char **cause);

/* SHA-256 of the DER of the first certificate of pem, as hex; -1 on error. */
int ca_fingerprint_pem(const char *pem, char out[65]);

/*
 * Writes len bytes of data to path atomically: a temporary file in the
 * same directory with the given mode, fsync, rename. Returns 0, or -1
 * with *cause set; never leaves the temporary file behind.
 */
int ca_write_file(
    const char *path, const void *data, size_t len, mode_t mode, char **cause);

/* Reads a whole (small, < 1 MiB) file; NULL with *cause set on error. */
char *ca_read_file(const char *path, char **cause);

#endif
