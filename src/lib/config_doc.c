#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_authorizationpolicy.h"
#include "config_destinationrule.h"
#include "config_doc.h"
#include "config_field.h"
#include "config_peerauthentication.h"
#include "config_ratelimit.h"
#include "config_requestauthentication.h"
#include "config_serviceentry.h"
#include "config_virtualservice.h"
#include "config_workloadentry.h"
#include "xmalloc.h"
#include "yaml_doc.h"

#define CONFIG_NETWORKING "networking.istio.io"
#define CONFIG_SECURITY   "security.istio.io"
#define CONFIG_WEFT       "weft.io"

/* The versions of each group that weft reads (all the same). */
static const char *const config_networking_versions[] = {
    "v1", "v1beta1", "v1alpha3", NULL};
static const char *const config_security_versions[] = {"v1", "v1beta1", NULL};
static const char *const config_weft_versions[] = {"v1", NULL};

static const struct config_kind_info config_kinds[CONFIG_NKINDS] = {
    [CONFIG_SERVICE_ENTRY] = {"ServiceEntry", CONFIG_NETWORKING, "serviceentry",
	"serviceentries", "se", config_networking_versions},
    [CONFIG_WORKLOAD_ENTRY] = {"WorkloadEntry", CONFIG_NETWORKING,
	"workloadentry", "workloadentries", "we", config_networking_versions},
    [CONFIG_DESTINATION_RULE] = {"DestinationRule", CONFIG_NETWORKING,
	"destinationrule", "destinationrules", "dr",
	config_networking_versions},
    [CONFIG_VIRTUAL_SERVICE] = {"VirtualService", CONFIG_NETWORKING,
	"virtualservice", "virtualservices", "vs", config_networking_versions},
    [CONFIG_PEER_AUTHENTICATION] = {"PeerAuthentication", CONFIG_SECURITY,
	"peerauthentication", "peerauthentications", "pa",
	config_security_versions},
    [CONFIG_REQUEST_AUTHENTICATION] = {"RequestAuthentication", CONFIG_SECURITY,
	"requestauthentication", "requestauthentications", "ra",
	config_security_versions},
    [CONFIG_AUTHORIZATION_POLICY] = {"AuthorizationPolicy", CONFIG_SECURITY,
	"authorizationpolicy", "authorizationpolicies", "ap",
	config_security_versions},
    [CONFIG_RATE_LIMIT] = {"RateLimit", CONFIG_WEFT, "ratelimit", "ratelimits",
	"rl", config_weft_versions},
};

const struct config_kind_info *
config_kind_info(enum config_kind kind)
{
	return &config_kinds[kind];
}

/* word is name, or name.group */
static int
config_kind_word(const char *word, const char *name, const char *group)
{
	size_t n = strlen(name);

	if (strcasecmp(word, name) == 0)
		return 1;
	return strncasecmp(word, name, n) == 0 && word[n] == '.' &&
	    strcasecmp(word + n + 1, group) == 0;
}

int
config_kind_parse(const char *word, enum config_kind *kind)
{
	const struct config_kind_info *k;
	size_t i;

	for (i = 0; i < CONFIG_NKINDS; i++) {
		k = &config_kinds[i];
		if (config_kind_word(word, k->kind, k->group) ||
		    config_kind_word(word, k->singular, k->group) ||
		    config_kind_word(word, k->plural, k->group) ||
		    strcasecmp(word, k->shortname) == 0) {
			*kind = (enum config_kind)i;
			return 0;
		}
	}
	return -1;
}

int
config_kind_lookup(const char *name, enum config_kind *kind)
{
	size_t i;

	for (i = 0; i < CONFIG_NKINDS; i++) {
		if (strcmp(name, config_kinds[i].kind) == 0) {
			*kind = (enum config_kind)i;
			return 0;
		}
	}
	return -1;
}

/* Errors */

static char *
config_strdup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void
config_errors_add(struct config_errors *errs, const char *file, int doc,
    const char *what, const char *field, const char *fmt, ...)
{
	struct config_error *v, *e;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v = realloc(errs->v, (errs->n + 1) * sizeof(*errs->v));
	if (v == NULL)
		abort();
	errs->v = v;
	e = &errs->v[errs->n++];
	e->file = config_strdup_or_null(file);
	e->doc = doc;
	e->what = config_strdup_or_null(what);
	e->field = config_strdup_or_null(field);
	e->reason = xstrdup(msg);
}

