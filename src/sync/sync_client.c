/*
 * weft-sync's conversation with weft-server: register, get a
 * certificate, then long-poll the change feed forever, one request at
 * a time. Any failure keeps the local DB as it is (the proxy keeps
 * serving it) and retries after a jittered exponential backoff.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "base64.h"
#include "ca.h"
#include "https_client.h"
#include "log.h"
#include "schema_db.h"
#include "sync.h"
#include "sync_db.h"
#include "xmalloc.h"

#define SYNC_PROBE_INTERVAL_MS 100
#define SYNC_PROBES            30 /* wait up to 3 s for the proxy */

static void sync_next(struct sync *s);

static int64_t
sync_now(void)
{
	return (int64_t)time(NULL);
}

static void
sync_after(struct sync *s, int64_t ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(s->timer, &tv);
}

/* Retries the current step later, backing off. */
static void sync_retry(struct sync *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sync_retry(struct sync *s, const char *fmt, ...)
{
	unsigned int r = 0;
	int64_t delay;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	if (s->conf.once) {
		log_warnx("%s", msg != NULL ? msg : "failed");
		free(msg);
		s->exit_code = 1;
		event_base_loopexit(s->base, NULL);
		return;
	}
	s->backoff_ms =
	    s->backoff_ms == 0 ? SYNC_BACKOFF_MIN_MS : s->backoff_ms * 2;
	if (s->backoff_ms > SYNC_BACKOFF_MAX_MS)
		s->backoff_ms = SYNC_BACKOFF_MAX_MS;
	RAND_bytes((unsigned char *)&r, sizeof(r));
	delay = s->backoff_ms / 2 +
	    (int64_t)(r % (unsigned int)(s->backoff_ms / 2 + 1));
	log_warnx("%s; keeping policy version %lld, retrying in %lld ms",
	    msg != NULL ? msg : "failed", (long long)s->version,
	    (long long)delay);
	free(msg);
	sync_after(s, delay);
}

/* The token's last part pins the CA: weft1.ID.SECRET.FINGERPRINT */
static const char *
sync_token_pin(const char *token)
{
	const char *dot = strrchr(token, '.');

	return dot != NULL && strlen(dot + 1) == 64 ? dot + 1 : NULL;
}

static int
sync_client_make(struct sync *s, int timeout_sec)
{
	struct https_client_conf c;
	char *ca = NULL, *cert = NULL, *key = NULL, *cause = NULL;
	char *kube = NULL;
	int rc = 0;

	https_client_free(s->client);
	s->client = NULL;
	memset(&c, 0, sizeof(c));
	c.timeout_sec = timeout_sec;
	if (s->by_cert) {
		xasprintf(&ca, "%s/ca.pem", s->conf.certs_dir);
		xasprintf(&cert, "%s/cert.pem", s->conf.certs_dir);
		xasprintf(&key, "%s/key.pem", s->conf.certs_dir);
		c.ca_file = ca;
		c.cert_file = cert;
		c.key_file = key;
	} else if (s->conf.kube_token_file != NULL) {
		/* Read at every use: the kubelet rotates it. */
		if ((kube = ca_read_token(s->conf.kube_token_file, &cause)) ==
		    NULL) {
			log_warnx("%s", cause);
			free(cause);
			return -1;
		}
		c.bearer = kube;
		c.ca_file = s->conf.ca_file;
	} else {
		c.bearer = s->conf.token;
		c.pin_sha256 = sync_token_pin(s->conf.token);
	}
	s->client = https_client_new(s->base, s->conf.server, &c, &cause);
	free(kube);
	if (s->client == NULL) {
		log_warnx("%s", cause);
		free(cause);
		rc = -1;
	}
	free(ca);
	free(cert);
	free(key);
	return rc;
}

/* A credential was refused: fall back to the join token if there is one. */
static int
sync_refused(struct sync *s, const struct https_response *r)
{
	if (!s->by_cert ||
	    (s->conf.token == NULL && s->conf.kube_token_file == NULL))
		return 0;
	log_warnx("the server refused our certificate (%.*s): joining again "
		  "with the token",
	    (int)(r->len > 200 ? 200 : r->len), r->body != NULL ? r->body : "");
	s->by_cert = 0;
	s->state = SYNC_REGISTER;
	return 1;
}

static const char *
sync_error(const struct https_response *r, char *buf, size_t len)
{
	json_t *j;
	const char *e;

	if (r->status == 0)
		return r->error != NULL ? r->error : "no answer";
	j = r->body != NULL ? json_loads(r->body, 0, NULL) : NULL;
	e = json_string_value(json_object_get(j, "error"));
	snprintf(buf, len, "HTTP %d%s%s", r->status, e != NULL ? ": " : "",
	    e != NULL ? e : "");
	json_decref(j);
	return buf;
}

static void
sync_register_done_cb(struct https_response *r, void *arg)
{
	struct sync *s = arg;
	char buf[512];
	json_t *j;

	if (r->status == 401 && sync_refused(s, r)) {
		sync_next(s);
		return;
	}
	if (r->status != 200) {
		sync_retry(s, "register with %s: %s", s->conf.server,
		    sync_error(r, buf, sizeof(buf)));
		return;
	}
	j = json_loads(r->body, 0, NULL);
	if (json_integer_value(json_object_get(j, "heartbeatSeconds")) > 0)
		s->heartbeat_sec =
		    json_integer_value(json_object_get(j, "heartbeatSeconds"));
	json_decref(j);
	log_info("registered %s/%s at %s with %s", s->conf.namespace,
	    s->conf.workload, s->conf.address, s->conf.server);
	s->state = !s->by_cert || s->cert_renew_at <= sync_now()
	    ? SYNC_CERTIFICATE
	    : SYNC_POLL;
	sync_next(s);
}

static void
sync_register(struct sync *s)
{
	char *body, *cause = NULL;
	json_t *j;

	if (sync_client_make(s, (int)s->heartbeat_sec + 15) == -1) {
		sync_retry(s, "cannot reach %s", s->conf.server);
		return;
	}
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "workload",
	    s->conf.workload, "namespace", s->conf.namespace, "serviceAccount",
	    s->conf.service_account, "address", s->conf.address, "locality",
	    s->conf.locality, "labels", json_loads(s->labels_json, 0, NULL),
	    "ports", json_loads(s->ports_json, 0, NULL));
	body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (https_client_request(s->client, "POST", "/v1/register",
		"application/json", body, strlen(body), sync_register_done_cb,
		s, &cause) == -1) {
		sync_retry(s, "register: %s", cause);
		free(cause);
	}
	free(body);
}

