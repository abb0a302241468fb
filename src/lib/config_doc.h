/*
 * Mesh configuration documents, as users write them for weftctl apply
 * (and weft-server): the envelope common to every kind (apiVersion,
 * kind, metadata, spec, or a kind: List of them), the kinds weft
 * accepts, and the errors found, each reported as
 * "FILE:DOC: Kind/name: field: reason". Each kind's spec is checked and
 * normalized by its own config_<kind>.c. Nothing here touches a
 * database: the callers write what these modules produce.
 */
#ifndef WEFT_CONFIG_DOC_H
#define WEFT_CONFIG_DOC_H

#include <stddef.h>

#include <jansson.h>

enum config_kind {
	CONFIG_SERVICE_ENTRY = 0,
	CONFIG_WORKLOAD_ENTRY,
	CONFIG_DESTINATION_RULE,
	CONFIG_VIRTUAL_SERVICE,
	CONFIG_PEER_AUTHENTICATION,
	CONFIG_REQUEST_AUTHENTICATION,
	CONFIG_AUTHORIZATION_POLICY,
	CONFIG_RATE_LIMIT,
};
/* In this order: what a resource refers to comes before it. */
#define CONFIG_NKINDS 8

#define CONFIG_DEFAULT_NAMESPACE "default"

struct config_kind_info {
	const char *kind;      /* "VirtualService" */
	const char *group;     /* "networking.istio.io" */
	const char *singular;  /* "virtualservice" */
	const char *plural;    /* "virtualservices" */
	const char *shortname; /* "vs" */
	/* The versions of group read (all alike), newest first; NULL-ended. */
	const char *const *versions;
};

const struct config_kind_info *config_kind_info(enum config_kind kind);

/*
 * Parses a kind as users name it on a command line: "VirtualService",
 * "virtualservice(s)", "vs", "virtualservices.networking.istio.io"
 * (any case). Returns 0, or -1 if it names no kind weft stores.
 */
int config_kind_parse(const char *word, enum config_kind *kind);

/* The kind of a stored "kind" column ("VirtualService"), or -1. */
int config_kind_lookup(const char *name, enum config_kind *kind);

struct config_error {
	char *file;  /* NULL: not from a file (weftctl delete KIND NAME) */
	int doc;     /* 1-based document number in file */
	char *what;  /* "VirtualService/reviews", or NULL */
	char *field; /* "spec.http[0].timeout", or NULL */
	char *reason;
};

struct config_errors {
	struct config_error *v;
	size_t n;
};

/* Appends an error; file, what and field may be NULL. */
void config_errors_add(struct config_errors *errs, const char *file, int doc,
    const char *what, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void config_errors_clear(struct config_errors *errs);

/*
 * The error as one line (no newline): "FILE:DOC: what: field: reason",
 * leaving out the parts that are NULL. Returns an allocated string.
 */
char *config_error_string(const struct config_error *e);

struct config_vs;
struct config_dr;
struct config_se;
struct config_workload;
struct config_pa;
struct config_ra;
struct config_ap;
struct config_rl;

/* One resource of a document, checked and normalized. */
struct config_resource {
	enum config_kind kind;
	char *api_version;
	char *namespace;
	char *name;
	json_t *spec; /* as given (a reference) */
	/* metadata.annotations as given (a reference), NULL when none */
	json_t *annotations;
	char *file; /* where it came from, for errors */
	int doc;
	char *root; /* its field path in the document: "" or "items[N]" */
	union {
		struct config_se *se;
		struct config_workload *we;
		struct config_dr *dr;
		struct config_vs *vs;
		struct config_pa *pa;
		struct config_ra *ra;
		struct config_ap *ap;
		struct config_rl *rl;
	} u; /* all NULL with CONFIG_ENVELOPE_ONLY */
};

struct config_resources {
	struct config_resource **v;
	size_t n;
};

/* Check only apiVersion, kind and metadata (weftctl delete -f). */
#define CONFIG_ENVELOPE_ONLY 0x01

/*
 * Checks document doc (number docno of file) and appends the resources
 * it holds to out: one, or the items of a kind: List. Resources without
 * metadata.namespace go to ns, or "default" when ns is NULL; with ns
 * set, a resource of another namespace is an error (kubectl apply -n).
 * Errors go to errs. Returns the number of errors found (0: all good).
 */
int config_document(json_t *doc, const char *file, int docno, const char *ns,
    int flags, struct config_resources *out, struct config_errors *errs);

void config_resource_free(struct config_resource *r);
void config_resources_clear(struct config_resources *rs);

/* "VirtualService/reviews", allocated. */
char *config_resource_what(enum config_kind kind, const char *name);

/*
 * The resource as users write it: apiVersion, kind, metadata (name,
 * namespace, and annotations unless NULL) and spec (new references
 * taken). Returns a new object.
 */
json_t *config_resource_json(enum config_kind kind, const char *api_version,
    const char *ns, const char *name, json_t *annotations, json_t *spec);

/*
 * spec as stored in the policy DB: compact JSON, keys in the order
 * given, reals with YAML_DOC_REAL_PRECISION digits. Allocated; NULL
 * only when out of memory.
 */
char *config_spec_dump(const json_t *spec);

/*
 * Whether the stored spec text and spec hold the same value (key order
 * aside), as config_spec_dump writes it.
 */
int config_spec_equal(const char *stored, const json_t *spec);

#endif
