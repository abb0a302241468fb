/*
 * The jwksUri cache and its fetch thread (see jwks_fetch.h).
 *
 * Who touches what:
 * - jc.mtx guards the list of entries, the marks of use (jc.gen) and
 *   the state an entry shows (its counters, times and last error). It
 *   is held for bookkeeping only, never across I/O.
 * - An entry's keys_mtx guards its keys pointer: held by a worker for
 *   a pointer copy and a reference, by the fetch thread for a swap.
 * - Everything else of an entry (its state, timer and fetch in flight)
 *   and the queue belong to the fetch thread.
 * The main thread talks to the fetch thread through an eventfd: "look
 * at the marks of use again", or "stop".
 *
 * An entry goes IDLE -> WAITING (its timer runs until the fetch is due)
 * -> QUEUED (due, waiting for a free slot) -> FETCHING -> IDLE, and from
 * IDLE back to WAITING when it is still in use. An entry that is no
 * longer in use when its timer fires stays IDLE until a snapshot names
 * it again; it is then fetched at once if its refresh (or retry) is
 * due, else when it is.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/queue.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <openssl/crypto.h>

#include "https_client.h"
#include "jwks_fetch.h"
#include "jwt.h"
#include "log.h"
#include "snapshot.h"
#include "xmalloc.h"

#define JWKS_HOST_MAX 253

/* A set of keys, shared by the entry and the workers verifying with it. */
struct jwks_keys {
	unsigned int refs; /* atomic */
	struct jwt_keys *keys;
};

enum jwks_state {
	JWKS_IDLE = 0,
	JWKS_WAITING,
	JWKS_QUEUED,
	JWKS_FETCHING,
};

struct jwks_entry {
	TAILQ_ENTRY(jwks_entry) entry;
	char *uri;

	pthread_mutex_t keys_mtx;
	struct jwks_keys *keys; /* NULL until a fetch succeeds */

	/* Under jc.mtx. */
	uint64_t used;   /* jc.gen when a snapshot in force named it */
	int timeout_ms;  /* of the jwtRule; 0: the default */
	uint64_t due_ms; /* monotonic: when the next fetch is due */
	unsigned int fetches;
	unsigned int failures;
	int retry_ms;
	time_t last_fetch;
	time_t last_ok;
	char *last_error;

	/* The fetch thread's. */
	enum jwks_state state;
	struct event *timer; /* the next fetch; the deadline of http */
	TAILQ_ENTRY(jwks_entry) qentry;
	struct https_client *https;
	struct evhttp_connection *http;
	struct evhttp_connection *http_done; /* freed by reap, off its cb */
	struct event *reap;
	int fetch_timeout_ms; /* of the fetch in flight */
	int http_error;       /* why evhttp failed: an evhttp_request_error */
	int plain_logged;
};
TAILQ_HEAD(jwks_entries, jwks_entry);

/* A jwksUri taken apart. */
struct jwks_url {
	int https;
	int v6;
	char host[JWKS_HOST_MAX + 1]; /* without brackets */
	int port;
	char *target; /* path and query, "/" at least (allocated) */
};

static struct {
	pthread_mutex_t mtx;
	struct jwks_entries entries;
	uint64_t gen; /* of the last jwks_fetch_use() */
	struct jwks_fetch_conf conf;
	char *ca_file;

	/* The main thread's. */
	int started;
	pthread_t thread;
	int notify_fd;
	int stopping; /* atomic */

	/* The fetch thread's (made before it starts). */
	struct event_base *base;
	struct event *notify_ev;
	struct event *pump_ev;
	struct jwks_entries queue;
	int active;
} jc = {
    .mtx = PTHREAD_MUTEX_INITIALIZER,
    .entries = TAILQ_HEAD_INITIALIZER(jc.entries),
    .queue = TAILQ_HEAD_INITIALIZER(jc.queue),
    .notify_fd = -1,
};

static void jwks_fetch_end(
    struct jwks_entry *, int, const char *, size_t, const char *);

