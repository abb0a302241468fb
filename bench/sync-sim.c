/*
 * sync-sim: many simulated weft-sync clients in one process, on one
 * event_base, against one weft-server, to measure how long a policy
 * change takes to reach all of them. Run by bench/sync-scale.sh
 * (make bench-sync).
 *
 * On the wire each client does what src/sync/sync_client.c does:
 * POST /v1/register, then GET /v1/sync long polls, one at a time, each
 * on its own TLS connection (src/lib/https_client.c, which all clients
 * share). It applies nothing: it keeps the history and version of the
 * answers, and the monotonic time at which it learnt each version.
 *
 * The run, phase by phase:
 *   setup       the admin applies a ServiceEntry "sim" (selecting
 *               app=sim), a DestinationRule with subsets v1 and v2, and
 *               a VirtualService "sim-canary" splitting 90/10
 *   register    every client registers, at most --concurrency at a time
 *               (no client polls yet: each registration is a new
 *               version, which would wake every poller); with --rolling
 *               each client polls as soon as it is registered, as
 *               weft-sync does, so that every registration is a change
 *               that every client already polling gets
 *   first sync  every client asks for a snapshot (since=-1, at most
 *               --concurrency at a time), then long-polls at its version
 *   ready       all clients at the same version, a second after the
 *               last first answer and the last new version
 *   idle        --idle seconds of long polls that only time out
 *   changes     --changes times: the admin POSTs a new weight split of
 *               sim-canary at T0; each client's delay is the time from
 *               T0 to its first answer at or past the version that POST
 *               made; when every client has it (or --timeout passed),
 *               the next change is sent --interval ms later
 *
 * With --server-pid, the server's CPU time (utime + stime of
 * /proc/PID/stat) and memory are read at each phase boundary.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "https_client.h"
#include "log.h"
#include "xmalloc.h"

#define SIM_TICK_US        (2 * 1000)
#define SIM_SETTLE_US      (1000 * 1000) /* after the last first sync */
#define SIM_PHASE_LIMIT_US ((int64_t)300 * 1000 * 1000)
#define SIM_BACKOFF_MIN_MS 500
#define SIM_BACKOFF_MAX_MS 5000
#define SIM_MAX_ERRORS     8 /* distinct error messages kept */
#define SIM_ADMIN_TIMEOUT  60

struct sim_conf {
	const char *server;
	const char *ca_file;
	const char *token_file;
	const char *cert_file;
	const char *key_file;
	const char *namespace;
	const char *summary_file;
	const char *raw_file;
	int clients;
	int changes;
	int interval_ms;
	int timeout_s;
	int concurrency;
	int idle_s;
	int wait_s;
	int rolling;
	long server_pid;
};

/* A version a client learnt, and when. */
struct sim_seen {
	int64_t version;
	int64_t t_us;
};

struct sim;

struct sim_client {
	struct sim *sim;
	char workload[32];
	char address[INET_ADDRSTRLEN];
	int registered;
	char *history; /* NULL until the first answer */
	int64_t version;
	int64_t backoff_ms;
	struct event *timer; /* backoff */
	struct sim_seen *seen;
	size_t nseen;
	size_t seen_cap;
};

enum sim_phase {
	SIM_SETUP,
	SIM_REGISTER,
	SIM_FIRST_SYNC,
	SIM_IDLE,
	SIM_CHANGE_APPLY, /* the admin's POST in flight */
	SIM_CHANGE_WAIT,  /* for every client to have it */
	SIM_CHANGE_PAUSE,
	SIM_DONE,
};

/* What the server and this process had used at some moment. */
struct sim_usage {
	int64_t t_us;
	int64_t server_ticks; /* -1: unknown */
	int64_t self_us;
};

struct sim_change {
	int64_t t0_us;
	int64_t applied_us; /* the POST's answer */
	int64_t done_us;
	int64_t version;
	size_t got;
	size_t missing;
	int64_t min, p50, p90, p99, max; /* us */
};

struct sim_error {
	char *msg;
	uint64_t n;
};

struct sim {
	struct sim_conf conf;
	struct event_base *base;
	struct https_client *client; /* the simulated weft-syncs' */
	struct https_client *admin;
	struct event *tick;
	struct sim_client *c;
	char *token;
	enum sim_phase phase;
	int64_t phase_us;
	int next; /* the next client to register, or to sync first */
	int registering;
	int registered;
	int first_synced;
	int64_t first_done_us; /* the last client's first answer */
	int64_t version;       /* the highest seen in any answer */
	int64_t version_us;    /* when it was first seen */
	int64_t base_version;  /* when ready */
	size_t snapshot_bytes;
	struct sim_change *changes;
	int change;
	int64_t *all; /* every delay of every change, us */
	size_t nall;
	struct sim_error errs[SIM_MAX_ERRORS];
	uint64_t nerrors;
	uint64_t nerrors_other;
	uint64_t requests;
	struct sim_usage u_reg0, u_reg1, u_ready, u_idle1, u_chg1;
	long rss_ready_kib;
	long rss_end_kib;
	long hwm_kib;
	FILE *raw;
	int exit_code;
};

/* libevent's own warnings: counted, the first kept (see main). */
static uint64_t sim_event_warnings;
static char sim_event_first[256];

