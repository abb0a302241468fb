/*
 * weftctl get: lists the stored resources as a table, or prints them as
 * they were applied (YAML or JSON) so that the output applies back
 * unchanged.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_field.h"
#include "ctl.h"
#include "store_apply.h"
#include "store_db.h"
#include "xmalloc.h"
#include "yaml_doc.h"

enum ctl_get_output {
	CTL_GET_TABLE,
	CTL_GET_YAML,
	CTL_GET_JSON,
	CTL_GET_NAME,
};

#define CTL_GET_COLS 6

struct ctl_get_table {
	char *(*cells)[CTL_GET_COLS];
	size_t ncols;
	size_t nrows;
};

static void
ctl_get_add(struct ctl_get_table *t, char **row)
{
	char *(*v)[CTL_GET_COLS];
	size_t i;

	v = realloc(t->cells, (t->nrows + 1) * sizeof(*t->cells));
	if (v == NULL)
		abort();
	t->cells = v;
	for (i = 0; i < CTL_GET_COLS; i++)
		t->cells[t->nrows][i] = i < t->ncols ? row[i] : NULL;
	t->nrows++;
}

static void
ctl_get_print_table(struct ctl_get_table *t)
{
	size_t w[CTL_GET_COLS] = {0}, i, j, n;

	for (i = 0; i < t->nrows; i++) {
		for (j = 0; j < t->ncols; j++) {
			n = strlen(t->cells[i][j]);
			if (n > w[j])
				w[j] = n;
		}
	}
	for (i = 0; i < t->nrows; i++) {
		for (j = 0; j < t->ncols; j++) {
			if (j + 1 < t->ncols)
				printf("%-*s   ", (int)w[j], t->cells[i][j]);
			else
				printf("%s\n", t->cells[i][j]);
			free(t->cells[i][j]);
		}
	}
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
}

/* The strings of a list, or the k=v of a map, comma-separated. */
static char *
ctl_get_join(const json_t *v, const char *empty)
{
	size_t len = 1, i;
	char *s, *item;
	void *it;

	s = xstrdup("");
	if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v); i++) {
			item = json_is_string(json_array_get(v, i))
			    ? xstrdup(json_string_value(json_array_get(v, i)))
			    : json_dumps(json_array_get(v, i), JSON_ENCODE_ANY);
			len += strlen(item) + 1;
			if ((s = realloc(s, len)) == NULL)
				abort();
			if (i > 0)
				strcat(s, ",");
			strcat(s, item);
			free(item);
		}
	} else if (json_is_object(v)) {
		i = 0;
		for (it = json_object_iter((json_t *)v); it != NULL;
		     it = json_object_iter_next((json_t *)v, it)) {
			xasprintf(&item, "%s=%s", json_object_iter_key(it),
			    json_string_value(json_object_iter_value(it)) !=
				    NULL
				? json_string_value(json_object_iter_value(it))
				: "");
			len += strlen(item) + 1;
			if ((s = realloc(s, len)) == NULL)
				abort();
			if (i++ > 0)
				strcat(s, ",");
			strcat(s, item);
			free(item);
		}
	}
	if (*s == '\0') {
		free(s);
		s = xstrdup(empty);
	}
	return s;
}

static char *
ctl_get_str(const json_t *spec, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(spec, key));

	return xstrdup(s != NULL ? s : dflt);
}

static const char *const ctl_get_headers[CONFIG_NKINDS][CTL_GET_COLS] = {
    [CONFIG_SERVICE_ENTRY] = {"NAMESPACE", "NAME", "HOSTS", "LOCATION",
	"RESOLUTION"},
    [CONFIG_WORKLOAD_ENTRY] = {"NAMESPACE", "NAME", "ADDRESS", "LABELS"},
    [CONFIG_DESTINATION_RULE] = {"NAMESPACE", "NAME", "HOST", "SUBSETS"},
    [CONFIG_VIRTUAL_SERVICE] = {"NAMESPACE", "NAME", "GATEWAYS", "HOSTS"},
    [CONFIG_PEER_AUTHENTICATION] = {"NAMESPACE", "NAME", "MODE", "PORTS",
	"SELECTOR"},
    [CONFIG_REQUEST_AUTHENTICATION] = {"NAMESPACE", "NAME", "ISSUERS",
	"SELECTOR"},
    [CONFIG_AUTHORIZATION_POLICY] = {"NAMESPACE", "NAME", "ACTION", "RULES",
	"DRY-RUN", "SELECTOR"},
    [CONFIG_RATE_LIMIT] = {"NAMESPACE", "NAME", "LIMITS", "SELECTOR"},
};

