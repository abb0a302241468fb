/*
 * weftctl check: the report, and the analysis of a policy in the manner
 * of istioctl analyze. The checking code is the one apply runs
 * (config_document, config_refs_check): a policy that check passes is
 * one that apply would write again, and the messages are apply's.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config_field.h"
#include "config_refs.h"
#include "config_serviceentry.h"
#include "config_virtualservice.h"
#include "config_workloadentry.h"
#include "ctl_check.h"
#include "store_db.h"
#include "xmalloc.h"

/* Where certificates count as expiring soon. */
#define CHECK_CERT_SOON (7 * 24 * 3600)

void
check_report_init(struct check_report *r)
{
	memset(r, 0, sizeof(*r));
	r->groups = json_array();
}

void
check_report_clear(struct check_report *r)
{
	json_decref(r->groups);
	memset(r, 0, sizeof(*r));
}

void
check_group(struct check_report *r, const char *title)
{
	r->cur = json_array();
	json_array_append_new(r->groups,
	    json_pack("{s:s, s:O}", "categoryName", title, "checks", r->cur));
	json_decref(r->cur); /* the group holds it */
}

void
check_add(struct check_report *r, enum check_level level, const char *hint,
    const char *fmt, ...)
{
	static const char *const results[] = {
	    [CHECK_OK] = "success",
	    [CHECK_INFO] = "info",
	    [CHECK_WARN] = "warning",
	    [CHECK_FAIL] = "error",
	};
	json_t *c;
	va_list ap;
	char *text;

	if (r->cur == NULL)
		check_group(r, "weft");
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1)
		abort();
	va_end(ap);
	c = json_pack(
	    "{s:s, s:s}", "description", text, "result", results[level]);
	if (hint != NULL && level >= CHECK_WARN)
		json_object_set_new(c, "hint", json_string(hint));
	json_array_append_new(r->cur, c);
	free(text);
	switch (level) {
	case CHECK_OK:
		r->nok++;
		break;
	case CHECK_INFO:
		r->ninfo++;
		break;
	case CHECK_WARN:
		r->nwarn++;
		break;
	case CHECK_FAIL:
		r->nfail++;
		break;
	}
}

static const char *
check_symbol(const char *result)
{
	if (strcmp(result, "success") == 0)
		return "\u221a"; /* √ */
	if (strcmp(result, "warning") == 0)
		return "\u203c"; /* ‼ */
	if (strcmp(result, "error") == 0)
		return "\u00d7"; /* × */
	return "-";
}

void
check_report_print(const struct check_report *r, FILE *f, int json)
{
	const json_t *g, *c, *hint;
	size_t i, j, n;
	char *s;

	if (json) {
		g = json_pack("{s:b, s:O}", "success", r->nfail == 0,
		    "categories", r->groups);
		s = json_dumps(g, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s != NULL)
			fprintf(f, "%s\n", s);
		free(s);
		json_decref((json_t *)g);
		return;
	}
	json_array_foreach(r->groups, i, g)
	{
		const char *title =
		    json_string_value(json_object_get(g, "categoryName"));

		if (json_array_size(json_object_get(g, "checks")) == 0)
			continue;
		fprintf(f, "%s%s\n", i > 0 ? "\n" : "", title);
		for (n = strlen(title); n > 0; n--)
			fputc('-', f);
		fputc('\n', f);
		json_array_foreach(json_object_get(g, "checks"), j, c)
		{
			fprintf(f, "%s %s\n",
			    check_symbol(json_string_value(
				json_object_get(c, "result"))),
			    json_string_value(
				json_object_get(c, "description")));
			if ((hint = json_object_get(c, "hint")) != NULL)
				fprintf(f, "    hint: %s\n",
				    json_string_value(hint));
		}
	}
	fprintf(f, "\nStatus check results are %s\n",
	    r->nfail > 0 ? "\u00d7" : "\u221a");
}

/* One stored resource, read again as apply reads a document. */
void
check_policy_reparse(struct check_report *r, const struct store_db_rows *rows,
    struct config_resources *out)
{
	const struct store_db_row *row;
	struct config_errors errs = {NULL, 0};
	const struct config_error *e;
	size_t i, j, bad = 0;
	json_t *doc;

