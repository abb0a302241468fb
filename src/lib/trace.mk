# Trace context propagation (traceparent, B3, x-request-id), shared by
# the proxy and its tests.
src_lib_libweft_a_SOURCES += src/lib/trace_ctx.c src/lib/trace_ctx.h
