/*
 * weft-sync: keeps a workload's local policy DB and certificate current
 * from weft-server. It registers the workload (making it an endpoint of
 * the services that select it), pulls the policy's changesets into the
 * local DB, and renews the certificate at half life.
 */
#include "config.h"

#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "base64.h"
#include "ca.h"
#include "config_field.h"
#include "https_client.h"
#include "log.h"
#include "sync.h"
#include "sync_db.h"
#include "xmalloc.h"

static void
sync_usage(FILE *f)
{
	fprintf(f,
	    "usage: weft-sync --server URL (--token TOKEN | --token-file FILE "
	    "|\n"
	    "                 --kube-token-file PATH --ca FILE | existing "
	    "certs)\n"
	    "                 --workload NAME --namespace NS --address IP\n"
	    "                 [--db PATH] [--certs DIR] [--service-account "
	    "SA]\n"
	    "                 [--labels k=v,...] [--locality R/Z/N] "
	    "[--ports [NAME=]PORT,...]\n"
	    "                 [--proxy-admin ADDR:PORT] [--once] "
	    "[--keep-registered]\n"
	    "                 [--log-level LEVEL]\n"
	    "       weft-sync --help | --version\n"
	    "\n"
	    "  --server URL      weft-server (https://HOST[:15010]); or "
	    "$WEFT_SERVER\n"
	    "  --token TOKEN     join token (weftctl token create); or "
	    "$WEFT_TOKEN\n"
	    "  --kube-token-file PATH  join with this Kubernetes "
	    "service-account token\n"
	    "                    (audience weft, re-read at each use)\n"
	    "  --ca FILE         the server's CA, with --kube-token-file\n"
	    "  --db PATH         the local policy DB (default %s)\n"
	    "  --certs DIR       cert.pem, key.pem, ca.pem (default %s)\n"
	    "  --once            sync once and exit (status 0 when in sync)\n"
	    "  --keep-registered stay an endpoint after exiting\n",
	    SYNC_DEFAULT_DB, SYNC_DEFAULT_CERTS);
}

static void sync_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
sync_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "weft-sync: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

/* "k=v,k2=v2" as a JSON object text. */
static char *
sync_labels_json(const char *s)
{
	char *cause = NULL, *out;
	json_t *o;

	if ((o = config_labels_arg(s, &cause)) == NULL)
		sync_usage_error("--labels: %s", cause);
	out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return out;
}