void
config_errors_clear(struct config_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++) {
		free(errs->v[i].file);
		free(errs->v[i].what);
		free(errs->v[i].field);
		free(errs->v[i].reason);
	}
	free(errs->v);
	errs->v = NULL;
	errs->n = 0;
}

char *
config_error_string(const struct config_error *e)
{
	char *s, where[64] = "";

	if (e->file != NULL)
		snprintf(where, sizeof(where), "%d: ", e->doc);
	xasprintf(&s, "%s%s%s%s%s%s%s", e->file != NULL ? e->file : "",
	    e->file != NULL ? ":" : "", where, e->what != NULL ? e->what : "",
	    e->what != NULL ? ": " : "", e->field != NULL ? e->field : "",
	    e->field != NULL ? ": " : "");
	s = realloc(s, strlen(s) + strlen(e->reason) + 1);
	if (s == NULL)
		abort();
	strcat(s, e->reason);
	return s;
}

/* Documents */

char *
config_resource_what(enum config_kind kind, const char *name)
{
	char *s;

	xasprintf(&s, "%s/%s", config_kinds[kind].kind, name);
	return s;
}

static int
config_any(struct config_ctx *ctx, json_t *v)
{
	return 0;
}

static int
config_metadata_name(struct config_ctx *ctx, json_t *v)
{
	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	if (config_dns_subdomain(json_string_value(v)))
		return 0;
	config_error(ctx,
	    "invalid name \"%s\" (lower case letters, digits, '-' and '.', "
	    "at most 253)",
	    json_string_value(v));
	return -1;
}

static int
config_metadata_namespace(struct config_ctx *ctx, json_t *v)
{
	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	if (config_dns_label(json_string_value(v)))
		return 0;
	config_error(ctx,
	    "invalid namespace \"%s\" (lower case letters, digits and '-', "
	    "at most 63)",
	    json_string_value(v));
	return -1;
}

#define CONFIG_META_NOTE                                                       \
	"weft keeps only metadata.name, metadata.namespace and "               \
	"metadata.annotations"

static int
config_metadata(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"name", config_metadata_name, CONFIG_REQUIRED, NULL},
	    {"namespace", config_metadata_namespace, 0, NULL},
	    {"labels", NULL, 0, CONFIG_META_NOTE},
	    {"annotations", config_annotations, 0, NULL},
	    {"generateName", NULL, 0, CONFIG_META_NOTE},
	    {"uid", NULL, 0, CONFIG_META_NOTE},
	    {"resourceVersion", NULL, 0, CONFIG_META_NOTE},
	    {"generation", NULL, 0, CONFIG_META_NOTE},
	    {"creationTimestamp", NULL, 0, CONFIG_META_NOTE},
	    {"deletionTimestamp", NULL, 0, CONFIG_META_NOTE},
	    {"deletionGracePeriodSeconds", NULL, 0, CONFIG_META_NOTE},
	    {"ownerReferences", NULL, 0, CONFIG_META_NOTE},
	    {"finalizers", NULL, 0, CONFIG_META_NOTE},
	    {"managedFields", NULL, 0, CONFIG_META_NOTE},
	    {"selfLink", NULL, 0, CONFIG_META_NOTE},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_spec_object(struct config_ctx *ctx, json_t *v)
{
	if (json_is_object(v))
		return 0;
	config_error(ctx, "must be an object, not %s", config_type_name(v));
	return -1;
}

static const struct config_field config_top_fields[] = {
    {"apiVersion", config_any, CONFIG_REQUIRED, NULL},
    {"kind", config_any, CONFIG_REQUIRED, NULL},
    {"metadata", config_metadata, CONFIG_REQUIRED, NULL},
    {"spec", config_spec_object, CONFIG_REQUIRED, NULL},
    {"status", NULL, 0, "status is kept by the mesh, not applied"},
    {NULL, NULL, 0, NULL},
};

