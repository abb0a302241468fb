/*
 * The workload's certificate files: cert.pem, key.pem (0600) and
 * ca.pem in the certs directory, written atomically in an order that
 * never pairs a new certificate with an old key for long (the proxy
 * checks the pair before it uses it).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int
sync_certs_usable(const char *dir, int64_t *renew_at)
{
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
	*renew_at = sync_certs_half_life(pem[0]);
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
sync_certs_save(const char *dir, const char *key_pem, const char *cert_pem,
    const char *bundle_pem, int64_t *renew_at, char **cause)
{
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
	*renew_at = sync_certs_half_life(cert_pem);
	return 0;
}
