# Tracing: the propagation headers (src/lib/trace_ctx.c).
check_PROGRAMS += tests/unit/test_trace_ctx
TESTS += tests/unit/test_trace_ctx
tests_unit_test_trace_ctx_SOURCES = tests/unit/test_trace_ctx.c
tests_unit_test_trace_ctx_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_trace_ctx_LDADD = src/lib/libweft.a $(CMOCKA_LIBS)
