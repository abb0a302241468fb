# bench: `make bench` (as root) measures a weft-proxy sidecar pair against
# the direct path and a HAProxy pair; see bench/README.  Options go through
# BENCH_ARGS, e.g. make bench BENCH_ARGS='-q direct weft'.
EXTRA_DIST += bench/weft-bench.sh bench/README bench/RESULTS.md

.PHONY: bench
bench: src/proxy/weft-proxy$(EXEEXT) tests/backend/weft-testd$(EXEEXT)
	WEFT_PROXY='$(abs_top_builddir)/src/proxy/weft-proxy$(EXEEXT)' \
	WEFT_TESTD='$(abs_top_builddir)/tests/backend/weft-testd$(EXEEXT)' \
	$(SHELL) $(srcdir)/bench/weft-bench.sh $(BENCH_ARGS)

# `make bench-sync` measures the control plane at scale: 1,000 simulated
# weft-sync clients of one weft-server (bench/sync-sim), and the policy DB
# and snapshots of 1,000 services with 10,000 endpoints
# (bench/snapshot-load times the proxy's own snapshot build).  Loopback
# only, no root needed; options through BENCH_SYNC_ARGS, e.g.
# make bench-sync BENCH_SYNC_ARGS='-q sync'; results in bench/RESULTS.md.
noinst_PROGRAMS += bench/sync-sim
EXTRA_DIST += bench/sync-scale.sh

# Built by bench-sync only, so that `make` does not depend on the proxy's
# snapshot sources staying as listed here: the same list as
# PROXY_POLICY_SOURCES in tests/unit/proxy.mk, without the test fixture.
EXTRA_PROGRAMS = bench/snapshot-load
CLEANFILES += bench/snapshot-load$(EXEEXT)

bench_sync_sim_SOURCES = bench/sync-sim.c
bench_sync_sim_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(LIBEVENT_SSL_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS)
bench_sync_sim_LDADD = src/lib/libweft.a $(LIBEVENT_SSL_LIBS) \
	$(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(JANSSON_LIBS)

bench_snapshot_load_SOURCES = bench/snapshot-load.c \
	src/proxy/policy_db.c src/proxy/snapshot.c \
	src/proxy/snapshot_rows.c src/proxy/snapshot_rows.h \
	src/proxy/snapshot_build.c src/proxy/snapshot_parse.c \
	src/proxy/snapshot_security.c \
	src/proxy/route_match.c src/proxy/lb.c
bench_snapshot_load_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) \
	$(JANSSON_CFLAGS) $(LIBJWT_CFLAGS) -I$(top_srcdir)/src/proxy
bench_snapshot_load_LDADD = src/lib/libweft.a $(SQLITE_LIBS) \
	$(JANSSON_LIBS) $(LIBJWT_LIBS) $(OPENSSL_LIBS) -lm

.PHONY: bench-sync
bench-sync: src/server/weft-server$(EXEEXT) src/sync/weft-sync$(EXEEXT) \
    src/ctl/weftctl$(EXEEXT) bench/sync-sim$(EXEEXT) \
    bench/snapshot-load$(EXEEXT)
	WEFT_BUILDDIR='$(abs_top_builddir)' \
	$(SHELL) $(srcdir)/bench/sync-scale.sh $(BENCH_SYNC_ARGS)

# `make bench-l4` (as root) measures what the L4 policy queue costs UDP:
# packets/s of one flow and new flows/s, without and with weft-init
# --l4-queue and weft-proxy --l4-queue (bench/l4-bench.sh, under 2 min);
# the table is appended to bench/RESULTS.md.  Options through
# BENCH_L4_ARGS, e.g. make bench-l4 BENCH_L4_ARGS=-q.
EXTRA_DIST += bench/l4-bench.sh

.PHONY: bench-l4
bench-l4: src/proxy/weft-proxy$(EXEEXT) src/init/weft-init$(EXEEXT) \
    src/ctl/weftctl$(EXEEXT)
	WEFT_BUILDDIR='$(abs_top_builddir)' \
	$(SHELL) $(srcdir)/bench/l4-bench.sh \
	    -o '$(srcdir)/bench/RESULTS.md' $(BENCH_L4_ARGS)

# `make bench-kube` (as root) measures weft-server's Kubernetes discovery
# against the API stand-in of the tests: SERVICES Services (default 2000)
# of ENDPOINTS ready endpoints each (default 5), in a network namespace.
EXTRA_DIST += bench/kube-scale.sh

.PHONY: bench-kube
bench-kube: src/server/weft-server$(EXEEXT)
	WEFT_BUILDDIR='$(abs_top_builddir)' WEFT_SRCDIR='$(abs_top_srcdir)' \
	$(SHELL) $(srcdir)/bench/kube-scale.sh
