#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "jwks_fetch.h"
#include "proxy.h"
#include "trace.h"

#define DEFAULT_DB    "/var/lib/weft/policy.db"
#define DEFAULT_CERTS "/var/lib/weft/certs"

enum {
	OPT_DB = 256,
	OPT_CERTS,
	OPT_WORKLOAD,
	OPT_NAMESPACE,
	OPT_SA,
	OPT_LABELS,
	OPT_LOCALITY,
	OPT_UID,
	OPT_GID,
	OPT_L4_QUEUE,
	OPT_ACCESS_LOG,
	OPT_LOG_LEVEL,
	OPT_OUTBOUND_PORT,
	OPT_INBOUND_PORT,
	OPT_ADMIN_PORT,
	OPT_METRICS_PORT,
	OPT_THREADS,
	OPT_MAX_CONNS,
	OPT_DRAIN_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_CONNECT_TIMEOUT,
	OPT_HEADER_TIMEOUT,
	OPT_DETECT_TIMEOUT,
	OPT_UPSTREAM_IDLE,
	OPT_MAX_HEADER,
	OPT_JWKS_CA,
	OPT_JWKS_REFRESH,
	OPT_TRACE_COLLECTOR,
	OPT_TRACE_FORMAT,
	OPT_TRACE_SAMPLING,
	OPT_L4_FAIL_OPEN,
	OPT_OUTBOUND_POLICY,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option proxy_options[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"certs", required_argument, NULL, OPT_CERTS},
    {"workload", required_argument, NULL, OPT_WORKLOAD},
    {"namespace", required_argument, NULL, OPT_NAMESPACE},
    {"service-account", required_argument, NULL, OPT_SA},
    {"labels", required_argument, NULL, OPT_LABELS},
    {"locality", required_argument, NULL, OPT_LOCALITY},
    {"uid", required_argument, NULL, OPT_UID},
    {"gid", required_argument, NULL, OPT_GID},
    {"l4-queue", required_argument, NULL, OPT_L4_QUEUE},
    {"l4-fail-open", no_argument, NULL, OPT_L4_FAIL_OPEN},
    {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"outbound-port", required_argument, NULL, OPT_OUTBOUND_PORT},
    {"inbound-port", required_argument, NULL, OPT_INBOUND_PORT},
    {"admin-port", required_argument, NULL, OPT_ADMIN_PORT},
    {"metrics-port", required_argument, NULL, OPT_METRICS_PORT},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNS},
    {"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"detect-timeout", required_argument, NULL, OPT_DETECT_TIMEOUT},
    {"upstream-idle-timeout", required_argument, NULL, OPT_UPSTREAM_IDLE},
    {"max-header-size", required_argument, NULL, OPT_MAX_HEADER},
    {"jwks-ca", required_argument, NULL, OPT_JWKS_CA},
    {"jwks-refresh", required_argument, NULL, OPT_JWKS_REFRESH},
    {"trace-collector", required_argument, NULL, OPT_TRACE_COLLECTOR},
    {"trace-format", required_argument, NULL, OPT_TRACE_FORMAT},
    {"trace-sampling", required_argument, NULL, OPT_TRACE_SAMPLING},
    {"outbound-traffic-policy", required_argument, NULL, OPT_OUTBOUND_POLICY},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static void
proxy_usage(FILE *f)
{
	fprintf(f,
	    "usage: weft-proxy [--db PATH] [--certs DIR] --workload NAME "
	    "--namespace NS\n"
	    "                  [--service-account SA] [--labels k=v,...] "
	    "[--locality R/Z/N]\n"
	    "                  [--uid UID] [--gid GID] [--l4-queue N] "
	    "[--l4-fail-open]\n"
	    "                  [--access-log PATH|-|off] [--log-level LEVEL]\n"
	    "                  [--outbound-port P] [--inbound-port P] "
	    "[--admin-port P]\n"
	    "                  [--metrics-port P] [--threads N] "
	    "[--max-connections N]\n"
	    "                  [--drain-timeout D] [--idle-timeout D] "
	    "[--connect-timeout D]\n"
	    "                  [--header-timeout D] [--detect-timeout D]\n"
	    "                  [--upstream-idle-timeout D] "
	    "[--max-header-size BYTES]\n"
	    "                  [--jwks-ca FILE] [--jwks-refresh D]\n"
	    "                  [--trace-collector URL] "
	    "[--trace-format zipkin|otlp]\n"
	    "                  [--trace-sampling PERCENT]\n"
	    "                  [--outbound-traffic-policy "
	    "allow-any|registry-only]\n"
	    "                  [--help] [--version]\n");
}

static long
conf_number(
    const char *opt, const char *arg, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < min || v > max)
		fatalx("--%s: \"%s\" is not %s (%ld-%ld)", opt, arg, what, min,
		    max);
	return v;
}

