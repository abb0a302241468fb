/*
 * Unit tests for replication (src/lib/replica_db.c): the changeset of
 * an apply transaction, applied to a copy, makes it equal; a snapshot
 * rebuilds a copy from nothing; a copy that differs refuses a changeset
 * whole.
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

#include "config_input.h"
#include "replica_db.h"
#include "store_apply.h"
#include "store_db.h"

static char dir[] = "/tmp/weft-test-replica.XXXXXX";

static const char orders_yaml[] =
    "apiVersion: networking.istio.io/v1\n"
    "kind: ServiceEntry\n"
    "metadata: {name: orders, namespace: shop}\n"
    "spec:\n"
    "  hosts: [orders.shop.svc.cluster.local]\n"
    "  addresses: [240.240.0.10]\n"
    "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
    "  workloadSelector: {labels: {app: orders}}\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: WorkloadEntry\n"
    "metadata: {name: orders-1, namespace: shop}\n"
    "spec: {address: 198.18.0.10, labels: {app: orders, version: v1}}\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: DestinationRule\n"
    "metadata: {name: orders, namespace: shop}\n"
    "spec:\n"
    "  host: orders.shop.svc.cluster.local\n"
    "  subsets: [{name: v1, labels: {version: v1}}]\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: VirtualService\n"
    "metadata: {name: orders, namespace: shop}\n"
    "spec:\n"
    "  hosts: [orders.shop.svc.cluster.local]\n"
    "  http:\n"
    "  - route:\n"
    "    - destination: {host: orders.shop.svc.cluster.local, subset: v1}\n";

static struct store_db *
open_db(const char *name)
{
	struct store_db *db;
	char path[256], *cause = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((db = store_db_open(path, 1, &cause)) == NULL)
		fail_msg("%s: %s", path, cause);
	return db;
}

static void
exec_ok(struct store_db *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(store_db_handle(db), sql, NULL, NULL, &err) !=
	    SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

static int64_t
version_of(struct store_db *db)
{
	int64_t v;
	char *cause = NULL;

	assert_int_equal(store_db_version(db, &v, &cause), 0);
	return v;
}

/* Applies yaml (or deletes the VirtualService when yaml is NULL) and
 * returns the changeset of the transaction. */
static void
change(struct store_db *db, const char *yaml, void **blob, size_t *len)
{
	struct config_resources rs = {NULL, 0};
	struct config_errors errs = {NULL, 0};
	struct config_change t;
	enum store_apply_result results[8];
	struct replica_capture *cap;
	char *cause = NULL;
	int done;

	assert_int_equal(store_db_begin(db, &cause), 0);
	cap = replica_capture_start(store_db_handle(db), &cause);
	assert_non_null(cap);
	if (yaml != NULL) {
		config_input_buffer(
		    yaml, strlen(yaml), "test.yaml", NULL, 0, &rs, &errs);
		assert_int_equal(errs.n, 0);
		assert_true(rs.n <= 8);
		assert_int_equal(
		    store_apply(db, &rs, "test", results, &errs, &cause), 0);
	} else {
		memset(&t, 0, sizeof(t));
		t.kind = CONFIG_SERVICE_ENTRY;
		t.namespace = "shop";
		t.name = "orders";
		t.root = "";
		assert_int_equal(
		    store_delete(db, &t, 1, 0, &done, &errs, &cause), 0);
	}
	assert_int_equal(errs.n, 0);
	assert_int_equal(replica_capture_changeset(cap, blob, len, &cause), 0);
	replica_capture_free(cap);
	assert_int_equal(store_db_commit(db, &cause), 0);
	config_resources_clear(&rs);
	config_errors_clear(&errs);
}

static void
apply_to(struct store_db *db, const void *blob, size_t len, int want)
{
	char *cause = NULL;
	int rc;

	exec_ok(db, "PRAGMA foreign_keys = OFF");
	assert_int_equal(store_db_begin(db, &cause), 0);
	rc = replica_apply(store_db_handle(db), blob, len, &cause);
	if (rc != want)
		fail_msg("replica_apply: %d (%s), want %d", rc,
		    cause != NULL ? cause : "", want);
	if (rc == 0)
		assert_int_equal(store_db_commit(db, &cause), 0);
	else {
		store_db_rollback(db);
		free(cause);
	}
}

