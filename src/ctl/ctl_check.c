/*
 * weftctl check: the health and consistency of a mesh, as linkerd check
 * and istioctl analyze give them: the local policy DB (--db), weft-server
 * and the policy it holds (--server), proxies' admin ports (--proxy),
 * and files to apply (-f) against that policy. It never writes: the DB
 * is opened read-only and never created, the server's policy is a
 * private temporary copy.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config_field.h"
#include "ctl.h"
#include "ctl_check.h"
#include "ctl_http.h"
#include "https_client.h"
#include "schema_db.h"
#include "store_db.h"
#include "xmalloc.h"

#define CHECK_LOCAL_PROXY   "127.0.0.1:15020"
#define CHECK_HTTP_MS       5000
#define CHECK_CA_SOON       (30 * 24 * 3600)
#define CHECK_WORKLOAD_SOON (2 * 3600)

struct check {
	struct ctl *ctl;
	struct check_report rep;
	struct config_resources files; /* -f, checked */
	int nfiles;
	int64_t now;
	int64_t version; /* the policy version proxies should run, or -1 */
};

static void
check_time(char *buf, size_t len, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
}

/*
 * The analysis of an open DB of the current schema (the local one, or
 * the server's copy): its resources, and the files' on top of them.
 */
static void
check_policy(struct check *c, struct store_db *db)
{
	struct store_db_rows rows = {NULL, 0};
	struct config_resources stored = {NULL, 0};
	struct check_facts facts;
	char *cause = NULL;

	memset(&facts, 0, sizeof(facts));
	facts.hosts = json_array();
	facts.workloads = json_array();
	facts.certs = json_array();
	facts.now = c->now;
	if (store_db_list(db, STORE_DB_ALL_KINDS, NULL, NULL, &rows, &cause) ==
		-1 ||
	    store_db_check_facts(
		db, facts.hosts, facts.workloads, facts.certs, &cause) == -1) {
		check_add(&c->rep, CHECK_FAIL,
		    "the DB is damaged: restore it, or let weft-sync resync it",
		    "the policy cannot be read: %s", cause);
		free(cause);
		goto out;
	}
	check_policy_reparse(&c->rep, &rows, &stored);
	check_policy_analyze(
	    &c->rep, &stored, c->nfiles > 0 ? &c->files : NULL, &facts);
	if (c->nfiles > 0)
		check_policy_files(&c->rep, &stored, &c->files);
out:
	config_resources_clear(&stored);
	store_db_rows_clear(&rows);
	json_decref(facts.hosts);
	json_decref(facts.workloads);
	json_decref(facts.certs);
}

static void
check_db(struct check *c, const char *path)
{
	struct store_db *db;
	struct stat sb;
	char *cause = NULL;
	int schema, ok;
	int64_t version;

	check_group(&c->rep, "weft policy DB");
	if (stat(path, &sb) == -1 && errno == ENOENT) {
		check_add(&c->rep, CHECK_FAIL,
		    "give --db PATH of an existing DB: weft-sync or weftctl "
		    "apply create it",
		    "no policy DB at %s", path);
		return;
	}
	if ((db = store_db_open_check(path, &schema, &cause)) == NULL) {
		check_add(&c->rep, CHECK_FAIL,
		    "the file is not a policy DB or is damaged: restore it, or "
		    "remove it and let weft-sync resync it",
		    "policy DB cannot be opened read-only: %s", cause);
		free(cause);
		return;
	}
	check_add(
	    &c->rep, CHECK_OK, NULL, "policy DB %s opens read-only", path);
	ok = store_db_quick_check(db, &cause);
	if (ok == 1)
		check_add(&c->rep, CHECK_OK, NULL, "PRAGMA quick_check is ok");
	else {
		check_add(&c->rep, CHECK_FAIL,
		    "the DB is damaged: restore it, or remove it and let "
		    "weft-sync resync it",
		    "PRAGMA quick_check failed: %s", cause);
		free(cause);
		goto out;
	}
	if (schema == 0) {
		check_add(&c->rep, CHECK_FAIL,
		    "give --db PATH of a weft policy DB",
		    "%s is not a weft policy DB (schema version 0)", path);
		goto out;
	}
	if (schema > SCHEMA_VERSION) {
		check_add(&c->rep, CHECK_FAIL,
		    "use the weftctl of the release that wrote this DB",
		    "schema version %d is newer than this weftctl's (%d)",
		    schema, SCHEMA_VERSION);
		goto out;
	}
	if (schema < SCHEMA_VERSION) {
		check_add(&c->rep, CHECK_WARN,
		    "the next write (weftctl apply, weft-sync) migrates it; "
		    "the policy is checked after that",
		    "schema version %d will be migrated to %d", schema,
		    SCHEMA_VERSION);
		goto out;
	}
	check_add(
	    &c->rep, CHECK_OK, NULL, "schema version %d is current", schema);
	if (store_db_version(db, &version, &cause) == -1) {
		check_add(&c->rep, CHECK_FAIL, "the DB is damaged: restore it",
		    "no policy version: %s", cause);
		free(cause);
		goto out;
	}
	check_add(&c->rep, CHECK_INFO, NULL, "policy version %lld",
	    (long long)version);
	if (c->version < 0)
		c->version = version;
	check_group(&c->rep,
	    c->nfiles > 0 ? "weft policy (local DB, with the files)"
			  : "weft policy (local DB)");
	check_policy(c, db);
out:
	store_db_close(db);
}

