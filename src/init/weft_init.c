/*
 * weft-init: installs the iptables rules that send a workload's TCP
 * traffic through its weft-proxy, once per pod or VM, as root.
 */
#include "config.h"

#include <sys/socket.h>

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init_buf.h"
#include "init_ipt.h"
#include "init_opts.h"
#include "init_rules.h"
#include "log.h"
#include "xmalloc.h"

#define INIT_EXIT_USAGE 2

enum {
	OPT_PROXY_UID = 256,
	OPT_PROXY_GID,
	OPT_OUTBOUND_PORT,
	OPT_INBOUND_PORT,
	OPT_INCLUDE_INBOUND,
	OPT_EXCLUDE_INBOUND,
	OPT_EXCLUDE_OUTBOUND,
	OPT_EXCLUDE_CIDRS,
	OPT_L4_QUEUE,
	OPT_L4_FAIL_OPEN,
	OPT_DRY_RUN,
	OPT_CLEANUP,
	OPT_VERSION,
};

static const struct option init_longopts[] = {
    {"proxy-uid", required_argument, NULL, OPT_PROXY_UID},
    {"proxy-gid", required_argument, NULL, OPT_PROXY_GID},
    {"outbound-port", required_argument, NULL, OPT_OUTBOUND_PORT},
    {"inbound-port", required_argument, NULL, OPT_INBOUND_PORT},
    {"include-inbound-ports", required_argument, NULL, OPT_INCLUDE_INBOUND},
    {"exclude-inbound-ports", required_argument, NULL, OPT_EXCLUDE_INBOUND},
    {"exclude-outbound-ports", required_argument, NULL, OPT_EXCLUDE_OUTBOUND},
    {"exclude-outbound-cidrs", required_argument, NULL, OPT_EXCLUDE_CIDRS},
    {"l4-queue", required_argument, NULL, OPT_L4_QUEUE},
    {"l4-fail-open", no_argument, NULL, OPT_L4_FAIL_OPEN},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"cleanup", no_argument, NULL, OPT_CLEANUP},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* One address family and what weft-init does to it. */
struct init_family {
	int family;
	const char *label; /* "IPv4" */
	int enabled;
	int have_ipt;
	struct init_ipt ipt;
	struct init_state *state;
	int state_read;
	struct init_buf *input;
	size_t changes;
};

static void
init_usage(FILE *f)
{
	fprintf(f,
	    "usage: weft-init [--proxy-uid UID] [--proxy-gid GID] "
	    "[--outbound-port PORT]\n"
	    "                 [--inbound-port PORT] "
	    "[--include-inbound-ports LIST|'*']\n"
	    "                 [--exclude-inbound-ports LIST] "
	    "[--exclude-outbound-ports LIST]\n"
	    "                 [--exclude-outbound-cidrs LIST] [--l4-queue N] "
	    "[--l4-fail-open]\n"
	    "                 [--dry-run] [--cleanup]\n"
	    "       weft-init --help | --version\n"
	    "\n"
	    "Installs the iptables and ip6tables rules that send the TCP "
	    "traffic of this\n"
	    "network namespace through weft-proxy.\n"
	    "\n"
	    "  --proxy-uid UID      the proxy's user, never captured "
	    "(default %u)\n"
	    "  --proxy-gid GID      the proxy's group, never captured "
	    "(default: UID)\n"
	    "  --outbound-port P    where outgoing TCP is redirected "
	    "(default %u)\n"
	    "  --inbound-port P     where incoming TCP is redirected "
	    "(default %u)\n"
	    "  --include-inbound-ports LIST|'*'\n"
	    "                       incoming ports to capture (default '*': "
	    "all; '': none)\n"
	    "  --exclude-inbound-ports LIST\n"
	    "                       incoming ports never captured, besides "
	    "%u-%u\n"
	    "  --exclude-outbound-ports LIST\n"
	    "                       outgoing ports never captured\n"
	    "  --exclude-outbound-cidrs LIST\n"
	    "                       IPv4 or IPv6 destinations never "
	    "captured\n"
	    "  --l4-queue N         send UDP and uncaptured TCP connections "
	    "to NFQUEUE N\n"
	    "  --l4-fail-open       let them pass when no proxy reads the "
	    "queue\n"
	    "  --dry-run            print the iptables-restore input, change "
	    "nothing\n"
	    "  --cleanup            remove the rules weft-init installed\n"
	    "\n"
	    "A LIST is comma-separated: ports and ranges (8000-8010), or "
	    "CIDRs.\n",
	    INIT_PROXY_UID, INIT_OUTBOUND_PORT, INIT_INBOUND_PORT,
	    INIT_OWN_PORT_LO, INIT_OWN_PORT_HI);
}

