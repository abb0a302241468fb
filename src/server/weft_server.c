/*
 * weft-server: the mesh's control plane. It owns the authoritative
 * policy DB, serves the HTTPS API that weftctl and every weft-sync use,
 * records each applied transaction as a changeset for the change feed,
 * holds the mesh CA, and keeps the registry of workloads.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "ca.h"
#include "duration.h"
#include "log.h"
#include "server.h"
#include "server_db.h"
#include "xmalloc.h"

#define SERVER_CERT_TTL_SEC (365 * 86400)
#define SERVER_MAX_SANS     64

int64_t
server_now(void)
{
	return (int64_t)time(NULL);
}

static void
server_usage(FILE *f)
{
	fprintf(f,
	    "usage: weft-server [--data-dir DIR] [--db PATH] "
	    "[--listen ADDR:PORT]\n"
	    "                   [--trust-domain DOMAIN] [--cert-ttl DURATION]\n"
	    "                   [--heartbeat-timeout DURATION] [--history N]\n"
	    "                   [--san NAME|IP]... [--log-level LEVEL]\n"
	    "                   [--webhook-listen ADDR:PORT|off] "
	    "[--native-sidecars on|off]\n"
	    "                   [--init-image IMAGE] [--proxy-image IMAGE] "
	    "[--mesh-url URL]\n"
	    "                   [--kube-api URL|off] [--kube-token-file FILE] "
	    "[--kube-ca FILE]\n"
	    "                   [--kube-resync DURATION] "
	    "[--kube-audience AUDIENCE]\n"
	    "       weft-server --help | --version\n"
	    "\n"
	    "  --data-dir DIR     CA, admin token and DB (default %s)\n"
	    "  --db PATH          the authoritative policy DB "
	    "(default DIR/policy.db)\n"
	    "  --listen ADDR:PORT the HTTPS API (default [::]:%d)\n"
	    "  --trust-domain D   SPIFFE trust domain (default cluster.local)\n"
	    "  --cert-ttl D       workload certificate lifetime (default 24h)\n"
	    "  --heartbeat-timeout D\n"
	    "                     a workload out of contact this long is "
	    "unhealthy (default 30s)\n"
	    "  --history N        changesets kept for the feed (default 1000)\n"
	    "  --san NAME|IP      another name of this server for its "
	    "certificate\n"
	    "  --kube-api URL|off the Kubernetes API server to discover "
	    "Services from\n"
	    "                     (default: in-cluster, when in a pod)\n"
	    "  --kube-token-file F  its bearer token (default: the pod's "
	    "service account)\n"
	    "  --kube-ca FILE     its CA (default: the pod's service "
	    "account's)\n"
	    "  --kube-resync D    list everything again this often "
	    "(default 5m)\n"
	    "  --kube-audience A  audience of workloads' service-account "
	    "tokens (default weft)\n"
	    "  --log-level L      error, warn, info or debug (default info)\n"
	    "  --webhook-listen ADDR:PORT|off\n"
	    "                     the Kubernetes admission webhook "
	    "(default [::]:%d)\n"
	    "  --native-sidecars on|off\n"
	    "                     inject the sidecars as native sidecars "
	    "(default on)\n"
	    "  --init-image IMAGE the weft-init image (default %s)\n"
	    "  --proxy-image IMAGE\n"
	    "                     the weft-proxy and weft-sync image "
	    "(default %s)\n"
	    "  --mesh-url URL     this server, as the sidecars reach it\n"
	    "                     (default %s)\n",
	    SERVER_DEFAULT_DATA_DIR, SERVER_DEFAULT_PORT, SERVER_WEBHOOK_PORT,
	    INJECT_DEFAULT_INIT_IMAGE, INJECT_DEFAULT_PROXY_IMAGE,
	    INJECT_DEFAULT_MESH_URL);
}

static void server_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
server_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "weft-server: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

static int64_t
server_duration_sec(const char *opt, const char *arg, int64_t min)
{
	int64_t ms;

	if (duration_parse(arg, &ms) == -1 || ms / 1000 < min)
		server_usage_error("%s %s: expected a duration of at least "
				   "%llds (like 30s, 24h)",
		    opt, arg, (long long)min);
	return ms / 1000;
}

enum {
	OPT_DATA_DIR = 1000,
	OPT_DB,
	OPT_LISTEN,
	OPT_TRUST_DOMAIN,
	OPT_CERT_TTL,
	OPT_HEARTBEAT,
	OPT_HISTORY,
	OPT_SAN,
	OPT_LOG_LEVEL,
	OPT_KUBE_API,
	OPT_KUBE_TOKEN_FILE,
	OPT_KUBE_CA,
	OPT_KUBE_RESYNC,
	OPT_KUBE_AUDIENCE,
	OPT_WEBHOOK_LISTEN,
	OPT_NATIVE_SIDECARS,
	OPT_INIT_IMAGE,
	OPT_PROXY_IMAGE,
	OPT_MESH_URL,
};

/* An image reference: printable, no blank, not empty. */
static const char *
server_image(const char *opt, const char *arg)
{
	const char *p;

	for (p = arg; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			break;
	if (*arg == '\0' || *p != '\0')
		server_usage_error("%s \"%s\": expected an image reference "
				   "(like registry/weft/sidecar:1.0)",
		    opt, arg);
	return arg;
}

static void
server_options(struct server_conf *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
	    {"db", required_argument, NULL, OPT_DB},
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"trust-domain", required_argument, NULL, OPT_TRUST_DOMAIN},
	    {"cert-ttl", required_argument, NULL, OPT_CERT_TTL},
	    {"heartbeat-timeout", required_argument, NULL, OPT_HEARTBEAT},
	    {"history", required_argument, NULL, OPT_HISTORY},
	    {"san", required_argument, NULL, OPT_SAN},
	    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	    {"kube-api", required_argument, NULL, OPT_KUBE_API},
	    {"kube-token-file", required_argument, NULL, OPT_KUBE_TOKEN_FILE},
	    {"kube-ca", required_argument, NULL, OPT_KUBE_CA},
	    {"kube-resync", required_argument, NULL, OPT_KUBE_RESYNC},
	    {"kube-audience", required_argument, NULL, OPT_KUBE_AUDIENCE},
	    {"webhook-listen", required_argument, NULL, OPT_WEBHOOK_LISTEN},
	    {"native-sidecars", required_argument, NULL, OPT_NATIVE_SIDECARS},
	    {"init-image", required_argument, NULL, OPT_INIT_IMAGE},
	    {"proxy-image", required_argument, NULL, OPT_PROXY_IMAGE},
	    {"mesh-url", required_argument, NULL, OPT_MESH_URL},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	enum log_level level;
	char *end;
	long n;
	int ch;

	memset(c, 0, sizeof(*c));
	c->data_dir = SERVER_DEFAULT_DATA_DIR;
	c->listen = "[::]:15010";
	c->trust_domain = "cluster.local";
	c->cert_ttl_sec = 86400;
	c->heartbeat_timeout_sec = 30;
	c->history = 1000;
	c->kube_resync_sec = 300;
	c->kube_audience = "weft";
	c->sans = xcalloc((size_t)argc + 1, sizeof(*c->sans));
	c->webhook_listen = "[::]:15017";
	inject_conf_init(&c->inject);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_DATA_DIR:
			c->data_dir = optarg;
			break;
		case OPT_DB:
			c->db_path = optarg;
			break;
		case OPT_LISTEN:
			c->listen = optarg;
			break;
		case OPT_TRUST_DOMAIN:
			c->trust_domain = optarg;
			break;
		case OPT_CERT_TTL:
			c->cert_ttl_sec =
			    server_duration_sec("--cert-ttl", optarg, 60);
			break;
		case OPT_HEARTBEAT:
			c->heartbeat_timeout_sec = server_duration_sec(
			    "--heartbeat-timeout", optarg, 3);
			break;
		case OPT_HISTORY:
			n = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || n < 1 ||
			    n > 1000000)
				server_usage_error("--history %s: expected a "
						   "count from 1 to 1000000",
				    optarg);
			c->history = (size_t)n;
			break;
		case OPT_SAN:
			c->sans[c->nsans++] = optarg;
			break;
		case OPT_KUBE_API:
			if (strcmp(optarg, "off") != 0 &&
			    strncmp(optarg, "https://", 8) != 0)
				server_usage_error("--kube-api %s: expected "
						   "https://HOST[:PORT] or off",
				    optarg);
			c->kube_api = optarg;
			break;
		case OPT_KUBE_TOKEN_FILE:
			c->kube_token_file = optarg;
			break;
		case OPT_KUBE_CA:
			c->kube_ca = optarg;
			break;
		case OPT_KUBE_RESYNC:
			c->kube_resync_sec =
			    server_duration_sec("--kube-resync", optarg, 1);
			break;
		case OPT_KUBE_AUDIENCE:
			if (*optarg == '\0')
				server_usage_error("--kube-audience: expected "
						   "a name");
			c->kube_audience = optarg;
			break;
		case OPT_LOG_LEVEL:
			if (log_parse_level(optarg, &level) == -1)
				server_usage_error("--log-level %s: expected "
						   "error, warn, info or debug",
				    optarg);
			log_setlevel(level);
			break;
		case OPT_WEBHOOK_LISTEN:
			c->webhook_listen =
			    strcmp(optarg, "off") == 0 ? NULL : optarg;
			break;
		case OPT_NATIVE_SIDECARS:
			if (strcmp(optarg, "on") == 0)
				c->inject.native_sidecars = 1;
			else if (strcmp(optarg, "off") == 0)
				c->inject.native_sidecars = 0;
			else
				server_usage_error("--native-sidecars %s: "
						   "expected on or off",
				    optarg);
			break;
		case OPT_INIT_IMAGE:
			c->inject.init_image =
			    server_image("--init-image", optarg);
			break;
		case OPT_PROXY_IMAGE:
			c->inject.proxy_image =
			    server_image("--proxy-image", optarg);
			break;
		case OPT_MESH_URL:
			if (strncmp(optarg, "https://", 8) != 0 ||
			    optarg[8] == '\0' || strpbrk(optarg, " \t") != NULL)
				server_usage_error("--mesh-url %s: expected "
						   "https://HOST[:PORT]",
				    optarg);
			c->inject.mesh_url = optarg;
			break;
		case 'h':
			server_usage(stdout);
			exit(0);
		case 'V':
			printf("weft-server %s\n", PACKAGE_VERSION);
			exit(0);
		case ':':
			server_usage_error(
			    "%s needs a value", argv[optind - 1]);
		default:
			server_usage_error("unknown option %s (see weft-server "
					   "--help)",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		server_usage_error("unexpected argument \"%s\"", argv[optind]);
}

