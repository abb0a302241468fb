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

-- The normalized policy the proxies load, written by weftctl apply (and
-- weft-server) from the resources above in the same transaction. Nested
-- parts that are read as a whole (match conditions, fault, retries...)
-- are kept as validated JSON in the Istio field names.

-- ServiceEntry: a service, its names, virtual IPs and ports.
CREATE TABLE services (
	id INTEGER PRIMARY KEY,
	namespace TEXT NOT NULL,
	name TEXT NOT NULL,
	resolution TEXT NOT NULL DEFAULT 'STATIC',
	location TEXT NOT NULL DEFAULT 'MESH_INTERNAL',
	-- workloadSelector.labels; NULL when the entry lists its endpoints
	selector TEXT CHECK (selector IS NULL OR json_valid(selector)),
	UNIQUE (namespace, name)
);
CREATE TABLE service_hosts (
	service_id INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
	host TEXT NOT NULL COLLATE NOCASE,
	PRIMARY KEY (service_id, host)
);
CREATE INDEX service_hosts_by_host ON service_hosts (host);
CREATE TABLE service_addresses (
	service_id INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
	address TEXT NOT NULL, -- an IP or a CIDR
	PRIMARY KEY (service_id, address)
);
CREATE TABLE service_ports (
	service_id INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
	number INTEGER NOT NULL CHECK (number BETWEEN 1 AND 65535),
	name TEXT NOT NULL DEFAULT '',
	protocol TEXT NOT NULL DEFAULT 'TCP',
	target_port INTEGER CHECK (target_port BETWEEN 1 AND 65535),
	PRIMARY KEY (service_id, number)
);

-- Workloads: declared by a WorkloadEntry, listed inline as a
-- ServiceEntry's endpoints (service_id set), or registered by weft-sync.
CREATE TABLE workloads (
	id INTEGER PRIMARY KEY,
	namespace TEXT NOT NULL,
	name TEXT NOT NULL,
	source TEXT NOT NULL CHECK (source IN ('WorkloadEntry', 'ServiceEntry', 'registered')),
	service_id INTEGER REFERENCES services (id) ON DELETE CASCADE,
	address TEXT NOT NULL,
	labels TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(labels)),
	ports TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(ports)), -- port name -> number
	service_account TEXT NOT NULL DEFAULT 'default',
	locality TEXT NOT NULL DEFAULT '', -- region/zone/subzone
	weight INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 0),
	healthy INTEGER NOT NULL DEFAULT 1,
	last_seen TEXT,
	UNIQUE (source, namespace, name)
);

-- VirtualService: ordered HTTP routes for its hosts.
CREATE TABLE virtual_services (
	id INTEGER PRIMARY KEY,
	namespace TEXT NOT NULL,
	name TEXT NOT NULL,
	hosts TEXT NOT NULL CHECK (json_valid(hosts)),
	gateways TEXT NOT NULL DEFAULT '["mesh"]' CHECK (json_valid(gateways)),
	UNIQUE (namespace, name)
);
CREATE TABLE routes (
	id INTEGER PRIMARY KEY,
	vs_id INTEGER NOT NULL REFERENCES virtual_services (id) ON DELETE CASCADE,
	position INTEGER NOT NULL, -- order in spec.http, from 0
	name TEXT NOT NULL DEFAULT '',
	match TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(match)),
	timeout_ms INTEGER CHECK (timeout_ms >= 0),
	retries TEXT CHECK (retries IS NULL OR json_valid(retries)),
	fault TEXT CHECK (fault IS NULL OR json_valid(fault)),
	mirror TEXT CHECK (mirror IS NULL OR json_valid(mirror)),
	rewrite TEXT CHECK (rewrite IS NULL OR json_valid(rewrite)),
	headers TEXT CHECK (headers IS NULL OR json_valid(headers)),
	UNIQUE (vs_id, position)
);
CREATE TABLE route_destinations (
	route_id INTEGER NOT NULL REFERENCES routes (id) ON DELETE CASCADE,
	position INTEGER NOT NULL,
	host TEXT NOT NULL COLLATE NOCASE,
	subset TEXT,
	port INTEGER CHECK (port BETWEEN 1 AND 65535),
	weight INTEGER NOT NULL CHECK (weight >= 0),
	headers TEXT CHECK (headers IS NULL OR json_valid(headers)),
	PRIMARY KEY (route_id, position)
);