struct sync_cert_req {
	struct sync *s;
	char *key;
};

static void
sync_certificate_done_cb(struct https_response *r, void *arg)
{
	struct sync_cert_req *cr = arg;
	struct sync *s = cr->s;
	const char *cert, *bundle;
	char buf[512], *cause = NULL;
	json_t *j = NULL;

	if (r->status == 401 && sync_refused(s, r)) {
		sync_next(s);
		goto out;
	}
	if (r->status != 200) {
		sync_retry(
		    s, "certificate: %s", sync_error(r, buf, sizeof(buf)));
		goto out;
	}
	j = json_loads(r->body, 0, NULL);
	cert = json_string_value(json_object_get(j, "certificate"));
	bundle = json_string_value(json_object_get(j, "caBundle"));
	if (cert == NULL || bundle == NULL) {
		sync_retry(s,
		    "certificate: the server's answer has no "
		    "certificate");
		goto out;
	}
	if (sync_certs_save(s, cr->key, cert, bundle, &cause) == -1) {
		sync_retry(s, "certificate: %s", cause);
		free(cause);
		goto out;
	}
	log_info("new certificate for %s in %s, renewed from %lld",
	    json_string_value(json_object_get(j, "spiffeId")),
	    s->conf.certs_dir, (long long)s->cert_renew_at);
	s->renew_why = NULL;
	s->by_cert = 1;
	s->backoff_ms = 0;
	s->state = SYNC_POLL;
	if (sync_client_make(s, (int)s->heartbeat_sec + 15) == -1)
		sync_retry(s, "cannot use the new certificate");
	else
		sync_next(s);
out:
	json_decref(j);
	free(cr->key);
	free(cr);
}