static void sim_poll(struct sim_client *c);
static void sim_register(struct sim_client *c);
static void sim_error(struct sim *sim, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sim_abort(struct sim *sim, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int64_t
sim_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double
sim_ms(int64_t us)
{
	return (double)us / 1000.0;
}

static double
sim_s(int64_t us)
{
	return (double)us / 1000000.0;
}

/* utime + stime of PID in clock ticks, or -1. */
static int64_t
sim_proc_ticks(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	size_t n;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the command's closing parenthesis: field 3 onwards. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1,
		" %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		&st) != 2)
		return -1;
	return (int64_t)(ut + st);
}

/* A "Name:  N kB" line of /proc/PID/status, in KiB, or -1. */
static long
sim_proc_kib(long pid, const char *name)
{
	char path[64], line[256];
	size_t len = strlen(name);
	long v = -1;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, name, len) == 0 && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static void
sim_usage_take(struct sim *sim, struct sim_usage *u)
{
	struct rusage ru;

	u->t_us = sim_now_us();
	u->server_ticks = sim_proc_ticks(sim->conf.server_pid);
	u->self_us = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		u->self_us = (int64_t)ru.ru_utime.tv_sec * 1000000 +
		    ru.ru_utime.tv_usec +
		    (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

/* The server's CPU seconds between a and b, or -1 when unknown. */
static double
sim_server_cpu(const struct sim_usage *a, const struct sim_usage *b)
{
	if (a->server_ticks < 0 || b->server_ticks < 0)
		return -1;
	return (double)(b->server_ticks - a->server_ticks) /
	    (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds over wall seconds, in % of one core; -1 when unknown. */
static double
sim_pct(double cpu_s, const struct sim_usage *a, const struct sim_usage *b)
{
	if (cpu_s < 0 || b->t_us <= a->t_us)
		return -1;
	return 100.0 * cpu_s / sim_s(b->t_us - a->t_us);
}

static double
sim_self_cpu(const struct sim_usage *a, const struct sim_usage *b)
{
	return sim_s(b->self_us - a->self_us);
}

static void
sim_verror(struct sim *sim, const char *fmt, va_list ap)
{
	char *msg;
	int i;

	sim->nerrors++;
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("vasprintf");
	for (i = 0; i < SIM_MAX_ERRORS; i++) {
		if (sim->errs[i].msg == NULL) {
			sim->errs[i].msg = msg;
			sim->errs[i].n = 1;
			log_warnx("%s (first of its kind)", msg);
			return;
		}
		if (strcmp(sim->errs[i].msg, msg) == 0) {
			sim->errs[i].n++;
			free(msg);
			return;
		}
	}
	sim->nerrors_other++;
	free(msg);
}

/* Counts a failed request (one log line per distinct message). */
static void
sim_error(struct sim *sim, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sim_verror(sim, fmt, ap);
	va_end(ap);
}

/* The run cannot go on: says why and stops the loop. */
static void
sim_abort(struct sim *sim, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "sync-sim: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	sim->exit_code = 1;
	event_base_loopexit(sim->base, NULL);
}

/* "HTTP 500: why" or the transport's error, into buf. */
static const char *
sim_why(const struct https_response *r, char *buf, size_t len)
{
	const char *e = NULL;
	json_t *j = NULL;

	if (r->status == 0)
		return r->error != NULL ? r->error : "no answer";
	if (r->body != NULL)
		j = json_loadb(r->body, r->len, 0, NULL);
	e = json_string_value(json_object_get(j, "error"));
	snprintf(buf, len, "HTTP %d%s%.200s", r->status, e != NULL ? ": " : "",
	    e != NULL ? e : "");
	json_decref(j);
	return buf;
}

static void
sim_backoff(struct sim_client *c)
{
	struct timeval tv;
	int64_t delay;

	c->backoff_ms =
	    c->backoff_ms == 0 ? SIM_BACKOFF_MIN_MS : c->backoff_ms * 2;
	if (c->backoff_ms > SIM_BACKOFF_MAX_MS)
		c->backoff_ms = SIM_BACKOFF_MAX_MS;
	delay = c->backoff_ms / 2 + random() % (c->backoff_ms / 2 + 1);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

static void
sim_client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim_client *c = arg;

	if (c->sim->phase == SIM_DONE)
		return;
	if (c->registered)
		sim_poll(c);
	else
		sim_register(c);
}

static void
sim_register_done_cb(struct https_response *r, void *arg)
{
	struct sim_client *c = arg;
	struct sim *sim = c->sim;
	char buf[512];
	json_t *j;
	int64_t v;

	sim->registering--;
	if (r->status != 200) {
		sim_error(sim, "register: %s", sim_why(r, buf, sizeof(buf)));
		sim_backoff(c);
		return;
	}
	j = json_loadb(r->body, r->len, 0, NULL);
	v = json_integer_value(json_object_get(j, "version"));
	json_decref(j);
	if (v > sim->version) {
		sim->version = v;
		sim->version_us = sim_now_us();
	}
	c->backoff_ms = 0;
	c->registered = 1;
	sim->registered++;
	/* Registered again after a 404: back to polling at once. */
	if (sim->phase != SIM_REGISTER || sim->conf.rolling)
		sim_poll(c);
}

static void
sim_register(struct sim_client *c)
{
	struct sim *sim = c->sim;
	char *body, *cause = NULL;
	json_t *j;

	j = json_pack("{s:s, s:s, s:s, s:{s:s}, s:{s:i}}", "workload",
	    c->workload, "namespace", sim->conf.namespace, "address",
	    c->address, "labels", "app", "sim", "ports", "http", 8080);
	body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (body == NULL)
		fatalx("out of memory");
	sim->registering++;
	sim->requests++;
	if (https_client_request(sim->client, "POST", "/v1/register",
		"application/json", body, strlen(body), sim_register_done_cb, c,
		&cause) == -1) {
		sim->registering--;
		sim_error(sim, "register: %s", cause);
		free(cause);
		sim_backoff(c);
	}
	free(body);
}

static void
sim_seen_add(struct sim_client *c, int64_t version, int64_t t_us)
{
	if (c->nseen == c->seen_cap) {
		c->seen_cap = c->seen_cap == 0 ? 8 : c->seen_cap * 2;
		c->seen = xreallocarray(c->seen, c->seen_cap, sizeof(*c->seen));
	}
	c->seen[c->nseen].version = version;
	c->seen[c->nseen].t_us = t_us;
	c->nseen++;
}

/*
 * The answer's history and version. A snapshot answer is megabytes of
 * base64 after them ({"history":...,"version":...,"schema":...,
 * "snapshot":"..."}): only the head is parsed then, so that this
 * process spends its time on the exchange and not on JSON that a
 * real client would parse on its own machine. *snapshot says which.
 */
static json_t *
sim_answer(const struct https_response *r, int *snapshot)
{
	static const char key[] = ",\"snapshot\":\"";
	const char *p;
	json_t *j;
	size_t n;
	char *head;

	*snapshot = 0;
	if (r->len > 65536 &&
	    (p = memmem(r->body, r->len, key, sizeof(key) - 1)) != NULL) {
		n = (size_t)(p - r->body);
		head = xmalloc(n + 2);
		memcpy(head, r->body, n);
		head[n] = '}';
		head[n + 1] = '\0';
		j = json_loadb(head, n + 1, 0, NULL);
		free(head);
		if (j != NULL) {
			*snapshot = 1;
			return j;
		}
	}
	j = json_loadb(r->body, r->len, 0, NULL);
	*snapshot = json_object_get(j, "snapshot") != NULL;
	return j;
}

static void
sim_poll_done_cb(struct https_response *r, void *arg)
{
	int64_t now = sim_now_us(), v;
	struct sim_client *c = arg;
	struct sim *sim = c->sim;
	const char *history;
	char buf[512];
	json_t *j;
	int first, snapshot;

	if (r->status == 404) {
		sim_error(sim, "sync: HTTP 404: registering again");
		c->registered = 0;
		sim->registered--;
		sim_register(c);
		return;
	}
	if (r->status != 200) {
		sim_error(sim, "sync: %s", sim_why(r, buf, sizeof(buf)));
		sim_backoff(c);
		return;
	}
	j = sim_answer(r, &snapshot);
	history = json_string_value(json_object_get(j, "history"));
	v = json_integer_value(json_object_get(j, "version"));
	if (history == NULL) {
		json_decref(j);
		sim_error(sim, "sync: an answer without a history");
		sim_backoff(c);
		return;
	}
	first = c->history == NULL;
	if (first || strcmp(c->history, history) != 0) {
		free(c->history);
		c->history = xstrdup(history);
		sim_seen_add(c, v, now);
	} else if (v > c->version)
		sim_seen_add(c, v, now);
	if (snapshot && r->len > sim->snapshot_bytes)
		sim->snapshot_bytes = r->len;
	json_decref(j);
	c->version = v;
	if (v > sim->version) {
		sim->version = v;
		sim->version_us = now;
	}
	if (first && ++sim->first_synced == sim->conf.clients)
		sim->first_done_us = now;
	c->backoff_ms = 0;
	if (sim->phase != SIM_DONE)
		sim_poll(c);
}

static void
sim_poll(struct sim_client *c)
{
	struct sim *sim = c->sim;
	char target[512], *cause = NULL;

	snprintf(target, sizeof(target),
	    "/v1/sync?namespace=%s&workload=%s&since=%" PRId64 "&history=%s"
	    "&wait=%d&applied=%" PRId64,
	    sim->conf.namespace, c->workload,
	    c->history != NULL ? c->version : -1,
	    c->history != NULL ? c->history : "none", sim->conf.wait_s,
	    c->version > 0 ? c->version : 0);
	sim->requests++;
	if (https_client_request(sim->client, "GET", target, NULL, NULL, 0,
		sim_poll_done_cb, c, &cause) == -1) {
		sim_error(sim, "sync: %s", cause);
		free(cause);
		sim_backoff(c);
	}
}

static int
sim_cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least p% at or below it. */
static int64_t
sim_rank(const int64_t *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return -1;
	k = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static const char *
sim_fmt_ms(int64_t us, char *buf, size_t len)
{
	if (us < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f", sim_ms(us));
	return buf;
}

/* The delays of the current change: per client, its first answer at V. */
static void
sim_change_finish(struct sim *sim)
{
	struct sim_change *ch = &sim->changes[sim->change];
	char b[5][32];
	int64_t *d;
	size_t n = 0, i, k;
	int id;

	d = xcalloc((size_t)sim->conf.clients, sizeof(*d));
	for (id = 0; id < sim->conf.clients; id++) {
		struct sim_client *c = &sim->c[id];

		for (k = 0; k < c->nseen; k++) {
			if (c->seen[k].version >= ch->version &&
			    c->seen[k].t_us >= ch->t0_us)
				break;
		}
		if (k == c->nseen)
			continue;
		d[n++] = c->seen[k].t_us - ch->t0_us;
		if (sim->raw != NULL)
			fprintf(sim->raw, "%d\t%d\t%" PRId64 "\n",
			    sim->change + 1, id, c->seen[k].t_us - ch->t0_us);
	}
	qsort(d, n, sizeof(*d), sim_cmp64);
	ch->got = n;
	ch->missing = (size_t)sim->conf.clients - n;
	ch->min = n > 0 ? d[0] : -1;
	ch->p50 = sim_rank(d, n, 50);
	ch->p90 = sim_rank(d, n, 90);
	ch->p99 = sim_rank(d, n, 99);
	ch->max = n > 0 ? d[n - 1] : -1;
	ch->done_us = sim_now_us();
	for (i = 0; i < n; i++)
		sim->all[sim->nall++] = d[i];
	free(d);
	printf("%6d %8" PRId64 " %8.1f %8s %8s %8s %8s %8s %7zu\n",
	    sim->change + 1, ch->version, sim_ms(ch->applied_us - ch->t0_us),
	    sim_fmt_ms(ch->min, b[0], sizeof(b[0])),
	    sim_fmt_ms(ch->p50, b[1], sizeof(b[1])),
	    sim_fmt_ms(ch->p90, b[2], sizeof(b[2])),
	    sim_fmt_ms(ch->p99, b[3], sizeof(b[3])),
	    sim_fmt_ms(ch->max, b[4], sizeof(b[4])), ch->missing);
}

static void
sim_change_done_cb(struct https_response *r, void *arg)
{
	struct sim *sim = arg;
	struct sim_change *ch = &sim->changes[sim->change];
	int64_t prev;
	char buf[512];
	json_t *j;

	ch->applied_us = sim_now_us();
	if (r->status != 200) {
		sim_abort(sim, "change %d: %s", sim->change + 1,
		    sim_why(r, buf, sizeof(buf)));
		return;
	}
	j = json_loadb(r->body, r->len, 0, NULL);
	ch->version = json_integer_value(json_object_get(j, "version"));
	json_decref(j);
	prev = sim->change > 0 ? sim->changes[sim->change - 1].version
			       : sim->base_version;
	if (ch->version <= prev) {
		sim_abort(sim,
		    "change %d: the server answered version %" PRId64
		    ", not past %" PRId64,
		    sim->change + 1, ch->version, prev);
		return;
	}
	sim->phase = SIM_CHANGE_WAIT;
}

/* POSTs the next weight split of sim-canary (never the same twice). */
static void
sim_change_send(struct sim *sim)
{
	struct sim_change *ch = &sim->changes[sim->change];
	char body[1024], target[256], *cause = NULL;
	int w1 = 89 - sim->change % 80;

	snprintf(body, sizeof(body),
	    "apiVersion: networking.istio.io/v1\n"
	    "kind: VirtualService\n"
	    "metadata:\n"
	    "  name: sim-canary\n"
	    "spec:\n"
	    "  hosts: [sim]\n"
	    "  http:\n"
	    "  - route:\n"
	    "    - destination: {host: sim, subset: v1}\n"
	    "      weight: %d\n"
	    "    - destination: {host: sim, subset: v2}\n"
	    "      weight: %d\n",
	    w1, 100 - w1);
	snprintf(target, sizeof(target), "/v1/resources?namespace=%s",
	    sim->conf.namespace);
	sim->phase = SIM_CHANGE_APPLY;
	ch->t0_us = sim_now_us();
	if (https_client_request(sim->admin, "POST", target, "application/yaml",
		body, strlen(body), sim_change_done_cb, sim, &cause) == -1) {
		sim_abort(sim, "change: %s", cause);
		free(cause);
	}
}

static void
sim_setup_done_cb(struct https_response *r, void *arg)
{
	struct sim *sim = arg;
	char buf[512];

	if (r->status != 200) {
		sim_abort(sim, "setup: %s", sim_why(r, buf, sizeof(buf)));
		return;
	}
	printf("setup: applied ServiceEntry sim, DestinationRule sim, "
	       "VirtualService sim-canary in namespace %s\n",
	    sim->conf.namespace);
	sim->phase = SIM_REGISTER;
	sim->phase_us = sim_now_us();
	sim_usage_take(sim, &sim->u_reg0);
}

static void
sim_setup(struct sim *sim)
{
	static const char base_yaml[] =
	    "apiVersion: networking.istio.io/v1\n"
	    "kind: ServiceEntry\n"
	    "metadata: {name: sim}\n"
	    "spec:\n"
	    "  hosts: [sim]\n"
	    "  location: MESH_INTERNAL\n"
	    "  resolution: STATIC\n"
	    "  ports: [{number: 8080, name: http, protocol: HTTP}]\n"
	    "  workloadSelector: {labels: {app: sim}}\n"
	    "---\n"
	    "apiVersion: networking.istio.io/v1\n"
	    "kind: DestinationRule\n"
	    "metadata: {name: sim}\n"
	    "spec:\n"
	    "  host: sim\n"
	    "  subsets:\n"
	    "  - {name: v1, labels: {app: sim}}\n"
	    "  - {name: v2, labels: {app: sim}}\n"
	    "---\n"
	    "apiVersion: networking.istio.io/v1\n"
	    "kind: VirtualService\n"
	    "metadata: {name: sim-canary}\n"
	    "spec:\n"
	    "  hosts: [sim]\n"
	    "  http:\n"
	    "  - route:\n"
	    "    - destination: {host: sim, subset: v1}\n"
	    "      weight: 90\n"
	    "    - destination: {host: sim, subset: v2}\n"
	    "      weight: 10\n";
	char target[256], *cause = NULL;

	snprintf(target, sizeof(target), "/v1/resources?namespace=%s",
	    sim->conf.namespace);
	if (https_client_request(sim->admin, "POST", target, "application/yaml",
		base_yaml, strlen(base_yaml), sim_setup_done_cb, sim,
		&cause) == -1) {
		sim_abort(sim, "setup: %s", cause);
		free(cause);
	}
}

/* Whether every client has an answer at the highest version seen. */
static int
sim_all_current(struct sim *sim)
{
	int id;

	for (id = 0; id < sim->conf.clients; id++) {
		if (sim->c[id].history == NULL ||
		    sim->c[id].version != sim->version)
			return 0;
	}
	return 1;
}

static int
sim_count_at(struct sim *sim, int64_t version)
{
	int id, n = 0;

	for (id = 0; id < sim->conf.clients; id++) {
		if (sim->c[id].history != NULL && sim->c[id].version >= version)
			n++;
	}
	return n;
}

static void
sim_ready(struct sim *sim)
{
	int64_t now = sim_now_us();

	sim_usage_take(sim, &sim->u_ready);
	sim->rss_ready_kib = sim_proc_kib(sim->conf.server_pid, "VmRSS");
	sim->base_version = sim->version;
	printf("first sync: %d snapshots (%zu bytes of JSON each) in %.2f s; "
	       "server %.2f CPU-s, sync-sim %.2f CPU-s\n",
	    sim->conf.clients, sim->snapshot_bytes,
	    sim_s(sim->first_done_us - sim->u_reg1.t_us),
	    sim_server_cpu(&sim->u_reg1, &sim->u_ready),
	    sim_self_cpu(&sim->u_reg1, &sim->u_ready));
	printf("ready %d: all clients long-polling at version %" PRId64
	       ", server RSS %ld KiB\n",
	    sim->conf.clients, sim->version, sim->rss_ready_kib);
	sim->phase = SIM_IDLE;
	sim->phase_us = now;
}

static void
sim_changes_header(struct sim *sim)
{
	printf("changes: %d, the next %d ms after the last client had the "
	       "previous one (timeout %d s); delays from the POST (T0) to "
	       "each client's answer, ms\n",
	    sim->conf.changes, sim->conf.interval_ms, sim->conf.timeout_s);
	printf("%6s %8s %8s %8s %8s %8s %8s %8s %7s\n", "change", "version",
	    "apply", "first", "p50", "p90", "p99", "max", "missing");
}

static void
sim_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim *sim = arg;
	struct sim_change *ch;
	int64_t now = sim_now_us();

	switch (sim->phase) {
	case SIM_SETUP:
	case SIM_CHANGE_APPLY:
	case SIM_DONE:
		return;
	case SIM_REGISTER:
		while (sim->next < sim->conf.clients &&
		    sim->registering < sim->conf.concurrency)
			sim_register(&sim->c[sim->next++]);
		if (sim->registered == sim->conf.clients &&
		    sim->registering == 0) {
			sim_usage_take(sim, &sim->u_reg1);
			printf(
			    "register: %d clients in %.2f s (%.0f/s), at most "
			    "%d at a time%s\n",
			    sim->conf.clients,
			    sim_s(sim->u_reg1.t_us - sim->u_reg0.t_us),
			    sim->conf.clients /
				sim_s(sim->u_reg1.t_us - sim->u_reg0.t_us),
			    sim->conf.concurrency,
			    sim->conf.rolling ? ", each polling once registered"
					      : "");
			sim->phase = SIM_FIRST_SYNC;
			sim->phase_us = now;
			/* Rolling: every client is polling already. */
			sim->next = sim->conf.rolling ? sim->conf.clients : 0;
		} else if (now - sim->phase_us > SIM_PHASE_LIMIT_US)
			sim_abort(sim,
			    "registration: only %d of %d clients "
			    "registered in %lld s",
			    sim->registered, sim->conf.clients,
			    (long long)(SIM_PHASE_LIMIT_US / 1000000));
		return;
	case SIM_FIRST_SYNC:
		while (sim->next < sim->conf.clients &&
		    sim->next - sim->first_synced < sim->conf.concurrency)
			sim_poll(&sim->c[sim->next++]);
		if (sim->first_synced == sim->conf.clients &&
		    sim_all_current(sim) &&
		    now - sim->first_done_us >= SIM_SETTLE_US &&
		    now - sim->version_us >= SIM_SETTLE_US)
			sim_ready(sim);
		else if (now - sim->phase_us > SIM_PHASE_LIMIT_US)
			sim_abort(sim,
			    "first sync: only %d of %d clients synced in "
			    "%lld s",
			    sim->first_synced, sim->conf.clients,
			    (long long)(SIM_PHASE_LIMIT_US / 1000000));
		return;
	case SIM_IDLE:
		if (now - sim->phase_us < (int64_t)sim->conf.idle_s * 1000000)
			return;
		sim_usage_take(sim, &sim->u_idle1);
		if (sim->conf.idle_s > 0)
			printf("idle: %d s of long polls (wait=%d), server CPU "
			       "%.1f%% of one core\n",
			    sim->conf.idle_s, sim->conf.wait_s,
			    sim_pct(
				sim_server_cpu(&sim->u_ready, &sim->u_idle1),
				&sim->u_ready, &sim->u_idle1));
		if (sim->conf.changes == 0) {
			sim->u_chg1 = sim->u_idle1;
			sim->phase = SIM_DONE;
			event_base_loopexit(sim->base, NULL);
			return;
		}
		sim_changes_header(sim);
		sim_change_send(sim);
		return;
	case SIM_CHANGE_WAIT:
		ch = &sim->changes[sim->change];
		if (sim_count_at(sim, ch->version) < sim->conf.clients &&
		    now - ch->t0_us < (int64_t)sim->conf.timeout_s * 1000000)
			return;
		sim_change_finish(sim);
		sim->phase = SIM_CHANGE_PAUSE;
		return;
	case SIM_CHANGE_PAUSE:
		ch = &sim->changes[sim->change];
		if (now - ch->done_us < (int64_t)sim->conf.interval_ms * 1000)
			return;
		if (++sim->change < sim->conf.changes) {
			sim_change_send(sim);
			return;
		}
		sim_usage_take(sim, &sim->u_chg1);
		sim->phase = SIM_DONE;
		event_base_loopexit(sim->base, NULL);
		return;
	}
}

static void
sim_event_log_cb(int severity, const char *msg)
{
	if (severity < EVENT_LOG_WARN)
		return;
	if (sim_event_warnings++ == 0)
		snprintf(sim_event_first, sizeof(sim_event_first), "%s", msg);
}

static void
sim_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct sim *sim = arg;

	fprintf(stderr, "sync-sim: signal %d: stopping\n", (int)sig);
	sim->exit_code = 128 + (int)sig;
	event_base_loopexit(sim->base, NULL);
}

/* key value lines, for scripts; -1 stands for unknown. */
static void
sim_summary(struct sim *sim, FILE *f, double per_change_cpu, double changes_pct,
    double self_pct, int64_t p50, int64_t p90, int64_t p99, int64_t max,
    size_t missing, int64_t worst_p99, int64_t apply_med)
{
	fprintf(f, "clients %d\n", sim->conf.clients);
	fprintf(f, "changes %d\n", sim->conf.changes);
	fprintf(f, "interval_ms %d\n", sim->conf.interval_ms);
	fprintf(f, "wait_s %d\n", sim->conf.wait_s);
	fprintf(f, "rolling %d\n", sim->conf.rolling);
	fprintf(
	    f, "register_s %.3f\n", sim_s(sim->u_reg1.t_us - sim->u_reg0.t_us));
	fprintf(f, "register_server_cpu_s %.2f\n",
	    sim_server_cpu(&sim->u_reg0, &sim->u_reg1));
	fprintf(f, "first_sync_s %.3f\n",
	    sim_s(sim->first_done_us - sim->u_reg1.t_us));
	fprintf(f, "first_sync_server_cpu_s %.2f\n",
	    sim_server_cpu(&sim->u_reg1, &sim->u_ready));
	fprintf(f, "first_sync_sim_cpu_s %.2f\n",
	    sim_self_cpu(&sim->u_reg1, &sim->u_ready));
	fprintf(f, "snapshot_json_bytes %zu\n", sim->snapshot_bytes);
	fprintf(f, "ready_version %" PRId64 "\n", sim->base_version);
	fprintf(f, "idle_s %d\n", sim->conf.idle_s);
	fprintf(f, "idle_server_cpu_pct %.1f\n",
	    sim_pct(sim_server_cpu(&sim->u_ready, &sim->u_idle1), &sim->u_ready,
		&sim->u_idle1));
	fprintf(f, "p50_ms %.1f\n", sim_ms(p50));
	fprintf(f, "p90_ms %.1f\n", sim_ms(p90));
	fprintf(f, "p99_ms %.1f\n", sim_ms(p99));
	fprintf(f, "max_ms %.1f\n", sim_ms(max));
	fprintf(f, "worst_change_p99_ms %.1f\n", sim_ms(worst_p99));
	fprintf(f, "apply_median_ms %.1f\n", sim_ms(apply_med));
	fprintf(f, "deliveries %zu\n", sim->nall);
	fprintf(f, "missing %zu\n", missing);
	fprintf(
	    f, "changes_s %.2f\n", sim_s(sim->u_chg1.t_us - sim->u_idle1.t_us));
	fprintf(f, "changes_server_cpu_s %.2f\n",
	    sim_server_cpu(&sim->u_idle1, &sim->u_chg1));
	fprintf(f, "changes_server_cpu_pct %.1f\n", changes_pct);
	fprintf(f, "server_cpu_s_per_change %.3f\n", per_change_cpu);
	fprintf(f, "server_rss_ready_kib %ld\n", sim->rss_ready_kib);
	fprintf(f, "server_rss_end_kib %ld\n", sim->rss_end_kib);
	fprintf(f, "server_hwm_kib %ld\n", sim->hwm_kib);
	fprintf(f, "sim_cpu_pct_changes %.1f\n", self_pct);
	fprintf(f, "requests %" PRIu64 "\n", sim->requests);
	fprintf(f, "errors %" PRIu64 "\n", sim->nerrors);
}

static void
sim_report(struct sim *sim)
{
	int64_t p50, p90, p99, max, worst = -1, *apply;
	double cpu, per_change, pct, self_pct;
	size_t missing = 0;
	int i,
	    n = sim->change < sim->conf.changes ? sim->change
						: sim->conf.changes;
	FILE *f;

	qsort(sim->all, sim->nall, sizeof(*sim->all), sim_cmp64);
	p50 = sim_rank(sim->all, sim->nall, 50);
	p90 = sim_rank(sim->all, sim->nall, 90);
	p99 = sim_rank(sim->all, sim->nall, 99);
	max = sim->nall > 0 ? sim->all[sim->nall - 1] : -1;
	apply = xcalloc((size_t)n + 1, sizeof(*apply));
	for (i = 0; i < n; i++) {
		missing += sim->changes[i].missing;
		if (sim->changes[i].p99 > worst)
			worst = sim->changes[i].p99;
		apply[i] = sim->changes[i].applied_us - sim->changes[i].t0_us;
	}
	qsort(apply, (size_t)n, sizeof(*apply), sim_cmp64);
	cpu = sim_server_cpu(&sim->u_idle1, &sim->u_chg1);
	per_change = cpu >= 0 && n > 0 ? cpu / n : -1;
	pct = sim_pct(cpu, &sim->u_idle1, &sim->u_chg1);
	self_pct = sim->u_chg1.t_us > sim->u_idle1.t_us
	    ? 100.0 * sim_self_cpu(&sim->u_idle1, &sim->u_chg1) /
		sim_s(sim->u_chg1.t_us - sim->u_idle1.t_us)
	    : -1;
	sim->rss_end_kib = sim_proc_kib(sim->conf.server_pid, "VmRSS");
	sim->hwm_kib = sim_proc_kib(sim->conf.server_pid, "VmHWM");

	printf("all changes: %zu deliveries, p50 %.1f ms, p90 %.1f ms, "
	       "p99 %.1f ms, max %.1f ms, missing %zu\n",
	    sim->nall, sim_ms(p50), sim_ms(p90), sim_ms(p99), sim_ms(max),
	    missing);
	if (cpu >= 0)
		printf("server: %.2f CPU-s over the changes (%.1f%% of one "
		       "core), %.3f CPU-s per change; register %.2f CPU-s, "
		       "first sync %.2f CPU-s; RSS ready %ld KiB, end %ld "
		       "KiB, HWM %ld KiB\n",
		    cpu, pct, per_change,
		    sim_server_cpu(&sim->u_reg0, &sim->u_reg1),
		    sim_server_cpu(&sim->u_reg1, &sim->u_ready),
		    sim->rss_ready_kib, sim->rss_end_kib, sim->hwm_kib);
	printf("sync-sim: %.1f%% of one core over the changes; %" PRIu64
	       " requests, %" PRIu64 " failed\n",
	    self_pct, sim->requests, sim->nerrors);
	for (i = 0; i < SIM_MAX_ERRORS && sim->errs[i].msg != NULL; i++)
		printf(
		    "  %" PRIu64 " x %s\n", sim->errs[i].n, sim->errs[i].msg);
	if (sim->nerrors_other > 0)
		printf("  %" PRIu64 " x other errors\n", sim->nerrors_other);
	if (sim->conf.summary_file != NULL) {
		if ((f = fopen(sim->conf.summary_file, "w")) == NULL)
			log_warn("%s", sim->conf.summary_file);
		else {
			sim_summary(sim, f, per_change, pct, self_pct, p50, p90,
			    p99, max, missing, worst,
			    sim_rank(apply, (size_t)n, 50));
			if (fclose(f) == EOF)
				log_warn("%s", sim->conf.summary_file);
		}
	}
	free(apply);
	if (missing > 0 && sim->exit_code == 0)
		sim->exit_code = 3;
}

static char *
sim_read_token(const char *path)
{
	char line[512];
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		fatal("%s", path);
	if (fgets(line, sizeof(line), f) == NULL)
		fatalx("%s: empty", path);
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	return xstrdup(line);
}

static void
sim_usage_text(FILE *f)
{
	fprintf(f,
	    "usage: sync-sim --server URL --ca FILE --token-file FILE\n"
	    "                [--cert FILE --key FILE] [--clients N] "
	    "[--changes K]\n"
	    "                [--interval MS] [--timeout SEC] [--idle SEC] "
	    "[--wait SEC]\n"
	    "                [--concurrency N] [--namespace NS] "
	    "[--server-pid PID]\n"
	    "                [--rolling] [--summary FILE] [--raw FILE]\n"
	    "\n"
	    "  --server URL       weft-server, https://HOST:PORT\n"
	    "  --ca FILE          its CA (DIR/ca.pem)\n"
	    "  --token-file FILE  the admin token: the admin's requests, and\n"
	    "                     the clients' unless --cert is given\n"
	    "  --cert, --key      a workload certificate of NS (service "
	    "account\n"
	    "                     default) that every client presents\n"
	    "  --clients N        simulated weft-syncs (1000)\n"
	    "  --changes K        VirtualService changes (20)\n"
	    "  --interval MS      pause after every client had a change "
	    "(1000)\n"
	    "  --timeout SEC      longest wait for a change to reach all (10)\n"
	    "  --idle SEC         idle long polling measured before (10)\n"
	    "  --wait SEC         wait= of the long polls (10, as weft-sync)\n"
	    "  --concurrency N    registrations and first syncs at a time "
	    "(50)\n"
	    "  --rolling          poll as soon as registered (every "
	    "registration\n"
	    "                     then wakes every client polling)\n"
	    "  --namespace NS     (bench); workloads sim-0... at "
	    "198.18.0.0/15\n"
	    "  --server-pid PID   read the server's CPU and memory in /proc\n"
	    "  --summary FILE     key value lines of the results\n"
	    "  --raw FILE         change, client, delay (us) per delivery\n"
	    "\n"
	    "Exit status: 0, 1 on errors, 2 on bad usage, 3 when a client "
	    "missed a change.\n");
}

static int
sim_int(const char *opt, const char *s, int min, int max)
{
	char *end;
	long v;

	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "sync-sim: %s %s: expected %d to %d\n", opt, s,
		    min, max);
		exit(2);
	}
	return (int)v;
}

enum {
	OPT_SERVER = 1000,
	OPT_CA,
	OPT_TOKEN_FILE,
	OPT_CERT,
	OPT_KEY,
	OPT_CLIENTS,
	OPT_CHANGES,
	OPT_INTERVAL,
	OPT_TIMEOUT,
	OPT_IDLE,
	OPT_WAIT,
	OPT_CONCURRENCY,
	OPT_NAMESPACE,
	OPT_SERVER_PID,
	OPT_SUMMARY,
	OPT_RAW,
	OPT_ROLLING,
};

static void
sim_options(struct sim_conf *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"server", required_argument, NULL, OPT_SERVER},
	    {"ca", required_argument, NULL, OPT_CA},
	    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
	    {"cert", required_argument, NULL, OPT_CERT},
	    {"key", required_argument, NULL, OPT_KEY},
	    {"clients", required_argument, NULL, OPT_CLIENTS},
	    {"changes", required_argument, NULL, OPT_CHANGES},
	    {"interval", required_argument, NULL, OPT_INTERVAL},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"idle", required_argument, NULL, OPT_IDLE},
	    {"wait", required_argument, NULL, OPT_WAIT},
	    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
	    {"namespace", required_argument, NULL, OPT_NAMESPACE},
	    {"server-pid", required_argument, NULL, OPT_SERVER_PID},
	    {"summary", required_argument, NULL, OPT_SUMMARY},
	    {"raw", required_argument, NULL, OPT_RAW},
	    {"rolling", no_argument, NULL, OPT_ROLLING},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	memset(c, 0, sizeof(*c));
	c->namespace = "bench";
	c->clients = 1000;
	c->changes = 20;
	c->interval_ms = 1000;
	c->timeout_s = 10;
	c->concurrency = 50;
	c->idle_s = 10;
	c->wait_s = 10;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_SERVER:
			c->server = optarg;
			break;
		case OPT_CA:
			c->ca_file = optarg;
			break;
		case OPT_TOKEN_FILE:
			c->token_file = optarg;
			break;
		case OPT_CERT:
			c->cert_file = optarg;
			break;
		case OPT_KEY:
			c->key_file = optarg;
			break;
		case OPT_CLIENTS:
			c->clients = sim_int("--clients", optarg, 1, 100000);
			break;
		case OPT_CHANGES:
			c->changes = sim_int("--changes", optarg, 0, 10000);
			break;
		case OPT_INTERVAL:
			c->interval_ms =
			    sim_int("--interval", optarg, 0, 600000);
			break;
		case OPT_TIMEOUT:
			c->timeout_s = sim_int("--timeout", optarg, 1, 600);
			break;
		case OPT_IDLE:
			c->idle_s = sim_int("--idle", optarg, 0, 3600);
			break;
		case OPT_WAIT:
			c->wait_s = sim_int("--wait", optarg, 1, 60);
			break;
		case OPT_CONCURRENCY:
			c->concurrency =
			    sim_int("--concurrency", optarg, 1, 100000);
			break;
		case OPT_NAMESPACE:
			c->namespace = optarg;
			break;
		case OPT_SERVER_PID:
			c->server_pid =
			    sim_int("--server-pid", optarg, 1, 1 << 30);
			break;
		case OPT_SUMMARY:
			c->summary_file = optarg;
			break;
		case OPT_RAW:
			c->raw_file = optarg;
			break;
		case OPT_ROLLING:
			c->rolling = 1;
			break;
		case 'h':
			sim_usage_text(stdout);
			exit(0);
		default:
			sim_usage_text(stderr);
			exit(2);
		}
	}
	if (optind < argc || c->server == NULL || c->ca_file == NULL ||
	    c->token_file == NULL ||
	    (c->cert_file == NULL) != (c->key_file == NULL)) {
		sim_usage_text(stderr);
		exit(2);
	}
}

