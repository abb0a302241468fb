/*
 * Unit tests for the ClientHello peek (src/lib/tls_hello.c), on real
 * ClientHellos of the openssl CLI (tests/fuzz/corpus/tls_hello): the
 * mesh ALPN is found, another ALPN or none is "other", plaintext is not
 * TLS, and every prefix of a hello asks for more.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tls_hello.h"

static unsigned char *
load(const char *name, size_t *len)
{
	static unsigned char buf[65536];
	const char *src = getenv("WEFT_SRCDIR");
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/tls_hello/%s",
	    src != NULL ? src : ".", name);
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("%s: cannot open", path);
	*len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return buf;
}

static void
expect(const char *name, enum tls_hello want)
{
	unsigned char *b;
	size_t len, n;

	b = load(name, &len);
	assert_int_equal(tls_hello_classify(b, len), want);
	if (want == TLS_HELLO_NOT_TLS)
		return;
	for (n = 0; n < len; n++)
		assert_int_equal(tls_hello_classify(b, n), TLS_HELLO_MORE);
}

static void
test_corpus(void **state)
{
	(void)state;
	expect("mesh-tls13", TLS_HELLO_MESH);
	expect("app-alpn", TLS_HELLO_OTHER);
	expect("tls12-no-alpn", TLS_HELLO_OTHER);
	expect("plaintext", TLS_HELLO_NOT_TLS);
}

/* Lengths that lie: never a read past the bytes, never "mesh". */
static void
test_lying_lengths(void **state)
{
	unsigned char copy[4096], *b;
	size_t len, i;
	int k;

	(void)state;
	b = load("mesh-tls13", &len);
	assert_true(len <= sizeof(copy));
	for (i = 5; i < len; i++) {
		for (k = 0; k < 3; k++) {
			memcpy(copy, b, len);
			copy[i] = k == 0 ? 0xff
			    : k == 1     ? 0x00
					 : copy[i] ^ 0x80;
			(void)tls_hello_classify(copy, len);
		}
	}
	/* The record claims more than was sent: wait for it. */
	memcpy(copy, b, len);
	copy[3] = 0x3f;
	assert_int_equal(tls_hello_classify(copy, len), TLS_HELLO_MORE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_lying_lengths),
	};

	return cmocka_run_group_tests_name("tls_hello", tests, NULL, NULL);
}