/* Bad input: one line on stderr, then exit. */
static void __attribute__((format(printf, 1, 2), noreturn))
init_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "weft-init: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(INIT_EXIT_USAGE);
}

static void
init_check(int rc, const char *option, char **cause)
{
	if (rc == -1) {
		fprintf(stderr, "weft-init: %s: %s\n", option, *cause);
		free(*cause);
		exit(INIT_EXIT_USAGE);
	}
}

static void
init_parse_args(
    int argc, char **argv, struct init_opts *o, int *dry_run, int *cleanup)
{
	const char *name;
	char *cause = NULL;
	int ch, gid_set = 0;

	opterr = 0;
	while (
	    (ch = getopt_long(argc, argv, ":h", init_longopts, NULL)) != -1) {
		name = argv[optind - 1];
		switch (ch) {
		case OPT_PROXY_UID:
			init_check(init_opts_id(optarg, &o->proxy_uid, &cause),
			    "--proxy-uid", &cause);
			break;
		case OPT_PROXY_GID:
			init_check(init_opts_id(optarg, &o->proxy_gid, &cause),
			    "--proxy-gid", &cause);
			gid_set = 1;
			break;
		case OPT_OUTBOUND_PORT:
			init_check(
			    init_opts_port(optarg, &o->outbound_port, &cause),
			    "--outbound-port", &cause);
			break;
		case OPT_INBOUND_PORT:
			init_check(
			    init_opts_port(optarg, &o->inbound_port, &cause),
			    "--inbound-port", &cause);
			break;
		case OPT_INCLUDE_INBOUND:
			if (strcmp(optarg, "*") == 0) {
				o->inbound_all = 1;
				free(o->include_inbound.v);
				o->include_inbound.v = NULL;
				o->include_inbound.n = 0;
				break;
			}
			init_check(init_opts_ports(
				       optarg, &o->include_inbound, &cause),
			    "--include-inbound-ports", &cause);
			o->inbound_all = 0;
			break;
		case OPT_EXCLUDE_INBOUND:
			init_check(init_opts_ports(
				       optarg, &o->exclude_inbound, &cause),
			    "--exclude-inbound-ports", &cause);
			break;
		case OPT_EXCLUDE_OUTBOUND:
			init_check(init_opts_ports(
				       optarg, &o->exclude_outbound, &cause),
			    "--exclude-outbound-ports", &cause);
			break;
		case OPT_EXCLUDE_CIDRS:
			init_check(
			    init_opts_cidrs(optarg, &o->exclude_cidrs, &cause),
			    "--exclude-outbound-cidrs", &cause);
			break;
		case OPT_L4_QUEUE:
			init_check(
			    init_opts_queue(optarg, &o->l4_queue, &cause),
			    "--l4-queue", &cause);
			break;
		case OPT_L4_FAIL_OPEN:
			o->l4_fail_open = 1;
			break;
		case OPT_DRY_RUN:
			*dry_run = 1;
			break;
		case OPT_CLEANUP:
			*cleanup = 1;
			break;
		case 'h':
			init_usage(stdout);
			init_opts_clear(o);
			exit(0);
		case OPT_VERSION:
			printf("weft-init %s\n", PACKAGE_VERSION);
			init_opts_clear(o);
			exit(0);
		case ':':
			init_usage_error(
			    "%s: missing value (see --help)", name);
		default:
			if (strncmp(name, "--", 2) == 0 &&
			    strchr(name, '=') != NULL)
				init_usage_error(
				    "option \"%.*s\" takes no value",
				    (int)(strchr(name, '=') - name), name);
			if (optopt != 0 && optopt < 256)
				init_usage_error(
				    "unknown option \"-%c\" (see --help)",
				    optopt);
			init_usage_error(
			    "unknown option \"%s\" (see --help)", name);
		}
	}
	if (optind < argc)
		init_usage_error(
		    "unexpected argument \"%s\" (see --help)", argv[optind]);
	if (!gid_set)
		o->proxy_gid = o->proxy_uid;
	if (o->l4_fail_open && o->l4_queue < 0)
		init_usage_error("--l4-fail-open needs --l4-queue");
	if (o->inbound_port == o->outbound_port)
		init_usage_error("--inbound-port and --outbound-port are both "
				 "%u: they must differ",
		    o->inbound_port);
}

/* Why IPv6 cannot be used in this network namespace, or NULL. */
static const char *
init_ipv6_unusable(void)
{
	FILE *f;
	int c;

	f = fopen("/proc/sys/net/ipv6/conf/all/disable_ipv6", "r");
	if (f == NULL)
		return "IPv6 is not available in this kernel";
	c = fgetc(f);
	fclose(f);
	if (c == '1')
		return "IPv6 is disabled in this network namespace";
	return NULL;
}

