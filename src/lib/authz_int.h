/*
 * The compiled form of authorization policies, shared by authz.c (which
 * compiles specs and builds the per-workload indexes) and authz_match.c
 * (which evaluates requests). Not for use outside these two files.
 *
 * A policy is flat arrays: rules point at groups (the from and to
 * alternatives), groups and when clauses at tests, tests at values. A
 * test is one field of a source or operation, or one condition: it
 * passes when the request's attribute matches any of its values, or,
 * for a not-field, none of them.
 */
#ifndef WEFT_AUTHZ_INT_H
#define WEFT_AUTHZ_INT_H

#include <stddef.h>
#include <stdint.h>

#include "authz.h"

/* What a test looks at. */
enum authz_attr {
	AUTHZ_A_PRINCIPAL,       /* mTLS peer identity */
	AUTHZ_A_NAMESPACE,       /* the same, through Istio's ns regex */
	AUTHZ_A_SERVICE_ACCOUNT, /* the same, through Istio's sa regex */
	AUTHZ_A_TRUST_DOMAIN,    /* its part before the first '/' */
	AUTHZ_A_SOURCE_IP,
	AUTHZ_A_REMOTE_IP,
	AUTHZ_A_DEST_IP,
	AUTHZ_A_PORT,
	AUTHZ_A_SNI,
	/* From here on, HTTP only (see AUTHZ_A_HTTP). */
	AUTHZ_A_REQUEST_PRINCIPAL, /* JWT iss and sub, one value pair each */
	AUTHZ_A_HOST,
	AUTHZ_A_METHOD,
	AUTHZ_A_PATH,
	AUTHZ_A_HEADER,
	AUTHZ_A_CLAIM,
};
#define AUTHZ_A_HTTP AUTHZ_A_REQUEST_PRINCIPAL

/* How a value matches. */
enum authz_kind {
	AUTHZ_K_EXACT,
	AUTHZ_K_PREFIX,
	AUTHZ_K_SUFFIX,
	AUTHZ_K_NONEMPTY, /* "*" as Istio's regex ".+" */
	AUTHZ_K_PRESENT,  /* "*" of a header: present, even empty */
	AUTHZ_K_GLOB,     /* '*' any run, '?' any byte: Istio's regexes */
	AUTHZ_K_TEMPLATE, /* path template, {*} and {**} as 0x01, 0x02 */
	AUTHZ_K_CIDR,
	AUTHZ_K_PORT,
};

/* Path template operators, as stored in a template value. */
#define AUTHZ_TPL_ONE 0x01 /* {*}: one non-empty path segment */
#define AUTHZ_TPL_ANY 0x02 /* {**}: any run of segments, even none */

struct authz_val {
	uint8_t kind;
	uint8_t icase;  /* strings: compare ASCII case-insensitively */
	uint8_t family; /* CIDR: 4 or 6 */
	uint8_t plen;   /* CIDR: prefix length */
	uint16_t port;
	uint32_t len;
	uint32_t off;  /* in the pool, while compiling */
	const char *s; /* NUL-terminated, in the pool */
	uint8_t addr[16];
};

struct authz_test {
	uint8_t attr;
	uint8_t neg;       /* a not-field: passes when no value matches */
	uint32_t first, n; /* values (pairs for AUTHZ_A_REQUEST_PRINCIPAL) */
	/* AUTHZ_A_HEADER: the lower-case name; AUTHZ_A_CLAIM: the claim
	 * path, names[first .. first + n) of the policy. */
	uint32_t arg, narg;
	const char *name;
};

/*
 * What a test is called and holds in the spec, parallel to the tests,
 * to explain a failed one (authz_explain_nearest); never read by
 * authz_eval.
 */
struct authz_label {
	uint32_t nameoff, valsoff; /* in the pool, while compiling */
	const char *name; /* "from[0].source.principals", "when[1] KEY" */
	const char *vals; /* its values as written: "a, b" */
};

/* A source or an operation: all of its tests must pass. */
struct authz_group {
	uint32_t first, n;
};

struct authz_rule {
	uint32_t from_first, nfrom; /* groups; none: any source */
	uint32_t to_first, nto;     /* groups; none: any operation */
	uint32_t when_first, nwhen; /* tests, all must pass */
	int index;                  /* in spec.rules */
	int http_only;              /* uses an HTTP-only attribute */
	char *reason;               /* "allowed by ALLOW policy ..." */
};

struct authz_policy {
	enum authz_action action;
	int dry_run;
	char *ns, *name;

	char *pool;
	size_t poollen, poolcap;
	struct authz_val *vals;
	size_t nvals, capvals;
	struct authz_test *tests;
	size_t ntests, captests;
	struct authz_label *labels; /* parallel to tests */
	size_t nlabels, caplabels;
	struct authz_group *groups;
	size_t ngroups, capgroups;
	struct authz_rule *rules;
	size_t nrules, caprules;
	uint32_t *nameoffs; /* claim path names, while compiling */
	const char **names;
	size_t nnames, capnames;
};

/* One rule of a set, in the set's order (seq). */
struct authz_ref {
	const struct authz_policy *p;
	const struct authz_rule *r;
	uint32_t seq;
};

/* Rules found by an exact string the request must carry. */
struct authz_slot {
	const char *key; /* NULL: free slot */
	uint32_t len;
	uint32_t first, n; /* in refs, by seq */
	uint64_t hash;
};

struct authz_index {
	struct authz_slot *slots; /* power of two, or none */
	size_t nslots;
	struct authz_ref *refs;
	size_t nrefs;
	struct authz_ref *all; /* every ref of the index, by seq */
	size_t nall;
};

/*
 * The rules of one kind (enforced DENY, ...), each filed under one key:
 * an exact path, an exact peer principal, or a destination port that
 * the rule requires, or under "any" when it requires none of these.
 */
struct authz_list {
	size_t npolicies;
	struct authz_ref *any;
	size_t nany;
	uint16_t *ports; /* sorted, parallel to byport */
	struct authz_ref *byport;
	size_t nport;
	struct authz_index path;
	struct authz_index principal;
};

enum authz_class {
	AUTHZ_C_AUDIT,
	AUTHZ_C_DRY_DENY,
	AUTHZ_C_DENY,
	AUTHZ_C_DRY_ALLOW,
	AUTHZ_C_ALLOW,
	AUTHZ_C_COUNT,
};

struct authz_set {
	struct authz_policy **v;
	size_t n;
	struct authz_list lists[AUTHZ_C_COUNT];
};

/* Grows array v of n used and cap allocated items for one more item. */
#define AUTHZ_GROW(v, n, cap)                                                  \
	do {                                                                   \
		if ((n) == (cap)) {                                            \
			(cap) = (cap) == 0 ? 8 : (cap)*2;                      \
			(v) = xreallocarray((v), (cap), sizeof(*(v)));         \
		}                                                              \
	} while (0)

/* FNV-1a, for the index keys. */
uint64_t authz_hash(const char *s, size_t len);

#endif