/* 198.18.0.0/15 has room for 131072 addresses; .0 and .255 are fine. */
static void
sim_clients_init(struct sim *sim)
{
	struct sim_client *c;
	uint32_t a;
	int id;

	sim->c = xcalloc((size_t)sim->conf.clients, sizeof(*sim->c));
	for (id = 0; id < sim->conf.clients; id++) {
		c = &sim->c[id];
		c->sim = sim;
		c->version = -1;
		snprintf(c->workload, sizeof(c->workload), "sim-%d", id);
		a = (198u << 24 | 18u << 16) + 1 + (uint32_t)id;
		snprintf(c->address, sizeof(c->address), "%u.%u.%u.%u", a >> 24,
		    (a >> 16) & 255, (a >> 8) & 255, a & 255);
		if ((c->timer = evtimer_new(
			 sim->base, sim_client_timer_cb, c)) == NULL)
			fatalx("cannot make a timer");
	}
}

int
main(int argc, char **argv)
{
	static struct sim sim;
	struct https_client_conf cc, ac;
	struct event *sigint, *sigterm;
	struct timeval tick = {0, SIM_TICK_US};
	char *cause = NULL;
	int id;

	log_init("sync-sim", LOG_LEVEL_WARN);
	sim_options(&sim.conf, argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned int)getpid());
	/*
	 * Freeing the client with requests in flight (at the end) makes
	 * libevent warn once per socket that was mid-handshake: counted
	 * and summed up in one line instead.
	 */
	event_set_log_callback(sim_event_log_cb);
	sim.token = sim_read_token(sim.conf.token_file);
	if ((sim.base = event_base_new()) == NULL)
		fatalx("cannot make an event base");

	memset(&ac, 0, sizeof(ac));
	ac.ca_file = sim.conf.ca_file;
	ac.bearer = sim.token;
	ac.timeout_sec = SIM_ADMIN_TIMEOUT;
	if ((sim.admin = https_client_new(
		 sim.base, sim.conf.server, &ac, &cause)) == NULL)
		fatalx("%s", cause);
	/* As weft-sync: the wait, and 15 s for the rest of the exchange. */
	cc = ac;
	cc.timeout_sec = sim.conf.wait_s + 15;
	if (sim.conf.cert_file != NULL) {
		cc.bearer = NULL;
		cc.cert_file = sim.conf.cert_file;
		cc.key_file = sim.conf.key_file;
	}
	if ((sim.client = https_client_new(
		 sim.base, sim.conf.server, &cc, &cause)) == NULL)
		fatalx("%s", cause);
	if (sim.conf.raw_file != NULL &&
	    (sim.raw = fopen(sim.conf.raw_file, "w")) == NULL)
		fatal("%s", sim.conf.raw_file);

	sim_clients_init(&sim);
	sim.changes =
	    xcalloc((size_t)sim.conf.changes + 1, sizeof(*sim.changes));
	sim.all =
	    xcalloc((size_t)sim.conf.clients * ((size_t)sim.conf.changes + 1),
		sizeof(*sim.all));
	sim.tick = event_new(sim.base, -1, EV_PERSIST, sim_tick_cb, &sim);
	sigint = evsignal_new(sim.base, SIGINT, sim_signal_cb, &sim);
	sigterm = evsignal_new(sim.base, SIGTERM, sim_signal_cb, &sim);
	if (sim.tick == NULL || sigint == NULL || sigterm == NULL ||
	    event_add(sim.tick, &tick) == -1 ||
	    evsignal_add(sigint, NULL) == -1 ||
	    evsignal_add(sigterm, NULL) == -1)
		fatalx("cannot set up events");

	printf("sync-sim: %d clients of %s, %s, wait=%d s\n", sim.conf.clients,
	    sim.conf.server,
	    sim.conf.cert_file != NULL ? "client certificate" : "admin token",
	    sim.conf.wait_s);
	sim.phase = SIM_SETUP;
	sim_setup(&sim);
	event_base_dispatch(sim.base);

	if (sim.phase == SIM_DONE)
		sim_report(&sim);
	else if (sim.exit_code == 0)
		sim.exit_code = 1;
	sim.phase = SIM_DONE;

	/* Held polls are dropped with the client (no callbacks run). */
	https_client_free(sim.client);
	https_client_free(sim.admin);
	for (id = 0; id < sim.conf.clients; id++) {
		event_free(sim.c[id].timer);
		free(sim.c[id].history);
		free(sim.c[id].seen);
	}
	for (id = 0; id < SIM_MAX_ERRORS; id++)
		free(sim.errs[id].msg);
	if (sim.raw != NULL && fclose(sim.raw) == EOF)
		log_warn("%s", sim.conf.raw_file);
	event_free(sim.tick);
	event_free(sigint);
	event_free(sigterm);
	event_base_free(sim.base);
	free(sim.c);
	free(sim.changes);
	free(sim.all);
	free(sim.token);
	if (sim_event_warnings > 0)
		fprintf(stderr,
		    "sync-sim: %" PRIu64 " libevent warnings, the first: %s\n",
		    sim_event_warnings, sim_event_first);
	return sim.exit_code;
}