static uint64_t
jwks_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
jwks_keys_unref(struct jwks_keys *k)
{
	if (k == NULL || __atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	jwt_keys_free(k->keys);
	free(k);
}

void
jwks_keys_release(struct jwks_keys *ref)
{
	jwks_keys_unref(ref);
}

const struct jwt_keys *
jwks_entry_keys(struct jwks_entry *e, struct jwks_keys **ref)
{
	struct jwks_keys *k;

	*ref = NULL;
	if (e == NULL)
		return NULL;
	pthread_mutex_lock(&e->keys_mtx);
	if ((k = e->keys) != NULL)
		__atomic_add_fetch(&k->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&e->keys_mtx);
	*ref = k;
	return k != NULL ? k->keys : NULL;
}

struct jwks_entry *
jwks_cache_entry(const char *uri, int timeout_ms)
{
	struct jwks_entry *e;

	/* A linear search: a mesh names few identity providers. */
	pthread_mutex_lock(&jc.mtx);
	TAILQ_FOREACH (e, &jc.entries, entry) {
		if (strcmp(e->uri, uri) == 0)
			break;
	}
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->uri = xstrdup(uri);
		pthread_mutex_init(&e->keys_mtx, NULL);
		TAILQ_INSERT_TAIL(&jc.entries, e, entry);
	}
	if (timeout_ms < 0)
		timeout_ms = 0;
	e->timeout_ms =
	    timeout_ms < JWKS_TIMEOUT_MAX_MS ? timeout_ms : JWKS_TIMEOUT_MAX_MS;
	pthread_mutex_unlock(&jc.mtx);
	return e;
}

void
jwks_entry_info(struct jwks_entry *e, struct jwks_entry_info *info)
{
	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&e->keys_mtx);
	if (e->keys != NULL)
		info->nkeys = jwt_keys_count(e->keys->keys);
	pthread_mutex_unlock(&e->keys_mtx);
	pthread_mutex_lock(&jc.mtx);
	info->fetches = e->fetches;
	info->failures = e->failures;
	info->last_fetch = e->last_fetch;
	info->last_ok = e->last_ok;
	info->retry_ms = e->retry_ms;
	info->used = e->used != 0 && e->used == jc.gen;
	info->timeout_ms = e->timeout_ms;
	snprintf(info->last_error, sizeof(info->last_error), "%s",
	    e->last_error != NULL ? e->last_error : "");
	pthread_mutex_unlock(&jc.mtx);
}

int
jwks_fetch_init(const struct jwks_fetch_conf *conf, char **cause)
{
	FILE *f;

	if (conf->ca_file != NULL) {
		/* A typo shows now, not as every fetch failing later. */
		if ((f = fopen(conf->ca_file, "r")) == NULL) {
			xasprintf(
			    cause, "%s: %s", conf->ca_file, strerror(errno));
			return -1;
		}
		fclose(f);
	}
	jc.conf = *conf;
	free(jc.ca_file);
	jc.ca_file = conf->ca_file != NULL ? xstrdup(conf->ca_file) : NULL;
	jc.conf.ca_file = jc.ca_file;
	if (jc.conf.refresh_ms <= 0)
		jc.conf.refresh_ms = JWKS_REFRESH_MS;
	if (jc.conf.timeout_ms <= 0)
		jc.conf.timeout_ms = JWKS_TIMEOUT_MS;
	if (jc.conf.max_body == 0)
		jc.conf.max_body = JWKS_MAX_BODY;
	if (jc.conf.max_fetches <= 0)
		jc.conf.max_fetches = JWKS_MAX_FETCHES;
	if (jc.conf.backoff_min_ms <= 0)
		jc.conf.backoff_min_ms = JWKS_BACKOFF_MIN_MS;
	if (jc.conf.backoff_max_ms <= 0)
		jc.conf.backoff_max_ms = JWKS_BACKOFF_MAX_MS;
	if (jc.conf.backoff_max_ms < jc.conf.backoff_min_ms)
		jc.conf.backoff_max_ms = jc.conf.backoff_min_ms;
	jwks_registry = jwks_cache_entry;
	return 0;
}

/*
 * Takes a jwksUri apart: http or https, a host (a name, an IPv4
 * address, or an IPv6 address in brackets), an optional port, then the
 * path and query; a fragment is dropped. User information is refused:
 * it would go nowhere (no credentials are sent) and hides the host.
 */