static void
sync_certificate(struct sync *s)
{
	struct sync_cert_req *cr;
	char *csr = NULL, *body, *spiffe, *cause = NULL;
	json_t *j;

	cr = xcalloc(1, sizeof(*cr));
	cr->s = s;
	/* The CA decides the identity; the CSR's is only a hint. */
	xasprintf(&spiffe, "spiffe://cluster.local/ns/%s/sa/%s",
	    s->conf.namespace, s->conf.service_account);
	if (sync_certs_request(spiffe, &cr->key, &csr, &cause) == -1) {
		free(spiffe);
		free(cr);
		sync_retry(s, "certificate request: %s", cause);
		free(cause);
		return;
	}
	free(spiffe);
	j = json_pack("{s:s, s:s, s:s}", "csr", csr, "namespace",
	    s->conf.namespace, "workload", s->conf.workload);
	body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	free(csr);
	if (https_client_request(s->client, "POST", "/v1/certificates",
		"application/json", body, strlen(body),
		sync_certificate_done_cb, cr, &cause) == -1) {
		free(cr->key);
		free(cr);
		sync_retry(s, "certificate: %s", cause);
		free(cause);
	}
	free(body);
}

/*
 * Follows the CA's roots, which every feed answer names: a new trust
 * bundle goes to ca.pem at once (during a rotation of the root, the
 * proxies must trust the next root before any peer presents a
 * certificate of it), and a certificate of a root that no longer signs
 * is renewed within a heartbeat, at a random moment so that the
 * workloads of a mesh do not all renew at once. Returns 1 when ca.pem
 * was replaced, 0 when not, -1 with *cause when the bundle could not be
 * written or used (the server answers at once while ca.pem differs:
 * retry with a backoff).
 */
static int
sync_ca_follow(struct sync *s, json_t *j, char **cause)
{
	const char *bundle, *signer;
	unsigned int r = 0;
	int64_t at;
	int rc, changed = 0;

	bundle = json_string_value(json_object_get(j, "caBundle"));
	signer = json_string_value(json_object_get(j, "caSigner"));
	if (bundle != NULL && s->by_cert) {
		if ((rc = sync_certs_bundle(s, bundle, cause)) == -1)
			return -1;
		if (rc == 1) {
			s->cert_renew_at = sync_now();
			s->renew_why = "now: its root is not in the new trust "
				       "bundle";
		} else {
			log_info("new trust bundle in %s/ca.pem (%.16s)",
			    s->conf.certs_dir, s->ca_sha);
			/* The server is checked against the new roots. */
			if (sync_client_make(s, (int)s->heartbeat_sec + 15) ==
			    -1) {
				xasprintf(cause,
				    "cannot use the new trust "
				    "bundle");
				return -1;
			}
			changed = 1;
		}
	}
	if (signer != NULL && strlen(signer) == 64 && s->cert_root[0] != '\0' &&
	    strcmp(signer, s->cert_root) != 0 &&
	    strcmp(signer, s->renew_signer) != 0) {
		snprintf(
		    s->renew_signer, sizeof(s->renew_signer), "%s", signer);
		RAND_bytes((unsigned char *)&r, sizeof(r));
		at = sync_now() +
		    (int64_t)(r % (unsigned int)(s->heartbeat_sec + 1));
		if (s->cert_renew_at == 0 || at < s->cert_renew_at) {
			s->cert_renew_at = at;
			s->renew_why = "for the root that signs now";
		}
		log_info(
		    "the CA signs with the root %.16s now, the certificate "
		    "is of %.16s: renewing it within %lld s",
		    signer, s->cert_root, (long long)(at - sync_now()));
	}
	return changed;
}