-- DestinationRule: traffic policy and subsets of a host.
CREATE TABLE destination_rules (
	id INTEGER PRIMARY KEY,
	namespace TEXT NOT NULL,
	name TEXT NOT NULL,
	host TEXT NOT NULL COLLATE NOCASE,
	traffic_policy TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(traffic_policy)),
	UNIQUE (namespace, name)
);
CREATE TABLE subsets (
	dr_id INTEGER NOT NULL REFERENCES destination_rules (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	labels TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(labels)),
	traffic_policy TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(traffic_policy)),
	PRIMARY KEY (dr_id, name)
);

-- Audit views (weft-policy(5)).

-- Which workloads serve each service: those its selector picks in its
-- namespace, and its inline endpoints.
CREATE VIEW service_endpoints AS
SELECT s.namespace AS namespace, s.name AS service, w.name AS workload,
	w.address AS address, w.labels AS labels, w.locality AS locality,
	w.weight AS weight, w.healthy AS healthy, w.source AS source
FROM services s JOIN workloads w
	ON (w.service_id = s.id)
	OR (s.selector IS NOT NULL AND w.service_id IS NULL
	    AND w.namespace = s.namespace
	    AND NOT EXISTS (SELECT 1 FROM json_each(s.selector) sel
		WHERE json_extract(w.labels, '$."' || sel.key || '"') IS NOT sel.value));

-- Which endpoints each DestinationRule subset holds.
CREATE VIEW subset_endpoints AS
SELECT d.namespace AS namespace, d.host AS host, ss.name AS subset,
	e.workload AS workload, e.address AS address, e.healthy AS healthy
FROM destination_rules d
JOIN subsets ss ON ss.dr_id = d.id
-- A short host ("reviews") names reviews.<namespace>.svc.cluster.local too.
JOIN service_hosts h ON h.host = d.host
	OR h.host = d.host || '.' || d.namespace || '.svc.cluster.local'
	OR d.host = h.host || '.' || d.namespace || '.svc.cluster.local'
JOIN services s ON s.id = h.service_id
JOIN service_endpoints e ON e.namespace = s.namespace AND e.service = s.name
WHERE NOT EXISTS (SELECT 1 FROM json_each(ss.labels) l
	WHERE json_extract(e.labels, '$."' || l.key || '"') IS NOT l.value);

-- The routes in force per host, in order, with each destination's share.
CREATE VIEW effective_routes AS
SELECT v.namespace AS namespace, v.name AS virtual_service, hs.value AS host,
	r.position AS route, r.name AS route_name, r.match AS match,
	d.host AS destination, d.subset AS subset, d.port AS port,
	d.weight AS weight,
	CASE WHEN (SELECT sum(weight) FROM route_destinations x WHERE x.route_id = r.id) > 0
	THEN round(100.0 * d.weight / (SELECT sum(weight) FROM route_destinations x WHERE x.route_id = r.id), 2)
	ELSE 0 END AS percent,
	r.timeout_ms AS timeout_ms, r.retries AS retries, r.fault AS fault,
	r.mirror AS mirror
FROM virtual_services v, json_each(v.hosts) hs
JOIN routes r ON r.vs_id = v.id
JOIN route_destinations d ON d.route_id = r.id
ORDER BY v.namespace, hs.value, r.position, d.position;

-- Schema version 2: replication. Tables named server_* and sync_* are
-- the local state of weft-server and weft-sync: they are never part of a
-- changeset, so each DB keeps its own. Every other table is replicated
-- from weft-server to the workloads' copies, row for row.

