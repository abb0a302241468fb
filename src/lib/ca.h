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
 * Where a rotation of the root stands. A rotation is three steps:
 * prepare (a next root joins the trust bundle), activate (the next
 * root signs) and finish (the next root becomes the only one).
 */
enum ca_phase {
	CA_PHASE_NONE,      /* one root, which signs */
	CA_PHASE_PREPARED,  /* the next root is trusted; the current signs */
	CA_PHASE_ACTIVATED, /* both are trusted; the next root signs */
};

/*
 * Loads the CA of dir: ca.pem (the root certificate, or an intermediate
 * followed by the chain up to its root) and ca-key.pem. When neither
 * exists, creates a self-signed root for trust_domain (10 years;
 * subject O=weft, CN=weft root CA <trust_domain>), writing ca-key.pem
 * with mode 0600 and ca.pem with 0644, each atomically. One of the two
 * missing, a key that does not match, or unreadable files are errors.
 *
 * A rotation in progress is loaded too: the phase from ca-rotation and
 * the next root from ca-next.pem and ca-next-key.pem; a finish that was
 * interrupted is completed. Returns NULL with *cause set.
 */
struct ca *ca_open(const char *dir, const char *trust_domain, char **cause);
void ca_free(struct ca *ca);

/*
 * The trust bundle to hand out: the contents of ca.pem, followed during
 * a rotation by those of ca-next.pem.
 */
const char *ca_bundle_pem(const struct ca *ca);

/* The SHA-256 of the text of ca_bundle_pem(), as 64 hex digits. */
const char *ca_bundle_sha256(const struct ca *ca);

/*
 * What a TLS server holding a certificate of this CA sends after its
 * own certificate: the trust bundle, preceded once the next root signs
 * by the next root certified by the current one, so that a client that
 * trusts (or pins) only the current root still finds a path.
 */
const char *ca_chain_pem(const struct ca *ca);

/*
 * The SHA-256 fingerprint of the DER of the root that signs now, as 64
 * lower case hex digits: what a join token made now pins.
 */
const char *ca_fingerprint(const struct ca *ca);

/* What ca_roots() tells of a root of the trust bundle. */
struct ca_root_info {
	char fingerprint[65];
	char subject[256]; /* one line, RFC 2253 */
	int64_t not_before;
	int64_t not_after;
	int next;    /* the root a rotation brings in */
	int signing; /* what is issued now chains to it */
};

/*
 * Fills out (room for max entries) with the roots of the trust bundle,
 * the current root first; returns how many there are (1 or 2).
 */
size_t ca_roots(const struct ca *ca, struct ca_root_info *out, size_t max);

enum ca_phase ca_phase(const struct ca *ca);
/* "none", "prepared", "activated". */
const char *ca_phase_name(enum ca_phase phase);

/*
 * The steps of a rotation, each durable before it returns (a restart
 * keeps the phase) and refused out of order with *cause set:
 *
 * ca_rotate_prepare: creates a new self-signed root (O=weft, OU=its
 * creation time and a random tag, CN=weft root CA <trust domain>),
 * writing ca-next-key.pem (0600) and ca-next.pem (0644), then
 * ca-rotation. The bundle becomes both roots; the current still signs.
 * Refused when ca.pem is not one self-signed root (an intermediate is
 * rotated by the PKI that issued it).
 *
 * ca_rotate_activate: the next root signs from now on.
 *
 * ca_rotate_finish: the current root's files are kept as ca-old.pem and
 * ca-old-key.pem (replacing those of an earlier rotation), the next
 * root's become ca.pem and ca-key.pem, and the bundle is that root
 * alone. Only after activate.
 *
 * Each returns 0, or -1 with *cause set and the CA as it was.
 */
int ca_rotate_prepare(struct ca *ca, char **cause);
int ca_rotate_activate(struct ca *ca, char **cause);
int ca_rotate_finish(struct ca *ca, char **cause);

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

/*
 * The fingerprint (as ca_fingerprint gives it) of the certificate of
 * bundle_pem that cert_pem chains to, the top of the verified chain, as
 * ca_cert_check verifies it but without a key. Returns 0, or -1 with
 * *cause set.
 */
int ca_cert_anchor(
    const char *cert_pem, const char *bundle_pem, char out[65], char **cause);

/*
 * The first URI SAN of a certificate that is a SPIFFE ID, into out
 * (no allocation: the TLS handshakes of the proxy and the server use
 * it). Returns 1, 0 when there is none (or it does not fit), -1 when
 * the SAN extension is malformed.
 */
struct x509_st;
int ca_x509_spiffe(struct x509_st *x, char *out, size_t outlen);

/* SHA-256 of the DER of the first certificate of pem, as hex; -1 on error. */
int ca_fingerprint_pem(const char *pem, char out[65]);

/* SHA-256 of len bytes of data, as 64 lower case hex digits. */
void ca_sha256_hex(const void *data, size_t len, char out[65]);

/*
 * Writes len bytes of data to path atomically: a temporary file in the
 * same directory with the given mode, fsync, rename. Returns 0, or -1
 * with *cause set; never leaves the temporary file behind.
 */
int ca_write_file(
    const char *path, const void *data, size_t len, mode_t mode, char **cause);

/* Reads a whole (small, < 1 MiB) file; NULL with *cause set on error. */
char *ca_read_file(const char *path, char **cause);

/*
 * Reads a bearer token file (a Kubernetes service-account token, say):
 * the whole file without its trailing blanks and line ends, allocated.
 * NULL with *cause set when it cannot be read or is empty.
 */
char *ca_read_token(const char *path, char **cause);

#endif