/* The admin token: made once, kept in DIR/admin.token (0600). */
static void
server_admin_token(struct server *srv)
{
	unsigned char rnd[32];
	char *path, *text, *cause = NULL;
	size_t i, len;

	xasprintf(&path, "%s/admin.token", srv->conf.data_dir);
	if ((text = ca_read_file(path, &cause)) != NULL) {
		len = strcspn(text, "\r\n");
		if (len != 64)
			fatalx("%s: expected 64 hex digits", path);
		memcpy(srv->admin_token, text, 64);
		srv->admin_token[64] = '\0';
		free(text);
	} else {
		if (access(path, F_OK) == 0)
			fatalx("%s", cause);
		free(cause);
		cause = NULL;
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			fatalx("no random bytes for the admin token");
		for (i = 0; i < sizeof(rnd); i++)
			snprintf(srv->admin_token + 2 * i, 3, "%02x", rnd[i]);
		xasprintf(&text, "%s\n", srv->admin_token);
		if (ca_write_file(path, text, strlen(text), 0600, &cause) == -1)
			fatalx("%s", cause);
		free(text);
		log_info("created the admin token %s", path);
	}
	free(path);
}

/*
 * Whether the admin certificate of cert_path chains to the root that
 * signs now; the bundle may hold another root (a rotation).
 */
