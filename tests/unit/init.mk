# Unit tests of the pure modules of weft-init: option parsing, and the
# iptables-restore input built from options and iptables-save output.
# The init sources are listed per test, built with the test's own flags.

check_PROGRAMS += tests/unit/test_init_opts
TESTS += tests/unit/test_init_opts
tests_unit_test_init_opts_SOURCES = tests/unit/test_init_opts.c \
	src/init/init_opts.c
tests_unit_test_init_opts_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -I$(top_srcdir)/src/init
tests_unit_test_init_opts_LDADD = src/lib/libweft.a $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test_init_rules
TESTS += tests/unit/test_init_rules
tests_unit_test_init_rules_SOURCES = tests/unit/test_init_rules.c \
	src/init/init_rules.c src/init/init_opts.c src/init/init_buf.c
tests_unit_test_init_rules_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -I$(top_srcdir)/src/init
tests_unit_test_init_rules_LDADD = src/lib/libweft.a $(CMOCKA_LIBS)