/* Reachable, and its certificate verifies: a call without a credential. */
static int
check_server_tls(struct check *c)
{
	struct https_client_conf conf;
	struct https_response r;
	char *cause = NULL, *ca = NULL;
	int ok = 0;

	memset(&conf, 0, sizeof(conf));
	memset(&r, 0, sizeof(r));
	if (c->ctl->ca_file == NULL)
		xasprintf(&ca, "%s/ca.pem", CTL_SERVER_DIR);
	conf.ca_file = c->ctl->ca_file != NULL ? c->ctl->ca_file : ca;
	conf.timeout_sec = 10;
	if (https_client_fetch(c->ctl->server, &conf, "GET", "/v1/whoami", NULL,
		NULL, 0, &r, &cause) == -1) {
		check_add(&c->rep, CHECK_FAIL,
		    "check the URL, and give the server's CA with --ca or "
		    "WEFT_CA",
		    "cannot talk to weft-server: %s", cause);
		free(cause);
	} else if (r.status == 0)
		check_add(&c->rep, CHECK_FAIL,
		    "check the URL, that weft-server runs, and that --ca is "
		    "the CA of its certificate",
		    "weft-server %s cannot be reached over verified TLS: %s",
		    c->ctl->server, r.error != NULL ? r.error : "no answer");
	else {
		check_add(&c->rep, CHECK_OK, NULL,
		    "weft-server %s answers, its certificate verifies with %s",
		    c->ctl->server, conf.ca_file);
		ok = 1;
	}
	https_response_clear(&r);
	free(ca);
	return ok;
}

static const char *
check_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "?";
}

static void
check_server_ca(struct check *c)
{
	json_t *resp = NULL, *root;
	json_int_t until;
	char when[32];
	size_t i;
	int found = 0;

	if (ctl_remote_call(c->ctl, "GET", "/v1/ca", NULL, NULL, &resp) !=
	    200) {
		check_add(&c->rep, CHECK_FAIL, "see the server's log",
		    "the mesh CA's status cannot be read (GET /v1/ca)");
		json_decref(resp);
		return;
	}
	json_array_foreach(json_object_get(resp, "roots"), i, root)
	{
		if (!json_is_true(json_object_get(root, "signing")))
			continue;
		found = 1;
		until = json_integer_value(json_object_get(root, "notAfter"));
		check_time(when, sizeof(when), until);
		if (until < c->now)
			check_add(&c->rep, CHECK_FAIL,
			    "rotate the root: weftctl ca rotate prepare",
			    "the mesh CA root expired at %s", when);
		else if (until - c->now < CHECK_CA_SOON)
			check_add(&c->rep, CHECK_WARN,
			    "rotate the root: weftctl ca rotate prepare",
			    "the mesh CA root expires within 30 days (%s)",
			    when);
		else
			check_add(&c->rep, CHECK_OK, NULL,
			    "the mesh CA root is valid until %s", when);
	}
	if (!found)
		check_add(&c->rep, CHECK_FAIL, "see the server's log",
		    "the mesh CA has no signing root");
	if (strcmp(check_str(resp, "phase"), "none") != 0)
		check_add(&c->rep, CHECK_INFO, NULL,
		    "a root rotation is in progress: phase %s, next step %s",
		    check_str(resp, "phase"), check_str(resp, "nextStep"));
	json_decref(resp);
}

