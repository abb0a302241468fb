# src/lib/https_client.c: HTTPS client of weft's API (libevent, OpenSSL).

src_lib_libweft_a_SOURCES += src/lib/https_client.c src/lib/https_client.h
src_lib_libweft_a_CFLAGS += $(LIBEVENT_SSL_CFLAGS) $(OPENSSL_CFLAGS)

check_PROGRAMS += tests/unit/test_https_client
TESTS += tests/unit/test_https_client
tests_unit_test_https_client_SOURCES = tests/unit/test_https_client.c
tests_unit_test_https_client_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	$(LIBEVENT_CFLAGS) $(LIBEVENT_SSL_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_https_client_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) \
	$(LIBEVENT_SSL_LIBS) $(LIBEVENT_LIBS) $(OPENSSL_LIBS)

# src/lib/https_stream.c: a blocking, streaming HTTPS client (the
# Kubernetes API watch of weft-server).
src_lib_libweft_a_SOURCES += src/lib/https_stream.c src/lib/https_stream.h

check_PROGRAMS += tests/unit/test_https_stream
TESTS += tests/unit/test_https_stream
tests_unit_test_https_stream_SOURCES = tests/unit/test_https_stream.c
tests_unit_test_https_stream_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	$(OPENSSL_CFLAGS)
tests_unit_test_https_stream_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) \
	$(OPENSSL_LIBS) -lpthread
