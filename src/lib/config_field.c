#include "config.h"

#include <sys/types.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_field.h"
#include "xmalloc.h"

#define CONFIG_REGEX_MAX 1024

void
config_ctx_init(struct config_ctx *ctx, struct config_errors *errs,
    const char *file, int doc, const char *what, const char *ns,
    const char *root)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->errs = errs;
	ctx->file = file;
	ctx->doc = doc;
	ctx->what = what;
	ctx->namespace = ns;
	snprintf(ctx->path, sizeof(ctx->path), "%s", root);
	ctx->len = strlen(ctx->path);
}

void
config_error(struct config_ctx *ctx, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_errors_add(ctx->errs, ctx->file, ctx->doc, ctx->what,
	    ctx->len > 0 ? ctx->path : NULL, "%s", msg);
	ctx->nerrors++;
}

/* Keys that are not plain words are written as ["key"]. */
static int
config_plain_key(const char *key)
{
	if (*key == '\0')
		return 0;
	for (; *key != '\0'; key++) {
		if (!isalnum((unsigned char)*key) && *key != '_' && *key != '-')
			return 0;
	}
	return 1;
}

size_t
config_enter(struct config_ctx *ctx, const char *key)
{
	size_t mark = ctx->len;
	int n;

	if (config_plain_key(key))
		n = snprintf(ctx->path + ctx->len, sizeof(ctx->path) - ctx->len,
		    "%s%s", ctx->len > 0 ? "." : "", key);
	else
		n = snprintf(ctx->path + ctx->len, sizeof(ctx->path) - ctx->len,
		    "[\"%s\"]", key);
	if (n > 0)
		ctx->len += (size_t)n;
	if (ctx->len >= sizeof(ctx->path))
		ctx->len = sizeof(ctx->path) - 1;
	return mark;
}

size_t
config_enter_index(struct config_ctx *ctx, size_t i)
{
	size_t mark = ctx->len;
	int n;

	n = snprintf(
	    ctx->path + ctx->len, sizeof(ctx->path) - ctx->len, "[%zu]", i);
	if (n > 0)
		ctx->len += (size_t)n;
	if (ctx->len >= sizeof(ctx->path))
		ctx->len = sizeof(ctx->path) - 1;
	return mark;
}

void
config_leave(struct config_ctx *ctx, size_t mark)
{
	ctx->len = mark;
	ctx->path[mark] = '\0';
}

const char *
config_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

static int
config_want(struct config_ctx *ctx, json_t *v, int ok, const char *want)
{
	if (ok)
		return 0;
	config_error(ctx, "must be %s, not %s", want, config_type_name(v));
	return -1;
}

int
config_object(
    struct config_ctx *ctx, json_t *v, const struct config_field *fields)
{
	const struct config_field *f;
	const char *key;
	void *it;
	size_t mark;
	int before = ctx->nerrors;

	if (config_want(ctx, v, json_is_object(v), "an object") == -1)
		return -1;
	for (it = json_object_iter(v); it != NULL;
	     it = json_object_iter_next(v, it)) {
		key = json_object_iter_key(it);
		for (f = fields; f->name != NULL; f++) {
			if (strcmp(f->name, key) == 0)
				break;
		}
		mark = config_enter(ctx, key);
		if (f->name == NULL)
			config_error(ctx, "unknown field");
		else if (f->check == NULL && f->note != NULL)
			config_error(ctx, "not supported: %s", f->note);
		else if (f->check == NULL)
			config_error(ctx, "not supported");
		else
			f->check(ctx, json_object_iter_value(it));
		config_leave(ctx, mark);
	}
	for (f = fields; f->name != NULL; f++) {
		if ((f->flags & CONFIG_REQUIRED) &&
		    json_object_get(v, f->name) == NULL) {
			mark = config_enter(ctx, f->name);
			config_error(ctx, "required");
			config_leave(ctx, mark);
		}
	}
	return ctx->nerrors == before ? 0 : -1;
}

