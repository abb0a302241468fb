/*
 * weftctl tap: a live stream of the requests that match a filter, like
 * linkerd viz tap, read from the proxies' admin /tap streams (--proxy
 * HOST:PORT, repeatable; the admin port listens on loopback only, so
 * this runs beside the proxy, or through a tunnel).
 */
#include "config.h"

#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctl_http.h"
#include "duration.h"
#include "tap.h"
#include "xmalloc.h"

#define CTL_TAP_MAX_PROXIES 64

static int64_t
ctl_tap_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
ctl_tap_s(const json_t *o, const char *k1, const char *k2)
{
	const json_t *v = json_object_get(o, k1);
	const char *s;

	if (k2 != NULL)
		v = json_object_get(v, k2);
	s = json_string_value(v);
	return s != NULL && s[0] != '\0' ? s : "-";
}

/*
 * Prints one event of the stream of peer; returns 1 for a request, 0
 * for anything else (a drop report).
 */
static int
ctl_tap_event(json_t *ev, const char *peer, int js, long id)
{
	const json_t *d;
	int req = 0;

	if ((d = json_object_get(ev, "dropped")) != NULL) {
		ctl_warnx("tap %s: %lld events dropped so far (too many "
			  "for the tap)",
		    peer, (long long)json_integer_value(d));
	} else if (js) {
		json_object_set_new(ev, "proxy", json_string(peer));
		json_dumpf(ev, stdout, JSON_COMPACT | JSON_REAL_PRECISION(9));
		printf("\n");
		req = 1;
	} else {
		printf(
		    "req id=%ld proxy=%s src=%s src_workload=%s "
		    "dst=%s dst_service=%s dst_workload=%s :method=%s "
		    ":authority=%s :path=%s status=%lld latency=%.0f\xc2\xb5s "
		    "flags=%s route=%s",
		    id,
		    strcmp(ctl_tap_s(ev, "direction", NULL), "inbound") == 0
			? "in"
			: "out",
		    ctl_tap_s(ev, "source", "address"),
		    ctl_tap_s(ev, "source", "workload"),
		    ctl_tap_s(ev, "destination", "address"),
		    ctl_tap_s(ev, "destination", "service"),
		    ctl_tap_s(ev, "destination", "workload"),
		    ctl_tap_s(ev, "method", NULL),
		    ctl_tap_s(ev, "authority", NULL),
		    ctl_tap_s(ev, "path", NULL),
		    (long long)json_integer_value(
			json_object_get(ev, "status")),
		    json_number_value(json_object_get(ev, "duration_ms")) *
			1000,
		    ctl_tap_s(ev, "response_flags", NULL),
		    ctl_tap_s(ev, "route", NULL));
		if (json_object_get(ev, "request_id") != NULL)
			printf(" x-request-id=%s",
			    ctl_tap_s(ev, "request_id", NULL));
		printf("\n");
		req = 1;
	}
	fflush(stdout);
	return req;
}

static int
ctl_tap_line(const char *line, const char *peer, int js, long id)
{
	json_error_t jerr;
	json_t *ev;
	int req;

	if ((ev = json_loads(line, 0, &jerr)) == NULL) {
		ctl_warnx("tap %s: bad event: %s", peer, jerr.text);
		return 0;
	}
	req = ctl_tap_event(ev, peer, js, id);
	json_decref(ev);
	return req;
}

/*
 * Through weft-server (--server): it starts the tap, the workloads'
 * weft-sync relay their proxies' events to it, and this long-polls
 * them until max events, the duration, or the end of the tap.
 */
static int
ctl_tap_server(
    struct ctl *ctl, const struct tap_filter *f, int js, int64_t duration_ms)
{
	char query[1024], target[1200], id[40];
	int64_t deadline = duration_ms > 0 ? ctl_tap_ms() + duration_ms : 0;
	json_t *resp = NULL, *ev;
	uint64_t dropped = 0, d;
	long seen = 0;
	size_t i;
	int ended = 0, rc = CTL_EXIT_OK;

