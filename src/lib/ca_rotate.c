/*
 * Rotating the mesh CA's root without a failed handshake, in three
 * steps: prepare (a next root joins the trust bundle that everyone is
 * handed, while the current root still signs), activate (the next root
 * signs), finish (the next root is the only one left).
 *
 * Between activate and finish a certificate of the next root signed by
 * the current one (the cross certificate, made in memory whenever both
 * roots are loaded) follows a server's certificate: a client that still
 * trusts, or pins, only the current root finds a path through it to a
 * leaf of the next root.
 *
 * Each step is durable before it is in force: the phase is the word in
 * ca-rotation, the next root is ca-next.pem and ca-next-key.pem. Finish
 * replaces ca.pem and ca-key.pem; it first writes the phase "finishing",
 * so that a crash halfway through is completed by the next ca_open()
 * from the files of the next root, which are removed last.
 */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "ca_int.h"
#include "log.h"
#include "xmalloc.h"

#define CA_NEXT_CERT_FILE  "ca-next.pem"
#define CA_NEXT_KEY_FILE   "ca-next-key.pem"
#define CA_OLD_CERT_FILE   "ca-old.pem"
#define CA_OLD_KEY_FILE    "ca-old-key.pem"
#define CA_PHASE_FILE      "ca-rotation"
#define CA_PHASE_FINISHING "finishing"

static const char *const ca_phase_names[] = {
    [CA_PHASE_NONE] = "none",
    [CA_PHASE_PREPARED] = "prepared",
    [CA_PHASE_ACTIVATED] = "activated",
};

const char *
ca_phase_name(enum ca_phase phase)
{
	if ((size_t)phase >= sizeof ca_phase_names / sizeof ca_phase_names[0])
		return "unknown";
	return ca_phase_names[phase];
}

enum ca_phase
ca_phase(const struct ca *ca)
{
	return ca->phase;
}

const struct ca_root *
ca_signer(const struct ca *ca)
{
	return ca->phase == CA_PHASE_ACTIVATED ? &ca->next : &ca->cur;
}

static char *
ca_path(const char *dir, const char *file)
{
	char *path;

	xasprintf(&path, "%s/%s", dir, file);
	return path;
}

