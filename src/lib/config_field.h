/*
 * Checks of configuration fields, shared by the config_<kind>.c modules:
 * a context that knows where in which document it is (so that every
 * error names its field as a dotted path such as
 * "spec.http[0].route[1].weight"), field tables that refuse unknown and
 * unsupported fields, and the value checks (types, ranges, durations,
 * regular expressions, hosts, labels) Istio's validation makes.
 *
 * A check returns 0 when the value is good, -1 when it reported at least
 * one error through the context.
 */
#ifndef WEFT_CONFIG_FIELD_H
#define WEFT_CONFIG_FIELD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config_doc.h"

#define CONFIG_PATH_MAX 512

struct config_ctx {
	struct config_errors *errs;
	const char *file;
	int doc;
	const char *what;      /* "VirtualService/reviews" */
	const char *namespace; /* of the resource, for short host names */
	char path[CONFIG_PATH_MAX];
	size_t len;
	int nerrors; /* reported through this context */
};

/* Starts a context at field path root ("spec"). */
void config_ctx_init(struct config_ctx *ctx, struct config_errors *errs,
    const char *file, int doc, const char *what, const char *ns,
    const char *root);

/* Reports an error at the current field path. */
void config_error(struct config_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Descends into field key (or list index i) of the current path; returns
 * a mark for config_leave, which goes back up.
 */
size_t config_enter(struct config_ctx *ctx, const char *key);
size_t config_enter_index(struct config_ctx *ctx, size_t i);
void config_leave(struct config_ctx *ctx, size_t mark);

typedef int (*config_check_fn)(struct config_ctx *, json_t *);

/* One field of an object: a NULL check marks a field weft refuses. */
struct config_field {
	const char *name;
	config_check_fn check;
	int flags;
	const char *note; /* why a refused field is refused, or NULL */
};
#define CONFIG_REQUIRED 0x01

/*
 * Checks that v is an object whose fields are all in the table (ended
 * by a NULL name), runs each field's check, and reports the required
 * fields that are missing.
 */
int config_object(
    struct config_ctx *ctx, json_t *v, const struct config_field *fields);

/* "a string", "an integer", ... for error messages. */
const char *config_type_name(const json_t *v);

int config_string(struct config_ctx *ctx, json_t *v);
int config_nonempty_string(struct config_ctx *ctx, json_t *v);
int config_bool(struct config_ctx *ctx, json_t *v);
/* An integer between lo and hi. */
int config_int(struct config_ctx *ctx, json_t *v, int64_t lo, int64_t hi);
int config_uint32(struct config_ctx *ctx, json_t *v);
int config_nonneg_int32(struct config_ctx *ctx, json_t *v);
int config_port(struct config_ctx *ctx, json_t *v);
/* A list (non-empty if nonempty) whose items pass item. */
int config_list(
    struct config_ctx *ctx, json_t *v, config_check_fn item, int nonempty);
int config_string_list(struct config_ctx *ctx, json_t *v);
/*
 * A list as config_list() whose string items are also unique; a repeat
 * is reported at its index as "duplicate <what> \"item\"".
 */
int config_unique_list(struct config_ctx *ctx, json_t *v, config_check_fn item,
    int nonempty, const char *what);
/* An object used as a map: keys pass key (may be NULL), values value. */
int config_map(struct config_ctx *ctx, json_t *v,
    int (*key)(struct config_ctx *, const char *), config_check_fn value);

/* A string among values (a NULL-terminated list). */
int config_enum(struct config_ctx *ctx, json_t *v, const char *const *values);

/*
 * A duration as Istio reads one (Go syntax: "500ms", "1.5s", "1m",
 * "1h30m"), at least 1ms and in whole milliseconds; *ms may be NULL.
 */
int config_duration(struct config_ctx *ctx, json_t *v, int64_t *ms);
/*
 * Parses duration s as config_duration does, without the 1ms minimum.
 * Returns 0, -1 on bad syntax, -2 when not in whole milliseconds.
 */
int config_duration_parse(const char *s, int64_t *ms);

/* Istio's Percent, {value: N}: 0, or from 0.0001 to 100. */
int config_percent(struct config_ctx *ctx, json_t *v);

/*
 * A regular expression for the proxy's matcher: non-empty, at most 1024
 * bytes, compiled by POSIX regcomp() with REG_EXTENDED, without the
 * RE2-only syntax that POSIX would read differently (\d, (?i)...).
 */
int config_regex(struct config_ctx *ctx, json_t *v);

/* StringMatch: exactly one of exact, prefix, regex. */
#define CONFIG_MATCH_PRESENCE     0x01 /* {} matches any value */
#define CONFIG_MATCH_EMPTY_PREFIX 0x02 /* prefix "" allowed (uri) */
int config_strmatch(struct config_ctx *ctx, json_t *v, int flags);

/* Kubernetes label maps: qualified keys, values of up to 63 characters. */
int config_labels(struct config_ctx *ctx, json_t *v);

/* metadata.annotations: keys as label keys, any string values. */
int config_annotations(struct config_ctx *ctx, json_t *v);

/* Istio's WorkloadSelector, {matchLabels: {...}} (labels as above). */
int config_selector(struct config_ctx *ctx, json_t *v);
/*
 * The selector.matchLabels of a checked spec (a new reference), or NULL
 * when it has none or they are empty: every workload of the namespace.
 */
json_t *config_selector_labels(const json_t *spec);

/* A boolean as Go's strconv.ParseBool reads one: 1, 0, or -1. */
int config_bool_word(const char *s);

/* A list of strings that are not empty (Istio's CheckEmptyValues). */
int config_nonempty_strings(struct config_ctx *ctx, json_t *v);
/* A string that is an HTTP field name. */
int config_header_name(struct config_ctx *ctx, json_t *v);

/* Host names */
#define CONFIG_HOST_WILDCARD 0x01 /* "*.example.com" */
#define CONFIG_HOST_STAR     0x02 /* "*" alone */
#define CONFIG_HOST_IP       0x04 /* an IPv4 or IPv6 address */
int config_host(struct config_ctx *ctx, json_t *v, int flags);
int config_host_valid(const char *s, int flags);

int config_dns_label(const char *s);     /* RFC 1123 label, lower case */
int config_dns_subdomain(const char *s); /* RFC 1123 subdomain */

/*
 * Labels as programs take them on their command line ("k=v,k2=v2") as a
 * JSON object (new reference); NULL with *cause set ("expected k=v,...
 * at \"x\"") when an item has no "=" or no key.
 */
json_t *config_labels_arg(const char *s, char **cause);
int config_ip_valid(const char *s);
int config_cidr_valid(const char *s); /* an address, or address/length */
/* An HTTP field name (RFC 9110 token). */
int config_header_name_valid(const char *s);

/* exportTo: "*" or "." (stored; all configuration is visible). */
int config_export_to(struct config_ctx *ctx, json_t *v);

/*
 * The fully qualified form of host as written in namespace ns: a short
 * name ("reviews") becomes "reviews.NS.svc.cluster.local", other names
 * are kept; lower-cased. Returns an allocated string.
 */
char *config_host_fqdn(const char *host, const char *ns);

/*
 * Whether host name pattern (fully qualified, possibly "*.suffix" or
 * "*") covers fully qualified host h.
 */
int config_host_covers(const char *pattern, const char *h);

#endif