/* The number of rows that differ between a and b, over every table. */
static int
differences(struct store_db *a, const char *bname)
{
	static const char *const tables[] = {"config_version", "resources",
	    "services", "service_hosts", "service_addresses", "service_ports",
	    "workloads", "virtual_services", "routes", "route_destinations",
	    "destination_rules", "subsets"};
	sqlite3_stmt *st;
	char sql[512], attach[300];
	size_t i;
	int n = 0;

	snprintf(attach, sizeof(attach), "ATTACH '%s/%s' AS other", dir, bname);
	exec_ok(a, attach);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql),
		    "SELECT (SELECT count(*) FROM (SELECT * FROM main.%s "
		    "EXCEPT "
		    "SELECT * FROM other.%s)) + (SELECT count(*) FROM (SELECT "
		    "* "
		    "FROM other.%s EXCEPT SELECT * FROM main.%s))",
		    tables[i], tables[i], tables[i], tables[i]);
		assert_int_equal(
		    sqlite3_prepare_v2(store_db_handle(a), sql, -1, &st, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		n += sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	exec_ok(a, "DETACH other");
	return n;
}

/* Makes copy a replica of server, as weft-sync's first contact does. */
static void
resync(struct store_db *server, struct store_db *copy)
{
	void *snap;
	size_t slen;
	int64_t v;
	char *cause = NULL;

	assert_int_equal(
	    replica_snapshot(store_db_handle(server), &snap, &slen, &v, &cause),
	    0);
	exec_ok(copy, "PRAGMA foreign_keys = OFF");
	assert_int_equal(store_db_begin(copy, &cause), 0);
	assert_int_equal(replica_clear(store_db_handle(copy), &cause), 0);
	assert_int_equal(
	    replica_apply(store_db_handle(copy), snap, slen, &cause), 0);
	assert_int_equal(store_db_commit(copy, &cause), 0);
	free(snap);
}

static void
test_changesets_replicate(void **state)
{
	struct store_db *server = open_db("server1.db");
	struct store_db *copy = open_db("copy1.db");
	void *blob;
	size_t len;

	(void)state;
	resync(server, copy);
	assert_int_equal(differences(server, "copy1.db"), 0);
	change(server, orders_yaml, &blob, &len);
	assert_true(len > 0);
	assert_int_equal(version_of(server), 1);
	apply_to(copy, blob, len, 0);
	free(blob);
	assert_int_equal(version_of(copy), 1);
	assert_int_equal(differences(server, "copy1.db"), 0);

	/* Unchanged input records nothing. */
	change(server, orders_yaml, &blob, &len);
	assert_int_equal(len, 0);
	assert_null(blob);

	/* A delete whose cascades remove rows replicates them too. */
	change(server, NULL, &blob, &len);
	assert_true(len > 0);
	apply_to(copy, blob, len, 0);
	assert_int_equal(differences(server, "copy1.db"), 0);

	/* Applied again, the same changeset conflicts and changes nothing. */
	apply_to(copy, blob, len, -1);
	free(blob);
	assert_int_equal(differences(server, "copy1.db"), 0);
	store_db_close(server);
	store_db_close(copy);
}

static void
test_snapshot_rebuilds(void **state)
{
	struct store_db *server = open_db("server2.db");
	struct store_db *copy = open_db("copy2.db");
	void *blob;
	size_t len;

	(void)state;
	change(server, orders_yaml, &blob, &len);
	free(blob);
	/* The copy went its own way: a changeset would not apply. */
	exec_ok(copy,
	    "INSERT INTO services (namespace, name) VALUES "
	    "('shop', 'stray'); UPDATE config_version SET version = 9");
	resync(server, copy);
	assert_int_equal(version_of(copy), 1);
	assert_int_equal(differences(server, "copy2.db"), 0);

	/* And changesets follow on from the snapshot. */
	change(server, NULL, &blob, &len);
	apply_to(copy, blob, len, 0);
	free(blob);
	assert_int_equal(differences(server, "copy2.db"), 0);
	store_db_close(server);
	store_db_close(copy);
}

static void
test_local_tables_stay_local(void **state)
{
	struct store_db *server = open_db("server3.db");
	struct replica_capture *cap;
	void *blob;
	size_t len;
	char *cause = NULL;

	(void)state;
	assert_false(replica_table("server_changesets"));
	assert_false(replica_table("sync_state"));
	assert_true(replica_table("workloads"));
	assert_int_equal(store_db_begin(server, &cause), 0);
	cap = replica_capture_start(store_db_handle(server), &cause);
	exec_ok(server, "INSERT INTO server_history VALUES (1, 'h')");
	assert_int_equal(
	    replica_capture_changeset(cap, &blob, &len, &cause), 0);
	assert_int_equal(len, 0);
	replica_capture_free(cap);
	assert_int_equal(store_db_commit(server, &cause), 0);
	store_db_close(server);
}

static int
cleanup(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_changesets_replicate),
	    cmocka_unit_test(test_snapshot_rebuilds),
	    cmocka_unit_test(test_local_tables_stay_local),
	};

	if (mkdtemp(dir) == NULL)
		return 1;
	return cmocka_run_group_tests_name("replica", tests, NULL, cleanup);
}
