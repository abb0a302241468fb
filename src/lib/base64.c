/* Base64 with OpenSSL's block functions (see base64.h). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base64.h"

char *
base64_encode(const void *p, size_t len)
{
	char *out;

	if (len > (size_t)INT32_MAX / 2)
		return NULL;
	if ((out = malloc(4 * ((len + 2) / 3) + 1)) != NULL)
		EVP_EncodeBlock((unsigned char *)out, p, (int)len);
	return out;
}

void *
base64_decode(const char *in, size_t *len)
{
	size_t n = strlen(in), pad = 0;
	unsigned char *out;
	int got;

	if (n % 4 != 0 || n > (size_t)INT32_MAX)
		return NULL;
	if (n > 0 && in[n - 1] == '=')
		pad++;
	if (n > 1 && in[n - 2] == '=')
		pad++;
	if ((out = malloc(n / 4 * 3 + 1)) == NULL)
		return NULL;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	got = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (got < 0 || (size_t)got < pad) {
		free(out);
		return NULL;
	}
	*len = (size_t)got - pad;
	return out;
}
