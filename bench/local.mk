# bench: `make bench` (as root) measures a weft-proxy sidecar pair against
# the direct path and a HAProxy pair; see bench/README.  Options go through
# BENCH_ARGS, e.g. make bench BENCH_ARGS='-q direct weft'.
EXTRA_DIST += bench/weft-bench.sh bench/README bench/RESULTS.md

.PHONY: bench
bench: src/proxy/weft-proxy$(EXEEXT) tests/backend/weft-testd$(EXEEXT)
	WEFT_PROXY='$(abs_top_builddir)/src/proxy/weft-proxy$(EXEEXT)' \
	WEFT_TESTD='$(abs_top_builddir)/tests/backend/weft-testd$(EXEEXT)' \
	$(SHELL) $(srcdir)/bench/weft-bench.sh $(BENCH_ARGS)