static int
jwks_url_parse(const char *uri, struct jwks_url *u, char **cause)
{
	const char *p, *h, *hend, *end;
	size_t hlen;
	long port;
	char *q;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(uri, "https://", 8) == 0) {
		u->https = 1;
		u->port = 443;
		p = uri + 8;
	} else if (strncasecmp(uri, "http://", 7) == 0) {
		u->port = 80;
		p = uri + 7;
	} else
		goto bad;
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)) != NULL) {
		xasprintf(cause, "user information is not supported");
		return -1;
	}
	if (*p == '[') {
		h = ++p;
		if ((hend = memchr(h, ']', (size_t)(end - h))) == NULL)
			goto bad;
		p = hend + 1;
		u->v6 = 1;
	} else {
		h = p;
		p += strcspn(p, ":/?#");
		hend = p;
	}
	hlen = (size_t)(hend - h);
	if (hlen == 0 || hlen > JWKS_HOST_MAX)
		goto bad;
	memcpy(u->host, h, hlen);
	u->host[hlen] = '\0';
	if (*p == ':') {
		if (p + 1 == end ||
		    strspn(p + 1, "0123456789") != (size_t)(end - p - 1) ||
		    end - p - 1 > 5)
			goto bad;
		port = strtol(p + 1, NULL, 10);
		if (port < 1 || port > 65535)
			goto bad;
		u->port = (int)port;
		p = end;
	}
	if (p != end)
		goto bad;
	hlen = strcspn(end, "#");
	xasprintf(&u->target, "%s%.*s", *end == '/' ? "" : "/", (int)hlen, end);
	for (q = u->target; *q != '\0'; q++) {
		if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f) {
			free(u->target);
			u->target = NULL;
			goto bad;
		}
	}
	return 0;
bad:
	xasprintf(cause, "not an http:// or https:// URL");
	return -1;
}

static void
jwks_https_done_cb(struct https_response *r, void *arg)
{
	struct jwks_entry *e = arg;
	struct https_client *c = e->https;

	e->https = NULL;
	jwks_fetch_end(e, r->status, r->body, r->len, r->error);
	/* Allowed from its callback: the request is already detached. */
	https_client_free(c);
}

static int
jwks_https_begin(struct jwks_entry *e, const struct jwks_url *u, char **cause)
{
	struct https_client_conf conf;
	char *base_url;

	memset(&conf, 0, sizeof(conf));
	conf.ca_file = jc.conf.ca_file;
	conf.system_roots = jc.conf.ca_file == NULL;
	/* Whole seconds: the client's granularity. */
	conf.timeout_sec = (e->fetch_timeout_ms + 999) / 1000;
	conf.max_body = jc.conf.max_body;
	xasprintf(&base_url, u->v6 ? "https://[%s]:%d" : "https://%s:%d",
	    u->host, u->port);
	e->https = https_client_new(jc.base, base_url, &conf, cause);
	free(base_url);
	if (e->https == NULL)
		return -1;
	if (https_client_request(e->https, "GET", u->target, NULL, NULL, 0,
		jwks_https_done_cb, e, cause) == -1) {
		https_client_free(e->https);
		e->https = NULL;
		return -1;
	}
	return 0;
}

static void
jwks_http_error_cb(enum evhttp_request_error error, void *arg)
{
	struct jwks_entry *e = arg;

	e->http_error = (int)error;
}

/* "timed out after 5 s", as https_client.c says it. */
static void
jwks_timeout_text(const struct jwks_entry *e, char *buf, size_t len)
{
	if (e->fetch_timeout_ms % 1000 == 0)
		snprintf(buf, len, "timed out after %d s",
		    e->fetch_timeout_ms / 1000);
	else
		snprintf(
		    buf, len, "timed out after %d ms", e->fetch_timeout_ms);
}

