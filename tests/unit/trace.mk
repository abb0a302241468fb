# Tracing: the propagation headers (src/lib/trace_ctx.c).
check_PROGRAMS += tests/unit/test_trace_ctx
TESTS += tests/unit/test_trace_ctx
tests_unit_test_trace_ctx_SOURCES = tests/unit/test_trace_ctx.c
tests_unit_test_trace_ctx_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_trace_ctx_LDADD = src/lib/libweft.a $(CMOCKA_LIBS)

# The span exporter: JSON encoders, rings, the thread against a
# collector on loopback.
check_PROGRAMS += tests/unit/test_trace_export
TESTS += tests/unit/test_trace_export
tests_unit_test_trace_export_SOURCES = tests/unit/test_trace_export.c \
	src/proxy/trace_export.c src/proxy/trace.h
tests_unit_test_trace_export_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	$(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS) $(OPENSSL_CFLAGS) \
	-I$(top_srcdir)/src/proxy
tests_unit_test_trace_export_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) \
	$(JANSSON_LIBS) $(LIBEVENT_SSL_LIBS) $(LIBEVENT_LIBS) $(OPENSSL_LIBS) \
	-lpthread