static void
check_server_proxies(struct check *c)
{
	json_t *resp = NULL, *p;
	json_int_t expiry, version;
	char when[32], name[300];
	size_t i, bad = 0;
	const char *state;

	if (ctl_remote_call(c->ctl, "GET", "/v1/status", NULL, NULL, &resp) !=
	    200) {
		check_add(&c->rep, CHECK_FAIL, "see the server's log",
		    "the proxies' status cannot be read (GET /v1/status)");
		json_decref(resp);
		return;
	}
	version = json_integer_value(json_object_get(resp, "version"));
	c->version = version;
	json_array_foreach(json_object_get(resp, "proxies"), i, p)
	{
		snprintf(name, sizeof(name), "%s/%s", check_str(p, "namespace"),
		    check_str(p, "workload"));
		state = check_str(p, "state");
		expiry = json_integer_value(json_object_get(p, "certExpiry"));
		check_time(when, sizeof(when), expiry);
		if (strcmp(state, "offline") == 0 ||
		    !json_is_true(json_object_get(p, "healthy"))) {
			check_add(&c->rep, CHECK_FAIL,
			    "check the workload's weft-sync and weft-proxy",
			    "proxy %s is %s", name,
			    strcmp(state, "offline") == 0 ? "offline"
							  : "unhealthy");
			bad++;
		} else if (expiry > 0 && expiry < c->now) {
			check_add(&c->rep, CHECK_FAIL,
			    "check the workload's weft-sync: it renews the "
			    "certificate",
			    "proxy %s: its certificate expired at %s", name,
			    when);
			bad++;
		} else if (strcmp(state, "in sync") != 0) {
			check_add(&c->rep, CHECK_WARN,
			    "it should catch up within seconds; if not, "
			    "check its weft-sync",
			    "proxy %s is behind: policy version %lld, it runs "
			    "%lld",
			    name, (long long)version,
			    (long long)json_integer_value(
				json_object_get(p, "proxyVersion")));
			bad++;
		} else if (expiry > 0 &&
		    expiry - c->now < CHECK_WORKLOAD_SOON) {
			check_add(&c->rep, CHECK_WARN,
			    "check the workload's weft-sync: it renews the "
			    "certificate",
			    "proxy %s: its certificate expires within 2 hours "
			    "(%s)",
			    name, when);
			bad++;
		}
	}
	if (json_array_size(json_object_get(resp, "proxies")) == 0)
		check_add(
		    &c->rep, CHECK_INFO, NULL, "no proxies have registered");
	else if (bad == 0)
		check_add(&c->rep, CHECK_OK, NULL,
		    "%zu proxies run policy version %lld, certificates valid",
		    json_array_size(json_object_get(resp, "proxies")),
		    (long long)version);
	json_decref(resp);
}

static void
check_server(struct check *c)
{
	struct store_db *db;
	json_t *resp = NULL;
	char dir[64] = "";
	int status;

	check_group(&c->rep, "weft-server");
	if (!check_server_tls(c))
		return;
	status =
	    ctl_remote_call(c->ctl, "GET", "/v1/whoami", NULL, NULL, &resp);
	if (status != 200) {
		check_add(&c->rep, CHECK_FAIL,
		    "give the admin token (--token-file, WEFT_TOKEN_FILE) or "
		    "--cert",
		    "the credential is not accepted (HTTP %d)", status);
		json_decref(resp);
		return;
	}
	if (strcmp(check_str(resp, "role"), "admin") != 0) {
		check_add(&c->rep, CHECK_FAIL,
		    "give the admin token (--token-file, WEFT_TOKEN_FILE) or "
		    "--cert",
		    "the credential is accepted as %s, not admin",
		    check_str(resp, "role"));
		json_decref(resp);
		return;
	}
	json_decref(resp);
	check_add(
	    &c->rep, CHECK_OK, NULL, "the credential is accepted (admin)");
	check_server_ca(c);
	check_server_proxies(c);
	check_group(&c->rep,
	    c->nfiles > 0 ? "weft policy (weft-server, with the files)"
			  : "weft policy (weft-server)");
	if ((db = ctl_remote_copy(c->ctl, dir)) == NULL)
		check_add(&c->rep, CHECK_FAIL, "see the server's log",
		    "the server's policy cannot be copied (GET /v1/snapshot)");
	else {
		check_policy(c, db);
		store_db_close(db);
	}
	if (dir[0] != '\0')
		ctl_remote_copy_remove(dir);
}