static void
ca_secret_free(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* Removes path; one that is already gone is not an error. */
static int
ca_unlink(const char *path, char **cause)
{
	if (unlink(path) == -1 && errno != ENOENT) {
		ca_cause(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* a then b, with a newline between when a does not end with one. */
static char *
ca_pem_cat(const char *a, const char *b)
{
	size_t len = strlen(a);
	char *s;

	xasprintf(
	    &s, "%s%s%s", a, len > 0 && a[len - 1] != '\n' ? "\n" : "", b);
	return s;
}

/* The bundle, the chain a server sends and the bundle's hash. */
static void
ca_trust_build(struct ca *ca)
{
	free(ca->bundle);
	free(ca->chain);
	if (ca->phase == CA_PHASE_NONE)
		ca->bundle = xstrdup(ca->cur.pem);
	else
		ca->bundle = ca_pem_cat(ca->cur.pem, ca->next.pem);
	/*
	 * The cross certificate comes first: a client's chain building
	 * takes the first candidate issuer that it is given, and the next
	 * root's own certificate would be a dead end for a client that
	 * does not trust it.
	 */
	if (ca->phase == CA_PHASE_ACTIVATED && ca->cross_pem != NULL)
		ca->chain = ca_pem_cat(ca->cross_pem, ca->bundle);
	else
		ca->chain = xstrdup(ca->bundle);
	ca_sha256_hex(ca->bundle, strlen(ca->bundle), ca->bundle_sha);
}

/*
 * The next root's subject and key, certified by the current root: a CA
 * certificate valid as long as both roots are.
 */
static char *
ca_cross_new(
    const struct ca_root *cur, const struct ca_root *next, char **cause)
{
	static const struct ca_ext exts[] = {
	    {NID_basic_constraints, "critical,CA:TRUE"},
	    {NID_key_usage, "critical,keyCertSign,cRLSign"},
	    {NID_subject_key_identifier, "hash"},
	    {NID_authority_key_identifier, "keyid:always"},
	};
	int64_t now, end, cur_end;
	X509V3_CTX ctx;
	char *pem = NULL;
	X509 *x;

	if ((x = X509_new()) == NULL) {
		ca_ssl_cause(cause, "X509_new");
		return NULL;
	}
	now = (int64_t)time(NULL);
	if (ca_time_unix(X509_get0_notAfter(next->cert), &end) == -1 ||
	    ca_time_unix(X509_get0_notAfter(cur->cert), &cur_end) == -1) {
		ca_cause(cause, "cross certificate: bad root expiry");
		goto out;
	}
	if (cur_end < end)
		end = cur_end;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_subject_name(x, X509_get_subject_name(next->cert)) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(cur->cert)) != 1 ||
	    X509_set_pubkey(x, X509_get0_pubkey(next->cert)) != 1) {
		ca_ssl_cause(cause, "cannot build the cross certificate");
		goto out;
	}
	if (ca_serial_set(x, cause) == -1 ||
	    ca_validity_set(x, now - CA_SKEW_SEC, end, cause) == -1)
		goto out;
	X509V3_set_ctx(&ctx, cur->cert, x, NULL, NULL, 0);
	if (ca_exts_add(x, &ctx, exts, sizeof exts / sizeof exts[0], cause) ==
	    -1)
		goto out;
	if (X509_sign(x, cur->key, EVP_sha256()) <= 0) {
		ca_ssl_cause(cause, "cannot sign the cross certificate");
		goto out;
	}
	pem = ca_cert_pem(x, cause);
out:
	X509_free(x);
	return pem;
}

/* Loads the next root's files into r, and the cross certificate. */
static int
ca_next_load(struct ca *ca, struct ca_root *r, char **cross, char **cause)
{
	char *cert_path, *key_path, *cert_pem = NULL, *key_pem = NULL;
	int rv = -1;

	cert_path = ca_path(ca->dir, CA_NEXT_CERT_FILE);
	key_path = ca_path(ca->dir, CA_NEXT_KEY_FILE);
	if ((cert_pem = ca_read_file(cert_path, cause)) == NULL)
		goto out;
	if ((key_pem = ca_read_file(key_path, cause)) == NULL) {
		free(cert_pem);
		goto out;
	}
	if (ca_root_load(r, cert_path, cert_pem, key_path, key_pem, cause) ==
	    -1)
		goto out;
	if (!r->self_signed) {
		ca_cause(cause, "%s: not one self-signed root", cert_path);
		ca_root_clear(r);
		goto out;
	}
	if ((*cross = ca_cross_new(&ca->cur, r, cause)) == NULL) {
		ca_root_clear(r);
		goto out;
	}
	rv = 0;
out:
	ca_secret_free(key_pem);
	free(cert_path);
	free(key_path);
	return rv;
}

static int
ca_phase_write(const char *dir, const char *word, char **cause)
{
	char *path, *text;
	int rv;

	path = ca_path(dir, CA_PHASE_FILE);
	xasprintf(&text, "%s\n", word);
	rv = ca_write_file(path, text, strlen(text), 0644, cause);
	free(text);
	free(path);
	return rv;
}

/*
 * The word of ca-rotation into word, or "" when there is none. Returns
 * 0, or -1 with *cause set.
 */
static int
ca_phase_read(const char *dir, char *word, size_t len, char **cause)
{
	char *path, *text = NULL;
	int rv = -1, have;

	word[0] = '\0';
	path = ca_path(dir, CA_PHASE_FILE);
	if ((have = ca_exists(path, cause)) == -1)
		goto out;
	if (have) {
		if ((text = ca_read_file(path, cause)) == NULL)
			goto out;
		text[strcspn(text, " \t\r\n")] = '\0';
		snprintf(word, len, "%s", text);
	}
	rv = 0;
out:
	free(text);
	free(path);
	return rv;
}

/*
 * The second half of finish, from the files alone, so that it can be
 * done again after a crash: the next root's files replace ca.pem and
 * ca-key.pem (the key first), are removed (the certificate first: the
 * key alone left means the replacement is done), and the phase last.
 */
static int
ca_finish_files(const char *dir, char **cause)
{
	char *paths[5], *cert_pem = NULL, *key_pem = NULL;
	int have, i, rv = -1;

	paths[0] = ca_path(dir, CA_NEXT_CERT_FILE);
	paths[1] = ca_path(dir, CA_NEXT_KEY_FILE);
	paths[2] = ca_path(dir, CA_CERT_FILE);
	paths[3] = ca_path(dir, CA_KEY_FILE);
	paths[4] = ca_path(dir, CA_PHASE_FILE);
	if ((have = ca_exists(paths[0], cause)) == -1)
		goto out;
	if (have) {
		if ((cert_pem = ca_read_file(paths[0], cause)) == NULL ||
		    (key_pem = ca_read_file(paths[1], cause)) == NULL ||
		    ca_write_file(paths[3], key_pem, strlen(key_pem), 0600,
			cause) == -1 ||
		    ca_write_file(paths[2], cert_pem, strlen(cert_pem), 0644,
			cause) == -1 ||
		    ca_unlink(paths[0], cause) == -1)
			goto out;
	}
	if (ca_unlink(paths[1], cause) == -1 ||
	    ca_unlink(paths[4], cause) == -1)
		goto out;
	rv = 0;
out:
	ca_secret_free(key_pem);
	free(cert_pem);
	for (i = 0; i < 5; i++)
		free(paths[i]);
	return rv;
}

int
ca_rotation_recover(const char *dir, char **cause)
{
	char word[32];

	if (ca_phase_read(dir, word, sizeof word, cause) == -1)
		return -1;
	if (strcmp(word, CA_PHASE_FINISHING) != 0)
		return 0;
	log_warnx("%s: completing the rotation of the root that was being "
		  "finished",
	    dir);
	return ca_finish_files(dir, cause);
}

int
ca_rotation_load(struct ca *ca, char **cause)
{
	struct ca_root next;
	char word[32], *path, *cross = NULL;
	int have;

	if (ca_phase_read(ca->dir, word, sizeof word, cause) == -1)
		return -1;
	if (word[0] == '\0') {
		path = ca_path(ca->dir, CA_NEXT_CERT_FILE);
		if ((have = ca_exists(path, cause)) == -1) {
			free(path);
			return -1;
		}
		if (have)
			log_warnx("%s is left from a prepare that did not "
				  "complete: the next prepare replaces it",
			    path);
		free(path);
		ca->phase = CA_PHASE_NONE;
		ca_trust_build(ca);
		return 0;
	}
	if (strcmp(word, ca_phase_name(CA_PHASE_PREPARED)) == 0)
		ca->phase = CA_PHASE_PREPARED;
	else if (strcmp(word, ca_phase_name(CA_PHASE_ACTIVATED)) == 0)
		ca->phase = CA_PHASE_ACTIVATED;
	else {
		ca_cause(cause, "%s/%s: unknown phase \"%s\"", ca->dir,
		    CA_PHASE_FILE, word);
		return -1;
	}
	if (!ca->cur.self_signed) {
		ca_cause(cause,
		    "%s/%s: a rotation of a CA that is not one "
		    "self-signed root",
		    ca->dir, CA_PHASE_FILE);
		return -1;
	}
	if (ca_next_load(ca, &next, &cross, cause) == -1)
		return -1;
	ca->next = next;
	ca->cross_pem = cross;
	ca_trust_build(ca);
	return 0;
}

/* "2025-01-31T12:00:00Z 1a2b3c4d": when, and what tells two apart. */
static int
ca_next_ou(char *buf, size_t len, char **cause)
{
	unsigned char rnd[4];
	time_t now = time(NULL);
	struct tm tm;
	size_t n;

	if (RAND_bytes(rnd, sizeof rnd) != 1) {
		ca_ssl_cause(cause, "RAND_bytes");
		return -1;
	}
	if (gmtime_r(&now, &tm) == NULL ||
	    (n = strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm)) == 0) {
		ca_cause(cause, "cannot format the time");
		return -1;
	}
	snprintf(buf + n, len - n, " %02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
	    rnd[3]);
	return 0;
}

int
ca_rotate_prepare(struct ca *ca, char **cause)
{
	char *cert_path, *key_path, *cert_pem = NULL, *key_pem = NULL;
	char ou[64], *cross = NULL;
	struct ca_root next;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int rv = -1;

	if (ca->phase != CA_PHASE_NONE) {
		ca_cause(cause, "a rotation is already in progress (%s)",
		    ca_phase_name(ca->phase));
		return -1;
	}
	if (!ca->cur.self_signed) {
		ca_cause(cause,
		    "%s/%s is not one self-signed root: an intermediate CA "
		    "is rotated by the PKI that issues it",
		    ca->dir, CA_CERT_FILE);
		return -1;
	}
	cert_path = ca_path(ca->dir, CA_NEXT_CERT_FILE);
	key_path = ca_path(ca->dir, CA_NEXT_KEY_FILE);
	/* Two roots of one name would make chains ambiguous. */
	do {
		X509_free(cert);
		EVP_PKEY_free(key);
		cert = NULL;
		key = NULL;
		if (ca_next_ou(ou, sizeof ou, cause) == -1 ||
		    ca_root_new(ca->trust_domain, ou, &cert, &key, cause) == -1)
			goto out;
	} while (X509_NAME_cmp(X509_get_subject_name(cert),
		     X509_get_subject_name(ca->cur.cert)) == 0);
	/* The key first: a certificate never exists without its key. */
	if ((cert_pem = ca_cert_pem(cert, cause)) == NULL ||
	    (key_pem = ca_key_pem(key, cause)) == NULL ||
	    ca_write_file(key_path, key_pem, strlen(key_pem), 0600, cause) ==
		-1 ||
	    ca_write_file(cert_path, cert_pem, strlen(cert_pem), 0644, cause) ==
		-1)
		goto out;
	/* Read back: one way in, checked once (ca_root_load takes it). */
	if (ca_root_load(
		&next, cert_path, cert_pem, key_path, key_pem, cause) == -1) {
		cert_pem = NULL;
		goto out;
	}
	cert_pem = NULL;
	if ((cross = ca_cross_new(&ca->cur, &next, cause)) == NULL ||
	    ca_phase_write(ca->dir, ca_phase_name(CA_PHASE_PREPARED), cause) ==
		-1) {
		free(cross);
		ca_root_clear(&next);
		goto out;
	}
	ca->next = next;
	ca->cross_pem = cross;
	ca->phase = CA_PHASE_PREPARED;
	ca_trust_build(ca);
	log_info("prepared a rotation of the root: the next root %s is "
		 "trusted, %s still signs",
	    ca->next.fingerprint, ca->cur.fingerprint);
	rv = 0;
out:
	ca_secret_free(key_pem);
	free(cert_pem);
	X509_free(cert);
	EVP_PKEY_free(key);
	free(cert_path);
	free(key_path);
	return rv;
}

int
ca_rotate_activate(struct ca *ca, char **cause)
{
	if (ca->phase != CA_PHASE_PREPARED) {
		ca_cause(cause, "%s",
		    ca->phase == CA_PHASE_NONE
			? "no rotation in progress: prepare first"
			: "the next root already signs");
		return -1;
	}
	if (ca_phase_write(ca->dir, ca_phase_name(CA_PHASE_ACTIVATED), cause) ==
	    -1)
		return -1;
	ca->phase = CA_PHASE_ACTIVATED;
	ca_trust_build(ca);
	log_info("activated the next root %s: it signs from now on",
	    ca->next.fingerprint);
	return 0;
}

int
ca_rotate_finish(struct ca *ca, char **cause)
{
	char *cert_path, *key_path, *key_pem = NULL;
	int rv = -1;

	if (ca->phase != CA_PHASE_ACTIVATED) {
		ca_cause(cause, "%s",
		    ca->phase == CA_PHASE_NONE
			? "no rotation in progress: prepare first"
			: "the next root does not sign yet: activate first");
		return -1;
	}
	cert_path = ca_path(ca->dir, CA_OLD_CERT_FILE);
	key_path = ca_path(ca->dir, CA_OLD_KEY_FILE);
	/*
	 * The old root from memory, not from ca-key.pem: after a finish
	 * that failed halfway, the file may already be the next key.
	 */
	if ((key_pem = ca_key_pem(ca->cur.key, cause)) == NULL ||
	    ca_write_file(key_path, key_pem, strlen(key_pem), 0600, cause) ==
		-1 ||
	    ca_write_file(cert_path, ca->cur.pem, strlen(ca->cur.pem), 0644,
		cause) == -1 ||
	    ca_phase_write(ca->dir, CA_PHASE_FINISHING, cause) == -1 ||
	    ca_finish_files(ca->dir, cause) == -1)
		goto out;
	log_info("finished the rotation of the root: %s is the only root, "
		 "%s is kept in %s",
	    ca->next.fingerprint, ca->cur.fingerprint, cert_path);
	ca_root_clear(&ca->cur);
	ca->cur = ca->next;
	memset(&ca->next, 0, sizeof ca->next);
	free(ca->cross_pem);
	ca->cross_pem = NULL;
	ca->phase = CA_PHASE_NONE;
	ca_trust_build(ca);
	rv = 0;
out:
	ca_secret_free(key_pem);
	free(cert_path);
	free(key_path);
	return rv;
}

/* The last certificate of pem: the root of the chain it holds. */
static int
ca_root_info_fill(const char *pem, struct ca_root_info *info)
{
	STACK_OF(X509) *certs = NULL;
	char *cause = NULL, *data;
	BIO *bio = NULL;
	long len;
	X509 *x;
	int rv = -1;

	memset(info, 0, sizeof *info);
	if ((certs = ca_certs_parse(pem, "root", &cause)) == NULL) {
		free(cause);
		return -1;
	}
	x = sk_X509_value(certs, sk_X509_num(certs) - 1);
	if (ca_fingerprint_x509(x, info->fingerprint) == 0 &&
	    ca_time_unix(X509_get0_notBefore(x), &info->not_before) == 0 &&
	    ca_time_unix(X509_get0_notAfter(x), &info->not_after) == 0 &&
	    (bio = BIO_new(BIO_s_mem())) != NULL &&
	    X509_NAME_print_ex(
		bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
		len = BIO_get_mem_data(bio, &data);
		if (len < 0)
			len = 0;
		if ((size_t)len >= sizeof info->subject)
			len = sizeof info->subject - 1;
		memcpy(info->subject, data, (size_t)len);
		info->subject[len] = '\0';
		rv = 0;
	}
	BIO_free(bio);
	sk_X509_pop_free(certs, X509_free);
	ERR_clear_error();
	return rv;
}

size_t
ca_roots(const struct ca *ca, struct ca_root_info *out, size_t max)
{
	const struct ca_root *signer = ca_signer(ca);
	size_t n = 0;

	if (n < max && ca_root_info_fill(ca->cur.pem, &out[n]) == 0) {
		out[n].signing = signer == &ca->cur;
		n++;
	}
	if (ca->phase != CA_PHASE_NONE && n < max &&
	    ca_root_info_fill(ca->next.pem, &out[n]) == 0) {
		out[n].next = 1;
		out[n].signing = signer == &ca->next;
		n++;
	}
	return n;
}
