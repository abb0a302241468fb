# Unit tests of weftctl check's policy analysis and report.

check_PROGRAMS += tests/unit/test_check_policy
TESTS += tests/unit/test_check_policy
tests_unit_test_check_policy_SOURCES = tests/unit/test_check_policy.c \
	src/ctl/ctl_check_policy.c src/ctl/ctl_check.h
tests_unit_test_check_policy_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS) $(YAML_CFLAGS) -I$(top_srcdir)/src/ctl
tests_unit_test_check_policy_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) \
	$(JANSSON_LIBS) $(YAML_LIBS) -lm