/* The value of metric name (no labels) in a Prometheus text body. */
static int
check_metric(const char *body, const char *name, double *v)
{
	const char *p = body;
	size_t n = strlen(name);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, n) == 0 && p[n] == ' ') {
			*v = strtod(p + n + 1, NULL);
			return 1;
		}
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return 0;
}

static void
check_proxy(struct check *c, const char *hp)
{
	static const char *const probes[] = {"/ready", "/live"};
	struct ctl_http h;
	char title[300], when[32];
	double version, expiry;
	size_t i;

	snprintf(title, sizeof(title), "weft-proxy %s", hp);
	check_group(&c->rep, title);
	for (i = 0; i < 2; i++) {
		memset(&h, 0, sizeof(h));
		h.fd = -1;
		if (ctl_http_get(hp, probes[i], CHECK_HTTP_MS, &h) == -1) {
			/* Nothing answers: the other probes would fail too. */
			check_add(&c->rep, CHECK_FAIL,
			    "check that weft-proxy runs and that HOST:PORT is "
			    "its metrics port (15020)",
			    "%s: %s", probes[i], h.err);
			ctl_http_close(&h);
			return;
		} else if (h.status != 200)
			check_add(&c->rep, CHECK_FAIL,
			    "see the proxy's log: it is not ready to serve",
			    "%s answers HTTP %d", probes[i], h.status);
		else
			check_add(&c->rep, CHECK_OK, NULL, "%s answers 200",
			    probes[i]);
		ctl_http_close(&h);
	}
	memset(&h, 0, sizeof(h));
	h.fd = -1;
	if (ctl_http_get(hp, "/metrics", CHECK_HTTP_MS, &h) == -1 ||
	    h.status != 200 || h.body == NULL) {
		check_add(&c->rep, CHECK_FAIL, "see the proxy's log",
		    "/metrics cannot be read: %s",
		    h.err[0] != '\0' ? h.err : "not HTTP 200");
		ctl_http_close(&h);
		return;
	}
	if (!check_metric(h.body, "weft_config_version", &version))
		check_add(&c->rep, CHECK_FAIL, "is this a weft-proxy?",
		    "/metrics has no weft_config_version");
	else if (c->version >= 0 && (int64_t)version < c->version)
		check_add(&c->rep, CHECK_WARN,
		    "it should catch up within seconds; if not, check "
		    "weft-sync on its host",
		    "config version %.0f is behind the policy's (%lld)",
		    version, (long long)c->version);
	else
		check_add(&c->rep, CHECK_OK, NULL, "config version %.0f%s",
		    version, c->version >= 0 ? " is current" : "");
	if (check_metric(
		h.body, "weft_cert_expiry_timestamp_seconds", &expiry) &&
	    expiry > 0) {
		check_time(when, sizeof(when), (int64_t)expiry);
		if ((int64_t)expiry < c->now)
			check_add(&c->rep, CHECK_FAIL,
			    "check weft-sync on its host: it renews the "
			    "certificate",
			    "its certificate expired at %s", when);
		else if ((int64_t)expiry - c->now < CHECK_WORKLOAD_SOON)
			check_add(&c->rep, CHECK_WARN,
			    "check weft-sync on its host: it renews the "
			    "certificate",
			    "its certificate expires within 2 hours (%s)",
			    when);
		else
			check_add(&c->rep, CHECK_OK, NULL,
			    "its certificate is valid until %s", when);
	}
	ctl_http_close(&h);
}