static int
conf_duration(const char *opt, const char *arg)
{
	int64_t ms;

	if (duration_parse(arg, &ms) == -1 || ms > INT_MAX)
		fatalx("--%s: \"%s\" is not a duration (such as 250ms, 5s, 1m)",
		    opt, arg);
	return (int)ms;
}

/* Checks k=v,... and picks the "version" label for the metrics. */
static void
conf_labels(struct proxy_conf *c, const char *labels)
{
	static char version[METRICS_LABEL_MAX];
	const char *p = labels, *eq, *end;

	while (*p != '\0') {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL || eq == p)
			fatalx("--labels: \"%.*s\" is not key=value",
			    (int)(end - p), p);
		if (eq - p == 7 && strncmp(p, "version", 7) == 0) {
			snprintf(version, sizeof(version), "%.*s",
			    (int)(end - eq - 1), eq + 1);
			c->version_label = version;
		}
		p = *end == ',' ? end + 1 : end;
	}
}

void
proxy_conf_parse(struct proxy_conf *c, int argc, char **argv)
{
	enum log_level level;
	char *cause = NULL;
	int ch;

	memset(c, 0, sizeof(*c));
	c->db_path = DEFAULT_DB;
	c->certs_dir = DEFAULT_CERTS;
	c->service_account = "default";
	c->labels = "";
	c->locality = "";
	c->version_label = "unknown";
	c->uid = 1337;
	c->gid = (gid_t)-1;
	c->l4_queue = -1;
	c->access_log = "off";
	c->log_level = LOG_LEVEL_INFO;
	c->outbound_port = 15001;
	c->inbound_port = 15006;
	c->admin_port = 15000;
	c->metrics_port = 15020;
	c->threads = 1;
	c->max_connections = 16384;
	c->drain_timeout_ms = 5000;
	c->idle_timeout_ms = 300000;
	c->connect_timeout_ms = 5000;
	c->header_timeout_ms = 10000;
	c->detect_timeout_ms = 250;
	c->upstream_idle_ms = 60000;
	c->max_head = 65536;
	c->jwks_refresh_ms = JWKS_REFRESH_MS;
	c->trace_format = TRACE_FORMAT_ZIPKIN;
	c->trace_ppm = 10000; /* 1 percent, Istio's default */

	opterr = 0; /* one line of our own instead of getopt's and the usage */
	while ((ch = getopt_long(argc, argv, ":", proxy_options, NULL)) != -1) {
		switch (ch) {
		case OPT_DB:
			c->db_path = optarg;
			break;
		case OPT_CERTS:
			c->certs_dir = optarg;
			break;
		case OPT_WORKLOAD:
			c->workload = optarg;
			break;
		case OPT_NAMESPACE:
			c->namespace = optarg;
			break;
		case OPT_SA:
			c->service_account = optarg;
			break;
		case OPT_LABELS:
			c->labels = optarg;
			conf_labels(c, optarg);
			break;
		case OPT_LOCALITY:
			c->locality = optarg;
			break;
		case OPT_UID:
			c->uid = (uid_t)conf_number(
			    "uid", optarg, 1, 65534, "a user id");
			c->uid_given = 1;
			break;
		case OPT_GID:
			c->gid = (gid_t)conf_number(
			    "gid", optarg, 1, 65534, "a group id");
			break;
		case OPT_L4_QUEUE:
			c->l4_queue = (int)conf_number(
			    "l4-queue", optarg, 0, 65535, "a queue number");
			break;
		case OPT_L4_FAIL_OPEN:
			c->l4_fail_open = 1;
			break;
		case OPT_ACCESS_LOG:
			c->access_log = optarg;
			break;
		case OPT_LOG_LEVEL:
			if (log_parse_level(optarg, &level) == -1)
				fatalx("--log-level: \"%s\" is not one of "
				       "error, warn, info, debug",
				    optarg);
			c->log_level = level;
			break;
		case OPT_OUTBOUND_PORT:
			c->outbound_port = (int)conf_number(
			    "outbound-port", optarg, 1, 65535, "a port number");
			break;
		case OPT_INBOUND_PORT:
			c->inbound_port = (int)conf_number(
			    "inbound-port", optarg, 1, 65535, "a port number");
			break;
		case OPT_ADMIN_PORT:
			c->admin_port = (int)conf_number(
			    "admin-port", optarg, 1, 65535, "a port number");
			break;
		case OPT_METRICS_PORT:
			c->metrics_port = (int)conf_number(
			    "metrics-port", optarg, 1, 65535, "a port number");
			break;
		case OPT_THREADS:
			c->threads = (int)conf_number(
			    "threads", optarg, 1, 64, "a thread count");
			break;
		case OPT_MAX_CONNS:
			c->max_connections = (int)conf_number("max-connections",
			    optarg, 1, 1000000, "a connection count");
			break;
		case OPT_DRAIN_TIMEOUT:
			c->drain_timeout_ms =
			    conf_duration("drain-timeout", optarg);
			break;
		case OPT_IDLE_TIMEOUT:
			c->idle_timeout_ms =
			    conf_duration("idle-timeout", optarg);
			break;
		case OPT_CONNECT_TIMEOUT:
			c->connect_timeout_ms =
			    conf_duration("connect-timeout", optarg);
			break;
		case OPT_HEADER_TIMEOUT:
			c->header_timeout_ms =
			    conf_duration("header-timeout", optarg);
			break;
		case OPT_DETECT_TIMEOUT:
			c->detect_timeout_ms =
			    conf_duration("detect-timeout", optarg);
			break;
		case OPT_UPSTREAM_IDLE:
			c->upstream_idle_ms =
			    conf_duration("upstream-idle-timeout", optarg);
			break;
		case OPT_MAX_HEADER:
			c->max_head = (size_t)conf_number("max-header-size",
			    optarg, 1024, 1048576, "a size in bytes");
			break;
		case OPT_JWKS_CA:
			c->jwks_ca = optarg;
			break;
		case OPT_JWKS_REFRESH:
			c->jwks_refresh_ms =
			    conf_duration("jwks-refresh", optarg);
			if (c->jwks_refresh_ms < 1000)
				fatalx("--jwks-refresh: \"%s\" is under 1s",
				    optarg);
			break;
		case OPT_TRACE_COLLECTOR:
			if (trace_url_check(optarg, &cause) == -1)
				fatalx("--trace-collector: %s", cause);
			c->trace_collector = optarg;
			break;
		case OPT_TRACE_FORMAT:
			if (strcmp(optarg, "zipkin") == 0)
				c->trace_format = TRACE_FORMAT_ZIPKIN;
			else if (strcmp(optarg, "otlp") == 0)
				c->trace_format = TRACE_FORMAT_OTLP;
			else
				fatalx("--trace-format: \"%s\" is not zipkin "
				       "or otlp",
				    optarg);
			break;
		case OPT_TRACE_SAMPLING:
			if (trace_parse_percent(optarg, &c->trace_ppm) == -1)
				fatalx("--trace-sampling: \"%s\" is not a "
				       "percentage from 0 to 100 (such as 1, "
				       "0.5, 100)",
				    optarg);
			break;
		case OPT_OUTBOUND_POLICY:
			if (strcmp(optarg, "allow-any") == 0)
				c->registry_only = 0;
			else if (strcmp(optarg, "registry-only") == 0)
				c->registry_only = 1;
			else
				fatalx(
				    "--outbound-traffic-policy: \"%s\" is not "
				    "allow-any or registry-only",
				    optarg);
			break;
		case OPT_HELP:
			proxy_usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("weft-proxy %s\n", PACKAGE_VERSION);
			exit(0);
		case ':':
			fatalx(
			    "%s: missing value (see --help)", argv[optind - 1]);
		default:
			fatalx("unknown option \"%s\" (see --help)",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		fatalx("unexpected argument \"%s\" (see --help)", argv[optind]);
	if (c->workload == NULL || *c->workload == '\0')
		fatalx("--workload is required (see --help)");
	if (c->namespace == NULL || *c->namespace == '\0')
		fatalx("--namespace is required (see --help)");
	if (c->gid == (gid_t)-1)
		c->gid = (gid_t)c->uid;
	if (c->outbound_port == c->inbound_port ||
	    c->outbound_port == c->metrics_port ||
	    c->inbound_port == c->metrics_port ||
	    c->admin_port == c->metrics_port)
		fatalx("the outbound, inbound, admin and metrics ports must "
		       "differ");
	if (c->l4_fail_open && c->l4_queue == -1)
		fatalx("--l4-fail-open needs --l4-queue");
	if (c->idle_timeout_ms == 0 || c->connect_timeout_ms == 0 ||
	    c->header_timeout_ms == 0)
		fatalx("timeouts must be greater than zero");
}
