# Unit tests of src/lib/inject.c, the Kubernetes sidecar injection, with
# AdmissionReview v1 documents as kube-apiserver sends them.
check_PROGRAMS += tests/unit/test_inject
TESTS += tests/unit/test_inject
INJECT_UNIT_FILES = \
	tests/unit/inject/review_deployment_pod.json \
	tests/unit/inject/review_plain_pod.json \
	tests/unit/inject/review_optout_label.json \
	tests/unit/inject/review_istio_optout.json \
	tests/unit/inject/review_hostnetwork.json \
	tests/unit/inject/review_injected.json \
	tests/unit/inject/review_bad_ports.json \
	tests/unit/inject/review_update.json \
	tests/unit/inject/review_deployment.json
EXTRA_DIST += $(INJECT_UNIT_FILES)
tests_unit_test_inject_SOURCES = tests/unit/test_inject.c
tests_unit_test_inject_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS) -DINJECT_TEST_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_inject_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) \
	$(JANSSON_LIBS) $(OPENSSL_LIBS)