	for (i = 0; i < rows->n; i++) {
		row = &rows->v[i];
		doc = config_resource_json(row->kind, row->api_version,
		    row->namespace, row->name, row->annotations, row->spec);
		config_document(doc, "policy DB", 0, NULL, 0, out, &errs);
		json_decref(doc);
		for (j = 0; j < errs.n; j++) {
			e = &errs.v[j];
			check_add(r, CHECK_FAIL,
			    "this weftctl checks more than the one that "
			    "stored it: fix the resource and apply it again",
			    "stored %s %s/%s no longer passes: %s%s%s",
			    config_kind_info(row->kind)->kind, row->namespace,
			    row->name, e->field != NULL ? e->field : "",
			    e->field != NULL ? ": " : "", e->reason);
		}
		if (errs.n > 0)
			bad++;
		config_errors_clear(&errs);
	}
	if (bad == 0)
		check_add(r, CHECK_OK, NULL,
		    "%zu stored resources pass this weftctl's checks", rows->n);
}

/* Resources of stored that files do not replace, then those of files. */
static const struct config_resource **
check_policy_merge(const struct config_resources *stored,
    const struct config_resources *files, size_t *n, size_t *nstored)
{
	const struct config_resource **v, *s, *f;
	size_t i, j, total;

	total = stored->n + (files != NULL ? files->n : 0);
	v = xcalloc(total + 1, sizeof(*v));
	*n = 0;
	for (i = 0; i < stored->n; i++) {
		s = stored->v[i];
		for (j = 0; files != NULL && j < files->n; j++) {
			f = files->v[j];
			if (f->kind == s->kind &&
			    strcmp(f->namespace, s->namespace) == 0 &&
			    strcmp(f->name, s->name) == 0)
				break;
		}
		if (files == NULL || j == files->n)
			v[(*n)++] = s;
	}
	*nstored = *n;
	for (j = 0; files != NULL && j < files->n; j++)
		v[(*n)++] = files->v[j];
	return v;
}

static struct config_stored *
check_policy_stored(const struct config_resource *const *v, size_t n)
{
	struct config_stored *out;
	size_t i;

	out = xcalloc(n + 1, sizeof(*out));
	for (i = 0; i < n; i++) {
		out[i].kind = v[i]->kind;
		out[i].namespace = v[i]->namespace;
		out[i].name = v[i]->name;
		out[i].spec = v[i]->spec;
	}
	return out;
}

static void
check_policy_errors(
    struct check_report *r, const struct config_errors *errs, const char *hint)
{
	char *s;
	size_t i;

	for (i = 0; i < errs->n; i++) {
		s = config_error_string(&errs->v[i]);
		check_add(r, CHECK_FAIL, hint, "%s", s);
		free(s);
	}
}

void
check_policy_files(struct check_report *r,
    const struct config_resources *stored, const struct config_resources *files)
{
	const struct config_resource **all, **old;
	struct config_stored *before, *after;
	struct config_change *changes;
	struct config_errors errs = {NULL, 0};
	size_t n, ns, i;

	all = check_policy_merge(stored, files, &n, &ns);
	old = check_policy_merge(stored, NULL, &i, &i);
	before = check_policy_stored(old, stored->n);
	after = check_policy_stored(all, n);
	changes = xcalloc(files->n + 1, sizeof(*changes));
	for (i = 0; i < files->n; i++) {
		changes[i].kind = files->v[i]->kind;
		changes[i].namespace = files->v[i]->namespace;
		changes[i].name = files->v[i]->name;
		changes[i].file = files->v[i]->file;
		changes[i].doc = files->v[i]->doc;
		changes[i].root = files->v[i]->root;
	}
	config_refs_check(
	    before, stored->n, after, n, changes, files->n, &errs);
	check_policy_errors(r, &errs,
	    "apply would refuse these files: define the subsets, or keep "
	    "those in use");
	if (errs.n == 0)
		check_add(r, CHECK_OK, NULL,
		    "%zu resources of the files apply on this policy (dry run)",
		    files->n);
	config_errors_clear(&errs);
	free(changes);
	free(after);
	free(before);
	free(old);
	free(all);
}

/* Whether the stored subset references of v hold (apply's check). */
static void
check_policy_refs(struct check_report *r,
    const struct config_resource *const *v, size_t n, size_t nstored)
{
	struct config_stored *after;
	struct config_change *changes;
	struct config_errors errs = {NULL, 0};
	size_t i, nc = 0;

	after = check_policy_stored(v, n);
	changes = xcalloc(nstored + 1, sizeof(*changes));
	for (i = 0; i < nstored; i++) {
		if (v[i]->kind != CONFIG_VIRTUAL_SERVICE)
			continue;
		changes[nc].kind = v[i]->kind;
		changes[nc].namespace = v[i]->namespace;
		changes[nc].name = v[i]->name;
		changes[nc].root = "";
		nc++;
	}
	config_refs_check(NULL, 0, after, n, changes, nc, &errs);
	for (i = 0; i < errs.n; i++) {
		char *s = config_error_string(&errs.v[i]);

		check_add(r, CHECK_FAIL,
		    "define the subset in a DestinationRule for the host "
		    "(weftctl get dr -A), or route elsewhere",
		    "%s", s);
		free(s);
	}
	if (errs.n == 0)
		check_add(r, CHECK_OK, NULL, "subset references hold");
	config_errors_clear(&errs);
	free(changes);
	free(after);
}

