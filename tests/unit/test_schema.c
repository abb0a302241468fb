/*
 * Unit tests for the policy DB schema and its migration
 * (src/lib/schema_db.c, sql/schema.sql): a new DB, a second run, the
 * DBs that must be refused and left as they were, and the migrations
 * of older DBs, which keep their rows.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "schema_db.h"

static sqlite3 *
open_memory(void)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_non_null(db);
	return db;
}

static void
exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err != NULL ? err : "?");
}

/* The one integer a query returns (of its one row). */
static sqlite3_int64
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 v;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	return v;
}

static int
user_version(sqlite3 *db)
{
	char *cause = NULL;
	int v = -42;

	assert_int_equal(schema_version(db, &v, &cause), 0);
	assert_null(cause);
	return v;
}

static sqlite3_int64
table_count(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 n;

	assert_int_equal(sqlite3_prepare_v2(db,
			     "SELECT count(*) FROM sqlite_master "
			     "WHERE type = 'table' AND name = ?1",
			     -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(
	    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void
migrate_ok(sqlite3 *db)
{
	char *cause = NULL;

	if (schema_migrate(db, &cause) != 0)
		fail_msg("schema_migrate: %s", cause != NULL ? cause : "?");
	assert_null(cause);
}

static void
test_fresh(void **state)
{
	sqlite3 *db = open_memory();

	assert_int_equal(user_version(db), 0);
	migrate_ok(db);
	assert_int_equal(user_version(db), SCHEMA_VERSION);
	assert_int_equal(table_count(db, "config_version"), 1);
	assert_int_equal(table_count(db, "resources"), 1);
	assert_int_equal(
	    query_int(db, "SELECT count(*) FROM config_version"), 1);
	assert_int_equal(query_int(db, "SELECT id FROM config_version"), 1);
	assert_int_equal(
	    query_int(db, "SELECT version FROM config_version"), 0);
	assert_int_equal(
	    query_int(db, "SELECT length(updated_at) FROM config_version"),
	    strlen("2024-01-01T00:00:00.000Z"));
	assert_int_equal(query_int(db, "SELECT count(*) FROM resources"), 0);
	/* Committed: no transaction is left open. */
	assert_int_not_equal(sqlite3_get_autocommit(db), 0);
	sqlite3_close(db);
}

static void
test_twice(void **state)
{
	sqlite3 *db = open_memory();
	int changes, tables;

	migrate_ok(db);
	tables = query_int(
	    db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'");
	assert_true(tables >= 2);
	exec_ok(db,
	    "UPDATE config_version SET version = 5;"
	    "INSERT INTO resources (kind, namespace, name, api_version, spec,"
	    " applied_by, version) VALUES ('AuthorizationPolicy', 'shop',"
	    " 'allow-web', 'security.istio.io/v1', '{\"action\":\"ALLOW\"}',"
	    " 'alice', 5)");
	changes = sqlite3_total_changes(db);
	migrate_ok(db);
	assert_int_equal(sqlite3_total_changes(db), changes);
	assert_int_equal(user_version(db), SCHEMA_VERSION);
	assert_int_equal(
	    query_int(db, "SELECT count(*) FROM config_version"), 1);
	assert_int_equal(
	    query_int(db, "SELECT version FROM config_version"), 5);
	assert_int_equal(query_int(db, "SELECT count(*) FROM resources"), 1);
	assert_int_equal(query_int(db,
			     "SELECT count(*) FROM sqlite_master "
			     "WHERE type = 'table'"),
	    tables);
	assert_int_not_equal(sqlite3_get_autocommit(db), 0);
	sqlite3_close(db);
}

static void
test_newer_refused(void **state)
{
	sqlite3 *db = open_memory();
	char *cause = NULL, sql[64];

	snprintf(
	    sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION + 1);
	exec_ok(db, sql);
	exec_ok(db, "CREATE TABLE future (x); INSERT INTO future VALUES (7)");
	assert_int_equal(schema_migrate(db, &cause), -1);
	assert_non_null(cause);
	if (strstr(cause, "newer") == NULL)
		fail_msg("cause \"%s\" does not say newer", cause);
	free(cause);
	assert_int_equal(user_version(db), SCHEMA_VERSION + 1);
	assert_int_equal(table_count(db, "config_version"), 0);
	assert_int_equal(table_count(db, "resources"), 0);
	assert_int_equal(query_int(db, "SELECT x FROM future"), 7);
	assert_int_not_equal(sqlite3_get_autocommit(db), 0);
	sqlite3_close(db);
}

/* Another program's DB: version 0, but not empty. */
static void
test_foreign_refused(void **state)
{
	sqlite3 *db = open_memory();
	char *cause = NULL;

	exec_ok(db,
	    "CREATE TABLE notes (body TEXT);"
	    "INSERT INTO notes VALUES ('keep me')");
	assert_int_equal(schema_migrate(db, &cause), -1);
	assert_non_null(cause);
	if (strstr(cause, "not a weft") == NULL)
		fail_msg("cause \"%s\" does not say not a weft DB", cause);
	free(cause);
	assert_int_equal(user_version(db), 0);
	assert_int_equal(table_count(db, "config_version"), 0);
	assert_int_equal(table_count(db, "resources"), 0);
	assert_int_equal(query_int(db, "SELECT count(*) FROM notes"), 1);
	assert_int_not_equal(sqlite3_get_autocommit(db), 0);
	sqlite3_close(db);
}

/* The temporary file of test_not_a_db, removed even when it fails. */
static char tmp_path[4096];

static int
remove_tmp(void **state)
{
	if (tmp_path[0] != '\0')
		unlink(tmp_path);
	tmp_path[0] = '\0';
	return 0;
}

static void
test_not_a_db(void **state)
{
	char *path = tmp_path, garbage[8192], back[sizeof(garbage) + 1];
	const char *tmp = getenv("TMPDIR");
	sqlite3 *db = NULL;
	char *cause = NULL;
	size_t i;
	FILE *f;
	int fd;

	for (i = 0; i < sizeof(garbage); i++)
		garbage[i] = "This is not a SQLite DB.\n"[i % 25];
	snprintf(tmp_path, sizeof(tmp_path), "%s/weft-test-schema.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : P_tmpdir);
	if ((fd = mkstemp(path)) == -1) {
		tmp_path[0] = '\0';
		fail_msg("mkstemp failed");
	}
	assert_int_equal(
	    write(fd, garbage, sizeof(garbage)), (ssize_t)sizeof(garbage));
	assert_int_equal(close(fd), 0);

	/* sqlite3_open reads nothing yet; the first statement fails. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(schema_migrate(db, &cause), -1);
	assert_non_null(cause);
	if (strstr(cause, "not a database") == NULL)
		fail_msg("cause \"%s\" does not say not a database", cause);
	free(cause);
	cause = NULL;
	assert_int_equal(schema_version(db, &fd, &cause), -1);
	assert_non_null(cause);
	free(cause);
	sqlite3_close(db);

	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fread(back, 1, sizeof(back), f), sizeof(garbage));
	assert_memory_equal(back, garbage, sizeof(garbage));
	fclose(f);
}

static void
test_spec_json_checked(void **state)
{
	static const char insert[] =
	    "INSERT INTO resources (kind, namespace, name, api_version, spec,"
	    " applied_by, version) VALUES ('RequestAuthentication', 'shop',"
	    " ?1, 'security.istio.io/v1', ?2, 'alice', 1)";
	static const struct {
		const char *name, *spec;
		int rc;
	} cases[] = {
	    {"ok-object", "{\"jwtRules\":[{\"issuer\":\"a\"}]}", SQLITE_DONE},
	    {"ok-empty", "{}", SQLITE_DONE},
	    {"bad-open", "{\"jwtRules\":", SQLITE_CONSTRAINT_CHECK},
	    {"bad-yaml", "jwtRules: []", SQLITE_CONSTRAINT_CHECK},
	    {"bad-empty", "", SQLITE_CONSTRAINT_CHECK},
	};
	sqlite3 *db = open_memory();
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	migrate_ok(db);
	assert_int_equal(sqlite3_extended_result_codes(db, 1), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, insert, -1, &st, NULL), SQLITE_OK);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sqlite3_reset(st);
		assert_int_equal(
		    sqlite3_bind_text(st, 1, cases[i].name, -1, SQLITE_STATIC),
		    SQLITE_OK);
		assert_int_equal(
		    sqlite3_bind_text(st, 2, cases[i].spec, -1, SQLITE_STATIC),
		    SQLITE_OK);
		if ((rc = sqlite3_step(st)) != cases[i].rc)
			fail_msg("spec \"%s\": rc %d, want %d", cases[i].spec,
			    rc, cases[i].rc);
	}
	sqlite3_finalize(st);
	assert_int_equal(query_int(db, "SELECT count(*) FROM resources"), 2);
	assert_int_equal(query_int(db,
			     "SELECT count(*) FROM resources "
			     "WHERE name LIKE 'ok-%'"),
	    2);
	sqlite3_close(db);
}

/* config_version holds one row, id 1, and nothing else. */
static void
test_config_version_single_row(void **state)
{
	sqlite3 *db = open_memory();
	sqlite3_stmt *st = NULL;

	migrate_ok(db);
	assert_int_equal(sqlite3_extended_result_codes(db, 1), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
			     "INSERT INTO config_version (id, version) "
			     "VALUES (2, 1)",
			     -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_CONSTRAINT_CHECK);
	sqlite3_finalize(st);
	assert_int_equal(
	    query_int(db, "SELECT count(*) FROM config_version"), 1);
	sqlite3_close(db);
}

extern const char schema_sql[];

/* A version 1 DB moves to the current version and keeps its rows. */
static void
test_from_v1(void **state)
{
	sqlite3 *db = open_memory();
	const char *end;
	char *v1;

	end = strstr(schema_sql, "\n-- Schema version 2:");
	assert_non_null(end);
	v1 = strndup(schema_sql, (size_t)(end - schema_sql));
	assert_non_null(v1);
	exec_ok(db, v1);
	free(v1);
	exec_ok(db,
	    "PRAGMA user_version = 1;"
	    "UPDATE config_version SET version = 7;"
	    "INSERT INTO services (namespace, name) VALUES ('shop', 'orders')");
	assert_int_equal(table_count(db, "server_changesets"), 0);
	migrate_ok(db);
	assert_int_equal(user_version(db), SCHEMA_VERSION);
	assert_int_equal(table_count(db, "server_changesets"), 1);
	assert_int_equal(table_count(db, "sync_state"), 1);
	assert_int_equal(
	    query_int(db, "SELECT version FROM config_version"), 7);
	assert_int_equal(query_int(db, "SELECT count(*) FROM services"), 1);
	sqlite3_close(db);
}

/* A version 2 DB moves to version 3 and keeps its rows. */
static void
test_from_v2(void **state)
{
	sqlite3 *db = open_memory();
	const char *end;
	char *v2;

	end = strstr(schema_sql, "\n-- Schema version 3:");
	assert_non_null(end);
	v2 = strndup(schema_sql, (size_t)(end - schema_sql));
	assert_non_null(v2);
	exec_ok(db, v2);
	free(v2);
	exec_ok(db,
	    "PRAGMA user_version = 2;"
	    "UPDATE config_version SET version = 9;"
	    "INSERT INTO resources (kind, namespace, name, api_version, spec,"
	    " applied_by, version) VALUES ('VirtualService', 'shop',"
	    " 'orders', 'networking.istio.io/v1', '{\"hosts\":[\"orders\"]}',"
	    " 'alice', 9);"
	    "INSERT INTO services (namespace, name) VALUES ('shop', 'orders');"
	    "INSERT INTO server_changesets (version, changeset) VALUES (9, "
	    "x'00')");
	assert_int_equal(table_count(db, "authorization_policies"), 0);
	migrate_ok(db);
	assert_int_equal(user_version(db), SCHEMA_VERSION);
	assert_int_equal(table_count(db, "peer_authentications"), 1);
	assert_int_equal(table_count(db, "request_authentications"), 1);
	assert_int_equal(table_count(db, "authorization_policies"), 1);
	assert_int_equal(table_count(db, "rate_limits"), 1);
	assert_int_equal(
	    query_int(db, "SELECT version FROM config_version"), 9);
	assert_int_equal(query_int(db,
			     "SELECT count(*) FROM resources WHERE name = "
			     "'orders' AND annotations IS NULL"),
	    1);
	assert_int_equal(query_int(db, "SELECT count(*) FROM services"), 1);
	assert_int_equal(
	    query_int(db, "SELECT count(*) FROM server_changesets"), 1);

	/* The new column and tables, and the views on them. */
	exec_ok(db,
	    "UPDATE resources SET annotations = '{\"a\":\"b\"}';"
	    "INSERT INTO authorization_policies (namespace, name, selector,"
	    " action, rules) VALUES ('shop', 'orders', '{\"app\":\"orders\"}',"
	    " 'ALLOW', '[{\"from\":[{\"source\":{\"namespaces\":[\"web\"]}},"
	    "{\"source\":{\"principals\":[\"p\"]}}],\"to\":[{\"operation\":"
	    "{\"methods\":[\"POST\"]}}]},{}]');"
	    "INSERT INTO authorization_policies (namespace, name) VALUES"
	    " ('shop', 'nothing');"
	    "INSERT INTO workloads (namespace, name, source, address, labels)"
	    " VALUES ('shop', 'orders-1', 'registered', '10.0.0.1',"
	    " '{\"app\":\"orders\"}');"
	    "INSERT INTO peer_authentications (namespace, name, mode) VALUES"
	    " ('shop', 'all', 'STRICT');"
	    "INSERT INTO peer_authentications (namespace, name, selector,"
	    " mode, port_modes) VALUES ('shop', 'orders', "
	    "'{\"app\":\"orders\"}',"
	    " 'UNSET', '{\"8080\":\"DISABLE\"}')");
	assert_int_equal(query_int(db,
			     "SELECT count(*) FROM authorization_rules "
			     "WHERE policy = 'orders'"),
	    3);
	assert_int_equal(query_int(db,
			     "SELECT count(*) FROM authorization_rules WHERE "
			     "policy = 'orders' AND EXISTS (SELECT 1 FROM "
			     "json_each(methods) WHERE value = 'POST')"),
	    2);
	assert_int_equal(query_int(db,
			     "SELECT count(*) FROM authorization_rules "
			     "WHERE policy = 'nothing' AND rule IS NULL"),
	    1);
	assert_int_equal(query_int(db,
			     "SELECT count(*) FROM "
			     "workload_peer_authentications "
			     "WHERE workload = 'orders-1'"),
	    2);
	assert_int_equal(query_int(db,
			     "SELECT scope = 'workload' FROM "
			     "workload_peer_authentications "
			     "WHERE workload = 'orders-1' LIMIT 1"),
	    1);
	sqlite3_close(db);
}

/*
 * A version 3 DB moves on: its workloads keep their rows and ids, the
 * views over them work, and the source "kubernetes" is accepted.
 */
static void
test_from_v3(void **state)
{
	sqlite3 *db = open_memory();
	const char *end;
	char *v3;

	(void)state;
	end = strstr(schema_sql, "\n-- Schema version 4:");
	assert_non_null(end);
	v3 = strndup(schema_sql, (size_t)(end - schema_sql));
	assert_non_null(v3);
	exec_ok(db, v3);
	free(v3);
	exec_ok(db,
	    "PRAGMA user_version = 3;"
	    "INSERT INTO services (id, namespace, name, selector) VALUES"
	    " (7, 'shop', 'orders', '{\"app\":\"orders\"}');"
	    "INSERT INTO workloads (id, namespace, name, source, address,"
	    " labels) VALUES (42, 'shop', 'orders-1', 'registered',"
	    " '10.0.0.1', '{\"app\":\"orders\"}');");
	migrate_ok(db);
	assert_int_equal(user_version(db), SCHEMA_VERSION);
	assert_int_equal(query_int(db,
			     "SELECT id FROM workloads WHERE name = "
			     "'orders-1'"),
	    42);
	assert_int_equal(query_int(db,
			     "SELECT count(*) FROM service_endpoints WHERE "
			     "workload = 'orders-1'"),
	    1);
	assert_int_equal(query_int(db,
			     "SELECT count(*) FROM services WHERE source = "
			     "'config'"),
	    1);
	exec_ok(db,
	    "INSERT INTO services (id, namespace, name, source) VALUES"
	    " (8, 'shop', 'kubernetes/orders', 'kubernetes');"
	    "INSERT INTO service_ports (service_id, number, name) VALUES"
	    " (8, 80, 'http');"
	    "INSERT INTO workloads (namespace, name, source, service_id,"
	    " address, healthy) VALUES ('shop', 'orders/orders-2',"
	    " 'kubernetes', 8, '10.0.0.2', 0);");
	assert_int_equal(query_int(db,
			     "SELECT count(*) FROM kubernetes_services WHERE "
			     "service = 'orders' AND ready = 0 AND "
			     "endpoints = 1"),
	    1);
	assert_int_equal(query_int(db,
			     "SELECT count(*) FROM kubernetes_endpoints WHERE "
			     "pod = 'orders-2' AND ready = 0"),
	    1);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fresh),
	    cmocka_unit_test(test_twice),
	    cmocka_unit_test(test_newer_refused),
	    cmocka_unit_test(test_foreign_refused),
	    cmocka_unit_test_teardown(test_not_a_db, remove_tmp),
	    cmocka_unit_test(test_spec_json_checked),
	    cmocka_unit_test(test_config_version_single_row),
	    cmocka_unit_test(test_from_v1),
	    cmocka_unit_test(test_from_v2),
	    cmocka_unit_test(test_from_v3),
	};

	return cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}