int
config_string(struct config_ctx *ctx, json_t *v)
{
	return config_want(ctx, v, json_is_string(v), "a string");
}

int
config_nonempty_string(struct config_ctx *ctx, json_t *v)
{
	if (config_string(ctx, v) == -1)
		return -1;
	if (json_string_length(v) == 0) {
		config_error(ctx, "must not be empty");
		return -1;
	}
	return 0;
}

int
config_bool(struct config_ctx *ctx, json_t *v)
{
	return config_want(ctx, v, json_is_boolean(v), "a boolean");
}

int
config_int(struct config_ctx *ctx, json_t *v, int64_t lo, int64_t hi)
{
	json_int_t n;

	if (config_want(ctx, v, json_is_integer(v), "an integer") == -1)
		return -1;
	n = json_integer_value(v);
	if (n < lo || n > hi) {
		config_error(ctx,
		    "%" JSON_INTEGER_FORMAT " is out of range (%lld to %lld)",
		    n, (long long)lo, (long long)hi);
		return -1;
	}
	return 0;
}

int
config_uint32(struct config_ctx *ctx, json_t *v)
{
	return config_int(ctx, v, 0, UINT32_MAX);
}

int
config_nonneg_int32(struct config_ctx *ctx, json_t *v)
{
	return config_int(ctx, v, 0, INT32_MAX);
}

int
config_port(struct config_ctx *ctx, json_t *v)
{
	return config_int(ctx, v, 1, 65535);
}

int
config_list(
    struct config_ctx *ctx, json_t *v, config_check_fn item, int nonempty)
{
	size_t i, mark;
	int before = ctx->nerrors;

	if (config_want(ctx, v, json_is_array(v), "a list") == -1)
		return -1;
	if (nonempty && json_array_size(v) == 0) {
		config_error(ctx, "must not be empty");
		return -1;
	}
	for (i = 0; i < json_array_size(v); i++) {
		mark = config_enter_index(ctx, i);
		item(ctx, json_array_get(v, i));
		config_leave(ctx, mark);
	}
	return ctx->nerrors == before ? 0 : -1;
}

int
config_string_list(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_string, 0);
}

int
config_map(struct config_ctx *ctx, json_t *v,
    int (*key)(struct config_ctx *, const char *), config_check_fn value)
{
	void *it;
	size_t mark;
	int before = ctx->nerrors;

	if (config_want(ctx, v, json_is_object(v), "an object") == -1)
		return -1;
	for (it = json_object_iter(v); it != NULL;
	     it = json_object_iter_next(v, it)) {
		mark = config_enter(ctx, json_object_iter_key(it));
		if (key == NULL || key(ctx, json_object_iter_key(it)) == 0)
			value(ctx, json_object_iter_value(it));
		config_leave(ctx, mark);
	}
	return ctx->nerrors == before ? 0 : -1;
}

int
config_enum(struct config_ctx *ctx, json_t *v, const char *const *values)
{
	char list[256] = "";
	size_t i;

	if (config_string(ctx, v) == -1)
		return -1;
	for (i = 0; values[i] != NULL; i++) {
		if (strcmp(json_string_value(v), values[i]) == 0)
			return 0;
	}
	for (i = 0; values[i] != NULL; i++) {
		if (i > 0)
			strncat(list, ", ", sizeof(list) - strlen(list) - 1);
		strncat(list, values[i], sizeof(list) - strlen(list) - 1);
	}
	config_error(
	    ctx, "\"%s\" is not one of %s", json_string_value(v), list);
	return -1;
}

/* Durations */