/* apiVersion must be the kind's group / one of its versions. */
static int
config_api_version(struct config_ctx *ctx, json_t *doc, enum config_kind kind)
{
	const struct config_kind_info *k = &config_kinds[kind];
	const char *api, *slash;
	json_t *v = json_object_get(doc, "apiVersion");
	char use[128];
	size_t mark, i, n, glen = strlen(k->group);

	if (v == NULL)
		return -1; /* reported as missing */
	mark = config_enter(ctx, "apiVersion");
	if (config_string(ctx, v) == -1) {
		config_leave(ctx, mark);
		return -1;
	}
	api = json_string_value(v);
	slash = strchr(api, '/');
	if (slash != NULL && (size_t)(slash - api) == glen &&
	    strncmp(api, k->group, glen) == 0) {
		for (i = 0; k->versions[i] != NULL; i++) {
			if (strcmp(slash + 1, k->versions[i]) == 0) {
				config_leave(ctx, mark);
				return 0;
			}
		}
	}
	/* "G/v1", "G/v1 or v1beta1", "G/v1, v1beta1 or v1alpha3" */
	for (n = 0; k->versions[n] != NULL; n++)
		;
	snprintf(use, sizeof(use), "%s/", k->group);
	for (i = 0; i < n; i++) {
		if (i > 0)
			strncat(use, i + 1 < n ? ", " : " or ",
			    sizeof(use) - strlen(use) - 1);
		strncat(use, k->versions[i], sizeof(use) - strlen(use) - 1);
	}
	config_error(
	    ctx, "\"%s\" is not supported for %s (use %s)", api, k->kind, use);
	config_leave(ctx, mark);
	return -1;
}

static void *
config_parse_spec(struct config_ctx *ctx, enum config_kind kind, json_t *spec)
{
	switch (kind) {
	case CONFIG_SERVICE_ENTRY:
		return config_se_parse(ctx, spec);
	case CONFIG_WORKLOAD_ENTRY:
		return config_we_parse(ctx, spec);
	case CONFIG_DESTINATION_RULE:
		return config_dr_parse(ctx, spec);
	case CONFIG_VIRTUAL_SERVICE:
		return config_vs_parse(ctx, spec);
	case CONFIG_PEER_AUTHENTICATION:
		return config_pa_parse(ctx, spec);
	case CONFIG_REQUEST_AUTHENTICATION:
		return config_ra_parse(ctx, spec);
	case CONFIG_AUTHORIZATION_POLICY:
		return config_ap_parse(ctx, spec);
	case CONFIG_RATE_LIMIT:
		return config_rl_parse(ctx, spec);
	}
	return NULL;
}

static void
config_free_parsed(enum config_kind kind, void *parsed)
{
	switch (kind) {
	case CONFIG_SERVICE_ENTRY:
		config_se_free(parsed);
		break;
	case CONFIG_WORKLOAD_ENTRY:
		config_workload_free(parsed);
		break;
	case CONFIG_DESTINATION_RULE:
		config_dr_free(parsed);
		break;
	case CONFIG_VIRTUAL_SERVICE:
		config_vs_free(parsed);
		break;
	case CONFIG_PEER_AUTHENTICATION:
		config_pa_free(parsed);
		break;
	case CONFIG_REQUEST_AUTHENTICATION:
		config_ra_free(parsed);
		break;
	case CONFIG_AUTHORIZATION_POLICY:
		config_ap_free(parsed);
		break;
	case CONFIG_RATE_LIMIT:
		config_rl_free(parsed);
		break;
	}
}

static void
config_resources_add(struct config_resources *rs, struct config_resource *r)
{
	struct config_resource **v;

	v = realloc(rs->v, (rs->n + 1) * sizeof(*rs->v));
	if (v == NULL)
		abort();
	rs->v = v;
	rs->v[rs->n++] = r;
}

/* One resource (a document, or an item of a List at path root). */
static void
config_item(json_t *doc, const char *file, int docno, const char *root,
    const char *ns, int flags, struct config_resources *out,
    struct config_errors *errs)
{
	struct config_resource *r;
	struct config_ctx ctx;
	enum config_kind kind = CONFIG_SERVICE_ENTRY;
	json_t *kindv, *meta, *api, *spec, *annotations = NULL;
	const char *kindname, *name = NULL, *docns = NULL;
	char *what;
	void *parsed = NULL;
	size_t mark;
	int dry_run = 0;

	kindv = json_object_get(doc, "kind");
	kindname = json_string_value(kindv);
	meta = json_object_get(doc, "metadata");
	if (json_is_object(meta)) {
		name = json_string_value(json_object_get(meta, "name"));
		docns = json_string_value(json_object_get(meta, "namespace"));
		annotations = json_object_get(meta, "annotations");
		if (!json_is_object(annotations) ||
		    json_object_size(annotations) == 0)
			annotations = NULL;
	}
	xasprintf(&what, "%s/%s", kindname != NULL ? kindname : "?",
	    name != NULL && *name != '\0' ? name : "?");
	config_ctx_init(&ctx, errs, file, docno, what, NULL, root);