-- weft-server: one SQLite session changeset per applied transaction,
-- keyed by the policy version it produced. History older than the
-- retention is dropped; a sync client behind it gets a full snapshot.
CREATE TABLE server_changesets (
	version INTEGER PRIMARY KEY,
	changeset BLOB NOT NULL,
	created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- weft-server: the identity of this policy history. A DB made anew gets
-- a new one, so that a workload copy from another history resyncs in
-- full instead of applying changesets that do not follow on from it.
CREATE TABLE server_history (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	history TEXT NOT NULL
);

-- weft-server: join tokens, by their public id; only a hash of the
-- secret is kept.
CREATE TABLE server_tokens (
	id TEXT PRIMARY KEY,
	secret_sha256 TEXT NOT NULL,
	namespace TEXT NOT NULL,
	workload TEXT NOT NULL,
	service_account TEXT NOT NULL,
	expires_at INTEGER NOT NULL, -- Unix seconds
	created_by TEXT NOT NULL,
	created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- weft-server: every workload that registered, and what its sync daemon
-- last reported (written in batches, so it may lag by a few seconds).
CREATE TABLE server_proxies (
	namespace TEXT NOT NULL,
	workload TEXT NOT NULL,
	service_account TEXT NOT NULL,
	address TEXT NOT NULL,
	applied_version INTEGER NOT NULL DEFAULT 0, -- in the workload's DB
	proxy_version INTEGER NOT NULL DEFAULT -1,  -- in its proxy, -1 unknown
	last_contact INTEGER NOT NULL,		    -- Unix seconds
	cert_expiry INTEGER,			    -- Unix seconds
	registered_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
	PRIMARY KEY (namespace, workload)
);

-- weft-server: every workload certificate the CA issued.
CREATE TABLE server_certificates (
	fingerprint TEXT PRIMARY KEY, -- SHA-256 of the DER, hex
	spiffe_id TEXT NOT NULL,
	namespace TEXT NOT NULL,
	workload TEXT NOT NULL,
	not_after INTEGER NOT NULL, -- Unix seconds
	issued_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- weft-sync: where this copy comes from and how far it got.
CREATE TABLE sync_state (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	server TEXT NOT NULL,
	history TEXT NOT NULL,
	version INTEGER NOT NULL,
	synced_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Audit: every proxy that registered, whether it runs the current
-- policy, and when its certificate expires.
CREATE VIEW proxy_status AS
SELECT p.namespace AS namespace, p.workload AS workload,
	p.address AS address, p.service_account AS service_account,
	p.applied_version AS applied_version, p.proxy_version AS proxy_version,
	(SELECT version FROM config_version) AS policy_version,
	datetime(p.last_contact, 'unixepoch') AS last_contact,
	datetime(p.cert_expiry, 'unixepoch') AS cert_expiry
FROM server_proxies p ORDER BY p.namespace, p.workload;

-- Audit: the certificates issued, soonest expiry first.
CREATE VIEW certificates AS
SELECT spiffe_id, namespace, workload, fingerprint,
	datetime(not_after, 'unixepoch') AS not_after, issued_at,
	not_after < CAST(strftime('%s', 'now') AS INTEGER) AS expired
FROM server_certificates ORDER BY not_after;

-- Schema version 3: the security policy (PeerAuthentication,
-- RequestAuthentication and AuthorizationPolicy of security.istio.io),
-- weft.io RateLimit, and the annotations of every resource.

-- metadata.annotations as applied (a JSON object), NULL when none. Only
-- istio.io/dry-run of an AuthorizationPolicy means anything to weft; it
-- is also in authorization_policies.dry_run.
ALTER TABLE resources ADD COLUMN annotations TEXT
	CHECK (annotations IS NULL OR json_valid(annotations));

-- In the tables below, selector is the policy's selector.matchLabels;
-- NULL means every workload of its namespace.

-- PeerAuthentication: the mTLS that the selected workloads accept
-- inbound. UNSET inherits (from a namespace-wide policy, then the
-- default, PERMISSIVE).
CREATE TABLE peer_authentications (
	id INTEGER PRIMARY KEY,
	namespace TEXT NOT NULL,
	name TEXT NOT NULL,
	selector TEXT CHECK (selector IS NULL OR json_valid(selector)),
	mode TEXT NOT NULL DEFAULT 'UNSET'
		CHECK (mode IN ('UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT')),
	-- portLevelMtls: {"8080": "DISABLE"}, port number -> mode
	port_modes TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(port_modes)),
	UNIQUE (namespace, name)
);

-- RequestAuthentication: the JWTs that the selected workloads accept,
-- spec.jwtRules as applied.
CREATE TABLE request_authentications (
	id INTEGER PRIMARY KEY,
	namespace TEXT NOT NULL,
	name TEXT NOT NULL,
	selector TEXT CHECK (selector IS NULL OR json_valid(selector)),
	jwt_rules TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(jwt_rules)),
	UNIQUE (namespace, name)
);

-- AuthorizationPolicy: spec.rules as applied (from, to, when, in the
-- Istio field names); an empty list matches nothing. A dry-run policy
-- (annotation istio.io/dry-run) reports what it would do and enforces
-- nothing.
CREATE TABLE authorization_policies (
	id INTEGER PRIMARY KEY,
	namespace TEXT NOT NULL,
	name TEXT NOT NULL,
	selector TEXT CHECK (selector IS NULL OR json_valid(selector)),
	action TEXT NOT NULL DEFAULT 'ALLOW'
		CHECK (action IN ('ALLOW', 'DENY', 'AUDIT')),
	rules TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(rules)),
	dry_run INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1)),
	UNIQUE (namespace, name)
);

-- weft.io RateLimit: spec.limits with every default filled in, each
-- {"requestsPerSecond", "burst", "match"?, "per"?, "header"?}.
CREATE TABLE rate_limits (
	id INTEGER PRIMARY KEY,
	namespace TEXT NOT NULL,
	name TEXT NOT NULL,
	selector TEXT CHECK (selector IS NULL OR json_valid(selector)),
	limits TEXT NOT NULL CHECK (json_valid(limits)),
	UNIQUE (namespace, name)
);

