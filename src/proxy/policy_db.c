#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "policy_db.h"
#include "schema_db.h"
#include "xmalloc.h"

struct policy_db {
	char *path;
	sqlite3 *db;
	sqlite3_stmt *st_data_version;
	sqlite3_stmt *st_version;
	int64_t data_version;
	dev_t dev;
	ino_t ino;
	int present;
};

struct policy_db *
policy_db_new(const char *path)
{
	struct policy_db *p = xcalloc(1, sizeof(*p));

	p->path = xstrdup(path);
	p->data_version = -1;
	return p;
}

static void
policy_db_close(struct policy_db *p)
{
	sqlite3_finalize(p->st_data_version);
	sqlite3_finalize(p->st_version);
	sqlite3_close(p->db);
	p->st_data_version = p->st_version = NULL;
	p->db = NULL;
	p->data_version = -1;
}

void
policy_db_free(struct policy_db *p)
{
	if (p == NULL)
		return;
	policy_db_close(p);
	free(p->path);
	free(p);
}

static int
policy_db_open(struct policy_db *p, char **cause)
{
	if (sqlite3_open_v2(p->path, &p->db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		xasprintf(cause, "%s: %s", p->path, sqlite3_errmsg(p->db));
		policy_db_close(p);
		return -1;
	}
	sqlite3_busy_timeout(p->db, 200);
	if (sqlite3_prepare_v2(p->db, "PRAGMA data_version", -1,
		&p->st_data_version, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", p->path, sqlite3_errmsg(p->db));
		policy_db_close(p);
		return -1;
	}
	return 0;
}

int
policy_db_changed(struct policy_db *p, char **cause)
{
	struct stat sb;
	int64_t dv;
	int rc;

	if (stat(p->path, &sb) == -1) {
		if (errno != ENOENT) {
			xasprintf(cause, "%s: %s", p->path, strerror(errno));
			return -1;
		}
		if (!p->present)
			return 0;
		/* The DB went away: back to an empty policy. */
		policy_db_close(p);
		p->present = 0;
		return 1;
	}
	if (!p->present || sb.st_dev != p->dev || sb.st_ino != p->ino) {
		/* New or replaced file (an atomic rename by the writer). */
		policy_db_close(p);
		p->present = 1;
		p->dev = sb.st_dev;
		p->ino = sb.st_ino;
		if (policy_db_open(p, cause) == -1)
			return -1;
	}
	if (p->db == NULL && policy_db_open(p, cause) == -1)
		return -1;
	rc = sqlite3_step(p->st_data_version);
	dv =
	    rc == SQLITE_ROW ? sqlite3_column_int64(p->st_data_version, 0) : -1;
	sqlite3_reset(p->st_data_version);
	if (rc != SQLITE_ROW) {
		xasprintf(cause, "%s: %s", p->path, sqlite3_errmsg(p->db));
		policy_db_close(p);
		return -1;
	}
	if (dv == p->data_version)
		return 0;
	p->data_version = dv;
	return 1;
}

int
policy_db_version(struct policy_db *p, int64_t *version, char **cause)
{
	int v, rc;

	*version = 0;
	if (!p->present || p->db == NULL)
		return 0;
	if (schema_version(p->db, &v, cause) == -1) {
		char *c = *cause;

		xasprintf(cause, "%s: %s", p->path, c);
		free(c);
		return -1;
	}
	if (v == 0)
		return 0; /* created but empty: no policy yet */
	if (v > SCHEMA_VERSION) {
		xasprintf(cause,
		    "%s: schema version %d is newer than this "
		    "weft-proxy understands (%d)",
		    p->path, v, SCHEMA_VERSION);
		return -1;
	}
	if (p->st_version == NULL &&
	    sqlite3_prepare_v2(p->db,
		"SELECT version FROM config_version WHERE id = 1", -1,
		&p->st_version, NULL) != SQLITE_OK) {
		xasprintf(cause, "%s: %s", p->path, sqlite3_errmsg(p->db));
		return -1;
	}
	rc = sqlite3_step(p->st_version);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int64(p->st_version, 0);
	sqlite3_reset(p->st_version);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		xasprintf(cause, "%s: %s", p->path, sqlite3_errmsg(p->db));
		return -1;
	}
	return 0;
}
