/*
 * Building a policy snapshot from the rows of the policy DB tables.
 *
 * policy_db.c reads the tables (one read transaction) and hands each row
 * to the builder; snapshot_builder_finish() parses the JSON columns,
 * resolves hosts, selectors and subsets, compiles the regexes and
 * indexes everything for snapshot_lookup(). Row strings are copied; the
 * builder does not depend on the order rows arrive in.
 *
 * The second half of this file is the snapshot's inside, shared by
 * snapshot.c (lookups, memory) and snapshot_build.c only.
 */
#ifndef WEFT_SNAPSHOT_BUILD_H
#define WEFT_SNAPSHOT_BUILD_H

#include <stdint.h>

#include <jansson.h>

#include "snapshot.h"

/* services */
struct sb_service {
	int64_t id;
	const char *namespace;
	const char *name;
	const char *resolution; /* STATIC, NONE, DNS, DNS_ROUND_ROBIN */
	const char *location;   /* MESH_INTERNAL, MESH_EXTERNAL */
	const char *selector;   /* JSON object of labels, or NULL */
};

/* service_hosts, service_addresses (address: an IP or a CIDR) */
struct sb_service_name {
	int64_t service_id;
	const char *value;
};

/* service_ports */
struct sb_port {
	int64_t service_id;
	int number;
	const char *name;
	const char *protocol;
	int target_port; /* 0: NULL */
};

/* workloads */
struct sb_workload {
	int64_t id;
	const char *namespace;
	const char *name;
	const char *source; /* WorkloadEntry, ServiceEntry, registered */
	int64_t service_id; /* 0: NULL */
	const char *address;
	const char *labels; /* JSON object */
	const char *ports;  /* JSON object: port name -> number */
	const char *service_account;
	const char *locality;
	int64_t weight;
	int healthy;
};

/* virtual_services */
struct sb_vs {
	int64_t id;
	const char *namespace;
	const char *name;
	const char *hosts;    /* JSON array */
	const char *gateways; /* JSON array */
};

/* routes; JSON columns NULL when NULL */
struct sb_route {
	int64_t id;
	int64_t vs_id;
	int position;
	const char *name;
	const char *match;  /* JSON array of HTTPMatchRequest */
	int64_t timeout_ms; /* -1: NULL */
	const char *retries;
	const char *fault;
	const char *mirror;
	const char *rewrite;
	const char *headers;
};

/* route_destinations */
struct sb_dest {
	int64_t route_id;
	int position;
	const char *host;
	const char *subset; /* NULL: none */
	int port;           /* 0: NULL */
	int64_t weight;
	const char *headers; /* JSON or NULL */
};

/* destination_rules */
struct sb_dr {
	int64_t id;
	const char *namespace;
	const char *name;
	const char *host;
	const char *traffic_policy; /* JSON object */
};

/* subsets */
struct sb_subset {
	int64_t dr_id;
	const char *name;
	const char *labels;         /* JSON object */
	const char *traffic_policy; /* JSON object */
};

/* Security policies (schema version 3), one row type for the four. */
enum sb_sec_kind {
	SB_PEER_AUTH,    /* a = mode, b = port_modes (JSON) */
	SB_AUTHZ,        /* a = action, b = rules (JSON), flag = dry_run */
	SB_REQUEST_AUTH, /* a = jwt_rules (JSON) */
	SB_RATE_LIMIT,   /* a = limits (JSON) */
};

struct sb_sec {
	enum sb_sec_kind kind;
	const char *namespace;
	const char *name;
	const char *selector; /* JSON object of labels, or NULL */
	const char *a;
	const char *b;
	int flag;
};

struct snapshot_builder;

/* A builder for the snapshot of policy version `version`. */
struct snapshot_builder *snapshot_builder_new(int64_t version);
void snapshot_builder_free(struct snapshot_builder *b);

/* Add one row of each table (strings are copied). */
void snapshot_builder_service(
    struct snapshot_builder *b, const struct sb_service *r);
void snapshot_builder_host(
    struct snapshot_builder *b, const struct sb_service_name *r);
void snapshot_builder_address(
    struct snapshot_builder *b, const struct sb_service_name *r);
void snapshot_builder_port(struct snapshot_builder *b, const struct sb_port *r);
void snapshot_builder_workload(
    struct snapshot_builder *b, const struct sb_workload *r);
void snapshot_builder_vs(struct snapshot_builder *b, const struct sb_vs *r);
void snapshot_builder_route(
    struct snapshot_builder *b, const struct sb_route *r);
void snapshot_builder_dest(struct snapshot_builder *b, const struct sb_dest *r);
void snapshot_builder_dr(struct snapshot_builder *b, const struct sb_dr *r);
void snapshot_builder_subset(
    struct snapshot_builder *b, const struct sb_subset *r);
void snapshot_builder_sec(struct snapshot_builder *b, const struct sb_sec *r);

/*
 * Whose snapshot this is: the security policies kept are those that
 * select this workload (its namespace, and labels "k=v,..."), and the
 * root namespaces' mesh-wide ones.
 */
