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
	tests/fuzz/corpus/http1/upgrade-websocket

CLEANFILES += tests/fuzz/fuzz_http1

.PHONY: fuzz
fuzz:
	WEFT_SRCDIR='$(abs_top_srcdir)' WEFT_BUILDDIR='$(abs_top_builddir)' \
	$(SHELL) $(top_srcdir)/tests/fuzz/run-fuzz.sh $(FUZZ_SECONDS) || \
	test $$? -eq 77