int
ctl_check(struct ctl *ctl, int argc, char **argv)
{
	enum {
		OPT_PROXY = CTL_OPT_IGNORE_NOT_FOUND + 100,
		OPT_LOCAL,
		OPT_STRICT,
	};
	static const struct option longopts[] = {
	    {"filename", required_argument, NULL, 'f'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"output", required_argument, NULL, 'o'},
	    {"proxy", required_argument, NULL, OPT_PROXY},
	    {"local", no_argument, NULL, OPT_LOCAL},
	    {"strict", no_argument, NULL, OPT_STRICT},
	    CTL_COMMON_LONGOPTS,
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct config_errors errs = {NULL, 0};
	struct check c;
	const char *ns = NULL, *db_path = NULL;
	char **files, **proxies, *s;
	size_t nproxies = 0, i;
	int ch, json = 0, strict = 0, local = 0, stdin_seen = 0, rc;

	memset(&c, 0, sizeof(c));
	c.ctl = ctl;
	c.version = -1;
	c.now = (int64_t)time(NULL);
	files = xcalloc((size_t)argc + 1, sizeof(*files));
	proxies = xcalloc((size_t)argc + 2, sizeof(*proxies));
	/* An explicit DB (--db before the command, or WEFT_DB) is checked. */
	if (ctl->server == NULL && ctl->db_path != NULL &&
	    strcmp(ctl->db_path, CTL_DEFAULT_DB) != 0)
		db_path = ctl->db_path;
	optind = 0;
	opterr = 0;
	while (
	    (ch = getopt_long(argc, argv, ":f:n:o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case CTL_OPT_DB:
			db_path = optarg;
			continue;
		case CTL_OPT_SERVER:
			ctl->server = optarg;
			continue;
		}
		if (ctl_common_option(ctl, ch, optarg))
			continue;
		switch (ch) {
		case 'f':
			if (strcmp(optarg, "-") == 0 && stdin_seen++)
				ctl_usage_error("check: -f - given twice");
			files[c.nfiles++] = optarg;
			break;
		case 'n':
			if (!config_dns_label(optarg))
				ctl_usage_error(
				    "check: invalid namespace \"%s\"", optarg);
			ns = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				json = 1;
			else if (strcmp(optarg, "text") == 0)
				json = 0;
			else
				ctl_usage_error("check: unknown output format "
						"\"%s\" (text or json)",
				    optarg);
			break;
		case OPT_PROXY:
			if (strchr(optarg, ':') == NULL)
				ctl_usage_error(
				    "check: --proxy %s: want HOST:PORT",
				    optarg);
			proxies[nproxies++] = optarg;
			break;
		case OPT_LOCAL:
			local = 1;
			break;
		case OPT_STRICT:
			strict = 1;
			break;
		case 'h':
			ctl_usage(stdout);
			exit(CTL_EXIT_OK);
		default:
			ctl_option_error("check", ch, argv);
		}
	}
	if (optind < argc)
		ctl_usage_error(
		    "check: unexpected argument \"%s\"", argv[optind]);
	if (local) {
		if (db_path == NULL)
			db_path = ctl->db_path != NULL ? ctl->db_path
						       : CTL_DEFAULT_DB;
		proxies[nproxies++] = CHECK_LOCAL_PROXY;
	}
	if (db_path == NULL && ctl->server == NULL && nproxies == 0)
		db_path = ctl->db_path != NULL ? ctl->db_path : CTL_DEFAULT_DB;
	check_report_init(&c.rep);
	if (c.nfiles > 0 &&
	    ctl_input_load(
		files, (size_t)c.nfiles, ns, 0, &c.files, &errs, NULL) > 0) {
		/* Bad files: apply's messages, and nothing else to do. */
		check_group(&c.rep, "files (-f)");
		for (i = 0; i < errs.n; i++) {
			s = config_error_string(&errs.v[i]);
			check_add(&c.rep, CHECK_FAIL,
			    "fix the file: apply would refuse it", "%s", s);
			free(s);
		}
		c.nfiles = 0;
	}
	if (c.nfiles > 0 && db_path == NULL && ctl->server == NULL) {
		/* Files alone: checked against an empty policy. */
		struct config_resources none = {NULL, 0};
		struct check_facts facts = {
		    json_array(), json_array(), json_array(), c.now};

		check_group(&c.rep, "weft policy (files)");
		check_policy_analyze(&c.rep, &none, &c.files, &facts);
		check_policy_files(&c.rep, &none, &c.files);
		json_decref(facts.hosts);
		json_decref(facts.workloads);
		json_decref(facts.certs);
	}
	if (db_path != NULL)
		check_db(&c, db_path);
	if (ctl->server != NULL)
		check_server(&c);
	for (i = 0; i < nproxies; i++)
		check_proxy(&c, proxies[i]);
	check_report_print(&c.rep, stdout, json);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_warnx("stdout: %s", strerror(errno));
		rc = CTL_EXIT_FAIL;
	} else if (c.rep.nfail > 0 || (strict && c.rep.nwarn > 0))
		rc = CTL_EXIT_FAIL;
	else
		rc = CTL_EXIT_OK;
	check_report_clear(&c.rep);
	config_resources_clear(&c.files);
	config_errors_clear(&errs);
	free(files);
	free(proxies);
	return rc;
}
