/*
 * weftctl ca: the mesh CA's roots and the rotation of its root, through
 * weft-server (GET /v1/ca, POST /v1/ca/rotate). The server decides when
 * a step is safe; this prints what it says.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "xmalloc.h"

static const char *
ctl_ca_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

static void
ctl_ca_time(char *buf, size_t len, json_int_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* What the next step waits for, one proxy a line. */
static void
ctl_ca_print_blocking(FILE *f, const json_t *blocking)
{
	const json_t *b;
	size_t i;

	json_array_foreach(blocking, i, b)
	{
		fprintf(f, "  %s: %s\n", ctl_ca_str(b, "proxy"),
		    ctl_ca_str(b, "reason"));
	}
}

static void
ctl_ca_print(const json_t *resp)
{
	const json_t *roots = json_object_get(resp, "roots");
	const json_t *proxies = json_object_get(resp, "proxies");
	const json_t *blocking = json_object_get(resp, "blocking");
	const char *phase = ctl_ca_str(resp, "phase");
	const json_t *r, *p;
	char until[32], name[300];
	size_t i, n;

	printf("phase: %s\n", phase);
	printf("%-8s %-6s %-64s %-20s %s\n", "ROOT", "SIGNS", "FINGERPRINT",
	    "NOT AFTER", "SUBJECT");
	json_array_foreach(roots, i, r)
	{
		ctl_ca_time(until, sizeof(until),
		    json_integer_value(json_object_get(r, "notAfter")));
		printf("%-8s %-6s %-64s %-20s %s\n", ctl_ca_str(r, "role"),
		    json_is_true(json_object_get(r, "signing")) ? "yes" : "no",
		    ctl_ca_str(r, "fingerprint"), until,
		    ctl_ca_str(r, "subject"));
	}
	if (json_array_size(proxies) > 0) {
		printf("\n%-32s %-8s %s\n", "WORKLOAD", "BUNDLE",
		    "CERTIFICATE ROOT");
		json_array_foreach(proxies, i, p)
		{
			snprintf(name, sizeof(name), "%s/%s",
			    ctl_ca_str(p, "namespace"),
			    ctl_ca_str(p, "workload"));
			printf("%-32s %-8s %s\n", name, ctl_ca_str(p, "bundle"),
			    ctl_ca_str(p, "certificateRoot"));
		}
	}
	n = json_array_size(blocking);
	if (strcmp(phase, "none") == 0)
		printf("\nnext step: prepare\n");
	else if (n == 0)
		printf(
		    "\nnext step: %s (ready)\n", ctl_ca_str(resp, "nextStep"));
	else {
		printf("\nnext step: %s (waiting for %zu %s)\n",
		    ctl_ca_str(resp, "nextStep"), n,
		    n == 1 ? "proxy" : "proxies");
		ctl_ca_print_blocking(stdout, blocking);
	}
}

/* The signing root, and the next one when there is one. */
static void
ctl_ca_roots(const json_t *resp, const char **current, const char **next)
{
	const json_t *r;
	size_t i;

	*current = *next = "-";
	json_array_foreach(json_object_get(resp, "roots"), i, r)
	{
		if (strcmp(ctl_ca_str(r, "role"), "next") == 0)
			*next = ctl_ca_str(r, "fingerprint");
		else
			*current = ctl_ca_str(r, "fingerprint");
	}
}

static int
ctl_ca_status(struct ctl *ctl, const char *what, int json)
{
	json_t *resp = NULL;
	char *text;
	int status, rc = CTL_EXIT_FAIL;

	status = ctl_remote_call(ctl, "GET", "/v1/ca", NULL, NULL, &resp);
	if (status != 200) {
		goto out;
	}
	if (strcmp(what, "bundle") == 0)
		fputs(ctl_ca_str(resp, "caBundle"), stdout);
	else if (json) {
		text = json_dumps(resp, JSON_INDENT(2));
		printf("%s\n", text);
		free(text);
	} else
		ctl_ca_print(resp);
	rc = CTL_EXIT_OK;
out:
	json_decref(resp);
	return rc;
}

static int
ctl_ca_rotate(struct ctl *ctl, const char *step, int force, int json)
{
	json_t *req, *resp = NULL;
	const char *cur, *next;
	char *body, *text;
	int status, rc = CTL_EXIT_FAIL;

	req = json_pack("{s:s, s:b}", "step", step, "force", force);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	status = ctl_remote_call(
	    ctl, "POST", "/v1/ca/rotate", "application/json", body, &resp);
	free(body);
	if (status != 200) {
		if (status > 0)
			ctl_ca_print_blocking(
			    stderr, json_object_get(resp, "blocking"));
		goto out;
	}
	rc = CTL_EXIT_OK;
	if (json) {
		text = json_dumps(resp, JSON_INDENT(2));
		printf("%s\n", text);
		free(text);
		goto out;
	}
	ctl_ca_roots(resp, &cur, &next);
	if (!json_is_true(json_object_get(resp, "changed")))
		printf("nothing to do: the rotation is %s\n",
		    ctl_ca_str(resp, "phase"));
	else if (strcmp(step, "prepare") == 0)
		printf("prepared: the next root %s is in the trust bundle; "
		       "%s still signs\n",
		    next, cur);
	else if (strcmp(step, "activate") == 0)
		printf("activated: the next root %s signs; workloads renew "
		       "their certificates\n",
		    next);
	else
		printf("finished: %s is the only root\n", cur);
out:
	json_decref(resp);
	return rc;
}

int
ctl_ca(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"force", no_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    CTL_COMMON_LONGOPTS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *what, *step = NULL;
	char cmd[32];
	int ch, json = 0, force = 0;

	if (argc < 2)
		ctl_usage_error("ca: expected \"ca status\", \"ca bundle\" or "
				"\"ca rotate prepare|activate|finish\"");
	what = argv[1];
	argc--;
	argv++;
	if (strcmp(what, "rotate") == 0) {
		if (argc < 2 ||
		    (strcmp(argv[1], "prepare") != 0 &&
			strcmp(argv[1], "activate") != 0 &&
			strcmp(argv[1], "finish") != 0))
			ctl_usage_error("ca rotate: expected prepare, activate "
					"or finish");
		step = argv[1];
		argc--;
		argv++;
	} else if (strcmp(what, "status") != 0 && strcmp(what, "bundle") != 0)
		ctl_usage_error("ca: unknown command \"%s\" (status, bundle or "
				"rotate)",
		    what);
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
		if (ctl_common_option(ctl, ch, optarg))
			continue;
		switch (ch) {
		case 'f':
			if (step == NULL)
				ctl_usage_error(
				    "ca %s: --force is for ca rotate", what);
			force = 1;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				json = 1;
			else if (strcmp(optarg, "table") != 0)
				ctl_usage_error("ca %s: unknown output format "
						"\"%s\" (table or json)",
				    what, optarg);
			break;
		case 'h':
			ctl_usage(stdout);
			exit(CTL_EXIT_OK);
		default:
			snprintf(cmd, sizeof(cmd), "ca %s", what);
			ctl_option_error(cmd, ch, argv);
		}
	}
	if (optind < argc)
		ctl_usage_error(
		    "ca %s: unexpected argument \"%s\"", what, argv[optind]);
	if (ctl->server == NULL) {
		ctl_warnx("ca %s: needs --server URL (weft-server holds the "
			  "CA)",
		    what);
		return CTL_EXIT_FAIL;
	}
	if (step != NULL)
		return ctl_ca_rotate(ctl, step, force, json);
	return ctl_ca_status(ctl, what, json);
}