/*
 * Opens the tools of fam and reads what is installed. IPv4 must work;
 * for IPv6 a failure is a warning, and weft-init goes on without it.
 */
static void
init_family_prepare(struct init_family *fam, int cleanup)
{
	char *cause = NULL;
	int v6 = fam->family == AF_INET6;

	if (init_ipt_open(&fam->ipt, fam->family, &cause) == -1) {
		if (!v6)
			fatalx("%s", cause);
		log_warnx("%s: without IPv6 rules", cause);
		free(cause);
		fam->enabled = 0;
		return;
	}
	fam->have_ipt = 1;
	if (init_ipt_mismatch(&fam->ipt, cleanup, &cause) == -1) {
		if (!cleanup)
			fatalx("%s", cause);
		log_warnx("%s", cause);
		free(cause);
	}
	if (init_ipt_state(&fam->ipt, fam->state, &cause) == -1) {
		if (!v6)
			fatalx("%s", cause);
		log_warnx("%s: without IPv6 rules", cause);
		free(cause);
		fam->enabled = 0;
		return;
	}
	fam->state_read = 1;
}

static void
init_dry_run_print(const struct init_family *fam, int cleanup)
{
	printf("# weft-init %s: input of \"%s --noflush\" (%s)\n",
	    PACKAGE_VERSION,
	    fam->family == AF_INET ? "iptables-restore" : "ip6tables-restore",
	    fam->label);
	if (!fam->state_read)
		printf("# (installed rules not read: not root; this input "
		       "is for a namespace without weft rules)\n");
	if (cleanup && fam->changes == 0)
		printf("# (no weft rules installed: nothing to remove)\n");
	fwrite(fam->input->data, 1, fam->input->len, stdout);
}

int
main(int argc, char **argv)
{
	struct init_family fams[2];
	struct init_opts o;
	const char *why;
	char *cause = NULL;
	int dry_run = 0, cleanup = 0, read_state;
	size_t i;

	log_init("weft-init", LOG_LEVEL_INFO);
	init_opts_defaults(&o);
	init_parse_args(argc, argv, &o, &dry_run, &cleanup);
	/* A helper that exits early must not kill us while we write. */
	signal(SIGPIPE, SIG_IGN);

	read_state = !dry_run || geteuid() == 0;
	if (cleanup && !read_state)
		fatalx("--cleanup --dry-run needs root: what to remove is "
		       "read from iptables-save");

	memset(fams, 0, sizeof(fams));
	fams[0].family = AF_INET;
	fams[0].label = "IPv4";
	fams[1].family = AF_INET6;
	fams[1].label = "IPv6";
	for (i = 0; i < 2; i++) {
		fams[i].enabled = 1;
		fams[i].state = init_state_new();
		fams[i].input = init_buf_new();
	}
	/* Rules installed earlier are removed even with IPv6 off now. */
	if (!cleanup && (why = init_ipv6_unusable()) != NULL) {
		log_warnx("%s: installing IPv4 rules only", why);
		fams[1].enabled = 0;
	}

	/* Read everything before changing anything. */
	for (i = 0; i < 2; i++) {
		if (fams[i].enabled && read_state)
			init_family_prepare(&fams[i], cleanup);
	}
	for (i = 0; i < 2; i++) {
		if (!fams[i].enabled)
			continue;
		if (cleanup)
			fams[i].changes =
			    init_rules_cleanup(fams[i].input, fams[i].state);
		else
			init_rules_install(
			    fams[i].input, &o, fams[i].family, fams[i].state);
	}

	for (i = 0; i < 2; i++) {
		if (!fams[i].enabled)
			continue;
		if (dry_run) {
			init_dry_run_print(&fams[i], cleanup);
			continue;
		}
		if (cleanup && fams[i].changes == 0) {
			log_info("%s: no weft rules installed", fams[i].label);
			continue;
		}
		if (init_ipt_restore(&fams[i].ipt, fams[i].input, &cause) == -1)
			fatalx("%s", cause);
		if (cleanup)
			log_info("%s: weft rules removed", fams[i].label);
		else
			log_info("%s: capture rules installed (outbound to "
				 "port %u, inbound to port %u)",
			    fams[i].label, o.outbound_port, o.inbound_port);
	}
	if (dry_run && fflush(stdout) == EOF)
		fatal("stdout");

	for (i = 0; i < 2; i++) {
		if (fams[i].have_ipt)
			init_ipt_close(&fams[i].ipt);
		init_state_free(fams[i].state);
		init_buf_free(fams[i].input);
	}
	init_opts_clear(&o);
	return 0;
}
