/*
 * weft-testd: the test backend of the end-to-end tests and benchmarks.
 *
 * Command line, listeners, signals and the event loop; the HTTP sessions
 * are in http_conn.c and the raw echo ones in raw_conn.c.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/evp.h>

#include "log.h"
#include "xmalloc.h"
#include "testd.h"

#define TESTD_BACKLOG     1024
#define TESTD_TIMEOUT     60 /* seconds */
#define TESTD_EMFILE_WAIT 1  /* seconds before accepting again */

enum testd_kind {
	TESTD_HTTP,
	TESTD_ECHO,
	TESTD_BANNER,
};

struct testd_listener {
	TAILQ_ENTRY(testd_listener) entry;
	struct testd *env;
	enum testd_kind kind;
	char *spec;   /* as on the command line */
	char *banner; /* TESTD_BANNER: the text */
	struct evconnlistener *lev;
	struct event *retry; /* accepting again after EMFILE */
	char addr[TESTD_ADDRSTRLEN];
};

TAILQ_HEAD(testd_listeners, testd_listener);

/* The options that create each kind. */
static const char *testd_kind_names[] = {"listen", "tcp-echo", "banner"};

static void
testd_usage(FILE *f)
{
	fprintf(f,
	    "usage: weft-testd --listen ADDR:PORT [--listen ADDR:PORT ...]\n"
	    "                  [--name NAME] [--log FILE] [--tcp-echo "
	    "ADDR:PORT ...]\n"
	    "                  [--banner ADDR:PORT:TEXT ...] [--ready-file "
	    "PATH]\n"
	    "                  [--timeout SECONDS] [--verbose]\n"
	    "\n"
	    "  -l, --listen ADDR:PORT    serve HTTP/1.1 (IPv6 as [::1]:8080)\n"
	    "  -n, --name NAME           X-Backend value (weft-testd)\n"
	    "  -L, --log FILE            append one JSON line per request\n"
	    "  -e, --tcp-echo ADDR:PORT  raw TCP echo, half-close aware\n"
	    "  -b, --banner ADDR:PORT:TEXT\n"
	    "                            send TEXT CRLF on accept, then echo\n"
	    "  -r, --ready-file PATH     create PATH once all listeners are "
	    "bound\n"
	    "  -t, --timeout SECONDS     session read/write timeout (%d)\n"
	    "  -v, --verbose             log every connection and request\n"
	    "  -h, --help                show this help\n",
	    TESTD_TIMEOUT);
}

static void
testd_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct testd_listener *l = arg;

	switch (l->kind) {
	case TESTD_HTTP:
		http_conn_accept(l->env, fd);
		break;
	case TESTD_ECHO:
		raw_conn_accept(l->env, fd, NULL);
		break;
	case TESTD_BANNER:
		raw_conn_accept(l->env, fd, l->banner);
		break;
	}
}

static void
testd_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct testd_listener *l = arg;
	struct timeval tv = {TESTD_EMFILE_WAIT, 0};
	int error = EVUTIL_SOCKET_ERROR();

	errno = error;
	log_warn("accept on %s", l->addr);
	if (error == EMFILE || error == ENFILE || error == ENOBUFS ||
	    error == ENOMEM) {
		/* Out of descriptors: accepting again at once would spin. */
		evconnlistener_disable(lev);
		evtimer_add(l->retry, &tv);
	}
}

static void
testd_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct testd_listener *l = arg;

	evconnlistener_enable(l->lev);
}

static void
testd_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct testd *env = arg;

	log_info("signal %d: exiting", (int)sig);
	event_base_loopbreak(env->base);
}

static void
testd_listener_add(
    struct testd_listeners *list, enum testd_kind kind, const char *spec)
{
	struct testd_listener *l;

	l = xcalloc(1, sizeof(*l));
	l->kind = kind;
	l->spec = xstrdup(spec);
	TAILQ_INSERT_TAIL(list, l, entry);
}

