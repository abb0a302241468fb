/* Policy DBs and requests for the proxy's unit tests. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy_db.h"
#include "policy_fixture.h"
#include "schema_db.h"

sqlite3 *
fx_db_new(void)
{
	sqlite3 *db = NULL;
	char *cause = NULL;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	if (schema_migrate(db, &cause) == -1)
		fail_msg("schema_migrate: %s", cause);
	return db;
}

void
fx_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err != NULL ? err : "?");
}

void
fx_execf(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	char *sql;

	va_start(ap, fmt);
	if (vasprintf(&sql, fmt, ap) == -1)
		fail_msg("vasprintf");
	va_end(ap);
	fx_exec(db, sql);
	free(sql);
}

struct snapshot *
fx_load(sqlite3 *db)
{
	struct snapshot *s;
	char *cause = NULL;

	if ((s = policy_db_load_conn(db, &cause)) == NULL)
		fail_msg("policy_db_load_conn: %s", cause);
	return s;
}

char *
fx_load_fail(sqlite3 *db)
{
	struct snapshot *s;
	char *cause = NULL;

	if ((s = policy_db_load_conn(db, &cause)) != NULL) {
		snapshot_unref(s);
		fail_msg("the load succeeded");
	}
	assert_non_null(cause);
	return cause;
}

void
fx_req(struct fx_req *r, const char *method, const char *path,
    const char *authority, int port, ...)
{
	const char *name, *value;
	va_list ap;

	memset(r, 0, sizeof(*r));
	r->v.method = method;
	r->v.method_len = method != NULL ? strlen(method) : 0;
	r->v.path = path;
	r->v.path_len = path != NULL ? strlen(path) : 0;
	r->v.authority = authority;
	r->v.authority_len = authority != NULL ? strlen(authority) : 0;
	r->v.port = port;
	r->v.fields = r->h;
	va_start(ap, port);
	while ((name = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		assert_true(r->v.nfields < FX_MAX_HEADERS);
		r->h[r->v.nfields].name = name;
		r->h[r->v.nfields].name_len = strlen(name);
		r->h[r->v.nfields].value = value;
		r->h[r->v.nfields].value_len = strlen(value);
		r->v.nfields++;
	}
	va_end(ap);
}

const struct snap_service *
fx_service(const struct snapshot *s, const char *host)
{
	const struct snap_service *svc = NULL;

	snapshot_lookup(s, host, strlen(host), NULL, &svc);
	return svc;
}

uint64_t
fx_rand(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}
