/*
 * weftctl status and weftctl token create: what only weft-server knows,
 * every proxy's state and the join tokens for new workloads.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config_field.h"
#include "ctl.h"
#include "xmalloc.h"

static void
ctl_status_time(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "12s ago", "5m ago": how long since the last contact. */
static void
ctl_status_ago(char *buf, size_t len, int64_t now, int64_t t)
{
	int64_t d = now - t;

	if (d < 0)
		d = 0;
	if (d < 120)
		snprintf(buf, len, "%llds ago", (long long)d);
	else if (d < 7200)
		snprintf(buf, len, "%lldm ago", (long long)(d / 60));
	else
		snprintf(buf, len, "%lldh ago", (long long)(d / 3600));
}

static void
ctl_status_version(char *buf, size_t len, const json_t *p, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(p, key));

	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%lld", (long long)v);
}

static int
ctl_status_print(const json_t *resp)
{
	const json_t *list = json_object_get(resp, "proxies"), *p;
	int64_t now = json_integer_value(json_object_get(resp, "now"));
	char applied[24], running[24], ago[32], expiry[32], ns_wl[300];
	size_t i;

	printf("policy version %lld\n",
	    (long long)json_integer_value(json_object_get(resp, "version")));
	if (json_array_size(list) == 0) {
		printf("No proxies have registered.\n");
		return 0;
	}
	printf("%-32s %-24s %-8s %-8s %-10s %-21s %s\n", "WORKLOAD", "ADDRESS",
	    "APPLIED", "PROXY", "CONTACT", "CERT EXPIRES", "STATE");
	json_array_foreach(list, i, p)
	{
		snprintf(ns_wl, sizeof(ns_wl), "%s/%s",
		    json_string_value(json_object_get(p, "namespace")),
		    json_string_value(json_object_get(p, "workload")));
		ctl_status_version(
		    applied, sizeof(applied), p, "appliedVersion");
		ctl_status_version(running, sizeof(running), p, "proxyVersion");
		ctl_status_ago(ago, sizeof(ago), now,
		    json_integer_value(json_object_get(p, "lastContact")));
		ctl_status_time(expiry, sizeof(expiry),
		    json_integer_value(json_object_get(p, "certExpiry")));
		printf("%-32s %-24s %-8s %-8s %-10s %-21s %s\n", ns_wl,
		    json_string_value(json_object_get(p, "address")), applied,
		    running, ago, expiry,
		    json_string_value(json_object_get(p, "state")));
	}
	return 0;
}

int
ctl_status(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"output", required_argument, NULL, 'o'},
	    CTL_COMMON_LONGOPTS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	json_t *resp = NULL;
	char *text;
	int ch, json = 0, status, rc = CTL_EXIT_FAIL;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
		if (ctl_common_option(ctl, ch, optarg))
			continue;
		switch (ch) {
		case 'o':
			if (strcmp(optarg, "json") == 0)
				json = 1;
			else if (strcmp(optarg, "table") != 0)
				ctl_usage_error("status: unknown output "
						"format \"%s\" (table or json)",
				    optarg);
			break;
		case 'h':
			ctl_usage(stdout);
			exit(CTL_EXIT_OK);
		default:
			ctl_option_error("status", ch, argv);
		}
	}
	if (optind < argc)
		ctl_usage_error(
		    "status: unexpected argument \"%s\"", argv[optind]);
	if (ctl->server == NULL) {
		ctl_warnx("status: needs --server URL (the proxies report to "
			  "weft-server)");
		return CTL_EXIT_FAIL;
	}
	status = ctl_remote_call(ctl, "GET", "/v1/status", NULL, NULL, &resp);
	if (status != 200) {
		goto out;
	}
	if (json) {
		text = json_dumps(resp, JSON_INDENT(2));
		printf("%s\n", text);
		free(text);
	} else
		ctl_status_print(resp);
	rc = CTL_EXIT_OK;
out:
	json_decref(resp);
	return rc;
}

int
ctl_token(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"workload", required_argument, NULL, 'w'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"service-account", required_argument, NULL, 's'},
	    {"ttl", required_argument, NULL, 't'},
	    CTL_COMMON_LONGOPTS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *wl = NULL, *ns = NULL, *sa = "default", *ttl = NULL;
	json_t *req, *resp = NULL;
	char *body;
	int ch, status, rc = CTL_EXIT_FAIL;

	if (argc < 2 || strcmp(argv[1], "create") != 0)
		ctl_usage_error("token: expected \"token create\"");
	argc--;
	argv++;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":n:h", longopts, NULL)) != -1) {
		if (ctl_common_option(ctl, ch, optarg))
			continue;
		switch (ch) {
		case 'w':
			wl = optarg;
			break;
		case 'n':
			ns = optarg;
			break;
		case 's':
			sa = optarg;
			break;
		case 't':
			ttl = optarg;
			break;
		case 'h':
			ctl_usage(stdout);
			exit(CTL_EXIT_OK);
		default:
			ctl_option_error("token create", ch, argv);
		}
	}
	if (optind < argc)
		ctl_usage_error(
		    "token create: unexpected argument \"%s\"", argv[optind]);
	if (wl == NULL || !config_dns_subdomain(wl))
		ctl_usage_error("token create: --workload NAME is required");
	if (ns == NULL || !config_dns_label(ns))
		ctl_usage_error("token create: --namespace NS is required");
	if (!config_dns_subdomain(sa))
		ctl_usage_error(
		    "token create: invalid service account \"%s\"", sa);
	if (ctl->server == NULL) {
		ctl_warnx("token create: needs --server URL (weft-server "
			  "issues join tokens)");
		return CTL_EXIT_FAIL;
	}
	req = json_pack("{s:s, s:s, s:s}", "workload", wl, "namespace", ns,
	    "serviceAccount", sa);
	if (ttl != NULL)
		json_object_set_new(req, "ttl", json_string(ttl));
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	status = ctl_remote_call(
	    ctl, "POST", "/v1/tokens", "application/json", body, &resp);
	free(body);
	if (status != 200) {
		goto out;
	}
	printf("%s\n", json_string_value(json_object_get(resp, "token")));
	rc = CTL_EXIT_OK;
out:
	json_decref(resp);
	return rc;
}
