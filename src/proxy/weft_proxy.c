/*
 * weft-proxy: the sidecar. The main thread owns startup, privileges,
 * signals, the admin endpoints and policy reloads; workers (the main
 * thread itself by default) own the connections.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/stat.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jwks_fetch.h"
#include "policy_db.h"
#include "proxy.h"
#include "snapshot.h"
#include "trace.h"
#include "xmalloc.h"

#define DB_POLL_MS    200
#define DRAIN_POLL_MS 50

/* Span export: per worker ring, batch, wait and deadline of a POST. */
#define TRACE_RING_SIZE   512
#define TRACE_BATCH_MAX   256
#define TRACE_INTERVAL_MS 1000
#define TRACE_TIMEOUT_MS  2000

static struct proxy px;

/*
 * The proxy's own traffic must not be captured, and weft-init exempts
 * one uid. Started as root, the proxy becomes that uid for good (and
 * refuses to serve if it cannot); started as any other uid, it must be
 * that uid already.
 */
static void
proxy_privileges(const struct proxy_conf *c)
{
	uid_t r, e, s;

	if (geteuid() == 0) {
		if (!c->uid_given)
			fatalx("running as root, whose traffic weft-init "
			       "captures: start as the proxy uid (%u) or pass "
			       "--uid",
			    (unsigned int)c->uid);
		if (setgroups(0, NULL) == -1 ||
		    setresgid(c->gid, c->gid, c->gid) == -1 ||
		    setresuid(c->uid, c->uid, c->uid) == -1)
			fatal("cannot drop privileges to uid %u",
			    (unsigned int)c->uid);
		if (getresuid(&r, &e, &s) == -1 || r != c->uid || e != c->uid ||
		    s != c->uid || setuid(0) != -1)
			fatalx(
			    "privileges were not dropped to uid %u; refusing "
			    "to serve",
			    (unsigned int)c->uid);
	} else if (geteuid() != c->uid) {
		fatalx("running as uid %u, but the uid weft-init exempts from "
		       "capture is %u: a proxy of a captured uid would "
		       "capture its own traffic (pass --uid if the exempt uid "
		       "differs)",
		    (unsigned int)geteuid(), (unsigned int)c->uid);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
}

static void
proxy_reload(void)
{
	static char *last_failure;
	struct snapshot *snap = NULL, *old;
	char *cause = NULL;
	int64_t version;
	int r, i;

	r = policy_db_changed(px.db, &cause);
	if (r == 1) {
		/* The schema version first: a newer DB is not read at all. */
		if (policy_db_version(px.db, &version, &cause) == 0 &&
		    (snap = policy_db_load(px.db, &cause)) != NULL)
			r = 2;
		else
			r = -1;
	}
	if (r == -1) {
		/* Counted and logged once per distinct failure, not per poll. */
		if (last_failure == NULL || strcmp(last_failure, cause) != 0) {
			log_warnx("policy reload failed, keeping version %lld: "
				  "%s",
			    (long long)px.globals.config_version, cause);
			px.globals.reloads_failed++;
			free(last_failure);
			last_failure = cause;
		} else {
			free(cause);
		}
		return;
	}
	if (r != 2)
		return;
	free(last_failure);
	last_failure = NULL;
	version = snapshot_version(snap);
	pthread_mutex_lock(&px.snap_mtx);
	old = px.snap;
	px.snap = snap;
	pthread_mutex_unlock(&px.snap_mtx);
	if (old != NULL)
		snapshot_unref(old);
	for (i = 0; i < px.nworkers; i++)
		worker_snapshot_changed(px.workers[i]);
	/* The jwksUri's of the policy in force are fetched and refreshed. */
	jwks_fetch_use(snapshot_security(snap));
	if (version != px.globals.config_version || px.globals.reloads_ok == 0)
		log_info("policy version %lld in force", (long long)version);
	px.globals.config_version = version;
	px.globals.reloads_ok++;
	px.globals.last_reload = (double)time(NULL);
}

struct tls_certs *
proxy_certs(struct proxy *p)
{
	struct tls_certs *c;

	pthread_mutex_lock(&p->snap_mtx);
	if ((c = p->certs) != NULL)
		tls_certs_ref(c);
	pthread_mutex_unlock(&p->snap_mtx);
	return c;
}

static void
proxy_certs_set(struct tls_certs *c)
{
	struct tls_certs *old;

	pthread_mutex_lock(&px.snap_mtx);
	old = px.certs;
	px.certs = c;
	pthread_mutex_unlock(&px.snap_mtx);
	tls_certs_unref(old);
	snprintf(px.principal, sizeof(px.principal), "%s",
	    c != NULL ? c->spiffe : "unknown");
	px.globals.cert_expiry = c != NULL ? (double)c->not_after : 0;
}

/*
 * New certificate files are used for new connections; connections open
 * keep theirs. Files that do not make a usable set (a rotation half
 * done, a key that does not match) leave the current set in force, and
 * are tried again on the next poll.
 */
static void
proxy_certs_reload(void)
{
	struct tls_certs *c;
	char *cause = NULL;
	int i, any = 0;

	if (!tls_watch_changed(&px.certs_watch)) {
		/* Said once, when the certificate in force runs out. */
		if (px.certs != NULL && !px.certs_watch.expired_logged &&
		    px.certs->not_after < (int64_t)time(NULL)) {
			log_warnx(
			    "the certificate of %s in %s expired at %lld: "
			    "mesh mTLS fails until weft-sync (or an "
			    "operator) renews it",
			    px.certs->spiffe, px.conf.certs_dir,
			    (long long)px.certs->not_after);
			px.certs_watch.expired_logged = 1;
		}
		return;
	}
	px.certs_watch.expired_logged = 0;
	for (i = 0; i < 3; i++)
		any |= px.certs_watch.files[i].present;
	if (!any) {
		if (px.certs != NULL)
			log_warnx("%s: the certificates are gone: mesh mTLS "
				  "is off for new connections",
			    px.conf.certs_dir);
		proxy_certs_set(NULL);
		return;
	}
	if ((c = tls_certs_load(px.conf.certs_dir, &cause)) == NULL) {
		if (!px.certs_watch.failed_logged)
			log_warnx("%s: %s%s", px.conf.certs_dir, cause,
			    px.certs != NULL ? "; keeping the certificate in "
					       "force"
					     : "");
		free(cause);
		px.certs_watch.failed_logged = 1;
		/* Look again next time, whatever the files do. */
		memset(px.certs_watch.files, 0, sizeof(px.certs_watch.files));
		return;
	}
	px.certs_watch.failed_logged = 0;
	log_info("certificate of %s loaded (expires %lld)", c->spiffe,
	    (long long)c->not_after);
	proxy_certs_set(c);
}

static void
proxy_db_cb(evutil_socket_t fd, short what, void *arg)
{
	proxy_reload();
	proxy_certs_reload();
}

static void
proxy_drain_check_cb(evutil_socket_t fd, short what, void *arg)
{
	static int waited_ms;
	unsigned int active = 0;
	int i;

	for (i = 0; i < px.nworkers; i++)
		active += __atomic_load_n(
		    &px.workers[i]->nsessions, __ATOMIC_RELAXED);
	waited_ms += DRAIN_POLL_MS;
	if (active == 0 || waited_ms >= px.conf.drain_timeout_ms) {
		if (active > 0)
			log_warnx("drain deadline reached with %u connections "
				  "open; closing them",
			    active);
		event_base_loopexit(px.base, NULL);
	}
}

static void
proxy_term_cb(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = {0, DRAIN_POLL_MS * 1000};
	int i;

	if (px.draining) {
		log_info("second signal: exiting now");
		event_base_loopexit(px.base, NULL);
		return;
	}
	log_info("signal %d: draining (at most %d ms)", (int)sig,
	    px.conf.drain_timeout_ms);
	px.draining = 1;
	for (i = 0; i < px.nworkers; i++)
		worker_drain(px.workers[i]);
	px.drain_timer =
	    event_new(px.base, -1, EV_PERSIST, proxy_drain_check_cb, NULL);
	if (px.drain_timer == NULL || event_add(px.drain_timer, &tv) == -1)
		event_base_loopexit(px.base, NULL);
}

/* The span exporter, when --trace-collector is given. */
static void
proxy_tracer_start(void)
{
	struct trace_exporter_conf tc;
	char *cause = NULL;

	memset(&tc, 0, sizeof(tc));
	tc.url = px.conf.trace_collector;
	tc.format = px.conf.trace_format;
	tc.service.workload = px.conf.workload;
	tc.service.namespace = px.conf.namespace;
	tc.service.version = px.conf.version_label;
	tc.nrings = px.nworkers;
	tc.ring_size = TRACE_RING_SIZE;
	tc.batch_max = TRACE_BATCH_MAX;
	tc.interval_ms = TRACE_INTERVAL_MS;
	tc.timeout_ms = TRACE_TIMEOUT_MS;
	if ((px.tracer = trace_exporter_new(&tc, &cause)) == NULL)
		fatalx("--trace-collector: %s", cause);
	if (trace_exporter_start(px.tracer) == -1)
		fatalx("cannot start the trace exporter");
}

static void
proxy_hup_cb(evutil_socket_t sig, short what, void *arg)
{
	access_log_reopen(&px);
}

int
main(int argc, char **argv)
{
	struct timeval poll = {DB_POLL_MS / 1000, (DB_POLL_MS % 1000) * 1000};
	struct event *sig_term, *sig_int, *sig_hup;
	struct jwks_fetch_conf jwks;
	char *cause = NULL;
	int i;

	log_init("weft-proxy", LOG_LEVEL_INFO);
	proxy_conf_parse(&px.conf, argc, argv);
	log_setlevel(px.conf.log_level);
	signal(SIGPIPE, SIG_IGN);
	/* Opened before the uid changes, as daemons do with their logs. */
	if (access_log_open(&px) == -1)
		fatalx("cannot open the access log %s", px.conf.access_log);
	proxy_privileges(&px.conf);

	if ((px.base = event_base_new()) == NULL)
		fatalx("cannot create the event base");
	px.id.workload = px.conf.workload;
	px.id.namespace = px.conf.namespace;
	snprintf(px.principal, sizeof(px.principal), "unknown");
	px.id.principal = px.principal;
	px.certs_watch.dir = px.conf.certs_dir;
	px.id.version = px.conf.version_label;
	px.globals.start_time = (double)time(NULL);

	px.nworkers = px.conf.threads;
	px.shards = xcalloc((size_t)px.nworkers, sizeof(*px.shards));
	px.workers = xcalloc((size_t)px.nworkers, sizeof(*px.workers));
	for (i = 0; i < px.nworkers; i++) {
		px.shards[i] = metrics_shard_new();
		px.workers[i] =
		    worker_new(&px, i, px.nworkers == 1 ? px.base : NULL);
		if (worker_listen(px.workers[i]) == -1)
			fatalx("cannot listen; is another proxy running?");
	}
	if (admin_start(&px) == -1)
		fatalx("cannot start the admin and metrics listeners");
	if (px.conf.trace_collector != NULL)
		proxy_tracer_start();

	memset(&jwks, 0, sizeof(jwks));
	jwks.ca_file = px.conf.jwks_ca;
	jwks.refresh_ms = px.conf.jwks_refresh_ms;
	if (jwks_fetch_init(&jwks, &cause) == -1)
		fatalx("--jwks-ca %s", cause);

	pthread_mutex_init(&px.snap_mtx, NULL);
	px.db = policy_db_new(px.conf.db_path);
	policy_db_identity(px.db, px.conf.namespace, px.conf.labels);
	proxy_reload();
	proxy_certs_reload();
	px.db_timer = event_new(px.base, -1, EV_PERSIST, proxy_db_cb, NULL);
	if (px.db_timer == NULL || event_add(px.db_timer, &poll) == -1)
		fatalx("cannot start the policy watcher");

	sig_term = evsignal_new(px.base, SIGTERM, proxy_term_cb, NULL);
	sig_int = evsignal_new(px.base, SIGINT, proxy_term_cb, NULL);
	sig_hup = evsignal_new(px.base, SIGHUP, proxy_hup_cb, NULL);
	if (sig_term == NULL || sig_int == NULL || sig_hup == NULL ||
	    evsignal_add(sig_term, NULL) == -1 ||
	    evsignal_add(sig_int, NULL) == -1 ||
	    evsignal_add(sig_hup, NULL) == -1)
		fatalx("cannot install signal handlers");

	for (i = 0; i < px.nworkers; i++) {
		if (worker_start(px.workers[i]) == -1)
			fatalx("cannot start worker %d", i);
	}
	px.ready = 1;
	log_info("workload %s.%s: outbound :%d, inbound :%d, metrics :%d, "
		 "admin 127.0.0.1:%d, %d worker%s, uid %u",
	    px.conf.workload, px.conf.namespace, px.conf.outbound_port,
	    px.conf.inbound_port, px.conf.metrics_port, px.conf.admin_port,
	    px.nworkers, px.nworkers == 1 ? "" : "s", (unsigned int)geteuid());

	event_base_dispatch(px.base);

	jwks_fetch_stop();
	for (i = 0; i < px.nworkers; i++)
		worker_join(px.workers[i]);
	/* After the workers: nothing writes spans any more. */
	trace_exporter_free(px.tracer);
	px.tracer = NULL;
	for (i = 0; i < px.nworkers; i++) {
		worker_free(px.workers[i]);
		metrics_shard_free(px.shards[i]);
	}
	admin_stop(&px);
	if (px.snap != NULL)
		snapshot_unref(px.snap);
	/* After the last snapshot, whose rules point at the entries. */
	jwks_cache_free();
	tls_certs_unref(px.certs);
	policy_db_free(px.db);
	event_free(sig_term);
	event_free(sig_int);
	event_free(sig_hup);
	event_free(px.db_timer);
	if (px.drain_timer != NULL)
		event_free(px.drain_timer);
	event_base_free(px.base);
	free(px.workers);
	free(px.shards);
	log_info("stopped");
	return 0;
}