	tap_filter_query(f, query, sizeof(query));
	snprintf(target, sizeof(target), "/v1/tap?%s%sduration=%llds", query,
	    query[0] != '\0' ? "&" : "",
	    (long long)(duration_ms > 0 ? (duration_ms + 999) / 1000 : 600));
	if (ctl_remote_call(ctl, "GET", target, NULL, NULL, &resp) != 200) {
		json_decref(resp);
		return CTL_EXIT_FAIL;
	}
	snprintf(id, sizeof(id), "%s",
	    json_string_value(json_object_get(resp, "id")) != NULL
		? json_string_value(json_object_get(resp, "id"))
		: "");
	json_decref(resp);
	if (id[0] == '\0') {
		ctl_warnx("tap: the server did not start a tap");
		return CTL_EXIT_FAIL;
	}
	snprintf(target, sizeof(target), "/v1/tap/%s", id);
	while (!ended && (f->max == 0 || seen < f->max) &&
	    (deadline == 0 || ctl_tap_ms() < deadline)) {
		resp = NULL;
		if (ctl_remote_call(ctl, "GET", target, NULL, NULL, &resp) !=
		    200) {
			json_decref(resp);
			rc = CTL_EXIT_FAIL;
			break;
		}
		json_array_foreach(json_object_get(resp, "events"), i, ev)
		{
			if (f->max > 0 && seen >= f->max)
				break;
			seen += ctl_tap_event(ev, "server", js, seen + 1);
		}
		d = (uint64_t)json_integer_value(
		    json_object_get(resp, "dropped"));
		if (d > dropped)
			ctl_warnx("tap: %llu events dropped so far (too many "
				  "for the tap)",
			    (unsigned long long)d);
		dropped = d;
		ended = json_is_true(json_object_get(resp, "ended"));
		json_decref(resp);
	}
	if (!ended) {
		resp = NULL;
		ctl_remote_call(ctl, "DELETE", target, NULL, NULL, &resp);
		json_decref(resp);
	}
	return rc;
}

/* Prints the complete lines of h's body and keeps the rest. */
static long
ctl_tap_lines(struct ctl_http *h, int js, long id, long max)
{
	char *nl, *p = h->body;
	long n = 0;

	if (h->body == NULL)
		return 0;
	while ((max == 0 || id + n < max) &&
	    (nl = memchr(p, '\n', h->blen - (size_t)(p - h->body))) != NULL) {
		*nl = '\0';
		if (p[0] != '\0')
			n += ctl_tap_line(p, h->peer, js, id + n + 1);
		p = nl + 1;
	}
	h->blen -= (size_t)(p - h->body);
	memmove(h->body, p, h->blen);
	h->body[h->blen] = '\0';
	return n;
}

