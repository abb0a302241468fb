/*
 * weftctl: the user's command line for the mesh policy. It applies,
 * lists and deletes Istio-style configuration in a local policy DB
 * (--db) or through weft-server (--server), and explains how the
 * proxies would route and decide a request (--db).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "store_db.h"
#include "log.h"

void
ctl_usage(FILE *f)
{
	fprintf(f,
	    "usage: weftctl [--db PATH | --server URL] COMMAND [ARGS...]\n"
	    "       weftctl --help | --version\n"
	    "\n"
	    "Commands:\n"
	    "  apply -f FILE|- [-f ...] [-n NS] [--dry-run]\n"
	    "                      create or update the resources of YAML or "
	    "JSON files\n"
	    "  get KIND [NAME] [-n NS | -A] [-o table|yaml|json|name]\n"
	    "                      list resources, or print them as applied\n"
	    "  delete KIND NAME... [-n NS] [--ignore-not-found]\n"
	    "  delete -f FILE|- [-f ...] [-n NS] [--ignore-not-found]\n"
	    "                      delete resources\n"
	    "  explain --source SPIFFE-ID|WORKLOAD --destination "
	    "HOST[:PORT]\n"
	    "          [--method M] [--path P] [--header K=V]... "
	    "[--jwt TOKEN]\n"
	    "          [-n NS] [--trust-domain TD] [-o text|json]\n"
	    "                      how the proxies would route and decide a "
	    "request:\n"
	    "                      route, destinations, endpoints, mTLS, JWT, "
	    "authorization\n"
	    "                      and rate limits; exit 0 when allowed, 1 "
	    "when not\n"
	    "  inject -f FILE|- [--native-sidecars on|off] [--init-image "
	    "IMAGE]\n"
	    "         [--proxy-image IMAGE] [--mesh-url URL] [--log-level L]\n"
	    "         [-o yaml|json]\n"
	    "                      add the weft sidecars to the pods and pod "
	    "templates of\n"
	    "                      Kubernetes YAML, offline, as weft-server's "
	    "webhook does\n"
	    "  stat [--window DURATION] [service/NAME | workload/NAME | "
	    "route/NAME]\n"
	    "       [--proxy HOST:PORT]... [-o table|wide|json]\n"
	    "                      success rate, requests per second and "
	    "latency\n"
	    "                      percentiles from the proxies (--proxy) or "
	    "weft-server\n"
	    "  tap [--source W] [--destination S] [--method M] [--path "
	    "PREFIX]\n"
	    "      [--status N] [--max N] [--duration D] [--proxy "
	    "HOST:PORT]... [-o text|json]\n"
	    "                      live requests matching the filter, from "
	    "the proxies'\n"
	    "                      admin ports (--proxy) or through "
	    "weft-server\n"
	    "  check [--db PATH] [--server URL] [--proxy HOST:PORT]... "
	    "[--local]\n"
	    "        [-f FILE]... [-n NS] [--strict] [-o text|json]\n"
	    "                      the health and consistency of the mesh: "
	    "policy DB,\n"
	    "                      policy, weft-server, proxies; exit 0 when "
	    "all pass,\n"
	    "                      1 when one fails (or warns, with "
	    "--strict)\n"
	    "\n"
	    "KIND: virtualservice (vs), destinationrule (dr), serviceentry "
	    "(se),\n"
	    "workloadentry (we), peerauthentication (pa), "
	    "requestauthentication (ra),\n"
	    "authorizationpolicy (ap), ratelimit (rl), or all (get only).\n"
	    "\n"
	    "With --server only:\n"
	    "  status [-o table|json]\n"
	    "                      every proxy: version, last contact, "
	    "certificate, state\n"
	    "  token create --workload NAME --namespace NS "
	    "[--service-account SA]\n"
	    "               [--ttl DURATION]\n"
	    "                      print a join token for weft-sync\n"
	    "  ca status [-o table|json] | ca bundle\n"
	    "  ca rotate prepare|activate|finish [--force]\n"
	    "                      the CA's roots; rotate the root "
	    "without a restart\n"
	    "\n"
	    "On a VM (as root):\n"
	    "  join --server URL --token TOKEN|--token-file FILE --address "
	    "IP [...]\n"
	    "                      make this machine a workload: settings, "
	    "token, units\n"
	    "                      (weftctl join --help)\n"
	    "  leave [--purge]     stop and disable those units; --purge "
	    "removes the\n"
	    "                      settings and the token\n"
	    "\n"
	    "  --db PATH          the local policy DB (default $WEFT_DB, else "
	    "%s);\n"
	    "                     created with the current schema when "
	    "missing\n"
	    "  --server URL       weft-server, https://HOST[:15010] "
	    "($WEFT_SERVER)\n"
	    "  --ca FILE          its CA ($WEFT_CA, else "
	    "/var/lib/weft/server/ca.pem)\n"
	    "  --token-file FILE  the admin token ($WEFT_TOKEN_FILE, "
	    "else /var/lib/weft/server/admin.token)\n"
	    "  --cert FILE        an admin client certificate instead of the "
	    "token\n"
	    "                     (the server's admin.pem), --key FILE its "
	    "key\n",
	    CTL_DEFAULT_DB);
}

int
ctl_common_option(struct ctl *ctl, int ch, const char *arg)
{
	switch (ch) {
	case CTL_OPT_DB:
		ctl->db_path = arg;
		ctl->server = NULL;
		return 1;
	case CTL_OPT_SERVER:
		ctl->server = arg;
		return 1;
	case CTL_OPT_CA:
		ctl->ca_file = arg;
		return 1;
	case CTL_OPT_TOKEN_FILE:
		ctl->token_file = arg;
		return 1;
	case CTL_OPT_CERT:
		ctl->cert_file = arg;
		return 1;
	case CTL_OPT_KEY:
		ctl->key_file = arg;
		return 1;
	}
	return 0;
}

struct store_db *
ctl_open(struct ctl *ctl, int write)
{
	struct store_db *db;
	char *cause = NULL;

	if (ctl->server != NULL) {
		/* Callers handle --server before they open a DB. */
		ctl_warnx(
		    "--server %s: this command needs --db PATH", ctl->server);
		return NULL;
	}
	db = store_db_open(ctl->db_path, write, &cause);
	if (db == NULL) {
		ctl_warnx("%s", cause);
		free(cause);
	}
	return db;
}

