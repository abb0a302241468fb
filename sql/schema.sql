-- weft policy DB: the schema shared by weft-server, weftctl --db and the
-- workloads' local copies. A new DB gets this whole file; an older one is
-- moved forward by the migrations in src/lib/schema_db.c, keyed by
-- PRAGMA user_version. See weft-policy(5).

-- The version of the policy as a whole: bumped by every applied
-- transaction; the proxy builds a snapshot per version.
CREATE TABLE config_version (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL DEFAULT 0,
	updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO config_version (id, version) VALUES (1, 0);

-- Every applied resource as given, for audit and for get -o yaml.
CREATE TABLE resources (
	kind TEXT NOT NULL,
	namespace TEXT NOT NULL,
	name TEXT NOT NULL,
	api_version TEXT NOT NULL,
	spec TEXT NOT NULL CHECK (json_valid(spec)),
	applied_by TEXT NOT NULL,
	applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
	version INTEGER NOT NULL,
	PRIMARY KEY (kind, namespace, name)
);
