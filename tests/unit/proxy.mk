# Unit tests of the proxy's policy snapshot, route matching, load
# balancing and rate limiting. The proxy sources are listed per test,
# built with the test's own flags; the snapshots come from in-memory
# policy DBs.

PROXY_POLICY_SOURCES = src/proxy/policy_db.c src/proxy/snapshot.c \
	src/proxy/snapshot_rows.c src/proxy/snapshot_rows.h \
	src/proxy/snapshot_build.c src/proxy/snapshot_parse.c \
	src/proxy/snapshot_security.c \
	src/proxy/route_match.c src/proxy/lb.c \
	tests/unit/policy_fixture.c tests/unit/policy_fixture.h
PROXY_POLICY_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SQLITE_CFLAGS) \
	$(JANSSON_CFLAGS) $(LIBJWT_CFLAGS) -I$(top_srcdir)/src/proxy \
	-I$(top_srcdir)/tests/unit
PROXY_POLICY_LIBS = src/lib/libweft.a $(CMOCKA_LIBS) $(SQLITE_LIBS) \
	$(JANSSON_LIBS) $(LIBJWT_LIBS) $(OPENSSL_LIBS) -lm

check_PROGRAMS += tests/unit/test_snapshot
TESTS += tests/unit/test_snapshot
tests_unit_test_snapshot_SOURCES = tests/unit/test_snapshot.c \
	$(PROXY_POLICY_SOURCES)
tests_unit_test_snapshot_CFLAGS = $(PROXY_POLICY_CFLAGS)
tests_unit_test_snapshot_LDADD = $(PROXY_POLICY_LIBS)

check_PROGRAMS += tests/unit/test_route_match
TESTS += tests/unit/test_route_match
tests_unit_test_route_match_SOURCES = tests/unit/test_route_match.c \
	$(PROXY_POLICY_SOURCES)
tests_unit_test_route_match_CFLAGS = $(PROXY_POLICY_CFLAGS)
tests_unit_test_route_match_LDADD = $(PROXY_POLICY_LIBS)

check_PROGRAMS += tests/unit/test_lb
TESTS += tests/unit/test_lb
tests_unit_test_lb_SOURCES = tests/unit/test_lb.c $(PROXY_POLICY_SOURCES)
tests_unit_test_lb_CFLAGS = $(PROXY_POLICY_CFLAGS)
tests_unit_test_lb_LDADD = $(PROXY_POLICY_LIBS)
# The rate limiter stands alone: no snapshot, no DB.
check_PROGRAMS += tests/unit/test_ratelimit
TESTS += tests/unit/test_ratelimit
tests_unit_test_ratelimit_SOURCES = tests/unit/test_ratelimit.c \
	src/proxy/ratelimit.c src/proxy/ratelimit.h
tests_unit_test_ratelimit_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	-I$(top_srcdir)/src/proxy
tests_unit_test_ratelimit_LDADD = src/lib/libweft.a $(CMOCKA_LIBS)

# The jwksUri cache and its fetch thread, against an HTTP server in the
# test; snapshots built from a policy DB reach it as the proxy's do.
check_PROGRAMS += tests/unit/test_jwks_fetch
TESTS += tests/unit/test_jwks_fetch
tests_unit_test_jwks_fetch_SOURCES = tests/unit/test_jwks_fetch.c \
	src/proxy/jwks_fetch.c src/proxy/jwks_fetch.h $(PROXY_POLICY_SOURCES)
tests_unit_test_jwks_fetch_CFLAGS = $(PROXY_POLICY_CFLAGS) \
	$(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_jwks_fetch_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) \
	$(SQLITE_LIBS) $(JANSSON_LIBS) $(LIBJWT_LIBS) $(LIBEVENT_SSL_LIBS) \
	$(LIBEVENT_LIBS) $(OPENSSL_LIBS) -lm

# The L4 policy's packet parser and verdict, on raw packet bytes and
# snapshots of in-memory policy DBs (no queue, no root).
check_PROGRAMS += tests/unit/test_l4_verdict
TESTS += tests/unit/test_l4_verdict
tests_unit_test_l4_verdict_SOURCES = tests/unit/test_l4_verdict.c \
	src/proxy/l4_packet.c src/proxy/l4_packet.h \
	src/proxy/l4_verdict.c src/proxy/l4_verdict.h src/proxy/netaddr.c \
	$(PROXY_POLICY_SOURCES)
tests_unit_test_l4_verdict_CFLAGS = $(PROXY_POLICY_CFLAGS) \
	$(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_l4_verdict_LDADD = $(PROXY_POLICY_LIBS)