int
config_duration_parse(const char *s, int64_t *ms)
{
	static const struct {
		const char *unit;
		long double ms;
	} units[] = {{"ns", 1e-6L}, {"us", 1e-3L}, {"\xc2\xb5s", 1e-3L},
	    {"\xce\xbcs", 1e-3L}, {"ms", 1}, {"s", 1000}, {"m", 60000},
	    {"h", 3600000}};
	long double total = 0, v, scale;
	size_t i, n, best;
	const char *p = s;

	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	if (*p == '\0')
		return -1;
	while (*p != '\0') {
		if (!isdigit((unsigned char)*p) && *p != '.')
			return -1;
		v = 0;
		n = 0;
		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (*p++ - '0');
			n++;
		}
		if (*p == '.') {
			p++;
			scale = 0.1L;
			while (isdigit((unsigned char)*p)) {
				v += scale * (*p++ - '0');
				scale /= 10;
				n++;
			}
		}
		if (n == 0)
			return -1;
		/* The longest unit that matches: "ms" before "m". */
		best = sizeof(units) / sizeof(units[0]);
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			if (strncmp(p, units[i].unit, strlen(units[i].unit)) ==
				0 &&
			    (best == sizeof(units) / sizeof(units[0]) ||
				strlen(units[i].unit) >
				    strlen(units[best].unit)))
				best = i;
		}
		if (best == sizeof(units) / sizeof(units[0]))
			return -1;
		total += v * units[best].ms;
		p += strlen(units[best].unit);
		if (total > 9e15L)
			return -1;
	}
	if (fabsl(total - roundl(total)) > 1e-6L)
		return -2;
	*ms = (int64_t)roundl(total);
	return 0;
}

int
config_duration(struct config_ctx *ctx, json_t *v, int64_t *ms)
{
	int64_t out;
	int rc;

	if (config_string(ctx, v) == -1)
		return -1;
	rc = config_duration_parse(json_string_value(v), &out);
	if (rc == -2) {
		config_error(ctx,
		    "duration \"%s\" is not in whole milliseconds",
		    json_string_value(v));
		return -1;
	}
	if (rc == -1) {
		config_error(ctx,
		    "invalid duration \"%s\" (use for example 500ms, 1.5s, "
		    "1m or 1h)",
		    json_string_value(v));
		return -1;
	}
	if (out < 1) {
		config_error(ctx, "duration must be at least 1ms");
		return -1;
	}
	if (ms != NULL)
		*ms = out;
	return 0;
}

static int
config_percent_value(struct config_ctx *ctx, json_t *v)
{
	double d;

	if (config_want(ctx, v, json_is_number(v), "a number") == -1)
		return -1;
	d = json_number_value(v);
	if (d < 0 || d > 100 || (d > 0 && d < 0.0001)) {
		config_error(
		    ctx, "%g is neither 0 nor between 0.0001 and 100", d);
		return -1;
	}
	return 0;
}

int
config_percent(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"value", config_percent_value, CONFIG_REQUIRED, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

/* Regular expressions */

/*
 * Escapes that RE2 (Istio's engine) reads as classes or specials but
 * POSIX does not: refused rather than silently matched differently.
 * Those kept are POSIX's own and glibc's \w \W \s \S \b \B \< \> \` \'.
 */
static int
config_regex_escape_ok(char c)
{
	return c != '\0' && strchr(".[]()*+?{}|^$\\/-wWsSbB<>`'", c) != NULL;
}

int
config_regex(struct config_ctx *ctx, json_t *v)
{
	const char *s, *p;
	char msg[256];
	regex_t re;
	int rc;

	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	s = json_string_value(v);
	if (strlen(s) > CONFIG_REGEX_MAX) {
		config_error(ctx, "regular expression longer than %d bytes",
		    CONFIG_REGEX_MAX);
		return -1;
	}
	for (p = s; *p != '\0'; p++) {
		if (*p == '\\') {
			if (!config_regex_escape_ok(p[1])) {
				config_error(ctx,
				    "invalid regular expression \"%s\": \\%c "
				    "is not a POSIX extended regular "
				    "expression escape",
				    s, p[1] != '\0' ? p[1] : ' ');
				return -1;
			}
			p++;
		} else if (p[0] == '(' && p[1] == '?') {
			config_error(ctx,
			    "invalid regular expression \"%s\": (?...) groups "
			    "and flags are not POSIX",
			    s);
			return -1;
		}
	}
	rc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &re, msg, sizeof(msg));
		config_error(
		    ctx, "invalid regular expression \"%s\": %s", s, msg);
		return -1;
	}
	regfree(&re);
	return 0;
}

