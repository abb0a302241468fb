/*
 * Unit tests for the jwksUri cache (src/proxy/jwks_fetch.c): the
 * registry as snapshot builds reach it, and the fetch thread against a
 * small HTTP server in threads of the test (127.0.0.1, an ephemeral
 * port, one thread per connection), with a short refresh interval and
 * backoff so that the schedule shows within a second or two.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "jwks_fetch.h"
#include "jwt.h"
#include "log.h"
#include "policy_db.h"
#include "policy_fixture.h"
#include "snapshot.h"

#define REFRESH_MS  300
#define BACKOFF_MIN 50
#define BACKOFF_MAX 200
#define MAX_BODY    4096
#define MAX_FETCHES 2

/* JWKS of HMAC keys (32-byte secrets): one key, then two. */
#define KEY_A                                                                  \
	"{\"kty\":\"oct\",\"kid\":\"a\",\"alg\":\"HS256\","                    \
	"\"k\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}"
#define KEY_B                                                                  \
	"{\"kty\":\"oct\",\"kid\":\"b\",\"alg\":\"HS256\","                    \
	"\"k\":\"HxwdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA\"}"
#define JWKS_ONE "{\"keys\":[" KEY_A "]}"
#define JWKS_TWO "{\"keys\":[" KEY_A "," KEY_B "]}"

enum srv_mode {
	SRV_OK,     /* 200 with the body */
	SRV_500,    /* 500 */
	SRV_HUGE,   /* 200 with a body past MAX_BODY */
	SRV_SILENT, /* reads the request, never answers */
};

/* The server: an accepting thread, and a thread per connection. */
struct srv {
	int lfd;
	int port;
	pthread_t thread;
	int stop;         /* atomic */
	int mode;         /* atomic */
	const char *body; /* atomic */
	int delay_ms;     /* before each answer */
	int live;         /* connection threads running (atomic) */
	int inflight;     /* requests read, not yet answered (atomic) */
	int max_inflight; /* atomic */
	pthread_mutex_t mtx;
	unsigned int requests;
	char last[2048];  /* the last request head */
	char lines[8192]; /* every request line */
};

struct srv_conn {
	struct srv *s;
	int fd;
};

static void
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0 && (n = write(fd, p, len)) > 0) {
		p += n;
		len -= (size_t)n;
	}
}