/* "[name=]port,..." as a JSON object text of name -> port. */
static char *
sync_ports_json(const char *s)
{
	json_t *o = json_object();
	char *copy, *item, *save = NULL, *eq, *end, *out;
	const char *name, *num;
	long port;

	copy = xstrdup(s != NULL ? s : "");
	for (item = strtok_r(copy, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		if ((eq = strchr(item, '=')) != NULL) {
			*eq = '\0';
			name = item;
			num = eq + 1;
		} else
			name = num = item;
		port = strtol(num, &end, 10);
		if (*num == '\0' || *end != '\0' || port < 1 || port > 65535 ||
		    *name == '\0')
			sync_usage_error("--ports: expected [NAME=]PORT,... at "
					 "\"%s\"",
			    num);
		json_object_set_new(o, name, json_integer(port));
	}
	free(copy);
	out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return out;
}

static char *
sync_read_token(const char *path)
{
	char *text, *cause = NULL;

	if ((text = ca_read_file(path, &cause)) == NULL)
		sync_usage_error("--token-file: %s", cause);
	text[strcspn(text, "\r\n")] = '\0';
	return text;
}

/*
 * The service account a Kubernetes token names (its "sub",
 * system:serviceaccount:NS:SA), unverified: only to name ourselves, the
 * server reviews it. Allocated, or NULL.
 */
static char *
sync_kube_token_sa(const char *token)
{
	const char *p = strchr(token, '.'), *end, *sub, *sa;
	char *b64, *out = NULL;
	void *raw;
	size_t n, i, len;
	json_t *j;

	if (p == NULL || (end = strchr(p + 1, '.')) == NULL)
		return NULL;
	n = (size_t)(end - p - 1);
	b64 = xmalloc(n + 4);
	for (i = 0; i < n; i++)
		b64[i] = p[1 + i] == '-' ? '+'
		    : p[1 + i] == '_'    ? '/'
					 : p[1 + i];
	while (i % 4 != 0)
		b64[i++] = '=';
	b64[i] = '\0';
	raw = base64_decode(b64, &len);
	free(b64);
	if (raw == NULL)
		return NULL;
	j = json_loadb(raw, len, 0, NULL);
	free(raw);
	sub = json_string_value(json_object_get(j, "sub"));
	if (sub != NULL && strncmp(sub, "system:serviceaccount:", 22) == 0 &&
	    (sa = strchr(sub + 22, ':')) != NULL && sa[1] != '\0')
		out = xstrdup(sa + 1);
	json_decref(j);
	return out;
}

enum {
	OPT_SERVER = 1000,
	OPT_TOKEN,
	OPT_TOKEN_FILE,
	OPT_DB,
	OPT_CERTS,
	OPT_WORKLOAD,
	OPT_NAMESPACE,
	OPT_SA,
	OPT_LABELS,
	OPT_LOCALITY,
	OPT_ADDRESS,
	OPT_PORTS,
	OPT_PROXY_ADMIN,
	OPT_ONCE,
	OPT_KEEP,
	OPT_LOG_LEVEL,
	OPT_KUBE_TOKEN_FILE,
	OPT_CA,
};

static char *sync_token_text;
static char *sync_sa_text;

static void
sync_options(struct sync_conf *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"server", required_argument, NULL, OPT_SERVER},
	    {"token", required_argument, NULL, OPT_TOKEN},
	    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
	    {"db", required_argument, NULL, OPT_DB},
	    {"certs", required_argument, NULL, OPT_CERTS},
	    {"workload", required_argument, NULL, OPT_WORKLOAD},
	    {"namespace", required_argument, NULL, OPT_NAMESPACE},
	    {"service-account", required_argument, NULL, OPT_SA},
	    {"labels", required_argument, NULL, OPT_LABELS},
	    {"locality", required_argument, NULL, OPT_LOCALITY},
	    {"address", required_argument, NULL, OPT_ADDRESS},
	    {"ports", required_argument, NULL, OPT_PORTS},
	    {"proxy-admin", required_argument, NULL, OPT_PROXY_ADMIN},
	    {"once", no_argument, NULL, OPT_ONCE},
	    {"keep-registered", no_argument, NULL, OPT_KEEP},
	    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	    {"kube-token-file", required_argument, NULL, OPT_KUBE_TOKEN_FILE},
	    {"ca", required_argument, NULL, OPT_CA},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	enum log_level level;
	unsigned char buf[16];
	const char *env;
	char *text, *cause = NULL;
	char host[64];
	int ch, sa_given = 0, port;

	memset(c, 0, sizeof(*c));
	c->db_path = SYNC_DEFAULT_DB;
	c->certs_dir = SYNC_DEFAULT_CERTS;
	c->service_account = "default";
	c->locality = "";
	c->proxy_admin = SYNC_DEFAULT_ADMIN;
	if ((env = getenv("WEFT_SERVER")) != NULL && *env != '\0')
		c->server = env;
	if ((env = getenv("WEFT_TOKEN")) != NULL && *env != '\0')
		c->token = env;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_SERVER:
			c->server = optarg;
			break;
		case OPT_TOKEN:
			c->token = optarg;
			break;
		case OPT_TOKEN_FILE:
			free(sync_token_text);
			c->token = sync_token_text = sync_read_token(optarg);
			break;
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
			sa_given = 1;
			break;
		case OPT_LABELS:
			c->labels = optarg;
			break;
		case OPT_LOCALITY:
			c->locality = optarg;
			break;
		case OPT_ADDRESS:
			c->address = optarg;
			break;
		case OPT_PORTS:
			c->ports = optarg;
			break;
		case OPT_PROXY_ADMIN:
			if (sync_proxy_admin_addr(
				optarg, host, sizeof(host), &port) == -1)
				sync_usage_error("--proxy-admin: \"%s\" is not "
						 "HOST:PORT",
				    optarg);
			c->proxy_admin = optarg;
			break;
		case OPT_ONCE:
			c->once = 1;
			break;
		case OPT_KEEP:
			c->keep_registered = 1;
			break;
		case OPT_KUBE_TOKEN_FILE:
			c->kube_token_file = optarg;
			break;
		case OPT_CA:
			c->ca_file = optarg;
			break;
		case OPT_LOG_LEVEL:
			if (log_parse_level(optarg, &level) == -1)
				sync_usage_error("--log-level %s: expected "
						 "error, warn, info or debug",
				    optarg);
			log_setlevel(level);
			break;
		case 'h':
			sync_usage(stdout);
			exit(0);
		case 'V':
			printf("weft-sync %s\n", PACKAGE_VERSION);
			exit(0);
		case ':':
			sync_usage_error("%s needs a value", argv[optind - 1]);
		default:
			sync_usage_error("unknown option %s (see weft-sync "
					 "--help)",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		sync_usage_error("unexpected argument \"%s\"", argv[optind]);
	if (c->server == NULL)
		sync_usage_error("--server URL is required");
	if (strncmp(c->server, "https://", 8) != 0)
		sync_usage_error("--server %s: expected https://HOST[:PORT] "
				 "(weft-server speaks only HTTPS)",
		    c->server);
	if (c->kube_token_file != NULL) {
		if (c->token != NULL)
			sync_usage_error("--kube-token-file and a join token "
					 "(--token, $WEFT_TOKEN): one or the "
					 "other");
		if (c->ca_file == NULL)
			sync_usage_error("--kube-token-file needs --ca FILE "
					 "(the server's CA)");
		if (access(c->ca_file, R_OK) == -1)
			sync_usage_error(
			    "--ca %s: %s", c->ca_file, strerror(errno));
		if ((text = ca_read_token(c->kube_token_file, &cause)) == NULL)
			sync_usage_error("--kube-token-file: %s", cause);
		/* Unless told, the service account the token is of. */
		if (!sa_given &&
		    (sync_sa_text = sync_kube_token_sa(text)) != NULL)
			c->service_account = sync_sa_text;
		free(text);
	} else if (c->ca_file != NULL)
		sync_usage_error("--ca is for --kube-token-file (a join token "
				 "pins the CA itself)");
	if (c->workload == NULL || !config_dns_subdomain(c->workload))
		sync_usage_error("--workload NAME is required (a DNS name)");
	if (c->namespace == NULL || !config_dns_label(c->namespace))
		sync_usage_error("--namespace NS is required (a DNS label)");
	if (!config_dns_subdomain(c->service_account))
		sync_usage_error("--service-account %s: expected a DNS name",
		    c->service_account);
	if (c->address == NULL ||
	    (inet_pton(AF_INET, c->address, buf) != 1 &&
		inet_pton(AF_INET6, c->address, buf) != 1))
		sync_usage_error("--address IP is required (the workload's "
				 "address)");
}

static void
sync_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	sync_stop(arg);
}