/* Binds l or exits: a backend that cannot listen is a broken test. */
static void
testd_listener_bind(struct testd *env, struct testd_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *cause, *rest;
	int fd, on = 1;

	if (addr_parse(l->spec, &ss, &len,
		l->kind == TESTD_BANNER ? &rest : NULL, &cause) == -1)
		fatalx(
		    "--%s %s: %s", testd_kind_names[l->kind], l->spec, cause);
	if (l->kind == TESTD_BANNER) {
		if (rest == NULL)
			fatalx("--banner %s: expected ADDR:PORT:TEXT", l->spec);
		l->banner = xstrdup(rest);
	}

	if ((fd = socket(ss.ss_family,
		 SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket for %s", l->spec);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		fatal("SO_REUSEADDR for %s", l->spec);
	/* [::]:80 must not take 0.0.0.0:80 that another --listen wants. */
	if (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)
		fatal("IPV6_V6ONLY for %s", l->spec);
	if (bind(fd, (struct sockaddr *)&ss, len) == -1)
		fatal("bind %s", l->spec);
	if (listen(fd, TESTD_BACKLOG) == -1)
		fatal("listen %s", l->spec);
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		fatal("getsockname %s", l->spec);
	addr_format((struct sockaddr *)&ss, len, l->addr, sizeof(l->addr));

	l->env = env;
	if ((l->lev = evconnlistener_new(env->base, testd_accept_cb, l,
		 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd)) == NULL)
		fatalx("evconnlistener_new %s", l->spec);
	evconnlistener_set_error_cb(l->lev, testd_accept_error_cb);
	if ((l->retry = evtimer_new(env->base, testd_retry_cb, l)) == NULL)
		fatalx("evtimer_new");
	log_info("--%s %s: bound to %s", testd_kind_names[l->kind], l->spec,
	    l->addr);
}

static void
testd_listener_free(struct testd_listener *l)
{
	if (l->lev != NULL)
		evconnlistener_free(l->lev);
	if (l->retry != NULL)
		event_free(l->retry);
	free(l->banner);
	free(l->spec);
	free(l);
}

static void
testd_ready(const char *path)
{
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) ==
	    -1)
		fatal("ready file %s", path);
	if (close(fd) == -1)
		fatal("ready file %s", path);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"name", required_argument, NULL, 'n'},
	    {"log", required_argument, NULL, 'L'},
	    {"tcp-echo", required_argument, NULL, 'e'},
	    {"banner", required_argument, NULL, 'b'},
	    {"ready-file", required_argument, NULL, 'r'},
	    {"timeout", required_argument, NULL, 't'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct testd env;
	struct testd_listeners listeners;
	struct testd_listener *l;
	struct event *ev_term, *ev_int;
	const char *logfile = NULL, *ready = NULL;
	uint64_t timeout;
	int ch;

	log_init("weft-testd", LOG_LEVEL_INFO);
	memset(&env, 0, sizeof(env));
	env.name = "weft-testd";
	env.log_fd = -1;
	env.timeout = TESTD_TIMEOUT;
	TAILQ_INIT(&env.http_conns);
	TAILQ_INIT(&env.raw_conns);
	TAILQ_INIT(&listeners);

	while ((ch = getopt_long(
		    argc, argv, "l:n:L:e:b:r:t:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			testd_listener_add(&listeners, TESTD_HTTP, optarg);
			break;
		case 'n':
			env.name = optarg;
			break;
		case 'L':
			logfile = optarg;
			break;
		case 'e':
			testd_listener_add(&listeners, TESTD_ECHO, optarg);
			break;
		case 'b':
			testd_listener_add(&listeners, TESTD_BANNER, optarg);
			break;
		case 'r':
			ready = optarg;
			break;
		case 't':
			if (http_parse_uint(optarg, strlen(optarg), 86400,
				&timeout) == -1 ||
			    timeout == 0)
				fatalx("--timeout %s: expected 1 to 86400",
				    optarg);
			env.timeout = (int)timeout;
			break;
		case 'v':
			log_setlevel(LOG_LEVEL_DEBUG);
			break;
		case 'h':
			testd_usage(stdout);
			return 0;
		default:
			testd_usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		testd_usage(stderr);
		return 1;
	}
	if (TAILQ_EMPTY(&listeners))
		fatalx("nothing to listen on (see --help)");
	if (strpbrk(env.name, "\r\n") != NULL)
		fatalx("--name: no line breaks");

	/* A client that goes away must not kill the backend. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("SIGPIPE");
	if (logfile != NULL &&
	    (env.log_fd = open(logfile,
		 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) == -1)
		fatal("--log %s", logfile);
	if ((env.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		fatalx("SHA-256 not available");
	if ((env.base = event_base_new()) == NULL)
		fatalx("event_base_new");

	TAILQ_FOREACH (l, &listeners, entry)
		testd_listener_bind(&env, l);

	if ((ev_term = evsignal_new(
		 env.base, SIGTERM, testd_signal_cb, &env)) == NULL ||
	    (ev_int = evsignal_new(env.base, SIGINT, testd_signal_cb, &env)) ==
		NULL)
		fatalx("evsignal_new");
	if (evsignal_add(ev_term, NULL) == -1 ||
	    evsignal_add(ev_int, NULL) == -1)
		fatalx("evsignal_add");

	if (ready != NULL)
		testd_ready(ready);
	log_info("%s ready", env.name);

	if (event_base_dispatch(env.base) == -1)
		fatalx("event_base_dispatch");

	/* Free everything, so that leak checkers see a clean exit. */
	while (!TAILQ_EMPTY(&env.http_conns))
		http_conn_free(TAILQ_FIRST(&env.http_conns));
	while (!TAILQ_EMPTY(&env.raw_conns))
		raw_conn_free(TAILQ_FIRST(&env.raw_conns));
	while ((l = TAILQ_FIRST(&listeners)) != NULL) {
		TAILQ_REMOVE(&listeners, l, entry);
		testd_listener_free(l);
	}
	event_free(ev_term);
	event_free(ev_int);
	event_base_free(env.base);
	libevent_global_shutdown();
	EVP_MD_free(env.sha256);
	if (env.log_fd != -1)
		close(env.log_fd);
	log_info("%" PRIu64 " connections, %" PRIu64 " requests", env.nconns,
	    env.nreqs);
	return 0;
}