static void *
srv_conn_main(void *arg)
{
	struct srv_conn *c = arg;
	struct srv *s = c->s;
	struct timeval tv = {5, 0};
	char head[2048], big[MAX_BODY * 2], out[512], *eol;
	const char *body;
	size_t len = 0;
	ssize_t n;
	int in, max;

	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (len < sizeof(head) - 1 &&
	    (n = read(c->fd, head + len, sizeof(head) - 1 - len)) > 0) {
		len += (size_t)n;
		head[len] = '\0';
		if (strstr(head, "\r\n\r\n") != NULL)
			break;
	}
	head[len] = '\0';
	if (strstr(head, "\r\n\r\n") == NULL)
		goto out;
	pthread_mutex_lock(&s->mtx);
	s->requests++;
	snprintf(s->last, sizeof(s->last), "%s", head);
	if ((eol = strstr(head, "\r\n")) != NULL &&
	    strlen(s->lines) + (size_t)(eol - head) + 2 < sizeof(s->lines))
		snprintf(s->lines + strlen(s->lines),
		    sizeof(s->lines) - strlen(s->lines), "%.*s\n",
		    (int)(eol - head), head);
	pthread_mutex_unlock(&s->mtx);

	in = __atomic_add_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
	max = __atomic_load_n(&s->max_inflight, __ATOMIC_SEQ_CST);
	while (in > max &&
	    !__atomic_compare_exchange_n(&s->max_inflight, &max, in, 0,
		__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	if (s->delay_ms > 0)
		usleep((useconds_t)s->delay_ms * 1000);
	/* Before the answer: the client may ask again as soon as it has it. */
	__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
	switch (__atomic_load_n(&s->mode, __ATOMIC_SEQ_CST)) {
	case SRV_OK:
		body = __atomic_load_n(&s->body, __ATOMIC_SEQ_CST);
		snprintf(out, sizeof(out),
		    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		    strlen(body));
		write_all(c->fd, out, strlen(out));
		write_all(c->fd, body, strlen(body));
		break;
	case SRV_500:
		snprintf(out, sizeof(out),
		    "HTTP/1.1 500 Internal Server Error\r\n"
		    "Content-Length: 4\r\nConnection: close\r\n\r\noops");
		write_all(c->fd, out, strlen(out));
		break;
	case SRV_HUGE:
		memset(big, 'x', sizeof(big));
		snprintf(out, sizeof(out),
		    "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
		    "Connection: close\r\n\r\n",
		    sizeof(big));
		write_all(c->fd, out, strlen(out));
		write_all(c->fd, big, sizeof(big));
		break;
	case SRV_SILENT:
		/* Until the client gives up. */
		while (read(c->fd, out, sizeof(out)) > 0)
			;
		break;
	}
out:
	close(c->fd);
	__atomic_sub_fetch(&s->live, 1, __ATOMIC_SEQ_CST);
	free(c);
	return NULL;
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	struct srv_conn *c;
	struct pollfd pfd;
	pthread_t t;
	int fd;

	while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
		pfd.fd = s->lfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		if ((fd = accept(s->lfd, NULL, NULL)) == -1)
			continue;
		c = calloc(1, sizeof(*c));
		assert_non_null(c);
		c->s = s;
		c->fd = fd;
		__atomic_add_fetch(&s->live, 1, __ATOMIC_SEQ_CST);
		if (pthread_create(&t, NULL, srv_conn_main, c) != 0) {
			__atomic_sub_fetch(&s->live, 1, __ATOMIC_SEQ_CST);
			close(fd);
			free(c);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

static struct srv *
srv_start(int mode, const char *body)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int one = 1;

	assert_non_null(s);
	s->mode = mode;
	s->body = body;
	pthread_mutex_init(&s->mtx, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd != -1);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	assert_int_equal(listen(s->lfd, 16), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
	return s;
}

static void
srv_set(struct srv *s, int mode, const char *body)
{
	__atomic_store_n(&s->body, body, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->mode, mode, __ATOMIC_SEQ_CST);
}

/* Stops the server once its connections are over. */
static void
srv_free(struct srv *s)
{
	int i;

	__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	close(s->lfd);
	for (i = 0; i < 1000 && __atomic_load_n(&s->live, __ATOMIC_SEQ_CST);
	     i++)
		usleep(10000);
	assert_int_equal(__atomic_load_n(&s->live, __ATOMIC_SEQ_CST), 0);
	pthread_mutex_destroy(&s->mtx);
	free(s);
}

static unsigned int
srv_requests(struct srv *s)
{
	unsigned int n;

	pthread_mutex_lock(&s->mtx);
	n = s->requests;
	pthread_mutex_unlock(&s->mtx);
	return n;
}

static char *
uri_of(struct srv *s, const char *path)
{
	char *uri;

	assert_true(
	    asprintf(&uri, "http://127.0.0.1:%d%s", s->port, path) != -1);
	return uri;
}

/* Puts a snapshot in force whose jwt rules name these entries. */
static void
use(struct jwks_entry **v, size_t n)
{
	struct snap_jwt_rule rules[8];
	struct snap_security sec;
	size_t i;

	assert_true(n <= 8);
	memset(rules, 0, sizeof(rules));
	memset(&sec, 0, sizeof(sec));
	for (i = 0; i < n; i++) {
		rules[i].issuer = "i";
		rules[i].jwks = v[i];
	}
	sec.jwt = rules;
	sec.njwt = n;
	jwks_fetch_use(&sec);
}

/* Polls e's state until expr holds, for at most 10 s. */
#define WAIT_UNTIL(e, info, expr)                                              \
	do {                                                                   \
		int waited_;                                                   \
		for (waited_ = 0;; waited_ += 10) {                            \
			jwks_entry_info((e), &(info));                         \
			if (expr)                                              \
				break;                                         \
			if (waited_ >= 10000)                                  \
				fail_msg("timed out waiting for %s (last "     \
					 "error \"%s\")",                      \
				    #expr, (info).last_error);                 \
			usleep(10000);                                         \
		}                                                              \
	} while (0)

static int
setup(void **state)
{
	struct jwks_fetch_conf conf;
	char *cause = NULL;

	log_init("test_jwks_fetch", LOG_LEVEL_ERROR);
	memset(&conf, 0, sizeof(conf));
	conf.refresh_ms = REFRESH_MS;
	conf.timeout_ms = 1000;
	conf.max_body = MAX_BODY;
	conf.max_fetches = MAX_FETCHES;
	conf.backoff_min_ms = BACKOFF_MIN;
	conf.backoff_max_ms = BACKOFF_MAX;
	assert_null(jwks_registry);
	assert_int_equal(jwks_fetch_init(&conf, &cause), 0);
	return 0;
}

static int
teardown(void **state)
{
	jwks_cache_free();
	assert_null(jwks_registry);
	return 0;
}

static void
test_registry(void **state)
{
	struct jwks_entry *a, *b, *c;
	struct jwks_entry_info info;
	struct jwks_keys *ref = (struct jwks_keys *)&ref;
	struct jwks_fetch_conf conf;
	char *cause = NULL;

	assert_ptr_equal(jwks_registry, jwks_cache_entry);
	a = jwks_cache_entry("https://idp.example/keys", 0);
	b = jwks_cache_entry("https://idp.example/keys", 0);
	c = jwks_cache_entry("https://idp.example/keys2", 0);
	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, c);

	assert_null(jwks_entry_keys(a, &ref));
	assert_null(ref);
	ref = (struct jwks_keys *)&ref;
	assert_null(jwks_entry_keys(NULL, &ref));
	assert_null(ref);
	jwks_keys_release(NULL);

	jwks_entry_info(a, &info);
	assert_int_equal(info.nkeys, 0);
	assert_int_equal(info.fetches, 0);
	assert_int_equal(info.used, 0);
	assert_string_equal(info.last_error, "");

	/* A CA file that cannot be read fails at once. */
	memset(&conf, 0, sizeof(conf));
	conf.ca_file = "/nonexistent/ca.pem";
	assert_int_equal(jwks_fetch_init(&conf, &cause), -1);
	assert_string_equal(
	    cause, "/nonexistent/ca.pem: No such file or directory");
	free(cause);
}

/* A snapshot's jwksUri rule points at the entry; inline keys do not. */
static void
test_snapshot(void **state)
{
	static const char *uri = "https://accounts.example:8443/keys?x=1";
	const struct snap_security *sec;
	struct jwks_entry_info info;
	struct snapshot *s1, *s2;
	sqlite3 *db = fx_db_new();
	char *cause = NULL, *text;
	json_t *rules;
	size_t i;

	rules = json_pack("[{s:s, s:s, s:s}, {s:s, s:s}]", "issuer", "a",
	    "jwksUri", uri, "timeout", "2.5s", "issuer", "b", "jwks", JWKS_ONE);
	assert_non_null(rules);
	text = json_dumps(rules, JSON_COMPACT);
	assert_non_null(text);
	fx_execf(db,
	    "INSERT INTO request_authentications (namespace, name, "
	    "jwt_rules) VALUES ('default', 'ra', '%s')",
	    text);
	free(text);
	json_decref(rules);
	s1 = policy_db_load_conn_as(db, "default", "app=x", &cause);
	if (s1 == NULL)
		fail_msg("%s", cause);
	s2 = policy_db_load_conn_as(db, "default", "app=x", &cause);
	assert_non_null(s2);
	sec = snapshot_security(s1);
	assert_int_equal(sec->njwt, 2);
	for (i = 0; i < 2; i++) {
		if (strcmp(sec->jwt[i].issuer, "a") == 0) {
			assert_string_equal(sec->jwt[i].jwks_uri, uri);
			assert_null(sec->jwt[i].keys);
			/* The rule's timeout is the entry's. */
			jwks_entry_info(sec->jwt[i].jwks, &info);
			assert_int_equal(info.timeout_ms, 2500);
			assert_int_equal(info.used, 0);
			assert_int_equal(info.fetches, 0);
			assert_ptr_equal(
			    sec->jwt[i].jwks, jwks_cache_entry(uri, 2500));
			/* The next snapshot shares the entry. */
			assert_ptr_equal(sec->jwt[i].jwks,
			    snapshot_security(s2)->jwt[i].jwks);
		} else {
			assert_non_null(sec->jwt[i].keys);
			assert_null(sec->jwt[i].jwks);
		}
	}
	snapshot_unref(s1);
	snapshot_unref(s2);
	sqlite3_close(db);
}

/*
 * Fetched once in use, refreshed, and a refresh never frees the keys a
 * reader holds.
 */
static void
test_fetch_refresh(void **state)
{
	struct srv *s = srv_start(SRV_OK, JWKS_ONE);
	char *uri = uri_of(s, "/keys?v=1#frag"), want[64];
	struct jwks_entry *e = jwks_cache_entry(uri, 0);
	struct jwks_entry_info info;
	const struct jwt_keys *k;
	struct jwks_keys *ref;

	use(&e, 1);
	WAIT_UNTIL(e, info, info.nkeys == 1);
	assert_int_equal(info.used, 1);
	assert_int_equal(info.failures, 0);
	assert_int_equal(info.retry_ms, 0);
	assert_true(info.last_ok != 0);
	assert_string_equal(info.last_error, "");
	pthread_mutex_lock(&s->mtx);
	assert_non_null(strstr(s->last, "GET /keys?v=1 HTTP/1.1\r\n"));
	snprintf(want, sizeof(want), "\r\nHost: 127.0.0.1:%d\r\n", s->port);
	assert_non_null(strstr(s->last, want));
	pthread_mutex_unlock(&s->mtx);

	k = jwks_entry_keys(e, &ref);
	assert_non_null(k);
	assert_non_null(ref);
	assert_int_equal(jwt_keys_count(k), 1);

	srv_set(s, SRV_OK, JWKS_TWO);
	WAIT_UNTIL(e, info, info.nkeys == 2);
	/* Still ours, after the swap (ASan would see a use after free). */
	assert_int_equal(jwt_keys_count(k), 1);
	jwks_keys_release(ref);
	k = jwks_entry_keys(e, &ref);
	assert_int_equal(jwt_keys_count(k), 2);
	jwks_keys_release(ref);

	use(NULL, 0);
	srv_free(s);
	free(uri);
}

struct reader {
	struct jwks_entry *e;
	int stop; /* atomic */
	unsigned long reads;
	unsigned long seen[3]; /* by key count */
};

/* A worker's use of the keys: a reference per verification. */
static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	const struct jwt_keys *k;
	struct jwks_keys *ref;
	size_t n;

	while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
		k = jwks_entry_keys(r->e, &ref);
		n = k != NULL ? jwt_keys_count(k) : 0;
		if (n < 3)
			r->seen[n]++;
		r->reads++;
		jwks_keys_release(ref);
	}
	return NULL;
}

/* Readers on other threads while refreshes swap the keys under them. */
static void
test_readers(void **state)
{
	struct srv *s = srv_start(SRV_OK, JWKS_ONE);
	char *uri = uri_of(s, "/readers");
	struct jwks_entry *e = jwks_cache_entry(uri, 0);
	struct jwks_entry_info info;
	struct reader r[4];
	pthread_t t[4];
	unsigned int f;
	int i;

	memset(r, 0, sizeof(r));
	for (i = 0; i < 4; i++) {
		r[i].e = e;
		assert_int_equal(
		    pthread_create(&t[i], NULL, reader_main, &r[i]), 0);
	}
	use(&e, 1);
	WAIT_UNTIL(e, info, info.nkeys == 1);
	for (f = 0; f < 6; f++) {
		srv_set(s, SRV_OK, f % 2 == 0 ? JWKS_TWO : JWKS_ONE);
		WAIT_UNTIL(e, info, info.nkeys == (f % 2 == 0 ? 2 : 1));
	}
	for (i = 0; i < 4; i++) {
		__atomic_store_n(&r[i].stop, 1, __ATOMIC_SEQ_CST);
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_true(r[i].reads > 0);
		assert_true(r[i].seen[1] > 0 && r[i].seen[2] > 0);
	}
	use(NULL, 0);
	srv_free(s);
	free(uri);
}

/* Failures keep the keys and back off, doubling to the cap. */
static void
test_failure_backoff(void **state)
{
	struct srv *s = srv_start(SRV_OK, JWKS_ONE);
	char *uri = uri_of(s, "/backoff");
	struct jwks_entry *e = jwks_cache_entry(uri, 0);
	struct jwks_entry_info info;
	unsigned int f;
	int want;

	use(&e, 1);
	WAIT_UNTIL(e, info, info.nkeys == 1);
	srv_set(s, SRV_500, NULL);
	for (f = 1; f <= 4; f++) {
		WAIT_UNTIL(e, info, info.failures >= f);
		want = BACKOFF_MIN << (info.failures - 1);
		if (want > BACKOFF_MAX || info.failures > 8)
			want = BACKOFF_MAX;
		assert_int_equal(info.retry_ms, want);
		assert_int_equal(info.nkeys, 1);
		assert_string_equal(info.last_error, "HTTP status 500");
	}
	srv_set(s, SRV_OK, JWKS_TWO);
	WAIT_UNTIL(e, info, info.failures == 0);
	assert_int_equal(info.nkeys, 2);
	assert_int_equal(info.retry_ms, 0);
	assert_string_equal(info.last_error, "");

	use(NULL, 0);
	srv_free(s);
	free(uri);
}

/* Each way a fetch can fail leaves no keys and says why. */
static void
test_failures(void **state)
{
	static const struct {
		int mode;
		const char *body;
		const char *path; /* NULL: the URI itself */
		const char *want;
	} cases[] = {
	    {SRV_HUGE, NULL, "/huge", "too large"},
	    {SRV_SILENT, NULL, "/silent", "timed out"},
	    {SRV_OK, "{\"keys\": []}", "/empty", "JWKS: no usable key"},
	    {SRV_OK, "not json", "/text", "JWKS: line 1"},
	    {SRV_OK, NULL, "http://user@127.0.0.1/x",
		"user information is not supported"},
	    {SRV_OK, NULL, "http://[::1/x", "not an http"},
	    {SRV_OK, NULL, "ftp://127.0.0.1/x", "not an http"},
	    {SRV_OK, NULL, "http://127.0.0.1:0/x", "not an http"},
	    {SRV_OK, NULL, "http://127.0.0.1:1/x", "connection"},
	};
	struct jwks_entry_info info;
	struct jwks_keys *ref;
	struct jwks_entry *e;
	struct srv *s;
	size_t i;
	char *uri;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = srv_start(cases[i].mode,
		    cases[i].body != NULL ? cases[i].body : JWKS_ONE);
		if (cases[i].path[0] == '/')
			uri = uri_of(s, cases[i].path);
		else
			uri = strdup(cases[i].path);
		e = jwks_cache_entry(uri, 0);
		use(&e, 1);
		WAIT_UNTIL(e, info, info.failures >= 1);
		if (strstr(info.last_error, cases[i].want) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", uri,
			    info.last_error, cases[i].want);
		assert_int_equal(info.nkeys, 0);
		assert_null(jwks_entry_keys(e, &ref));
		use(NULL, 0);
		srv_free(s);
		free(uri);
	}
}

/* A rule's timeout replaces the default; it is capped. */
static void
test_rule_timeout(void **state)
{
	struct srv *s = srv_start(SRV_SILENT, NULL);
	char *uri = uri_of(s, "/slow");
	struct jwks_entry *e = jwks_cache_entry(uri, 300);
	struct jwks_entry_info info;

	use(&e, 1);
	WAIT_UNTIL(e, info, info.failures >= 1);
	assert_string_equal(info.last_error, "timed out after 300 ms");
	use(NULL, 0);
	srv_free(s);
	assert_ptr_equal(jwks_cache_entry(uri, 3600 * 1000), e);
	jwks_entry_info(e, &info);
	assert_int_equal(info.timeout_ms, JWKS_TIMEOUT_MAX_MS);
	free(uri);
}

/* https against a plain HTTP server: the handshake fails. */
static void
test_https_plain_server(void **state)
{
	struct srv *s = srv_start(SRV_OK, JWKS_ONE);
	struct jwks_entry_info info;
	struct jwks_entry *e;
	char *uri;

	assert_true(asprintf(&uri, "https://127.0.0.1:%d/keys", s->port) != -1);
	e = jwks_cache_entry(uri, 0);
	use(&e, 1);
	WAIT_UNTIL(e, info, info.failures >= 1);
	assert_int_equal(info.nkeys, 0);
	assert_true(info.last_error[0] != '\0');
	use(NULL, 0);
	srv_free(s);
	free(uri);
}

/* No more than MAX_FETCHES at once; the others wait their turn. */
static void
test_concurrency(void **state)
{
	struct srv *s = srv_start(SRV_OK, JWKS_ONE);
	struct jwks_entry *v[6];
	struct jwks_entry_info info;
	char path[32], *uris[6];
	size_t i;

	s->delay_ms = 150;
	for (i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "/c%zu", i);
		uris[i] = uri_of(s, path);
		v[i] = jwks_cache_entry(uris[i], 0);
	}
	use(v, 6);
	for (i = 0; i < 6; i++)
		WAIT_UNTIL(v[i], info, info.nkeys == 1);
	assert_true(srv_requests(s) >= 6);
	assert_int_equal(
	    __atomic_load_n(&s->max_inflight, __ATOMIC_SEQ_CST), MAX_FETCHES);
	use(NULL, 0);
	srv_free(s);
	for (i = 0; i < 6; i++)
		free(uris[i]);
}