int
main(int argc, char **argv)
{
	static struct sync s;
	struct event *sigterm, *sigint;
	char *cause = NULL;
	int rebuilt;

	log_init("weft-sync", LOG_LEVEL_INFO);
	sync_options(&s.conf, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	s.labels_json = sync_labels_json(s.conf.labels);
	s.ports_json = sync_ports_json(s.conf.ports);
	s.heartbeat_sec = 10;
	if (mkdir(s.conf.certs_dir, 0755) == -1 && errno != EEXIST)
		fatal("cannot create %s", s.conf.certs_dir);
	if ((s.db = sync_db_open(s.conf.db_path, &rebuilt, &cause)) == NULL)
		fatalx("%s", cause);
	if ((s.base = event_base_new()) == NULL)
		fatalx("cannot make an event base");
	sigterm = evsignal_new(s.base, SIGTERM, sync_signal_cb, &s);
	sigint = evsignal_new(s.base, SIGINT, sync_signal_cb, &s);
	if (sigterm == NULL || sigint == NULL ||
	    evsignal_add(sigterm, NULL) == -1 ||
	    evsignal_add(sigint, NULL) == -1)
		fatalx("cannot set up signals");

	sync_start(&s);
	event_base_dispatch(s.base);
	sync_tap_stop(&s);

	https_client_free(s.client);
	if (s.timer != NULL)
		event_free(s.timer);
	event_free(sigterm);
	event_free(sigint);
	sync_db_close(s.db);
	event_base_free(s.base);
	free(s.history);
	free(s.labels_json);
	free(s.ports_json);
	free(sync_token_text);
	free(sync_sa_text);
	return s.exit_code;
}