static int
server_admin_cert_current(struct server *srv, const char *cert_path)
{
	char *pem, anchor[65], *cause = NULL;
	int current = 0;

	if ((pem = ca_read_file(cert_path, &cause)) != NULL &&
	    ca_cert_anchor(pem, ca_bundle_pem(srv->ca), anchor, &cause) == 0)
		current = strcmp(anchor, ca_fingerprint(srv->ca)) == 0;
	free(cause);
	free(pem);
	return current;
}

/*
 * The admin client certificate, for admins who prefer mTLS to the
 * token: made with the CA, kept in DIR/admin.pem and DIR/admin-key.pem
 * (0600), and made again when the CA signs with another root.
 */
int
server_admin_cert(struct server *srv, char **cause)
{
	char *cert_path, *key_path, *key = NULL, *csr = NULL, *cert = NULL;
	int64_t not_after;
	int rv = -1;

	xasprintf(&cert_path, "%s/admin.pem", srv->conf.data_dir);
	xasprintf(&key_path, "%s/admin-key.pem", srv->conf.data_dir);
	if (access(cert_path, F_OK) == 0 && access(key_path, F_OK) == 0 &&
	    server_admin_cert_current(srv, cert_path)) {
		rv = 0;
		goto out;
	}
	if ((key = ca_key_generate(cause)) == NULL ||
	    (csr = ca_csr_make(key, srv->admin_spiffe, cause)) == NULL ||
	    (cert = ca_issue(srv->ca, csr, srv->admin_spiffe,
		 SERVER_CERT_TTL_SEC, &not_after, cause)) == NULL ||
	    ca_write_file(key_path, key, strlen(key), 0600, cause) == -1 ||
	    ca_write_file(cert_path, cert, strlen(cert), 0600, cause) == -1)
		goto out;
	log_info("made the admin certificate %s (%s) with the root %s",
	    cert_path, srv->admin_spiffe, ca_fingerprint(srv->ca));
	rv = 0;
out:
	free(cert_path);
	free(key_path);
	free(key);
	free(csr);
	free(cert);
	return rv;
}

