# Unit tests of the metrics, duration and policy DB schema modules.

check_PROGRAMS += tests/unit/test_metrics
TESTS += tests/unit/test_metrics
tests_unit_test_metrics_SOURCES = tests/unit/test_metrics.c
tests_unit_test_metrics_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_metrics_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) $(LIBEVENT_LIBS) -lm

check_PROGRAMS += tests/unit/test_duration
TESTS += tests/unit/test_duration
tests_unit_test_duration_SOURCES = tests/unit/test_duration.c
tests_unit_test_duration_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_duration_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) -lm

check_PROGRAMS += tests/unit/test_schema
TESTS += tests/unit/test_schema
tests_unit_test_schema_SOURCES = tests/unit/test_schema.c
tests_unit_test_schema_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_schema_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) $(SQLITE_LIBS)