/* The items' field key of list v, as a list. */
static json_t *
ctl_get_pluck(const json_t *v, const char *key)
{
	json_t *out = json_array(), *item;
	size_t i;

	for (i = 0; i < json_array_size(v); i++) {
		item = json_object_get(json_array_get(v, i), key);
		if (item != NULL)
			json_array_append(out, item);
	}
	return out;
}

/* Whom a security policy applies to: its matchLabels, or "-". */
static char *
ctl_get_selector(const json_t *spec)
{
	return ctl_get_join(
	    json_object_get(json_object_get(spec, "selector"), "matchLabels"),
	    "-");
}

/* PeerAuthentication: "8080=DISABLE,..." */
static char *
ctl_get_port_modes(const json_t *spec)
{
	json_t *ports = json_object_get(spec, "portLevelMtls"), *modes, *v;
	const char *key, *mode;
	char *s;

	modes = json_object();
	json_object_foreach(ports, key, v)
	{
		mode = json_string_value(json_object_get(v, "mode"));
		json_object_set_new(
		    modes, key, json_string(mode != NULL ? mode : "UNSET"));
	}
	s = ctl_get_join(modes, "-");
	json_decref(modes);
	return s;
}

/* RateLimit: "10/s,2.5/s" */
static char *
ctl_get_rates(const json_t *spec)
{
	json_t *limits = json_object_get(spec, "limits"), *rates;
	char buf[64];
	size_t i;
	char *s;

	rates = json_array();
	for (i = 0; i < json_array_size(limits); i++) {
		snprintf(buf, sizeof(buf), "%g/s",
		    json_number_value(json_object_get(
			json_array_get(limits, i), "requestsPerSecond")));
		json_array_append_new(rates, json_string(buf));
	}
	s = ctl_get_join(rates, "-");
	json_decref(rates);
	return s;
}

/* The columns of a row after NAMESPACE and NAME. */
static void
ctl_get_cells(const struct store_db_row *r, char **cells)
{
	const json_t *spec = r->spec, *subsets;
	json_t *names;
	const char *dry;
	size_t i;

	switch (r->kind) {
	case CONFIG_SERVICE_ENTRY:
		cells[0] = ctl_get_join(json_object_get(spec, "hosts"), "-");
		cells[1] = ctl_get_str(spec, "location", "MESH_INTERNAL");
		cells[2] = ctl_get_str(spec, "resolution", "STATIC");
		break;
	case CONFIG_WORKLOAD_ENTRY:
		cells[0] = ctl_get_str(spec, "address", "-");
		cells[1] = ctl_get_join(json_object_get(spec, "labels"), "-");
		break;
	case CONFIG_DESTINATION_RULE:
		cells[0] = ctl_get_str(spec, "host", "-");
		names = json_array();
		subsets = json_object_get(spec, "subsets");
		for (i = 0; i < json_array_size(subsets); i++)
			json_array_append(names,
			    json_object_get(
				json_array_get(subsets, i), "name"));
		cells[1] = ctl_get_join(names, "-");
		json_decref(names);
		break;
	case CONFIG_VIRTUAL_SERVICE:
		cells[0] =
		    ctl_get_join(json_object_get(spec, "gateways"), "mesh");
		cells[1] = ctl_get_join(json_object_get(spec, "hosts"), "-");
		break;
	case CONFIG_PEER_AUTHENTICATION:
		cells[0] =
		    ctl_get_str(json_object_get(spec, "mtls"), "mode", "UNSET");
		cells[1] = ctl_get_port_modes(spec);
		cells[2] = ctl_get_selector(spec);
		break;
	case CONFIG_REQUEST_AUTHENTICATION:
		names =
		    ctl_get_pluck(json_object_get(spec, "jwtRules"), "issuer");
		cells[0] = ctl_get_join(names, "-");
		json_decref(names);
		cells[1] = ctl_get_selector(spec);
		break;
	case CONFIG_AUTHORIZATION_POLICY:
		cells[0] = ctl_get_str(spec, "action", "ALLOW");
		xasprintf(&cells[1], "%zu",
		    json_array_size(json_object_get(spec, "rules")));
		dry = json_string_value(
		    json_object_get(r->annotations, "istio.io/dry-run"));
		cells[2] = xstrdup(dry != NULL && config_bool_word(dry) == 1
			? "true"
			: "false");
		cells[3] = ctl_get_selector(spec);
		break;
	case CONFIG_RATE_LIMIT:
		cells[0] = ctl_get_rates(spec);
		cells[1] = ctl_get_selector(spec);
		break;
	}
}