/*
 * The server's certificate is issued afresh at each start (and each
 * step of a rotation of the root) for every address of this host and
 * the names given, so that clients can check the host they dialled.
 */
int
server_tls_cert(struct server *srv, char **cert, char **key, char **cause)
{
	const char *dns[SERVER_MAX_SANS + 4], *ips[SERVER_MAX_SANS + 64];
	char *owned[SERVER_MAX_SANS + 64], host[256], addr[INET6_ADDRSTRLEN];
	struct ifaddrs *ifa = NULL, *i;
	unsigned char buf[16];
	size_t nd = 0, ni = 0, no = 0, k;
	char *spiffe;
	void *a;
	int rv;

	dns[nd++] = "localhost";
	dns[nd++] = "weft-server";
	if (gethostname(host, sizeof(host)) == 0 && host[0] != '\0') {
		host[sizeof(host) - 1] = '\0';
		dns[nd++] = owned[no++] = xstrdup(host);
	}
	for (k = 0; k < srv->conf.nsans; k++) {
		if (inet_pton(AF_INET, srv->conf.sans[k], buf) == 1 ||
		    inet_pton(AF_INET6, srv->conf.sans[k], buf) == 1) {
			if (ni < SERVER_MAX_SANS)
				ips[ni++] = srv->conf.sans[k];
		} else if (nd < SERVER_MAX_SANS)
			dns[nd++] = srv->conf.sans[k];
	}
	if (getifaddrs(&ifa) == 0) {
		for (i = ifa; i != NULL && ni < SERVER_MAX_SANS + 60;
		     i = i->ifa_next) {
			if (i->ifa_addr == NULL)
				continue;
			if (i->ifa_addr->sa_family == AF_INET)
				a = &((struct sockaddr_in *)(void *)i->ifa_addr)
					 ->sin_addr;
			else if (i->ifa_addr->sa_family == AF_INET6) {
				a = &(
				    (struct sockaddr_in6 *)(void *)i->ifa_addr)
					 ->sin6_addr;
				if (IN6_IS_ADDR_LINKLOCAL((struct in6_addr *)a))
					continue;
			} else
				continue;
			if (inet_ntop(i->ifa_addr->sa_family, a, addr,
				sizeof(addr)) == NULL)
				continue;
			ips[ni++] = owned[no++] = xstrdup(addr);
		}
		freeifaddrs(ifa);
	}
	dns[nd] = NULL;
	ips[ni] = NULL;
	xasprintf(&spiffe, "spiffe://%s/ns/%s/sa/weft-server",
	    srv->conf.trust_domain, SERVER_ADMIN_NAMESPACE);
	rv = ca_issue_server(
	    srv->ca, dns, ips, spiffe, SERVER_CERT_TTL_SEC, cert, key, cause);
	free(spiffe);
	for (k = 0; k < no; k++)
		free(owned[k]);
	return rv;
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct timeval flush = {0, 200000};

	(void)what;
	log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	/* Answer the held sync requests, and let the answers go out. */
	server_feed_stop(srv);
	event_base_loopexit(srv->base, &flush);
}

