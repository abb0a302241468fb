/*
 * The workload's certificate files: cert.pem, key.pem (0600) and
 * ca.pem in the certs directory, written atomically in an order that
 * never pairs a new certificate with an old key for long (the proxy
 * checks the pair before it uses it). The trust bundle alone is
 * replaced when the CA's roots change, and only by one the certificate
 * in use chains to.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "ca.h"
#include "log.h"
#include "sync.h"
#include "xmalloc.h"

/* Renew at half life, as Istio does. */
static int64_t
sync_certs_half_life(const char *cert_pem)
{
	int64_t not_after;
	char *cause = NULL;

	if (ca_cert_info(cert_pem, &not_after, NULL, &cause) == -1) {
		free(cause);
		return 0;
	}
	return (int64_t)time(NULL) + (not_after - (int64_t)time(NULL)) / 2;
}

/* What s knows of the files: the bundle's hash, the certificate's root. */
static void
sync_certs_note(struct sync *s, const char *cert_pem, const char *bundle_pem)
{
	char *cause = NULL;

	ca_sha256_hex(bundle_pem, strlen(bundle_pem), s->ca_sha);
	if (ca_cert_anchor(cert_pem, bundle_pem, s->cert_root, &cause) == -1) {
		s->cert_root[0] = '\0';
		free(cause);
	}
}

int
sync_certs_usable(struct sync *s)
{
	const char *dir = s->conf.certs_dir;
	char *paths[3], *pem[3] = {NULL, NULL, NULL}, *cause = NULL;
	int i, ok = 0;

	xasprintf(&paths[0], "%s/cert.pem", dir);
	xasprintf(&paths[1], "%s/key.pem", dir);
	xasprintf(&paths[2], "%s/ca.pem", dir);
	for (i = 0; i < 3; i++) {
		if ((pem[i] = ca_read_file(paths[i], &cause)) == NULL) {
			log_debug("%s", cause);
			free(cause);
			cause = NULL;
			goto out;
		}
	}
	if (ca_cert_check(pem[0], pem[1], pem[2], &cause) == -1) {
		log_warnx("%s: %s", paths[0], cause);
		free(cause);
		goto out;
	}
	s->cert_renew_at = sync_certs_half_life(pem[0]);
	sync_certs_note(s, pem[0], pem[2]);
	ok = 1;
out:
	for (i = 0; i < 3; i++) {
		free(paths[i]);
		free(pem[i]);
	}
	return ok;
}

int
sync_certs_request(
    const char *spiffe_id, char **key_pem, char **csr_pem, char **cause)
{
	if ((*key_pem = ca_key_generate(cause)) == NULL)
		return -1;
	if ((*csr_pem = ca_csr_make(*key_pem, spiffe_id, cause)) == NULL) {
		free(*key_pem);
		*key_pem = NULL;
		return -1;
	}
	return 0;
}

int
sync_certs_save(struct sync *s, const char *key_pem, const char *cert_pem,
    const char *bundle_pem, char **cause)
{
	const char *dir = s->conf.certs_dir;
	char *path;
	int rc;

	if (ca_cert_check(cert_pem, key_pem, bundle_pem, cause) == -1)
		return -1;
	xasprintf(&path, "%s/key.pem", dir);
	rc = ca_write_file(path, key_pem, strlen(key_pem), 0600, cause);
	free(path);
	if (rc == -1)
		return -1;
	xasprintf(&path, "%s/cert.pem", dir);
	rc = ca_write_file(path, cert_pem, strlen(cert_pem), 0644, cause);
	free(path);
	if (rc == -1)
		return -1;
	xasprintf(&path, "%s/ca.pem", dir);
	rc = ca_write_file(path, bundle_pem, strlen(bundle_pem), 0644, cause);
	free(path);
	if (rc == -1)
		return -1;
	s->cert_renew_at = sync_certs_half_life(cert_pem);
	sync_certs_note(s, cert_pem, bundle_pem);
	return 0;
}

int
sync_certs_bundle(struct sync *s, const char *bundle_pem, char **cause)
{
	char *path, *cert_pem, *key_pem = NULL, *why = NULL;
	int rc = -1;

	xasprintf(&path, "%s/cert.pem", s->conf.certs_dir);
	cert_pem = ca_read_file(path, cause);
	free(path);
	if (cert_pem == NULL)
		return -1;
	xasprintf(&path, "%s/key.pem", s->conf.certs_dir);
	key_pem = ca_read_file(path, cause);
	free(path);
	if (key_pem == NULL)
		goto out;
	/*
	 * A bundle without the root of the certificate in use would make
	 * the proxy refuse the set (and its peers refuse it): renew first.
	 */
	if (ca_cert_check(cert_pem, key_pem, bundle_pem, &why) == -1) {
		log_warnx("the certificate in use does not chain to the new "
			  "trust bundle (%s)",
		    why);
		free(why);
		rc = 1;
		goto out;
	}
	xasprintf(&path, "%s/ca.pem", s->conf.certs_dir);
	rc = ca_write_file(path, bundle_pem, strlen(bundle_pem), 0644, cause);
	free(path);
	if (rc == 0)
		sync_certs_note(s, cert_pem, bundle_pem);
out:
	if (key_pem != NULL) {
		OPENSSL_cleanse(key_pem, strlen(key_pem));
		free(key_pem);
	}
	free(cert_pem);
	return rc;
}