-- Audit: who may call what. One row per policy, rule, source (an item
-- of the rule's from) and operation (an item of its to); the lists are
-- JSON text as applied. A NULL source or operation column means the
-- rule does not look at it; a policy without rules has one row whose
-- rule is NULL (an ALLOW policy that allows nothing).
CREATE VIEW authorization_rules AS
SELECT p.namespace AS namespace, p.name AS policy, p.action AS action,
	p.dry_run AS dry_run, p.selector AS selector, r.key AS rule,
	f.key AS source,
	json_extract(f.value, '$.source.principals') AS principals,
	json_extract(f.value, '$.source.notPrincipals') AS not_principals,
	json_extract(f.value, '$.source.requestPrincipals') AS request_principals,
	json_extract(f.value, '$.source.notRequestPrincipals') AS not_request_principals,
	json_extract(f.value, '$.source.namespaces') AS namespaces,
	json_extract(f.value, '$.source.notNamespaces') AS not_namespaces,
	json_extract(f.value, '$.source.ipBlocks') AS ip_blocks,
	json_extract(f.value, '$.source.notIpBlocks') AS not_ip_blocks,
	json_extract(f.value, '$.source.remoteIpBlocks') AS remote_ip_blocks,
	json_extract(f.value, '$.source.notRemoteIpBlocks') AS not_remote_ip_blocks,
	json_extract(f.value, '$.source.serviceAccounts') AS service_accounts,
	json_extract(f.value, '$.source.notServiceAccounts') AS not_service_accounts,
	json_extract(f.value, '$.source.trustDomains') AS trust_domains,
	json_extract(f.value, '$.source.notTrustDomains') AS not_trust_domains,
	t.key AS operation,
	json_extract(t.value, '$.operation.methods') AS methods,
	json_extract(t.value, '$.operation.notMethods') AS not_methods,
	json_extract(t.value, '$.operation.paths') AS paths,
	json_extract(t.value, '$.operation.notPaths') AS not_paths,
	json_extract(t.value, '$.operation.ports') AS ports,
	json_extract(t.value, '$.operation.notPorts') AS not_ports,
	json_extract(t.value, '$.operation.hosts') AS hosts,
	json_extract(t.value, '$.operation.notHosts') AS not_hosts,
	json_extract(r.value, '$.when') AS conditions
FROM authorization_policies p
LEFT JOIN json_each(p.rules) r
LEFT JOIN json_each(r.value, '$.from') f
LEFT JOIN json_each(r.value, '$.to') t
ORDER BY p.namespace, p.name, r.key, f.key, t.key;

-- Audit: the PeerAuthentications that apply to each workload, the one
-- in force first: a workload's own (selector), then its namespace's.
CREATE VIEW workload_peer_authentications AS
SELECT w.namespace AS namespace, w.name AS workload, w.address AS address,
	p.name AS peer_authentication,
	CASE WHEN p.selector IS NULL THEN 'namespace' ELSE 'workload' END
		AS scope,
	p.mode AS mode, p.port_modes AS port_modes
FROM workloads w JOIN peer_authentications p
	ON p.namespace = w.namespace
	AND (p.selector IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(p.selector) sel
		WHERE json_extract(w.labels, '$."' || sel.key || '"') IS NOT sel.value))
ORDER BY w.namespace, w.name, p.selector IS NULL, p.name;

-- Schema version 4: Kubernetes service discovery. weft-server maps the
-- Services and EndpointSlices of the Kubernetes API onto services
-- (source 'kubernetes', named "kubernetes/NAME" so that they never
-- collide with a ServiceEntry of the same name) and their endpoints
-- (workloads of source 'kubernetes', named "SERVICE/POD"). Everything
-- else ("config") is what users applied.
ALTER TABLE services ADD COLUMN source TEXT NOT NULL DEFAULT 'config'
	CHECK (source IN ('config', 'kubernetes'));