/* Whether a ServiceEntry of v or a discovered service has host fqdn. */
static int
check_policy_host_known(const struct config_resource *const *v, size_t n,
    const struct check_facts *facts, const char *fqdn)
{
	const json_t *h;
	char *pat;
	size_t i, j;
	int ok;

	json_array_foreach(facts->hosts, j, h)
	{
		if (json_is_string(h) &&
		    config_host_covers(json_string_value(h), fqdn))
			return 1;
	}
	for (i = 0; i < n; i++) {
		if (v[i]->kind != CONFIG_SERVICE_ENTRY || v[i]->u.se == NULL)
			continue;
		json_array_foreach(v[i]->u.se->hosts, j, h)
		{
			pat = config_host_fqdn(
			    json_string_value(h), v[i]->namespace);
			ok = config_host_covers(pat, fqdn);
			free(pat);
			if (ok)
				return 1;
		}
	}
	return 0;
}

static void
check_policy_hosts(struct check_report *r,
    const struct config_resource *const *v, size_t n,
    const struct check_facts *facts)
{
	const struct config_vs *vs;
	const struct config_vs_dest *d;
	json_t *seen;
	size_t i, j, k, bad = 0;
	char *fqdn;

	for (i = 0; i < n; i++) {
		if (v[i]->kind != CONFIG_VIRTUAL_SERVICE ||
		    (vs = v[i]->u.vs) == NULL)
			continue;
		seen = json_object();
		for (j = 0; j < vs->nroutes; j++) {
			for (k = 0; k < vs->routes[j].ndests; k++) {
				d = &vs->routes[j].dests[k];
				fqdn =
				    config_host_fqdn(d->host, v[i]->namespace);
				if (json_object_get(seen, fqdn) == NULL &&
				    !check_policy_host_known(
					v, n, facts, fqdn)) {
					check_add(r, CHECK_FAIL,
					    "add a ServiceEntry for the host, "
					    "or fix the destination",
					    "VirtualService %s/%s: destination "
					    "host \"%s\" is not a known "
					    "service",
					    v[i]->namespace, v[i]->name,
					    d->host);
					bad++;
				}
				json_object_set_new(seen, fqdn, json_true());
				free(fqdn);
			}
		}
		json_decref(seen);
	}
	if (bad == 0)
		check_add(r, CHECK_OK, NULL,
		    "VirtualService destinations name known services");
}

static int
check_policy_selects(const json_t *sel, const json_t *labels)
{
	const char *key;
	const json_t *val, *have;

	json_object_foreach((json_t *)sel, key, val)
	{
		have = json_object_get(labels, key);
		if (!json_is_string(val) || !json_is_string(have) ||
		    strcmp(json_string_value(val), json_string_value(have)) !=
			0)
			return 0;
	}
	return 1;
}

/* Whether selector sel (in namespace ns) selects a workload. */
static int
check_policy_selected(const struct config_resource *const *v, size_t n,
    const struct check_facts *facts, const char *ns, const json_t *sel)
{
	const json_t *w;
	size_t i;

	json_array_foreach(facts->workloads, i, w)
	{
		if (strcmp(json_string_value(json_object_get(w, "namespace")),
			ns) == 0 &&
		    check_policy_selects(sel, json_object_get(w, "labels")))
			return 1;
	}
	for (i = 0; i < n; i++) {
		if (v[i]->kind == CONFIG_WORKLOAD_ENTRY && v[i]->u.we != NULL &&
		    strcmp(v[i]->namespace, ns) == 0 &&
		    check_policy_selects(sel, v[i]->u.we->labels))
			return 1;
	}
	return 0;
}

