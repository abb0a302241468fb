# AuthorizationPolicy evaluation (src/lib/authz*.c), shared by weft-proxy
# and weftctl explain, and its unit tests.

src_lib_libweft_a_SOURCES += src/lib/authz.c src/lib/authz.h \
	src/lib/authz_set.c src/lib/authz_match.c src/lib/authz_int.h

check_PROGRAMS += tests/unit/test_authz
TESTS += tests/unit/test_authz
tests_unit_test_authz_SOURCES = tests/unit/test_authz.c
tests_unit_test_authz_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS) $(YAML_CFLAGS)
tests_unit_test_authz_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) \
	$(JANSSON_LIBS) $(YAML_LIBS)