static void
ctl_get_tables(const struct store_db_rows *rows, int all)
{
	struct ctl_get_table t = {NULL, 0, 0};
	char *row[CTL_GET_COLS];
	size_t i, j, k, sections = 0;

	for (i = 0; i < rows->n; i = j) {
		enum config_kind kind = rows->v[i].kind;

		t.ncols = 2;
		while (t.ncols < CTL_GET_COLS &&
		    ctl_get_headers[kind][t.ncols] != NULL)
			t.ncols++;
		for (k = 0; k < t.ncols; k++)
			row[k] = xstrdup(ctl_get_headers[kind][k]);
		ctl_get_add(&t, row);
		for (j = i; j < rows->n && rows->v[j].kind == kind; j++) {
			row[0] = xstrdup(rows->v[j].namespace);
			if (all)
				xasprintf(&row[1], "%s/%s",
				    store_kind_resource(kind), rows->v[j].name);
			else
				row[1] = xstrdup(rows->v[j].name);
			ctl_get_cells(&rows->v[j], row + 2);
			ctl_get_add(&t, row);
		}
		if (sections++ > 0)
			printf("\n");
		ctl_get_print_table(&t);
	}
}

static json_t *
ctl_get_json(const struct store_db_row *r)
{
	return config_resource_json(r->kind, r->api_version, r->namespace,
	    r->name, r->annotations, r->spec);
}

static int
ctl_get_print(const struct store_db_rows *rows, enum ctl_get_output out,
    int single, int all)
{
	json_t **docs, *list;
	char *cause, *s;
	size_t i;
	int rc = 0;

	switch (out) {
	case CTL_GET_TABLE:
		ctl_get_tables(rows, all);
		return 0;
	case CTL_GET_NAME:
		for (i = 0; i < rows->n; i++)
			printf("%s/%s\n", store_kind_resource(rows->v[i].kind),
			    rows->v[i].name);
		return 0;
	case CTL_GET_YAML:
		docs = xcalloc(rows->n + 1, sizeof(*docs));
		for (i = 0; i < rows->n; i++)
			docs[i] = ctl_get_json(&rows->v[i]);
		if (yaml_doc_emit(stdout, docs, rows->n, &cause) == -1) {
			ctl_warnx("stdout: %s", cause);
			free(cause);
			rc = -1;
		}
		for (i = 0; i < rows->n; i++)
			json_decref(docs[i]);
		free(docs);
		return rc;
	case CTL_GET_JSON:
		if (single)
			list = ctl_get_json(&rows->v[0]);
		else {
			list = json_pack("{s:s, s:s, s:[]}", "apiVersion", "v1",
			    "kind", "List", "items");
			for (i = 0; i < rows->n; i++)
				json_array_append_new(
				    json_object_get(list, "items"),
				    ctl_get_json(&rows->v[i]));
		}
		s = json_dumps(list,
		    JSON_INDENT(2) |
			JSON_REAL_PRECISION(YAML_DOC_REAL_PRECISION));
		json_decref(list);
		if (s == NULL)
			return -1;
		printf("%s\n", s);
		free(s);
		return 0;
	}
	return 0;
}