int
config_strmatch(struct config_ctx *ctx, json_t *v, int flags)
{
	static const struct config_field fields[] = {
	    {"exact", config_string, 0, NULL},
	    {"prefix", config_string, 0, NULL},
	    {"regex", config_regex, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};
	json_t *prefix;
	size_t mark;

	if (config_object(ctx, v, fields) == -1)
		return -1;
	switch (json_object_size(v)) {
	case 0:
		if (flags & CONFIG_MATCH_PRESENCE)
			return 0;
		config_error(ctx, "must set one of exact, prefix or regex");
		return -1;
	case 1:
		break;
	default:
		config_error(
		    ctx, "only one of exact, prefix or regex may be set");
		return -1;
	}
	prefix = json_object_get(v, "prefix");
	if (prefix != NULL && json_string_length(prefix) == 0 &&
	    !(flags & CONFIG_MATCH_EMPTY_PREFIX)) {
		mark = config_enter(ctx, "prefix");
		config_error(ctx, "must not be empty");
		config_leave(ctx, mark);
		return -1;
	}
	return 0;
}

/* Names */

static int
config_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? of len bytes */
static int
config_dns_label_n(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63)
		return 0;
	if (!config_alnum_lower(s[0]) || !config_alnum_lower(s[len - 1]))
		return 0;
	for (i = 1; i + 1 < len; i++) {
		if (!config_alnum_lower(s[i]) && s[i] != '-')
			return 0;
	}
	return 1;
}

int
config_dns_label(const char *s)
{
	return config_dns_label_n(s, strlen(s));
}

int
config_dns_subdomain(const char *s)
{
	const char *dot;
	size_t len = strlen(s);

	if (len == 0 || len > 253)
		return 0;
	for (;;) {
		dot = strchr(s, '.');
		if (!config_dns_label_n(
			s, dot != NULL ? (size_t)(dot - s) : strlen(s)))
			return 0;
		if (dot == NULL)
			return 1;
		s = dot + 1;
	}
}

int
config_ip_valid(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1;
}

int
config_cidr_valid(const char *s)
{
	unsigned char buf[16];
	char addr[64], *end;
	const char *slash;
	long plen;
	int v6;

	slash = strchr(s, '/');
	if (slash == NULL)
		return config_ip_valid(s);
	if ((size_t)(slash - s) >= sizeof(addr))
		return 0;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, buf) == 1)
		v6 = 0;
	else if (inet_pton(AF_INET6, addr, buf) == 1)
		v6 = 1;
	else
		return 0;
	if (!isdigit((unsigned char)slash[1]))
		return 0;
	plen = strtol(slash + 1, &end, 10);
	return *end == '\0' && plen >= 0 && plen <= (v6 ? 128 : 32);
}

int
config_header_name_valid(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) &&
		    strchr("!#$%&'*+-.^_`|~", *s) == NULL)
			return 0;
	}
	return 1;
}

/*
 * As Istio's ValidateWildcardDomain: DNS labels, the first one possibly
 * "*"; a trailing dot is allowed; the last label is not all digits.
 */