/* Applies a feed answer; returns -1 with *cause when it does not apply. */
static int
sync_apply(struct sync *s, json_t *j, char **cause)
{
	struct sync_change *v;
	const char *history, *b64;
	json_t *list, *c;
	int64_t version;
	size_t n, i, len;
	void *blob;
	int rc = -1;

	history = json_string_value(json_object_get(j, "history"));
	version = json_integer_value(json_object_get(j, "version"));
	if (history == NULL) {
		xasprintf(cause, "the answer has no history");
		return -1;
	}
	if (json_integer_value(json_object_get(j, "schema")) > SCHEMA_VERSION) {
		xasprintf(cause,
		    "the server's schema (%lld) is newer than this "
		    "weft-sync's (%d): upgrade weft-sync",
		    (long long)json_integer_value(json_object_get(j, "schema")),
		    SCHEMA_VERSION);
		return -1;
	}
	if ((b64 = json_string_value(json_object_get(j, "snapshot"))) != NULL) {
		if ((blob = base64_decode(b64, &len)) == NULL) {
			xasprintf(cause, "bad snapshot encoding");
			return -1;
		}
		rc = sync_db_apply_snapshot(
		    s->db, s->conf.server, history, blob, len, version, cause);
		free(blob);
		if (rc == 0)
			log_info("policy version %lld (a full snapshot, %zu "
				 "bytes)",
			    (long long)version, len);
		goto done;
	}
	list = json_object_get(j, "changesets");
	n = json_array_size(list);
	v = xcalloc(n + 1, sizeof(*v));
	json_array_foreach(list, i, c)
	{
		v[i].version =
		    json_integer_value(json_object_get(c, "version"));
		b64 = json_string_value(json_object_get(c, "data"));
		if (b64 == NULL ||
		    (v[i].data = base64_decode(b64, &v[i].len)) == NULL) {
			xasprintf(cause, "bad changeset encoding");
			goto free_v;
		}
	}
	rc = sync_db_apply(s->db, s->conf.server, history, v, n, cause);
	if (rc == 0 && n > 0)
		log_info("policy version %lld (%zu changesets)",
		    (long long)v[n - 1].version, n);
free_v:
	for (i = 0; i < n; i++)
		free(v[i].data);
	free(v);
done:
	if (rc == 0) {
		free(s->history);
		s->history = NULL;
		if (sync_db_state(s->db, &s->history, &s->version, cause) == -1)
			rc = -1;
	}
	return rc;
}

static void
sync_poll_done_cb(struct https_response *r, void *arg)
{
	struct sync *s = arg;
	char buf[512], *cause = NULL;
	int64_t before = s->version;
	int ca_changed;
	json_t *j;

	if (r->status == 404) {
		log_warnx("the server does not know this workload: "
			  "registering again");
		s->state = SYNC_REGISTER;
		sync_next(s);
		return;
	}
	if (r->status == 401 && sync_refused(s, r)) {
		sync_next(s);
		return;
	}
	if (r->status != 200) {
		sync_retry(s, "sync with %s: %s", s->conf.server,
		    sync_error(r, buf, sizeof(buf)));
		return;
	}
	j = json_loads(r->body, 0, NULL);
	if (j == NULL || sync_apply(s, j, &cause) == -1) {
		json_decref(j);
		/* Never half-applied: start again from a whole snapshot. */
		free(s->history);
		s->history = NULL;
		sync_retry(s, "%s: asking for a full snapshot",
		    cause != NULL ? cause : "the answer is not JSON");
		free(cause);
		return;
	}
	if ((ca_changed = sync_ca_follow(s, j, &cause)) == -1) {
		json_decref(j);
		s->state = SYNC_REGISTER;
		sync_retry(s, "trust bundle: %s", cause);
		free(cause);
		return;
	}
	sync_tap_instructions(s, j);
	json_decref(j);
	s->backoff_ms = 0;
	/* --once: ask again until an answer brings nothing new. */
	if (s->conf.once && s->version == before && !ca_changed) {
		event_base_loopexit(s->base, NULL);
		return;
	}
	if (s->cert_renew_at > 0 && sync_now() >= s->cert_renew_at) {
		log_info("renewing the certificate %s",
		    s->renew_why != NULL ? s->renew_why : "at half life");
		s->state = SYNC_CERTIFICATE;
	}
	s->probes = s->version != before ? SYNC_PROBES : 0;
	sync_next(s);
}