static void
check_policy_selectors(struct check_report *r,
    const struct config_resource *const *v, size_t n,
    const struct check_facts *facts)
{
	json_t *sel;
	size_t i, bad = 0;
	char *text;
	int field_se;

	for (i = 0; i < n; i++) {
		field_se = v[i]->kind == CONFIG_SERVICE_ENTRY;
		if (field_se)
			sel = v[i]->u.se != NULL
			    ? json_incref(v[i]->u.se->selector)
			    : NULL;
		else if (v[i]->kind == CONFIG_PEER_AUTHENTICATION ||
		    v[i]->kind == CONFIG_AUTHORIZATION_POLICY ||
		    v[i]->kind == CONFIG_RATE_LIMIT)
			sel = config_selector_labels(v[i]->spec);
		else
			continue;
		if (sel == NULL)
			continue;
		if (!check_policy_selected(v, n, facts, v[i]->namespace, sel)) {
			text = json_dumps(sel, JSON_COMPACT | JSON_SORT_KEYS);
			check_add(r, CHECK_WARN,
			    "start or register a workload with these labels "
			    "(weft-sync, a WorkloadEntry), or fix the selector",
			    "%s %s/%s: %s %s selects no workload",
			    config_kind_info(v[i]->kind)->kind, v[i]->namespace,
			    v[i]->name,
			    field_se ? "workloadSelector" : "selector",
			    text != NULL ? text : "?");
			free(text);
			bad++;
		}
		json_decref(sel);
	}
	if (bad == 0)
		check_add(
		    r, CHECK_OK, NULL, "every selector selects a workload");
}

/* Hosts and addresses that two ServiceEntries claim. */
static void
check_policy_claims(
    struct check_report *r, const struct config_resource *const *v, size_t n)
{
	json_t *hosts, *addrs, *set, *h, *owner;
	const char *what, *s;
	size_t i, j, bad = 0;
	char *key, name[300];
	int pass;

	hosts = json_object();
	addrs = json_object();
	for (i = 0; i < n; i++) {
		if (v[i]->kind != CONFIG_SERVICE_ENTRY || v[i]->u.se == NULL)
			continue;
		snprintf(
		    name, sizeof(name), "%s/%s", v[i]->namespace, v[i]->name);
		for (pass = 0; pass < 2; pass++) {
			set = pass == 0 ? v[i]->u.se->hosts
					: v[i]->u.se->addresses;
			what = pass == 0 ? "host" : "address";
			json_array_foreach(set, j, h)
			{
				s = json_string_value(h);
				if (s == NULL)
					continue;
				key = pass == 0
				    ? config_host_fqdn(s, v[i]->namespace)
				    : xstrdup(s);
				owner = json_object_get(
				    pass == 0 ? hosts : addrs, key);
				if (owner != NULL &&
				    strcmp(json_string_value(owner), name) !=
					0) {
					check_add(r, CHECK_WARN,
					    "keep one ServiceEntry per host "
					    "and address: the proxies pick "
					    "one of them",
					    "ServiceEntries %s and %s both "
					    "claim %s \"%s\"",
					    json_string_value(owner), name,
					    what, s);
					bad++;
				} else if (owner == NULL)
					json_object_set_new(
					    pass == 0 ? hosts : addrs, key,
					    json_string(name));
				free(key);
			}
		}
	}
	json_decref(hosts);
	json_decref(addrs);
	if (bad == 0)
		check_add(r, CHECK_OK, NULL,
		    "no host or address is claimed by two ServiceEntries");
}

static void
check_policy_certs(struct check_report *r, const struct check_facts *facts)
{
	const json_t *c;
	json_int_t until;
	size_t i, bad = 0;
	char when[32];
	struct tm tm;
	time_t t;

	json_array_foreach(facts->certs, i, c)
	{
		until = json_integer_value(json_object_get(c, "notAfter"));
		if (until - facts->now >= CHECK_CERT_SOON)
			continue;
		t = (time_t)until;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
		bad++;
		if (until < facts->now)
			check_add(r, CHECK_FAIL,
			    "the workload must renew it: check its weft-sync",
			    "certificate of %s expired at %s",
			    json_string_value(json_object_get(c, "spiffeId")),
			    when);
		else
			check_add(r, CHECK_WARN,
			    "the workload should renew it before: check its "
			    "weft-sync",
			    "certificate of %s expires within 7 days (%s)",
			    json_string_value(json_object_get(c, "spiffeId")),
			    when);
	}
	if (bad == 0 && json_array_size(facts->certs) > 0)
		check_add(r, CHECK_OK, NULL,
		    "%zu issued certificates are valid for 7 days or more",
		    json_array_size(facts->certs));
}

void
check_policy_analyze(struct check_report *r,
    const struct config_resources *stored, const struct config_resources *files,
    const struct check_facts *facts)
{
	const struct config_resource **v;
	size_t n, nstored;

	v = check_policy_merge(stored, files, &n, &nstored);
	check_policy_refs(r, v, n, nstored);
	check_policy_hosts(r, v, n, facts);
	check_policy_selectors(r, v, n, facts);
	check_policy_claims(r, v, n);
	check_policy_certs(r, facts);
	free(v);
}