int
config_host_valid(const char *s, int flags)
{
	const char *p, *dot, *last;
	size_t len = strlen(s), n;

	if ((flags & CONFIG_HOST_IP) && config_ip_valid(s))
		return 1;
	if (strcmp(s, "*") == 0)
		return (flags & CONFIG_HOST_STAR) != 0;
	if (len == 0 || len > 255)
		return 0;
	p = s;
	if (strncmp(p, "*.", 2) == 0) {
		if (!(flags & CONFIG_HOST_WILDCARD))
			return 0;
		p += 2;
	}
	if (*p == '\0')
		return 0;
	last = p;
	for (;;) {
		dot = strchr(p, '.');
		n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (n == 0 && dot == NULL && p != s)
			break; /* trailing dot */
		if (!config_dns_label_n(p, n))
			return 0;
		last = p;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	n = strcspn(last, ".");
	return strspn(last, "0123456789") < n;
}

int
config_host(struct config_ctx *ctx, json_t *v, int flags)
{
	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	if (config_host_valid(json_string_value(v), flags))
		return 0;
	if (strcmp(json_string_value(v), "*") == 0)
		config_error(ctx, "host \"*\" is not allowed here");
	else
		config_error(ctx,
		    "invalid host \"%s\" (a DNS name: lower case letters, "
		    "digits, '-' and '.'%s)",
		    json_string_value(v),
		    (flags & CONFIG_HOST_IP) ? ", or an IP address"
			: (flags & CONFIG_HOST_WILDCARD)
			? ", possibly starting with \"*.\""
			: "");
	return -1;
}

/* Labels */

static int
config_label_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63 */
static int
config_label_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63)
		return 0;
	if (!isalnum((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[len - 1]))
		return 0;
	for (i = 0; i < len; i++) {
		if (!config_label_char(s[i]))
			return 0;
	}
	return 1;
}

/* A Kubernetes qualified name: an optional DNS prefix and '/', a name. */
static int
config_qualified_name(const char *key)
{
	const char *slash = strchr(key, '/');
	char prefix[254];

	if (slash != NULL) {
		if ((size_t)(slash - key) >= sizeof(prefix))
			return 0;
		memcpy(prefix, key, (size_t)(slash - key));
		prefix[slash - key] = '\0';
		if (!config_dns_subdomain(prefix))
			return 0;
		key = slash + 1;
	}
	return config_label_name(key, strlen(key));
}

static int
config_label_key(struct config_ctx *ctx, const char *key)
{
	if (config_qualified_name(key))
		return 0;
	config_error(ctx,
	    "invalid label key (an optional DNS prefix and '/', then at most "
	    "63 letters, digits, '-', '_' or '.', starting and ending with a "
	    "letter or digit)");
	return -1;
}

static int
config_label_value(struct config_ctx *ctx, json_t *v)
{
	const char *s;

	if (config_string(ctx, v) == -1)
		return -1;
	s = json_string_value(v);
	if (*s == '\0' || config_label_name(s, strlen(s)))
		return 0;
	config_error(ctx,
	    "invalid label value \"%s\" (at most 63 letters, digits, '-', '_' "
	    "or '.', starting and ending with a letter or digit)",
	    s);
	return -1;
}

int
config_labels(struct config_ctx *ctx, json_t *v)
{
	return config_map(ctx, v, config_label_key, config_label_value);
}

static int
config_export_item(struct config_ctx *ctx, json_t *v)
{
	const char *s;

	if (config_string(ctx, v) == -1)
		return -1;
	s = json_string_value(v);
	if (strcmp(s, "*") == 0 || strcmp(s, ".") == 0)
		return 0;
	config_error(ctx,
	    "\"%s\" is not supported (only \"*\" and \".\"; weft makes all "
	    "configuration visible to the whole mesh)",
	    s);
	return -1;
}

int
config_unique_list(struct config_ctx *ctx, json_t *v, config_check_fn item,
    int nonempty, const char *what)
{
	size_t i, j, mark;

	if (config_list(ctx, v, item, nonempty) == -1)
		return -1;
	for (i = 0; i < json_array_size(v); i++) {
		for (j = 0; j < i; j++) {
			if (json_equal(
				json_array_get(v, i), json_array_get(v, j))) {
				mark = config_enter_index(ctx, i);
				config_error(ctx, "duplicate %s \"%s\"", what,
				    json_string_value(json_array_get(v, i)));
				config_leave(ctx, mark);
				return -1;
			}
		}
	}
	return 0;
}