/* Why an http fetch failed, in the words of https_client.c. */
static void
jwks_http_why(const struct jwks_entry *e, char *buf, size_t len)
{
	switch (e->http_error) {
	case EVREQ_HTTP_TIMEOUT:
		jwks_timeout_text(e, buf, len);
		break;
	case EVREQ_HTTP_EOF:
		snprintf(buf, len, "connection closed early");
		break;
	case EVREQ_HTTP_INVALID_HEADER:
		snprintf(buf, len, "bad response");
		break;
	case EVREQ_HTTP_DATA_TOO_LONG:
		snprintf(buf, len, "response too large (body limit %zu bytes)",
		    jc.conf.max_body);
		break;
	default:
		/* evhttp says no more of a refused connection or a lookup. */
		snprintf(buf, len, "connection failed");
		break;
	}
}

/*
 * The end of an http fetch. evhttp still uses the connection after
 * this callback returns: it is freed later, by jwks_reap_cb.
 */
static void
jwks_http_done_cb(struct evhttp_request *req, void *arg)
{
	struct jwks_entry *e = arg;
	struct evbuffer *in;
	const char *body = NULL;
	char why[128];
	size_t len = 0;
	int status = 0;

	/*
	 * A failure found while the request is being made (no address for
	 * the host) comes through here from inside evhttp_make_request().
	 */
	if (e->state != JWKS_FETCHING || e->http == NULL)
		return;
	evtimer_del(e->timer);
	e->http_done = e->http;
	e->http = NULL;
	event_active(e->reap, EV_TIMEOUT, 1);
	if (req != NULL)
		status = evhttp_request_get_response_code(req);
	if (status == 0) {
		jwks_http_why(e, why, sizeof(why));
		jwks_fetch_end(e, 0, NULL, 0, why);
		return;
	}
	in = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(in);
	if (len > 0 &&
	    (body = (const char *)evbuffer_pullup(in, (ev_ssize_t)len)) ==
		NULL) {
		jwks_fetch_end(e, 0, NULL, 0, "out of memory");
		return;
	}
	jwks_fetch_end(e, status, body, len, NULL);
}

static void
jwks_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jwks_entry *e = arg;

	if (e->http_done != NULL) {
		evhttp_connection_free(e->http_done);
		e->http_done = NULL;
	}
}

static int
jwks_http_begin(struct jwks_entry *e, const struct jwks_url *u, char **cause)
{
	struct timeval tv;
	struct evhttp_request *req;
	struct evkeyvalq *h;
	char host[JWKS_HOST_MAX + 16];
	int r;

	if (!e->plain_logged) {
		log_warnx("jwksUri %s: fetched over plain HTTP: whoever is on "
			  "the path can substitute keys",
		    e->uri);
		e->plain_logged = 1;
	}
	e->http_error = -1;
	/*
	 * Without an evdns base, evhttp resolves a host name with a
	 * blocking getaddrinfo(3): on this thread, that is no request's
	 * delay.
	 */
	e->http = evhttp_connection_base_new(
	    jc.base, NULL, u->host, (unsigned short)u->port);
	if (e->http == NULL ||
	    (req = evhttp_request_new(jwks_http_done_cb, e)) == NULL) {
		xasprintf(cause, "cannot start an HTTP request");
		goto fail;
	}
	tv.tv_sec = e->fetch_timeout_ms / 1000;
	tv.tv_usec = (suseconds_t)(e->fetch_timeout_ms % 1000) * 1000;
	evhttp_connection_set_timeout_tv(e->http, &tv);
	evhttp_connection_set_max_body_size(
	    e->http, (ev_ssize_t)jc.conf.max_body);
	evhttp_connection_set_max_headers_size(e->http, 64 * 1024);
	evhttp_request_set_error_cb(req, jwks_http_error_cb);
	if (u->port == 80)
		snprintf(host, sizeof(host), u->v6 ? "[%s]" : "%s", u->host);
	else
		snprintf(host, sizeof(host), u->v6 ? "[%s]:%d" : "%s:%d",
		    u->host, u->port);
	h = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(h, "Host", host) == -1 ||
	    evhttp_add_header(h, "Accept", "application/json") == -1 ||
	    evhttp_add_header(h, "User-Agent", "weft/" PACKAGE_VERSION) == -1 ||
	    evhttp_add_header(h, "Connection", "close") == -1) {
		evhttp_request_free(req);
		xasprintf(cause, "cannot start an HTTP request");
		goto fail;
	}
	/* On failure, evhttp has freed the request. */
	r = evhttp_make_request(e->http, req, EVHTTP_REQ_GET, u->target);
	if (e->http == NULL)
		return 0; /* already over, through jwks_http_done_cb */
	if (r == -1) {
		xasprintf(cause, "cannot send the HTTP request");
		goto fail;
	}
	/* evhttp's timeout is per read or write: this one is for all. */
	evtimer_add(e->timer, &tv);
	return 0;
