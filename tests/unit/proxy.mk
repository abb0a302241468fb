# Unit tests of the proxy's policy snapshot, route matching and load
# balancing. The proxy sources are listed per test, built with the test's
# own flags; the snapshots come from in-memory policy DBs.

PROXY_POLICY_SOURCES = src/proxy/policy_db.c src/proxy/snapshot.c \
	src/proxy/snapshot_build.c src/proxy/snapshot_parse.c \
	src/proxy/route_match.c src/proxy/lb.c \
	tests/unit/policy_fixture.c tests/unit/policy_fixture.h
PROXY_POLICY_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SQLITE_CFLAGS) \
	$(JANSSON_CFLAGS) -I$(top_srcdir)/src/proxy -I$(top_srcdir)/tests/unit
PROXY_POLICY_LIBS = src/lib/libweft.a $(CMOCKA_LIBS) $(SQLITE_LIBS) \
	$(JANSSON_LIBS) -lm

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
