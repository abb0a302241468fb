# Unit tests of weft-server's Kubernetes discovery: the mapping of
# recorded API responses (tests/e2e/kube/) onto mesh services.

check_PROGRAMS += tests/unit/test_kube_discovery
TESTS += tests/unit/test_kube_discovery
tests_unit_test_kube_discovery_SOURCES = tests/unit/test_kube_discovery.c \
	src/server/kube_discovery.c src/server/kube_discovery.h
tests_unit_test_kube_discovery_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS) -I$(top_srcdir)/src/server \
	-DKUBE_TEST_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_kube_discovery_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) \
	$(JANSSON_LIBS)

EXTRA_DIST += tests/e2e/kube/README tests/e2e/kube/stub.py \
	tests/e2e/kube/services.json tests/e2e/kube/services-2.json \
	tests/e2e/kube/services-3.json tests/e2e/kube/endpointslices.json \
	tests/e2e/kube/pods.json \
	tests/e2e/kube/watch-services-1.jsonl \
	tests/e2e/kube/watch-endpointslices-1.jsonl \
	tests/e2e/kube/watch-410.jsonl \
	tests/e2e/kube/tokenreview-authenticated.json \
	tests/e2e/kube/tokenreview-unauthenticated.json \
	tests/e2e/kube/status-unauthorized.json