void snapshot_builder_identity(
    struct snapshot_builder *b, const char *ns, const char *labels);

/*
 * Builds the snapshot from the rows added. Returns it (one reference,
 * the caller's), or NULL with *cause set (caller frees) when a JSON
 * column or a regex is invalid: nothing partial is ever returned. The
 * builder is still the caller's to free.
 */
struct snapshot *snapshot_builder_finish(
    struct snapshot_builder *b, char **cause);

/* An empty policy (version 0 when there is no DB): passes all through. */
struct snapshot *snapshot_new_empty(int64_t version);

/* -- Inside the snapshot: snapshot*.c only. -- */

/* snapshot_security.c: the security part of a build, and its release. */
int sb_security(struct snapshot *s, const char *ns, const char *labels,
    const struct sb_sec *rows, size_t n, char **cause);
void snap_security_free(struct snapshot *s);

/* Memory of a snapshot: a bump allocator freed as a whole. */
struct snap_chunk {
	struct snap_chunk *next;
	size_t size;
	size_t used;
	/* data follows, aligned */
};

/*
 * Open-addressing hash table. Keys live in the snapshot's memory; host
 * tables compare and hash case-insensitively, address tables bytewise.
 * On a duplicate key the entry with the lower prio wins, else the first.
 */
struct snap_hent {
	const char *key; /* NULL: empty slot */
	size_t len;
	uint64_t hash;
	void *val;
	int prio;
};

struct snap_htab {
	struct snap_hent *slots;
	size_t mask; /* slots - 1; 0 with no slots */
	size_t n;
	int nocase;
};

/* A CIDR service address (CIDR lookups scan a short list). */
struct snap_cidr {
	int family;
	uint8_t addr[16];
	int prefix;
	int port;
	struct snap_service *svc;
};

struct snap_hostidx {
	struct snap_htab exact; /* name -> value */
	struct snap_htab
	    suffix; /* ".example.com" -> value (from "*.example.com") */
	void *any;  /* "*" */
	int any_prio;
};

struct snapshot {
	unsigned int refs; /* atomic */
	int64_t version;
	struct snap_chunk *mem;
	regex_t **regexes; /* compiled regexes, to regfree */
	size_t nregexes;
	size_t regexes_cap;

	struct snap_service **services;
	size_t nservices;
	struct snap_vhost **vhosts;
	size_t nvhosts;
	struct snap_cluster **clusters;
	size_t nclusters;
	struct snap_endpoint **endpoints;
	size_t nendpoints;

	struct snap_hostidx vhost_idx;   /* host -> struct snap_vhost */
	struct snap_hostidx service_idx; /* host -> struct snap_service */
	struct snap_htab addrs;  /* ip:port key -> struct snap_service */
	struct snap_htab peers;  /* ip key (port 0) -> struct snap_peer */
	struct snap_htab idents; /* ip key (port 0) -> struct snap_peer,
				    every workload (L4 policy) */
	/* endpoint ip:port key -> struct snap_service it serves */
	struct snap_htab ep_services;
	/* PeerAuthentication of this workload: a mode, and per port. */
	enum snap_mtls_mode mtls_mode;
	struct snap_port_mtls {
		int port;
		enum snap_mtls_mode mode;
	} * mtls_ports;
	size_t nmtls_ports;
	struct snap_security sec;
	struct snap_cidr *cidrs; /* longest prefix first */
	size_t ncidrs;
};

/* Zeroed memory of s, aligned for any type; never fails (fatal). */
void *snap_alloc(struct snapshot *s, size_t size);
char *snap_strdup(struct snapshot *s, const char *str);
char *snap_strndup(struct snapshot *s, const char *str, size_t len);
/* reallocarray that is fatal on failure (building is not per request). */
void *snap_xreallocarray(void *p, size_t n, size_t size);
/* Registers a compiled regex to be freed with s. */
void snap_keep_regex(struct snapshot *s, regex_t *re);

/* The 64-bit hash of the snapshot's tables and of lb.c (stable). */
uint64_t snap_hash(const void *data, size_t len);

void snap_htab_init(struct snap_htab *t, int nocase);
void snap_htab_free(struct snap_htab *t);
/*
 * Inserts key (copied into s, lower-cased when t is nocase) -> val; on
 * an existing key keeps the entry with the lower prio (the existing
 * one on a tie).
 */
void snap_htab_put(struct snapshot *s, struct snap_htab *t, const char *key,
    size_t len, void *val, int prio);
/* The value of key, or NULL. */
void *snap_htab_get(const struct snap_htab *t, const char *key, size_t len);

/*
 * Registers a configured host of namespace ns in a host index: the host
 * itself, its derived names (see snapshot.h) at a weaker priority, and
 * wildcards.
 */
void snap_hostidx_add(struct snapshot *s, struct snap_hostidx *idx,
    const char *host, const char *ns, void *val);
/* The value for a request host: exact, then the longest wildcard. */
void *snap_hostidx_get(
    const struct snap_hostidx *idx, const char *host, size_t len);
/*
 * The value for a host referred to from namespace ns: a short name is
 * taken as "<name>.<ns>.svc.cluster.local" first.
 */
