/*
 * weftctl inject: what istioctl kube-inject does, for weft. It reads
 * Kubernetes YAML (or JSON), injects the sidecars into every Pod and
 * every pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet,
 * ReplicationController, Job, CronJob, and those of a kind: List) with
 * the same code as weft-server's webhook, and writes the documents back
 * as YAML; other kinds, and pods that opted out, are written unchanged.
 * Any error prints one line per fault and writes nothing.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_doc.h"
#include "ctl.h"
#include "inject.h"
#include "xmalloc.h"
#include "yaml_doc.h"

enum {
	CTL_INJECT_NATIVE = 1100,
	CTL_INJECT_INIT_IMAGE,
	CTL_INJECT_PROXY_IMAGE,
	CTL_INJECT_MESH_URL,
	CTL_INJECT_LOG_LEVEL,
};

/* "Kind/name" of a document, for errors (allocated). */
static char *
ctl_inject_what(const json_t *doc)
{
	const json_t *meta = json_object_get(doc, "metadata");
	const char *kind, *name;
	char *s;

	kind = json_string_value(json_object_get(doc, "kind"));
	name = json_string_value(json_object_get(meta, "name"));
	if (name == NULL)
		name = json_string_value(json_object_get(meta, "generateName"));
	xasprintf(
	    &s, "%s/%s", kind != NULL ? kind : "?", name != NULL ? name : "?");
	return s;
}

/* Injects one document (root: "" or "items[N]."); errors to errs. */
static void
ctl_inject_doc(const struct inject_conf *c, json_t *doc, const char *file,
    int docno, const char *root, struct config_errors *errs)
{
	json_t *tmpl, *patch, *item;
	const char *path, *why, *kind;
	char *cause = NULL, *what, *sub;
	size_t i;
	int rv;

	kind = json_string_value(json_object_get(doc, "kind"));
	if (*root == '\0' && kind != NULL && strcmp(kind, "List") == 0) {
		json_array_foreach(json_object_get(doc, "items"), i, item)
		{
			xasprintf(&sub, "items[%zu].", i);
			ctl_inject_doc(c, item, file, docno, sub, errs);
			free(sub);
		}
		return;
	}
	if ((rv = inject_template(doc, &tmpl, &path)) == 0)
		return;
	what = ctl_inject_what(doc);
	if (rv == -1) {
		config_errors_add(errs, file, docno, what, NULL,
		    "%s%s: expected a pod template", root, path);
		free(what);
		return;
	}
	switch (inject_pod(c, tmpl, &patch, &why, &cause)) {
	case INJECT_ERROR:
		config_errors_add(errs, file, docno, what, NULL, "%s%s%s%s",
		    root, path, *path != '\0' ? "." : "", cause);
		break;
	case INJECT_SKIPPED:
		break;
	case INJECT_INJECTED:
		if (inject_patch_apply(tmpl, patch, &cause) == -1)
			config_errors_add(errs, file, docno, what, NULL,
			    "%s%s: cannot apply the injection: %s", root, path,
			    cause);
		json_decref(patch);
		break;
	}
	free(cause);
	free(what);
}