static void
sync_poll_send(struct sync *s)
{
	char *target, *cause = NULL;

	xasprintf(&target,
	    "/v1/sync?namespace=%s&workload=%s&since=%lld&history=%s"
	    "&wait=%lld&applied=%lld&proxyVersion=%lld%s%s",
	    s->conf.namespace, s->conf.workload,
	    (long long)(s->history != NULL ? s->version : -1),
	    s->history != NULL ? s->history : "none",
	    (long long)(s->conf.once ? 0 : s->heartbeat_sec),
	    (long long)s->version, (long long)s->proxy_version,
	    s->ca_sha[0] != '\0' ? "&caBundle=" : "", s->ca_sha);
	if (https_client_request(s->client, "GET", target, NULL, NULL, 0,
		sync_poll_done_cb, s, &cause) == -1) {
		sync_retry(s, "sync: %s", cause);
		free(cause);
	}
	free(target);
}

static void
sync_probe_cb(int64_t version, void *arg)
{
	struct sync *s = arg;

	s->proxy_version = version;
	if (version >= 0 && version < s->version && s->probes-- > 0) {
		sync_after(s, SYNC_PROBE_INTERVAL_MS);
		return;
	}
	s->probes = 0;
	sync_poll_send(s);
}

static void
sync_next(struct sync *s)
{
	switch (s->state) {
	case SYNC_REGISTER:
		sync_register(s);
		break;
	case SYNC_CERTIFICATE:
		sync_certificate(s);
		break;
	case SYNC_POLL:
		sync_proxy_version(s, sync_probe_cb, s);
		break;
	case SYNC_STOPPING:
		break;
	}
}

static void
sync_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sync_next(arg);
}

void
sync_start(struct sync *s)
{
	char *cause = NULL;

	s->timer = evtimer_new(s->base, sync_timer_cb, s);
	if (s->timer == NULL)
		fatalx("cannot make a timer");
	s->proxy_version = -1;
	if (sync_db_state(s->db, &s->history, &s->version, &cause) == -1)
		fatalx("%s", cause);
	s->by_cert = sync_certs_usable(s);
	if (!s->by_cert && s->conf.token == NULL &&
	    s->conf.kube_token_file == NULL)
		fatalx("no usable certificate in %s and no join token "
		       "(--token): cannot authenticate to %s",
		    s->conf.certs_dir, s->conf.server);
	if (!s->by_cert && s->conf.token != NULL &&
	    sync_token_pin(s->conf.token) == NULL)
		fatalx("the join token does not end with the CA fingerprint "
		       "(weft1.ID.SECRET.FINGERPRINT)");
	log_info("policy version %lld%s; authenticating with %s",
	    (long long)s->version, s->history == NULL ? " (never synced)" : "",
	    s->by_cert                            ? "the certificate"
		: s->conf.kube_token_file != NULL ? "the service-account token"
						  : "the join token");
	s->state = SYNC_REGISTER;
	sync_next(s);
}

static void
sync_deregister_done_cb(struct https_response *r, void *arg)
{
	struct sync *s = arg;
	char buf[512];

	if (r->status == 200)
		log_info(
		    "deregistered %s/%s", s->conf.namespace, s->conf.workload);
	else
		log_warnx("deregister: %s", sync_error(r, buf, sizeof(buf)));
	event_base_loopexit(s->base, NULL);
}

void
sync_stop(struct sync *s)
{
	char *target, *cause = NULL;

	if (s->state == SYNC_STOPPING) {
		event_base_loopexit(s->base, NULL);
		return;
	}
	s->state = SYNC_STOPPING;
	evtimer_del(s->timer);
	if (s->conf.keep_registered || s->client == NULL) {
		event_base_loopexit(s->base, NULL);
		return;
	}
	/* Drops the poll in flight; the new client asks to leave. */
	if (sync_client_make(s, 3) == -1) {
		event_base_loopexit(s->base, NULL);
		return;
	}
	xasprintf(&target, "/v1/register?namespace=%s&workload=%s",
	    s->conf.namespace, s->conf.workload);
	if (https_client_request(s->client, "DELETE", target, NULL, NULL, 0,
		sync_deregister_done_cb, s, &cause) == -1) {
		log_warnx("deregister: %s", cause);
		free(cause);
		event_base_loopexit(s->base, NULL);
	}
	free(target);
}