void *snap_hostidx_resolve(
    const struct snap_hostidx *idx, const char *host, const char *ns);
void snap_hostidx_free(struct snap_hostidx *idx);

/* Appends to a vector arr of n elements, cap allocated (fatal on ENOMEM). */
#define SNAP_PUSH(arr, n, cap)                                                 \
	do {                                                                   \
		if ((n) == (cap)) {                                            \
			(cap) = (cap) == 0 ? 16 : 2 * (cap);                   \
			(arr) =                                                \
			    snap_xreallocarray((arr), (cap), sizeof(*(arr)));  \
		}                                                              \
	} while (0)

/*
 * The key of an address table entry: family, 16 address bytes, port.
 * Returns its length.
 */
#define SNAP_ADDRKEY_LEN 19
size_t snap_addrkey(uint8_t *key, int family, const void *addr, int port);
/*
 * The key of addr's IP (IPv4-mapped IPv6 as IPv4) and port (-1: addr's
 * own); returns -1 when addr is not IP.
 */
int snap_sockkey(uint8_t *key, const struct sockaddr_storage *addr, int port);

/* -- Parsing the JSON columns (snapshot_parse.c). -- */

#define SNAP_MIN_RING 1024 /* default minimum ring size */
#define SNAP_MAX_RING (1 << 20)

/* The state of a build that the parsers share. */
struct snap_parse {
	struct snapshot *s; /* what is built: parts are allocated in it */
	char *cause;        /* the first error, for the caller */
	json_t **json;      /* parsed columns, released by sp_release() */
	size_t njson, capjson;
	const char *what_kind; /* the resource being read, for causes */
	const char *what_ns;
	const char *what_name;
};

/* The four components of an effective TrafficPolicy (borrowed). */
struct snap_comps {
	json_t *lb, *cp, *od, *tls;
};

/*
 * Records the first error as cause, prefixed with the resource being
 * read (sp_what()). Always returns -1.
 */
int sp_fail(struct snap_parse *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Names the resource read next (NULL kind: none); strings borrowed. */
void sp_what(
    struct snap_parse *c, const char *kind, const char *ns, const char *name);
/* Releases the JSON parsed so far. */
void sp_release(struct snap_parse *c);

/*
 * Parses a JSON column that must be of type; the value lives until
 * sp_release(). NULL with the cause recorded on error.
 */
json_t *sp_json(
    struct snap_parse *c, const char *text, json_type type, const char *what);
/*
 * Field key of obj (obj may be NULL) as an integer (a number, numeric
 * string or {"value": N}), a duration ("1.5s", "500ms"; a number is
 * seconds) in ms, or a string (borrowed). Return 0 when set, 1 when
 * absent, -1 when invalid (cause recorded).
 */
int sp_int(struct snap_parse *c, json_t *obj, const char *key, int64_t *out,
    const char *what);
int sp_duration(struct snap_parse *c, json_t *obj, const char *key, int64_t *ms,
    const char *what);
int sp_str(struct snap_parse *c, json_t *obj, const char *key, const char **out,
    const char *what);
/* An Istio Percent (or a number) into parts per million; 0 or -1. */
int sp_percent(
    struct snap_parse *c, json_t *v, uint32_t *ppm, const char *what);
/* A lower- or upper-cased copy of str in s. */
char *sp_lower(struct snapshot *s, const char *str);
char *sp_upper(struct snapshot *s, const char *str);

/* An Istio StringMatch into m (a regex is compiled in place); 0 or -1. */
int sp_strmatch(struct snap_parse *c, json_t *v, struct snap_strmatch *m,
    int icase, const char *what);
/* Whether a gateways array (NULL, empty, or naming "mesh") binds sidecars. */
int sp_mesh_gateway(json_t *gateways);
/*
 * One HTTPMatchRequest into m: 0, 1 when it is for gateways only (to
 * skip), -1 on error (an unknown field too: it would narrow the match).
 */
int sp_match(
    struct snap_parse *c, json_t *j, struct snap_match *m, const char *what);
/* An Istio Headers column (text may be NULL) into req and resp ops. */
int sp_headers(struct snap_parse *c, const char *text, struct snap_hdr_ops *req,
    struct snap_hdr_ops *resp, const char *what);
/*
 * Applies TrafficPolicy tp on top of comps (the components it sets),
 * then its portLevelSettings entry for port (which replaces all four).
 */
int sp_policy_apply(struct snap_parse *c, json_t *tp, int port,
    struct snap_comps *comps, const char *what);
/* The effective components into p; *ring gets the minimum ring size. */
int sp_policy_parse(struct snap_parse *c, const struct snap_comps *k,
    struct snap_policy *p, size_t *ring, const char *what);
/* The retries, fault and rewrite columns (text may be NULL) into r. */
int sp_retries(struct snap_parse *c, struct snap_route *r, const char *text);
int sp_fault(struct snap_parse *c, struct snap_route *r, const char *text);
int sp_rewrite(struct snap_parse *c, struct snap_route *r, const char *text);

#endif