int
ctl_inject(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"filename", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    {"native-sidecars", required_argument, NULL, CTL_INJECT_NATIVE},
	    {"init-image", required_argument, NULL, CTL_INJECT_INIT_IMAGE},
	    {"proxy-image", required_argument, NULL, CTL_INJECT_PROXY_IMAGE},
	    {"mesh-url", required_argument, NULL, CTL_INJECT_MESH_URL},
	    {"log-level", required_argument, NULL, CTL_INJECT_LOG_LEVEL},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct config_errors errs = {NULL, 0};
	struct yaml_docs docs = {NULL, 0};
	struct inject_conf c;
	const char *file = NULL, *name, *output = "yaml";
	json_t **roots = NULL;
	char *buf = NULL, *cause = NULL, *text;
	size_t len, i, n = 0;
	int ch, errdoc = 0, rc = CTL_EXIT_FAIL;

	(void)ctl;
	inject_conf_init(&c);
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":f:o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (file != NULL)
				ctl_usage_error("inject: -f is given once");
			file = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "yaml") != 0 &&
			    strcmp(optarg, "json") != 0)
				ctl_usage_error("inject: -o %s: expected yaml "
						"or json",
				    optarg);
			output = optarg;
			break;
		case CTL_INJECT_NATIVE:
			if (strcmp(optarg, "on") != 0 &&
			    strcmp(optarg, "off") != 0)
				ctl_usage_error("inject: --native-sidecars "
						"%s: expected on or off",
				    optarg);
			c.native_sidecars = strcmp(optarg, "on") == 0;
			break;
		case CTL_INJECT_INIT_IMAGE:
		case CTL_INJECT_PROXY_IMAGE:
			if (*optarg == '\0' || strpbrk(optarg, " \t\n") != NULL)
				ctl_usage_error("inject: %s \"%s\": expected "
						"an image reference",
				    ch == CTL_INJECT_INIT_IMAGE
					? "--init-image"
					: "--proxy-image",
				    optarg);
			if (ch == CTL_INJECT_INIT_IMAGE)
				c.init_image = optarg;
			else
				c.proxy_image = optarg;
			break;
		case CTL_INJECT_MESH_URL:
			if (strncmp(optarg, "https://", 8) != 0 ||
			    optarg[8] == '\0' || strpbrk(optarg, " \t") != NULL)
				ctl_usage_error("inject: --mesh-url %s: "
						"expected https://HOST[:PORT]",
				    optarg);
			c.mesh_url = optarg;
			break;
		case CTL_INJECT_LOG_LEVEL:
			if (strcmp(optarg, "error") != 0 &&
			    strcmp(optarg, "warn") != 0 &&
			    strcmp(optarg, "info") != 0 &&
			    strcmp(optarg, "debug") != 0)
				ctl_usage_error("inject: --log-level %s: "
						"expected error, warn, info or "
						"debug",
				    optarg);
			c.log_level = optarg;
			break;
		case 'h':
			ctl_usage(stdout);
			exit(CTL_EXIT_OK);
		default:
			ctl_option_error("inject", ch, argv);
		}
	}
	if (optind < argc)
		ctl_usage_error(
		    "inject: unexpected argument \"%s\"", argv[optind]);
	if (file == NULL)
		ctl_usage_error("inject: -f FILE is required");
	name = strcmp(file, "-") == 0 ? "<stdin>" : file;

	if (ctl_input_read(file, &buf, &len, &cause) == -1) {
		ctl_warnx("%s", cause);
		goto out;
	}
	if (yaml_doc_parse(buf, len, &docs, &errdoc, &cause) == -1) {
		fprintf(stderr, "%s:%d: %s\n", name, errdoc, cause);
		goto out;
	}
	roots = xcalloc(docs.n + 1, sizeof(*roots));
	for (i = 0; i < docs.n; i++) {
		if (docs.v[i].root == NULL)
			continue;
		if (!json_is_object(docs.v[i].root))
			config_errors_add(&errs, name, (int)i + 1, NULL, NULL,
			    "expected a Kubernetes object (a map)");
		else
			ctl_inject_doc(
			    &c, docs.v[i].root, name, (int)i + 1, "", &errs);
		roots[n++] = docs.v[i].root;
	}
	if (errs.n > 0) {
		ctl_print_errors(&errs);
		goto out;
	}
	if (strcmp(output, "json") == 0) {
		for (i = 0; i < n; i++) {
			text = json_dumps(roots[i],
			    JSON_INDENT(2) |
				JSON_REAL_PRECISION(YAML_DOC_REAL_PRECISION));
			if (text == NULL) {
				ctl_warnx("inject: out of memory");
				goto out;
			}
			printf("%s\n", text);
			free(text);
		}
	} else if (yaml_doc_emit(stdout, roots, n, &cause) == -1) {
		ctl_warnx("inject: %s", cause);
		goto out;
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		ctl_warnx("inject: cannot write the output");
		goto out;
	}
	rc = CTL_EXIT_OK;
out:
	free(cause);
	free(buf);
	free(roots);
	yaml_docs_clear(&docs);
	config_errors_clear(&errs);
	return rc;
}
