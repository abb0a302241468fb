# Unit tests of the configuration input: YAML/JSON documents and the
# checks and normalization of each kind.

check_PROGRAMS += tests/unit/test_yaml_doc
TESTS += tests/unit/test_yaml_doc
tests_unit_test_yaml_doc_SOURCES = tests/unit/test_yaml_doc.c
tests_unit_test_yaml_doc_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS) $(YAML_CFLAGS)
tests_unit_test_yaml_doc_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) \
	$(JANSSON_LIBS) $(YAML_LIBS)

check_PROGRAMS += tests/unit/test_config
TESTS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS) $(YAML_CFLAGS)
tests_unit_test_config_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) \
	$(JANSSON_LIBS) $(YAML_LIBS) -lm

check_PROGRAMS += tests/unit/test_replica
TESTS += tests/unit/test_replica
tests_unit_test_replica_SOURCES = tests/unit/test_replica.c
tests_unit_test_replica_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS) $(YAML_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_replica_LDADD = src/lib/libweft.a $(CMOCKA_LIBS) \
	$(JANSSON_LIBS) $(YAML_LIBS) $(SQLITE_LIBS) -lm