fail:
	if (e->http != NULL)
		evhttp_connection_free(e->http);
	e->http = NULL;
	return -1;
}

/* Starts the fetch of e; its end comes through jwks_fetch_end(). */
static void
jwks_fetch_begin(struct jwks_entry *e)
{
	struct jwks_url u;
	char *cause = NULL;
	int r;

	e->state = JWKS_FETCHING;
	jc.active++;
	pthread_mutex_lock(&jc.mtx);
	e->fetch_timeout_ms =
	    e->timeout_ms > 0 ? e->timeout_ms : jc.conf.timeout_ms;
	pthread_mutex_unlock(&jc.mtx);
	if (e->http_done != NULL) {
		evhttp_connection_free(e->http_done);
		e->http_done = NULL;
	}
	if (jwks_url_parse(e->uri, &u, &cause) == 0) {
		r = u.https ? jwks_https_begin(e, &u, &cause)
			    : jwks_http_begin(e, &u, &cause);
		free(u.target);
	} else
		r = -1;
	if (r == -1) {
		jwks_fetch_end(e, 0, NULL, 0, cause);
		free(cause);
	}
}

/* Runs the queued fetches that have a slot. */
static void
jwks_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jwks_entry *e;

	while (jc.active < jc.conf.max_fetches &&
	    (e = TAILQ_FIRST(&jc.queue)) != NULL) {
		TAILQ_REMOVE(&jc.queue, e, qentry);
		jwks_fetch_begin(e);
	}
}

static void
jwks_arm(struct jwks_entry *e, uint64_t delay_ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(delay_ms / 1000);
	tv.tv_usec = (suseconds_t)(delay_ms % 1000) * 1000;
	e->state = JWKS_WAITING;
	evtimer_add(e->timer, &tv);
}

/* The timer of e: its fetch is due, or (http) its deadline passed. */
static void
jwks_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jwks_entry *e = arg;
	char why[64];
	int used;

	if (e->state == JWKS_FETCHING) {
		if (e->http == NULL)
			return;
		/* Cancelled without its callback. */
		evhttp_connection_free(e->http);
		e->http = NULL;
		jwks_timeout_text(e, why, sizeof(why));
		jwks_fetch_end(e, 0, NULL, 0, why);
		return;
	}
	if (e->state != JWKS_WAITING)
		return;
	pthread_mutex_lock(&jc.mtx);
	used = e->used == jc.gen;
	pthread_mutex_unlock(&jc.mtx);
	if (!used) {
		e->state = JWKS_IDLE;
		return;
	}
	e->state = JWKS_QUEUED;
	TAILQ_INSERT_TAIL(&jc.queue, e, qentry);
	event_active(jc.pump_ev, EV_TIMEOUT, 1);
}

/* Logs the outcome of a fetch: changes loudly, routine quietly. */
static void
jwks_log(struct jwks_entry *e, const char *why, const char *prev_error,
    unsigned int failures, int retry_ms, size_t nkeys, int had_keys)
{
	if (why == NULL) {
		if (failures > 0 || !had_keys)
			log_info("jwksUri %s: %zu key%s in force", e->uri,
			    nkeys, nkeys == 1 ? "" : "s");
		else
			log_debug("jwksUri %s: refreshed, %zu key%s", e->uri,
			    nkeys, nkeys == 1 ? "" : "s");
		return;
	}
	if (failures == 1 || prev_error == NULL || strcmp(prev_error, why) != 0)
		log_warnx("jwksUri %s: %s; %s; retrying in %d ms", e->uri, why,
		    had_keys ? "keeping the keys fetched before"
			     : "its tokens are refused until a fetch succeeds",
		    retry_ms);
	else
		log_debug("jwksUri %s: %s (%u failures in a row); retrying in "
			  "%d ms",
		    e->uri, why, failures, retry_ms);
}

