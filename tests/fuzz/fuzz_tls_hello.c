/*
 * libFuzzer harness for the ClientHello peek (src/lib/tls_hello.c): any
 * bytes a peer sends first must be classified without reading past
 * them, and every prefix of a complete hello must ask for more or agree
 * with the whole.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tls_hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum tls_hello whole, part;
	size_t n;

	whole = tls_hello_classify(data, size);
	if (whole == TLS_HELLO_MORE || size > 4096)
		return 0;
	for (n = 0; n < size; n++) {
		part = tls_hello_classify(data, n);
		if (part != TLS_HELLO_MORE && part != whole &&
		    !(part == TLS_HELLO_NOT_TLS && whole == TLS_HELLO_NOT_TLS))
			abort();
	}
	return 0;
}