static void
server_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_registry_tick(arg);
}

int
main(int argc, char **argv)
{
	static struct server srv;
	struct event *sigterm, *sigint;
	struct timeval second = {1, 0};
	char *db_path = NULL, *cause = NULL;

	log_init("weft-server", LOG_LEVEL_INFO);
	server_options(&srv.conf, argc, argv);
	srv.started_at = server_now();
	signal(SIGPIPE, SIG_IGN);
	TAILQ_INIT(&srv.proxies);
	TAILQ_INIT(&srv.waiters);
	TAILQ_INIT(&srv.taps);

	if (mkdir(srv.conf.data_dir, 0700) == -1 && errno != EEXIST)
		fatal("cannot create %s", srv.conf.data_dir);
	if ((srv.ca = ca_open(
		 srv.conf.data_dir, srv.conf.trust_domain, &cause)) == NULL)
		fatalx("%s", cause);
	server_admin_token(&srv);
	xasprintf(&srv.admin_spiffe, "spiffe://%s/ns/%s/sa/%s",
	    srv.conf.trust_domain, SERVER_ADMIN_NAMESPACE, SERVER_ADMIN_SA);
	if (server_admin_cert(&srv, &cause) == -1)
		fatalx("admin certificate: %s", cause);
	if (srv.conf.db_path == NULL)
		xasprintf(&db_path, "%s/policy.db", srv.conf.data_dir);
	if ((srv.db = server_db_open(
		 srv.conf.db_path != NULL ? srv.conf.db_path : db_path,
		 srv.conf.history, &cause)) == NULL)
		fatalx("%s", cause);
	if (server_db_version(srv.db, &srv.version, &cause) == -1 ||
	    server_registry_load(&srv, &cause) == -1)
		fatalx("%s", cause);

	if ((srv.base = event_base_new()) == NULL)
		fatalx("cannot make an event base");
	if (server_http_start(&srv, &cause) == -1 ||
	    server_webhook_start(&srv, &cause) == -1)
		fatalx("%s", cause);
	if (kube_sync_start(&srv, &cause) == -1)
		fatalx("%s", cause);
	sigterm = evsignal_new(srv.base, SIGTERM, server_signal_cb, &srv);
	sigint = evsignal_new(srv.base, SIGINT, server_signal_cb, &srv);
	srv.tick = event_new(srv.base, -1, EV_PERSIST, server_tick_cb, &srv);
	if (sigterm == NULL || sigint == NULL || srv.tick == NULL ||
	    evsignal_add(sigterm, NULL) == -1 ||
	    evsignal_add(sigint, NULL) == -1 ||
	    event_add(srv.tick, &second) == -1)
		fatalx("cannot set up events");
	log_info("policy version %lld, history %s, CA fingerprint %s",
	    (long long)srv.version, server_db_history(srv.db),
	    ca_fingerprint(srv.ca));
	if (ca_phase(srv.ca) != CA_PHASE_NONE)
		log_info("a rotation of the root is %s (weftctl ca status)",
		    ca_phase_name(ca_phase(srv.ca)));

	event_base_dispatch(srv.base);

	server_tap_stop(&srv);
	server_feed_stop(&srv);
	server_registry_tick(&srv);
	server_webhook_stop(&srv);
	server_http_stop(&srv);
	event_free(srv.tick);
	event_free(sigterm);
	event_free(sigint);
	server_registry_free(&srv);
	server_db_close(srv.db);
	ca_free(srv.ca);
	event_base_free(srv.base);
	free(srv.admin_spiffe);
	free(srv.conf.sans);
	free(db_path);
	return 0;
}