	if (kindname != NULL && config_kind_lookup(kindname, &kind) == -1) {
		api = json_object_get(doc, "apiVersion");
		mark = config_enter(&ctx, "kind");
		if (json_is_string(api))
			config_error(&ctx, "%s (%s) is not supported", kindname,
			    json_string_value(api));
		else
			config_error(&ctx, "%s is not supported", kindname);
		config_leave(&ctx, mark);
		goto out;
	}
	if (kindv != NULL && kindname == NULL) {
		mark = config_enter(&ctx, "kind");
		config_error(
		    &ctx, "must be a string, not %s", config_type_name(kindv));
		config_leave(&ctx, mark);
	}
	config_object(&ctx, doc, config_top_fields);
	if (kindname == NULL || config_api_version(&ctx, doc, kind) == -1)
		goto out;
	if (kind == CONFIG_AUTHORIZATION_POLICY && annotations != NULL) {
		mark = config_enter(&ctx, "metadata");
		config_enter(&ctx, "annotations");
		dry_run = config_ap_dry_run(&ctx, annotations);
		config_leave(&ctx, mark);
	}
	if (ns != NULL && docns != NULL && strcmp(ns, docns) != 0) {
		mark = config_enter(&ctx, "metadata");
		config_enter(&ctx, "namespace");
		config_error(&ctx,
		    "namespace \"%s\" does not match the namespace requested "
		    "(\"%s\")",
		    docns, ns);
		config_leave(&ctx, mark);
	}
	if (docns == NULL)
		docns = ns != NULL ? ns : CONFIG_DEFAULT_NAMESPACE;
	ctx.namespace = docns;
	spec = json_object_get(doc, "spec");
	/* The spec is checked even after envelope errors: all are told. */
	if (!(flags & CONFIG_ENVELOPE_ONLY) && json_is_object(spec)) {
		mark = config_enter(&ctx, "spec");
		parsed = config_parse_spec(&ctx, kind, spec);
		config_leave(&ctx, mark);
	}
	if (ctx.nerrors > 0) {
		config_free_parsed(kind, parsed);
		goto out;
	}
	r = xcalloc(1, sizeof(*r));
	r->kind = kind;
	r->api_version =
	    xstrdup(json_string_value(json_object_get(doc, "apiVersion")));
	r->namespace = xstrdup(docns);
	r->name = xstrdup(name);
	r->spec = json_incref(spec);
	r->annotations = json_incref(annotations);
	r->file = xstrdup(file);
	r->doc = docno;
	r->root = xstrdup(root);
	switch (kind) {
	case CONFIG_SERVICE_ENTRY:
		r->u.se = parsed;
		break;
	case CONFIG_WORKLOAD_ENTRY:
		r->u.we = parsed;
		break;
	case CONFIG_DESTINATION_RULE:
		r->u.dr = parsed;
		break;
	case CONFIG_VIRTUAL_SERVICE:
		r->u.vs = parsed;
		break;
	case CONFIG_PEER_AUTHENTICATION:
		r->u.pa = parsed;
		break;
	case CONFIG_REQUEST_AUTHENTICATION:
		r->u.ra = parsed;
		break;
	case CONFIG_AUTHORIZATION_POLICY:
		r->u.ap = parsed;
		if (r->u.ap != NULL)
			r->u.ap->dry_run = dry_run;
		break;
	case CONFIG_RATE_LIMIT:
		r->u.rl = parsed;
		break;
	}
	config_resources_add(out, r);
out:
	free(what);
}

static int
config_list_api_version(struct config_ctx *ctx, json_t *v)
{
	if (config_string(ctx, v) == -1)
		return -1;
	if (strcmp(json_string_value(v), "v1") == 0)
		return 0;
	config_error(ctx, "must be \"v1\" for a List");
	return -1;
}

static int
config_list_metadata(struct config_ctx *ctx, json_t *v)
{
	if (json_is_object(v))
		return 0;
	config_error(ctx, "must be an object, not %s", config_type_name(v));
	return -1;
}

