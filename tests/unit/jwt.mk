# src/lib/jwt.c: JWT validation, the one module that uses libjwt. Its
# tests mint their tokens with the openssl CLI (tests/unit/jwt/mint.sh),
# never with libjwt.
src_lib_libweft_a_SOURCES += src/lib/jwt.c src/lib/jwt.h
src_lib_libweft_a_CFLAGS += $(LIBJWT_CFLAGS)

check_PROGRAMS += tests/unit/test_jwt
TESTS += tests/unit/test_jwt
EXTRA_DIST += tests/unit/jwt/mint.sh
tests_unit_test_jwt_SOURCES = tests/unit/test_jwt.c
tests_unit_test_jwt_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(OPENSSL_CFLAGS) \
	$(JANSSON_CFLAGS) -DJWT_TEST_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_jwt_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) $(LIBJWT_LIBS) \
	$(OPENSSL_LIBS) $(JANSSON_LIBS) $(YAML_LIBS)