/*
 * Only the URIs of the snapshot in force are fetched; one that leaves
 * it is no longer refreshed, and is again when it comes back.
 */
static void
test_in_use(void **state)
{
	struct srv *s = srv_start(SRV_OK, JWKS_ONE);
	char *u1 = uri_of(s, "/used"), *u2 = uri_of(s, "/unused");
	struct jwks_entry *e1 = jwks_cache_entry(u1, 0);
	struct jwks_entry *e2 = jwks_cache_entry(u2, 0);
	struct jwks_entry_info info;
	unsigned int n;

	use(&e1, 1);
	WAIT_UNTIL(e1, info, info.fetches >= 3);
	jwks_entry_info(e2, &info);
	assert_int_equal(info.fetches, 0);
	assert_int_equal(info.used, 0);

	use(NULL, 0);
	jwks_entry_info(e1, &info);
	assert_int_equal(info.used, 0);
	n = info.fetches;
	usleep(3 * REFRESH_MS * 1000);
	jwks_entry_info(e1, &info);
	/* One may have been on its way. */
	assert_true(info.fetches <= n + 1);
	n = info.fetches;
	assert_int_equal(info.nkeys, 1);

	/* Back in use, overdue: fetched at once. */
	use(&e1, 1);
	WAIT_UNTIL(e1, info, info.fetches > n);
	pthread_mutex_lock(&s->mtx);
	assert_null(strstr(s->lines, "/unused"));
	pthread_mutex_unlock(&s->mtx);

	use(NULL, 0);
	srv_free(s);
	free(u1);
	free(u2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registry),
	    cmocka_unit_test(test_snapshot),
	    cmocka_unit_test(test_fetch_refresh),
	    cmocka_unit_test(test_readers),
	    cmocka_unit_test(test_failure_backoff),
	    cmocka_unit_test(test_failures),
	    cmocka_unit_test(test_rule_timeout),
	    cmocka_unit_test(test_https_plain_server),
	    cmocka_unit_test(test_concurrency),
	    cmocka_unit_test(test_in_use),
	};

	/* The server writes to clients that may have gone. */
	signal(SIGPIPE, SIG_IGN);
	/* A hung fetch fails the run instead of stalling it. */
	alarm(120);
	return cmocka_run_group_tests(tests, setup, teardown);
}