int
ctl_get(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"namespace", required_argument, NULL, 'n'},
	    {"all-namespaces", no_argument, NULL, 'A'},
	    {"output", required_argument, NULL, 'o'},
	    CTL_COMMON_LONGOPTS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const char *const outputs[] = {"table", "yaml", "json", "name"};
	struct store_db_rows rows = {NULL, 0};
	enum ctl_get_output out = CTL_GET_TABLE;
	enum config_kind kind;
	struct store_db *db;
	const char *ns = CONFIG_DEFAULT_NAMESPACE, *name = NULL;
	char *cause = NULL;
	unsigned int mask;
	size_t i;
	int ch, all_ns = 0, all = 0, rc = CTL_EXIT_FAIL, found;

	optind = 0;
	opterr = 0;
	while (
	    (ch = getopt_long(argc, argv, ":n:Ao:h", longopts, NULL)) != -1) {
		if (ctl_common_option(ctl, ch, optarg))
			continue;
		switch (ch) {
		case 'n':
			if (!config_dns_label(optarg))
				ctl_usage_error(
				    "get: invalid namespace \"%s\"", optarg);
			ns = optarg;
			break;
		case 'A':
			all_ns = 1;
			break;
		case 'o':
			found = 0;
			for (i = 0; i < sizeof(outputs) / sizeof(outputs[0]);
			     i++) {
				if (strcmp(optarg, outputs[i]) == 0) {
					out = (enum ctl_get_output)i;
					found = 1;
				}
			}
			if (!found)
				ctl_usage_error("get: unknown output format "
						"\"%s\" (table, yaml, json or "
						"name)",
				    optarg);
			break;
		case 'h':
			ctl_usage(stdout);
			exit(CTL_EXIT_OK);
		default:
			ctl_option_error("get", ch, argv);
		}
	}
	if (optind >= argc)
		ctl_usage_error("get: KIND is required (" CTL_KINDS " or all)");
	if (strcmp(argv[optind], "all") == 0) {
		all = 1;
		mask = STORE_DB_ALL_KINDS;
		kind = CONFIG_SERVICE_ENTRY;
	} else if (config_kind_parse(argv[optind], &kind) == 0)
		mask = STORE_DB_KIND(kind);
	else
		ctl_usage_error("get: unknown kind \"%s\" (" CTL_KINDS
				" or all)",
		    argv[optind]);
	if (optind + 1 < argc)
		name = argv[optind + 1];
	if (optind + 2 < argc)
		ctl_usage_error(
		    "get: unexpected argument \"%s\"", argv[optind + 2]);
	if (name != NULL && all)
		ctl_usage_error("get: all takes no NAME");
	if (name != NULL && all_ns)
		ctl_usage_error("get: NAME cannot be used with -A");

	if (ctl->server != NULL) {
		db = NULL;
		if (ctl_remote_list(ctl, all ? "all" : argv[optind],
			all_ns ? NULL : ns, name, &rows) == -1)
			goto out;
	} else if ((db = ctl_open(ctl, 0)) == NULL)
		return CTL_EXIT_FAIL;
	else if (store_db_list(
		     db, mask, all_ns ? NULL : ns, name, &rows, &cause) == -1) {
		ctl_warnx("%s", cause);
		free(cause);
		goto out;
	}
	if (name != NULL && rows.n == 0) {
		ctl_warnx("%s \"%s\" not found in namespace %s",
		    store_kind_resource(kind), name, ns);
		goto out;
	}
	if (rows.n == 0 && out != CTL_GET_JSON) {
		if (all_ns)
			fprintf(stderr, "No resources found.\n");
		else
			fprintf(stderr, "No resources found in %s namespace.\n",
			    ns);
	} else if (ctl_get_print(&rows, out, name != NULL, all) == -1)
		goto out;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_warnx("stdout: %s", strerror(errno));
		goto out;
	}
	rc = CTL_EXIT_OK;
out:
	store_db_rows_clear(&rows);
	store_db_close(db);
	return rc;
}
