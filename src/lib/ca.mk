# src/lib/ca.c: the mesh CA and workload certificates (OpenSSL);
# src/lib/ca_rotate.c: rotating its root; src/lib/base64.c: base64 of the
# change feed (OpenSSL too).
src_lib_libweft_a_SOURCES += src/lib/base64.c src/lib/base64.h \
	src/lib/ca.c src/lib/ca.h \
	src/lib/ca_int.h src/lib/ca_rotate.c
src_lib_libweft_a_CFLAGS += $(OPENSSL_CFLAGS)

check_PROGRAMS += tests/unit/test_ca
TESTS += tests/unit/test_ca
tests_unit_test_ca_SOURCES = tests/unit/test_ca.c
tests_unit_test_ca_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_ca_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) $(OPENSSL_LIBS)
