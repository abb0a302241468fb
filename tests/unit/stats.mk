# Unit tests of the windowed golden metrics and the tap filter.

check_PROGRAMS += tests/unit/test_stats_window
TESTS += tests/unit/test_stats_window
tests_unit_test_stats_window_SOURCES = tests/unit/test_stats_window.c
tests_unit_test_stats_window_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_stats_window_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) -lm

check_PROGRAMS += tests/unit/test_tap
TESTS += tests/unit/test_tap
tests_unit_test_tap_SOURCES = tests/unit/test_tap.c
tests_unit_test_tap_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(JANSSON_CFLAGS)
tests_unit_test_tap_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) $(LIBEVENT_LIBS) \
	$(JANSSON_LIBS)