static const struct {
	const char *name;
	int (*fn)(struct ctl *, int, char **);
} ctl_commands[] = {
    {"apply", ctl_apply},
    {"get", ctl_get},
    {"delete", ctl_delete},
    {"status", ctl_status},
    {"token", ctl_token},
    {"ca", ctl_ca},
    {"explain", ctl_explain},
    {"join", ctl_join},
    {"leave", ctl_leave},
    {"inject", ctl_inject},
    {"stat", ctl_stat},
    {"tap", ctl_tap},
    {"check", ctl_check},
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    CTL_COMMON_LONGOPTS,
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct ctl ctl;
	const char *env;
	size_t i;
	int ch;

	log_init("weftctl", LOG_LEVEL_WARN);
	memset(&ctl, 0, sizeof(ctl));
	ctl.db_path = CTL_DEFAULT_DB;
	if ((env = getenv("WEFT_DB")) != NULL && *env != '\0')
		ctl.db_path = env;
	else if ((env = getenv("WEFT_SERVER")) != NULL && *env != '\0')
		ctl.server = env;
	if ((env = getenv("WEFT_CA")) != NULL && *env != '\0')
		ctl.ca_file = env;
	if ((env = getenv("WEFT_TOKEN_FILE")) != NULL && *env != '\0')
		ctl.token_file = env;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (ctl_common_option(&ctl, ch, optarg))
			continue;
		switch (ch) {
		case 'h':
			ctl_usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("weftctl %s\n", PACKAGE_VERSION);
			return CTL_EXIT_OK;
		case ':':
			ctl_usage_error("%s needs a value", argv[optind - 1]);
		default:
			ctl_usage_error(
			    "unknown option %s (see weftctl --help)",
			    argv[optind - 1]);
		}
	}
	if (optind >= argc)
		ctl_usage_error("no command given (see weftctl --help)");
	for (i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++) {
		if (strcmp(argv[optind], ctl_commands[i].name) == 0)
			return ctl_commands[i].fn(
			    &ctl, argc - optind, argv + optind);
	}
	ctl_usage_error(
	    "unknown command \"%s\" (see weftctl --help)", argv[optind]);
}