/* Streams from every proxy until max events, the duration, or the end. */
static int
ctl_tap_proxies(const char **proxies, size_t n, const struct tap_filter *f,
    int js, int64_t duration_ms)
{
	struct ctl_http *h;
	struct pollfd *pfd;
	char query[1024], target[1100];
	int64_t deadline = duration_ms > 0 ? ctl_tap_ms() + duration_ms : 0;
	long seen = 0;
	size_t i, open = 0;
	int r, rc = CTL_EXIT_OK, left;

	h = xcalloc(n, sizeof(*h));
	pfd = xcalloc(n, sizeof(*pfd));
	tap_filter_query(f, query, sizeof(query));
	snprintf(
	    target, sizeof(target), "/tap%s%s", query[0] ? "?" : "", query);
	for (i = 0; i < n; i++) {
		if (ctl_http_open(&h[i], proxies[i], target, 3000) == -1) {
			ctl_warnx("tap %s", h[i].err);
			rc = CTL_EXIT_FAIL;
			continue;
		}
		open++;
	}
	while (open > 0 && (f->max == 0 || seen < f->max)) {
		left = -1;
		if (deadline != 0) {
			if (ctl_tap_ms() >= deadline)
				break;
			left = (int)(deadline - ctl_tap_ms());
		}
		for (i = 0; i < n; i++) {
			pfd[i].fd = h[i].fd;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if (poll(pfd, (nfds_t)n, left) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (h[i].fd == -1 || pfd[i].revents == 0)
				continue;
			r = ctl_http_read(&h[i]);
			if (h[i].head_done && h[i].status != 200) {
				if (r == 1)
					continue;
				ctl_warnx("tap %s: HTTP %d: %s", h[i].peer,
				    h[i].status,
				    h[i].body != NULL ? h[i].body : "");
				rc = CTL_EXIT_FAIL;
				r = 0;
			} else if (r == -1) {
				ctl_warnx("tap %s", h[i].err);
				rc = CTL_EXIT_FAIL;
			} else
				seen += ctl_tap_lines(&h[i], js, seen, f->max);
			if (r <= 0) {
				ctl_http_close(&h[i]);
				open--;
			}
		}
	}
	for (i = 0; i < n; i++)
		ctl_http_close(&h[i]);
	free(h);
	free(pfd);
	return rc;
}

int
ctl_tap(struct ctl *ctl, int argc, char **argv)
{
	enum {
		OPT_SOURCE = 2000,
		OPT_DEST,
		OPT_METHOD,
		OPT_PATH,
		OPT_STATUS,
		OPT_MAX,
		OPT_DURATION,
		OPT_PROXY,
	};
	static const struct option longopts[] = {
	    {"source", required_argument, NULL, OPT_SOURCE},
	    {"destination", required_argument, NULL, OPT_DEST},
	    {"method", required_argument, NULL, OPT_METHOD},
	    {"path", required_argument, NULL, OPT_PATH},
	    {"status", required_argument, NULL, OPT_STATUS},
	    {"max", required_argument, NULL, OPT_MAX},
	    {"duration", required_argument, NULL, OPT_DURATION},
	    {"proxy", required_argument, NULL, OPT_PROXY},
	    {"output", required_argument, NULL, 'o'}, CTL_COMMON_LONGOPTS,
	    {NULL, 0, NULL, 0}};
	struct tap_filter f;
	const char **proxies = NULL, *fmt = "text";
	char query[1024], cause[200];
	int64_t duration_ms = 0;
	size_t nproxies = 0;
	char *end;
	long v;
	int ch, rc;

	memset(&f, 0, sizeof(f));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		if (ctl_common_option(ctl, ch, optarg))
			continue;
		switch (ch) {
		case OPT_SOURCE:
		case OPT_DEST:
		case OPT_METHOD:
			if (strlen(optarg) >= (ch == OPT_METHOD
						      ? sizeof(f.method)
						      : sizeof(f.source)))
				ctl_usage_error(
				    "tap: \"%s\" is too long", optarg);
			strcpy(ch == OPT_SOURCE  ? f.source
				: ch == OPT_DEST ? f.destination
						 : f.method,
			    optarg);
			break;
		case OPT_PATH:
			if (optarg[0] != '/' ||
			    strlen(optarg) >= sizeof(f.path))
				ctl_usage_error("tap: --path %s: a path prefix "
						"starting with /",
				    optarg);
			strcpy(f.path, optarg);
			break;
		case OPT_STATUS:
		case OPT_MAX:
			v = strtol(optarg, &end, 10);
			if (*end != '\0' || end == optarg ||
			    (ch == OPT_STATUS && (v < 100 || v > 599)) ||
			    (ch == OPT_MAX && (v < 1 || v > 1000000)))
				ctl_usage_error("tap: --%s %s: %s",
				    ch == OPT_STATUS ? "status" : "max", optarg,
				    ch == OPT_STATUS
					? "an HTTP status from 100 to 599"
					: "a count from 1 to 1000000");
			if (ch == OPT_STATUS)
				f.status = (int)v;
			else
				f.max = v;
			break;
		case OPT_DURATION:
			if (duration_parse(optarg, &duration_ms) == -1 ||
			    duration_ms <= 0)
				ctl_usage_error(
				    "tap: --duration %s: not a duration",
				    optarg);
			break;
		case OPT_PROXY:
			if (nproxies == CTL_TAP_MAX_PROXIES)
				ctl_usage_error("tap: at most %d --proxy",
				    CTL_TAP_MAX_PROXIES);
			proxies = xreallocarray(
			    proxies, nproxies + 1, sizeof(*proxies));
			proxies[nproxies++] = optarg;
			break;
		case 'o':
			fmt = optarg;
			break;
		default:
			ctl_usage_error(
			    "tap: usage: weftctl tap [--source W] "
			    "[--destination S] [--method M] [--path PREFIX] "
			    "[--status N] [--max N] [--duration D] "
			    "[--proxy HOST:PORT]... [-o text|json]");
		}
	}
	if (optind < argc)
		ctl_usage_error(
		    "tap: unexpected argument \"%s\"", argv[optind]);
	if (strcmp(fmt, "text") != 0 && strcmp(fmt, "json") != 0)
		ctl_usage_error(
		    "tap: unknown output format \"%s\" (text, json)", fmt);
	/* The proxy parses what we send the same way: check it here. */
	tap_filter_query(&f, query, sizeof(query));
	if (tap_filter_parse(&f, query, cause, sizeof(cause)) == -1)
		ctl_usage_error("tap: %s", cause);
	if (nproxies == 0 && ctl->server == NULL) {
		/* Neither: the proxy beside us, as in a pod or on a VM. */
		proxies = xreallocarray(NULL, 1, sizeof(*proxies));
		proxies[nproxies++] = CTL_LOCAL_PROXY;
	}
	if (nproxies == 0)
		return ctl_tap_server(
		    ctl, &f, strcmp(fmt, "json") == 0, duration_ms);
	rc = ctl_tap_proxies(
	    proxies, nproxies, &f, strcmp(fmt, "json") == 0, duration_ms);
	free(proxies);
	return rc;
}
