# tests/backend: weft-testd, the backend of the end-to-end tests and
# benchmarks.  Built by "make check" or "make tests/backend/weft-testd".
check_PROGRAMS += tests/backend/weft-testd
tests_backend_weft_testd_SOURCES = \
	tests/backend/weft_testd.c tests/backend/testd.h \
	tests/backend/testd_addr.c \
	tests/backend/http_parse.c \
	tests/backend/http_json.c \
	tests/backend/http_conn.c \
	tests/backend/raw_conn.c
tests_backend_weft_testd_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS)
tests_backend_weft_testd_LDADD = src/lib/libweft.a $(LIBEVENT_LIBS) $(OPENSSL_LIBS)
EXTRA_DIST += tests/backend/README
