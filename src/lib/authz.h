/*
 * Istio AuthorizationPolicy evaluation (security.istio.io v1/v1beta1),
 * shared by weft-proxy (the inbound side of every request and
 * connection) and weftctl explain. Policies are compiled once, when a
 * policy snapshot is built; evaluation allocates nothing and runs no
 * SQL.
 *
 * Semantics (Istio's): CUSTOM is refused at apply time; DENY policies
 * are checked first, and any match denies; then, if at least one ALLOW
 * policy applies to the workload, the request must match one of them,
 * otherwise it is allowed. AUDIT policies never change the decision
 * (a match is reported). A policy whose spec has no rules (spec: {})
 * matches nothing: as an ALLOW policy it denies everything. A rule
 * matches when every one of its from, to and when parts matches: any
 * source of from, any operation of to, all conditions of when; within a
 * source or an operation every field given must match one of its values
 * and none of its not-values. Strings match exactly, by prefix ("abc*"),
 * by suffix ("*abc"), or "*" (present and non-empty). For opaque TCP
 * (not HTTP), a rule using HTTP-only fields (methods, paths, hosts,
 * requestPrincipals, request.* conditions) never matches in an ALLOW
 * policy, and in a DENY policy those fields are ignored (the rule is
 * more restrictive), as in Istio.
 */
#ifndef WEFT_AUTHZ_H
#define WEFT_AUTHZ_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum authz_action {
	AUTHZ_ALLOW,
	AUTHZ_DENY,
	AUTHZ_AUDIT,
};

/* One compiled policy; opaque. */
struct authz_policy;

/*
 * Compiles a policy from its spec as users write it (the JSON of the
 * AuthorizationPolicy's spec: action, rules, selector, ...; the
 * selector is the caller's business). ns and name name it in decisions
 * and errors. The spec was checked by weftctl (config_*.c) before it
 * was stored; still, anything this cannot enforce exactly (CUSTOM,
 * provider, unknown fields or condition keys, a bad CIDR) makes it
 * return NULL with *cause set, so that a proxy never enforces a policy
 * it misread.
 */
struct authz_policy *authz_compile(
    const json_t *spec, const char *ns, const char *name, char **cause);
void authz_policy_free(struct authz_policy *p);
enum authz_action authz_policy_action(const struct authz_policy *p);
const char *authz_policy_namespace(const struct authz_policy *p);
const char *authz_policy_name(const struct authz_policy *p);
/* Whether the policy's metadata carried istio.io/dry-run: "true". */
void authz_policy_set_dry_run(struct authz_policy *p, int dry_run);

/* The policies in force for one workload (and port): built once. */
struct authz_set;

/*
 * A set of the policies that apply to one workload, which takes
 * ownership of them. n may be 0 (everything is allowed).
 */
struct authz_set *authz_set_new(struct authz_policy **v, size_t n);
void authz_set_free(struct authz_set *s);
size_t authz_set_size(const struct authz_set *s);

/* What a request or a connection looks like to authorization. */
struct authz_request {
	int http; /* 0: opaque TCP */
	/* Peer identity from mTLS, "cluster.local/ns/NS/sa/SA" (no
	 * spiffe:// prefix, as Istio writes principals), or NULL. */
	const char *principal;
	const struct sockaddr *source; /* the peer's address */
	const struct sockaddr *remote; /* the original client (same as
					    source unless forwarded) */
	uint16_t port;                 /* destination port */
	/* HTTP only: */
	const char *method;
	size_t method_len;
	const char *path; /* without the query string */
	size_t path_len;
	const char *host; /* authority without the port */
	size_t host_len;
	/* Request header lookup; returns NULL when absent. */
	const char *(*header)(void *arg, const char *name, size_t *len);
	void *header_arg;
	/* From a valid JWT: "iss/sub" and the payload; NULL without one. */
	const char *request_principal;
	const json_t *claims;
	/* The original destination address (destination.ip), or NULL. */
	const struct sockaddr *destination;
	/* The server name of the peer's TLS ClientHello (connection.sni),
	 * or NULL: plaintext, or no SNI. */
	const char *sni;
	size_t sni_len;
};

struct authz_decision {
	int allowed;
	/* The policy and rule that decided (NULL policy: no ALLOW policy
	 * applies, or none matched; see reason). */
	const struct authz_policy *policy;
	int rule;           /* index in spec.rules, -1 if none */
	const char *reason; /* "denied by DENY policy ns/name rule 0",
				 "allowed by ALLOW policy ...", "no ALLOW
				 policy matched", "no ALLOW policy applies";
				 static or owned by the set */
	int dry_run_denied; /* a dry-run policy would have denied */
	/* The first AUDIT policy that matched (the request should be
	 * logged for audit), or NULL. */
	const struct authz_policy *audit;
	/*
	 * Filled by authz_explain_nearest() only, after "no ALLOW policy
	 * matched" (authz_eval() leaves nearest NULL, nearest_rule -1 and
	 * nearest_why empty): the ALLOW rule that came closest, and the
	 * first of its conditions the request failed, as
	 * "to[0].operation.methods: POST not in [GET]".
	 */
	const struct authz_policy *nearest;
	int nearest_rule; /* index in spec.rules, -1 if none */
	char nearest_why[256];
};

/*
 * Decides request r against the policies of s (s may be NULL: no
 * policy, allowed) and fills d, whose pointers stay valid as long as s.
 * Allocates nothing, takes no lock: any thread may evaluate a set.
 */
void authz_eval(const struct authz_set *s, const struct authz_request *r,
    struct authz_decision *d);

/*
 * After authz_eval() denied r because ALLOW policies apply and none
 * matched (d->allowed == 0, d->policy == NULL), finds the nearest ALLOW
 * rule: of the enforced ALLOW policies of s, in their order, the rule
 * that matched the most of its from, to and when parts and, within
 * them, of its fields (the first such rule on a tie); fills d's
 * nearest, nearest_rule and nearest_why with it and the first of its
 * conditions (from, to, when, in the order of the spec) that r failed.
 * An ALLOW policy without rules is nearest only if no policy has a
 * rule (nearest_rule -1). Does nothing for any other decision. Meant
 * for the denial path only: it walks every ALLOW rule, no index.
 */
void authz_explain_nearest(const struct authz_set *s,
    const struct authz_request *r, struct authz_decision *d);

/*
 * Writes into buf (of size len, always NUL-terminated) the explanation
 * of decision d as one line: its reason, then, when
 * authz_explain_nearest() filled it, "; nearest ALLOW rule: ns/name
 * rule N: WHY". The same text in weftctl explain and the proxy's logs.
 */
void authz_decision_text(const struct authz_decision *d, char *buf, size_t len);

#endif
