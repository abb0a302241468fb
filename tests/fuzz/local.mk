# Fuzz harnesses, built with clang's libFuzzer outside the regular build
# (see tests/fuzz/run-fuzz.sh). `make fuzz` fuzzes the HTTP/1.x parser for
# FUZZ_SECONDS, from a copy of the seed corpus; a crash fails it and leaves
# the input in tests/fuzz/ of the build tree. Without clang it is skipped.
FUZZ_SECONDS ?= 30

EXTRA_DIST += \
	tests/fuzz/fuzz_http1.c \
	tests/fuzz/run-fuzz.sh \
	tests/fuzz/http1.dict \
	tests/fuzz/corpus/http1/chunked-bad-size \
	tests/fuzz/corpus/http1/get-http10-keepalive \
	tests/fuzz/corpus/http1/get-simple \
	tests/fuzz/corpus/http1/post-chunked \
	tests/fuzz/corpus/http1/post-content-length \
	tests/fuzz/corpus/http1/response-101 \
	tests/fuzz/corpus/http1/response-chunked \
	tests/fuzz/corpus/http1/response-eof \
	tests/fuzz/corpus/http1/smuggle-bare-lf \
	tests/fuzz/corpus/http1/smuggle-cl-te \
	tests/fuzz/corpus/http1/smuggle-dup-cl \
	tests/fuzz/corpus/http1/smuggle-te-obs-fold \
	tests/fuzz/corpus/http1/smuggle-te-space \
	tests/fuzz/corpus/http1/upgrade-websocket \
	tests/fuzz/fuzz_tls_hello.c \
	tests/fuzz/corpus/tls_hello/app-alpn \
	tests/fuzz/corpus/tls_hello/mesh-tls13 \
	tests/fuzz/corpus/tls_hello/plaintext \
	tests/fuzz/corpus/tls_hello/tls12-no-alpn \
	tests/fuzz/fuzz_trace_ctx.c \
	tests/fuzz/corpus/trace_ctx/traceparent \
	tests/fuzz/corpus/trace_ctx/traceparent-future \
	tests/fuzz/corpus/trace_ctx/b3-single \
	tests/fuzz/corpus/trace_ctx/b3-debug \
	tests/fuzz/corpus/trace_ctx/b3-multi \
	tests/fuzz/fuzz_inject.c \
	tests/fuzz/corpus/inject/plain-pod \
	tests/fuzz/corpus/inject/deployment-pod \
	tests/fuzz/corpus/inject/bad-ports \
	tests/fuzz/corpus/inject/patch

CLEANFILES += tests/fuzz/fuzz_http1 tests/fuzz/fuzz_tls_hello \
	tests/fuzz/fuzz_trace_ctx tests/fuzz/fuzz_inject

.PHONY: fuzz
fuzz:
	WEFT_SRCDIR='$(abs_top_srcdir)' WEFT_BUILDDIR='$(abs_top_builddir)' \
	$(SHELL) $(top_srcdir)/tests/fuzz/run-fuzz.sh $(FUZZ_SECONDS) || \
	test $$? -eq 77
	WEFT_SRCDIR='$(abs_top_srcdir)' WEFT_BUILDDIR='$(abs_top_builddir)' \
	$(SHELL) $(top_srcdir)/tests/fuzz/run-fuzz.sh $(FUZZ_SECONDS) tls_hello \
	|| test $$? -eq 77
	WEFT_SRCDIR='$(abs_top_srcdir)' WEFT_BUILDDIR='$(abs_top_builddir)' \
	$(SHELL) $(top_srcdir)/tests/fuzz/run-fuzz.sh $(FUZZ_SECONDS) trace_ctx \
	|| test $$? -eq 77
	WEFT_SRCDIR='$(abs_top_srcdir)' WEFT_BUILDDIR='$(abs_top_builddir)' \
	$(SHELL) $(top_srcdir)/tests/fuzz/run-fuzz.sh $(FUZZ_SECONDS) inject \
	|| test $$? -eq 77