/*
 * The end of a fetch of e: status and body of the response, or error.
 * Installs the keys of a good JWKS, records the outcome, and plans the
 * next fetch.
 */
static void
jwks_fetch_end(struct jwks_entry *e, int status, const char *body, size_t len,
    const char *error)
{
	struct jwks_keys *k = NULL, *old;
	struct jwt_keys *keys;
	char *why = NULL, *skipped = NULL, *c = NULL, *prev;
	unsigned int failures;
	uint64_t delay;
	int used, retry_ms, had_keys;

	if (error != NULL)
		why = xstrdup(error);
	else if (status != 200)
		xasprintf(&why, "HTTP status %d", status);
	else if (len > jc.conf.max_body)
		xasprintf(&why,
		    "response body too large (%zu bytes, limit %zu)", len,
		    jc.conf.max_body);
	else if ((keys = jwt_keys_parse(
		      body != NULL ? body : "", len, &skipped, &c)) == NULL)
		why = c; /* "JWKS: no usable key" */
	else {
		k = xcalloc(1, sizeof(*k));
		k->refs = 1;
		k->keys = keys;
	}

	pthread_mutex_lock(&e->keys_mtx);
	old = e->keys;
	had_keys = old != NULL;
	if (k != NULL)
		e->keys = k;
	pthread_mutex_unlock(&e->keys_mtx);
	if (k != NULL)
		jwks_keys_unref(old);

	pthread_mutex_lock(&jc.mtx);
	e->fetches++;
	e->last_fetch = time(NULL);
	prev = e->last_error;
	failures = e->failures;
	if (why == NULL) {
		e->last_ok = e->last_fetch;
		e->failures = 0;
		e->retry_ms = 0;
		e->last_error = NULL;
		delay = (uint64_t)jc.conf.refresh_ms;
	} else {
		e->failures++;
		if (e->retry_ms == 0)
			e->retry_ms = jc.conf.backoff_min_ms;
		else if (e->retry_ms > jc.conf.backoff_max_ms / 2)
			e->retry_ms = jc.conf.backoff_max_ms;
		else
			e->retry_ms *= 2;
		e->last_error = xstrdup(why);
		delay = (uint64_t)e->retry_ms;
	}
	retry_ms = e->retry_ms;
	e->due_ms = jwks_now_ms() + delay;
	used = e->used == jc.gen;
	pthread_mutex_unlock(&jc.mtx);

	jwks_log(e, why, prev, why != NULL ? failures + 1 : failures, retry_ms,
	    k != NULL ? jwt_keys_count(k->keys) : 0, had_keys);
	if (skipped != NULL) {
		if (failures > 0 || !had_keys)
			log_info("jwksUri %s: %s", e->uri, skipped);
		free(skipped);
	}
	free(prev);
	free(why);

	e->state = JWKS_IDLE;
	jc.active--;
	if (used)
		jwks_arm(e, delay);
	if (!TAILQ_EMPTY(&jc.queue))
		event_active(jc.pump_ev, EV_TIMEOUT, 1);
}

/* Plans a fetch for each entry in use that has none planned. */
static void
jwks_scan(void)
{
	struct jwks_entry *e;
	uint64_t now = jwks_now_ms();

	pthread_mutex_lock(&jc.mtx);
	TAILQ_FOREACH (e, &jc.entries, entry) {
		if (e->used != jc.gen || e->state != JWKS_IDLE)
			continue;
		if (e->timer == NULL) {
			e->timer = evtimer_new(jc.base, jwks_timer_cb, e);
			e->reap = event_new(jc.base, -1, 0, jwks_reap_cb, e);
			if (e->timer == NULL || e->reap == NULL)
				fatalx("out of memory");
		}
		jwks_arm(e, e->due_ms > now ? e->due_ms - now : 0);
	}
	pthread_mutex_unlock(&jc.mtx);
}

static void
jwks_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("jwks notification");
	if (__atomic_load_n(&jc.stopping, __ATOMIC_ACQUIRE)) {
		event_base_loopbreak(jc.base);
		return;
	}
	jwks_scan();
}