-- workloads gains the source 'kubernetes': SQLite cannot change a CHECK,
-- so the table is made anew, with its rows, and the views over it.
DROP VIEW workload_peer_authentications;
DROP VIEW subset_endpoints;
DROP VIEW service_endpoints;
CREATE TABLE workloads_v4 (
	id INTEGER PRIMARY KEY,
	namespace TEXT NOT NULL,
	name TEXT NOT NULL,
	source TEXT NOT NULL CHECK (source IN ('WorkloadEntry', 'ServiceEntry',
		'registered', 'kubernetes')),
	service_id INTEGER REFERENCES services (id) ON DELETE CASCADE,
	address TEXT NOT NULL,
	labels TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(labels)),
	ports TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(ports)), -- port name -> number
	service_account TEXT NOT NULL DEFAULT 'default',
	locality TEXT NOT NULL DEFAULT '', -- region/zone/subzone
	weight INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 0),
	healthy INTEGER NOT NULL DEFAULT 1,
	last_seen TEXT,
	UNIQUE (source, namespace, name)
);
INSERT INTO workloads_v4 (id, namespace, name, source, service_id, address,
	labels, ports, service_account, locality, weight, healthy, last_seen)
SELECT id, namespace, name, source, service_id, address, labels, ports,
	service_account, locality, weight, healthy, last_seen FROM workloads;
DROP TABLE workloads;
ALTER TABLE workloads_v4 RENAME TO workloads;

CREATE VIEW service_endpoints AS
SELECT s.namespace AS namespace, s.name AS service, w.name AS workload,
	w.address AS address, w.labels AS labels, w.locality AS locality,
	w.weight AS weight, w.healthy AS healthy, w.source AS source
FROM services s JOIN workloads w
	ON (w.service_id = s.id)
	OR (s.selector IS NOT NULL AND w.service_id IS NULL
	    AND w.namespace = s.namespace
	    AND NOT EXISTS (SELECT 1 FROM json_each(s.selector) sel
		WHERE json_extract(w.labels, '$."' || sel.key || '"') IS NOT sel.value));

CREATE VIEW subset_endpoints AS
SELECT d.namespace AS namespace, d.host AS host, ss.name AS subset,
	e.workload AS workload, e.address AS address, e.healthy AS healthy
FROM destination_rules d
JOIN subsets ss ON ss.dr_id = d.id
JOIN service_hosts h ON h.host = d.host
	OR h.host = d.host || '.' || d.namespace || '.svc.cluster.local'
	OR d.host = h.host || '.' || d.namespace || '.svc.cluster.local'
JOIN services s ON s.id = h.service_id
JOIN service_endpoints e ON e.namespace = s.namespace AND e.service = s.name
WHERE NOT EXISTS (SELECT 1 FROM json_each(ss.labels) l
	WHERE json_extract(e.labels, '$."' || l.key || '"') IS NOT l.value);

CREATE VIEW workload_peer_authentications AS
SELECT w.namespace AS namespace, w.name AS workload, w.address AS address,
	p.name AS peer_authentication,
	CASE WHEN p.selector IS NULL THEN 'namespace' ELSE 'workload' END
		AS scope,
	p.mode AS mode, p.port_modes AS port_modes
FROM workloads w JOIN peer_authentications p
	ON p.namespace = w.namespace
	AND (p.selector IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(p.selector) sel
		WHERE json_extract(w.labels, '$."' || sel.key || '"') IS NOT sel.value))
ORDER BY w.namespace, w.name, p.selector IS NULL, p.name;

-- Audit: the services discovered from Kubernetes, one row per port,
-- with their names and virtual IPs (JSON arrays) and how many of their
-- endpoints are ready.
CREATE VIEW kubernetes_services AS
SELECT s.namespace AS namespace, substr(s.name, 12) AS service,
	(SELECT json_group_array(host) FROM service_hosts h
		WHERE h.service_id = s.id) AS hosts,
	(SELECT json_group_array(address) FROM service_addresses a
		WHERE a.service_id = s.id) AS addresses,
	p.number AS port, p.name AS port_name, p.protocol AS protocol,
	p.target_port AS target_port,
	(SELECT count(*) FROM workloads w WHERE w.service_id = s.id
		AND w.healthy) AS ready,
	(SELECT count(*) FROM workloads w WHERE w.service_id = s.id) AS endpoints
FROM services s LEFT JOIN service_ports p ON p.service_id = s.id
WHERE s.source = 'kubernetes'
ORDER BY s.namespace, s.name, p.number;

-- Audit: the endpoints of the services discovered from Kubernetes.
CREATE VIEW kubernetes_endpoints AS
SELECT s.namespace AS namespace, substr(s.name, 12) AS service,
	substr(w.name, instr(w.name, '/') + 1) AS pod, w.address AS address,
	w.ports AS ports, w.healthy AS ready, w.locality AS locality,
	w.service_account AS service_account,
	json_extract(w.labels, '$."security.istio.io/tlsMode"') IS 'istio'
		AS sidecar
FROM services s JOIN workloads w ON w.service_id = s.id
WHERE s.source = 'kubernetes' AND w.source = 'kubernetes'
ORDER BY s.namespace, s.name, w.address;
