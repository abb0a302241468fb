# Unit tests (cmocka, TAP output), one program per module under test.

check_PROGRAMS += tests/unit/test_http1
TESTS += tests/unit/test_http1
tests_unit_test_http1_SOURCES = tests/unit/test_http1.c
tests_unit_test_http1_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_http1_LDADD = src/lib/libweft.a $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test_tls_hello
TESTS += tests/unit/test_tls_hello
tests_unit_test_tls_hello_SOURCES = tests/unit/test_tls_hello.c
tests_unit_test_tls_hello_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_tls_hello_LDADD = src/lib/libweft.a $(CMOCKA_LIBS)