static void *
jwks_fetch_main(void *arg)
{
	struct jwks_entry *e;

	event_base_dispatch(jc.base);

	/* Whatever is in flight is cancelled, without callbacks. */
	pthread_mutex_lock(&jc.mtx);
	TAILQ_FOREACH (e, &jc.entries, entry) {
		https_client_free(e->https);
		e->https = NULL;
		if (e->http != NULL)
			evhttp_connection_free(e->http);
		if (e->http_done != NULL)
			evhttp_connection_free(e->http_done);
		e->http = e->http_done = NULL;
		if (e->timer != NULL)
			event_free(e->timer);
		if (e->reap != NULL)
			event_free(e->reap);
		e->timer = e->reap = NULL;
		e->state = JWKS_IDLE;
	}
	pthread_mutex_unlock(&jc.mtx);
	TAILQ_INIT(&jc.queue);
	jc.active = 0;
	event_free(jc.notify_ev);
	event_free(jc.pump_ev);
	event_base_free(jc.base);
	jc.notify_ev = jc.pump_ev = NULL;
	jc.base = NULL;
	OPENSSL_thread_stop();
	return NULL;
}

static void
jwks_notify(void)
{
	uint64_t one = 1;

	if (write(jc.notify_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("jwks notification");
}

/* Starts the fetch thread; -1 (logged) when it cannot. */
static int
jwks_fetch_start(void)
{
	sigset_t all, old;
	int r;

	if ((jc.notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		log_warn("jwksUri fetcher: eventfd");
		return -1;
	}
	if ((jc.base = event_base_new()) == NULL ||
	    (jc.notify_ev = event_new(jc.base, jc.notify_fd,
		 EV_READ | EV_PERSIST, jwks_notify_cb, NULL)) == NULL ||
	    (jc.pump_ev = event_new(jc.base, -1, 0, jwks_pump_cb, NULL)) ==
		NULL ||
	    event_add(jc.notify_ev, NULL) == -1) {
		log_warnx("jwksUri fetcher: cannot set up its event loop");
		goto fail;
	}
	__atomic_store_n(&jc.stopping, 0, __ATOMIC_RELEASE);
	/* Signals are the main thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&jc.thread, NULL, jwks_fetch_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		errno = r;
		log_warn("jwksUri fetcher: thread");
		goto fail;
	}
	jc.started = 1;
	return 0;
fail:
	if (jc.notify_ev != NULL)
		event_free(jc.notify_ev);
	if (jc.pump_ev != NULL)
		event_free(jc.pump_ev);
	if (jc.base != NULL)
		event_base_free(jc.base);
	jc.notify_ev = jc.pump_ev = NULL;
	jc.base = NULL;
	close(jc.notify_fd);
	jc.notify_fd = -1;
	return -1;
}

void
jwks_fetch_use(const struct snap_security *sec)
{
	size_t i;
	int any = 0;

	pthread_mutex_lock(&jc.mtx);
	jc.gen++;
	for (i = 0; sec != NULL && i < sec->njwt; i++) {
		if (sec->jwt[i].jwks != NULL) {
			sec->jwt[i].jwks->used = jc.gen;
			any = 1;
		}
	}
	pthread_mutex_unlock(&jc.mtx);
	if (!jc.started && (!any || jwks_fetch_start() == -1))
		return;
	jwks_notify();
}

void
jwks_fetch_stop(void)
{
	if (!jc.started)
		return;
	__atomic_store_n(&jc.stopping, 1, __ATOMIC_RELEASE);
	jwks_notify();
	pthread_join(jc.thread, NULL);
	close(jc.notify_fd);
	jc.notify_fd = -1;
	jc.started = 0;
}

void
jwks_cache_free(void)
{
	struct jwks_entry *e;

	jwks_fetch_stop();
	pthread_mutex_lock(&jc.mtx);
	while ((e = TAILQ_FIRST(&jc.entries)) != NULL) {
		TAILQ_REMOVE(&jc.entries, e, entry);
		jwks_keys_unref(e->keys);
		pthread_mutex_destroy(&e->keys_mtx);
		free(e->last_error);
		free(e->uri);
		free(e);
	}
	jc.gen = 0;
	pthread_mutex_unlock(&jc.mtx);
	free(jc.ca_file);
	jc.ca_file = NULL;
	jwks_registry = NULL;
}