int
config_export_to(struct config_ctx *ctx, json_t *v)
{
	size_t i, j;

	if (config_list(ctx, v, config_export_item, 0) == -1)
		return -1;
	for (i = 0; i < json_array_size(v); i++) {
		for (j = i + 1; j < json_array_size(v); j++) {
			if (json_equal(
				json_array_get(v, i), json_array_get(v, j))) {
				config_error(ctx, "duplicate entry \"%s\"",
				    json_string_value(json_array_get(v, i)));
				return -1;
			}
		}
	}
	if (json_array_size(v) > 1) {
		config_error(ctx, "cannot have both \"*\" and \".\"");
		return -1;
	}
	return 0;
}

char *
config_host_fqdn(const char *host, const char *ns)
{
	char *s, *p;

	if (strchr(host, '.') == NULL && strcmp(host, "*") != 0)
		xasprintf(&s, "%s.%s.svc.cluster.local", host, ns);
	else
		s = xstrdup(host);
	for (p = s; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (p > s && p[-1] == '.')
		p[-1] = '\0';
	return s;
}

int
config_host_covers(const char *pattern, const char *h)
{
	size_t pl, hl;

	if (strcmp(pattern, "*") == 0)
		return 1;
	if (strncmp(pattern, "*.", 2) != 0)
		return strcmp(pattern, h) == 0;
	pattern++; /* ".suffix" */
	pl = strlen(pattern);
	hl = strlen(h);
	return hl > pl && strcmp(h + hl - pl, pattern) == 0;
}

static int
config_annotation_key(struct config_ctx *ctx, const char *key)
{
	if (config_qualified_name(key))
		return 0;
	config_error(ctx,
	    "invalid annotation key (an optional DNS prefix and '/', then at "
	    "most 63 letters, digits, '-', '_' or '.', starting and ending "
	    "with a letter or digit)");
	return -1;
}

int
config_annotations(struct config_ctx *ctx, json_t *v)
{
	return config_map(ctx, v, config_annotation_key, config_string);
}

static int
config_match_labels(struct config_ctx *ctx, json_t *v)
{
	return config_labels(ctx, v);
}

int
config_selector(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"matchLabels", config_match_labels, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

json_t *
config_selector_labels(const json_t *spec)
{
	json_t *labels;

	labels =
	    json_object_get(json_object_get(spec, "selector"), "matchLabels");
	if (!json_is_object(labels) || json_object_size(labels) == 0)
		return NULL;
	return json_incref(labels);
}

int
config_bool_word(const char *s)
{
	static const char *const yes[] = {
	    "1", "t", "T", "TRUE", "true", "True", NULL};
	static const char *const no[] = {
	    "0", "f", "F", "FALSE", "false", "False", NULL};
	size_t i;

	for (i = 0; yes[i] != NULL; i++) {
		if (strcmp(s, yes[i]) == 0)
			return 1;
	}
	for (i = 0; no[i] != NULL; i++) {
		if (strcmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

int
config_nonempty_strings(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_nonempty_string, 0);
}

int
config_header_name(struct config_ctx *ctx, json_t *v)
{
	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	if (config_header_name_valid(json_string_value(v)))
		return 0;
	config_error(ctx, "invalid header name \"%s\"", json_string_value(v));
	return -1;
}

json_t *
config_labels_arg(const char *s, char **cause)
{
	json_t *o = json_object();
	const char *p = s != NULL ? s : "", *eq, *end;
	char *k;

	while (*p != '\0') {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL || eq == p) {
			xasprintf(cause, "expected k=v,... at \"%.*s\"",
			    (int)(end - p), p);
			json_decref(o);
			return NULL;
		}
		k = xstrdup(p);
		k[eq - p] = '\0';
		json_object_set_new(
		    o, k, json_stringn(eq + 1, (size_t)(end - eq - 1)));
		free(k);
		p = *end == ',' ? end + 1 : end;
	}
	return o;
}