static int
config_list_items(struct config_ctx *ctx, json_t *v)
{
	if (json_is_array(v))
		return 0;
	config_error(ctx, "must be a list, not %s", config_type_name(v));
	return -1;
}

/* kind: List, as kubectl get -o yaml writes several resources. */
static void
config_list_doc(json_t *doc, const char *file, int docno, const char *ns,
    int flags, struct config_resources *out, struct config_errors *errs)
{
	static const struct config_field fields[] = {
	    {"apiVersion", config_list_api_version, CONFIG_REQUIRED, NULL},
	    {"kind", config_any, CONFIG_REQUIRED, NULL},
	    {"metadata", config_list_metadata, 0, NULL},
	    {"items", config_list_items, CONFIG_REQUIRED, NULL},
	    {NULL, NULL, 0, NULL},
	};
	struct config_ctx ctx;
	json_t *items, *item;
	char root[32];
	size_t i, mark;

	config_ctx_init(&ctx, errs, file, docno, "List", NULL, "");
	if (config_object(&ctx, doc, fields) == -1)
		return;
	items = json_object_get(doc, "items");
	for (i = 0; i < json_array_size(items); i++) {
		item = json_array_get(items, i);
		snprintf(root, sizeof(root), "items[%zu]", i);
		mark = config_enter(&ctx, "items");
		config_enter_index(&ctx, i);
		if (!json_is_object(item))
			config_error(&ctx, "must be an object, not %s",
			    config_type_name(item));
		else if (json_is_string(json_object_get(item, "kind")) &&
		    strcmp(json_string_value(json_object_get(item, "kind")),
			"List") == 0)
			config_error(&ctx, "a List cannot hold a List");
		else
			config_item(
			    item, file, docno, root, ns, flags, out, errs);
		config_leave(&ctx, mark);
	}
}

int
config_document(json_t *doc, const char *file, int docno, const char *ns,
    int flags, struct config_resources *out, struct config_errors *errs)
{
	size_t before = errs->n;
	const char *kind;

	if (!json_is_object(doc)) {
		config_errors_add(errs, file, docno, NULL, NULL,
		    "a document must be an object, not %s",
		    config_type_name(doc));
		return 1;
	}
	kind = json_string_value(json_object_get(doc, "kind"));
	if (kind != NULL && strcmp(kind, "List") == 0)
		config_list_doc(doc, file, docno, ns, flags, out, errs);
	else
		config_item(doc, file, docno, "", ns, flags, out, errs);
	return (int)(errs->n - before);
}

void
config_resource_free(struct config_resource *r)
{
	if (r == NULL)
		return;
	config_free_parsed(r->kind, r->u.vs);
	free(r->api_version);
	free(r->namespace);
	free(r->name);
	json_decref(r->spec);
	json_decref(r->annotations);
	free(r->file);
	free(r->root);
	free(r);
}

void
config_resources_clear(struct config_resources *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		config_resource_free(rs->v[i]);
	free(rs->v);
	rs->v = NULL;
	rs->n = 0;
}

json_t *
config_resource_json(enum config_kind kind, const char *api_version,
    const char *ns, const char *name, json_t *annotations, json_t *spec)
{
	json_t *o, *meta;

	o = json_object();
	json_object_set_new(o, "apiVersion", json_string(api_version));
	json_object_set_new(o, "kind", json_string(config_kinds[kind].kind));
	meta = json_pack("{s:s, s:s}", "name", name, "namespace", ns);
	if (annotations != NULL)
		json_object_set(meta, "annotations", annotations);
	json_object_set_new(o, "metadata", meta);
	json_object_set(o, "spec", spec);
	return o;
}

char *
config_spec_dump(const json_t *spec)
{
	return json_dumps(spec,
	    JSON_COMPACT | JSON_ENCODE_ANY |
		JSON_REAL_PRECISION(YAML_DOC_REAL_PRECISION));
}

int
config_spec_equal(const char *stored, const json_t *spec)
{
	json_t *a, *b;
	char *s;
	int eq;

	if ((s = config_spec_dump(spec)) == NULL)
		return 0;
	a = json_loads(stored, JSON_DECODE_ANY, NULL);
	b = json_loads(s, JSON_DECODE_ANY, NULL);
	eq = a != NULL && b != NULL && json_equal(a, b);
	json_decref(a);
	json_decref(b);
	free(s);
	return eq;
}
